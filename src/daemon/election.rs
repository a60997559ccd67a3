//! Election and epochs: the MDS is chosen by every daemon from the same agreed
//! sequence of Hellos and membership changes (`choose_mds`); a new MDS takes the next
//! epoch (`next_epoch`), durable before it grants, and announces it; every node adopts
//! an epoch in one place (`adopt_epoch`), which flushes the DS cache and re-registers
//! the role with the kernel half.

use super::*;

impl Daemon {
    /// Tell the members who we are: priority, epoch, versions, addresses.
    pub(super) fn say_hello(&mut self) {
        let addrs = self
            .cfg
            .addrs
            .iter()
            .map(|a| DsAddr {
                netid: a.netid.clone(),
                uaddr: a.uaddr.clone(),
            })
            .collect();
        self.send(Msg::Hello {
            min_version: PROTO_MIN_VERSION,
            max_version: PROTO_VERSION,
            node: self.view.node,
            priority: self.cfg.mds_priority,
            epoch: self.store.state.epoch.max(self.view.mds_epoch),
            incarnation: self.incarnation,
            addrs,
        });
    }

    /// Choose the MDS: highest priority among members that said Hello with a protocol
    /// version we share, ties to the lowest node id. Every daemon computes the same
    /// from the same agreed sequence.
    pub(super) fn elect(&mut self) {
        // Without quorum there is no MDS. In particular an MDS cut off from the majority
        // must not stay MDS in its own view: the majority may elect another MDS with a
        // higher epoch meanwhile, and on healing the old MDS, never having changed its
        // mind, announced no new epoch (seen in tests/cluster_daemon.rs after a token
        // loss: node 1 back as MDS with epoch 1 while nodes 2, 3 kept epoch 2, so no DS
        // cached any answer). Forgetting it makes the healed cluster elect afresh: a new,
        // higher epoch and a grace period.
        if !self.view.quorate {
            if let Some(old) = self.view.mds.take() {
                self.flush_cache();
                self.ring.push(format!(
                    "no quorum: MDS {old} forgotten until quorum returns; DS cache flushed"
                ));
            }
            return;
        }
        // Until every member's Hello is in, a member we know nothing about may have the
        // highest priority: keep an MDS that is still a member, else elect nobody yet.
        // (Otherwise a daemon joining a running cluster whose own Hello is delivered
        // before the others' elects itself, announces an MdsEpoch that every node takes,
        // registers as MDS and starts a grace period, then steps down on the next Hello.)
        if self
            .view
            .members
            .iter()
            .any(|n| !self.view.hello_seen.contains(n))
        {
            if self
                .view
                .mds
                .is_some_and(|m| self.view.members.contains(&m))
            {
                return;
            }
            if let Some(old) = self.view.mds.take() {
                self.flush_cache();
                self.ring.push(format!(
                    "MDS {old} gone; no MDS until every member said Hello; DS cache flushed"
                ));
            }
            return;
        }
        let best = choose_mds(
            self.view
                .members
                .iter()
                .filter_map(|n| self.view.peers.get(n).map(|p| (*n, p.priority))),
        );
        if best == self.view.mds {
            return;
        }
        let old = self.view.mds;
        self.view.mds = best;
        self.flush_cache();
        self.ring
            .push(format!("MDS {old:?} -> {best:?}; DS cache flushed"));
        tracing::info!(?old, new = ?best, "MDS changed");
        if best == Some(self.view.node) {
            let epoch = next_epoch(
                self.view.peers.values().map(|p| p.epoch),
                self.store.state.epoch,
                self.view.mds_epoch,
            );
            self.store.state.epoch = epoch;
            self.mark_dirty();
            self.send(Msg::MdsEpoch {
                node: self.view.node,
                epoch,
            });
        }
        self.register_role();
    }

    /// Re-REGISTER pnfsd with the current role, MDS and epoch when any of them changed
    /// (takes effect in the kernel half at once).
    pub(super) fn register_role(&mut self) {
        if let Some(mds) = self.view.mds {
            let role = if mds == self.view.node {
                pnfsd::Role::Mds
            } else {
                pnfsd::Role::Ds
            };
            let epoch = self.store.state.epoch.max(self.view.mds_epoch);
            if self.registered_role != Some((role, mds, epoch)) {
                self.registered_role = Some((role, mds, epoch));
                let h = pnfsd::ops::register::header(self.target.pnfsd.id)
                    .flags(pnfs_netlink::codec::NLM_F_REQUEST)
                    .pid(self.sock.port());
                pnfsd::ops::register::RequestAttrs {
                    version: pnfsd::VERSION,
                    node_id: Some(self.view.node),
                    role: Some(role as u32),
                    mds_id: Some(mds),
                    boot_epoch: Some(epoch),
                }
                .write(&mut self.out.tx, &h);
            }
        }
    }

    pub(super) fn push_devices(&mut self) {
        let devs: Vec<(NodeId, Vec<DsAddr>)> = self
            .view
            .members
            .iter()
            .filter_map(|n| self.view.peers.get(n).map(|p| (*n, p.addrs.clone())))
            .collect();
        for (n, addrs) in devs {
            self.downcall(
                Tag::Fire,
                Down::DeviceSet {
                    id: device_id(n),
                    node: n,
                    addrs,
                },
            );
        }
    }

    /// A member's Hello: its priority, epoch, protocol versions and data server
    /// addresses; the election runs again.
    #[allow(clippy::too_many_arguments)] // the message's fields, as the wire has them
    pub(super) fn on_hello(
        &mut self,
        from: NodeId,
        min_version: u8,
        max_version: u8,
        node: NodeId,
        priority: u32,
        epoch: u64,
        incarnation: u64,
        addrs: Vec<DsAddr>,
    ) {
        if node != from {
            self.ring
                .push(format!("hello from {from} claims node {node}: ignored"));
            return;
        }
        self.view.hello_seen.insert(node);
        if max_version < PROTO_MIN_VERSION || min_version > PROTO_VERSION {
            self.stats.rejected_cluster += 1;
            self.ring.push(format!(
                "node {node} speaks {min_version}..={max_version}, we {PROTO_MIN_VERSION}..={PROTO_VERSION}: ignored"
            ));
            return;
        }
        let fresh = self.view.peers.get(&node).map(|p| p.incarnation) != Some(incarnation);
        self.view.peers.insert(
            node,
            Peer {
                priority,
                epoch,
                incarnation,
                max_version,
                addrs: addrs.clone(),
            },
        );
        if fresh {
            self.ring.push(format!(
                "hello from node {node} (priority {priority}, epoch {epoch}, v{max_version})"
            ));
        }
        self.elect();
        // A daemon that joins a running cluster never saw the MDS's MdsEpoch: take
        // the epoch from the MDS's Hello (its durable epoch is the one it
        // announced). Without this a joiner kept mds_epoch 0, cached no answer
        // (their epoch differed) and registered a stale boot epoch.
        let mds_epoch = self
            .view
            .mds
            .filter(|m| *m != self.view.node)
            .and_then(|m| self.view.peers.get(&m))
            .map(|p| p.epoch);
        if let Some(epoch) = mds_epoch.filter(|e| *e > self.view.mds_epoch) {
            let node = self.view.mds.unwrap();
            self.adopt_epoch(
                epoch,
                format!("MDS {node}'s epoch {epoch} learned from its hello"),
            );
        }
        if self.is_mds() {
            self.downcall(
                Tag::Fire,
                Down::DeviceSet {
                    id: device_id(node),
                    node,
                    addrs,
                },
            );
        }
    }

    /// The MDS announced its epoch (in the agreed order): every node takes it; the MDS
    /// itself starts its grace period and gives the kernel half the devices.
    pub(super) fn on_mds_epoch(&mut self, node: NodeId, epoch: u64) {
        self.adopt_epoch(epoch, format!("node {node} is MDS with epoch {epoch}"));
        if node == self.view.node {
            self.view.grace_until = Some(Instant::now() + Duration::from_millis(self.cfg.grace_ms));
            self.downcall(Tag::Fire, Down::Grace { start: true, epoch });
            self.push_devices();
        }
    }

    /// The one way an MDS epoch is taken (announced, or learned from the MDS's Hello):
    /// cached answers of the old epoch go, the epoch is kept durable, the kernel half is
    /// told the role and epoch.
    fn adopt_epoch(&mut self, epoch: u64, why: String) {
        self.view.mds_epoch = epoch;
        if epoch > self.store.state.epoch {
            self.store.state.epoch = epoch;
            self.mark_dirty();
        }
        self.flush_cache();
        self.ring.push(why);
        self.register_role();
    }
}

/// The MDS among `(node, priority)` of the members that said Hello with a protocol
/// version we share: the highest priority, ties to the lowest node id.
pub(super) fn choose_mds(candidates: impl Iterator<Item = (NodeId, u32)>) -> Option<NodeId> {
    candidates
        .map(|(n, p)| (p, std::cmp::Reverse(n)))
        .max()
        .map(|(_, std::cmp::Reverse(n))| n)
}

/// The epoch a new MDS takes: above every epoch it knows of (the members' Hellos, its
/// durable one, the current one), so that no two MDS ever grant under one epoch.
pub(super) fn next_epoch(peers: impl Iterator<Item = u64>, durable: u64, current: u64) -> u64 {
    peers.chain([durable, current]).max().unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_priority_wins_and_ties_go_to_the_lowest_node() {
        assert_eq!(choose_mds([(1, 0), (2, 5), (3, 5)].into_iter()), Some(2));
        assert_eq!(choose_mds([(4, 0), (2, 0), (3, 0)].into_iter()), Some(2));
        assert_eq!(choose_mds([(9, 1)].into_iter()), Some(9));
        assert_eq!(choose_mds(std::iter::empty()), None);
    }

    #[test]
    fn the_order_of_hellos_does_not_change_the_choice() {
        let mut v = vec![(3, 1), (1, 1), (2, 0), (5, 1)];
        let want = choose_mds(v.clone().into_iter());
        for _ in 0..v.len() {
            v.rotate_left(1);
            assert_eq!(choose_mds(v.clone().into_iter()), want);
        }
        assert_eq!(want, Some(1));
    }

    #[test]
    fn a_new_epoch_is_above_every_known_one() {
        assert_eq!(next_epoch([3, 7, 2].into_iter(), 5, 6), 8);
        assert_eq!(next_epoch(std::iter::empty(), 9, 0), 10);
        assert_eq!(next_epoch(std::iter::empty(), 0, 0), 1);
        // A restarted MDS whose durable epoch is ahead of the cluster's.
        assert_eq!(next_epoch([4].into_iter(), 12, 4), 13);
    }
}
