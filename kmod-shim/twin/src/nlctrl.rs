//! nlctrl as the twin serves it: what Linux 6.1's generic netlink controller
//! (`net/netlink/genetlink.c`, `ctrl_*`) answers about itself and about the twin's two
//! families, and its policy dumps (`net/netlink/policy.c`), built from the same kernel
//! model so that each answer is the one the kernel gives for the module:
//!
//! - `CTRL_CMD_GETFAMILY` (do and dump): family name, id, version, hdrsize, maxattr, the
//!   ops list and the multicast groups; the two lists and their entries are nests
//!   *without* `NLA_F_NESTED` (`nla_nest_start_noflag` in `ctrl_fill_info`).
//! - `CTRL_CMD_GETPOLICY` (dump only; by family id or name, optionally one op): one
//!   message per op mapping it to its do/dump policy index (`CTRL_ATTR_OP_POLICY`), then
//!   one message per attribute of every policy reachable from the ops
//!   (`CTRL_ATTR_POLICY`), as `netlink_policy_dump_write` writes them.
//! - The `notify` group: `CTRL_CMD_NEWFAMILY` + `CTRL_CMD_NEWMCAST_GRP` when a family
//!   appears, `CTRL_CMD_DELMCAST_GRP` + `CTRL_CMD_DELFAMILY` when it goes
//!   ([`announce`]); the twin multicasts them on USERSOCK group [`NOTIFY_GROUP`].
//!
//! The module's generated C (`kmod-shim/module/*-nl.c`) declares a `struct nla_policy`
//! per attribute; [`nla_of`] derives the same declaration from the generated Rust table
//! (as ynl-gen derives both from the spec), masks from the generated `MASKS`; each op's
//! policy is its generated request policy (`Fam::request_policy`), as the module's ops
//! table gives it.

use crate::{Fam, OpError, OpResult};
use pnfs_netlink::client::{
    FamilyInfo, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_HDRSIZE, CTRL_ATTR_MAXATTR,
    CTRL_ATTR_MCAST_GROUPS, CTRL_ATTR_MCAST_GRP_ID, CTRL_ATTR_MCAST_GRP_NAME, CTRL_ATTR_OPS,
    CTRL_ATTR_OP_FLAGS, CTRL_ATTR_OP_ID, CTRL_ATTR_VERSION, CTRL_CMD_GETFAMILY, CTRL_CMD_NEWFAMILY,
    GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_DUMP, GENL_CMD_CAP_HASPOL, GENL_ID_CTRL,
};
use pnfs_netlink::codec::{
    put_done, Attr, AttrIter, GenlHeader, GenlMsg, MsgBuilder, NLMSG_HDRLEN, NLM_F_DUMP,
    NLM_F_MULTI,
};
use pnfs_netlink::policy::{AttrKind, AttrPolicy, OpKind, Policy};
use pnfs_netlink::{gfs2ctl, pnfsd};
use std::sync::OnceLock;

pub const CTRL_CMD_DELFAMILY: u8 = 2;
pub const CTRL_CMD_NEWMCAST_GRP: u8 = 7;
pub const CTRL_CMD_DELMCAST_GRP: u8 = 8;
pub const CTRL_CMD_GETPOLICY: u8 = 10;
pub const CTRL_ATTR_POLICY: u16 = 8;
pub const CTRL_ATTR_OP_POLICY: u16 = 9;
pub const CTRL_ATTR_OP: u16 = 10;
pub const CTRL_ATTR_POLICY_DO: u16 = 1;
pub const CTRL_ATTR_POLICY_DUMP: u16 = 2;
/// nlctrl's version (`genl_ctrl.version`).
pub const CTRL_VERSION: u8 = 2;
/// nlctrl's `notify` multicast group: its id on the kernel (GENL_ID_CTRL, 0x10), and the
/// USERSOCK group on which the twin multicasts its family notifications.
pub const NOTIFY_GROUP: u32 = 0x10;
/// NLMSGERR_ATTR_POLICY: the policy of the attribute an error refused.
pub const NLMSGERR_ATTR_POLICY: u16 = 4;
/// NLMSGERR_ATTR_MISS_NEST: offset of the nest a required attribute is missing from.
pub const NLMSGERR_ATTR_MISS_NEST: u16 = 6;

/// `enum netlink_policy_type_attr` (NL_POLICY_TYPE_ATTR_*).
pub mod policy_attr {
    pub const TYPE: u16 = 1;
    pub const MIN_VALUE_S: u16 = 2;
    pub const MAX_VALUE_S: u16 = 3;
    pub const MIN_VALUE_U: u16 = 4;
    pub const MAX_VALUE_U: u16 = 5;
    pub const MIN_LENGTH: u16 = 6;
    pub const MAX_LENGTH: u16 = 7;
    pub const POLICY_IDX: u16 = 8;
    pub const POLICY_MAXTYPE: u16 = 9;
    pub const MASK: u16 = 12;
}

/// `enum netlink_attribute_type` (NL_ATTR_TYPE_*), the types a policy dump names.
pub mod attr_type {
    pub const FLAG: u32 = 1;
    pub const U8: u32 = 2;
    pub const U16: u32 = 3;
    pub const U32: u32 = 4;
    pub const U64: u32 = 5;
    pub const S32: u32 = 8;
    pub const S64: u32 = 9;
    pub const BINARY: u32 = 10;
    pub const NUL_STRING: u32 = 12;
    pub const NESTED: u32 = 13;
}

// ---------------------------------------------------------------------------------------
// The kernel's policy model

/// `struct nla_policy`'s `type` (the ones the twin's families and nlctrl use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NlaType {
    Unspec,
    Reject,
    Flag,
    U8,
    U16,
    U32,
    U64,
    S32,
    S64,
    NulString,
    Binary,
    Nested,
}

/// `struct nla_policy`'s `validation_type` with its bounds (`NLA_POLICY_RANGE` and
/// `NLA_POLICY_FULL_RANGE` dump alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    None,
    Range(i128, i128),
    Min(i128),
    Max(i128),
    Mask(u64),
}

/// One `struct nla_policy`, as far as validation and a policy dump look at it.
#[derive(Debug, Clone, Copy)]
pub struct NlaPolicy {
    pub ty: NlaType,
    pub validation: Validation,
    /// `.len`: a string's max length, a nest's maxtype.
    pub len: u16,
    pub nested: Option<PolicyTable>,
}

impl NlaPolicy {
    const fn plain(ty: NlaType) -> NlaPolicy {
        NlaPolicy {
            ty,
            validation: Validation::None,
            len: 0,
            nested: None,
        }
    }
}

/// The policy of an attribute an error refused (NLMSGERR_ATTR_POLICY): attribute `id`
/// of a generated table, or one of nlctrl's own.
#[derive(Debug, Clone, Copy)]
pub enum ErrPolicy {
    Spec(&'static Policy, u16),
    Ctrl(&'static NlaPolicy),
}

impl ErrPolicy {
    pub fn nla(self) -> NlaPolicy {
        match self {
            ErrPolicy::Spec(t, id) => PolicyTable::Spec(t).get(id),
            ErrPolicy::Ctrl(p) => *p,
        }
    }
}

/// The mask of flags attribute `id` of a table of family set `set` (the generated
/// `MASKS`: NLA_POLICY_MASK, which `AttrPolicy` does not carry); nested sets have none.
fn mask_of(set: &str, id: u16) -> Option<u64> {
    let masks = match set {
        pnfsd::FAMILY_NAME => pnfsd::MASKS,
        gfs2ctl::FAMILY_NAME => gfs2ctl::MASKS,
        _ => &[],
    };
    masks.iter().find(|(a, _)| *a == id).map(|(_, m)| *m)
}

/// A policy array (`const struct nla_policy[]`): a generated table, or one of nlctrl's.
#[derive(Debug, Clone, Copy)]
pub enum PolicyTable {
    Spec(&'static Policy),
    Ctrl(&'static [NlaPolicy]),
}

impl PolicyTable {
    /// The highest attribute type (ARRAY_SIZE - 1).
    pub fn maxtype(self) -> u16 {
        match self {
            PolicyTable::Spec(p) => p.max(),
            PolicyTable::Ctrl(p) => (p.len() - 1) as u16,
        }
    }

    pub fn get(self, ty: u16) -> NlaPolicy {
        match self {
            PolicyTable::Spec(p) => {
                let mut n = p
                    .attrs
                    .get(ty as usize)
                    .map_or(NlaPolicy::plain(NlaType::Unspec), nla_of);
                if let Some(m) = mask_of(p.set, ty) {
                    n.validation = Validation::Mask(m);
                }
                n
            }
            PolicyTable::Ctrl(p) => p
                .get(ty as usize)
                .copied()
                .unwrap_or(NlaPolicy::plain(NlaType::Unspec)),
        }
    }

    /// The same array (the kernel compares pointers).
    fn same(self, other: PolicyTable) -> bool {
        match (self, other) {
            (PolicyTable::Spec(a), PolicyTable::Spec(b)) => std::ptr::eq(a, b),
            (PolicyTable::Ctrl(a), PolicyTable::Ctrl(b)) => std::ptr::eq(a, b),
            _ => false,
        }
    }
}

/// The `struct nla_policy` the module's generated C declares for `a` (ynl-gen's
/// `gen_kernel` emits it from the same spec): `NLA_POLICY_NESTED`,
/// `NLA_POLICY_EXACT_LEN`, `NLA_POLICY_MAX_LEN`, `{ NLA_NUL_STRING, .len }`,
/// `NLA_POLICY_RANGE`/`FULL_RANGE`/`MIN`/`MAX`, else the bare type; the pad is
/// `NLA_REJECT`, an undefined id `NLA_UNSPEC`.
pub fn nla_of(a: &AttrPolicy) -> NlaPolicy {
    let int = |ty: NlaType| {
        let signed = matches!(ty, NlaType::S32 | NlaType::S64);
        let v = |x: u64| if signed { x as i64 as i128 } else { x as i128 };
        let validation = match (a.min, a.max) {
            (Some(lo), Some(hi)) => Validation::Range(v(lo), v(hi)),
            (Some(lo), None) => Validation::Min(v(lo)),
            (None, Some(hi)) => Validation::Max(v(hi)),
            (None, None) => Validation::None,
        };
        NlaPolicy {
            validation,
            ..NlaPolicy::plain(ty)
        }
    };
    match a.kind {
        AttrKind::Unused => NlaPolicy::plain(NlaType::Unspec),
        AttrKind::Pad => NlaPolicy::plain(NlaType::Reject),
        AttrKind::Flag => NlaPolicy::plain(NlaType::Flag),
        AttrKind::U8 => int(NlaType::U8),
        AttrKind::U16 => int(NlaType::U16),
        AttrKind::U32 => int(NlaType::U32),
        AttrKind::U64 => int(NlaType::U64),
        AttrKind::S32 => int(NlaType::S32),
        AttrKind::S64 => int(NlaType::S64),
        AttrKind::String => NlaPolicy {
            len: a.max_len.min(u16::MAX as u64) as u16,
            ..NlaPolicy::plain(NlaType::NulString)
        },
        AttrKind::Binary if a.min_len > 0 && a.min_len == a.max_len => NlaPolicy {
            validation: Validation::Range(a.min_len as i128, a.max_len as i128),
            ..NlaPolicy::plain(NlaType::Binary)
        },
        AttrKind::Binary if a.max_len > 0 => NlaPolicy {
            validation: Validation::Max(a.max_len as i128),
            ..NlaPolicy::plain(NlaType::Binary)
        },
        AttrKind::Binary => NlaPolicy::plain(NlaType::Binary),
        AttrKind::Nest => match a.nested {
            Some(p) => NlaPolicy {
                len: p.max(),
                nested: Some(PolicyTable::Spec(p)),
                ..NlaPolicy::plain(NlaType::Nested)
            },
            None => NlaPolicy::plain(NlaType::Nested),
        },
    }
}

/// `ctrl_policy_family`: GETFAMILY's attributes.
static CTRL_POLICY_FAMILY: [NlaPolicy; 3] = [
    NlaPolicy::plain(NlaType::Unspec),
    NlaPolicy::plain(NlaType::U16),
    NlaPolicy {
        len: 15, // GENL_NAMSIZ - 1
        ..NlaPolicy::plain(NlaType::NulString)
    },
];

/// `ctrl_policy_policy`: GETPOLICY's attributes.
static CTRL_POLICY_POLICY: [NlaPolicy; 11] = [
    NlaPolicy::plain(NlaType::Unspec),
    NlaPolicy::plain(NlaType::U16),
    NlaPolicy {
        len: 15,
        ..NlaPolicy::plain(NlaType::NulString)
    },
    NlaPolicy::plain(NlaType::Unspec),
    NlaPolicy::plain(NlaType::Unspec),
    NlaPolicy::plain(NlaType::Unspec),
    NlaPolicy::plain(NlaType::Unspec),
    NlaPolicy::plain(NlaType::Unspec),
    NlaPolicy::plain(NlaType::Unspec),
    NlaPolicy::plain(NlaType::Unspec),
    NlaPolicy::plain(NlaType::U32),
];

// ---------------------------------------------------------------------------------------
// Families as nlctrl holds them

/// One entry of a family's ops table (`struct genl_ops` as `genl_get_cmd` fills it).
#[derive(Debug, Clone, Copy)]
pub struct GenlOp {
    pub cmd: u8,
    /// `.flags` (GENL_ADMIN_PERM).
    pub flags: u32,
    pub doit: bool,
    pub dumpit: bool,
    /// `.validate & GENL_DONT_VALIDATE_DUMP`.
    pub dont_validate_dump: bool,
    /// `.policy`, `.maxattr`.
    pub policy: Option<(PolicyTable, u16)>,
}

/// A registered family (`struct genl_family`).
#[derive(Debug, Clone)]
pub struct CtrlFamily {
    pub id: u16,
    pub name: &'static str,
    pub version: u32,
    pub maxattr: u32,
    pub ops: Vec<GenlOp>,
    /// (name, group id)
    pub groups: Vec<(&'static str, u32)>,
}

impl CtrlFamily {
    /// What GETFAMILY says of it (`ctrl_fill_info`).
    pub fn info(&self) -> FamilyInfo {
        FamilyInfo {
            id: self.id,
            name: self.name.to_string(),
            version: self.version,
            hdrsize: 0,
            maxattr: self.maxattr,
            ops: self
                .ops
                .iter()
                .map(|o| {
                    let mut f = o.flags;
                    if o.dumpit {
                        f |= GENL_CMD_CAP_DUMP;
                    }
                    if o.doit {
                        f |= GENL_CMD_CAP_DO;
                    }
                    if o.policy.is_some() {
                        f |= GENL_CMD_CAP_HASPOL;
                    }
                    (o.cmd as u32, f)
                })
                .collect(),
            groups: self
                .groups
                .iter()
                .map(|(n, id)| (n.to_string(), *id))
                .collect(),
        }
    }
}

/// nlctrl itself (`genl_ctrl`): maxattr 0 (its ops carry their own policies),
/// GETFAMILY (do and dump; its dump takes no attributes: GENL_DONT_VALIDATE_DUMP) and
/// GETPOLICY (dump), group `notify`.
fn nlctrl_family() -> CtrlFamily {
    CtrlFamily {
        id: GENL_ID_CTRL,
        name: "nlctrl",
        version: CTRL_VERSION as u32,
        maxattr: 0,
        ops: vec![
            GenlOp {
                cmd: CTRL_CMD_GETFAMILY,
                flags: 0,
                doit: true,
                dumpit: true,
                dont_validate_dump: true,
                policy: Some((PolicyTable::Ctrl(&CTRL_POLICY_FAMILY), 2)),
            },
            GenlOp {
                cmd: CTRL_CMD_GETPOLICY,
                flags: 0,
                doit: false,
                dumpit: true,
                dont_validate_dump: false,
                policy: Some((PolicyTable::Ctrl(&CTRL_POLICY_POLICY), 10)),
            },
        ],
        groups: vec![("notify", NOTIFY_GROUP)],
    }
}

/// One of the twin's families as the module registers it: the ops the kernel half
/// serves (not the upcalls and events it sends), in spec order, each with its policy;
/// maxattr the family's (the module sets `.maxattr` family-wide); group `events`.
fn twin_family(fam: Fam) -> CtrlFamily {
    let spec = fam.spec();
    CtrlFamily {
        id: fam.id(),
        name: spec.name,
        version: spec.version as u32,
        maxattr: spec.policy.max() as u32,
        ops: spec
            .ops
            .iter()
            .filter(|o| !o.upcall && o.kind != OpKind::Event)
            .map(|o| {
                let p = fam.request_policy(o.cmd);
                GenlOp {
                    cmd: o.cmd,
                    flags: if o.admin { GENL_ADMIN_PERM } else { 0 },
                    doit: matches!(o.kind, OpKind::Do | OpKind::DoDump),
                    dumpit: matches!(o.kind, OpKind::Dump | OpKind::DoDump),
                    dont_validate_dump: false,
                    policy: Some((PolicyTable::Spec(p), p.max())),
                }
            })
            .collect(),
        groups: vec![("events", fam.group())],
    }
}

/// nlctrl, pnfsd, gfs2ctl: every family the twin's nlctrl knows, in id order.
pub fn families() -> &'static [CtrlFamily] {
    static ALL: OnceLock<Vec<CtrlFamily>> = OnceLock::new();
    ALL.get_or_init(|| {
        vec![
            nlctrl_family(),
            twin_family(Fam::Pnfsd),
            twin_family(Fam::Gfs2),
        ]
    })
}

/// The twin's family `fam` as nlctrl holds it.
pub fn family(fam: Fam) -> &'static CtrlFamily {
    families()
        .iter()
        .find(|f| f.id == fam.id())
        .expect("both families are registered")
}

// ---------------------------------------------------------------------------------------
// Encoding

/// A nest without NLA_F_NESTED (`nla_nest_start_noflag`), as `ctrl_fill_info` writes
/// the ops and groups lists.
fn put_noflag_nest(b: &mut MsgBuilder<'_>, kind: u16, fill: impl FnOnce(&mut MsgBuilder<'_>)) {
    let mut inner = Vec::with_capacity(256);
    let mut nb = MsgBuilder::new(&mut inner, 0, 0, 0, 0);
    fill(&mut nb);
    nb.finish();
    b.put_bytes(kind, &inner[NLMSG_HDRLEN..]);
}

/// Start a message from nlctrl (`genlmsg_put(.., &genl_ctrl, ..)`).
fn ctrl_msg(out: &mut Vec<u8>, flags: u16, seq: u32, port: u32, cmd: u8) -> MsgBuilder<'_> {
    GenlHeader::new(GENL_ID_CTRL, cmd)
        .version(CTRL_VERSION)
        .flags(flags)
        .seq(seq)
        .pid(port)
        .start(out)
}

/// `ctrl_fill_info`: the whole description of `f`.
pub fn put_family(b: &mut MsgBuilder<'_>, f: &FamilyInfo) {
    b.put_str(CTRL_ATTR_FAMILY_NAME, &f.name)
        .put_u16(CTRL_ATTR_FAMILY_ID, f.id)
        .put_u32(CTRL_ATTR_VERSION, f.version)
        .put_u32(CTRL_ATTR_HDRSIZE, f.hdrsize)
        .put_u32(CTRL_ATTR_MAXATTR, f.maxattr);
    if !f.ops.is_empty() {
        put_noflag_nest(b, CTRL_ATTR_OPS, |b| {
            for (i, (id, flags)) in f.ops.iter().enumerate() {
                put_noflag_nest(b, i as u16 + 1, |b| {
                    b.put_u32(CTRL_ATTR_OP_ID, *id)
                        .put_u32(CTRL_ATTR_OP_FLAGS, *flags);
                });
            }
        });
    }
    if !f.groups.is_empty() {
        put_noflag_nest(b, CTRL_ATTR_MCAST_GROUPS, |b| {
            for (i, (name, id)) in f.groups.iter().enumerate() {
                put_group(b, i as u16 + 1, name, *id);
            }
        });
    }
}

fn put_group(b: &mut MsgBuilder<'_>, nest: u16, name: &str, id: u32) {
    put_noflag_nest(b, nest, |b| {
        b.put_u32(CTRL_ATTR_MCAST_GRP_ID, id)
            .put_str(CTRL_ATTR_MCAST_GRP_NAME, name);
    });
}

/// The notifications of the twin's families appearing (`new`) or going: for each,
/// what `genl_register_family` multicasts on `notify` (CTRL_CMD_NEWFAMILY, then
/// CTRL_CMD_NEWMCAST_GRP per group), or `genl_unregister_family`
/// (CTRL_CMD_DELMCAST_GRP per group, then CTRL_CMD_DELFAMILY); one message each. Port
/// 0, seq 0, flags 0.
pub fn announce(new: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for fam in [Fam::Pnfsd, Fam::Gfs2] {
        let f = family(fam).info();
        let family_msg = |out: &mut Vec<Vec<u8>>, cmd| {
            let mut m = Vec::with_capacity(512);
            let mut b = ctrl_msg(&mut m, 0, 0, 0, cmd);
            put_family(&mut b, &f);
            b.finish();
            out.push(m);
        };
        let group_msgs = |out: &mut Vec<Vec<u8>>, cmd| {
            for (name, id) in &f.groups {
                // ctrl_fill_mcgrp_info
                let mut m = Vec::with_capacity(128);
                let mut b = ctrl_msg(&mut m, 0, 0, 0, cmd);
                b.put_str(CTRL_ATTR_FAMILY_NAME, &f.name)
                    .put_u16(CTRL_ATTR_FAMILY_ID, f.id);
                put_noflag_nest(&mut b, CTRL_ATTR_MCAST_GROUPS, |b| {
                    put_group(b, 1, name, *id)
                });
                b.finish();
                out.push(m);
            }
        };
        if new {
            family_msg(&mut out, CTRL_CMD_NEWFAMILY);
            group_msgs(&mut out, CTRL_CMD_NEWMCAST_GRP);
        } else {
            group_msgs(&mut out, CTRL_CMD_DELMCAST_GRP);
            family_msg(&mut out, CTRL_CMD_DELFAMILY);
        }
    }
    out
}

/// The policies of a dump, in the kernel's order (`netlink_policy_dump_add_policy`):
/// each added policy, then whatever its nests reach, breadth first, each (array,
/// maxtype) once.
#[derive(Default)]
pub struct PolicyDump {
    pub policies: Vec<(PolicyTable, u16)>,
}

impl PolicyDump {
    fn add_one(&mut self, t: PolicyTable, maxtype: u16) {
        if maxtype == 0 || self.index(t, maxtype).is_some() {
            return;
        }
        self.policies.push((t, maxtype));
    }

    pub fn add(&mut self, t: PolicyTable, maxtype: u16) {
        self.add_one(t, maxtype);
        let mut i = 0;
        while i < self.policies.len() {
            let (p, max) = self.policies[i];
            for ty in 0..=max {
                let a = p.get(ty);
                if let (NlaType::Nested, Some(n)) = (a.ty, a.nested) {
                    self.add_one(n, a.len);
                }
            }
            i += 1;
        }
    }

    pub fn index(&self, t: PolicyTable, maxtype: u16) -> Option<u32> {
        self.policies
            .iter()
            .position(|(p, m)| p.same(t) && *m == maxtype)
            .map(|i| i as u32)
    }
}

/// `__netlink_policy_dump_write_attr`: the description of one attribute policy as a
/// nest of type `nest` (nothing for NLA_UNSPEC and NLA_REJECT: false). With `dump`, a
/// nest's policy index and maxtype too.
pub fn put_policy_attr(
    b: &mut MsgBuilder<'_>,
    nest: u16,
    p: &NlaPolicy,
    dump: Option<&PolicyDump>,
) -> bool {
    use policy_attr as pa;
    let unsigned = |ty: NlaType| -> Option<(u32, u64)> {
        Some(match ty {
            NlaType::U8 => (attr_type::U8, u8::MAX as u64),
            NlaType::U16 => (attr_type::U16, u16::MAX as u64),
            NlaType::U32 => (attr_type::U32, u32::MAX as u64),
            NlaType::U64 => (attr_type::U64, u64::MAX),
            _ => return None,
        })
    };
    let ty = match p.ty {
        NlaType::Unspec | NlaType::Reject => return false,
        NlaType::Flag => attr_type::FLAG,
        NlaType::U8 | NlaType::U16 | NlaType::U32 | NlaType::U64 => unsigned(p.ty).unwrap().0,
        NlaType::S32 => attr_type::S32,
        NlaType::S64 => attr_type::S64,
        NlaType::NulString => attr_type::NUL_STRING,
        NlaType::Binary => attr_type::BINARY,
        NlaType::Nested => attr_type::NESTED,
    };
    let n = b.nest_begin(nest);
    match p.ty {
        NlaType::Nested => {
            if let (Some(d), Some(t)) = (dump, p.nested) {
                if p.len > 0 {
                    let idx = d.index(t, p.len).unwrap_or(0);
                    b.put_u32(pa::POLICY_IDX, idx)
                        .put_u32(pa::POLICY_MAXTYPE, p.len as u32);
                }
            }
        }
        NlaType::U8 | NlaType::U16 | NlaType::U32 | NlaType::U64 => {
            let (_, type_max) = unsigned(p.ty).unwrap();
            // nla_get_range_unsigned
            let (min, max) = match p.validation {
                Validation::Mask(m) => {
                    b.put_u64(pa::MASK, m);
                    b.put_u32(pa::TYPE, ty);
                    b.nest_end(n);
                    return true;
                }
                Validation::Range(lo, hi) => (lo as u64, hi as u64),
                Validation::Min(lo) => (lo as u64, type_max),
                Validation::Max(hi) => (0, hi as u64),
                Validation::None => (0, type_max),
            };
            b.put_u64(pa::MIN_VALUE_U, min)
                .put_u64(pa::MAX_VALUE_U, max);
        }
        NlaType::S32 | NlaType::S64 => {
            let (type_min, type_max) = if p.ty == NlaType::S32 {
                (i32::MIN as i64, i32::MAX as i64)
            } else {
                (i64::MIN, i64::MAX)
            };
            // nla_get_range_signed
            let (min, max) = match p.validation {
                Validation::Range(lo, hi) => (lo as i64, hi as i64),
                Validation::Min(lo) => (lo as i64, type_max),
                Validation::Max(hi) => (type_min, hi as i64),
                _ => (type_min, type_max),
            };
            b.put_u64(pa::MIN_VALUE_S, min as u64)
                .put_u64(pa::MAX_VALUE_S, max as u64);
        }
        NlaType::NulString | NlaType::Binary => match p.validation {
            // Only a range says lengths; NLA_POLICY_MAX_LEN (validation "max") says none.
            Validation::Range(lo, hi) => {
                if lo != 0 {
                    b.put_u32(pa::MIN_LENGTH, lo as u32);
                }
                if hi < u16::MAX as i128 {
                    b.put_u32(pa::MAX_LENGTH, hi as u32);
                }
            }
            _ if p.len > 0 => {
                b.put_u32(pa::MAX_LENGTH, p.len as u32);
            }
            _ => {}
        },
        _ => {}
    }
    b.put_u32(pa::TYPE, ty);
    b.nest_end(n);
    true
}

// ---------------------------------------------------------------------------------------
// Requests

/// `nlmsg_parse` of nlctrl's attributes against `policy` (strict, or as the
/// `GENL_DONT_VALIDATE_STRICT` GETFAMILY: unknown types skipped, lengths only checked
/// for being too short), with the kernel's errors (`validate_nla` in lib/nlattr.c).
fn parse_ctrl<'a>(
    attrs: &'a [u8],
    policy: &'static [NlaPolicy],
    strict: bool,
) -> Result<Vec<Option<Attr<'a>>>, OpError> {
    let maxtype = policy.len() - 1;
    let mut tb = vec![None; policy.len()];
    let mut it = AttrIter::new(attrs);
    while let Some(a) = it.next_attr() {
        let ty = a.kind as usize;
        if ty == 0 || ty > maxtype {
            if strict {
                return Err(OpError::new(libc::EINVAL, "Unknown attribute type").at(&a));
            }
            continue;
        }
        let pt = policy[ty];
        let pol = ErrPolicy::Ctrl(&policy[ty]);
        let refused = |errno| {
            OpError::new(errno, "Attribute failed policy validation")
                .at(&a)
                .with_policy(pol)
        };
        let len = a.payload.len();
        let fixed = match pt.ty {
            NlaType::U16 => 2,
            NlaType::U32 => 4,
            _ => 0,
        };
        if strict && fixed > 0 && len != fixed {
            return Err(OpError::new(libc::EINVAL, "invalid attribute length")
                .at(&a)
                .with_policy(pol));
        }
        if strict && pt.ty != NlaType::Unspec && a.nested_flag {
            return Err(OpError::new(libc::EINVAL, "NLA_F_NESTED not expected")
                .at(&a)
                .with_policy(pol));
        }
        match pt.ty {
            NlaType::Unspec if strict => {
                return Err(OpError::new(libc::EINVAL, "Unsupported attribute").at(&a));
            }
            NlaType::NulString => {
                let limit = len.min(pt.len as usize + 1);
                if limit == 0 || !a.payload[..limit].contains(&0) {
                    return Err(refused(libc::EINVAL));
                }
                let text = len - usize::from(a.payload[len - 1] == 0);
                if text > pt.len as usize {
                    return Err(refused(libc::ERANGE));
                }
            }
            _ if len < fixed => return Err(refused(libc::ERANGE)),
            _ => {}
        }
        tb[ty] = Some(a);
    }
    if strict && it.overrun().is_some() {
        return Err(OpError::new(
            libc::EINVAL,
            "bytes leftover after parsing attributes",
        ));
    }
    Ok(tb)
}

/// A request to nlctrl from `port`: GETFAMILY (do, dump) and GETPOLICY (dump); the
/// kernel's errors, without extack messages where it sets none.
pub fn serve(g: &GenlMsg<'_>, port: u32, out: &mut Vec<u8>) -> OpResult {
    let dump = g.header.flags & NLM_F_DUMP == NLM_F_DUMP;
    match (g.cmd(), dump) {
        (CTRL_CMD_GETFAMILY, true) => {
            for f in families() {
                let mut b = ctrl_msg(out, NLM_F_MULTI, g.header.seq, port, CTRL_CMD_NEWFAMILY);
                put_family(&mut b, &f.info());
                b.finish();
            }
            put_done(out, g.header.seq, port);
            Ok(())
        }
        (CTRL_CMD_GETFAMILY, false) => get_family(g, port, out),
        (CTRL_CMD_GETPOLICY, true) => get_policy(g, port, out),
        _ => Err(OpError::bare(libc::EOPNOTSUPP)),
    }
}

/// `ctrl_getfamily`: by id, or by name (which wins when both are given).
fn get_family(g: &GenlMsg<'_>, port: u32, out: &mut Vec<u8>) -> OpResult {
    let tb = parse_ctrl(g.attrs, &CTRL_POLICY_FAMILY, false)?;
    let mut found = None;
    let mut err = libc::EINVAL;
    if let Some(a) = tb[CTRL_ATTR_FAMILY_ID as usize] {
        found = families().iter().find(|f| f.id == a.u16());
        err = libc::ENOENT;
    }
    if let Some(a) = tb[CTRL_ATTR_FAMILY_NAME as usize] {
        found = families().iter().find(|f| f.name == a.str());
        err = libc::ENOENT;
    }
    let f = found.ok_or(OpError::bare(err))?;
    let mut b = ctrl_msg(out, 0, g.header.seq, port, CTRL_CMD_NEWFAMILY);
    put_family(&mut b, &f.info());
    b.finish();
    Ok(())
}

/// `ctrl_dumppolicy_start` + `ctrl_dumppolicy`: the family by id (or else by name); one
/// op (CTRL_ATTR_OP) or all. The op → policy map first, then every policy's attributes,
/// one message each.
fn get_policy(g: &GenlMsg<'_>, port: u32, out: &mut Vec<u8>) -> OpResult {
    let tb = parse_ctrl(g.attrs, &CTRL_POLICY_POLICY, true)?;
    let f = match (
        tb[CTRL_ATTR_FAMILY_ID as usize],
        tb[CTRL_ATTR_FAMILY_NAME as usize],
    ) {
        (Some(id), _) => families().iter().find(|f| f.id == id.u16()),
        (None, Some(name)) => families().iter().find(|f| f.name == name.str()),
        (None, None) => return Err(OpError::bare(libc::EINVAL)),
    }
    .ok_or(OpError::bare(libc::ENOENT))?;
    let mut dump = PolicyDump::default();
    let ops: Vec<&GenlOp> = match tb[CTRL_ATTR_OP as usize] {
        Some(a) => {
            // (6.1 points no offset at the op: its dump start has no extack to set.)
            let op = f
                .ops
                .iter()
                .find(|o| o.cmd as u32 == a.u32())
                .ok_or(OpError::bare(libc::ENOENT))?;
            let (t, max) = op.policy.ok_or(OpError::bare(libc::ENODATA))?;
            dump.add(t, max);
            vec![op]
        }
        None => {
            for (t, max) in f.ops.iter().filter_map(|o| o.policy) {
                dump.add(t, max);
            }
            if dump.policies.is_empty() {
                return Err(OpError::bare(libc::ENODATA));
            }
            f.ops.iter().collect()
        }
    };
    let seq = g.header.seq;
    // ctrl_dumppolicy_prep
    fn start(out: &mut Vec<u8>, seq: u32, port: u32, id: u16) -> MsgBuilder<'_> {
        let mut b = ctrl_msg(out, NLM_F_MULTI, seq, port, CTRL_CMD_GETPOLICY);
        b.put_u16(CTRL_ATTR_FAMILY_ID, id);
        b
    }
    // ctrl_dumppolicy_put_op
    for op in ops {
        let Some((t, max)) = op.policy else { continue };
        let dumpit = op.dumpit && !op.dont_validate_dump;
        if !op.doit && !dumpit {
            continue;
        }
        let idx = dump.index(t, max).unwrap_or(0);
        let mut b = start(out, seq, port, f.id);
        let pol = b.nest_begin(CTRL_ATTR_OP_POLICY);
        let n = b.nest_begin(op.cmd as u16);
        if op.doit {
            b.put_u32(CTRL_ATTR_POLICY_DO, idx);
        }
        if dumpit {
            b.put_u32(CTRL_ATTR_POLICY_DUMP, idx);
        }
        b.nest_end(n);
        b.nest_end(pol);
        b.finish();
    }
    // netlink_policy_dump_write, one attribute per message
    for (idx, (t, max)) in dump.policies.iter().enumerate() {
        for ty in 0..=*max {
            let p = t.get(ty);
            if matches!(p.ty, NlaType::Unspec | NlaType::Reject) {
                continue;
            }
            let mut b = start(out, seq, port, f.id);
            let outer = b.nest_begin(CTRL_ATTR_POLICY);
            let n = b.nest_begin(idx as u16);
            put_policy_attr(&mut b, ty, &p, Some(&dump));
            b.nest_end(n);
            b.nest_end(outer);
            b.finish();
        }
    }
    put_done(out, seq, port);
    Ok(())
}

/// The attribute at `offset` (from the start of `attrs`, a request's attributes
/// validated against `policy`), nests followed: the policy table it is checked against,
/// its type and its payload.
pub fn attr_at<'a>(
    policy: &'static Policy,
    attrs: &'a [u8],
    offset: usize,
) -> Option<(&'static Policy, u16, &'a [u8])> {
    let mut it = AttrIter::new(attrs);
    while let Some(a) = it.next_attr() {
        if a.offset == offset {
            return Some((policy, a.kind, a.payload));
        }
        let inner = a.offset + 4;
        if (inner..inner + a.payload.len()).contains(&offset) {
            return attr_at(policy.get(a.kind)?.nested?, a.payload, offset - inner);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnfs_netlink::codec::Messages;
    use pnfs_netlink::{gfs2ctl, pnfsd};

    fn msgs(buf: &[u8]) -> Vec<(u16, u16, Vec<u8>)> {
        Messages::new(buf)
            .map(|m| {
                let m = m.unwrap();
                (m.header.kind, m.header.flags, m.payload.to_vec())
            })
            .collect()
    }

    /// The ops and groups lists carry no NLA_F_NESTED, as ctrl_fill_info writes them;
    /// nlctrl says maxattr 0, its two ops (0xe, 0xc) and its `notify` group 0x10.
    #[test]
    fn family_lists_are_nests_without_the_flag() {
        let nl = families()[0].info();
        assert_eq!((nl.name.as_str(), nl.maxattr, nl.version), ("nlctrl", 0, 2));
        assert_eq!(nl.ops, vec![(3, 0xe), (10, 0xc)]);
        assert_eq!(nl.groups, vec![("notify".to_string(), 0x10)]);
        let mut out = Vec::new();
        let mut b = GenlHeader::new(GENL_ID_CTRL, 1)
            .version(2)
            .seq(1)
            .pid(2)
            .start(&mut out);
        put_family(&mut b, &family(Fam::Gfs2).info());
        b.finish();
        let (_, _, payload) = &msgs(&out)[0];
        let mut lists = 0;
        for a in AttrIter::new(&payload[4..]).map(Result::unwrap) {
            if a.kind == CTRL_ATTR_OPS || a.kind == CTRL_ATTR_MCAST_GROUPS {
                lists += 1;
                assert!(!a.nested_flag, "list {} flagged", a.kind);
                for e in a.nested().map(Result::unwrap) {
                    assert!(!e.nested_flag, "entry of list {} flagged", a.kind);
                }
            }
        }
        assert_eq!(lists, 2);
        assert_eq!(
            FamilyInfo::parse(&payload[4..]).unwrap(),
            family(Fam::Gfs2).info()
        );
    }

    /// The policies of a family dump in the kernel's order: each op's policy as the ops
    /// come (the reject-all policy of the ops without request attributes once), each
    /// followed by the nests it reaches.
    #[test]
    fn dump_order_is_breadth_first_from_the_ops() {
        let order = |fam: Fam| {
            let mut d = PolicyDump::default();
            for (t, m) in family(fam).ops.iter().filter_map(|o| o.policy) {
                d.add(t, m);
            }
            d.policies
        };
        use gfs2ctl::request_policy as g;
        let want = [
            &g::REGISTER,
            &g::REJECT_ALL,
            &g::REPLY,
            &g::BLOCK,
            &g::UNBLOCK,
            &g::RECOVER,
            &g::MEMBERS,
            &g::CONFIG_SET,
            &g::TRIGGER,
        ];
        let got = order(Fam::Gfs2);
        assert_eq!(got.len(), want.len());
        for (i, ((t, m), w)) in got.iter().zip(want).enumerate() {
            assert!(t.same(PolicyTable::Spec(w)), "gfs2ctl policy {i}");
            assert_eq!(*m, w.max(), "gfs2ctl policy {i} maxtype");
        }
        use pnfsd::request_policy as p;
        let got = order(Fam::Pnfsd);
        let at = |i: usize| got[i].0;
        assert!(at(0).same(PolicyTable::Spec(&p::REGISTER)));
        assert!(at(1).same(PolicyTable::Spec(&p::REJECT_ALL)));
        assert!(at(2).same(PolicyTable::Spec(&p::REPLY)));
        // REPLY's ds-addr nest comes right after it.
        assert!(at(3).same(PolicyTable::Spec(&pnfsd::DS_ADDR_POLICY)));
        assert_eq!(got[1].1, 1, "reject-all's maxtype");
    }

    /// A few attributes as Linux 6.1 dumps them: a full-range u32, an exact-length
    /// binary, a NUL string with max length, a nest, an s32.
    #[test]
    fn attribute_descriptions() {
        let desc = |p: &NlaPolicy| {
            let mut out = Vec::new();
            let mut b = MsgBuilder::new(&mut out, 0, 0, 0, 0);
            let mut d = PolicyDump::default();
            d.add(
                PolicyTable::Spec(&gfs2ctl::GFS2CTL_POLICY),
                gfs2ctl::attr::MAX,
            );
            put_policy_attr(&mut b, 1, p, Some(&d));
            b.finish();
            let a = AttrIter::new(&out[NLMSG_HDRLEN..]).next().unwrap().unwrap();
            assert!(a.nested_flag);
            a.nested()
                .map(|x| {
                    let x = x.unwrap();
                    (
                        x.kind,
                        if x.payload.len() == 8 {
                            x.u64()
                        } else {
                            x.u32() as u64
                        },
                    )
                })
                .collect::<Vec<_>>()
        };
        let g = &gfs2ctl::GFS2CTL_POLICY.attrs;
        use policy_attr as pa;
        assert_eq!(
            desc(&nla_of(&g[gfs2ctl::attr::TIMEOUT_MS as usize])),
            vec![
                (pa::MIN_VALUE_U, 1),
                (pa::MAX_VALUE_U, 600_000),
                (pa::TYPE, 4)
            ]
        );
        assert_eq!(
            desc(&nla_of(&g[gfs2ctl::attr::UUID as usize])),
            vec![(pa::MIN_LENGTH, 16), (pa::MAX_LENGTH, 16), (pa::TYPE, 10)]
        );
        assert_eq!(
            desc(&nla_of(&g[gfs2ctl::attr::TABLE as usize])),
            vec![(pa::MAX_LENGTH, 64), (pa::TYPE, 12)]
        );
        assert_eq!(
            desc(&nla_of(&g[gfs2ctl::attr::KIND_STATS as usize])),
            vec![
                (pa::POLICY_IDX, 1),
                (pa::POLICY_MAXTYPE, gfs2ctl::kind_stats_attr::MAX as u64),
                (pa::TYPE, 13)
            ]
        );
        assert_eq!(
            desc(&nla_of(&g[gfs2ctl::attr::STATUS as usize])),
            vec![
                (pa::MIN_VALUE_S, i32::MIN as i64 as u64),
                (pa::MAX_VALUE_S, i32::MAX as u64),
                (pa::TYPE, 8)
            ]
        );
        let mut out = Vec::new();
        let mut b = MsgBuilder::new(&mut out, 0, 0, 0, 0);
        let pad = nla_of(&g[gfs2ctl::attr::PAD as usize]);
        assert!(!put_policy_attr(&mut b, 1, &pad, None));
    }
}
