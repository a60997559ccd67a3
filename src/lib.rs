//! pnfs-controld: the userland half of the pNFS/GFS2 control channel.
//!
//! - [`daemon`]: the daemon, its loop and its parts (one concern per module; see
//!   ARCHITECTURE.md); [`decide`]: one decision per upcall kind; [`fastpath`]: the upcall
//!   thread;
//! - [`kernel`]: finding and registering with the kernel half (module or twin);
//! - [`cluster`]: the engines (local, corosync) behind one trait;
//! - [`wire`]: messages between daemons; [`store`]: durable state;
//! - [`control`]: the socket `pnfsctl` uses; [`config`]: the TOML configuration;
//! - [`logging`]: the daemon's `tracing` output (`PNFS_LOG`);
//! - [`gfs2`]: GFS2's uevents and withdraw acknowledgement; [`cld`]: nfsd's
//!   client-tracking pipe.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod cld;
pub mod cluster;
pub mod config;
pub mod control;
pub mod daemon;
pub mod decide;
pub mod fastpath;
pub mod gfs2;
pub mod kernel;
pub mod logging;
pub mod privs;
pub mod ratelog;
pub mod ring;
pub mod stats;
pub mod store;
pub mod wire;

use config::{Config, EngineKind};
use tokio::sync::{mpsc, watch};

/// Build the configured cluster engine.
pub async fn engine(cfg: &Config) -> anyhow::Result<Box<dyn cluster::Cluster>> {
    Ok(match cfg.engine {
        EngineKind::Local => Box::new(cluster::local::LocalEngine::new(cfg.node_id)),
        #[cfg(feature = "corosync")]
        EngineKind::Corosync => {
            use cluster::Cluster as _; // node_id() is a trait method
            let e = cluster::corosync::CorosyncEngine::new(&cfg.cluster_name).await?;
            if e.node_id() != cfg.node_id {
                tracing::warn!(
                    configured = cfg.node_id,
                    corosync = e.node_id(),
                    "node_id differs from corosync's nodeid; using corosync's"
                );
            }
            Box::new(e)
        }
        #[cfg(not(feature = "corosync"))]
        EngineKind::Corosync => anyhow::bail!(
            "engine = \"corosync\" needs a build with `--features corosync` (Debian's libcpg)"
        ),
    })
}

/// Run a daemon until `shutdown` turns true: control socket, engine, kernel link, loop.
/// `ready` receives the upcall port once registered.
pub async fn run_daemon(
    cfg: Config,
    shutdown: watch::Receiver<bool>,
    ready: Option<tokio::sync::oneshot::Sender<u32>>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = control::bind(&cfg.control_socket)
        .with_context(|| format!("binding control socket {}", cfg.control_socket))?;
    let engine = engine(&cfg).await.context("starting the cluster engine")?;
    let d = daemon::Daemon::start(cfg, engine)
        .await
        .context("starting the daemon")?;
    if let Some(r) = ready {
        let _ = r.send(d.port());
    }
    let (ctl_tx, ctl_rx) = mpsc::channel(256);
    let server = tokio::spawn(control::serve(listener, ctl_tx));
    let r = d.run(ctl_rx, shutdown).await;
    server.abort();
    r.map_err(Into::into)
}

/// Lower-case hex digits of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes from hex digits (an even number of them, surrounding blanks ignored), or None.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A number as decimal or `0x` hex (ports are usually written in hex).
pub fn parse_u32(s: &str) -> Result<u32, String> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|e| e.to_string())
}

/// A shutdown signal that turns true on SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
        let _ = tx.send(true);
    });
    rx
}
