//! Upcall round-trip benchmark (issue #8, paths 1 and 2): kernel half → daemon → kernel
//! half through the twin (TRIGGER, GET_STATE cache hit / GET_DEVICE_INFO / LAYOUT_GET at
//! depth 1, GET_STATE at depths 1..512) against a bare NETLINK_USERSOCK echo between two
//! processes (the floor), in one run. The code is the `pnfs-bench` crate (`bench/`),
//! shared with `pnfsctl bench`; this file is its bench target.
//!
//! It runs `pnfsctl` (the twin) and `pnfs_controld` from the same target directory,
//! which other packages build: `cargo build --release --bins && cargo bench --bench upcall`
//! (benches/run.sh does both).
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
        std::process::exit(pnfs_bench::echo_main(port));
    }
    // `cargo bench` passes --bench; `cargo test --benches` runs us without: then only
    // check that the code runs, quickly.
    let quick = std::env::var_os("BENCH_QUICK").is_some() || !args.iter().any(|a| a == "--bench");
    let exe = std::env::current_exe().expect("current_exe");
    let (pnfsctl, daemon) = (
        sibling_of_deps(&exe, "pnfsctl"),
        sibling_of_deps(&exe, "pnfs_controld"),
    );
    let opts = pnfs_bench::Options {
        quick,
        programs: pnfs_bench::Programs {
            pnfsctl,
            daemon,
            echo: vec![exe.into(), ECHO.into()],
        },
        allocs: Some(|| ALLOCS.load(Relaxed)),
        progress: true,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = match rt.block_on(pnfs_bench::run(opts)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("upcall bench failed: {e:#}");
            std::process::exit(1);
        }
    };
    println!("\n{}", pnfs_bench::text(&report));
    if quick {
        println!("(BENCH_QUICK: smoke run, report not written)");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches");
    let json = serde_json::to_string_pretty(&pnfs_bench::json(&report)).unwrap() + "\n";
    std::fs::write(root.join("upcall-report.json"), json).expect("writing upcall-report.json");
    std::fs::write(
        root.join("upcall.md"),
        pnfs_bench::markdown(&report, "cargo bench --bench upcall"),
    )
    .expect("writing upcall.md");
    println!("wrote {}", root.join("upcall.md").display());
}

/// `target/<profile>/NAME`, beside this program's `deps` directory: a binary of another
/// package, built by `cargo build --bins` with the same profile.
fn sibling_of_deps(exe: &std::path::Path, name: &str) -> std::path::PathBuf {
    let p = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps")
        .join(name);
    if !p.is_file() {
        eprintln!(
            "upcall bench: {} is not built: run `cargo build --release --bins` first (or \
             `cargo build --bins` for `cargo test --benches`)",
            p.display()
        );
        std::process::exit(1);
    }
    p
}
