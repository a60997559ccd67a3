//! The daemon's handlers without its event loop, for the stateful fuzz target
//! (`fuzz/fuzz_targets/daemon.rs`): it feeds them random sequences of kernel datagrams,
//! cluster messages and membership changes, downcall and durable-write completions and
//! ticks, in any order. The parts are the production ones (a NETLINK_USERSOCK socket whose
//! replies go to a port nobody binds, the local engine whose own messages are delivered
//! back when the input says so, the store in a scratch directory); only the downcall
//! worker and the store writer are replaced by queues the input completes.

use super::*;
use crate::cluster::local::LocalEngine;
use crate::store::Durable;
use pnfs_netlink::client::FamilyInfo;
use pnfs_netlink::socket::SocketOptions;
use pnfs_netlink::Proto;

/// Family ids of the seed corpus (`netlink/tests/fixtures.rs`).
pub const PNFSD_ID: u16 = 0x20;
pub const GFS2CTL_ID: u16 = 0x21;

/// One step of a sequence.
#[derive(Debug)]
pub enum Step<'a> {
    /// A datagram from the kernel half.
    Datagram(&'a [u8]),
    /// A cluster message from node `from`.
    Cluster {
        from: NodeId,
        payload: &'a [u8],
    },
    /// A membership change (node sets as bit masks of nodes 1..=8).
    Membership {
        members: u8,
        joined: u8,
        left: u8,
        quorate: bool,
    },
    /// Our own multicasts come back from the engine, in order.
    Loopback,
    /// A kernel uevent (GFS2's or the DLM's), as the watcher passes it.
    Uevent(&'a [u8]),
    /// Every queued downcall completes: `ok` with an answer of its kind (`value`
    /// fills its fields), else with an error.
    Downcalls {
        ok: bool,
        value: u32,
    },
    /// The durable write in flight completes.
    Saved {
        ok: bool,
    },
    Tick,
}

/// The steps of a byte string, as the stateful fuzz target (`fuzz/fuzz_targets/daemon.rs`)
/// and the differential run (`tests/differential`) read their inputs: each step an op byte
/// then its operands; a chunk is a u16 LE length and that many bytes (fewer at the end).
/// Op % 8: 0..=2 a kernel datagram, 3 a cluster message (from node operand % 4 + 1), 4 a
/// membership change (members, joined, left; quorate unless op & 0x80), 5 our own
/// multicasts back, 6 the downcalls complete (ok unless op & 0x80; a u32 value), 7 a tick
/// (op & 0x80: the durable write completes instead, ok unless op & 0x40).
pub fn steps(data: &[u8]) -> Steps<'_> {
    Steps(data)
}

/// The iterator of `steps`.
pub struct Steps<'a>(&'a [u8]);

impl<'a> Steps<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u32(&mut self) -> u32 {
        let mut v = [0u8; 4];
        for b in &mut v {
            *b = self.u8().unwrap_or(0);
        }
        u32::from_le_bytes(v)
    }
    fn chunk(&mut self) -> &'a [u8] {
        let len = u16::from_le_bytes([self.u8().unwrap_or(0), self.u8().unwrap_or(0)]) as usize;
        let (c, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        c
    }
}

impl<'a> Iterator for Steps<'a> {
    type Item = Step<'a>;

    fn next(&mut self) -> Option<Step<'a>> {
        let op = self.u8()?;
        Some(match op % 8 {
            0..=2 => Step::Datagram(self.chunk()),
            3 => Step::Cluster {
                from: u32::from(self.u8().unwrap_or(0) % 4) + 1,
                payload: self.chunk(),
            },
            4 => Step::Membership {
                members: self.u8().unwrap_or(1),
                joined: self.u8().unwrap_or(0),
                left: self.u8().unwrap_or(0),
                quorate: op & 0x80 == 0,
            },
            5 => Step::Loopback,
            6 => Step::Downcalls {
                ok: op & 0x80 == 0,
                value: self.u32(),
            },
            _ if op & 0x80 == 0 => Step::Tick,
            _ => Step::Saved { ok: op & 0x40 == 0 },
        })
    }
}

pub struct Harness {
    d: Daemon,
    down_rx: mpsc::Receiver<(Tag, Down)>,
    save_rx: mpsc::Receiver<(u64, Durable)>,
    // Keeps the daemon's `saved_rx` open.
    _saved_tx: mpsc::Sender<(u64, Result<(), String>)>,
    rt: tokio::runtime::Runtime,
    /// What the steps sent, if recording (`Harness::recording`).
    rec: Option<Record>,
}

/// The outputs of a run, for the differential run (tests/differential): per step the
/// REPLY and other messages to the kernel half (the daemon's port zeroed: it differs
/// per process), the cluster messages sent, the downcalls completed and the durable
/// snapshots written. Within one step each kind is sorted: the order of answers
/// released together follows a HashMap's iteration, which is random per process.
struct Record {
    sent: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    lines: Vec<String>,
    step: Vec<String>,
}

/// The local engine, recording what is sent.
struct Tap {
    inner: LocalEngine,
    sent: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Cluster for Tap {
    fn node_id(&self) -> NodeId {
        self.inner.node_id()
    }
    fn send(&self, payload: &[u8]) -> Result<(), crate::cluster::ClusterError> {
        let r = self.inner.send(payload);
        let line = format!(
            "cluster {}{}",
            crate::hex(payload),
            if r.is_err() { " (failed)" } else { "" }
        );
        self.sent.lock().unwrap().push(line);
        r
    }
    fn events(&mut self) -> &mut mpsc::Receiver<ClusterEvent> {
        self.inner.events()
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// The messages of `buf` as hex, each with its nlmsg_pid zeroed.
fn to_kernel_lines(buf: &[u8], out: &mut Vec<String>) {
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        let end = if len < 16 {
            buf.len()
        } else {
            (off + len).min(buf.len())
        };
        let mut m = buf[off..end].to_vec();
        m[12..16].fill(0);
        out.push(format!("kernel {}", crate::hex(&m)));
        off += (len.max(16) + 3) & !3;
    }
    if off < buf.len() {
        out.push(format!("kernel-tail {}", crate::hex(&buf[off..])));
    }
}

/// Status and stats without what differs per process or per run (ports, latencies).
fn steady(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !(k.as_str() == "port"
                        || k.ends_with("_ns")
                        || k.ends_with("_us")
                        || k.as_str() == "busy_poll"
                        || k.as_str() == "kernel"
                        || k.as_str() == "answer")
                })
                .map(|(k, v)| (k.clone(), steady(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(steady).collect()),
        v => v.clone(),
    }
}

fn family(id: u16, name: &str) -> FamilyInfo {
    FamilyInfo {
        id,
        name: name.into(),
        version: 1,
        ..Default::default()
    }
}

fn nodes(mask: u8) -> Vec<NodeId> {
    (0..8)
        .filter(|b| mask & (1 << b) != 0)
        .map(|b| b + 1)
        .collect()
}

impl Harness {
    /// Node 1, state in `state_dir` (created; start from an empty directory for
    /// reproducible runs).
    pub fn new(state_dir: &std::path::Path) -> Harness {
        Harness::build(state_dir, false)
    }

    /// As `new`, recording every step's outputs (`Harness::transcript`).
    pub fn recording(state_dir: &std::path::Path) -> Harness {
        Harness::build(state_dir, true)
    }

    fn build(state_dir: &std::path::Path, record: bool) -> Harness {
        let sent: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>> =
            record.then(std::sync::Arc::default);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let cfg = Config {
            node_id: 1,
            state_dir: state_dir.to_path_buf(),
            // An MDS's grace ends at the first tick: sequences reach granted layouts.
            grace_ms: 0,
            ..Config::default()
        };
        let store = Store::open(&cfg.state_dir).expect("store");
        let sock = {
            let _g = rt.enter();
            NlSocket::open(Proto::Usersock.number(), &SocketOptions::default())
                .expect("USERSOCK socket")
        };
        let (down, down_rx) = mpsc::channel(1024);
        let (_done_tx, down_done) = mpsc::channel(1);
        let (save_tx, save_rx) = mpsc::channel(4);
        let (saved_tx, saved_rx) = mpsc::channel(16);
        let ring = Ring::new(cfg.ring_size);
        let mut d = Daemon::assemble(Parts {
            cfg,
            node: 1,
            incarnation: 1,
            target: Target {
                proto: Proto::Usersock,
                // A port nobody binds: replies fail and are logged, as with a twin
                // that went away.
                peer: 0x7fff_fffe,
                pnfsd: family(PNFSD_ID, "pnfsd"),
                gfs2: family(GFS2CTL_ID, "gfs2ctl"),
            },
            sock,
            upcall_peer: 0x7fff_fffe,
            cluster: match &sent {
                Some(sent) => Box::new(Tap {
                    inner: LocalEngine::new(1),
                    sent: sent.clone(),
                }),
                None => Box::new(LocalEngine::new(1)),
            },
            down,
            down_done,
            store,
            ring,
            save_tx,
            saved_rx,
            local_mounts: BTreeMap::new(),
            uevents: None,
            cld: None,
            targets: None,
        });
        // A withdraw's acknowledgement goes to a scratch tree, never the host's /sys.
        d.gfs2 = crate::gfs2::Gfs2View::new(state_dir.join("sys"));
        let mut h = Harness {
            d,
            down_rx,
            save_rx,
            _saved_tx: saved_tx,
            rt,
            rec: sent.map(|sent| Record {
                sent,
                lines: Vec::new(),
                step: Vec::new(),
            }),
        };
        h.d.say_hello();
        h.end_step("start");
        h
    }

    /// Close a step's record: its outputs, sorted by kind, after its name.
    fn end_step(&mut self, name: &str) {
        let Some(r) = &mut self.rec else { return };
        r.step.append(&mut r.sent.lock().unwrap());
        r.step.sort();
        r.lines.push(format!("step {name}"));
        for l in r.step.drain(..) {
            r.lines.push(format!("  {l}"));
        }
    }

    /// What the run sent, step by step, then what is left queued (downcalls never
    /// completed, durable writes never finished), the status, the counters and the
    /// debug ring: the differential run compares this between two builds.
    pub fn transcript(mut self) -> String {
        let Some(mut r) = self.rec.take() else {
            return String::new();
        };
        while let Ok((_, down)) = self.down_rx.try_recv() {
            r.lines.push(format!("queued down {down:?}"));
        }
        while let Ok((v, snap)) = self.save_rx.try_recv() {
            r.lines.push(format!(
                "queued durable {v} {}",
                serde_json::to_string(&snap).unwrap()
            ));
        }
        r.lines
            .push(format!("status {}", steady(&self.d.status_json())));
        r.lines
            .push(format!("stats {}", steady(&self.d.stats_json())));
        for e in self.d.ring.entries() {
            r.lines.push(format!("ring {}", e.text));
        }
        let mut out = r.lines.join("\n");
        out.push('\n');
        out
    }

    /// Run one step, then send what it produced, as the event loop does.
    pub fn step(&mut self, s: Step<'_>) {
        let name = self.rec.is_some().then(|| match &s {
            Step::Datagram(b) => format!("datagram {}", crate::hex(b)),
            Step::Cluster { from, payload } => {
                format!("cluster from {from} {}", crate::hex(payload))
            }
            Step::Uevent(b) => format!("uevent {}", crate::hex(b)),
            s => format!("{s:?}"),
        });
        match s {
            // As in production: the fast path first, the loop for the rest.
            Step::Datagram(b) => {
                let d = &mut self.d;
                let port = d.sock.port();
                if !fastpath::try_answer(
                    &d.fast,
                    d.target.pnfsd.id,
                    port,
                    b,
                    &mut d.out.tx,
                    Some(Instant::now()),
                ) {
                    d.on_datagram(b);
                }
            }
            Step::Cluster { from, payload } => self.d.on_cluster(ClusterEvent::Message {
                from,
                payload: payload.to_vec(),
            }),
            Step::Membership {
                members,
                joined,
                left,
                quorate,
            } => self.d.on_cluster(ClusterEvent::Membership(Membership {
                members: nodes(members),
                joined: nodes(joined & members),
                left: nodes(left & !members)
                    .into_iter()
                    .map(|n| (n, LeaveReason::NodeDown))
                    .collect(),
                quorate,
            })),
            Step::Uevent(b) => self.d.on_uevent(b),
            Step::Loopback => {
                while let Ok(ev) = self.d.out.cluster.events().try_recv() {
                    self.d.on_cluster(ev);
                }
            }
            Step::Downcalls { ok, value } => {
                while let Ok((tag, down)) = self.down_rx.try_recv() {
                    let r = if !ok {
                        Err("refused by the kernel half (fuzz)".to_string())
                    } else {
                        Ok(match &down {
                            Down::StateCheck { clientid, .. } => DownOut::State {
                                status: value % 4,
                                access: value >> 2 & 3,
                                generation: value >> 4,
                                clientid: *clientid,
                                verifier: value as u64,
                                epoch: (value >> 8) as u64,
                            },
                            Down::StateRevoke { .. } => DownOut::Count(value % 8),
                            _ => DownOut::Done,
                        })
                    };
                    if let Some(rec) = &mut self.rec {
                        rec.step.push(format!("down {down:?}"));
                    }
                    self.d.on_downcall(tag, down, r);
                }
            }
            Step::Saved { ok } => {
                if let Ok((version, snap)) = self.save_rx.try_recv() {
                    if let Some(rec) = &mut self.rec {
                        rec.step.push(format!(
                            "durable {version} {}",
                            serde_json::to_string(&snap).unwrap()
                        ));
                    }
                    let r = if ok {
                        Ok(())
                    } else {
                        Err("disk full (fuzz)".into())
                    };
                    self.d.on_saved(version, r);
                }
            }
            Step::Tick => self.d.on_tick(),
        }
        if let Some(rec) = &mut self.rec {
            to_kernel_lines(&self.d.out.tx, &mut rec.step);
        }
        let d = &mut self.d;
        self.rt.block_on(d.flush());
        if let Some(name) = name {
            self.end_step(&name);
        }
    }

    /// What `pnfsctl member show` shows.
    pub fn status(&self) -> Value {
        self.d.status_json()
    }

    /// What `pnfsctl stats show` shows of the daemon.
    pub fn stats(&self) -> Value {
        self.d.stats_json()
    }

    /// The debug ring's texts, oldest first.
    pub fn ring(&self) -> Vec<String> {
        self.d.ring.entries().map(|e| e.text.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MAGIC;

    fn hello(node: NodeId, priority: u32) -> Vec<u8> {
        let mut b = Vec::new();
        Msg::Hello {
            min_version: PROTO_MIN_VERSION,
            max_version: PROTO_VERSION,
            node,
            priority,
            epoch: 9,
            incarnation: 7,
            addrs: vec![],
        }
        .encode(&mut b);
        b
    }

    /// A scratch state directory, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch() -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Scratch(std::env::temp_dir().join(format!("pnfs-harness-test-{}-{n}", std::process::id())))
    }

    /// Nodes 1 (us) and 2, node 1 MDS; returns the harness and its state directory.
    fn two_nodes() -> (Harness, Scratch) {
        let dir = scratch();
        let mut h = Harness::new(&dir.0);
        // The local engine's own first membership (node 1 alone) and our Hello.
        h.step(Step::Loopback);
        h.step(Step::Membership {
            members: 0b11,
            joined: 0b10,
            left: 0,
            quorate: true,
        });
        h.step(Step::Loopback);
        h.step(Step::Cluster {
            from: 2,
            payload: &hello(2, 0),
        });
        h.step(Step::Downcalls { ok: true, value: 0 });
        h.step(Step::Loopback);
        // The MDS's grace (grace_ms 0 here) ends at the first tick.
        h.step(Step::Tick);
        assert_eq!(h.status()["in_grace"], false, "{}", h.status());
        assert_eq!(h.status()["mds"], 1, "{}", h.status());
        assert_eq!(member_nodes(&h.status()), [1, 2], "{:?}", h.ring());
        assert_eq!(rejected(&h), 0, "{:?}", h.ring());
        (h, dir)
    }

    fn member_nodes(status: &Value) -> Vec<u64> {
        status["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["node"].as_u64().unwrap())
            .collect()
    }

    fn rejected(h: &Harness) -> u64 {
        h.stats()["rejected_cluster_messages"].as_u64().unwrap()
    }

    /// Upcalls are read through their operation's generated views: one without an
    /// attribute the kernel half always puts is answered INVAL (before the views, the
    /// daemon answered LAYOUT_RETURN without looking at its attributes, and assumed a
    /// default for LAYOUT_GET's iomode and range).
    #[test]
    fn an_upcall_missing_what_the_kernel_half_always_puts_is_refused() {
        use pnfs_netlink::codec::{GenlHeader, NLM_F_REQUEST};
        let dir = scratch();
        let mut h = Harness::new(&dir.0);
        // Alone: our membership, our MdsEpoch back, the epoch on disk: we grant.
        h.step(Step::Loopback);
        h.step(Step::Loopback);
        h.step(Step::Saved { ok: true });
        assert_eq!(h.status()["granting"], true, "{}", h.status());
        let full = pnfsd::ops::layout_return::RequestAttrs {
            xid: 7,
            clientid: 1,
            fsid: 2,
            fileid: 3,
            stateid: [1; 16],
            offset: 0,
            length: u64::MAX,
        };
        let errors = |h: &Harness| h.stats()["pnfsd"][3]["errors"].as_u64().unwrap();
        let mut b = Vec::new();
        let header = GenlHeader::new(PNFSD_ID, pnfsd::cmd::LAYOUT_RETURN)
            .version(1)
            .flags(NLM_F_REQUEST)
            .seq(7);
        full.write(&mut b, &header);
        h.step(Step::Datagram(&b));
        assert_eq!(errors(&h), 0, "{}", h.stats());
        // The same without its range.
        b.clear();
        let mut m = header.start(&mut b);
        m.put_u32(pnfsd::attr::XID, 8)
            .put_u64(pnfsd::attr::CLIENTID, 1)
            .put_u64(pnfsd::attr::FSID, 2)
            .put_u64(pnfsd::attr::FILEID, 3)
            .put_bytes(pnfsd::attr::STATEID, &[1; 16]);
        m.finish();
        h.step(Step::Datagram(&b));
        assert_eq!(errors(&h), 1, "{}", h.stats());
        assert_eq!(h.stats()["pnfsd"][3]["answered"], 2, "{}", h.stats());
    }

    /// An operator's drain comes back through the cluster: the MDS recalls the drained
    /// device's layouts and lists it in its status; a restore takes it off, no recall.
    #[test]
    fn a_drained_data_server_is_recalled_by_the_mds() {
        let (mut h, _dir) = two_nodes();
        while h.down_rx.try_recv().is_ok() {}
        let drain = |h: &mut Harness, req, on| {
            let mut b = Vec::new();
            Msg::Drain {
                node: 2,
                req,
                device: 2,
                on,
            }
            .encode(&mut b);
            h.step(Step::Cluster {
                from: 2,
                payload: &b,
            });
            let mut downs = Vec::new();
            while let Ok((_, d)) = h.down_rx.try_recv() {
                downs.push(format!("{d:?}"));
            }
            downs
        };
        let downs = drain(&mut h, 5, true);
        let id = crate::kernel::device_id(2);
        assert!(
            downs
                .iter()
                .any(|d| d.contains("LayoutRecallDevice") && d.contains(&format!("{id:?}"))),
            "{downs:?}"
        );
        assert_eq!(h.status()["drained"], serde_json::json!([crate::hex(&id)]));
        assert!(
            h.ring()
                .iter()
                .any(|t| t == "device of node 2 drained (asked by node 2); recalling its layouts"),
            "{:?}",
            h.ring()
        );
        let downs = drain(&mut h, 6, false);
        assert!(
            !downs.iter().any(|d| d.contains("LayoutRecall")),
            "{downs:?}"
        );
        assert!(h.status().get("drained").is_none(), "{}", h.status());
    }

    #[test]
    fn a_message_from_a_non_member_is_ignored() {
        let (mut h, _dir) = two_nodes();
        let before = h.status();
        // Node 3 is no member: a Hello claiming MDS priority and a revoke ack.
        h.step(Step::Cluster {
            from: 3,
            payload: &hello(3, 1000),
        });
        h.step(Step::Loopback);
        h.step(Step::Tick);
        assert_eq!(rejected(&h), 1);
        assert_eq!(
            h.status(),
            before,
            "state changed by a non-member's message"
        );
        assert!(
            h.ring()
                .iter()
                .any(|t| t == "message from non-member 3 ignored"),
            "{:?}",
            h.ring()
        );
    }

    /// A journal recovery GFS2 reports on this node reaches every node's view, and a
    /// peer's report shows here.
    #[test]
    fn recovery_results_are_reported_cluster_wide() {
        let (mut h, _dir) = two_nodes();
        let ev = b"change@/fs/gfs2/c:fs0\0ACTION=change\0DEVPATH=/fs/gfs2/c:fs0\0SUBSYSTEM=gfs2\0LOCKTABLE=c:fs0\0LOCKPROTO=lock_dlm\0JOURNALID=0\0JID=1\0RECOVERY=Done\0";
        h.step(Step::Uevent(ev));
        h.step(Step::Loopback);
        let mut peer = Vec::new();
        Msg::FsRecovery {
            node: 2,
            table: "c:fs0".into(),
            jid: 0,
            result: "Failed".into(),
        }
        .encode(&mut peer);
        h.step(Step::Cluster {
            from: 2,
            payload: &peer,
        });
        let ring = h.ring();
        for want in [
            "gfs2 c:fs0: node 1 reports journal 1 recovery Done",
            "gfs2 c:fs0: node 2 reports journal 0 recovery Failed",
        ] {
            assert!(ring.iter().any(|t| t == want), "{want:?} not in {ring:?}");
        }
    }

    /// Found by the soak: libquorum reports the loss before CPG reports who left,
    /// so "members at the loss" were all three; when the partition healed, the cut
    /// node took its own map for the group's and ignored the snapshot of the side
    /// that had recovered its journal.
    #[test]
    fn a_healed_partition_waits_for_the_quorate_sides_journal_map() {
        let dir = scratch();
        let mut h = Harness::new(&dir.0);
        h.step(Step::Loopback);
        let m = |members, joined, left, quorate| Step::Membership {
            members,
            joined,
            left,
            quorate,
        };
        h.step(m(0b111, 0b110, 0, true));
        h.step(Step::Loopback);
        // Cut off: quorum lost first, then the others leave; later they are back
        // (still without quorum), then quorum returns with no joins.
        h.step(m(0b111, 0, 0, false));
        h.step(m(0b001, 0, 0b110, false));
        h.step(m(0b111, 0b110, 0, false));
        h.step(m(0b111, 0, 0, true));
        h.step(Step::Loopback);
        let mut snap = Vec::new();
        Msg::Journals {
            node: 2,
            journals: BTreeMap::from([("c:fs0".to_string(), BTreeMap::from([(3, 2)]))]),
            grace: GraceSnap {
                current: 1,
                ..GraceSnap::default()
            },
        }
        .encode(&mut snap);
        h.step(Step::Cluster {
            from: 2,
            payload: &snap,
        });
        assert!(
            h.ring()
                .iter()
                .any(|t| t.starts_with("journal map from node 2 replaces our stale one")),
            "{:?}",
            h.ring()
        );
    }

    #[test]
    fn a_message_with_a_wrong_protocol_version_is_rejected() {
        let (mut h, _dir) = two_nodes();
        let before = h.status();
        let mut m = hello(2, 1000);
        m[2] = PROTO_VERSION + 1;
        assert_eq!(&m[..2], &MAGIC.to_le_bytes());
        h.step(Step::Cluster {
            from: 2,
            payload: &m,
        });
        h.step(Step::Loopback);
        assert_eq!(rejected(&h), 1);
        assert_eq!(h.status(), before, "state changed by a rejected message");
        let want = format!(
            "cluster message from node 2 rejected: protocol version {} not spoken here",
            PROTO_VERSION + 1
        );
        assert!(
            h.ring().iter().any(|t| t.starts_with(&want)),
            "{:?}",
            h.ring()
        );
    }
}
