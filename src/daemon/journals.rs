//! Journals and recovery (GFS2 over the DLM, as gfs_controld kept them): which node
//! holds which journal of each filesystem, replicated by Mount/Unmount in the agreed
//! order and durable; who recovers a dead node's journal; and the journal map's sync
//! when a node joins or a partition heals (messages that change the map wait in
//! `sync_queue` until it is the cluster's). The rules themselves are the pure
//! functions at the end (`choose_jid`, `choose_recoverer`), unit-tested below.

use super::*;

/// The journals part's state (the journal map itself is durable: `Store`).
pub(super) struct Journals {
    /// Whether our journal map is the cluster's: false after joining a running cluster
    /// until the Journals snapshot arrives; journal messages wait in `sync_queue`.
    pub(super) synced: bool,
    /// Members that left after we last lost quorum. If one of them is a member again
    /// when quorum returns, it was on the other side of a partition, where the quorate
    /// part may have changed the journal map: ours waits for a snapshot. (The members
    /// at the loss are no guide: libquorum reports the loss before CPG reports who left.)
    pub(super) departed_since_loss: BTreeSet<NodeId>,
    pub(super) sync_queue: Vec<(NodeId, Msg)>,
    /// Our MOUNT/UNMOUNT upcalls waiting for the cluster's order, by request id.
    pub(super) mounts_parked: HashMap<u64, Waiter>,
    /// MOUNT requests answered EAGAIN because the cluster did not order them within
    /// the query timeout (a ring re-forming after a node death): when one is delivered
    /// after all, the journal it took is released again.
    pub(super) mounts_expired: BTreeSet<u64>,
    /// This node's mounts: table -> (jid, first mounter).
    pub(super) local_mounts: BTreeMap<String, (u32, bool)>,
    pub(super) recovery: BTreeMap<(String, u32), RecoveryJob>,
    /// Nodes that left while we had no quorum: whether they died or we were cut off is
    /// only known once quorum returns (then those still gone get their journals
    /// recovered). A minority never recovers anyone's journal.
    pub(super) left_without_quorum: BTreeSet<NodeId>,
}

impl Daemon {
    /// A node mounts `table` (in the agreed order, on every node): it gets its journal.
    pub(super) fn on_mount(&mut self, req: u64, node: NodeId, table: String, spectator: bool) {
        let entry = self.store.state.journals.entry(table.clone()).or_default();
        let (jid, first) = choose_jid(entry, node, &self.view.members);
        let changed = !spectator && entry.insert(node, jid) != Some(jid);
        if changed {
            self.mark_dirty();
        }
        if node == self.view.node && self.journals.mounts_expired.remove(&req) {
            // The kernel half was told EAGAIN: it did not mount. Give back what this
            // late request took (every node applies the Unmount in the same order).
            self.ring.push(format!(
                "{table}: late mount request {req:#x} delivered after its EAGAIN; releasing jid {jid}"
            ));
            if changed {
                let req = self.next_id();
                self.send(Msg::Unmount {
                    req,
                    node: self.view.node,
                    table,
                });
            }
            return;
        }
        self.ring.push(format!(
            "{table}: node {node} mounts with jid {jid}{}",
            if first { " (first)" } else { "" }
        ));
        if node == self.view.node {
            self.journals
                .local_mounts
                .insert(table.clone(), (jid, first));
            if let Some(w) = self.journals.mounts_parked.remove(&req) {
                self.answer_when_saved(w, 0, Some((table, jid, first)));
            }
        }
    }

    /// A member's journal map (and grace state) as of a membership change: a joiner,
    /// or a node back from a partition, adopts it.
    pub(super) fn on_journals(
        &mut self,
        node: NodeId,
        journals: BTreeMap<String, BTreeMap<u32, u32>>,
        grace: GraceSnap,
    ) {
        if self.journals.synced {
            return; // every synced member already has exactly this map
        }
        self.adopt_grace(node, grace);
        if journals != self.store.state.journals {
            self.ring.push(format!(
                "journal map from node {node} replaces our stale one: {journals:?} (was {:?})",
                self.store.state.journals
            ));
            self.store.state.journals = journals;
            self.mark_dirty();
        }
        self.journals.synced = true;
        for (f, m) in std::mem::take(&mut self.journals.sync_queue) {
            self.on_msg(f, m);
        }
    }

    /// A node unmounted `table` (in the agreed order): its journal is free.
    pub(super) fn on_unmount(&mut self, req: u64, node: NodeId, table: String) {
        if let Some(m) = self.store.state.journals.get_mut(&table) {
            m.remove(&node);
            if m.is_empty() {
                self.store.state.journals.remove(&table);
            }
        }
        self.mark_dirty();
        self.ring.push(format!("{table}: node {node} unmounted"));
        if node == self.view.node {
            self.journals.local_mounts.remove(&table);
            if let Some(w) = self.journals.mounts_parked.remove(&req) {
                self.answer_when_saved(w, 0, None);
            }
        }
    }

    /// A recoverer reports journal `jid` of `table`: done frees it (and unblocks the
    /// filesystem here once nothing else is recovered), failed passes it to the next
    /// survivor.
    pub(super) fn on_recovery_done(&mut self, node: NodeId, table: String, jid: u32, status: u32) {
        let done = status == gfs2ctl::RecoveryStatus::Done as u32;
        let job = self.journals.recovery.remove(&(table.clone(), jid));
        self.ring.push(format!(
            "{table}: jid {jid} recovery by node {node} {}",
            if done { "done" } else { "FAILED" }
        ));
        match job {
            Some(job) if done => {
                if let Some(m) = self.store.state.journals.get_mut(&table) {
                    m.remove(&job.dead);
                }
                self.mark_dirty();
                if self.journals.local_mounts.contains_key(&table)
                    && !self.journals.recovery.keys().any(|(t, _)| *t == table)
                {
                    self.downcall(
                        Tag::Fire,
                        Down::Block {
                            table,
                            block: false,
                        },
                    );
                }
            }
            Some(job) => {
                // Try the next survivor (deterministic: the next lowest node id).
                let next = self
                    .store
                    .state
                    .journals
                    .get(&table)
                    .and_then(|m| choose_recoverer(m, &self.view.members, Some(job.recoverer)));
                if let Some(r) = next {
                    self.start_recovery(table, jid, job.dead, r);
                }
            }
            None => {}
        }
    }

    /// The first membership: alone, our durable journal map is the cluster's; else it
    /// waits for a snapshot.
    pub(super) fn first_journal_sync(&mut self, m: &Membership) {
        self.journals.synced = m.members == [self.view.node];
        if !self.journals.synced {
            self.ring
                .push("joined a running cluster: journal map waits for a snapshot".into());
        }
    }

    /// Members joined: the lowest old member (or, if all are new, the lowest member)
    /// sends the journal map as of this change; joiners adopt it and replay what came
    /// after.
    pub(super) fn send_journal_snapshot(&mut self, m: &Membership) {
        if m.joined.is_empty() {
            return;
        }
        let old: Vec<NodeId> = m
            .members
            .iter()
            .copied()
            .filter(|n| !m.joined.contains(n))
            .collect();
        let sender = old.first().or(m.members.first()).copied();
        if sender == Some(self.view.node) && (self.journals.synced || old.is_empty()) {
            let grace = self.grace_snap();
            self.send(Msg::Journals {
                node: self.view.node,
                journals: self.store.state.journals.clone(),
                grace,
            });
            // and the drained data servers (a joiner may be the next MDS)
            let drained: Vec<NodeId> = self.view.drained.iter().copied().collect();
            for device in drained {
                let req = self.next_id();
                self.send(Msg::Drain {
                    node: self.view.node,
                    req,
                    device,
                    on: true,
                });
            }
        }
    }

    /// Quorum lost or regained: whether our map is still the cluster's.
    pub(super) fn journals_after_quorum_change(&mut self, was_quorate: bool, m: &Membership) {
        if was_quorate && !self.view.quorate {
            self.journals.departed_since_loss.clear();
        }
        if !self.view.quorate || !was_quorate {
            self.journals
                .departed_since_loss
                .extend(m.left.iter().map(|(n, _)| *n));
        }
        if was_quorate && !self.view.quorate && self.journals.synced {
            // The quorate side may recover our journals meanwhile: once we are back, its
            // map is the cluster's, and ours is adopted from its snapshot on the merge.
            self.journals.synced = false;
            self.ring
                .push("no quorum: journal map to be resynced from the quorate side".into());
        } else if !was_quorate
            && self.view.quorate
            && !self.journals.synced
            && m.joined.is_empty()
            && !self
                .view
                .members
                .iter()
                .any(|n| self.journals.departed_since_loss.contains(n))
        {
            // Quorum came back and no member was away meanwhile (a node without this
            // daemon restored it): every member went through the same sequence, so our
            // map is the group's. After a healed partition the others were away: their
            // snapshot brings the map the quorate side kept.
            self.journals.synced = true;
            for (f, msg) in std::mem::take(&mut self.journals.sync_queue) {
                self.on_msg(f, msg);
            }
        }
    }

    /// Quorum is back: nodes that left while we had none and are still gone really
    /// left; their journals are recovered now.
    pub(super) fn recover_left_without_quorum(&mut self) {
        if self.view.quorate && !self.journals.left_without_quorum.is_empty() {
            let gone: Vec<NodeId> = std::mem::take(&mut self.journals.left_without_quorum)
                .into_iter()
                .filter(|n| !self.view.members.contains(n))
                .collect();
            for n in gone {
                self.member_left(n, LeaveReason::NodeDown);
            }
        }
    }

    /// Node `n` left: if it died (not just its daemon) and we have quorum, every journal
    /// it held is recovered by one survivor, and this node's mounts of those
    /// filesystems are blocked until then.
    pub(super) fn recover_journals_of(&mut self, n: NodeId, why: LeaveReason) {
        if matches!(why, LeaveReason::Left | LeaveReason::ProcDown) {
            // Only the daemon went away (stopped, or crashed and restarting); the node and
            // its kernel still run and still write their journals: recovering one now
            // would replay a journal in use. Its restarted daemon reads its mounts back.
            self.ring.push(format!(
                "node {n}: daemon gone but node up: its journals stay held"
            ));
            return;
        }
        if !self.view.quorate {
            // Cut off from the majority, we cannot tell a dead node from our own
            // isolation: recovering a live node's journal would corrupt the filesystem.
            self.journals.left_without_quorum.insert(n);
            self.ring.push(format!(
                "node {n} left while we have no quorum: journal recovery deferred"
            ));
            return;
        }
        let tables: Vec<(String, u32)> = self
            .store
            .state
            .journals
            .iter()
            .filter_map(|(t, m)| m.get(&n).map(|j| (t.clone(), *j)))
            .collect();
        for (table, jid) in tables {
            let Some(recoverer) =
                choose_recoverer(&self.store.state.journals[&table], &self.view.members, None)
            else {
                self.ring.push(format!(
                    "{table}: jid {jid} of node {n} waits for a mounter to recover it"
                ));
                continue;
            };
            if self.journals.local_mounts.contains_key(&table) {
                self.downcall(
                    Tag::Fire,
                    Down::Block {
                        table: table.clone(),
                        block: true,
                    },
                );
            }
            self.ring.push(format!(
                "{table}: node {n} died holding jid {jid}; node {recoverer} recovers it"
            ));
            self.start_recovery(table, jid, n, recoverer);
        }
    }

    /// The one way a recovery starts: `recoverer` owns the job (every node records it);
    /// if that is us, the kernel half is told to recover the journal.
    fn start_recovery(&mut self, table: String, jid: u32, dead: NodeId, recoverer: NodeId) {
        self.journals
            .recovery
            .insert((table.clone(), jid), RecoveryJob { dead, recoverer });
        if recoverer == self.view.node {
            self.downcall(Tag::Fire, Down::Recover { table, jid });
        }
    }
}

/// The journal `node` gets in a filesystem whose journals are `held` (node -> jid), and
/// whether it is the first mounter (no other live member holds one). A node keeps the
/// journal it holds; else it gets the lowest one nobody holds (a dead node's journal
/// stays held until it is recovered).
pub(super) fn choose_jid(
    held: &BTreeMap<NodeId, u32>,
    node: NodeId,
    live: &[NodeId],
) -> (u32, bool) {
    let first = !held.keys().any(|n| *n != node && live.contains(n));
    let jid = match held.get(&node) {
        Some(j) => *j,
        None => {
            let used: BTreeSet<u32> = held.values().copied().collect();
            (0..).find(|j| !used.contains(j)).unwrap()
        }
    };
    (jid, first)
}

/// Who recovers a dead node's journal in a filesystem whose journals are `held`: the
/// lowest member that holds one there (it has the filesystem mounted), after `after`
/// when that one failed. None: no member has it mounted.
pub(super) fn choose_recoverer(
    held: &BTreeMap<NodeId, u32>,
    members: &[NodeId],
    after: Option<NodeId>,
) -> Option<NodeId> {
    held.keys()
        .copied()
        .filter(|x| members.contains(x) && after.is_none_or(|a| *x > a))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(v: &[(NodeId, u32)]) -> BTreeMap<NodeId, u32> {
        v.iter().copied().collect()
    }

    #[test]
    fn a_mounter_gets_the_lowest_free_journal_and_keeps_its_own() {
        // Node 3's journal 1 stays held while node 3 is dead (not recovered yet).
        let h = held(&[(1, 0), (3, 1)]);
        assert_eq!(choose_jid(&h, 2, &[1, 2]), (2, false));
        assert_eq!(choose_jid(&h, 1, &[1, 2]), (0, true));
        assert_eq!(
            choose_jid(&held(&[(1, 0), (2, 2)]), 3, &[1, 2, 3]),
            (1, false)
        );
    }

    #[test]
    fn the_first_mounter_is_the_one_no_live_member_mounts_beside() {
        assert_eq!(choose_jid(&held(&[]), 4, &[4]), (0, true));
        // A dead node's journal does not make a mounter second.
        assert_eq!(choose_jid(&held(&[(2, 0)]), 1, &[1]), (1, true));
        // Mounting again (a restarted daemon) is first if nobody else is there.
        assert_eq!(choose_jid(&held(&[(1, 0)]), 1, &[1, 2]), (0, true));
    }

    #[test]
    fn the_lowest_live_mounter_recovers_then_the_next_one() {
        let h = held(&[(2, 0), (3, 1), (5, 2), (4, 3)]);
        // Node 3 died: members 1 (no mount), 2, 4, 5.
        let members = [1, 2, 4, 5];
        assert_eq!(choose_recoverer(&h, &members, None), Some(2));
        assert_eq!(choose_recoverer(&h, &members, Some(2)), Some(4));
        assert_eq!(choose_recoverer(&h, &members, Some(4)), Some(5));
        assert_eq!(choose_recoverer(&h, &members, Some(5)), None);
        // Nobody that is a member has it mounted: it waits.
        assert_eq!(choose_recoverer(&held(&[(3, 0)]), &[1, 2], None), None);
    }
}
