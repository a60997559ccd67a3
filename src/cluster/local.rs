//! The single-node engine: the embedded default. It has the same ordering guarantees as
//! CPG trivially: there is one member, and a sent message is delivered back to it.

use super::{Cluster, ClusterError, ClusterEvent, Membership, NodeId};
use tokio::sync::mpsc;

/// Bound of the engine's delivery queue; a full queue is reported, never grown.
const QUEUE: usize = 4096;

/// A one-node cluster.
pub struct LocalEngine {
    node: NodeId,
    tx: mpsc::Sender<ClusterEvent>,
    rx: mpsc::Receiver<ClusterEvent>,
}

impl LocalEngine {
    /// A cluster of one node, `node`, which is quorate.
    pub fn new(node: NodeId) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tx.try_send(ClusterEvent::Membership(Membership {
            members: vec![node],
            joined: vec![node],
            left: vec![],
            quorate: true,
        }))
        .expect("fresh queue has room");
        Self { node, tx, rx }
    }
}

impl Cluster for LocalEngine {
    fn node_id(&self) -> NodeId {
        self.node
    }

    fn send(&self, payload: &[u8]) -> Result<(), ClusterError> {
        self.tx
            .try_send(ClusterEvent::Message {
                from: self.node,
                payload: payload.to_vec(),
            })
            .map_err(|e| ClusterError::Send(e.to_string()))
    }

    fn events(&mut self) -> &mut mpsc::Receiver<ClusterEvent> {
        &mut self.rx
    }

    fn name(&self) -> &'static str {
        "local"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_membership_then_own_messages_in_order() {
        let mut e = LocalEngine::new(7);
        match e.events().recv().await.unwrap() {
            ClusterEvent::Membership(m) => {
                assert_eq!(m.members, vec![7]);
                assert!(m.quorate);
            }
            other => panic!("expected membership, got {other:?}"),
        }
        e.send(b"a").unwrap();
        e.send(b"b").unwrap();
        for want in [b"a", b"b"] {
            match e.events().recv().await.unwrap() {
                ClusterEvent::Message { from, payload } => {
                    assert_eq!(from, 7);
                    assert_eq!(payload, want);
                }
                other => panic!("expected message, got {other:?}"),
            }
        }
    }
}
