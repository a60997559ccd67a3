//! The upcall fast path: one OS thread owns the receive side of the upcall socket and
//! blocks in recvmmsg(2) — the shape of the benchmark's floor, no event loop between the
//! kernel half and the answer — and answers what needs nothing but state the event loop
//! publishes to it: GET_STATE cache hits, GET_DEVICE_INFO of a member's device and
//! LAYOUT_GET on a granting MDS out of grace, each only when the answer is OK. Everything
//! else (misses, refusals, the other upcalls, GFS2's, acks and errors) it hands to the
//! event loop unchanged, in arrival order, where it is served as before. The REPLY
//! builders here are the event loop's too: both answer with the same bytes.
//!
//! What the thread reads, the event loop writes under the same lock: the DS cache itself
//! (every insert, invalidation and flush happens under `Hot`'s write lock, so a revoke
//! acknowledged by the loop is never answered from the cache afterwards), and whether the
//! node grants with which MDS epoch, published before the loop sends anything after a
//! change. A change the thread has not seen yet can only make it forward an upcall it
//! could have answered, never answer one the loop would not: a flush that ends granting
//! empties the cache in the same critical section.

use crate::cluster::NodeId;
use crate::decide::{self, ClusterView, StateDecision};
use crate::kernel::device_id;
use crate::kernel::device_node;
use crate::stats::KindCounters;
use crate::wire::DsAddr;
use pnfs_netlink::codec::{GenlHeader, GenlMsg, Messages, MsgBuilder, NLM_F_REQUEST};
use pnfs_netlink::pnfsd::ops::{get_device_info as gdi, get_state as gs, layout_get as lg};
use pnfs_netlink::pnfsd::{self, attr as a, Nfsstat};
use pnfs_netlink::socket::{recvmmsg_into, set_blocking_receive, RecvBatch, MAX_BATCH};
use pnfs_netlink::PnfsdAttrs;
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub use crate::decide::{CacheEntry, StateQuery};
pub use crate::wire::StateKey;

/// The state the fast path answers from; written by the event loop only.
#[derive(Default)]
pub struct Hot {
    /// foldhash, not SipHash: one lookup per GET_STATE on the fast path hashes a 36-byte
    /// key; the keys are stateids the MDS issued, the seed is per process.
    pub cache: HashMap<StateKey, CacheEntry, foldhash::fast::RandomState>,
    pub view: View,
}

/// What the answers besides the cache depend on, as the event loop last published it.
#[derive(Default, Clone, PartialEq, Eq, Debug)]
pub struct View {
    /// Quorate with an MDS (the loop's `granting()`).
    pub granting: bool,
    pub mds_epoch: u64,
    /// This node is the MDS and out of grace: LAYOUT_GET may be granted.
    pub layouts: bool,
    /// This node is the MDS.
    pub mds: bool,
    pub node: NodeId,
    /// Live members with a peer record, in member order, with their DS addresses
    /// (possibly none): GET_DEVICE_INFO's answers; those with addresses are the data
    /// servers LAYOUT_GET stripes over.
    pub devices: Vec<(NodeId, Vec<DsAddr>)>,
    /// Data servers an operator drained (`decide::ClusterView::drained`).
    pub drained: Vec<NodeId>,
}

/// Counters of what the fast path answered (merged into `pnfsctl stats`).
#[derive(Clone)]
pub struct FastStats {
    pub cache_hits: u64,
    /// Indexed by upcall kind, as `Stats::pnfsd`.
    pub kinds: Vec<KindCounters>,
    /// Busy polling (as of up to POLL_STATS_EVERY waits ago, or the thread's last idle
    /// POLL).
    pub poll: PollStats,
    /// Datagrams dropped for coming from a port other than the kernel half's: forged
    /// upcalls (anyone may send to the daemon's port on USERSOCK).
    pub foreign: u64,
}

impl Default for FastStats {
    fn default() -> Self {
        FastStats {
            foreign: 0,
            cache_hits: 0,
            kinds: vec![KindCounters::default(); pnfsd::UpcallKind::ALL.len() + 1],
            poll: PollStats::default(),
        }
    }
}

/// Shared between the event loop and the fast path thread.
#[derive(Default)]
pub struct Shared {
    pub hot: RwLock<Hot>,
    pub stats: Mutex<FastStats>,
    stop: AtomicBool,
    /// The upcall socket's current thread: an older one returns (the daemon registered
    /// again, on a new socket, after the kernel half restarted).
    thread_gen: std::sync::atomic::AtomicU64,
    /// Buffers of forwarded datagrams the loop is done with, for the thread to fill again
    /// (at most SPARE_BUFS): no allocation per forwarded upcall once warm.
    spare: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    /// The hot state for reading (a poisoned lock is still the state: the writer is the
    /// event loop, which does not panic while holding it).
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Hot> {
        self.hot.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The hot state for writing (the event loop only).
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Hot> {
        self.hot.write().unwrap_or_else(|p| p.into_inner())
    }

    /// What the fast path answered so far.
    pub fn stats(&self) -> FastStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A copy of `datagram` to hand to the loop, in a spare buffer when there is one.
    fn copy(&self, datagram: &[u8]) -> Vec<u8> {
        let mut v = self
            .spare
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        v.clear();
        v.extend_from_slice(datagram);
        v
    }

    /// The loop is done with a forwarded datagram: keep its buffer for the next one.
    pub fn recycle(&self, buf: Vec<u8>) {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_BUFS {
            spare.push(buf);
        }
    }

    /// Ask the thread to return (it notices within `POLL`).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Make way for a new thread: the running one returns within `POLL`. Returns the
    /// new thread's generation, for `spawn`.
    pub fn next_thread(&self) -> u64 {
        self.thread_gen.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn current(&self, gen: u64) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.thread_gen.load(Ordering::Relaxed) == gen
    }
}

/// What the thread hands to the event loop.
#[derive(Debug)]
pub enum Fwd {
    /// A datagram from the kernel half the fast path does not answer.
    Datagram(Vec<u8>),
    /// A datagram longer than a receive slot (dropped).
    Truncated,
    /// The socket's receive queue overflowed (ENOBUFS).
    Overrun,
    /// Replies the thread could not send.
    SendFailed(String),
    /// The socket failed: the thread stopped.
    Failed(String),
}

/// The fast path times one batch in this many (its answers count this many times in the
/// service-time histogram; every answer is counted in `answered`): two clock reads per
/// upcall were 2 % of a round trip at depth 1, as much as the answer itself.
pub const TIME_EVERY: u64 = 8;

/// Most spare buffers kept for forwarded datagrams (each up to SLOT bytes).
const SPARE_BUFS: usize = 64;

/// How long a blocked receive waits before looking at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// Largest datagram taken from the kernel half (as the event loop took before).
pub const SLOT: usize = 16 * 1024;

/// Answer `datagram` if it is exactly one upcall the published state answers OK — a
/// GET_STATE cache hit while granting for the current MDS epoch, GET_DEVICE_INFO of a
/// member's device while granting, LAYOUT_GET on a granting MDS out of grace — by
/// appending its REPLY (from `port`, to the family `family`) to `out`; false leaves it to
/// the event loop, which then answers it exactly as it would have (the same checks:
/// `Daemon::get_state`, `get_device_info`, `layout_get`). `timed`: when the batch was
/// received, if it is one the service time is sampled from (`TIME_EVERY`).
pub fn try_answer(
    shared: &Shared,
    family: u16,
    port: u32,
    datagram: &[u8],
    out: &mut Vec<u8>,
    timed: Option<Instant>,
) -> bool {
    let mut msgs = Messages::new(datagram);
    let (Some(Ok(m)), None) = (msgs.next(), msgs.next()) else {
        return false;
    };
    if m.header.kind != family {
        return false;
    }
    let Ok(g) = GenlMsg::parse(m) else {
        return false;
    };
    let Ok(t) = PnfsdAttrs::parse(g.attrs, &pnfsd::PNFSD_POLICY) else {
        return false;
    };
    let answered = (|| match g.cmd() {
        pnfsd::cmd::GET_STATE => {
            get_state(shared, family, port, gs::Request::from_table(t).ok()?, out)
        }
        pnfsd::cmd::GET_DEVICE_INFO => {
            get_device_info(shared, family, port, gdi::Request::from_table(t).ok()?, out)
        }
        pnfsd::cmd::LAYOUT_GET => {
            layout_get(shared, family, port, lg::Request::from_table(t).ok()?, out)
        }
        _ => None,
    })();
    let Some((kind, st, hit)) = answered else {
        return false;
    };
    let mut s = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
    if hit {
        s.cache_hits += 1;
    }
    let k = &mut s.kinds[kind as usize];
    k.received += 1;
    k.answered += 1;
    if st != Nfsstat::Ok {
        k.errors += 1;
    }
    if let Some(start) = timed {
        k.latency
            .record_n(start.elapsed().as_nanos() as u64, TIME_EVERY);
    }
    true
}

/// (kind, status, cache hit) of an answered upcall.
type Answered = Option<(pnfsd::UpcallKind, Nfsstat, bool)>;

impl ClusterView for View {
    fn granting(&self) -> bool {
        self.granting
    }
    fn mds_epoch(&self) -> u64 {
        self.mds_epoch
    }
    fn node(&self) -> NodeId {
        self.node
    }
    fn is_mds(&self) -> bool {
        self.mds
    }
    /// Published as `layouts` (the MDS out of grace), asked only of the MDS.
    fn in_grace(&self) -> bool {
        !self.layouts
    }
    fn device(&self, node: NodeId) -> Option<&[DsAddr]> {
        self.devices
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, a)| a.as_slice())
    }
    fn data_servers(&self) -> impl Iterator<Item = NodeId> + Clone {
        self.devices
            .iter()
            .filter(|(_, a)| !a.is_empty())
            .map(|(n, _)| *n)
    }
    fn drained(&self, node: NodeId) -> bool {
        self.drained.contains(&node)
    }
}

fn get_state(
    shared: &Shared,
    family: u16,
    port: u32,
    r: gs::Request<'_>,
    out: &mut Vec<u8>,
) -> Answered {
    let q = StateQuery::of(&r);
    let decided = {
        let hot = shared.read();
        decide::get_state(&hot.view, &q, Some(r.boot_epoch()), |k| {
            hot.cache.get(k).copied()
        })
    };
    let StateDecision::Cached(st, e) = decided else {
        return None; // the loop answers (refuses, or asks the MDS)
    };
    put_state(out, family, port, r.xid(), st, &e, q.clientid);
    Some((pnfsd::UpcallKind::GetState, st, true))
}

fn get_device_info(
    shared: &Shared,
    family: u16,
    port: u32,
    r: gdi::Request<'_>,
    out: &mut Vec<u8>,
) -> Answered {
    let node = device_node(r.device_id());
    let hot = shared.read();
    let (Nfsstat::Ok, addrs) = decide::get_device_info(&hot.view, node) else {
        return None;
    };
    put_device(out, family, port, r.xid(), Nfsstat::Ok, addrs);
    Some((pnfsd::UpcallKind::GetDeviceInfo, Nfsstat::Ok, false))
}

fn layout_get(
    shared: &Shared,
    family: u16,
    port: u32,
    r: lg::Request<'_>,
    out: &mut Vec<u8>,
) -> Answered {
    let hot = shared.read();
    let pick = decide::layout_get(&hot.view, r.fileid()).ok()?;
    put_layout(out, family, port, hot.view.node, pick, &r);
    Some((pnfsd::UpcallKind::LayoutGet, Nfsstat::Ok, false))
}

pub use crate::decide::stripe;

/// The header of a REPLY to upcall `xid` (its sequence number is the xid), from `port`.
pub fn reply_header(family: u16, port: u32, xid: u32) -> GenlHeader {
    pnfsd::ops::reply::header(family)
        .flags(NLM_F_REQUEST)
        .seq(xid)
        .pid(port)
}

/// Start a REPLY to `xid` with `st` (the rest of the answer's attributes follow).
pub fn reply(out: &mut Vec<u8>, family: u16, port: u32, xid: u32, st: Nfsstat) -> MsgBuilder<'_> {
    let mut b = reply_header(family, port, xid).start(out);
    pnfsd::ops::reply::RequestAttrs {
        xid,
        status: st as u32,
        ..Default::default()
    }
    .put(&mut b);
    b
}

/// GET_STATE's REPLY from what the MDS said of the state.
pub fn put_state(
    out: &mut Vec<u8>,
    family: u16,
    port: u32,
    xid: u32,
    st: Nfsstat,
    e: &CacheEntry,
    clientid: u64,
) {
    gs::ReplyAttrs {
        xid,
        status: st as u32,
        access: Some(e.access),
        generation: Some(e.generation),
        clientid: Some(clientid),
        verifier: Some(e.verifier),
    }
    .write(out, &reply_header(family, port, xid));
}

/// GET_DEVICE_INFO's REPLY: the data server's addresses (none unless `st` is OK),
/// written straight from the view (the generated builder takes a slice of them, which
/// would be built per answer).
pub fn put_device(
    out: &mut Vec<u8>,
    family: u16,
    port: u32,
    xid: u32,
    st: Nfsstat,
    addrs: &[DsAddr],
) {
    let mut b = reply(out, family, port, xid, st);
    for addr in addrs {
        let n = b.nest_begin(a::DS_ADDR);
        pnfsd::nest::DsAddrAttrs {
            netid: Some(&addr.netid),
            uaddr: Some(&addr.uaddr),
        }
        .put(&mut b);
        b.nest_end(n);
    }
    b.finish();
}

/// LAYOUT_GET's granted REPLY: the file on data server `pick`, under a layout stateid
/// of this MDS (`node`), the iomode asked, and the whole file as the segment (as stock
/// nfsd's flexfile server answers: a client that asks page by page — Linux's does —
/// would otherwise come back for a layout per page).
pub fn put_layout(
    out: &mut Vec<u8>,
    family: u16,
    port: u32,
    node: NodeId,
    pick: NodeId,
    r: &lg::Request<'_>,
) {
    let mut stateid = [0u8; 16];
    stateid[..4].copy_from_slice(&1u32.to_be_bytes());
    stateid[4..12].copy_from_slice(&r.fileid().to_le_bytes());
    stateid[12..].copy_from_slice(&node.to_be_bytes());
    lg::ReplyAttrs {
        xid: r.xid(),
        status: Nfsstat::Ok as u32,
        device_id: Some(device_id(pick)),
        stateid: Some(stateid),
        iomode: Some(r.iomode()),
        offset: Some(0),
        length: Some(u64::MAX),
    }
    .write(out, &reply_header(family, port, r.xid()));
}

/// Start the thread on the upcall socket `fd` (the event loop keeps sending on it with
/// MSG_DONTWAIT and no longer receives on it): it takes what `peer` sends, answers what
/// `try_answer` can, and forwards the rest on `fwd`. The fd is made blocking, with a
/// receive timeout of `POLL`.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    gen: u64,
    fd: RawFd,
    peer: u32,
    family: u16,
    port: u32,
    shared: Arc<Shared>,
    fwd: mpsc::Sender<Fwd>,
    busy_poll: Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    set_blocking_receive(fd, POLL)?;
    std::thread::Builder::new()
        .name("upcall-fast".into())
        .spawn(move || {
            // The main thread may run on SCHED_RR (`rt_priority`); this one busy-polls,
            // so it never does. Lowering the policy needs no privilege.
            if let Err(e) = crate::privs::normal_scheduling() {
                tracing::warn!("upcall thread: SCHED_OTHER: {e}");
            }
            serve(
                gen,
                fd,
                peer,
                family,
                port,
                &shared,
                &fwd,
                BusyPoll::new(busy_poll),
            )
        })
}

#[allow(clippy::too_many_arguments)]
fn serve(
    gen: u64,
    fd: RawFd,
    peer: u32,
    family: u16,
    port: u32,
    shared: &Shared,
    fwd: &mpsc::Sender<Fwd>,
    mut poll: BusyPoll,
) {
    let mut batch = RecvBatch::adaptive(MAX_BATCH, SLOT);
    let mut out = Vec::with_capacity(MAX_BATCH * 128);
    let mut batches = 0u64;
    let mut foreign = 0u64;
    while shared.current(gen) {
        let n = match poll.receive(fd, &mut batch, shared) {
            Ok(n) => n,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => {
                    if fwd.blocking_send(Fwd::Overrun).is_err() {
                        return;
                    }
                    continue;
                }
                _ => {
                    let _ = fwd.blocking_send(Fwd::Failed(format!("upcall socket: {e}")));
                    return;
                }
            },
        };
        batches = batches.wrapping_add(1);
        let timed = batches.is_multiple_of(TIME_EVERY).then(Instant::now);
        out.clear();
        for i in 0..n {
            let (buf, from) = batch.get(i);
            if from.port != peer {
                foreign += 1;
                continue;
            }
            let handed = if from.truncated {
                Some(Fwd::Truncated)
            } else if try_answer(shared, family, port, buf, &mut out, timed) {
                None
            } else {
                Some(Fwd::Datagram(shared.copy(buf)))
            };
            // A full queue waits for the loop (bounded); a gone loop ends the thread.
            if let Some(f) = handed {
                if fwd.blocking_send(f).is_err() {
                    return;
                }
            }
        }
        if !out.is_empty() {
            if let Err(e) = send(fd, &out, peer) {
                let _ = fwd.blocking_send(Fwd::SendFailed(e.to_string()));
            }
        }
        if foreign != 0 {
            shared
                .stats
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .foreign += foreign;
            foreign = 0;
        }
    }
    poll.publish(shared);
}

/// Busy polling of the upcall socket, by the rule of the kernel's cpuidle haltpoll
/// governor: after answering a batch the thread tries the socket without waiting for up
/// to `window` (yielding the CPU between tries), before blocking in the receive — once
/// a blocked receive found a queue (two or more upcalls: the kernel half has several in
/// flight, and the next comes as soon as it took up these answers), and for as long as
/// polling finds upcalls. With one in flight the kernel half waits for this answer:
/// polling would only keep the CPU from it (and, where the scheduler would have run both
/// on one CPU, keep them apart). A blocked receive that returned within `max` would have
/// been caught by polling that long: the window grows (POLL_GROW_START, then doubling, up to `max`); one that slept
/// longer shrinks it (halving, to 0 below POLL_GROW_START). An idle daemon, or one whose
/// upcalls come further apart than `max`, does not poll; a busy one does not go idle
/// between a batch and the next, which is what a wake-up costs where an idle CPU halts
/// (40 µs a wake-up on this project's 2-vCPU test machine, whose guest kernel does not
/// halt-poll: `haltpoll.guest_halt_poll_ns=0`). `max` 0: never poll.
pub struct BusyPoll {
    max: Duration,
    window: Duration,
    /// The last blocked receive found a queue (two or more datagrams).
    queued: bool,
    counts: PollStats,
    published: PollStats,
}

/// What busy polling did (`pnfsctl stats`).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct PollStats {
    /// Receives that found a datagram by polling.
    pub polled: u64,
    /// Receives that waited (blocking receives).
    pub waited: u64,
    /// Time spent polling, µs (CPU time, minus what the yields gave others).
    pub spin_us: u64,
}

/// The first window after a short sleep.
const POLL_GROW_START: Duration = Duration::from_micros(10);
/// The thread adds its polling counts to the shared stats every this many waits, and
/// whenever a wait times out (idle) or fails.
const POLL_STATS_EVERY: u64 = 256;

impl BusyPoll {
    pub fn new(max: Duration) -> BusyPoll {
        BusyPoll {
            max,
            window: Duration::ZERO,
            queued: false,
            counts: PollStats::default(),
            published: PollStats::default(),
        }
    }

    /// The next batch: polled for while the window lasts, else a blocking receive
    /// (MSG_WAITFORONE: what is queued once one came), which adapts the window.
    fn receive(
        &mut self,
        fd: RawFd,
        batch: &mut RecvBatch,
        shared: &Shared,
    ) -> std::io::Result<usize> {
        if !self.window.is_zero() && self.queued {
            let start = Instant::now();
            loop {
                match recvmmsg_into(fd, batch, false, libc::MSG_DONTWAIT | libc::MSG_TRUNC) {
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
                    r => {
                        self.counts.spin_us += start.elapsed().as_micros() as u64;
                        self.counts.polled += 1;
                        return r;
                    }
                }
                if start.elapsed() >= self.window {
                    break;
                }
                std::thread::yield_now();
            }
            self.counts.spin_us += start.elapsed().as_micros() as u64;
        }
        // The sleep is timed (two clock reads) only where polling may follow: after a
        // queue, or with a window still open; one upcall at a time pays neither.
        let start = (self.queued || !self.window.is_zero()).then(Instant::now);
        let r = recvmmsg_into(fd, batch, false, libc::MSG_WAITFORONE | libc::MSG_TRUNC);
        self.counts.waited += 1;
        if let Some(start) = start {
            self.adapt(start.elapsed());
        }
        match &r {
            Ok(n) => {
                self.queued = !self.max.is_zero() && *n >= 2;
                if self.counts.waited.is_multiple_of(POLL_STATS_EVERY) {
                    self.publish(shared);
                }
            }
            // Idle (the receive timed out) or failing: a good time to publish.
            Err(_) => self.publish(shared),
        }
        r
    }

    /// After a blocked receive that took `slept`.
    fn adapt(&mut self, slept: Duration) {
        self.window = if slept <= self.max {
            (self.window * 2).clamp(POLL_GROW_START.min(self.max), self.max)
        } else if self.window / 2 < POLL_GROW_START {
            Duration::ZERO
        } else {
            self.window / 2
        };
    }

    /// Add what was counted since the last call to the shared stats.
    fn publish(&mut self, shared: &Shared) {
        let c = self.counts;
        if c == self.published {
            return;
        }
        let p = &mut shared.stats.lock().unwrap_or_else(|p| p.into_inner()).poll;
        p.polled += c.polled - self.published.polled;
        p.waited += c.waited - self.published.waited;
        p.spin_us += c.spin_us - self.published.spin_us;
        self.published = c;
    }
}

/// One datagram to `port` (0 = the kernel), waiting for room as the event loop's sends
/// do (the kernel never makes it wait; a twin that stopped reading does).
fn send(fd: RawFd, buf: &[u8], port: u32) -> std::io::Result<()> {
    pnfs_netlink::socket::send_to_fd(fd, buf, port, 0, 0).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnfs_netlink::codec::NLMSG_HDRLEN;
    use pnfs_twin::trigger::{build_upcall, Fill};
    use pnfs_twin::{Fam, PNFSD_ID};

    const PORT: u32 = 77;

    fn upcall(kind: pnfsd::UpcallKind, f: &Fill) -> Vec<u8> {
        let mut v = Vec::new();
        build_upcall(Fam::Pnfsd, kind as u32, 9, f, &mut v);
        v
    }

    fn fill() -> Fill {
        let mut stateid = [0u8; 16];
        stateid[..4].copy_from_slice(&2u32.to_be_bytes());
        stateid[15] = 5;
        Fill {
            fsid: 1,
            fileid: 7,
            stateid,
            clientid: 3,
            device_id: device_id(2),
            iomode: 1,
            length: u64::MAX,
            ..Default::default()
        }
    }

    fn shared(granting: bool, layouts: bool) -> Shared {
        let s = Shared::default();
        {
            let mut h = s.write();
            let f = fill();
            h.cache.insert(
                (
                    f.clientid,
                    f.fsid,
                    f.fileid,
                    f.stateid[4..].try_into().unwrap(),
                ),
                CacheEntry {
                    generation: 2,
                    access: 1,
                    verifier: 4,
                    epoch: 6,
                },
            );
            let addr = DsAddr {
                netid: "tcp".into(),
                uaddr: "10.0.0.2.8.1".into(),
            };
            h.view = View {
                granting,
                mds_epoch: 6,
                layouts,
                mds: true,
                node: 1,
                devices: vec![(1, vec![]), (2, vec![addr])],
                drained: vec![],
            };
        }
        s
    }

    /// The REPLY's status, if `out` holds one for xid 9.
    fn status(out: &[u8]) -> Option<u32> {
        let m = Messages::new(out).next()?.ok()?;
        let g = GenlMsg::parse(m).ok()?;
        let t = PnfsdAttrs::parse(g.attrs, &pnfsd::PNFSD_POLICY).ok()?;
        (g.cmd() == pnfsd::cmd::REPLY && t.u32(a::XID) == Some(9)).then(|| t.u32(a::STATUS))?
    }

    fn answer(s: &Shared, up: &[u8]) -> Option<u32> {
        let mut out = Vec::new();
        let yes = try_answer(s, PNFSD_ID, PORT, up, &mut out, Some(Instant::now()));
        assert_eq!(yes, !out.is_empty(), "answered iff a REPLY was built");
        yes.then(|| status(&out).expect("a REPLY for xid 9"))
    }

    #[test]
    fn busy_poll_window_grows_after_short_sleeps_and_shrinks_after_long_ones() {
        let us = Duration::from_micros;
        let mut p = BusyPoll::new(us(50));
        assert_eq!(p.window, Duration::ZERO);
        let mut seen = vec![];
        for _ in 0..4 {
            p.adapt(us(5));
            seen.push(p.window.as_micros());
        }
        assert_eq!(seen, [10, 20, 40, 50]);
        seen.clear();
        for _ in 0..3 {
            p.adapt(us(51));
            seen.push(p.window.as_nanos());
        }
        assert_eq!(seen, [25_000, 12_500, 0]);
        // A limit below the first window is the window.
        let mut p = BusyPoll::new(us(4));
        p.adapt(us(3));
        assert_eq!(p.window, us(4));
        p.adapt(us(5));
        assert_eq!(p.window, Duration::ZERO);
    }

    #[test]
    fn busy_poll_counts_reach_the_shared_stats_once() {
        let s = shared(true, true);
        let mut p = BusyPoll::new(Duration::from_micros(50));
        p.counts = PollStats {
            polled: 3,
            waited: 2,
            spin_us: 7,
        };
        p.publish(&s);
        p.publish(&s);
        p.counts.waited += 1;
        p.publish(&s);
        assert_eq!(
            s.stats().poll,
            PollStats {
                polled: 3,
                waited: 3,
                spin_us: 7
            }
        );
    }

    #[test]
    fn forwarded_datagrams_reuse_buffers() {
        let s = Shared::default();
        let a = s.copy(b"first datagram");
        let at = a.as_ptr();
        s.recycle(a);
        let b = s.copy(b"second");
        assert_eq!(b, b"second");
        assert_eq!(b.as_ptr(), at, "the recycled buffer, not a new one");
        // The pool is bounded: buffers beyond SPARE_BUFS are dropped.
        for _ in 0..SPARE_BUFS + 10 {
            s.recycle(Vec::with_capacity(8));
        }
        assert_eq!(s.spare.lock().unwrap().len(), SPARE_BUFS);
    }

    #[test]
    fn answers_only_what_published_state_grants() {
        use pnfsd::UpcallKind as K;
        let s = shared(true, true);
        let f = fill();
        assert_eq!(
            answer(&s, &upcall(K::GetState, &f)),
            Some(Nfsstat::Ok as u32)
        );
        // an older seqid: OLD_STATEID, as the loop answers it
        let mut old = fill();
        old.stateid[..4].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(
            answer(&s, &upcall(K::GetState, &old)),
            Some(Nfsstat::OldStateid as u32)
        );
        // a newer seqid, another state, another MDS epoch: the loop's
        let mut newer = fill();
        newer.stateid[..4].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(answer(&s, &upcall(K::GetState, &newer)), None);
        let mut other = fill();
        other.fileid = 8;
        assert_eq!(answer(&s, &upcall(K::GetState, &other)), None);
        let mut stale = fill();
        stale.boot_epoch = 5;
        assert_eq!(answer(&s, &upcall(K::GetState, &stale)), None);
        assert_eq!(answer(&s, &upcall(K::GetDeviceInfo, &f)), Some(0));
        let mut unknown = fill();
        unknown.device_id = device_id(3);
        assert_eq!(answer(&s, &upcall(K::GetDeviceInfo, &unknown)), None);
        assert_eq!(answer(&s, &upcall(K::LayoutGet, &f)), Some(0));
        assert_eq!(answer(&s, &upcall(K::LayoutReturn, &f)), None);
        let st = s.stats();
        assert_eq!(st.cache_hits, 2);
        assert_eq!(st.kinds[K::GetState as usize].answered, 2);
        assert_eq!(st.kinds[K::GetState as usize].errors, 1);
        assert_eq!(st.kinds[K::LayoutGet as usize].answered, 1);

        // Not granting: nothing; granting but in grace (no layouts): no LAYOUT_GET.
        let s = shared(false, true);
        for k in [K::GetState, K::GetDeviceInfo, K::LayoutGet] {
            assert_eq!(answer(&s, &upcall(k, &f)), None, "{k:?} while not granting");
        }
        let s = shared(true, false);
        assert_eq!(answer(&s, &upcall(K::LayoutGet, &f)), None);
        assert_eq!(answer(&s, &upcall(K::GetState, &f)), Some(0));
    }

    /// A layout covers the whole file, whatever range the client asked (Linux's client
    /// asks page by page: answering its range made it come back for every page).
    #[test]
    fn a_layout_is_granted_for_the_whole_file() {
        let s = shared(true, true);
        let mut f = fill();
        f.offset = 4096;
        f.length = 4096;
        let mut out = Vec::new();
        let up = upcall(pnfsd::UpcallKind::LayoutGet, &f);
        assert!(try_answer(&s, PNFSD_ID, PORT, &up, &mut out, None));
        let m = Messages::new(&out).next().unwrap().unwrap();
        let g = GenlMsg::parse(m).unwrap();
        let r = lg::Reply::parse(g.attrs).unwrap();
        assert_eq!(r.status(), Nfsstat::Ok as u32);
        assert_eq!((r.offset(), r.length()), (Some(0), Some(u64::MAX)));
        assert_eq!(r.iomode(), Some(f.iomode));
    }

    #[test]
    fn leaves_odd_datagrams_to_the_loop() {
        let s = shared(true, true);
        let one = upcall(pnfsd::UpcallKind::GetState, &fill());
        // two messages in one datagram, another family, a truncated message, garbage
        let two = [one.clone(), one.clone()].concat();
        let mut other = one.clone();
        other[4..6].copy_from_slice(&(PNFSD_ID + 1).to_ne_bytes());
        for d in [
            &two[..],
            &other,
            &one[..one.len() - 4],
            &one[..NLMSG_HDRLEN],
            &[0xff; 7][..],
        ] {
            assert_eq!(answer(&s, d), None);
        }
        assert_eq!(s.stats().cache_hits, 0);
    }
}
