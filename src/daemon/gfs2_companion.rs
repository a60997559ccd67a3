//! The GFS2 companion: the gfs2ctl upcalls (mount, unmount, withdraw, recovery
//! done) answered or turned into cluster messages, what unpatched GFS2's uevents say
//! (`crate::gfs2::Gfs2View`), and journal recovery results reported cluster-wide.

use super::*;

impl Daemon {
    /// REPLY to a gfs2ctl upcall: its status and, for a mount, the journal and whether
    /// this node mounts first.
    pub(super) fn reply_gfs2(&mut self, xid: u32, status: i32, jid_first: Option<(u32, bool)>) {
        let h = gfs2ctl::ops::reply::header(self.target.gfs2.id)
            .flags(pnfs_netlink::codec::NLM_F_REQUEST)
            .seq(xid)
            .pid(self.sock.port());
        gfs2ctl::ops::reply::RequestAttrs {
            xid,
            status,
            jid: jid_first.map(|(j, _)| j),
            first: jid_first.map(|(_, f)| f as u8),
        }
        .write(&mut self.out.tx, &h);
    }

    pub(super) fn answer_gfs2(&mut self, w: Waiter, status: i32, jid_first: Option<(u32, bool)>) {
        match w {
            Waiter::Kernel { xid, kind, since } => {
                self.reply_gfs2(xid, status, jid_first);
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
                    self.reply_gfs2(x.u32(), -libc::EINVAL, None);
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
                self.reply_gfs2(xid, -libc::EOPNOTSUPP, None);
                return;
            }
        };
        self.stats.gfs2[kind as usize].received += 1;
        let waiter = Waiter::Kernel {
            xid,
            kind: kind as u32,
            since: start,
        };
        // Each upcall read through its operation's view: a missing attribute the kernel
        // half always puts, or an empty table, is EINVAL.
        use gfs2ctl::ops;
        let einval = -libc::EINVAL;
        match kind {
            gfs2ctl::UpcallKind::Mount => match ops::mount::Request::from_table(t) {
                Ok(r) if !r.table().is_empty() => {
                    let spectator = r.mount_flags() & gfs2ctl::mount_flags::SPECTATOR != 0;
                    self.order_mount(waiter, r.table(), Some(spectator));
                }
                _ => self.answer_gfs2(waiter, einval, None),
            },
            gfs2ctl::UpcallKind::Unmount => match ops::unmount::Request::from_table(t) {
                Ok(r) if !r.table().is_empty() => self.order_mount(waiter, r.table(), None),
                _ => self.answer_gfs2(waiter, einval, None),
            },
            gfs2ctl::UpcallKind::MountDone => match ops::mount_done::Request::from_table(t) {
                Ok(r) if !r.table().is_empty() => {
                    let (table, status) = (r.table(), r.status());
                    self.ring
                        .push(format!("{table}: mount done, status {status}"));
                    self.answer_gfs2(waiter, 0, None);
                }
                _ => self.answer_gfs2(waiter, einval, None),
            },
            gfs2ctl::UpcallKind::Withdraw => match ops::withdraw::Request::from_table(t) {
                Ok(r) if !r.table().is_empty() => {
                    let (table, jid) = (r.table().to_string(), r.jid());
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
                _ => self.answer_gfs2(waiter, einval, None),
            },
            gfs2ctl::UpcallKind::RecoveryDone => match ops::recovery_done::Request::from_table(t) {
                Ok(r) if !r.table().is_empty() => {
                    let (table, jid, status) =
                        (r.table().to_string(), r.jid(), r.recovery_status());
                    self.answer_gfs2(waiter, 0, None);
                    self.send(Msg::RecoveryDone {
                        node: self.view.node,
                        table,
                        jid,
                        status,
                    });
                }
                _ => self.answer_gfs2(waiter, einval, None),
            },
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
