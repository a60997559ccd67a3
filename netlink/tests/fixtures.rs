//! Byte-annotated fixtures of every kind of message the channel carries, each parsed
//! field by field and rebuilt byte for byte with `MsgBuilder`.
//!
//! Netlink is native-endian; these fixtures are written for little-endian hosts.
//! `PNFS_WRITE_CORPUS=DIR cargo test -p pnfs-netlink --test fixtures write_fuzz_corpus`
//! writes them as the fuzz seed corpus (`fuzz/corpus/<target>/`).
#![cfg(target_endian = "little")]

use pnfs_netlink::client::{
    FamilyInfo, CTRL_CMD_NEWFAMILY, GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_HASPOL,
    GENL_ID_CTRL,
};
use pnfs_netlink::codec::{
    put_done, put_error, NlMsgHdr, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_ACK_TLVS,
    NLM_F_CAPPED, NLM_F_MULTI, NLM_F_REQUEST,
};
use pnfs_netlink::gfs2ctl::{self, GFS2CTL_POLICY};
use pnfs_netlink::pnfsd::{self, attr, ds_addr_attr, DS_ADDR_POLICY, PNFSD_POLICY};
use pnfs_netlink::{
    AttrTable, ErrorMsg, GenlMsg, Gfs2Attrs, Messages, MsgBuilder, NlMsg, PnfsdAttrs,
};

/// Family ids as nlctrl might assign them (dynamic ids start at 0x10 + n).
const PNFSD_ID: u16 = 0x0020;
const GFS2CTL_ID: u16 = 0x0021;
const DAEMON_PORT: u32 = 1234;
const STATEID: [u8; 16] = [
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];
const UUID: [u8; 16] = [
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
];

#[rustfmt::skip]
mod bytes {
    /// Netlink buffers are 4-byte aligned (the codec reads headers in place).
    #[repr(C, align(4))]
    pub struct Aligned<const N: usize>(pub [u8; N]);

    pub static GET_STATE_UPCALL: Aligned<104> = Aligned([
        0x68, 0x00, 0x00, 0x00, // nlmsg len 104
        0x20, 0x00, // nlmsg type 0x0020 (pnfsd)
        0x00, 0x00, // nlmsg flags 0x0000 (none)
        0x00, 0x00, 0x00, 0x00, // nlmsg seq 0
        0x00, 0x00, 0x00, 0x00, // nlmsg pid 0
        0x04, // genl cmd 4 (GET_STATE)
        0x01, // genl version 1
        0x00, 0x00, // genl reserved
        0x08, 0x00, // nla len 8
        0x01, 0x00, // nla type 1 (xid)
        0x04, 0x03, 0x02, 0x01, // xid 0x01020304
        0x08, 0x00, // nla len 8
        0x06, 0x00, // nla type 6 (mds-id)
        0x07, 0x00, 0x00, 0x00, // mds-id 7
        0x0c, 0x00, // nla len 12
        0x07, 0x00, // nla type 7 (boot-epoch)
        0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00, // boot-epoch 1700000000
        0x0c, 0x00, // nla len 12
        0x08, 0x00, // nla type 8 (fsid)
        0xef, 0xbe, 0x00, 0x00, 0x0d, 0xf0, 0x00, 0x00, // fsid 0xf00d0000beef
        0x0c, 0x00, // nla len 12
        0x09, 0x00, // nla type 9 (fileid)
        0x92, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fileid 4242
        0x14, 0x00, // nla len 20
        0x0a, 0x00, // nla type 10 (stateid)
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, // stateid 10 11 .. 1f
        0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
        0x0c, 0x00, // nla len 12
        0x0b, 0x00, // nla type 11 (clientid)
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // clientid 0x1122334455667788
    ]);

    pub static GET_STATE_REPLY: Aligned<76> = Aligned([
        0x4c, 0x00, 0x00, 0x00, // nlmsg len 76
        0x20, 0x00, // nlmsg type 0x0020 (pnfsd)
        0x05, 0x00, // nlmsg flags 0x0005 (REQUEST | ACK)
        0x4d, 0x00, 0x00, 0x00, // nlmsg seq 77
        0xd2, 0x04, 0x00, 0x00, // nlmsg pid 1234
        0x03, // genl cmd 3 (REPLY)
        0x01, // genl version 1
        0x00, 0x00, // genl reserved
        0x08, 0x00, // nla len 8
        0x01, 0x00, // nla type 1 (xid)
        0x04, 0x03, 0x02, 0x01, // xid 0x01020304
        0x08, 0x00, // nla len 8
        0x02, 0x00, // nla type 2 (status)
        0x00, 0x00, 0x00, 0x00, // status 0 (ok)
        0x08, 0x00, // nla len 8
        0x0c, 0x00, // nla type 12 (access)
        0x03, 0x00, 0x00, 0x00, // access READ | WRITE
        0x08, 0x00, // nla len 8
        0x0d, 0x00, // nla type 13 (generation)
        0x05, 0x00, 0x00, 0x00, // generation 5
        0x0c, 0x00, // nla len 12
        0x0b, 0x00, // nla type 11 (clientid)
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // clientid 0x1122334455667788
        0x0c, 0x00, // nla len 12
        0x0e, 0x00, // nla type 14 (verifier)
        0x0d, 0xf0, 0xfe, 0xca, 0xef, 0xbe, 0xad, 0xde, // verifier 0xdeadbeefcafef00d
    ]);

    pub static GET_DEVICE_INFO_REPLY: Aligned<104> = Aligned([
        0x68, 0x00, 0x00, 0x00, // nlmsg len 104
        0x20, 0x00, // nlmsg type 0x0020 (pnfsd)
        0x05, 0x00, // nlmsg flags 0x0005 (REQUEST | ACK)
        0x4e, 0x00, 0x00, 0x00, // nlmsg seq 78
        0xd2, 0x04, 0x00, 0x00, // nlmsg pid 1234
        0x03, // genl cmd 3 (REPLY)
        0x01, // genl version 1
        0x00, 0x00, // genl reserved
        0x08, 0x00, // nla len 8
        0x01, 0x00, // nla type 1 (xid)
        0x09, 0x00, 0x00, 0x00, // xid 9
        0x08, 0x00, // nla len 8
        0x02, 0x00, // nla type 2 (status)
        0x00, 0x00, 0x00, 0x00, // status 0 (ok)
        0x20, 0x00, // nla len 32
        0x10, 0x80, // nla type 16 (ds-addr) | NLA_F_NESTED
            0x08, 0x00, // nla len 8
            0x01, 0x00, // nla type 1 (netid)
            0x74, 0x63, 0x70, 0x00, // netid "tcp\0"
            0x12, 0x00, // nla len 18
            0x02, 0x00, // nla type 2 (uaddr)
            0x31, 0x39, 0x32, 0x2e, 0x30, 0x2e, 0x32, 0x2e, // uaddr "192.0.2.1.8.1\0"
            0x31, 0x2e, 0x38, 0x2e, 0x31, 0x00,
            0x00, 0x00, // padding
        0x24, 0x00, // nla len 36
        0x10, 0x80, // nla type 16 (ds-addr) | NLA_F_NESTED
            0x09, 0x00, // nla len 9
            0x01, 0x00, // nla type 1 (netid)
            0x74, 0x63, 0x70, 0x36, 0x00, // netid "tcp6\0"
            0x00, 0x00, 0x00, // padding
            0x14, 0x00, // nla len 20
            0x02, 0x00, // nla type 2 (uaddr)
            0x32, 0x30, 0x30, 0x31, 0x3a, 0x64, 0x62, 0x38, // uaddr "2001:db8::1.8.1\0"
            0x3a, 0x3a, 0x31, 0x2e, 0x38, 0x2e, 0x31, 0x00,
    ]);

    pub static LAYOUT_GET_UPCALL: Aligned<96> = Aligned([
        0x60, 0x00, 0x00, 0x00, // nlmsg len 96
        0x20, 0x00, // nlmsg type 0x0020 (pnfsd)
        0x00, 0x00, // nlmsg flags 0x0000 (none)
        0x00, 0x00, 0x00, 0x00, // nlmsg seq 0
        0x00, 0x00, 0x00, 0x00, // nlmsg pid 0
        0x06, // genl cmd 6 (LAYOUT_GET)
        0x01, // genl version 1
        0x00, 0x00, // genl reserved
        0x08, 0x00, // nla len 8
        0x01, 0x00, // nla type 1 (xid)
        0x0a, 0x00, 0x00, 0x00, // xid 10
        0x0c, 0x00, // nla len 12
        0x0b, 0x00, // nla type 11 (clientid)
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // clientid 0x1122334455667788
        0x0c, 0x00, // nla len 12
        0x08, 0x00, // nla type 8 (fsid)
        0xef, 0xbe, 0x00, 0x00, 0x0d, 0xf0, 0x00, 0x00, // fsid 0xf00d0000beef
        0x0c, 0x00, // nla len 12
        0x09, 0x00, // nla type 9 (fileid)
        0x92, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fileid 4242
        0x08, 0x00, // nla len 8
        0x11, 0x00, // nla type 17 (iomode)
        0x02, 0x00, 0x00, 0x00, // iomode 2 (rw)
        0x0c, 0x00, // nla len 12
        0x12, 0x00, // nla type 18 (offset)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset 0
        0x0c, 0x00, // nla len 12
        0x13, 0x00, // nla type 19 (length)
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // length NFS4_MAX_UINT64 (to EOF)
    ]);

    pub static GFS2_MOUNT_UPCALL: Aligned<88> = Aligned([
        0x58, 0x00, 0x00, 0x00, // nlmsg len 88
        0x21, 0x00, // nlmsg type 0x0021 (gfs2ctl)
        0x00, 0x00, // nlmsg flags 0x0000 (none)
        0x00, 0x00, 0x00, 0x00, // nlmsg seq 0
        0x00, 0x00, 0x00, 0x00, // nlmsg pid 0
        0x04, // genl cmd 4 (MOUNT)
        0x01, // genl version 1
        0x00, 0x00, // genl reserved
        0x08, 0x00, // nla len 8
        0x01, 0x00, // nla type 1 (xid)
        0x0b, 0x00, 0x00, 0x00, // xid 11
        0x0f, 0x00, // nla len 15
        0x05, 0x00, // nla type 5 (table)
        0x61, 0x6c, 0x70, 0x68, 0x61, 0x3a, 0x67, 0x66, // table "alpha:gfs0\0"
        0x73, 0x30, 0x00,
        0x00, // padding
        0x14, 0x00, // nla len 20
        0x06, 0x00, // nla type 6 (uuid)
        0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, // uuid 50 51 .. 5f
        0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
        0x0d, 0x00, // nla len 13
        0x07, 0x00, // nla type 7 (device)
        0x2f, 0x64, 0x65, 0x76, 0x2f, 0x76, 0x64, 0x62, // device "/dev/vdb\0"
        0x00,
        0x00, 0x00, 0x00, // padding
        0x08, 0x00, // nla len 8
        0x08, 0x00, // nla type 8 (mount-flags)
        0x02, 0x00, 0x00, 0x00, // mount-flags RDONLY
    ]);

    pub static ERROR_EXTACK: Aligned<72> = Aligned([
        0x48, 0x00, 0x00, 0x00, // nlmsg len 72
        0x02, 0x00, // nlmsg type 0x0002 (NLMSG_ERROR)
        0x00, 0x03, // nlmsg flags 0x0300 (CAPPED | ACK_TLVS)
        0x4d, 0x00, 0x00, 0x00, // nlmsg seq 77
        0x00, 0x00, 0x00, 0x00, // nlmsg pid 0
        0xea, 0xff, 0xff, 0xff, // error -EINVAL
        0x4c, 0x00, 0x00, 0x00, // request nlmsg len 76
        0x20, 0x00, // request nlmsg type 0x0020 (pnfsd)
        0x05, 0x00, // request nlmsg flags (REQUEST | ACK)
        0x4d, 0x00, 0x00, 0x00, // request nlmsg seq 77
        0xd2, 0x04, 0x00, 0x00, // request nlmsg pid 1234
        0x19, 0x00, // nla len 25
        0x01, 0x00, // nla type 1 (NLMSGERR_ATTR_MSG)
        0x78, 0x69, 0x64, 0x20, 0x31, 0x20, 0x69, 0x73, // "xid 1 is not pending\0"
        0x20, 0x6e, 0x6f, 0x74, 0x20, 0x70, 0x65, 0x6e,
        0x64, 0x69, 0x6e, 0x67, 0x00,
        0x00, 0x00, 0x00, // padding
        0x08, 0x00, // nla len 8
        0x02, 0x00, // nla type 2 (NLMSGERR_ATTR_OFFS)
        0x14, 0x00, 0x00, 0x00, // offset 20 (the xid attribute)
    ]);

    pub static DONE: Aligned<20> = Aligned([
        0x14, 0x00, 0x00, 0x00, // nlmsg len 20
        0x03, 0x00, // nlmsg type 0x0003 (NLMSG_DONE)
        0x02, 0x00, // nlmsg flags 0x0002 (MULTI)
        0x4e, 0x00, 0x00, 0x00, // nlmsg seq 78
        0x00, 0x00, 0x00, 0x00, // nlmsg pid 0
        0x00, 0x00, 0x00, 0x00, // done: 0
    ]);

    pub static CTRL_NEWFAMILY: Aligned<136> = Aligned([
        0x88, 0x00, 0x00, 0x00, // nlmsg len 136
        0x10, 0x00, // nlmsg type 0x0010 (GENL_ID_CTRL)
        0x00, 0x00, // nlmsg flags 0x0000 (none)
        0x05, 0x00, 0x00, 0x00, // nlmsg seq 5
        0xe1, 0x10, 0x00, 0x00, // nlmsg pid 4321
        0x01, // genl cmd 1 (CTRL_CMD_NEWFAMILY)
        0x02, // genl version 2
        0x00, 0x00, // genl reserved
        0x0a, 0x00, // nla len 10
        0x02, 0x00, // nla type 2 (CTRL_ATTR_FAMILY_NAME)
        0x70, 0x6e, 0x66, 0x73, 0x64, 0x00, // "pnfsd\0"
        0x00, 0x00, // padding
        0x06, 0x00, // nla len 6
        0x01, 0x00, // nla type 1 (CTRL_ATTR_FAMILY_ID)
        0x20, 0x00, // family id 0x0020
        0x00, 0x00, // padding
        0x08, 0x00, // nla len 8
        0x03, 0x00, // nla type 3 (CTRL_ATTR_VERSION)
        0x01, 0x00, 0x00, 0x00, // version 1
        0x08, 0x00, // nla len 8
        0x04, 0x00, // nla type 4 (CTRL_ATTR_HDRSIZE)
        0x00, 0x00, 0x00, 0x00, // hdrsize 0
        0x08, 0x00, // nla len 8
        0x05, 0x00, // nla type 5 (CTRL_ATTR_MAXATTR)
        0x27, 0x00, 0x00, 0x00, // maxattr 39 (pnfsd::attr::MAX)
        0x2c, 0x00, // nla len 44
        0x06, 0x80, // nla type 6 (CTRL_ATTR_OPS) | NLA_F_NESTED
            0x14, 0x00, // nla len 20
            0x01, 0x80, // nla type 1 (op #1) | NLA_F_NESTED
                0x08, 0x00, // nla len 8
                0x01, 0x00, // nla type 1 (CTRL_ATTR_OP_ID)
                0x01, 0x00, 0x00, 0x00, // op 1 (register)
                0x08, 0x00, // nla len 8
                0x02, 0x00, // nla type 2 (CTRL_ATTR_OP_FLAGS)
                0x0b, 0x00, 0x00, 0x00, // ADMIN_PERM | CMD_CAP_DO | HASPOL
            0x14, 0x00, // nla len 20
            0x02, 0x80, // nla type 2 (op #2) | NLA_F_NESTED
                0x08, 0x00, // nla len 8
                0x01, 0x00, // nla type 1 (CTRL_ATTR_OP_ID)
                0x15, 0x00, 0x00, 0x00, // op 21 (status-get)
                0x08, 0x00, // nla len 8
                0x02, 0x00, // nla type 2 (CTRL_ATTR_OP_FLAGS)
                0x0a, 0x00, 0x00, 0x00, // CMD_CAP_DO | HASPOL
        0x1c, 0x00, // nla len 28
        0x07, 0x80, // nla type 7 (CTRL_ATTR_MCAST_GROUPS) | NLA_F_NESTED
            0x18, 0x00, // nla len 24
            0x01, 0x80, // nla type 1 (group #1) | NLA_F_NESTED
                0x08, 0x00, // nla len 8
                0x02, 0x00, // nla type 2 (CTRL_ATTR_MCAST_GRP_ID)
                0x09, 0x00, 0x00, 0x00, // group id 9
                0x0b, 0x00, // nla len 11
                0x01, 0x00, // nla type 1 (CTRL_ATTR_MCAST_GRP_NAME)
                0x65, 0x76, 0x65, 0x6e, 0x74, 0x73, 0x00, // "events\0"
                0x00, // padding
    ]);

}
use bytes::*;

/// The single message of a datagram.
fn only_message(datagram: &[u8]) -> NlMsg<'_> {
    let mut it = Messages::new(datagram);
    let m = it.next().expect("one message").expect("well-formed header");
    assert!(it.next().is_none(), "exactly one message");
    assert_eq!(m.header.len as usize, datagram.len());
    m
}

fn genl(datagram: &[u8]) -> GenlMsg<'_> {
    GenlMsg::parse(only_message(datagram)).expect("genl header")
}

fn pnfsd_attrs<'a>(g: &GenlMsg<'a>) -> PnfsdAttrs<'a> {
    let t = AttrTable::parse(g.attrs, &PNFSD_POLICY).expect("attributes follow the policy");
    assert_eq!(t.unknown, 0);
    t
}

#[test]
fn get_state_upcall() {
    let g = genl(&GET_STATE_UPCALL.0);
    assert_eq!(
        (g.header.kind, g.header.flags, g.header.seq, g.header.pid),
        (PNFSD_ID, 0, 0, 0)
    );
    assert_eq!((g.cmd(), g.genl.version), (pnfsd::cmd::GET_STATE, 1));
    let t = pnfsd_attrs(&g);
    // Every attribute of the op's request list is present.
    let op = pnfsd::FAMILY.op(pnfsd::cmd::GET_STATE).unwrap();
    assert!(op.upcall);
    for id in op.request {
        assert!(t.has(*id), "{} missing", PNFSD_POLICY.name(*id));
    }
    assert_eq!(t.req_u32(attr::XID), Ok(0x0102_0304));
    assert_eq!(t.req_u32(attr::MDS_ID), Ok(7));
    assert_eq!(t.req_u64(attr::BOOT_EPOCH), Ok(1_700_000_000));
    assert_eq!(t.req_u64(attr::FSID), Ok(0xf00d_0000_beef));
    assert_eq!(t.req_u64(attr::FILEID), Ok(4242));
    assert_eq!(t.req_array::<16>(attr::STATEID), Ok(&STATEID));
    assert_eq!(t.req_u64(attr::CLIENTID), Ok(0x1122_3344_5566_7788));
    assert_eq!(t.get(attr::STATUS).map(|a| a.payload), None);

    let mut buf = Vec::new();
    let mut b = MsgBuilder::genl(&mut buf, PNFSD_ID, 0, 0, 0, pnfsd::cmd::GET_STATE, 1);
    b.put_u32(attr::XID, 0x0102_0304)
        .put_u32(attr::MDS_ID, 7)
        .put_u64(attr::BOOT_EPOCH, 1_700_000_000)
        .put_u64(attr::FSID, 0xf00d_0000_beef)
        .put_u64(attr::FILEID, 4242)
        .put_bytes(attr::STATEID, &STATEID)
        .put_u64(attr::CLIENTID, 0x1122_3344_5566_7788);
    assert_eq!(b.finish(), GET_STATE_UPCALL.0.len());
    assert_eq!(buf, GET_STATE_UPCALL.0);
}

#[test]
fn get_state_reply() {
    let g = genl(&GET_STATE_REPLY.0);
    assert_eq!(
        (g.header.kind, g.header.flags, g.header.seq, g.header.pid),
        (PNFSD_ID, NLM_F_REQUEST | NLM_F_ACK, 77, DAEMON_PORT)
    );
    assert_eq!((g.cmd(), g.genl.version), (pnfsd::cmd::REPLY, 1));
    let t = pnfsd_attrs(&g);
    let op = pnfsd::FAMILY.op(pnfsd::cmd::GET_STATE).unwrap();
    for id in op.reply {
        assert!(t.has(*id), "{} missing", PNFSD_POLICY.name(*id));
    }
    assert_eq!(t.u32(attr::XID), Some(0x0102_0304));
    assert_eq!(t.u32(attr::STATUS), Some(pnfsd::Nfsstat::Ok as u32));
    assert_eq!(
        t.u32(attr::ACCESS),
        Some(pnfsd::access::READ | pnfsd::access::WRITE)
    );
    assert_eq!(t.u32(attr::GENERATION), Some(5));
    assert_eq!(t.u64(attr::CLIENTID), Some(0x1122_3344_5566_7788));
    assert_eq!(t.u64(attr::VERIFIER), Some(0xdead_beef_cafe_f00d));

    let mut buf = Vec::new();
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    let mut b = MsgBuilder::genl(
        &mut buf,
        PNFSD_ID,
        flags,
        77,
        DAEMON_PORT,
        pnfsd::cmd::REPLY,
        1,
    );
    b.put_u32(attr::XID, 0x0102_0304)
        .put_u32(attr::STATUS, 0)
        .put_u32(attr::ACCESS, 3)
        .put_u32(attr::GENERATION, 5)
        .put_u64(attr::CLIENTID, 0x1122_3344_5566_7788)
        .put_u64(attr::VERIFIER, 0xdead_beef_cafe_f00d);
    b.finish();
    assert_eq!(buf, GET_STATE_REPLY.0);
}

#[test]
fn get_device_info_reply_with_two_ds_addrs() {
    let g = genl(&GET_DEVICE_INFO_REPLY.0);
    assert_eq!((g.header.seq, g.cmd()), (78, pnfsd::cmd::REPLY));
    let t = pnfsd_attrs(&g);
    assert_eq!(t.u32(attr::XID), Some(9));
    assert_eq!(t.u32(attr::STATUS), Some(0));
    // The slot of a multi-attr holds the first; `all` walks every one.
    let first = t.get(attr::DS_ADDR).unwrap();
    assert_eq!(first.offset, 16);
    let addrs: Vec<(String, String)> = t
        .all(attr::DS_ADDR)
        .map(|a| {
            let n: AttrTable<'_, 3> = AttrTable::parse(a.payload, &DS_ADDR_POLICY).unwrap();
            (
                n.req_str(ds_addr_attr::NETID).unwrap().to_string(),
                n.req_str(ds_addr_attr::UADDR).unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        addrs,
        [
            ("tcp".to_string(), "192.0.2.1.8.1".to_string()),
            ("tcp6".to_string(), "2001:db8::1.8.1".to_string())
        ]
    );

    let mut buf = Vec::new();
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    let mut b = MsgBuilder::genl(
        &mut buf,
        PNFSD_ID,
        flags,
        78,
        DAEMON_PORT,
        pnfsd::cmd::REPLY,
        1,
    );
    b.put_u32(attr::XID, 9).put_u32(attr::STATUS, 0);
    for (netid, uaddr) in [("tcp", "192.0.2.1.8.1"), ("tcp6", "2001:db8::1.8.1")] {
        let n = b.nest_begin(attr::DS_ADDR);
        b.put_str(ds_addr_attr::NETID, netid)
            .put_str(ds_addr_attr::UADDR, uaddr);
        b.nest_end(n);
    }
    b.finish();
    assert_eq!(buf, GET_DEVICE_INFO_REPLY.0);
}

#[test]
fn layout_get_upcall() {
    let g = genl(&LAYOUT_GET_UPCALL.0);
    assert_eq!((g.header.kind, g.cmd()), (PNFSD_ID, pnfsd::cmd::LAYOUT_GET));
    let t = pnfsd_attrs(&g);
    for id in pnfsd::FAMILY.op(pnfsd::cmd::LAYOUT_GET).unwrap().request {
        assert!(t.has(*id), "{} missing", PNFSD_POLICY.name(*id));
    }
    assert_eq!(t.u32(attr::XID), Some(10));
    assert_eq!(t.u64(attr::CLIENTID), Some(0x1122_3344_5566_7788));
    assert_eq!(t.u64(attr::FSID), Some(0xf00d_0000_beef));
    assert_eq!(t.u64(attr::FILEID), Some(4242));
    assert_eq!(
        t.u32(attr::IOMODE).and_then(pnfsd::Iomode::from_u32),
        Some(pnfsd::Iomode::Rw)
    );
    assert_eq!(t.u64(attr::OFFSET), Some(0));
    assert_eq!(t.u64(attr::LENGTH), Some(u64::MAX));

    let mut buf = Vec::new();
    let mut b = MsgBuilder::genl(&mut buf, PNFSD_ID, 0, 0, 0, pnfsd::cmd::LAYOUT_GET, 1);
    b.put_u32(attr::XID, 10)
        .put_u64(attr::CLIENTID, 0x1122_3344_5566_7788)
        .put_u64(attr::FSID, 0xf00d_0000_beef)
        .put_u64(attr::FILEID, 4242)
        .put_u32(attr::IOMODE, pnfsd::Iomode::Rw as u32)
        .put_u64(attr::OFFSET, 0)
        .put_u64(attr::LENGTH, u64::MAX);
    b.finish();
    assert_eq!(buf, LAYOUT_GET_UPCALL.0);
}

#[test]
fn gfs2ctl_mount_upcall() {
    use gfs2ctl::attr as g2;
    let g = genl(&GFS2_MOUNT_UPCALL.0);
    assert_eq!((g.header.kind, g.cmd()), (GFS2CTL_ID, gfs2ctl::cmd::MOUNT));
    let t: Gfs2Attrs<'_> = AttrTable::parse(g.attrs, &GFS2CTL_POLICY).unwrap();
    assert_eq!(t.unknown, 0);
    for id in gfs2ctl::FAMILY.op(gfs2ctl::cmd::MOUNT).unwrap().request {
        assert!(t.has(*id), "{} missing", GFS2CTL_POLICY.name(*id));
    }
    assert_eq!(t.u32(g2::XID), Some(11));
    assert_eq!(t.str(g2::TABLE), Some("alpha:gfs0"));
    assert_eq!(t.array::<16>(g2::UUID), Some(&UUID));
    assert_eq!(t.str(g2::DEVICE), Some("/dev/vdb"));
    assert_eq!(t.u32(g2::MOUNT_FLAGS), Some(gfs2ctl::mount_flags::RDONLY));

    let mut buf = Vec::new();
    let mut b = MsgBuilder::genl(&mut buf, GFS2CTL_ID, 0, 0, 0, gfs2ctl::cmd::MOUNT, 1);
    b.put_u32(g2::XID, 11)
        .put_str(g2::TABLE, "alpha:gfs0")
        .put_bytes(g2::UUID, &UUID)
        .put_str(g2::DEVICE, "/dev/vdb")
        .put_u32(g2::MOUNT_FLAGS, gfs2ctl::mount_flags::RDONLY);
    b.finish();
    assert_eq!(buf, GFS2_MOUNT_UPCALL.0);
}

#[test]
fn error_with_extack_capped() {
    let m = only_message(&ERROR_EXTACK.0);
    assert_eq!(m.header.kind, NLMSG_ERROR);
    assert_eq!(m.header.flags, NLM_F_CAPPED | NLM_F_ACK_TLVS);
    let e = ErrorMsg::parse(m).unwrap();
    assert_eq!(e.error, -libc::EINVAL);
    assert_eq!(
        (
            e.request.len,
            e.request.kind,
            e.request.flags,
            e.request.seq,
            e.request.pid
        ),
        (76, PNFSD_ID, NLM_F_REQUEST | NLM_F_ACK, 77, DAEMON_PORT)
    );
    assert_eq!(e.message, Some("xid 1 is not pending"));
    assert_eq!(e.offset, Some(20));
    assert_eq!(e.missing_attr, None);

    // The request it answers is GET_STATE_REPLY.0's header.
    let request = only_message(&GET_STATE_REPLY.0).header;
    let mut buf = Vec::new();
    let len = put_error(
        &mut buf,
        request,
        libc::EINVAL,
        Some("xid 1 is not pending"),
        Some(20),
        0,
    );
    assert_eq!(len, ERROR_EXTACK.0.len());
    assert_eq!(buf, ERROR_EXTACK.0);
}

#[test]
fn done() {
    let m = only_message(&DONE.0);
    assert_eq!(
        (m.header.kind, m.header.flags, m.header.seq, m.header.pid),
        (NLMSG_DONE, NLM_F_MULTI, 78, 0)
    );
    assert_eq!(m.payload, 0i32.to_ne_bytes());
    let mut buf = Vec::new();
    assert_eq!(put_done(&mut buf, 78, 0), 20);
    assert_eq!(buf, DONE.0);
}

fn pnfsd_family_info() -> FamilyInfo {
    FamilyInfo {
        id: PNFSD_ID,
        name: "pnfsd".into(),
        version: 1,
        hdrsize: 0,
        maxattr: attr::MAX as u32,
        ops: vec![
            (
                pnfsd::cmd::REGISTER as u32,
                GENL_ADMIN_PERM | GENL_CMD_CAP_DO | GENL_CMD_CAP_HASPOL,
            ),
            (
                pnfsd::cmd::STATUS_GET as u32,
                GENL_CMD_CAP_DO | GENL_CMD_CAP_HASPOL,
            ),
        ],
        groups: vec![("events".into(), 9)],
    }
}

#[test]
fn ctrl_newfamily() {
    let g = genl(&CTRL_NEWFAMILY.0);
    assert_eq!(
        (g.header.kind, g.header.seq, g.header.pid),
        (GENL_ID_CTRL, 5, 4321)
    );
    assert_eq!((g.cmd(), g.genl.version), (CTRL_CMD_NEWFAMILY, 2));
    let info = FamilyInfo::parse(g.attrs).unwrap();
    assert_eq!(info, pnfsd_family_info());
    assert_eq!(info.group("events"), Some(9));

    let mut buf = Vec::new();
    let mut b = MsgBuilder::genl(&mut buf, GENL_ID_CTRL, 0, 5, 4321, CTRL_CMD_NEWFAMILY, 2);
    pnfsd_family_info().encode(&mut b);
    b.finish();
    assert_eq!(buf, CTRL_NEWFAMILY.0);
}

/// A datagram of several messages (a dump answer) splits where the headers say.
#[test]
fn concatenated_dump_datagram() {
    let mut datagram = Vec::new();
    datagram.extend_from_slice(&GET_DEVICE_INFO_REPLY.0);
    datagram.extend_from_slice(&GET_STATE_REPLY.0);
    datagram.extend_from_slice(&DONE.0);
    let kinds: Vec<(u16, usize)> = Messages::new(&datagram)
        .map(|m| m.map(|m| (m.header.kind, m.payload.len())).unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            (PNFSD_ID, GET_DEVICE_INFO_REPLY.0.len() - 16),
            (PNFSD_ID, GET_STATE_REPLY.0.len() - 16),
            (NLMSG_DONE, 4)
        ]
    );
    let _: &NlMsgHdr = only_message(&DONE.0).header;
}

/// Writes the fixtures as the fuzz seed corpus when `PNFS_WRITE_CORPUS` names a folder
/// (the `fuzz/` directory); otherwise does nothing.
#[test]
fn write_fuzz_corpus() {
    let Some(dir) = std::env::var_os("PNFS_WRITE_CORPUS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let messages: [(&str, &[u8]); 8] = [
        ("get_state_upcall", &GET_STATE_UPCALL.0),
        ("get_state_reply", &GET_STATE_REPLY.0),
        ("get_device_info_reply", &GET_DEVICE_INFO_REPLY.0),
        ("layout_get_upcall", &LAYOUT_GET_UPCALL.0),
        ("gfs2_mount_upcall", &GFS2_MOUNT_UPCALL.0),
        ("error_extack", &ERROR_EXTACK.0),
        ("done", &DONE.0),
        ("ctrl_newfamily", &CTRL_NEWFAMILY.0),
    ];
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let d = dir.join("corpus").join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    };
    for (name, bytes) in messages {
        write("nlmsg", name, bytes);
    }
    // nlctrl parses attributes only (after the genl header).
    write("nlctrl", "ctrl_newfamily", genl(&CTRL_NEWFAMILY.0).attrs);
    // The round-trip target reads its input as a recipe; any bytes are valid recipes.
    for (name, bytes) in messages {
        write("roundtrip", name, &bytes[16..]);
    }
}
