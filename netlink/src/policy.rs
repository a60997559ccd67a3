//! Attribute policies and op tables, as the generator emits them from the YAML specs.

/// Wire type of an attribute (the spec's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    /// Not defined in the spec (a gap in the ids, or id 0).
    Unused,
    U8,
    U16,
    U32,
    U64,
    S32,
    S64,
    /// NUL-terminated string.
    String,
    Binary,
    Flag,
    Nest,
    /// Alignment padding the kernel adds before 64-bit values; skipped on receive.
    Pad,
}

/// Policy of one attribute (what the kernel's `struct nla_policy` says).
#[derive(Debug, Clone, Copy)]
pub struct AttrPolicy {
    /// The spec's name, used in error messages.
    pub name: &'static str,
    pub kind: AttrKind,
    /// Minimum payload length (binary), 0 if none.
    pub min_len: u64,
    /// Maximum payload length (binary; strings without their NUL), 0 if none.
    pub max_len: u64,
    /// Inclusive lower bound of an integer.
    pub min: Option<u64>,
    /// Inclusive upper bound of an integer.
    pub max: Option<u64>,
    /// Policy of the attributes inside a nest.
    pub nested: Option<&'static Policy>,
    /// The attribute may repeat (a list).
    pub multi: bool,
    /// Name of an enum value, for display.
    pub enum_name: Option<fn(u64) -> Option<&'static str>>,
}

impl AttrPolicy {
    /// Placeholder for ids the spec does not define.
    pub const UNUSED: AttrPolicy = AttrPolicy {
        name: "unused",
        kind: AttrKind::Unused,
        min_len: 0,
        max_len: 0,
        min: None,
        max: None,
        nested: None,
        multi: false,
        enum_name: None,
    };

    /// Exact payload length of fixed-size kinds.
    #[inline]
    pub const fn fixed_len(&self) -> Option<usize> {
        match self.kind {
            AttrKind::U8 => Some(1),
            AttrKind::U16 => Some(2),
            AttrKind::U32 | AttrKind::S32 => Some(4),
            AttrKind::U64 | AttrKind::S64 => Some(8),
            AttrKind::Flag => Some(0),
            _ => None,
        }
    }
}

/// The policy of an attribute set, indexed by attribute id (index 0 unused).
#[derive(Debug)]
pub struct Policy {
    /// The set's name in the spec.
    pub set: &'static str,
    pub attrs: &'static [AttrPolicy],
}

impl Policy {
    /// Highest attribute id.
    pub const fn max(&self) -> u16 {
        (self.attrs.len() - 1) as u16
    }

    /// Policy of `id`, if the set defines it.
    #[inline]
    pub fn get(&self, id: u16) -> Option<&AttrPolicy> {
        self.attrs
            .get(id as usize)
            .filter(|p| p.kind != AttrKind::Unused)
    }

    /// Name of attribute `id` (for messages).
    pub fn name(&self, id: u16) -> &'static str {
        self.get(id).map(|p| p.name).unwrap_or("unknown")
    }
}

/// How an operation is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// A request with at most one reply (downcall, query, or upcall).
    Do,
    /// A dump.
    Dump,
    /// Both.
    DoDump,
    /// A multicast notification.
    Event,
}

/// One operation of a family.
#[derive(Debug)]
pub struct OpSpec {
    pub name: &'static str,
    pub cmd: u8,
    pub kind: OpKind,
    /// Needs CAP_NET_ADMIN (GENL_ADMIN_PERM) or, on the twin, an admin uid.
    pub admin: bool,
    /// An upcall: sent by the kernel half to the daemon, answered with REPLY.
    pub upcall: bool,
    /// Attribute ids of the request (or the event).
    pub request: &'static [u16],
    /// Attribute ids of the reply.
    pub reply: &'static [u16],
    /// Multicast group of an event.
    pub mcgrp: Option<&'static str>,
}

/// A generic netlink family, from its spec.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub version: u8,
    /// Policy of the family's main attribute set.
    pub policy: &'static Policy,
    pub ops: &'static [OpSpec],
    pub mcast_groups: &'static [&'static str],
}

impl Family {
    /// The op with command value `cmd`.
    pub fn op(&self, cmd: u8) -> Option<&'static OpSpec> {
        self.ops.iter().find(|o| o.cmd == cmd)
    }

    /// The op named `name`.
    pub fn op_by_name(&self, name: &str) -> Option<&'static OpSpec> {
        self.ops.iter().find(|o| o.name == name)
    }
}
