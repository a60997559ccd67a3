//! A real C client on libmnl (`tests/interop/mnl_client.c`) against the twin: what a C
//! program built on the generated uapi headers sees must be what it sees of the module
//! in the VM — nlctrl resolution and policy dumps, every dump op, a `do` with its ACK,
//! an admin op refused to nobody, the refusals with their extack — and every answer
//! passes libmnl's own checks (mnl_cb_run with the requester's port and seq). At
//! f506fb8 this failed on the first request: the twin put its own port in the ACK
//! and libmnl refused it (ESRCH); before nlctrl's policy dump and the missing-type TLV,
//! on those checks.
//!
//! Unit tier: root (a private network namespace), gcc and libmnl-dev (SKIPPED loudly
//! otherwise). The VM runs the same client against the module over NETLINK_GENERIC.

mod common;
use common::{can_run, Node};
use std::path::{Path, PathBuf};
use std::process::Command;

const LIBMNL_HEADER: &str = "/usr/include/libmnl/libmnl.h";

/// Build the client into `target/interop/`, or say why not.
fn build_client() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("interop");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let out = out_dir.join("mnl_client");
    let o = Command::new("gcc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(root.join("kmod-shim/module/uapi"))
        .arg("-o")
        .arg(&out)
        .arg(root.join("tests/interop/mnl_client.c"))
        .arg("-lmnl")
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "gcc failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(out)
}

#[test]
fn mnl_client_against_the_twin() {
    if !can_run("mnl_client_against_the_twin") {
        return;
    }
    if !Path::new(LIBMNL_HEADER).exists() || Command::new("gcc").arg("--version").output().is_err()
    {
        eprintln!(
            "\n!!!!! SKIPPED mnl_client_against_the_twin: needs gcc and libmnl-dev \
             ({LIBMNL_HEADER}): apt-get install libmnl-dev !!!!!\n"
        );
        return;
    }
    let client = build_client().unwrap_or_else(|e| panic!("building the libmnl client: {e}"));
    let n = Node::new("mnl");
    let o = Command::new("ip")
        .args(["netns", "exec", &n.ns])
        .arg(&client)
        .args(["--proto", "usersock"])
        .output()
        .expect("run the client");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    eprintln!("{stdout}{stderr}");
    let summary = stdout.lines().last().unwrap_or("");
    assert!(
        o.status.success() && summary.ends_with(" passed, 0 failed"),
        "the libmnl client failed against the twin ({}): {summary}\n{}",
        o.status,
        n.logs()
    );
    let passed: usize = summary
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 30, "only {passed} checks ran: {summary}");
}
