//! What the twin refuses or drops, counted by reason and logged at a bounded rate: at
//! most one line per reason per `LOG_EVERY`, which says how many more were suppressed
//! since the previous line, so that a flood (a process spinning on a stolen port, a
//! reader that never reads) cannot flood the log.
//!
//! The counts go out in stats-get's `refusals` nest (`pnfsctl stats show`: kernel), and
//! `pnfs-twin` logs them when it stops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one log line per reason this often.
pub const LOG_EVERY: Duration = Duration::from_secs(1);

/// Why a message was refused or an answer dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A message from a registered daemon's port whose SCM_CREDENTIALS (pid, uid) are
    /// not those the daemon registered with: the daemon's socket is gone and another
    /// process holds its port. Its admin requests and REPLYs are refused (`-EPERM`).
    Impostor,
    /// An admin request (REPLY included) on the upcall socket from a port that is no
    /// registered daemon's: the upcall socket takes those from the daemon only.
    ForeignPort,
    /// An admin request from a uid that is neither 0 nor an `--admin-uid`.
    Unprivileged,
    /// A REPLY to the twin's port from a port that is not the registered daemon's.
    ForeignReply,
    /// An answer dropped: its requester's receive queue was full (a request's answer is
    /// sent without waiting), or stayed full for `SEND_PATIENCE` (the rest of a dump, a
    /// TRIGGER's answer).
    AnswerDropped,
    /// A running TRIGGER whose requester's socket went away: it stopped issuing.
    TriggerAbandoned,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::Impostor,
        Reason::ForeignPort,
        Reason::Unprivileged,
        Reason::ForeignReply,
        Reason::AnswerDropped,
        Reason::TriggerAbandoned,
    ];

    /// Its attribute in stats-get's `refusals` nest.
    pub fn attr(self) -> u16 {
        use pnfs_netlink::pnfsd::refusals_attr as a;
        match self {
            Reason::Impostor => a::IMPOSTOR,
            Reason::ForeignPort => a::FOREIGN_PORT,
            Reason::Unprivileged => a::UNPRIVILEGED,
            Reason::ForeignReply => a::FOREIGN_REPLY,
            Reason::AnswerDropped => a::ANSWER_DROPPED,
            Reason::TriggerAbandoned => a::TRIGGER_ABANDONED,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Reason::Impostor => "impostor",
            Reason::ForeignPort => "foreign-port",
            Reason::Unprivileged => "unprivileged",
            Reason::ForeignReply => "foreign-reply",
            Reason::AnswerDropped => "answer-dropped",
            Reason::TriggerAbandoned => "trigger-abandoned",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One reason's log window: when its last line was written, and how many were not
/// logged since.
#[derive(Debug, Default)]
pub struct Window {
    last: Option<Instant>,
    suppressed: u64,
}

impl Window {
    /// Whether an occurrence at `now` gets a log line; if so, how many were suppressed
    /// since the previous line.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < LOG_EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// The counters and their log windows.
#[derive(Default)]
pub struct Refusals {
    counts: [AtomicU64; 6],
    windows: [Mutex<Window>; 6],
}

impl Refusals {
    /// Count one `reason`; log `detail()` unless a line for it was written within
    /// `LOG_EVERY` (`detail` is only called when a line is written).
    pub fn note(&self, reason: Reason, detail: impl FnOnce() -> String) {
        let total = self.counts[reason.index()].fetch_add(1, Ordering::Relaxed) + 1;
        let admitted = self.windows[reason.index()]
            .lock()
            .unwrap()
            .admit(Instant::now());
        let Some(suppressed) = admitted else {
            return;
        };
        // What an ordinary client causes (no root, a full queue, gone away) is news;
        // what only a forger causes is a warning.
        let ordinary = matches!(
            reason,
            Reason::Unprivileged | Reason::AnswerDropped | Reason::TriggerAbandoned
        );
        let (reason, detail) = (reason.name(), detail());
        if ordinary {
            tracing::info!(reason, total, suppressed, "{detail}");
        } else {
            tracing::warn!(reason, total, suppressed, "{detail}");
        }
    }

    /// How many of `reason` so far.
    pub fn count(&self, reason: Reason) -> u64 {
        self.counts[reason.index()].load(Ordering::Relaxed)
    }

    /// Every reason with its count.
    pub fn snapshot(&self) -> Vec<(Reason, u64)> {
        Reason::ALL.iter().map(|r| (*r, self.count(*r))).collect()
    }

    /// Every count, as STATS-GET's `refusals` nest carries them.
    pub fn attrs(&self) -> pnfs_netlink::pnfsd::nest::RefusalsAttrs {
        let n = |r| Some(self.count(r));
        pnfs_netlink::pnfsd::nest::RefusalsAttrs {
            impostor: n(Reason::Impostor),
            foreign_port: n(Reason::ForeignPort),
            unprivileged: n(Reason::Unprivileged),
            foreign_reply: n(Reason::ForeignReply),
            answer_dropped: n(Reason::AnswerDropped),
            trigger_abandoned: n(Reason::TriggerAbandoned),
        }
    }

    /// `name=count` for every reason, for a summary line.
    pub fn summary(&self) -> String {
        self.snapshot()
            .iter()
            .map(|(r, n)| format!("{}={n}", r.name()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood logs one line per second per reason; each line says how many were
    /// suppressed since the previous one, and nothing is lost from the count.
    #[test]
    fn one_line_per_second_with_the_suppressed_count() {
        let mut w = Window::default();
        let t0 = Instant::now();
        assert_eq!(w.admit(t0), Some(0));
        for i in 1..1000u64 {
            assert_eq!(w.admit(t0 + Duration::from_micros(i * 900)), None);
        }
        assert_eq!(w.admit(t0 + LOG_EVERY), Some(999));
        assert_eq!(w.admit(t0 + LOG_EVERY + Duration::from_millis(1)), None);
        assert_eq!(w.admit(t0 + 3 * LOG_EVERY), Some(1));

        let r = Refusals::default();
        for _ in 0..5000 {
            r.note(Reason::Impostor, || "forged".into());
        }
        r.note(Reason::AnswerDropped, || "full".into());
        assert_eq!(r.count(Reason::Impostor), 5000);
        assert_eq!(r.count(Reason::AnswerDropped), 1);
        assert_eq!(r.count(Reason::ForeignPort), 0);
        assert!(r.summary().contains("impostor=5000"), "{}", r.summary());
    }
}
