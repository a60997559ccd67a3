//! The Corosync engine on a real 3-node cluster in network namespaces.
//!
//! Needs root, corosync and iproute2; otherwise prints "SKIPPED: <reason>" on stderr
//! (uncaptured) and returns. Build the probe first, or build everything:
//!
//! ```text
//! cargo build --features corosync --example cpg_probe
//! cargo test --workspace --features corosync --test cluster_corosync -- --ignored --nocapture
//! ```
//!
//! The harness is `tests/cluster/netns.sh`; its run directory (corosync logs, probe
//! stderr) is kept under the temp dir and named in the output.
#![cfg(feature = "corosync")]

#[path = "common/cluster.rs"]
mod cluster;
use cluster::probe_bin;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const GROUP: &str = "pnfs-test";
/// Bound on every wait for cluster events (token 3000 ms + consensus 3600 ms ≈ 6.6 s).
const WAIT: Duration = Duration::from_secs(30);
/// Totem token timeout (ms) unless NETNS_TOKEN says otherwise. The harness's own default
/// of 1000 ms is lost now and then on an overloaded 2-CPU machine (ring stalls of 0.7 s
/// were seen in CI), and the spurious membership change that follows breaks the
/// exact-sequence checks of this test.
const TOKEN_MS: &str = "3000";
const MESSAGES_PER_NODE: usize = 20;
/// Bound on the 1000-round-trip ping-pong.
const PINGPONG_WAIT: Duration = Duration::from_secs(300);

/// Writes straight to fd 2: the test harness does not capture it.
fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn skip_reason() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces and corosync need root)".into());
    }
    for tool in ["corosync", "corosync-quorumtool", "ip"] {
        let found = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|d| d.join(tool).is_file());
        if !found {
            return Some(format!(
                "{tool} not installed (apt-get install corosync iproute2)"
            ));
        }
    }
    None
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/netns.sh")
}

/// One line from a probe (or its end), tagged with the probe index and arrival time.
struct Line {
    probe: usize,
    json: Option<Value>,
    at: Instant,
}

/// The cluster and the probes of one test; dropping it stops the probes and the cluster.
struct Harness {
    dir: PathBuf,
    probes: Vec<(Child, Option<ChildStdin>)>,
    tx: mpsc::Sender<Line>,
    rx: mpsc::Receiver<Line>,
    /// Every JSON line seen per probe, in arrival order.
    log: Vec<Vec<Value>>,
    up: bool,
    /// Arrival times are stored in each line as `_rx_ms`, relative to this.
    t0: Instant,
}

impl Harness {
    fn up(nodes: usize) -> Harness {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("pnfs-corosync-{}-{nanos}", std::process::id()));
        let (tx, rx) = mpsc::channel();
        let h = Harness {
            dir,
            probes: vec![],
            tx,
            rx,
            log: vec![],
            t0: Instant::now(),
            up: true, // `down` is harmless if `up` failed half-way (it cleaned up itself)
        };
        let token = std::env::var("NETNS_TOKEN").unwrap_or_else(|_| TOKEN_MS.into());
        let out = Command::new(script())
            .env("NETNS_TOKEN", &token)
            .arg("up")
            .arg(nodes.to_string())
            .arg(&h.dir)
            .output()
            .expect("run netns.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "netns.sh up failed: {}\n{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let ms = stdout
            .lines()
            .find_map(|l| l.strip_prefix("membership_ms="))
            .unwrap_or("?");
        loud(&format!(
            "corosync: {nodes} nodes quorate {ms} ms after start (run dir {})",
            h.dir.display()
        ));
        h
    }

    /// Starts a probe with `args` in `node`'s namespace; returns its index.
    fn probe(&mut self, node: usize, args: &[&str]) -> usize {
        let idx = self.probes.len();
        let stderr =
            std::fs::File::create(self.dir.join(format!("probe{idx}-n{node}.stderr"))).unwrap();
        let mut child = Command::new(script())
            .arg("exec")
            .arg(&self.dir)
            .arg(node.to_string())
            .arg(probe_bin())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn probe");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let json = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("probe {idx}: bad line {line:?}: {e}"));
                if tx
                    .send(Line {
                        probe: idx,
                        json: Some(json),
                        at: Instant::now(),
                    })
                    .is_err()
                {
                    return;
                }
            }
            let _ = tx.send(Line {
                probe: idx,
                json: None,
                at: Instant::now(),
            });
        });
        self.probes.push((child, stdin));
        self.log.push(vec![]);
        idx
    }

    /// When the line `v` arrived, in ms since `since`.
    fn ms_since(&self, v: &Value, since: Instant) -> i64 {
        let rx = self.t0 + Duration::from_millis(v["_rx_ms"].as_u64().expect("_rx_ms"));
        if rx >= since {
            (rx - since).as_millis() as i64
        } else {
            -((since - rx).as_millis() as i64)
        }
    }

    fn command(&mut self, probe: usize, cmd: &str) {
        let stdin = self.probes[probe].1.as_mut().expect("probe stdin");
        writeln!(stdin, "{cmd}").expect("write to probe");
    }

    fn netns(&self, args: &[&str]) {
        let out = Command::new(script())
            .args(args.iter().take(1))
            .arg(&self.dir)
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "netns.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Reads probe lines until `done(log)` holds; panics (with the logs) after [`WAIT`].
    /// Returns the arrival time of the line that made it hold.
    fn wait_until(&mut self, what: &str, done: impl FnMut(&[Vec<Value>]) -> bool) -> Instant {
        self.wait_until_for(what, WAIT, done)
    }

    /// [`Self::wait_until`] with its own bound.
    fn wait_until_for(
        &mut self,
        what: &str,
        bound: Duration,
        mut done: impl FnMut(&[Vec<Value>]) -> bool,
    ) -> Instant {
        let deadline = Instant::now() + bound;
        if done(&self.log) {
            return Instant::now();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Line {
                    probe,
                    json: Some(mut v),
                    at,
                }) => {
                    v["_rx_ms"] = ((at - self.t0).as_millis() as u64).into();
                    if v["ev"] == "error" {
                        panic!("probe {probe} reported {v} while waiting for {what}");
                    }
                    self.log[probe].push(v);
                    if done(&self.log) {
                        return at;
                    }
                }
                Ok(Line {
                    probe, json: None, ..
                }) => {
                    // A probe ended; fine if the condition does not need more from it.
                    self.log[probe].push(Value::String("<eof>".into()));
                    if done(&self.log) {
                        return Instant::now();
                    }
                }
                Err(_) => panic!(
                    "timed out after {bound:?} waiting for {what}; logs in {}; events so far:\n{}",
                    self.dir.display(),
                    self.log
                        .iter()
                        .enumerate()
                        .map(|(i, l)| format!("probe {i}: {l:?}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for (child, stdin) in &mut self.probes {
            drop(stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.up {
            match Command::new(script()).arg("down").arg(&self.dir).output() {
                Ok(o) if o.status.success() => {}
                Ok(o) => loud(&format!(
                    "netns.sh down failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                )),
                Err(e) => loud(&format!("netns.sh down: {e}")),
            }
        }
    }
}

fn memberships(log: &[Value]) -> impl Iterator<Item = &Value> {
    log.iter().filter(|v| v["ev"] == "membership")
}

fn last_membership(log: &[Value]) -> Option<&Value> {
    memberships(log).last()
}

fn messages(log: &[Value]) -> Vec<(u64, String)> {
    log.iter()
        .filter(|v| v["ev"] == "message")
        .map(|v| {
            (
                v["from"].as_u64().unwrap(),
                v["payload"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
#[ignore = "cluster tier (3 corosync nodes in netns, root): run with --ignored"]
fn three_nodes_membership_order_and_failure() {
    if let Some(reason) = skip_reason() {
        loud(&format!("SKIPPED: cluster_corosync: {reason}"));
        return;
    }
    let probe = probe_bin();
    loud(&format!("probe: {}", probe.display()));
    let mut h = Harness::up(3);
    let t_probes = Instant::now();
    let w: Vec<usize> = (1..=3).map(|n| h.probe(n, &["watch", GROUP])).collect();

    // 1. All three see the same 3-member, quorate membership.
    let all3 = |log: &[Vec<Value>]| {
        w.iter().all(|&p| {
            last_membership(&log[p])
                .is_some_and(|m| ids(&m["members"]) == [1, 2, 3] && m["quorate"] == true)
        })
    };
    let t = h.wait_until("a 3-member membership on every probe", all3);
    loud(&format!(
        "cpg: all 3 probes in a 3-member group {} ms after starting them",
        (t - t_probes).as_millis()
    ));
    for (i, &p) in w.iter().enumerate() {
        let ready = h.log[p]
            .iter()
            .find(|v| v["ev"] == "ready")
            .expect("ready line");
        assert_eq!(
            ready["node"],
            i + 1,
            "probe in namespace {} has node id {}",
            i + 1,
            ready["node"]
        );
        let first = memberships(&h.log[p]).next().unwrap();
        assert!(
            ids(&first["joined"]).contains(&(i as u64 + 1)),
            "first membership must be our join: {first}"
        );
    }

    // 2. Messages from every node are delivered to all nodes in one total order.
    for k in 0..MESSAGES_PER_NODE {
        for (i, &p) in w.iter().enumerate() {
            h.command(p, &format!("send m-{}-{k}", i + 1));
        }
    }
    let total = 3 * MESSAGES_PER_NODE;
    h.wait_until("all messages on every probe", |log| {
        w.iter().all(|&p| messages(&log[p]).len() >= total)
    });
    let order = messages(&h.log[w[0]]);
    assert_eq!(order.len(), total, "node 1 got extra messages: {order:?}");
    for &p in &w[1..] {
        assert_eq!(
            messages(&h.log[p]),
            order,
            "probe {p} delivered in a different order"
        );
    }
    for n in 1..=3u64 {
        let from_n: Vec<&str> = order
            .iter()
            .filter(|(f, _)| *f == n)
            .map(|(_, s)| s.as_str())
            .collect();
        let want: Vec<String> = (0..MESSAGES_PER_NODE)
            .map(|k| format!("m-{n}-{k}"))
            .collect();
        assert_eq!(
            from_n, want,
            "node {n}'s messages not in its send order or misattributed"
        );
    }
    let interleaved = order.windows(2).filter(|p| p[0].0 != p[1].0).count();
    loud(&format!(
        "cpg: {total} messages in the same total order on 3 nodes ({interleaved} sender switches)"
    ));
    // 3. Bare CPG ping-pong, node 1 <-> node 2, on its own group (numbers only printed).
    let pp_resp = h.probe(2, &["pingpong", "pnfs-pingpong", "1", "1000"]);
    let pp_init = h.probe(1, &["pingpong", "pnfs-pingpong", "2", "1000"]);
    // Each round trip waits for the totem token; on an overloaded machine the ring stalls
    // for seconds at a time (see the corosync logs), hence the generous bound.
    h.wait_until_for("the ping-pong result", PINGPONG_WAIT, |log| {
        log[pp_init].iter().any(|v| v["ev"] == "pingpong")
    });
    let r = h.log[pp_init]
        .iter()
        .find(|v| v["ev"] == "pingpong")
        .unwrap()
        .clone();
    assert_eq!(r["count"], 1000);
    loud(&format!("cpg ping-pong (agreed, 1000 round trips): {r}"));
    h.wait_until("the ping-pong responder to finish", |log| {
        log[pp_resp].iter().any(|v| v["ev"] == "pingpong-done")
    });

    // 4. SIGKILL node 3's corosync: nodes 1 and 2 see it leave as node-down and stay
    //    quorate (2 of 3 votes); node 3's probe gets Lost.
    let seen_before: Vec<usize> = w.iter().map(|&p| memberships(&h.log[p]).count()).collect();
    let t_kill = Instant::now();
    h.netns(&["kill", "3"]);
    let mut detect = vec![];
    for &p in &w[..2] {
        let before = seen_before[p];
        h.wait_until("node 3 leaving", |log| {
            memberships(&log[p])
                .skip(before)
                .any(|m| ids(&m["members"]) == [1, 2])
        });
        let m = memberships(&h.log[p])
            .skip(before)
            .find(|m| ids(&m["members"]) == [1, 2])
            .unwrap();
        detect.push(h.ms_since(m, t_kill));
        assert_eq!(
            m["left"],
            serde_json::json!([[3, "node-down"]]),
            "probe {p}: {m}"
        );
        assert_eq!(m["quorate"], true, "2 of 3 votes must stay quorate: {m}");
        assert!(
            memberships(&h.log[p])
                .skip(before)
                .all(|m| m["quorate"] == true),
            "probe {p} reported a non-quorate membership after losing one node of three: {:?}",
            h.log[p]
        );
    }
    h.wait_until("Lost on node 3's probe", |log| {
        log[w[2]].iter().any(|v| v["ev"] == "lost")
    });
    let lost = h.log[w[2]].iter().find(|v| v["ev"] == "lost").unwrap();
    loud(&format!(
        "kill -9 corosync on node 3: nodes 1,2 saw node-down after {detect:?} ms; node 3's probe got Lost after {} ms",
        h.ms_since(lost, t_kill)
    ));

    // 5. Partition node 2 away: node 1 alone has 1 of 3 votes and must not be quorate,
    //    and neither must node 2.
    let before: Vec<usize> = w.iter().map(|&p| memberships(&h.log[p]).count()).collect();
    let t_cut = Instant::now();
    h.netns(&["partition", "2"]);
    for (p, me) in [(w[0], 1u64), (w[1], 2u64)] {
        let b = before[p];
        h.wait_until("the partition to be seen", |log| {
            memberships(&log[p])
                .skip(b)
                .any(|m| ids(&m["members"]) == [me] && m["quorate"] == false)
        });
        let changes: Vec<&Value> = memberships(&h.log[p]).skip(b).collect();
        let alone = changes.iter().find(|m| ids(&m["members"]) == [me]).unwrap();
        loud(&format!(
            "partition: node {me} alone and inquorate after {} ms (changes seen: {changes:?})",
            h.ms_since(alone, t_cut)
        ));
        // Corosync's quorum notification may come before CPG's configuration change (then
        // the engine reports the old members with quorate=false first); what must never
        // happen is a quorate report once the node is alone.
        for m in &changes {
            assert!(
                !(ids(&m["members"]) == [me] && m["quorate"] == true),
                "probe {p}: a lone node of 3 was reported quorate: {m}"
            );
        }
    }
}
