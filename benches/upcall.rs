//! Upcall round-trip benchmark (issue #8, paths 1 and 2): kernel half → daemon → kernel
//! half through the twin (TRIGGER, GET_STATE cache hit / GET_DEVICE_INFO / LAYOUT_GET at
//! depth 1, GET_STATE at depths 1..512) against a bare NETLINK_USERSOCK echo between two
//! processes (the floor), in one run. The code is `pnfs_controld::bench`, shared with
//! `pnfsctl bench`.
//!
//! `cargo bench --bench upcall` prints the table and writes `benches/upcall.md` and
//! `benches/upcall-report.json` (replaced on every run). `BENCH_QUICK=1` (or running
//! without `--bench`, as `cargo test --benches` does) makes it a few-second smoke run
//! that writes nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The argument that makes this program the floor's echo process.
const ECHO: &str = "--upcall-echo";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == ECHO) {
        let port = args
            .get(i + 1)
            .and_then(|p| pnfs_controld::parse_u32(p).ok())
            .expect("--upcall-echo PORT");
        std::process::exit(pnfs_controld::bench::echo_main(port));
    }
    // `cargo bench` passes --bench; `cargo test --benches` runs us without: then only
    // check that the code runs, quickly.
    let quick = std::env::var_os("BENCH_QUICK").is_some() || !args.iter().any(|a| a == "--bench");
    let exe = std::env::current_exe().expect("current_exe");
    let opts = pnfs_controld::bench::Options {
        quick,
        programs: pnfs_controld::bench::Programs {
            // Another package's binary (`cli/`): beside the daemon, built by
            // `cargo build --workspace` (benches/run.sh does).
            pnfsctl: std::path::Path::new(env!("CARGO_BIN_EXE_pnfs_controld"))
                .with_file_name("pnfsctl"),
            daemon: env!("CARGO_BIN_EXE_pnfs_controld").into(),
            echo: vec![exe.into(), ECHO.into()],
        },
        allocs: Some(|| ALLOCS.load(Relaxed)),
        progress: true,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = match rt.block_on(pnfs_controld::bench::run(opts)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("upcall bench failed: {e:#}");
            std::process::exit(1);
        }
    };
    println!("\n{}", pnfs_controld::bench::text(&report));
    if quick {
        println!("(BENCH_QUICK: smoke run, report not written)");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches");
    let json = serde_json::to_string_pretty(&pnfs_controld::bench::json(&report)).unwrap() + "\n";
    std::fs::write(root.join("upcall-report.json"), json).expect("writing upcall-report.json");
    std::fs::write(
        root.join("upcall.md"),
        pnfs_controld::bench::markdown(&report, "cargo bench --bench upcall"),
    )
    .expect("writing upcall.md");
    println!("wrote {}", root.join("upcall.md").display());
}
