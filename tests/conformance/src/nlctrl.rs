//! nlctrl as the kernel's own answers it (Linux 6.1, `net/netlink/genetlink.c` and
//! `net/netlink/policy.c`): what CTRL_CMD_GETFAMILY says of nlctrl and of the two
//! families, byte layout included, and CTRL_CMD_GETPOLICY's policy dumps, checked
//! against the generated policy tables (the module's C declares the same policies).
//! True of the module in the VM, where the kernel's nlctrl answers; the twin must
//! answer the same.

use crate::conn::{Attrs, Conn, Fail, Msg};
use crate::{Env, Fam, WAIT};
use pnfs_netlink::client::{
    FamilyInfo, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_MCAST_GROUPS, CTRL_ATTR_OPS,
    CTRL_CMD_GETFAMILY, GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_DUMP, GENL_CMD_CAP_HASPOL,
    GENL_ID_CTRL,
};
use pnfs_netlink::codec::{AttrIter, MsgBuilder, NLM_F_DUMP, NLM_F_MULTI};
use pnfs_netlink::policy::{AttrKind, AttrPolicy, Family, OpKind, Policy};
use pnfs_netlink::{gfs2ctl, pnfsd};
use std::collections::{BTreeMap, BTreeSet};

type R = Result<(), String>;
/// A family's generated `op_policy`: the policy a command's requests are validated by.
type OpPolicy = fn(u8) -> Option<&'static Policy>;

const CTRL_CMD_GETPOLICY: u8 = 10;
const CTRL_ATTR_POLICY: u16 = 8;
const CTRL_ATTR_OP_POLICY: u16 = 9;
const CTRL_ATTR_OP: u16 = 10;
const CTRL_ATTR_POLICY_DO: u16 = 1;
const CTRL_ATTR_POLICY_DUMP: u16 = 2;
/// nlctrl's `notify` group id (GENL_ID_CTRL): the kernel's, and the twin's USERSOCK group.
const NOTIFY_GROUP: u32 = 0x10;

/// NL_POLICY_TYPE_ATTR_*.
pub mod pt {
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

/// NL_ATTR_TYPE_*.
pub mod nt {
    pub const FLAG: u64 = 1;
    pub const U8: u64 = 2;
    pub const U16: u64 = 3;
    pub const U32: u64 = 4;
    pub const U64: u64 = 5;
    pub const S32: u64 = 8;
    pub const S64: u64 = 9;
    pub const BINARY: u64 = 10;
    pub const NUL_STRING: u64 = 12;
    pub const NESTED: u64 = 13;
}

/// One attribute's description in a policy dump: NL_POLICY_TYPE_ATTR_* → value (u32s
/// widened; signed bounds as their two's complement).
pub type Desc = BTreeMap<u16, u64>;

/// The description of an attribute policy nest (`netlink_policy_dump_write_attr`).
pub fn desc_of(nest: &[u8]) -> Desc {
    AttrIter::new(nest)
        .map_while(Result::ok)
        .map(|a| {
            let v = match a.payload.len() {
                8 => a.u64(),
                _ => a.u32() as u64,
            };
            (a.kind, v)
        })
        .collect()
}

/// The mask of flags attribute `id` in a table of the family's attribute set (the
/// generated MASKS: NLA_POLICY_MASK); nested sets have none.
pub fn mask_of(set: &Policy, id: u16) -> Option<u64> {
    let masks = match set.set {
        pnfsd::FAMILY_NAME => pnfsd::MASKS,
        gfs2ctl::FAMILY_NAME => gfs2ctl::MASKS,
        _ => &[],
    };
    masks.iter().find(|(a, _)| *a == id).map(|(_, m)| *m)
}

/// What Linux 6.1 says of the policy the module's generated C declares for `a` (ynl-gen:
/// NLA_POLICY_MASK for flags (`mask`), NLA_POLICY_RANGE/MIN/MAX for bounded integers,
/// NLA_POLICY_EXACT_LEN for fixed binary, `.len` for strings, NLA_POLICY_NESTED): None
/// for the pad and the reject-all entries (NLA_REJECT, not dumped). A nest's POLICY_IDX
/// is left out: it depends on the dump.
pub fn expected(a: &AttrPolicy, mask: Option<u64>) -> Option<Desc> {
    let mut d = Desc::new();
    let mut uint = |ty: u64, max: u64| {
        match mask {
            Some(m) => d.insert(pt::MASK, m),
            None => {
                d.insert(pt::MIN_VALUE_U, a.min.unwrap_or(0));
                d.insert(pt::MAX_VALUE_U, a.max.unwrap_or(max))
            }
        };
        ty
    };
    let ty = match a.kind {
        AttrKind::Unused | AttrKind::Pad => return None,
        AttrKind::Flag => nt::FLAG,
        AttrKind::U8 => uint(nt::U8, u8::MAX as u64),
        AttrKind::U16 => uint(nt::U16, u16::MAX as u64),
        AttrKind::U32 => uint(nt::U32, u32::MAX as u64),
        AttrKind::U64 => uint(nt::U64, u64::MAX),
        AttrKind::S32 | AttrKind::S64 => {
            let (lo, hi, ty) = match a.kind {
                AttrKind::S32 => (i32::MIN as i64, i32::MAX as i64, nt::S32),
                _ => (i64::MIN, i64::MAX, nt::S64),
            };
            d.insert(pt::MIN_VALUE_S, a.min.map_or(lo, |v| v as i64) as u64);
            d.insert(pt::MAX_VALUE_S, a.max.map_or(hi, |v| v as i64) as u64);
            ty
        }
        AttrKind::String => {
            if a.max_len > 0 {
                d.insert(pt::MAX_LENGTH, a.max_len);
            }
            nt::NUL_STRING
        }
        AttrKind::Binary => {
            if a.min_len > 0 && a.min_len == a.max_len {
                d.insert(pt::MIN_LENGTH, a.min_len);
                d.insert(pt::MAX_LENGTH, a.max_len);
            }
            nt::BINARY
        }
        AttrKind::Nest => {
            d.insert(pt::POLICY_MAXTYPE, a.nested.map_or(0, |p| p.max() as u64));
            nt::NESTED
        }
    };
    d.insert(pt::TYPE, ty);
    Some(d)
}

/// A GETPOLICY dump: each op's (do, dump) policy index, and each policy's attributes.
/// A policy of NLA_UNSPEC and NLA_REJECT entries only (the reject-all policy of an op
/// without request attributes) has an index but no attribute message.
#[derive(Debug, Default)]
pub struct PolicyDump {
    pub ops: BTreeMap<u32, (Option<u32>, Option<u32>)>,
    pub policies: BTreeMap<u32, BTreeMap<u16, Desc>>,
}

/// Ask nlctrl for a policy dump (`build` adds the family and op attributes); every
/// message checked as `ctrl_dumppolicy` writes it: nlctrl's, NLM_F_MULTI, the family id
/// first, then one CTRL_ATTR_OP_POLICY (the ops, all before the policies) or one
/// CTRL_ATTR_POLICY holding one attribute of one policy, every nest NLA_F_NESTED.
pub async fn get_policy(
    c: &Conn,
    family_id: u16,
    build: impl FnOnce(&mut MsgBuilder<'_>),
) -> Result<PolicyDump, Fail> {
    let (buf, seq) = c.encode(GENL_ID_CTRL, CTRL_CMD_GETPOLICY, NLM_F_DUMP, build);
    c.send_raw(&buf).await?;
    let msgs = c.answer(seq, Some(CTRL_CMD_GETPOLICY), WAIT).await?;
    parse_policy_dump(&msgs, family_id).map_err(Fail::Local)
}

fn parse_policy_dump(msgs: &[Msg], family_id: u16) -> Result<PolicyDump, String> {
    let mut d = PolicyDump::default();
    for (i, m) in msgs.iter().enumerate() {
        let what = format!("GETPOLICY message {i}");
        check_eq!(m.kind, GENL_ID_CTRL, "{what}: type");
        check!(m.flags & NLM_F_MULTI != 0, "{what}: no NLM_F_MULTI");
        if m.attrs.is_empty() {
            // Linux 6.1 leaves a bare header where a dump skb had room for it but not
            // for the family id (ctrl_dumppolicy_prep returns NULL after genlmsg_put,
            // and genlmsg_cancel(skb, NULL) cancels nothing); the next skb goes on.
            continue;
        }
        let attrs: Vec<_> = AttrIter::new(&m.attrs).map_while(Result::ok).collect();
        check_eq!(attrs.len(), 2, "{what}: attributes");
        check_eq!(
            (attrs[0].kind, attrs[0].u16()),
            (CTRL_ATTR_FAMILY_ID, family_id),
            "{what}: first attribute (family id)"
        );
        let body = attrs[1];
        check!(
            body.nested_flag,
            "{what}: attribute {} without NLA_F_NESTED",
            body.kind
        );
        let inner: Vec<_> = body.nested().map_while(Result::ok).collect();
        check_eq!(inner.len(), 1, "{what}: entries in attribute {}", body.kind);
        let e = inner[0];
        check!(
            e.nested_flag,
            "{what}: entry {} without NLA_F_NESTED",
            e.kind
        );
        match body.kind {
            CTRL_ATTR_OP_POLICY => {
                check!(d.policies.is_empty(), "{what}: an op after the policies");
                let a = Attrs(e.payload);
                let v = (a.u32(CTRL_ATTR_POLICY_DO), a.u32(CTRL_ATTR_POLICY_DUMP));
                check!(
                    d.ops.insert(e.kind as u32, v).is_none(),
                    "{what}: op {} twice",
                    e.kind
                );
            }
            CTRL_ATTR_POLICY => {
                let attrs: Vec<_> = e.nested().map_while(Result::ok).collect();
                check_eq!(attrs.len(), 1, "{what}: attributes of policy {}", e.kind);
                let a = attrs[0];
                check!(
                    a.nested_flag,
                    "{what}: policy {} attribute {} without NLA_F_NESTED",
                    e.kind,
                    a.kind
                );
                let p = d.policies.entry(e.kind as u32).or_default();
                check!(
                    p.insert(a.kind, desc_of(a.payload)).is_none(),
                    "{what}: policy {} attribute {} twice",
                    e.kind,
                    a.kind
                );
            }
            other => return Err(format!("{what}: attribute {other}")),
        }
    }
    Ok(d)
}

impl PolicyDump {
    /// Policy `idx` describes attributes of `set` as the spec says; with `whole`, every
    /// attribute the set defines (but the pad), else at least those of `need`. A nest
    /// points at a policy describing its whole set.
    fn check(&self, idx: u32, set: &'static Policy, whole: bool, need: &[u16], what: &str) -> R {
        self.check_at(idx, set, whole, need, what, 0)
    }

    fn check_at(
        &self,
        idx: u32,
        set: &'static Policy,
        whole: bool,
        need: &[u16],
        what: &str,
        depth: usize,
    ) -> R {
        check!(depth < 4, "{what}: policies nest deeper than the specs");
        // A policy of NLA_UNSPEC and NLA_REJECT only (the reject-all policy of an op
        // without request attributes) has no attribute to dump.
        let empty = BTreeMap::new();
        let p = self.policies.get(&idx).unwrap_or(&empty);
        for (&id, got) in p {
            let a = set.get(id).ok_or_else(|| {
                format!(
                    "{what}: policy {idx} describes attribute {id}, which set {} does not define",
                    set.set
                )
            })?;
            let mut want = expected(a, mask_of(set, id)).ok_or_else(|| {
                format!(
                    "{what}: policy {idx} describes {} (not dumped by the kernel)",
                    a.name
                )
            })?;
            if a.kind == AttrKind::Nest {
                let n = got
                    .get(&pt::POLICY_IDX)
                    .ok_or_else(|| format!("{what}: nest {} without a policy index", a.name))?;
                want.insert(pt::POLICY_IDX, *n);
                let nested = a
                    .nested
                    .ok_or_else(|| format!("nest {} has no policy", a.name))?;
                self.check_at(
                    *n as u32,
                    nested,
                    true,
                    &[],
                    &format!("{what} > {}", a.name),
                    depth + 1,
                )?;
            }
            check_eq!(
                got,
                &want,
                "{what}: policy {idx} attribute {} ({id})",
                a.name
            );
        }
        let defined =
            (1..=set.max()).filter(|id| set.get(*id).is_some_and(|a| a.kind != AttrKind::Pad));
        let wanted: Vec<u16> = if whole {
            defined.collect()
        } else {
            need.to_vec()
        };
        for id in wanted {
            if set.get(id).is_some_and(|a| a.kind == AttrKind::Pad) {
                continue;
            }
            check!(
                p.contains_key(&id),
                "{what}: policy {idx} does not describe {} ({id})",
                set.name(id)
            );
        }
        Ok(())
    }

    /// The policy indices the ops and nests point at are 0, 1, 2...; every policy with
    /// attributes in the dump is one of them.
    fn indices_sound(&self, what: &str) -> R {
        let r = self.referenced();
        check_eq!(
            r.iter().copied().collect::<Vec<_>>(),
            (0..r.len() as u32).collect::<Vec<_>>(),
            "{what}: policy indices the ops and nests point at"
        );
        let orphans: Vec<_> = self.policies.keys().filter(|i| !r.contains(i)).collect();
        check!(
            orphans.is_empty(),
            "{what}: policies no op reaches: {orphans:?}"
        );
        Ok(())
    }

    /// The policy indices the ops and nests point at.
    fn referenced(&self) -> BTreeSet<u32> {
        let mut r: BTreeSet<u32> = self
            .ops
            .values()
            .flat_map(|(a, b)| [*a, *b])
            .flatten()
            .collect();
        for p in self.policies.values() {
            r.extend(
                p.values()
                    .filter_map(|d| d.get(&pt::POLICY_IDX))
                    .map(|v| *v as u32),
            );
        }
        r
    }
}

/// GETFAMILY by name, the answer's attributes as sent.
async fn get_family_raw(c: &Conn, name: &str) -> Result<Msg, String> {
    let (buf, seq) = c.encode(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, |b| {
        b.put_str(CTRL_ATTR_FAMILY_NAME, name);
    });
    c.send_raw(&buf).await?;
    let mut r = c.answer(seq, None, WAIT).await?;
    check_eq!(r.len(), 1, "GETFAMILY {name}: answers");
    Ok(r.remove(0))
}

/// The ops and multicast-group lists of a GETFAMILY answer, and their entries, are nests
/// without NLA_F_NESTED, as `ctrl_fill_info` writes them (`nla_nest_start_noflag`).
fn lists_unflagged(m: &Msg, what: &str) -> R {
    for a in AttrIter::new(&m.attrs).map_while(Result::ok) {
        if a.kind != CTRL_ATTR_OPS && a.kind != CTRL_ATTR_MCAST_GROUPS {
            continue;
        }
        check!(!a.nested_flag, "{what}: list {} has NLA_F_NESTED", a.kind);
        for e in a.nested().map_while(Result::ok) {
            check!(
                !e.nested_flag,
                "{what}: entry {} of list {} has NLA_F_NESTED",
                e.kind,
                a.kind
            );
        }
    }
    Ok(())
}

/// nlctrl describes itself and the two families as the kernel does: nlctrl's maxattr is
/// 0 (its ops carry their policies), its ops are GETFAMILY (do, dump, policy: 0xe) and
/// GETPOLICY (dump, policy: 0xc), its group `notify` is 0x10 and can be joined; the
/// families' op flags are GENL_ADMIN_PERM for admin ops, the do/dump capability and
/// HASPOL; no list is flagged NLA_F_NESTED. The twin of f506fb8 said maxattr 7, listed
/// only GETFAMILY, no `notify` group, and flagged its lists: this failed there on maxattr.
pub async fn nlctrl_describes_families(env: &mut Env) -> R {
    let c = env.conn()?;
    let m = get_family_raw(&c, "nlctrl").await?;
    let nl = FamilyInfo::parse(&m.attrs).map_err(|e| format!("nlctrl: {e}"))?;
    check_eq!(
        (nl.id, nl.version, nl.hdrsize, nl.maxattr),
        (GENL_ID_CTRL, 2, 0, 0),
        "nlctrl: id, version, hdrsize, maxattr"
    );
    check_eq!(
        nl.ops,
        vec![
            (CTRL_CMD_GETFAMILY as u32, 0xe),
            (CTRL_CMD_GETPOLICY as u32, 0xc)
        ],
        "nlctrl: ops"
    );
    check_eq!(
        nl.groups,
        vec![("notify".to_string(), NOTIFY_GROUP)],
        "nlctrl: multicast groups"
    );
    lists_unflagged(&m, "nlctrl")?;
    c.socket()
        .join_group(NOTIFY_GROUP)
        .map_err(|e| format!("join nlctrl's notify group: {e}"))?;
    for (f, spec) in [(Fam::Pnfsd, &pnfsd::FAMILY), (Fam::Gfs2, &gfs2ctl::FAMILY)] {
        let m = get_family_raw(&c, f.name()).await?;
        lists_unflagged(&m, f.name())?;
        let info = FamilyInfo::parse(&m.attrs).map_err(|e| format!("{}: {e}", f.name()))?;
        check_eq!(
            info.maxattr,
            spec.policy.max() as u32,
            "{} maxattr",
            f.name()
        );
        let want: Vec<(u32, u32)> = spec
            .ops
            .iter()
            .filter(|o| !o.upcall && o.kind != OpKind::Event)
            .map(|o| {
                let mut fl = GENL_CMD_CAP_HASPOL;
                if o.admin {
                    fl |= GENL_ADMIN_PERM;
                }
                if matches!(o.kind, OpKind::Do | OpKind::DoDump) {
                    fl |= GENL_CMD_CAP_DO;
                }
                if matches!(o.kind, OpKind::Dump | OpKind::DoDump) {
                    fl |= GENL_CMD_CAP_DUMP;
                }
                (o.cmd as u32, fl)
            })
            .collect();
        check_eq!(info.ops, want, "{} ops (id, flags), in order", f.name());
    }
    Ok(())
}

/// CTRL_CMD_GETPOLICY dumps each family's policies as the kernel does for the module:
/// by name or by id, every op nlctrl lists mapped to its own policy (do ops by
/// CTRL_ATTR_POLICY_DO, dumps by CTRL_ATTR_POLICY_DUMP): the generated request policy of
/// the op (only its request attributes; reject-all, dumping nothing, for an op without
/// any), each attribute as the spec bounds it (type, value range or mask, length,
/// nested policy), every nest's set described whole; with CTRL_ATTR_OP, that op alone.
/// The twin of f506fb8 answered EOPNOTSUPP.
pub async fn getpolicy_families(env: &mut Env) -> R {
    let c = env.conn()?;
    let families: [(Fam, &Family, OpPolicy); 2] = [
        (Fam::Pnfsd, &pnfsd::FAMILY, pnfsd::op_policy),
        (Fam::Gfs2, &gfs2ctl::FAMILY, gfs2ctl::op_policy),
    ];
    for (f, spec, op_policy) in families {
        let id = env.id(f);
        let name = f.name();
        let d = get_policy(&c, id, |b| {
            b.put_str(CTRL_ATTR_FAMILY_NAME, name);
        })
        .await
        .map_err(|e| format!("GETPOLICY {name}: {e}"))?;
        let listed: BTreeMap<u32, u32> = env.info(f).ops.iter().copied().collect();
        check_eq!(
            d.ops.keys().collect::<Vec<_>>(),
            listed.keys().collect::<Vec<_>>(),
            "{name}: ops with a policy"
        );
        for (cmd, (doit, dumpit)) in &d.ops {
            let flags = listed[cmd];
            let op = spec
                .op(*cmd as u8)
                .ok_or_else(|| format!("{name}: op {cmd} not in the spec"))?;
            let what = format!("{name} op {}", op.name);
            check_eq!(
                (doit.is_some(), dumpit.is_some()),
                (flags & GENL_CMD_CAP_DO != 0, flags & GENL_CMD_CAP_DUMP != 0),
                "{what}: do/dump policy"
            );
            let policy = op_policy(op.cmd).ok_or_else(|| format!("{what}: no generated policy"))?;
            for idx in [doit, dumpit].into_iter().flatten() {
                d.check(*idx, policy, true, op.request, &what)?;
            }
        }
        d.indices_sound(name)?;

        // One op, by family id.
        let op = spec
            .ops
            .iter()
            .find(|o| o.name == "config-set")
            .ok_or("config-set not in the spec")?;
        let one = get_policy(&c, id, |b| {
            b.put_u16(CTRL_ATTR_FAMILY_ID, id)
                .put_u32(CTRL_ATTR_OP, op.cmd as u32);
        })
        .await
        .map_err(|e| format!("GETPOLICY {name} op config-set: {e}"))?;
        check_eq!(
            one.ops.keys().copied().collect::<Vec<_>>(),
            vec![op.cmd as u32],
            "{name}: ops of a one-op dump"
        );
        let (doit, dumpit) = one.ops[&(op.cmd as u32)];
        check!(dumpit.is_none(), "{name} config-set: a dump policy");
        let idx = doit.ok_or_else(|| format!("{name} config-set: no do policy"))?;
        let policy = op_policy(op.cmd).ok_or("config-set: no generated policy")?;
        one.check(idx, policy, true, op.request, &format!("{name} config-set"))?;
        one.indices_sound(&format!("{name} config-set"))?;
    }
    Ok(())
}

/// GETPOLICY's refusals, as `ctrl_dumppolicy_start` and the genl core make them: no
/// family → EINVAL; an unknown family, by name or id → ENOENT; an op the family does not
/// serve (an upcall) → ENOENT pointing at CTRL_ATTR_OP; an attribute nlctrl's policy
/// does not define → EINVAL; GETPOLICY without NLM_F_DUMP → EOPNOTSUPP (it has no do).
pub async fn getpolicy_refusals(env: &mut Env) -> R {
    let c = env.conn()?;
    let refused = |r: Result<PolicyDump, Fail>, want: i32, what: &str| match r {
        Err(Fail::Peer(p)) if p.errno == want => Ok(p),
        Err(e) => Err(format!("{what}: {e}, want errno {want}")),
        Ok(_) => Err(format!("{what}: answered, want errno {want}")),
    };
    refused(get_policy(&c, 0, |_| {}).await, libc::EINVAL, "no family")?;
    let r = get_policy(&c, 0, |b| {
        b.put_str(CTRL_ATTR_FAMILY_NAME, "pnfsd-no-such");
    })
    .await;
    refused(r, libc::ENOENT, "unknown family name")?;
    let r = get_policy(&c, 0, |b| {
        b.put_u16(CTRL_ATTR_FAMILY_ID, 0x7fff);
    })
    .await;
    refused(r, libc::ENOENT, "unknown family id")?;
    let id = env.id(Fam::Pnfsd);
    let r = get_policy(&c, id, |b| {
        b.put_u16(CTRL_ATTR_FAMILY_ID, id)
            .put_u32(CTRL_ATTR_OP, pnfsd::cmd::GET_STATE as u32);
    })
    .await;
    let p = refused(r, libc::ENOENT, "an upcall op")?;
    // The family id attribute (8 bytes) then the op's: 20 + 8. Linux 6.1 says none (its
    // dump start has no extack to set), later kernels point at CTRL_ATTR_OP.
    check!(
        p.offset.is_none_or(|o| o == 28),
        "an upcall op: extack offset {:?}, want none or 28 (CTRL_ATTR_OP)",
        p.offset
    );
    let r = get_policy(&c, id, |b| {
        b.put_u16(CTRL_ATTR_FAMILY_ID, id).put_u32(0x7ff, 1);
    })
    .await;
    let p = refused(r, libc::EINVAL, "an unknown attribute")?;
    check_eq!(
        p.message.as_deref(),
        Some("Unknown attribute type"),
        "an unknown attribute: extack"
    );
    let (buf, seq) = c.encode(GENL_ID_CTRL, CTRL_CMD_GETPOLICY, 0, |b| {
        b.put_u16(CTRL_ATTR_FAMILY_ID, id);
    });
    c.send_raw(&buf).await?;
    match c.answer(seq, None, WAIT).await {
        Err(Fail::Peer(p)) if p.errno == libc::EOPNOTSUPP => Ok(()),
        other => Err(format!(
            "GETPOLICY without NLM_F_DUMP: {other:?}, want EOPNOTSUPP"
        )),
    }
}

/// nlctrl's own policies, as Linux 6.1 dumps them: GETFAMILY's do validated by
/// `ctrl_policy_family` (its dump takes no attributes: GENL_DONT_VALIDATE_DUMP; later
/// kernels list a dump policy too), GETPOLICY's dump by `ctrl_policy_policy`.
pub async fn getpolicy_nlctrl(env: &mut Env) -> R {
    let c = env.conn()?;
    let d = get_policy(&c, GENL_ID_CTRL, |b| {
        b.put_str(CTRL_ATTR_FAMILY_NAME, "nlctrl");
    })
    .await
    .map_err(|e| format!("GETPOLICY nlctrl: {e}"))?;
    let fam = d
        .ops
        .get(&(CTRL_CMD_GETFAMILY as u32))
        .copied()
        .ok_or("no policy for GETFAMILY")?;
    let pol = d
        .ops
        .get(&(CTRL_CMD_GETPOLICY as u32))
        .copied()
        .ok_or("no policy for GETPOLICY")?;
    check_eq!(d.ops.len(), 2, "nlctrl: ops with a policy");
    check!(
        fam.0.is_some() && fam.1.is_none_or(|i| Some(i) == fam.0),
        "GETFAMILY policies {fam:?}"
    );
    check_eq!(pol.0, None, "GETPOLICY do policy");
    let u16_ = Desc::from([
        (pt::MIN_VALUE_U, 0),
        (pt::MAX_VALUE_U, 0xffff),
        (pt::TYPE, nt::U16),
    ]);
    let name = Desc::from([(pt::MAX_LENGTH, 15), (pt::TYPE, nt::NUL_STRING)]);
    let u32_ = Desc::from([
        (pt::MIN_VALUE_U, 0),
        (pt::MAX_VALUE_U, u32::MAX as u64),
        (pt::TYPE, nt::U32),
    ]);
    let want_family = BTreeMap::from([(1, u16_.clone()), (2, name.clone())]);
    let want_policy = BTreeMap::from([(1, u16_), (2, name), (10, u32_)]);
    check_eq!(
        d.policies.get(&fam.0.unwrap()),
        Some(&want_family),
        "GETFAMILY's policy"
    );
    let p = pol.1.ok_or("GETPOLICY has no dump policy")?;
    check_eq!(d.policies.get(&p), Some(&want_policy), "GETPOLICY's policy");
    check_eq!(d.policies.len(), 2, "nlctrl: policies");
    Ok(())
}
