//! pnfsctl against a running twin + daemon in a private network namespace: output of every
//! object (text and JSON from one print path), prefixes, monitor events, and the message
//! and exit code of usage and kernel errors.

mod common;
use common::{can_run, nobody, stateid, Node, PNFSCTL};
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
    // One spelling of every key: the kernel half's in the daemon's snake_case too.
    fn keys_with_dash(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                if k.contains('-') {
                    out.push(k.clone());
                }
                keys_with_dash(x, out)
            }),
            Value::Array(a) => a.iter().for_each(|x| keys_with_dash(x, out)),
            _ => {}
        }
    }
    let mut dashed = vec![];
    keys_with_dash(&st, &mut dashed);
    assert!(
        dashed.is_empty(),
        "stats keys not in snake_case: {dashed:?}"
    );
    let ks = st["kernel"]["pnfsd"]["kind_stats"].as_array().unwrap();
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
    let o = nobody::pnfsctl(&n, &["device", "set", "node:3"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("requires admin privilege"), "{err}");
    // ...while read-only dumps stay allowed.
    let o = nobody::pnfsctl(&n, &["device", "show"]);
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

/// Send `msg` from a fresh netlink socket of protocol `proto` in namespace `ns` (its own
/// autobound port, not the kernel half's) to multicast `group`: a forger. A thread
/// enters the namespace (setns is per thread) so the test process needs no helper.
fn forge_multicast(ns: &str, proto: i32, group: u32, msgs: &[Vec<u8>]) {
    let path = format!("/run/netns/{ns}");
    let msgs = msgs.to_vec();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY: plain syscalls on fds this thread owns; the sockaddr is fully set.
        unsafe {
            assert_eq!(libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET), 0, "setns");
            let s = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, proto);
            assert!(s >= 0, "netlink socket");
            let mut to: libc::sockaddr_nl = std::mem::zeroed();
            to.nl_family = libc::AF_NETLINK as u16;
            to.nl_groups = 1 << (group - 1);
            for m in &msgs {
                let n = libc::sendto(
                    s,
                    m.as_ptr().cast(),
                    m.len(),
                    0,
                    (&to as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as u32,
                );
                // USERSOCK has no kernel socket: after the multicast, the unicast part
                // (to port 0) is refused; the datagram went to the group all the same.
                let e = std::io::Error::last_os_error();
                assert!(
                    n == m.len() as isize || e.raw_os_error() == Some(libc::ECONNREFUSED),
                    "forged multicast: {e}"
                );
            }
            libc::close(s);
        }
    })
    .join()
    .unwrap();
}

/// Wait until process `pid` (in `n`'s namespace) has a socket of netlink protocol
/// `proto` that joined every group of `mask` (what a monitor does before it can see
/// anything): its fds' socket inodes against /proc/net/netlink's Groups.
fn wait_joined(n: &Node, pid: u32, proto: u32, mask: u32) {
    n.wait(
        "the monitor joined its groups",
        Duration::from_secs(30),
        |n| {
            let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_str()?;
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect();
            let o = Command::new("ip")
                .args(["netns", "exec", &n.ns, "cat", "/proc/net/netlink"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).lines().skip(1).any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 9
                    && f[1].parse() == Ok(proto)
                    && u32::from_str_radix(f[3], 16).is_ok_and(|g| g & mask == mask)
                    && inodes.contains(f[9])
            })
        },
    );
}

/// Item 7 of issue 20: on f506fb8 the monitor printed every multicast datagram of the
/// twin's groups whatever its sender, so anyone (USERSOCK lets unprivileged users send
/// to groups) could make root's `pnfsctl monitor pnfsd -j` print a forged device-changed
/// (uaddr 6.6.6.6.8.1) or daemon-down (count 999): this test then saw the forged
/// device-changed as the monitor's one record. Now only datagrams from the twin's port
/// count as events, the forged ones are dropped and said on stderr; the real
/// device-changed that follows them is the record.
#[test]
fn monitor_takes_events_only_from_the_kernel_half() {
    if !can_run("monitor_takes_events_only_from_the_kernel_half") {
        return;
    }
    use pnfs_netlink::pnfsd::{attr, cmd, ds_addr_attr};
    let n = Node::new("forge");
    let mon = Command::new("ip")
        .args(["netns", "exec", &n.ns, PNFSCTL, "-j", "monitor", "pnfsd"])
        .args(["--count", "1", "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_joined(&n, mon.id(), 2, 0b11);
    let forged = |cmd: u8, build: &dyn Fn(&mut pnfs_netlink::MsgBuilder<'_>)| {
        let mut buf = Vec::new();
        let mut b = pnfs_netlink::MsgBuilder::genl(&mut buf, pnfs_twin::PNFSD_ID, 0, 0, 0, cmd, 1);
        build(&mut b);
        b.finish();
        buf
    };
    let device = forged(cmd::DEVICE_CHANGED, &|b| {
        b.put_bytes(attr::DEVICE_ID, &[6; 16])
            .put_u32(attr::NODE_ID, 6);
        let x = b.nest_begin(attr::DS_ADDR);
        b.put_str(ds_addr_attr::NETID, "tcp")
            .put_str(ds_addr_attr::UADDR, "6.6.6.6.8.1");
        b.nest_end(x);
    });
    let down = forged(cmd::DAEMON_DOWN, &|b| {
        b.put_u32(attr::PORT, 1)
            .put_u32(attr::NODE_ID, 1)
            .put_u32(attr::COUNT, 999);
    });
    forge_multicast(&n.ns, 2, pnfs_twin::PNFSD_EVENTS_GROUP, &[device, down]);
    // One real event after the forged ones: the twin's device-changed.
    n.must(&[
        "device",
        "set",
        "node:5",
        "--node",
        "5",
        "--addr",
        "tcp,10.9.0.5.8.1",
    ]);
    let o = mon.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "monitor: {}\n{err}", o.status);
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "monitor output:\n{out}");
    assert_eq!(records[0]["event"], "device-changed", "{out}");
    assert_eq!(
        records[0]["node-id"], 5,
        "a forged event was printed: {out}"
    );
    assert!(!out.contains("6.6.6.6") && !out.contains("999"), "{out}");
    assert!(
        err.contains("dropped, not from the kernel half"),
        "monitor stderr: {err}"
    );
}

/// The monitor's GFS2 uevents are the kernel's only (sender port 0), as the daemon's
/// are: a uevent multicast by a process (root may send to the uevent group; udev's
/// own group-2 messages are such) is not shown. A guard: f506fb8 already did this.
#[test]
fn monitor_takes_uevents_only_from_the_kernel() {
    if !can_run("monitor_takes_uevents_only_from_the_kernel") {
        return;
    }
    let mut n = Node::new("forgeu");
    n.start_daemon(&[]); // GFS2 mounts are the daemon's to answer
    let mon = Command::new("ip")
        .args(["netns", "exec", &n.ns, PNFSCTL, "-j", "monitor", "fs"])
        .args(["--count", "1", "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_joined(&n, mon.id(), 2, 0b11);
    wait_joined(&n, mon.id(), 15, 1);
    let ev = b"change@/fs/gfs2/x:y\0ACTION=change\0DEVPATH=/fs/gfs2/x:y\0SUBSYSTEM=gfs2\0SEQNUM=7\0WITHDRAW=1\0";
    forge_multicast(&n.ns, 15, 1, &[ev.to_vec()]);
    n.must(&["trigger", "gfs2", "mount", "--table", "t:f"]);
    let o = mon.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "monitor: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "monitor output:\n{out}");
    assert_eq!(
        records[0]["family"], "gfs2ctl",
        "a forged uevent was printed: {out}"
    );
}

/// Spawn pnfsctl with `args` and its standard output a pipe nobody reads any more.
fn into_closed_pipe(prefix: &[&str], args: &[&str]) -> std::process::Output {
    let mut c = Command::new(prefix.first().copied().unwrap_or(PNFSCTL));
    if !prefix.is_empty() {
        c.args(&prefix[1..]).arg(PNFSCTL);
    }
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(w)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// Item 9 of issue 20: on f506fb8 every pnfsctl output went through `println!`/`print!`
/// (and clap_complete's writer, which `expect`s), which panic when stdout is a closed
/// pipe: `pnfsctl completions bash | head -1` and `pnfsctl upcall show | head -1` ended
/// with "panicked ... Broken pipe" and exit 101. Now pnfsctl ends quietly with 141
/// (128 + SIGPIPE, what a shell reports for `ip` there).
#[test]
fn a_closed_pipe_ends_pnfsctl_quietly() {
    let mut cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec![], vec!["completions", "bash"]),
        (vec![], vec!["completions", "zsh"]),
        (vec![], vec!["help"]),
        (vec![], vec!["--help"]),
        (vec![], vec!["--socket", "generic", "family", "list"]),
        (vec![], vec!["-j", "--socket", "generic", "family", "list"]),
        (vec![], vec!["-p", "--socket", "generic", "family", "list"]),
    ];
    let node = can_run("a_closed_pipe_ends_pnfsctl_quietly (objects of the twin)").then(|| {
        let mut n = Node::new("pipe");
        n.start_daemon(&[]);
        n
    });
    let ns_prefix;
    if let Some(n) = &node {
        ns_prefix = ["ip", "netns", "exec", n.ns.as_str()];
        for args in [
            vec!["device", "show"],
            vec!["-j", "member", "show"],
            vec!["upcall", "show"],
            vec!["stats", "show"],
            vec!["-j", "monitor", "all", "--count", "1", "--timeout", "20"],
        ] {
            cases.push((ns_prefix.to_vec(), args));
        }
    }
    for (prefix, args) in cases {
        let o = into_closed_pipe(&prefix, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "pnfsctl {args:?}: {err}");
        assert_eq!(o.status.code(), Some(141), "pnfsctl {args:?}: {err}");
        assert!(err.is_empty(), "pnfsctl {args:?} said: {err}");
    }
}

/// Issue 20: on f506fb8 `pnfs_controld --config FILE` with FILE missing ran on the
/// built-in defaults without a word (only the default path may be missing). Now it is
/// an error naming the file, exit 1, before anything else happens.
#[test]
fn daemon_refuses_a_missing_config_file() {
    // Should it run anyway (the defect), it touches nothing of the host's: its own state
    // directory, control socket and a twin port nobody serves.
    let state = std::env::temp_dir().join(format!("pnfs-missing-config-{}", std::process::id()));
    let o = Command::new(common::DAEMON)
        .args(["--config", "/nonexistent/pnfs-controld.toml"])
        .args(["--control-socket", "@pnfs-cli-test-missing-config"])
        .args(["--state-dir", state.to_str().unwrap()])
        .args(["--socket", "usersock", "--twin-port", "0x7ffffff0"])
        .env("PNFS_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("configuration file /nonexistent/pnfs-controld.toml: No such file"),
        "{err}"
    );
    // It stopped before doing anything: not even the capabilities were dropped.
    assert!(!err.contains("capabilities dropped"), "{err}");
    assert!(!state.exists(), "it made its state directory");
    let _ = std::fs::remove_dir_all(&state);
}

/// Issue 20: on f506fb8 a second daemon of a node (the kernel half refuses its REGISTER)
/// said "a daemon is already registered on port N (...)" twice in its one error line
/// (`{:#}` of an error that prints its source and also returns it). Now once.
#[test]
fn a_second_daemon_says_why_once() {
    if !can_run("a_second_daemon_says_why_once") {
        return;
    }
    let mut n = Node::new("second");
    n.start_daemon(&[]);
    let state = n.dir.join("state2");
    let o = Command::new("ip")
        .args(["netns", "exec", &n.ns, common::DAEMON])
        .args([
            "--socket",
            "usersock",
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .args(["--control-socket", "@pnfs-second"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(
        err.matches("a daemon is already registered").count(),
        1,
        "{err}"
    );
}

/// The daemon refuses state-changing control commands of unprivileged peers with
/// `{"error": MESSAGE, "errno": EPERM}`: pnfsctl prints the daemon's message and exits 2,
/// as for any `{"error": ...}` answer (a guard: f506fb8's pnfsctl already did), while
/// reads stay open.
#[test]
fn daemon_refusals_print_the_daemons_message() {
    if !can_run("daemon_refusals_print_the_daemons_message") {
        return;
    }
    let mut n = Node::new("refuse");
    n.start_daemon(&[]);
    let o = nobody::pnfsctl(&n, &["state", "revoke", "5"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("pnfsctl: daemon: \"revoke\" changes the cluster's state"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    let o = nobody::pnfsctl(&n, &["-j", "member", "show"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
