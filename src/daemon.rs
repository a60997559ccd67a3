//! The daemon's main loop: one task owning all state, driven by a fixed set of sources
//! (as dlm_controld's loop over its fds): the upcalls the fast path thread leaves to it,
//! the cluster engine, downcall results, control requests from `pnfsctl`, a tick, and
//! shutdown. The one lock is the fast path's (`fastpath::Shared`: the DS cache and the
//! published view), taken only in short synchronous sections, never across an await;
//! every queue is bounded.

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

/// The daemon.
pub struct Daemon {
    cfg: Config,
    node: NodeId,
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
    tx: Vec<u8>,
    msg_buf: Vec<u8>,
    cluster: Box<dyn Cluster>,
    down: mpsc::Sender<(Tag, Down)>,
    down_done: mpsc::Receiver<Tagged<Tag>>,
    store: Store,
    pub ring: Ring,
    stats: Stats,
    members: Vec<NodeId>,
    quorate: bool,
    peers: BTreeMap<NodeId, Peer>,
    /// Members whose Hello was delivered (compatible or not): the election waits for all.
    hello_seen: BTreeSet<NodeId>,
    /// Whether our journal map is the cluster's: false after joining a running cluster
    /// until the Journals snapshot arrives; journal messages wait in `sync_queue`.
    journals_synced: bool,
    first_membership: bool,
    /// Members that left after we last lost quorum. If one of them is a member again
    /// when quorum returns, it was on the other side of a partition, where the quorate
    /// part may have changed the journal map: ours waits for a snapshot. (The members
    /// at the loss are no guide: libquorum reports the loss before CPG reports who left.)
    departed_since_loss: BTreeSet<NodeId>,
    sync_queue: Vec<(NodeId, Msg)>,
    mds: Option<NodeId>,
    mds_epoch: u64,
    grace_until: Option<Instant>,
    parked: HashMap<u64, Parked>,
    /// State queries in flight, by what they ask: the first qid's answer answers them
    /// all (a burst of misses for one stateid is one question to the MDS, not thousands
    /// queued behind each other in the downcall worker until the kernel half gives up).
    asking: HashMap<QueryKey, Vec<u64>>,
    next_id: u64,
    invals: HashMap<u64, InvalWait>,
    mounts_parked: HashMap<u64, Waiter>,
    /// MOUNT requests answered EAGAIN because the cluster did not order them within
    /// the query timeout (a ring re-forming after a node death): when one is delivered
    /// after all, the journal it took is released again.
    mounts_expired: BTreeSet<u64>,
    local_mounts: BTreeMap<String, (u32, bool)>,
    recovery: BTreeMap<(String, u32), RecoveryJob>,
    /// Nodes that left while we had no quorum: whether they died or we were cut off is
    /// only known once quorum returns (then those still gone get their journals
    /// recovered). A minority never recovers anyone's journal.
    left_without_quorum: BTreeSet<NodeId>,
    registered_role: Option<(pnfsd::Role, NodeId, u64)>,
    /// Durable state: version changed in memory, version on disk, write in flight.
    dirty_version: u64,
    saved_version: u64,
    write_in_flight: bool,
    /// The MDS epoch on disk (what the write in flight carries: `writing_epoch`). This node
    /// grants as MDS only with its epoch durable: a restart must never reuse an epoch.
    durable_epoch: u64,
    writing_epoch: u64,
    /// The last durable write's error, the next retry and the wait after it.
    save_error: Option<String>,
    save_retry: Option<(Instant, Duration)>,
    save_log: crate::ratelog::RateLog,
    save_tx: mpsc::Sender<(u64, crate::store::Durable)>,
    saved_rx: mpsc::Receiver<(u64, Result<(), String>)>,
    /// GFS2 answers that wait until the journal assignment is on disk.
    after_save: Vec<AfterSave>,
    /// What the real GFS2's uevents said, and the queue they come in by (None: not
    /// watched, or the watcher stopped).
    gfs2: crate::gfs2::Gfs2View,
    uevents: Option<mpsc::Receiver<Vec<u8>>>,
    /// nfsd's cld pipe: messages read (by the pipe task), answers to write, and answers
    /// that wait until the client records they follow are on disk (version, answer if
    /// written, answer if the write failed).
    cld_rx: Option<mpsc::Receiver<Vec<u8>>>,
    cld_tx: Option<mpsc::Sender<crate::cld::CldOut>>,
    cld_after_save: Vec<(u64, crate::cld::CldOut, crate::cld::CldOut)>,
    /// Cluster-wide grace: each member's flags (GRACE_NEED, GRACE_ENFORCING), replicated
    /// by the Grace messages in the cluster's agreed order.
    grace_nodes: BTreeMap<NodeId, u8>,
    /// cld messages whose answer waits for our own cluster message (by its req) to come
    /// back in the agreed order: the request as nfsd sent it.
    cld_wait: HashMap<u64, Vec<u8>>,
    /// GraceDone requests of our nfsd, answered when the cluster's grace ends.
    grace_done_held: Vec<Vec<u8>>,
    /// The last grace decisions (bounded), numbered from 1 by `grace_seq`.
    grace_events: std::collections::VecDeque<Value>,
    grace_seq: u64,
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

/// The kernel half as the daemon last saw it (`kernel::spawn_watch`), and a registration
/// after it restarted.
#[derive(Default)]
struct KernelLink {
    /// Why it did not answer (None: it did, with this daemon registered).
    lost: Option<String>,
    /// Its upcall timeout: a query the MDS has not answered is answered DELAY before it.
    timeout: Option<Duration>,
    /// A new registration is under way.
    registering: bool,
    /// Registrations made after the first (the kernel half restarted).
    reregistered: u64,
    /// Foreign datagrams on the upcall socket as last logged (`fastpath::FastStats`).
    foreign_logged: u64,
    foreign_log: Option<crate::ratelog::RateLog>,
    register_log: Option<crate::ratelog::RateLog>,
    /// Upcalls that came while registering, answered when the loop starts.
    early: Vec<Vec<u8>>,
    /// The upcall thread, for joining when it makes way for a new socket's.
    thread: Option<std::thread::JoinHandle<()>>,
    /// Where the upcall threads hand over (set by `run`).
    fwd: Option<mpsc::Sender<Fwd>>,
    watched: Option<mpsc::Receiver<kernel::Watched>>,
    registered_tx: Option<mpsc::Sender<Result<(Target, kernel::Registered), String>>>,
    registered_rx: Option<mpsc::Receiver<Result<(Target, kernel::Registered), String>>>,
}

/// First start serving nfsd's pipe (no state on disk yet): take nfsdcld's records over,
/// if its database is there. Returns what to log in the ring.
fn import_nfsdcld_once(cfg: &Config, store: &mut Store) -> Option<String> {
    if cfg.cld_pipe.is_empty() || !store.fresh || cfg.nfsdcld_db.is_empty() {
        return None;
    }
    let path = std::path::Path::new(&cfg.nfsdcld_db);
    if !path.exists() {
        return None;
    }
    let line = match crate::cld::import_nfsdcld(path) {
        Ok(c) => {
            let n: usize = c.epochs.values().map(|m| m.len()).sum();
            let line = format!(
                "cld: imported nfsdcld's database {}: epochs {}/{}, {n} client record(s)",
                path.display(),
                c.current,
                c.recovery
            );
            store.state.clients = c;
            if let Err(e) = store.save() {
                tracing::error!("imported records not saved: {e}");
            }
            line
        }
        Err(e) => format!("cld: nfsdcld's database not imported: {e}"),
    };
    tracing::info!("{line}");
    Some(line)
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

/// How many bytes of `buf` (whole netlink messages, back to back) go in the next datagram:
/// as many whole messages as fit in `max`, and at least one.
fn datagram_len(buf: &[u8], max: usize) -> usize {
    let mut len = 0;
    while len + 4 <= buf.len() {
        let m = u32::from_ne_bytes(buf[len..len + 4].try_into().unwrap()) as usize;
        let m = (m + 3) & !3;
        if m == 0 || (len > 0 && len + m > max) {
            break;
        }
        len = (len + m).min(buf.len());
    }
    if len == 0 {
        buf.len()
    } else {
        len
    }
}

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
            node: p.node,
            incarnation: p.incarnation,
            target: p.target,
            sock: p.sock,
            upcall_peer: p.upcall_peer,
            fast: Arc::default(),
            targets: p.targets,
            link: KernelLink::default(),
            published: fastpath::View::default(),
            tx: Vec::with_capacity(64 * 1024),
            msg_buf: Vec::with_capacity(1024),
            cluster: p.cluster,
            down: p.down,
            down_done: p.down_done,
            store: p.store,
            ring: p.ring,
            stats: Stats::default(),
            members: vec![],
            quorate: false,
            peers: BTreeMap::new(),
            hello_seen: BTreeSet::new(),
            journals_synced: false,
            first_membership: true,
            departed_since_loss: BTreeSet::new(),
            sync_queue: Vec::new(),
            mds: None,
            mds_epoch: 0,
            grace_until: None,
            parked: HashMap::new(),
            asking: HashMap::new(),
            next_id: 1,
            invals: HashMap::new(),
            mounts_parked: HashMap::new(),
            mounts_expired: BTreeSet::new(),
            local_mounts: p.local_mounts,
            recovery: BTreeMap::new(),
            left_without_quorum: BTreeSet::new(),
            registered_role: Some((pnfsd::Role::Ds, 0, 0)),
            dirty_version: 0,
            saved_version: 0,
            write_in_flight: false,
            durable_epoch,
            writing_epoch: 0,
            save_error: None,
            save_retry: None,
            save_log: crate::ratelog::RateLog::new(Duration::from_secs(1)),
            save_tx: p.save_tx,
            saved_rx: p.saved_rx,
            after_save: Vec::new(),
            gfs2: crate::gfs2::Gfs2View::new("/sys"),
            uevents: p.uevents,
            cld_rx,
            cld_tx,
            cld_after_save: Vec::new(),
            grace_nodes: BTreeMap::new(),
            cld_wait: HashMap::new(),
            grace_done_held: Vec::new(),
            grace_events: std::collections::VecDeque::new(),
            grace_seq: 0,
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
            tokio::select! {
                biased;
                _ = shutdown.changed() => break Ok(()),
                f = fwd.recv() => {
                    // This and what else is queued now (bounded: the reply datagram too).
                    // Take no more than RX_BATCH, and nothing that is not handled: the
                    // next one is taken only while there is a pass left for it (taking
                    // it on the last pass dropped an upcall, unanswered and unlogged).
                    let mut next = f;
                    let mut failed = None;
                    let mut taken = 1;
                    loop {
                        match next {
                            Some(f) => {
                                if let Err(e) = self.on_fwd(f) {
                                    failed = Some(e);
                                    break;
                                }
                            }
                            None => {
                                failed = Some("the upcall fast path thread stopped".to_string());
                                break;
                            }
                        }
                        if taken == RX_BATCH {
                            break;
                        }
                        match fwd.try_recv() {
                            Ok(f) => {
                                next = Some(f);
                                taken += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    if let Some(e) = failed {
                        self.ring.push(e.clone());
                        break Err(DaemonError::Upcall(e));
                    }
                    self.flush().await;
                }
                ev = self.cluster.events().recv() => {
                    match ev {
                        Some(ClusterEvent::Lost(why)) => {
                            self.ring.push(format!("cluster engine lost: {why}"));
                            break Err(DaemonError::Cluster(why));
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
                Some((v, r)) = self.saved_rx.recv() => {
                    self.on_saved(v, r);
                    self.flush().await;
                }
                Some(req) = control.recv() => {
                    self.on_control(req);
                    self.flush().await;
                }
                m = next_of(&mut self.cld_rx) => {
                    match m {
                        Some(b) => self.on_cld(&b),
                        None => {
                            self.ring.push("cld pipe task stopped".into());
                            self.cld_rx = None;
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

    /// Start the thread that takes the upcall socket's datagrams (again, after a new
    /// registration: the one before returns within its receive timeout).
    fn start_upcall_thread(&mut self) -> std::io::Result<()> {
        let Some(fwd) = self.link.fwd.clone() else {
            return Ok(());
        };
        self.sock.deregister();
        let gen = self.fast.next_thread();
        let h = fastpath::spawn(
            gen,
            self.sock.as_raw_fd(),
            self.upcall_peer,
            self.target.pnfsd.id,
            self.sock.port(),
            self.fast.clone(),
            fwd,
            Duration::from_micros(self.cfg.busy_poll_us),
        )?;
        self.link.thread = Some(h);
        Ok(())
    }

    /// What the kernel watch saw: a kernel half that no longer has this daemon
    /// registered (it restarted) gets a new registration and the state pushed back.
    fn on_watched(&mut self, w: kernel::Watched) {
        match w {
            kernel::Watched::Unreachable(e) => {
                if self.link.lost.is_none() {
                    self.ring.push(format!("kernel half not answering: {e}"));
                    tracing::warn!("kernel half not answering: {e}");
                }
                self.link.lost = Some(e);
            }
            kernel::Watched::Status(st) => {
                self.link.timeout = st.timeout_ms.map(|t| Duration::from_millis(t as u64));
                if st.port == self.sock.port() {
                    if self.link.lost.take().is_some() {
                        self.ring.push("kernel half answers again".into());
                        tracing::info!("kernel half answers again");
                    }
                    return;
                }
                let why = if st.port == 0 {
                    "no daemon registered".to_string()
                } else {
                    format!("port {:#x} registered", st.port)
                };
                if self.link.lost.is_none() {
                    let l = format!(
                        "kernel half lost this daemon's registration ({why}: it restarted?); registering again"
                    );
                    self.ring.push(l.clone());
                    tracing::warn!("{l}");
                }
                self.link.lost = Some(why);
                self.register_again();
            }
        }
    }

    /// Register with the kernel half anew, from a new upcall socket, off the loop.
    fn register_again(&mut self) {
        let Some(done) = self.link.registered_tx.clone() else {
            return;
        };
        if self.link.registering {
            return;
        }
        self.link.registering = true;
        let (role, mds_id) = match self.mds {
            Some(m) if m == self.node => (pnfsd::Role::Mds, m),
            Some(m) => (pnfsd::Role::Ds, m),
            None => (pnfsd::Role::Ds, 0),
        };
        let reg = Registration {
            node_id: self.node,
            role,
            mds_id,
            epoch: self.store.state.epoch.max(self.mds_epoch),
        };
        let (kind, twin_port) = (self.cfg.socket, self.cfg.twin_port);
        tokio::spawn(async move {
            let r = async {
                let (_c, target) = kernel::find(kind, twin_port).await?;
                let reg = kernel::register(&target, reg).await?;
                Ok::<_, pnfs_netlink::NlError>((target, reg))
            }
            .await
            .map_err(|e| e.to_string());
            let _ = done.send(r).await;
        });
        self.registered_role = Some((reg.role, reg.mds_id, reg.epoch));
    }

    /// A new registration is done: its socket becomes the upcall socket, and the kernel
    /// half gets back what it lost (role, devices, members, grace).
    fn on_registered(&mut self, r: Result<(Target, kernel::Registered), String>) {
        self.link.registering = false;
        let (target, reg) = match r {
            Ok(x) => x,
            Err(e) => {
                // Tried again at the next status (another daemon may hold the kernel
                // half): said at most once a second.
                let log = self
                    .link
                    .register_log
                    .get_or_insert_with(|| crate::ratelog::RateLog::new(Duration::from_secs(1)));
                if let Some(left_out) = log.allow() {
                    self.ring.push(format!(
                        "registering again failed: {e} ({left_out} failures not logged)"
                    ));
                    tracing::warn!(left_out, "registering again failed: {e}");
                }
                return;
            }
        };
        let old = std::mem::replace(&mut self.sock, reg.sock);
        self.upcall_peer = reg.peer;
        self.target = target.clone();
        if let Some(t) = &self.targets {
            let _ = t.send(target);
        }
        let old_thread = self.link.thread.take();
        if let Err(e) = self.start_upcall_thread() {
            self.ring.push(format!("upcall thread not started: {e}"));
            tracing::error!("upcall thread not started: {e}");
        }
        // The old thread returns within its receive timeout; its socket closes after.
        tokio::task::spawn_blocking(move || {
            if let Some(h) = old_thread {
                let _ = h.join();
            }
            drop(old);
        });
        for d in reg.early {
            self.on_datagram(&d);
        }
        self.link.lost = None;
        self.link.reregistered += 1;
        let l = format!(
            "registered again with the {} on port {:#x} (pnfsd v{}, gfs2ctl v{}); pushing devices, members and grace back",
            self.target.describe(),
            self.sock.port(),
            reg.pnfsd_version,
            reg.gfs2_version
        );
        self.ring.push(l.clone());
        tracing::info!("{l}");
        // Whatever changed while registering goes now (REGISTER from the new socket).
        self.register_role();
        if self.is_mds() {
            self.push_devices();
        }
        self.downcall(Tag::Fire, Down::Members(self.members.clone()));
        if self.grace_until.is_some() {
            self.downcall(
                Tag::Fire,
                Down::Grace {
                    start: true,
                    epoch: self.mds_epoch,
                },
            );
        }
    }

    /// Datagrams on the upcall socket from anyone but the kernel half (forged upcalls:
    /// on USERSOCK any local user may send to the daemon's port) are dropped by the
    /// upcall thread; say so, at most once a second.
    fn log_foreign(&mut self) {
        let n = self.fast.stats().foreign;
        if n == self.link.foreign_logged {
            return;
        }
        let log = self
            .link
            .foreign_log
            .get_or_insert_with(|| crate::ratelog::RateLog::new(Duration::from_secs(1)));
        if log.allow().is_some() {
            let l = format!(
                "{} datagram(s) dropped on the upcall socket: not from the kernel half ({n} in all)",
                n - self.link.foreign_logged
            );
            tracing::warn!("{l}");
            self.ring.push(l);
            self.link.foreign_logged = n;
        }
    }

    /// How long a state query may wait for the MDS: the configured limit, and well
    /// within the kernel half's upcall timeout (an answer after it is lost).
    fn query_limit(&self) -> Duration {
        let mine = Duration::from_millis(self.cfg.query_timeout_ms);
        match self.link.timeout {
            Some(k) if !k.is_zero() => mine.min(k * 3 / 4),
            _ => mine,
        }
    }

    /// What the fast path thread handed over. Err: the thread stopped on a socket error.
    fn on_fwd(&mut self, f: Fwd) -> Result<(), String> {
        match f {
            Fwd::Datagram(b) => {
                self.on_datagram(&b);
                self.fast.recycle(b);
            }
            Fwd::Truncated => {
                self.stats.malformed += 1;
                self.ring.push(format!(
                    "upcall datagram longer than {} bytes dropped",
                    fastpath::SLOT
                ));
            }
            Fwd::Overrun => self.overrun(),
            Fwd::SendFailed(e) => self
                .ring
                .push(format!("replies not delivered to the kernel half: {e}")),
            Fwd::Failed(e) => return Err(e),
        }
        Ok(())
    }

    /// Publish what the fast path answers by, if it changed. Called at the end of each
    /// event, from a consistent state, before the loop sends its replies (`flush`). No
    /// allocation unless something changed.
    fn publish(&mut self) {
        let (granting, layouts) = (self.granting(), self.layouts());
        let v = &self.published;
        if v.granting == granting
            && v.layouts == layouts
            && v.mds == self.is_mds()
            && v.mds_epoch == self.mds_epoch
            && v.node == self.node
            && self.same_devices()
        {
            return;
        }
        let view = fastpath::View {
            granting,
            mds_epoch: self.mds_epoch,
            layouts,
            mds: self.is_mds(),
            node: self.node,
            devices: self
                .members
                .iter()
                .filter_map(|n| self.peers.get(n).map(|p| (*n, p.addrs.clone())))
                .collect(),
        };
        self.fast.write().view = view.clone();
        self.published = view;
    }

    /// Mid-event, before the cluster or the kernel half can see anything of it (a cluster
    /// message, a downcall): stop the fast path answering what the state may no longer
    /// allow. Only ever restricts (the state may be half-changed here; forwarding is
    /// always right, the loop answers); `publish` at the end of the event opens again.
    fn restrict(&mut self) {
        let v = &self.published;
        let granting = v.granting
            && self.granting()
            && v.mds_epoch == self.mds_epoch
            && v.node == self.node
            && self.same_devices();
        let layouts = v.layouts && self.layouts();
        if (granting, layouts) != (v.granting, v.layouts) {
            let mut hot = self.fast.write();
            hot.view.granting = granting;
            hot.view.layouts = layouts;
            self.published.granting = granting;
            self.published.layouts = layouts;
        }
    }

    /// This node may grant layouts: the MDS, out of its grace.
    fn layouts(&self) -> bool {
        ClusterView::is_mds(self) && self.grace_until.is_none()
    }
}

/// The loop's current state as the upcall decisions read it (`decide`); the fast path
/// reads the same from the view `publish` gives it.
impl ClusterView for Daemon {
    fn granting(&self) -> bool {
        Daemon::granting(self)
    }
    fn mds_epoch(&self) -> u64 {
        self.mds_epoch
    }
    fn node(&self) -> NodeId {
        self.node
    }
    fn is_mds(&self) -> bool {
        self.mds == Some(self.node)
    }
    fn in_grace(&self) -> bool {
        self.grace_until.is_some()
    }
    fn device(&self, node: NodeId) -> Option<&[DsAddr]> {
        if !self.members.contains(&node) {
            return None;
        }
        self.peers.get(&node).map(|p| p.addrs.as_slice())
    }
    fn data_servers(&self) -> impl Iterator<Item = NodeId> + Clone {
        self.members
            .iter()
            .copied()
            .filter(|n| self.peers.get(n).is_some_and(|p| !p.addrs.is_empty()))
    }
}

impl Daemon {
    /// The members' device addresses are what was last published.
    fn same_devices(&self) -> bool {
        self.members
            .iter()
            .filter_map(|n| self.peers.get(n).map(|p| (*n, &p.addrs)))
            .eq(self.published.devices.iter().map(|(n, a)| (*n, a)))
    }

    /// `pnfsctl stats`: the loop's counters with what the fast path answered.
    fn stats_json(&self) -> Value {
        let f = self.fast.stats();
        let mut s = self.stats.clone();
        s.cache_hits += f.cache_hits;
        for (mine, fast) in s.pnfsd.iter_mut().zip(&f.kinds) {
            mine.merge(fast);
        }
        let mut v = s.to_json();
        v["busy_poll"] = json!({
            "max_us": self.cfg.busy_poll_us,
            "receives_polled": f.poll.polled,
            "receives_waited": f.poll.waited,
            "spin_us": f.poll.spin_us,
        });
        v["control_refused"] = crate::control::REFUSALS.to_json();
        // Datagrams on the upcall socket from anyone but the kernel half (forged upcalls).
        v["foreign_datagrams"] = json!(f.foreign);
        v
    }

    /// The upcall socket's receive queue overflowed (ENOBUFS): the kernel half failed the
    /// upcalls it could not queue at once (-EAGAIN; nothing of them is pending).
    fn overrun(&mut self) {
        self.ring.push(
            "upcall socket overrun: the kernel half failed the upcalls it could not queue".into(),
        );
        self.stats.overruns += 1;
    }

    /// Send the REPLY messages built so far, as one datagram; start a durable write of
    /// what changed.
    async fn flush(&mut self) {
        self.publish();
        if self.dirty_version > self.saved_version
            && !self.write_in_flight
            && self.save_retry.is_none_or(|(at, _)| Instant::now() >= at)
        {
            self.write_in_flight = true;
            self.writing_epoch = self.store.state.epoch;
            let snap = (self.dirty_version, self.store.state.clone());
            if self.save_tx.try_send(snap).is_err() {
                self.write_in_flight = false;
            }
        }
        if self.tx.is_empty() {
            return;
        }
        // One event may answer thousands of parked upcalls: send them in datagrams the
        // kernel half can take whole (it drops a longer one, every REPLY in it lost).
        let mut start = 0;
        while start < self.tx.len() {
            let end = start + datagram_len(&self.tx[start..], MAX_TO_KERNEL);
            if let Err(e) = self
                .sock
                .send_to(&self.tx[start..end], self.upcall_peer, 0)
                .await
            {
                self.ring
                    .push(format!("replies not delivered to the kernel half: {e}"));
            }
            start = end;
        }
        self.tx.clear();
    }

    fn mark_dirty(&mut self) {
        self.dirty_version += 1;
    }

    fn on_saved(&mut self, version: u64, r: Result<(), String>) {
        self.write_in_flight = false;
        let status = match r {
            Ok(()) => {
                self.saved_version = self.saved_version.max(version);
                self.durable_epoch = self.durable_epoch.max(self.writing_epoch);
                if self.save_error.take().is_some() {
                    self.ring.push("durable state written again".into());
                    tracing::info!("durable state written again");
                }
                self.save_retry = None;
                0
            }
            Err(e) => {
                // Retry with backoff (the tick flushes), log at a bounded rate.
                let wait = self
                    .save_retry
                    .map_or(SAVE_BACKOFF_MIN, |(_, w)| (w * 2).min(SAVE_BACKOFF_MAX));
                self.save_retry = Some((Instant::now() + wait, wait));
                if let Some(left_out) = self.save_log.allow() {
                    self.ring.push(format!(
                        "durable state not written: {e} (retry in {wait:?}; {left_out} failures not logged)"
                    ));
                    tracing::error!(
                        left_out,
                        "durable state not written: {e}; retry in {wait:?}"
                    );
                }
                self.save_error = Some(e);
                -libc::EIO
            }
        };
        let ready: Vec<_> = {
            let (ready, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.after_save)
                .into_iter()
                .partition(|(v, ..)| *v <= version);
            self.after_save = keep;
            ready
        };
        for (_, w, st, mount) in ready {
            let st = if status != 0 { status } else { st };
            if st == 0 {
                self.answer_gfs2(w, st, mount.map(|(_, j, f)| (j, f)));
                continue;
            }
            self.answer_gfs2(w, st, None);
            if let Some((table, jid, _)) = mount {
                // The kernel half was refused the mount: give back the journal it took
                // (every node applies the Unmount in the same order), keep nothing of it.
                self.ring.push(format!(
                    "{table}: mount refused (journal assignment not durable); releasing jid {jid}"
                ));
                self.local_mounts.remove(&table);
                let req = self.next_id();
                self.send(Msg::Unmount {
                    req,
                    node: self.node,
                    table,
                });
            }
        }
        let (ready, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cld_after_save)
            .into_iter()
            .partition(|(v, ..)| *v <= version);
        self.cld_after_save = keep;
        for (_, ok, err) in ready {
            self.cld_send(if status == 0 { ok } else { err });
        }
    }

    /// Answer once the current state is durable.
    fn answer_when_saved(&mut self, w: Waiter, status: i32, mount: Option<(String, u32, bool)>) {
        if self.dirty_version <= self.saved_version {
            self.answer_gfs2(w, status, mount.map(|(_, j, f)| (j, f)));
        } else {
            self.after_save.push((self.dirty_version, w, status, mount));
        }
    }

    async fn shutdown(&mut self) {
        let ids: Vec<u64> = self.parked.keys().copied().collect();
        for id in ids {
            if let Some(p) = self.parked.remove(&id) {
                self.answer_state(p.waiter, Nfsstat::Delay, None);
            }
        }
        let reqs: Vec<u64> = self.mounts_parked.keys().copied().collect();
        for r in reqs {
            if let Some(w) = self.mounts_parked.remove(&r) {
                self.answer_gfs2(w, -libc::EAGAIN, None);
            }
        }
        for (fam, cmd) in [
            (self.target.pnfsd.id, pnfsd::cmd::UNREGISTER),
            (self.target.gfs2.id, gfs2ctl::cmd::UNREGISTER),
        ] {
            let b = MsgBuilder::genl(
                &mut self.tx,
                fam,
                pnfs_netlink::codec::NLM_F_REQUEST,
                0,
                self.sock.port(),
                cmd,
                1,
            );
            b.finish();
        }
        self.flush().await;
        self.ring.push("shut down: unregistered".into());
        tracing::info!("unregistered; bye");
    }

    fn granting(&self) -> bool {
        self.not_granting().is_none()
    }

    /// Why this node does not grant, or None if it does.
    fn not_granting(&self) -> Option<String> {
        if !self.quorate {
            return Some("no quorum".into());
        }
        if self.mds.is_none() {
            return Some("no MDS".into());
        }
        if self.is_mds() && self.durable_epoch < self.mds_epoch {
            return Some(format!(
                "MDS epoch {} not durable yet (on disk: {}){}",
                self.mds_epoch,
                self.durable_epoch,
                self.save_error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        None
    }

    fn is_mds(&self) -> bool {
        self.mds == Some(self.node)
    }

    fn send(&mut self, m: Msg) -> bool {
        self.restrict();
        m.encode(&mut self.msg_buf);
        if let Err(e) = self.cluster.send(&self.msg_buf) {
            self.ring.push(format!("cluster send failed: {e}"));
            return false;
        }
        true
    }

    fn downcall(&mut self, tag: Tag, d: Down) {
        self.restrict();
        if let Err(e) = self.down.try_send((tag, d)) {
            self.ring.push(format!("downcall queue full, dropped: {e}"));
        }
    }

    fn say_hello(&mut self) {
        let addrs = self
            .cfg
            .addrs
            .iter()
            .map(|a| DsAddr {
                netid: a.netid.clone(),
                uaddr: a.uaddr.clone(),
            })
            .collect();
        self.send(Msg::Hello {
            min_version: PROTO_MIN_VERSION,
            max_version: PROTO_VERSION,
            node: self.node,
            priority: self.cfg.mds_priority,
            epoch: self.store.state.epoch.max(self.mds_epoch),
            incarnation: self.incarnation,
            addrs,
        });
    }

    // ---------------------------------------------------------------- upcalls

    fn on_datagram(&mut self, buf: &[u8]) {
        for m in Messages::new(buf) {
            let Ok(m) = m else {
                self.stats.malformed += 1;
                break;
            };
            let kind = m.header.kind;
            if kind == NLMSG_ERROR {
                if let Ok(e) = ErrorMsg::parse(m) {
                    if e.error != 0 {
                        self.stats.reply_errors += 1;
                        self.ring.push(format!(
                            "kernel half refused a message: {} ({})",
                            e.message.unwrap_or("no message"),
                            std::io::Error::from_raw_os_error(-e.error)
                        ));
                    }
                }
                continue;
            }
            let Ok(g) = GenlMsg::parse(m) else {
                self.stats.malformed += 1;
                continue;
            };
            if kind == self.target.pnfsd.id {
                self.on_pnfsd(&g);
            } else if kind == self.target.gfs2.id {
                self.on_gfs2(&g);
            }
        }
    }

    /// Start a REPLY to the kernel half.
    fn reply_pnfsd(&mut self, xid: u32, status: Nfsstat) -> MsgBuilder<'_> {
        let port = self.sock.port();
        fastpath::reply(&mut self.tx, self.target.pnfsd.id, port, xid, status)
    }

    fn on_pnfsd(&mut self, g: &GenlMsg<'_>) {
        use pnfsd::{attr as a, cmd};
        let t = match PnfsdAttrs::parse(g.attrs, &pnfsd::PNFSD_POLICY) {
            Ok(t) => t,
            Err(e) => {
                self.stats.malformed += 1;
                self.ring.push(format!("malformed pnfsd upcall: {e}"));
                // Answer INVAL if at least the xid can be found, so nothing waits.
                if let Some(Ok(x)) = pnfs_netlink::AttrIter::new(g.attrs)
                    .find(|x| x.as_ref().is_ok_and(|x| x.kind == a::XID))
                {
                    self.reply_pnfsd(x.u32(), Nfsstat::Inval).finish();
                }
                return;
            }
        };
        let Some(xid) = t.u32(a::XID) else {
            if g.cmd() != cmd::REGISTER {
                self.stats.malformed += 1;
            }
            return; // REGISTER replies to our re-registration carry no xid
        };
        let start = Instant::now();
        let kind = match g.cmd() {
            cmd::GET_STATE => pnfsd::UpcallKind::GetState,
            cmd::GET_DEVICE_INFO => pnfsd::UpcallKind::GetDeviceInfo,
            cmd::LAYOUT_GET => pnfsd::UpcallKind::LayoutGet,
            cmd::LAYOUT_RETURN => pnfsd::UpcallKind::LayoutReturn,
            cmd::LAYOUT_COMMIT => pnfsd::UpcallKind::LayoutCommit,
            cmd::STATE_CHANGED => pnfsd::UpcallKind::StateChanged,
            other => {
                self.stats.malformed += 1;
                self.ring.push(format!(
                    "unexpected pnfsd command {other} from the kernel half"
                ));
                self.reply_pnfsd(xid, Nfsstat::Inval).finish();
                return;
            }
        };
        self.stats.pnfsd[kind as usize].received += 1;
        let answered = match kind {
            pnfsd::UpcallKind::GetState => self.get_state(xid, &t, start),
            pnfsd::UpcallKind::GetDeviceInfo => self.get_device_info(xid, &t),
            pnfsd::UpcallKind::LayoutGet => self.layout_get(xid, &t),
            pnfsd::UpcallKind::LayoutReturn | pnfsd::UpcallKind::LayoutCommit => {
                let st = if !self.granting() {
                    Nfsstat::Delay
                } else if self.is_mds() {
                    Nfsstat::Ok
                } else {
                    Nfsstat::Inval
                };
                self.reply_pnfsd(xid, st).finish();
                Some(st)
            }
            pnfsd::UpcallKind::StateChanged => self.state_changed(xid, &t, start),
        };
        if let Some(st) = answered {
            self.stats
                .pnfsd_answered(kind as u32, st as u32, start.elapsed());
        }
    }

    /// GET_STATE: cache, else the MDS (own kernel or over the cluster).
    fn get_state(&mut self, xid: u32, t: &PnfsdAttrs<'_>, start: Instant) -> Option<Nfsstat> {
        use pnfsd::attr as a;
        let Some(q) = fastpath::StateQuery::parse(t) else {
            self.reply_pnfsd(xid, Nfsstat::Inval).finish();
            return Some(Nfsstat::Inval);
        };
        let (fsid, fileid, stateid, clientid) = (q.fsid, q.fileid, q.stateid, q.clientid);
        let decided = {
            let hot = self.fast.read();
            decide::get_state(&*self, &q, t.u64(a::BOOT_EPOCH), |k| {
                hot.cache.get(k).copied()
            })
        };
        match decided {
            StateDecision::Refused(st) => {
                self.reply_pnfsd(xid, st).finish();
                return Some(st);
            }
            StateDecision::Cached(st, e) => {
                self.stats.cache_hits += 1;
                let port = self.sock.port();
                fastpath::put_state(
                    &mut self.tx,
                    self.target.pnfsd.id,
                    port,
                    xid,
                    st,
                    &e,
                    clientid,
                );
                return Some(st);
            }
            StateDecision::AskMds => {}
        }
        self.stats.cache_misses += 1;
        if self.parked.len() >= self.cfg.max_parked {
            self.reply_pnfsd(xid, Nfsstat::Delay).finish();
            return Some(Nfsstat::Delay);
        }
        let qid = self.next_id();
        let waiter = Waiter::Kernel {
            xid,
            kind: pnfsd::UpcallKind::GetState as u32,
            since: start,
        };
        self.ask_mds(qid, waiter, fsid, fileid, stateid, clientid);
        None
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        ((self.node as u64) << 40) | (self.next_id & ((1 << 40) - 1))
    }

    fn ask_mds(
        &mut self,
        qid: u64,
        waiter: Waiter,
        fsid: u64,
        fileid: u64,
        stateid: [u8; 16],
        clientid: u64,
    ) {
        self.parked.insert(
            qid,
            Parked {
                waiter,
                since: Instant::now(),
            },
        );
        let key = (fsid, fileid, stateid, clientid);
        if let Some(qids) = self.asking.get_mut(&key) {
            if qids.first().is_some_and(|q| self.parked.contains_key(q)) {
                qids.push(qid);
                return;
            }
            // Its first asker was answered DELAY (timed out): ask again, for all.
            qids.insert(0, qid);
        } else {
            self.asking.insert(key, vec![qid]);
        }
        if self.is_mds() {
            let tag = Tag::Query {
                qid,
                to: self.node,
                fsid,
                fileid,
                stateid,
                clientid,
                since: Instant::now(),
            };
            self.downcall(
                tag,
                Down::StateCheck {
                    fsid,
                    fileid,
                    stateid,
                    clientid,
                },
            );
        } else {
            self.send(Msg::StateQuery {
                qid,
                from: self.node,
                fsid,
                fileid,
                stateid,
                clientid,
            });
        }
    }

    /// Who waits for the answer to query `qid` about `key`: `qid` and, if it is the one
    /// that asked for all, those who asked the same after it. They are no longer asking.
    fn askers(&mut self, qid: u64, key: QueryKey) -> Vec<u64> {
        match self.asking.get(&key) {
            Some(qids) if qids.first() == Some(&qid) => self.asking.remove(&key).unwrap(),
            _ => vec![qid],
        }
    }

    fn answer_state(&mut self, w: Waiter, st: Nfsstat, e: Option<(CacheEntry, u64)>) {
        match w {
            Waiter::Kernel { xid, kind, since } => {
                let mut b = self.reply_pnfsd(xid, st);
                if let Some((e, clientid)) = e {
                    use pnfsd::attr as a;
                    b.put_u32(a::ACCESS, e.access)
                        .put_u32(a::GENERATION, e.generation)
                        .put_u64(a::CLIENTID, clientid)
                        .put_u64(a::VERIFIER, e.verifier);
                }
                b.finish();
                self.stats.pnfsd_answered(kind, st as u32, since.elapsed());
            }
            Waiter::Control(tx) => {
                let mut v = json!({ "status": st.name(), "status_code": st as u32 });
                if let Some((e, clientid)) = e {
                    v["access"] = json!(e.access);
                    v["generation"] = json!(e.generation);
                    v["clientid"] = json!(clientid);
                    v["verifier"] = json!(e.verifier);
                    v["epoch"] = json!(e.epoch);
                }
                let _ = tx.send(v);
            }
        }
    }

    fn get_device_info(&mut self, xid: u32, t: &PnfsdAttrs<'_>) -> Option<Nfsstat> {
        let Some(id) = t.array::<16>(pnfsd::attr::DEVICE_ID) else {
            self.reply_pnfsd(xid, Nfsstat::Inval).finish();
            return Some(Nfsstat::Inval);
        };
        // The answer borrows the peers while the REPLY is built in `tx`: take it out for
        // that (no allocation; it goes back with its capacity).
        let mut tx = std::mem::take(&mut self.tx);
        let (st, addrs) = decide::get_device_info(&*self, device_node(id));
        // Build directly into tx: no allocation for the address list.
        fastpath::put_device(
            &mut tx,
            self.target.pnfsd.id,
            self.sock.port(),
            xid,
            st,
            addrs,
        );
        self.tx = tx;
        Some(st)
    }

    fn layout_get(&mut self, xid: u32, t: &PnfsdAttrs<'_>) -> Option<Nfsstat> {
        use pnfsd::attr as a;
        let fileid = t.u64(a::FILEID).unwrap_or(0);
        let pick = match decide::layout_get(&*self, fileid) {
            Ok(pick) => pick,
            Err(st) => {
                self.reply_pnfsd(xid, st).finish();
                return Some(st);
            }
        };
        let port = self.sock.port();
        fastpath::put_layout(
            &mut self.tx,
            self.target.pnfsd.id,
            port,
            xid,
            self.node,
            pick,
            fileid,
            t,
        );
        Some(Nfsstat::Ok)
    }

    /// STATE_CHANGED on the MDS: every cache drops the state before the kernel is told
    /// it is done (acks from every member).
    fn state_changed(&mut self, xid: u32, t: &PnfsdAttrs<'_>, start: Instant) -> Option<Nfsstat> {
        use pnfsd::attr as a;
        let (Some(clientid), Some(fsid), Some(fileid), Some(stateid)) = (
            t.u64(a::CLIENTID),
            t.u64(a::FSID),
            t.u64(a::FILEID),
            t.array::<16>(a::STATEID),
        ) else {
            self.reply_pnfsd(xid, Nfsstat::Inval).finish();
            return Some(Nfsstat::Inval);
        };
        if !self.quorate {
            self.reply_pnfsd(xid, Nfsstat::Delay).finish();
            return Some(Nfsstat::Delay);
        }
        let waiter = Waiter::Kernel {
            xid,
            kind: pnfsd::UpcallKind::StateChanged as u32,
            since: start,
        };
        self.invalidate(
            clientid,
            fsid,
            fileid,
            Some(stateid[4..].try_into().unwrap()),
            waiter,
            1,
        );
        None
    }

    fn invalidate(
        &mut self,
        clientid: u64,
        fsid: u64,
        fileid: u64,
        other: Option<[u8; 12]>,
        waiter: Waiter,
        count: u32,
    ) {
        let iid = self.next_id();
        self.invals.insert(
            iid,
            InvalWait {
                waiting: self.members.iter().copied().collect(),
                waiter: Some(waiter),
                count,
            },
        );
        self.send(Msg::Invalidate {
            iid,
            origin: self.node,
            clientid,
            fsid,
            fileid,
            other,
        });
    }

    fn reply_gfs2(&mut self, xid: u32, status: i32) -> MsgBuilder<'_> {
        let mut b = MsgBuilder::genl(
            &mut self.tx,
            self.target.gfs2.id,
            pnfs_netlink::codec::NLM_F_REQUEST,
            xid,
            self.sock.port(),
            gfs2ctl::cmd::REPLY,
            1,
        );
        b.put_u32(gfs2ctl::attr::XID, xid)
            .put_i32(gfs2ctl::attr::STATUS, status);
        b
    }

    fn answer_gfs2(&mut self, w: Waiter, status: i32, jid_first: Option<(u32, bool)>) {
        match w {
            Waiter::Kernel { xid, kind, since } => {
                let mut b = self.reply_gfs2(xid, status);
                if let Some((jid, first)) = jid_first {
                    b.put_u32(gfs2ctl::attr::JID, jid)
                        .put_u8(gfs2ctl::attr::FIRST, first as u8);
                }
                b.finish();
                self.stats.gfs2_answered(kind, status, since.elapsed());
            }
            Waiter::Control(tx) => {
                let _ = tx.send(json!({ "status": status, "jid": jid_first.map(|j| j.0), "first": jid_first.map(|j| j.1) }));
            }
        }
    }

    fn on_gfs2(&mut self, g: &GenlMsg<'_>) {
        use gfs2ctl::{attr as a, cmd};
        let t = match Gfs2Attrs::parse(g.attrs, &gfs2ctl::GFS2CTL_POLICY) {
            Ok(t) => t,
            Err(e) => {
                self.stats.malformed += 1;
                self.ring.push(format!("malformed gfs2ctl upcall: {e}"));
                if let Some(Ok(x)) = pnfs_netlink::AttrIter::new(g.attrs)
                    .find(|x| x.as_ref().is_ok_and(|x| x.kind == a::XID))
                {
                    self.reply_gfs2(x.u32(), -libc::EINVAL).finish();
                }
                return;
            }
        };
        let Some(xid) = t.u32(a::XID) else { return };
        let start = Instant::now();
        let kind = match g.cmd() {
            cmd::MOUNT => gfs2ctl::UpcallKind::Mount,
            cmd::MOUNT_DONE => gfs2ctl::UpcallKind::MountDone,
            cmd::UNMOUNT => gfs2ctl::UpcallKind::Unmount,
            cmd::WITHDRAW => gfs2ctl::UpcallKind::Withdraw,
            cmd::RECOVERY_DONE => gfs2ctl::UpcallKind::RecoveryDone,
            _ => {
                self.reply_gfs2(xid, -libc::EOPNOTSUPP).finish();
                return;
            }
        };
        self.stats.gfs2[kind as usize].received += 1;
        let waiter = Waiter::Kernel {
            xid,
            kind: kind as u32,
            since: start,
        };
        let Some(table) = t.str(a::TABLE).filter(|s| !s.is_empty()) else {
            self.answer_gfs2(waiter, -libc::EINVAL, None);
            return;
        };
        match kind {
            gfs2ctl::UpcallKind::Mount => {
                if !self.quorate {
                    self.answer_gfs2(waiter, -libc::EAGAIN, None);
                    return;
                }
                let req = self.next_id();
                let spectator =
                    t.u32(a::MOUNT_FLAGS).unwrap_or(0) & gfs2ctl::mount_flags::SPECTATOR != 0;
                let table = table.to_string();
                self.mounts_parked.insert(req, waiter);
                self.send(Msg::Mount {
                    req,
                    node: self.node,
                    table,
                    spectator,
                });
            }
            gfs2ctl::UpcallKind::Unmount => {
                if !self.quorate {
                    // As for mount: the journal map changes only with quorum.
                    self.answer_gfs2(waiter, -libc::EAGAIN, None);
                    return;
                }
                let req = self.next_id();
                let table = table.to_string();
                self.mounts_parked.insert(req, waiter);
                self.send(Msg::Unmount {
                    req,
                    node: self.node,
                    table,
                });
            }
            gfs2ctl::UpcallKind::MountDone => {
                let status = t.i32(a::STATUS).unwrap_or(0);
                self.ring
                    .push(format!("{table}: mount done, status {status}"));
                self.answer_gfs2(waiter, 0, None);
            }
            gfs2ctl::UpcallKind::Withdraw => {
                let jid = t.u32(a::JID).unwrap_or(0);
                let table = table.to_string();
                self.ring
                    .push(format!("{table}: WITHDRAW (jid {jid}) acknowledged"));
                tracing::warn!(table, jid, "gfs2 withdraw acknowledged");
                self.answer_gfs2(waiter, 0, None);
                self.send(Msg::Withdraw {
                    node: self.node,
                    table,
                    jid,
                });
            }
            gfs2ctl::UpcallKind::RecoveryDone => {
                let jid = t.u32(a::JID).unwrap_or(0);
                let status = t
                    .u32(a::RECOVERY_STATUS)
                    .unwrap_or(gfs2ctl::RecoveryStatus::Failed as u32);
                let table = table.to_string();
                self.answer_gfs2(waiter, 0, None);
                self.send(Msg::RecoveryDone {
                    node: self.node,
                    table,
                    jid,
                    status,
                });
            }
        }
    }

    // ---------------------------------------------------------------- cluster

    fn on_cluster(&mut self, ev: ClusterEvent) {
        match ev {
            ClusterEvent::Membership(m) => self.on_membership(m),
            ClusterEvent::Message { from, payload } => match Msg::decode(&payload) {
                Ok(msg) => {
                    if !self.members.contains(&from) {
                        self.stats.rejected_cluster += 1;
                        self.ring
                            .push(format!("message from non-member {from} ignored"));
                        return;
                    }
                    self.on_msg(from, msg)
                }
                Err(e) => {
                    self.stats.rejected_cluster += 1;
                    self.ring
                        .push(format!("cluster message from node {from} rejected: {e}"));
                    tracing::warn!(from, "cluster message rejected: {e}");
                }
            },
            ClusterEvent::Lost(_) => {}
        }
    }

    fn on_membership(&mut self, m: Membership) {
        let was_quorate = self.quorate;
        // On the first one, this node's own grace flags are not announced yet (a Rejoin
        // follows): no grace decision before it.
        let first = self.first_membership;
        self.ring.push(format!(
            "membership: members {:?} joined {:?} left {:?} quorate {}",
            m.members, m.joined, m.left, m.quorate
        ));
        self.members = m.members.clone();
        self.quorate = m.quorate;
        if std::mem::take(&mut self.first_membership) {
            // Alone: our durable journal map is the cluster's. Else wait for a snapshot.
            self.journals_synced = m.members == [self.node];
            if !self.journals_synced {
                self.ring
                    .push("joined a running cluster: journal map waits for a snapshot".into());
            }
            if self.store.state.cld_in_grace {
                // We restarted while our nfsd was in grace: the cluster must not end
                // grace under it.
                let req = self.next_id();
                // Its GraceDone may already wait in the journal (answered once replayed):
                // then say we no longer need grace, whichever of the two arrives first.
                let op = if crate::cld::journal_holds(
                    &self.cfg.state_dir,
                    crate::cld::cmd::GRACE_DONE,
                ) {
                    grace_op::REJOIN_DONE
                } else {
                    grace_op::REJOIN
                };
                self.send(Msg::Grace {
                    node: self.node,
                    req,
                    op,
                });
            }
        }
        if !m.joined.is_empty() {
            // The lowest old member (or, if all are new, the lowest member) sends the
            // journal map as of this change; joiners adopt it and replay what came after.
            let old: Vec<NodeId> = m
                .members
                .iter()
                .copied()
                .filter(|n| !m.joined.contains(n))
                .collect();
            let sender = old.first().or(m.members.first()).copied();
            if sender == Some(self.node) && (self.journals_synced || old.is_empty()) {
                let grace = self.grace_snap();
                self.send(Msg::Journals {
                    node: self.node,
                    journals: self.store.state.journals.clone(),
                    grace,
                });
            }
        }
        if was_quorate != self.quorate {
            // A partition loses (or regains) the right to grant: drop what we cached.
            self.fast.write().cache.clear();
            self.ring.push(format!(
                "quorum {}: cache flushed",
                if m.quorate { "regained" } else { "lost" }
            ));
        }
        if was_quorate && !self.quorate {
            self.departed_since_loss.clear();
        }
        if !self.quorate || !was_quorate {
            self.departed_since_loss
                .extend(m.left.iter().map(|(n, _)| *n));
        }
        if was_quorate && !self.quorate && self.journals_synced {
            // The quorate side may recover our journals meanwhile: once we are back, its
            // map is the cluster's, and ours is adopted from its snapshot on the merge.
            self.journals_synced = false;
            self.ring
                .push("no quorum: journal map to be resynced from the quorate side".into());
        } else if !was_quorate
            && self.quorate
            && !self.journals_synced
            && m.joined.is_empty()
            && !self
                .members
                .iter()
                .any(|n| self.departed_since_loss.contains(n))
        {
            // Quorum came back and no member was away meanwhile (a node without this
            // daemon restored it): every member went through the same sequence, so our
            // map is the group's. After a healed partition the others were away: their
            // snapshot brings the map the quorate side kept.
            self.journals_synced = true;
            for (f, msg) in std::mem::take(&mut self.sync_queue) {
                self.on_msg(f, msg);
            }
        }
        for (n, why) in &m.left {
            self.peers.remove(n);
            self.hello_seen.remove(n);
            self.member_left(*n, *why);
        }
        if self.quorate && !self.left_without_quorum.is_empty() {
            // Quorum is back: who is still gone really left.
            let gone: Vec<NodeId> = std::mem::take(&mut self.left_without_quorum)
                .into_iter()
                .filter(|n| !self.members.contains(n))
                .collect();
            for n in gone {
                self.member_left(n, LeaveReason::NodeDown);
            }
        }
        // Acks no longer expected from departed members.
        let gone: Vec<NodeId> = m.left.iter().map(|(n, _)| *n).collect();
        let iids: Vec<u64> = self.invals.keys().copied().collect();
        for iid in iids {
            if let Some(w) = self.invals.get_mut(&iid) {
                w.waiting.retain(|n| !gone.contains(n));
            }
            self.maybe_finish_inval(iid);
        }
        if !m.joined.is_empty() && !m.joined.contains(&self.node) {
            // Tell newcomers who we are (they did not see our earlier Hello).
            self.say_hello();
        }
        self.downcall(Tag::Fire, Down::Members(self.members.clone()));
        self.elect();
        if self.quorate && !was_quorate && !first {
            self.maybe_end_grace();
        }
    }

    fn member_left(&mut self, n: NodeId, why: LeaveReason) {
        self.ring.push(format!("node {n} left ({why:?})"));
        // A node gone during grace no longer holds it up (if its nfsd is still in grace,
        // its restarted daemon says so again).
        if self.grace_nodes.remove(&n).is_some() {
            self.grace_log(
                "left",
                n,
                format!("grace: node {n} left: it no longer holds grace"),
            );
            self.maybe_end_grace();
        }
        if self.is_mds() {
            let id = device_id(n);
            self.downcall(Tag::Fire, Down::LayoutRecallDevice { id });
            self.downcall(Tag::Fire, Down::DeviceDel { id });
        }
        if matches!(why, LeaveReason::Left | LeaveReason::ProcDown) {
            // Only the daemon went away (stopped, or crashed and restarting); the node and
            // its kernel still run and still write their journals: recovering one now
            // would replay a journal in use. Its restarted daemon reads its mounts back.
            self.ring.push(format!(
                "node {n}: daemon gone but node up: its journals stay held"
            ));
            return;
        }
        if !self.quorate {
            // Cut off from the majority, we cannot tell a dead node from our own
            // isolation: recovering a live node's journal would corrupt the filesystem.
            self.left_without_quorum.insert(n);
            self.ring.push(format!(
                "node {n} left while we have no quorum: journal recovery deferred"
            ));
            return;
        }
        // GFS2: the dead node's journals must be recovered by one survivor.
        let tables: Vec<(String, u32)> = self
            .store
            .state
            .journals
            .iter()
            .filter_map(|(t, m)| m.get(&n).map(|j| (t.clone(), *j)))
            .collect();
        for (table, jid) in tables {
            let survivors: Vec<NodeId> = self.store.state.journals[&table]
                .keys()
                .copied()
                .filter(|x| self.members.contains(x))
                .collect();
            let Some(&recoverer) = survivors.first() else {
                self.ring.push(format!(
                    "{table}: jid {jid} of node {n} waits for a mounter to recover it"
                ));
                continue;
            };
            self.recovery
                .insert((table.clone(), jid), RecoveryJob { dead: n, recoverer });
            if self.local_mounts.contains_key(&table) {
                self.downcall(
                    Tag::Fire,
                    Down::Block {
                        table: table.clone(),
                        block: true,
                    },
                );
            }
            self.ring.push(format!(
                "{table}: node {n} died holding jid {jid}; node {recoverer} recovers it"
            ));
            if recoverer == self.node {
                self.downcall(Tag::Fire, Down::Recover { table, jid });
            }
        }
    }

    /// Choose the MDS: highest priority among members that said Hello with a protocol
    /// version we share, ties to the lowest node id. Every daemon computes the same
    /// from the same agreed sequence.
    fn elect(&mut self) {
        // Without quorum there is no MDS. In particular an MDS cut off from the majority
        // must not stay MDS in its own view: the majority may elect another MDS with a
        // higher epoch meanwhile, and on healing the old MDS, never having changed its
        // mind, announced no new epoch (seen in tests/cluster_daemon.rs after a token
        // loss: node 1 back as MDS with epoch 1 while nodes 2, 3 kept epoch 2, so no DS
        // cached any answer). Forgetting it makes the healed cluster elect afresh: a new,
        // higher epoch and a grace period.
        if !self.quorate {
            if let Some(old) = self.mds.take() {
                self.fast.write().cache.clear();
                self.ring.push(format!(
                    "no quorum: MDS {old} forgotten until quorum returns; DS cache flushed"
                ));
            }
            return;
        }
        // Until every member's Hello is in, a member we know nothing about may have the
        // highest priority: keep an MDS that is still a member, else elect nobody yet.
        // (Otherwise a daemon joining a running cluster whose own Hello is delivered
        // before the others' elects itself, announces an MdsEpoch that every node takes,
        // registers as MDS and starts a grace period, then steps down on the next Hello.)
        if self.members.iter().any(|n| !self.hello_seen.contains(n)) {
            if self.mds.is_some_and(|m| self.members.contains(&m)) {
                return;
            }
            if let Some(old) = self.mds.take() {
                self.fast.write().cache.clear();
                self.ring.push(format!(
                    "MDS {old} gone; no MDS until every member said Hello; DS cache flushed"
                ));
            }
            return;
        }
        let best = self
            .members
            .iter()
            .filter_map(|n| {
                self.peers
                    .get(n)
                    .map(|p| (p.priority, std::cmp::Reverse(*n)))
            })
            .max()
            .map(|(_, std::cmp::Reverse(n))| n);
        if best == self.mds {
            return;
        }
        let old = self.mds;
        self.mds = best;
        self.fast.write().cache.clear();
        self.ring
            .push(format!("MDS {old:?} -> {best:?}; DS cache flushed"));
        tracing::info!(?old, new = ?best, "MDS changed");
        if best == Some(self.node) {
            let epoch = self
                .peers
                .values()
                .map(|p| p.epoch)
                .chain([self.store.state.epoch, self.mds_epoch])
                .max()
                .unwrap_or(0)
                + 1;
            self.store.state.epoch = epoch;
            self.mark_dirty();
            self.send(Msg::MdsEpoch {
                node: self.node,
                epoch,
            });
        }
        self.register_role();
    }

    /// Re-REGISTER pnfsd with the current role, MDS and epoch when any of them changed
    /// (takes effect in the kernel half at once).
    fn register_role(&mut self) {
        if let Some(mds) = self.mds {
            let role = if mds == self.node {
                pnfsd::Role::Mds
            } else {
                pnfsd::Role::Ds
            };
            let epoch = self.store.state.epoch.max(self.mds_epoch);
            if self.registered_role != Some((role, mds, epoch)) {
                self.registered_role = Some((role, mds, epoch));
                let mut b = MsgBuilder::genl(
                    &mut self.tx,
                    self.target.pnfsd.id,
                    pnfs_netlink::codec::NLM_F_REQUEST,
                    0,
                    self.sock.port(),
                    pnfsd::cmd::REGISTER,
                    1,
                );
                b.put_u32(pnfsd::attr::VERSION, pnfsd::VERSION)
                    .put_u32(pnfsd::attr::NODE_ID, self.node)
                    .put_u32(pnfsd::attr::ROLE, role as u32)
                    .put_u32(pnfsd::attr::MDS_ID, mds)
                    .put_u64(pnfsd::attr::BOOT_EPOCH, epoch);
                b.finish();
            }
        }
    }

    fn push_devices(&mut self) {
        let devs: Vec<(NodeId, Vec<DsAddr>)> = self
            .members
            .iter()
            .filter_map(|n| self.peers.get(n).map(|p| (*n, p.addrs.clone())))
            .collect();
        for (n, addrs) in devs {
            self.downcall(
                Tag::Fire,
                Down::DeviceSet {
                    id: device_id(n),
                    node: n,
                    addrs,
                },
            );
        }
    }

    fn on_msg(&mut self, from: NodeId, msg: Msg) {
        if !self.journals_synced
            && matches!(
                msg,
                Msg::Mount { .. }
                    | Msg::Unmount { .. }
                    | Msg::RecoveryDone { .. }
                    | Msg::Grace { .. }
                    | Msg::Client { .. }
            )
        {
            self.sync_queue.push((from, msg));
            return;
        }
        match msg {
            Msg::Journals {
                node,
                journals,
                grace,
            } => {
                if self.journals_synced {
                    return; // every synced member already has exactly this map
                }
                self.adopt_grace(node, grace);
                if journals != self.store.state.journals {
                    self.ring.push(format!(
                        "journal map from node {node} replaces our stale one: {journals:?} (was {:?})",
                        self.store.state.journals
                    ));
                    self.store.state.journals = journals;
                    self.mark_dirty();
                }
                self.journals_synced = true;
                for (f, m) in std::mem::take(&mut self.sync_queue) {
                    self.on_msg(f, m);
                }
            }
            Msg::Grace { node, req, op } => self.on_grace(node, req, op),
            Msg::FsRecovery {
                node,
                table,
                jid,
                result,
            } => {
                let l = self.gfs2.cluster_recovery(crate::gfs2::ClusterRecovery {
                    node,
                    table,
                    jid,
                    result,
                });
                self.ring.push(l);
            }
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
            } => {
                if node != from {
                    self.ring
                        .push(format!("hello from {from} claims node {node}: ignored"));
                    return;
                }
                self.hello_seen.insert(node);
                if max_version < PROTO_MIN_VERSION || min_version > PROTO_VERSION {
                    self.stats.rejected_cluster += 1;
                    self.ring.push(format!(
                        "node {node} speaks {min_version}..={max_version}, we {PROTO_MIN_VERSION}..={PROTO_VERSION}: ignored"
                    ));
                    return;
                }
                let fresh = self.peers.get(&node).map(|p| p.incarnation) != Some(incarnation);
                self.peers.insert(
                    node,
                    Peer {
                        priority,
                        epoch,
                        incarnation,
                        max_version,
                        addrs: addrs.clone(),
                    },
                );
                if fresh {
                    self.ring.push(format!("hello from node {node} (priority {priority}, epoch {epoch}, v{max_version})"));
                }
                self.elect();
                // A daemon that joins a running cluster never saw the MDS's MdsEpoch: take
                // the epoch from the MDS's Hello (its durable epoch is the one it
                // announced). Without this a joiner kept mds_epoch 0, cached no answer
                // (their epoch differed) and registered a stale boot epoch.
                let mds_epoch = self
                    .mds
                    .filter(|m| *m != self.node)
                    .and_then(|m| self.peers.get(&m))
                    .map(|p| p.epoch);
                if let Some(epoch) = mds_epoch.filter(|e| *e > self.mds_epoch) {
                    let node = self.mds.unwrap();
                    self.mds_epoch = epoch;
                    if epoch > self.store.state.epoch {
                        self.store.state.epoch = epoch;
                        self.mark_dirty();
                    }
                    self.fast.write().cache.clear();
                    self.ring
                        .push(format!("MDS {node}'s epoch {epoch} learned from its hello"));
                    self.register_role();
                }
                if self.is_mds() {
                    self.downcall(
                        Tag::Fire,
                        Down::DeviceSet {
                            id: device_id(node),
                            node,
                            addrs,
                        },
                    );
                }
            }
            Msg::MdsEpoch { node, epoch } => {
                self.mds_epoch = epoch;
                if epoch > self.store.state.epoch {
                    self.store.state.epoch = epoch;
                    self.mark_dirty();
                }
                self.fast.write().cache.clear();
                self.ring
                    .push(format!("node {node} is MDS with epoch {epoch}"));
                self.register_role();
                if node == self.node {
                    self.grace_until =
                        Some(Instant::now() + Duration::from_millis(self.cfg.grace_ms));
                    self.downcall(Tag::Fire, Down::Grace { start: true, epoch });
                    self.push_devices();
                }
            }
            Msg::StateQuery {
                qid,
                from: asker,
                fsid,
                fileid,
                stateid,
                clientid,
            } => {
                if self.is_mds() {
                    let tag = Tag::Query {
                        qid,
                        to: asker,
                        fsid,
                        fileid,
                        stateid,
                        clientid,
                        since: Instant::now(),
                    };
                    self.downcall(
                        tag,
                        Down::StateCheck {
                            fsid,
                            fileid,
                            stateid,
                            clientid,
                        },
                    );
                }
            }
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
            } => {
                let key: StateKey = (clientid, fsid, fileid, stateid[4..].try_into().unwrap());
                let entry = CacheEntry {
                    generation,
                    access,
                    verifier,
                    epoch,
                };
                if status == Nfsstat::Ok as u32 && epoch == self.mds_epoch {
                    let mut hot = self.fast.write();
                    if hot.cache.len() < self.cfg.max_cache {
                        hot.cache.insert(key, entry);
                    }
                }
                if to == self.node {
                    let st = Nfsstat::from_u32(status).unwrap_or(Nfsstat::Io);
                    let e = (st == Nfsstat::Ok || st == Nfsstat::OldStateid)
                        .then_some((entry, clientid));
                    for q in self.askers(qid, (fsid, fileid, stateid, clientid)) {
                        if let Some(p) = self.parked.remove(&q) {
                            self.answer_state(p.waiter, st, e);
                        }
                    }
                }
            }
            Msg::Invalidate {
                iid,
                origin,
                clientid,
                fsid,
                fileid,
                other,
            } => {
                let dropped = {
                    let mut hot = self.fast.write();
                    let before = hot.cache.len();
                    hot.cache.retain(|k, _| {
                        !(k.0 == clientid
                            && other.is_none_or(|o| k.1 == fsid && k.2 == fileid && k.3 == o))
                    });
                    before - hot.cache.len()
                };
                if dropped > 0 {
                    self.ring.push(format!(
                        "invalidated {dropped} cached state(s) of client {clientid:#x}"
                    ));
                }
                self.send(Msg::InvalidateAck {
                    iid,
                    origin,
                    node: self.node,
                });
            }
            Msg::InvalidateAck { iid, origin, node } => {
                if origin == self.node {
                    if let Some(w) = self.invals.get_mut(&iid) {
                        w.waiting.remove(&node);
                    }
                    self.maybe_finish_inval(iid);
                }
            }
            Msg::Mount {
                req,
                node,
                table,
                spectator,
            } => self.on_mount(req, node, table, spectator),
            Msg::Unmount { req, node, table } => {
                if let Some(m) = self.store.state.journals.get_mut(&table) {
                    m.remove(&node);
                    if m.is_empty() {
                        self.store.state.journals.remove(&table);
                    }
                }
                self.mark_dirty();
                self.ring.push(format!("{table}: node {node} unmounted"));
                if node == self.node {
                    self.local_mounts.remove(&table);
                    if let Some(w) = self.mounts_parked.remove(&req) {
                        self.answer_when_saved(w, 0, None);
                    }
                }
            }
            Msg::Withdraw { node, table, jid } => {
                self.ring
                    .push(format!("{table}: node {node} withdrew (jid {jid})"));
            }
            Msg::RecoveryDone {
                node,
                table,
                jid,
                status,
            } => {
                let done = status == gfs2ctl::RecoveryStatus::Done as u32;
                let job = self.recovery.remove(&(table.clone(), jid));
                self.ring.push(format!(
                    "{table}: jid {jid} recovery by node {node} {}",
                    if done { "done" } else { "FAILED" }
                ));
                match job {
                    Some(job) if done => {
                        if let Some(m) = self.store.state.journals.get_mut(&table) {
                            m.remove(&job.dead);
                        }
                        self.mark_dirty();
                        if self.local_mounts.contains_key(&table)
                            && !self.recovery.keys().any(|(t, _)| *t == table)
                        {
                            self.downcall(
                                Tag::Fire,
                                Down::Block {
                                    table,
                                    block: false,
                                },
                            );
                        }
                    }
                    Some(job) => {
                        // Try the next survivor (deterministic: the next lowest node id).
                        let next = self.store.state.journals.get(&table).and_then(|m| {
                            m.keys()
                                .copied()
                                .filter(|x| self.members.contains(x) && *x > job.recoverer)
                                .min()
                        });
                        if let Some(r) = next {
                            self.recovery.insert(
                                (table.clone(), jid),
                                RecoveryJob {
                                    dead: job.dead,
                                    recoverer: r,
                                },
                            );
                            if r == self.node {
                                self.downcall(Tag::Fire, Down::Recover { table, jid });
                            }
                        }
                    }
                    None => {}
                }
            }
        }
    }

    fn on_mount(&mut self, req: u64, node: NodeId, table: String, spectator: bool) {
        let live = &self.members;
        let entry = self.store.state.journals.entry(table.clone()).or_default();
        let first = !entry.keys().any(|n| *n != node && live.contains(n));
        let jid = match entry.get(&node) {
            Some(j) => *j,
            None => {
                // Lowest journal not held by another node (a dead node's journal stays
                // held until it is recovered).
                let used: BTreeSet<u32> = entry.values().copied().collect();
                (0..).find(|j| !used.contains(j)).unwrap()
            }
        };
        let changed = !spectator && entry.insert(node, jid) != Some(jid);
        if changed {
            self.mark_dirty();
        }
        if node == self.node && self.mounts_expired.remove(&req) {
            // The kernel half was told EAGAIN: it did not mount. Give back what this
            // late request took (every node applies the Unmount in the same order).
            self.ring.push(format!(
                "{table}: late mount request {req:#x} delivered after its EAGAIN; releasing jid {jid}"
            ));
            if changed {
                let req = self.next_id();
                self.send(Msg::Unmount {
                    req,
                    node: self.node,
                    table,
                });
            }
            return;
        }
        self.ring.push(format!(
            "{table}: node {node} mounts with jid {jid}{}",
            if first { " (first)" } else { "" }
        ));
        if node == self.node {
            self.local_mounts.insert(table.clone(), (jid, first));
            if let Some(w) = self.mounts_parked.remove(&req) {
                self.answer_when_saved(w, 0, Some((table, jid, first)));
            }
        }
    }

    fn maybe_finish_inval(&mut self, iid: u64) {
        if self.invals.get(&iid).is_some_and(|w| w.waiting.is_empty()) {
            let mut w = self.invals.remove(&iid).unwrap();
            match w.waiter.take() {
                Some(Waiter::Control(tx)) => {
                    let _ = tx.send(json!({ "revoked": w.count, "acknowledged_by_all": true }));
                }
                Some(k) => self.answer_state(k, Nfsstat::Ok, None),
                None => {}
            }
        }
    }

    // ---------------------------------------------------------------- downcalls

    fn on_downcall(&mut self, tag: Tag, d: Down, r: Result<DownOut, String>) {
        match (tag, r) {
            (Tag::Fire, Ok(_)) => {}
            (Tag::Fire, Err(e)) => {
                self.ring.push(format!("downcall {d:?} failed: {e}"));
                tracing::warn!("downcall {d:?} failed: {e}");
            }
            (
                Tag::Query {
                    qid,
                    to,
                    fsid,
                    fileid,
                    stateid,
                    clientid,
                    since,
                },
                r,
            ) => {
                let checked = since.elapsed();
                let (status, access, generation, verifier, epoch) = match r {
                    Ok(DownOut::State {
                        status,
                        access,
                        generation,
                        verifier,
                        ..
                    }) => (status, access, generation, verifier, self.mds_epoch),
                    Ok(_) | Err(_) => (Nfsstat::Delay as u32, 0, 0, 0, self.mds_epoch),
                };
                if to == self.node && !self.quorate {
                    for q in self.askers(qid, (fsid, fileid, stateid, clientid)) {
                        if let Some(p) = self.parked.remove(&q) {
                            self.answer_state(p.waiter, Nfsstat::Delay, None);
                        }
                    }
                    return;
                }
                let sent = self.send(Msg::StateAnswer {
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
                });
                if sent {
                    let c = &mut self.stats.mds_checks;
                    c.answered += 1;
                    c.kernel.record(checked.as_nanos() as u64);
                    c.answer.record(since.elapsed().as_nanos() as u64);
                }
            }
            (
                Tag::Revoke {
                    clientid,
                    one,
                    waiter,
                },
                Ok(DownOut::Count(n)),
            ) => {
                let (fsid, fileid, other) = match one {
                    Some((f, i, s)) => (f, i, Some(s[4..].try_into().unwrap())),
                    None => (0, 0, None),
                };
                self.invalidate(clientid, fsid, fileid, other, waiter, n);
            }
            (Tag::Revoke { waiter, .. }, r) => {
                let err = match r {
                    Err(e) => e,
                    Ok(o) => format!("unexpected answer {o:?}"),
                };
                if let Waiter::Control(tx) = waiter {
                    let _ = tx.send(json!({ "error": err }));
                }
            }
        }
    }

    // ---------------------------------------------------------------- time

    fn on_tick(&mut self) {
        self.log_foreign();
        let limit = self.query_limit();
        // A MOUNT or UNMOUNT the cluster has not ordered within the query timeout (the
        // ring is re-forming after a node death): answer now, before the kernel half's
        // own timeout, rather than late. A mount fails with EAGAIN (its journal, if the
        // request is delivered after all, is released again: `on_mount`); an unmount
        // succeeds (the kernel unmounts anyway; the journal is released in cluster
        // order when the request is delivered).
        let stale: Vec<(u64, bool)> = self
            .mounts_parked
            .iter()
            .filter_map(|(r, w)| match w {
                Waiter::Kernel { kind, since, .. } if since.elapsed() > limit => {
                    Some((*r, *kind == gfs2ctl::UpcallKind::Mount as u32))
                }
                _ => None,
            })
            .collect();
        for (r, is_mount) in stale {
            if let Some(w) = self.mounts_parked.remove(&r) {
                self.stats.query_timeouts += 1;
                if is_mount {
                    self.mounts_expired.insert(r);
                    self.answer_gfs2(w, -libc::EAGAIN, None);
                } else {
                    self.answer_gfs2(w, 0, None);
                }
            }
        }
        let expired: Vec<u64> = self
            .parked
            .iter()
            .filter(|(_, p)| p.since.elapsed() > limit)
            .map(|(q, _)| *q)
            .collect();
        for q in expired {
            if let Some(p) = self.parked.remove(&q) {
                self.stats.query_timeouts += 1;
                self.answer_state(p.waiter, Nfsstat::Delay, None);
            }
        }
        let parked = &self.parked;
        self.asking
            .retain(|_, qids| qids.iter().any(|q| parked.contains_key(q)));
        if let Some(t) = self.grace_until {
            if Instant::now() >= t {
                self.grace_until = None;
                let epoch = self.mds_epoch;
                self.ring.push(format!("grace of epoch {epoch} ends"));
                self.downcall(
                    Tag::Fire,
                    Down::Grace {
                        start: false,
                        epoch,
                    },
                );
            }
        }
    }

    // ---------------------------------------------------------------- control

    /// Answer nfsd on the cld pipe (the pipe task writes it, then drops the message
    /// from its in-flight journal).
    fn cld_send(&mut self, out: crate::cld::CldOut) {
        if let Some(tx) = &self.cld_tx {
            if let Err(e) = tx.try_send(out) {
                // The message stays journaled and is answered when the pipe reopens.
                self.ring.push(format!("cld: answer not queued: {e}"));
            }
        }
    }

    /// One message from nfsd's cld pipe. Answers that follow a change of the client
    /// records wait until the records are on disk (as nfsdcld answers after sqlite).
    fn on_cld(&mut self, b: &[u8]) {
        use crate::cld::{self, cmd, CldMsg, CldOut};
        let m = match CldMsg::parse(b) {
            Ok(m) => m,
            Err(e @ cld::CldError::Version(_)) if b.len() >= cld::HDR_LEN => {
                // The right size, a newer version: answer so no nfsd thread waits.
                self.ring.push(format!("cld: {e}"));
                let m = CldMsg::parse_any(b);
                let xid = m.xid();
                return self.cld_send(CldOut {
                    xid,
                    replies: vec![cld::reply(&m, -(libc::EPROTONOSUPPORT as i16))],
                });
            }
            Err(e) => {
                // Not a message nfsd sends: nothing to answer (its size is unknown).
                self.ring.push(format!("cld: dropped: {e}"));
                let xid = cld::xid_of(b).unwrap_or(0);
                return self.cld_send(CldOut {
                    xid,
                    replies: vec![],
                });
            }
        };
        let xid = m.xid();
        let name_of = |m: &CldMsg<'_>| {
            m.name()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default()
        };
        self.ring.push(format!(
            "cld: {} v{} xid {xid} {}",
            cld::cmd_name(m.cmd()),
            m.vers(),
            if matches!(m.cmd(), cmd::CREATE | cmd::REMOVE | cmd::CHECK) {
                name_of(&m)
            } else {
                String::new()
            }
        ));
        #[cfg(feature = "fuzzing")]
        if std::env::var("PNFS_TEST_CLD_UNANSWERED").is_ok_and(|v| v == cld::cmd_name(m.cmd())) {
            // Test hook (feature `fuzzing`, not in production builds): leave it
            // unanswered, as a daemon that dies between reading and answering would; it
            // stays in the in-flight journal for the next daemon to answer.
            return self.ring.push(format!(
                "cld: test hook: {} xid {xid} left unanswered",
                cld::cmd_name(m.cmd())
            ));
        }
        let now = |replies| CldOut { xid, replies };
        let einval = -(libc::EINVAL as i16);
        // What goes to the cluster; the answer waits until it comes back in the agreed
        // order (and, for records, until they are on disk), so every node's store holds
        // a client before nfsd hears it is recorded.
        let req = self.next_id();
        let records = &self.store.state.clients;
        let msg = match m.cmd() {
            cmd::GET_VERSION => {
                return self.cld_send(now(vec![cld::reply_version(&m, cld::VERSION)]))
            }
            cmd::CHECK => {
                let st = match m.name() {
                    Ok(n) if records.may_reclaim(n) => 0,
                    Ok(_) => -(libc::EACCES as i16),
                    Err(_) => einval,
                };
                return self.cld_send(now(vec![cld::reply(&m, st)]));
            }
            cmd::CREATE | cmd::REMOVE => {
                let create = m.cmd() == cmd::CREATE;
                let hash = if create { m.princhash() } else { Ok(&[][..]) };
                match (m.name(), hash) {
                    (Ok(n), Ok(p)) => Msg::Client {
                        node: self.node,
                        req,
                        create,
                        name: crate::hex(n),
                        princhash: crate::hex(p),
                    },
                    (Err(e), _) | (_, Err(e)) => {
                        self.ring
                            .push(format!("cld: {} xid {xid}: {e}", cld::cmd_name(m.cmd())));
                        return self.cld_send(now(vec![cld::reply(&m, einval)]));
                    }
                }
            }
            cmd::GRACE_START => Msg::Grace {
                node: self.node,
                req,
                op: grace_op::START,
            },
            cmd::GRACE_DONE => Msg::Grace {
                node: self.node,
                req,
                op: grace_op::DONE,
            },
            other => {
                self.ring
                    .push(format!("cld: command {other} not supported"));
                return self.cld_send(now(vec![cld::reply(&m, -(libc::EOPNOTSUPP as i16))]));
            }
        };
        if self.send(msg) {
            self.cld_wait.insert(req, b.to_vec());
        } else {
            // Not sent: nfsd must not wait for an answer that will never come.
            self.cld_send(now(vec![cld::reply(&m, -(libc::EREMOTEIO as i16))]));
        }
    }

    /// Our cld request `req` came back in the cluster's order: answer nfsd once the
    /// state it changed is on disk.
    fn cld_answer_after_save(
        &mut self,
        req: u64,
        replies: impl FnOnce(&crate::cld::CldMsg<'_>) -> Vec<Vec<u8>>,
    ) {
        if let Some(b) = self.cld_wait.remove(&req) {
            self.cld_reply_after_save(&b, replies);
        }
    }

    /// Answer nfsd's message `b` once the state is on disk (-EREMOTEIO if the write
    /// fails).
    fn cld_reply_after_save(
        &mut self,
        b: &[u8],
        replies: impl FnOnce(&crate::cld::CldMsg<'_>) -> Vec<Vec<u8>>,
    ) {
        use crate::cld::{self, CldMsg, CldOut};
        let m = CldMsg::parse_any(b);
        let xid = m.xid();
        let ok = CldOut {
            xid,
            replies: replies(&m),
        };
        let err = CldOut {
            xid,
            replies: vec![cld::reply(&m, -(libc::EREMOTEIO as i16))],
        };
        self.mark_dirty();
        self.cld_after_save.push((self.dirty_version, ok, err));
    }

    /// Grace decisions go to the log, the event ring and (`what` non-empty) the grace
    /// events `pnfsctl monitor grace` follows, with the epochs after the decision.
    fn grace_log(&mut self, what: &'static str, node: NodeId, s: String) {
        tracing::info!("{s}");
        if !what.is_empty() {
            self.grace_seq += 1;
            let c = &self.store.state.clients;
            if self.grace_events.len() == GRACE_EVENTS {
                self.grace_events.pop_front();
            }
            self.grace_events.push_back(json!({
                "seq": self.grace_seq,
                "what": what,
                "node": node,
                "current_epoch": c.current,
                "recovery_epoch": c.recovery,
                "text": s,
            }));
        }
        self.ring.push(s);
    }

    /// A node's nfsd started or finished grace (in the agreed order, on every node).
    fn on_grace(&mut self, node: NodeId, req: u64, op: u8) {
        let c = &mut self.store.state.clients;
        match op {
            grace_op::START => {
                let new = c.grace_start();
                let (cur, rec) = (c.current, c.recovery);
                if new {
                    self.grace_log("begin", node, format!(
                        "grace: node {node}'s nfsd started: cluster grace begins, epoch {cur} recovering epoch {rec}"
                    ));
                } else {
                    self.grace_log(
                        "join",
                        node,
                        format!(
                        "grace: node {node}'s nfsd started: joins the grace recovering epoch {rec}"
                    ),
                    );
                }
                self.grace_nodes.insert(node, GRACE_NEED | GRACE_ENFORCING);
                self.mark_dirty();
                if node == self.node {
                    self.store.state.cld_in_grace = true;
                    let open: Vec<NodeId> = self
                        .members
                        .iter()
                        .copied()
                        .filter(|n| {
                            self.grace_nodes
                                .get(n)
                                .is_none_or(|f| f & GRACE_ENFORCING == 0)
                        })
                        .collect();
                    if !open.is_empty() {
                        // Unpatched nfsd cannot re-enter grace once out of it: say so.
                        self.grace_log("unenforced", node, format!(
                            "grace: nodes {open:?} are not in grace (an nfsd out of grace cannot re-enter it without a restart): their clients are not held off"
                        ));
                    }
                    let c = &self.store.state.clients;
                    let upload = c.reclaimable();
                    let line = format!(
                        "cld: grace starts: epoch {} recovering epoch {} ({} client(s) may reclaim)",
                        c.current,
                        c.recovery,
                        upload.len()
                    );
                    self.ring.push(line);
                    self.cld_answer_after_save(req, move |m| {
                        let mut v: Vec<Vec<u8>> = upload
                            .iter()
                            .map(|(n, p)| crate::cld::reply_upload(m, n, p))
                            .collect();
                        v.push(crate::cld::reply(m, 0));
                        v
                    });
                }
            }
            grace_op::DONE => {
                if let Some(f) = self.grace_nodes.get_mut(&node) {
                    *f &= !GRACE_NEED;
                }
                self.grace_log(
                    "done",
                    node,
                    format!("grace: node {node}'s nfsd finished reclaim"),
                );
                if node == self.node {
                    if let Some(b) = self.cld_wait.remove(&req) {
                        self.grace_done_held.push(b);
                    }
                }
            }
            _ => {
                // REJOIN(_DONE): a restarted daemon whose nfsd is still in grace.
                let f = if self.store.state.clients.recovery != 0 && op == grace_op::REJOIN {
                    GRACE_NEED | GRACE_ENFORCING
                } else {
                    GRACE_ENFORCING
                };
                self.grace_nodes.insert(node, f);
                self.grace_log(
                    "rejoin",
                    node,
                    format!("grace: node {node} is back with its nfsd in grace"),
                );
            }
        }
        self.maybe_end_grace();
    }

    /// Grace ends cluster-wide when no member needs it any more (and only with quorum:
    /// a cut-off minority cannot tell); then every held GraceDone is answered.
    fn maybe_end_grace(&mut self) {
        if !self.journals_synced {
            // Joining: the cluster's grace is not known here yet (the snapshot brings it).
            return;
        }
        let c = &self.store.state.clients;
        if c.recovery != 0 {
            let needing: Vec<NodeId> = self
                .members
                .iter()
                .copied()
                .filter(|n| self.grace_nodes.get(n).is_some_and(|f| f & GRACE_NEED != 0))
                .collect();
            if !needing.is_empty() || !self.quorate {
                if !self.grace_done_held.is_empty() {
                    self.grace_log(
                        "",
                        self.node,
                        format!(
                            "grace: GraceDone held: nodes {needing:?} still need grace{}",
                            if self.quorate { "" } else { " (and no quorum)" }
                        ),
                    );
                }
                return;
            }
            let r = c.recovery;
            self.store.state.clients.grace_done();
            self.grace_nodes.clear();
            self.mark_dirty();
            self.grace_log(
                "end",
                self.node,
                format!("grace: epoch {r}'s grace ends cluster-wide (no member needs it)"),
            );
        }
        if self.grace_done_held.is_empty() {
            return;
        }
        self.store.state.cld_in_grace = false;
        self.grace_nodes.remove(&self.node);
        self.mark_dirty();
        let line = format!(
            "cld: grace done: epoch {}",
            self.store.state.clients.current
        );
        self.ring.push(line);
        for b in std::mem::take(&mut self.grace_done_held) {
            self.cld_reply_after_save(&b, |m| vec![crate::cld::reply(m, 0)]);
        }
    }

    /// A client record from a node's nfsd (in the agreed order, on every node).
    fn on_client(&mut self, node: NodeId, req: u64, create: bool, name: &str, princhash: &str) {
        self.store.state.clients.apply(create, name, princhash);
        self.mark_dirty();
        if node == self.node {
            self.cld_answer_after_save(req, |m| vec![crate::cld::reply(m, 0)]);
        }
    }

    /// For `pnfsctl grace show`: the cluster's epochs and every member's flags.
    fn grace_json(&self) -> Value {
        let c = &self.store.state.clients;
        let mut nodes: BTreeSet<NodeId> = self.members.iter().copied().collect();
        nodes.extend(self.grace_nodes.keys());
        json!({
            "current_epoch": c.current,
            "recovery_epoch": c.recovery,
            "in_grace": c.recovery != 0,
            "quorate": self.quorate,
            "nodes": nodes.iter().map(|n| {
                let f = self.grace_nodes.get(n).copied().unwrap_or(0);
                json!({
                    "node": n,
                    "member": self.members.contains(n),
                    "need": f & GRACE_NEED != 0,
                    "enforcing": f & GRACE_ENFORCING != 0,
                })
            }).collect::<Vec<_>>(),
            "local": {
                "node": self.node,
                "cld_pipe": self.cfg.cld_pipe,
                "nfsd_in_grace": self.store.state.cld_in_grace,
                "grace_done_held": self.grace_done_held.len(),
                "waiting_for_cluster": self.cld_wait.len(),
            },
        })
    }

    /// The grace state and client records a joiner adopts.
    fn grace_snap(&self) -> GraceSnap {
        let c = &self.store.state.clients;
        GraceSnap {
            current: c.current,
            recovery: c.recovery,
            nodes: self.grace_nodes.clone(),
            epochs: c.epochs.clone(),
        }
    }

    fn adopt_grace(&mut self, from: NodeId, g: GraceSnap) {
        let c = &mut self.store.state.clients;
        if (c.current, c.recovery, &c.epochs) != (g.current, g.recovery, &g.epochs) {
            self.ring.push(format!(
                "grace: epochs {}/{} and {} record set(s) from node {from} replace ours ({}/{})",
                g.current,
                g.recovery,
                g.epochs.len(),
                c.current,
                c.recovery
            ));
            c.current = g.current;
            c.recovery = g.recovery;
            c.epochs = g.epochs;
            self.mark_dirty();
        }
        // Our own flags are ours to say (a Rejoin follows if our nfsd is in grace).
        let mine = self.grace_nodes.get(&self.node).copied();
        self.grace_nodes = g.nodes;
        match mine {
            Some(f) => self.grace_nodes.insert(self.node, f),
            None => self.grace_nodes.remove(&self.node),
        };
    }

    /// A uevent of GFS2 or the DLM (the watcher filtered the rest).
    fn on_uevent(&mut self, b: &[u8]) {
        let ev = match crate::gfs2::Uevent::parse(b) {
            Ok(ev) => ev,
            Err(e) => return self.ring.push(format!("uevent dropped: {e}")),
        };
        let (line, action) = self.gfs2.apply(&ev);
        // A journal recovery's result goes to every node (GFS2 tells only this one).
        if ev.action == "change" && ev.subsystem() == "gfs2" {
            if let (Some(table), Some((jid, result))) = (ev.get("LOCKTABLE"), ev.recovery()) {
                self.send(Msg::FsRecovery {
                    node: self.node,
                    table: table.to_string(),
                    jid,
                    result: result.to_string(),
                });
            }
        }
        if let Some(l) = line {
            if ev.action == "offline" {
                tracing::warn!("{l}");
            }
            self.ring.push(l);
        }
        if let Some(a) = action {
            let l = self.gfs2.act(&a);
            tracing::warn!("{l}");
            self.ring.push(l);
        }
    }

    fn on_control(&mut self, r: ControlReq) {
        let v = match r.req {
            Request::Ping => json!({ "pong": self.node, "incarnation": self.incarnation }),
            Request::Status => self.status_json(),
            Request::Stats => self.stats_json(),
            Request::Cache => {
                let hot = self.fast.read();
                let mut keys: Vec<_> = hot.cache.iter().collect();
                keys.sort_by_key(|(k, _)| *k);
                let v: Vec<Value> = keys
                    .into_iter()
                    .map(|((c, f, i, o), e)| {
                        json!({ "clientid": c, "fsid": f, "fileid": i, "other": hex(o), "generation": e.generation, "access": e.access, "epoch": e.epoch })
                    })
                    .collect();
                json!({ "entries": v })
            }
            Request::Ring => json!({ "entries": self.ring.entries().collect::<Vec<_>>() }),
            Request::Journals => json!({
                "journals": self.store.state.journals,
                "local": self.local_mounts.iter().map(|(t, (j, f))| json!({"table": t, "jid": j, "first": f})).collect::<Vec<_>>(),
                "recovery": self.recovery.iter().map(|((t, j), r)| json!({"table": t, "jid": j, "dead": r.dead, "recoverer": r.recoverer})).collect::<Vec<_>>(),
            }),
            Request::Gfs2 => self.gfs2.to_json(),
            Request::Clients => {
                let mut v = self.store.state.clients.to_json();
                v["pipe"] = json!(self.cfg.cld_pipe);
                v["serving"] = json!(self.cld_rx.is_some());
                v
            }
            Request::Grace { since } => {
                let mut v = self.grace_json();
                if let Some(since) = since {
                    let ev: Vec<&Value> = self
                        .grace_events
                        .iter()
                        .filter(|e| e["seq"].as_u64().is_some_and(|s| s > since))
                        .collect();
                    // Older than what is kept: the watcher missed some (it resyncs).
                    let first = self.grace_seq + 1 - self.grace_events.len() as u64;
                    v["events_lost"] = json!(since + 1 < first);
                    v["events"] = json!(ev);
                }
                v["last_seq"] = json!(self.grace_seq);
                v
            }
            Request::Query {
                fsid,
                fileid,
                clientid,
                stateid,
            } => return self.control_query(r.reply, fsid, fileid, clientid, &stateid),
            Request::Revoke {
                clientid,
                fsid,
                fileid,
                stateid,
            } => return self.control_revoke(r.reply, clientid, fsid, fileid, stateid.as_deref()),
        };
        let _ = r.reply.send(v);
    }

    fn control_query(
        &mut self,
        reply: oneshot::Sender<Value>,
        fsid: u64,
        fileid: u64,
        clientid: u64,
        stateid: &str,
    ) {
        let Some(stateid) = unhex16(stateid) else {
            let _ = reply.send(json!({ "error": "query needs a 32-hex-digit stateid" }));
            return;
        };
        if !self.granting() {
            let _ = reply.send(json!({ "status": "delay", "status_code": Nfsstat::Delay as u32, "reason": "not granting (no quorum or no MDS)" }));
            return;
        }
        let qid = self.next_id();
        self.ask_mds(qid, Waiter::Control(reply), fsid, fileid, stateid, clientid);
    }

    fn control_revoke(
        &mut self,
        reply: oneshot::Sender<Value>,
        clientid: u64,
        fsid: Option<u64>,
        fileid: Option<u64>,
        stateid: Option<&str>,
    ) {
        if !self.is_mds() {
            let _ = reply.send(
                json!({ "error": format!("this node is not the MDS (MDS is {:?})", self.mds) }),
            );
            return;
        }
        let one = match (fsid, fileid, stateid.map(unhex16)) {
            (Some(f), Some(i), Some(Some(s))) => Some((f, i, s)),
            (None, None, None) => None,
            (_, _, Some(None)) => {
                let _ = reply.send(json!({ "error": "revoke needs a 32-hex-digit stateid" }));
                return;
            }
            _ => {
                let _ = reply.send(json!({ "error": "fsid, fileid and stateid go together" }));
                return;
            }
        };
        let tag = Tag::Revoke {
            clientid,
            one,
            waiter: Waiter::Control(reply),
        };
        self.downcall(tag, Down::StateRevoke { clientid, one });
    }

    fn status_json(&self) -> Value {
        let members: Vec<Value> = self
            .members
            .iter()
            .map(|n| {
                let p = self.peers.get(n);
                json!({
                    "node": n,
                    "mds": self.mds == Some(*n),
                    "self": *n == self.node,
                    "priority": p.map(|p| p.priority),
                    "epoch": p.map(|p| p.epoch),
                    "version": p.map(|p| p.max_version),
                    "addrs": p.map(|p| p.addrs.iter().map(|a| format!("{} {}", a.netid, a.uaddr)).collect::<Vec<_>>()),
                })
            })
            .collect();
        json!({
            "node": self.node,
            "engine": self.cluster.name(),
            "kernel": self.target.describe(),
            "port": self.sock.port(),
            "quorate": self.quorate,
            "granting": self.granting(),
            "not_granting": self.not_granting(),
            "durable_error": self.save_error,
            "mds": self.mds,
            "mds_epoch": self.mds_epoch,
            "durable_epoch": self.durable_epoch,
            "in_grace": self.grace_until.is_some(),
            "members": members,
            "cache_entries": self.fast.read().cache.len(),
            "parked": self.parked.len(),
            "protocol": PROTO_VERSION,
        })
    }
}

/// The next item of an optional queue, or never if there is none.
async fn next_of<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

use crate::hex;

/// Parse 32 hex digits into a stateid.
pub fn unhex16(s: &str) -> Option<[u8; 16]> {
    let s = s.trim_start_matches("0x");
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The daemon's handlers without its event loop, for the stateful fuzz target
/// (`fuzz/fuzz_targets/daemon.rs`): it feeds them random sequences of kernel datagrams,
/// cluster messages and membership changes, downcall and durable-write completions and
/// ticks, in any order. The parts are the production ones (a NETLINK_USERSOCK socket whose
/// replies go to a port nobody binds, the local engine whose own messages are delivered
/// back when the input says so, the store in a scratch directory); only the downcall
/// worker and the store writer are replaced by queues the input completes.
#[cfg(feature = "fuzzing")]
pub mod harness {
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
                        &mut d.tx,
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
                    while let Ok(ev) = self.d.cluster.events().try_recv() {
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
                to_kernel_lines(&self.d.tx, &mut rec.step);
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
            Scratch(
                std::env::temp_dir().join(format!("pnfs-harness-test-{}-{n}", std::process::id())),
            )
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
}

#[cfg(test)]
mod datagram_tests {
    use super::datagram_len;

    fn msgs(lens: &[u32]) -> Vec<u8> {
        let mut b = Vec::new();
        for &l in lens {
            let start = b.len();
            b.extend_from_slice(&l.to_ne_bytes());
            b.resize(start + l as usize, 0);
        }
        b
    }

    #[test]
    fn replies_are_cut_at_message_boundaries_within_the_limit() {
        let b = msgs(&[40; 100]); // 4000 bytes
        let mut cuts = Vec::new();
        let mut s = 0;
        while s < b.len() {
            let l = datagram_len(&b[s..], 990);
            assert!(l <= 990 && l.is_multiple_of(40), "{l}");
            cuts.push(l);
            s += l;
        }
        assert_eq!(cuts, [960, 960, 960, 960, 160]);
        // One message longer than the limit goes alone; a corrupt length takes the rest.
        assert_eq!(datagram_len(&msgs(&[2000, 40]), 1000), 2000);
        assert_eq!(datagram_len(&[0u8; 16], 1000), 16);
    }
}
