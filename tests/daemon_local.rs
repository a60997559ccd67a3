//! pnfs_controld on the local engine against the twin, in a private network namespace:
//! every upcall path, restart without loss, graceful shutdown.

mod common;
use common::{can_run, stateid, Node};
use std::time::{Duration, Instant};

#[test]
fn every_upcall_path_on_the_local_engine() {
    if !can_run("every_upcall_path_on_the_local_engine") {
        return;
    }
    let mut n = Node::new("local");
    n.start_daemon(&[]);

    // GET_STATE: miss -> the MDS (this node) asks its kernel -> ok; then a cache hit.
    let sid = stateid(1, 7);
    n.must(&["state", "set", "1", "7", &sid, "193"]);
    let base = [
        "--fsid",
        "1",
        "--fileid",
        "7",
        "--stateid",
        &sid,
        "--clientid",
        "1",
    ];
    // clientid 1 is not the owner: the MDS says bad-stateid.
    let r = n.trig(&[&["pnfsd", "get-state"][..], &base[..]].concat());
    assert_eq!(r["status"], "bad-stateid", "{r}");
    let own = [
        "--fsid",
        "1",
        "--fileid",
        "7",
        "--stateid",
        &sid,
        "--clientid",
        "193",
    ];
    let r = n.trig(&[&["pnfsd", "get-state"][..], &own[..]].concat());
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["generation"], 1, "{r}");
    let before = n.must(&["stats", "show"])["daemon"]["cache_hits"]
        .as_u64()
        .unwrap();
    let r = n.trig(
        &[
            &["pnfsd", "get-state", "--count", "50", "--depth", "8"][..],
            &own[..],
        ]
        .concat(),
    );
    assert_eq!(r["kind-stats"][0]["answered"], 50, "{r}");
    assert_eq!(r["status"], "ok");
    let after = n.must(&["stats", "show"])["daemon"]["cache_hits"]
        .as_u64()
        .unwrap();
    assert!(after >= before + 50, "cache hits {before} -> {after}");
    // An older seqid than the MDS's generation is OLD_STATEID, from the cache.
    n.must(&["state", "set", "1", "8", &stateid(3, 8), "193"]);
    let r = n.trig(&[
        "pnfsd",
        "get-state",
        "--fsid",
        "1",
        "--fileid",
        "8",
        "--stateid",
        &stateid(3, 8),
        "--clientid",
        "193",
    ]);
    assert_eq!(r["status"], "ok");
    let r = n.trig(&[
        "pnfsd",
        "get-state",
        "--fsid",
        "1",
        "--fileid",
        "8",
        "--stateid",
        &stateid(2, 8),
        "--clientid",
        "193",
    ]);
    assert_eq!(r["status"], "old-stateid", "{r}");

    // STATE_CHANGED: the cache forgets before the kernel hears "done".
    let r = n.trig(&[
        "pnfsd",
        "state-changed",
        "--fsid",
        "1",
        "--fileid",
        "7",
        "--stateid",
        &sid,
        "--clientid",
        "193",
    ]);
    assert_eq!(r["status"], "ok", "{r}");
    let cache = n.must(&["state", "show"]);
    assert!(
        !cache["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["fileid"] == 7),
        "fileid 7 still cached after STATE_CHANGED: {cache}"
    );

    // GET_DEVICE_INFO: this node's device, and an unknown one.
    let r = n.trig(&["pnfsd", "get-device-info", "--device", "node:1"]);
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["ds-addr"][0]["uaddr"], "127.0.0.1.8.1", "{r}");
    let r = n.trig(&["pnfsd", "get-device-info", "--device", "node:9"]);
    assert_eq!(r["status"], "noent", "{r}");
    let devs = n.must(&["device", "show"]);
    assert_eq!(
        devs[0]["device-id"], "504e4653000000010000000000000000",
        "{devs}"
    );

    // LAYOUT_GET records a layout in the kernel half; LAYOUT_RETURN removes it.
    let r = n.trig(&[
        "pnfsd",
        "layout-get",
        "--fsid",
        "1",
        "--fileid",
        "5",
        "--clientid",
        "193",
    ]);
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["device-id"], "504e4653000000010000000000000000");
    let l = n.must(&["layout", "show"]);
    assert_eq!(l.as_array().unwrap().len(), 1, "{l}");
    let r = n.trig(&[
        "pnfsd",
        "layout-commit",
        "--fsid",
        "1",
        "--fileid",
        "5",
        "--clientid",
        "193",
    ]);
    assert_eq!(r["status"], "ok", "{r}");
    let r = n.trig(&[
        "pnfsd",
        "layout-return",
        "--fsid",
        "1",
        "--fileid",
        "5",
        "--clientid",
        "193",
    ]);
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(n.must(&["layout", "show"]).as_array().unwrap().len(), 0);

    // GFS2: mount (first, jid 0), mount-done, withdraw, recovery-done, unmount.
    let r = n.trig(&["gfs2", "mount", "--table", "lab:fs0"]);
    assert_eq!(
        (r["status"].as_i64(), r["jid"].as_u64(), r["first"].as_u64()),
        (Some(0), Some(0), Some(1)),
        "{r}"
    );
    for k in ["mount-done", "withdraw", "recovery-done"] {
        let r = n.trig(&["gfs2", k, "--table", "lab:fs0"]);
        assert_eq!(r["status"], 0, "{k}: {r}");
    }
    let fs = n.must(&["fs", "show"]);
    assert_eq!(fs["mounts"][0]["table"], "lab:fs0", "{fs}");
    assert_eq!(fs["mounts"][0]["withdrawn"], 1, "{fs}");
    assert_eq!(fs["cluster"]["journals"]["lab:fs0"]["1"], 0, "{fs}");

    // Restart without loss: the journal assignment survives a crash (it was written
    // before the mount was acknowledged), and a restarted daemon re-registers.
    n.kill_daemon();
    let t0 = Instant::now();
    let r = n.trig(&["pnfsd", "get-device-info", "--device", "node:1"]);
    assert_eq!(
        r["kind-stats"][0]["failed"], 1,
        "no daemon must fail at once: {r}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "failing took {:?}",
        t0.elapsed()
    );
    n.start_daemon(&[]);
    let fs = n.must(&["fs", "show"]);
    assert_eq!(
        fs["cluster"]["journals"]["lab:fs0"]["1"], 0,
        "journal lost across restart: {fs}"
    );
    let r = n.trig(&["gfs2", "unmount", "--table", "lab:fs0"]);
    assert_eq!(r["status"], 0, "{r}");
    assert!(n.must(&["fs", "show"])["mounts"]
        .as_array()
        .unwrap()
        .is_empty());

    // Graceful shutdown unregisters: the kernel half fails upcalls at once afterwards.
    let st = n.stop_daemon();
    assert!(st.success(), "daemon exit status {st}");
    let r = n.trig(&[
        "pnfsd",
        "get-state",
        "--fsid",
        "1",
        "--fileid",
        "7",
        "--stateid",
        &sid,
        "--clientid",
        "193",
    ]);
    assert_eq!(r["kind-stats"][0]["failed"], 1, "{r}");
}

/// A `Cap*:` or other `Key:\tvalue` line of a /proc status file.
fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{key} missing in {status}"))
        .trim()
}

#[test]
fn daemon_keeps_only_cap_net_admin() {
    if !can_run("daemon_keeps_only_cap_net_admin") {
        return;
    }
    let mut n = Node::new("caps");
    n.start_daemon(&[]);
    let pid = n.daemon_pid().unwrap();
    // Every thread of the daemon (capabilities are per thread).
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let main = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_field(&main, "Name"), "pnfs_controld");
    let net_admin = format!("{:016x}", 1u64 << 12);
    for t in &tasks {
        let st = std::fs::read_to_string(t.join("status")).unwrap();
        assert_eq!(
            status_field(&st, "Tgid"),
            pid.to_string(),
            "{}",
            t.display()
        );
        for key in ["CapEff", "CapPrm", "CapBnd"] {
            assert_eq!(
                status_field(&st, key),
                net_admin,
                "{} {key}: only CAP_NET_ADMIN may remain",
                t.display()
            );
        }
        for key in ["CapInh", "CapAmb"] {
            assert_eq!(status_field(&st, key), "0000000000000000", "{key}");
        }
        assert_eq!(status_field(&st, "NoNewPrivs"), "1");
    }
    // And it still does its job: a GET_STATE miss asks the kernel half (a downcall),
    // then answers.
    let sid = stateid(3, 9);
    n.must(&["state", "set", "3", "9", &sid, "77"]);
    let r = n.trig(&[
        "pnfsd",
        "get-state",
        "--fsid",
        "3",
        "--fileid",
        "9",
        "--stateid",
        &sid,
        "--clientid",
        "77",
    ]);
    assert_eq!(r["status"], "ok", "{r}");
    eprintln!(
        "daemon pid {pid}: {} threads, each with CapEff=CapPrm=CapBnd={net_admin}, NoNewPrivs=1",
        tasks.len()
    );
}

/// Peak resident set (VmHWM) and current RSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |k: &str| {
        st.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (kib("VmHWM"), kib("VmRSS"))
}

/// A flood of upcalls, as fast as the kernel half can issue them with 4096 in flight: the
/// daemon's and the kernel half's memory stay bounded, every upcall is accounted for
/// (answered, timed out or failed at once), nothing hangs, and the daemon serves after.
/// `PNFS_FLOOD_COUNT` sets the count: the default (200,000) keeps the unit tier short on
/// a debug build; issue #9 asks for 1,000,000 (`PNFS_FLOOD_COUNT=1000000`).
#[test]
fn flood_of_upcalls_is_bounded() {
    if !can_run("flood_of_upcalls_is_bounded") {
        return;
    }
    let count: u64 = std::env::var("PNFS_FLOOD_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    // Bounds: the daemon holds no per-upcall state beyond its bounded parking and cache;
    // the twin at most `depth` pending upcalls.
    const DAEMON_MAX_KIB: u64 = 64 * 1024;
    const TWIN_MAX_KIB: u64 = 128 * 1024;
    let mut n = Node::new("flood");
    n.start_daemon(&[]);
    let (dpid, tpid) = (n.daemon_pid().unwrap(), n.twin_pid().unwrap());
    let sid = stateid(5, 11);
    n.must(&["state", "set", "5", "11", &sid, "99"]);
    let own = [
        "--fsid",
        "5",
        "--fileid",
        "11",
        "--stateid",
        &sid,
        "--clientid",
        "99",
    ];
    let (d0, _) = rss_kib(dpid);
    let t = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (d, t) = (rss_kib(dpid).1, rss_kib(tpid).1);
                peak = (peak.0.max(d), peak.1.max(t));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let cnt = count.to_string();
    let r = n.trig(
        &[
            &[
                "pnfsd",
                "get-state",
                "--count",
                &cnt,
                "--depth",
                "4096",
                "--wait-ms",
                "1800000",
            ][..],
            &own[..],
        ]
        .concat(),
    );
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (d_peak, t_peak) = sampler.join().unwrap();
    let (d_hwm, _) = rss_kib(dpid);
    let (t_hwm, _) = rss_kib(tpid);
    let k = &r["kind-stats"][0];
    let num = |f: &str| k[f].as_u64().unwrap_or_else(|| panic!("{f} in {r}"));
    let (sent, answered, timeouts, failed) =
        (num("sent"), num("answered"), num("timeouts"), num("failed"));
    assert_eq!(sent, count, "{r}");
    assert_eq!(
        answered + timeouts + failed,
        sent,
        "an upcall without exactly one outcome: {r}"
    );
    let stats = n.must(&["stats", "show"]);
    let overruns = &stats["daemon"]["overruns"];
    eprintln!(
        "flood: {count} upcalls in {secs:.1} s ({:.0}/s): answered {answered}, timeouts {timeouts}, \
         failed at once {failed}; daemon overruns {overruns}; RSS peak daemon {} KiB (HWM {d_hwm}, \
         {d0} before), twin {} KiB (HWM {t_hwm}); bounds {DAEMON_MAX_KIB} / {TWIN_MAX_KIB} KiB",
        count as f64 / secs,
        d_peak,
        t_peak
    );
    assert!(d_hwm <= DAEMON_MAX_KIB, "daemon peak RSS {d_hwm} KiB");
    assert!(t_hwm <= TWIN_MAX_KIB, "twin peak RSS {t_hwm} KiB");
    // Still serving, and nothing left pending in the kernel half.
    let r = n.trig(&[&["pnfsd", "get-state"][..], &own[..]].concat());
    assert_eq!(r["status"], "ok", "{r}");
    let pending = n.must(&["upcall", "show"]);
    assert!(
        pending["pnfsd"].as_array().is_none_or(|a| a.is_empty()),
        "upcalls still pending after the flood: {pending}"
    );
}

/// `--rt-priority`: the main thread (cluster events, recalls) runs SCHED_RR, the upcall
/// thread (which may busy-poll) the normal scheduler; an unprivileged user gets a clear
/// error and exit status 1, not a daemon on the wrong scheduler.
#[test]
fn rt_priority_is_the_main_threads_alone() {
    if !can_run("rt_priority_is_the_main_threads_alone") {
        return;
    }
    let mut n = Node::new("rtprio");
    n.start_daemon(&["--rt-priority", "1"]);
    let pid = n.daemon_pid().expect("daemon running");
    let mut policies = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(t.unwrap().path().join("stat")).unwrap();
        // comm is in parentheses; fields after it: state is field 3, policy field 41.
        let (head, tail) = stat.rsplit_once(')').unwrap();
        let comm = head.split_once('(').unwrap().1.to_string();
        let policy: u32 = tail.split_whitespace().nth(38).unwrap().parse().unwrap();
        policies.push((comm, policy));
    }
    let of = |name: &str| policies.iter().find(|(c, _)| c == name).map(|p| p.1);
    // sched.h: SCHED_OTHER 0, SCHED_RR 2.
    assert_eq!(
        of("pnfs_controld"),
        Some(2),
        "main thread SCHED_RR: {policies:?}"
    );
    assert_eq!(
        of("upcall-fast"),
        Some(0),
        "upcall thread SCHED_OTHER: {policies:?}"
    );

    let out = common::nobody::command(&n, common::DAEMON)
        .args([
            "--rt-priority",
            "1",
            "--socket",
            "usersock",
            "--state-dir",
            "/nonexistent",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rt_priority 1: sched_setscheduler(SCHED_RR)"),
        "{err}"
    );
}
