//! `NlSocket::recv_batch` over NETLINK_USERSOCK (no privileges needed): a burst is taken
//! in batches, a short batch clears readiness without losing what arrives next, a
//! datagram longer than its slot is reported truncated, and SO_PASSCRED works per slot;
//! an adaptive batch on a blocking socket (`recvmmsg_into`, the twin's and the daemon's
//! receive threads) takes every datagram once and in order whatever it asks for, asks
//! for one while they come one at a time, and gives up after the receive timeout.
#![cfg(feature = "io")]

use pnfs_netlink::socket::{
    recvmmsg_into, set_blocking_receive, NlSocket, RecvBatch, SocketOptions, NETLINK_USERSOCK,
};
use std::os::fd::AsRawFd;
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

/// Blocking receive into an adaptive batch; returns the bytes' first values, in order.
fn take(rx: &NlSocket, b: &mut RecvBatch, passcred: bool) -> Vec<u8> {
    let flags = libc::MSG_WAITFORONE | libc::MSG_TRUNC;
    let n = recvmmsg_into(rx.as_raw_fd(), b, passcred, flags).expect("a queued datagram");
    assert_eq!(n, b.len());
    (0..n)
        .map(|i| {
            let (d, from) = b.get(i);
            assert_eq!(from.creds.is_some(), passcred, "credentials iff asked");
            if passcred {
                assert_eq!(from.creds.unwrap().pid, std::process::id() as i32);
            }
            d[0]
        })
        .collect()
}

#[test]
fn adaptive_blocking_batches() {
    for passcred in [false, true] {
        let (rx, tx) = (open(passcred), open(false));
        set_blocking_receive(rx.as_raw_fd(), Duration::from_millis(50)).unwrap();
        let mut b = RecvBatch::adaptive(4, 64);
        let send = |v: u8, len: usize| tx.try_send_to(&vec![v; len], rx.port(), 0).unwrap();
        // One at a time: one asked for, the datagram whole (or marked truncated).
        send(1, 16);
        assert_eq!(take(&rx, &mut b, passcred), [1]);
        assert_eq!(b.asked(), 1);
        send(2, 100);
        assert_eq!(take(&rx, &mut b, passcred), [2]);
        assert!(b.get(0).1.truncated, "100 bytes into a 64-byte slot");
        // A queue: taken in batches of up to 4, in order, none lost or repeated.
        for v in 10..17 {
            send(v, 8);
        }
        let mut got = Vec::new();
        while got.len() < 7 {
            got.extend(take(&rx, &mut b, passcred));
        }
        assert_eq!(got, (10..17).collect::<Vec<u8>>());
        assert_eq!(b.asked(), 4, "a queue was seen: all the slots asked for");
        // Back to one at a time: after one short batch, one is asked for again.
        send(20, 8);
        assert_eq!(take(&rx, &mut b, passcred), [20]);
        send(21, 8);
        assert_eq!(take(&rx, &mut b, passcred), [21]);
        assert_eq!(b.asked(), 1);
        // Nothing queued: the receive gives up after the timeout (EAGAIN), no hang.
        let t = std::time::Instant::now();
        let e = recvmmsg_into(rx.as_raw_fd(), &mut b, passcred, libc::MSG_WAITFORONE)
            .expect_err("nothing was sent");
        assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
