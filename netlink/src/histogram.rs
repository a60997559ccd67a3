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

/// `bucket_floor` in f64, defined for every index up to BUCKETS (no u64 overflow).
fn bound_f64(b: usize) -> f64 {
    if b == 0 {
        return 0.0;
    }
    let msb = (b / 16) as i32 + 5;
    2f64.powi(msb) * (1.0 + (b % 16) as f64 / 16.0)
}

/// A latency histogram.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish()
    }
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

    /// The `q` quantile (0..=1) interpolated linearly within its bucket, as if the
    /// bucket's samples were spread evenly over its width (a bucket is ≤ 6.25 % wide:
    /// `quantile` is a lower bound up to that much low, this is an estimate inside it);
    /// 0 when empty.
    pub fn quantile_interpolated(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = (self.total as f64 * q.clamp(0.0, 1.0)).max(0.5);
        let mut before = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 && (before + c) as f64 >= rank {
                // In f64: the bound above the top buckets is past u64.
                let (lo, hi) = (bound_f64(i), bound_f64(i + 1));
                return lo + (hi - lo) * ((rank - before as f64) / c as f64).clamp(0.0, 1.0);
            }
            before += c;
        }
        bound_f64(BUCKETS - 1)
    }

    /// Record `n` samples of `ns` at once (rebuilding a histogram from `buckets`).
    pub fn record_n(&mut self, ns: u64, n: u64) {
        self.counts[bucket(ns).min(BUCKETS - 1)] += n;
        self.total += n;
    }

    /// Samples recorded.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The non-empty buckets, ascending: (lower bound in ns, count).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| (bucket_floor(i), c))
    }

    /// `buckets` in the wire form of the `hist` attribute: pairs of native-endian u64.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for (ns, c) in self.buckets() {
            out.extend_from_slice(&ns.to_ne_bytes());
            out.extend_from_slice(&c.to_ne_bytes());
        }
    }

    /// Add what `encode` wrote; None if `b` is not whole pairs.
    pub fn decode_into(&mut self, b: &[u8]) -> Option<()> {
        if !b.len().is_multiple_of(16) {
            return None;
        }
        for p in b.chunks_exact(16) {
            let ns = u64::from_ne_bytes(p[..8].try_into().ok()?);
            let c = u64::from_ne_bytes(p[8..].try_into().ok()?);
            self.record_n(ns, c);
        }
        Some(())
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
    fn encode_decode_keeps_every_bucket() {
        let mut h = Histogram::default();
        for ns in [100, 2_000, 2_050, 3_000_000, 3_000_000, u64::MAX / 2] {
            h.record(ns);
        }
        let mut wire = Vec::new();
        h.encode(&mut wire);
        assert_eq!(wire.len() % 16, 0);
        let mut back = Histogram::default();
        back.decode_into(&wire).unwrap();
        assert_eq!(back.total(), 6);
        assert_eq!(
            back.buckets().collect::<Vec<_>>(),
            h.buckets().collect::<Vec<_>>()
        );
        for q in [0.1, 0.5, 0.9, 0.999] {
            assert_eq!(back.quantile(q), h.quantile(q));
        }
        assert!(back.decode_into(&wire[..15]).is_none());
    }

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
    fn interpolated_quantiles_fall_inside_the_bucket_and_track_the_data() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_interpolated(0.5), 0.0);
        // Evenly spread samples: the interpolated median is close to the true one,
        // the bucket's lower bound is not.
        for ns in 1000..3000u64 {
            h.record(ns);
        }
        let (lb, est) = (h.quantile(0.5) as f64, h.quantile_interpolated(0.5));
        assert!((est - 2000.0).abs() < 20.0, "estimate {est}");
        assert!(lb <= est && est < lb * 1.0625 + 1.0, "{lb} {est}");
        for q in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let (lb, est) = (h.quantile(q) as f64, h.quantile_interpolated(q));
            assert!(lb <= est && est <= lb * 1.0625 + 1.0, "q {q}: {lb} {est}");
        }
        // One bucket: the estimate moves through it with q.
        let mut one = Histogram::default();
        one.record_n(1024, 100);
        let (a, b) = (
            one.quantile_interpolated(0.1),
            one.quantile_interpolated(0.9),
        );
        assert!(1024.0 <= a && a < b && b <= 1088.0, "{a} {b}");
        // The top bucket's bound is past u64 and still computed.
        let mut top = Histogram::default();
        top.record(u64::MAX);
        let est = top.quantile_interpolated(0.5);
        assert!(
            est >= top.quantile(0.5) as f64 && est < 2f64.powi(64),
            "{est}"
        );
        for b in 1..BUCKETS.min(944) {
            assert_eq!(bound_f64(b), bucket_floor(b) as f64, "bucket {b}");
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
