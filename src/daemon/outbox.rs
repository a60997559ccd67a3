//! Where effects leave the daemon: REPLY and other messages to the kernel half are
//! built in `tx` and sent by `flush` at the end of each event, in datagrams the kernel
//! half takes whole (`datagram_len`); cluster messages and downcalls go out through
//! `send` and `downcall`, each after `restrict` closes the fast path to what the
//! half-changed state may no longer allow. `flush` also starts the durable write.

use super::*;

/// What effects leave by: REPLY and other messages to the kernel half (sent by
/// `flush`), the cluster engine, the downcall worker's queue.
pub(super) struct Outbox {
    pub(super) tx: Vec<u8>,
    pub(super) msg_buf: Vec<u8>,
    pub(super) cluster: Box<dyn Cluster>,
    pub(super) down: mpsc::Sender<(Tag, Down)>,
    /// A downcall was queued since the loop last yielded to the downcall worker (a
    /// task on this thread: it runs only when the loop yields).
    pub(super) down_queued: bool,
}

/// How many bytes of `buf` (whole netlink messages, back to back) go in the next datagram:
/// as many whole messages as fit in `max`, and at least one.
pub(super) fn datagram_len(buf: &[u8], max: usize) -> usize {
    let mut len = 0;
    while len + 4 <= buf.len() {
        let m = u32::from_ne_bytes(buf[len..len + 4].try_into().unwrap()) as usize;
        let m = (m + 3) & !3;
        if m == 0 || (len > 0 && len + m > max) {
            break;
        }
        len = (len + m).min(buf.len());
    }
    if len == 0 {
        buf.len()
    } else {
        len
    }
}

impl Daemon {
    /// Send the REPLY messages built so far, as one datagram; start a durable write of
    /// what changed.
    pub(super) async fn flush(&mut self) {
        self.publish();
        if self.durable.dirty_version > self.durable.saved_version
            && !self.durable.write_in_flight
            && self
                .durable
                .retry
                .is_none_or(|(at, _)| Instant::now() >= at)
        {
            self.durable.write_in_flight = true;
            self.durable.writing_epoch = self.store.state.epoch;
            let snap = (self.durable.dirty_version, self.store.state.clone());
            if self.durable.tx.try_send(snap).is_err() {
                self.durable.write_in_flight = false;
            }
        }
        if self.out.tx.is_empty() {
            return;
        }
        // One event may answer thousands of parked upcalls: send them in datagrams the
        // kernel half can take whole (it drops a longer one, every REPLY in it lost).
        let mut start = 0;
        while start < self.out.tx.len() {
            let end = start + datagram_len(&self.out.tx[start..], MAX_TO_KERNEL);
            if let Err(e) = self
                .sock
                .send_to(&self.out.tx[start..end], self.upcall_peer, 0)
                .await
            {
                self.ring
                    .push(format!("replies not delivered to the kernel half: {e}"));
            }
            start = end;
        }
        self.out.tx.clear();
    }

    pub(super) fn send(&mut self, m: Msg) -> bool {
        self.restrict();
        m.encode(&mut self.out.msg_buf);
        if let Err(e) = self.out.cluster.send(&self.out.msg_buf) {
            self.ring.push(format!("cluster send failed: {e}"));
            return false;
        }
        true
    }

    /// Let the downcall worker (a task on this thread) send what was queued since the
    /// loop last yielded: it runs only when the loop yields.
    pub(super) async fn yield_to_downcalls(&mut self) {
        if std::mem::take(&mut self.out.down_queued) {
            tokio::task::yield_now().await;
        }
    }

    pub(super) fn downcall(&mut self, tag: Tag, d: Down) {
        self.restrict();
        if let Err(e) = self.out.down.try_send((tag, d)) {
            self.ring.push(format!("downcall queue full, dropped: {e}"));
        } else {
            self.out.down_queued = true;
        }
    }
}

#[cfg(test)]
mod datagram_tests {
    use super::datagram_len;

    fn msgs(lens: &[u32]) -> Vec<u8> {
        let mut b = Vec::new();
        for &l in lens {
            let start = b.len();
            b.extend_from_slice(&l.to_ne_bytes());
            b.resize(start + l as usize, 0);
        }
        b
    }

    #[test]
    fn replies_are_cut_at_message_boundaries_within_the_limit() {
        let b = msgs(&[40; 100]); // 4000 bytes
        let mut cuts = Vec::new();
        let mut s = 0;
        while s < b.len() {
            let l = datagram_len(&b[s..], 990);
            assert!(l <= 990 && l.is_multiple_of(40), "{l}");
            cuts.push(l);
            s += l;
        }
        assert_eq!(cuts, [960, 960, 960, 960, 160]);
        // One message longer than the limit goes alone; a corrupt length takes the rest.
        assert_eq!(datagram_len(&msgs(&[2000, 40]), 1000), 2000);
        assert_eq!(datagram_len(&[0u8; 16], 1000), 16);
    }
}
