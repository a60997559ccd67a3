//! Malformed input, one test per kind, each answered by its exact `DecodeError`.

use pnfs_netlink::codec::{
    ErrorMsg, GenlMsg, Messages, MsgBuilder, NlMsg, MAX_NEST_DEPTH, NLA_F_NESTED, NLMSG_ERROR,
};
use pnfs_netlink::gfs2ctl::{attr as g2, GFS2CTL_POLICY};
use pnfs_netlink::pnfsd::{attr, ds_addr_attr, PNFSD_POLICY};
use pnfs_netlink::{AttrTable, DecodeError, Gfs2Attrs, PnfsdAttrs};

/// The error of a parse that must fail (`AttrTable` is not `Debug`, so no `unwrap_err`).
trait Fail {
    fn fail(self) -> DecodeError;
}

impl<T> Fail for Result<T, DecodeError> {
    fn fail(self) -> DecodeError {
        match self {
            Ok(_) => panic!("malformed input was accepted"),
            Err(e) => e,
        }
    }
}

/// Raw attribute bytes: header (len, type) + payload + padding, no checks.
fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut v = Vec::with_capacity(len + 3);
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(payload);
    v.resize((len + 3) & !3, 0);
    v
}

fn pnfsd(attrs: &[u8]) -> Result<PnfsdAttrs<'_>, DecodeError> {
    AttrTable::parse(attrs, &PNFSD_POLICY)
}

fn gfs2(attrs: &[u8]) -> Result<Gfs2Attrs<'_>, DecodeError> {
    AttrTable::parse(attrs, &GFS2CTL_POLICY)
}

/// A well-formed GET_STATE-like upcall, to be damaged.
fn upcall() -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MsgBuilder::genl(&mut buf, 0x20, 0, 1, 0, 4, 1);
    b.put_u32(attr::XID, 1).put_u64(attr::FSID, 2);
    b.finish();
    buf
}

fn first(datagram: &[u8]) -> Result<NlMsg<'_>, DecodeError> {
    Messages::new(datagram)
        .next()
        .expect("a message or an error")
}

#[test]
fn truncated_nlmsghdr() {
    let m = upcall();
    assert_eq!(
        first(&m[..10]).fail(),
        DecodeError::Truncated {
            what: "nlmsghdr",
            need: 16,
            have: 10
        }
    );
    // The iterator stops after the first malformed header.
    let mut it = Messages::new(&m[..10]);
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
}

#[test]
fn nlmsg_len_beyond_datagram() {
    let mut m = upcall();
    let have = m.len();
    m[..4].copy_from_slice(&200u32.to_ne_bytes());
    assert_eq!(
        first(&m).fail(),
        DecodeError::BadMessageLength { len: 200, have }
    );
}

#[test]
fn nlmsg_len_below_header() {
    let mut m = upcall();
    let have = m.len();
    m[..4].copy_from_slice(&8u32.to_ne_bytes());
    assert_eq!(
        first(&m).fail(),
        DecodeError::BadMessageLength { len: 8, have }
    );
}

#[test]
fn second_message_truncated_after_a_good_one() {
    let mut d = upcall();
    d.extend_from_slice(&upcall()[..12]);
    let got: Vec<_> = Messages::new(&d).map(|m| m.map(|_| ())).collect();
    assert_eq!(
        got,
        [
            Ok(()),
            Err(DecodeError::Truncated {
                what: "nlmsghdr",
                need: 16,
                have: 12
            })
        ]
    );
}

#[test]
fn truncated_genl_header() {
    let mut m = upcall();
    m.truncate(18);
    m[..4].copy_from_slice(&18u32.to_ne_bytes());
    let msg = first(&m).unwrap();
    assert_eq!(
        GenlMsg::parse(msg).fail(),
        DecodeError::Truncated {
            what: "genlmsghdr",
            need: 4,
            have: 2
        }
    );
}

#[test]
fn attribute_overrun() {
    let mut a = nla(attr::XID, &1u32.to_ne_bytes());
    a.extend_from_slice(&nla(attr::FSID, &2u64.to_ne_bytes()));
    a[8..10].copy_from_slice(&40u16.to_ne_bytes()); // fsid claims 40 bytes, has 12
    assert_eq!(pnfsd(&a).fail(), DecodeError::AttrOverrun { offset: 8 });
    // A header cut short is an overrun too.
    let b = &nla(attr::XID, &1u32.to_ne_bytes())[..2];
    assert_eq!(pnfsd(b).fail(), DecodeError::AttrOverrun { offset: 0 });
}

#[test]
fn attribute_len_below_header() {
    let mut a = nla(attr::XID, &1u32.to_ne_bytes());
    a[..2].copy_from_slice(&3u16.to_ne_bytes());
    assert_eq!(pnfsd(&a).fail(), DecodeError::AttrOverrun { offset: 0 });
}

#[test]
fn wrong_fixed_size() {
    let mut a = nla(attr::FSID, &2u64.to_ne_bytes());
    a.extend_from_slice(&nla(attr::XID, &[1, 0, 0]));
    assert_eq!(
        pnfsd(&a).fail(),
        DecodeError::AttrLength {
            attr: "xid",
            offset: 12,
            len: 3,
            expected: 4
        }
    );
    // A u8 with 4 bytes, in the other family.
    let b = nla(g2::FIRST, &[1, 0, 0, 0]);
    assert_eq!(
        gfs2(&b).fail(),
        DecodeError::AttrLength {
            attr: "first",
            offset: 0,
            len: 4,
            expected: 1
        }
    );
}

#[test]
fn binary_with_wrong_exact_length() {
    let a = nla(attr::STATEID, &[0xab; 15]);
    assert_eq!(
        pnfsd(&a).fail(),
        DecodeError::AttrLengthRange {
            attr: "stateid",
            offset: 0,
            len: 15,
            min: 16,
            max: 16
        }
    );
    let b = nla(attr::DEVICE_ID, &[0xab; 17]);
    assert!(matches!(
        pnfsd(&b).fail(),
        DecodeError::AttrLengthRange {
            attr: "device-id",
            len: 17,
            ..
        }
    ));
}

#[test]
fn string_without_nul() {
    let a = nla(g2::TABLE, b"alpha:gfs0");
    assert_eq!(
        gfs2(&a).fail(),
        DecodeError::NotNulTerminated {
            attr: "table",
            offset: 0
        }
    );
    // Inside a nest: the offset is the inner attribute's, in the whole buffer.
    let mut nest = nla(ds_addr_attr::NETID, b"tcp\0");
    nest.extend_from_slice(&nla(ds_addr_attr::UADDR, b"10.0.0.1.8.1"));
    let mut a = nla(attr::XID, &1u32.to_ne_bytes());
    a.extend_from_slice(&nla(attr::DS_ADDR | NLA_F_NESTED, &nest));
    assert_eq!(
        pnfsd(&a).fail(),
        DecodeError::NotNulTerminated {
            attr: "uaddr",
            offset: 8 + 4 + 8
        }
    );
}

#[test]
fn string_not_utf8() {
    let a = nla(g2::DEVICE, b"/dev/\xff\0");
    assert_eq!(
        gfs2(&a).fail(),
        DecodeError::BadUtf8 {
            attr: "device",
            offset: 0
        }
    );
}

#[test]
fn string_too_long() {
    let max = 64; // GFS2_LOCKNAME_LEN
    let ok = [b'a'; 64];
    let mut s = ok.to_vec();
    s.push(0);
    assert!(gfs2(&nla(g2::TABLE, &s)).is_ok(), "max-len characters fit");
    let mut long = vec![b'a'; 65];
    long.push(0);
    assert_eq!(
        gfs2(&nla(g2::TABLE, &long)).fail(),
        DecodeError::AttrLengthRange {
            attr: "table",
            offset: 0,
            len: 66,
            min: 0,
            max
        }
    );
    // A short string padded with bytes past max-len is too long as well (the kernel's
    // NLA_NUL_STRING answers ERANGE).
    let mut padded = b"alpha:gfs0\0".to_vec();
    padded.resize(80, b'x');
    assert_eq!(
        gfs2(&nla(g2::TABLE, &padded)).fail(),
        DecodeError::AttrLengthRange {
            attr: "table",
            offset: 0,
            len: 80,
            min: 0,
            max
        }
    );
}

#[test]
fn enum_out_of_range() {
    let mut a = nla(attr::VERSION, &1u32.to_ne_bytes());
    a.extend_from_slice(&nla(attr::ROLE, &3u32.to_ne_bytes()));
    let e = pnfsd(&a).fail();
    assert_eq!(
        e,
        DecodeError::OutOfRange {
            attr: "role",
            offset: 8,
            value: 3,
            min: 1,
            max: 2
        }
    );
    assert_eq!(e.errno(), libc::ERANGE);
    assert_eq!(
        pnfsd(&nla(attr::ROLE, &0u32.to_ne_bytes())).fail(),
        DecodeError::OutOfRange {
            attr: "role",
            offset: 0,
            value: 0,
            min: 1,
            max: 2
        }
    );
}

/// `levels` nests of attribute `inner` inside each other, around one u32.
fn nest_chain(levels: usize, inner: u16) -> Vec<u8> {
    let mut v = nla(1, &7u32.to_ne_bytes());
    for _ in 0..levels {
        v = nla(inner | NLA_F_NESTED, &v);
    }
    v
}

#[test]
fn nest_depth_bomb_inside_a_known_nest() {
    // ds-addr { unknown#9 { unknown#9 { ... } } }: the unknown nests are skipped but their
    // depth is still bounded.
    let deep = nla(
        attr::DS_ADDR | NLA_F_NESTED,
        &nest_chain(MAX_NEST_DEPTH + 2, 9),
    );
    let e = pnfsd(&deep).fail();
    // The first attribute past the limit: each level adds one 4-byte header.
    assert_eq!(
        e,
        DecodeError::NestTooDeep {
            offset: 4 * (MAX_NEST_DEPTH + 1)
        }
    );
    // A shallow unknown nest inside ds-addr is fine.
    let shallow = nla(attr::DS_ADDR | NLA_F_NESTED, &nest_chain(2, 9));
    assert!(pnfsd(&shallow).is_ok());
}

#[test]
fn nest_depth_bomb_inside_an_unknown_attribute() {
    let deep = nest_chain(MAX_NEST_DEPTH + 2, 200);
    assert_eq!(
        pnfsd(&deep).fail(),
        DecodeError::NestTooDeep {
            offset: 4 * MAX_NEST_DEPTH
        }
    );
    let shallow = nest_chain(3, 200);
    assert_eq!(pnfsd(&shallow).unwrap().unknown, 1);
}

#[test]
fn malformed_nest_contents() {
    let mut a = nla(attr::XID, &1u32.to_ne_bytes());
    a.extend_from_slice(&nla(attr::DS_ADDR | NLA_F_NESTED, &[2, 0, 1, 0]));
    assert_eq!(
        pnfsd(&a).fail(),
        DecodeError::BadNest {
            attr: "ds-addr",
            offset: 8
        }
    );
}

#[test]
fn missing_required_attribute() {
    let a = nla(attr::FSID, &2u64.to_ne_bytes());
    let t = pnfsd(&a).unwrap();
    assert_eq!(
        t.require(attr::XID).fail(),
        DecodeError::MissingAttr { attr: "xid" }
    );
    assert_eq!(
        t.req_array::<16>(attr::STATEID).fail(),
        DecodeError::MissingAttr { attr: "stateid" }
    );
    assert_eq!(t.req_u64(attr::FSID), Ok(2));
}

#[test]
fn unknown_attribute_is_counted_not_an_error() {
    let mut a = nla(attr::XID, &1u32.to_ne_bytes());
    a.extend_from_slice(&nla(attr::MAX + 1, &[1, 2, 3, 4, 5])); // from a newer kernel
    a.extend_from_slice(&nla(0, &[])); // id 0 is never defined
    a.extend_from_slice(&nla(0x3fff, &[9; 8]));
    let t = pnfsd(&a).unwrap();
    assert_eq!(t.unknown, 3);
    assert_eq!(t.u32(attr::XID), Some(1));
    assert!(!t.has(attr::MAX + 1));
}

#[test]
fn pad_attribute_is_skipped() {
    let mut a = nla(attr::XID, &1u32.to_ne_bytes());
    a.extend_from_slice(&nla(attr::PAD, &[0; 4]));
    a.extend_from_slice(&nla(attr::FSID, &2u64.to_ne_bytes()));
    let t = pnfsd(&a).unwrap();
    assert_eq!(t.unknown, 0);
    assert!(!t.has(attr::PAD));
    assert_eq!((t.u32(attr::XID), t.u64(attr::FSID)), (Some(1), Some(2)));
}

fn strict(attrs: &[u8]) -> Result<PnfsdAttrs<'_>, DecodeError> {
    AttrTable::parse_strict(attrs, &PNFSD_POLICY)
}

/// A DS_ADDR nest holding `inner`, after an XID (so the nest sits at offset 8).
fn ds_addr_after_xid(flags: u16, inner: &[u8]) -> Vec<u8> {
    let mut a = nla(attr::XID, &1u32.to_ne_bytes());
    a.extend_from_slice(&nla(attr::DS_ADDR | flags, inner));
    a
}

#[test]
fn strict_refuses_unknown_attributes_as_the_kernel_does() {
    let mut a = nla(attr::XID, &1u32.to_ne_bytes());
    a.extend_from_slice(&nla(attr::MAX + 1, &[1, 2, 3, 4]));
    let e = strict(&a).fail();
    assert_eq!(
        e,
        DecodeError::UnknownAttr {
            kind: attr::MAX + 1,
            offset: 8
        }
    );
    assert_eq!(
        (e.to_string().as_str(), e.errno()),
        ("Unknown attribute type", libc::EINVAL)
    );
    // Id 0 is never defined either.
    assert!(matches!(
        strict(&nla(0, &[])).fail(),
        DecodeError::UnknownAttr { kind: 0, offset: 0 }
    ));
    // Inside a nest: the offset is the inner attribute's, from the start of the attributes.
    let inner = nla(0x77, &[0; 4]);
    assert_eq!(
        strict(&ds_addr_after_xid(NLA_F_NESTED, &inner)).fail(),
        DecodeError::UnknownAttr {
            kind: 0x77,
            offset: 12
        }
    );
    // The liberal parse (used on what the kernel sends) still skips them.
    assert_eq!(pnfsd(&a).unwrap().unknown, 1);
}

#[test]
fn strict_checks_the_nested_flag_both_ways() {
    let netid = nla(ds_addr_attr::NETID, b"tcp\0");
    assert_eq!(
        strict(&ds_addr_after_xid(0, &netid)).fail(),
        DecodeError::NestedFlagMissing {
            attr: "ds-addr",
            offset: 8
        }
    );
    assert!(strict(&ds_addr_after_xid(NLA_F_NESTED, &netid)).is_ok());
    let flagged = nla(attr::XID | NLA_F_NESTED, &1u32.to_ne_bytes());
    let e = strict(&flagged).fail();
    assert_eq!(
        e,
        DecodeError::NestedFlagUnexpected {
            attr: "xid",
            offset: 0
        }
    );
    assert_eq!(e.to_string(), "NLA_F_NESTED not expected");
    // Liberal: the flag on a nest is optional.
    assert!(pnfsd(&ds_addr_after_xid(0, &netid)).is_ok());
}

#[test]
fn strict_rejects_the_pad_attribute() {
    let mut a = nla(attr::XID, &1u32.to_ne_bytes());
    a.extend_from_slice(&nla(attr::PAD, &[0; 4]));
    let e = strict(&a).fail();
    assert!(
        matches!(e, DecodeError::Rejected { offset: 8, .. }),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "Attribute failed policy validation");
}

#[test]
fn message_larger_than_64k() {
    let mut buf = Vec::new();
    let mut b = MsgBuilder::genl(&mut buf, 0x20, 0, 1, 0, 4, 1);
    for i in 0..8200u32 {
        b.put_u32(attr::XID, i);
    }
    b.finish();
    let g = GenlMsg::parse(first(&buf).unwrap()).unwrap();
    assert_eq!(g.attrs.len(), 8200 * 8);
    assert_eq!(
        pnfsd(g.attrs).fail(),
        DecodeError::TooLarge { len: 8200 * 8 }
    );
    assert_eq!(DecodeError::TooLarge { len: 1 }.errno(), libc::EMSGSIZE);
}

#[test]
fn truncated_error_message() {
    let mut buf = Vec::new();
    let b = MsgBuilder::new(&mut buf, NLMSG_ERROR, 0, 1, 0);
    b.finish();
    buf.extend_from_slice(&(-1i32).to_ne_bytes());
    buf[..4].copy_from_slice(&20u32.to_ne_bytes());
    assert_eq!(
        ErrorMsg::parse(first(&buf).unwrap()).fail(),
        DecodeError::Truncated {
            what: "nlmsgerr",
            need: 20,
            have: 4
        }
    );
}
