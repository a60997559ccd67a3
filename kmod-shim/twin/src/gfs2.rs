//! The gfs2ctl family (module: `pnfs_shim_gfs2.c`): mounts, journals, block state,
//! recovery requests, members.

use crate::pnfsd::{done, put_kind_stats, put_pending};
use crate::upcall::KindStats;
use crate::{Ctx, OpError, OpResult, Twin};
use pnfs_netlink::codec::{Attr, NLM_F_MULTI};
use pnfs_netlink::policy::OpSpec;
use pnfs_netlink::{gfs2ctl, Gfs2Attrs};
use std::collections::BTreeMap;

use gfs2ctl::attr;
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

fn mount_event(ctx: &mut Ctx<'_>, table: &str, m: &Mount) {
    let mut e = ctx.event(cmd::MOUNT_CHANGED);
    e.put_str(attr::TABLE, table)
        .put_u32(attr::JID, m.jid)
        .put_u8(attr::FIRST, m.first as u8)
        .put_u8(attr::BLOCKED, m.blocked as u8)
        .put_u8(attr::WITHDRAWN, m.withdrawn as u8);
    e.finish();
}

pub fn handle(twin: &Twin, ctx: &mut Ctx<'_>, op: &'static OpSpec, dump: bool) -> OpResult {
    // Strictly against the op's policy, then the flags against their masks.
    let t = Gfs2Attrs::parse_strict(ctx.msg.attrs, ctx.fam.request_policy(op.cmd))?;
    if let Some(a) = gfs2ctl::mask_violation(&t) {
        return Err(crate::reserved_bit(&a));
    }
    match op.cmd {
        cmd::REGISTER => {
            let version = t.req_u32(attr::VERSION)?;
            twin.register(ctx, version, t.u32(attr::NODE_ID).unwrap_or(0), None)
        }
        cmd::UNREGISTER => twin.unregister(ctx),
        cmd::REPLY => {
            let xid = t.req_u32(attr::XID)?;
            t.require(attr::STATUS)?;
            twin.reply(ctx, xid, crate::trigger::Reply::Gfs2(&t))
        }
        cmd::TRIGGER => crate::trigger::start(twin, ctx),
        cmd::BLOCK | cmd::UNBLOCK => {
            let table = t.req_str(attr::TABLE)?;
            let mut shim = twin.shim.lock().unwrap();
            let m = shim.gfs2.mount_mut(table, &t.require(attr::TABLE)?)?;
            m.blocked = op.cmd == cmd::BLOCK;
            let m = m.clone();
            drop(shim);
            mount_event(ctx, table, &m);
            Ok(())
        }
        cmd::RECOVER => {
            let table = t.req_str(attr::TABLE)?;
            let jid = t.req_u32(attr::JID)?;
            let mut shim = twin.shim.lock().unwrap();
            let m = shim.gfs2.mount_mut(table, &t.require(attr::TABLE)?)?;
            m.recover_jid = Some(jid);
            m.recovery_status = None;
            drop(shim);
            let mut e = ctx.event(cmd::RECOVERY);
            e.put_str(attr::TABLE, table).put_u32(attr::JID, jid);
            e.finish();
            Ok(())
        }
        cmd::MEMBERS => {
            let members: Vec<u32> = t.all(attr::MEMBER).map(|a| a.u32()).collect();
            twin.shim.lock().unwrap().gfs2.members = members;
            Ok(())
        }
        cmd::MOUNT_GET if dump => {
            let mounts = twin.shim.lock().unwrap().gfs2.mounts.clone();
            for (table, m) in &mounts {
                let mut b = ctx.reply(NLM_F_MULTI);
                b.put_str(attr::TABLE, table);
                if let Some(u) = &m.uuid {
                    b.put_bytes(attr::UUID, u);
                }
                b.put_str(attr::DEVICE, &m.device)
                    .put_u32(attr::MOUNT_FLAGS, m.flags)
                    .put_u32(attr::JID, m.jid)
                    .put_u8(attr::FIRST, m.first as u8)
                    .put_u8(attr::BLOCKED, m.blocked as u8)
                    .put_u8(attr::WITHDRAWN, m.withdrawn as u8);
                if let Some(j) = m.recover_jid {
                    b.put_u32(attr::RECOVER_JID, j);
                }
                if let Some(s) = m.recovery_status {
                    b.put_u32(attr::RECOVERY_STATUS, s);
                }
                b.finish();
            }
            done(ctx);
            Ok(())
        }
        cmd::UPCALL_DUMP if dump => {
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
        cmd::STATUS_GET => {
            let shim = twin.shim.lock().unwrap();
            let up = &shim.upcalls[1];
            let (port, node, version) = up
                .daemon
                .map(|d| (d.port, d.node_id, d.version))
                .unwrap_or((0, 0, gfs2ctl::VERSION));
            let timeout = up.timeout.as_millis() as u32;
            let members = shim.gfs2.members.clone();
            drop(shim);
            let mut b = ctx.reply(0);
            b.put_u32(attr::VERSION, version)
                .put_u32(attr::PORT, port)
                .put_u32(attr::NODE_ID, node);
            for m in members {
                b.put_u32(attr::MEMBER, m);
            }
            b.put_u32(attr::TIMEOUT_MS, timeout);
            b.finish();
            Ok(())
        }
        cmd::STATS_GET => {
            let shim = twin.shim.lock().unwrap();
            let stats: Vec<KindStats> = shim.upcalls[1].stats.clone();
            let late = shim.upcalls[1].late_replies;
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
            b.finish();
            Ok(())
        }
        cmd::CONFIG_SET => {
            let ms = t.req_u32(attr::TIMEOUT_MS)?;
            twin.shim.lock().unwrap().upcalls[1].timeout =
                std::time::Duration::from_millis(ms as u64);
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

/// What a gfs2ctl reply does to the twin's state (PROTOCOL.md, "What the reply does").
pub fn apply_reply(
    st: &mut Gfs2State,
    kind: UpcallKind,
    req: &crate::trigger::Fill,
    reply: &Gfs2Attrs<'_>,
) -> Option<(String, Mount)> {
    if reply.i32(attr::STATUS) != Some(0) {
        return None;
    }
    let table = req.table.clone();
    match kind {
        UpcallKind::Mount => {
            let m = Mount {
                uuid: req.uuid,
                device: req.device.clone(),
                flags: req.mount_flags,
                jid: reply.u32(attr::JID).unwrap_or(0),
                first: reply.u8(attr::FIRST).unwrap_or(0) != 0,
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
