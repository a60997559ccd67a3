//! Per-operation typed views and builders (Rust output), as the kernel's user-side
//! generator emits a typed request and response per operation (`handshake-user.h`).
//!
//! For every operation, and every message of it that carries attributes — `request`
//! (`do`/`dump` request, an upcall's request), `reply` (`do`/`dump` reply) and `event`
//! — the generated module `ops::<op>` holds:
//! - a view (`Request<'a>`, `Reply<'a>`, `Event<'a>`): a zero-copy wrapper of the
//!   message's parsed `AttrTable`, with one getter per attribute of the op's list: a
//!   required attribute reads as a plain value, an optional one as an `Option`. Its
//!   constructors (`parse`, `from_table`) check the required attributes first and name
//!   the first one missing (`DecodeError::MissingAttr`);
//! - a builder (`RequestAttrs`, `ReplyAttrs`, `EventAttrs`): a struct with one field per
//!   attribute — plain for a required one, `Option` for an optional one, a slice for a
//!   multi-attr — whose `put` appends them, in the spec's order, through a `MsgBuilder`
//!   into the caller's buffer (nothing else is allocated).
//!
//! Nested sets get the same pair in `nest` (`DsAddr<'a>` / `DsAddrAttrs`), every
//! attribute optional.
//!
//! ## Which attributes are required
//!
//! The genetlink schema has no "required" flag, so the generator states it here, in
//! [`REQUIRED`]: per family, operation and message, the attributes a receiver may count
//! on. The convention:
//! - a downcall's request: what the module's `*_doit` checks unconditionally with
//!   `PNFS_SHIM_REQ_ATTR` (`GENL_REQ_ATTR_CHECK`), in its order (a requirement that
//!   depends on another attribute, as LAYOUT_RECALL's per recall type, stays in the
//!   handler);
//! - an upcall's request: what the kernel half always puts in it;
//! - a reply or event: what the kernel half always puts in it (both halves; the module
//!   is the reference, the twin must not put less);
//! - an upcall's reply (the daemon's REPLY): `xid` and `status`, which REPLY requires.
//!
//! Every other attribute of an op's list is optional. `tests/specs.rs` checks that each
//! entry names attributes of the op's list, and that the downcall requests' entries are
//! what the module's handlers check.

use crate::spec::{self, AttrType, Direction, Spec};
use crate::{camel, checks, lower, upper};
use anyhow::{bail, Result};
use std::fmt::Write;

/// Which message of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    Request,
    Reply,
    Event,
}

impl Msg {
    fn name(self) -> &'static str {
        match self {
            Msg::Request => "Request",
            Msg::Reply => "Reply",
            Msg::Event => "Event",
        }
    }
}

/// Required attributes: (family, operation, message, attributes). See the module doc.
pub const REQUIRED: &[(&str, &str, Msg, &[&str])] = &[
    // pnfsd downcalls (pnfs_shim_pnfsd.c, pnfs_shim_upcall.c)
    ("pnfsd", "register", Msg::Request, &["version"]),
    ("pnfsd", "register", Msg::Reply, &["version", "port"]),
    ("pnfsd", "reply", Msg::Request, &["xid", "status"]),
    (
        "pnfsd",
        "state-check",
        Msg::Request,
        &["fsid", "fileid", "stateid"],
    ),
    ("pnfsd", "state-check", Msg::Reply, &["status"]),
    (
        "pnfsd",
        "state-set",
        Msg::Request,
        &["fsid", "fileid", "stateid", "clientid"],
    ),
    ("pnfsd", "state-revoke", Msg::Request, &["clientid"]),
    ("pnfsd", "state-revoke", Msg::Reply, &["count"]),
    (
        "pnfsd",
        "state-get",
        Msg::Reply,
        &[
            "fsid",
            "fileid",
            "stateid",
            "clientid",
            "access",
            "generation",
        ],
    ),
    ("pnfsd", "device-set", Msg::Request, &["device-id"]),
    ("pnfsd", "device-del", Msg::Request, &["device-id"]),
    ("pnfsd", "device-get", Msg::Reply, &["device-id", "node-id"]),
    ("pnfsd", "layout-recall", Msg::Request, &["recall-type"]),
    ("pnfsd", "layout-recall", Msg::Reply, &["layouts"]),
    ("pnfsd", "grace", Msg::Request, &["grace-action"]),
    (
        "pnfsd",
        "upcall-dump",
        Msg::Reply,
        &["xid", "upcall-kind", "age-us"],
    ),
    (
        "pnfsd",
        "status-get",
        Msg::Reply,
        &["version", "port", "node-id"],
    ),
    ("pnfsd", "stats-get", Msg::Reply, &["late-replies"]),
    ("pnfsd", "config-set", Msg::Request, &["timeout-ms"]),
    ("pnfsd", "trigger", Msg::Request, &["upcall-kind"]),
    ("pnfsd", "trigger", Msg::Reply, &["elapsed-ns"]),
    // pnfsd upcalls: the kernel half puts every attribute of the request.
    (
        "pnfsd",
        "get-state",
        Msg::Request,
        &[
            "xid",
            "mds-id",
            "boot-epoch",
            "fsid",
            "fileid",
            "stateid",
            "clientid",
        ],
    ),
    ("pnfsd", "get-state", Msg::Reply, &["xid", "status"]),
    (
        "pnfsd",
        "get-device-info",
        Msg::Request,
        &["xid", "device-id"],
    ),
    ("pnfsd", "get-device-info", Msg::Reply, &["xid", "status"]),
    (
        "pnfsd",
        "layout-get",
        Msg::Request,
        &[
            "xid", "clientid", "fsid", "fileid", "iomode", "offset", "length",
        ],
    ),
    ("pnfsd", "layout-get", Msg::Reply, &["xid", "status"]),
    (
        "pnfsd",
        "layout-return",
        Msg::Request,
        &[
            "xid", "clientid", "fsid", "fileid", "stateid", "offset", "length",
        ],
    ),
    ("pnfsd", "layout-return", Msg::Reply, &["xid", "status"]),
    (
        "pnfsd",
        "layout-commit",
        Msg::Request,
        &["xid", "clientid", "fsid", "fileid", "stateid", "last-write"],
    ),
    ("pnfsd", "layout-commit", Msg::Reply, &["xid", "status"]),
    (
        "pnfsd",
        "state-changed",
        Msg::Request,
        &[
            "xid",
            "clientid",
            "fsid",
            "fileid",
            "stateid",
            "generation",
            "state-change",
        ],
    ),
    ("pnfsd", "state-changed", Msg::Reply, &["xid", "status"]),
    // gfs2ctl downcalls (pnfs_shim_gfs2.c, pnfs_shim_upcall.c)
    ("gfs2ctl", "register", Msg::Request, &["version"]),
    ("gfs2ctl", "register", Msg::Reply, &["version", "port"]),
    ("gfs2ctl", "reply", Msg::Request, &["xid", "status"]),
    ("gfs2ctl", "block", Msg::Request, &["table"]),
    ("gfs2ctl", "unblock", Msg::Request, &["table"]),
    ("gfs2ctl", "recover", Msg::Request, &["table", "jid"]),
    ("gfs2ctl", "mount-get", Msg::Reply, &["table", "jid"]),
    (
        "gfs2ctl",
        "upcall-dump",
        Msg::Reply,
        &["xid", "upcall-kind", "age-us"],
    ),
    (
        "gfs2ctl",
        "status-get",
        Msg::Reply,
        &["version", "port", "node-id"],
    ),
    ("gfs2ctl", "stats-get", Msg::Reply, &["late-replies"]),
    ("gfs2ctl", "config-set", Msg::Request, &["timeout-ms"]),
    ("gfs2ctl", "trigger", Msg::Request, &["upcall-kind"]),
    ("gfs2ctl", "trigger", Msg::Reply, &["elapsed-ns"]),
    // gfs2ctl upcalls: the table always; a mount's uuid may be left out.
    (
        "gfs2ctl",
        "mount",
        Msg::Request,
        &["xid", "table", "device", "mount-flags"],
    ),
    ("gfs2ctl", "mount", Msg::Reply, &["xid", "status"]),
    (
        "gfs2ctl",
        "mount-done",
        Msg::Request,
        &["xid", "table", "jid", "status"],
    ),
    ("gfs2ctl", "mount-done", Msg::Reply, &["xid", "status"]),
    ("gfs2ctl", "unmount", Msg::Request, &["xid", "table"]),
    ("gfs2ctl", "unmount", Msg::Reply, &["xid", "status"]),
    (
        "gfs2ctl",
        "withdraw",
        Msg::Request,
        &["xid", "table", "jid"],
    ),
    ("gfs2ctl", "withdraw", Msg::Reply, &["xid", "status"]),
    (
        "gfs2ctl",
        "recovery-done",
        Msg::Request,
        &["xid", "table", "jid", "recovery-status"],
    ),
    ("gfs2ctl", "recovery-done", Msg::Reply, &["xid", "status"]),
];

/// The required attributes of (family, op, message); empty when none are.
pub fn required(family: &str, op: &str, msg: Msg) -> &'static [&'static str] {
    REQUIRED
        .iter()
        .find(|(f, o, m, _)| *f == family && *o == op && *m == msg)
        .map(|(_, _, _, a)| *a)
        .unwrap_or(&[])
}

/// The attribute lists of an op's messages.
pub fn messages(op: &spec::Op) -> Vec<(Msg, &spec::AttrList)> {
    let mut out = vec![];
    if let Some(e) = &op.event {
        out.push((Msg::Event, e));
        return out;
    }
    let sub = op.do_.as_ref().or(op.dump.as_ref());
    if let Some(r) = sub.and_then(|s| s.request.as_ref()) {
        out.push((Msg::Request, r));
    }
    if let Some(r) = sub.and_then(|s| s.reply.as_ref()) {
        out.push((Msg::Reply, r));
    }
    out.retain(|(_, l)| !l.attributes.is_empty());
    out
}

/// Check every REQUIRED entry of `spec` against its op lists.
pub fn check_required(spec: &Spec) -> Result<()> {
    for (f, o, m, attrs) in REQUIRED {
        if *f != spec.name {
            continue;
        }
        let Some(op) = spec.operations.list.iter().find(|op| op.name == *o) else {
            bail!("REQUIRED: {f} has no operation {o}");
        };
        let Some((_, list)) = messages(op).into_iter().find(|(mm, _)| mm == m) else {
            bail!("REQUIRED: {f} {o} has no {m:?} with attributes");
        };
        for a in *attrs {
            if !list.attributes.iter().any(|x| x == a) {
                bail!("REQUIRED: {f} {o} {m:?}: {a} is not in the op's list");
            }
        }
    }
    Ok(())
}

/// How an attribute reads and builds in Rust.
struct Shape {
    /// The getter's value type (with `'a`).
    get_ty: String,
    /// Reading it from `Attr` `a` (a value of `get_ty`).
    read: String,
    /// The builder field's type (with `'x`), one value.
    put_ty: String,
    /// Whether the builder type borrows (needs `'x`).
    borrows: bool,
    /// Appending value `v` (an expression of `put_ty`, by reference where noted).
    put: String,
    /// For a required read: the value when absent (never, after the check).
    zero: String,
}

fn exact_len(spec: &Spec, a: &spec::Attr) -> Result<Option<u64>> {
    Ok(checks(spec, a)?.exact_len.map(|l| l.v))
}

fn shape(spec: &Spec, a: &spec::Attr, id: &str) -> Result<Shape> {
    let t = a.kind.unwrap();
    let int = |ty: &str, get: &str, put: &str| Shape {
        get_ty: ty.into(),
        read: format!("a.{get}()"),
        put_ty: ty.into(),
        borrows: false,
        put: format!("b.{put}({id}, v);"),
        zero: "0".into(),
    };
    Ok(match t {
        AttrType::U8 => int("u8", "u8", "put_u8"),
        AttrType::U16 => int("u16", "u16", "put_u16"),
        AttrType::U32 => int("u32", "u32", "put_u32"),
        AttrType::U64 => int("u64", "u64", "put_u64"),
        AttrType::S32 => int("i32", "i32", "put_i32"),
        AttrType::S64 => Shape {
            read: "a.u64() as i64".into(),
            put: format!("b.put_u64({id}, v as u64);"),
            ..int("i64", "", "")
        },
        AttrType::String => Shape {
            get_ty: "&'a str".into(),
            read: "a.str()".into(),
            put_ty: "&'x str".into(),
            borrows: true,
            put: format!("b.put_str({id}, v);"),
            zero: "\"\"".into(),
        },
        AttrType::Binary => match exact_len(spec, a)? {
            Some(n) => Shape {
                get_ty: format!("&'a [u8; {n}]"),
                read: "<&[u8; N]>::try_from(a.payload).ok()?".replace('N', &n.to_string()),
                put_ty: format!("[u8; {n}]"),
                borrows: false,
                put: format!("b.put_bytes({id}, &v);"),
                zero: format!("&[0; {n}]"),
            },
            None => Shape {
                get_ty: "&'a [u8]".into(),
                read: "a.payload".into(),
                put_ty: "&'x [u8]".into(),
                borrows: true,
                put: format!("b.put_bytes({id}, v);"),
                zero: "&[]".into(),
            },
        },
        AttrType::Flag => Shape {
            get_ty: "bool".into(),
            read: "true".into(),
            put_ty: "bool".into(),
            borrows: false,
            put: format!("if v {{ b.put_flag({id}); }}"),
            zero: "false".into(),
        },
        AttrType::Nest => {
            let n = a.nested_attributes.as_deref().unwrap();
            let ty = camel(n);
            let borrows = set_borrows(spec, n)?;
            Shape {
                get_ty: format!("nest::{ty}<'a>"),
                read: "unused".into(),
                put_ty: if borrows {
                    format!("nest::{ty}Attrs<'x>")
                } else {
                    format!("nest::{ty}Attrs")
                },
                borrows,
                put: format!("let n = b.nest_begin({id}); v.put(b); b.nest_end(n);"),
                zero: "unused".into(),
            }
        }
        _ => bail!("{}: no Rust shape for {t:?}", a.name),
    })
}

/// Whether a set's builder borrows (has a string, a variable binary or a multi-attr).
fn set_borrows(spec: &Spec, set: &str) -> Result<bool> {
    let s = spec.set(set).expect("checked");
    for a in &s.attributes {
        let t = a.kind.unwrap();
        if t == AttrType::Pad {
            continue;
        }
        if a.multi_attr.unwrap_or(false) {
            return Ok(true);
        }
        if t == AttrType::Nest {
            if set_borrows(spec, a.nested_attributes.as_deref().unwrap())? {
                return Ok(true);
            }
            continue;
        }
        if shape(spec, a, "0")?.borrows {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Doc line of an attribute: its spec doc's first sentence, else its name.
fn attr_doc(a: &spec::Attr) -> String {
    match &a.doc {
        Some(d) => {
            let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
            match d.find(". ") {
                Some(i) => d[..=i].to_string(),
                None => d,
            }
        }
        None => format!("`{}`.", a.name),
    }
}

/// The view and builder of one attribute list: `ids` is the module of the ids (`attr`,
/// `ds_addr_attr`), `policy` the set's policy static, `view`/`build` the type names, `req`
/// the required attribute names, `what` the message for the docs, `ind` the indentation.
#[allow(clippy::too_many_arguments)]
fn view_and_builder(
    o: &mut String,
    spec: &Spec,
    attrs: &[&spec::Attr],
    ids: &str,
    policy: &str,
    view: &str,
    build: &str,
    req: &[&str],
    what: &str,
    ind: &str,
) -> Result<()> {
    let max = format!("{{ {ids}::MAX as usize + 1 }}");
    let is_req = |a: &spec::Attr| req.contains(&a.name.as_str());
    // ---- view
    writeln!(o, "{ind}/// {what}: a typed view of its parsed attributes.")?;
    writeln!(o, "{ind}#[derive(Clone, Copy)]")?;
    writeln!(
        o,
        "{ind}pub struct {view}<'a>(pub(crate) AttrTable<'a, {max}>);"
    )?;
    writeln!(o)?;
    writeln!(o, "{ind}impl<'a> {view}<'a> {{")?;
    writeln!(
        o,
        "{ind}    /// Parse `attrs` against the set's policy (an unknown attribute is skipped,"
    )?;
    writeln!(
        o,
        "{ind}    /// as from a newer peer) and check the required attributes."
    )?;
    writeln!(
        o,
        "{ind}    pub fn parse(attrs: &'a [u8]) -> Result<Self, DecodeError> {{"
    )?;
    writeln!(
        o,
        "{ind}        Self::from_table(AttrTable::parse(attrs, &{policy})?)"
    )?;
    writeln!(o, "{ind}    }}")?;
    writeln!(o)?;
    writeln!(
        o,
        "{ind}    /// View a table parsed already (the kernel half parses requests strictly"
    )?;
    writeln!(
        o,
        "{ind}    /// against the op's policy); `MissingAttr` names the first required"
    )?;
    writeln!(o, "{ind}    /// attribute absent.")?;
    writeln!(o, "{ind}    #[inline]")?;
    writeln!(
        o,
        "{ind}    pub fn from_table(t: AttrTable<'a, {max}>) -> Result<Self, DecodeError> {{"
    )?;
    for r in req {
        let a = attrs.iter().find(|a| a.name == *r).expect("checked");
        let id = format!("{ids}::{}", upper(&a.name));
        match (a.kind.unwrap(), exact_len(spec, a)?) {
            (AttrType::Binary, Some(n)) => writeln!(o, "{ind}        t.req_array::<{n}>({id})?;")?,
            _ => writeln!(o, "{ind}        t.require({id})?;")?,
        }
    }
    writeln!(o, "{ind}        Ok({view}(t))")?;
    writeln!(o, "{ind}    }}")?;
    writeln!(o)?;
    writeln!(o, "{ind}    /// The attribute table behind the view.")?;
    writeln!(o, "{ind}    #[inline]")?;
    writeln!(
        o,
        "{ind}    pub fn attrs(&self) -> &AttrTable<'a, {max}> {{"
    )?;
    writeln!(o, "{ind}        &self.0")?;
    writeln!(o, "{ind}    }}")?;
    for a in attrs {
        let t = a.kind.unwrap();
        if t == AttrType::Pad {
            continue;
        }
        let id = format!("{ids}::{}", upper(&a.name));
        let f = lower(&a.name);
        let f = if f == "type" { "r#type".into() } else { f };
        writeln!(o)?;
        writeln!(o, "{ind}    /// {}", attr_doc(a))?;
        let multi = a.multi_attr.unwrap_or(false);
        let sh = shape(spec, a, &id)?;
        if t == AttrType::Nest {
            let ty = &sh.get_ty;
            if multi {
                writeln!(
                    o,
                    "{ind}    pub fn {f}(&self) -> impl Iterator<Item = {ty}> + 'a {{"
                )?;
                writeln!(o, "{ind}        let t = self.0;")?;
                writeln!(
                    o,
                    "{ind}        t.all({id}).filter_map(move |a| t.nest(&a)).map({})",
                    ty.trim_end_matches("<'a>")
                )?;
            } else {
                writeln!(o, "{ind}    pub fn {f}(&self) -> Option<{ty}> {{")?;
                writeln!(
                    o,
                    "{ind}        self.0.get({id}).and_then(|a| self.0.nest(&a)).map({})",
                    ty.trim_end_matches("<'a>")
                )?;
            }
            writeln!(o, "{ind}    }}")?;
            continue;
        }
        if multi {
            writeln!(
                o,
                "{ind}    pub fn {f}(&self) -> impl Iterator<Item = {}> + 'a {{",
                sh.get_ty
            )?;
            writeln!(o, "{ind}        self.0.all({id}).map(|a| {})", sh.read)?;
            writeln!(o, "{ind}    }}")?;
            continue;
        }
        if t == AttrType::Flag {
            writeln!(o, "{ind}    #[inline]")?;
            writeln!(o, "{ind}    pub fn {f}(&self) -> bool {{")?;
            writeln!(o, "{ind}        self.0.has({id})")?;
            writeln!(o, "{ind}    }}")?;
            continue;
        }
        let get = if sh.read.ends_with('?') {
            // `?` inside a closure over Option: spell it out.
            let r = sh.read.trim_end_matches(".ok()?");
            format!("self.0.get({id}).and_then(|a| {r}.ok())")
        } else {
            format!("self.0.get({id}).map(|a| {})", sh.read)
        };
        writeln!(o, "{ind}    #[inline]")?;
        if is_req(a) {
            writeln!(o, "{ind}    pub fn {f}(&self) -> {} {{", sh.get_ty)?;
            writeln!(o, "{ind}        {get}.unwrap_or({})", sh.zero)?;
        } else {
            writeln!(o, "{ind}    pub fn {f}(&self) -> Option<{}> {{", sh.get_ty)?;
            writeln!(o, "{ind}        {get}")?;
        }
        writeln!(o, "{ind}    }}")?;
    }
    writeln!(o, "{ind}}}")?;
    writeln!(o)?;

    // ---- builder
    let mut borrows = false;
    let mut fields = vec![];
    for a in attrs {
        let t = a.kind.unwrap();
        if t == AttrType::Pad {
            continue;
        }
        let id = format!("{ids}::{}", upper(&a.name));
        let sh = shape(spec, a, &id)?;
        let multi = a.multi_attr.unwrap_or(false);
        let ty = if multi {
            borrows = true;
            format!("&'x [{}]", sh.put_ty)
        } else if is_req(a) || t == AttrType::Flag {
            sh.put_ty.clone()
        } else {
            format!("Option<{}>", sh.put_ty)
        };
        borrows |= sh.borrows;
        fields.push((a, ty, sh, multi, id));
    }
    let lt = if borrows { "<'x>" } else { "" };
    writeln!(
        o,
        "{ind}/// {what}: its attributes to build (required ones plain, optional ones `Option`)."
    )?;
    writeln!(o, "{ind}#[derive(Debug, Clone, Copy, Default)]")?;
    writeln!(o, "{ind}pub struct {build}{lt} {{")?;
    for (a, ty, ..) in &fields {
        let f = lower(&a.name);
        writeln!(o, "{ind}    /// {}", attr_doc(a))?;
        writeln!(o, "{ind}    pub {f}: {ty},")?;
    }
    writeln!(o, "{ind}}}")?;
    writeln!(o)?;
    let lt_use = if borrows { "<'_>" } else { "" };
    writeln!(o, "{ind}impl {build}{lt_use} {{")?;
    writeln!(
        o,
        "{ind}    /// Append the attributes, in the spec's order, to a message being built."
    )?;
    writeln!(o, "{ind}    #[inline]")?;
    writeln!(o, "{ind}    pub fn put(&self, b: &mut MsgBuilder<'_>) {{")?;
    for (a, _, sh, multi, _) in &fields {
        let f = lower(&a.name);
        let t = a.kind.unwrap();
        if *multi {
            writeln!(o, "{ind}        for &v in self.{f} {{")?;
            writeln!(o, "{ind}            {}", sh.put)?;
            writeln!(o, "{ind}        }}")?;
        } else if is_req(a) || t == AttrType::Flag {
            writeln!(o, "{ind}        {{")?;
            writeln!(o, "{ind}            let v = self.{f};")?;
            writeln!(o, "{ind}            {}", sh.put)?;
            writeln!(o, "{ind}        }}")?;
        } else {
            writeln!(o, "{ind}        if let Some(v) = self.{f} {{")?;
            writeln!(o, "{ind}            {}", sh.put)?;
            writeln!(o, "{ind}        }}")?;
        }
    }
    if fields.is_empty() {
        writeln!(o, "{ind}        let _ = b;")?;
    }
    writeln!(o, "{ind}    }}")?;
    writeln!(o)?;
    writeln!(
        o,
        "{ind}    /// A whole message: the header `h`, then the attributes. Returns its length."
    )?;
    writeln!(
        o,
        "{ind}    pub fn write(&self, buf: &mut Vec<u8>, h: &GenlHeader) -> usize {{"
    )?;
    writeln!(o, "{ind}        let mut b = h.start(buf);")?;
    writeln!(o, "{ind}        self.put(&mut b);")?;
    writeln!(o, "{ind}        b.finish()")?;
    writeln!(o, "{ind}    }}")?;
    writeln!(o, "{ind}}}")?;
    Ok(())
}

/// A value of attribute `a` its policy accepts, distinct per position `i`, as (the
/// builder's expression, the getter's expected value); None for a nest.
fn sample(spec: &Spec, a: &spec::Attr, i: u64) -> Result<Option<(String, String)>> {
    let t = a.kind.unwrap();
    let c = checks(spec, a)?;
    let int = |bits: u32| -> String {
        let lo = c.min.as_ref().map_or(0, |l| l.v);
        let hi = c.max.as_ref().map_or(
            if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            },
            |l| l.v,
        );
        let span = hi - lo;
        (lo + if span == u64::MAX { i } else { i % (span + 1) }).to_string()
    };
    Ok(Some(match t {
        AttrType::U8 => (int(8), int(8)),
        AttrType::U16 => (int(16), int(16)),
        AttrType::U32 => (int(32), int(32)),
        AttrType::U64 => (int(64), int(64)),
        AttrType::S32 | AttrType::S64 => {
            let v = match &c.min {
                Some(l) => l.v.to_string(),
                None => format!("-{i}"),
            };
            (v.clone(), v)
        }
        AttrType::String => (format!("\"s{i}\""), format!("\"s{i}\"")),
        AttrType::Binary => match exact_len(spec, a)? {
            Some(n) => (format!("[{i}; {n}]"), format!("&[{i}; {n}]")),
            None => (format!("&[{i}, 2, 3]"), format!("&[{i}u8, 2, 3][..]")),
        },
        AttrType::Flag => ("true".into(), "true".into()),
        AttrType::Nest => return Ok(None),
        _ => bail!("{}: no sample for {t:?}", a.name),
    }))
}

/// A test per message: the builder with every attribute set, then its view reads each
/// back (what the STYLE asks: every attribute of every message round-trips).
#[allow(clippy::too_many_arguments)]
fn round_trip_test(
    o: &mut String,
    spec: &Spec,
    path: &str,
    view: &str,
    build: &str,
    attrs: &[&spec::Attr],
    req: &[&str],
    name: &str,
) -> Result<()> {
    writeln!(o, "    #[test]")?;
    writeln!(o, "    fn {name}() {{")?;
    writeln!(o, "        let sent = {path}::{build} {{")?;
    let mut checks_ = vec![];
    for (i, a) in attrs.iter().enumerate() {
        let t = a.kind.unwrap();
        if t == AttrType::Pad {
            continue;
        }
        let f = lower(&a.name);
        let i = i as u64 + 1;
        let multi = a.multi_attr.unwrap_or(false);
        let optional = !req.contains(&a.name.as_str()) && t != AttrType::Flag;
        match sample(spec, a, i)? {
            None if multi => {
                writeln!(
                    o,
                    "            {f}: &[Default::default(), Default::default()],"
                )?;
                checks_.push(format!("assert_eq!(v.{f}().count(), 2, {f:?});"));
            }
            None => {
                writeln!(o, "            {f}: Some(Default::default()),")?;
                checks_.push(format!("assert!(v.{f}().is_some(), {f:?});"));
            }
            Some((put, got)) if multi => {
                writeln!(o, "            {f}: &[{put}, {put}],")?;
                checks_.push(format!(
                    "assert_eq!(v.{f}().collect::<Vec<_>>(), [{got}, {got}], {f:?});"
                ));
            }
            Some((put, got)) if optional => {
                writeln!(o, "            {f}: Some({put}),")?;
                checks_.push(format!("assert_eq!(v.{f}(), Some({got}), {f:?});"));
            }
            Some((put, _)) if t == AttrType::Flag => {
                writeln!(o, "            {f}: {put},")?;
                checks_.push(format!("assert!(v.{f}(), {f:?});"));
            }
            Some((put, got)) => {
                writeln!(o, "            {f}: {put},")?;
                checks_.push(format!("assert_eq!(v.{f}(), {got}, {f:?});"));
            }
        }
    }
    writeln!(o, "        }};")?;
    writeln!(o, "        let mut buf = Vec::new();")?;
    writeln!(
        o,
        "        let len = sent.write(&mut buf, &GenlHeader::new(0x20, 1));"
    )?;
    writeln!(o, "        assert_eq!(len, buf.len());")?;
    writeln!(
        o,
        "        let v = {path}::{view}::parse(&buf[NLMSG_HDRLEN + GENL_HDRLEN..]).unwrap();"
    )?;
    for c in checks_ {
        writeln!(o, "        {c}")?;
    }
    writeln!(o, "    }}")?;
    writeln!(o)?;
    Ok(())
}

/// `mod round_trip`: [`round_trip_test`] for every message and nested set.
fn gen_round_trip(o: &mut String, spec: &Spec) -> Result<()> {
    let main = spec.main_set().expect("checked");
    let all = spec.attr_ids(main);
    writeln!(o)?;
    writeln!(
        o,
        "/// Every attribute of every message, written by its builder, read by its view."
    )?;
    writeln!(o, "#[cfg(test)]")?;
    writeln!(o, "mod round_trip {{")?;
    writeln!(o, "    use super::*;")?;
    writeln!(o, "    use crate::codec::{{GENL_HDRLEN, NLMSG_HDRLEN}};")?;
    writeln!(o)?;
    for set in &spec.attribute_sets {
        if set.name == spec.name {
            continue;
        }
        let ty = camel(&set.name);
        let attrs: Vec<&spec::Attr> = set.attributes.iter().collect();
        round_trip_test(
            o,
            spec,
            "nest",
            &ty,
            &format!("{ty}Attrs"),
            &attrs,
            &[],
            &format!("nest_{}", lower(&set.name)),
        )?;
    }
    for (_, op) in spec.op_ids() {
        for (msg, list) in messages(op) {
            let attrs: Vec<&spec::Attr> = list
                .attributes
                .iter()
                .map(|n| all.iter().find(|(_, a)| &a.name == n).expect("checked").1)
                .collect();
            round_trip_test(
                o,
                spec,
                &format!("ops::{}", lower(&op.name)),
                msg.name(),
                &format!("{}Attrs", msg.name()),
                &attrs,
                required(&spec.name, &op.name, msg),
                &format!("{}_{}", lower(&op.name), msg.name().to_lowercase()),
            )?;
        }
    }
    writeln!(o, "}}")?;
    Ok(())
}

/// `pub mod nest` and `pub mod ops` of one family.
pub fn gen_ops(o: &mut String, spec: &Spec) -> Result<()> {
    check_required(spec)?;
    let main = spec.main_set().expect("checked");
    writeln!(
        o,
        "/// Views and builders of the nested sets (every attribute optional)."
    )?;
    writeln!(o, "pub mod nest {{")?;
    writeln!(o, "    use super::*;")?;
    for set in &spec.attribute_sets {
        if set.name == spec.name {
            continue;
        }
        writeln!(o)?;
        let ids = crate::set_mod(spec, &set.name);
        let attrs: Vec<&spec::Attr> = set.attributes.iter().collect();
        let ty = camel(&set.name);
        view_and_builder(
            o,
            spec,
            &attrs,
            &format!("super::{ids}"),
            &crate::policy_static(&set.name),
            &ty,
            &format!("{ty}Attrs"),
            &[],
            &format!("Nest `{}`", set.name),
            "    ",
        )?;
    }
    writeln!(o, "}}")?;
    writeln!(o)?;
    writeln!(
        o,
        "/// Per operation: its command, typed views of its messages (`Request`, `Reply`,"
    )?;
    writeln!(
        o,
        "/// `Event`) and their builders (`RequestAttrs`, `ReplyAttrs`, `EventAttrs`)."
    )?;
    writeln!(
        o,
        "/// Required attributes read plain, optional ones as `Option` (ynl-gen's `REQUIRED`)."
    )?;
    writeln!(o, "pub mod ops {{")?;
    let all = spec.attr_ids(main);
    for (_, op) in spec.op_ids() {
        let m = lower(&op.name);
        writeln!(o)?;
        writeln!(
            o,
            "    /// `{}`: {}",
            op.name,
            op.doc.trim().lines().next().unwrap_or("")
        )?;
        writeln!(o, "    pub mod {m} {{")?;
        writeln!(o, "        #[allow(unused_imports)]")?;
        writeln!(o, "        use super::super::*;")?;
        writeln!(o)?;
        writeln!(o, "        /// The operation's command.")?;
        writeln!(o, "        pub const CMD: u8 = cmd::{};", upper(&op.name))?;
        writeln!(o)?;
        writeln!(
            o,
            "        /// The header of a message of this command to `family` (the family id)."
        )?;
        writeln!(
            o,
            "        pub const fn header(family: u16) -> GenlHeader {{"
        )?;
        writeln!(
            o,
            "            GenlHeader::new(family, CMD).version(FAMILY_VERSION)"
        )?;
        writeln!(o, "        }}")?;
        for (msg, list) in messages(op) {
            let attrs: Vec<&spec::Attr> = list
                .attributes
                .iter()
                .map(|n| all.iter().find(|(_, a)| &a.name == n).expect("checked").1)
                .collect();
            let req = required(&spec.name, &op.name, msg);
            let what = match (msg, op.direction()) {
                (Msg::Request, Direction::Upcall) => {
                    format!("The `{}` upcall the kernel half sends", op.name)
                }
                (Msg::Reply, Direction::Upcall) => format!(
                    "The daemon's answer to a `{}` upcall (in a `reply` message)",
                    op.name
                ),
                (Msg::Request, _) => format!("A `{}` request", op.name),
                (Msg::Reply, _) => format!("A `{}` reply", op.name),
                (Msg::Event, _) => format!("A `{}` event", op.name),
            };
            writeln!(o)?;
            view_and_builder(
                o,
                spec,
                &attrs,
                "attr",
                &crate::policy_static(&spec.name),
                msg.name(),
                &format!("{}Attrs", msg.name()),
                req,
                &what,
                "        ",
            )?;
        }
        writeln!(o, "    }}")?;
    }
    writeln!(o, "}}")?;
    gen_round_trip(o, spec)
}
