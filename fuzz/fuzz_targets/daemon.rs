//! Stateful: a random sequence of up to 64 steps into the daemon's handlers (a fresh
//! daemon per input, node 1 on the local engine): kernel datagrams, cluster messages from
//! nodes 1..=4, membership changes, our own multicasts delivered back, downcall and
//! durable-write completions, ticks. Any panic, hang or sanitizer report is a finding.
//!
//! Input: steps, each an op byte then its operands (`harness::steps` reads them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pnfs_controld::daemon::harness::{steps, Harness};
use std::path::PathBuf;
use std::sync::OnceLock;

const MAX_STEPS: usize = 64;

/// An empty scratch directory for the store (nothing is written to it: durable writes
/// are completed by the input, not performed).
fn state_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("pnfs-fuzz-daemon-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let mut h = Harness::new(state_dir());
    for step in steps(data).take(MAX_STEPS) {
        h.step(step);
    }
});
