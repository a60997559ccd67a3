//! ynl-gen: from a YNL genetlink spec to the tables both halves compile.
//!
//! One spec, three outputs, so the kernel module, the twin and the daemon cannot drift:
//! - Rust: command/attribute ids, enums, policies (the family's and one per operation)
//!   and the op table (`netlink/src/gen/`);
//! - C uapi header: what the kernel's `ynl-gen-c.py --mode uapi` writes for the spec
//!   (`kmod-shim/module/uapi/`);
//! - C policy tables and the `genl_ops` array (`kmod-shim/module/*-nl.[ch]`): what
//!   `ynl-gen-c.py --mode kernel` writes, in the form Linux 6.1 takes (`struct genl_ops`
//!   with a policy per op: `genl_split_ops` arrived in 6.2).
//!
//! The policies follow the kernel generator's rules (`TypeScalar` and friends in
//! `tools/net/ynl/ynl-gen-c.py`): an enum attribute is range-checked by its enum's values,
//! a flags attribute is mask-checked, an op's policy holds only its request attributes,
//! and `tests/ynl/run.sh` compares the outputs with the kernel generator's.

pub mod ops;
pub mod spec;

use anyhow::{bail, Result};
use spec::{AttrType, DefType, Direction, Spec};
use std::collections::BTreeSet;
use std::fmt::Write;

pub use spec::Spec as YnlSpec;

fn upper(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

fn lower(s: &str) -> String {
    s.replace('-', "_").to_lowercase()
}

fn camel(s: &str) -> String {
    s.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn rust_kind(t: AttrType) -> &'static str {
    match t {
        AttrType::U8 => "U8",
        AttrType::U16 => "U16",
        AttrType::U32 => "U32",
        AttrType::U64 => "U64",
        AttrType::S32 => "S32",
        AttrType::S64 => "S64",
        AttrType::String => "String",
        AttrType::Binary => "Binary",
        AttrType::Flag => "Flag",
        AttrType::Nest => "Nest",
        AttrType::Pad => "Pad",
        _ => unreachable!("rejected by Spec::check"),
    }
}

fn is_scalar(t: AttrType) -> bool {
    matches!(
        t,
        AttrType::U8
            | AttrType::U16
            | AttrType::U32
            | AttrType::U64
            | AttrType::S32
            | AttrType::S64
    )
}

fn is_signed(t: AttrType) -> bool {
    matches!(t, AttrType::S32 | AttrType::S64)
}

/// Display names for attributes the spec cannot tie to their enum with `enum:`, because
/// the kernel's ynl-gen-c (6.12) refuses a sparse enum there: (family, set, attribute,
/// enum). Rust rendering only (pnfsctl prints `"status": "ok"`); no policy check, as in
/// the kernel. Mainline ynl_gen_c.py (6.16+) takes `enum:` on a sparse enum (it emits an
/// NLA_POLICY_VALIDATE_FN); when the kernel tier moves to it, put `enum:` back in the
/// spec and drop the entry. `tests/specs.rs` checks every entry still applies.
pub const DISPLAY_ENUMS: &[(&str, &str, &str, &str)] = &[("pnfsd", "pnfsd", "status", "nfsstat")];

/// Module name of an attribute set's ids in the Rust output.
fn set_mod(spec: &Spec, set: &str) -> String {
    if set == spec.name {
        "attr".to_string()
    } else {
        format!("{}_attr", lower(set))
    }
}

fn policy_static(set: &str) -> String {
    format!("{}_POLICY", upper(set))
}

/// C prefix of an attribute set's enum entries (the kernel's `AttrSet.name_prefix`).
fn c_attr_prefix(spec: &Spec, set: &spec::AttrSet) -> String {
    match &set.name_prefix {
        Some(p) => upper(p),
        None if set.name == spec.name => format!("{}_A_", upper(&spec.name)),
        None => format!("{}_A_{}_", upper(&spec.name), upper(&set.name)),
    }
}

/// C name of an attribute's enum entry.
fn c_attr(spec: &Spec, set: &spec::AttrSet, a: &spec::Attr) -> String {
    format!("{}{}", c_attr_prefix(spec, set), upper(&a.name))
}

/// A limit, with its value and the way the kernel's generator spells it in C (the
/// constant's name where the spec names one).
#[derive(Clone, Debug)]
struct Lim {
    v: u64,
    c: String,
}

/// What the kernel's ynl-gen-c makes of an attribute's `enum`/`checks`.
#[derive(Default, Debug)]
struct Checks {
    /// NLA_POLICY_MASK: a flags attribute (`enum` of flags, `enum-as-flags`, `flags-mask`).
    mask: Option<u64>,
    min: Option<Lim>,
    max: Option<Lim>,
    /// The bounds do not fit the s16 `min`/`max` of struct nla_policy.
    full_range: bool,
    min_len: Option<Lim>,
    max_len: Option<Lim>,
    exact_len: Option<Lim>,
}

fn checks(spec: &Spec, a: &spec::Attr) -> Result<Checks> {
    let c = a.checks.clone().unwrap_or_default();
    let t = a.kind.unwrap();
    let len = |v: &Option<spec::IntOrStr>| -> Result<Option<Lim>> {
        let Some(v) = v else { return Ok(None) };
        let n = spec.resolve(v)?;
        let c = match v {
            spec::IntOrStr::Str(s) if spec.definition(s).is_some() => {
                format!("{}_{}", upper(&spec.name), upper(s))
            }
            _ => n.to_string(),
        };
        Ok(Some(Lim { v: n, c }))
    };
    let num = |n: u64| Lim {
        v: n,
        c: n.to_string(),
    };
    let mut out = Checks {
        min_len: len(&c.min_len)?,
        max_len: len(&c.max_len)?,
        exact_len: len(&c.exact_len)?,
        ..Default::default()
    };
    if !is_scalar(t) {
        return Ok(out);
    }
    out.min = c
        .min
        .as_ref()
        .map(|v| spec.resolve(v))
        .transpose()?
        .map(num);
    out.max = c
        .max
        .as_ref()
        .map(|v| spec.resolve(v))
        .transpose()?
        .map(num);
    let mut bitfield = a.enum_as_flags.unwrap_or(false);
    if let Some(e) = &a.enum_name {
        let d = spec.definition(e).expect("checked");
        bitfield |= d.kind == DefType::Flags;
        let (lo, hi) = spec.value_range(d)?.expect("checked: not sparse");
        if out.min.is_none() && (lo != 0 || is_signed(t)) {
            out.min = Some(num(lo));
        }
        if out.max.is_none() {
            out.max = Some(num(hi));
        }
        if bitfield {
            out.mask = Some(
                spec.raw_values(d)?
                    .into_iter()
                    .map(|(_, v)| 1u64 << v)
                    .sum(),
            );
        }
    }
    if !bitfield {
        if let Some(m) = &c.flags_mask {
            let d = spec.definition(m).expect("checked");
            out.mask = Some((1u64 << d.entries.len()) - 1);
        }
    }
    if let (Some(lo), Some(hi)) = (&out.min, &out.max) {
        if lo.v > hi.v {
            bail!("{}: min {} > max {}", a.name, lo.v, hi.v);
        }
    }
    let hi = out
        .min
        .iter()
        .chain(&out.max)
        .map(|l| l.v)
        .max()
        .unwrap_or(0);
    out.full_range = hi > i16::MAX as u64;
    Ok(out)
}

/// (min_len, max_len, min, max) of the Rust `AttrPolicy`.
fn rust_limits(spec: &Spec, a: &spec::Attr) -> Result<(u64, u64, Option<u64>, Option<u64>)> {
    let c = checks(spec, a)?;
    let exact = c.exact_len.as_ref().map(|l| l.v);
    let min_len = exact.or(c.min_len.as_ref().map(|l| l.v)).unwrap_or(0);
    let max_len = exact.or(c.max_len.as_ref().map(|l| l.v)).unwrap_or(0);
    if c.mask.is_some() {
        // The kernel checks a flags attribute by its mask alone (`mask_violation`).
        return Ok((min_len, max_len, None, None));
    }
    Ok((min_len, max_len, c.min.map(|l| l.v), c.max.map(|l| l.v)))
}

fn display_enum(spec: &Spec, set: &str, attr: &str) -> Option<&'static str> {
    DISPLAY_ENUMS
        .iter()
        .find(|(f, s, a, _)| *f == spec.name && *s == set && *a == attr)
        .map(|(_, _, _, e)| *e)
}

/// One `AttrPolicy { .. }` literal, at `indent`.
fn rust_attr_policy(
    o: &mut String,
    spec: &Spec,
    set: &spec::AttrSet,
    a: &spec::Attr,
    indent: &str,
) -> Result<()> {
    let (min_len, max_len, min, max) = rust_limits(spec, a)?;
    let nested = match &a.nested_attributes {
        Some(n) => format!("Some(&{})", policy_static(n)),
        None => "None".into(),
    };
    let kind = rust_kind(a.kind.unwrap());
    writeln!(o, "{indent}AttrPolicy {{")?;
    writeln!(o, "{indent}    name: {:?},", a.name)?;
    writeln!(o, "{indent}    kind: AttrKind::{kind},")?;
    writeln!(o, "{indent}    min_len: {min_len},")?;
    writeln!(o, "{indent}    max_len: {max_len},")?;
    writeln!(o, "{indent}    min: {min:?},")?;
    writeln!(o, "{indent}    max: {max:?},")?;
    writeln!(o, "{indent}    nested: {nested},")?;
    writeln!(o, "{indent}    multi: {},", a.multi_attr.unwrap_or(false))?;
    let enum_def = match (&a.enum_name, a.enum_as_flags.unwrap_or(false)) {
        (Some(e), false) => spec
            .definition(e)
            .filter(|d| d.kind == DefType::Enum)
            .map(|d| d.name.as_str()),
        _ => display_enum(spec, &set.name, &a.name),
    };
    let enum_fn = match enum_def {
        Some(e) => format!("Some({}::name_of)", camel(e)),
        None => "None".to_string(),
    };
    writeln!(o, "{indent}    enum_name: {enum_fn},")?;
    writeln!(o, "{indent}}},")?;
    Ok(())
}

/// A Rust policy table over `ids` (attribute id -> attribute), indexed up to `max`.
fn rust_policy_table(
    o: &mut String,
    spec: &Spec,
    set: &spec::AttrSet,
    ids: &[(u16, &spec::Attr)],
    max: u16,
    indent: &str,
) -> Result<()> {
    writeln!(o, "{indent}set: {:?},", set.name)?;
    writeln!(o, "{indent}attrs: &[")?;
    writeln!(o, "{indent}    AttrPolicy::UNUSED,")?;
    for id in 1..=max {
        match ids.iter().find(|(i, _)| *i == id) {
            Some((_, a)) => rust_attr_policy(o, spec, set, a, &format!("{indent}    "))?,
            None => writeln!(o, "{indent}    AttrPolicy::UNUSED,")?,
        }
    }
    writeln!(o, "{indent}],")?;
    Ok(())
}

/// The request attributes of an op, with their ids, in the op's order.
fn request_ids<'a>(spec: &'a Spec, op: &'a spec::Op) -> Vec<(u16, &'a spec::Attr)> {
    let Some(req) = op.request() else {
        return vec![];
    };
    let set = spec.main_set().expect("checked");
    let all = spec.attr_ids(set);
    req.attributes
        .iter()
        .map(|n| *all.iter().find(|(_, a)| &a.name == n).expect("checked"))
        .collect()
}

/// Ops the kernel half serves: every downcall (upcalls are sent by it, events multicast).
fn handled_ops(spec: &Spec) -> Vec<(u8, &spec::Op)> {
    spec.op_ids()
        .into_iter()
        .filter(|(_, op)| op.direction() == Direction::Downcall)
        .collect()
}

/// Rust tables for one family.
pub fn gen_rust(spec: &Spec, source: &str) -> Result<String> {
    let mut o = String::new();
    writeln!(
        o,
        "// @generated by ynl-gen from {source}. Do not edit: edit the spec and run"
    )?;
    writeln!(o, "// `cargo run -p ynl-gen`.")?;
    let mut doc = spec.doc.trim().lines();
    writeln!(
        o,
        "//! Family `{}`: {}",
        spec.name,
        doc.next().unwrap_or("")
    )?;
    for l in doc {
        writeln!(o, "//!{}{l}", if l.is_empty() { "" } else { " " })?;
    }
    writeln!(o)?;
    writeln!(o, "#![allow(missing_docs)]")?;
    writeln!(o)?;
    writeln!(
        o,
        "use crate::codec::{{Attr, AttrTable, GenlHeader, MsgBuilder}};"
    )?;
    writeln!(o, "use crate::error::DecodeError;")?;
    writeln!(
        o,
        "use crate::policy::{{AttrKind, AttrPolicy, Family, OpKind, OpSpec, Policy}};"
    )?;
    writeln!(o)?;
    writeln!(o, "/// Family name as registered with nlctrl.")?;
    writeln!(o, "pub const FAMILY_NAME: &str = {:?};", spec.name)?;
    writeln!(
        o,
        "/// Generic netlink family version (the genl header's `version`, the uapi's"
    )?;
    writeln!(
        o,
        "/// `{}_FAMILY_VERSION`): 1, the genetlink schema has no other. The protocol",
        upper(&spec.name)
    )?;
    writeln!(
        o,
        "/// version REGISTER negotiates is the spec's `version` constant, [`VERSION`]."
    )?;
    writeln!(o, "pub const FAMILY_VERSION: u8 = 1;")?;
    for d in &spec.definitions {
        if let Some(doc) = &d.doc {
            writeln!(
                o,
                "/// {}",
                doc.split_whitespace().collect::<Vec<_>>().join(" ")
            )?;
        }
        match d.kind {
            DefType::Const => {
                let v = spec.resolve(d.value.as_ref().unwrap())?;
                writeln!(o, "pub const {}: u32 = {v};", upper(&d.name))?;
            }
            DefType::Enum => {
                let vals = spec.entry_values(d)?;
                let ty = camel(&d.name);
                writeln!(o, "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]")?;
                writeln!(o, "#[repr(u32)]")?;
                writeln!(o, "pub enum {ty} {{")?;
                for (n, v) in &vals {
                    writeln!(o, "    {} = {v},", camel(n))?;
                }
                writeln!(o, "}}")?;
                writeln!(o)?;
                writeln!(o, "impl {ty} {{")?;
                writeln!(o, "    /// Every value, in spec order.")?;
                write!(o, "    pub const ALL: &'static [{ty}] = &[")?;
                for (n, _) in &vals {
                    write!(o, "{ty}::{}, ", camel(n))?;
                }
                writeln!(o, "];")?;
                writeln!(o, "    /// The spec's name of this value.")?;
                writeln!(o, "    pub const fn name(self) -> &'static str {{")?;
                writeln!(o, "        match self {{")?;
                for (n, _) in &vals {
                    writeln!(o, "            {ty}::{} => {n:?},", camel(n))?;
                }
                writeln!(o, "        }}")?;
                writeln!(o, "    }}")?;
                writeln!(
                    o,
                    "    /// The value with this number, if the spec has one."
                )?;
                writeln!(o, "    pub const fn from_u32(v: u32) -> Option<Self> {{")?;
                writeln!(o, "        match v {{")?;
                for (n, v) in &vals {
                    writeln!(o, "            {v} => Some({ty}::{}),", camel(n))?;
                }
                writeln!(o, "            _ => None,")?;
                writeln!(o, "        }}")?;
                writeln!(o, "    }}")?;
                writeln!(
                    o,
                    "    /// The spec name of a raw value (for attribute rendering)."
                )?;
                writeln!(o, "    pub fn name_of(v: u64) -> Option<&'static str> {{")?;
                writeln!(
                    o,
                    "        u32::try_from(v).ok().and_then(Self::from_u32).map(Self::name)"
                )?;
                writeln!(o, "    }}")?;
                writeln!(o, "    /// The value with this spec name.")?;
                writeln!(o, "    pub fn from_name(s: &str) -> Option<Self> {{")?;
                writeln!(
                    o,
                    "        Self::ALL.iter().copied().find(|v| v.name() == s)"
                )?;
                writeln!(o, "    }}")?;
                writeln!(o, "}}")?;
            }
            DefType::Flags => {
                writeln!(o, "pub mod {} {{", lower(&d.name))?;
                for (n, v) in spec.entry_values(d)? {
                    writeln!(o, "    pub const {}: u32 = {v:#x};", upper(&n))?;
                }
                writeln!(o, "}}")?;
            }
        }
        writeln!(o)?;
    }

    writeln!(
        o,
        "/// Command values (one enum for requests, upcalls and events)."
    )?;
    writeln!(o, "pub mod cmd {{")?;
    for (v, op) in spec.op_ids() {
        writeln!(o, "    /// {}", op.doc.trim().lines().next().unwrap_or(""))?;
        writeln!(o, "    pub const {}: u8 = {v};", upper(&op.name))?;
    }
    writeln!(o, "}}")?;
    writeln!(o)?;

    for set in &spec.attribute_sets {
        let m = set_mod(spec, &set.name);
        writeln!(o, "/// Attribute ids of set `{}`.", set.name)?;
        writeln!(o, "pub mod {m} {{")?;
        let ids = spec.attr_ids(set);
        for (id, a) in &ids {
            if let Some(doc) = &a.doc {
                writeln!(
                    o,
                    "    /// {}",
                    doc.split_whitespace().collect::<Vec<_>>().join(" ")
                )?;
            }
            writeln!(o, "    pub const {}: u16 = {id};", upper(&a.name))?;
        }
        let max = ids.iter().map(|(i, _)| *i).max().unwrap_or(0);
        writeln!(o, "    /// Highest attribute id of the set.")?;
        writeln!(o, "    pub const MAX: u16 = {max};")?;
        writeln!(o, "}}")?;
        writeln!(o)?;
    }

    for set in &spec.attribute_sets {
        let ids = spec.attr_ids(set);
        let max = ids.iter().map(|(i, _)| *i).max().unwrap_or(0);
        writeln!(
            o,
            "/// Policy of set `{}`, indexed by attribute id: every attribute of the set",
            set.name
        )?;
        writeln!(
            o,
            "/// (to read what the kernel half sends; requests to it: [`op_policy`])."
        )?;
        writeln!(
            o,
            "pub static {}: Policy = Policy {{",
            policy_static(&set.name)
        )?;
        rust_policy_table(&mut o, spec, set, &ids, max, "    ")?;
        writeln!(o, "}};")?;
        writeln!(o)?;
    }

    gen_rust_op_policies(&mut o, spec)?;
    gen_rust_masks(&mut o, spec)?;

    writeln!(o, "/// Every operation of the family, in spec order.")?;
    writeln!(o, "pub static OPS: &[OpSpec] = &[")?;
    for (v, op) in spec.op_ids() {
        let set = op.attribute_set.as_deref().and_then(|s| spec.set(s));
        let ids = |l: Option<&spec::AttrList>| -> String {
            let Some(l) = l else { return "&[]".into() };
            let set = set.expect("checked");
            let all = spec.attr_ids(set);
            let v: Vec<String> = l
                .attributes
                .iter()
                .map(|n| {
                    all.iter()
                        .find(|(_, a)| &a.name == n)
                        .unwrap()
                        .0
                        .to_string()
                })
                .collect();
            format!("&[{}]", v.join(", "))
        };
        let (kind, req, rep) = if let Some(e) = &op.event {
            ("Event", ids(Some(e)), "&[]".to_string())
        } else {
            let kind = match (&op.do_, &op.dump) {
                (Some(_), Some(_)) => "DoDump",
                (Some(_), None) => "Do",
                (None, Some(_)) => "Dump",
                (None, None) => "Event",
            };
            let sub = op.do_.as_ref().or(op.dump.as_ref());
            (
                kind,
                ids(sub.and_then(|s| s.request.as_ref())),
                ids(sub.and_then(|s| s.reply.as_ref())),
            )
        };
        writeln!(o, "    OpSpec {{")?;
        writeln!(o, "        name: {:?},", op.name)?;
        writeln!(o, "        cmd: {v},")?;
        writeln!(o, "        kind: OpKind::{kind},")?;
        writeln!(
            o,
            "        admin: {},",
            op.flags.contains(&spec::OpFlag::AdminPerm)
        )?;
        writeln!(
            o,
            "        upcall: {},",
            op.direction() == Direction::Upcall
        )?;
        writeln!(o, "        request: {req},")?;
        writeln!(o, "        reply: {rep},")?;
        writeln!(o, "        mcgrp: {:?},", op.mcgrp)?;
        writeln!(o, "    }},")?;
    }
    writeln!(o, "];")?;
    writeln!(o)?;
    let groups: Vec<String> = spec
        .mcast_groups
        .iter()
        .flat_map(|g| g.list.iter().map(|g| format!("{:?}", g.name)))
        .collect();
    writeln!(o, "/// The family, as one value.")?;
    writeln!(o, "pub static FAMILY: Family = Family {{")?;
    writeln!(o, "    name: FAMILY_NAME,")?;
    writeln!(o, "    version: FAMILY_VERSION,")?;
    writeln!(o, "    policy: &{},", policy_static(&spec.name))?;
    writeln!(o, "    ops: OPS,")?;
    writeln!(o, "    mcast_groups: &[{}],", groups.join(", "))?;
    writeln!(o, "}};")?;
    writeln!(o)?;
    ops::gen_ops(&mut o, spec)?;
    Ok(o)
}

/// `request_policy::<OP>` per op and `op_policy(cmd)`.
fn gen_rust_op_policies(o: &mut String, spec: &Spec) -> Result<()> {
    let set = spec.main_set().expect("checked");
    let fam = lower(&spec.name);
    writeln!(
        o,
        "/// Request policies per operation, as the kernel's ynl-gen-c makes them"
    )?;
    writeln!(
        o,
        "/// (`{fam}_<op>_nl_policy`): only the op's request attributes, indexed up to the"
    )?;
    writeln!(
        o,
        "/// highest of them. An attribute the op does not take is then refused by"
    )?;
    writeln!(
        o,
        "/// `AttrTable::parse_strict` as one the family does not define (the kernel: -EINVAL,"
    )?;
    writeln!(
        o,
        "/// \"Unknown attribute type\" above the op's highest id, \"Unsupported attribute\" below)."
    )?;
    writeln!(o, "pub mod request_policy {{")?;
    writeln!(o, "    use super::*;")?;
    writeln!(o)?;
    for (_, op) in spec.op_ids() {
        if op.direction() == Direction::Event || op.request().is_none() {
            continue;
        }
        let ids = request_ids(spec, op);
        let max = ids.iter().map(|(i, _)| *i).max().unwrap_or(0);
        let what = match op.direction() {
            Direction::Upcall => "the upcall the kernel half sends",
            _ => "the request",
        };
        writeln!(o, "    /// `{}`: {what}.", op.name)?;
        writeln!(o, "    pub static {}: Policy = Policy {{", upper(&op.name))?;
        rust_policy_table(o, spec, set, &ids, max, "        ")?;
        writeln!(o, "    }};")?;
        writeln!(o)?;
    }
    let first = spec
        .attr_ids(set)
        .into_iter()
        .find(|(i, _)| *i == 1)
        .map(|(_, a)| a.name.clone())
        .unwrap_or_else(|| "unused".into());
    writeln!(
        o,
        "    /// An op without request attributes: what the kernel gives a new command without"
    )?;
    writeln!(
        o,
        "    /// a policy (genl_policy_reject_all): attribute 1 rejected, any other unknown."
    )?;
    writeln!(o, "    pub static REJECT_ALL: Policy = Policy {{")?;
    writeln!(o, "        set: {:?},", set.name)?;
    writeln!(o, "        attrs: &[")?;
    writeln!(o, "            AttrPolicy::UNUSED,")?;
    writeln!(o, "            AttrPolicy {{")?;
    writeln!(o, "                name: {first:?},")?;
    writeln!(o, "                kind: AttrKind::Pad,")?;
    writeln!(o, "                ..AttrPolicy::UNUSED")?;
    writeln!(o, "            }},")?;
    writeln!(o, "        ],")?;
    writeln!(o, "    }};")?;
    writeln!(o, "}}")?;
    writeln!(o)?;
    writeln!(
        o,
        "/// The policy a request with command `cmd` is validated by: the op's own"
    )?;
    writeln!(
        o,
        "/// ([`request_policy`]), `REJECT_ALL` for an op without request attributes; None for"
    )?;
    writeln!(
        o,
        "/// events and commands the family does not define. Upcalls have theirs too (to"
    )?;
    writeln!(
        o,
        "/// read them strictly), though the kernel half refuses them (-EOPNOTSUPP)."
    )?;
    writeln!(o, "pub fn op_policy(cmd: u8) -> Option<&'static Policy> {{")?;
    writeln!(o, "    Some(match cmd {{")?;
    for (_, op) in spec.op_ids() {
        if op.direction() == Direction::Event {
            continue;
        }
        let p = if op.request().is_some() {
            upper(&op.name)
        } else {
            "REJECT_ALL".to_string()
        };
        writeln!(
            o,
            "        cmd::{} => &request_policy::{p},",
            upper(&op.name)
        )?;
    }
    writeln!(o, "        _ => return None,")?;
    writeln!(o, "    }})")?;
    writeln!(o, "}}")?;
    writeln!(o)?;
    Ok(())
}

/// `MASKS` and `mask_violation` for the main set's flags attributes.
fn gen_rust_masks(o: &mut String, spec: &Spec) -> Result<()> {
    for set in &spec.attribute_sets {
        if set.name == spec.name {
            continue;
        }
        for a in &set.attributes {
            if checks(spec, a)?.mask.is_some() {
                bail!(
                    "{}.{}: a flags attribute in a nested set (mask_violation covers the \
                     family's own set only)",
                    set.name,
                    a.name
                );
            }
        }
    }
    let set = spec.main_set().expect("checked");
    let mut masks = vec![];
    for (_, a) in spec.attr_ids(set) {
        if let Some(m) = checks(spec, a)?.mask {
            masks.push((a, m));
        }
    }
    writeln!(
        o,
        "/// Flags attributes and the bits their flags define: the kernel's NLA_POLICY_MASK,"
    )?;
    writeln!(o, "/// which `AttrPolicy` does not carry.")?;
    write!(o, "pub const MASKS: &[(u16, u64)] = &[")?;
    for (a, m) in &masks {
        write!(o, "(attr::{}, {m:#x}), ", upper(&a.name))?;
    }
    writeln!(o, "];")?;
    writeln!(o)?;
    writeln!(
        o,
        "/// The first attribute of `t` with a bit outside its mask ([`MASKS`]), which the"
    )?;
    writeln!(
        o,
        "/// kernel refuses with -EINVAL, extack \"reserved bit set\" at its offset. The kernel"
    )?;
    writeln!(
        o,
        "/// half checks it after `AttrTable::parse_strict` with the op's policy."
    )?;
    writeln!(
        o,
        "pub fn mask_violation<'a, const N: usize>(t: &AttrTable<'a, N>) -> Option<Attr<'a>> {{"
    )?;
    for (a, m) in &masks {
        let get = match a.kind.unwrap() {
            AttrType::U8 => "u64::from(a.u8())",
            AttrType::U16 => "u64::from(a.u16())",
            AttrType::U32 => "u64::from(a.u32())",
            _ => "a.u64()",
        };
        writeln!(o, "    if let Some(a) = t.get(attr::{}) {{", upper(&a.name))?;
        writeln!(o, "        if {get} & !{m:#x} != 0 {{")?;
        writeln!(o, "            return Some(a);")?;
        writeln!(o, "        }}")?;
        writeln!(o, "    }}")?;
    }
    if masks.is_empty() {
        writeln!(o, "    let _ = t;")?;
    }
    writeln!(o, "    None")?;
    writeln!(o, "}}")?;
    writeln!(o)?;
    Ok(())
}

/// C text the way the kernel's generator writes it (its `CodeWriter`): a blank line asked
/// for with `nl()` is written only before the next line, and only once.
#[derive(Default)]
struct Cw {
    out: String,
    nl: bool,
}

impl Cw {
    fn p(&mut self, line: &str) {
        if self.nl {
            self.out.push('\n');
            self.nl = false;
        }
        self.out.push_str(line);
        self.out.push('\n');
    }

    fn nl(&mut self) {
        self.nl = true;
    }

    /// `}` + `end`: a blank line asked for just before is dropped (`block_end`).
    fn block_end(&mut self, end: &str) {
        self.nl = false;
        self.p(&format!("}}{end}"));
    }

    /// `#define NAME<tabs>VALUE` lines aligned as `writes_defines` aligns them.
    fn defines(&mut self, defs: &[(String, String)]) {
        let longest = defs.iter().map(|d| d.0.len()).max().unwrap_or(0);
        let longest = (longest + 8) / 8 * 8;
        for (n, v) in defs {
            let tabs = (longest - n.len()).div_ceil(8);
            self.p(&format!("#define {n}{}{v}", "\t".repeat(tabs)));
        }
    }

    /// A kdoc line, wrapped as `write_doc_line` wraps it.
    fn doc_line(&mut self, doc: &str) {
        let mut line = " *".to_string();
        for word in doc.split_whitespace() {
            if line.len() + word.len() >= 79 {
                self.p(&line);
                line = " *  ".to_string();
            }
            line.push(' ');
            line.push_str(word);
        }
        self.p(&line);
    }

    /// Struct members aligned as `write_struct_init` aligns them, at `ind` tabs.
    fn struct_init(&mut self, ind: usize, members: &[(&str, String)]) {
        let longest = members.iter().map(|m| m.0.len()).max().unwrap_or(0) + 1;
        let longest = (longest + 8) / 8 * 8;
        for (n, v) in members {
            let tabs = (longest - n.len() - 1).div_ceil(8);
            self.p(&format!(
                "{}.{n}{}= {v},",
                "\t".repeat(ind),
                "\t".repeat(tabs)
            ));
        }
    }

    /// A prototype, broken over lines as `write_func_prot` breaks it.
    fn func_prot(&mut self, ret: &str, name: &str, args: &[&str], suffix: &str) {
        let oneline = format!("{ret} {name}({}){suffix}", args.join(", "));
        if oneline.len() < 80 {
            self.p(&oneline);
            return;
        }
        let mut v = format!("{ret} {name}(");
        let ind = format!("{}{}", "\t".repeat(v.len() / 8), " ".repeat(v.len() % 8));
        let delta = v.len() - ind.len();
        v.push_str(args[0]);
        for a in &args[1..] {
            let extra = if v.starts_with('\t') { delta } else { 0 };
            if v.len() + a.len() + extra > 76 {
                self.p(&format!("{v},"));
                v = ind.clone();
            } else {
                v.push_str(", ");
            }
            v.push_str(a);
        }
        self.p(&format!("{v}){suffix}"));
    }
}

fn header_lines(cw: &mut Cw, slashes: bool, source: &str, what: &str) {
    let lic = "((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)";
    if slashes {
        cw.p(&format!("// SPDX-License-Identifier: {lic}"));
    } else {
        cw.p(&format!("/* SPDX-License-Identifier: {lic} */"));
    }
    cw.p("/* Do not edit directly, auto-generated from: */");
    cw.p(&format!("/*\t{source} */"));
    cw.p(&format!("/* YNL-GEN {what} (pnfs-controld ynl-gen) */"));
    cw.nl();
}

/// The C uapi header: what `ynl-gen-c.py --mode uapi --header` writes (`render_uapi`).
pub fn gen_c_uapi(spec: &Spec, source: &str) -> Result<String> {
    let fam = upper(&spec.name);
    let f = lower(&spec.name);
    let guard = format!("_UAPI_LINUX_{fam}_H");
    let mut cw = Cw::default();
    header_lines(&mut cw, false, source, "uapi header");
    cw.p(&format!("#ifndef {guard}"));
    cw.p(&format!("#define {guard}"));
    cw.nl();
    cw.defines(&[
        (format!("{fam}_FAMILY_NAME"), format!("\"{}\"", spec.name)),
        // The genl family version: the genetlink schema has no `version` key, so 1.
        (format!("{fam}_FAMILY_VERSION"), "1".into()),
    ]);
    cw.nl();
    let mut defines: Vec<(String, String)> = vec![];
    for d in &spec.definitions {
        if d.header.is_some() {
            continue;
        }
        if d.kind != DefType::Const {
            cw.defines(&defines);
            defines.clear();
            cw.nl();
        }
        match d.kind {
            DefType::Const => {
                let v = spec.resolve(d.value.as_ref().unwrap())?;
                defines.push((format!("{fam}_{}", upper(&d.name)), v.to_string()));
            }
            DefType::Enum | DefType::Flags => {
                let ename = format!("enum {f}_{}", lower(&d.name));
                let pfx = format!("{fam}_{}_", upper(&d.name));
                let entry_docs: Vec<(String, &str)> = d
                    .entries
                    .iter()
                    .filter_map(|e| match e {
                        spec::Entry::Full(spec::EntryFull {
                            name,
                            doc: Some(doc),
                            ..
                        }) => Some((format!("{pfx}{}", upper(name)), doc.as_str())),
                        _ => None,
                    })
                    .collect();
                if d.doc.is_some() || !entry_docs.is_empty() {
                    cw.p("/**");
                    match &d.doc {
                        Some(doc) => cw.doc_line(&format!("{ename} - {doc}")),
                        None => cw.doc_line(&ename),
                    }
                    for (n, doc) in &entry_docs {
                        cw.doc_line(&format!("@{n}: {doc}"));
                    }
                    cw.p(" */");
                }
                cw.p(&format!("{ename} {{"));
                let raw = spec.raw_values(d)?;
                let user = spec.entry_values(d)?;
                let mut prev: Option<u64> = None;
                for ((n, r), (_, u)) in raw.iter().zip(&user) {
                    let change = match prev {
                        Some(p) => *r != p + 1,
                        None => *r != 0,
                    } || d.kind == DefType::Flags;
                    prev = Some(*r);
                    if change {
                        cw.p(&format!("\t{pfx}{} = {u},", upper(n)));
                    } else {
                        cw.p(&format!("\t{pfx}{},", upper(n)));
                    }
                }
                if d.render_max.unwrap_or(false) {
                    cw.nl();
                    cw.p("\t/* private: */");
                    if d.kind == DefType::Flags {
                        let mask: u64 = user.iter().map(|(_, v)| v).sum();
                        cw.p(&format!("\t{pfx}MASK = {mask},"));
                    } else {
                        cw.p(&format!("\t__{pfx}MAX,"));
                        cw.p(&format!("\t{pfx}MAX = (__{pfx}MAX - 1)"));
                    }
                }
                cw.block_end(";");
                cw.nl();
            }
        }
    }
    if !defines.is_empty() {
        cw.defines(&defines);
        cw.nl();
    }
    for set in &spec.attribute_sets {
        let p = c_attr_prefix(spec, set);
        match &set.enum_name {
            Some(e) => cw.p(&format!("enum {} {{", lower(e))),
            None => cw.p("enum {"),
        }
        let mut val = 0u64;
        for (id, a) in spec.attr_ids(set) {
            let id = id as u64;
            if id != val {
                cw.p(&format!("\t{p}{} = {id},", upper(&a.name)));
                val = id;
            } else {
                cw.p(&format!("\t{p}{},", upper(&a.name)));
            }
            val += 1;
        }
        cw.nl();
        cw.p(&format!("\t__{p}MAX,"));
        cw.p(&format!("\t{p}MAX = (__{p}MAX - 1)"));
        cw.block_end(";");
        cw.nl();
    }
    let cp = match &spec.operations.name_prefix {
        Some(p) => upper(p),
        None => format!("{fam}_CMD_"),
    };
    match &spec.operations.enum_name {
        Some(e) => cw.p(&format!("enum {} {{", lower(e))),
        None => cw.p("enum {"),
    }
    let mut val = 0u64;
    for (v, op) in spec.op_ids() {
        let v = v as u64;
        if v != val {
            cw.p(&format!("\t{cp}{} = {v},", upper(&op.name)));
            val = v;
        } else {
            cw.p(&format!("\t{cp}{},", upper(&op.name)));
        }
        val += 1;
    }
    cw.nl();
    cw.p(&format!("\t__{cp}MAX,"));
    cw.p(&format!("\t{cp}MAX = (__{cp}MAX - 1)"));
    cw.block_end(";");
    cw.nl();
    let groups: Vec<(String, String)> = spec
        .mcast_groups
        .iter()
        .flat_map(|g| g.list.iter())
        .map(|g| {
            (
                format!("{fam}_MCGRP_{}", upper(&g.name)),
                format!("\"{}\"", g.name),
            )
        })
        .collect();
    cw.nl();
    if !groups.is_empty() {
        cw.defines(&groups);
        cw.nl();
    }
    cw.p(&format!("#endif /* {guard} */"));
    Ok(cw.out)
}

fn c_nla_type(t: AttrType) -> &'static str {
    match t {
        AttrType::U8 => "NLA_U8",
        AttrType::U16 => "NLA_U16",
        AttrType::U32 => "NLA_U32",
        AttrType::U64 => "NLA_U64",
        AttrType::S32 => "NLA_S32",
        AttrType::S64 => "NLA_S64",
        AttrType::String => "NLA_NUL_STRING",
        AttrType::Binary => "NLA_BINARY",
        AttrType::Flag => "NLA_FLAG",
        AttrType::Nest => "NLA_NESTED",
        AttrType::Pad => "NLA_REJECT",
        _ => unreachable!(),
    }
}

/// The C name of a set's policy (`Struct.render_name` + `_nl_policy`).
fn c_set_policy(spec: &Spec, set: &str) -> String {
    if set == spec.name {
        format!("{}_nl_policy", lower(&spec.name))
    } else {
        format!("{}_{}_nl_policy", lower(&spec.name), lower(set))
    }
}

/// The range struct of an attribute (`print_kernel_policy_ranges`).
fn c_range_name(spec: &Spec, set: &spec::AttrSet, a: &spec::Attr) -> String {
    format!("{}_range", c_attr(spec, set, a).to_lowercase())
}

/// A policy entry's value as `TypeXxx._attr_policy` writes it; None for a pad (no entry).
fn c_attr_policy(spec: &Spec, set: &spec::AttrSet, a: &spec::Attr) -> Result<Option<String>> {
    let t = a.kind.unwrap();
    let c = checks(spec, a)?;
    let ty = c_nla_type(t);
    Ok(Some(match t {
        AttrType::Pad => return Ok(None),
        AttrType::Nest => format!(
            "NLA_POLICY_NESTED({})",
            c_set_policy(spec, a.nested_attributes.as_deref().unwrap())
        ),
        AttrType::Binary | AttrType::String if c.exact_len.is_some() => {
            format!("NLA_POLICY_EXACT_LEN({})", c.exact_len.unwrap().c)
        }
        AttrType::Binary => match c.min_len {
            Some(l) => format!("{{ .len = {}, }}", l.c),
            None => format!("{{ .type = {ty}, }}"),
        },
        AttrType::String => match c.max_len {
            Some(l) => format!("{{ .type = {ty}, .len = {}, }}", l.c),
            None => format!("{{ .type = {ty}, }}"),
        },
        _ if c.mask.is_some() => format!("NLA_POLICY_MASK({ty}, {:#x})", c.mask.unwrap()),
        // Linux 6.1 has no NLA_POLICY_FULL_RANGE for signed types: the _SIGNED variant.
        _ if c.full_range && is_signed(t) => format!(
            "NLA_POLICY_FULL_RANGE_SIGNED({ty}, &{})",
            c_range_name(spec, set, a)
        ),
        _ if c.full_range => format!(
            "NLA_POLICY_FULL_RANGE({ty}, &{})",
            c_range_name(spec, set, a)
        ),
        _ => match (c.min, c.max) {
            (Some(lo), Some(hi)) => format!("NLA_POLICY_RANGE({ty}, {}, {})", lo.c, hi.c),
            (Some(lo), None) => format!("NLA_POLICY_MIN({ty}, {})", lo.c),
            (None, Some(hi)) => format!("NLA_POLICY_MAX({ty}, {})", hi.c),
            (None, None) => format!("{{ .type = {ty}, }}"),
        },
    }))
}

/// A policy array: `[ENTRY] = value,` for each attribute with an entry.
fn c_policy_body(
    cw: &mut Cw,
    spec: &Spec,
    set: &spec::AttrSet,
    attrs: &[(u16, &spec::Attr)],
) -> Result<()> {
    for (_, a) in attrs {
        if let Some(v) = c_attr_policy(spec, set, a)? {
            cw.p(&format!("\t[{}] = {v},", c_attr(spec, set, a)));
        }
    }
    Ok(())
}

/// The highest attribute of `attrs`, spelled as the kernel sizes a policy by it.
fn c_max_attr(spec: &Spec, set: &spec::AttrSet, attrs: &[(u16, &spec::Attr)]) -> String {
    let (_, a) = attrs.iter().max_by_key(|(i, _)| *i).expect("non-empty");
    c_attr(spec, set, a)
}

/// Nested sets the kernel half's requests reach (their policies are emitted), by name.
fn request_nests(spec: &Spec) -> BTreeSet<String> {
    let mut todo: Vec<String> = vec![];
    for (_, op) in handled_ops(spec) {
        for (_, a) in request_ids(spec, op) {
            if let Some(n) = &a.nested_attributes {
                todo.push(n.clone());
            }
        }
    }
    let mut seen = BTreeSet::new();
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        for a in &spec.set(&n).expect("checked").attributes {
            if let Some(m) = &a.nested_attributes {
                todo.push(m.clone());
            }
        }
    }
    seen
}

/// The union of the handled ops' request attributes, in id order (the family-wide
/// policy Linux 6.1 keeps in `genl_family.policy`).
fn global_request_attrs(spec: &Spec) -> Vec<(u16, &spec::Attr)> {
    let mut ids: Vec<(u16, &spec::Attr)> = vec![];
    for (_, op) in handled_ops(spec) {
        for (i, a) in request_ids(spec, op) {
            if !ids.iter().any(|(j, _)| *j == i) {
                ids.push((i, a));
            }
        }
    }
    ids.sort_by_key(|(i, _)| *i);
    ids
}

/// The kernel-side policy tables and op array: (`<family>-nl.h`, `<family>-nl.c`), what
/// `ynl-gen-c.py --mode kernel` writes, for Linux 6.1 (`struct genl_ops`, a policy each).
pub fn gen_c_nl(spec: &Spec, source: &str) -> Result<(String, String)> {
    let fam = upper(&spec.name);
    let f = lower(&spec.name);
    let guard = format!("_LINUX_{fam}_GEN_H");
    let main = spec.main_set().expect("checked");
    let nests = request_nests(spec);
    let handled = handled_ops(spec);
    let n_groups = spec
        .mcast_groups
        .as_ref()
        .map(|g| g.list.len())
        .unwrap_or(0);

    // ---- header
    let mut h = Cw::default();
    header_lines(&mut h, false, source, "kernel header");
    h.p(&format!("#ifndef {guard}"));
    h.p(&format!("#define {guard}"));
    h.nl();
    h.p("#include <net/netlink.h>");
    h.p("#include <net/genetlink.h>");
    h.nl();
    h.p(&format!("#include \"uapi/{f}.h\""));
    h.nl();
    if !nests.is_empty() {
        h.p("/* Common nested types */");
    }
    for n in &nests {
        let set = spec.set(n).expect("checked");
        let ids = spec.attr_ids(set);
        h.p(&format!(
            "extern const struct nla_policy {}[{} + 1];",
            c_set_policy(spec, n),
            c_max_attr(spec, set, &ids)
        ));
    }
    h.nl();
    h.p("/*");
    h.p(" * The family-wide policy of Linux 6.1's genl_family (its CTRL_ATTR_MAXATTR);");
    h.p(" * every op has its own, so it validates nothing (ours only, not the kernel's).");
    h.p(" */");
    h.p(&format!(
        "extern const struct nla_policy {f}_{}_nl_policy[{}MAX + 1];",
        lower(&main.name),
        c_attr_prefix(spec, main)
    ));
    h.nl();
    for (_, op) in &handled {
        let n = lower(&op.name);
        if op.do_.is_some() {
            h.func_prot(
                "int",
                &format!("{f}_nl_{n}_doit"),
                &["struct sk_buff *skb", "struct genl_info *info"],
                ";",
            );
        }
        if op.dump.is_some() {
            h.func_prot(
                "int",
                &format!("{f}_nl_{n}_dumpit"),
                &["struct sk_buff *skb", "struct netlink_callback *cb"],
                ";",
            );
        }
    }
    h.nl();
    if n_groups > 0 {
        h.p("enum {");
        for g in spec.mcast_groups.iter().flat_map(|g| g.list.iter()) {
            h.p(&format!("\t{fam}_NLGRP_{},", upper(&g.name)));
        }
        h.block_end(";");
        h.nl();
    }
    h.p("/* Linux 6.1: struct genl_ops with a policy each (genl_split_ops came in 6.2) */");
    h.p(&format!(
        "extern const struct genl_ops {f}_nl_ops[{}];",
        handled.len()
    ));
    h.p(&format!(
        "extern const struct genl_multicast_group {f}_nl_mcgrps[{n_groups}];"
    ));
    h.nl();
    h.p(&format!("#endif /* {guard} */"));

    // ---- source
    let mut c = Cw::default();
    header_lines(&mut c, true, source, "kernel source");
    c.p("#include <net/netlink.h>");
    c.p("#include <net/genetlink.h>");
    c.nl();
    c.p(&format!("#include \"{f}-nl.h\""));
    c.nl();

    // Range structs of the attributes the handled requests carry, set by set.
    let mut request_attrs: Vec<(&spec::AttrSet, &spec::Attr)> = vec![];
    for set in &spec.attribute_sets {
        for (_, a) in spec.attr_ids(set) {
            let wanted = if set.name == spec.name {
                global_request_attrs(spec)
                    .iter()
                    .any(|(_, b)| b.name == a.name)
            } else {
                nests.contains(&set.name)
            };
            if wanted {
                request_attrs.push((set, a));
            }
        }
    }
    let mut first = true;
    for (set, a) in &request_attrs {
        let ch = checks(spec, a)?;
        if !ch.full_range || ch.mask.is_some() {
            continue;
        }
        if first {
            c.p("/* Integer value ranges */");
            first = false;
        }
        let t = a.kind.unwrap();
        let (sign, suffix) = if is_signed(t) {
            ("_signed", "LL")
        } else {
            ("", "ULL")
        };
        // Not const: Linux 6.1's nla_policy.range is a non-const pointer (const in 6.2).
        c.p(&format!(
            "static struct netlink_range_validation{sign} {} = {{",
            c_range_name(spec, set, a)
        ));
        let mut members = vec![];
        if let Some(l) = &ch.min {
            members.push(("min", format!("{}{suffix}", l.c)));
        }
        if let Some(l) = &ch.max {
            members.push(("max", format!("{}{suffix}", l.c)));
        }
        c.struct_init(1, &members);
        c.block_end(";");
        c.nl();
    }

    if !nests.is_empty() {
        c.p("/* Common nested types */");
    }
    for n in &nests {
        let set = spec.set(n).expect("checked");
        let ids = spec.attr_ids(set);
        c.p(&format!(
            "const struct nla_policy {}[{} + 1] = {{",
            c_set_policy(spec, n),
            c_max_attr(spec, set, &ids)
        ));
        c_policy_body(&mut c, spec, set, &ids)?;
        c.p("};");
        c.nl();
    }
    c.nl();

    let global = global_request_attrs(spec);
    c.p("/* Family-wide (Linux 6.1 genl_family.policy): the handled requests' attributes */");
    c.p(&format!(
        "const struct nla_policy {f}_{}_nl_policy[{}MAX + 1] = {{",
        lower(&main.name),
        c_attr_prefix(spec, main)
    ));
    c_policy_body(&mut c, spec, main, &global)?;
    c.p("};");
    c.nl();

    for (_, op) in &handled {
        let ids = request_ids(spec, op);
        if ids.is_empty() {
            continue;
        }
        let mode = if op.do_.as_ref().is_some_and(|d| d.request.is_some()) {
            "do"
        } else {
            "dump"
        };
        c.p(&format!("/* {fam}_CMD_{} - {mode} */", upper(&op.name)));
        c.p(&format!(
            "static const struct nla_policy {f}_{}_nl_policy[{} + 1] = {{",
            lower(&op.name),
            c_max_attr(spec, main, &ids)
        ));
        c_policy_body(&mut c, spec, main, &ids)?;
        c.p("};");
        c.nl();
    }

    let reject_all = handled.iter().any(|(_, op)| op.request().is_none());
    if reject_all {
        c.p("/*");
        c.p(" * Ops without request attributes: what the kernel gives a new command without a");
        c.p(" * policy (genl_policy_reject_all), here because Linux 6.1 hands such an op the");
        c.p(" * family-wide policy instead when the family has one.");
        c.p(" */");
        c.p(&format!(
            "static const struct nla_policy {f}_reject_all_nl_policy[2] = {{"
        ));
        c.p("\t{ .type = NLA_REJECT, },");
        c.p("\t{ .type = NLA_REJECT, },");
        c.p("};");
        c.nl();
    }

    c.p(&format!("/* Ops table for {f} */"));
    c.p(&format!(
        "const struct genl_ops {f}_nl_ops[{}] = {{",
        handled.len()
    ));
    for (_, op) in &handled {
        let n = lower(&op.name);
        let ids = request_ids(spec, op);
        let mut members: Vec<(&str, String)> =
            vec![("cmd", format!("{fam}_CMD_{}", upper(&op.name)))];
        if op.do_.is_some() {
            members.push(("doit", format!("{f}_nl_{n}_doit")));
        }
        if op.dump.is_some() {
            members.push(("dumpit", format!("{f}_nl_{n}_dumpit")));
        }
        if ids.is_empty() {
            members.push(("policy", format!("{f}_reject_all_nl_policy")));
            members.push(("maxattr", "1".into()));
        } else {
            members.push(("policy", format!("{f}_{n}_nl_policy")));
            members.push(("maxattr", c_max_attr(spec, main, &ids)));
        }
        if op.flags.contains(&spec::OpFlag::AdminPerm) {
            members.push(("flags", "GENL_ADMIN_PERM".into()));
        }
        c.p("\t{");
        c.struct_init(2, &members);
        c.p("\t},");
    }
    c.block_end(";");
    c.nl();
    c.p(&format!(
        "const struct genl_multicast_group {f}_nl_mcgrps[{n_groups}] = {{"
    ));
    for g in spec.mcast_groups.iter().flat_map(|g| g.list.iter()) {
        c.p(&format!(
            "\t[{fam}_NLGRP_{}] = {{ \"{}\", }},",
            upper(&g.name),
            g.name
        ));
    }
    c.block_end(";");
    Ok((h.out, c.out))
}

/// Is this op something user space sends to the kernel (a downcall, dump or query),
/// rather than an upcall the kernel sends or an event? See [`spec::Direction`].
pub fn is_downcall(op: &spec::Op) -> bool {
    op.direction() == Direction::Downcall
}

/// All outputs for one spec: (relative path, contents).
pub fn generate(spec: &Spec, spec_rel: &str) -> Result<Vec<(String, String)>> {
    let f = lower(&spec.name);
    let (h, c) = gen_c_nl(spec, spec_rel)?;
    Ok(vec![
        (format!("netlink/src/gen/{f}.rs"), gen_rust(spec, spec_rel)?),
        (
            format!("kmod-shim/module/uapi/{f}.h"),
            gen_c_uapi(spec, spec_rel)?,
        ),
        (format!("kmod-shim/module/{f}-nl.h"), h),
        (format!("kmod-shim/module/{f}-nl.c"), c),
    ])
}

/// The specs of the project, relative to the workspace root.
pub const SPECS: &[&str] = &["netlink/specs/pnfsd.yaml", "netlink/specs/gfs2ctl.yaml"];
