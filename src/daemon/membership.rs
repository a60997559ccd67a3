//! Membership and quorum: the cluster engine's configuration changes, in the agreed
//! order on every node. This part keeps who is a member and whether the partition is
//! quorate; what each change means to the other parts is theirs to say, called from
//! `on_membership` in a fixed order (journals, DS cache, departures, acks, election,
//! grace).

use super::*;
use crate::hex;

impl Daemon {
    /// One event from the cluster engine.
    pub(super) fn on_cluster(&mut self, ev: ClusterEvent) {
        match ev {
            ClusterEvent::Membership(m) => self.on_membership(m),
            ClusterEvent::Message { from, payload } => match Msg::decode(&payload) {
                Ok(msg) => {
                    if !self.view.members.contains(&from) {
                        self.stats.rejected_cluster += 1;
                        self.ring
                            .push(format!("message from non-member {from} ignored"));
                        return;
                    }
                    self.on_msg(from, msg)
                }
                Err(e) => {
                    self.stats.rejected_cluster += 1;
                    self.ring
                        .push(format!("cluster message from node {from} rejected: {e}"));
                    tracing::warn!(from, "cluster message rejected: {e}");
                }
            },
            ClusterEvent::Lost(_) => {}
        }
    }

    /// A configuration change: members, who joined and left, quorum.
    pub(super) fn on_membership(&mut self, m: Membership) {
        let was_quorate = self.view.quorate;
        // On the first one, this node's own grace flags are not announced yet (a Rejoin
        // follows): no grace decision before it.
        let first = self.view.first_membership;
        self.ring.push(format!(
            "membership: members {:?} joined {:?} left {:?} quorate {}",
            m.members, m.joined, m.left, m.quorate
        ));
        self.view.members = m.members.clone();
        self.view.quorate = m.quorate;
        if std::mem::take(&mut self.view.first_membership) {
            self.first_journal_sync(&m);
            self.rejoin_grace();
        }
        self.send_journal_snapshot(&m);
        if was_quorate != self.view.quorate {
            // A partition loses (or regains) the right to grant: drop what we cached.
            self.flush_cache();
            self.ring.push(format!(
                "quorum {}: cache flushed",
                if m.quorate { "regained" } else { "lost" }
            ));
        }
        self.journals_after_quorum_change(was_quorate, &m);
        for (n, why) in &m.left {
            self.view.peers.remove(n);
            self.view.hello_seen.remove(n);
            self.member_left(*n, *why);
        }
        self.recover_left_without_quorum();
        self.no_acks_from(&m.left);
        if !m.joined.is_empty() && !m.joined.contains(&self.view.node) {
            // Tell newcomers who we are (they did not see our earlier Hello).
            self.say_hello();
        }
        self.downcall(Tag::Fire, Down::Members(self.view.members.clone()));
        self.elect();
        if self.view.quorate && !was_quorate && !first {
            self.maybe_end_grace();
        }
    }

    /// The loop, as a membership change arrives: on the MDS, recall the layouts on each
    /// departed member's device at once (what `member_left` would do later in the same
    /// change).
    pub(super) fn recall_departed(&mut self, m: &Membership) {
        if !self.is_mds() {
            return;
        }
        for (n, _) in &m.left {
            if self.view.recalled.insert(*n) {
                self.downcall(Tag::Fire, Down::LayoutRecallDevice { id: device_id(*n) });
            }
        }
    }

    /// An operator drained (`on`) or restored node `device`'s data server (in the agreed
    /// order, on every node): the MDS recalls the layouts on a drained device, and
    /// `decide::layout_get` gives it none while another data server can take them. The
    /// node that asked answers its operator.
    pub(super) fn on_drain(&mut self, from: NodeId, req: u64, device: NodeId, on: bool) {
        let changed = if on {
            self.view.drained.insert(device)
        } else {
            self.view.drained.remove(&device)
        };
        let recall = on && self.is_mds();
        self.ring.push(format!(
            "device of node {device} {} (asked by node {from}){}{}",
            if on { "drained" } else { "restored" },
            if changed { "" } else { ": it already was" },
            if recall {
                "; recalling its layouts"
            } else {
                ""
            }
        ));
        if recall {
            self.downcall(
                Tag::Fire,
                Down::LayoutRecallDevice {
                    id: device_id(device),
                },
            );
        }
        if from == self.view.node {
            if let Some(reply) = self.queries.drains.remove(&req) {
                let _ = reply.send(json!({
                    "device": hex(&device_id(device)),
                    "node": device,
                    "drained": on,
                    "changed": changed,
                    "mds": self.view.mds,
                    "drained_devices": self.view.drained.iter().map(|n| hex(&device_id(*n))).collect::<Vec<_>>(),
                }));
            }
        }
    }

    /// Node `n` left: its grace flags, its device (on the MDS) and its journals.
    pub(super) fn member_left(&mut self, n: NodeId, why: LeaveReason) {
        self.ring.push(format!("node {n} left ({why:?})"));
        self.grace_member_left(n);
        let recalled = self.view.recalled.remove(&n);
        if self.is_mds() {
            let id = device_id(n);
            if !recalled {
                self.downcall(Tag::Fire, Down::LayoutRecallDevice { id });
            }
            self.downcall(Tag::Fire, Down::DeviceDel { id });
        }
        self.recover_journals_of(n, why);
    }
}
