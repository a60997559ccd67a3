//! One print path: every answer is first a JSON value, then printed as JSON (`-j`),
//! pretty JSON (`-p`) or `ip`-style text.

use pnfs_netlink::codec::AttrIter;
use pnfs_netlink::policy::{AttrKind, Policy};
use serde_json::{Map, Value};
use std::io::Write;

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
