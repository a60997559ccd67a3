//! The per-upcall record (twin only, `pnfs-twin --record FILE`): one line per upcall the
//! twin issued, with its outcome as the caller saw it, and one line per REPLY that matched
//! no pending upcall, classified. Fault tests read it to check that every upcall got
//! exactly one answer, that none waited beyond the timeout, and what each answered.
//!
//! It is a test aid, not part of the protocol: nothing goes on the wire, and the module
//! has no counterpart (there, a tracepoint in `pnfs_shim_upcall()` would play this part).
//!
//! Line formats (fields separated by one space; times are CLOCK_MONOTONIC microseconds,
//! the same clock in every network namespace):
//!
//! ```text
//! U FAM KIND XID T0 T1 FILEID STATEID TABLE RESULT
//! R FAM XID T CLASS
//! ```
//!
//! `FAM` is `pnfsd` or `gfs2`; `KIND` the upcall kind number; `XID` 0 when none was
//! allocated (no daemon); `STATEID` 32 hex digits; `TABLE` the gfs2 table or `-`;
//! `RESULT` is `sN` (answered with status N, the family's status attribute: nfsstat for
//! pnfsd, a negative errno or 0 for gfs2) or `eN` (not answered: errno N, e.g. 110
//! ETIMEDOUT, 107 ENOTCONN, 11 EAGAIN). `CLASS` of an unmatched reply is `late` (its
//! upcall had timed out or failed), `dup` (it had been answered already) or `unknown`
//! (no such upcall was issued, or too long ago to remember).

use crate::trigger::Fill;
use crate::Fam;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

/// How many finished xids per family are remembered to classify unmatched replies.
const REMEMBER: usize = 1 << 20;

/// How an upcall ended, remembered by xid.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    Answered,
    NotAnswered,
}

#[derive(Default)]
struct Finished {
    by_xid: HashMap<u32, Ended>,
    order: VecDeque<u32>,
}

impl Finished {
    fn note(&mut self, xid: u32, how: Ended) {
        if self.by_xid.insert(xid, how).is_none() {
            self.order.push_back(xid);
            if self.order.len() > REMEMBER {
                if let Some(old) = self.order.pop_front() {
                    self.by_xid.remove(&old);
                }
            }
        }
    }
}

/// The record file and what it needs to classify replies.
pub struct Recorder {
    out: Mutex<BufWriter<File>>,
    finished: Mutex<[Finished; 2]>,
}

/// Microseconds of CLOCK_MONOTONIC.
pub fn now_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

fn fam_name(fam: Fam) -> &'static str {
    match fam {
        Fam::Pnfsd => "pnfsd",
        Fam::Gfs2 => "gfs2",
    }
}

/// What a recorded upcall ended with.
pub enum Result {
    /// Answered with this status attribute.
    Status(i64),
    /// Not answered: errno.
    Errno(i32),
}

impl Recorder {
    /// Create (truncate) the record file.
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        Ok(Recorder {
            out: Mutex::new(BufWriter::with_capacity(1 << 16, File::create(path)?)),
            finished: Mutex::new(Default::default()),
        })
    }

    fn idx(fam: Fam) -> usize {
        match fam {
            Fam::Pnfsd => 0,
            Fam::Gfs2 => 1,
        }
    }

    /// One upcall ended.
    pub fn upcall(&self, fam: Fam, xid: u32, t0: u64, t1: u64, fill: &Fill, r: Result) {
        if xid != 0 {
            let how = match r {
                Result::Status(_) => Ended::Answered,
                Result::Errno(_) => Ended::NotAnswered,
            };
            self.finished.lock().unwrap()[Self::idx(fam)].note(xid, how);
        }
        let sid: String = fill.stateid.iter().map(|b| format!("{b:02x}")).collect();
        let table = if fill.table.is_empty() {
            "-"
        } else {
            &fill.table
        };
        let res = match r {
            Result::Status(s) => format!("s{s}"),
            Result::Errno(e) => format!("e{e}"),
        };
        let mut out = self.out.lock().unwrap();
        let _ = writeln!(
            out,
            "U {} {} {xid} {t0} {t1} {} {sid} {table} {res}",
            fam_name(fam),
            fill.kind,
            fill.fileid
        );
    }

    /// A REPLY whose xid was not pending: classify it and write it out at once.
    pub fn unmatched_reply(&self, fam: Fam, xid: u32) {
        let class = match self.finished.lock().unwrap()[Self::idx(fam)]
            .by_xid
            .get(&xid)
        {
            Some(Ended::Answered) => "dup",
            Some(Ended::NotAnswered) => "late",
            None => "unknown",
        };
        let mut out = self.out.lock().unwrap();
        let _ = writeln!(out, "R {} {xid} {} {class}", fam_name(fam), now_us());
        let _ = out.flush();
    }

    /// Make everything recorded so far readable (before a TRIGGER is answered).
    pub fn flush(&self) {
        let _ = self.out.lock().unwrap().flush();
    }
}
