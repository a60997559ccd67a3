//! The differential run's driver: step sequences (the stateful fuzz target's input
//! format, `fuzz/fuzz_targets/daemon.rs`) replayed through `daemon::harness` of the tree
//! this is built in; prints one line per input with a digest of everything the run sent
//! (`Harness::transcript`: REPLY and other messages to the kernel half, cluster messages,
//! downcalls, durable snapshots, then status, counters and the debug ring).
//!
//!   pnfs-differential run DIR...      one line per input: name, digest, steps
//!   pnfs-differential show FILE       the whole transcript of one input
//!   pnfs-differential gen DIR N SEED  (feature `gen`) write N generated sequences

use pnfs_controld::daemon::harness::{steps, Harness};
use std::path::{Path, PathBuf};

/// Longer than the fuzz target's 64: generated sequences go deeper; every seed of the
/// corpus is shorter than both.
const MAX_STEPS: usize = 512;

/// Run one input, read as the fuzz target reads it (`harness::steps`); the transcript and the
/// number of steps run.
fn replay(data: &[u8], dir: &Path) -> (String, usize) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("scratch dir");
    let mut h = Harness::recording(dir);
    let mut n = 0;
    for step in steps(data).take(MAX_STEPS) {
        h.step(step);
        n += 1;
    }
    let t = ignore_keys(&h.transcript());
    let _ = std::fs::remove_dir_all(dir);
    (t, n)
}

/// The transcript without the status and stats keys named in `DIFF_IGNORE` (comma
/// separated): fields a later commit added on purpose, when comparing with a baseline
/// from before them.
fn ignore_keys(t: &str) -> String {
    let Ok(keys) = std::env::var("DIFF_IGNORE") else {
        return t.to_string();
    };
    let keys: Vec<&str> = keys.split(',').filter(|k| !k.is_empty()).collect();
    let mut out = String::with_capacity(t.len());
    for line in t.lines() {
        match line.split_once(' ') {
            Some((kind @ ("status" | "stats"), json)) => {
                let mut v: serde_json::Value = serde_json::from_str(json).expect("status JSON");
                if let Some(m) = v.as_object_mut() {
                    for k in &keys {
                        m.shift_remove(*k);
                    }
                }
                out.push_str(&format!("{kind} {v}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// FNV-1a, 64 bits: the same on every build.
fn digest(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn inputs(dirs: &[String]) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in dirs {
        let p = Path::new(d);
        if p.is_file() {
            v.push(p.to_path_buf());
            continue;
        }
        for e in std::fs::read_dir(p).unwrap_or_else(|e| panic!("{d}: {e}")) {
            v.push(e.expect("dir entry").path());
        }
    }
    v.sort();
    v
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scratch = std::env::temp_dir().join(format!("pnfs-differential-{}", std::process::id()));
    match args.first().map(String::as_str) {
        Some("run") => {
            use std::io::Write;
            let out = std::io::stdout();
            let mut out = out.lock();
            for f in inputs(&args[1..]) {
                let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                let (t, n) = replay(&data, &scratch);
                writeln!(out, "{} {:016x} {n}", f.display(), digest(&t)).expect("stdout");
            }
        }
        Some("show") if args.len() == 2 => {
            let data = std::fs::read(&args[1]).unwrap_or_else(|e| panic!("{}: {e}", args[1]));
            print!("{}", replay(&data, &scratch).0);
        }
        #[cfg(feature = "gen")]
        Some("gen") if args.len() == 4 => {
            let dir = Path::new(&args[1]);
            let n: u64 = args[2].parse().expect("N");
            let seed: u64 = args[3].parse().expect("SEED");
            std::fs::create_dir_all(dir).expect("output dir");
            for i in 0..n {
                let b = gen::sequence(seed.wrapping_mul(1_000_003).wrapping_add(i));
                std::fs::write(dir.join(format!("gen-{i:05}")), b).expect("write");
            }
        }
        _ => {
            eprintln!("usage: pnfs-differential run DIR... | show FILE | gen DIR N SEED");
            std::process::exit(2);
        }
    }
}

/// Sequences that reach deep states: a cluster of nodes 1..=4 forming and changing,
/// every cluster message kind with fields drawn from small pools (so that answers meet
/// their questions and acks their invalidations), every upcall kind of both families,
/// completions and ticks, and now and then a non-member's message, a malformed one or
/// a lost quorum.
#[cfg(feature = "gen")]
mod gen {
    use pnfs_controld::kernel::device_id;
    use pnfs_controld::wire::{DsAddr, GraceSnap, Msg, PROTO_MIN_VERSION, PROTO_VERSION};
    use std::collections::BTreeMap;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pct(&mut self, p: u64) -> bool {
            self.below(100) < p
        }
        fn pick<T: Copy>(&mut self, v: &[T]) -> T {
            v[self.below(v.len() as u64) as usize]
        }
    }

    const PNFSD: u16 = 0x20;
    const GFS2: u16 = 0x21;
    const TABLES: [&str; 2] = ["c:fs0", "c:fs1"];

    /// One of four stateids (seqid 1 or 2).
    fn stateid(r: &mut Rng) -> [u8; 16] {
        let mut s = [0u8; 16];
        s[3] = 1 + r.below(2) as u8;
        s[4] = 0xa0 + r.below(4) as u8;
        s
    }

    /// An id as node 1's daemon makes them (qids, iids, reqs): node << 40 | counter.
    fn our_id(r: &mut Rng) -> u64 {
        (1u64 << 40) | (2 + r.below(40))
    }

    fn nl(out: &mut Vec<u8>, family: u16, cmd: u8, xid: u32, attrs: &[(u16, Vec<u8>)]) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&family.to_ne_bytes());
        out.extend_from_slice(&1u16.to_ne_bytes()); // NLM_F_REQUEST
        out.extend_from_slice(&xid.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&[cmd, 1, 0, 0]);
        for (kind, v) in attrs {
            out.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            out.extend_from_slice(&kind.to_ne_bytes());
            out.extend_from_slice(v);
            while out.len() % 4 != 0 {
                out.push(0);
            }
        }
        let len = (out.len() - start) as u32;
        out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    fn u32a(k: u16, v: u32) -> (u16, Vec<u8>) {
        (k, v.to_ne_bytes().to_vec())
    }
    fn u64a(k: u16, v: u64) -> (u16, Vec<u8>) {
        (k, v.to_ne_bytes().to_vec())
    }
    fn str_a(k: u16, s: &str) -> (u16, Vec<u8>) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        (k, v)
    }

    /// A datagram of one to three upcalls from the kernel half.
    fn upcalls(r: &mut Rng, members: u8) -> Vec<u8> {
        let mut b = Vec::new();
        for _ in 0..1 + r.below(3) * u64::from(r.pct(30)) {
            let xid = 1 + r.below(1000) as u32;
            let (fsid, fileid) = (1 + r.below(2), 1 + r.below(3));
            let clientid = 0x10 + r.below(2);
            match r.below(12) {
                0..=3 => nl(
                    &mut b,
                    PNFSD,
                    4, // GET_STATE
                    xid,
                    &[
                        u32a(1, xid),
                        u32a(6, 1 + r.below(2) as u32),
                        u64a(7, r.below(4)),
                        u64a(8, fsid),
                        u64a(9, fileid),
                        (10, stateid(r).to_vec()),
                        u64a(11, clientid),
                    ],
                ),
                4 => {
                    let node = 1 + r.below(4) as u32;
                    let id = if r.pct(90) {
                        device_id(node)
                    } else {
                        [0x55; 16]
                    };
                    let _ = members;
                    nl(&mut b, PNFSD, 5, xid, &[u32a(1, xid), (15, id.to_vec())])
                }
                5 | 6 => nl(
                    &mut b,
                    PNFSD,
                    6, // LAYOUT_GET
                    xid,
                    &[
                        u32a(1, xid),
                        u64a(8, fsid),
                        u64a(9, fileid),
                        (10, stateid(r).to_vec()),
                        u64a(11, clientid),
                        u32a(17, 1 + r.below(2) as u32),
                        u64a(18, r.pick(&[0, 4096, 1 << 20])),
                        u64a(19, r.pick(&[4096, 65536, u64::MAX])),
                    ],
                ),
                7 => {
                    // LAYOUT_RETURN, LAYOUT_COMMIT
                    let commit = r.pct(50);
                    let mut attrs = vec![
                        u32a(1, xid),
                        u64a(8, fsid),
                        u64a(9, fileid),
                        (10, stateid(r).to_vec()),
                        u64a(11, clientid),
                    ];
                    if commit {
                        attrs.push(u64a(21, 4096));
                    } else {
                        attrs.push(u64a(18, 0));
                        attrs.push(u64a(19, u64::MAX));
                    }
                    nl(&mut b, PNFSD, if commit { 8 } else { 7 }, xid, &attrs)
                }
                8 => nl(
                    &mut b,
                    PNFSD,
                    9, // STATE_CHANGED
                    xid,
                    &[
                        u32a(1, xid),
                        u64a(8, fsid),
                        u64a(9, fileid),
                        (10, stateid(r).to_vec()),
                        u64a(11, clientid),
                        u32a(13, r.below(3) as u32),
                        u32a(22, 1 + r.below(2) as u32),
                    ],
                ),
                9 | 10 => {
                    let table = r.pick(&TABLES);
                    let cmd = r.pick(&[4u8, 4, 6, 5, 7, 8]);
                    let mut attrs = vec![u32a(1, xid), str_a(5, table)];
                    match cmd {
                        4 => {
                            attrs.push(str_a(7, "/dev/vdb"));
                            attrs.push(u32a(8, u32::from(r.pct(20)))); // spectator
                        }
                        5 => {
                            attrs.push(u32a(9, r.below(3) as u32));
                            attrs.push(u32a(2, 0));
                        }
                        7 => attrs.push(u32a(9, r.below(3) as u32)),
                        8 => {
                            attrs.push(u32a(9, r.below(3) as u32));
                            attrs.push(u32a(11, r.below(2) as u32));
                        }
                        _ => {}
                    }
                    nl(&mut b, GFS2, cmd, xid, &attrs)
                }
                _ => {
                    // Malformed: a cut message, an unknown command, or one without its
                    // attributes.
                    let mut m = Vec::new();
                    nl(&mut m, PNFSD, 4, xid, &[u32a(1, xid), u64a(8, fsid)]);
                    match r.below(3) {
                        0 => m.truncate(m.len() - 3),
                        1 => m[16] = 99,
                        _ => {}
                    }
                    b.extend_from_slice(&m);
                }
            }
        }
        b
    }

    fn message(r: &mut Rng, from: u32) -> Vec<u8> {
        let (fsid, fileid) = (1 + r.below(2), 1 + r.below(3));
        let clientid = 0x10 + r.below(2);
        let table = r.pick(&TABLES).to_string();
        let m = match r.below(16) {
            0 | 1 => Msg::Hello {
                min_version: PROTO_MIN_VERSION,
                max_version: if r.pct(5) {
                    PROTO_MIN_VERSION.saturating_sub(1)
                } else {
                    PROTO_VERSION
                },
                node: if r.pct(95) { from } else { from % 4 + 1 },
                priority: r.pick(&[0, 0, 1, 5]),
                epoch: r.below(6),
                incarnation: 1 + r.below(2),
                addrs: (0..r.below(2))
                    .map(|_| DsAddr {
                        netid: "tcp".into(),
                        uaddr: format!("10.0.0.{from}.8.1"),
                    })
                    .collect(),
            },
            2 => Msg::MdsEpoch {
                node: from,
                epoch: 1 + r.below(8),
            },
            3 => Msg::StateQuery {
                qid: ((from as u64) << 40) | r.below(20),
                from,
                fsid,
                fileid,
                stateid: stateid(r),
                clientid,
            },
            4 | 5 => Msg::StateAnswer {
                qid: our_id(r),
                to: if r.pct(85) { 1 } else { from },
                fsid,
                fileid,
                stateid: stateid(r),
                clientid,
                status: r.pick(&[0, 0, 0, 10024, 10008, 10025]),
                access: 1 + r.below(3) as u32,
                generation: r.below(3) as u32,
                verifier: r.below(4),
                epoch: r.below(5),
            },
            6 => Msg::Invalidate {
                iid: ((from as u64) << 40) | r.below(20),
                origin: from,
                clientid,
                fsid,
                fileid,
                other: r.pct(70).then(|| stateid(r)[4..].try_into().unwrap()),
            },
            7 => Msg::InvalidateAck {
                iid: our_id(r),
                origin: 1,
                node: from,
            },
            8 => Msg::Mount {
                req: ((from as u64) << 40) | r.below(20),
                node: from,
                table,
                spectator: r.pct(10),
            },
            9 => Msg::Unmount {
                req: ((from as u64) << 40) | r.below(20),
                node: from,
                table,
            },
            10 => Msg::Withdraw {
                node: from,
                table,
                jid: r.below(3) as u32,
            },
            11 => Msg::RecoveryDone {
                node: from,
                table,
                jid: r.below(3) as u32,
                status: r.below(2) as u32,
            },
            12 => Msg::Journals {
                node: from,
                journals: BTreeMap::from([(
                    table,
                    (1..=1 + r.below(3) as u32)
                        .map(|n| (n, n - 1))
                        .collect::<BTreeMap<u32, u32>>(),
                )]),
                grace: GraceSnap {
                    current: r.below(3),
                    recovery: r.below(2),
                    nodes: BTreeMap::from([(from, r.below(4) as u8)]),
                    epochs: BTreeMap::new(),
                    // (`owners` since the records keep who recorded them; a baseline
                    // tree may not have the field)
                    ..GraceSnap::default()
                },
            },
            13 => Msg::Grace {
                node: from,
                req: ((from as u64) << 40) | r.below(20),
                op: 1 + r.below(4) as u8,
            },
            14 => Msg::Client {
                node: from,
                req: ((from as u64) << 40) | r.below(20),
                create: r.pct(70),
                name: format!("{:02x}", r.below(4)),
                princhash: String::new(),
            },
            _ => Msg::FsRecovery {
                node: from,
                table,
                jid: r.below(3) as u32,
                result: r.pick(&["Done", "Failed"]).to_string(),
            },
        };
        let mut b = Vec::new();
        m.encode(&mut b);
        if r.pct(2) {
            b.truncate(b.len() / 2);
        }
        b
    }

    fn chunk(out: &mut Vec<u8>, b: &[u8]) {
        let b = &b[..b.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(b.len() as u16).to_le_bytes());
        out.extend_from_slice(b);
    }

    pub fn sequence(seed: u64) -> Vec<u8> {
        // splitmix64 of the seed: neighbouring seeds give unrelated sequences.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let mut r = Rng((z ^ (z >> 31)) | 1);
        let mut out = Vec::new();
        let mut members: u8 = 1 | (r.below(8) as u8) << 1;
        let mut quorate = true;
        // The cluster forms: our own membership, the others', their Hellos.
        out.extend_from_slice(&[5, 4, members, members & !1, 0, 5]);
        for n in 2..=4u32 {
            if members & (1 << (n - 1)) != 0 {
                out.extend_from_slice(&[3, (n - 1) as u8]);
                let mut h = Vec::new();
                Msg::Hello {
                    min_version: PROTO_MIN_VERSION,
                    max_version: PROTO_VERSION,
                    node: n,
                    priority: r.pick(&[0, 0, 1]),
                    epoch: r.below(3),
                    incarnation: 1,
                    addrs: vec![],
                }
                .encode(&mut h);
                chunk(&mut out, &h);
            }
        }
        out.extend_from_slice(&[5, 6, 0, 0, 0, 0, 5, 0x87]);
        let steps = 40 + r.below(200);
        for _ in 0..steps {
            match r.below(100) {
                0..=17 => out.push(5),
                18..=42 => {
                    out.push(0);
                    let b = upcalls(&mut r, members);
                    chunk(&mut out, &b);
                }
                43..=64 => {
                    let others: Vec<u32> = (2..=4)
                        .filter(|n| members & (1 << (n - 1)) != 0 || r.pct(3))
                        .collect();
                    let from = if others.is_empty() || r.pct(4) {
                        1 + r.below(4) as u32
                    } else {
                        r.pick(&others)
                    };
                    out.extend_from_slice(&[3, (from - 1) as u8]);
                    let b = message(&mut r, from);
                    chunk(&mut out, &b);
                }
                65..=71 => {
                    let new = 1 | (r.below(8) as u8) << 1;
                    let q = if r.pct(15) {
                        !quorate
                    } else {
                        quorate || r.pct(50)
                    };
                    out.extend_from_slice(&[
                        if q { 4 } else { 0x84 },
                        new,
                        new & !members,
                        members & !new,
                    ]);
                    members = new;
                    quorate = q;
                }
                72..=83 => {
                    out.push(if r.pct(85) { 6 } else { 0x86 });
                    let v = r.pick(&[0u32, 0, 0x10, 0x101, 0x1_0000, 3, 7]);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                84..=91 => out.push(if r.pct(85) { 0x87 } else { 0xc7 }),
                _ => out.push(7),
            }
        }
        out
    }
}
