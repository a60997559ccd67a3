//! What the decisions read (`decide::ClusterView`): node, MDS, epoch, quorum, grace,
//! the members' devices; and why this node does or does not grant.

use super::*;

/// What every part reads and membership and election write: who we are, the members
/// and quorum, what they said in their Hellos, the MDS and its epoch.
pub(super) struct View {
    pub(super) node: NodeId,
    pub(super) members: Vec<NodeId>,
    pub(super) quorate: bool,
    pub(super) peers: BTreeMap<NodeId, Peer>,
    /// Members whose Hello was delivered (compatible or not): the election waits for all.
    pub(super) hello_seen: BTreeSet<NodeId>,
    /// No membership seen yet.
    pub(super) first_membership: bool,
    pub(super) mds: Option<NodeId>,
    pub(super) mds_epoch: u64,
    /// The end of this node's grace period as MDS (`Down::Grace`).
    pub(super) grace_until: Option<Instant>,
    /// Departed nodes whose devices the loop recalled as soon as their departure arrived
    /// (`recall_departed`), before the rest of the membership change; `member_left`
    /// does not recall them again.
    pub(super) recalled: BTreeSet<NodeId>,
    /// Data servers an operator drained (`Msg::Drain`, the agreed order): no new layouts
    /// while another data server can take them.
    pub(super) drained: BTreeSet<NodeId>,
}

/// The loop's current state as the upcall decisions read it (`decide`); the fast path
/// reads the same from the view `publish` gives it.
impl ClusterView for Daemon {
    fn granting(&self) -> bool {
        Daemon::granting(self)
    }
    fn mds_epoch(&self) -> u64 {
        self.view.mds_epoch
    }
    fn node(&self) -> NodeId {
        self.view.node
    }
    fn is_mds(&self) -> bool {
        self.view.mds == Some(self.view.node)
    }
    fn in_grace(&self) -> bool {
        self.view.grace_until.is_some()
    }
    fn device(&self, node: NodeId) -> Option<&[DsAddr]> {
        if !self.view.members.contains(&node) {
            return None;
        }
        self.view.peers.get(&node).map(|p| p.addrs.as_slice())
    }
    fn data_servers(&self) -> impl Iterator<Item = NodeId> + Clone {
        self.view
            .members
            .iter()
            .copied()
            .filter(|n| self.view.peers.get(n).is_some_and(|p| !p.addrs.is_empty()))
    }
    fn drained(&self, node: NodeId) -> bool {
        self.view.drained.contains(&node)
    }
}

impl Daemon {
    /// This node may grant layouts: the MDS, out of its grace.
    pub(super) fn layouts(&self) -> bool {
        ClusterView::is_mds(self) && self.view.grace_until.is_none()
    }

    pub(super) fn granting(&self) -> bool {
        self.not_granting().is_none()
    }

    /// Why this node does not grant, or None if it does.
    pub(super) fn not_granting(&self) -> Option<String> {
        if !self.view.quorate {
            return Some("no quorum".into());
        }
        if self.view.mds.is_none() {
            return Some("no MDS".into());
        }
        if self.is_mds() && self.durable.epoch < self.view.mds_epoch {
            return Some(format!(
                "MDS epoch {} not durable yet (on disk: {}){}",
                self.view.mds_epoch,
                self.durable.epoch,
                self.durable
                    .error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        None
    }

    pub(super) fn is_mds(&self) -> bool {
        self.view.mds == Some(self.view.node)
    }
}
