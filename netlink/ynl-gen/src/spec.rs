//! The YNL genetlink spec, as a typed model.
//!
//! The structs mirror the kernel's `Documentation/netlink/genetlink.yaml` schema: every
//! object is `deny_unknown_fields` (the schema's `additionalProperties: False`), and the
//! closed vocabularies (attribute types, definition types, op flags, byte orders, display
//! hints) are enums, so a spec that the kernel's schema rejects fails to load here with the
//! offending key named. `check()` adds what the schema cannot say: every reference (to an
//! attribute set, an enum, a constant, an attribute of a set, a multicast group) resolves.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Spec {
    pub name: String,
    pub doc: String,
    #[serde(default)]
    pub protocol: Option<Protocol>,
    #[serde(default)]
    pub uapi_header: Option<String>,
    #[serde(default)]
    pub definitions: Vec<Definition>,
    pub attribute_sets: Vec<AttrSet>,
    pub operations: Operations,
    #[serde(default)]
    pub mcast_groups: Option<McastGroups>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Genetlink,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum IntOrStr {
    Int(u64),
    Str(String),
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum DefType {
    Const,
    Enum,
    Flags,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Entry {
    Name(String),
    Full(EntryFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFull {
    pub name: String,
    #[serde(default)]
    pub value: Option<u64>,
    #[serde(default)]
    pub doc: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Definition {
    pub name: String,
    #[serde(default)]
    pub header: Option<String>,
    #[serde(rename = "type")]
    pub kind: DefType,
    #[serde(default)]
    pub doc: Option<String>,
    #[serde(default)]
    pub value: Option<IntOrStr>,
    #[serde(default)]
    pub value_start: Option<IntOrStr>,
    #[serde(default)]
    pub entries: Vec<Entry>,
    #[serde(default)]
    pub render_max: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AttrSet {
    pub name: String,
    #[serde(default)]
    pub name_prefix: Option<String>,
    #[serde(default)]
    pub enum_name: Option<String>,
    #[serde(default)]
    pub doc: Option<String>,
    #[serde(default)]
    pub subset_of: Option<String>,
    pub attributes: Vec<Attr>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum AttrType {
    Unused,
    Pad,
    Flag,
    Binary,
    Uint,
    Sint,
    U8,
    U16,
    U32,
    U64,
    S32,
    S64,
    String,
    Nest,
    ArrayNest,
    NestTypeValue,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum ByteOrder {
    LittleEndian,
    BigEndian,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum DisplayHint {
    Hex,
    Mac,
    Fddi,
    Ipv4,
    Ipv6,
    Uuid,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Checks {
    #[serde(default)]
    pub flags_mask: Option<String>,
    #[serde(default)]
    pub min: Option<IntOrStr>,
    #[serde(default)]
    pub max: Option<IntOrStr>,
    #[serde(default)]
    pub min_len: Option<IntOrStr>,
    #[serde(default)]
    pub max_len: Option<IntOrStr>,
    #[serde(default)]
    pub exact_len: Option<IntOrStr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Attr {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: Option<AttrType>,
    #[serde(default)]
    pub doc: Option<String>,
    #[serde(default)]
    pub value: Option<u64>,
    #[serde(default)]
    pub type_value: Option<Vec<String>>,
    #[serde(default)]
    pub byte_order: Option<ByteOrder>,
    #[serde(default)]
    pub multi_attr: Option<bool>,
    #[serde(default)]
    pub nested_attributes: Option<String>,
    #[serde(default, rename = "enum")]
    pub enum_name: Option<String>,
    #[serde(default)]
    pub enum_as_flags: Option<bool>,
    #[serde(default)]
    pub checks: Option<Checks>,
    #[serde(default)]
    pub sub_type: Option<AttrType>,
    #[serde(default)]
    pub display_hint: Option<DisplayHint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Operations {
    #[serde(default)]
    pub enum_model: Option<EnumModel>,
    #[serde(default)]
    pub name_prefix: Option<String>,
    #[serde(default)]
    pub enum_name: Option<String>,
    #[serde(default)]
    pub async_prefix: Option<String>,
    #[serde(default)]
    pub async_enum: Option<String>,
    pub list: Vec<Op>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnumModel {
    Unified,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum OpFlag {
    AdminPerm,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DontValidate {
    Strict,
    Dump,
    DumpStrict,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Op {
    pub name: String,
    pub doc: String,
    #[serde(default)]
    pub value: Option<u64>,
    #[serde(default)]
    pub attribute_set: Option<String>,
    #[serde(default)]
    pub flags: Vec<OpFlag>,
    #[serde(default)]
    pub dont_validate: Vec<DontValidate>,
    #[serde(default)]
    pub config_cond: Option<String>,
    #[serde(default, rename = "do")]
    pub do_: Option<SubOp>,
    #[serde(default)]
    pub dump: Option<SubOp>,
    #[serde(default)]
    pub notify: Option<String>,
    #[serde(default)]
    pub event: Option<AttrList>,
    #[serde(default)]
    pub mcgrp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubOp {
    #[serde(default)]
    pub request: Option<AttrList>,
    #[serde(default)]
    pub reply: Option<AttrList>,
    #[serde(default)]
    pub pre: Option<String>,
    #[serde(default)]
    pub post: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AttrList {
    #[serde(default)]
    pub attributes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McastGroups {
    pub list: Vec<McastGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McastGroup {
    pub name: String,
    #[serde(default)]
    pub flags: Vec<OpFlag>,
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Name(n) => n,
            Entry::Full(f) => &f.name,
        }
    }
}

impl Spec {
    /// Load and check a spec file.
    pub fn load(path: &Path) -> Result<Spec> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parse and check spec text.
    pub fn parse(text: &str) -> Result<Spec> {
        let spec: Spec = serde_yaml::from_str(text)?;
        spec.check()?;
        Ok(spec)
    }

    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.definitions.iter().find(|d| d.name == name)
    }

    pub fn set(&self, name: &str) -> Option<&AttrSet> {
        self.attribute_sets.iter().find(|s| s.name == name)
    }

    /// Resolve a length/limit that is either a literal or the name of a constant.
    pub fn resolve(&self, v: &IntOrStr) -> Result<u64> {
        match v {
            IntOrStr::Int(i) => Ok(*i),
            IntOrStr::Str(s) => {
                if let Some(lim) = limit_value(s) {
                    return Ok(lim);
                }
                let d = self
                    .definition(s)
                    .with_context(|| format!("unknown constant {s:?}"))?;
                match (&d.kind, &d.value) {
                    (DefType::Const, Some(IntOrStr::Int(i))) => Ok(*i),
                    _ => bail!("{s:?} is not an integer constant"),
                }
            }
        }
    }

    /// Numeric values of an enum or flags definition's entries, in order.
    pub fn entry_values(&self, d: &Definition) -> Result<Vec<(String, u64)>> {
        let start = match &d.value_start {
            Some(v) => self.resolve(v)?,
            None => 0,
        };
        let mut out = Vec::new();
        let mut next = start;
        for e in &d.entries {
            let v = match e {
                Entry::Full(EntryFull { value: Some(v), .. }) => *v,
                _ => next,
            };
            next = v + 1;
            let v = if d.kind == DefType::Flags {
                1u64 << v
            } else {
                v
            };
            out.push((e.name().to_string(), v));
        }
        Ok(out)
    }

    /// Attribute ids of a set, in order.
    pub fn attr_ids<'a>(&self, set: &'a AttrSet) -> Vec<(u16, &'a Attr)> {
        let mut next = 1u64;
        set.attributes
            .iter()
            .map(|a| {
                let v = a.value.unwrap_or(next);
                next = v + 1;
                (v as u16, a)
            })
            .collect()
    }

    /// Command values (unified model: one enum for requests, replies and events).
    pub fn op_ids(&self) -> Vec<(u8, &Op)> {
        let mut next = 1u64;
        self.operations
            .list
            .iter()
            .map(|o| {
                let v = o.value.unwrap_or(next);
                next = v + 1;
                (v as u8, o)
            })
            .collect()
    }

    fn check(&self) -> Result<()> {
        if self.name.is_empty() || self.name.len() > 15 {
            bail!(
                "family name {:?} must be 1..=15 bytes (GENL_NAMSIZ)",
                self.name
            );
        }
        let mut seen = HashSet::new();
        for d in &self.definitions {
            if !seen.insert(d.name.as_str()) {
                bail!("definition {:?} defined twice", d.name);
            }
            match d.kind {
                DefType::Const => {
                    if d.value.is_none() {
                        bail!("const {:?} has no value", d.name);
                    }
                }
                DefType::Enum | DefType::Flags => {
                    if d.entries.is_empty() {
                        bail!("{:?} has no entries", d.name);
                    }
                    let vals = self.entry_values(d)?;
                    let mut names = HashSet::new();
                    let mut nums = HashSet::new();
                    for (n, v) in &vals {
                        if !names.insert(n) || !nums.insert(v) {
                            bail!("{:?}: entry {n:?} repeats a name or value", d.name);
                        }
                    }
                }
            }
        }
        let mut sets = HashSet::new();
        for s in &self.attribute_sets {
            if !sets.insert(s.name.as_str()) {
                bail!("attribute set {:?} defined twice", s.name);
            }
            if s.subset_of.is_some() {
                bail!("subset-of is not supported by this generator ({})", s.name);
            }
            let mut names = HashSet::new();
            let mut ids = HashSet::new();
            for (id, a) in self.attr_ids(s) {
                if !names.insert(a.name.as_str()) || !ids.insert(id) {
                    bail!(
                        "set {:?}: attribute {:?} repeats a name or id",
                        s.name,
                        a.name
                    );
                }
                let kind = a
                    .kind
                    .with_context(|| format!("{}.{} has no type", s.name, a.name))?;
                match kind {
                    AttrType::Nest => {
                        let n = a.nested_attributes.as_deref().with_context(|| {
                            format!("{}.{}: nest without nested-attributes", s.name, a.name)
                        })?;
                        if self.set(n).is_none() {
                            bail!("{}.{}: unknown nested set {n:?}", s.name, a.name);
                        }
                    }
                    AttrType::U8
                    | AttrType::U16
                    | AttrType::U32
                    | AttrType::U64
                    | AttrType::S32
                    | AttrType::S64
                    | AttrType::String
                    | AttrType::Binary
                    | AttrType::Flag
                    | AttrType::Pad => {}
                    other => bail!(
                        "{}.{}: type {other:?} is valid YNL but not supported by this generator",
                        s.name,
                        a.name
                    ),
                }
                if let Some(e) = &a.enum_name {
                    match self.definition(e) {
                        Some(d) if d.kind != DefType::Const => {}
                        _ => bail!("{}.{}: unknown enum {e:?}", s.name, a.name),
                    }
                }
                if let Some(c) = &a.checks {
                    for v in [&c.min, &c.max, &c.min_len, &c.max_len, &c.exact_len]
                        .into_iter()
                        .flatten()
                    {
                        self.resolve(v)
                            .with_context(|| format!("{}.{} checks", s.name, a.name))?;
                    }
                }
            }
        }
        let groups: HashSet<&str> = self
            .mcast_groups
            .iter()
            .flat_map(|g| g.list.iter().map(|g| g.name.as_str()))
            .collect();
        let mut op_names = HashSet::new();
        let mut op_vals = HashSet::new();
        for (v, op) in self.op_ids() {
            if !op_names.insert(op.name.as_str()) || !op_vals.insert(v) {
                bail!("operation {:?} repeats a name or value", op.name);
            }
            let set = match &op.attribute_set {
                Some(n) => Some(
                    self.set(n)
                        .with_context(|| format!("op {}: unknown set {n:?}", op.name))?,
                ),
                None => None,
            };
            let lists = [
                op.do_.as_ref().and_then(|d| d.request.as_ref()),
                op.do_.as_ref().and_then(|d| d.reply.as_ref()),
                op.dump.as_ref().and_then(|d| d.request.as_ref()),
                op.dump.as_ref().and_then(|d| d.reply.as_ref()),
                op.event.as_ref(),
            ];
            for l in lists.into_iter().flatten() {
                let set =
                    set.with_context(|| format!("op {} lists attributes but has no set", op.name))?;
                for a in &l.attributes {
                    if !set.attributes.iter().any(|x| &x.name == a) {
                        bail!("op {}: {a:?} is not in set {:?}", op.name, set.name);
                    }
                }
            }
            if let Some(g) = &op.mcgrp {
                if !groups.contains(g.as_str()) {
                    bail!("op {}: unknown multicast group {g:?}", op.name);
                }
            }
            // The generated family sets no resv_start_op, so every command is "new" and the
            // kernel validates it strictly; 6.1's genl_validate_ops() WARNs and refuses the
            // whole family (-EINVAL at insmod) if such an op carries validate flags.
            if !op.dont_validate.is_empty() {
                bail!(
                    "op {}: dont-validate is refused by the kernel for new commands \
                     (genl_validate_ops: validate flags on a cmd >= resv_start_op)",
                    op.name
                );
            }
            if op.do_.is_none() && op.dump.is_none() && op.event.is_none() && op.notify.is_none() {
                bail!("op {} has neither do, dump, event nor notify", op.name);
            }
        }
        Ok(())
    }
}

/// `u8-max`, `s32-min`, ... as the schema's len-or-limit allows.
fn limit_value(s: &str) -> Option<u64> {
    Some(match s {
        "u8-min" | "u16-min" | "u32-min" | "u64-min" => 0,
        "u8-max" => u8::MAX as u64,
        "u16-max" => u16::MAX as u64,
        "u32-max" => u32::MAX as u64,
        "u64-max" => u64::MAX,
        "s8-max" => i8::MAX as u64,
        "s16-max" => i16::MAX as u64,
        "s32-max" => i32::MAX as u64,
        "s64-max" => i64::MAX as u64,
        _ => return None,
    })
}
