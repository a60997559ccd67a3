//! DS→MDS GET_STATE cache miss over Corosync CPG against a bare CPG ping-pong between
//! the same nodes (issue #8, path 5). Writes `benches/cpg.md` and `benches/cpg-report.json`.
//!
//! ```text
//! cargo build --release --workspace --features corosync --bins --examples
//! cargo bench --features corosync --bench cpg        (root; corosync, iproute2)
//! ```
//!
//! Three nodes in network namespaces (tests/cluster/netns.sh), each with its corosync, its
//! twin (the kernel half over NETLINK_USERSOCK; not recording upcalls) and its
//! `pnfs_controld --engine corosync`; node 1 is the MDS. **Product**: node 2's twin issues
//! GET_STATE for a stateid no cache holds (TRIGGER, depth 1): node 2's daemon multicasts
//! the query, node 1's daemon asks its kernel half (STATE_CHECK downcall) and multicasts
//! the answer, node 2's daemon replies to its twin. The MDS's kernel half does not know the
//! stateid, so the answer is not cacheable and every upcall takes the whole path (the
//! daemon's miss counter must grow by exactly the number of upcalls). **Floor**:
//! `cpg_probe pingpong` between nodes 1 and 2 in a group that node 3 also joins (three
//! members, as in the daemons' group): one multicast each way, timed by the initiator,
//! through the same CPG binding the daemon uses. Rounds alternate which side goes first;
//! figures are medians over the rounds, the CDF is over every round trip.
//!
//! Without root or corosync it prints `SKIPPED: <reason>` and exits 0 without touching
//! the reports; with BENCH_QUICK (one short round) it prints the result and writes nothing.

#[path = "../tests/common/cluster.rs"]
mod cluster;

use cluster::*;
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GROUP: &str = "pnfs-bench-pingpong";
/// Issue #8's target for this path.
const TARGET: f64 = 1.2;

struct Side {
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    per_sec: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn medians(v: &[Side]) -> Side {
    Side {
        p50_us: median(v.iter().map(|s| s.p50_us).collect()),
        p99_us: median(v.iter().map(|s| s.p99_us).collect()),
        p999_us: median(v.iter().map(|s| s.p999_us).collect()),
        per_sec: median(v.iter().map(|s| s.per_sec).collect()),
    }
}

/// Add `[[ns, count], ...]` into a histogram.
fn add_hist(h: &mut pnfs_netlink::histogram::Histogram, v: &Value) {
    for p in v.as_array().into_iter().flatten() {
        if let (Some(ns), Some(c)) = (p[0].as_u64(), p[1].as_u64()) {
            h.record_n(ns, c);
        }
    }
}

fn hist_json(h: &pnfs_netlink::histogram::Histogram) -> Value {
    h.buckets().map(|(ns, c)| json!([ns, c])).collect()
}

/// One ping-pong run: node 2 responds, node 1 initiates and reports. Returns the
/// initiator's result and the responder's (its turnaround).
fn pingpong(h: &Harness, count: u32, warmup: u32) -> (Value, Value) {
    let exec = |n: u32, args: &[&str]| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &h.ns[n as usize - 1]])
            .arg(probe_bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        c.spawn().expect("spawn cpg_probe pingpong")
    };
    let (count_s, warm_s) = (count.to_string(), warmup.to_string());
    let mut resp = exec(2, &["pingpong", GROUP, "1", &count_s, &warm_s]);
    let mut init = exec(1, &["pingpong", GROUP, "2", &count_s, &warm_s]);
    let result = last_event(init.stdout.take().unwrap(), "pingpong");
    let st = init.wait().expect("wait for the initiator");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && resp.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = resp.kill();
    let _ = resp.wait();
    assert!(
        st.success() && result["ev"] == "pingpong",
        "cpg_probe pingpong failed ({st}): {result}"
    );
    let done = last_event(resp.stdout.take().unwrap(), "pingpong-done");
    (result, done)
}

/// The last JSON line of a probe's output whose `ev` is `ev` (Null if none), read to
/// the end of the output.
fn last_event(out: impl std::io::Read, ev: &str) -> Value {
    let mut last = Value::Null;
    for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["ev"] == ev {
                last = v;
            }
        }
    }
    last
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probing
    }
    if let Some(reason) = skip_reason() {
        loud(&format!("SKIPPED: cpg bench: {reason}"));
        return;
    }
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let (rounds, count, warmup) = if quick { (1, 200, 50) } else { (5, 2000, 200) };
    let mut h = Harness::up("bench-cpg", 3);
    h.record = false;
    h.remove_on_success = true;
    h.start_nodes_mds1();
    for n in 1..=3 {
        h.wait_for(&format!("node {n}: 3 members, MDS 1, granting"), |h| {
            let v = h.try_ctl(n, &["member", "show"])?;
            if member_nodes(&v) == [1, 2, 3] && v["mds"] == 1 && v["granting"] == true {
                Ok(())
            } else {
                Err(v.to_string())
            }
        });
    }
    // A third member in the ping-pong group, as the daemons' group has three.
    let watcher = h.probe(3, GROUP);
    let stateid = stateid(7);
    let fileid = "4242";
    let get_state = |h: &Harness, n: u32| -> Value {
        h.node(2)
            .trigger(&[
                "pnfsd",
                "get-state",
                "--count",
                &n.to_string(),
                "--depth",
                "1",
                "--fsid",
                "7",
                "--fileid",
                fileid,
                "--stateid",
                &stateid,
                "--clientid",
                "42",
            ])
            .unwrap_or_else(|e| panic!("TRIGGER get-state on node 2: {e}"))
    };
    let misses = |h: &Harness| {
        h.ctl(2, &["stats", "show"])["daemon"]["cache_misses"]
            .as_u64()
            .unwrap_or(0)
    };
    // Warm-up of both sides.
    let w = get_state(&h, warmup);
    loud(&format!("warm-up: {}", kind_stats(&w)));
    pingpong(&h, warmup, 0);
    // The responder's turnaround per round (µs, p50 and p99).
    let mut turn: Vec<(f64, f64)> = vec![];

    let mut prod = vec![];
    let mut floor = vec![];
    let mut prod_hist = pnfs_netlink::histogram::Histogram::default();
    let mut floor_hist = pnfs_netlink::histogram::Histogram::default();
    let mut measured = 0u64;
    let misses0 = misses(&h);
    let loadavg = || {
        let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    };
    let load_before = loadavg();
    for r in 0..rounds {
        for side in 0..2 {
            if (side + r) % 2 == 0 {
                let t0 = Instant::now();
                let v = get_state(&h, count);
                let k = kind_stats(&v);
                let answered = k["answered"].as_u64().unwrap_or(0);
                // The stateid is unknown to the MDS: every answer is a non-OK status,
                // counted as an error by the twin; anything else (timeouts, failures)
                // means the path broke.
                assert_eq!(answered, count as u64, "not every upcall answered: {v}");
                assert_eq!(
                    k["timeouts"].as_u64().unwrap_or(0) + k["failed"].as_u64().unwrap_or(0),
                    0,
                    "timeouts or failures: {v}"
                );
                measured += count as u64;
                let elapsed = v["elapsed-ns"].as_u64().unwrap_or(0) as f64;
                // Percentiles from the twin's histogram, as the floor's below.
                let mut run = pnfs_netlink::histogram::Histogram::default();
                add_hist(&mut run, &k["hist"]);
                assert_eq!(run.total(), count as u64, "twin histogram: {v}");
                let q = |x: f64| run.quantile_interpolated(x) / 1e3;
                prod.push(Side {
                    p50_us: q(0.5),
                    p99_us: q(0.99),
                    p999_us: q(0.999),
                    per_sec: count as f64 / (elapsed / 1e9),
                });
                prod_hist.merge(&run);
                loud(&format!(
                    "round {}: GET_STATE miss x{count}: p50 {:.0} µs ({:.1} s)",
                    r + 1,
                    prod.last().unwrap().p50_us,
                    t0.elapsed().as_secs_f64()
                ));
            } else {
                let (v, done) = pingpong(&h, count, 0);
                if let (Some(p50), Some(p99)) = (
                    done["turnaround_p50_ns"].as_f64(),
                    done["turnaround_p99_ns"].as_f64(),
                ) {
                    turn.push((p50 / 1e3, p99 / 1e3));
                }
                // Percentiles from the same log-bucket histogram as the twin's
                // (interpolated within the bucket), not the probe's exact ones: both
                // sides read alike.
                let mut run = pnfs_netlink::histogram::Histogram::default();
                add_hist(&mut run, &v["hist_ns"]);
                assert_eq!(run.total(), count as u64, "ping-pong histogram: {v}");
                let q = |x: f64| run.quantile_interpolated(x) / 1e3;
                floor.push(Side {
                    p50_us: q(0.5),
                    p99_us: q(0.99),
                    p999_us: q(0.999),
                    per_sec: 1e6 / v["mean_us"].as_f64().unwrap_or(0.0).max(1.0),
                });
                floor_hist.merge(&run);
                loud(&format!(
                    "round {}: CPG ping-pong x{count}: p50 {} µs, membership changes {}",
                    r + 1,
                    v["p50_us"],
                    v["membership_changes"]
                ));
            }
        }
    }
    let load_after = loadavg();
    let miss_delta = misses(&h) - misses0;
    assert_eq!(
        miss_delta, measured,
        "node 2's daemon counted {miss_delta} cache misses for {measured} measured upcalls"
    );
    watcher.exit();
    // Where the difference is: the MDS's turnaround against the responder's.
    let mds = h.ctl(1, &["stats", "show"])["daemon"]["mds_state_checks"].clone();
    let mus = |v: &Value| v.as_f64().unwrap_or(0.0) / 1e3;
    let (mds_check, mds_answer) = (
        (
            mus(&mds["kernel_half"]["p50_ns"]),
            mus(&mds["kernel_half"]["p99_ns"]),
        ),
        (
            mus(&mds["answer_sent"]["p50_ns"]),
            mus(&mds["answer_sent"]["p99_ns"]),
        ),
    );
    let resp_turn = if turn.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        (
            median(turn.iter().map(|t| t.0).collect()),
            median(turn.iter().map(|t| t.1).collect()),
        )
    };
    let (p, f) = (medians(&prod), medians(&floor));
    let r50 = p.p50_us / f.p50_us;
    let r99 = p.p99_us / f.p99_us;
    let met = r50 <= TARGET;
    let date = String::from_utf8_lossy(
        &Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .trim()
    .to_string();
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = String::from_utf8_lossy(
        &Command::new("uname")
            .arg("-r")
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .trim()
    .to_string();
    let side_json = |s: &Side| json!({"p50_us": s.p50_us, "p99_us": s.p99_us, "p999_us": s.p999_us, "per_sec": s.per_sec.round()});
    let report = json!({
        "date": date,
        "machine": {"nproc": nproc, "model": model, "kernel": kernel,
                    "loadavg_before": load_before.trim(), "loadavg_after": load_after.trim()},
        "quick": quick,
        "rounds": rounds,
        "round_trips_per_round": count,
        "product": side_json(&p),
        "floor": side_json(&f),
        "p50_vs_floor": r50,
        "p99_vs_floor": r99,
        "target": {"p50_vs_floor_max": TARGET, "met": met},
        "cache_misses": miss_delta,
        "turnaround_us": {
            "mds_answer": {"p50": mds_answer.0, "p99": mds_answer.1},
            "mds_kernel_half": {"p50": mds_check.0, "p99": mds_check.1},
            "mds_queries": mds["answered"],
            "pingpong_responder": {"p50": resp_turn.0, "p99": resp_turn.1},
        },
        "hist_ns": {"product": hist_json(&prod_hist), "floor": hist_json(&floor_hist)},
    });
    let rows = |name: &str, s: &Side| {
        format!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
            s.p50_us, s.p99_us, s.p999_us, s.per_sec
        )
    };
    let md = format!(
        "# DS→MDS GET_STATE cache miss over Corosync CPG\n\n\
         Written by `cargo bench --features corosync --bench cpg` (replaced on every run; the \
         JSON twin is `cpg-report.json`, the CDF `cpg-cdf.png`). {date}.\n\n\
         Machine: {nproc} CPUs, {model}, kernel {kernel}; load average {} before, {} after. \
         Three corosync nodes in network namespaces on this one machine (veth, one ring): \
         the numbers are those of CPG's totem protocol between processes sharing {nproc} CPUs, \
         not of a network.\n\n\
         Method: {}. **Product**: node 2's twin issues GET_STATE for a stateid no cache holds \
         (TRIGGER, depth 1, {count} per round): node 2's `pnfs_controld` multicasts the query \
         over CPG, node 1's (the MDS) asks its kernel half (STATE_CHECK downcall) and \
         multicasts the answer, node 2's replies to its twin. The MDS's kernel half does not \
         know the stateid, so no answer is cacheable and every upcall takes the whole path: \
         node 2's daemon counted {miss_delta} cache misses for {measured} measured upcalls. \
         Timed by the twin from just before the upcall's send to taking up its reply. Both sides' percentiles \
         are read off the same log-bucket histogram (buckets ≤ 6.25 % wide, percentiles \
         interpolated linearly within their bucket). **Floor**: `cpg_probe \
         pingpong` between nodes 1 and 2 (same CPG binding as the daemon, agreed ordering) \
         in a group node 3 also joins, three members as in the daemons' group: one \
         multicast each way, timed by the initiator. {rounds} round(s), product and floor \
         alternately (the side that goes first alternates); figures are medians over the \
         rounds, upcalls/s = round trips / elapsed at depth 1.\n\n\
         Target (issue #8): p50 ≤ {TARGET}× the ping-pong: **{}** ({r50:.2}×; p99 {r99:.2}×).\n\n\
         | path | p50 µs | p99 µs | p99.9 µs | round trips/s |\n|---|---:|---:|---:|---:|\n{}{}\n\
         ![CDF](cpg-cdf.png)\n\n\
         ## The responders' turnaround\n\n\
         From taking up the message (corosync's delivery having reached the process's event \
         loop) to the answer handed to corosync; bucket lower bounds, as `pnfsctl stats` \
         gives them. Node 1's daemon answering a query: p50 {:.0} µs, p99 {:.0} µs ({} \
         queries over the whole run, warm-up included), of which its kernel half's \
         STATE_CHECK round trip (here the twin, another process) p50 {:.0} µs, p99 {:.0} µs. \
         The ping-pong responder answering a ping: p50 {:.0} µs, p99 {:.0} µs (median over \
         the rounds). A node multicasts when the token reaches it: an answer handed over \
         after the token has passed waits a whole rotation of the ring, so a few tens of µs \
         more at the MDS can cost far more end to end (`REPORT.md`, path 5).\n",
        load_before.trim(),
        load_after.trim(),
        if quick { "quick run (BENCH_QUICK)" } else { "full run" },
        if met { "met" } else { "not met" },
        rows("GET_STATE miss: twin → daemon → CPG → MDS daemon → MDS kernel half → CPG → daemon → twin", &p),
        rows("floor: CPG ping-pong (bare, same nodes)", &f),
        mds_answer.0,
        mds_answer.1,
        mds["answered"],
        mds_check.0,
        mds_check.1,
        resp_turn.0,
        resp_turn.1,
    );
    if quick {
        loud(&format!(
            "cpg bench (BENCH_QUICK: smoke run, report not written): GET_STATE miss p50 {:.0} µs vs CPG ping-pong p50 {:.0} µs: {r50:.2}×; turnaround p50: MDS {:.0} µs (kernel half {:.0} µs), ping-pong responder {:.0} µs",
            p.p50_us, f.p50_us, mds_answer.0, mds_check.0, resp_turn.0
        ));
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches");
    std::fs::write(dir.join("cpg.md"), md).expect("write cpg.md");
    std::fs::write(
        dir.join("cpg-report.json"),
        serde_json::to_string_pretty(&report).unwrap() + "\n",
    )
    .expect("write cpg-report.json");
    loud(&format!(
        "cpg bench: GET_STATE miss p50 {:.0} µs vs CPG ping-pong p50 {:.0} µs: {r50:.2}× (target ≤ {TARGET}×: {}); wrote benches/cpg.md",
        p.p50_us,
        f.p50_us,
        if met { "met" } else { "NOT met" }
    ));
}
