//! `pnfs_controld`: the cluster daemon of the pNFS/GFS2 control channel.

use clap::Parser;
use pnfs_controld::config::{Addr, Config, EngineKind, SocketKind};
use pnfs_controld::privs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "pNFS/GFS2 control-channel daemon (kernel half <-> Corosync cluster)"
)]
struct Args {
    /// TOML configuration file (flags override it) [default: /etc/pnfs-controld.toml,
    /// built-in defaults if that is missing; a file named here must exist].
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// This node's id.
    #[arg(long)]
    node_id: Option<u32>,
    /// Cluster engine.
    #[arg(long, value_parser = ["local", "corosync"])]
    engine: Option<String>,
    /// Kernel half: auto (module, else twin), generic (module) or usersock (twin).
    #[arg(long, value_parser = ["auto", "generic", "usersock"])]
    socket: Option<String>,
    /// USERSOCK port of the twin.
    #[arg(long, value_parser = pnfs_controld::parse_u32)]
    twin_port: Option<u32>,
    /// Directory of durable state.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Control socket ('@name' = abstract).
    #[arg(long)]
    control_socket: Option<String>,
    /// MDS priority (highest live member wins).
    #[arg(long)]
    mds_priority: Option<u32>,
    /// Data-server address as NETID,UADDR (repeatable).
    #[arg(long = "addr")]
    addrs: Vec<String>,
    /// CPG group name.
    #[arg(long)]
    cluster_name: Option<String>,
    /// Grace period of a new MDS, ms.
    #[arg(long)]
    grace_ms: Option<u64>,
    /// Serve nfsd's client-tracking pipe (e.g. /run/rpc_pipefs/nfsd/cld) instead of
    /// nfsdcld.
    #[arg(long)]
    cld_pipe: Option<String>,
    /// nfsdcld's sqlite database to import on first start (default
    /// /var/lib/nfs/nfsdcld/main.sqlite).
    #[arg(long)]
    nfsdcld_db: Option<String>,
    /// Longest busy poll of the upcall socket between batches, µs (adaptive: only while
    /// upcalls come closer than this; default 50; 0 = never).
    #[arg(long)]
    busy_poll_us: Option<u64>,
    /// SCHED_RR priority of the main thread (cluster events, recalls), 1-99, as
    /// corosync and dlm_controld run theirs; 0 = normal scheduling (default 0).
    #[arg(long)]
    rt_priority: Option<u32>,
}

/// The configuration file read when `--config` does not name one.
const DEFAULT_CONFIG: &str = "/etc/pnfs-controld.toml";

fn config(a: &Args) -> anyhow::Result<Config> {
    // Only the default file may be missing (then the built-in defaults apply): a file
    // the operator named is meant to be used, and running without it would be a
    // silently different daemon.
    let path = a
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let mut c = match Config::load(&path) {
        Ok(c) => c,
        Err(pnfs_controld::config::ConfigError::Read { source, .. })
            if a.config.is_none() && source.kind() == std::io::ErrorKind::NotFound =>
        {
            Config::default()
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(v) = a.node_id {
        c.node_id = v;
    }
    if let Some(v) = &a.engine {
        c.engine = if v == "corosync" {
            EngineKind::Corosync
        } else {
            EngineKind::Local
        };
    }
    if let Some(v) = &a.socket {
        c.socket = match v.as_str() {
            "generic" => SocketKind::Generic,
            "usersock" => SocketKind::Usersock,
            _ => SocketKind::Auto,
        };
    }
    if let Some(v) = a.twin_port {
        c.twin_port = v;
    }
    if let Some(v) = &a.state_dir {
        c.state_dir = v.clone();
    }
    if let Some(v) = &a.control_socket {
        c.control_socket = v.clone();
    }
    if let Some(v) = a.mds_priority {
        c.mds_priority = v;
    }
    if let Some(v) = &a.cluster_name {
        c.cluster_name = v.clone();
    }
    if let Some(v) = a.grace_ms {
        c.grace_ms = v;
    }
    if let Some(v) = &a.cld_pipe {
        c.cld_pipe = v.clone();
    }
    if let Some(v) = &a.nfsdcld_db {
        c.nfsdcld_db = v.clone();
    }
    if let Some(v) = a.busy_poll_us {
        c.busy_poll_us = v;
    }
    if let Some(v) = a.rt_priority {
        c.rt_priority = v;
    }
    if !a.addrs.is_empty() {
        c.addrs = a
            .addrs
            .iter()
            .map(|s| match s.split_once(',') {
                Some((n, u)) => Ok(Addr {
                    netid: n.into(),
                    uaddr: u.into(),
                }),
                None => Err(anyhow::anyhow!("--addr {s:?}: expected NETID,UADDR")),
            })
            .collect::<Result<_, _>>()?;
    }
    c.validate()?;
    Ok(c)
}

/// An error and its causes, `outer: inner: ...`, each message once: a cause whose text
/// the message before it already shows (an error type that both prints its source and
/// returns it, as `#[error("kernel half: {0}")] Kernel(#[from] NlError)` does) is not
/// repeated, which `{:#}` would do ("a daemon is already registered ..." twice).
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut prev = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if !prev.is_empty() && prev.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
        prev = msg;
    }
    out
}

fn main() -> ExitCode {
    let args = Args::parse();
    pnfs_controld::logging::init("pnfs_controld");
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pnfs_controld: {}", chain(&e));
            return ExitCode::from(1);
        }
    };
    // Before the capabilities go (CAP_SYS_NICE) and before any other thread exists:
    // threads created later inherit the policy; the upcall thread leaves it.
    if cfg.rt_priority > 0 {
        match privs::set_realtime(cfg.rt_priority) {
            Ok(()) => tracing::info!(priority = cfg.rt_priority, "main thread on SCHED_RR"),
            Err(e) => {
                eprintln!(
                    "pnfs_controld: rt_priority {}: sched_setscheduler(SCHED_RR): {e} (needs CAP_SYS_NICE and an RLIMIT_RTPRIO or root)",
                    cfg.rt_priority
                );
                return ExitCode::from(1);
            }
        }
    }
    // Before any other thread exists: every thread created later inherits the reduced set.
    match privs::drop_capabilities(&[privs::CAP_NET_ADMIN]) {
        Ok(d) => tracing::info!(
            before = format_args!("{:#x}", d.before),
            after = format_args!("{:#x}", d.after),
            bounding = d.bounding,
            "capabilities dropped (CAP_NET_ADMIN kept for the module's admin commands)"
        ),
        Err(e) => {
            eprintln!("pnfs_controld: dropping capabilities: {e}");
            return ExitCode::from(1);
        }
    }
    // One thread: the hot path hands nothing between CPUs (see the latency notes).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let rx = pnfs_controld::shutdown_on_signal();
        match pnfs_controld::run_daemon(cfg, rx, None).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pnfs_controld: {}", chain(&e));
                ExitCode::from(2)
            }
        }
    })
}
