//! The pnfsd family (module: `pnfs_shim_pnfsd.c`): devices, layouts, stateids, grace,
//! and the handlers of its downcalls and dumps.

use crate::upcall::{KindStats, Upcalls};
use crate::{Ctx, OpError, OpResult, Twin};
use pnfs_netlink::codec::NLM_F_MULTI;
use pnfs_netlink::policy::OpSpec;
use pnfs_netlink::{pnfsd, PnfsdAttrs};
use std::collections::{BTreeMap, HashMap};

use pnfsd::{attr, ds_addr_attr, ops, Nfsstat};
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

/// A kind-stats nest's attributes, as family `$fam`'s generated builder takes them
/// (`$fam::nest::KindStatsAttrs`: the two families' sets are alike); with `$hist` (the
/// encoded histogram behind the percentiles), TRIGGER's answer.
macro_rules! kind_stats {
    ($fam:ident, $kind:expr, $stats:expr, $hist:expr) => {{
        let s: &$crate::upcall::KindStats = $stats;
        pnfs_netlink::$fam::nest::KindStatsAttrs {
            kind: Some($kind),
            sent: Some(s.sent),
            answered: Some(s.answered),
            errors: Some(s.errors),
            timeouts: Some(s.timeouts),
            failed: Some(s.failed),
            p50_ns: Some(s.latency.quantile(0.5)),
            p99_ns: Some(s.latency.quantile(0.99)),
            p999_ns: Some(s.latency.quantile(0.999)),
            hist: $hist,
        }
    }};
}
pub(crate) use kind_stats;

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

/// The ops table (module: `pnfsd_nl_ops` in the generated `pnfsd-nl.c`): the request,
/// validated by its op's policy, goes to its op's handler, one per operation as the
/// module's `pnfsd_nl_*_doit` / `*_dumpit`. Each reads its request through the op's
/// generated view, which checks the required attributes as `PNFS_SHIM_REQ_ATTR` does.
pub fn handle(twin: &Twin, ctx: &mut Ctx<'_>, op: &'static OpSpec, dump: bool) -> OpResult {
    let t = parse(ctx)?;
    match (op.cmd, dump) {
        (cmd::REGISTER, _) => register_doit(twin, ctx, t),
        (cmd::UNREGISTER, _) => twin.unregister(ctx),
        (cmd::REPLY, _) => reply_doit(twin, ctx, t),
        (cmd::TRIGGER, _) => crate::trigger::start(twin, ctx),
        (cmd::STATUS_GET, _) => status_get_doit(twin, ctx),
        (cmd::STATS_GET, _) => stats_get_doit(twin, ctx),
        (cmd::CONFIG_SET, _) => config_set_doit(twin, t),
        (cmd::UPCALL_DUMP, true) => upcall_dump_dumpit(twin, ctx),
        (cmd::DEVICE_SET, _) => device_set_doit(twin, ctx, t),
        (cmd::DEVICE_DEL, _) => device_del_doit(twin, ctx, t),
        (cmd::DEVICE_GET, true) => device_get_dumpit(twin, ctx),
        (cmd::STATE_SET, _) => state_set_doit(twin, t),
        (cmd::STATE_CHECK, _) => state_check_doit(twin, ctx, t),
        (cmd::STATE_REVOKE, _) => state_revoke_doit(twin, ctx, t),
        (cmd::STATE_GET, true) => state_get_dumpit(twin, ctx),
        (cmd::LAYOUT_RECALL, _) => layout_recall_doit(twin, ctx, t),
        (cmd::LAYOUT_DUMP, true) => layout_dump_dumpit(twin, ctx),
        (cmd::GRACE, _) => grace_doit(twin, ctx, t),
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

fn register_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::register::Request::from_table(t)?;
    twin.register(ctx, r.version(), r.node_id().unwrap_or(0), r.role())?;
    let mut shim = twin.shim.lock().unwrap();
    shim.pnfsd.role = r.role().unwrap_or(0);
    shim.pnfsd.mds_id = r.mds_id().unwrap_or(0);
    shim.pnfsd.boot_epoch = r.boot_epoch().unwrap_or(0);
    Ok(())
}

fn reply_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::reply::Request::from_table(t)?;
    twin.reply(ctx, r.xid(), crate::trigger::Reply::Pnfsd(r.attrs()))
}

fn status_get_doit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let shim = twin.shim.lock().unwrap();
    let up = &shim.upcalls[0];
    let p = &shim.pnfsd;
    let (port, node_id, version) = up
        .daemon
        .map(|d| (d.port, d.node_id, d.version))
        .unwrap_or((0, 0, pnfsd::VERSION));
    let reply = ops::status_get::ReplyAttrs {
        version,
        port,
        node_id,
        role: (p.role != 0).then_some(p.role),
        mds_id: Some(p.mds_id),
        boot_epoch: Some(p.boot_epoch),
        in_grace: Some(p.in_grace as u8),
        grace_epoch: Some(p.grace_epoch),
        timeout_ms: Some(up.timeout.as_millis() as u32),
    };
    drop(shim);
    let mut b = ctx.reply(0);
    reply.put(&mut b);
    b.finish();
    Ok(())
}

fn stats_get_doit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let shim = twin.shim.lock().unwrap();
    let up = &shim.upcalls[0];
    let stats: Vec<KindStats> = up.stats.clone();
    let late = up.late_replies;
    drop(shim);
    let kinds: Vec<_> = UpcallKind::ALL
        .iter()
        .map(|k| kind_stats!(pnfsd, *k as u32, &stats[*k as usize], None))
        .collect();
    let reply = ops::stats_get::ReplyAttrs {
        kind_stats: &kinds,
        late_replies: late,
        // What the twin refused, by reason (the module fills what it can see).
        refusals: Some(twin.refusals.attrs()),
    };
    let mut b = ctx.reply(0);
    reply.put(&mut b);
    b.finish();
    Ok(())
}

fn config_set_doit(twin: &Twin, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::config_set::Request::from_table(t)?;
    twin.shim.lock().unwrap().upcalls[0].timeout =
        std::time::Duration::from_millis(r.timeout_ms() as u64);
    Ok(())
}

fn upcall_dump_dumpit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
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

/// A device's addresses as the generated nest builder takes them.
fn ds_addr_attrs(addrs: &[DsAddr]) -> Vec<pnfsd::nest::DsAddrAttrs<'_>> {
    addrs
        .iter()
        .map(|a| pnfsd::nest::DsAddrAttrs {
            netid: Some(&a.netid),
            uaddr: Some(&a.uaddr),
        })
        .collect()
}

fn device_set_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::device_set::Request::from_table(t)?;
    let id = *r.device_id();
    let dev = Device {
        node_id: r.node_id().unwrap_or(0),
        addrs: ds_addrs(r.attrs())?,
    };
    let ev = ops::device_changed::EventAttrs {
        device_id: Some(id),
        node_id: Some(dev.node_id),
        ds_addr: &ds_addr_attrs(&dev.addrs),
    };
    let mut e = ctx.event(cmd::DEVICE_CHANGED);
    ev.put(&mut e);
    e.finish();
    twin.shim.lock().unwrap().pnfsd.devices.insert(id, dev);
    Ok(())
}

fn device_del_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::device_del::Request::from_table(t)?;
    let id = *r.device_id();
    if twin
        .shim
        .lock()
        .unwrap()
        .pnfsd
        .devices
        .remove(&id)
        .is_none()
    {
        let at = r
            .attrs()
            .get(attr::DEVICE_ID)
            .expect("device-id is required");
        return Err(OpError::new(libc::ENOENT, "no such device").at(&at));
    }
    let ev = ops::device_changed::EventAttrs {
        device_id: Some(id),
        ..Default::default()
    };
    let mut e = ctx.event(cmd::DEVICE_CHANGED);
    ev.put(&mut e);
    e.finish();
    Ok(())
}

fn device_get_dumpit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let devices = twin.shim.lock().unwrap().pnfsd.devices.clone();
    for (id, d) in &devices {
        let reply = ops::device_get::ReplyAttrs {
            device_id: *id,
            node_id: d.node_id,
            ds_addr: &ds_addr_attrs(&d.addrs),
        };
        let mut b = ctx.reply(NLM_F_MULTI);
        reply.put(&mut b);
        b.finish();
    }
    done(ctx);
    Ok(())
}

fn state_set_doit(twin: &Twin, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::state_set::Request::from_table(t)?;
    let stateid = *r.stateid();
    let entry = StateEntry {
        clientid: r.clientid(),
        access: r
            .access()
            .unwrap_or(pnfsd::access::READ | pnfsd::access::WRITE),
        generation: r.generation().unwrap_or(seqid(&stateid)),
        stateid,
    };
    twin.shim
        .lock()
        .unwrap()
        .pnfsd
        .states
        .insert(state_key(r.fsid(), r.fileid(), &stateid), entry);
    Ok(())
}

fn state_check_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::state_check::Request::from_table(t)?;
    let shim = twin.shim.lock().unwrap();
    let (status, e) = shim
        .pnfsd
        .state_check(r.fsid(), r.fileid(), r.stateid(), r.clientid());
    let boot = shim.pnfsd.boot_epoch;
    drop(shim);
    let mut reply = ops::state_check::ReplyAttrs {
        status: status as u32,
        ..Default::default()
    };
    if let Some(e) = e {
        reply.access = Some(e.access);
        reply.generation = Some(e.generation);
        reply.clientid = Some(e.clientid);
        reply.verifier = Some(boot);
        reply.boot_epoch = Some(boot);
    }
    let mut b = ctx.reply(0);
    reply.put(&mut b);
    b.finish();
    Ok(())
}

fn state_revoke_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::state_revoke::Request::from_table(t)?;
    let clientid = r.clientid();
    let one = match (r.fsid(), r.fileid(), r.stateid()) {
        (Some(f), Some(i), Some(s)) => Some((f, i, *s)),
        (None, None, None) => None,
        _ => {
            return Err(OpError::new(
                libc::EINVAL,
                "fsid, fileid and stateid go together",
            ))
        }
    };
    let key = one.map(|(f, i, s)| state_key(f, i, &s));
    let mut shim = twin.shim.lock().unwrap();
    let before = shim.pnfsd.states.len();
    shim.pnfsd
        .states
        .retain(|k, e| !(e.clientid == clientid && key.is_none_or(|o| o == *k)));
    let n = (before - shim.pnfsd.states.len()) as u32;
    drop(shim);
    let mut b = ctx.reply(0);
    ops::state_revoke::ReplyAttrs { count: n }.put(&mut b);
    b.finish();
    let ev = ops::state_revoked::EventAttrs {
        clientid: Some(clientid),
        fsid: one.map(|o| o.0),
        fileid: one.map(|o| o.1),
        stateid: one.map(|o| o.2),
        count: Some(n),
    };
    let mut e = ctx.event(cmd::STATE_REVOKED);
    ev.put(&mut e);
    e.finish();
    Ok(())
}

fn state_get_dumpit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
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
        let reply = ops::state_get::ReplyAttrs {
            fsid,
            fileid,
            stateid: e.stateid,
            clientid: e.clientid,
            access: e.access,
            generation: e.generation,
        };
        let mut b = ctx.reply(NLM_F_MULTI);
        reply.put(&mut b);
        b.finish();
    }
    done(ctx);
    Ok(())
}

fn layout_recall_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::layout_recall::Request::from_table(t)?;
    let rtype = r.recall_type();
    let (fsid, fileid, device) = (r.fsid(), r.fileid(), r.device_id().copied());
    // As the module's PNFS_SHIM_REQ_ATTR per recall type.
    let need: &[(bool, u16, &str)] = match pnfsd::RecallType::from_u32(rtype) {
        Some(pnfsd::RecallType::File) => &[
            (fsid.is_some(), attr::FSID, "fsid"),
            (fileid.is_some(), attr::FILEID, "fileid"),
        ],
        Some(pnfsd::RecallType::Fsid) => &[(fsid.is_some(), attr::FSID, "fsid")],
        Some(pnfsd::RecallType::Device) => &[(device.is_some(), attr::DEVICE_ID, "device-id")],
        _ => &[],
    };
    if let Some((_, id, name)) = need.iter().find(|(has, ..)| !has) {
        return Err(OpError::missing(name, *id));
    }
    let clientid = r.clientid();
    let n = twin.shim.lock().unwrap().pnfsd.recall(
        rtype,
        fsid.unwrap_or(0),
        fileid.unwrap_or(0),
        device,
        clientid,
    );
    let mut b = ctx.reply(0);
    ops::layout_recall::ReplyAttrs { layouts: n }.put(&mut b);
    b.finish();
    let ev = ops::layout_recalled::EventAttrs {
        recall_type: Some(rtype),
        fsid,
        fileid,
        device_id: device,
        clientid,
        layouts: Some(n),
    };
    let mut e = ctx.event(cmd::LAYOUT_RECALLED);
    ev.put(&mut e);
    e.finish();
    Ok(())
}

fn layout_dump_dumpit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let layouts = twin.shim.lock().unwrap().pnfsd.layouts.clone();
    for l in &layouts {
        let reply = ops::layout_dump::ReplyAttrs {
            clientid: Some(l.clientid),
            fsid: Some(l.fsid),
            fileid: Some(l.fileid),
            device_id: Some(l.device_id),
            stateid: Some(l.stateid),
            iomode: Some(l.iomode),
            offset: Some(l.offset),
            length: Some(l.length),
        };
        let mut b = ctx.reply(NLM_F_MULTI);
        reply.put(&mut b);
        b.finish();
    }
    done(ctx);
    Ok(())
}

fn grace_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: PnfsdAttrs<'_>) -> OpResult {
    let r = ops::grace::Request::from_table(t)?;
    let action = r.grace_action();
    let mut shim = twin.shim.lock().unwrap();
    shim.pnfsd.in_grace = action == pnfsd::GraceAction::Start as u32;
    if let Some(ep) = r.grace_epoch() {
        shim.pnfsd.grace_epoch = ep;
    }
    let ep = shim.pnfsd.grace_epoch;
    drop(shim);
    let ev = ops::grace_changed::EventAttrs {
        grace_action: Some(action),
        grace_epoch: Some(ep),
    };
    let mut e = ctx.event(cmd::GRACE_CHANGED);
    ev.put(&mut e);
    e.finish();
    Ok(())
}

/// Close a dump (nlmsg_pid the requester's port, as the kernel's netlink_dump() puts it).
pub fn done(ctx: &mut Ctx<'_>) {
    let (seq, port) = (ctx.msg.header.seq, ctx.from_port);
    pnfs_netlink::codec::put_done(ctx.out, seq, port);
}
