//! One decision per upcall kind that both the fast path thread and the event loop answer
//! (GET_STATE, GET_DEVICE_INFO, LAYOUT_GET): each is a function of a read-only view of
//! the cluster, so the two cannot drift apart. The fast path asks it with the view the
//! loop last published and answers only what comes out OK (the rest goes to the loop);
//! the loop asks it with its own current state and answers everything.

use crate::cluster::NodeId;
use crate::wire::DsAddr;
use crate::wire::StateKey;
use pnfs_netlink::pnfsd::ops::get_state as gs;
use pnfs_netlink::pnfsd::Nfsstat;

/// What the MDS answered about a state, as a DS caches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheEntry {
    pub generation: u32,
    pub access: u32,
    pub verifier: u64,
    pub epoch: u64,
}

/// GET_STATE's question: which state of which client.
#[derive(Debug, Clone, Copy)]
pub struct StateQuery {
    pub fsid: u64,
    pub fileid: u64,
    pub stateid: [u8; 16],
    pub clientid: u64,
}

impl StateQuery {
    /// What a GET_STATE upcall asks.
    pub fn of(r: &gs::Request<'_>) -> StateQuery {
        StateQuery {
            fsid: r.fsid(),
            fileid: r.fileid(),
            stateid: *r.stateid(),
            clientid: r.clientid(),
        }
    }

    /// The cache key: the state's "other" bytes, whatever its seqid.
    pub fn key(&self) -> StateKey {
        let mut other = [0u8; 12];
        other.copy_from_slice(&self.stateid[4..]);
        (self.clientid, self.fsid, self.fileid, other)
    }

    /// The stateid's seqid (its first 4 bytes, big-endian).
    pub fn seqid(&self) -> u32 {
        u32::from_be_bytes([
            self.stateid[0],
            self.stateid[1],
            self.stateid[2],
            self.stateid[3],
        ])
    }
}

/// What the upcall decisions read of the cluster.
pub trait ClusterView {
    /// Quorate with an MDS, and (on the MDS) its epoch durable.
    fn granting(&self) -> bool;
    /// The MDS's epoch, the boot epoch a stateid must carry.
    fn mds_epoch(&self) -> u64;
    /// This node.
    fn node(&self) -> NodeId;
    /// This node is the MDS.
    fn is_mds(&self) -> bool;
    /// This node's MDS grace period runs (asked only of the MDS).
    fn in_grace(&self) -> bool;
    /// The data server addresses of `node` if it is a live member with a peer record
    /// (possibly none).
    fn device(&self, node: NodeId) -> Option<&[DsAddr]>;
    /// The data servers LAYOUT_GET stripes over: live members with addresses, in member
    /// order.
    fn data_servers(&self) -> impl Iterator<Item = NodeId> + Clone;
    /// An operator drained `node`'s data server (`pnfsctl layout recall device`).
    fn drained(&self, node: NodeId) -> bool;
}

/// What to answer a GET_STATE.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StateDecision {
    /// From the cache: OK, or OLD_STATEID for a seqid below the MDS's generation.
    Cached(Nfsstat, CacheEntry),
    /// Refused without asking anyone.
    Refused(Nfsstat),
    /// Not known here: ask the MDS.
    AskMds,
}

/// GET_STATE: `boot` is the boot epoch the upcall names (0 or absent: any); `cached` the
/// DS cache's entry for the query's key.
pub fn get_state(
    v: &impl ClusterView,
    q: &StateQuery,
    boot: Option<u64>,
    cached: impl FnOnce(&StateKey) -> Option<CacheEntry>,
) -> StateDecision {
    if !v.granting() {
        return StateDecision::Refused(Nfsstat::Delay);
    }
    if boot.is_some_and(|b| b != 0 && b != v.mds_epoch()) {
        return StateDecision::Refused(Nfsstat::StaleStateid);
    }
    let seqid = q.seqid();
    match cached(&q.key()) {
        Some(e) if seqid < e.generation => StateDecision::Cached(Nfsstat::OldStateid, e),
        Some(e) if seqid == e.generation => StateDecision::Cached(Nfsstat::Ok, e),
        _ => StateDecision::AskMds,
    }
}

/// GET_DEVICE_INFO of `node`'s device (None: not a device id of ours): the status and,
/// when OK, the data server's addresses.
pub fn get_device_info(v: &impl ClusterView, node: Option<NodeId>) -> (Nfsstat, &[DsAddr]) {
    if !v.granting() {
        return (Nfsstat::Delay, &[]);
    }
    match node.and_then(|n| v.device(n)) {
        Some(addrs) => (Nfsstat::Ok, addrs),
        None => (Nfsstat::Noent, &[]),
    }
}

/// LAYOUT_GET of file `fileid`: the data server it is striped on, or why not.
pub fn layout_get(v: &impl ClusterView, fileid: u64) -> Result<NodeId, Nfsstat> {
    if !v.granting() {
        return Err(Nfsstat::Delay);
    }
    if !v.is_mds() {
        return Err(Nfsstat::Layoutunavailable);
    }
    if v.in_grace() {
        return Err(Nfsstat::Grace);
    }
    // Drained data servers get no new layouts while another can take them.
    let undrained = v.data_servers().filter(move |n| !v.drained(*n));
    if undrained.clone().next().is_some() {
        return stripe(undrained, fileid).ok_or(Nfsstat::Layoutunavailable);
    }
    stripe(v.data_servers(), fileid).ok_or(Nfsstat::Layoutunavailable)
}

/// The data server file `fileid` is striped on: the fileid-th of `servers` (the live
/// members with addresses, in member order, the drained ones left out while others
/// remain), round robin; None if there is none.
pub fn stripe(mut servers: impl Iterator<Item = NodeId> + Clone, fileid: u64) -> Option<NodeId> {
    let n = servers.clone().count() as u64;
    if n == 0 {
        return None;
    }
    servers.nth((fileid % n) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct V {
        granting: bool,
        mds: bool,
        grace: bool,
        devices: Vec<(NodeId, Vec<DsAddr>)>,
        drained: Vec<NodeId>,
    }

    impl ClusterView for V {
        fn granting(&self) -> bool {
            self.granting
        }
        fn mds_epoch(&self) -> u64 {
            5
        }
        fn node(&self) -> NodeId {
            1
        }
        fn is_mds(&self) -> bool {
            self.mds
        }
        fn in_grace(&self) -> bool {
            self.grace
        }
        fn device(&self, node: NodeId) -> Option<&[DsAddr]> {
            self.devices
                .iter()
                .find(|(n, _)| *n == node)
                .map(|(_, a)| a.as_slice())
        }
        fn data_servers(&self) -> impl Iterator<Item = NodeId> + Clone {
            self.devices
                .iter()
                .filter(|(_, a)| !a.is_empty())
                .map(|(n, _)| *n)
        }
        fn drained(&self, node: NodeId) -> bool {
            self.drained.contains(&node)
        }
    }

    fn addr() -> Vec<DsAddr> {
        vec![DsAddr {
            netid: "tcp".into(),
            uaddr: "10.0.0.2.8.1".into(),
        }]
    }

    fn v() -> V {
        V {
            granting: true,
            mds: true,
            grace: false,
            devices: vec![(1, vec![]), (2, addr()), (3, addr())],
            drained: vec![],
        }
    }

    fn q(seqid: u32) -> StateQuery {
        let mut stateid = [7u8; 16];
        stateid[..4].copy_from_slice(&seqid.to_be_bytes());
        StateQuery {
            fsid: 1,
            fileid: 2,
            stateid,
            clientid: 3,
        }
    }

    #[test]
    fn get_state_answers_from_the_cache_refuses_or_asks() {
        let e = CacheEntry {
            generation: 4,
            access: 1,
            verifier: 9,
            epoch: 5,
        };
        let hit = |_: &StateKey| Some(e);
        assert_eq!(
            get_state(&v(), &q(4), None, hit),
            StateDecision::Cached(Nfsstat::Ok, e)
        );
        assert_eq!(
            get_state(&v(), &q(3), Some(5), hit),
            StateDecision::Cached(Nfsstat::OldStateid, e)
        );
        assert_eq!(get_state(&v(), &q(5), None, hit), StateDecision::AskMds);
        assert_eq!(
            get_state(&v(), &q(4), None, |_| None),
            StateDecision::AskMds
        );
        assert_eq!(
            get_state(&v(), &q(4), Some(6), hit),
            StateDecision::Refused(Nfsstat::StaleStateid)
        );
        let off = V {
            granting: false,
            ..v()
        };
        assert_eq!(
            get_state(&off, &q(4), None, hit),
            StateDecision::Refused(Nfsstat::Delay)
        );
    }

    #[test]
    fn devices_and_layouts() {
        assert_eq!(get_device_info(&v(), Some(2)).0, Nfsstat::Ok);
        assert_eq!(get_device_info(&v(), Some(1)), (Nfsstat::Ok, &[][..]));
        assert_eq!(get_device_info(&v(), Some(9)).0, Nfsstat::Noent);
        assert_eq!(get_device_info(&v(), None).0, Nfsstat::Noent);
        // Striped over the members with addresses (2, 3), round robin by fileid.
        assert_eq!(layout_get(&v(), 0), Ok(2));
        assert_eq!(layout_get(&v(), 1), Ok(3));
        assert_eq!(layout_get(&v(), 2), Ok(2));
        let ds = V { mds: false, ..v() };
        assert_eq!(layout_get(&ds, 0), Err(Nfsstat::Layoutunavailable));
        let grace = V { grace: true, ..v() };
        assert_eq!(layout_get(&grace, 0), Err(Nfsstat::Grace));
        let alone = V {
            devices: vec![(1, vec![])],
            ..v()
        };
        assert_eq!(layout_get(&alone, 0), Err(Nfsstat::Layoutunavailable));
        let off = V {
            granting: false,
            ..v()
        };
        assert_eq!(layout_get(&off, 0), Err(Nfsstat::Delay));
        assert_eq!(get_device_info(&off, Some(2)).0, Nfsstat::Delay);
        // A drained data server gets no new layout while another can take it; its
        // device still answers GET_DEVICE_INFO (clients return its layouts first).
        let drained = V {
            drained: vec![2],
            ..v()
        };
        assert_eq!(
            (layout_get(&drained, 0), layout_get(&drained, 1)),
            (Ok(3), Ok(3))
        );
        assert_eq!(get_device_info(&drained, Some(2)).0, Nfsstat::Ok);
        // All drained: striped as if none were (the operator's drain never leaves the
        // files without a data server; a one-node cluster keeps its own).
        let all = V {
            drained: vec![2, 3],
            ..v()
        };
        assert_eq!((layout_get(&all, 0), layout_get(&all, 1)), (Ok(2), Ok(3)));
    }
}
