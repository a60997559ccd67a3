//! The upcall machinery (module: `pnfs_shim_upcall.c`): registration of the daemon,
//! pending upcalls with xids, replies, timeouts, daemon death, statistics.

use crate::trigger::Run;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use pnfs_netlink::histogram::{bucket, bucket_floor, Histogram, BUCKETS};

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

/// The registered daemon: its port, and the credentials it registered with.
#[derive(Debug, Clone, Copy)]
pub struct Daemon {
    pub port: u32,
    pub pid: i32,
    pub uid: u32,
    pub node_id: u32,
    pub version: u32,
}

impl Daemon {
    /// Whether a message from `port` with `creds` (SCM_CREDENTIALS) is this daemon's: its
    /// port and the process (pid, uid) that registered it. Once the daemon's socket is
    /// closed, another process may bind its port; only the credentials tell them apart.
    pub fn is(&self, port: u32, creds: Option<pnfs_netlink::socket::Creds>) -> bool {
        self.port == port && creds.is_some_and(|c| c.pid == self.pid && c.uid == self.uid)
    }
}

/// An upcall in flight: who issued it and when.
pub struct Pending {
    pub kind: u32,
    pub start: Instant,
    /// CLOCK_MONOTONIC µs at issue, for the record (0 when the twin records nothing).
    pub t0_us: u64,
    /// The load generator run that issued it, which takes the outcome.
    pub run: Arc<Run>,
}

/// The pending table's hash of an xid: one multiply (Fibonacci hashing), the high bits
/// well mixed for the table's control bytes. The xids are the twin's own (sequential),
/// so SipHash's defence against chosen keys buys nothing here; a REPLY's xid from the
/// daemon is only looked up.
#[derive(Default, Clone, Copy)]
pub struct XidHasher(u64);

impl Hasher for XidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(FIB);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.0 = u64::from(x).wrapping_mul(FIB);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

const FIB: u64 = 0x9e37_79b9_7f4a_7c15;

/// Per-family upcall state.
pub struct Upcalls {
    pub daemon: Option<Daemon>,
    pub pending: HashMap<u32, Pending, BuildHasherDefault<XidHasher>>,
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
            pending: HashMap::default(),
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

    /// Fail every pending upcall at once (daemon gone): count them failed and hand them
    /// back, so that the caller tells their runs once the lock is released.
    pub fn fail_all(&mut self) -> Vec<(u32, Pending)> {
        let failed: Vec<(u32, Pending)> = self.pending.drain().collect();
        for (_, p) in &failed {
            if let Some(s) = self.stats.get_mut(p.kind as usize) {
                s.failed += 1;
            }
        }
        failed
    }
}
