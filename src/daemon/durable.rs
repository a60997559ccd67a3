//! The durable store: every change of the replicated state marks a new version
//! (`mark_dirty`); the writer task writes the newest (started from `flush`), a failure
//! is retried with backoff; answers that promise durability (a mount's journal, a
//! client record) wait for their version (`answer_when_saved`).

use super::*;

impl Daemon {
    pub(super) fn mark_dirty(&mut self) {
        self.dirty_version += 1;
    }

    pub(super) fn on_saved(&mut self, version: u64, r: Result<(), String>) {
        self.write_in_flight = false;
        let status = match r {
            Ok(()) => {
                self.saved_version = self.saved_version.max(version);
                self.durable_epoch = self.durable_epoch.max(self.writing_epoch);
                if self.save_error.take().is_some() {
                    self.ring.push("durable state written again".into());
                    tracing::info!("durable state written again");
                }
                self.save_retry = None;
                0
            }
            Err(e) => {
                // Retry with backoff (the tick flushes), log at a bounded rate.
                let wait = self
                    .save_retry
                    .map_or(SAVE_BACKOFF_MIN, |(_, w)| (w * 2).min(SAVE_BACKOFF_MAX));
                self.save_retry = Some((Instant::now() + wait, wait));
                if let Some(left_out) = self.save_log.allow() {
                    self.ring.push(format!(
                        "durable state not written: {e} (retry in {wait:?}; {left_out} failures not logged)"
                    ));
                    tracing::error!(
                        left_out,
                        "durable state not written: {e}; retry in {wait:?}"
                    );
                }
                self.save_error = Some(e);
                -libc::EIO
            }
        };
        let ready: Vec<_> = {
            let (ready, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.after_save)
                .into_iter()
                .partition(|(v, ..)| *v <= version);
            self.after_save = keep;
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
                self.local_mounts.remove(&table);
                let req = self.next_id();
                self.send(Msg::Unmount {
                    req,
                    node: self.node,
                    table,
                });
            }
        }
        let (ready, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cld_after_save)
            .into_iter()
            .partition(|(v, ..)| *v <= version);
        self.cld_after_save = keep;
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
        if self.dirty_version <= self.saved_version {
            self.answer_gfs2(w, status, mount.map(|(_, j, f)| (j, f)));
        } else {
            self.after_save.push((self.dirty_version, w, status, mount));
        }
    }
}
