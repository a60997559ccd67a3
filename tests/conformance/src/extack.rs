//! Error reports as the kernel makes them: every extack TLV of a refusal — message,
//! offset, the refused attribute's policy (NLMSGERR_ATTR_POLICY), the missing
//! attribute's type and nest (NLMSGERR_ATTR_MISS_TYPE, _MISS_NEST) — for requests the
//! generated policy (lib/nlattr.c `validate_nla`) or a handler's required-attribute
//! check (GENL_REQ_ATTR_CHECK, NL_REQ_ATTR_CHECK) refuses.

use crate::conn::{Conn, Msg};
use crate::nlctrl::{desc_of, nt, pt, Desc};
use crate::{Env, Fam, WAIT};
use pnfs_netlink::codec::{
    align, AttrIter, MsgBuilder, NLA_F_NESTED, NLMSGERR_ATTR_MISS_TYPE, NLMSGERR_ATTR_MSG,
    NLMSGERR_ATTR_OFFS, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED,
};
use pnfs_netlink::{gfs2ctl, pnfsd};
use std::collections::BTreeMap;
use std::rc::Rc;

use gfs2ctl::{attr as ga, cmd as gc};
use pnfsd::{attr as pa, cmd as pc};

type R = Result<(), String>;

const NLMSGERR_ATTR_POLICY: u16 = 4;
const NLMSGERR_ATTR_MISS_NEST: u16 = 6;
/// Offset of the first attribute from the start of the netlink message.
const ATTRS_AT: u64 = 20;

/// A refusal as received: errno and its extack TLVs by type.
#[derive(Debug)]
struct Refusal {
    errno: i32,
    tlvs: BTreeMap<u16, Vec<u8>>,
}

impl Refusal {
    fn parse(m: &Msg) -> Result<Refusal, String> {
        check_eq!(m.kind, NLMSG_ERROR, "answer type");
        let p = &m.attrs;
        let errno = -i32::from_ne_bytes(p[..4].try_into().map_err(|_| "short error")?);
        let echoed = if m.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            align(u32::from_ne_bytes(p[4..8].try_into().unwrap()) as usize)
        };
        let mut tlvs = BTreeMap::new();
        if m.flags & NLM_F_ACK_TLVS != 0 {
            for a in AttrIter::new(p.get(4 + echoed..).unwrap_or(&[])) {
                let a = a.map_err(|e| format!("extack TLVs: {e}"))?;
                tlvs.entry(a.kind).or_insert_with(|| a.payload.to_vec());
            }
        }
        Ok(Refusal { errno, tlvs })
    }

    fn message(&self) -> Option<&str> {
        let m = self.tlvs.get(&NLMSGERR_ATTR_MSG)?;
        std::str::from_utf8(m.split(|b| *b == 0).next()?).ok()
    }

    fn u32(&self, tlv: u16) -> Option<u64> {
        self.tlvs
            .get(&tlv)
            .and_then(|p| p.as_slice().try_into().ok())
            .map(|b| u32::from_ne_bytes(b) as u64)
    }

    fn policy(&self) -> Option<Desc> {
        self.tlvs.get(&NLMSGERR_ATTR_POLICY).map(|p| desc_of(p))
    }

    /// errno, message, offset, policy, missing type and nest as the kernel reports them.
    fn expect(
        &self,
        what: &str,
        errno: i32,
        message: &str,
        offset: Option<u64>,
        policy: Option<Desc>,
        missing: Option<(u64, Option<u64>)>,
    ) -> R {
        check_eq!(self.errno, errno, "{what}: errno");
        check_eq!(self.message(), Some(message), "{what}: extack message");
        check_eq!(
            self.u32(NLMSGERR_ATTR_OFFS),
            offset,
            "{what}: extack offset"
        );
        check_eq!(
            self.policy(),
            policy,
            "{what}: the refused attribute's policy"
        );
        check_eq!(
            self.u32(NLMSGERR_ATTR_MISS_TYPE),
            missing.map(|m| m.0),
            "{what}: missing attribute type"
        );
        check_eq!(
            self.u32(NLMSGERR_ATTR_MISS_NEST),
            missing.and_then(|m| m.1),
            "{what}: offset of the nest missing it"
        );
        Ok(())
    }
}

/// Send a request of `f` from `c` and return its refusal.
async fn refusal(
    env: &Env,
    c: &Conn,
    f: Fam,
    cmd: u8,
    build: impl FnOnce(&mut MsgBuilder<'_>),
) -> Result<Refusal, String> {
    let (buf, seq) = c.encode(env.id(f), cmd, 0, build);
    c.send_raw(&buf).await?;
    let msgs = c.raw_answer(seq, WAIT).await?;
    let last = msgs.last().ok_or("no answer")?;
    let r = Refusal::parse(last)?;
    check!(r.errno != 0, "{} cmd {cmd}: accepted", f.name());
    Ok(r)
}

/// A required attribute that is missing is named by type (NLMSGERR_ATTR_MISS_TYPE) and
/// message, inside a nest with the nest's offset too (NLMSGERR_ATTR_MISS_NEST), as the
/// module's PNFS_SHIM_REQ_ATTR (GENL_REQ_ATTR_CHECK) and ds-addr check
/// (NL_REQ_ATTR_CHECK) report it; no offset, no policy. The twin of f506fb8 sent the
/// message only: this failed there on the missing-type TLV of REGISTER without version.
pub async fn missing_attribute_by_type(env: &mut Env) -> R {
    for f in Fam::BOTH {
        // Tracked, so that a REGISTER taken in error is undone at the next reset.
        let conn = Rc::new(env.conn()?);
        env.track(f, &conn);
        let r = refusal(env, &conn, f, pc::REGISTER, |b| {
            b.put_u32(pa::NODE_ID, 1);
        })
        .await?;
        let what = format!("{} REGISTER without version", f.name());
        let version = match f {
            Fam::Pnfsd => pa::VERSION,
            Fam::Gfs2 => ga::VERSION,
        } as u64;
        r.expect(
            &what,
            libc::EINVAL,
            "missing attribute: version",
            None,
            None,
            Some((version, None)),
        )?;
    }
    let c = env.conn()?;
    let r = refusal(env, &c, Fam::Pnfsd, pc::LAYOUT_RECALL, |b| {
        b.put_u32(pa::RECALL_TYPE, pnfsd::RecallType::File as u32)
            .put_u64(pa::FSID, 1);
    })
    .await?;
    r.expect(
        "recall by file without fileid",
        libc::EINVAL,
        "missing attribute: fileid",
        None,
        None,
        Some((pa::FILEID as u64, None)),
    )?;
    // device-id (4 + 16 bytes), then a ds-addr without uaddr.
    let r = refusal(env, &c, Fam::Pnfsd, pc::DEVICE_SET, |b| {
        b.put_bytes(pa::DEVICE_ID, &[0xd1; 16]);
        let n = b.nest_begin(pa::DS_ADDR);
        b.put_str(pnfsd::ds_addr_attr::NETID, "tcp");
        b.nest_end(n);
    })
    .await?;
    r.expect(
        "ds-addr without uaddr",
        libc::EINVAL,
        "missing attribute: uaddr",
        None,
        None,
        Some((pnfsd::ds_addr_attr::UADDR as u64, Some(ATTRS_AT + 20))),
    )?;
    Ok(())
}

/// Attributes the op's policy refuses are reported in the kernel's words (lib/nlattr.c),
/// at their offset, with their policy as a policy dump describes it
/// (NLMSGERR_ATTR_POLICY; none for an attribute id the policy lacks or leaves
/// NLA_UNSPEC, for NLA_REJECT, nor for a flag outside a mask); what is left after the
/// last whole attribute is "bytes leftover after parsing attributes", without an
/// offset. A fixed-size binary of the wrong size is -ERANGE.
pub async fn policy_refusals_in_kernel_words(env: &mut Env) -> R {
    let c = env.conn()?;
    let u32_range = |lo: u64, hi: u64| {
        Desc::from([
            (pt::MIN_VALUE_U, lo),
            (pt::MAX_VALUE_U, hi),
            (pt::TYPE, nt::U32),
        ])
    };
    const FAILED: &str = "Attribute failed policy validation";

    let r = refusal(env, &c, Fam::Pnfsd, pc::CONFIG_SET, |b| {
        b.put_u32(pa::TIMEOUT_MS, 0);
    })
    .await?;
    r.expect(
        "timeout-ms 0",
        libc::ERANGE,
        "integer out of range",
        Some(ATTRS_AT),
        Some(u32_range(1, 600_000)),
        None,
    )?;

    let r = refusal(env, &c, Fam::Gfs2, gc::CONFIG_SET, |b| {
        b.put_u16(ga::TIMEOUT_MS, 1);
    })
    .await?;
    r.expect(
        "2-byte timeout-ms",
        libc::EINVAL,
        "invalid attribute length",
        Some(ATTRS_AT),
        Some(u32_range(1, 600_000)),
        None,
    )?;

    // fsid, fileid (12 bytes each), then the stateid.
    let r = refusal(env, &c, Fam::Pnfsd, pc::STATE_CHECK, |b| {
        b.put_u64(pa::FSID, 1)
            .put_u64(pa::FILEID, 2)
            .put_bytes(pa::STATEID, &[1; 15]);
    })
    .await?;
    r.expect(
        "stateid of 15 bytes",
        libc::ERANGE,
        "binary attribute size out of range",
        Some(ATTRS_AT + 24),
        Some(Desc::from([
            (pt::MIN_LENGTH, 16),
            (pt::MAX_LENGTH, 16),
            (pt::TYPE, nt::BINARY),
        ])),
        None,
    )?;

    let r = refusal(env, &c, Fam::Gfs2, gc::BLOCK, |b| {
        b.put_bytes(ga::TABLE, b"conf:nonul");
    })
    .await?;
    let table = Desc::from([
        (pt::MAX_LENGTH, gfs2ctl::TABLE_MAX as u64),
        (pt::TYPE, nt::NUL_STRING),
    ]);
    r.expect(
        "table without NUL",
        libc::EINVAL,
        FAILED,
        Some(ATTRS_AT),
        Some(table.clone()),
        None,
    )?;

    let long = "x".repeat(gfs2ctl::TABLE_MAX as usize + 1);
    let r = refusal(env, &c, Fam::Gfs2, gc::BLOCK, |b| {
        b.put_str(ga::TABLE, &long);
    })
    .await?;
    r.expect(
        "table one byte too long",
        libc::EINVAL,
        FAILED,
        Some(ATTRS_AT),
        Some(table),
        None,
    )?;

    // A ds-addr nest without NLA_F_NESTED: its policy says "nested", without the index
    // a policy dump would give (an error's policy is written without a dump).
    let r = refusal(env, &c, Fam::Pnfsd, pc::DEVICE_SET, |b| {
        b.put_bytes(pa::DEVICE_ID, &[0xd2; 16]);
        let mut inner = Vec::new();
        let mut nb = MsgBuilder::new(&mut inner, 0, 0, 0, 0);
        nb.put_str(pnfsd::ds_addr_attr::NETID, "tcp")
            .put_str(pnfsd::ds_addr_attr::UADDR, "10.0.0.1.8.1");
        nb.finish();
        b.put_bytes(pa::DS_ADDR, &inner[NLMSG_HDRLEN..]);
    })
    .await?;
    r.expect(
        "ds-addr without NLA_F_NESTED",
        libc::EINVAL,
        "NLA_F_NESTED is missing",
        Some(ATTRS_AT + 20),
        Some(Desc::from([(pt::TYPE, nt::NESTED)])),
        None,
    )?;

    let r = refusal(env, &c, Fam::Pnfsd, pc::CONFIG_SET, |b| {
        b.put_u32(pa::TIMEOUT_MS | NLA_F_NESTED, 4000);
    })
    .await?;
    r.expect(
        "timeout-ms with NLA_F_NESTED",
        libc::EINVAL,
        "NLA_F_NESTED not expected",
        Some(ATTRS_AT),
        Some(u32_range(1, 600_000)),
        None,
    )?;

    // An op without request attributes has the reject-all policy: attribute 1 is
    // NLA_REJECT (no policy to report), any other unknown.
    let r = refusal(env, &c, Fam::Pnfsd, pc::STATUS_GET, |b| {
        b.put_u32(1, 0);
    })
    .await?;
    r.expect(
        "attribute 1 to an op without request attributes",
        libc::EINVAL,
        FAILED,
        Some(ATTRS_AT),
        None,
        None,
    )?;

    // An attribute of the family the op does not take, within its policy's range:
    // NLA_UNSPEC there.
    let r = refusal(env, &c, Fam::Pnfsd, pc::CONFIG_SET, |b| {
        b.put_u32(pa::XID, 1).put_u32(pa::TIMEOUT_MS, 4000);
    })
    .await?;
    r.expect(
        "xid to config-set",
        libc::EINVAL,
        "Unsupported attribute",
        Some(ATTRS_AT),
        None,
        None,
    )?;

    // A flag outside the mask of a flags attribute: fsid, fileid (12 bytes each),
    // stateid (20), clientid (12), then access.
    let r = refusal(env, &c, Fam::Pnfsd, pc::STATE_SET, |b| {
        b.put_u64(pa::FSID, 1)
            .put_u64(pa::FILEID, 2)
            .put_bytes(pa::STATEID, &[1; 16])
            .put_u64(pa::CLIENTID, 3)
            .put_u32(pa::ACCESS, 4);
    })
    .await?;
    r.expect(
        "access 4 (mask 0x3)",
        libc::EINVAL,
        "reserved bit set",
        Some(ATTRS_AT + 56),
        None,
        None,
    )?;

    // Issue #21's values: access 0xff (mask 0x3) and a REPLY's status 12345 (above the
    // highest nfsstat4, 10062), both accepted by f506fb8's halves; a reply-only attribute
    // in a request (status to STATE_CHECK, which answers with it) within the op's policy
    // range.
    let r = refusal(env, &c, Fam::Pnfsd, pc::STATE_SET, |b| {
        b.put_u64(pa::FSID, 1)
            .put_u64(pa::FILEID, 2)
            .put_bytes(pa::STATEID, &[1; 16])
            .put_u64(pa::CLIENTID, 3)
            .put_u32(pa::ACCESS, 0xff);
    })
    .await?;
    r.expect(
        "access 0xff (mask 0x3)",
        libc::EINVAL,
        "reserved bit set",
        Some(ATTRS_AT + 56),
        None,
        None,
    )?;
    let r = refusal(env, &c, Fam::Pnfsd, pc::REPLY, |b| {
        b.put_u32(pa::XID, 1).put_u32(pa::STATUS, 12345);
    })
    .await?;
    r.expect(
        "status 12345 in a REPLY",
        libc::ERANGE,
        "integer out of range",
        Some(ATTRS_AT + 8),
        Some(u32_range(0, 10062)),
        None,
    )?;
    let r = refusal(env, &c, Fam::Pnfsd, pc::STATE_CHECK, |b| {
        b.put_u32(pa::STATUS, 0)
            .put_u64(pa::FSID, 1)
            .put_u64(pa::FILEID, 2)
            .put_bytes(pa::STATEID, &[1; 16])
            .put_u64(pa::CLIENTID, 3);
    })
    .await?;
    r.expect(
        "status (reply-only) in a STATE_CHECK request",
        libc::EINVAL,
        "Unsupported attribute",
        Some(ATTRS_AT),
        None,
        None,
    )?;

    let r = refusal(env, &c, Fam::Pnfsd, pc::STATUS_GET, |b| {
        b.put_u32(0x7ff, 0);
    })
    .await?;
    r.expect(
        "an unknown attribute",
        libc::EINVAL,
        "Unknown attribute type",
        Some(ATTRS_AT),
        None,
        None,
    )?;

    let r = refusal(env, &c, Fam::Pnfsd, pc::STATUS_GET, |b| {
        b.put_raw_attrs(&[1, 2, 3]);
    })
    .await?;
    r.expect(
        "3 bytes after the attributes",
        libc::EINVAL,
        "bytes leftover after parsing attributes",
        None,
        None,
        None,
    )?;
    Ok(())
}

/// Handlers point at the attribute they refuse, in the module's words: a gfs2 table
/// that is not mounted, a device that does not exist (-ENOENT, at the attribute).
pub async fn handler_refusals_point_at_the_attribute(env: &mut Env) -> R {
    let c = env.conn()?;
    let r = refusal(env, &c, Fam::Gfs2, gc::BLOCK, |b| {
        b.put_str(ga::TABLE, "conf:notmounted");
    })
    .await?;
    r.expect(
        "block of a table not mounted",
        libc::ENOENT,
        "filesystem not mounted",
        Some(ATTRS_AT),
        None,
        None,
    )?;
    let r = refusal(env, &c, Fam::Pnfsd, pc::DEVICE_DEL, |b| {
        b.put_bytes(pa::DEVICE_ID, &[0xd3; 16]);
    })
    .await?;
    r.expect(
        "device-del of an unknown device",
        libc::ENOENT,
        "no such device",
        Some(ATTRS_AT),
        None,
        None,
    )?;
    Ok(())
}
