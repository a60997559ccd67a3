//! Golden output of pnfsctl: every object's `show`/`list` (and the answers of the commands
//! that print one), as text and as `-j` JSON, from a running twin + daemon in a private
//! network namespace, compared with `tests/golden/`. Only what legitimately differs between
//! runs (netlink port ids, latencies, round trips, timestamps) is replaced by a placeholder.
//!
//! `UPDATE_GOLDEN=1 cargo test --test cli_golden` rewrites the files instead of comparing.

mod common;
use common::{can_run, stateid, Node, PNFSCTL};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
const UPDATE_HINT: &str = "if the change is intended: UPDATE_GOLDEN=1 cargo test --test cli_golden, then review `git diff tests/golden`";

#[test]
fn every_object_matches_its_golden_text_and_json() {
    if !can_run("every_object_matches_its_golden_text_and_json") {
        return;
    }
    let mut n = Node::new("gold");
    n.start_daemon(&["--addr", "tcp,10.9.0.1.8.1"]);
    let mut g = Golden::new();

    // Families of the twin (--socket usersock: the host's own families vary by machine).
    g.both(
        &n,
        "family-show-pnfsd",
        &["--socket", "usersock", "family", "show", "pnfsd"],
    );
    g.both(
        &n,
        "family-show-gfs2ctl",
        &["--socket", "usersock", "family", "show", "gfs2ctl"],
    );
    g.both(
        &n,
        "family-list",
        &["--socket", "usersock", "family", "list"],
    );

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
    g.both(&n, "device-show", &["device", "show"]);

    // Commands that change state print their answer once per rendering, so the text and the
    // JSON capture act on different objects: file 3/4 of client 9, file 7/8 of client 10.
    let layout_get = |fsid, fileid, client| {
        [
            "trigger",
            "pnfsd",
            "layout-get",
            "--fsid",
            fsid,
            "--fileid",
            fileid,
            "--clientid",
            client,
        ]
    };
    g.text(&n, "trigger-layout-get", &layout_get("3", "4", "9"));
    g.json(&n, "trigger-layout-get", &layout_get("7", "8", "10"));
    g.both(&n, "layout-show", &["layout", "show"]);
    g.text(&n, "layout-recall", &["layout", "recall", "fsid", "3"]);
    g.json(&n, "layout-recall", &["layout", "recall", "file", "7", "8"]);

    let (sid9, sid10) = (stateid(1, 4), stateid(2, 8));
    n.must(&["state", "set", "3", "4", &sid9, "9"]);
    n.must(&["state", "set", "7", "8", &sid10, "10", "--access", "1"]);
    g.text(&n, "state-query", &["state", "query", "3", "4", &sid9, "9"]);
    g.json(
        &n,
        "state-query",
        &["state", "query", "7", "8", &sid10, "10"],
    );
    g.both(&n, "state-show", &["state", "show"]);
    g.both(&n, "state-show-stats", &["-s", "state", "show"]);
    g.text(
        &n,
        "state-revoke",
        &["state", "revoke", "9", "3", "4", &sid9],
    );
    g.json(&n, "state-revoke", &["state", "revoke", "10"]);

    g.text(
        &n,
        "trigger-gfs2-mount",
        &["trigger", "gfs2", "mount", "--table", "t:f"],
    );
    g.json(
        &n,
        "trigger-gfs2-mount",
        &["trigger", "gfs2", "mount", "--table", "a:b"],
    );
    g.both(&n, "fs-show", &["fs", "show"]);
    g.both(&n, "client-show", &["client", "show"]);
    g.both(&n, "grace-show", &["grace", "show"]);

    g.both(&n, "member-show", &["member", "show"]);
    g.both(&n, "kernel-show", &["kernel", "show"]);
    g.both(&n, "upcall-show", &["upcall", "show"]);
    g.both(&n, "stats-show", &["stats", "show"]);
    g.both(&n, "stats-show-stats", &["-s", "stats", "show"]);
    g.both(&n, "ping", &["ping", "-c", "3"]);
    g.both(&n, "debug-dump", &["debug", "dump"]);

    // Help has no JSON rendering.
    g.text(&n, "help", &["help"]);
    g.text(&n, "device-help", &["device", "help"]);

    // Last, as it leaves late replies and timeouts behind: upcalls that wait for a daemon.
    pending_upcalls(&n, &mut g);

    g.finish();
}

/// `upcall show` with one upcall pending per family: the daemon is stopped (SIGSTOP) while
/// two triggers wait for its answers, until the twin's upcall timeout (2 s) fails them.
fn pending_upcalls(n: &Node, g: &mut Golden) {
    let daemon = daemon_pid(n);
    let mut held = Held {
        daemon,
        triggers: Vec::new(),
    };
    // SAFETY: signalling the daemon this test started; `Held` resumes it.
    unsafe { libc::kill(daemon, libc::SIGSTOP) };
    for args in [
        &[
            "trigger",
            "pnfsd",
            "layout-get",
            "--fsid",
            "11",
            "--fileid",
            "12",
            "--clientid",
            "13",
        ][..],
        &["trigger", "gfs2", "mount", "--table", "p:q"][..],
    ] {
        held.triggers.push(
            Command::new("ip")
                .args(["netns", "exec", &n.ns, PNFSCTL])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    n.wait(
        "an upcall pending in each family",
        Duration::from_secs(10),
        |n| {
            n.json(&["upcall", "show"]).is_some_and(|v| {
                ["pnfsd", "gfs2ctl"]
                    .iter()
                    .all(|f| v[f].as_array().is_some_and(|a| !a.is_empty()))
            })
        },
    );
    let text = capture_text(n, &["upcall", "show"]);
    let json = capture_json(n, &["upcall", "show"]);
    // A trigger returns once its upcall timed out: still running means still pending.
    for t in &mut held.triggers {
        assert!(
            t.try_wait().unwrap().is_none(),
            "the twin's 2 s upcall timeout expired before `upcall show` was captured \
             (machine overloaded?); the captures may not show the pending upcalls"
        );
    }
    g.check("upcall-show-pending.txt", &text);
    g.check("upcall-show-pending.json", &json);
}

/// Resumes the stopped daemon and reaps the triggers, also when the test fails.
struct Held {
    daemon: i32,
    triggers: Vec<Child>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: signalling the daemon this test started.
        unsafe { libc::kill(self.daemon, libc::SIGCONT) };
        for t in &mut self.triggers {
            let _ = t.wait();
        }
    }
}

/// The pid of the node's daemon: the one `pnfs_controld` among the namespace's processes.
fn daemon_pid(n: &Node) -> i32 {
    let o = Command::new("ip")
        .args(["netns", "pids", &n.ns])
        .output()
        .unwrap();
    let pids: Vec<i32> = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "pnfs_controld")
        })
        .collect();
    assert_eq!(pids.len(), 1, "one pnfs_controld in {}: {pids:?}", n.ns);
    pids[0]
}

/// The golden files: compares (or, with UPDATE_GOLDEN=1, rewrites) and collects every
/// mismatch so one run reports all of them.
struct Golden {
    dir: PathBuf,
    update: bool,
    written: BTreeSet<String>,
    failures: Vec<String>,
}

impl Golden {
    fn new() -> Golden {
        let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
        let dir = PathBuf::from(GOLDEN_DIR);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
        }
        Golden {
            dir,
            update,
            written: BTreeSet::new(),
            failures: Vec::new(),
        }
    }

    fn both(&mut self, n: &Node, name: &str, args: &[&str]) {
        self.text(n, name, args);
        self.json(n, name, args);
    }

    fn text(&mut self, n: &Node, name: &str, args: &[&str]) {
        self.check(&format!("{name}.txt"), &capture_text(n, args));
    }

    fn json(&mut self, n: &Node, name: &str, args: &[&str]) {
        self.check(&format!("{name}.json"), &capture_json(n, args));
    }

    fn check(&mut self, file: &str, actual: &str) {
        assert!(
            self.written.insert(file.to_string()),
            "{file} captured twice"
        );
        let path = self.dir.join(file);
        let expected = std::fs::read_to_string(&path).ok();
        if self.update {
            if expected.as_deref() != Some(actual) {
                std::fs::write(&path, actual).unwrap();
                eprintln!("updated {}", path.display());
            }
            return;
        }
        match expected {
            None => self.failures.push(format!(
                "tests/golden/{file}: missing (output was {} lines)",
                actual.lines().count()
            )),
            Some(e) if e != actual => self.failures.push(format!(
                "tests/golden/{file} differs (- golden, + actual):\n{}",
                line_diff(&e, actual)
            )),
            Some(_) => {}
        }
    }

    /// Golden files no capture produced are stale: an object was renamed or dropped.
    fn finish(mut self) {
        let stale: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| !is_written(&self.written, p))
            .collect();
        for p in stale {
            if self.update {
                std::fs::remove_file(&p).unwrap();
                eprintln!("removed stale {}", p.display());
            } else {
                self.failures
                    .push(format!("{}: stale, no capture produces it", p.display()));
            }
        }
        assert!(
            self.failures.is_empty(),
            "{} golden file(s) do not match:\n\n{}\n\n{UPDATE_HINT}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

fn is_written(written: &BTreeSet<String>, p: &Path) -> bool {
    p.file_name()
        .and_then(|f| f.to_str())
        .is_some_and(|f| written.contains(f))
}

fn capture_text(n: &Node, args: &[&str]) -> String {
    normalize_text(&run(n, args))
}

/// `-j` must print one compact line; the golden file holds it normalized and pretty, so
/// that a difference shows as a readable line diff.
fn capture_json(n: &Node, args: &[&str]) -> String {
    let mut a = vec!["-j"];
    a.extend_from_slice(args);
    let out = run(n, &a);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("pnfsctl {a:?}: not JSON ({e}):\n{out}"));
    assert_eq!(
        out,
        format!("{v}\n"),
        "pnfsctl {a:?}: -j must print exactly one compact JSON line"
    );
    serde_json::to_string_pretty(&normalize_json(v)).unwrap() + "\n"
}

/// Run pnfsctl in the node's namespace: it must succeed, print something and warn nothing.
fn run(n: &Node, args: &[&str]) -> String {
    let o = n.ctl(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.is_empty(),
        "pnfsctl {args:?} ({}): {err}\n{}",
        o.status,
        n.logs()
    );
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(!out.trim().is_empty(), "pnfsctl {args:?} printed nothing");
    out
}

// ------------------------------------------------------------------ normalization

/// JSON keys whose values vary from run to run, and their placeholders. Latencies are
/// replaced even when 0 (a kind never sent) so that the rule does not depend on timing.
const JSON_RULES: &[(&[&str], &str)] = &[
    // the daemon's netlink port id, assigned by the kernel
    (&["port"], "<port>"),
    (
        &[
            "elapsed-ns",
            "p50-ns",
            "p99-ns",
            "p999-ns",
            "p50_ns",
            "p99_ns",
            "p999_ns",
        ],
        "<latency>",
    ),
    (&["min_ns", "avg_ns", "max_ns"], "<rtt>"),
    (&["time_us"], "<time>"),
    // how long a pending upcall has waited
    (&["age-us"], "<age>"),
    // busy polling depends on how close upcalls came
    (&["receives_polled", "receives_waited", "spin_us"], "<poll>"),
];

fn normalize_json(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| {
                    let rule = JSON_RULES
                        .iter()
                        .find(|(keys, _)| keys.contains(&k.as_str()));
                    let x = match rule {
                        // a latency histogram: [[lower_ns, count], ...]
                        _ if k == "hist" => Value::from("<hist>"),
                        Some((_, placeholder)) if x.is_number() => Value::from(*placeholder),
                        _ => normalize_json(x),
                    };
                    (k, x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(normalize_json).collect()),
        // Free text (the debug ring) names the port too.
        Value::String(s) => Value::String(normalize_line(&s)),
        other => other,
    }
}

/// In text, a varying value is the number after the word that names it.
const TEXT_RULES: &[(&[&str], &str)] = &[
    (&["port"], "<port>"),
    (
        &[
            "elapsed-ns",
            "p50-ns",
            "p99-ns",
            "p999-ns",
            "p50",
            "p99",
            "p99.9",
        ],
        "<latency>",
    ),
    // ping: `min/avg/max = 21.9/35.0/55.6 us`
    (&["="], "<rtt>"),
    (&["age-us"], "<age>"),
    (&["polled", "waited", "spun"], "<poll>"),
];

fn normalize_text(s: &str) -> String {
    s.split('\n')
        .map(normalize_line)
        .collect::<Vec<_>>()
        .join("\n")
}

fn normalize_line(line: &str) -> String {
    // debug dump: every line starts with `SECONDS.MICROS `.
    let (time, rest) = match line.split_once(' ') {
        Some((t, rest)) if is_timestamp(t) => ("<time> ", rest),
        _ => ("", line),
    };
    let words: Vec<&str> = rest.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let after = i.checked_sub(1).map(|p| words[p]);
        let rule = after.and_then(|a| TEXT_RULES.iter().find(|(names, _)| names.contains(&a)));
        out.push(match rule {
            // a latency histogram, `lower:count,...`
            _ if after == Some("hist") => "<hist>".to_string(),
            Some((_, placeholder)) => replace_number(w, placeholder),
            None => w.to_string(),
        });
    }
    format!("{time}{}", out.join(" "))
}

/// Replace the leading decimal number (digits, dots and slashes: `55.6`, `1/2/3`) of a word,
/// keeping what follows (`us`, `,`). Hex (`0x504e4653`, the twin's fixed port) is content.
fn replace_number(w: &str, placeholder: &str) -> String {
    if w.starts_with("0x") || !w.starts_with(|c: char| c.is_ascii_digit()) {
        return w.to_string();
    }
    let end = w
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '/'))
        .unwrap_or(w.len());
    format!("{placeholder}{}", &w[end..])
}

fn is_timestamp(w: &str) -> bool {
    w.split_once('.').is_some_and(|(s, us)| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && us.len() == 6
            && us.bytes().all(|b| b.is_ascii_digit())
    })
}

// ------------------------------------------------------------------ diff

/// A line diff (longest common subsequence) of the changed lines only, numbered by the
/// golden file's lines, at most `MAX` lines.
fn line_diff(expected: &str, actual: &str) -> String {
    const MAX: usize = 40;
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    // lcs[i][j]: length of the LCS of e[i..] and a[j..]
    let mut lcs = vec![vec![0u32; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            i += 1;
            j += 1;
        } else if i < e.len() && (j == a.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("-{:>4}: {}", i + 1, e[i]));
            i += 1;
        } else {
            out.push(format!("+{:>4}: {}", i + 1, a[j]));
            j += 1;
        }
    }
    if out.is_empty() {
        // Same lines: only the final newline differs.
        out.push("(the files differ only in trailing newlines)".into());
    }
    let more = out.len().saturating_sub(MAX);
    out.truncate(MAX);
    if more > 0 {
        out.push(format!("... {more} more changed line(s)"));
    }
    out.join("\n")
}
