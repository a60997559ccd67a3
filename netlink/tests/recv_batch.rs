//! `NlSocket::recv_batch` over NETLINK_USERSOCK (no privileges needed): a burst is taken
//! in batches, a short batch clears readiness without losing what arrives next, a
//! datagram longer than its slot is reported truncated, and SO_PASSCRED works per slot.
#![cfg(feature = "io")]

use pnfs_netlink::socket::{NlSocket, RecvBatch, SocketOptions, NETLINK_USERSOCK};
use std::time::Duration;

fn open(passcred: bool) -> NlSocket {
    NlSocket::open(
        NETLINK_USERSOCK,
        &SocketOptions {
            passcred,
            ..Default::default()
        },
    )
    .expect("USERSOCK socket")
}

async fn batch(rx: &NlSocket, b: &mut RecvBatch) -> usize {
    tokio::time::timeout(Duration::from_secs(5), rx.recv_batch(b))
        .await
        .expect("recv_batch hung: a queued datagram was not seen")
        .expect("recv_batch")
}

#[tokio::test(flavor = "current_thread")]
async fn batches_short_batches_and_truncation() {
    let (rx, tx) = (open(false), open(false));
    let mut b = RecvBatch::new(4, 64);
    // A burst of 6: one batch of 4, then 2 (a short batch: readiness cleared).
    for i in 0..6u8 {
        tx.send_to(&[i; 16], rx.port(), 0).await.unwrap();
    }
    assert_eq!(batch(&rx, &mut b).await, 4);
    for i in 0..4 {
        let (d, from) = b.get(i);
        assert_eq!(d, &[i as u8; 16]);
        assert_eq!(from.port, tx.port());
        assert!(!from.truncated && from.creds.is_none());
    }
    assert_eq!(batch(&rx, &mut b).await, 2);
    assert_eq!(b.get(1).0, &[5u8; 16]);
    // After the short batch, a datagram sent later still wakes the receiver.
    let sender = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send_to(&[9; 100], rx.port(), 0).await.unwrap();
    };
    let (n, ()) = tokio::join!(batch(&rx, &mut b), sender);
    assert_eq!(n, 1);
    let (d, from) = b.get(0);
    assert!(from.truncated, "100 bytes into a 64-byte slot");
    assert_eq!(d.len(), 64);
}

#[tokio::test(flavor = "current_thread")]
async fn credentials_per_slot() {
    let (rx, tx) = (open(true), open(false));
    let mut b = RecvBatch::new(8, 256);
    for i in 0..3u8 {
        tx.send_to(&[i; 8], rx.port(), 0).await.unwrap();
    }
    assert_eq!(batch(&rx, &mut b).await, 3);
    for i in 0..3 {
        let c = b.get(i).1.creds.expect("SCM_CREDENTIALS on every datagram");
        assert_eq!(c.pid, std::process::id() as i32);
    }
}
