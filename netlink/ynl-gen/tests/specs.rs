//! The specs load under the schema model, and every checked-in output is what the
//! generator makes of them now.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn checked_in_outputs_are_fresh() {
    for rel in ynl_gen::SPECS {
        let spec = ynl_gen::YnlSpec::load(&root().join(rel)).unwrap();
        for (path, text) in ynl_gen::generate(&spec, rel).unwrap() {
            let old = std::fs::read_to_string(root().join(&path))
                .unwrap_or_else(|e| panic!("{path}: {e}; run `cargo run -p ynl-gen`"));
            assert!(old == text, "{path} is stale: run `cargo run -p ynl-gen`");
        }
    }
}

#[test]
fn schema_model_rejects_what_the_kernel_schema_rejects() {
    let base = "name: x\ndoc: d\nattribute-sets: [{name: x, attributes: [{name: a, type: u32}]}]\noperations: {list: [{name: o, doc: d, attribute-set: x, do: {request: {attributes: [a]}}}]}\n";
    ynl_gen::YnlSpec::parse(base).unwrap();
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
            base.replace("name: o, doc: d,", "name: o,"),
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
        assert!(
            ynl_gen::YnlSpec::parse(&text).is_err(),
            "{what} was accepted"
        );
    }
}
