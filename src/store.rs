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
        let (state, fresh) = match std::fs::read(&path) {
            Ok(b) => (
                serde_json::from_slice(&b).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?,
                false,
            ),
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
