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
    #[serde(default)]
    pub kernel_family: Option<KernelFamily>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KernelFamily {
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub sock_priv: Option<String>,
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
    IndexedArray,
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

/// Which way an operation travels. The spec's schema has no key for it: it follows from
/// the op's shape (an upcall is a `do` whose request carries the kernel's `xid` and that
/// no one may send with admin rights), and the op's doc must say it in its first word
/// (`Upcall:`, `Downcall:`, `Event:`), which `Spec::check` enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Kernel half -> the registered daemon (unicast), answered by the `reply` op.
    Upcall,
    /// User space -> kernel half: a request, a query or a dump.
    Downcall,
    /// Kernel half -> a multicast group.
    Event,
}

impl Direction {
    /// The word an op's doc starts with.
    pub fn doc_prefix(self) -> &'static str {
        match self {
            Direction::Upcall => "Upcall:",
            Direction::Downcall => "Downcall:",
            Direction::Event => "Event:",
        }
    }
}

impl Op {
    pub fn direction(&self) -> Direction {
        if self.event.is_some() || (self.do_.is_none() && self.dump.is_none()) {
            return Direction::Event;
        }
        let carries_xid = self
            .do_
            .as_ref()
            .and_then(|d| d.request.as_ref())
            .is_some_and(|r| r.attributes.iter().any(|a| a == "xid"));
        if carries_xid && self.dump.is_none() && !self.flags.contains(&OpFlag::AdminPerm) {
            Direction::Upcall
        } else {
            Direction::Downcall
        }
    }

    /// The request attributes the kernel half takes (a downcall's `do` or `dump` request);
    /// None when it takes none.
    pub fn request(&self) -> Option<&AttrList> {
        [&self.do_, &self.dump]
            .into_iter()
            .flatten()
            .find_map(|s| s.request.as_ref())
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

    /// The family's own attribute set (named like the family).
    pub fn main_set(&self) -> Option<&AttrSet> {
        self.set(&self.name)
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

    /// Raw values of an enum or flags definition's entries, in order: for flags the bit
    /// number (the kernel's `raw_value`), for enums the value.
    pub fn raw_values(&self, d: &Definition) -> Result<Vec<(String, u64)>> {
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
            out.push((e.name().to_string(), v));
        }
        Ok(out)
    }

    /// Numeric values of an enum or flags definition's entries, in order (flags: the bit
    /// masks, the kernel's `user_value`).
    pub fn entry_values(&self, d: &Definition) -> Result<Vec<(String, u64)>> {
        let raw = self.raw_values(d)?;
        Ok(raw
            .into_iter()
            .map(|(n, v)| match d.kind {
                DefType::Flags => (n, 1u64 << v),
                _ => (n, v),
            })
            .collect())
    }

    /// Lowest and highest raw value of an enum, if its values are contiguous (the
    /// kernel's `EnumSet.value_range()`, which refuses a sparse enum).
    pub fn value_range(&self, d: &Definition) -> Result<Option<(u64, u64)>> {
        let raw = self.raw_values(d)?;
        let lo = raw.iter().map(|(_, v)| *v).min().unwrap_or(0);
        let hi = raw.iter().map(|(_, v)| *v).max().unwrap_or(0);
        Ok((hi - lo + 1 == raw.len() as u64).then_some((lo, hi)))
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
        if self.kernel_family.is_some() {
            bail!("kernel-family is valid YNL but not supported by this generator");
        }
        if self.operations.async_prefix.is_some() || self.operations.async_enum.is_some() {
            bail!("async-prefix/async-enum are valid YNL but not supported by this generator");
        }
        let mut seen = HashSet::new();
        for d in &self.definitions {
            if !seen.insert(d.name.as_str()) {
                bail!("definition {:?} defined twice", d.name);
            }
            match d.kind {
                DefType::Const => match &d.value {
                    None => bail!("const {:?} has no value", d.name),
                    Some(IntOrStr::Str(_)) => {
                        bail!("const {:?}: a string value is not supported", d.name)
                    }
                    Some(IntOrStr::Int(_)) => {}
                },
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
                self.check_attr(s, a)?;
            }
        }
        if self.main_set().is_none() {
            bail!("no attribute set named like the family ({:?})", self.name);
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
            // The kernel's generator (6.12) takes the highest attribute of a request list
            // for the policy's size and fails on an empty one; in-kernel specs leave the
            // request out.
            for sub in [&op.do_, &op.dump].into_iter().flatten() {
                if sub
                    .request
                    .as_ref()
                    .is_some_and(|r| r.attributes.is_empty())
                {
                    bail!(
                        "op {}: an empty request list; leave `request` out (the kernel's \
                         ynl-gen-c fails on an empty one)",
                        op.name
                    );
                }
            }
            // Linux 6.1's struct genl_ops holds one policy for doit and dumpit.
            let requests = [&op.do_, &op.dump]
                .into_iter()
                .flatten()
                .filter(|s| s.request.is_some())
                .count();
            if requests > 1 {
                bail!(
                    "op {}: do and dump both with a request (one policy per op on Linux 6.1)",
                    op.name
                );
            }
            if set.is_some_and(|s| s.name != self.name) {
                bail!(
                    "op {}: ops of this generator use the family's own set {:?}",
                    op.name,
                    self.name
                );
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
            let dir = op.direction();
            if !op.doc.trim_start().starts_with(dir.doc_prefix()) {
                bail!(
                    "op {}: its doc must start with {:?} (the way it travels, from its shape: \
                     an upcall is a do whose request carries xid and has no admin-perm)",
                    op.name,
                    dir.doc_prefix()
                );
            }
            if dir == Direction::Upcall {
                self.check_upcall_answer(op)?;
            }
        }
        Ok(())
    }

    /// What an upcall's reply lists must be something the `reply` downcall can carry.
    fn check_upcall_answer(&self, op: &Op) -> Result<()> {
        let reply = self
            .operations
            .list
            .iter()
            .find(|o| o.name == "reply" && o.direction() == Direction::Downcall)
            .and_then(|o| o.request())
            .with_context(|| format!("upcall {}: no `reply` downcall to answer it", op.name))?;
        let answer = op.do_.as_ref().and_then(|d| d.reply.as_ref());
        for a in answer.iter().flat_map(|l| l.attributes.iter()) {
            if !reply.attributes.contains(a) {
                bail!(
                    "upcall {}: its reply lists {a:?}, which the reply op's request does not",
                    op.name
                );
            }
        }
        Ok(())
    }

    /// An attribute's type and checks, as far as the kernel's ynl-gen-c (6.12) can make a
    /// policy of them.
    fn check_attr(&self, s: &AttrSet, a: &Attr) -> Result<()> {
        let what = format!("{}.{}", s.name, a.name);
        let kind = a.kind.with_context(|| format!("{what} has no type"))?;
        let scalar = matches!(
            kind,
            AttrType::U8
                | AttrType::U16
                | AttrType::U32
                | AttrType::U64
                | AttrType::S32
                | AttrType::S64
        );
        match kind {
            AttrType::Nest => {
                let n = a
                    .nested_attributes
                    .as_deref()
                    .with_context(|| format!("{what}: nest without nested-attributes"))?;
                if self.set(n).is_none() {
                    bail!("{what}: unknown nested set {n:?}");
                }
                if n == self.name {
                    bail!("{what}: the family's own set nested (the kernel's ynl-gen-c refuses a set used as root and nest)");
                }
            }
            AttrType::String | AttrType::Binary | AttrType::Flag | AttrType::Pad => {}
            _ if scalar => {}
            other => {
                bail!("{what}: type {other:?} is valid YNL but not supported by this generator")
            }
        }
        let c = a.checks.clone().unwrap_or_default();
        for v in [&c.min_len, &c.max_len, &c.exact_len].into_iter().flatten() {
            self.resolve(v).with_context(|| format!("{what} checks"))?;
            if let IntOrStr::Str(n) = v {
                if limit_value(n).is_some() {
                    bail!("{what}: a length check names a limit ({n}), not a length or a constant");
                }
            }
        }
        for v in [&c.min, &c.max].into_iter().flatten() {
            // The schema's len-or-limit: an integer or u32-max and the like, no constant.
            if let IntOrStr::Str(n) = v {
                if limit_value(n).is_none() {
                    bail!("{what}: min/max {n:?} is neither an integer nor a limit like u32-max");
                }
            }
        }
        if (c.min.is_some() || c.max.is_some() || c.flags_mask.is_some()) && !scalar {
            bail!("{what}: min/max/flags-mask on a non-integer attribute");
        }
        match kind {
            // ynl-gen-c's TypeBinary: exact-len, or min-len alone, or nothing.
            AttrType::Binary => {
                let n = [&c.min_len, &c.max_len, &c.exact_len, &c.min, &c.max]
                    .into_iter()
                    .flatten()
                    .count();
                if c.exact_len.is_none() && n > 0 && !(n == 1 && c.min_len.is_some()) {
                    bail!("{what}: binary checks other than exact-len or min-len alone (the kernel's ynl-gen-c has no policy for them)");
                }
            }
            // ynl-gen-c's TypeString: exact-len or max-len; it would drop a min-len.
            AttrType::String if c.min_len.is_some() => {
                bail!("{what}: min-len on a string (the kernel's ynl-gen-c drops it)")
            }
            _ => {}
        }
        if let Some(m) = &c.flags_mask {
            match self.definition(m) {
                Some(d) if d.kind == DefType::Flags => {}
                _ => bail!("{what}: flags-mask {m:?} is not a flags definition"),
            }
        }
        if let Some(e) = &a.enum_name {
            let d = match self.definition(e) {
                Some(d) if d.kind != DefType::Const => d,
                _ => bail!("{what}: unknown enum {e:?}"),
            };
            if !scalar {
                bail!("{what}: enum on a non-integer attribute");
            }
            if self.value_range(d)?.is_none() {
                bail!(
                    "{what}: enum {e:?} is sparse; the kernel's ynl-gen-c (6.12) refuses it \
                     (\"Can't get value range for a noncontiguous enum\")"
                );
            }
        }
        Ok(())
    }
}

/// `u8-max`, `s32-min`, ... as the schema's len-or-limit allows.
pub fn limit_value(s: &str) -> Option<u64> {
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
