//! The DS state cache and what the upcall fast path answers by (`fastpath::Shared`):
//! `publish` hands the fast path a consistent view at the end of each event,
//! `restrict` closes it mid-event before anything leaves; `flush_cache` is the one way
//! the cache is emptied, and the invalidation and caching rules are the pure functions
//! at the end (`invalidated_by`, `cacheable`), unit-tested below.

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
            && v.mds_epoch == self.view.mds_epoch
            && v.node == self.view.node
            && self.same_devices()
            && v.drained.iter().eq(self.view.drained.iter())
        {
            return;
        }
        let view = fastpath::View {
            granting,
            mds_epoch: self.view.mds_epoch,
            layouts,
            mds: self.is_mds(),
            node: self.view.node,
            devices: self
                .view
                .members
                .iter()
                .filter_map(|n| self.view.peers.get(n).map(|p| (*n, p.addrs.clone())))
                .collect(),
            drained: self.view.drained.iter().copied().collect(),
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
            && v.mds_epoch == self.view.mds_epoch
            && v.node == self.view.node
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
        self.view
            .members
            .iter()
            .filter_map(|n| self.view.peers.get(n).map(|p| (*n, &p.addrs)))
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
            hot.cache
                .retain(|k, _| !invalidated_by(k, clientid, fsid, fileid, other));
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
            node: self.view.node,
        });
    }

    /// Drop every cached answer: the one way the DS cache is flushed (a new MDS or
    /// epoch, quorum lost or regained). Callers say why in the ring.
    pub(super) fn flush_cache(&mut self) {
        self.fast.write().cache.clear();
    }
}

/// Whether a revoke of `clientid`'s state drops cached `key`: all of the client's
/// states, or (`other` given) the one stateid in file `fsid`/`fileid`, whatever its
/// seqid.
pub(super) fn invalidated_by(
    key: &StateKey,
    clientid: u64,
    fsid: u64,
    fileid: u64,
    other: Option<[u8; 12]>,
) -> bool {
    key.0 == clientid && other.is_none_or(|o| key.1 == fsid && key.2 == fileid && key.3 == o)
}

/// Whether an MDS answer may be cached: only OK answers, and only of the epoch this
/// node knows as current (an answer of an older MDS may be stale; one of a newer epoch
/// arrives before its MdsEpoch and is not known to hold here yet).
pub(super) fn cacheable(status: u32, epoch: u64, mds_epoch: u64) -> bool {
    status == Nfsstat::Ok as u32 && epoch == mds_epoch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoke_drops_the_clients_states_or_the_one_stateid() {
        let k = |c, f, i, o: u8| (c, f, i, [o; 12]);
        let one = Some([7u8; 12]);
        // The whole client.
        assert!(invalidated_by(&k(5, 1, 1, 7), 5, 0, 0, None));
        assert!(invalidated_by(&k(5, 2, 9, 3), 5, 0, 0, None));
        assert!(!invalidated_by(&k(6, 1, 1, 7), 5, 0, 0, None));
        // One stateid: same client, file and "other" bytes only.
        assert!(invalidated_by(&k(5, 1, 1, 7), 5, 1, 1, one));
        assert!(!invalidated_by(&k(5, 1, 2, 7), 5, 1, 1, one));
        assert!(!invalidated_by(&k(5, 2, 1, 7), 5, 1, 1, one));
        assert!(!invalidated_by(&k(5, 1, 1, 8), 5, 1, 1, one));
        assert!(!invalidated_by(&k(6, 1, 1, 7), 5, 1, 1, one));
    }

    #[test]
    fn only_ok_answers_of_the_current_epoch_are_cached() {
        assert!(cacheable(Nfsstat::Ok as u32, 4, 4));
        assert!(!cacheable(Nfsstat::Ok as u32, 3, 4));
        assert!(!cacheable(Nfsstat::Ok as u32, 5, 4));
        assert!(!cacheable(Nfsstat::BadStateid as u32, 4, 4));
        assert!(!cacheable(Nfsstat::Delay as u32, 4, 4));
    }
}
