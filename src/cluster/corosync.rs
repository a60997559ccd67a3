//! The Corosync engine: CPG (closed process groups) through `rust-corosync`.
//!
//! # How it runs
//!
//! * One CPG handle joins the group; one libquorum handle tracks quorum. Both file
//!   descriptors are registered with tokio (`AsyncFd`) and a single task dispatches them.
//! * libcpg/libquorum callbacks are plain `fn` pointers. They only append a raw record to a
//!   per-engine queue in a global registry, keyed by an id stored as the handle's context
//!   (`context_set`/`context_get`). All real work — building [`Membership`], asking for
//!   quorum, sending into the bounded event channel (awaiting space, so a slow consumer
//!   slows reading from corosync instead of growing memory or dropping events) — happens in
//!   the task, outside callbacks. The pending queue is bounded by what one `dispatch(All)`
//!   drains, i.e. by corosync's IPC buffer for this client.
//! * Messages are multicast with `CPG_TYPE_AGREED`: every member delivers every message in
//!   the same total order, interleaved consistently with configuration changes.
//! * `CS_ERR_TRY_AGAIN` (corosync flow control) on send is retried with exponential
//!   back-off for at most [`SEND_RETRY_BUDGET`], then reported as [`ClusterError::Send`].
//! * When corosync goes away, dispatch fails; the engine delivers one
//!   [`ClusterEvent::Lost`] and stops.
//!
//! # Quorum
//!
//! `quorate` comes from **libquorum** (`quorum_getquorate` plus `quorum_trackstart`
//! notifications), i.e. whatever quorum provider corosync is configured with
//! (`corosync_votequorum` in our deployments), not a count computed here. A loss counts
//! at once (a CPG configuration change also asks `quorum_getquorate`); a gain counts only
//! once libquorum's notification and CPG's totem configuration change name the same
//! totem ring, so that a cut-off node never sees itself quorate before CPG has delivered
//! the merge that makes it part of the quorate cluster again. When quorum
//! changes without a CPG membership change (e.g. a node without this daemon joins or leaves
//! the corosync ring), the engine delivers a [`Membership`] with the same members, empty
//! `joined`/`left` and the new `quorate`.
//!
//! # Group members
//!
//! CPG members are (node id, pid) pairs. The engine reports node ids, sorted and
//! de-duplicated: the design runs one daemon per node. A node that keeps a process through
//! a change neither joins nor leaves, so another process on a member node joining or
//! leaving the group (a debugging probe, or a rogue one) is no membership change for the
//! daemons. The price: while such a process stays, the death of that node's daemon is not
//! seen as the node leaving (a liveness cost; the other way, the cluster would recall a
//! live node's layouts whenever a probe on it exits).

#![warn(clippy::undocumented_unsafe_blocks)]

use super::{Cluster, ClusterError, ClusterEvent, LeaveReason, Membership, NodeId};
use rust_corosync::{cpg, quorum, CsError, DispatchFlags, TrackFlags};
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bound of the delivery queue to the daemon.
const QUEUE: usize = 4096;

/// Largest payload accepted by [`CorosyncEngine::send`]. CPG fragments messages larger than
/// its atomic size itself; this bound keeps one message from monopolising the ring.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// How long `send` keeps retrying `CS_ERR_TRY_AGAIN` before giving up.
pub const SEND_RETRY_BUDGET: Duration = Duration::from_millis(500);

/// How long `new` keeps retrying `cpg_join` while corosync answers `CS_ERR_TRY_AGAIN`
/// (it does while the ring is re-forming).
pub const JOIN_RETRY_BUDGET: Duration = Duration::from_secs(10);

/// First and largest back-off step between retries.
const BACKOFF_FIRST: Duration = Duration::from_micros(50);
const BACKOFF_MAX: Duration = Duration::from_millis(20);

/// A raw callback record; converted to [`ClusterEvent`]s outside the callback.
#[derive(Debug)]
enum Raw {
    Deliver {
        from: u32,
        payload: Vec<u8>,
    },
    /// (node id, pid) of the members after the change, of those that joined, and of
    /// those that left with their CPG reason.
    Confchg {
        members: Vec<(u32, u32)>,
        left: Vec<(u32, u32, u32)>,
        joined: Vec<(u32, u32)>,
    },
    /// libquorum's word and the totem ring it is about.
    Quorum {
        quorate: bool,
        ring: u64,
    },
    /// CPG's totem configuration change: the ring this CPG view belongs to.
    Totem {
        ring: u64,
    },
}

/// Callback records per engine, keyed by the id stored as the handles' context.
static REGISTRY: LazyLock<Mutex<HashMap<u64, VecDeque<Raw>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
/// Next registry key; 0 is never used (it is what a handle without context reports).
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, HashMap<u64, VecDeque<Raw>>> {
    // Never panic here: this runs inside C callbacks. A poisoned map is still consistent
    // (pushes and swaps only).
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn push(key: u64, raw: Raw) {
    if let Some(q) = registry().get_mut(&key) {
        q.push_back(raw);
    }
}

fn deliver_cb(
    h: &cpg::Handle,
    _group: String,
    nodeid: rust_corosync::NodeId,
    _pid: u32,
    msg: &[u8],
    _len: usize,
) {
    if let Ok(key) = cpg::context_get(h) {
        push(
            key,
            Raw::Deliver {
                from: nodeid.into(),
                payload: msg.to_vec(),
            },
        );
    }
}

fn confchg_cb(
    h: &cpg::Handle,
    _group: &str,
    members: Vec<cpg::Address>,
    left: Vec<cpg::Address>,
    joined: Vec<cpg::Address>,
) {
    if let Ok(key) = cpg::context_get(h) {
        push(
            key,
            Raw::Confchg {
                members: members.iter().map(|a| (a.nodeid.into(), a.pid)).collect(),
                left: left
                    .iter()
                    .map(|a| (a.nodeid.into(), a.pid, a.reason as u32))
                    .collect(),
                joined: joined.iter().map(|a| (a.nodeid.into(), a.pid)).collect(),
            },
        );
    }
}

fn quorum_cb(
    h: &quorum::Handle,
    quorate: bool,
    ring: quorum::RingId,
    _members: Vec<rust_corosync::NodeId>,
) {
    if let Ok(key) = quorum::context_get(h) {
        push(
            key,
            Raw::Quorum {
                quorate,
                ring: ring.seq,
            },
        );
    }
}

fn totem_cb(h: &cpg::Handle, ring: cpg::RingId, _members: Vec<rust_corosync::NodeId>) {
    if let Ok(key) = cpg::context_get(h) {
        push(key, Raw::Totem { ring: ring.seq });
    }
}

/// See [`Dispatcher::gate`]: `previous` is what the daemon was told last.
fn gate(
    lib_quorate: bool,
    quorum_ring: Option<u64>,
    cpg_ring: Option<u64>,
    previous: bool,
) -> bool {
    if !lib_quorate {
        false
    } else if quorum_ring == cpg_ring {
        true
    } else {
        previous
    }
}

/// CPG's `cpg_reason` (as in `cpg.h`) to [`LeaveReason`].
fn leave_reason(reason: u32) -> LeaveReason {
    match reason {
        2 => LeaveReason::Left,
        3 => LeaveReason::NodeDown,
        5 => LeaveReason::ProcDown,
        _ => LeaveReason::Other,
    }
}

/// Builds the daemon-facing membership from a CPG configuration change, in nodes. A node
/// that kept a process through the change (a member before and after that did not just
/// join) neither joined nor left, whatever its other processes did; otherwise it joined
/// if a process of it joined, and left if one of its processes left.
fn build_membership(
    members: &[(u32, u32)],
    left: &[(u32, u32, u32)],
    joined: &[(u32, u32)],
    quorate: bool,
) -> Membership {
    let mut m: Vec<NodeId> = members.iter().map(|&(n, _)| n).collect();
    m.sort_unstable();
    m.dedup();
    let kept = |n: u32| {
        members
            .iter()
            .any(|&(mn, mp)| mn == n && !joined.contains(&(mn, mp)))
    };
    let mut j: Vec<NodeId> = joined
        .iter()
        .map(|&(n, _)| n)
        .filter(|&n| !kept(n))
        .collect();
    j.sort_unstable();
    j.dedup();
    let mut l: Vec<(NodeId, LeaveReason)> = left
        .iter()
        .filter(|&&(n, _, _)| !kept(n))
        .map(|&(n, _, r)| (n, leave_reason(r)))
        .collect();
    l.sort_unstable_by_key(|&(n, _)| n);
    l.dedup_by_key(|&mut (n, _)| n);
    Membership {
        members: m,
        joined: j,
        left: l,
        quorate,
    }
}

/// Calls `op` until it stops returning `CsErrTryAgain`, sleeping with exponential back-off
/// (via `sleep`) for at most `budget` in total.
fn retry_try_again(
    mut op: impl FnMut() -> Result<(), CsError>,
    budget: Duration,
    mut sleep: impl FnMut(Duration),
) -> Result<(), ClusterError> {
    let mut slept = Duration::ZERO;
    let mut step = BACKOFF_FIRST;
    let mut tries = 0u32;
    loop {
        tries += 1;
        match op() {
            Ok(()) => return Ok(()),
            Err(CsError::CsErrTryAgain) if slept < budget => {
                let d = step.min(budget - slept);
                sleep(d);
                slept += d;
                step = (step * 2).min(BACKOFF_MAX);
            }
            Err(CsError::CsErrTryAgain) => {
                return Err(ClusterError::Send(format!(
                    "corosync flow control: still busy after {tries} tries in {slept:?}"
                )))
            }
            Err(e) => return Err(ClusterError::Send(format!("cpg_mcast_joined: {e}"))),
        }
    }
}

/// The raw fd of a libqb connection; libqb owns and closes it.
struct QbFd(RawFd);

impl AsRawFd for QbFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The corosync handles, shared by the engine (sends) and its dispatch task.
/// Dropping it finalizes both handles; it is never dropped inside a callback, and the
/// dispatch task drops its `AsyncFd`s before its reference to this.
struct Handles {
    key: u64,
    /// Serializes calls on the CPG handle between the sending threads and the dispatch task.
    cpg_lock: Mutex<()>,
    cpg: cpg::Handle,
    quorum: quorum::Handle,
}

impl Handles {
    fn lock_cpg(&self) -> MutexGuard<'_, ()> {
        self.cpg_lock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        registry().remove(&self.key);
        // Fields drop next: `cpg` and `quorum` finalize (which also leaves the group).
    }
}

/// A member of a CPG group.
pub struct CorosyncEngine {
    node: NodeId,
    group: String,
    handles: Arc<Handles>,
    rx: mpsc::Receiver<ClusterEvent>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for CorosyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorosyncEngine")
            .field("node", &self.node)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, e: CsError) -> ClusterError {
    ClusterError::Unavailable(format!(
        "{what}: {e} (is corosync running in this network namespace?)"
    ))
}

impl CorosyncEngine {
    /// Connects to the local corosync, joins CPG group `group_name` and starts dispatching
    /// on the current tokio runtime. While the ring is re-forming, corosync refuses the
    /// join with `CS_ERR_TRY_AGAIN`; that is retried for up to [`JOIN_RETRY_BUDGET`].
    /// The first event is the membership that includes this node.
    pub async fn new(group_name: &str) -> Result<Self, ClusterError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|e| ClusterError::Unavailable(format!("no tokio runtime: {e}")))?;
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        registry().insert(key, VecDeque::new());

        let cpg_model = cpg::ModelData::ModelV1(cpg::Model1Data {
            flags: cpg::Model1Flags::None,
            deliver_fn: Some(deliver_cb),
            confchg_fn: Some(confchg_cb),
            totem_confchg_fn: Some(totem_cb),
        });
        let q_model = quorum::ModelData::ModelV1(quorum::Model1Data {
            flags: quorum::Model1Flags::None,
            quorum_notification_fn: Some(quorum_cb),
            nodelist_notification_fn: None,
        });
        // From here on, dropping `handles` (on error) removes the registry entry.
        let cpg_h = match cpg::initialize(&cpg_model, 0) {
            Ok(h) => h,
            Err(e) => {
                registry().remove(&key);
                return Err(unavailable("cpg_initialize", e));
            }
        };
        let q_h = match quorum::initialize(&q_model, 0) {
            Ok((h, _type)) => h,
            Err(e) => {
                registry().remove(&key);
                return Err(unavailable("quorum_initialize", e));
            }
        };
        let handles = Arc::new(Handles {
            key,
            cpg_lock: Mutex::new(()),
            cpg: cpg_h,
            quorum: q_h,
        });
        // `initialize` stores the address of a temporary as context: set ours afterwards.
        cpg::context_set(&handles.cpg, key).map_err(|e| unavailable("cpg_context_set", e))?;
        quorum::context_set(&handles.quorum, key)
            .map_err(|e| unavailable("quorum_context_set", e))?;
        let node: NodeId = cpg::local_get(&handles.cpg)
            .map_err(|e| unavailable("cpg_local_get", e))?
            .into();
        let quorate =
            quorum::getquorate(&handles.quorum).map_err(|e| unavailable("quorum_getquorate", e))?;
        quorum::trackstart(&handles.quorum, TrackFlags::Changes)
            .map_err(|e| unavailable("quorum_trackstart", e))?;
        let cpg_fd = cpg::fd_get(&handles.cpg).map_err(|e| unavailable("cpg_fd_get", e))?;
        let q_fd = quorum::fd_get(&handles.quorum).map_err(|e| unavailable("quorum_fd_get", e))?;
        let mut step = BACKOFF_FIRST;
        let deadline = tokio::time::Instant::now() + JOIN_RETRY_BUDGET;
        loop {
            match cpg::join(&handles.cpg, group_name) {
                Ok(()) => break,
                Err(CsError::CsErrTryAgain) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(step).await;
                    step = (step * 2).min(BACKOFF_MAX);
                }
                Err(e) => return Err(unavailable("cpg_join", e)),
            }
        }

        let (tx, rx) = mpsc::channel(QUEUE);
        let register = |fd| {
            let _enter = rt.enter();
            // SAFETY: register_with_interest needs the fd open, and the same open file
            // description, for the AsyncFd's whole life. The fd belongs to a libqb
            // connection owned by `handles`, which libqb closes only when the handle is
            // finalized (`Handles::drop`), never on its own. Every AsyncFd made here
            // outlives no `Arc<Handles>`: the Dispatcher holds one and declares its
            // AsyncFds first (they drop first), and on an error below `cpg_afd`, declared
            // after `handles`, drops before it. QbFd::as_raw_fd always returns that fd.
            unsafe { AsyncFd::register_with_interest(QbFd(fd), Interest::READABLE) }.map_err(|e| {
                ClusterError::Unavailable(format!("registering fd {fd} with tokio: {}", e))
            })
        };
        let cpg_afd = register(cpg_fd)?;
        let q_afd = register(q_fd)?;
        let dispatcher = Dispatcher {
            cpg_fd: cpg_afd,
            quorum_fd: q_afd,
            handles: handles.clone(),
            tx,
            batch: VecDeque::new(),
            lib_quorate: quorate,
            quorum_ring: None,
            cpg_ring: None,
            quorate,
            last: None,
        };
        let task = rt.spawn(dispatcher.run());
        Ok(Self {
            node,
            group: group_name.to_owned(),
            handles,
            rx,
            task,
        })
    }

    /// The CPG group this engine joined.
    pub fn group(&self) -> &str {
        &self.group
    }
}

impl Cluster for CorosyncEngine {
    fn node_id(&self) -> NodeId {
        self.node
    }

    /// Agreed-order multicast. Retries corosync flow control (`CS_ERR_TRY_AGAIN`) with
    /// back-off, blocking the calling thread for at most [`SEND_RETRY_BUDGET`].
    fn send(&self, payload: &[u8]) -> Result<(), ClusterError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(ClusterError::TooLarge(payload.len()));
        }
        retry_try_again(
            || {
                let _g = self.handles.lock_cpg();
                cpg::mcast_joined(&self.handles.cpg, cpg::Guarantee::TypeAgreed, payload)
            },
            SEND_RETRY_BUDGET,
            std::thread::sleep,
        )
    }

    fn events(&mut self) -> &mut mpsc::Receiver<ClusterEvent> {
        &mut self.rx
    }

    fn name(&self) -> &'static str {
        "corosync"
    }
}

impl Drop for CorosyncEngine {
    fn drop(&mut self) {
        // The task owns the AsyncFds and an Arc<Handles>: when its future is dropped it
        // deregisters the fds first, and the last Arc finalizes the handles.
        self.task.abort();
    }
}

/// Why dispatching stopped.
enum Stop {
    /// The daemon dropped its receiver: stop quietly.
    Closed,
    /// Corosync went away.
    Lost(String),
}

/// The dispatch task's state. Field order matters: the AsyncFds drop before `handles`.
struct Dispatcher {
    cpg_fd: AsyncFd<QbFd>,
    quorum_fd: AsyncFd<QbFd>,
    handles: Arc<Handles>,
    tx: mpsc::Sender<ClusterEvent>,
    /// Swapped with the registry queue after each dispatch; keeps its capacity.
    batch: VecDeque<Raw>,
    /// libquorum's last word (`quorum_getquorate` at start, then its notifications).
    lib_quorate: bool,
    /// The totem ring of libquorum's last notification, and of CPG's last totem
    /// configuration change (None: none since we started).
    quorum_ring: Option<u64>,
    cpg_ring: Option<u64>,
    /// What the daemon is told (see [`Dispatcher::gate`]).
    quorate: bool,
    last: Option<Membership>,
}

impl Dispatcher {
    async fn run(mut self) {
        let reason = loop {
            let r = tokio::select! {
                g = self.cpg_fd.readable() => match g {
                    Ok(mut g) => {
                        let r = {
                            let _l = self.handles.lock_cpg();
                            cpg::dispatch(&self.handles.cpg, DispatchFlags::All)
                        };
                        // dispatch(All) read until libqb had nothing left; a message
                        // arriving after that raises a new readiness event.
                        g.clear_ready();
                        r.map_err(|e| format!("cpg_dispatch: {e} (corosync gone?)"))
                    }
                    Err(e) => Err(format!("cpg fd: {e}")),
                },
                g = self.quorum_fd.readable() => match g {
                    Ok(mut g) => {
                        let r = quorum::dispatch(&self.handles.quorum, DispatchFlags::All);
                        g.clear_ready();
                        r.map_err(|e| format!("quorum_dispatch: {e} (corosync gone?)"))
                    }
                    Err(e) => Err(format!("quorum fd: {e}")),
                },
                () = self.tx.closed() => return,
            };
            // Deliver what was dispatched before reporting an error: it happened first.
            match self.drain().await {
                Ok(()) => {}
                Err(Stop::Closed) => return,
                Err(Stop::Lost(reason)) => break reason,
            }
            if let Err(reason) = r {
                break reason;
            }
        };
        tracing::warn!(%reason, "corosync engine lost");
        let _ = self.tx.send(ClusterEvent::Lost(reason)).await;
        // `self` drops here: AsyncFds first, then (if last) the handles.
    }

    /// The quorum the daemon is told. Losing quorum counts at once. Gaining it counts
    /// only once libquorum and CPG speak of the same totem ring (as dlm_controld waits
    /// for): after a partition heals, libquorum may say "quorate" before CPG has
    /// delivered the merge, and a cut-off node would then act as a quorate cluster of
    /// itself (elect itself MDS, recover the others' journals). Until the rings match,
    /// the previous answer stands.
    fn gate(&self) -> bool {
        gate(
            self.lib_quorate,
            self.quorum_ring,
            self.cpg_ring,
            self.quorate,
        )
    }

    /// Moves the records the callbacks queued into the event channel.
    async fn drain(&mut self) -> Result<(), Stop> {
        if let Some(q) = registry().get_mut(&self.handles.key) {
            std::mem::swap(q, &mut self.batch);
        }
        while let Some(raw) = self.batch.pop_front() {
            let ev = match raw {
                Raw::Deliver { from, payload } => ClusterEvent::Message { from, payload },
                Raw::Confchg {
                    members,
                    left,
                    joined,
                } => {
                    // A loss libquorum already knows counts now; a gain waits for its
                    // notification (and the rings to match).
                    let now = quorum::getquorate(&self.handles.quorum).map_err(|e| {
                        Stop::Lost(format!("quorum_getquorate: {e} (corosync gone?)"))
                    })?;
                    if !now {
                        self.lib_quorate = false;
                    }
                    self.quorate = self.gate();
                    let m = build_membership(&members, &left, &joined, self.quorate);
                    self.last = Some(m.clone());
                    ClusterEvent::Membership(m)
                }
                Raw::Quorum { quorate, ring } => {
                    self.lib_quorate = quorate;
                    self.quorum_ring = Some(ring);
                    match self.quorum_change() {
                        Some(ev) => ev,
                        None => continue,
                    }
                }
                Raw::Totem { ring } => {
                    self.cpg_ring = Some(ring);
                    match self.quorum_change() {
                        Some(ev) => ev,
                        None => continue,
                    }
                }
            };
            self.tx.send(ev).await.map_err(|_| Stop::Closed)?;
        }
        Ok(())
    }

    /// After a quorum or totem notification: a membership event with the same members
    /// if the quorum the daemon is told changed.
    fn quorum_change(&mut self) -> Option<ClusterEvent> {
        let q = self.gate();
        self.quorate = q;
        let last = self.last.as_mut()?;
        if last.quorate == q {
            return None;
        }
        last.quorate = q;
        Some(ClusterEvent::Membership(Membership {
            members: last.members.clone(),
            joined: vec![],
            left: vec![],
            quorate: q,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leave_reasons_follow_cpg_h() {
        // CPG_REASON_JOIN=1, LEAVE=2, NODEDOWN=3, NODEUP=4, PROCDOWN=5.
        assert_eq!(leave_reason(cpg::Reason::Leave as u32), LeaveReason::Left);
        assert_eq!(
            leave_reason(cpg::Reason::NodeDown as u32),
            LeaveReason::NodeDown
        );
        assert_eq!(
            leave_reason(cpg::Reason::ProcDown as u32),
            LeaveReason::ProcDown
        );
        assert_eq!(leave_reason(cpg::Reason::Join as u32), LeaveReason::Other);
        assert_eq!(leave_reason(0), LeaveReason::Other);
        assert_eq!(leave_reason(99), LeaveReason::Other);
    }

    #[test]
    fn membership_is_sorted_and_deduplicated() {
        let m = build_membership(
            &[(3, 30), (1, 10), (2, 20), (1, 11)],
            &[(5, 50, 3), (4, 40, 2)],
            &[(2, 20), (1, 10), (1, 11)],
            false,
        );
        assert_eq!(m.members, vec![1, 2, 3]);
        assert_eq!(m.joined, vec![1, 2]);
        assert_eq!(
            m.left,
            vec![(4, LeaveReason::Left), (5, LeaveReason::NodeDown)]
        );
        assert!(!m.quorate);
    }

    #[test]
    fn a_second_process_of_a_member_node_is_no_membership_change() {
        // A probe (pid 99) on node 2 joins the group where the daemons 1, 2, 3 are.
        let daemons = [(1, 10), (2, 20), (3, 30)];
        let mut with_probe = daemons.to_vec();
        with_probe.push((2, 99));
        let m = build_membership(&with_probe, &[], &[(2, 99)], true);
        assert_eq!(m.members, vec![1, 2, 3]);
        assert!(m.joined.is_empty() && m.left.is_empty(), "{m:?}");
        // It leaves again: node 2's daemon is still there.
        let m = build_membership(&daemons, &[(2, 99, 2)], &[], true);
        assert!(m.joined.is_empty() && m.left.is_empty(), "{m:?}");
        // Node 2's daemon dies while the probe stays: node 2 stays a member.
        let m = build_membership(&[(1, 10), (2, 99), (3, 30)], &[(2, 20, 5)], &[], true);
        assert_eq!(m.members, vec![1, 2, 3]);
        assert!(m.left.is_empty(), "{m:?}");
        // Both of node 2's processes go down with it (one change): node 2 left.
        let m = build_membership(&[(1, 10), (3, 30)], &[(2, 20, 3), (2, 99, 3)], &[], true);
        assert_eq!(m.left, vec![(2, LeaveReason::NodeDown)]);
        // A daemon restarting with its old pid gone and its new pid in one change: node 2
        // left (its process died) and joined again, as in two changes.
        let m = build_membership(
            &[(1, 10), (2, 21), (3, 30)],
            &[(2, 20, 5)],
            &[(2, 21)],
            true,
        );
        assert_eq!(m.members, vec![1, 2, 3]);
        assert_eq!(m.joined, vec![2]);
        assert_eq!(m.left, vec![(2, LeaveReason::ProcDown)]);
    }

    #[test]
    fn retry_succeeds_after_try_again() {
        let mut calls = 0;
        let mut sleeps = vec![];
        let r = retry_try_again(
            || {
                calls += 1;
                if calls < 4 {
                    Err(CsError::CsErrTryAgain)
                } else {
                    Ok(())
                }
            },
            Duration::from_secs(1),
            |d| sleeps.push(d),
        );
        assert!(r.is_ok());
        assert_eq!(calls, 4);
        assert_eq!(
            sleeps,
            vec![BACKOFF_FIRST, BACKOFF_FIRST * 2, BACKOFF_FIRST * 4]
        );
    }

    #[test]
    fn retry_is_bounded() {
        let mut total = Duration::ZERO;
        let r = retry_try_again(
            || Err(CsError::CsErrTryAgain),
            Duration::from_millis(100),
            |d| total += d,
        );
        assert!(matches!(r, Err(ClusterError::Send(_))), "{r:?}");
        assert_eq!(total, Duration::from_millis(100));
    }

    #[test]
    fn other_errors_are_not_retried() {
        let mut calls = 0;
        let r = retry_try_again(
            || {
                calls += 1;
                Err(CsError::CsErrLibrary)
            },
            Duration::from_secs(1),
            |_| panic!("must not sleep"),
        );
        assert!(matches!(r, Err(ClusterError::Send(_))));
        assert_eq!(calls, 1);
    }

    #[test]
    fn quorum_gained_counts_only_when_the_rings_match() {
        // Start: libquorum's word, no ring change seen yet.
        assert!(gate(true, None, None, false));
        assert!(!gate(false, None, None, true));
        // A cut-off node heals: libquorum says quorate for ring 9 while CPG is still on
        // ring 8 (its merge not delivered yet): still not quorate.
        assert!(!gate(true, Some(9), Some(8), false));
        // CPG's totem change for ring 9 arrives: quorate.
        assert!(gate(true, Some(9), Some(9), false));
        // On the quorate side a ring change notified by libquorum first changes nothing.
        assert!(gate(true, Some(9), Some(8), true));
        // The first ring change since start, libquorum first: the answer stands.
        assert!(!gate(true, Some(3), None, false));
        // Losing quorum counts at once, whatever the rings.
        assert!(!gate(false, Some(9), Some(8), true));
    }

    #[test]
    fn callbacks_queue_only_for_registered_engines() {
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        push(
            key,
            Raw::Quorum {
                quorate: true,
                ring: 1,
            },
        ); // unknown key: dropped
        registry().insert(key, VecDeque::new());
        push(
            key,
            Raw::Quorum {
                quorate: false,
                ring: 2,
            },
        );
        push(
            key,
            Raw::Deliver {
                from: 1,
                payload: b"x".to_vec(),
            },
        );
        let q = registry().remove(&key).unwrap();
        assert_eq!(q.len(), 2);
        assert!(matches!(
            q[0],
            Raw::Quorum {
                quorate: false,
                ring: 2
            }
        ));
    }

    #[tokio::test]
    async fn new_without_reachable_corosync_is_unavailable_or_works() {
        // In a namespace without corosync this must fail cleanly (no hang, no panic);
        // where corosync runs, it must come up with a membership that includes us.
        match CorosyncEngine::new("pnfs-unit-test").await {
            Err(ClusterError::Unavailable(msg)) => assert!(msg.contains("cpg_initialize"), "{msg}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(mut e) => {
                let me = e.node_id();
                let ev = tokio::time::timeout(Duration::from_secs(10), e.events().recv()).await;
                match ev {
                    Ok(Some(ClusterEvent::Membership(m))) => assert!(m.members.contains(&me)),
                    other => panic!("expected membership, got {other:?}"),
                }
            }
        }
    }
}
