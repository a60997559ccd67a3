//! Any bytes read from nfsd's cld pipe: parse gives a message or a reason, never a
//! panic; answers are exactly as long as the message and keep its xid; the client
//! records stay consistent under any sequence of the commands a message carries, from
//! any of three nodes (the xid says which; the other two serve out of grace).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pnfs_controld::cld::{self, cmd, ClientRecords, CldMsg};

fuzz_target!(|data: &[u8]| {
    let mut records = ClientRecords::default();
    // A message is 1034 or 1067 bytes: build them from the input's chunks too, so that
    // the fuzzer reaches the commands without having to find the sizes.
    for chunk in data.chunks(96) {
        let mut whole = chunk.to_vec();
        let v2 = chunk.first().is_some_and(|b| b & 1 == 1);
        whole.resize(if v2 { cld::V2_LEN } else { cld::V1_LEN }, 0);
        for b in [chunk, &whole[..]] {
            let Ok(m) = CldMsg::parse(b) else { continue };
            let r = cld::reply(&m, -5);
            let node = m.xid() % 3;
            let serving: Vec<u32> = (0..3).filter(|n| *n != node).collect();
            assert_eq!(r.len(), b.len());
            assert_eq!(CldMsg::parse_any(&r).xid(), m.xid());
            match m.cmd() {
                cmd::CREATE => {
                    if let (Ok(n), Ok(p)) = (m.name(), m.princhash()) {
                        records.apply(
                            Some(node),
                            true,
                            &pnfs_controld::hex(n),
                            &pnfs_controld::hex(p),
                        );
                    }
                }
                cmd::REMOVE => {
                    if let Ok(n) = m.name() {
                        records.remove(n);
                    }
                }
                cmd::GRACE_START => {
                    records.grace_start(node, &serving);
                    for (n, p) in records.reclaimable() {
                        let u = cld::reply_upload(&m, &n, &p);
                        let um = CldMsg::parse(&u).expect("an upload parses");
                        assert_eq!(um.name().unwrap(), &n[..]);
                    }
                }
                cmd::GRACE_DONE => records.grace_done(),
                _ => {}
            }
            assert!(records.current > records.recovery);
            assert!(records.epochs.len() <= 2);
            // every owner is the owner of a record some epoch holds
            assert!(records
                .owners
                .keys()
                .all(|n| records.epochs.values().any(|e| e.contains_key(n))));
        }
    }
    let _ = records.to_json();
});
