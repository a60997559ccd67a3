//! A node for integration tests: a private network namespace holding a twin (the kernel
//! half over NETLINK_USERSOCK) and optionally `pnfs_controld` on the local engine, driven
//! with the real `pnfsctl` binary. Everything started is stopped by Drop.

#![allow(dead_code)]

pub mod cld;
pub mod nobody;

use serde_json::Value;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DAEMON: &str = env!("CARGO_BIN_EXE_pnfs_controld");
/// `pnfsctl`, a binary of another package (`cli/`): beside `pnfs_controld` in the same
/// target directory, where `cargo test --workspace` builds it (cargo names only this
/// package's binaries in `CARGO_BIN_EXE_*`). A path made at compile time, so that it stays
/// a `&str`; `can_run` checks that the file is there.
pub const PNFSCTL: &str = match std::str::from_utf8(&PNFSCTL_BYTES) {
    Ok(s) => s,
    Err(_) => panic!("the target directory's path is not UTF-8"),
};
const BIN_DIR_LEN: usize = {
    let b = DAEMON.as_bytes();
    let mut i = b.len();
    while i > 0 && b[i - 1] != b'/' {
        i -= 1;
    }
    i
};
const PNFSCTL_BYTES: [u8; BIN_DIR_LEN + 7] = {
    let (dir, _) = DAEMON.as_bytes().split_at(BIN_DIR_LEN);
    let name = b"pnfsctl";
    let mut out = [0u8; BIN_DIR_LEN + 7];
    let mut i = 0;
    while i < dir.len() {
        out[i] = dir[i];
        i += 1;
    }
    let mut j = 0;
    while j < name.len() {
        out[i + j] = name[j];
        j += 1;
    }
    out
};

/// True when the test may run; prints a loud SKIPPED line otherwise.
pub fn can_run(test: &str) -> bool {
    assert!(
        std::path::Path::new(PNFSCTL).exists(),
        "{PNFSCTL} is missing: build the workspace (cargo test --workspace, or cargo build \
         --workspace --bins with the same profile)"
    );
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED {test}: needs root for a private network namespace");
        return false;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("SKIPPED {test}: iproute2's `ip` is not installed");
        return false;
    }
    true
}

pub struct Node {
    pub ns: String,
    pub dir: std::path::PathBuf,
    twin: Option<Child>,
    daemon: Option<Child>,
}

impl Node {
    /// A fresh namespace with a twin in it.
    pub fn new(tag: &str) -> Node {
        let ns = format!("pnfs-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        run_ok(Command::new("ip").args(["netns", "add", &ns]));
        run_ok(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]));
        let dir = std::env::temp_dir().join(&ns);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut n = Node {
            ns,
            dir,
            twin: None,
            daemon: None,
        };
        n.start_twin();
        n
    }

    fn spawn(&self, prog: &str, args: &[&str], log: &str) -> Child {
        let out = std::fs::File::create(self.dir.join(log)).unwrap();
        Command::new("ip")
            .args(["netns", "exec", &self.ns, prog])
            .args(args)
            .env("PNFS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {prog}: {e}"))
    }

    pub fn start_twin(&mut self) {
        self.twin = Some(self.spawn(PNFSCTL, &["twin", "--timeout-ms", "2000"], "twin.log"));
        self.wait("twin answers nlctrl", Duration::from_secs(20), |n| {
            n.ctl(&["--socket", "usersock", "family", "show", "pnfsd"])
                .status
                .success()
        });
    }

    pub fn start_daemon(&mut self, extra: &[&str]) {
        let state = self.dir.join("state");
        let mut args = vec![
            "--socket",
            "usersock",
            "--state-dir",
            state.to_str().unwrap(),
            "--grace-ms",
            "300",
        ];
        args.extend_from_slice(extra);
        self.daemon = Some(self.spawn(DAEMON, &args, "daemon.log"));
        self.wait(
            "daemon is MDS and out of grace",
            Duration::from_secs(30),
            |n| {
                n.json(&["member", "show"])
                    .is_some_and(|v| v["granting"] == true && v["in_grace"] == false)
            },
        );
    }

    /// Start the daemon without waiting for it to grant (see `start_daemon`).
    pub fn spawn_daemon(&mut self, extra: &[&str]) {
        let state = self.dir.join("state");
        let mut args = vec![
            "--socket",
            "usersock",
            "--state-dir",
            state.to_str().unwrap(),
            "--grace-ms",
            "300",
        ];
        args.extend_from_slice(extra);
        self.daemon = Some(self.spawn(DAEMON, &args, "daemon.log"));
    }

    /// SIGTERM the twin and wait for it (an operator restarting the kernel half).
    pub fn stop_twin(&mut self) {
        let mut c = self.twin.take().expect("twin running");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let _ = c.wait();
    }

    /// Pid of the running twin (`pnfsctl twin`).
    pub fn twin_pid(&self) -> Option<u32> {
        self.twin.as_ref().map(Child::id)
    }

    /// Pid of the running daemon (`ip netns exec` execs it in place).
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// SIGKILL the daemon (a crash).
    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM the daemon and wait for it (graceful shutdown); returns its exit status.
    pub fn stop_daemon(&mut self) -> std::process::ExitStatus {
        let mut c = self.daemon.take().expect("daemon running");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "daemon did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Run pnfsctl in the namespace.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, PNFSCTL])
            .args(args)
            .output()
            .unwrap()
    }

    /// Run `pnfsctl -j ARGS` and parse its JSON; None if it failed.
    pub fn json(&self, args: &[&str]) -> Option<Value> {
        let mut a = vec!["-j"];
        a.extend_from_slice(args);
        let o = self.ctl(&a);
        if !o.status.success() {
            return None;
        }
        serde_json::from_slice(&o.stdout).ok()
    }

    /// `pnfsctl -j trigger ARGS`, which must succeed.
    pub fn trig(&self, args: &[&str]) -> Value {
        let mut a = vec!["trigger"];
        a.extend_from_slice(args);
        self.must(&a)
    }

    /// Like `json` but the command must succeed.
    pub fn must(&self, args: &[&str]) -> Value {
        let mut a = vec!["-j"];
        a.extend_from_slice(args);
        let o = self.ctl(&a);
        assert!(
            o.status.success(),
            "pnfsctl {args:?} failed ({}): {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr),
            self.logs()
        );
        if o.stdout.is_empty() {
            return Value::Null; // commands that change state print nothing, as `ip` does
        }
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("pnfsctl {args:?}: bad JSON: {e}"))
    }

    /// Poll `cond` until true; bounded.
    pub fn wait(&self, what: &str, limit: Duration, cond: impl Fn(&Node) -> bool) {
        let deadline = Instant::now() + limit;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["twin.log", "daemon.log"] {
            if let Ok(t) = std::fs::read_to_string(self.dir.join(f)) {
                let tail: Vec<&str> = t.lines().rev().take(30).collect();
                s.push_str(&format!("--- {f} (last lines) ---\n"));
                for l in tail.into_iter().rev() {
                    s.push_str(l);
                    s.push('\n');
                }
            }
        }
        s
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for c in [self.daemon.take(), self.twin.take()].into_iter().flatten() {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_ok(c: &mut Command) {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A stateid with seqid `seq` and `other` made from `n`.
pub fn stateid(seq: u32, n: u64) -> String {
    format!("{seq:08x}{n:016x}00000000")
}

impl cld::Logs for Node {
    fn logs(&self) -> String {
        Node::logs(self)
    }
}
