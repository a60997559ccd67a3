//! Any CPG message between daemons: decode must give a message or a typed error, never a
//! panic; a decoded message re-encodes to bytes that decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
// The daemon's wire module itself, compiled in here (it depends on std only), so the
// sanitizer build does not pull in the daemon's runtime.
#[allow(dead_code)]
#[path = "../../src/wire.rs"]
mod wire;
use wire::{Msg, MAX_MSG};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Msg::decode(data) else { return };
    let mut buf = Vec::new();
    m.encode(&mut buf);
    assert!(buf.len() <= MAX_MSG.max(data.len()));
    assert_eq!(Msg::decode(&buf).as_ref(), Ok(&m), "re-encoded message differs");
});
