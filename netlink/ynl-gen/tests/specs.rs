//! The specs load under the schema model, and every checked-in output is what the
//! generator makes of them now.

use std::collections::BTreeSet;
use std::path::PathBuf;
use ynl_gen::spec::{Direction, Spec};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn specs() -> Vec<(&'static str, Spec)> {
    ynl_gen::SPECS
        .iter()
        .map(|rel| (*rel, Spec::load(&root().join(rel)).unwrap()))
        .collect()
}

#[test]
fn checked_in_outputs_are_fresh() {
    for (rel, spec) in specs() {
        for (path, text) in ynl_gen::generate(&spec, rel).unwrap() {
            let old = std::fs::read_to_string(root().join(&path))
                .unwrap_or_else(|e| panic!("{path}: {e}; run `cargo run -p ynl-gen`"));
            assert!(old == text, "{path} is stale: run `cargo run -p ynl-gen`");
        }
    }
}

#[test]
fn schema_model_rejects_what_the_kernel_schema_rejects() {
    let base = "name: x\ndoc: d\nattribute-sets: [{name: x, attributes: [{name: a, type: u32}]}]\noperations: {list: [{name: o, doc: 'Downcall: d', attribute-set: x, do: {request: {attributes: [a]}}}]}\n";
    Spec::parse(base).unwrap();
    let cases = [
        (
            base.replace("type: u32", "type: u33"),
            "unknown attribute type",
        ),
        (
            base.replace("doc: d\n", "doc: d\nbogus: 1\n"),
            "unknown top-level key",
        ),
        (
            base.replace("attributes: [a]", "attributes: [b]"),
            "op names missing attr",
        ),
        (
            base.replace("do: {", "flags: [root], do: {"),
            "unknown op flag",
        ),
        (
            base.replace("name: o, doc: 'Downcall: d',", "name: o,"),
            "op without doc",
        ),
        (
            base.replace(
                "{name: a, type: u32}",
                "{name: a, type: u32}, {name: a, type: u8}",
            ),
            "duplicate attr",
        ),
        (
            base.replace("type: u32}", "type: nest}"),
            "nest without set",
        ),
        (
            base.replace("type: u32}", "type: binary, checks: {exact-len: nope}}"),
            "unknown const",
        ),
        (
            base.replace("do: {", "dont-validate: [strict], do: {"),
            "dont-validate (the kernel refuses the family at insmod)",
        ),
    ];
    for (text, what) in cases {
        assert!(Spec::parse(&text).is_err(), "{what} was accepted");
    }
}

/// What the kernel's ynl-gen-c (6.12) cannot make code of is refused when the spec loads,
/// not found later by `tests/ynl/run.sh`.
#[test]
fn refuses_what_the_kernel_generator_cannot_generate() {
    let base = "name: x\ndoc: d\ndefinitions: [{type: enum, name: e, entries: [p, q]}, {type: const, name: n, value: 4}]\nattribute-sets: [{name: x, attributes: [{name: xid, type: u32}, {name: a, type: u32, enum: e}, {name: b, type: binary}]}]\noperations: {list: [{name: reply, doc: 'Downcall: d', attribute-set: x, flags: [admin-perm], do: {request: {attributes: [xid, a]}}}, {name: up, doc: 'Upcall: u', attribute-set: x, do: {request: {attributes: [xid, b]}, reply: {attributes: [xid]}}}]}\n";
    Spec::parse(base).unwrap();
    let cases = [
        (
            base.replace("attributes: [xid, a]", "attributes: []"),
            "an empty request list (the kernel generator crashes on it)",
            "empty request list",
        ),
        (
            base.replace("entries: [p, q]", "entries: [p, {name: q, value: 7}]"),
            "enum: on a sparse enum (\"noncontiguous enum\")",
            "sparse",
        ),
        (
            base.replace("type: binary}", "type: binary, checks: {max-len: 8}}"),
            "binary max-len (TypeBinary has no policy for it)",
            "binary checks",
        ),
        (
            base.replace("enum: e}", "checks: {max: n}}"),
            "min/max naming a constant (len-or-limit)",
            "neither an integer nor a limit",
        ),
        (
            base.replace("doc: 'Upcall: u'", "doc: 'Downcall: u'"),
            "an upcall documented as a downcall",
            "must start with \"Upcall:\"",
        ),
        (
            base.replace("doc: 'Downcall: d'", "doc: 'Upcall: d'"),
            "a downcall documented as an upcall",
            "must start with \"Downcall:\"",
        ),
        (
            base.replace(
                "reply: {attributes: [xid]}",
                "reply: {attributes: [xid, b]}",
            ),
            "an upcall answer the reply op cannot carry",
            "reply op's request does not",
        ),
        (
            base.replace(
                "do: {request: {attributes: [xid, a]}}",
                "do: {request: {attributes: [xid, a]}}, dump: {request: {attributes: [a]}}",
            ),
            "do and dump requests (one policy per genl_ops on 6.1)",
            "do and dump both",
        ),
    ];
    for (text, what, why) in cases {
        match Spec::parse(&text) {
            Ok(_) => panic!("{what} was accepted"),
            Err(e) => {
                let e = format!("{e:#}");
                assert!(e.contains(why), "{what}: refused for another reason: {e}");
            }
        }
    }
}

/// The direction of every op follows from its shape and its doc says it; the upcall
/// ops are exactly the kinds of the family's `upcall-kind` enum (its statistics keys).
#[test]
fn upcalls_are_the_upcall_kinds() {
    for (rel, spec) in specs() {
        let kinds = spec.definition("upcall-kind").expect("upcall-kind");
        let kinds: BTreeSet<String> = spec
            .raw_values(kinds)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let upcalls: BTreeSet<String> = spec
            .operations
            .list
            .iter()
            .filter(|o| o.direction() == Direction::Upcall)
            .map(|o| o.name.clone())
            .collect();
        assert_eq!(kinds, upcalls, "{rel}: upcall ops vs upcall-kind");
        for op in &spec.operations.list {
            assert!(
                op.doc.starts_with(op.direction().doc_prefix()),
                "{rel}: {}",
                op.name
            );
        }
    }
}

/// Each display-only enum link is still needed: the attribute has no `enum:` and the
/// enum is sparse (else the spec should say `enum:`).
#[test]
fn display_enums_still_apply() {
    let specs = specs();
    for (fam, set, attr, e) in ynl_gen::DISPLAY_ENUMS {
        let (_, spec) = specs
            .iter()
            .find(|(_, s)| s.name == *fam)
            .unwrap_or_else(|| panic!("no family {fam}"));
        let a = spec
            .set(set)
            .and_then(|s| s.attributes.iter().find(|a| a.name == *attr))
            .unwrap_or_else(|| panic!("no attribute {fam}/{set}/{attr}"));
        assert!(
            a.enum_name.is_none(),
            "{attr} says enum: now; drop the entry"
        );
        let d = spec.definition(e).expect("enum");
        assert!(
            spec.value_range(d).unwrap().is_none(),
            "{e} is contiguous: tie {attr} to it with enum:"
        );
    }
}

/// In the generated C, each op the kernel half serves has a policy holding exactly its
/// request attributes, and `.maxattr` is the highest of them (what the kernel's
/// generator emits); ops without request attributes get the reject-all policy.
#[test]
fn c_ops_have_their_own_request_policy() {
    for (rel, spec) in specs() {
        let (_, c) = ynl_gen::gen_c_nl(&spec, rel).unwrap();
        let fam = spec.name.replace('-', "_");
        let up = fam.to_uppercase();
        let ids = spec.attr_ids(spec.main_set().unwrap());
        for op in &spec.operations.list {
            let n = op.name.replace('-', "_");
            let entry = format!(".cmd\t\t= {up}_CMD_{},", n.to_uppercase());
            if op.direction() != Direction::Downcall {
                assert!(!c.contains(&entry), "{rel}: {} in the ops table", op.name);
                continue;
            }
            let at = c
                .find(&entry)
                .unwrap_or_else(|| panic!("{rel}: {}", op.name));
            let block = &c[at..at + c[at..].find("},").unwrap()];
            let Some(req) = op.request() else {
                assert!(block.contains(&format!("{fam}_reject_all_nl_policy")));
                assert!(block.contains(".maxattr\t= 1,"));
                continue;
            };
            let name = format!("{fam}_{n}_nl_policy");
            assert!(block.contains(&format!(".policy\t\t= {name},")), "{block}");
            let (max_id, max) = req
                .attributes
                .iter()
                .map(|a| ids.iter().find(|(_, x)| &x.name == a).unwrap())
                .max_by_key(|(i, _)| *i)
                .unwrap();
            let max = format!("{up}_A_{}", max.name.replace('-', "_").to_uppercase());
            assert!(block.contains(&format!(".maxattr\t= {max},")), "{block}");
            let start = c
                .find(&format!("{name}[{max} + 1] = {{"))
                .unwrap_or_else(|| panic!("{rel}: no {name}"));
            let body = &c[start..start + c[start..].find("};").unwrap()];
            let listed: BTreeSet<String> = body
                .lines()
                .filter_map(|l| l.trim().strip_prefix(&format!("[{up}_A_")))
                .map(|l| l[..l.find(']').unwrap()].to_lowercase().replace('_', "-"))
                .collect();
            let want: BTreeSet<String> = req
                .attributes
                .iter()
                .filter(|a| {
                    let t = ids.iter().find(|(_, x)| &x.name == *a).unwrap().1.kind;
                    t != Some(ynl_gen::spec::AttrType::Pad)
                })
                .cloned()
                .collect();
            assert_eq!(listed, want, "{rel}: {} (max id {max_id})", op.name);
        }
    }
}

/// The body of C function `name` (from its opening line to the `}` closing it) in the
/// module's sources.
fn c_function(name: &str) -> Option<String> {
    let dir = root().join("kmod-shim/module");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "c") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let mut at = 0;
        while let Some(i) = text[at..].find(&format!("{name}(")) {
            let start = at + i;
            at = start + 1;
            let line_start = text[..start].rfind('\n').map_or(0, |n| n + 1);
            let line = &text[line_start..];
            // A definition: the name on a line that starts at column 0 (after its type)
            // and no `;` before the body's `{`.
            if line.starts_with(['\t', ' ']) {
                continue;
            }
            let rest = &text[start..];
            let (Some(brace), semi) = (rest.find("\n{"), rest.find(';')) else {
                continue;
            };
            if semi.is_some_and(|s| s < brace) {
                continue;
            }
            let end = rest.find("\n}\n")?;
            return Some(rest[..end].to_string());
        }
    }
    None
}

/// The attributes a module handler checks unconditionally: `PNFS_SHIM_REQ_ATTR(..,
/// "name")` in the function's top-level `if` (one tab in, or its continuation lines),
/// following a handler that only calls a helper (`return helper(...)`) into it.
fn c_required(body: &str, depth: usize) -> Vec<String> {
    let mut out = vec![];
    for l in body.lines() {
        let top = l.starts_with("\tif (PNFS_SHIM_REQ_ATTR(")
            || l.starts_with("\t    PNFS_SHIM_REQ_ATTR(");
        if !top {
            continue;
        }
        let q = l.find('"').unwrap();
        let name = &l[q + 1..q + 1 + l[q + 1..].find('"').unwrap()];
        out.push(name.to_string());
    }
    if out.is_empty() && depth < 2 {
        for l in body.lines() {
            if let Some(call) = l.trim().strip_prefix("return ") {
                if let Some(p) = call.find('(') {
                    let f = &call[..p];
                    if f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        if let Some(b) = c_function(f) {
                            out.extend(c_required(&b, depth + 1));
                        }
                    }
                }
            }
        }
    }
    out
}

/// ynl-gen's REQUIRED for the downcalls' requests is what the module's `*_doit` checks
/// with PNFS_SHIM_REQ_ATTR before anything else, in the same order; and every entry
/// names attributes of its op's list.
#[test]
fn required_request_attributes_are_what_the_module_checks() {
    use ynl_gen::ops::{required, Msg};
    let mut checked = 0;
    for (rel, spec) in specs() {
        ynl_gen::ops::check_required(&spec).unwrap();
        let fam = spec.name.replace('-', "_");
        for op in &spec.operations.list {
            if op.direction() != Direction::Downcall || op.do_.is_none() {
                continue;
            }
            let f = format!("{fam}_nl_{}_doit", op.name.replace('-', "_"));
            let body = c_function(&f).unwrap_or_else(|| panic!("{rel}: no {f} in the module"));
            let want: Vec<&str> = required(&spec.name, &op.name, Msg::Request).to_vec();
            assert_eq!(c_required(&body, 0), want, "{rel}: {}", op.name);
            checked += want.len();
        }
    }
    // The reading of the C found them (pnfsd's and gfs2ctl's, REPLY's through its helper).
    assert!(checked >= 20, "{checked}");
}
