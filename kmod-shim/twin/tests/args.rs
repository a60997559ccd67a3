//! The `pnfs-twin` binary's command line: bad arguments are clear errors with exit code 1
//! and the usage text, `--help` succeeds, and a bad `PNFS_LOG` is reported, not fatal.
//! (This test also makes `cargo test --workspace` build the binary that the daemon and
//! cluster suites start.)

use std::process::Command;

const TWIN: &str = env!("CARGO_BIN_EXE_pnfs-twin");

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(TWIN)
        .args(args)
        .output()
        .expect("runs pnfs-twin");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_are_usage_errors() {
    for (args, want) in [
        (&["--bogus"][..], "unknown argument \"--bogus\""),
        (&["--port"][..], "--port needs a number"),
        (&["--port", "0xzz"][..], "--port needs a number"),
        (&["--timeout-ms", "-5"][..], "--timeout-ms needs a number"),
        (&["--record"][..], "--record needs a file"),
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 1, "pnfs-twin {args:?}: exit {code}, stderr {err}");
        assert!(err.contains(want), "pnfs-twin {args:?}: stderr {err:?}");
        assert!(
            err.contains("usage"),
            "pnfs-twin {args:?}: no usage in {err:?}"
        );
    }
}

#[test]
fn help_prints_usage() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--timeout-ms"), "{out}");
}

#[test]
fn bad_log_filter_is_reported_not_fatal() {
    let o = Command::new(TWIN)
        .arg("--help")
        .env("PNFS_LOG", "info,pnfs_twin=loud")
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ignoring PNFS_LOG"), "stderr: {err:?}");
}
