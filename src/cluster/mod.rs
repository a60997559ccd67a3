//! Cluster engines: how daemons on different nodes agree.
//!
//! Every engine gives the same guarantees, those of Corosync CPG's virtual synchrony:
//! all members see the same sequence of membership changes and messages, in the same
//! order, and a node's own messages are delivered back to it in that order. Decisions
//! (who is MDS, who recovers which journal) are made by every daemon from that shared
//! sequence, so no extra consensus round is needed.

pub mod local;

#[cfg(feature = "corosync")]
pub mod corosync;

use tokio::sync::mpsc;

/// A cluster node id (Corosync's `nodeid`).
pub type NodeId = u32;

/// Why a node left the group (CPG's `cpg_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaveReason {
    /// The daemon left the group on purpose.
    Left,
    /// The node (its corosync) went away or was partitioned off.
    NodeDown,
    /// The daemon's process went away but the node stayed.
    ProcDown,
    /// Anything else reported by the engine.
    Other,
}

/// One membership change, delivered in agreed order with messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// All members after the change, sorted by node id.
    pub members: Vec<NodeId>,
    /// Members that joined with this change.
    pub joined: Vec<NodeId>,
    /// Members that left with this change.
    pub left: Vec<(NodeId, LeaveReason)>,
    /// Whether this partition holds quorum (a minority must stop granting state).
    pub quorate: bool,
}

/// What an engine delivers to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A membership change.
    Membership(Membership),
    /// A message multicast by `from` (possibly this node), in agreed order.
    Message { from: NodeId, payload: Vec<u8> },
    /// The engine lost its connection (e.g. corosync died). The daemon must stop granting.
    Lost(String),
}

/// Errors from a cluster engine.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster engine unavailable: {0}")]
    Unavailable(String),
    #[error("cluster send failed: {0}")]
    Send(String),
    #[error("message too large for the cluster engine ({0} bytes)")]
    TooLarge(usize),
}

/// The interface every engine implements.
pub trait Cluster: Send {
    /// This node's id.
    fn node_id(&self) -> NodeId;
    /// Multicast `payload` to every member, this node included, in agreed order.
    /// Must not block for long: engines queue or retry flow control internally.
    fn send(&self, payload: &[u8]) -> Result<(), ClusterError>;
    /// The stream of events. The first event is the initial membership.
    fn events(&mut self) -> &mut mpsc::Receiver<ClusterEvent>;
    /// Engine name for logs and the CLI.
    fn name(&self) -> &'static str;
}
