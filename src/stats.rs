//! The daemon's counters and latency histograms per upcall kind (service time: from the
//! upcall's arrival to its REPLY), served to `pnfsctl stats`. The upcall fast path's
//! share of the histogram is sampled (`fastpath::TIME_EVERY`); the counters are exact.

use pnfs_netlink::histogram::Histogram;
use pnfs_netlink::{gfs2ctl, pnfsd};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct KindCounters {
    pub received: u64,
    pub answered: u64,
    /// Answers with a non-OK status.
    pub errors: u64,
    pub latency: Histogram,
}

impl KindCounters {
    /// Add another's counts (the fast path's into the loop's).
    pub fn merge(&mut self, o: &KindCounters) {
        self.received += o.received;
        self.answered += o.answered;
        self.errors += o.errors;
        self.latency.merge(&o.latency);
    }

    fn to_json(&self, kind: &str) -> Value {
        json!({
            "kind": kind,
            "received": self.received,
            "answered": self.answered,
            "errors": self.errors,
            "p50_ns": self.latency.quantile(0.5),
            "p99_ns": self.latency.quantile(0.99),
            "p999_ns": self.latency.quantile(0.999),
        })
    }
}

#[derive(Clone)]
pub struct Stats {
    /// Indexed by upcall kind (index 0 unused).
    pub pnfsd: Vec<KindCounters>,
    pub gfs2: Vec<KindCounters>,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub query_timeouts: u64,
    pub malformed: u64,
    pub reply_errors: u64,
    pub rejected_cluster: u64,
    pub overruns: u64,
    /// The MDS's answers to state queries (a DS's GET_STATE miss, or its own), timed
    /// from taking up the query: until its kernel half's STATE_CHECK answer, and until
    /// the answer is handed to the cluster engine.
    pub mds_checks: MdsChecks,
}

#[derive(Clone, Default)]
pub struct MdsChecks {
    pub answered: u64,
    pub kernel: Histogram,
    pub answer: Histogram,
}

impl MdsChecks {
    fn to_json(&self) -> Value {
        let h = |h: &Histogram| json!({ "p50_ns": h.quantile(0.5), "p99_ns": h.quantile(0.99) });
        json!({
            "answered": self.answered,
            "kernel_half": h(&self.kernel),
            "answer_sent": h(&self.answer),
        })
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            pnfsd: vec![KindCounters::default(); pnfsd::UpcallKind::ALL.len() + 1],
            gfs2: vec![KindCounters::default(); gfs2ctl::UpcallKind::ALL.len() + 1],
            cache_hits: 0,
            cache_misses: 0,
            query_timeouts: 0,
            malformed: 0,
            reply_errors: 0,
            rejected_cluster: 0,
            overruns: 0,
            mds_checks: MdsChecks::default(),
        }
    }
}

impl Stats {
    pub fn pnfsd_answered(&mut self, kind: u32, status: u32, took: Duration) {
        if let Some(k) = self.pnfsd.get_mut(kind as usize) {
            k.answered += 1;
            if status != 0 {
                k.errors += 1;
            }
            k.latency.record(took.as_nanos() as u64);
        }
    }

    pub fn gfs2_answered(&mut self, kind: u32, status: i32, took: Duration) {
        if let Some(k) = self.gfs2.get_mut(kind as usize) {
            k.answered += 1;
            if status != 0 {
                k.errors += 1;
            }
            k.latency.record(took.as_nanos() as u64);
        }
    }

    pub fn to_json(&self) -> Value {
        let p: Vec<Value> = pnfsd::UpcallKind::ALL
            .iter()
            .map(|k| self.pnfsd[*k as usize].to_json(k.name()))
            .collect();
        let g: Vec<Value> = gfs2ctl::UpcallKind::ALL
            .iter()
            .map(|k| self.gfs2[*k as usize].to_json(k.name()))
            .collect();
        json!({
            "pnfsd": p,
            "gfs2ctl": g,
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "query_timeouts": self.query_timeouts,
            "malformed": self.malformed,
            "reply_errors": self.reply_errors,
            "rejected_cluster_messages": self.rejected_cluster,
            "overruns": self.overruns,
            "mds_state_checks": self.mds_checks.to_json(),
        })
    }
}
