//! Any bytes as the attributes of a CTRL_CMD_NEWFAMILY answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pnfs_netlink::FamilyInfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = FamilyInfo::parse(data) {
        let _ = f.group("events");
    }
});
