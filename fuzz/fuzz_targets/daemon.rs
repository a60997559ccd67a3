//! Stateful: a random sequence of up to 64 steps into the daemon's handlers (a fresh
//! daemon per input, node 1 on the local engine): kernel datagrams, cluster messages from
//! nodes 1..=4, membership changes, our own multicasts delivered back, downcall and
//! durable-write completions, ticks. Any panic, hang or sanitizer report is a finding.
//!
//! Input: steps, each an op byte then its operands; a chunk is a u16 LE length and that
//! many bytes (fewer at the end of the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pnfs_controld::daemon::harness::{Harness, Step};
use std::path::PathBuf;
use std::sync::OnceLock;

const MAX_STEPS: usize = 64;

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u32(&mut self) -> u32 {
        let mut v = [0u8; 4];
        for b in &mut v {
            *b = self.u8().unwrap_or(0);
        }
        u32::from_le_bytes(v)
    }
    fn chunk(&mut self) -> &'a [u8] {
        let len = u16::from_le_bytes([self.u8().unwrap_or(0), self.u8().unwrap_or(0)]) as usize;
        let (c, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        c
    }
}

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
    let mut r = Reader(data);
    for _ in 0..MAX_STEPS {
        let Some(op) = r.u8() else { break };
        let step = match op % 8 {
            0..=2 => Step::Datagram(r.chunk()),
            3 => Step::Cluster {
                from: u32::from(r.u8().unwrap_or(0) % 4) + 1,
                payload: r.chunk(),
            },
            4 => Step::Membership {
                members: r.u8().unwrap_or(1),
                joined: r.u8().unwrap_or(0),
                left: r.u8().unwrap_or(0),
                quorate: op & 0x80 == 0,
            },
            5 => Step::Loopback,
            6 => Step::Downcalls {
                ok: op & 0x80 == 0,
                value: r.u32(),
            },
            _ if op & 0x80 == 0 => Step::Tick,
            _ => Step::Saved { ok: op & 0x40 == 0 },
        };
        h.step(step);
    }
});
