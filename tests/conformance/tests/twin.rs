//! The whole suite against a twin started in this process on an auto-bound port.

use pnfs_conformance::{run, Env, Target, Verdict};
use pnfs_twin::{Twin, TwinConfig};
use std::path::PathBuf;

#[test]
fn every_case_passes_against_the_twin() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let failed = rt.block_on(async {
        let twin = Twin::bind(&TwinConfig {
            port: 0,
            ..Default::default()
        })
        .expect("bind the twin on an auto port");
        let port = twin.port();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(twin.run(stopped));
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_pnfs-conformance"));
        let mut env = Env::new(Target::twin(port), Some(exe))
            .await
            .expect("resolve the twin's families");
        let filter = std::env::var("PNFS_CONFORMANCE_FILTER").ok();
        let results = run(&mut env, filter.as_deref(), |name, v| match v {
            Verdict::Pass => eprintln!("PASS {name}"),
            Verdict::Fail(e) => eprintln!("FAIL {name}: {e}"),
            Verdict::Skip(e) => eprintln!("\n!!!!! SKIPPED {name}: {e} !!!!!\n"),
        })
        .await;
        let _ = stop.send(true);
        server
            .await
            .expect("twin task")
            .expect("twin ran without a socket error");
        assert!(!results.is_empty(), "no case ran (filter {filter:?})");
        results
            .into_iter()
            .filter_map(|(name, v)| match v {
                Verdict::Fail(e) => Some(format!("{name}: {e}")),
                _ => None,
            })
            .collect::<Vec<_>>()
    });
    assert!(
        failed.is_empty(),
        "{} case(s) failed against the twin:\n  {}",
        failed.len(),
        failed.join("\n  ")
    );
}
