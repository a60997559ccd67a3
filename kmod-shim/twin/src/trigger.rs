//! Issuing upcalls (module: `pnfs_shim_upcall.c` `pnfs_shim_upcall()` and
//! `pnfs_shim_trigger.c`): the path nfsd/gfs2 would take, and the TRIGGER load generator
//! that drives it `depth` at a time.

use crate::upcall::{KindStats, Outcome, Pending};
use crate::{gfs2, pnfsd, record, Ctx, Fam, OpError, OpResult, Twin};
use pnfs_netlink::codec::{put_error, MsgBuilder, NlMsgHdr, NLM_F_ACK};
use pnfs_netlink::{gfs2ctl, Gfs2Attrs, NlError, PnfsdAttrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

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
    fn from_pnfsd(t: &PnfsdAttrs<'_>) -> Result<Fill, OpError> {
        use pnfs_netlink::pnfsd::attr as a;
        if t.has(a::LOOPBACK) {
            return Err(OpError::new(
                libc::EOPNOTSUPP,
                "loopback is the kernel module's floor: the twin has no kernel path to answer from",
            ));
        }
        Ok(Fill {
            kind: t.req_u32(a::UPCALL_KIND)?,
            count: t.u32(a::COUNT).unwrap_or(1),
            depth: t.u32(a::DEPTH).unwrap_or(1),
            fsid: t.u64(a::FSID).unwrap_or(0),
            fileid: t.u64(a::FILEID).unwrap_or(0),
            stateid: t.array::<16>(a::STATEID).copied().unwrap_or_default(),
            clientid: t.u64(a::CLIENTID).unwrap_or(0),
            mds_id: t.u32(a::MDS_ID).unwrap_or(0),
            boot_epoch: t.u64(a::BOOT_EPOCH).unwrap_or(0),
            device_id: t.array::<16>(a::DEVICE_ID).copied().unwrap_or_default(),
            iomode: t.u32(a::IOMODE).unwrap_or(1),
            offset: t.u64(a::OFFSET).unwrap_or(0),
            length: t.u64(a::LENGTH).unwrap_or(u64::MAX),
            generation: t.u32(a::GENERATION).unwrap_or(0),
            state_change: t.u32(a::STATE_CHANGE).unwrap_or(1),
            last_write: t.u64(a::LAST_WRITE).unwrap_or(0),
            ..Default::default()
        })
    }

    fn from_gfs2(t: &Gfs2Attrs<'_>) -> Result<Fill, OpError> {
        use pnfs_netlink::gfs2ctl::attr as a;
        Ok(Fill {
            kind: t.req_u32(a::UPCALL_KIND)?,
            count: t.u32(a::COUNT).unwrap_or(1),
            depth: t.u32(a::DEPTH).unwrap_or(1),
            table: t.str(a::TABLE).unwrap_or("test:fs0").to_string(),
            uuid: t.array::<16>(a::UUID).copied(),
            device: t.str(a::DEVICE).unwrap_or("").to_string(),
            mount_flags: t.u32(a::MOUNT_FLAGS).unwrap_or(0),
            jid: t.u32(a::JID).unwrap_or(0),
            recovery_status: t.u32(a::RECOVERY_STATUS).unwrap_or(1),
            status: t.i32(a::STATUS).unwrap_or(0),
            ..Default::default()
        })
    }
}

/// Encode the upcall message of `kind` (attributes as the spec's request list).
pub fn build_upcall(fam: Fam, kind: u32, xid: u32, f: &Fill, buf: &mut Vec<u8>) {
    match fam {
        Fam::Pnfsd => {
            use pnfs_netlink::pnfsd::{attr as a, cmd, UpcallKind as K};
            let k = K::from_u32(kind).unwrap_or(K::GetState);
            let c = match k {
                K::GetState => cmd::GET_STATE,
                K::GetDeviceInfo => cmd::GET_DEVICE_INFO,
                K::LayoutGet => cmd::LAYOUT_GET,
                K::LayoutReturn => cmd::LAYOUT_RETURN,
                K::LayoutCommit => cmd::LAYOUT_COMMIT,
                K::StateChanged => cmd::STATE_CHANGED,
            };
            let mut b = MsgBuilder::genl(buf, fam.id(), 0, xid, 0, c, 1);
            b.put_u32(a::XID, xid);
            match k {
                K::GetState => {
                    b.put_u32(a::MDS_ID, f.mds_id)
                        .put_u64(a::BOOT_EPOCH, f.boot_epoch)
                        .put_u64(a::FSID, f.fsid)
                        .put_u64(a::FILEID, f.fileid)
                        .put_bytes(a::STATEID, &f.stateid)
                        .put_u64(a::CLIENTID, f.clientid);
                }
                K::GetDeviceInfo => {
                    b.put_bytes(a::DEVICE_ID, &f.device_id);
                }
                K::LayoutGet => {
                    b.put_u64(a::CLIENTID, f.clientid)
                        .put_u64(a::FSID, f.fsid)
                        .put_u64(a::FILEID, f.fileid)
                        .put_u32(a::IOMODE, f.iomode)
                        .put_u64(a::OFFSET, f.offset)
                        .put_u64(a::LENGTH, f.length);
                }
                K::LayoutReturn => {
                    b.put_u64(a::CLIENTID, f.clientid)
                        .put_u64(a::FSID, f.fsid)
                        .put_u64(a::FILEID, f.fileid)
                        .put_bytes(a::STATEID, &f.stateid)
                        .put_u64(a::OFFSET, f.offset)
                        .put_u64(a::LENGTH, f.length);
                }
                K::LayoutCommit => {
                    b.put_u64(a::CLIENTID, f.clientid)
                        .put_u64(a::FSID, f.fsid)
                        .put_u64(a::FILEID, f.fileid)
                        .put_bytes(a::STATEID, &f.stateid)
                        .put_u64(a::LAST_WRITE, f.last_write);
                }
                K::StateChanged => {
                    b.put_u64(a::CLIENTID, f.clientid)
                        .put_u64(a::FSID, f.fsid)
                        .put_u64(a::FILEID, f.fileid)
                        .put_bytes(a::STATEID, &f.stateid)
                        .put_u32(a::GENERATION, f.generation)
                        .put_u32(a::STATE_CHANGE, f.state_change);
                }
            }
            b.finish();
        }
        Fam::Gfs2 => {
            use pnfs_netlink::gfs2ctl::{attr as a, cmd, UpcallKind as K};
            let k = K::from_u32(kind).unwrap_or(K::Mount);
            let c = match k {
                K::Mount => cmd::MOUNT,
                K::MountDone => cmd::MOUNT_DONE,
                K::Unmount => cmd::UNMOUNT,
                K::Withdraw => cmd::WITHDRAW,
                K::RecoveryDone => cmd::RECOVERY_DONE,
            };
            let mut b = MsgBuilder::genl(buf, fam.id(), 0, xid, 0, c, 1);
            b.put_u32(a::XID, xid).put_str(a::TABLE, &f.table);
            match k {
                K::Mount => {
                    if let Some(u) = &f.uuid {
                        b.put_bytes(a::UUID, u);
                    }
                    b.put_str(a::DEVICE, &f.device)
                        .put_u32(a::MOUNT_FLAGS, f.mount_flags);
                }
                K::MountDone => {
                    b.put_u32(a::JID, f.jid).put_i32(a::STATUS, f.status);
                }
                K::Unmount => {}
                K::Withdraw => {
                    b.put_u32(a::JID, f.jid);
                }
                K::RecoveryDone => {
                    b.put_u32(a::JID, f.jid)
                        .put_u32(a::RECOVERY_STATUS, f.recovery_status);
                }
            }
            b.finish();
        }
    }
}

impl Twin {
    /// Issue one upcall and wait for its reply: the reply's attribute bytes, or a
    /// negative-errno-style error (ENOTCONN: no daemon or it died; ETIMEDOUT).
    pub async fn upcall(
        &self,
        fam: Fam,
        kind: u32,
        fill: &Fill,
        buf: &mut Vec<u8>,
    ) -> Result<Vec<u8>, i32> {
        let Some(rec) = &self.record else {
            return self.upcall_xid(fam, kind, fill, buf).await.1;
        };
        let t0 = record::now_us();
        let (xid, r) = self.upcall_xid(fam, kind, fill, buf).await;
        let t1 = record::now_us();
        let res = match &r {
            Ok(reply) => record::Result::Status(reply_status(fam, reply)),
            Err(e) => record::Result::Errno(*e),
        };
        rec.upcall(fam, xid, t0, t1, fill, res);
        r
    }

    /// `upcall`, also returning the xid it used (0: none allocated).
    async fn upcall_xid(
        &self,
        fam: Fam,
        kind: u32,
        fill: &Fill,
        buf: &mut Vec<u8>,
    ) -> (u32, Result<Vec<u8>, i32>) {
        let (tx, mut rx) = oneshot::channel();
        let (xid, port, timeout) = {
            let mut shim = self.shim.lock().unwrap();
            let up = shim.up(fam);
            let k = kind as usize;
            // `sent` counts every upcall issued, so that once none is pending
            // sent == answered + timeouts + failed, per run and cumulatively.
            up.stats[k].sent += 1;
            let Some(d) = up.daemon else {
                up.stats[k].failed += 1;
                return (0, Err(libc::ENOTCONN));
            };
            let xid = up.alloc_xid();
            up.pending.insert(
                xid,
                Pending {
                    kind,
                    start: Instant::now(),
                    waiter: tx,
                },
            );
            (xid, d.port, up.timeout)
        };
        buf.clear();
        build_upcall(fam, kind, xid, fill, buf);
        // Never wait for room: the module's genlmsg_unicast() is MSG_DONTWAIT too, and an
        // upcall stuck on a daemon that stopped reading would escape its timeout.
        if let Err(e) = self.sock.try_send_to(buf, port, 0) {
            let errno = match &e {
                NlError::Io(io) => io.raw_os_error(),
                _ => None,
            };
            if errno == Some(libc::ECONNREFUSED) {
                self.daemon_gone(fam, port);
            } else {
                let mut shim = self.shim.lock().unwrap();
                let up = shim.up(fam);
                if up.pending.remove(&xid).is_some() {
                    up.stats[kind as usize].failed += 1;
                }
                tracing::debug!(port, "upcall not delivered: {e}");
                return (xid, Err(errno.unwrap_or(libc::EIO)));
            }
            return (xid, Err(libc::ENOTCONN));
        }
        let r = match tokio::time::timeout(timeout, &mut rx).await {
            Ok(Ok(Outcome::Reply(bytes))) => Ok(bytes),
            Ok(Ok(Outcome::NotConnected)) | Ok(Err(_)) => Err(libc::ENOTCONN),
            Err(_) => {
                let mut shim = self.shim.lock().unwrap();
                let up = shim.up(fam);
                if up.pending.remove(&xid).is_some() {
                    up.stats[kind as usize].timeouts += 1;
                    Err(libc::ETIMEDOUT)
                } else {
                    // The reply (or the daemon's death) won the race with the timer: it
                    // already took the pending entry and counted the outcome, so the
                    // caller must get that outcome, not a timeout counted nowhere.
                    match rx.try_recv() {
                        Ok(Outcome::Reply(bytes)) => Ok(bytes),
                        _ => Err(libc::ENOTCONN),
                    }
                }
            }
        };
        (xid, r)
    }

    /// REPLY: wake the waiter of `xid`.
    pub fn reply(&self, ctx: &mut Ctx<'_>, xid: u32, is_error: bool) -> OpResult {
        let mut shim = self.shim.lock().unwrap();
        let up = shim.up(ctx.fam);
        if up.daemon.map(|d| d.port) != Some(ctx.from_port) {
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
        let s = &mut up.stats[p.kind as usize];
        s.answered += 1;
        if is_error {
            s.errors += 1;
        }
        s.latency.record(p.start.elapsed().as_nanos() as u64);
        let _ = p.waiter.send(Outcome::Reply(ctx.msg.attrs.to_vec()));
        Ok(())
    }
}

/// TRIGGER: run the load generator in the background and answer when it is done.
pub fn start(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let fill = match ctx.fam {
        Fam::Pnfsd => Fill::from_pnfsd(&PnfsdAttrs::parse_strict(
            ctx.msg.attrs,
            &pnfs_netlink::pnfsd::PNFSD_POLICY,
        )?)?,
        Fam::Gfs2 => Fill::from_gfs2(&Gfs2Attrs::parse_strict(
            ctx.msg.attrs,
            &gfs2ctl::GFS2CTL_POLICY,
        )?)?,
    };
    let kinds = match ctx.fam {
        Fam::Pnfsd => pnfs_netlink::pnfsd::UpcallKind::ALL.len() as u32,
        Fam::Gfs2 => gfs2ctl::UpcallKind::ALL.len() as u32,
    };
    if fill.kind == 0 || fill.kind > kinds {
        return Err(OpError::new(libc::EINVAL, "unknown upcall-kind"));
    }
    let header: NlMsgHdr = *ctx.msg.header;
    let (fam, requester, twin_port, cmd) = (ctx.fam, ctx.from_port, ctx.twin_port, ctx.msg.cmd());
    ctx.deferred = true;
    let twin = twin.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let (stats, last) = run_load(&twin, fam, Arc::new(fill.clone())).await;
        let elapsed = started.elapsed().as_nanos() as u64;
        if let Some(rec) = &twin.record {
            rec.flush(); // the run's upcalls are in the record before its answer
        }
        let mut out = Vec::with_capacity(512);
        encode_trigger_reply(
            &mut out,
            fam,
            &header,
            cmd,
            fill.kind,
            &stats,
            elapsed,
            last.as_deref(),
        );
        if header.flags & NLM_F_ACK != 0 {
            put_error(&mut out, &header, 0, None, None, twin_port);
        }
        if let Err(e) = twin.sock.send_to(&out, requester, 0).await {
            tracing::debug!("trigger reply not delivered: {e}");
        }
    });
    Ok(())
}

async fn run_load(twin: &Twin, fam: Fam, fill: Arc<Fill>) -> (KindStats, Option<Vec<u8>>) {
    let remaining = Arc::new(AtomicU32::new(fill.count));
    // One set of counters for the run, not one per in-flight slot: a histogram is 7.5 KiB,
    // and thousands of them made every record a cache miss (and the twin's RSS grow with
    // the depth). The lock is never held across an await.
    let total = Arc::new(std::sync::Mutex::new((KindStats::default(), None)));
    let mut tasks = Vec::new();
    for _ in 0..fill.depth.max(1).min(fill.count.max(1)) {
        let (twin, fill, remaining, total) =
            (twin.clone(), fill.clone(), remaining.clone(), total.clone());
        tasks.push(tokio::spawn(async move {
            let mut buf = Vec::with_capacity(256);
            while remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                .is_ok()
            {
                let t0 = Instant::now();
                let r = twin.upcall(fam, fill.kind, &fill, &mut buf).await;
                let ns = t0.elapsed().as_nanos() as u64;
                let mut guard = total.lock().unwrap();
                let (s, last) = &mut *guard;
                s.sent += 1;
                match r {
                    Ok(reply) => {
                        s.latency.record(ns);
                        s.answered += 1;
                        apply_reply(&twin, fam, &fill, &reply, s);
                        *last = Some(reply);
                    }
                    Err(e) if e == libc::ETIMEDOUT => s.timeouts += 1,
                    Err(_) => s.failed += 1,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut guard = total.lock().unwrap();
    let (s, last) = &mut *guard;
    (std::mem::take(s), last.take())
}

/// The status attribute of a reply (pnfsd: nfsstat; gfs2: 0 or a negative errno);
/// -1 when it has none (a malformed reply still counts as an answer).
fn reply_status(fam: Fam, reply: &[u8]) -> i64 {
    match fam {
        Fam::Pnfsd => PnfsdAttrs::parse(reply, &pnfs_netlink::pnfsd::PNFSD_POLICY)
            .ok()
            .and_then(|t| t.u32(pnfs_netlink::pnfsd::attr::STATUS))
            .map_or(-1, i64::from),
        Fam::Gfs2 => Gfs2Attrs::parse(reply, &gfs2ctl::GFS2CTL_POLICY)
            .ok()
            .and_then(|t| t.i32(gfs2ctl::attr::STATUS))
            .map_or(-1, i64::from),
    }
}

/// Record what a reply does to the kernel half's state, and count errors.
fn apply_reply(twin: &Twin, fam: Fam, fill: &Fill, reply: &[u8], s: &mut KindStats) {
    match fam {
        Fam::Pnfsd => {
            use pnfs_netlink::pnfsd::{attr as a, UpcallKind as K};
            let Ok(t) = PnfsdAttrs::parse(reply, &pnfs_netlink::pnfsd::PNFSD_POLICY) else {
                return;
            };
            let status = t.u32(a::STATUS).unwrap_or(u32::MAX);
            if status != 0 {
                s.errors += 1;
                return;
            }
            let mut shim = twin.shim.lock().unwrap();
            match K::from_u32(fill.kind) {
                Some(K::LayoutGet) => shim.pnfsd.layouts.push(pnfsd::Layout {
                    clientid: fill.clientid,
                    fsid: fill.fsid,
                    fileid: fill.fileid,
                    device_id: t.array::<16>(a::DEVICE_ID).copied().unwrap_or_default(),
                    stateid: t.array::<16>(a::STATEID).copied().unwrap_or_default(),
                    iomode: t.u32(a::IOMODE).unwrap_or(fill.iomode),
                    offset: t.u64(a::OFFSET).unwrap_or(fill.offset),
                    length: t.u64(a::LENGTH).unwrap_or(fill.length),
                }),
                Some(K::LayoutReturn) => shim.pnfsd.layouts.retain(|l| {
                    !(l.clientid == fill.clientid && l.fsid == fill.fsid && l.fileid == fill.fileid)
                }),
                _ => {}
            }
        }
        Fam::Gfs2 => {
            let Ok(t) = Gfs2Attrs::parse(reply, &gfs2ctl::GFS2CTL_POLICY) else {
                return;
            };
            if t.i32(gfs2ctl::attr::STATUS) != Some(0) {
                s.errors += 1;
                return;
            }
            let Some(kind) = gfs2ctl::UpcallKind::from_u32(fill.kind) else {
                return;
            };
            let changed = gfs2::apply_reply(&mut twin.shim.lock().unwrap().gfs2, kind, fill, &t);
            if let Some((table, m)) = changed {
                use gfs2ctl::attr as a;
                let mut ev = Vec::with_capacity(128);
                if kind == gfs2ctl::UpcallKind::RecoveryDone {
                    // A finished recovery is a `recovery` event (the spec's "requested or
                    // finished"), not a change of the mount.
                    let mut e =
                        MsgBuilder::genl(&mut ev, fam.id(), 0, 0, 0, gfs2ctl::cmd::RECOVERY, 1);
                    e.put_str(a::TABLE, &table)
                        .put_u32(a::JID, fill.jid)
                        .put_u32(a::RECOVERY_STATUS, fill.recovery_status);
                    e.finish();
                } else {
                    let mut e = MsgBuilder::genl(
                        &mut ev,
                        fam.id(),
                        0,
                        0,
                        0,
                        gfs2ctl::cmd::MOUNT_CHANGED,
                        1,
                    );
                    e.put_str(a::TABLE, &table)
                        .put_u32(a::JID, m.jid)
                        .put_u8(a::FIRST, m.first as u8)
                        .put_u8(a::BLOCKED, m.blocked as u8)
                        .put_u8(a::WITHDRAWN, m.withdrawn as u8);
                    e.finish();
                }
                let _ = twin.sock.try_send_to(&ev, 0, 1 << (fam.group() - 1));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn encode_trigger_reply(
    out: &mut Vec<u8>,
    fam: Fam,
    h: &NlMsgHdr,
    cmd: u8,
    kind: u32,
    s: &KindStats,
    elapsed: u64,
    last: Option<&[u8]>,
) {
    let mut b = MsgBuilder::genl(out, fam.id(), 0, h.seq, h.pid, cmd, 1);
    match fam {
        Fam::Pnfsd => {
            use pnfs_netlink::pnfsd::attr as a;
            pnfsd::put_kind_stats(&mut b, a::KIND_STATS, kind, s, true);
            b.put_u64(a::ELAPSED_NS, elapsed);
            if let Some(t) =
                last.and_then(|l| PnfsdAttrs::parse(l, &pnfs_netlink::pnfsd::PNFSD_POLICY).ok())
            {
                for id in [a::STATUS, a::ACCESS, a::GENERATION, a::DEVICE_ID] {
                    if let Some(x) = t.get(id) {
                        b.put_bytes(id, x.payload);
                    }
                }
                for x in t.all(a::DS_ADDR) {
                    let n = b.nest_begin(a::DS_ADDR);
                    b.put_raw_attrs(x.payload);
                    b.nest_end(n);
                }
            }
        }
        Fam::Gfs2 => {
            use gfs2ctl::attr as a;
            pnfsd::put_kind_stats(&mut b, a::KIND_STATS, kind, s, true);
            b.put_u64(a::ELAPSED_NS, elapsed);
            if let Some(t) = last.and_then(|l| Gfs2Attrs::parse(l, &gfs2ctl::GFS2CTL_POLICY).ok()) {
                for id in [a::STATUS, a::JID, a::FIRST] {
                    if let Some(x) = t.get(id) {
                        b.put_bytes(id, x.payload);
                    }
                }
            }
        }
    }
    b.finish();
}
