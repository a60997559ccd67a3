//! The 3-node cluster harness shared by `tests/cluster_daemon.rs` and
//! `tests/cluster_faults.rs`: `tests/cluster/netns.sh` starts corosync per node in its
//! own network namespace on a private bridge; per node a `pnfs-twin` (the kernel half over
//! NETLINK_USERSOCK, recording every upcall) and a `pnfs_controld --engine corosync`,
//! driven and inspected only through `pnfsctl -j` inside each namespace.
//!
//! Every wait is on observable state with a deadline, never a fixed sleep. Dropping the
//! harness stops exactly the processes it started (by pid), then `netns.sh down` removes
//! the namespaces and stops its corosyncs. On a failure (a panic) the tail of every
//! process's log is printed; the run directory is kept.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Default bound on a wait for cluster state (the machine may be heavily loaded).
pub const WAIT: Duration = Duration::from_secs(60);
/// Bound on one `pnfsctl` run (its own daemon timeout is 35 s, a trigger's 120 s).
pub const CTL_TIMEOUT_S: u32 = 150;
/// The twins' default upcall timeout (the kernel half's default).
pub const UPCALL_TIMEOUT_MS: u64 = 5000;

/// `pnfsctl`, a binary of another package (`cli/`): beside `pnfs_controld` in the same
/// target directory, built there by `cargo test --workspace` (cargo names only this
/// package's binaries in `CARGO_BIN_EXE_*`).
pub fn pnfsctl_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_pnfs_controld")).with_file_name("pnfsctl");
    assert!(
        p.exists(),
        "{} is missing: build the workspace (cargo test --workspace, or cargo build --workspace \
         --bins with the same profile)",
        p.display()
    );
    p
}

/// Writes straight to fd 2: the test harness does not capture it.
pub fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// CLOCK_MONOTONIC in microseconds: the clock of the twins' upcall records.
pub fn mono_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

pub fn skip_reason() -> Option<String> {
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces and corosync need root)".into());
    }
    for tool in ["corosync", "corosync-quorumtool", "ip", "timeout"] {
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

/// `target/<profile>/examples/cpg_probe`, next to this test's `deps` directory.
pub fn probe_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let p = profile_dir.join("examples/cpg_probe");
    assert!(
        p.is_file(),
        "{} not built: run `cargo build --features corosync --example cpg_probe` \
         (or `cargo test --features corosync`, which builds examples) first",
        p.display()
    );
    p
}

/// A `cpg_probe watch GROUP` in a node's namespace: another process in the daemons' CPG
/// group, as a debugging tool or a rogue one would be. Killed when dropped.
pub struct Probe {
    child: Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<Value>,
}

impl Probe {
    /// Write one command line (`send TEXT`, `sendhex HEX`, `exit`).
    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to probe");
    }

    /// The first line for which `f` holds, within `bound`.
    pub fn wait(
        &mut self,
        what: &str,
        bound: Duration,
        mut f: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if f(&v) => return v,
                Ok(v) if v["ev"] == "error" => panic!("probe: {v}"),
                Ok(_) => {}
                Err(e) => panic!("probe: no {what} within {bound:?}: {e}"),
            }
        }
    }

    /// `exit`, then wait (bounded) for the probe to leave the group and exit.
    pub fn exit(mut self) {
        self.command("exit");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("probe did not exit within 20 s");
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/netns.sh")
}

/// `target/<profile>/pnfs-twin`, next to this test's `deps` directory.
pub fn twin_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let p = profile_dir.join("pnfs-twin");
    assert!(
        p.is_file(),
        "{} not built: run `cargo build --workspace --features corosync --bins` first",
        p.display()
    );
    p
}

pub fn device_hex(node: u32) -> String {
    format!("504e4653{node:08x}0000000000000000")
}

/// A stateid: seqid 1, `other` from `tag`.
pub fn stateid(tag: u32) -> String {
    format!("00000001{tag:08x}0a0b0c0d0e0f1011")
}

pub fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Upcalls issued through `NodeCtl::trigger`, per (node, twin incarnation): what the
/// twins' records must hold.
pub type Ledger = Shared<std::collections::BTreeMap<(u32, usize), u64>>;

/// What any thread needs to run `pnfsctl` on a node (cheap to clone).
#[derive(Clone)]
pub struct NodeCtl {
    pub node: u32,
    pub ns: String,
    ledger: Ledger,
    twin_gen: Arc<std::sync::atomic::AtomicUsize>,
    /// Trigger runs that failed (pnfsctl error): their upcalls cannot be accounted.
    pub failed_triggers: Shared<Vec<String>>,
    /// Trigger runs that never reached the twin (family lookup failed).
    pub lookup_failures: Shared<u64>,
}

/// The per-run counters of a trigger's answer.
pub fn kind_stats(v: &Value) -> Value {
    let k = &v["kind-stats"];
    if k.is_array() {
        k[0].clone()
    } else {
        k.clone()
    }
}

impl NodeCtl {
    /// `pnfsctl trigger ARGS`; the upcalls it issued go in the ledger of the node's
    /// current twin, and the run's own counters must add up
    /// (sent = answered + timeouts + failed).
    pub fn trigger(&self, args: &[&str]) -> Result<Value, String> {
        let gen = self.twin_gen.load(std::sync::atomic::Ordering::SeqCst);
        let mut a = vec!["trigger"];
        a.extend_from_slice(args);
        match self.try_ctl(&a) {
            Ok(v) => {
                let k = kind_stats(&v);
                let n = |f: &str| k[f].as_u64().unwrap_or(0);
                let sent = n("sent");
                *self
                    .ledger
                    .lock()
                    .unwrap()
                    .entry((self.node, gen))
                    .or_default() += sent;
                if sent != n("answered") + n("timeouts") + n("failed") {
                    self.failed_triggers.lock().unwrap().push(format!(
                        "node {}: trigger {args:?}: counters do not add up: {v}",
                        self.node
                    ));
                }
                Ok(v)
            }
            Err(e) if e.contains("pnfsctl: kernel half:") => {
                // pnfsctl did not find the twin (nlctrl lookup timed out on a loaded
                // machine): no TRIGGER was sent, no upcall issued; the ledger holds.
                *self.lookup_failures.lock().unwrap() += 1;
                Err(e)
            }
            Err(e) => {
                self.failed_triggers.lock().unwrap().push(e.clone());
                Err(e)
            }
        }
    }

    /// `pnfsctl -j --socket usersock ARGS` in the node's namespace: its JSON, or its
    /// stderr on failure. Bounded by `timeout -s KILL`.
    pub fn try_ctl(&self, args: &[&str]) -> Result<Value, String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(["timeout", "-s", "KILL", &CTL_TIMEOUT_S.to_string()])
            .arg(pnfsctl_bin())
            .args(["-j", "--socket", "usersock"])
            .args(args)
            .output()
            .expect("run pnfsctl");
        if !out.status.success() {
            return Err(format!(
                "pnfsctl {args:?} on node {}: {}: {}",
                self.node,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let s = String::from_utf8_lossy(&out.stdout);
        if s.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(s.trim()).map_err(|e| {
            format!(
                "pnfsctl {args:?} on node {}: bad JSON {s:?}: {e}",
                self.node
            )
        })
    }
}

/// The cluster, twins, daemons and monitors of one test; dropping it stops them all.
pub struct Harness {
    pub dir: PathBuf,
    pub nodes: u32,
    pub ns: Vec<String>,
    pub grace_ms: u64,
    /// Daemons serve a stand-in cld pipe at `<node dir>/cld.sock` (see [`Harness::cld_pipe`]).
    pub cld: bool,
    /// The twins' upcall timeout, ms.
    pub upcall_timeout_ms: u64,
    /// Twins record every upcall (`--record`; on by default: the fault suite's ledger).
    pub record: bool,
    twins: Vec<Option<Child>>,
    /// Per node, the record file of each twin started there, oldest first.
    pub records: Vec<Vec<PathBuf>>,
    pub ledger: Ledger,
    twin_gen: Vec<Arc<std::sync::atomic::AtomicUsize>>,
    pub failed_triggers: Shared<Vec<String>>,
    pub lookup_failures: Shared<u64>,
    daemons: Vec<Option<Child>>,
    /// Nodes whose daemon is expected to exit on its own (its corosync was killed).
    may_exit: Vec<bool>,
    monitors: Vec<Child>,
    /// Remove the run directory when the test passes (the fault suite's runs are many).
    pub remove_on_success: bool,
    /// When the suite itself had a node's daemon stopped, killed or cut off (its
    /// corosync killed, its network cut, its twin killed): (node, from, to) in
    /// `mono_us`, `to` None while it lasts. Only there may an upcall time out.
    pub disturbed: Shared<Vec<(u32, u64, Option<u64>)>>,
    up: bool,
}

impl Harness {
    /// `netns.sh up NODES` under a fresh run directory named after `name`.
    pub fn up(name: &str, nodes: u32) -> Harness {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("pnfs-{name}-{}-{nanos}", std::process::id()));
        let mut h = Harness {
            dir,
            nodes,
            ns: vec![],
            grace_ms: 2000,
            cld: false,
            upcall_timeout_ms: UPCALL_TIMEOUT_MS,
            record: true,
            twins: (0..nodes).map(|_| None).collect(),
            records: (0..nodes).map(|_| vec![]).collect(),
            ledger: Default::default(),
            twin_gen: (0..nodes).map(|_| Default::default()).collect(),
            failed_triggers: Default::default(),
            lookup_failures: Default::default(),
            daemons: (0..nodes).map(|_| None).collect(),
            may_exit: vec![false; nodes as usize],
            monitors: vec![],
            remove_on_success: false,
            disturbed: Default::default(),
            up: true, // `down` is harmless if `up` failed half-way (it cleaned up itself)
        };
        // A longer totem token than the harness's 1000 ms: on an overloaded machine the
        // token is lost now and then, and a spurious membership change would recall
        // layouts and move the MDS under the test's feet.
        let token = std::env::var("NETNS_TOKEN").unwrap_or_else(|_| "3000".into());
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
        let membership = stdout
            .lines()
            .find_map(|l| l.strip_prefix("membership_ms="))
            .unwrap_or("?");
        for n in 1..=nodes {
            let out = Command::new(script())
                .arg("ns")
                .arg(&h.dir)
                .arg(n.to_string())
                .output()
                .unwrap();
            assert!(out.status.success());
            h.ns.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        loud(&format!(
            "corosync: {nodes} nodes quorate {membership} ms after start (run dir {})",
            h.dir.display()
        ));
        h
    }

    /// Start `cpg_probe watch GROUP` in node `n`'s namespace; returns once it joined.
    pub fn probe(&self, n: u32, group: &str) -> Probe {
        let stderr = std::fs::File::create(self.node_dir(n).join("probe.log")).unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns[n as usize - 1]])
            .arg(probe_bin())
            .args(["watch", group])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn cpg_probe");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut p = Probe {
            child,
            stdin,
            lines,
        };
        p.wait("ready", Duration::from_secs(30), |v| v["ev"] == "ready");
        p
    }

    pub fn node_dir(&self, n: u32) -> PathBuf {
        self.dir.join(format!("n{n}"))
    }

    pub fn node(&self, n: u32) -> NodeCtl {
        NodeCtl {
            node: n,
            ns: self.ns[n as usize - 1].clone(),
            ledger: self.ledger.clone(),
            twin_gen: self.twin_gen[n as usize - 1].clone(),
            failed_triggers: self.failed_triggers.clone(),
            lookup_failures: self.lookup_failures.clone(),
        }
    }

    /// Spawn `prog args` in node `n`'s namespace (`ip netns exec` execs, so the child's
    /// pid is the program's), stderr to `log` in the node directory.
    fn spawn(&self, n: u32, log: &str, prog: &Path, args: &[String]) -> Child {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.node_dir(n).join(log))
            .unwrap();
        Command::new("ip")
            .args(["netns", "exec", &self.ns[n as usize - 1]])
            .arg(prog)
            .args(args)
            .env("PNFS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stderr.try_clone().unwrap())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} on node {n}: {e}", prog.display()))
    }

    /// Start node `n`'s twin (a new record file each time) and wait until it answers.
    pub fn start_twin(&mut self, n: u32) {
        let rec = self
            .node_dir(n)
            .join(format!("record.{}.log", self.records[n as usize - 1].len()));
        let mut args = vec![
            "--port".into(),
            "0x504e4653".into(),
            "--timeout-ms".into(),
            self.upcall_timeout_ms.to_string(),
        ];
        if self.record {
            args.extend(["--record".into(), rec.display().to_string()]);
        }
        let c = self.spawn(n, "twin.log", &twin_bin(), &args);
        self.twins[n as usize - 1] = Some(c);
        self.restore(n);
        self.records[n as usize - 1].push(rec);
        self.twin_gen[n as usize - 1].store(
            self.records[n as usize - 1].len() - 1,
            std::sync::atomic::Ordering::SeqCst,
        );
        self.wait_for(&format!("node {n}'s twin to answer"), |h| {
            h.try_ctl(n, &["device", "show"]).map(|_| ())
        });
    }

    /// Every node's twin, then node 1's daemon (MDS priority 10: it elects itself alone),
    /// then the other nodes' daemons (priority 0), which join it. Returns once node 1 is
    /// MDS; the others may still be joining.
    pub fn start_nodes_mds1(&mut self) {
        for n in 1..=self.nodes {
            self.start_twin(n);
        }
        self.start_daemon(1, 10);
        self.wait_for("node 1 to elect itself", |h| {
            let v = h.try_ctl(1, &["member", "show"])?;
            (v["mds"] == 1).then_some(()).ok_or(v.to_string())
        });
        for n in 2..=self.nodes {
            self.start_daemon(n, 0);
        }
    }

    /// The suite disturbs node `n` from now on (see `disturbed`).
    pub fn disturb(&self, n: u32) {
        let mut d = self.disturbed.lock().unwrap();
        if !d.iter().any(|w| w.0 == n && w.2.is_none()) {
            d.push((n, mono_us(), None));
        }
    }

    /// The suite undid a disturbance of node `n` (restarted, healed): its window ends.
    pub fn restore(&self, n: u32) {
        let mut d = self.disturbed.lock().unwrap();
        if let Some(w) = d.iter_mut().find(|w| w.0 == n && w.2.is_none()) {
            w.2 = Some(mono_us());
        }
    }

    /// Whether the suite disturbed node `n` at some time within [from, to] (`mono_us`).
    pub fn was_disturbed(&self, n: u32, from: u64, to: u64) -> bool {
        self.disturbed
            .lock()
            .unwrap()
            .iter()
            .any(|&(m, a, b)| m == n && a <= to && b.is_none_or(|b| b >= from))
    }

    /// SIGKILL node `n`'s twin (its kernel goes away) and reap it.
    pub fn kill_twin(&mut self, n: u32) {
        self.disturb(n);
        if let Some(mut c) = self.twins[n as usize - 1].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn start_daemon(&mut self, n: u32, priority: u32) {
        let state = self.node_dir(n).join("pnfs-state");
        // An empty configuration: everything from the flags (not /etc's file).
        let config = self.dir.join("empty-config.toml");
        if !config.exists() {
            std::fs::write(&config, "").unwrap();
        }
        let mut args: Vec<String> = [
            "--config",
            &config.display().to_string(),
            "--engine",
            "corosync",
            "--socket",
            "usersock",
            "--node-id",
            &n.to_string(),
            "--state-dir",
            &state.display().to_string(),
            "--addr",
            &format!("tcp,10.77.0.{n}.8.1"),
            "--grace-ms",
            &self.grace_ms.to_string(),
            "--mds-priority",
            &priority.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.cld {
            args.push("--cld-pipe".into());
            args.push(self.cld_pipe(n).display().to_string());
        }
        let c = self.spawn(
            n,
            "daemon.log",
            Path::new(env!("CARGO_BIN_EXE_pnfs_controld")),
            &args,
        );
        self.daemons[n as usize - 1] = Some(c);
        self.may_exit[n as usize - 1] = false;
        self.restore(n);
    }

    /// Where node `n`'s daemon looks for nfsd's cld pipe (when `cld` is set).
    pub fn cld_pipe(&self, n: u32) -> PathBuf {
        self.node_dir(n).join("cld.sock")
    }

    /// The pid of node `n`'s running daemon.
    pub fn daemon_pid(&self, n: u32) -> Option<u32> {
        self.daemons[n as usize - 1].as_ref().map(Child::id)
    }

    /// SIGKILL node `n`'s daemon and reap it.
    pub fn kill_daemon(&mut self, n: u32) {
        self.disturb(n);
        if let Some(mut c) = self.daemons[n as usize - 1].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM node `n`'s daemon (graceful stop) and wait for it to exit.
    pub fn stop_daemon(&mut self, n: u32) -> std::process::ExitStatus {
        self.disturb(n);
        let mut c = self.daemons[n as usize - 1]
            .take()
            .unwrap_or_else(|| panic!("node {n}: no daemon to stop"));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "node {n}: daemon did not stop within {WAIT:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Node `n`'s daemon may exit on its own from now on (its corosync is going away).
    pub fn allow_exit(&mut self, n: u32) {
        self.may_exit[n as usize - 1] = true;
    }

    /// Wait (bounded) for node `n`'s daemon to exit on its own; reap it.
    pub fn wait_daemon_exit(&mut self, n: u32, bound: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + bound;
        let c = self.daemons[n as usize - 1]
            .as_mut()
            .unwrap_or_else(|| panic!("node {n}: no daemon"));
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                self.daemons[n as usize - 1] = None;
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "node {n}: daemon still running {bound:?} after losing its corosync"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics if a daemon exited that was not allowed to (with its log tail).
    pub fn check_daemons(&mut self) {
        for i in 0..self.daemons.len() {
            if self.may_exit[i] {
                continue;
            }
            if let Some(c) = &mut self.daemons[i] {
                if let Ok(Some(st)) = c.try_wait() {
                    let log =
                        std::fs::read_to_string(self.node_dir(i as u32 + 1).join("daemon.log"))
                            .unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(20).collect();
                    panic!(
                        "daemon of node {} exited ({st}); log tail:\n{}",
                        i + 1,
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
            }
        }
    }

    pub fn netns(&self, args: &[&str]) {
        // partition/kill N disturb node N; heal/start N undo it.
        let node = args.get(1).and_then(|n| n.parse::<u32>().ok());
        if let (Some(&("partition" | "kill")), Some(n)) = (args.first(), node) {
            self.disturb(n);
        }
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
        if let (Some(&("heal" | "start")), Some(n)) = (args.first(), node) {
            self.restore(n);
        }
    }

    pub fn try_ctl(&self, n: u32, args: &[&str]) -> Result<Value, String> {
        self.node(n).try_ctl(args)
    }

    pub fn ctl(&self, n: u32, args: &[&str]) -> Value {
        self.try_ctl(n, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Poll `f` until it returns Ok, or panic after `WAIT` with the last observation.
    pub fn wait_for<T>(&mut self, what: &str, f: impl FnMut(&Self) -> Result<T, String>) -> T {
        self.wait_within(what, WAIT, f)
    }

    /// Poll `f` until it returns Ok, or panic after `bound` with the last observation.
    pub fn wait_within<T>(
        &mut self,
        what: &str,
        bound: Duration,
        mut f: impl FnMut(&Self) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + bound;
        loop {
            self.check_daemons();
            match f(self) {
                Ok(v) => return v,
                Err(last) => {
                    if Instant::now() > deadline {
                        panic!(
                            "timed out after {bound:?} waiting for {what}; last seen: {last}; logs in {}",
                            self.dir.display()
                        );
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start `pnfsctl -j monitor WHAT` on node `n`; lines arrive on the returned channel
    /// with their arrival time.
    pub fn monitor(&mut self, n: u32, what: &str) -> mpsc::Receiver<(Instant, Value)> {
        let mut c = Command::new("ip")
            .args(["netns", "exec", &self.ns[n as usize - 1]])
            .arg(pnfsctl_bin())
            .args(["-j", "--socket", "usersock", "monitor", what])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pnfsctl monitor");
        let out = c.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send((Instant::now(), v)).is_err() {
                        break;
                    }
                }
            }
        });
        self.monitors.push(c);
        rx
    }

    /// The last `lines` lines of every log of the run (corosync, twin, daemon per node).
    pub fn log_tails(&self, lines: usize) -> String {
        let mut s = String::new();
        for n in 1..=self.nodes {
            for f in ["corosync.log", "twin.log", "daemon.log"] {
                let p = self.node_dir(n).join(f);
                let Ok(t) = std::fs::read_to_string(&p) else {
                    continue;
                };
                let tail: Vec<&str> = t.lines().rev().take(lines).collect();
                s.push_str(&format!(
                    "--- {} (last {} lines)\n",
                    p.display(),
                    tail.len()
                ));
                for l in tail.into_iter().rev() {
                    s.push_str(l);
                    s.push('\n');
                }
            }
        }
        s
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed {
            // The daemons' debug rings (what they decided and why), while they still run.
            for n in 1..=self.nodes {
                if self.daemons[n as usize - 1].is_some() {
                    let ring = match self.try_ctl(n, &["debug", "dump"]) {
                        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
                        Err(e) => format!("debug dump failed: {e}"),
                    };
                    let _ = std::fs::write(self.node_dir(n).join("ring.json"), ring);
                }
            }
        }
        for c in self.monitors.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for c in self.daemons.iter_mut().chain(self.twins.iter_mut()) {
            if let Some(mut c) = c.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
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
        if failed {
            loud(&format!(
                "FAILED; logs (and each daemon's debug ring, nN/ring.json) kept in {}\n{}",
                self.dir.display(),
                self.log_tails(25)
            ));
        } else if self.remove_on_success {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn arr(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

pub fn member_nodes(status: &Value) -> Vec<u64> {
    arr(&status["members"])
        .iter()
        .filter_map(|m| m["node"].as_u64())
        .collect()
}

/// Device ids in `device show` output.
pub fn devices(v: &Value) -> Vec<String> {
    let mut d: Vec<String> = arr(v)
        .iter()
        .filter_map(|d| d["device-id"].as_str().map(str::to_string))
        .collect();
    d.sort();
    d
}

pub fn mount<'a>(fs: &'a Value, table: &str) -> Option<&'a Value> {
    fs["mounts"]
        .as_array()?
        .iter()
        .find(|m| m["table"] == table)
}

pub fn trigger_status(v: &Value) -> String {
    match v["status"].as_str() {
        Some(s) => s.to_string(),
        None => format!("(no status: {v})"),
    }
}

/// Shared so a workload thread can hold it.
pub type Shared<T> = Arc<Mutex<T>>;
