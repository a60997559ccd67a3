//! What the decisions read (`decide::ClusterView`): node, MDS, epoch, quorum, grace,
//! the members' devices; and why this node does or does not grant.

use super::*;

/// The loop's current state as the upcall decisions read it (`decide`); the fast path
/// reads the same from the view `publish` gives it.
impl ClusterView for Daemon {
    fn granting(&self) -> bool {
        Daemon::granting(self)
    }
    fn mds_epoch(&self) -> u64 {
        self.mds_epoch
    }
    fn node(&self) -> NodeId {
        self.node
    }
    fn is_mds(&self) -> bool {
        self.mds == Some(self.node)
    }
    fn in_grace(&self) -> bool {
        self.grace_until.is_some()
    }
    fn device(&self, node: NodeId) -> Option<&[DsAddr]> {
        if !self.members.contains(&node) {
            return None;
        }
        self.peers.get(&node).map(|p| p.addrs.as_slice())
    }
    fn data_servers(&self) -> impl Iterator<Item = NodeId> + Clone {
        self.members
            .iter()
            .copied()
            .filter(|n| self.peers.get(n).is_some_and(|p| !p.addrs.is_empty()))
    }
}

impl Daemon {
    /// This node may grant layouts: the MDS, out of its grace.
    pub(super) fn layouts(&self) -> bool {
        ClusterView::is_mds(self) && self.grace_until.is_none()
    }

    pub(super) fn granting(&self) -> bool {
        self.not_granting().is_none()
    }

    /// Why this node does not grant, or None if it does.
    pub(super) fn not_granting(&self) -> Option<String> {
        if !self.quorate {
            return Some("no quorum".into());
        }
        if self.mds.is_none() {
            return Some("no MDS".into());
        }
        if self.is_mds() && self.durable_epoch < self.mds_epoch {
            return Some(format!(
                "MDS epoch {} not durable yet (on disk: {}){}",
                self.mds_epoch,
                self.durable_epoch,
                self.save_error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        None
    }

    pub(super) fn is_mds(&self) -> bool {
        self.mds == Some(self.node)
    }
}
