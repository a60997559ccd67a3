//! Any configuration file: parse gives a validated Config or an error with a message,
//! never a panic; an accepted Config passes validate() again.
#![no_main]

use libfuzzer_sys::fuzz_target;
// The daemon's config module itself, compiled in here: the fuzz build (sanitizers, nightly)
// then needs serde and toml only, not the daemon's runtime (tokio, clap, ...).
#[allow(dead_code)]
#[path = "../../src/config.rs"]
mod config;
use config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::parse(text) {
        Ok(c) => assert!(c.validate().is_ok()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
