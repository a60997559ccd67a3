//! The whole suite against a twin started in this process on an auto-bound port; then
//! what the twin counted of what the cases made it refuse or drop.

use pnfs_conformance::{run, Env, Target, Verdict};
use pnfs_twin::refusals::Reason;
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
        let refusals = twin.refusals.clone();
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
        let mut failed = results
            .iter()
            .filter_map(|(name, v)| match v {
                Verdict::Fail(e) => Some(format!("{name}: {e}")),
                _ => None,
            })
            .collect::<Vec<_>>();
        // Each refusal and drop the cases provoke is counted under its reason (only
        // where every case ran and passed, as root: the stolen-port case needs it).
        let all_ran = results.iter().all(|(_, v)| *v == Verdict::Pass);
        if filter.is_none() && all_ran {
            eprintln!("twin refusals: {}", refusals.summary());
            for (reason, at_least, by) in [
                (Reason::Impostor, 3, "stolen-daemon-port-gets-no-rights"),
                (Reason::ForeignPort, 1, "upcall-port-trusts-only-the-daemon"),
                (Reason::Unprivileged, 1, "unprivileged-admin-eperm"),
                (Reason::ForeignReply, 1, "reply-from-other-port-eperm"),
                (Reason::AnswerDropped, 32, "slow-reader-stalls-nobody"),
                (
                    Reason::TriggerAbandoned,
                    1,
                    "trigger-ends-with-its-requester",
                ),
            ] {
                let n = refusals.count(reason);
                if n < at_least {
                    failed.push(format!(
                        "{by}: the twin counted {n} {}, want at least {at_least}",
                        reason.name()
                    ));
                }
            }
        }
        failed
    });
    assert!(
        failed.is_empty(),
        "{} case(s) failed against the twin:\n  {}",
        failed.len(),
        failed.join("\n  ")
    );
}
