//! Logging at a bounded rate: what a hostile or broken peer can repeat at will (refused
//! requests, forged messages, a failing disk) is logged at most once per interval, with
//! how many were left out since the last line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One bounded-rate log site. `Sync`: shared by the tasks that may hit it.
#[derive(Debug)]
pub struct RateLog {
    every: Duration,
    start: Instant,
    /// Nanoseconds since `start` of the last line logged, + 1 (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLog {
    pub fn new(every: Duration) -> RateLog {
        RateLog {
            every,
            start: Instant::now(),
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether to log now; if so, how many were suppressed since the last line.
    pub fn allow(&self) -> Option<u64> {
        let now = self.start.elapsed().as_nanos() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now - last < self.every.as_nanos() as u64 {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_left_out() {
        let r = RateLog::new(Duration::from_secs(3600));
        assert_eq!(r.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(r.allow(), None);
        }
        let r0 = RateLog::new(Duration::ZERO);
        assert_eq!(r0.allow(), Some(0));
        assert_eq!(r0.allow(), Some(0));
    }
}
