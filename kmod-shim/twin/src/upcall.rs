//! The upcall machinery (module: `pnfs_shim_upcall.c`): registration of the daemon,
//! pending upcalls with xids, replies, timeouts, daemon death, statistics.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Number of histogram buckets (16 per power of two up to 2^63 ns).
pub const BUCKETS: usize = 60 * 16;

/// Histogram bucket of a latency in ns (PROTOCOL.md's formula, shared with the module).
pub fn bucket(ns: u64) -> usize {
    if ns < 64 {
        return 0;
    }
    let msb = 63 - ns.leading_zeros() as u64;
    (((msb - 5) * 16) + ((ns >> (msb - 4)) & 15)) as usize
}

/// Lower bound in ns of a bucket (inverse of `bucket`).
pub fn bucket_floor(b: usize) -> u64 {
    if b == 0 {
        return 0;
    }
    let msb = (b / 16) as u64 + 5;
    let sub = (b % 16) as u64;
    (1u64 << msb) | (sub << (msb - 4))
}

/// A latency histogram.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket(ns).min(BUCKETS - 1)] += 1;
        self.total += 1;
    }

    /// The `q` quantile (0..=1) as a bucket's lower bound; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_floor(i);
            }
        }
        bucket_floor(BUCKETS - 1)
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
    }
}

/// Counters of one upcall kind.
#[derive(Clone, Default)]
pub struct KindStats {
    pub sent: u64,
    pub answered: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub failed: u64,
    pub latency: Histogram,
}

impl KindStats {
    pub fn merge(&mut self, o: &KindStats) {
        self.sent += o.sent;
        self.answered += o.answered;
        self.errors += o.errors;
        self.timeouts += o.timeouts;
        self.failed += o.failed;
        self.latency.merge(&o.latency);
    }
}

/// The registered daemon.
#[derive(Debug, Clone, Copy)]
pub struct Daemon {
    pub port: u32,
    pub pid: i32,
    pub node_id: u32,
    pub version: u32,
}

/// How an upcall ended, for the waiter.
#[derive(Debug)]
pub enum Outcome {
    /// The daemon answered; the reply's attribute bytes.
    Reply(Vec<u8>),
    /// No daemon, or it went away (-ENOTCONN).
    NotConnected,
}

pub struct Pending {
    pub kind: u32,
    pub start: Instant,
    pub waiter: oneshot::Sender<Outcome>,
}

/// Per-family upcall state.
pub struct Upcalls {
    pub daemon: Option<Daemon>,
    pub pending: HashMap<u32, Pending>,
    next_xid: u32,
    pub timeout: Duration,
    /// Indexed by upcall kind (1-based; index 0 unused).
    pub stats: Vec<KindStats>,
    pub late_replies: u64,
}

impl Upcalls {
    pub fn new(kinds: usize, timeout: Duration) -> Self {
        Upcalls {
            daemon: None,
            pending: HashMap::new(),
            next_xid: 0,
            timeout,
            stats: vec![KindStats::default(); kinds + 1],
            late_replies: 0,
        }
    }

    /// Allocate an xid: never 0, never one still pending.
    pub fn alloc_xid(&mut self) -> u32 {
        loop {
            self.next_xid = self.next_xid.wrapping_add(1);
            if self.next_xid != 0 && !self.pending.contains_key(&self.next_xid) {
                return self.next_xid;
            }
        }
    }

    /// Fail every pending upcall at once (daemon gone); returns how many.
    pub fn fail_all(&mut self) -> u32 {
        let n = self.pending.len() as u32;
        for (_, p) in self.pending.drain() {
            if let Some(s) = self.stats.get_mut(p.kind as usize) {
                s.failed += 1;
            }
            let _ = p.waiter.send(Outcome::NotConnected);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for ns in (64u64..10_000_000).step_by(97) {
            let b = bucket(ns);
            assert!(b >= last, "bucket not monotonic at {ns}");
            last = b;
            let lo = bucket_floor(b);
            assert!(lo <= ns, "floor {lo} above {ns}");
            assert!(
                (ns - lo) as f64 <= ns as f64 * 0.0625 + 1.0,
                "bucket too wide at {ns}"
            );
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for i in 1..=1000u64 {
            h.record(i * 1000);
        }
        let p50 = h.quantile(0.5);
        assert!((460_000..=500_000).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((920_000..=990_000).contains(&p99), "{p99}");
    }
}
