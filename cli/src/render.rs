//! One print path: every answer is a typed record (serde `Serialize`) or a JSON value,
//! printed by the one [`Sink`] as JSON (`-j`), pretty JSON (`-p`) or `ip`-style text — the
//! mode decided at the sink, as iproute2's `json_print` decides it. A record's fields are
//! spelled once, as its JSON keys (snake_case everywhere: the kernel half's dashed
//! attribute names are converted where they meet the daemon's, see [`snake_keys`]); text
//! formats name those keys ([`Column`]) rather than spelling fields again.

use pnfs_netlink::codec::AttrIter;
use pnfs_netlink::policy::{AttrKind, Policy};
use serde::Serialize;
use serde_json::{Map, Value};
use std::io::Write;

/// How answers are printed, from `-j` and `-p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Text,
    Json,
    Pretty,
}

/// The one sink of pnfsctl's standard output: every answer, event and table goes through
/// it, and through [`out`] (a closed pipe ends pnfsctl quietly).
#[derive(Debug, Clone, Copy)]
pub struct Sink {
    mode: Mode,
}

impl Sink {
    pub fn new(json: bool, pretty: bool) -> Sink {
        let mode = match (json, pretty) {
            (_, true) => Mode::Pretty,
            (true, false) => Mode::Json,
            _ => Mode::Text,
        };
        Sink { mode }
    }

    /// JSON (`-j` or `-p`) rather than text.
    pub fn is_json(&self) -> bool {
        self.mode != Mode::Text
    }

    /// A whole answer: its JSON (one line with `-j`, indented with `-p`) or `text(record)`.
    pub fn print<T: Serialize + ?Sized>(&self, record: &T, text: impl FnOnce(&T) -> String) {
        match self.mode {
            Mode::Pretty => out_line(&json_string(record, true)),
            Mode::Json => out_line(&json_string(record, false)),
            Mode::Text => out(text(record).as_bytes()),
        }
    }

    /// One record of a stream (`monitor`'s events, `demo`'s progress): one JSON object per
    /// line with `-j` and `-p` alike (a stream stays line-delimited), else `text(record)`.
    pub fn event<T: Serialize + ?Sized>(&self, record: &T, text: impl FnOnce(&T) -> String) {
        match self.mode {
            Mode::Json | Mode::Pretty => out_line(&json_string(record, false)),
            Mode::Text => out(text(record).as_bytes()),
        }
    }
}

fn json_string<T: Serialize + ?Sized>(record: &T, pretty: bool) -> String {
    let s = if pretty {
        serde_json::to_string_pretty(record)
    } else {
        serde_json::to_string(record)
    };
    // Our records are structs, maps with string keys and numbers: nothing that fails.
    s.expect("a pnfsctl record serializes")
}

/// The kernel half's attribute names (`kind-stats`, `p50-ns`) in the daemon's spelling
/// (`kind_stats`, `p50_ns`): keys only, at every depth; values are left alone.
pub fn snake_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| (k.replace('-', "_"), snake_keys(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(snake_keys).collect()),
        other => other,
    }
}

/// How a [`Column`] shows its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    /// As it is, left-aligned (names).
    Left,
    /// A number, right-aligned, with this many decimals.
    Num(usize),
    /// Nanoseconds shown as microseconds with one decimal.
    NsAsUs,
}

/// One column of a text table of typed records: the record's JSON key it shows (the
/// field's one spelling), its header and its format.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub key: &'static str,
    pub head: &'static str,
    pub width: usize,
    pub fmt: Fmt,
}

/// `rows` as a text table: a header line, then one line per record, each cell the value
/// of its column's key.
///
/// # Panics
/// When a column names a key the records do not have (a test catches it).
pub fn table<T: Serialize>(rows: &[T], cols: &[Column]) -> String {
    let mut s = String::new();
    let cell = |s: &mut String, c: &Column, text: &str| {
        if !s.is_empty() && !s.ends_with('\n') {
            s.push(' ');
        }
        match c.fmt {
            Fmt::Left => s.push_str(&format!("{text:<w$}", w = c.width)),
            _ => s.push_str(&format!("{text:>w$}", w = c.width)),
        }
    };
    for c in cols {
        cell(&mut s, c, c.head);
    }
    s.push('\n');
    for r in rows {
        let v = serde_json::to_value(r).expect("a pnfsctl record serializes");
        for c in cols {
            let x = v
                .get(c.key)
                .unwrap_or_else(|| panic!("column {:?}: no such key in {v}", c.key));
            let text = match c.fmt {
                Fmt::Left => scalar(x).unwrap_or_default(),
                Fmt::Num(d) => format!("{:.d$}", x.as_f64().unwrap_or(0.0)),
                Fmt::NsAsUs => format!("{:.1}", x.as_f64().unwrap_or(0.0) / 1e3),
            };
            cell(&mut s, c, &text);
        }
        s.push('\n');
    }
    s
}

/// Exit status of pnfsctl when its standard output is a closed pipe (`pnfsctl ... | head
/// -1`): 128 + SIGPIPE, what a shell reports for `ip`, which SIGPIPE kills there.
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// The one way pnfsctl writes its standard output: all of `bytes`, flushed. A reader
/// that went away (EPIPE) ends the program at once, quietly, with `EXIT_BROKEN_PIPE`, as
/// `ip` ends by SIGPIPE (Rust ignores SIGPIPE, and `print!` would panic); any other
/// write error (a full disk) ends it with a message and exit 2.
pub fn out(bytes: &[u8]) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(bytes).and_then(|()| o.flush()) {
        stdout_failed(&e);
    }
}

/// `out` of a line: `s` and a newline.
pub fn out_line(s: &str) {
    let mut b = Vec::with_capacity(s.len() + 1);
    b.extend_from_slice(s.as_bytes());
    b.push(b'\n');
    out(&b);
}

/// End pnfsctl after a failed write of its standard output (see `out`).
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_BROKEN_PIPE.into());
    }
    say(&format!("pnfsctl: standard output: {e}"));
    std::process::exit(2);
}

/// A line on standard error; a closed stderr is ignored (`eprintln!` would panic).
pub fn say(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{s}");
}

/// Attributes of a message as a JSON object, named and typed by the family's policy.
/// Unknown attributes (a newer kernel) are kept as `attr-N` with hex payloads.
pub fn attrs_to_json(attrs: &[u8], policy: &'static Policy) -> Value {
    let mut obj = Map::new();
    for a in AttrIter::new(attrs) {
        let Ok(a) = a else { break };
        let (name, v, multi) = match policy.get(a.kind) {
            Some(p) => {
                let v = match p.kind {
                    AttrKind::U8 => num(a.u8() as u64, p.enum_name),
                    AttrKind::U16 => num(a.u16() as u64, p.enum_name),
                    AttrKind::U32 => num(a.u32() as u64, p.enum_name),
                    AttrKind::U64 => num(a.u64(), p.enum_name),
                    AttrKind::S32 => Value::from(a.i32()),
                    AttrKind::S64 => Value::from(a.u64() as i64),
                    AttrKind::String => Value::from(a.str()),
                    AttrKind::Binary if p.name == "hist" => hist(a.payload),
                    AttrKind::Binary => Value::from(hex(a.payload)),
                    AttrKind::Flag => Value::Bool(true),
                    AttrKind::Nest => match p.nested {
                        Some(np) => attrs_to_json(a.payload, np),
                        None => Value::from(hex(a.payload)),
                    },
                    AttrKind::Pad => continue,
                    AttrKind::Unused => Value::from(hex(a.payload)),
                };
                (p.name.to_string(), v, p.multi)
            }
            None => (
                format!("attr-{}", a.kind),
                Value::from(hex(a.payload)),
                false,
            ),
        };
        if multi {
            match obj.entry(name).or_insert_with(|| Value::Array(vec![])) {
                Value::Array(v2) => v2.push(v),
                _ => unreachable!(),
            }
        } else {
            obj.insert(name, v);
        }
    }
    Value::Object(obj)
}

/// A kind-stats `hist` (pairs of native-endian u64) as `[[lower_ns, count], ...]`;
/// hex if it is not whole pairs.
fn hist(b: &[u8]) -> Value {
    if !b.len().is_multiple_of(16) {
        return Value::from(hex(b));
    }
    b.chunks_exact(16)
        .map(|p| {
            let w = |i: usize| u64::from_ne_bytes(p[i..i + 8].try_into().unwrap());
            Value::from(vec![w(0), w(8)])
        })
        .collect()
}

fn num(v: u64, enum_name: Option<fn(u64) -> Option<&'static str>>) -> Value {
    match enum_name.and_then(|f| f(v)) {
        Some(n) => Value::from(n),
        None => Value::from(v),
    }
}

pub use pnfs_controld::hex;

/// `ip`-style text: `key value key value`, nested objects and lists of objects on
/// indented lines below.
pub fn text(v: &Value) -> String {
    let mut out = String::new();
    text_into(&mut out, v, 0);
    out
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.is_empty() => Some("-".into()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("-".into()),
        Value::Array(a) if a.is_empty() => Some("(none)".into()),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            Some(a.iter().filter_map(scalar).collect::<Vec<_>>().join(","))
        }
        // Rows of scalars (a histogram's [lower_ns, count] pairs): "a:b,c:d".
        Value::Array(a)
            if a.iter().all(|x| {
                x.as_array()
                    .is_some_and(|r| r.iter().all(|y| !y.is_object() && !y.is_array()))
            }) =>
        {
            Some(
                a.iter()
                    .filter_map(|r| r.as_array())
                    .map(|r| r.iter().filter_map(scalar).collect::<Vec<_>>().join(":"))
                    .collect::<Vec<_>>()
                    .join(","),
            )
        }
        _ => None,
    }
}

fn text_into(out: &mut String, v: &Value, depth: usize) {
    let pad = "    ".repeat(depth);
    match v {
        Value::Array(items) => {
            for i in items {
                text_into(out, i, depth);
            }
        }
        Value::Object(m) => {
            let mut line = Vec::new();
            let mut below = Vec::new();
            for (k, x) in m {
                match scalar(x) {
                    Some(s) => line.push(format!("{k} {s}")),
                    None => below.push((k, x)),
                }
            }
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(&line.join(" "));
                out.push('\n');
            }
            for (k, x) in below {
                out.push_str(&pad);
                out.push_str("  ");
                out.push_str(k);
                out.push_str(":\n");
                text_into(out, x, depth + 1);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other).unwrap_or_default());
            out.push('\n');
        }
    }
}
