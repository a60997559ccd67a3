//! The GFS2 companion: the gfs2ctl upcalls (mount, unmount, withdraw, recovery
//! done) answered or turned into cluster messages, what unpatched GFS2's uevents say
//! (`crate::gfs2::Gfs2View`), and journal recovery results reported cluster-wide.

use super::*;

impl Daemon {
    pub(super) fn reply_gfs2(&mut self, xid: u32, status: i32) -> MsgBuilder<'_> {
        let mut b = MsgBuilder::genl(
            &mut self.out.tx,
            self.target.gfs2.id,
            pnfs_netlink::codec::NLM_F_REQUEST,
            xid,
            self.sock.port(),
            gfs2ctl::cmd::REPLY,
            1,
        );
        b.put_u32(gfs2ctl::attr::XID, xid)
            .put_i32(gfs2ctl::attr::STATUS, status);
        b
    }

    pub(super) fn answer_gfs2(&mut self, w: Waiter, status: i32, jid_first: Option<(u32, bool)>) {
        match w {
            Waiter::Kernel { xid, kind, since } => {
                let mut b = self.reply_gfs2(xid, status);
                if let Some((jid, first)) = jid_first {
                    b.put_u32(gfs2ctl::attr::JID, jid)
                        .put_u8(gfs2ctl::attr::FIRST, first as u8);
                }
                b.finish();
                self.stats.gfs2_answered(kind, status, since.elapsed());
            }
            Waiter::Control(tx) => {
                let _ = tx.send(json!({ "status": status, "jid": jid_first.map(|j| j.0), "first": jid_first.map(|j| j.1) }));
            }
        }
    }

    pub(super) fn on_gfs2(&mut self, g: &GenlMsg<'_>) {
        use gfs2ctl::{attr as a, cmd};
        let t = match Gfs2Attrs::parse(g.attrs, &gfs2ctl::GFS2CTL_POLICY) {
            Ok(t) => t,
            Err(e) => {
                self.stats.malformed += 1;
                self.ring.push(format!("malformed gfs2ctl upcall: {e}"));
                if let Some(Ok(x)) = pnfs_netlink::AttrIter::new(g.attrs)
                    .find(|x| x.as_ref().is_ok_and(|x| x.kind == a::XID))
                {
                    self.reply_gfs2(x.u32(), -libc::EINVAL).finish();
                }
                return;
            }
        };
        let Some(xid) = t.u32(a::XID) else { return };
        let start = Instant::now();
        let kind = match g.cmd() {
            cmd::MOUNT => gfs2ctl::UpcallKind::Mount,
            cmd::MOUNT_DONE => gfs2ctl::UpcallKind::MountDone,
            cmd::UNMOUNT => gfs2ctl::UpcallKind::Unmount,
            cmd::WITHDRAW => gfs2ctl::UpcallKind::Withdraw,
            cmd::RECOVERY_DONE => gfs2ctl::UpcallKind::RecoveryDone,
            _ => {
                self.reply_gfs2(xid, -libc::EOPNOTSUPP).finish();
                return;
            }
        };
        self.stats.gfs2[kind as usize].received += 1;
        let waiter = Waiter::Kernel {
            xid,
            kind: kind as u32,
            since: start,
        };
        let Some(table) = t.str(a::TABLE).filter(|s| !s.is_empty()) else {
            self.answer_gfs2(waiter, -libc::EINVAL, None);
            return;
        };
        match kind {
            gfs2ctl::UpcallKind::Mount => {
                let spectator =
                    t.u32(a::MOUNT_FLAGS).unwrap_or(0) & gfs2ctl::mount_flags::SPECTATOR != 0;
                self.order_mount(waiter, table, Some(spectator));
            }
            gfs2ctl::UpcallKind::Unmount => self.order_mount(waiter, table, None),
            gfs2ctl::UpcallKind::MountDone => {
                let status = t.i32(a::STATUS).unwrap_or(0);
                self.ring
                    .push(format!("{table}: mount done, status {status}"));
                self.answer_gfs2(waiter, 0, None);
            }
            gfs2ctl::UpcallKind::Withdraw => {
                let jid = t.u32(a::JID).unwrap_or(0);
                let table = table.to_string();
                self.ring
                    .push(format!("{table}: WITHDRAW (jid {jid}) acknowledged"));
                tracing::warn!(table, jid, "gfs2 withdraw acknowledged");
                self.answer_gfs2(waiter, 0, None);
                self.send(Msg::Withdraw {
                    node: self.view.node,
                    table,
                    jid,
                });
            }
            gfs2ctl::UpcallKind::RecoveryDone => {
                let jid = t.u32(a::JID).unwrap_or(0);
                let status = t
                    .u32(a::RECOVERY_STATUS)
                    .unwrap_or(gfs2ctl::RecoveryStatus::Failed as u32);
                let table = table.to_string();
                self.answer_gfs2(waiter, 0, None);
                self.send(Msg::RecoveryDone {
                    node: self.view.node,
                    table,
                    jid,
                    status,
                });
            }
        }
    }

    /// MOUNT (`spectator` Some) and UNMOUNT change the journal map: they go to the
    /// cluster, with quorum only; the kernel half is answered when they come back in the
    /// agreed order (`journals`).
    fn order_mount(&mut self, waiter: Waiter, table: &str, spectator: Option<bool>) {
        if !self.view.quorate {
            self.answer_gfs2(waiter, -libc::EAGAIN, None);
            return;
        }
        let req = self.next_id();
        let table = table.to_string();
        self.journals.mounts_parked.insert(req, waiter);
        let node = self.view.node;
        self.send(match spectator {
            Some(spectator) => Msg::Mount {
                req,
                node,
                table,
                spectator,
            },
            None => Msg::Unmount { req, node, table },
        });
    }

    /// A uevent of GFS2 or the DLM (the watcher filtered the rest).
    pub(super) fn on_uevent(&mut self, b: &[u8]) {
        let ev = match crate::gfs2::Uevent::parse(b) {
            Ok(ev) => ev,
            Err(e) => return self.ring.push(format!("uevent dropped: {e}")),
        };
        let (line, action) = self.gfs2.apply(&ev);
        // A journal recovery's result goes to every node (GFS2 tells only this one).
        if ev.action == "change" && ev.subsystem() == "gfs2" {
            if let (Some(table), Some((jid, result))) = (ev.get("LOCKTABLE"), ev.recovery()) {
                self.send(Msg::FsRecovery {
                    node: self.view.node,
                    table: table.to_string(),
                    jid,
                    result: result.to_string(),
                });
            }
        }
        if let Some(l) = line {
            if ev.action == "offline" {
                tracing::warn!("{l}");
            }
            self.ring.push(l);
        }
        if let Some(a) = action {
            let l = self.gfs2.act(&a);
            tracing::warn!("{l}");
            self.ring.push(l);
        }
    }

    pub(super) fn on_fs_recovery(&mut self, node: NodeId, table: String, jid: u32, result: String) {
        let l = self.gfs2.cluster_recovery(crate::gfs2::ClusterRecovery {
            node,
            table,
            jid,
            result,
        });
        self.ring.push(l);
    }

    pub(super) fn on_withdrawn(&mut self, node: NodeId, table: String, jid: u32) {
        self.ring
            .push(format!("{table}: node {node} withdrew (jid {jid})"));
    }

    /// Tick: mount and unmount requests the cluster has not ordered in time.
    pub(super) fn expire_mounts(&mut self, limit: Duration) {
        // A MOUNT or UNMOUNT the cluster has not ordered within the query timeout (the
        // ring is re-forming after a node death): answer now, before the kernel half's
        // own timeout, rather than late. A mount fails with EAGAIN (its journal, if the
        // request is delivered after all, is released again: `on_mount`); an unmount
        // succeeds (the kernel unmounts anyway; the journal is released in cluster
        // order when the request is delivered).
        let stale: Vec<(u64, bool)> = self
            .journals
            .mounts_parked
            .iter()
            .filter_map(|(r, w)| match w {
                Waiter::Kernel { kind, since, .. } if since.elapsed() > limit => {
                    Some((*r, *kind == gfs2ctl::UpcallKind::Mount as u32))
                }
                _ => None,
            })
            .collect();
        for (r, is_mount) in stale {
            if let Some(w) = self.journals.mounts_parked.remove(&r) {
                self.stats.query_timeouts += 1;
                if is_mount {
                    self.journals.mounts_expired.insert(r);
                    self.answer_gfs2(w, -libc::EAGAIN, None);
                } else {
                    self.answer_gfs2(w, 0, None);
                }
            }
        }
    }
}
