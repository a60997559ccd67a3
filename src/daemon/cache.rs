//! TODO

use super::*;

impl Daemon {
    /// Publish what the fast path answers by, if it changed. Called at the end of each
    /// event, from a consistent state, before the loop sends its replies (`flush`). No
    /// allocation unless something changed.
    pub(super) fn publish(&mut self) {
        let (granting, layouts) = (self.granting(), self.layouts());
        let v = &self.published;
        if v.granting == granting
            && v.layouts == layouts
            && v.mds == self.is_mds()
            && v.mds_epoch == self.mds_epoch
            && v.node == self.node
            && self.same_devices()
        {
            return;
        }
        let view = fastpath::View {
            granting,
            mds_epoch: self.mds_epoch,
            layouts,
            mds: self.is_mds(),
            node: self.node,
            devices: self
                .members
                .iter()
                .filter_map(|n| self.peers.get(n).map(|p| (*n, p.addrs.clone())))
                .collect(),
        };
        self.fast.write().view = view.clone();
        self.published = view;
    }

    /// Mid-event, before the cluster or the kernel half can see anything of it (a cluster
    /// message, a downcall): stop the fast path answering what the state may no longer
    /// allow. Only ever restricts (the state may be half-changed here; forwarding is
    /// always right, the loop answers); `publish` at the end of the event opens again.
    pub(super) fn restrict(&mut self) {
        let v = &self.published;
        let granting = v.granting
            && self.granting()
            && v.mds_epoch == self.mds_epoch
            && v.node == self.node
            && self.same_devices();
        let layouts = v.layouts && self.layouts();
        if (granting, layouts) != (v.granting, v.layouts) {
            let mut hot = self.fast.write();
            hot.view.granting = granting;
            hot.view.layouts = layouts;
            self.published.granting = granting;
            self.published.layouts = layouts;
        }
    }

    /// The members' device addresses are what was last published.
    pub(super) fn same_devices(&self) -> bool {
        self.members
            .iter()
            .filter_map(|n| self.peers.get(n).map(|p| (*n, &p.addrs)))
            .eq(self.published.devices.iter().map(|(n, a)| (*n, a)))
    }

    pub(super) fn on_invalidate(
        &mut self,
        iid: u64,
        origin: NodeId,
        clientid: u64,
        fsid: u64,
        fileid: u64,
        other: Option<[u8; 12]>,
    ) {
        let dropped = {
            let mut hot = self.fast.write();
            let before = hot.cache.len();
            hot.cache.retain(|k, _| {
                !(k.0 == clientid && other.is_none_or(|o| k.1 == fsid && k.2 == fileid && k.3 == o))
            });
            before - hot.cache.len()
        };
        if dropped > 0 {
            self.ring.push(format!(
                "invalidated {dropped} cached state(s) of client {clientid:#x}"
            ));
        }
        self.send(Msg::InvalidateAck {
            iid,
            origin,
            node: self.node,
        });
    }

    /// Drop every cached answer: the one way the DS cache is flushed (a new MDS or
    /// epoch, quorum lost or regained). Callers say why in the ring.
    pub(super) fn flush_cache(&mut self) {
        self.fast.write().cache.clear();
    }
}
