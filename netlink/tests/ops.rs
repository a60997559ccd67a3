//! The generated per-operation builders and views: what a builder writes, its view
//! reads back; a view refuses a message without a required attribute and names it.

use pnfs_netlink::codec::{GenlHeader, Messages, MsgBuilder, NLM_F_REQUEST};
use pnfs_netlink::{gfs2ctl, pnfsd, DecodeError, GenlMsg};

fn one(buf: &[u8]) -> GenlMsg<'_> {
    GenlMsg::parse(Messages::new(buf).next().unwrap().unwrap()).unwrap()
}

#[test]
fn state_check_request_and_reply_round_trip() {
    use pnfsd::ops::state_check;
    let mut buf = Vec::new();
    let h = state_check::header(0x20).flags(NLM_F_REQUEST).seq(9);
    let len = state_check::RequestAttrs {
        fsid: 1,
        fileid: 2,
        stateid: [3; 16],
        clientid: Some(4),
    }
    .write(&mut buf, &h);
    assert_eq!(len, buf.len());
    let m = one(&buf);
    assert_eq!(
        (m.header.kind, m.header.seq, m.cmd()),
        (0x20, 9, pnfsd::cmd::STATE_CHECK)
    );
    assert_eq!(m.genl.version, pnfsd::FAMILY_VERSION);
    let r = state_check::Request::parse(m.attrs).unwrap();
    assert_eq!(
        (r.fsid(), r.fileid(), r.stateid(), r.clientid()),
        (1, 2, &[3; 16], Some(4))
    );

    // The same bytes as the attributes put by id, in the spec's order.
    let mut by_id = Vec::new();
    let mut b = MsgBuilder::genl(
        &mut by_id,
        0x20,
        NLM_F_REQUEST,
        9,
        0,
        pnfsd::cmd::STATE_CHECK,
        1,
    );
    b.put_u64(pnfsd::attr::FSID, 1)
        .put_u64(pnfsd::attr::FILEID, 2)
        .put_bytes(pnfsd::attr::STATEID, &[3; 16])
        .put_u64(pnfsd::attr::CLIENTID, 4);
    b.finish();
    assert_eq!(buf, by_id);

    buf.clear();
    state_check::ReplyAttrs {
        status: pnfsd::Nfsstat::OldStateid as u32,
        generation: Some(7),
        ..Default::default()
    }
    .write(&mut buf, &state_check::header(0x20));
    let r = state_check::Reply::parse(one(&buf).attrs).unwrap();
    assert_eq!(r.status(), pnfsd::Nfsstat::OldStateid as u32);
    assert_eq!(
        (r.generation(), r.access(), r.boot_epoch()),
        (Some(7), None, None)
    );
}

#[test]
fn a_missing_required_attribute_is_named() {
    use pnfsd::ops::state_check;
    let mut buf = Vec::new();
    let mut b = state_check::header(0x20).start(&mut buf);
    b.put_u64(pnfsd::attr::FSID, 1)
        .put_u64(pnfsd::attr::FILEID, 2);
    b.finish();
    let e = state_check::Request::parse(one(&buf).attrs).err().unwrap();
    assert!(
        matches!(e, DecodeError::MissingAttr { attr: "stateid" }),
        "{e:?}"
    );
    // Through the op's strict policy, as the kernel half reads it: the same.
    let t = pnfs_netlink::PnfsdAttrs::parse_strict(
        one(&buf).attrs,
        &pnfsd::request_policy::STATE_CHECK,
    )
    .unwrap();
    let e = state_check::Request::from_table(t).err().unwrap();
    assert!(
        matches!(e, DecodeError::MissingAttr { attr: "stateid" }),
        "{e:?}"
    );
}

#[test]
fn get_state_upcall_round_trips() {
    use pnfsd::ops::get_state;
    let mut buf = Vec::new();
    let sent = get_state::RequestAttrs {
        xid: 77,
        mds_id: 1,
        boot_epoch: 2,
        fsid: 3,
        fileid: 4,
        stateid: [5; 16],
        clientid: 6,
    };
    sent.write(&mut buf, &get_state::header(0x20).seq(77));
    let r = get_state::Request::parse(one(&buf).attrs).unwrap();
    assert_eq!(
        (
            r.xid(),
            r.mds_id(),
            r.boot_epoch(),
            r.fsid(),
            r.fileid(),
            r.stateid(),
            r.clientid()
        ),
        (77, 1, 2, 3, 4, &[5; 16], 6)
    );
    // The daemon's answer goes in a REPLY message, read there with the upcall's view.
    buf.clear();
    get_state::ReplyAttrs {
        xid: 77,
        status: 0,
        access: Some(pnfsd::access::READ),
        ..Default::default()
    }
    .write(&mut buf, &pnfsd::ops::reply::header(0x20));
    let m = one(&buf);
    assert_eq!(m.cmd(), pnfsd::cmd::REPLY);
    let r = pnfsd::ops::reply::Request::parse(m.attrs).unwrap();
    assert_eq!(
        (r.xid(), r.status(), r.access()),
        (77, 0, Some(pnfsd::access::READ))
    );
}

#[test]
fn nests_and_multi_attrs_round_trip() {
    use pnfsd::nest::{DsAddrAttrs, KindStatsAttrs, RefusalsAttrs};
    use pnfsd::ops::{device_set, stats_get};
    let addrs = [
        DsAddrAttrs {
            netid: Some("tcp"),
            uaddr: Some("10.0.0.1.8.1"),
        },
        DsAddrAttrs {
            netid: Some("tcp6"),
            uaddr: None,
        },
    ];
    let mut buf = Vec::new();
    device_set::RequestAttrs {
        device_id: [9; 16],
        node_id: Some(3),
        ds_addr: &addrs,
    }
    .write(&mut buf, &device_set::header(0x20));
    let r = device_set::Request::parse(one(&buf).attrs).unwrap();
    assert_eq!((r.device_id(), r.node_id()), (&[9; 16], Some(3)));
    let got: Vec<_> = r.ds_addr().map(|a| (a.netid(), a.uaddr())).collect();
    assert_eq!(
        got,
        [(Some("tcp"), Some("10.0.0.1.8.1")), (Some("tcp6"), None)]
    );

    buf.clear();
    let kinds = [KindStatsAttrs {
        kind: Some(1),
        sent: Some(10),
        hist: Some(&[1, 2, 3]),
        ..Default::default()
    }];
    stats_get::ReplyAttrs {
        kind_stats: &kinds,
        late_replies: 5,
        refusals: Some(RefusalsAttrs {
            impostor: Some(2),
            ..Default::default()
        }),
    }
    .write(&mut buf, &stats_get::header(0x20));
    let r = stats_get::Reply::parse(one(&buf).attrs).unwrap();
    assert_eq!(r.late_replies(), 5);
    let k: Vec<_> = r
        .kind_stats()
        .map(|k| (k.kind(), k.sent(), k.hist(), k.answered()))
        .collect();
    assert_eq!(k, [(Some(1), Some(10), Some(&[1u8, 2, 3][..]), None)]);
    let refusals = r.refusals().unwrap();
    assert_eq!(
        (refusals.impostor(), refusals.unprivileged()),
        (Some(2), None)
    );

    // gfs2ctl: a multi-attr u32, a flag-free family with an s32 status.
    use gfs2ctl::ops::{members, mount_done};
    buf.clear();
    members::RequestAttrs { member: &[1, 2, 3] }.write(&mut buf, &members::header(0x21));
    let r = members::Request::parse(one(&buf).attrs).unwrap();
    assert_eq!(r.member().collect::<Vec<_>>(), [1, 2, 3]);
    buf.clear();
    mount_done::RequestAttrs {
        xid: 1,
        table: "c:fs",
        jid: 2,
        status: -5,
    }
    .write(&mut buf, &mount_done::header(0x21));
    let r = mount_done::Request::parse(one(&buf).attrs).unwrap();
    assert_eq!(
        (r.xid(), r.table(), r.jid(), r.status()),
        (1, "c:fs", 2, -5)
    );
}

#[test]
fn a_flag_is_put_only_when_set() {
    use pnfsd::ops::trigger;
    let mut buf = Vec::new();
    let h = trigger::header(0x20);
    trigger::RequestAttrs {
        upcall_kind: 1,
        loopback: true,
        ..Default::default()
    }
    .write(&mut buf, &h);
    assert!(trigger::Request::parse(one(&buf).attrs).unwrap().loopback());
    buf.clear();
    trigger::RequestAttrs {
        upcall_kind: 1,
        ..Default::default()
    }
    .write(&mut buf, &h);
    let r = trigger::Request::parse(one(&buf).attrs).unwrap();
    assert!(!r.loopback());
    assert_eq!((r.upcall_kind(), r.count()), (1, None));
    let _ = GenlHeader::new(0, 0);
}
