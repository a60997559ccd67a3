//! Hostile and unlucky users of the daemon (issue #20): each test here failed on f506fb8
//! in the way its comment says, and holds now. Each runs in a private network namespace
//! with a twin and `pnfs_controld` on the local engine (root; SKIPPED loudly otherwise).

mod common;
use common::{can_run, stateid, Node};
use serde_json::Value;

fn trig(n: &Node, args: &[&str]) -> Value {
    let mut a = vec!["trigger"];
    a.extend_from_slice(args);
    n.must(&a)
}

/// The one kind-stats record of a trigger run: (sent, answered, timeouts, failed).
fn outcome(r: &Value) -> (u64, u64, u64, u64) {
    let k = &r["kind-stats"][0];
    let num = |f: &str| k[f].as_u64().unwrap_or_else(|| panic!("{f} in {r}"));
    (num("sent"), num("answered"), num("timeouts"), num("failed"))
}

/// Item 2: the event loop took a forwarded upcall off its queue on the last of its 32
/// passes and dropped it, unanswered and unlogged. On f506fb8 `state-changed --count 640
/// --depth 64` gave 5 timeouts, layout-return/-commit and gfs2 recovery-done lost 9-10 of
/// 640, a cold burst of 64 GET_STATE misses lost one. Every upcall here must be answered.
#[test]
fn no_upcall_is_lost_in_the_loop() {
    if !can_run("no_upcall_is_lost_in_the_loop") {
        return;
    }
    let mut n = Node::new("lost");
    n.start_daemon(&[]);
    let sid = stateid(1, 21);
    n.must(&["state", "set", "3", "21", &sid, "77"]);
    let file = [
        "--fsid",
        "3",
        "--fileid",
        "21",
        "--stateid",
        &sid,
        "--clientid",
        "77",
    ];
    let runs: Vec<Vec<&str>> = vec![
        [
            &["pnfsd", "state-changed", "--count", "640", "--depth", "64"][..],
            &file[..],
        ]
        .concat(),
        [
            &["pnfsd", "layout-return", "--count", "640", "--depth", "64"][..],
            &file[..],
        ]
        .concat(),
        [
            &["pnfsd", "layout-commit", "--count", "640", "--depth", "64"][..],
            &file[..],
        ]
        .concat(),
        // A cold burst: every one a miss the loop parks and answers together.
        [
            &["pnfsd", "get-state", "--count", "64", "--depth", "64"][..],
            &file[..],
        ]
        .concat(),
        vec![
            "gfs2",
            "recovery-done",
            "--count",
            "640",
            "--depth",
            "64",
            "--table",
            "c:lost",
            "--jid",
            "1",
        ],
    ];
    for args in runs {
        let r = trig(&n, &args);
        let (sent, answered, timeouts, failed) = outcome(&r);
        assert_eq!(
            (sent, answered, timeouts, failed),
            (sent, sent, 0, 0),
            "trigger {args:?}: every upcall must be answered: {r}\n{}",
            n.logs()
        );
    }
}

/// Item 3: an event's REPLYs went out as one datagram without a cap; the kernel half
/// reads at most 64 KiB and drops a longer datagram whole. On f506fb8 40,000 GET_STATE
/// for a stateid nobody holds at depth 4096 (each parked, then all answered DELAY or
/// bad-stateid in one event) gave 2,947 timeouts for answers the daemon had sent.
#[test]
fn replies_of_one_event_fit_the_kernel_halfs_datagram() {
    if !can_run("replies_of_one_event_fit_the_kernel_halfs_datagram") {
        return;
    }
    let mut n = Node::new("bigdgram");
    n.start_daemon(&[]);
    let nobodys = stateid(1, 0x0bad);
    let r = trig(
        &n,
        &[
            "pnfsd",
            "get-state",
            "--count",
            "40000",
            "--depth",
            "4096",
            "--fsid",
            "9",
            "--fileid",
            "9",
            "--clientid",
            "9",
            "--stateid",
            &nobodys,
            "--wait-ms",
            "600000",
        ],
    );
    let (sent, answered, timeouts, failed) = outcome(&r);
    assert_eq!(
        (sent, answered, timeouts, failed),
        (40000, 40000, 0, 0),
        "every upcall answered: {r}\n{}",
        n.logs()
    );
}
