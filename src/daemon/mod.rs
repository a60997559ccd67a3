//! The daemon: one task owning all state, driven by a fixed set of sources (as
//! dlm_controld's loop over its fds), and its parts, one concern per file:
//!
//! | part | what it owns |
//! |---|---|
//! | `membership` | members and quorum; a configuration change calls each part below in a fixed order |
//! | `election` | the MDS choice and epochs (`choose_mds`, `next_epoch`, `adopt_epoch`) |
//! | `cache` | the DS state cache and the fast path's view (`publish`, `restrict`, `flush_cache`) |
//! | `upcalls` | pNFS upcalls, state queries to the MDS, invalidations |
//! | `journals` | journal ids and recovery (`choose_jid`, `choose_recoverer`, `start_recovery`) |
//! | `gfs2_companion` | gfs2ctl upcalls, GFS2 uevents, withdraws |
//! | `grace` | the cluster-wide grace of nfsd and the MDS's own grace period |
//! | `cld_bridge` | nfsd's client-tracking pipe and the replicated client records |
//! | `durable` | the durable store: versions, writes, answers after save |
//! | `control` | `pnfsctl` requests |
//! | `link` | the kernel half: upcall thread, watch, re-registration |
//! | `outbox` | where effects leave: REPLY datagrams, cluster messages, downcalls |
//! | `view` | what the upcall decisions (`crate::decide`) read |
//!
//! The loop (`run`) only selects and dispatches, in this order of priority: shutdown,
//! upcalls handed over by the fast path thread (a bounded batch), cluster events,
//! downcall results, durable-write results, control requests, nfsd's cld pipe, the
//! kernel watch, a new registration, GFS2 uevents, the tick. After each event `flush`
//! publishes the fast path's view, sends the REPLYs built and starts a durable write of
//! what changed. A cluster message goes to its part by kind (`on_msg`); the tick calls
//! each part's timer (`on_tick`).
//!
//! The one lock is the fast path's (`fastpath::Shared`: the DS cache and the published
//! view), taken only in short synchronous sections, never across an await; every queue
//! is bounded.

use crate::cluster::{Cluster, ClusterEvent, LeaveReason, Membership, NodeId};
use crate::config::Config;
use crate::decide::{self, ClusterView, StateDecision};
use crate::fastpath::{self, CacheEntry, Fwd};
use crate::kernel::{self, device_id, device_node, Down, DownOut, Registration, Tagged, Target};
use crate::ring::Ring;
use crate::stats::Stats;
use crate::store::Store;
use crate::wire::{
    grace_op, DsAddr, GraceSnap, Msg, StateKey, GRACE_ENFORCING, GRACE_NEED, PROTO_MIN_VERSION,
    PROTO_VERSION,
};
use pnfs_netlink::codec::{ErrorMsg, GenlMsg, Messages, MsgBuilder, NLMSG_ERROR};
use pnfs_netlink::socket::NlSocket;
use pnfs_netlink::{gfs2ctl, pnfsd, Gfs2Attrs, NlError, PnfsdAttrs};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

use pnfsd::Nfsstat;

mod cache;
mod cld_bridge;
mod control;
mod durable;
mod election;
mod gfs2_companion;
mod grace;
mod journals;
mod link;
mod membership;
mod outbox;
mod upcalls;
mod view;

#[cfg(feature = "fuzzing")]
pub mod harness;

use cld_bridge::{import_nfsdcld_once, CldBridge};
pub use control::unhex16;
use durable::DurableWrites;
use grace::Grace;
use journals::Journals;
use link::KernelLink;
use outbox::Outbox;
use upcalls::Queries;
use view::View;

pub use crate::control::ControlReq;
use crate::control::Request;

/// Who waits for an answer.
enum Waiter {
    /// An upcall: answer the kernel half with REPLY.
    Kernel { xid: u32, kind: u32, since: Instant },
    /// A `pnfsctl` request.
    Control(oneshot::Sender<Value>),
}

/// Why a downcall was made (routes its result).
enum Tag {
    /// Nothing waits; log failures.
    Fire,
    /// The MDS checks a stateid for a DS's query.
    Query {
        qid: u64,
        to: NodeId,
        fsid: u64,
        fileid: u64,
        stateid: [u8; 16],
        clientid: u64,
        /// When the MDS took up the query (`stats.mds_checks`).
        since: Instant,
    },
    /// A revoke asked by `pnfsctl`: invalidate caches next.
    Revoke {
        clientid: u64,
        one: Option<(u64, u64, [u8; 16])>,
        waiter: Waiter,
    },
}

#[derive(Debug, Clone)]
struct Peer {
    priority: u32,
    epoch: u64,
    incarnation: u64,
    max_version: u8,
    addrs: Vec<DsAddr>,
}

/// What a state query asks: (fsid, fileid, stateid, clientid).
type QueryKey = (u64, u64, [u8; 16], u64);

struct Parked {
    waiter: Waiter,
    since: Instant,
}

struct InvalWait {
    waiting: BTreeSet<NodeId>,
    waiter: Option<Waiter>,
    count: u32,
}

#[derive(Debug, Clone)]
struct RecoveryJob {
    dead: NodeId,
    recoverer: NodeId,
}

/// A GFS2 answer waiting for the durable write of `version`: (version, waiter, status,
/// jid and first-mounter).
/// A GFS2 answer waiting for a durable write: (version, waiter, status, for a mount its
/// table, jid and first flag).
type AfterSave = (u64, Waiter, i32, Option<(String, u32, bool)>);

/// First wait before retrying a durable write that failed; doubled up to `SAVE_BACKOFF_MAX`.
const SAVE_BACKOFF_MIN: Duration = Duration::from_millis(100);
const SAVE_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The daemon: its parts' state, each part's in its own struct (defined in its file).
pub struct Daemon {
    cfg: Config,
    incarnation: u64,
    target: Target,
    sock: NlSocket,
    /// The port upcalls come from and REPLYs go to (`kernel::Registered::peer`).
    upcall_peer: u32,
    /// The DS cache and what the upcall fast path answers from (see `fastpath`).
    fast: Arc<fastpath::Shared>,
    targets: Option<watch::Sender<Target>>,
    link: KernelLink,
    /// What the fast path answers by, as last published to it.
    published: fastpath::View,
    /// Where effects leave (`outbox`).
    out: Outbox,
    down_done: mpsc::Receiver<Tagged<Tag>>,
    store: Store,
    pub ring: Ring,
    stats: Stats,
    /// What every part reads: node, members, quorum, peers, MDS, epoch (`view`).
    view: View,
    /// Journal map sync, local mounts, recoveries (`journals`).
    journals: Journals,
    /// State queries and invalidations in flight (`upcalls`).
    queries: Queries,
    /// The cluster's grace as this node knows it (`grace`).
    grace: Grace,
    /// nfsd's cld pipe (`cld_bridge`).
    cld: CldBridge,
    /// Durable writes (`durable`).
    durable: DurableWrites,
    next_id: u64,
    registered_role: Option<(pnfsd::Role, NodeId, u64)>,
    /// What the real GFS2's uevents said, and the queue they come in by (None: not
    /// watched, or the watcher stopped).
    gfs2: crate::gfs2::Gfs2View,
    uevents: Option<mpsc::Receiver<Vec<u8>>>,
}

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("kernel half: {0}")]
    Kernel(#[from] NlError),
    #[error("state store: {0}")]
    Store(#[from] std::io::Error),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("upcall socket: {0}")]
    Upcall(String),
}

/// What a daemon is made of; the rest of its state starts empty.
struct Parts {
    cfg: Config,
    node: NodeId,
    incarnation: u64,
    target: Target,
    sock: NlSocket,
    upcall_peer: u32,
    cluster: Box<dyn Cluster>,
    down: mpsc::Sender<(Tag, Down)>,
    down_done: mpsc::Receiver<Tagged<Tag>>,
    store: Store,
    ring: Ring,
    save_tx: mpsc::Sender<(u64, crate::store::Durable)>,
    saved_rx: mpsc::Receiver<(u64, Result<(), String>)>,
    local_mounts: BTreeMap<String, (u32, bool)>,
    uevents: Option<mpsc::Receiver<Vec<u8>>>,
    cld: Option<(mpsc::Receiver<Vec<u8>>, mpsc::Sender<crate::cld::CldOut>)>,
    /// The downcall worker's family ids (None: no worker, the harness).
    targets: Option<watch::Sender<Target>>,
}

const TICK: Duration = Duration::from_millis(100);
/// Grace decisions kept for `pnfsctl monitor grace`.
const GRACE_EVENTS: usize = 256;
/// Forwarded datagrams handled per wake-up (bounds the reply datagram too).
const RX_BATCH: usize = pnfs_netlink::socket::MAX_BATCH;
/// Datagrams the fast path thread may have handed over and the loop not yet taken.
const FWD_QUEUE: usize = 1024;
/// Longest datagram the daemon sends to the kernel half: the twin reads at most 64 KiB
/// (kmod-shim/PROTOCOL.md); the module takes up to its socket's send buffer.
const MAX_TO_KERNEL: usize = 32 * 1024;

impl Daemon {
    /// Find the kernel half, register, and build the daemon (not yet running).
    pub async fn start(cfg: Config, cluster: Box<dyn Cluster>) -> Result<Daemon, DaemonError> {
        let mut store = Store::open(&cfg.state_dir)?;
        let imported = import_nfsdcld_once(&cfg, &mut store);
        let (client, target) = kernel::find(cfg.socket, cfg.twin_port).await?;
        let node = cluster.node_id();
        let reg = Registration {
            node_id: node,
            role: pnfsd::Role::Ds,
            mds_id: 0,
            epoch: store.state.epoch,
        };
        let kernel::Registered {
            sock,
            peer: upcall_peer,
            pnfsd_version: pv,
            gfs2_version: gv,
            early,
        } = kernel::register(&target, reg).await?;
        // What the kernel half kept mounted while no daemon ran (a restart): those
        // journals are still ours, and a node death must block these filesystems too.
        let mut client = client;
        let mounts = kernel::read_mounts(&mut client, &target).await?;
        let (done_tx, done_rx) = mpsc::channel(1024);
        let (targets, targets_rx) = watch::channel(target.clone());
        let down = kernel::spawn_worker(client, targets_rx, done_tx);
        let incarnation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ std::process::id() as u64;
        let (saved_tx, saved_rx) = mpsc::channel(16);
        let save_tx = crate::store::spawn_writer(store.path().to_path_buf(), saved_tx);
        let mut ring = Ring::new(cfg.ring_size);
        if let Some(l) = imported {
            ring.push(l);
        }
        if !mounts.is_empty() {
            ring.push(format!(
                "kernel half has {} filesystem(s) mounted from before: {mounts:?}",
                mounts.len()
            ));
        }
        ring.push(format!(
            "start node {node}: {} registered pnfsd v{pv} gfs2ctl v{gv} on port {}, engine {}, epoch {}",
            target.describe(),
            sock.port(),
            cluster.name(),
            store.state.epoch
        ));
        tracing::info!(node, port = sock.port(), kernel = %target.describe(), engine = cluster.name(), "registered");
        let uevents = if cfg.gfs2_uevents {
            let (tx, rx) = mpsc::channel(256);
            match crate::gfs2::spawn_watcher(tx) {
                Ok(_) => Some(rx),
                Err(e) => {
                    tracing::warn!("GFS2 uevents not watched: {e}");
                    ring.push(format!("GFS2 uevents not watched: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let cld = (!cfg.cld_pipe.is_empty()).then(|| {
            let (req_tx, req_rx) = mpsc::channel(256);
            let (out_tx, out_rx) = mpsc::channel(256);
            crate::cld::spawn_server(cfg.cld_pipe.clone().into(), &cfg.state_dir, req_tx, out_rx);
            ring.push(format!(
                "serving nfsd's client tracking pipe {}",
                cfg.cld_pipe
            ));
            (req_rx, out_tx)
        });
        Ok(Daemon::assemble(Parts {
            cfg,
            node,
            incarnation,
            target,
            sock,
            upcall_peer,
            cluster,
            down,
            down_done: done_rx,
            store,
            ring,
            save_tx,
            saved_rx,
            local_mounts: mounts
                .into_iter()
                .map(|(table, jid, first)| (table, (jid, first)))
                .collect(),
            uevents,
            cld,
            targets: Some(targets),
        })
        .with_early(early))
    }

    fn with_early(mut self, early: Vec<Vec<u8>>) -> Daemon {
        self.link.early = early;
        self
    }

    /// A daemon from its parts, in its initial state (no membership seen yet).
    fn assemble(p: Parts) -> Daemon {
        let durable_epoch = p.store.state.epoch;
        let (cld_rx, cld_tx) = match p.cld {
            Some((rx, tx)) => (Some(rx), Some(tx)),
            None => (None, None),
        };
        Daemon {
            incarnation: p.incarnation,
            target: p.target,
            sock: p.sock,
            upcall_peer: p.upcall_peer,
            fast: Arc::default(),
            targets: p.targets,
            link: KernelLink::default(),
            published: fastpath::View::default(),
            out: Outbox {
                tx: Vec::with_capacity(64 * 1024),
                msg_buf: Vec::with_capacity(1024),
                cluster: p.cluster,
                down: p.down,
                down_queued: false,
            },
            down_done: p.down_done,
            store: p.store,
            ring: p.ring,
            stats: Stats::default(),
            view: View {
                node: p.node,
                members: vec![],
                quorate: false,
                peers: BTreeMap::new(),
                hello_seen: BTreeSet::new(),
                first_membership: true,
                mds: None,
                mds_epoch: 0,
                grace_until: None,
                recalled: BTreeSet::new(),
                drained: BTreeSet::new(),
            },
            journals: Journals {
                synced: false,
                departed_since_loss: BTreeSet::new(),
                sync_queue: Vec::new(),
                mounts_parked: HashMap::new(),
                mounts_expired: BTreeSet::new(),
                local_mounts: p.local_mounts,
                recovery: BTreeMap::new(),
                left_without_quorum: BTreeSet::new(),
            },
            queries: Queries {
                parked: HashMap::new(),
                asking: HashMap::new(),
                invals: HashMap::new(),
                drains: HashMap::new(),
            },
            grace: Grace {
                nodes: BTreeMap::new(),
                done_held: Vec::new(),
                events: std::collections::VecDeque::new(),
                seq: 0,
            },
            cld: CldBridge {
                rx: cld_rx,
                tx: cld_tx,
                after_save: Vec::new(),
                wait: HashMap::new(),
            },
            durable: DurableWrites {
                dirty_version: 0,
                saved_version: 0,
                write_in_flight: false,
                epoch: durable_epoch,
                writing_epoch: 0,
                error: None,
                retry: None,
                log: crate::ratelog::RateLog::new(Duration::from_secs(1)),
                tx: p.save_tx,
                saved_rx: p.saved_rx,
                after_save: Vec::new(),
            },
            next_id: 1,
            registered_role: Some((pnfsd::Role::Ds, 0, 0)),
            gfs2: crate::gfs2::Gfs2View::new("/sys"),
            uevents: p.uevents,
            cfg: p.cfg,
        }
    }

    /// The port the kernel half sends upcalls to.
    pub fn port(&self) -> u32 {
        self.sock.port()
    }

    /// Serve until shutdown; then unregister and answer what is parked.
    pub async fn run(
        mut self,
        mut control: mpsc::Receiver<ControlReq>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), DaemonError> {
        self.say_hello();
        // The upcall socket's receive side goes to the fast path thread from here on.
        self.publish();
        self.sock.deregister();
        let (fwd_tx, mut fwd) = mpsc::channel::<Fwd>(FWD_QUEUE);
        self.link.fwd = Some(fwd_tx);
        self.start_upcall_thread()
            .map_err(|e| DaemonError::Upcall(format!("starting the fast path thread: {e}")))?;
        let (watch_tx, watched) = mpsc::channel(4);
        kernel::spawn_watch(self.cfg.socket, self.cfg.twin_port, watch_tx);
        self.link.watched = Some(watched);
        let (reg_tx, reg_rx) = mpsc::channel(1);
        self.link.registered_tx = Some(reg_tx);
        self.link.registered_rx = Some(reg_rx);
        for d in std::mem::take(&mut self.link.early) {
            self.on_datagram(&d);
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            // A downcall the last event queued (a data server's layouts to recall) goes
            // out before the next event is handled.
            self.yield_to_downcalls().await;
            tokio::select! {
                biased;
                _ = shutdown.changed() => break Ok(()),
                f = fwd.recv() => {
                    let failed = self.on_fwd_batch(f, &mut fwd);
                    if let Some(e) = failed {
                        self.ring.push(e.clone());
                        break Err(DaemonError::Upcall(e));
                    }
                    self.flush().await;
                }
                ev = self.out.cluster.events().recv() => {
                    match ev {
                        Some(ClusterEvent::Lost(why)) => {
                            self.ring.push(format!("cluster engine lost: {why}"));
                            break Err(DaemonError::Cluster(why));
                        }
                        Some(ClusterEvent::Membership(m)) => {
                            // A departed data server's layouts are recalled before the
                            // rest of the change is worked out.
                            self.recall_departed(&m);
                            self.yield_to_downcalls().await;
                            self.on_cluster(ClusterEvent::Membership(m));
                        }
                        Some(ev) => self.on_cluster(ev),
                        None => break Err(DaemonError::Cluster("engine stopped".into())),
                    }
                    self.flush().await;
                }
                Some((tag, d, r)) = self.down_done.recv() => {
                    self.on_downcall(tag, d, r);
                    self.flush().await;
                }
                Some((v, r)) = self.durable.saved_rx.recv() => {
                    self.on_saved(v, r);
                    self.flush().await;
                }
                Some(req) = control.recv() => {
                    self.on_control(req);
                    self.flush().await;
                }
                m = next_of(&mut self.cld.rx) => {
                    match m {
                        Some(b) => self.on_cld(&b),
                        None => {
                            self.ring.push("cld pipe task stopped".into());
                            self.cld.rx = None;
                        }
                    }
                    self.flush().await;
                }
                w = next_of(&mut self.link.watched) => {
                    if let Some(w) = w {
                        self.on_watched(w);
                    }
                    self.flush().await;
                }
                r = next_of(&mut self.link.registered_rx) => {
                    if let Some(r) = r {
                        self.on_registered(r);
                    }
                    self.flush().await;
                }
                u = next_of(&mut self.uevents) => {
                    match u {
                        Some(b) => self.on_uevent(&b),
                        None => {
                            self.ring.push("GFS2 uevent watcher stopped".into());
                            self.uevents = None;
                        }
                    }
                }
                _ = tick.tick() => {
                    self.on_tick();
                    self.flush().await;
                }
            }
        };
        self.shutdown().await;
        self.fast.stop();
        result
    }
}

impl Daemon {
    async fn shutdown(&mut self) {
        let ids: Vec<u64> = self.queries.parked.keys().copied().collect();
        for id in ids {
            if let Some(p) = self.queries.parked.remove(&id) {
                self.answer_state(p.waiter, Nfsstat::Delay, None);
            }
        }
        let reqs: Vec<u64> = self.journals.mounts_parked.keys().copied().collect();
        for r in reqs {
            if let Some(w) = self.journals.mounts_parked.remove(&r) {
                self.answer_gfs2(w, -libc::EAGAIN, None);
            }
        }
        let port = self.sock.port();
        for h in [
            pnfsd::ops::unregister::header(self.target.pnfsd.id),
            gfs2ctl::ops::unregister::header(self.target.gfs2.id),
        ] {
            h.flags(pnfs_netlink::codec::NLM_F_REQUEST)
                .pid(port)
                .start(&mut self.out.tx)
                .finish();
        }
        self.flush().await;
        self.ring.push("shut down: unregistered".into());
        tracing::info!("unregistered; bye");
    }

    // ---------------------------------------------------------------- upcalls

    // ---------------------------------------------------------------- cluster

    fn on_msg(&mut self, from: NodeId, msg: Msg) {
        if !self.journals.synced
            && matches!(
                msg,
                Msg::Mount { .. }
                    | Msg::Unmount { .. }
                    | Msg::RecoveryDone { .. }
                    | Msg::Grace { .. }
                    | Msg::Client { .. }
            )
        {
            self.journals.sync_queue.push((from, msg));
            return;
        }
        match msg {
            Msg::Journals {
                node,
                journals,
                grace,
            } => self.on_journals(node, journals, grace),
            Msg::Grace { node, req, op } => self.on_grace(node, req, op),
            Msg::Drain {
                node,
                req,
                device,
                on,
            } => self.on_drain(node, req, device, on),
            Msg::FsRecovery {
                node,
                table,
                jid,
                result,
            } => self.on_fs_recovery(node, table, jid, result),
            Msg::Client {
                node,
                req,
                create,
                name,
                princhash,
            } => self.on_client(node, req, create, &name, &princhash),
            Msg::Hello {
                min_version,
                max_version,
                node,
                priority,
                epoch,
                incarnation,
                addrs,
            } => self.on_hello(
                from,
                min_version,
                max_version,
                node,
                priority,
                epoch,
                incarnation,
                addrs,
            ),
            Msg::MdsEpoch { node, epoch } => self.on_mds_epoch(node, epoch),
            Msg::StateQuery {
                qid,
                from: asker,
                fsid,
                fileid,
                stateid,
                clientid,
            } => self.on_state_query(qid, asker, fsid, fileid, stateid, clientid),
            Msg::StateAnswer {
                qid,
                to,
                fsid,
                fileid,
                stateid,
                clientid,
                status,
                access,
                generation,
                verifier,
                epoch,
            } => self.on_state_answer(
                qid, to, fsid, fileid, stateid, clientid, status, access, generation, verifier,
                epoch,
            ),
            Msg::Invalidate {
                iid,
                origin,
                clientid,
                fsid,
                fileid,
                other,
            } => self.on_invalidate(iid, origin, clientid, fsid, fileid, other),
            Msg::InvalidateAck { iid, origin, node } => self.on_invalidate_ack(iid, origin, node),
            Msg::Mount {
                req,
                node,
                table,
                spectator,
            } => self.on_mount(req, node, table, spectator),
            Msg::Unmount { req, node, table } => self.on_unmount(req, node, table),
            Msg::Withdraw { node, table, jid } => self.on_withdrawn(node, table, jid),
            Msg::RecoveryDone {
                node,
                table,
                jid,
                status,
            } => self.on_recovery_done(node, table, jid, status),
        }
    }

    /// The tick, every `TICK`: each part's timers, in this order.
    fn on_tick(&mut self) {
        self.log_foreign();
        let limit = self.query_limit();
        self.expire_mounts(limit);
        self.expire_queries(limit);
        self.end_mds_grace();
    }
}

/// The next item of an optional queue, or never if there is none.
async fn next_of<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}
