//! `pnfsctl bench`: the upcall round-trip benchmark (the harness is the `pnfs-bench`
//! crate, shared with `cargo bench --bench upcall`).

use crate::render::Sink;
use anyhow::Context;
use pnfs_bench as bench;

/// `pnfsctl bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// A few seconds: one short round (checks that it works; the numbers mean little).
    #[arg(long)]
    pub quick: bool,
    /// Internal: be the floor's echo process on this USERSOCK port.
    #[arg(long, hide = true, value_parser = pnfs_controld::parse_u32)]
    pub echo_floor: Option<u32>,
    /// Be a bare echo daemon for the kernel module: REGISTER with the pnfs_shim module
    /// (NETLINK_GENERIC) and answer every GET_STATE, GET_DEVICE_INFO and LAYOUT_GET upcall
    /// with the bytes pnfs_controld would send (blocking recvfrom/sendto, nothing else),
    /// until killed. For the VM benchmark (benches/vm.sh): the module's load generator
    /// answered by this instead of the daemon.
    #[arg(long)]
    pub echo_module: bool,
}

/// `pnfsctl bench [--quick]`: the same round-trip set against a twin and a daemon it
/// starts itself; the table, or with `-j`/`-p` the JSON report.
pub async fn cli(a: &BenchArgs, sink: Sink) -> anyhow::Result<()> {
    if let Some(port) = a.echo_floor {
        std::process::exit(bench::echo_main(port));
    }
    if a.echo_module {
        return bench::echo_module().await;
    }
    let exe = std::env::current_exe().context("locating pnfsctl")?;
    let opts = bench::Options {
        quick: a.quick,
        programs: bench::Programs {
            daemon: bench::sibling_daemon(&exe),
            echo: vec![exe.clone().into(), "bench".into(), "--echo-floor".into()],
            pnfsctl: exe,
        },
        allocs: None,
        progress: !sink.is_json(),
    };
    let r = bench::run(opts).await?;
    // The report's JSON is `upcall-report.json`'s (shared with the cargo bench); its text
    // the table both print.
    sink.print(&bench::json(&r), |_| bench::text(&r));
    Ok(())
}
