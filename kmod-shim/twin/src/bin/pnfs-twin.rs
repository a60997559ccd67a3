//! `pnfs-twin`: the user-space twin of the kernel half, one per network namespace.

use pnfs_twin::{Twin, TwinConfig};
use std::time::Duration;

const USAGE: &str =
    "usage: pnfs-twin [--port N] [--admin-uid UID]... [--timeout-ms MS] [--record FILE]
  Serves the pnfsd and gfs2ctl families over NETLINK_USERSOCK (see kmod-shim/PROTOCOL.md).
  --port N          USERSOCK port to bind (default 0x504e4653, \"PNFS\")
  --admin-uid UID   also allow UID to send admin commands (root always may)
  --timeout-ms MS   upcall timeout (default 5000)
  --record FILE     write one line per upcall and per unmatched reply to FILE
                    (a test aid; format in kmod-shim/twin/src/record.rs)";

fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> std::process::ExitCode {
    pnfs_twin::logging::init("pnfs-twin");
    let mut cfg = TwinConfig::default();
    let mut record: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next().and_then(|v| parse_u32(&v)).unwrap_or_else(|| {
                eprintln!("pnfs-twin: {name} needs a number\n{USAGE}");
                std::process::exit(1)
            })
        };
        match a.as_str() {
            "--port" => cfg.port = val("--port"),
            "--admin-uid" => cfg.admin_uids.push(val("--admin-uid")),
            "--timeout-ms" => cfg.timeout = Duration::from_millis(val("--timeout-ms") as u64),
            "--record" => match args.next() {
                Some(p) => record = Some(p.into()),
                None => {
                    eprintln!("pnfs-twin: --record needs a file\n{USAGE}");
                    return std::process::ExitCode::from(1);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return std::process::ExitCode::SUCCESS;
            }
            other => {
                eprintln!("pnfs-twin: unknown argument {other:?}\n{USAGE}");
                return std::process::ExitCode::from(1);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut twin = match Twin::bind(&cfg) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("pnfs-twin: cannot bind USERSOCK port {:#x}: {e}", cfg.port);
                return std::process::ExitCode::from(2);
            }
        };
        if let Some(p) = &record {
            twin = match twin.with_record(p) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("pnfs-twin: cannot create {}: {e}", p.display());
                    return std::process::ExitCode::from(2);
                }
            };
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
            tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
            let _ = tx.send(true);
        });
        tracing::info!(
            port = twin.port(),
            "pnfs-twin serving pnfsd and gfs2ctl over NETLINK_USERSOCK"
        );
        let refusals = twin.refusals.clone();
        let result = twin.run(rx).await;
        tracing::info!("refused or dropped: {}", refusals.summary());
        match result {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pnfs-twin: {e}");
                std::process::ExitCode::from(2)
            }
        }
    })
}
