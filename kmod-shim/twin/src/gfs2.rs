//! The gfs2ctl family (module: `pnfs_shim_gfs2.c`): mounts, journals, block state,
//! recovery requests, members.

use crate::pnfsd::{done, kind_stats, put_pending};
use crate::upcall::KindStats;
use crate::{Ctx, OpError, OpResult, Twin};
use pnfs_netlink::codec::{Attr, NLM_F_MULTI};
use pnfs_netlink::policy::OpSpec;
use pnfs_netlink::{gfs2ctl, Gfs2Attrs};
use std::collections::BTreeMap;

use gfs2ctl::{attr, ops};
pub use gfs2ctl::{cmd, UpcallKind};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    pub uuid: Option<[u8; 16]>,
    pub device: String,
    pub flags: u32,
    pub jid: u32,
    pub first: bool,
    pub first_done: bool,
    pub blocked: bool,
    pub withdrawn: bool,
    pub recover_jid: Option<u32>,
    pub recovery_status: Option<u32>,
}

#[derive(Default)]
pub struct Gfs2State {
    pub mounts: BTreeMap<String, Mount>,
    pub members: Vec<u32>,
}

impl Gfs2State {
    /// The mount of the request's `table` (attribute `at`); `-ENOENT` at the attribute
    /// as the module says it.
    fn mount_mut(&mut self, table: &str, at: &Attr<'_>) -> Result<&mut Mount, OpError> {
        self.mounts
            .get_mut(table)
            .ok_or_else(|| OpError::new(libc::ENOENT, "filesystem not mounted").at(at))
    }
}

/// A mount's `mount-changed` event.
pub fn mount_changed<'t>(table: &'t str, m: &Mount) -> ops::mount_changed::EventAttrs<'t> {
    ops::mount_changed::EventAttrs {
        table: Some(table),
        jid: Some(m.jid),
        first: Some(m.first as u8),
        blocked: Some(m.blocked as u8),
        withdrawn: Some(m.withdrawn as u8),
    }
}

fn mount_event(ctx: &mut Ctx<'_>, table: &str, m: &Mount) {
    let mut e = ctx.event(cmd::MOUNT_CHANGED);
    mount_changed(table, m).put(&mut e);
    e.finish();
}

/// The ops table (module: `gfs2ctl_nl_ops` in the generated `gfs2ctl-nl.c`): the request,
/// validated strictly by its op's policy and its flags by their masks, goes to its op's
/// handler, one per operation as the module's `gfs2ctl_nl_*_doit` / `*_dumpit`.
pub fn handle(twin: &Twin, ctx: &mut Ctx<'_>, op: &'static OpSpec, dump: bool) -> OpResult {
    let t = Gfs2Attrs::parse_strict(ctx.msg.attrs, ctx.fam.request_policy(op.cmd))?;
    if let Some(a) = gfs2ctl::mask_violation(&t) {
        return Err(crate::reserved_bit(&a));
    }
    match (op.cmd, dump) {
        (cmd::REGISTER, _) => register_doit(twin, ctx, t),
        (cmd::UNREGISTER, _) => twin.unregister(ctx),
        (cmd::REPLY, _) => reply_doit(twin, ctx, t),
        (cmd::TRIGGER, _) => crate::trigger::start(twin, ctx),
        (cmd::BLOCK, _) => block_doit(twin, ctx, t, true),
        (cmd::UNBLOCK, _) => block_doit(twin, ctx, t, false),
        (cmd::RECOVER, _) => recover_doit(twin, ctx, t),
        (cmd::MEMBERS, _) => members_doit(twin, t),
        (cmd::MOUNT_GET, true) => mount_get_dumpit(twin, ctx),
        (cmd::UPCALL_DUMP, true) => upcall_dump_dumpit(twin, ctx),
        (cmd::STATUS_GET, _) => status_get_doit(twin, ctx),
        (cmd::STATS_GET, _) => stats_get_doit(twin, ctx),
        (cmd::CONFIG_SET, _) => config_set_doit(twin, t),
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

fn register_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: Gfs2Attrs<'_>) -> OpResult {
    let r = ops::register::Request::from_table(t)?;
    twin.register(ctx, r.version(), r.node_id().unwrap_or(0), None)
}

fn reply_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: Gfs2Attrs<'_>) -> OpResult {
    let r = ops::reply::Request::from_table(t)?;
    twin.reply(ctx, r.xid(), crate::trigger::Reply::Gfs2(r.attrs()))
}

/// BLOCK and UNBLOCK (module: `gfs2_set_blocked`): the same request.
fn block_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: Gfs2Attrs<'_>, blocked: bool) -> OpResult {
    let r = ops::block::Request::from_table(t)?;
    let table = r.table();
    let at = r.attrs().require(attr::TABLE)?;
    let mut shim = twin.shim.lock().unwrap();
    let m = shim.gfs2.mount_mut(table, &at)?;
    m.blocked = blocked;
    let m = m.clone();
    drop(shim);
    mount_event(ctx, table, &m);
    Ok(())
}

fn recover_doit(twin: &Twin, ctx: &mut Ctx<'_>, t: Gfs2Attrs<'_>) -> OpResult {
    let r = ops::recover::Request::from_table(t)?;
    let (table, jid) = (r.table(), r.jid());
    let at = r.attrs().require(attr::TABLE)?;
    let mut shim = twin.shim.lock().unwrap();
    let m = shim.gfs2.mount_mut(table, &at)?;
    m.recover_jid = Some(jid);
    m.recovery_status = None;
    drop(shim);
    let ev = ops::recovery::EventAttrs {
        table: Some(table),
        jid: Some(jid),
        recovery_status: None,
    };
    let mut e = ctx.event(cmd::RECOVERY);
    ev.put(&mut e);
    e.finish();
    Ok(())
}

fn members_doit(twin: &Twin, t: Gfs2Attrs<'_>) -> OpResult {
    let r = ops::members::Request::from_table(t)?;
    twin.shim.lock().unwrap().gfs2.members = r.member().collect();
    Ok(())
}

fn mount_get_dumpit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let mounts = twin.shim.lock().unwrap().gfs2.mounts.clone();
    for (table, m) in &mounts {
        let reply = ops::mount_get::ReplyAttrs {
            table,
            uuid: m.uuid,
            device: Some(m.device.as_str()),
            mount_flags: Some(m.flags),
            jid: m.jid,
            first: Some(m.first as u8),
            blocked: Some(m.blocked as u8),
            withdrawn: Some(m.withdrawn as u8),
            recover_jid: m.recover_jid,
            recovery_status: m.recovery_status,
        };
        let mut b = ctx.reply(NLM_F_MULTI);
        reply.put(&mut b);
        b.finish();
    }
    done(ctx);
    Ok(())
}

fn upcall_dump_dumpit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let shim = twin.shim.lock().unwrap();
    put_pending(
        ctx,
        &shim.upcalls[1],
        attr::XID,
        attr::UPCALL_KIND,
        attr::AGE_US,
    );
    drop(shim);
    done(ctx);
    Ok(())
}

fn status_get_doit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let shim = twin.shim.lock().unwrap();
    let up = &shim.upcalls[1];
    let (port, node_id, version) = up
        .daemon
        .map(|d| (d.port, d.node_id, d.version))
        .unwrap_or((0, 0, gfs2ctl::VERSION));
    let timeout = up.timeout.as_millis() as u32;
    let members = shim.gfs2.members.clone();
    drop(shim);
    let reply = ops::status_get::ReplyAttrs {
        version,
        port,
        node_id,
        member: &members,
        timeout_ms: Some(timeout),
    };
    let mut b = ctx.reply(0);
    reply.put(&mut b);
    b.finish();
    Ok(())
}

fn stats_get_doit(twin: &Twin, ctx: &mut Ctx<'_>) -> OpResult {
    let shim = twin.shim.lock().unwrap();
    let stats: Vec<KindStats> = shim.upcalls[1].stats.clone();
    let late = shim.upcalls[1].late_replies;
    drop(shim);
    let kinds: Vec<_> = UpcallKind::ALL
        .iter()
        .map(|k| kind_stats!(gfs2ctl, *k as u32, &stats[*k as usize], None))
        .collect();
    let reply = ops::stats_get::ReplyAttrs {
        kind_stats: &kinds,
        late_replies: late,
    };
    let mut b = ctx.reply(0);
    reply.put(&mut b);
    b.finish();
    Ok(())
}

fn config_set_doit(twin: &Twin, t: Gfs2Attrs<'_>) -> OpResult {
    let r = ops::config_set::Request::from_table(t)?;
    twin.shim.lock().unwrap().upcalls[1].timeout =
        std::time::Duration::from_millis(r.timeout_ms() as u64);
    Ok(())
}

/// What a gfs2ctl reply does to the twin's state (PROTOCOL.md, "What the reply does").
pub fn apply_reply(
    st: &mut Gfs2State,
    kind: UpcallKind,
    req: &crate::trigger::Fill,
    reply: &Gfs2Attrs<'_>,
) -> Option<(String, Mount)> {
    // Every gfs2ctl upcall's answer is a subset of MOUNT's (xid, status, jid, first).
    let reply = ops::mount::Reply::from_table(*reply).ok()?;
    if reply.status() != 0 {
        return None;
    }
    let table = req.table.clone();
    match kind {
        UpcallKind::Mount => {
            let m = Mount {
                uuid: req.uuid,
                device: req.device.clone(),
                flags: req.mount_flags,
                jid: reply.jid().unwrap_or(0),
                first: reply.first().unwrap_or(0) != 0,
                ..Default::default()
            };
            st.mounts.insert(table.clone(), m.clone());
            Some((table, m))
        }
        UpcallKind::MountDone => {
            let m = st.mounts.get_mut(&table)?;
            m.first_done = true;
            Some((table, m.clone()))
        }
        UpcallKind::Unmount => {
            let m = st.mounts.remove(&table)?;
            Some((table, m))
        }
        UpcallKind::Withdraw => {
            let m = st.mounts.get_mut(&table)?;
            m.withdrawn = true;
            Some((table, m.clone()))
        }
        UpcallKind::RecoveryDone => {
            let m = st.mounts.get_mut(&table)?;
            m.recovery_status = Some(req.recovery_status);
            if m.recover_jid == Some(req.jid) {
                m.recover_jid = None;
            }
            Some((table, m.clone()))
        }
    }
}
