//! The fault suite's workload generator and the checks on what it recorded.
//!
//! Per node a thread keeps issuing upcalls through the node's twin (`pnfsctl trigger`,
//! the path nfsd/gfs2 take in the kernel): GET_STATE of valid stateids (cache hits on the
//! DSes), of stateids that will be revoked, and of unknown ones (always a query to the
//! MDS); LAYOUT_GET and GET_DEVICE_INFO; GFS2 MOUNT and UNMOUNT of the node's own table.
//! The twin records every upcall with its outcome and times (`pnfs-twin --record`);
//! `Records` reads those files back and checks them.

#![allow(dead_code)]

use super::cluster::{loud, Harness, NodeCtl};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub const FSID: &str = "7";
pub const CLIENTID: &str = "42";
/// GET_STATE's upcall kind number (pnfsd `upcall-kind`).
pub const GET_STATE: u32 = 1;
pub const NFS4_OK: i64 = 0;
pub const NFS4ERR_DELAY: i64 = 10008;

/// One trigger run of a plan: `pnfsctl trigger` arguments.
pub type Item = Vec<String>;

/// The standard plan of node `n`: `valid` and `revocable` are (fileid, stateid) pairs
/// installed on the MDS; `n`'s own GFS2 table is `w:n<N>`.
pub fn plan(n: u32, valid: &[(u64, String)], revocable: &[(u64, String)]) -> Vec<Item> {
    let mut items: Vec<Item> = vec![];
    let gs = |fileid: u64, sid: &str, count: u32, depth: u32| -> Item {
        [
            "pnfsd",
            "get-state",
            "--fsid",
            FSID,
            "--clientid",
            CLIENTID,
            "--fileid",
            &fileid.to_string(),
            "--stateid",
            sid,
            "--count",
            &count.to_string(),
            "--depth",
            &depth.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Item>();
    for (f, s) in valid {
        items.push(gs(*f, s, 24, 8));
    }
    for (f, s) in revocable {
        items.push(gs(*f, s, 12, 4));
    }
    // Never installed anywhere: a miss every time, answered by the MDS (or DELAY).
    items.push(gs(
        900 + n as u64,
        &format!("00000001{:08x}ffffffffffffffff", 0xdead0000u32 + n),
        4,
        4,
    ));
    items.push(strs(&[
        "pnfsd",
        "layout-get",
        "--fsid",
        FSID,
        "--clientid",
        CLIENTID,
        "--fileid",
        &(300 + n as u64).to_string(),
        "--count",
        "3",
    ]));
    items.push(strs(&[
        "pnfsd",
        "get-device-info",
        "--device",
        &super::cluster::device_hex(n % 3 + 1),
        "--count",
        "4",
        "--depth",
        "2",
    ]));
    let table = format!("w:n{n}");
    items.push(strs(&["gfs2", "mount", "--table", &table]));
    items.push(strs(&["gfs2", "unmount", "--table", &table]));
    items
}

/// Per-node generator threads.
pub struct Workload {
    stop: Arc<AtomicBool>,
    threads: Vec<(u32, Arc<AtomicBool>, JoinHandle<()>)>,
    /// Completed trigger runs per node (index node-1).
    pub runs: Vec<Arc<AtomicU64>>,
}

impl Workload {
    pub fn new(nodes: u32) -> Workload {
        Workload {
            stop: Arc::new(AtomicBool::new(false)),
            threads: vec![],
            runs: (0..nodes).map(|_| Arc::new(AtomicU64::new(0))).collect(),
        }
    }

    /// Start node `node.node`'s generator cycling through `plan`.
    pub fn start(&mut self, node: NodeCtl, plan: Vec<Item>) {
        let stop = self.stop.clone();
        let mine = Arc::new(AtomicBool::new(false));
        let runs = self.runs[node.node as usize - 1].clone();
        let n = node.node;
        let mine2 = mine.clone();
        let t = std::thread::spawn(move || {
            for item in plan.iter().cycle() {
                if stop.load(Ordering::SeqCst) || mine2.load(Ordering::SeqCst) {
                    break;
                }
                let args: Vec<&str> = item.iter().map(String::as_str).collect();
                let fast_fail = match node.trigger(&args) {
                    Ok(v) => {
                        let k = super::cluster::kind_stats(&v);
                        k["answered"].as_u64().unwrap_or(0) == 0
                    }
                    Err(_) => true,
                };
                runs.fetch_add(1, Ordering::SeqCst);
                if fast_fail {
                    // Nothing answers on this node (no daemon): do not spin.
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        self.threads.push((n, mine, t));
    }

    /// Completed runs of node `n`.
    pub fn done(&self, n: u32) -> u64 {
        self.runs[n as usize - 1].load(Ordering::SeqCst)
    }

    /// Wait (bounded) until every node in `nodes` completed `more` further runs: the
    /// event that load has gone on over some interval.
    pub fn wait_more(&self, h: &mut Harness, nodes: &[u32], more: u64) {
        let target: Vec<(u32, u64)> = nodes.iter().map(|n| (*n, self.done(*n) + more)).collect();
        h.wait_for(
            &format!("{more} more workload runs on nodes {nodes:?}"),
            |_| {
                let behind: Vec<_> = target
                    .iter()
                    .filter(|(n, t)| self.done(*n) < *t)
                    .map(|(n, t)| format!("node {n}: {}/{t}", self.done(*n)))
                    .collect();
                if behind.is_empty() {
                    Ok(())
                } else {
                    Err(behind.join(", "))
                }
            },
        );
    }

    /// Stop node `n`'s generator and wait for its current run to finish.
    pub fn stop_node(&mut self, n: u32) {
        let mut keep = vec![];
        for (node, mine, t) in std::mem::take(&mut self.threads) {
            if node == n {
                mine.store(true, Ordering::SeqCst);
                let _ = t.join();
            } else {
                keep.push((node, mine, t));
            }
        }
        self.threads = keep;
    }

    /// Stop every generator and wait for the runs in progress.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for (_, _, t) in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How one recorded upcall ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(i64),
    Errno(i32),
}

#[derive(Debug, Clone)]
pub struct Upcall {
    pub node: u32,
    pub fam: String,
    pub kind: u32,
    pub xid: u32,
    pub t0: u64,
    pub t1: u64,
    pub fileid: u64,
    pub stateid: String,
    pub table: String,
    pub outcome: Outcome,
}

impl Upcall {
    pub fn is_get_state_of(&self, fileid: u64, stateid: &str) -> bool {
        self.fam == "pnfsd"
            && self.kind == GET_STATE
            && self.fileid == fileid
            && self.stateid == stateid
    }
}

/// Every twin record of a run, checked.
pub struct Records {
    pub upcalls: Vec<Upcall>,
    pub late: u64,
    pub dup: u64,
    pub unknown: u64,
    pub timeouts: u64,
    pub not_connected: u64,
    pub eagain: u64,
    pub max_wait_us: u64,
    /// Trigger runs whose pnfsctl never reached the twin (reported, not an upcall).
    pub lookup_failures: u64,
}

fn parse_file(node: u32, path: &Path, problems: &mut Vec<String>) -> (Vec<Upcall>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut ups = vec![];
    let mut unmatched = vec![];
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f.first() {
            Some(&"U") if f.len() == 10 => {
                let num = |i: usize| f[i].parse::<u64>().unwrap_or(u64::MAX);
                let outcome = match (f[9].get(..1), f[9].get(1..).map(str::parse::<i64>)) {
                    (Some("s"), Some(Ok(s))) => Outcome::Status(s),
                    (Some("e"), Some(Ok(e))) => Outcome::Errno(e as i32),
                    _ => {
                        problems.push(format!("{}: bad result in {line:?}", path.display()));
                        continue;
                    }
                };
                ups.push(Upcall {
                    node,
                    fam: f[1].to_string(),
                    kind: num(2) as u32,
                    xid: num(3) as u32,
                    t0: num(4),
                    t1: num(5),
                    fileid: num(6),
                    stateid: f[7].to_string(),
                    table: f[8].to_string(),
                    outcome,
                });
            }
            Some(&"R") if f.len() == 5 => unmatched.push(f[4].to_string()),
            _ => problems.push(format!("{}: unreadable line {line:?}", path.display())),
        }
    }
    (ups, unmatched)
}

impl Records {
    /// Read every record of the run and check, per twin: one record per upcall the
    /// ledger says was issued, unique xids, only defined outcomes, nobody waited beyond
    /// the upcall timeout, and no duplicate or unknown reply. `allow_late` permits late
    /// replies (only ever to upcalls that ended unanswered). Panics with every problem.
    pub fn check(h: &Harness, allow_late: bool) -> Records {
        let mut problems: Vec<String> = h.failed_triggers.lock().unwrap().clone();
        let ledger = h.ledger.lock().unwrap().clone();
        let mut r = Records {
            upcalls: vec![],
            late: 0,
            dup: 0,
            unknown: 0,
            timeouts: 0,
            not_connected: 0,
            eagain: 0,
            max_wait_us: 0,
            lookup_failures: *h.lookup_failures.lock().unwrap(),
        };
        // Scheduling slack on an overloaded 2-CPU machine, on top of the timeout.
        let timeout_ms = h.upcall_timeout_ms;
        let bound_us = (timeout_ms + 2000) * 1000;
        for n in 1..=h.nodes {
            for (gen, path) in h.records[n as usize - 1].iter().enumerate() {
                let (ups, unmatched) = parse_file(n, path, &mut problems);
                let want = ledger.get(&(n, gen)).copied().unwrap_or(0);
                if ups.len() as u64 != want {
                    problems.push(format!(
                        "node {n} twin {gen}: {} upcalls recorded, {want} issued",
                        ups.len()
                    ));
                }
                let mut seen = HashSet::new();
                let mut unanswered = 0u64;
                for u in &ups {
                    if u.xid != 0 && !seen.insert((u.fam.clone(), u.xid)) {
                        problems.push(format!("node {n}: xid {} recorded twice", u.xid));
                    }
                    let wait = u.t1.saturating_sub(u.t0);
                    r.max_wait_us = r.max_wait_us.max(wait);
                    if wait > bound_us {
                        problems.push(format!(
                            "node {n}: upcall waited {} ms (timeout {timeout_ms} ms): {u:?}",
                            wait / 1000
                        ));
                    }
                    match u.outcome {
                        Outcome::Status(_) => {}
                        Outcome::Errno(e) => {
                            if u.xid != 0 {
                                unanswered += 1;
                            }
                            match e {
                                libc::ETIMEDOUT => {
                                    r.timeouts += 1;
                                    // Excusable only while the suite itself had this
                                    // node's daemon stopped, killed or cut off.
                                    if !h.was_disturbed(n, u.t0, u.t1) {
                                        problems.push(format!(
                                            "node {n}: upcall timed out ({} ms) while the suite left its daemon alone: {u:?}",
                                            wait / 1000
                                        ));
                                    }
                                }
                                libc::ENOTCONN => r.not_connected += 1,
                                libc::EAGAIN => r.eagain += 1,
                                _ => problems.push(format!(
                                    "node {n}: upcall failed with an undefined error {e}: {u:?}"
                                )),
                            }
                        }
                    }
                }
                let mut late_here = 0;
                for class in unmatched {
                    match class.as_str() {
                        "late" => late_here += 1,
                        "dup" => r.dup += 1,
                        _ => r.unknown += 1,
                    }
                }
                if late_here > unanswered {
                    problems.push(format!(
                        "node {n}: {late_here} late replies but only {unanswered} upcalls unanswered"
                    ));
                }
                r.late += late_here;
                r.upcalls.extend(ups);
            }
        }
        if r.dup > 0 || r.unknown > 0 {
            problems.push(format!(
                "replies to upcalls that were answered already: {}, to upcalls never issued: {}",
                r.dup, r.unknown
            ));
        }
        if !allow_late && r.late > 0 {
            problems.push(format!("{} late replies", r.late));
        }
        if r.upcalls.is_empty() {
            problems.push("no upcall recorded at all".into());
        }
        if !problems.is_empty() {
            let n = problems.len();
            problems.truncate(30);
            panic!(
                "upcall record check failed ({n} problems; logs in {}):\n{}",
                h.dir.display(),
                problems.join("\n")
            );
        }
        r
    }

    /// GET_STATE of (fileid, stateid) started after `after_us` that answered ok: must be
    /// none. Returns how many such upcalls were checked.
    pub fn assert_never_ok_after(&self, fileid: u64, stateid: &str, after_us: u64) -> u64 {
        let later: Vec<&Upcall> = self
            .upcalls
            .iter()
            .filter(|u| u.is_get_state_of(fileid, stateid) && u.t0 > after_us)
            .collect();
        let ok: Vec<&&Upcall> = later
            .iter()
            .filter(|u| u.outcome == Outcome::Status(NFS4_OK))
            .collect();
        assert!(
            ok.is_empty(),
            "{} GET_STATE(s) of revoked stateid {stateid} answered ok after the revoke was acknowledged, e.g. {:?}",
            ok.len(),
            ok.first()
        );
        later.len() as u64
    }

    /// Counts of outcomes, for the summary line.
    pub fn histogram(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for u in &self.upcalls {
            let k = match u.outcome {
                Outcome::Status(s) => format!("s{s}"),
                Outcome::Errno(e) => format!("e{e}"),
            };
            *m.entry(k).or_default() += 1;
        }
        m
    }

    pub fn summary(&self) -> String {
        format!(
            "upcalls_checked={} timeouts={} enotconn={} eagain={} late={} max_wait={}ms lookup_failures={}",
            self.upcalls.len(),
            self.timeouts,
            self.not_connected,
            self.eagain,
            self.late,
            self.max_wait_us / 1000,
            self.lookup_failures
        )
    }
}

/// Print a scenario's summary line (uncaptured).
pub fn summary(n: u32, name: &str, fields: &str) {
    loud(&format!("SCENARIO {n} {name}: PASS {fields}"));
}
