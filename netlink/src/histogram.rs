//! Latency histogram with the bucket formula of kmod-shim/PROTOCOL.md, shared by the
//! module, the twin and the daemon: 16 sub-buckets per power of two (<= 6.25 % error).

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
