//! `cargo run -p ynl-gen` regenerates every output from `netlink/specs/*.yaml`;
//! `cargo run -p ynl-gen -- --check` fails if any checked-in output is stale.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

fn main() -> Result<()> {
    let check = std::env::args().any(|a| a == "--check");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut stale = Vec::new();
    for rel in ynl_gen::SPECS {
        let spec = ynl_gen::YnlSpec::load(&root.join(rel))?;
        for (path, text) in ynl_gen::generate(&spec, rel)? {
            let full = root.join(&path);
            let old = std::fs::read_to_string(&full).unwrap_or_default();
            if old == text {
                continue;
            }
            if check {
                stale.push(path);
            } else {
                std::fs::create_dir_all(full.parent().unwrap())?;
                std::fs::write(&full, text).with_context(|| format!("writing {path}"))?;
                println!("wrote {path}");
            }
        }
    }
    if !stale.is_empty() {
        bail!(
            "stale generated files (run `cargo run -p ynl-gen`): {}",
            stale.join(", ")
        );
    }
    Ok(())
}
