//! pnfsctl against a running twin + daemon in a private network namespace: output of every
//! object (text and JSON from one print path), prefixes, monitor events, and the message
//! and exit code of usage and kernel errors.

mod common;
use common::{can_run, stateid, Node, PNFSCTL};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn text(n: &Node, args: &[&str]) -> String {
    let o = n.ctl(args);
    assert!(
        o.status.success(),
        "pnfsctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn every_object_in_text_and_json() {
    if !can_run("every_object_in_text_and_json") {
        return;
    }
    let mut n = Node::new("cli");
    n.start_daemon(&["--addr", "tcp,10.9.0.1.8.1"]);
    n.must(&[
        "device",
        "set",
        "node:5",
        "--node",
        "5",
        "--addr",
        "tcp,10.9.0.5.8.1",
        "--addr",
        "rdma,10.9.0.5.8.2",
    ]);

    // device: the same data in both renderings.
    let j = n.must(&["device", "show"]);
    let five = j
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["node-id"] == 5)
        .expect("device 5")
        .clone();
    assert_eq!(five["device-id"], "504e4653000000050000000000000000");
    assert_eq!(
        five["ds-addr"][1],
        serde_json::json!({"netid": "rdma", "uaddr": "10.9.0.5.8.2"})
    );
    let t = text(&n, &["dev", "sh"]); // unique prefixes
    assert!(
        t.contains("device-id 504e4653000000050000000000000000 node-id 5\n  ds-addr:\n    netid tcp uaddr 10.9.0.5.8.1\n    netid rdma uaddr 10.9.0.5.8.2\n"),
        "device text:\n{t}"
    );
    // -p is the same JSON, pretty.
    let p: Value = serde_json::from_slice(&n.ctl(&["-p", "device", "show"]).stdout).unwrap();
    assert_eq!(p, j);

    // layout
    let r = n.must(&[
        "trigger",
        "pnfsd",
        "layout-get",
        "--fsid",
        "3",
        "--fileid",
        "4",
        "--clientid",
        "9",
    ]);
    assert_eq!(r["status"], "ok");
    let l = n.must(&["layout", "show"]);
    assert_eq!(l[0]["fsid"], 3);
    assert_eq!(l[0]["iomode"], "read");
    assert!(text(&n, &["layout", "show"]).starts_with("clientid 9 fsid 3 fileid 4 device-id "));
    let r = n.must(&["layout", "recall", "fsid", "3"]);
    assert_eq!(r["layouts"], 1);
    assert_eq!(
        text(&n, &["layout", "recall", "all"]),
        "recalled 0 layout(s)\n"
    );

    // state: kernel table and daemon cache
    let sid = stateid(1, 4);
    n.must(&["state", "set", "3", "4", &sid, "9"]);
    let q = n.must(&["state", "query", "3", "4", &sid, "9"]);
    assert_eq!(q["status"], "ok", "{q}");
    let s = n.must(&["-s", "state", "show"]);
    assert_eq!(s["entries"][0]["fileid"], 4, "{s}");
    assert_eq!(s["kernel"][0]["stateid"], sid.as_str(), "{s}");
    let rv = n.must(&["state", "revoke", "9", "3", "4", &sid]);
    assert_eq!(rv["revoked"], 1, "{rv}");
    assert_eq!(rv["acknowledged_by_all"], true);
    assert!(n.must(&["state", "show"])["entries"]
        .as_array()
        .unwrap()
        .is_empty());

    // fs
    n.must(&["trigger", "gfs2", "mount", "--table", "t:f"]);
    let f = n.must(&["fs", "show"]);
    assert_eq!(f["mounts"][0]["table"], "t:f");
    assert_eq!(f["cluster"]["local"][0]["jid"], 0);
    assert!(text(&n, &["fs", "show"]).contains("table t:f"));

    // member, upcall, stats, ping, debug
    let m = n.must(&["member", "show"]);
    assert_eq!(m["members"][0]["node"], 1);
    assert_eq!(m["members"][0]["mds"], true);
    assert!(text(&n, &["member", "show"]).contains("member 1 MDS (self) priority 0"));
    let u = n.must(&["upcall", "show"]);
    assert_eq!(u, serde_json::json!({"pnfsd": [], "gfs2ctl": []}));
    let st = n.must(&["stats", "show"]);
    let ks = st["kernel"]["pnfsd"]["kind-stats"].as_array().unwrap();
    assert_eq!(
        ks.iter().find(|k| k["kind"] == "layout-get").unwrap()["answered"],
        1
    );
    assert!(text(&n, &["stats", "show"]).contains("pnfsd    layout-get       sent 1 answered 1"));
    let pg = n.must(&["ping", "-c", "3"]);
    assert_eq!(pg["kernel"]["rtt"]["count"], 3);
    assert_eq!(pg["daemon"]["rtt"]["count"], 3);
    let d = n.must(&["debug", "dump"]);
    assert!(d["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["text"].as_str().unwrap().contains("mounts with jid 0")));

    // family (the twin's, with op names from the spec)
    let fam = n.must(&["--socket", "usersock", "family", "show", "pnfsd"]);
    assert_eq!(fam[0]["source"], "twin");
    assert!(fam[0]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["name"] == "device-set" && o["flags"].as_u64().unwrap() & 1 == 1));
    assert_eq!(fam[0]["groups"][0]["name"], "events");
}

/// `pnfsctl -j monitor ARGS` in the node's namespace; its JSON lines arrive on the channel
/// (stderr is piped for the caller to read after the end).
fn spawn_monitor(
    n: &Node,
    args: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<Value>) {
    let mut mon = Command::new("ip")
        .args(["netns", "exec", &n.ns, PNFSCTL, "-j", "monitor"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = mon.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&l) {
                let _ = tx.send(v);
            }
        }
    });
    (mon, rx)
}

#[test]
fn monitor_receives_every_event_kind() {
    if !can_run("monitor_receives_every_event_kind") {
        return;
    }
    let mut n = Node::new("mon");
    let (mut mon, rx) = spawn_monitor(&n, &["--timeout", "60"]);
    std::thread::sleep(Duration::from_millis(300)); // the monitor joins its groups
    n.start_daemon(&[]); // daemon-up (both families), grace-changed (start, end), device-changed
    n.must(&["device", "del", "node:1"]);
    n.must(&["layout", "recall", "all"]);
    n.must(&["state", "set", "1", "1", &stateid(1, 1), "5"]);
    n.must(&["state", "revoke", "5"]);
    n.must(&["trigger", "gfs2", "mount", "--table", "m:f"]);
    n.must(&[
        "trigger",
        "gfs2",
        "recovery-done",
        "--table",
        "m:f",
        "--jid",
        "0",
    ]);
    n.stop_daemon(); // daemon-down
    let want: BTreeSet<&str> = [
        "pnfsd/daemon-up",
        "gfs2ctl/daemon-up",
        "pnfsd/grace-changed",
        "pnfsd/device-changed",
        "pnfsd/layout-recalled",
        "pnfsd/state-revoked",
        "gfs2ctl/mount-changed",
        "pnfsd/daemon-down",
        "gfs2ctl/daemon-down",
    ]
    .into();
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !want.iter().all(|w| got.contains(*w)) && Instant::now() < deadline {
        if let Ok(v) = rx.recv_timeout(Duration::from_millis(200)) {
            got.insert(format!(
                "{}/{}",
                v["family"].as_str().unwrap(),
                v["event"].as_str().unwrap()
            ));
        }
    }
    let _ = mon.kill();
    let _ = mon.wait();
    let missing: Vec<_> = want.iter().filter(|w| !got.contains(**w)).collect();
    assert!(
        missing.is_empty(),
        "monitor missed {missing:?}; got {got:?}"
    );
}

/// ENOBUFS on the monitor's socket: events were lost, so the monitor re-reads the state
/// by dump and prints it as one `resync` record that matches `device show`.
#[test]
fn monitor_resyncs_by_dump_after_lost_events() {
    if !can_run("monitor_resyncs_by_dump_after_lost_events") {
        return;
    }
    let n = Node::new("resync");
    let (mut mon, rx) = spawn_monitor(&n, &["device", "--rcvbuf", "1", "--timeout", "120"]);
    let set = |i: u32| {
        let id = format!("node:{i}");
        let addr = format!("tcp,10.9.0.{i}.8.1");
        n.must(&[
            "device",
            "set",
            &id,
            "--node",
            &i.to_string(),
            "--addr",
            &addr,
        ]);
    };
    // The monitor is listening once it reports an event (`ip netns exec` execs pnfsctl,
    // so the child's pid is the monitor's).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut listening = false;
    while !listening && Instant::now() < deadline {
        set(1);
        listening = rx.recv_timeout(Duration::from_millis(500)).is_ok();
    }
    assert!(
        listening,
        "the monitor reported no device event within 30 s"
    );
    while rx.try_recv().is_ok() {}
    // Stop it, change 40 devices (each a multicast event), let it go on: its smallest
    // possible receive buffer has overflowed.
    let pid = mon.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    for i in 2..=41 {
        set(i);
    }
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let resync = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) if v["event"] == "resync" => break v,
            Ok(_) => {}
            Err(_) => {
                let _ = mon.kill();
                let o = mon.wait_with_output().unwrap();
                panic!(
                    "no resync record after the overflow; monitor stderr: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
    };
    let _ = mon.kill();
    let o = mon.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("events lost"), "monitor stderr: {err}");
    assert_eq!(resync["family"], "all");
    assert_eq!(
        resync["devices"],
        n.must(&["device", "show"]),
        "the resync record is the device dump"
    );
    assert_eq!(resync["devices"].as_array().map(Vec::len), Some(41));
}

#[test]
fn errors_have_messages_and_exit_codes() {
    // Usage errors need no kernel half: exit 1 with a message.
    for (args, want) in [
        (vec!["bogus"], "unrecognized subcommand"),
        (vec!["device", "del", "zz"], "bad device id"),
        (vec!["state", "revoke", "1", "2"], "together"),
        (vec!["layout", "recall", "file", "1"], "missing FILEID"),
        (vec!["--socket", "tcp", "device", "show"], "invalid value"),
    ] {
        let o = Command::new(PNFSCTL).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // No daemon: exit 2, naming the control socket.
    let o = Command::new(PNFSCTL)
        .args(["--control", "@pnfs-none-here", "member", "show"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("@pnfs-none-here"));
    if !can_run("errors_have_messages_and_exit_codes (kernel errors)") {
        return;
    }
    let n = Node::new("err");
    // Kernel-half errors: the extack message, exit 2.
    let o = n.ctl(&["device", "del", "node:77"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no such device"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = n.ctl(&["layout", "recall", "device", "0123"]);
    assert_eq!(o.status.code(), Some(1));
    // Unprivileged sender: EPERM with the twin's message.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &n.ns,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            PNFSCTL,
        ])
        .args(["device", "set", "node:3"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("requires admin privilege"), "{err}");
    // ...while read-only dumps stay allowed.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &n.ns,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            PNFSCTL,
        ])
        .args(["device", "show"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `pnfsctl family list -j` describes the host kernel's families as `genl ctrl list` does.
#[test]
fn family_list_agrees_with_genl() {
    let Ok(g) = Command::new("genl").args(["ctrl", "list"]).output() else {
        eprintln!("SKIPPED family_list_agrees_with_genl: iproute2's genl missing");
        return;
    };
    let genl = String::from_utf8(g.stdout).unwrap();
    let names: BTreeSet<String> = genl
        .lines()
        .filter_map(|l| l.strip_prefix("Name: "))
        .map(|s| s.trim().to_string())
        .collect();
    let ids: BTreeSet<(String, u64)> = {
        let mut v = BTreeSet::new();
        let mut cur = None;
        for l in genl.lines() {
            if let Some(n) = l.strip_prefix("Name: ") {
                cur = Some(n.trim().to_string());
            } else if let (Some(n), Some(rest)) = (&cur, l.trim().strip_prefix("ID: ")) {
                let id = u64::from_str_radix(
                    rest.split_whitespace()
                        .next()
                        .unwrap()
                        .trim_start_matches("0x"),
                    16,
                )
                .unwrap();
                v.insert((n.clone(), id));
            }
        }
        v
    };
    let o = Command::new(PNFSCTL)
        .args(["--socket", "generic", "-j", "family", "list"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ours: BTreeSet<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    let our_ids: BTreeSet<(String, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ours, names);
    assert_eq!(our_ids, ids);
}
