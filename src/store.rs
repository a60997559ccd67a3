//! Durable state that must survive a restart: the MDS epoch, journal assignments and
//! nfsd's client records.
//! Written atomically (temporary file, fsync, rename, fsync of the directory), like
//! nfsdcld's epochs: a crash leaves either the old or the new file, never a torn one.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    /// Highest MDS epoch seen or started.
    pub epoch: u64,
    /// Journal ids: lock table -> (node id -> jid).
    pub journals: BTreeMap<String, BTreeMap<u32, u32>>,
    /// nfsd's client records by epoch (the cld pipe), as nfsdcld keeps them.
    #[serde(default)]
    pub clients: crate::cld::ClientRecords,
    /// This node's nfsd is in grace (its GraceStart answered, its GraceDone not yet): a
    /// restarted daemon tells the cluster so, and grace does not end under it.
    #[serde(default)]
    pub cld_in_grace: bool,
}

impl Durable {
    /// What a state file must satisfy to be used (a daemon refuses to start on one that
    /// does not, and changes nothing on disk): an epoch that can be followed (the next
    /// MDS takes epoch + 1), and no journal held twice in one filesystem.
    pub fn check(&self) -> Result<(), String> {
        if self.epoch == u64::MAX {
            return Err(format!(
                "epoch {} leaves no next epoch (the next MDS would wrap to 0)",
                self.epoch
            ));
        }
        for (table, nodes) in &self.journals {
            let mut seen = std::collections::BTreeMap::new();
            for (node, jid) in nodes {
                if let Some(other) = seen.insert(jid, node) {
                    return Err(format!(
                        "journal {jid} of {table} is held by both node {other} and node {node}"
                    ));
                }
            }
        }
        Ok(())
    }
}

pub struct Store {
    path: PathBuf,
    pub state: Durable,
    /// No state was on disk: this is the daemon's first start here.
    pub fresh: bool,
}

impl Store {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Store> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("state.json");
        let bad = |e: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        };
        let (state, fresh) = match std::fs::read(&path) {
            Ok(b) => {
                let state: Durable = serde_json::from_slice(&b).map_err(|e| bad(e.to_string()))?;
                state.check().map_err(bad)?;
                (state, false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Durable::default(), true),
            Err(e) => return Err(e),
        };
        Ok(Store { path, state, fresh })
    }

    /// Write the state durably.
    pub fn save(&self) -> std::io::Result<()> {
        save_to(&self.path, &self.state)
    }

    /// Where the state lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Write `state` to `path` atomically and durably (blocking: call it off the main loop).
pub fn save_to(path: &Path, state: &Durable) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(state).expect("serializable"))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Group commit off the main loop: the latest snapshot is written, then its version is
/// reported, so acknowledgements wait for durability without blocking the loop.
pub fn spawn_writer(
    path: PathBuf,
    done: tokio::sync::mpsc::Sender<(u64, Result<(), String>)>,
) -> tokio::sync::mpsc::Sender<(u64, Durable)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, Durable)>(4);
    tokio::spawn(async move {
        while let Some((version, state)) = rx.recv().await {
            let p = path.clone();
            let r = tokio::task::spawn_blocking(move || save_to(&p, &state))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            if done.send((version, r)).await.is_err() {
                break;
            }
        }
    });
    tx
}

impl Store {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen() {
        let dir = std::env::temp_dir().join(format!("pnfs-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut s = Store::open(&dir).unwrap();
        assert_eq!(s.state, Durable::default());
        s.state.epoch = 4;
        s.state
            .journals
            .entry("c:fs".into())
            .or_default()
            .insert(2, 1);
        s.save().unwrap();
        let s2 = Store::open(&dir).unwrap();
        assert_eq!(s2.state, s.state);
        std::fs::write(dir.join("state.json"), b"{not json").unwrap();
        assert!(Store::open(&dir).is_err());
        // "Also" of #20: on f506fb8 epoch u64::MAX was taken (the next MDS wrapped to
        // epoch 0) and a journal held by two nodes was taken as it was.
        for (text, want) in [
            (
                r#"{"epoch": 18446744073709551615, "journals": {}}"#,
                "leaves no next epoch",
            ),
            (
                r#"{"epoch": 3, "journals": {"c:fs": {"1": 0, "2": 0}}}"#,
                "journal 0 of c:fs is held by both node 1 and node 2",
            ),
        ] {
            std::fs::write(dir.join("state.json"), text).unwrap();
            let e = Store::open(&dir).err().expect("refused");
            assert!(e.to_string().contains(want), "{e}");
            assert_eq!(
                std::fs::read_to_string(dir.join("state.json")).unwrap(),
                text
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
