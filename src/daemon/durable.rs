//! The durable store: every change of the replicated state marks a new version
//! (`mark_dirty`); the writer task writes the newest (started from `flush`), a failure
//! is retried with backoff; answers that promise durability (a mount's journal, a
//! client record) wait for their version (`answer_when_saved`).

use super::*;

/// Durable writes: version changed in memory, version on disk, the write in flight,
/// its retry, and the answers that wait for it.
pub(super) struct DurableWrites {
    pub(super) dirty_version: u64,
    pub(super) saved_version: u64,
    pub(super) write_in_flight: bool,
    /// The MDS epoch on disk (what the write in flight carries: `writing_epoch`). This
    /// node grants as MDS only with its epoch durable: a restart must never reuse an
    /// epoch.
    pub(super) epoch: u64,
    pub(super) writing_epoch: u64,
    /// The last write's error, the next retry and the wait after it.
    pub(super) error: Option<String>,
    pub(super) retry: Option<(Instant, Duration)>,
    pub(super) log: crate::ratelog::RateLog,
    pub(super) tx: mpsc::Sender<(u64, crate::store::Durable)>,
    pub(super) saved_rx: mpsc::Receiver<(u64, Result<(), String>)>,
    /// GFS2 answers that wait until the journal assignment is on disk.
    pub(super) after_save: Vec<AfterSave>,
}

impl Daemon {
    pub(super) fn mark_dirty(&mut self) {
        self.durable.dirty_version += 1;
    }

    pub(super) fn on_saved(&mut self, version: u64, r: Result<(), String>) {
        self.durable.write_in_flight = false;
        let status = match r {
            Ok(()) => {
                self.durable.saved_version = self.durable.saved_version.max(version);
                self.durable.epoch = self.durable.epoch.max(self.durable.writing_epoch);
                if self.durable.error.take().is_some() {
                    self.ring.push("durable state written again".into());
                    tracing::info!("durable state written again");
                }
                self.durable.retry = None;
                0
            }
            Err(e) => {
                // Retry with backoff (the tick flushes), log at a bounded rate.
                let wait = self
                    .durable
                    .retry
                    .map_or(SAVE_BACKOFF_MIN, |(_, w)| (w * 2).min(SAVE_BACKOFF_MAX));
                self.durable.retry = Some((Instant::now() + wait, wait));
                if let Some(left_out) = self.durable.log.allow() {
                    self.ring.push(format!(
                        "durable state not written: {e} (retry in {wait:?}; {left_out} failures not logged)"
                    ));
                    tracing::error!(
                        left_out,
                        "durable state not written: {e}; retry in {wait:?}"
                    );
                }
                self.durable.error = Some(e);
                -libc::EIO
            }
        };
        let ready: Vec<_> = {
            let (ready, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.durable.after_save)
                .into_iter()
                .partition(|(v, ..)| *v <= version);
            self.durable.after_save = keep;
            ready
        };
        for (_, w, st, mount) in ready {
            let st = if status != 0 { status } else { st };
            if st == 0 {
                self.answer_gfs2(w, st, mount.map(|(_, j, f)| (j, f)));
                continue;
            }
            self.answer_gfs2(w, st, None);
            if let Some((table, jid, _)) = mount {
                // The kernel half was refused the mount: give back the journal it took
                // (every node applies the Unmount in the same order), keep nothing of it.
                self.ring.push(format!(
                    "{table}: mount refused (journal assignment not durable); releasing jid {jid}"
                ));
                self.journals.local_mounts.remove(&table);
                let req = self.next_id();
                self.send(Msg::Unmount {
                    req,
                    node: self.view.node,
                    table,
                });
            }
        }
        let (ready, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cld.after_save)
            .into_iter()
            .partition(|(v, ..)| *v <= version);
        self.cld.after_save = keep;
        for (_, ok, err) in ready {
            self.cld_send(if status == 0 { ok } else { err });
        }
    }

    /// Answer once the current state is durable.
    pub(super) fn answer_when_saved(
        &mut self,
        w: Waiter,
        status: i32,
        mount: Option<(String, u32, bool)>,
    ) {
        if self.durable.dirty_version <= self.durable.saved_version {
            self.answer_gfs2(w, status, mount.map(|(_, j, f)| (j, f)));
        } else {
            self.durable
                .after_save
                .push((self.durable.dirty_version, w, status, mount));
        }
    }
}
