//! The in-memory debug ring: the last N events, as gfs_controld's `dump` printed them.

use serde::Serialize;
use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Microseconds since the Unix epoch.
    pub time_us: u64,
    pub text: String,
}

pub struct Ring {
    cap: usize,
    entries: VecDeque<Entry>,
}

impl Ring {
    pub fn new(cap: usize) -> Self {
        Ring {
            cap: cap.max(1),
            entries: VecDeque::with_capacity(cap.min(4096)),
        }
    }

    /// Record an event (also logged at debug level).
    pub fn push(&mut self, text: String) {
        tracing::debug!("{text}");
        if self.entries.len() == self.cap {
            self.entries.pop_front();
        }
        let time_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        self.entries.push_back(Entry { time_us, text });
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_last_n() {
        let mut r = super::Ring::new(3);
        for i in 0..5 {
            r.push(format!("e{i}"));
        }
        let v: Vec<_> = r.entries().map(|e| e.text.as_str()).collect();
        assert_eq!(v, ["e2", "e3", "e4"]);
    }
}
