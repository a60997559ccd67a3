//! The pnfsd family (module: `pnfs_shim_pnfsd.c`): devices, layouts, stateids, grace,
//! and the handlers of its downcalls and dumps.

use crate::upcall::{KindStats, Upcalls};
use crate::{Ctx, OpError, OpResult, Twin};
use pnfs_netlink::codec::{MsgBuilder, NLM_F_MULTI};
use pnfs_netlink::policy::OpSpec;
use pnfs_netlink::{pnfsd, PnfsdAttrs};
use std::collections::{BTreeMap, HashMap};

use pnfsd::{attr, ds_addr_attr, kind_stats_attr, Nfsstat};
pub use pnfsd::{cmd, UpcallKind};

/// A data server address (netaddr4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsAddr {
    pub netid: String,
    pub uaddr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub node_id: u32,
    pub addrs: Vec<DsAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub clientid: u64,
    pub fsid: u64,
    pub fileid: u64,
    pub device_id: [u8; 16],
    pub stateid: [u8; 16],
    pub iomode: u32,
    pub offset: u64,
    pub length: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateEntry {
    pub clientid: u64,
    pub access: u32,
    pub generation: u32,
    pub stateid: [u8; 16],
}

/// Key of a stateid: (fsid, fileid, the stateid's 12-byte `other`).
pub type StateKey = (u64, u64, [u8; 12]);

pub fn state_key(fsid: u64, fileid: u64, stateid: &[u8; 16]) -> StateKey {
    (fsid, fileid, stateid[4..].try_into().unwrap())
}

/// The seqid of a stateid (big-endian u32 in bytes 0..4).
pub fn seqid(stateid: &[u8; 16]) -> u32 {
    u32::from_be_bytes(stateid[..4].try_into().unwrap())
}

#[derive(Default)]
pub struct PnfsdState {
    pub role: u32,
    pub mds_id: u32,
    pub boot_epoch: u64,
    pub devices: BTreeMap<[u8; 16], Device>,
    pub layouts: Vec<Layout>,
    pub states: HashMap<StateKey, StateEntry>,
    pub in_grace: bool,
    pub grace_epoch: u64,
}

impl PnfsdState {
    /// `state-check`: what the MDS kernel says of a stateid.
    pub fn state_check(
        &self,
        fsid: u64,
        fileid: u64,
        stateid: &[u8; 16],
        clientid: Option<u64>,
    ) -> (Nfsstat, Option<StateEntry>) {
        let Some(e) = self.states.get(&state_key(fsid, fileid, stateid)) else {
            return (Nfsstat::BadStateid, None);
        };
        if clientid.is_some_and(|c| c != e.clientid) {
            return (Nfsstat::BadStateid, None);
        }
        let s = seqid(stateid);
        if s < e.generation {
            (Nfsstat::OldStateid, Some(*e))
        } else if s > e.generation {
            (Nfsstat::BadStateid, None)
        } else {
            (Nfsstat::Ok, Some(*e))
        }
    }

    /// Forget layouts matching a recall; returns how many.
    pub fn recall(
        &mut self,
        rtype: u32,
        fsid: u64,
        fileid: u64,
        device: Option<[u8; 16]>,
        clientid: Option<u64>,
    ) -> u32 {
        let before = self.layouts.len();
        self.layouts.retain(|l| {
            let selected = match pnfsd::RecallType::from_u32(rtype) {
                Some(pnfsd::RecallType::File) => l.fsid == fsid && l.fileid == fileid,
                Some(pnfsd::RecallType::Fsid) => l.fsid == fsid,
                Some(pnfsd::RecallType::Device) => Some(l.device_id) == device,
                Some(pnfsd::RecallType::All) => true,
                None => false,
            };
            !(selected && clientid.is_none_or(|c| c == l.clientid))
        });
        (before - self.layouts.len()) as u32
    }
}

/// A request's attributes, validated strictly against its op's policy, then its flags
/// against their masks, as the kernel validates them.
fn parse<'a>(ctx: &Ctx<'a>) -> Result<PnfsdAttrs<'a>, OpError> {
    let t = PnfsdAttrs::parse_strict(ctx.msg.attrs, ctx.fam.request_policy(ctx.msg.cmd()))?;
    match pnfsd::mask_violation(&t) {
        Some(a) => Err(crate::reserved_bit(&a)),
        None => Ok(t),
    }
}

/// The ds-addr entries of a request, checked as the module's `pnfsd_parse_ds_addrs`
/// checks them, entry by entry: more than max-ds-addrs → `-E2BIG` at the first entry
/// too many; an entry without netid or uaddr → `-EINVAL` "missing attribute: NAME" with
/// the missing type and the entry's offset (NL_REQ_ATTR_CHECK on the nest).
pub fn ds_addrs(t: &PnfsdAttrs<'_>) -> Result<Vec<DsAddr>, OpError> {
    let mut out = Vec::new();
    for a in t.all(attr::DS_ADDR) {
        if out.len() == pnfsd::MAX_DS_ADDRS as usize {
            let msg = format!(
                "too many ds-addr entries (max-ds-addrs is {})",
                pnfsd::MAX_DS_ADDRS
            );
            return Err(OpError::new(libc::E2BIG, msg).at(&a));
        }
        let (mut netid, mut uaddr) = (None, None);
        for x in a.nested().flatten() {
            match x.kind {
                ds_addr_attr::NETID => netid = Some(x.str().to_string()),
                ds_addr_attr::UADDR => uaddr = Some(x.str().to_string()),
                _ => {}
            }
        }
        let missing = |name, id| OpError {
            miss_nest: Some(crate::msg_offset(&a)),
            ..OpError::missing(name, id)
        };
        let netid = netid.ok_or_else(|| missing("netid", ds_addr_attr::NETID))?;
        let uaddr = uaddr.ok_or_else(|| missing("uaddr", ds_addr_attr::UADDR))?;
        out.push(DsAddr { netid, uaddr });
    }
    Ok(out)
}

pub fn put_ds_addrs(b: &mut MsgBuilder<'_>, addrs: &[DsAddr]) {
    for a in addrs {
        let n = b.nest_begin(attr::DS_ADDR);
        b.put_str(ds_addr_attr::NETID, &a.netid)
            .put_str(ds_addr_attr::UADDR, &a.uaddr);
        b.nest_end(n);
    }
}

/// A kind-stats nest (ids are equal in both families; a test checks it); with `hist`,
/// the histogram behind the percentiles too (TRIGGER's answer).
pub fn put_kind_stats(b: &mut MsgBuilder<'_>, nest: u16, kind: u32, s: &KindStats, hist: bool) {
    let mut h = Vec::new();
    if hist {
        s.latency.encode(&mut h);
    }
    let n = b.nest_begin(nest);
    b.put_u32(kind_stats_attr::KIND, kind)
        .put_u64(kind_stats_attr::SENT, s.sent)
        .put_u64(kind_stats_attr::ANSWERED, s.answered)
        .put_u64(kind_stats_attr::ERRORS, s.errors)
        .put_u64(kind_stats_attr::TIMEOUTS, s.timeouts)
        .put_u64(kind_stats_attr::FAILED, s.failed)
        .put_u64(kind_stats_attr::P50_NS, s.latency.quantile(0.5))
        .put_u64(kind_stats_attr::P99_NS, s.latency.quantile(0.99))
        .put_u64(kind_stats_attr::P999_NS, s.latency.quantile(0.999));
    if hist {
        b.put_bytes(kind_stats_attr::HIST, &h);
    }
    b.nest_end(n);
}

/// Dump of pending upcalls (shared by both families: same attribute meaning).
pub fn put_pending(ctx: &mut Ctx<'_>, up: &Upcalls, a_xid: u16, a_kind: u16, a_age: u16) {
    let mut pend: Vec<_> = up
        .pending
        .iter()
        .map(|(x, p)| (*x, p.kind, p.start.elapsed().as_micros() as u64))
        .collect();
    pend.sort();
    for (xid, kind, age) in pend {
        let mut b = ctx.reply(NLM_F_MULTI);
        b.put_u32(a_xid, xid)
            .put_u32(a_kind, kind)
            .put_u64(a_age, age);
        b.finish();
    }
}

fn key16(t: &PnfsdAttrs<'_>, id: u16) -> Result<[u8; 16], OpError> {
    Ok(*t.req_array::<16>(id)?)
}

pub fn handle(twin: &Twin, ctx: &mut Ctx<'_>, op: &'static OpSpec, dump: bool) -> OpResult {
    let t = parse(ctx)?;
    match op.cmd {
        cmd::REGISTER => {
            let version = t.req_u32(attr::VERSION)?;
            let node = t.u32(attr::NODE_ID).unwrap_or(0);
            twin.register(ctx, version, node, t.u32(attr::ROLE))?;
            let mut shim = twin.shim.lock().unwrap();
            shim.pnfsd.role = t.u32(attr::ROLE).unwrap_or(0);
            shim.pnfsd.mds_id = t.u32(attr::MDS_ID).unwrap_or(0);
            shim.pnfsd.boot_epoch = t.u64(attr::BOOT_EPOCH).unwrap_or(0);
            Ok(())
        }
        cmd::UNREGISTER => twin.unregister(ctx),
        cmd::REPLY => {
            let xid = t.req_u32(attr::XID)?;
            t.req_u32(attr::STATUS)?;
            twin.reply(ctx, xid, crate::trigger::Reply::Pnfsd(&t))
        }
        cmd::TRIGGER => crate::trigger::start(twin, ctx),
        cmd::STATUS_GET => {
            let shim = twin.shim.lock().unwrap();
            let up = &shim.upcalls[0];
            let p = &shim.pnfsd;
            let (port, node, version) = up
                .daemon
                .map(|d| (d.port, d.node_id, d.version))
                .unwrap_or((0, 0, pnfsd::VERSION));
            let timeout = up.timeout.as_millis() as u32;
            let (role, mds, boot, grace, epoch) =
                (p.role, p.mds_id, p.boot_epoch, p.in_grace, p.grace_epoch);
            drop(shim);
            let mut b = ctx.reply(0);
            b.put_u32(attr::VERSION, version)
                .put_u32(attr::PORT, port)
                .put_u32(attr::NODE_ID, node);
            if role != 0 {
                b.put_u32(attr::ROLE, role);
            }
            b.put_u32(attr::MDS_ID, mds)
                .put_u64(attr::BOOT_EPOCH, boot)
                .put_u8(attr::IN_GRACE, grace as u8)
                .put_u64(attr::GRACE_EPOCH, epoch)
                .put_u32(attr::TIMEOUT_MS, timeout);
            b.finish();
            Ok(())
        }
        cmd::STATS_GET => {
            let shim = twin.shim.lock().unwrap();
            let up = &shim.upcalls[0];
            let stats: Vec<KindStats> = up.stats.clone();
            let late = up.late_replies;
            drop(shim);
            let mut b = ctx.reply(0);
            for k in UpcallKind::ALL {
                put_kind_stats(
                    &mut b,
                    attr::KIND_STATS,
                    *k as u32,
                    &stats[*k as usize],
                    false,
                );
            }
            b.put_u64(attr::LATE_REPLIES, late);
            // What the twin refused, by reason (the module fills what it can see).
            let n = b.nest_begin(attr::REFUSALS);
            for (reason, count) in twin.refusals.snapshot() {
                b.put_u64(reason.attr(), count);
            }
            b.nest_end(n);
            b.finish();
            Ok(())
        }
        cmd::CONFIG_SET => {
            let ms = t.req_u32(attr::TIMEOUT_MS)?;
            twin.shim.lock().unwrap().upcalls[0].timeout =
                std::time::Duration::from_millis(ms as u64);
            Ok(())
        }
        cmd::UPCALL_DUMP if dump => {
            let shim = twin.shim.lock().unwrap();
            put_pending(
                ctx,
                &shim.upcalls[0],
                attr::XID,
                attr::UPCALL_KIND,
                attr::AGE_US,
            );
            drop(shim);
            done(ctx);
            Ok(())
        }
        cmd::DEVICE_SET => {
            let id = key16(&t, attr::DEVICE_ID)?;
            let dev = Device {
                node_id: t.u32(attr::NODE_ID).unwrap_or(0),
                addrs: ds_addrs(&t)?,
            };
            let mut e = ctx.event(cmd::DEVICE_CHANGED);
            e.put_bytes(attr::DEVICE_ID, &id)
                .put_u32(attr::NODE_ID, dev.node_id);
            put_ds_addrs(&mut e, &dev.addrs);
            e.finish();
            twin.shim.lock().unwrap().pnfsd.devices.insert(id, dev);
            Ok(())
        }
        cmd::DEVICE_DEL => {
            let id = key16(&t, attr::DEVICE_ID)?;
            if twin
                .shim
                .lock()
                .unwrap()
                .pnfsd
                .devices
                .remove(&id)
                .is_none()
            {
                let at = t.get(attr::DEVICE_ID).expect("device-id was required");
                return Err(OpError::new(libc::ENOENT, "no such device").at(&at));
            }
            let mut e = ctx.event(cmd::DEVICE_CHANGED);
            e.put_bytes(attr::DEVICE_ID, &id);
            e.finish();
            Ok(())
        }
        cmd::DEVICE_GET if dump => {
            let devices = twin.shim.lock().unwrap().pnfsd.devices.clone();
            for (id, d) in &devices {
                let mut b = ctx.reply(NLM_F_MULTI);
                b.put_bytes(attr::DEVICE_ID, id)
                    .put_u32(attr::NODE_ID, d.node_id);
                put_ds_addrs(&mut b, &d.addrs);
                b.finish();
            }
            done(ctx);
            Ok(())
        }
        cmd::STATE_SET => {
            let fsid = t.req_u64(attr::FSID)?;
            let fileid = t.req_u64(attr::FILEID)?;
            let stateid = *t.req_array::<16>(attr::STATEID)?;
            let clientid = t.req_u64(attr::CLIENTID)?;
            let entry = StateEntry {
                clientid,
                access: t
                    .u32(attr::ACCESS)
                    .unwrap_or(pnfsd::access::READ | pnfsd::access::WRITE),
                generation: t.u32(attr::GENERATION).unwrap_or(seqid(&stateid)),
                stateid,
            };
            twin.shim
                .lock()
                .unwrap()
                .pnfsd
                .states
                .insert(state_key(fsid, fileid, &stateid), entry);
            Ok(())
        }
        cmd::STATE_CHECK => {
            let fsid = t.req_u64(attr::FSID)?;
            let fileid = t.req_u64(attr::FILEID)?;
            let stateid = t.req_array::<16>(attr::STATEID)?;
            let shim = twin.shim.lock().unwrap();
            let (status, e) = shim
                .pnfsd
                .state_check(fsid, fileid, stateid, t.u64(attr::CLIENTID));
            let boot = shim.pnfsd.boot_epoch;
            drop(shim);
            let mut b = ctx.reply(0);
            b.put_u32(attr::STATUS, status as u32);
            if let Some(e) = e {
                b.put_u32(attr::ACCESS, e.access)
                    .put_u32(attr::GENERATION, e.generation)
                    .put_u64(attr::CLIENTID, e.clientid)
                    .put_u64(attr::VERIFIER, boot)
                    .put_u64(attr::BOOT_EPOCH, boot);
            }
            b.finish();
            Ok(())
        }
        cmd::STATE_REVOKE => {
            let clientid = t.req_u64(attr::CLIENTID)?;
            let one = match (
                t.u64(attr::FSID),
                t.u64(attr::FILEID),
                t.array::<16>(attr::STATEID),
            ) {
                (Some(f), Some(i), Some(s)) => Some(state_key(f, i, s)),
                (None, None, None) => None,
                _ => {
                    return Err(OpError::new(
                        libc::EINVAL,
                        "fsid, fileid and stateid go together",
                    ))
                }
            };
            let mut shim = twin.shim.lock().unwrap();
            let before = shim.pnfsd.states.len();
            shim.pnfsd
                .states
                .retain(|k, e| !(e.clientid == clientid && one.is_none_or(|o| o == *k)));
            let n = (before - shim.pnfsd.states.len()) as u32;
            drop(shim);
            let mut b = ctx.reply(0);
            b.put_u32(attr::COUNT, n);
            b.finish();
            let mut e = ctx.event(cmd::STATE_REVOKED);
            e.put_u64(attr::CLIENTID, clientid);
            if let (Some(f), Some(i), Some(s)) = (
                t.u64(attr::FSID),
                t.u64(attr::FILEID),
                t.bytes(attr::STATEID),
            ) {
                e.put_u64(attr::FSID, f)
                    .put_u64(attr::FILEID, i)
                    .put_bytes(attr::STATEID, s);
            }
            e.put_u32(attr::COUNT, n);
            e.finish();
            Ok(())
        }
        cmd::STATE_GET if dump => {
            let mut states: Vec<_> = twin
                .shim
                .lock()
                .unwrap()
                .pnfsd
                .states
                .iter()
                .map(|(k, e)| (*k, *e))
                .collect();
            states.sort_by_key(|(k, _)| *k);
            for ((fsid, fileid, _), e) in states {
                let mut b = ctx.reply(NLM_F_MULTI);
                b.put_u64(attr::FSID, fsid)
                    .put_u64(attr::FILEID, fileid)
                    .put_bytes(attr::STATEID, &e.stateid)
                    .put_u64(attr::CLIENTID, e.clientid)
                    .put_u32(attr::ACCESS, e.access)
                    .put_u32(attr::GENERATION, e.generation);
                b.finish();
            }
            done(ctx);
            Ok(())
        }
        cmd::LAYOUT_RECALL => {
            let rtype = t.req_u32(attr::RECALL_TYPE)?;
            let fsid = t.u64(attr::FSID);
            let fileid = t.u64(attr::FILEID);
            let device = t.array::<16>(attr::DEVICE_ID).copied();
            // As the module's PNFS_SHIM_REQ_ATTR per recall type.
            let need: &[(u16, &str)] = match pnfsd::RecallType::from_u32(rtype) {
                Some(pnfsd::RecallType::File) => &[(attr::FSID, "fsid"), (attr::FILEID, "fileid")],
                Some(pnfsd::RecallType::Fsid) => &[(attr::FSID, "fsid")],
                Some(pnfsd::RecallType::Device) => &[(attr::DEVICE_ID, "device-id")],
                _ => &[],
            };
            if let Some((id, name)) = need.iter().find(|(id, _)| !t.has(*id)) {
                return Err(OpError::missing(name, *id));
            }
            let clientid = t.u64(attr::CLIENTID);
            let n = twin.shim.lock().unwrap().pnfsd.recall(
                rtype,
                fsid.unwrap_or(0),
                fileid.unwrap_or(0),
                device,
                clientid,
            );
            let mut b = ctx.reply(0);
            b.put_u32(attr::LAYOUTS, n);
            b.finish();
            let mut e = ctx.event(cmd::LAYOUT_RECALLED);
            e.put_u32(attr::RECALL_TYPE, rtype);
            if let Some(f) = fsid {
                e.put_u64(attr::FSID, f);
            }
            if let Some(f) = fileid {
                e.put_u64(attr::FILEID, f);
            }
            if let Some(d) = device {
                e.put_bytes(attr::DEVICE_ID, &d);
            }
            if let Some(c) = clientid {
                e.put_u64(attr::CLIENTID, c);
            }
            e.put_u32(attr::LAYOUTS, n);
            e.finish();
            Ok(())
        }
        cmd::LAYOUT_DUMP if dump => {
            let layouts = twin.shim.lock().unwrap().pnfsd.layouts.clone();
            for l in &layouts {
                let mut b = ctx.reply(NLM_F_MULTI);
                b.put_u64(attr::CLIENTID, l.clientid)
                    .put_u64(attr::FSID, l.fsid)
                    .put_u64(attr::FILEID, l.fileid)
                    .put_bytes(attr::DEVICE_ID, &l.device_id)
                    .put_bytes(attr::STATEID, &l.stateid)
                    .put_u32(attr::IOMODE, l.iomode)
                    .put_u64(attr::OFFSET, l.offset)
                    .put_u64(attr::LENGTH, l.length);
                b.finish();
            }
            done(ctx);
            Ok(())
        }
        cmd::GRACE => {
            let action = t.req_u32(attr::GRACE_ACTION)?;
            let epoch = t.u64(attr::GRACE_EPOCH);
            let mut shim = twin.shim.lock().unwrap();
            shim.pnfsd.in_grace = action == pnfsd::GraceAction::Start as u32;
            if let Some(ep) = epoch {
                shim.pnfsd.grace_epoch = ep;
            }
            let ep = shim.pnfsd.grace_epoch;
            drop(shim);
            let mut e = ctx.event(cmd::GRACE_CHANGED);
            e.put_u32(attr::GRACE_ACTION, action)
                .put_u64(attr::GRACE_EPOCH, ep);
            e.finish();
            Ok(())
        }
        _ if op.kind == pnfs_netlink::policy::OpKind::Dump && !dump => Err(OpError::new(
            libc::EOPNOTSUPP,
            format!("{} is a dump: set NLM_F_DUMP", op.name),
        )),
        _ => Err(OpError::new(
            libc::EOPNOTSUPP,
            format!("{} is not supported with these flags", op.name),
        )),
    }
}

/// Close a dump (nlmsg_pid the requester's port, as the kernel's netlink_dump() puts it).
pub fn done(ctx: &mut Ctx<'_>) {
    let (seq, port) = (ctx.msg.header.seq, ctx.from_port);
    pnfs_netlink::codec::put_done(ctx.out, seq, port);
}
