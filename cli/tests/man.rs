//! The binary's own surface, without a kernel half or a daemon: version, man pages and
//! completions generated from the CLI definition. (Being an integration test of this
//! package also makes `cargo test --workspace` build `target/<profile>/pnfsctl`, which the
//! daemon package's suites in `tests/` run.)

use std::process::Command;

const PNFSCTL: &str = env!("CARGO_BIN_EXE_pnfsctl");

#[test]
fn man_pages_and_completions_are_generated() {
    let dir = std::env::temp_dir().join(format!("pnfsctl-man-{}", std::process::id()));
    let o = Command::new(PNFSCTL).arg("man").arg(&dir).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(dir.join("pnfsctl.1")).unwrap();
    assert!(page.contains(".TH pnfsctl"), "{page}");
    // One page per object.
    for obj in ["stats", "monitor", "bench", "demo"] {
        assert!(dir.join(format!("pnfsctl-{obj}.1")).is_file(), "{obj}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    for sh in ["bash", "zsh", "fish"] {
        let o = Command::new(PNFSCTL)
            .args(["completions", sh])
            .output()
            .unwrap();
        assert!(o.status.success(), "{sh}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("pnfsctl"),
            "{sh}"
        );
    }
    let o = Command::new(PNFSCTL).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("pnfsctl {}", env!("CARGO_PKG_VERSION"))
    );
}
