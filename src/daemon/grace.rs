//! Grace: nfsd's grace period coordinated across the cluster (ganesha's
//! rados_cluster model: epochs current/recovery, per-node NEED and ENFORCING flags
//! replicated by Grace messages), and the MDS's own grace after it takes an epoch. The
//! end-of-grace rule is the pure functions at the end (`still_needing`,
//! `grace_may_end`), unit-tested below.

use super::*;

/// The cluster's grace as this node knows it (the epochs and client records are
/// durable: `Store`).
pub(super) struct Grace {
    /// Each member's flags (GRACE_NEED, GRACE_ENFORCING), replicated by the Grace
    /// messages in the cluster's agreed order.
    pub(super) nodes: BTreeMap<NodeId, u8>,
    /// GraceDone requests of our nfsd, answered when the cluster's grace ends.
    pub(super) done_held: Vec<Vec<u8>>,
    /// The last grace decisions (bounded), numbered from 1 by `seq`.
    pub(super) events: std::collections::VecDeque<Value>,
    pub(super) seq: u64,
}

impl Daemon {
    /// Grace decisions go to the log, the event ring and (`what` non-empty) the grace
    /// events `pnfsctl monitor grace` follows, with the epochs after the decision.
    pub(super) fn grace_log(&mut self, what: &'static str, node: NodeId, s: String) {
        tracing::info!("{s}");
        if !what.is_empty() {
            self.grace.seq += 1;
            let c = &self.store.state.clients;
            if self.grace.events.len() == GRACE_EVENTS {
                self.grace.events.pop_front();
            }
            self.grace.events.push_back(json!({
                "seq": self.grace.seq,
                "what": what,
                "node": node,
                "current_epoch": c.current,
                "recovery_epoch": c.recovery,
                "text": s,
            }));
        }
        self.ring.push(s);
    }

    /// A node's nfsd started or finished grace (in the agreed order, on every node).
    pub(super) fn on_grace(&mut self, node: NodeId, req: u64, op: u8) {
        let c = &mut self.store.state.clients;
        match op {
            grace_op::START => {
                // The nodes whose nfsds serve out of grace: their clients stay confirmed.
                let serving: Vec<NodeId> = self
                    .view
                    .members
                    .iter()
                    .copied()
                    .filter(|n| {
                        *n != node
                            && self
                                .grace
                                .nodes
                                .get(n)
                                .is_none_or(|f| f & GRACE_ENFORCING == 0)
                    })
                    .collect();
                let new = c.grace_start(node, &serving);
                let (cur, rec) = (c.current, c.recovery);
                if new {
                    self.grace_log("begin", node, format!(
                        "grace: node {node}'s nfsd started: cluster grace begins, epoch {cur} recovering epoch {rec}"
                    ));
                } else {
                    self.grace_log(
                        "join",
                        node,
                        format!(
                        "grace: node {node}'s nfsd started: joins the grace recovering epoch {rec}"
                    ),
                    );
                }
                self.grace.nodes.insert(node, GRACE_NEED | GRACE_ENFORCING);
                self.mark_dirty();
                if node == self.view.node {
                    self.store.state.cld_in_grace = true;
                    let open: Vec<NodeId> = self
                        .view
                        .members
                        .iter()
                        .copied()
                        .filter(|n| {
                            self.grace
                                .nodes
                                .get(n)
                                .is_none_or(|f| f & GRACE_ENFORCING == 0)
                        })
                        .collect();
                    if !open.is_empty() {
                        // Unpatched nfsd cannot re-enter grace once out of it: say so.
                        self.grace_log("unenforced", node, format!(
                            "grace: nodes {open:?} are not in grace (an nfsd out of grace cannot re-enter it without a restart): their clients are not held off"
                        ));
                    }
                    let c = &self.store.state.clients;
                    let upload = c.reclaimable();
                    let line = format!(
                        "cld: grace starts: epoch {} recovering epoch {} ({} client(s) may reclaim)",
                        c.current,
                        c.recovery,
                        upload.len()
                    );
                    self.ring.push(line);
                    self.cld_answer_after_save(req, move |m| {
                        let mut v: Vec<Vec<u8>> = upload
                            .iter()
                            .map(|(n, p)| crate::cld::reply_upload(m, n, p))
                            .collect();
                        v.push(crate::cld::reply(m, 0));
                        v
                    });
                }
            }
            grace_op::DONE => {
                if let Some(f) = self.grace.nodes.get_mut(&node) {
                    *f &= !GRACE_NEED;
                }
                self.grace_log(
                    "done",
                    node,
                    format!("grace: node {node}'s nfsd finished reclaim"),
                );
                if node == self.view.node {
                    if let Some(b) = self.cld.wait.remove(&req) {
                        self.grace.done_held.push(b);
                    }
                }
            }
            _ => {
                // REJOIN(_DONE): a restarted daemon whose nfsd is still in grace.
                let f = if self.store.state.clients.recovery != 0 && op == grace_op::REJOIN {
                    GRACE_NEED | GRACE_ENFORCING
                } else {
                    GRACE_ENFORCING
                };
                self.grace.nodes.insert(node, f);
                self.grace_log(
                    "rejoin",
                    node,
                    format!("grace: node {node} is back with its nfsd in grace"),
                );
            }
        }
        self.maybe_end_grace();
    }

    /// Grace ends cluster-wide when no member needs it any more (and only with quorum:
    /// a cut-off minority cannot tell); then every held GraceDone is answered.
    pub(super) fn maybe_end_grace(&mut self) {
        if !self.journals.synced {
            // Joining: the cluster's grace is not known here yet (the snapshot brings it).
            return;
        }
        let c = &self.store.state.clients;
        if c.recovery != 0 {
            let needing = still_needing(&self.view.members, &self.grace.nodes);
            if !grace_may_end(&needing, self.view.quorate) {
                if !self.grace.done_held.is_empty() {
                    self.grace_log(
                        "",
                        self.view.node,
                        format!(
                            "grace: GraceDone held: nodes {needing:?} still need grace{}",
                            if self.view.quorate {
                                ""
                            } else {
                                " (and no quorum)"
                            }
                        ),
                    );
                }
                return;
            }
            let r = c.recovery;
            self.store.state.clients.grace_done();
            self.grace.nodes.clear();
            self.mark_dirty();
            self.grace_log(
                "end",
                self.view.node,
                format!("grace: epoch {r}'s grace ends cluster-wide (no member needs it)"),
            );
        }
        if self.grace.done_held.is_empty() {
            return;
        }
        self.store.state.cld_in_grace = false;
        self.grace.nodes.remove(&self.view.node);
        self.mark_dirty();
        let line = format!(
            "cld: grace done: epoch {}",
            self.store.state.clients.current
        );
        self.ring.push(line);
        for b in std::mem::take(&mut self.grace.done_held) {
            self.cld_reply_after_save(&b, |m| vec![crate::cld::reply(m, 0)]);
        }
    }

    /// For `pnfsctl grace show`: the cluster's epochs and every member's flags.
    pub(super) fn grace_json(&self) -> Value {
        let c = &self.store.state.clients;
        let mut nodes: BTreeSet<NodeId> = self.view.members.iter().copied().collect();
        nodes.extend(self.grace.nodes.keys());
        json!({
            "current_epoch": c.current,
            "recovery_epoch": c.recovery,
            "in_grace": c.recovery != 0,
            "quorate": self.view.quorate,
            "nodes": nodes.iter().map(|n| {
                let f = self.grace.nodes.get(n).copied().unwrap_or(0);
                json!({
                    "node": n,
                    "member": self.view.members.contains(n),
                    "need": f & GRACE_NEED != 0,
                    "enforcing": f & GRACE_ENFORCING != 0,
                })
            }).collect::<Vec<_>>(),
            "local": {
                "node": self.view.node,
                "cld_pipe": self.cfg.cld_pipe,
                "nfsd_in_grace": self.store.state.cld_in_grace,
                "grace_done_held": self.grace.done_held.len(),
                "waiting_for_cluster": self.cld.wait.len(),
            },
        })
    }

    /// The grace state and client records a joiner adopts.
    pub(super) fn grace_snap(&self) -> GraceSnap {
        let c = &self.store.state.clients;
        GraceSnap {
            current: c.current,
            recovery: c.recovery,
            nodes: self.grace.nodes.clone(),
            epochs: c.epochs.clone(),
            owners: c.owners.clone(),
        }
    }

    pub(super) fn adopt_grace(&mut self, from: NodeId, g: GraceSnap) {
        let c = &mut self.store.state.clients;
        if (c.current, c.recovery, &c.epochs, &c.owners)
            != (g.current, g.recovery, &g.epochs, &g.owners)
        {
            self.ring.push(format!(
                "grace: epochs {}/{} and {} record set(s) from node {from} replace ours ({}/{})",
                g.current,
                g.recovery,
                g.epochs.len(),
                c.current,
                c.recovery
            ));
            c.current = g.current;
            c.recovery = g.recovery;
            c.epochs = g.epochs;
            c.owners = g.owners;
            self.mark_dirty();
        }
        // Our own flags are ours to say (a Rejoin follows if our nfsd is in grace).
        let mine = self.grace.nodes.get(&self.view.node).copied();
        self.grace.nodes = g.nodes;
        match mine {
            Some(f) => self.grace.nodes.insert(self.view.node, f),
            None => self.grace.nodes.remove(&self.view.node),
        };
    }

    /// Tick: the MDS's own grace period (`Down::Grace`) ends when its time is up.
    pub(super) fn end_mds_grace(&mut self) {
        if let Some(t) = self.view.grace_until {
            if Instant::now() >= t {
                self.view.grace_until = None;
                let epoch = self.view.mds_epoch;
                self.ring.push(format!("grace of epoch {epoch} ends"));
                self.downcall(
                    Tag::Fire,
                    Down::Grace {
                        start: false,
                        epoch,
                    },
                );
            }
        }
    }

    /// The first membership after a restart while our nfsd was in grace: the cluster
    /// must not end grace under it.
    pub(super) fn rejoin_grace(&mut self) {
        if !self.store.state.cld_in_grace {
            return;
        }
        let req = self.next_id();
        // Its GraceDone may already wait in the journal (answered once replayed): then
        // say we no longer need grace, whichever of the two arrives first.
        let op = if crate::cld::journal_holds(&self.cfg.state_dir, crate::cld::cmd::GRACE_DONE) {
            grace_op::REJOIN_DONE
        } else {
            grace_op::REJOIN
        };
        self.send(Msg::Grace {
            node: self.view.node,
            req,
            op,
        });
    }

    /// A node gone during grace no longer holds it up (if its nfsd is still in grace,
    /// its restarted daemon says so again).
    pub(super) fn grace_member_left(&mut self, n: NodeId) {
        if self.grace.nodes.remove(&n).is_some() {
            self.grace_log(
                "left",
                n,
                format!("grace: node {n} left: it no longer holds grace"),
            );
            self.maybe_end_grace();
        }
    }
}

/// The members whose nfsd still needs grace (reclaim not finished).
pub(super) fn still_needing(members: &[NodeId], flags: &BTreeMap<NodeId, u8>) -> Vec<NodeId> {
    members
        .iter()
        .copied()
        .filter(|n| flags.get(n).is_some_and(|f| f & GRACE_NEED != 0))
        .collect()
}

/// Whether the cluster's grace may end: no member needs it, and we have quorum (a
/// cut-off minority cannot tell whether the others still need it). A node that is no
/// member does not hold grace up: its restarted daemon says so again.
pub(super) fn grace_may_end(needing: &[NodeId], quorate: bool) -> bool {
    needing.is_empty() && quorate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_ends_when_no_member_needs_it_and_only_with_quorum() {
        let flags = BTreeMap::from([
            (1, GRACE_ENFORCING),
            (2, GRACE_NEED | GRACE_ENFORCING),
            (3, GRACE_NEED | GRACE_ENFORCING),
        ]);
        assert_eq!(still_needing(&[1, 2, 3], &flags), [2, 3]);
        assert!(!grace_may_end(&still_needing(&[1, 2, 3], &flags), true));
        // Node 3 left (dead, or its daemon stopped): it no longer holds grace.
        assert_eq!(still_needing(&[1, 2], &flags), [2]);
        // Everybody done: grace ends, but not in a minority.
        assert!(grace_may_end(&still_needing(&[1], &flags), true));
        assert!(!grace_may_end(&still_needing(&[1], &flags), false));
        // A member with no flags at all (its nfsd never started grace) needs none.
        assert!(still_needing(&[4], &flags).is_empty());
    }
}
