//! pNFS upcalls (GET_STATE, GET_DEVICE_INFO, LAYOUT_GET, LAYOUT_RETURN/COMMIT,
//! STATE_CHANGED): each decided by `crate::decide` as the fast path decides it; a state
//! query the cache cannot answer goes to the MDS (its own kernel half or over the
//! cluster), identical queries in flight asked once; revokes and STATE_CHANGED
//! invalidate every member's cache before the answer.

use super::*;

/// Questions in flight: upcalls parked for the MDS's answer, and invalidations waiting
/// for every member's ack.
pub(super) struct Queries {
    pub(super) parked: HashMap<u64, Parked>,
    /// State queries in flight, by what they ask: the first qid's answer answers them
    /// all (a burst of misses for one stateid is one question to the MDS, not thousands
    /// queued behind each other in the downcall worker until the kernel half gives up).
    pub(super) asking: HashMap<QueryKey, Vec<u64>>,
    pub(super) invals: HashMap<u64, InvalWait>,
    /// Operators' drains on their way through the cluster: answered when they come back.
    pub(super) drains: HashMap<u64, oneshot::Sender<Value>>,
}

impl Daemon {
    pub(super) fn on_datagram(&mut self, buf: &[u8]) {
        for m in Messages::new(buf) {
            let Ok(m) = m else {
                self.stats.malformed += 1;
                break;
            };
            let kind = m.header.kind;
            if kind == NLMSG_ERROR {
                if let Ok(e) = ErrorMsg::parse(m) {
                    if e.error != 0 {
                        self.stats.reply_errors += 1;
                        self.ring.push(format!(
                            "kernel half refused a message: {} ({})",
                            e.message.unwrap_or("no message"),
                            std::io::Error::from_raw_os_error(-e.error)
                        ));
                    }
                }
                continue;
            }
            let Ok(g) = GenlMsg::parse(m) else {
                self.stats.malformed += 1;
                continue;
            };
            if kind == self.target.pnfsd.id {
                self.on_pnfsd(&g);
            } else if kind == self.target.gfs2.id {
                self.on_gfs2(&g);
            }
        }
    }

    /// Start a REPLY to the kernel half.
    pub(super) fn reply_pnfsd(&mut self, xid: u32, status: Nfsstat) -> MsgBuilder<'_> {
        let port = self.sock.port();
        fastpath::reply(&mut self.out.tx, self.target.pnfsd.id, port, xid, status)
    }

    pub(super) fn on_pnfsd(&mut self, g: &GenlMsg<'_>) {
        use pnfsd::{attr as a, cmd};
        let t = match PnfsdAttrs::parse(g.attrs, &pnfsd::PNFSD_POLICY) {
            Ok(t) => t,
            Err(e) => {
                self.stats.malformed += 1;
                self.ring.push(format!("malformed pnfsd upcall: {e}"));
                // Answer INVAL if at least the xid can be found, so nothing waits.
                if let Some(Ok(x)) = pnfs_netlink::AttrIter::new(g.attrs)
                    .find(|x| x.as_ref().is_ok_and(|x| x.kind == a::XID))
                {
                    self.reply_pnfsd(x.u32(), Nfsstat::Inval).finish();
                }
                return;
            }
        };
        let Some(xid) = t.u32(a::XID) else {
            if g.cmd() != cmd::REGISTER {
                self.stats.malformed += 1;
            }
            return; // REGISTER replies to our re-registration carry no xid
        };
        let start = Instant::now();
        let kind = match g.cmd() {
            cmd::GET_STATE => pnfsd::UpcallKind::GetState,
            cmd::GET_DEVICE_INFO => pnfsd::UpcallKind::GetDeviceInfo,
            cmd::LAYOUT_GET => pnfsd::UpcallKind::LayoutGet,
            cmd::LAYOUT_RETURN => pnfsd::UpcallKind::LayoutReturn,
            cmd::LAYOUT_COMMIT => pnfsd::UpcallKind::LayoutCommit,
            cmd::STATE_CHANGED => pnfsd::UpcallKind::StateChanged,
            other => {
                self.stats.malformed += 1;
                self.ring.push(format!(
                    "unexpected pnfsd command {other} from the kernel half"
                ));
                self.reply_pnfsd(xid, Nfsstat::Inval).finish();
                return;
            }
        };
        self.stats.pnfsd[kind as usize].received += 1;
        // Each upcall read through its operation's view: an attribute the kernel half
        // always puts that is missing is answered INVAL.
        use pnfsd::ops;
        let answered = match kind {
            pnfsd::UpcallKind::GetState => match ops::get_state::Request::from_table(t) {
                Ok(r) => self.get_state(r, start),
                Err(_) => self.refuse(xid),
            },
            pnfsd::UpcallKind::GetDeviceInfo => {
                match ops::get_device_info::Request::from_table(t) {
                    Ok(r) => self.get_device_info(r),
                    Err(_) => self.refuse(xid),
                }
            }
            pnfsd::UpcallKind::LayoutGet => match ops::layout_get::Request::from_table(t) {
                Ok(r) => self.layout_get(r),
                Err(_) => self.refuse(xid),
            },
            pnfsd::UpcallKind::LayoutReturn => match ops::layout_return::Request::from_table(t) {
                Ok(_) => self.layout_done(xid),
                Err(_) => self.refuse(xid),
            },
            pnfsd::UpcallKind::LayoutCommit => match ops::layout_commit::Request::from_table(t) {
                Ok(_) => self.layout_done(xid),
                Err(_) => self.refuse(xid),
            },
            pnfsd::UpcallKind::StateChanged => match ops::state_changed::Request::from_table(t) {
                Ok(r) => self.state_changed(r, start),
                Err(_) => self.refuse(xid),
            },
        };
        if let Some(st) = answered {
            self.stats
                .pnfsd_answered(kind as u32, st as u32, start.elapsed());
        }
    }

    /// GET_STATE: cache, else the MDS (own kernel or over the cluster).
    /// An upcall without what its operation needs: INVAL, so nothing waits.
    fn refuse(&mut self, xid: u32) -> Option<Nfsstat> {
        self.reply_pnfsd(xid, Nfsstat::Inval).finish();
        Some(Nfsstat::Inval)
    }

    /// LAYOUT_RETURN and LAYOUT_COMMIT: the MDS takes them while it grants.
    fn layout_done(&mut self, xid: u32) -> Option<Nfsstat> {
        let st = if !self.granting() {
            Nfsstat::Delay
        } else if self.is_mds() {
            Nfsstat::Ok
        } else {
            Nfsstat::Inval
        };
        self.reply_pnfsd(xid, st).finish();
        Some(st)
    }

    /// GET_STATE: cache, else the MDS (own kernel or over the cluster).
    pub(super) fn get_state(
        &mut self,
        r: pnfsd::ops::get_state::Request<'_>,
        start: Instant,
    ) -> Option<Nfsstat> {
        let xid = r.xid();
        let q = fastpath::StateQuery::of(&r);
        let (fsid, fileid, stateid, clientid) = (q.fsid, q.fileid, q.stateid, q.clientid);
        let decided = {
            let hot = self.fast.read();
            decide::get_state(&*self, &q, Some(r.boot_epoch()), |k| {
                hot.cache.get(k).copied()
            })
        };
        match decided {
            StateDecision::Refused(st) => {
                self.reply_pnfsd(xid, st).finish();
                return Some(st);
            }
            StateDecision::Cached(st, e) => {
                self.stats.cache_hits += 1;
                let port = self.sock.port();
                fastpath::put_state(
                    &mut self.out.tx,
                    self.target.pnfsd.id,
                    port,
                    xid,
                    st,
                    &e,
                    clientid,
                );
                return Some(st);
            }
            StateDecision::AskMds => {}
        }
        self.stats.cache_misses += 1;
        if self.queries.parked.len() >= self.cfg.max_parked {
            self.reply_pnfsd(xid, Nfsstat::Delay).finish();
            return Some(Nfsstat::Delay);
        }
        let qid = self.next_id();
        let waiter = Waiter::Kernel {
            xid,
            kind: pnfsd::UpcallKind::GetState as u32,
            since: start,
        };
        self.ask_mds(qid, waiter, fsid, fileid, stateid, clientid);
        None
    }

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        ((self.view.node as u64) << 40) | (self.next_id & ((1 << 40) - 1))
    }

    pub(super) fn ask_mds(
        &mut self,
        qid: u64,
        waiter: Waiter,
        fsid: u64,
        fileid: u64,
        stateid: [u8; 16],
        clientid: u64,
    ) {
        self.queries.parked.insert(
            qid,
            Parked {
                waiter,
                since: Instant::now(),
            },
        );
        let key = (fsid, fileid, stateid, clientid);
        if let Some(qids) = self.queries.asking.get_mut(&key) {
            if qids
                .first()
                .is_some_and(|q| self.queries.parked.contains_key(q))
            {
                qids.push(qid);
                return;
            }
            // Its first asker was answered DELAY (timed out): ask again, for all.
            qids.insert(0, qid);
        } else {
            self.queries.asking.insert(key, vec![qid]);
        }
        if self.is_mds() {
            self.check_state(qid, self.view.node, (fsid, fileid, stateid, clientid));
        } else {
            self.send(Msg::StateQuery {
                qid,
                from: self.view.node,
                fsid,
                fileid,
                stateid,
                clientid,
            });
        }
    }

    /// Who waits for the answer to query `qid` about `key`: `qid` and, if it is the one
    /// that asked for all, those who asked the same after it. They are no longer asking.
    pub(super) fn askers(&mut self, qid: u64, key: QueryKey) -> Vec<u64> {
        match self.queries.asking.get(&key) {
            Some(qids) if qids.first() == Some(&qid) => self.queries.asking.remove(&key).unwrap(),
            _ => vec![qid],
        }
    }

    pub(super) fn answer_state(&mut self, w: Waiter, st: Nfsstat, e: Option<(CacheEntry, u64)>) {
        match w {
            Waiter::Kernel { xid, kind, since } => {
                let h = fastpath::reply_header(self.target.pnfsd.id, self.sock.port(), xid);
                pnfsd::ops::get_state::ReplyAttrs {
                    xid,
                    status: st as u32,
                    access: e.map(|(e, _)| e.access),
                    generation: e.map(|(e, _)| e.generation),
                    clientid: e.map(|(_, c)| c),
                    verifier: e.map(|(e, _)| e.verifier),
                }
                .write(&mut self.out.tx, &h);
                self.stats.pnfsd_answered(kind, st as u32, since.elapsed());
            }
            Waiter::Control(tx) => {
                let mut v = json!({ "status": st.name(), "status_code": st as u32 });
                if let Some((e, clientid)) = e {
                    v["access"] = json!(e.access);
                    v["generation"] = json!(e.generation);
                    v["clientid"] = json!(clientid);
                    v["verifier"] = json!(e.verifier);
                    v["epoch"] = json!(e.epoch);
                }
                let _ = tx.send(v);
            }
        }
    }

    /// GET_DEVICE_INFO: a member's data server addresses.
    pub(super) fn get_device_info(
        &mut self,
        r: pnfsd::ops::get_device_info::Request<'_>,
    ) -> Option<Nfsstat> {
        let (xid, id) = (r.xid(), r.device_id());
        // The answer borrows the peers while the REPLY is built in `tx`: take it out for
        // that (no allocation; it goes back with its capacity).
        let mut tx = std::mem::take(&mut self.out.tx);
        let (st, addrs) = decide::get_device_info(&*self, device_node(id));
        // Build directly into tx: no allocation for the address list.
        fastpath::put_device(
            &mut tx,
            self.target.pnfsd.id,
            self.sock.port(),
            xid,
            st,
            addrs,
        );
        self.out.tx = tx;
        Some(st)
    }

    /// LAYOUT_GET: the MDS grants a layout on one data server (`decide::layout_get`).
    pub(super) fn layout_get(&mut self, r: pnfsd::ops::layout_get::Request<'_>) -> Option<Nfsstat> {
        let pick = match decide::layout_get(&*self, r.fileid()) {
            Ok(pick) => pick,
            Err(st) => {
                self.reply_pnfsd(r.xid(), st).finish();
                return Some(st);
            }
        };
        let port = self.sock.port();
        fastpath::put_layout(
            &mut self.out.tx,
            self.target.pnfsd.id,
            port,
            self.view.node,
            pick,
            &r,
        );
        Some(Nfsstat::Ok)
    }

    /// STATE_CHANGED on the MDS: every cache drops the state before the kernel is told
    /// it is done (acks from every member).
    pub(super) fn state_changed(
        &mut self,
        r: pnfsd::ops::state_changed::Request<'_>,
        start: Instant,
    ) -> Option<Nfsstat> {
        let (xid, clientid, fsid, fileid, stateid) =
            (r.xid(), r.clientid(), r.fsid(), r.fileid(), r.stateid());
        if !self.view.quorate {
            self.reply_pnfsd(xid, Nfsstat::Delay).finish();
            return Some(Nfsstat::Delay);
        }
        let waiter = Waiter::Kernel {
            xid,
            kind: pnfsd::UpcallKind::StateChanged as u32,
            since: start,
        };
        self.invalidate(
            clientid,
            fsid,
            fileid,
            Some(stateid[4..].try_into().unwrap()),
            waiter,
            1,
        );
        None
    }

    pub(super) fn invalidate(
        &mut self,
        clientid: u64,
        fsid: u64,
        fileid: u64,
        other: Option<[u8; 12]>,
        waiter: Waiter,
        count: u32,
    ) {
        let iid = self.next_id();
        self.queries.invals.insert(
            iid,
            InvalWait {
                waiting: self.view.members.iter().copied().collect(),
                waiter: Some(waiter),
                count,
            },
        );
        self.send(Msg::Invalidate {
            iid,
            origin: self.view.node,
            clientid,
            fsid,
            fileid,
            other,
        });
    }

    pub(super) fn maybe_finish_inval(&mut self, iid: u64) {
        if self
            .queries
            .invals
            .get(&iid)
            .is_some_and(|w| w.waiting.is_empty())
        {
            let mut w = self.queries.invals.remove(&iid).unwrap();
            match w.waiter.take() {
                Some(Waiter::Control(tx)) => {
                    let _ = tx.send(json!({ "revoked": w.count, "acknowledged_by_all": true }));
                }
                Some(k) => self.answer_state(k, Nfsstat::Ok, None),
                None => {}
            }
        }
    }

    pub(super) fn on_downcall(&mut self, tag: Tag, d: Down, r: Result<DownOut, String>) {
        match (tag, r) {
            (Tag::Fire, Ok(_)) => {}
            (Tag::Fire, Err(e)) => {
                self.ring.push(format!("downcall {d:?} failed: {e}"));
                tracing::warn!("downcall {d:?} failed: {e}");
            }
            (
                Tag::Query {
                    qid,
                    to,
                    fsid,
                    fileid,
                    stateid,
                    clientid,
                    since,
                },
                r,
            ) => {
                let checked = since.elapsed();
                let (status, access, generation, verifier, epoch) = match r {
                    Ok(DownOut::State {
                        status,
                        access,
                        generation,
                        verifier,
                        ..
                    }) => (status, access, generation, verifier, self.view.mds_epoch),
                    Ok(_) | Err(_) => (Nfsstat::Delay as u32, 0, 0, 0, self.view.mds_epoch),
                };
                if to == self.view.node && !self.view.quorate {
                    for q in self.askers(qid, (fsid, fileid, stateid, clientid)) {
                        if let Some(p) = self.queries.parked.remove(&q) {
                            self.answer_state(p.waiter, Nfsstat::Delay, None);
                        }
                    }
                    return;
                }
                let sent = self.send(Msg::StateAnswer {
                    qid,
                    to,
                    fsid,
                    fileid,
                    stateid,
                    clientid,
                    status,
                    access,
                    generation,
                    verifier,
                    epoch,
                });
                if sent {
                    let c = &mut self.stats.mds_checks;
                    c.answered += 1;
                    c.kernel.record(checked.as_nanos() as u64);
                    c.answer.record(since.elapsed().as_nanos() as u64);
                }
            }
            (
                Tag::Revoke {
                    clientid,
                    one,
                    waiter,
                },
                Ok(DownOut::Count(n)),
            ) => {
                let (fsid, fileid, other) = match one {
                    Some((f, i, s)) => (f, i, Some(s[4..].try_into().unwrap())),
                    None => (0, 0, None),
                };
                self.invalidate(clientid, fsid, fileid, other, waiter, n);
            }
            (Tag::Revoke { waiter, .. }, r) => {
                let err = match r {
                    Err(e) => e,
                    Ok(o) => format!("unexpected answer {o:?}"),
                };
                if let Waiter::Control(tx) = waiter {
                    let _ = tx.send(json!({ "error": err }));
                }
            }
        }
    }

    pub(super) fn on_state_query(
        &mut self,
        qid: u64,
        asker: NodeId,
        fsid: u64,
        fileid: u64,
        stateid: [u8; 16],
        clientid: u64,
    ) {
        if self.is_mds() {
            self.check_state(qid, asker, (fsid, fileid, stateid, clientid));
        }
    }

    /// The MDS asks its kernel half about a state (STATE_CHECK) for query `qid` of node
    /// `to`; the answer goes back to `to` (`on_downcall`, `Tag::Query`).
    fn check_state(&mut self, qid: u64, to: NodeId, key: QueryKey) {
        let (fsid, fileid, stateid, clientid) = key;
        let tag = Tag::Query {
            qid,
            to,
            fsid,
            fileid,
            stateid,
            clientid,
            since: Instant::now(),
        };
        self.downcall(
            tag,
            Down::StateCheck {
                fsid,
                fileid,
                stateid,
                clientid,
            },
        );
    }

    /// The MDS's answer to a state query (every node caches an OK answer of the
    /// current epoch; the asker answers whoever waits for it).
    #[allow(clippy::too_many_arguments)] // the message's fields, as the wire has them
    pub(super) fn on_state_answer(
        &mut self,
        qid: u64,
        to: NodeId,
        fsid: u64,
        fileid: u64,
        stateid: [u8; 16],
        clientid: u64,
        status: u32,
        access: u32,
        generation: u32,
        verifier: u64,
        epoch: u64,
    ) {
        let key: StateKey = (clientid, fsid, fileid, stateid[4..].try_into().unwrap());
        let entry = CacheEntry {
            generation,
            access,
            verifier,
            epoch,
        };
        if cache::cacheable(status, epoch, self.view.mds_epoch) {
            let mut hot = self.fast.write();
            if hot.cache.len() < self.cfg.max_cache {
                hot.cache.insert(key, entry);
            }
        }
        if to == self.view.node {
            let st = Nfsstat::from_u32(status).unwrap_or(Nfsstat::Io);
            let e = (st == Nfsstat::Ok || st == Nfsstat::OldStateid).then_some((entry, clientid));
            for q in self.askers(qid, (fsid, fileid, stateid, clientid)) {
                if let Some(p) = self.queries.parked.remove(&q) {
                    self.answer_state(p.waiter, st, e);
                }
            }
        }
    }

    pub(super) fn on_invalidate_ack(&mut self, iid: u64, origin: NodeId, node: NodeId) {
        if origin == self.view.node {
            if let Some(w) = self.queries.invals.get_mut(&iid) {
                w.waiting.remove(&node);
            }
            self.maybe_finish_inval(iid);
        }
    }

    /// Tick: state queries the MDS has not answered in time are answered DELAY.
    pub(super) fn expire_queries(&mut self, limit: Duration) {
        let expired: Vec<u64> = self
            .queries
            .parked
            .iter()
            .filter(|(_, p)| p.since.elapsed() > limit)
            .map(|(q, _)| *q)
            .collect();
        for q in expired {
            if let Some(p) = self.queries.parked.remove(&q) {
                self.stats.query_timeouts += 1;
                self.answer_state(p.waiter, Nfsstat::Delay, None);
            }
        }
        let parked = &self.queries.parked;
        self.queries
            .asking
            .retain(|_, qids| qids.iter().any(|q| parked.contains_key(q)));
    }

    /// Acks no longer expected from departed members.
    pub(super) fn no_acks_from(&mut self, left: &[(NodeId, LeaveReason)]) {
        let gone: Vec<NodeId> = left.iter().map(|(n, _)| *n).collect();
        let iids: Vec<u64> = self.queries.invals.keys().copied().collect();
        for iid in iids {
            if let Some(w) = self.queries.invals.get_mut(&iid) {
                w.waiting.retain(|n| !gone.contains(n));
            }
            self.maybe_finish_inval(iid);
        }
    }
}
