//! Issuing upcalls (module: `pnfs_shim_upcall.c` `pnfs_shim_upcall()` and
//! `pnfs_shim_trigger.c`): the path nfsd/gfs2 would take, and the TRIGGER load generator
//! that drives it `depth` at a time.

use crate::refusals::Reason;
use crate::upcall::{KindStats, Pending};
use crate::{gfs2, pnfsd, put_ack, record, Ctx, Fam, OpError, OpResult, Twin};
use pnfs_netlink::codec::{GenlHeader, MsgBuilder, NlMsgHdr, NLMSG_NOOP, NLM_F_ACK};
use pnfs_netlink::socket::NETLINK_USERSOCK;
use pnfs_netlink::{gfs2ctl, Gfs2Attrs, NlError, PnfsdAttrs};
use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How often a running TRIGGER looks whether its requester's socket is still there.
pub const REQUESTER_PROBE: Duration = Duration::from_millis(200);
/// Upcalls failing at once (no daemon) in a row after which the issuing loop looks too.
const PROBE_EVERY_FAILURES: u32 = 4096;

/// What to put in the upcalls a trigger issues (absent attributes: zero).
#[derive(Debug, Clone, Default)]
pub struct Fill {
    pub kind: u32,
    pub count: u32,
    pub depth: u32,
    pub fsid: u64,
    pub fileid: u64,
    pub stateid: [u8; 16],
    pub clientid: u64,
    pub mds_id: u32,
    pub boot_epoch: u64,
    pub device_id: [u8; 16],
    pub iomode: u32,
    pub offset: u64,
    pub length: u64,
    pub generation: u32,
    pub state_change: u32,
    pub last_write: u64,
    pub table: String,
    pub uuid: Option<[u8; 16]>,
    pub device: String,
    pub mount_flags: u32,
    pub jid: u32,
    pub recovery_status: u32,
    pub status: i32,
}

impl Fill {
    fn from_pnfsd(t: PnfsdAttrs<'_>) -> Result<Fill, OpError> {
        let r = pnfs_netlink::pnfsd::ops::trigger::Request::from_table(t)?;
        if r.loopback() {
            return Err(OpError::new(
                libc::EOPNOTSUPP,
                "loopback is the kernel module's floor: the twin has no kernel path to answer from",
            ));
        }
        Ok(Fill {
            kind: r.upcall_kind(),
            count: r.count().unwrap_or(1),
            depth: r.depth().unwrap_or(1),
            fsid: r.fsid().unwrap_or(0),
            fileid: r.fileid().unwrap_or(0),
            stateid: r.stateid().copied().unwrap_or_default(),
            clientid: r.clientid().unwrap_or(0),
            mds_id: r.mds_id().unwrap_or(0),
            boot_epoch: r.boot_epoch().unwrap_or(0),
            device_id: r.device_id().copied().unwrap_or_default(),
            iomode: r.iomode().unwrap_or(1),
            offset: r.offset().unwrap_or(0),
            length: r.length().unwrap_or(u64::MAX),
            generation: r.generation().unwrap_or(0),
            state_change: r.state_change().unwrap_or(1),
            last_write: r.last_write().unwrap_or(0),
            ..Default::default()
        })
    }

    fn from_gfs2(t: Gfs2Attrs<'_>) -> Result<Fill, OpError> {
        let r = gfs2ctl::ops::trigger::Request::from_table(t)?;
        Ok(Fill {
            kind: r.upcall_kind(),
            count: r.count().unwrap_or(1),
            depth: r.depth().unwrap_or(1),
            table: r.table().unwrap_or("test:fs0").to_string(),
            uuid: r.uuid().copied(),
            device: r.device().unwrap_or("").to_string(),
            mount_flags: r.mount_flags().unwrap_or(0),
            jid: r.jid().unwrap_or(0),
            recovery_status: r.recovery_status().unwrap_or(1),
            status: r.status().unwrap_or(0),
            ..Default::default()
        })
    }
}

/// Encode the upcall message of `kind`: its op's generated builder, every attribute of
/// the spec's request list (module: `pnfsd_upcall_fill` / `gfs2_upcall_fill`).
pub fn build_upcall(fam: Fam, kind: u32, xid: u32, f: &Fill, buf: &mut Vec<u8>) {
    match fam {
        Fam::Pnfsd => {
            use pnfs_netlink::pnfsd::{ops, UpcallKind as K};
            let h = |cmd| GenlHeader::new(fam.id(), cmd).seq(xid);
            match K::from_u32(kind).unwrap_or(K::GetState) {
                K::GetState => ops::get_state::RequestAttrs {
                    xid,
                    mds_id: f.mds_id,
                    boot_epoch: f.boot_epoch,
                    fsid: f.fsid,
                    fileid: f.fileid,
                    stateid: f.stateid,
                    clientid: f.clientid,
                }
                .write(buf, &h(ops::get_state::CMD)),
                K::GetDeviceInfo => ops::get_device_info::RequestAttrs {
                    xid,
                    device_id: f.device_id,
                }
                .write(buf, &h(ops::get_device_info::CMD)),
                K::LayoutGet => ops::layout_get::RequestAttrs {
                    xid,
                    clientid: f.clientid,
                    fsid: f.fsid,
                    fileid: f.fileid,
                    iomode: f.iomode,
                    offset: f.offset,
                    length: f.length,
                }
                .write(buf, &h(ops::layout_get::CMD)),
                K::LayoutReturn => ops::layout_return::RequestAttrs {
                    xid,
                    clientid: f.clientid,
                    fsid: f.fsid,
                    fileid: f.fileid,
                    stateid: f.stateid,
                    offset: f.offset,
                    length: f.length,
                }
                .write(buf, &h(ops::layout_return::CMD)),
                K::LayoutCommit => ops::layout_commit::RequestAttrs {
                    xid,
                    clientid: f.clientid,
                    fsid: f.fsid,
                    fileid: f.fileid,
                    stateid: f.stateid,
                    last_write: f.last_write,
                }
                .write(buf, &h(ops::layout_commit::CMD)),
                K::StateChanged => ops::state_changed::RequestAttrs {
                    xid,
                    clientid: f.clientid,
                    fsid: f.fsid,
                    fileid: f.fileid,
                    stateid: f.stateid,
                    generation: f.generation,
                    state_change: f.state_change,
                }
                .write(buf, &h(ops::state_changed::CMD)),
            };
        }
        Fam::Gfs2 => {
            use pnfs_netlink::gfs2ctl::{ops, UpcallKind as K};
            let h = |cmd| GenlHeader::new(fam.id(), cmd).seq(xid);
            let table = f.table.as_str();
            match K::from_u32(kind).unwrap_or(K::Mount) {
                K::Mount => ops::mount::RequestAttrs {
                    xid,
                    table,
                    uuid: f.uuid,
                    device: &f.device,
                    mount_flags: f.mount_flags,
                }
                .write(buf, &h(ops::mount::CMD)),
                K::MountDone => ops::mount_done::RequestAttrs {
                    xid,
                    table,
                    jid: f.jid,
                    status: f.status,
                }
                .write(buf, &h(ops::mount_done::CMD)),
                K::Unmount => {
                    ops::unmount::RequestAttrs { xid, table }.write(buf, &h(ops::unmount::CMD))
                }
                K::Withdraw => ops::withdraw::RequestAttrs {
                    xid,
                    table,
                    jid: f.jid,
                }
                .write(buf, &h(ops::withdraw::CMD)),
                K::RecoveryDone => ops::recovery_done::RequestAttrs {
                    xid,
                    table,
                    jid: f.jid,
                    recovery_status: f.recovery_status,
                }
                .write(buf, &h(ops::recovery_done::CMD)),
            };
        }
    }
}

/// Put `xid` into an upcall `build_upcall` encoded: the header's sequence number and
/// its first attribute, XID (first in both families).
pub fn set_xid(buf: &mut [u8], xid: u32) {
    const SEQ: std::ops::Range<usize> = 8..12;
    const XID: std::ops::Range<usize> = 24..28; // header, genl header, XID's nla header
    buf[SEQ].copy_from_slice(&xid.to_ne_bytes());
    buf[XID].copy_from_slice(&xid.to_ne_bytes());
}

/// How one upcall of a run ended.
pub enum End<'t, 'a> {
    /// The daemon answered: the REPLY's attribute bytes, their table and its status
    /// (read once, `Reply::status`).
    Reply(&'a [u8], Reply<'t, 'a>, i64),
    /// Not answered: errno (ETIMEDOUT, ENOTCONN: no daemon or it died, EAGAIN: its
    /// receive queue was full).
    Errno(i32),
}

/// A REPLY's attributes, parsed once by its family's handler.
#[derive(Clone, Copy)]
pub enum Reply<'t, 'a> {
    Pnfsd(&'t PnfsdAttrs<'a>),
    Gfs2(&'t Gfs2Attrs<'a>),
}

impl Reply<'_, '_> {
    /// The status attribute (pnfsd: nfsstat; gfs2: 0 or a negative errno); -1 when it
    /// has none (the handlers require it, so only for completeness).
    pub fn status(&self) -> i64 {
        match self {
            Reply::Pnfsd(t) => pnfs_netlink::pnfsd::ops::reply::Request::from_table(**t)
                .map_or(-1, |r| i64::from(r.status())),
            Reply::Gfs2(t) => {
                gfs2ctl::ops::reply::Request::from_table(**t).map_or(-1, |r| i64::from(r.status()))
            }
        }
    }
}

/// One TRIGGER run of the load generator (module: the trigger's state). The next upcall
/// is issued from wherever the previous one ended — the REPLY's handler, the timeout
/// sweep, the daemon's death — as the module's generator issues from its reply path: no
/// task is woken and nothing is allocated per upcall.
pub struct Run {
    fam: Fam,
    fill: Fill,
    /// The TRIGGER's requester (port, seq): the run ends early when its socket is gone.
    requester: (u32, u32),
    st: Mutex<RunState>,
    /// Told once, when the last upcall of the run has ended.
    done: Notify,
}

struct RunState {
    /// Upcalls not issued yet.
    remaining: u32,
    /// Issued and not ended.
    in_flight: u32,
    stats: KindStats,
    /// The last reply's attributes (echoed in the TRIGGER answer).
    last: Option<Vec<u8>>,
    /// When the last upcall ended: the run's elapsed time ends here (as the floor's
    /// clock stops at its last answer), not when the task waiting for it wakes.
    finished: Option<Instant>,
    /// The requester went away: nothing more is issued.
    abandoned: bool,
}

impl RunState {
    /// Take the next upcall to issue, if any is left; when none is left and none is in
    /// flight, the run is over: tell its task (once).
    fn take_next(&mut self, done: &Notify) -> bool {
        if self.remaining > 0 {
            self.remaining -= 1;
            self.in_flight += 1;
            return true;
        }
        if self.in_flight == 0 && self.finished.is_none() {
            self.finished = Some(Instant::now());
            done.notify_one();
        }
        false
    }
}

thread_local! {
    /// The upcall encoding buffer of each thread that issues (the twin's receive thread,
    /// the runtime's for timeouts): made once, no allocation per upcall.
    static UPCALL_BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

impl Run {
    fn new(fam: Fam, fill: Fill, requester: (u32, u32)) -> Arc<Run> {
        Arc::new(Run {
            fam,
            requester,
            st: Mutex::new(RunState {
                remaining: fill.count,
                in_flight: 0,
                stats: KindStats::default(),
                last: None,
                finished: None,
                abandoned: false,
            }),
            fill,
            done: Notify::new(),
        })
    }

    /// Stop issuing if the requester's socket is gone (the upcalls in flight end as
    /// usual, then the run). True when it is gone.
    fn abandon_if_requester_gone(&self, twin: &Twin) -> bool {
        let (port, seq) = self.requester;
        if requester_present(twin, port, seq) {
            return false;
        }
        let mut st = self.st.lock().unwrap();
        if st.abandoned {
            return true;
        }
        st.abandoned = true;
        let left = std::mem::take(&mut st.remaining);
        let in_flight = st.in_flight;
        // Ends the run now if nothing is in flight.
        st.take_next(&self.done);
        drop(st);
        twin.refusals.note(Reason::TriggerAbandoned, || {
            format!(
                "the TRIGGER from port {port} (seq {seq}) lost its requester: {left} upcalls \
                 not issued, {in_flight} in flight"
            )
        });
        true
    }

    /// Start one in-flight slot (or, with none left to issue, end the run).
    fn start_slot(self: &Arc<Self>, twin: &Twin) {
        if self.st.lock().unwrap().take_next(&self.done) {
            self.issue_taken(twin);
        }
    }

    /// Issue the upcall taken with `take_next`; one that fails at once (no daemon, a
    /// full queue) is counted and the next one taken, until one is in flight or none
    /// is left.
    fn issue_taken(self: &Arc<Self>, twin: &Twin) {
        let mut failures = 0u32;
        while let Err((xid, t0_us, errno)) = twin.issue(self) {
            // A long run of upcalls failing at once (no daemon) never returns to the
            // run's task, which looks for the requester: look here as well.
            failures += 1;
            if failures == PROBE_EVERY_FAILURES {
                failures = 0;
                self.abandon_if_requester_gone(twin);
            }
            if !self.account(twin, xid, t0_us, 0, End::Errno(errno)) {
                return;
            }
        }
    }

    /// Upcall `xid` of this run ended (`ns`: its round trip, for a reply): count it,
    /// record it, and issue the next.
    pub fn ended(self: &Arc<Self>, twin: &Twin, xid: u32, t0_us: u64, ns: u64, end: End<'_, '_>) {
        if self.account(twin, xid, t0_us, ns, end) {
            self.issue_taken(twin);
        }
    }

    /// Count and record an ended upcall and, under the same lock, take the next; true
    /// when there is one to issue.
    fn account(&self, twin: &Twin, xid: u32, t0_us: u64, ns: u64, end: End<'_, '_>) -> bool {
        let fam = self.fam;
        let mut st = self.st.lock().unwrap();
        let st = &mut *st;
        st.in_flight -= 1;
        st.stats.sent += 1;
        let res = match end {
            End::Reply(bytes, reply, status) => {
                st.stats.latency.record(ns);
                st.stats.answered += 1;
                apply_reply(twin, &self.fill, reply, status, &mut st.stats);
                let last = st.last.get_or_insert_with(Vec::new);
                last.clear();
                last.extend_from_slice(bytes);
                Some(record::Result::Status(status))
            }
            End::Errno(e) => {
                if e == libc::ETIMEDOUT {
                    st.stats.timeouts += 1;
                } else {
                    st.stats.failed += 1;
                }
                Some(record::Result::Errno(e))
            }
        };
        let next = st.take_next(&self.done);
        if let (Some(rec), Some(res)) = (&twin.record, res) {
            rec.upcall(fam, xid, t0_us, record::now_us(), &self.fill, res);
        }
        next
    }
}

impl Twin {
    /// Issue one upcall of `run` (module: `pnfs_shim_upcall()`): Ok when it is in flight
    /// (or was already ended by the daemon's death), else (xid, t0, errno) — xid 0 when
    /// none was allocated (no daemon).
    fn issue(&self, run: &Arc<Run>) -> Result<(), (u32, u64, i32)> {
        let (fam, kind) = (run.fam, run.fill.kind);
        let t0_us = if self.record.is_some() {
            record::now_us()
        } else {
            0
        };
        // Encoded before the xid is taken (and patched in under the lock), so that the
        // round trip is timed from just before the send, as the floor's sender times it.
        let sent = UPCALL_BUF.with(|b| {
            let mut buf = b.borrow_mut();
            buf.clear();
            build_upcall(fam, kind, 0, &run.fill, &mut buf);
            let (xid, port, pid) = {
                let mut shim = self.shim.lock().unwrap();
                let up = shim.up(fam);
                // `sent` counts every upcall issued, so that once none is pending
                // sent == answered + timeouts + failed, per run and cumulatively.
                up.stats[kind as usize].sent += 1;
                let Some(d) = up.daemon else {
                    up.stats[kind as usize].failed += 1;
                    return None;
                };
                let xid = up.alloc_xid();
                set_xid(&mut buf, xid);
                up.pending.insert(
                    xid,
                    Pending {
                        kind,
                        start: Instant::now(),
                        t0_us,
                        run: run.clone(),
                    },
                );
                (xid, d.port, d.pid)
            };
            // Never wait for room: the module's genlmsg_unicast() is MSG_DONTWAIT too, and
            // an upcall stuck on a daemon that stopped reading would escape its timeout.
            Some((xid, port, pid, self.up.try_send_to(&buf, port, 0)))
        });
        // (The buffer is released: ending upcalls below may issue again.)
        let Some((xid, port, pid, sent)) = sent else {
            return Err((0, t0_us, libc::ENOTCONN));
        };
        let Err(e) = sent else {
            return Ok(());
        };
        let errno = match &e {
            NlError::Io(io) => io.raw_os_error(),
            _ => None,
        };
        if errno == Some(libc::ECONNREFUSED) {
            // The daemon is gone: that fails every pending upcall, this one too.
            self.daemon_gone(fam, port, pid);
        }
        let mut shim = self.shim.lock().unwrap();
        let up = shim.up(fam);
        if up.pending.remove(&xid).is_none() {
            return Ok(()); // ended (and counted) with the daemon's death
        }
        up.stats[kind as usize].failed += 1;
        tracing::debug!(port, "upcall not delivered: {e}");
        let errno = match errno {
            Some(libc::ECONNREFUSED) => libc::ENOTCONN,
            other => other.unwrap_or(libc::EIO),
        };
        Err((xid, t0_us, errno))
    }

    /// Time out the upcalls of `run` whose deadline has passed; returns when to look
    /// again (the earliest deadline left, or a whole timeout from now).
    fn sweep(&self, run: &Arc<Run>) -> Instant {
        let mut expired = Vec::new();
        let next = {
            let mut shim = self.shim.lock().unwrap();
            let up = shim.up(run.fam);
            let (now, timeout) = (Instant::now(), up.timeout);
            let mut next = now + timeout;
            up.pending.retain(|&xid, p| {
                if !Arc::ptr_eq(&p.run, run) {
                    return true;
                }
                let deadline = p.start + timeout;
                if deadline <= now {
                    expired.push((xid, p.t0_us));
                    return false;
                }
                next = next.min(deadline);
                true
            });
            up.stats[run.fill.kind as usize].timeouts += expired.len() as u64;
            next
        };
        for (xid, t0_us) in expired {
            run.ended(self, xid, t0_us, 0, End::Errno(libc::ETIMEDOUT));
        }
        next
    }

    /// REPLY: end the pending upcall `xid`, which issues its run's next.
    pub fn reply(&self, ctx: &mut Ctx<'_>, xid: u32, reply: Reply<'_, '_>) -> OpResult {
        let mut shim = self.shim.lock().unwrap();
        let up = shim.up(ctx.fam);
        if !up.daemon.is_some_and(|d| d.is(ctx.from_port, ctx.creds)) {
            // Another process on the daemon's port is refused before (`admin_check`),
            // unless the receive thread's view of the daemons was a moment old.
            let reason = match up.daemon {
                Some(d) if d.port == ctx.from_port => Reason::Impostor,
                _ => Reason::ForeignReply,
            };
            drop(shim);
            let port = ctx.from_port;
            self.refusals.note(reason, || {
                format!("REPLY to xid {xid} from port {port} refused")
            });
            return Err(OpError::new(
                libc::EPERM,
                "reply from a port that is not the registered daemon",
            ));
        }
        let Some(p) = up.pending.remove(&xid) else {
            up.late_replies += 1;
            drop(shim);
            if let Some(rec) = &self.record {
                rec.unmatched_reply(ctx.fam, xid);
            }
            return Err(OpError::new(
                libc::ENOENT,
                format!("xid {xid} is not pending"),
            ));
        };
        let ns = ctx.received.saturating_duration_since(p.start).as_nanos() as u64;
        let s = &mut up.stats[p.kind as usize];
        let status = reply.status();
        s.answered += 1;
        if status != 0 {
            s.errors += 1;
        }
        s.latency.record(ns);
        drop(shim);
        let end = End::Reply(ctx.msg.attrs, reply, status);
        p.run.ended(self, xid, p.t0_us, ns, end);
        Ok(())
    }
}

/// TRIGGER: run the load generator in the background and answer when it is done.
pub fn start(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let policy = ctx.fam.request_policy(ctx.msg.cmd());
    let fill = match ctx.fam {
        Fam::Pnfsd => Fill::from_pnfsd(PnfsdAttrs::parse_strict(ctx.msg.attrs, policy)?)?,
        Fam::Gfs2 => Fill::from_gfs2(Gfs2Attrs::parse_strict(ctx.msg.attrs, policy)?)?,
    };
    let kinds = match ctx.fam {
        Fam::Pnfsd => pnfs_netlink::pnfsd::UpcallKind::ALL.len() as u32,
        Fam::Gfs2 => gfs2ctl::UpcallKind::ALL.len() as u32,
    };
    if fill.kind == 0 || fill.kind > kinds {
        return Err(OpError::new(libc::EINVAL, "unknown upcall-kind"));
    }
    let header: NlMsgHdr = *ctx.msg.header;
    let (fam, requester, cmd) = (ctx.fam, ctx.from_port, ctx.msg.cmd());
    ctx.deferred = true;
    let twin = twin.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let kind = fill.kind;
        let (stats, last, ended) = run_load(&twin, fam, fill, (requester, header.seq)).await;
        let elapsed = ended.saturating_duration_since(started).as_nanos() as u64;
        if let Some(rec) = &twin.record {
            rec.flush(); // the run's upcalls are in the record before its answer
        }
        let mut out = Vec::with_capacity(512);
        encode_trigger_reply(
            &mut out,
            fam,
            &header,
            requester,
            cmd,
            kind,
            &stats,
            elapsed,
            last.as_deref(),
        );
        if header.flags & NLM_F_ACK != 0 {
            put_ack(&mut out, &header, &[], requester, None);
        }
        // This task may wait for room (the requester asked and waits for this answer),
        // but boundedly: a requester that stopped reading loses it.
        match twin.send_patiently(&twin.sock, &out, requester).await {
            Ok(()) => {}
            Err(e) if crate::would_block(&e) => twin.refusals.note(Reason::AnswerDropped, || {
                format!(
                    "port {requester} read nothing for {:?}: a TRIGGER's answer dropped",
                    crate::SEND_PATIENCE
                )
            }),
            Err(e) => tracing::debug!("trigger reply not delivered: {e}"),
        }
    });
    Ok(())
}

/// Run the load generator: `depth` upcalls in flight, the next issued as each ends; this
/// task only starts them, times them out, looks every REQUESTER_PROBE whether the
/// `requester` (port, seq) is still there (when it is not, nothing more is issued), and
/// waits for the end.
/// Returns the run's counts, its last reply and when its last upcall ended.
async fn run_load(
    twin: &Twin,
    fam: Fam,
    fill: Fill,
    requester: (u32, u32),
) -> (KindStats, Option<Vec<u8>>, Instant) {
    let slots = fill.depth.max(1).min(fill.count.max(1));
    let run = Run::new(fam, fill, requester);
    for _ in 0..slots {
        run.start_slot(twin);
    }
    let mut probe = Instant::now() + REQUESTER_PROBE;
    loop {
        let next = twin.sweep(&run).min(probe);
        tokio::select! {
            _ = run.done.notified() => break,
            _ = tokio::time::sleep_until(next.into()) => {}
        }
        if Instant::now() >= probe {
            run.abandon_if_requester_gone(twin);
            probe = Instant::now() + REQUESTER_PROBE;
        }
    }
    let mut st = run.st.lock().unwrap();
    let ended = st.finished.unwrap_or_else(Instant::now);
    (std::mem::take(&mut st.stats), st.last.take(), ended)
}

/// Record what a reply (of `status`) does to the kernel half's state, and count errors.
fn apply_reply(twin: &Twin, fill: &Fill, reply: Reply<'_, '_>, status: i64, s: &mut KindStats) {
    if status != 0 {
        s.errors += 1;
        return;
    }
    match reply {
        Reply::Pnfsd(t) => {
            use pnfs_netlink::pnfsd::{ops, UpcallKind as K};
            // Only layouts change the kernel half's state (no lock for the others).
            match K::from_u32(fill.kind) {
                Some(K::LayoutGet) => {
                    let Ok(r) = ops::layout_get::Reply::from_table(*t) else {
                        return;
                    };
                    let lo = pnfsd::Layout {
                        clientid: fill.clientid,
                        fsid: fill.fsid,
                        fileid: fill.fileid,
                        device_id: r.device_id().copied().unwrap_or(fill.device_id),
                        stateid: r.stateid().copied().unwrap_or(fill.stateid),
                        iomode: r.iomode().unwrap_or(fill.iomode),
                        offset: r.offset().unwrap_or(fill.offset),
                        length: r.length().unwrap_or(fill.length),
                    };
                    // An identical layout is recorded once (module: pnfsd_layout_record).
                    let layouts = &mut twin.shim.lock().unwrap().pnfsd.layouts;
                    if !layouts.contains(&lo) {
                        layouts.push(lo);
                    }
                }
                Some(K::LayoutReturn) => twin.shim.lock().unwrap().pnfsd.layouts.retain(|l| {
                    !(l.clientid == fill.clientid && l.fsid == fill.fsid && l.fileid == fill.fileid)
                }),
                _ => {}
            }
        }
        Reply::Gfs2(t) => {
            let fam = Fam::Gfs2;
            let Some(kind) = gfs2ctl::UpcallKind::from_u32(fill.kind) else {
                return;
            };
            let changed = gfs2::apply_reply(&mut twin.shim.lock().unwrap().gfs2, kind, fill, t);
            if let Some((table, m)) = changed {
                use gfs2ctl::ops;
                let mut ev = Vec::with_capacity(128);
                if kind == gfs2ctl::UpcallKind::RecoveryDone {
                    // A finished recovery is a `recovery` event (the spec's "requested or
                    // finished"), not a change of the mount.
                    ops::recovery::EventAttrs {
                        table: Some(&table),
                        jid: Some(fill.jid),
                        recovery_status: Some(fill.recovery_status),
                    }
                    .write(&mut ev, &ops::recovery::header(fam.id()));
                } else {
                    gfs2::mount_changed(&table, &m)
                        .write(&mut ev, &ops::mount_changed::header(fam.id()));
                }
                let _ = twin.sock.try_send_to(&ev, 0, 1 << (fam.group() - 1));
            }
        }
    }
}

/// TRIGGER's answer (module: `pnfsd_nl_trigger_doit`'s reply): the run's kind-stats
/// with its histogram, its elapsed time, and what the last REPLY said.
#[allow(clippy::too_many_arguments)]
fn encode_trigger_reply(
    out: &mut Vec<u8>,
    fam: Fam,
    h: &NlMsgHdr,
    requester: u32,
    cmd: u8,
    kind: u32,
    s: &KindStats,
    elapsed: u64,
    last: Option<&[u8]>,
) {
    let mut hist = Vec::new();
    s.latency.encode(&mut hist);
    let h = GenlHeader::new(fam.id(), cmd).seq(h.seq).pid(requester);
    match fam {
        Fam::Pnfsd => {
            use pnfs_netlink::pnfsd::{nest::DsAddrAttrs, ops};
            let stats = [pnfsd::kind_stats!(pnfsd, kind, s, Some(&hist))];
            let last = last.and_then(|l| ops::reply::Request::parse(l).ok());
            let addrs: Vec<DsAddrAttrs<'_>> = last
                .iter()
                .flat_map(|r| r.ds_addr())
                .map(|a| DsAddrAttrs {
                    netid: a.netid(),
                    uaddr: a.uaddr(),
                })
                .collect();
            ops::trigger::ReplyAttrs {
                kind_stats: &stats,
                elapsed_ns: elapsed,
                status: last.map(|r| r.status()),
                access: last.and_then(|r| r.access()),
                generation: last.and_then(|r| r.generation()),
                device_id: last.and_then(|r| r.device_id().copied()),
                ds_addr: &addrs,
            }
            .write(out, &h);
        }
        Fam::Gfs2 => {
            use gfs2ctl::ops;
            let stats = [pnfsd::kind_stats!(gfs2ctl, kind, s, Some(&hist))];
            let last = last.and_then(|l| ops::reply::Request::parse(l).ok());
            ops::trigger::ReplyAttrs {
                kind_stats: &stats,
                elapsed_ns: elapsed,
                status: last.map(|r| r.status()),
                jid: last.and_then(|r| r.jid()),
                first: last.and_then(|r| r.first()),
            }
            .write(out, &h);
        }
    }
}

/// Whether a socket still holds the requester's `port` (USERSOCK, this network
/// namespace). /proc/self/net/netlink lists every netlink socket of the namespace with
/// its protocol and port, which tells without sending anything; where it cannot be read,
/// a header-only NLMSG_NOOP (with the TRIGGER's `seq`, which netlink readers skip) is
/// sent to the port: ECONNREFUSED says no socket holds it. A port another socket has
/// taken again since the last look counts as present: the run then goes on.
fn requester_present(twin: &Twin, port: u32, seq: u32) -> bool {
    if let Some(bound) = usersock_port_bound(port) {
        return bound;
    }
    let mut noop = Vec::with_capacity(16);
    MsgBuilder::new(&mut noop, NLMSG_NOOP, 0, seq, port).finish();
    !matches!(twin.sock.try_send_to(&noop, port, 0),
        Err(NlError::Io(e)) if e.raw_os_error() == Some(libc::ECONNREFUSED))
}

/// Whether a NETLINK_USERSOCK socket is bound to `port` in this network namespace, from
/// /proc/self/net/netlink (columns: sk, protocol, port, ...); None when unreadable.
pub fn usersock_port_bound(port: u32) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/self/net/netlink").ok()?;
    Some(table.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace().skip(1);
        f.next().and_then(|p| p.parse::<isize>().ok()) == Some(NETLINK_USERSOCK)
            && f.next().and_then(|p| p.parse::<u32>().ok()) == Some(port)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe a TRIGGER uses to see its requester go: a bound USERSOCK port is listed,
    /// and no longer once its socket is closed.
    #[test]
    fn usersock_port_bound_follows_the_socket() {
        use pnfs_netlink::socket::{NlSocket, SocketOptions};
        let s = NlSocket::open(NETLINK_USERSOCK, &SocketOptions::default()).unwrap();
        let port = s.port();
        assert_eq!(usersock_port_bound(port), Some(true));
        drop(s);
        assert_eq!(usersock_port_bound(port), Some(false));
    }

    /// `issue` encodes with xid 0 and patches the xid in: the same bytes as encoding
    /// with it, for every upcall of both families.
    #[test]
    fn set_xid_gives_the_bytes_of_encoding_with_the_xid() {
        let fill = Fill {
            table: "c:fs".into(),
            device: "/dev/vdb".into(),
            uuid: Some([7; 16]),
            ..Fill::default()
        };
        let kinds = [
            (
                Fam::Pnfsd,
                pnfs_netlink::pnfsd::UpcallKind::ALL.len() as u32,
            ),
            (Fam::Gfs2, gfs2ctl::UpcallKind::ALL.len() as u32),
        ];
        for (fam, n) in kinds {
            for kind in 1..=n {
                let (mut patched, mut direct) = (Vec::new(), Vec::new());
                build_upcall(fam, kind, 0, &fill, &mut patched);
                set_xid(&mut patched, 0xdead_beef);
                build_upcall(fam, kind, 0xdead_beef, &fill, &mut direct);
                assert_eq!(patched, direct, "{fam:?} kind {kind}");
            }
        }
    }
}
