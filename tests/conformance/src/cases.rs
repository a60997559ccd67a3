//! The cases. Each states one rule of `kmod-shim/PROTOCOL.md` (or of the specs) and
//! checks it through the wire only, so the same code judges the module and the twin.

use crate::conn::{parse_error, Attrs, Conn, Fail, Msg};
use crate::extack::{
    handler_refusals_point_at_the_attribute, missing_attribute_by_type,
    policy_refusals_in_kernel_words,
};
use crate::nlctrl::{
    getpolicy_families, getpolicy_nlctrl, getpolicy_refusals, nlctrl_describes_families,
};
use crate::{
    attrs, take_upcall_port, Case, CaseFuture, Daemon, Env, Fam, KindStats, Target, Upcall,
    SKIPPED, WAIT,
};
use pnfs_netlink::client::{
    CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY, GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_DUMP,
    GENL_ID_CTRL,
};
use pnfs_netlink::codec::{
    MsgBuilder, NLA_F_NESTED, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED,
    NLM_F_DUMP, NLM_F_REQUEST,
};
use pnfs_netlink::policy::OpKind;
use pnfs_netlink::socket::SocketOptions;
use pnfs_netlink::{gfs2ctl, pnfsd, Client, NlError, PeerError, Proto};
use std::collections::HashSet;
use std::fmt::Debug;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

use gfs2ctl::{attr as ga, cmd as gc};
use pnfsd::{attr as pa, cmd as pc};

type R = Result<(), String>;
/// (fsid, fileid, generation, clientid) of a state-get entry.
type StateRow = (Option<u64>, Option<u64>, Option<u32>, Option<u64>);
/// Attributes of a request, built late.
type Build = dyn Fn(&mut MsgBuilder<'_>);

macro_rules! cases {
    ($($name:literal => $f:ident,)*) => {
        /// Every case, in order.
        pub fn all() -> Vec<Case> {
            vec![$(Case {
                name: $name,
                run: {
                    fn wrap(e: &mut Env) -> CaseFuture<'_> {
                        Box::pin($f(e))
                    }
                    wrap
                },
            },)*]
        }
    };
}

cases! {
    "resolve-families" => resolve_families,
    "register-negotiates-version" => register_negotiates_version,
    "register-version-zero" => register_version_zero,
    "register-missing-version" => register_missing_version,
    "register-second-daemon-ebusy" => register_second_daemon_ebusy,
    "register-same-port-again" => register_same_port_again,
    "unregister-other-port-enoent" => unregister_other_port_enoent,
    "upcall-pnfsd-get-state" => upcall_get_state,
    "upcall-pnfsd-get-device-info" => upcall_get_device_info,
    "upcall-pnfsd-layout-get" => upcall_layout_get,
    "upcall-pnfsd-layout-return" => upcall_layout_return,
    "upcall-pnfsd-layout-commit" => upcall_layout_commit,
    "upcall-pnfsd-state-changed" => upcall_state_changed,
    "upcall-gfs2-mount" => upcall_gfs2_mount,
    "upcall-gfs2-mount-done" => upcall_gfs2_mount_done,
    "upcall-gfs2-withdraw" => upcall_gfs2_withdraw,
    "upcall-gfs2-recovery-done" => upcall_gfs2_recovery_done,
    "upcall-gfs2-unmount" => upcall_gfs2_unmount,
    "upcall-no-daemon-fails-at-once" => upcall_no_daemon,
    "upcall-timeouts-counted" => upcall_timeouts,
    "reply-late-after-timeout-enoent" => reply_late,
    "reply-duplicate-enoent" => reply_duplicate,
    "reply-from-other-port-eperm" => reply_other_port,
    "upcall-port-trusts-only-the-daemon" => upcall_port,
    "daemon-death-fails-pending" => daemon_death,
    "upcall-concurrent-depth-64" => upcall_concurrent,
    "upcall-dump-shows-pending" => upcall_dump,
    "stats-get-per-kind" => stats_per_kind,
    "device-set-get-del" => device_set_get_del,
    "device-set-invalid" => device_set_invalid,
    "state-set-check" => state_set_check,
    "state-revoke" => state_revoke,
    "layout-recall" => layout_recall,
    "layout-recall-missing-attrs" => layout_recall_missing,
    "grace-start-end" => grace,
    "gfs2-block-unblock-recover" => gfs2_block_recover,
    "gfs2-members" => gfs2_members,
    "events-pnfsd" => events_pnfsd,
    "events-gfs2" => events_gfs2,
    "unprivileged-admin-eperm" => unprivileged,
    "malformed-short-fixed-attr" => malformed_short_fixed,
    "malformed-stateid-15-bytes" => malformed_stateid,
    "malformed-string-without-nul" => malformed_string,
    "malformed-enum-out-of-range" => malformed_range,
    "malformed-missing-required" => malformed_missing,
    "malformed-unknown-command" => malformed_unknown_cmd,
    "malformed-upcall-sent-to-kernel" => malformed_upcall_to_kernel,
    "malformed-nest-depth-bomb" => malformed_depth_bomb,
    "malformed-truncated-genl-header" => malformed_truncated,
    "unknown-attribute-refused" => unknown_attribute,
    "nested-flag-checked" => nested_flag,
    "answers-carry-the-requesters-port" => answers_carry_the_requesters_port,
    "error-echoes-the-request-uncapped" => error_echoes_the_request,
    "slow-reader-stalls-nobody" => slow_reader_stalls_nobody,
    "dump-paced-to-a-late-reader" => dump_paced_to_a_late_reader,
    "stolen-daemon-port-gets-no-rights" => stolen_port_gets_no_rights,
    "trigger-ends-with-its-requester" => trigger_ends_with_its_requester,
    "nlctrl-describes-families-as-the-kernel" => nlctrl_describes_families,
    "getpolicy-dumps-the-families-policies" => getpolicy_families,
    "getpolicy-refusals" => getpolicy_refusals,
    "getpolicy-nlctrl-itself" => getpolicy_nlctrl,
    "missing-attribute-named-by-type" => missing_attribute_by_type,
    "policy-refusals-in-kernel-words" => policy_refusals_in_kernel_words,
    "handler-refusals-point-at-the-attribute" => handler_refusals_point_at_the_attribute,
}

// ---------------------------------------------------------------------------------------
// Helpers

/// Expect the peer to refuse with one of `want`; returns its error for further checks.
fn refused<T: Debug>(r: Result<T, Fail>, want: &[i32], what: &str) -> Result<PeerError, String> {
    match r {
        Ok(v) => Err(format!("{what}: accepted ({v:?}), want errno {want:?}")),
        Err(Fail::Peer(p)) if want.contains(&p.errno) => Ok(p),
        Err(e) => Err(format!("{what}: {e}; want errno {want:?}")),
    }
}

/// The refusal carries an extack message.
fn with_extack(p: &PeerError, what: &str) -> R {
    check!(
        p.message.as_deref().is_some_and(|m| !m.is_empty()),
        "{what}: errno {} without an extack message",
        p.errno
    );
    Ok(())
}

/// A missing required attribute is reported by extack message and missing-type TLV, as
/// GENL_REQ_ATTR_CHECK and the module's message report it (the twin of f506fb8 sent the
/// message only).
fn names_missing(p: &PeerError, attr: u16, name: &str, what: &str) -> R {
    let by_tlv = p.missing_attr == Some(attr as u32);
    let by_msg = p.message.as_deref() == Some(&format!("missing attribute: {name}"));
    check!(
        by_tlv && by_msg,
        "{what}: missing {name} not reported (message {:?}, missing-type {:?})",
        p.message,
        p.missing_attr
    );
    Ok(())
}

/// A stateid: big-endian seqid, then 12 bytes of `other`.
fn stateid(seq: u32, other: u8) -> [u8; 16] {
    let mut s = [other; 16];
    s[..4].copy_from_slice(&seq.to_be_bytes());
    s
}

fn devid(n: u8) -> [u8; 16] {
    let mut d = [0xd0; 16];
    d[15] = n;
    d
}

/// The single kind-stats nest of a trigger reply.
fn run_stats(f: Fam, m: &Msg) -> Result<KindStats, String> {
    let all = KindStats::all(m, f.kind_stats_attr());
    check_eq!(all.len(), 1, "trigger reply kind-stats nests");
    Ok(all[0])
}

/// (sent, answered, errors, timeouts, failed) of a trigger run.
fn counts(f: Fam, m: &Msg) -> Result<(u64, u64, u64, u64, u64), String> {
    Ok(run_stats(f, m)?.counts())
}

fn upcall_kind_attr(f: Fam) -> u16 {
    match f {
        Fam::Pnfsd => pa::UPCALL_KIND,
        Fam::Gfs2 => ga::UPCALL_KIND,
    }
}

fn count_attr(f: Fam) -> u16 {
    match f {
        Fam::Pnfsd => pa::COUNT,
        Fam::Gfs2 => ga::COUNT,
    }
}

fn depth_attr(f: Fam) -> u16 {
    match f {
        Fam::Pnfsd => pa::DEPTH,
        Fam::Gfs2 => ga::DEPTH,
    }
}

/// Serve one upcall: check it is `cmd`, then answer status 0 with `extra`.
fn answer(cmd: u8, extra: Vec<u8>) -> impl FnOnce(&Upcall) -> Result<(u32, Vec<u8>), String> {
    move |up| {
        check_eq!(up.cmd, cmd, "upcall command");
        Ok((0, extra))
    }
}

/// LAYOUT_GET served with `dev` and a stateid: records a layout.
async fn layout_get(env: &Env, d: &Daemon, clientid: u64, fsid: u64, fileid: u64, dev: u8) -> R {
    let (t, _) = env
        .trigger_one(
            d,
            |b| {
                b.put_u32(pa::UPCALL_KIND, pnfsd::UpcallKind::LayoutGet as u32)
                    .put_u64(pa::CLIENTID, clientid)
                    .put_u64(pa::FSID, fsid)
                    .put_u64(pa::FILEID, fileid)
                    .put_u32(pa::IOMODE, pnfsd::Iomode::Rw as u32)
                    .put_u64(pa::OFFSET, 0)
                    .put_u64(pa::LENGTH, 1 << 20);
            },
            answer(
                pc::LAYOUT_GET,
                attrs(|b| {
                    b.put_bytes(pa::DEVICE_ID, &devid(dev))
                        .put_bytes(pa::STATEID, &stateid(1, dev))
                        .put_u32(pa::IOMODE, pnfsd::Iomode::Rw as u32)
                        .put_u64(pa::OFFSET, 0)
                        .put_u64(pa::LENGTH, 1 << 20);
                }),
            ),
        )
        .await?;
    check_eq!(counts(Fam::Pnfsd, &t)?, (1, 1, 0, 0, 0), "layout-get run");
    Ok(())
}

async fn layouts(env: &Env) -> Result<Vec<Msg>, String> {
    env.dump(Fam::Pnfsd, pc::LAYOUT_DUMP).await
}

/// MOUNT served with `jid` and `first`: records the mount of `table`.
async fn gfs2_mount(env: &Env, d: &Daemon, table: &str, jid: u32, first: u8) -> R {
    let (t, _) = env
        .trigger_one(
            d,
            |b| {
                b.put_u32(ga::UPCALL_KIND, gfs2ctl::UpcallKind::Mount as u32)
                    .put_str(ga::TABLE, table)
                    .put_bytes(ga::UUID, &[0x55; 16])
                    .put_str(ga::DEVICE, "/dev/vdb")
                    .put_u32(ga::MOUNT_FLAGS, gfs2ctl::mount_flags::RDONLY);
            },
            answer(
                gc::MOUNT,
                attrs(|b| {
                    b.put_u32(ga::JID, jid).put_u8(ga::FIRST, first);
                }),
            ),
        )
        .await?;
    check_eq!(counts(Fam::Gfs2, &t)?, (1, 1, 0, 0, 0), "mount run");
    Ok(())
}

/// Trigger one gfs2 upcall of `kind` on `table` (plus `more`), answered with status 0.
async fn gfs2_upcall(
    env: &Env,
    d: &Daemon,
    kind: gfs2ctl::UpcallKind,
    table: &str,
    more: impl FnOnce(&mut MsgBuilder<'_>),
    check_up: impl FnOnce(&Attrs<'_>) -> R,
) -> Result<Msg, String> {
    let cmd = Fam::Gfs2.upcall_cmd(kind as u32);
    let (t, _) = env
        .trigger_one(
            d,
            |b| {
                b.put_u32(ga::UPCALL_KIND, kind as u32)
                    .put_str(ga::TABLE, table);
                more(b);
            },
            move |up| {
                check_eq!(up.cmd, cmd, "upcall command");
                check_eq!(up.msg.a().str(ga::TABLE), Some(table), "upcall table");
                check_up(&up.msg.a())?;
                Ok((0, vec![]))
            },
        )
        .await?;
    check_eq!(
        counts(Fam::Gfs2, &t)?,
        (1, 1, 0, 0, 0),
        "{} run",
        kind.name()
    );
    Ok(t)
}

async fn mount_of(env: &Env, table: &str) -> Result<Option<Msg>, String> {
    Ok(env
        .dump(Fam::Gfs2, gc::MOUNT_GET)
        .await?
        .into_iter()
        .find(|m| m.a().str(ga::TABLE) == Some(table)))
}

/// Wait for event `cmd` of `f` matching `pred` (others are skipped).
async fn event(
    env: &Env,
    l: &Conn,
    f: Fam,
    cmd: u8,
    pred: impl Fn(&Attrs<'_>) -> bool,
) -> Result<Msg, String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = l
            .unsolicited(left)
            .await
            .map_err(|e| format!("waiting for {} event cmd {cmd}: {e}", f.name()))?;
        if m.groups != 0 && m.kind == env.id(f) && m.cmd == cmd && pred(&m.a()) {
            return Ok(m);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Resolution and registration

async fn resolve_families(env: &mut Env) -> R {
    check!(
        env.pnfsd.id != 0 && env.gfs2.id != 0 && env.pnfsd.id != env.gfs2.id,
        "family ids {:#x} / {:#x}",
        env.pnfsd.id,
        env.gfs2.id
    );
    check!(
        env.pnfsd.id != GENL_ID_CTRL && env.gfs2.id != GENL_ID_CTRL,
        "a family has nlctrl's id"
    );
    for (f, spec) in [(Fam::Pnfsd, &pnfsd::FAMILY), (Fam::Gfs2, &gfs2ctl::FAMILY)] {
        let info = env.info(f).clone();
        check_eq!(info.name, spec.name, "resolved name");
        check_eq!(info.version, spec.version as u32, "{} version", f.name());
        check_eq!(
            info.maxattr,
            spec.policy.max() as u32,
            "{} maxattr",
            f.name()
        );
        let g = env.group(f)?;
        check!(g != 0, "{} events group id 0", f.name());
        for op in spec.ops {
            let listed = info.ops.iter().find(|(id, _)| *id == op.cmd as u32);
            if op.upcall || op.kind == OpKind::Event {
                check!(
                    listed.is_none(),
                    "{} lists {} (sent by the kernel) as an op",
                    f.name(),
                    op.name
                );
                continue;
            }
            let Some((_, flags)) = listed else {
                return Err(format!("{} does not list op {}", f.name(), op.name));
            };
            check_eq!(
                flags & GENL_ADMIN_PERM != 0,
                op.admin,
                "{} op {} admin flag",
                f.name(),
                op.name
            );
            let cap = if op.kind == OpKind::Dump {
                GENL_CMD_CAP_DUMP
            } else {
                GENL_CMD_CAP_DO
            };
            check!(
                flags & cap != 0,
                "{} op {} flags {flags:#x} lack {cap:#x}",
                f.name(),
                op.name
            );
        }
    }
    check!(
        env.group(Fam::Pnfsd)? != env.group(Fam::Gfs2)?,
        "both families share one events group"
    );
    // The dump describes the same families.
    let mut c = Client::open(env.target.proto, env.target.peer).map_err(|e| e.to_string())?;
    let fams = c
        .families()
        .await
        .map_err(|e| format!("nlctrl dump: {e}"))?;
    for f in Fam::BOTH {
        let d = fams.iter().find(|x| x.name == f.name());
        check_eq!(
            d.map(|x| (x.id, x.groups.clone())),
            Some((env.id(f), env.info(f).groups.clone())),
            "{} in the nlctrl dump",
            f.name()
        );
    }
    let r = c.resolve("pnfsd-no-such-family").await;
    check!(r.is_err(), "an unknown family resolved: {r:?}");
    Ok(())
}

async fn register_negotiates_version(env: &mut Env) -> R {
    let (d, m) = env
        .register_with(Fam::Pnfsd, |b| {
            b.put_u32(pa::VERSION, 7)
                .put_u32(pa::NODE_ID, 3)
                .put_u32(pa::ROLE, pnfsd::Role::Ds as u32)
                .put_u32(pa::MDS_ID, 4)
                .put_u64(pa::BOOT_EPOCH, 0x1234_5678_9abc);
        })
        .await?;
    check_eq!(m.cmd, pc::REGISTER, "pnfsd REGISTER reply cmd");
    let r = m.view(pnfsd::ops::register::Reply::parse)?;
    check_eq!(r.version(), 1, "pnfsd negotiated version");
    check_eq!(r.port(), d.port(), "pnfsd REGISTER reply port");
    let s = env.status(Fam::Pnfsd).await?;
    let a = s.view(pnfsd::ops::status_get::Reply::parse)?;
    check_eq!(a.version(), 1, "status-get version");
    check_eq!(a.port(), d.port(), "status-get port");
    check_eq!(a.node_id(), 3, "status-get node-id");
    check_eq!(a.role(), Some(2), "status-get role");
    check_eq!(a.mds_id(), Some(4), "status-get mds-id");
    check_eq!(
        a.boot_epoch(),
        Some(0x1234_5678_9abc),
        "status-get boot-epoch"
    );

    let (g, m) = env
        .register_with(Fam::Gfs2, |b| {
            b.put_u32(ga::VERSION, 7).put_u32(ga::NODE_ID, 9);
        })
        .await?;
    let r = m.view(gfs2ctl::ops::register::Reply::parse)?;
    check_eq!(r.version(), 1, "gfs2ctl negotiated version");
    check_eq!(r.port(), g.port(), "gfs2ctl REGISTER reply port");
    let s = env.status(Fam::Gfs2).await?;
    let s = s.view(gfs2ctl::ops::status_get::Reply::parse)?;
    check_eq!(s.port(), g.port(), "gfs2ctl status-get port");
    check_eq!(s.node_id(), 9, "gfs2ctl status-get node-id");
    check_eq!(s.version(), 1, "gfs2ctl status-get version");
    Ok(())
}

async fn register_version_zero(env: &mut Env) -> R {
    for f in Fam::BOTH {
        let r = env
            .register_with(f, |b| {
                b.put_u32(pa::VERSION, 0);
            })
            .await
            .map(|(_, m)| m);
        let p = refused(r, &[libc::ERANGE], "REGISTER version 0")?;
        with_extack(&p, "REGISTER version 0")?;
        let port = env.status(f).await?.a().u32(f.port_attr());
        check_eq!(
            port,
            Some(0),
            "{} registered after a refused REGISTER",
            f.name()
        );
    }
    Ok(())
}

async fn register_missing_version(env: &mut Env) -> R {
    for f in Fam::BOTH {
        let r = env
            .register_with(f, |b| {
                b.put_u32(pa::NODE_ID, 1);
            })
            .await
            .map(|(_, m)| m);
        let p = refused(r, &[libc::EINVAL], "REGISTER without version")?;
        names_missing(&p, pa::VERSION, "version", "REGISTER without version")?;
    }
    Ok(())
}

async fn register_second_daemon_ebusy(env: &mut Env) -> R {
    for f in Fam::BOTH {
        let first = env.daemon(f).await?;
        let r = env
            .register_with(f, |b| {
                b.put_u32(pa::VERSION, 1);
            })
            .await
            .map(|(_, m)| m);
        let p = refused(r, &[libc::EBUSY], "second daemon's REGISTER")?;
        let port = first.port().to_string();
        check!(
            p.message.as_deref().is_some_and(|m| m.contains(&port)),
            "EBUSY extack {:?} does not name port {port}",
            p.message
        );
        let now = env.status(f).await?.a().u32(f.port_attr());
        check_eq!(now, Some(first.port()), "{} daemon after EBUSY", f.name());
    }
    Ok(())
}

async fn register_same_port_again(env: &mut Env) -> R {
    let d = env.daemon(Fam::Pnfsd).await?;
    let r = d
        .conn
        .request(d.id, pc::REGISTER, |b| {
            b.put_u32(pa::VERSION, 1)
                .put_u32(pa::NODE_ID, 5)
                .put_u32(pa::ROLE, pnfsd::Role::Ds as u32)
                .put_u32(pa::MDS_ID, 9)
                .put_u64(pa::BOOT_EPOCH, 1234);
        })
        .await?;
    check_eq!(r.len(), 1, "re-REGISTER reply messages");
    check_eq!(
        r[0].view(pnfsd::ops::register::Reply::parse)?.port(),
        d.port(),
        "re-REGISTER port"
    );
    let s = env.status(Fam::Pnfsd).await?;
    let a = s.view(pnfsd::ops::status_get::Reply::parse)?;
    check_eq!(
        (a.port(), a.node_id(), a.role(), a.mds_id(), a.boot_epoch()),
        (d.port(), 5, Some(2), Some(9), Some(1234)),
        "status-get after re-REGISTER (port, node, role, mds, epoch)"
    );
    let g = env.daemon(Fam::Gfs2).await?;
    g.conn
        .request(g.id, gc::REGISTER, |b| {
            b.put_u32(ga::VERSION, 1).put_u32(ga::NODE_ID, 8);
        })
        .await?;
    let s = env.status(Fam::Gfs2).await?;
    let s = s.view(gfs2ctl::ops::status_get::Reply::parse)?;
    check_eq!(
        (s.port(), s.node_id()),
        (g.port(), 8),
        "gfs2ctl status-get after re-REGISTER"
    );
    Ok(())
}

async fn unregister_other_port_enoent(env: &mut Env) -> R {
    for f in Fam::BOTH {
        let d = env.daemon(f).await?;
        let other = env.conn()?;
        let r = other.request(env.id(f), pc::UNREGISTER, |_| {}).await;
        let p = refused(r, &[libc::ENOENT], "UNREGISTER from another port")?;
        with_extack(&p, "UNREGISTER from another port")?;
        let port = env.status(f).await?.a().u32(f.port_attr());
        check_eq!(port, Some(d.port()), "daemon after a foreign UNREGISTER");
        d.unregister().await?;
        let port = env.status(f).await?.a().u32(f.port_attr());
        check_eq!(port, Some(0), "port after UNREGISTER");
        let r = d.unregister().await;
        refused(r, &[libc::ENOENT], "UNREGISTER with no daemon")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Upcalls of every kind

async fn upcall_get_state(env: &mut Env) -> R {
    let d = env.daemon(Fam::Pnfsd).await?;
    let before = env.kind_stats(Fam::Pnfsd, 1).await?;
    let sid = stateid(5, 0xa1);
    let (t, _) = env
        .trigger_one(
            &d,
            |b| {
                b.put_u32(pa::UPCALL_KIND, pnfsd::UpcallKind::GetState as u32)
                    .put_u64(pa::FSID, 11)
                    .put_u64(pa::FILEID, 12)
                    .put_bytes(pa::STATEID, &sid)
                    .put_u64(pa::CLIENTID, 13)
                    .put_u32(pa::MDS_ID, 2)
                    .put_u64(pa::BOOT_EPOCH, 99);
            },
            |up| {
                check_eq!(up.cmd, pc::GET_STATE, "upcall command");
                let a = up.msg.view(pnfsd::ops::get_state::Request::parse)?;
                check_eq!(
                    (
                        a.fsid(),
                        a.fileid(),
                        a.stateid(),
                        a.clientid(),
                        a.mds_id(),
                        a.boot_epoch()
                    ),
                    (11, 12, &sid, 13, 2, 99),
                    "get-state attributes (fsid, fileid, stateid, clientid, mds-id, epoch)"
                );
                Ok((
                    0,
                    attrs(|b| {
                        b.put_u32(pa::ACCESS, pnfsd::access::READ | pnfsd::access::WRITE)
                            .put_u32(pa::GENERATION, 5)
                            .put_u64(pa::CLIENTID, 13)
                            .put_u64(pa::VERIFIER, 99);
                    }),
                ))
            },
        )
        .await?;
    let s = run_stats(Fam::Pnfsd, &t)?;
    check_eq!(s.kind, 1, "trigger kind-stats kind");
    check_eq!(s.counts(), (1, 1, 0, 0, 0), "trigger run counts");
    check!(
        s.p50 > 0 && s.p50 <= s.p99 && s.p99 <= s.p999,
        "run percentiles {s:?}"
    );
    let t = t.view(pnfsd::ops::trigger::Reply::parse)?;
    check!(t.elapsed_ns() > 0, "elapsed-ns");
    check_eq!(
        (t.status(), t.access(), t.generation()),
        (Some(0), Some(3), Some(5)),
        "trigger echo of the reply (status, access, generation)"
    );
    let after = env.kind_stats(Fam::Pnfsd, 1).await?;
    check_eq!(
        before.delta(&after).counts(),
        (1, 1, 0, 0, 0),
        "cumulative delta"
    );
    Ok(())
}

async fn upcall_get_device_info(env: &mut Env) -> R {
    let d = env.daemon(Fam::Pnfsd).await?;
    let dev = devid(7);
    let (t, _) = env
        .trigger_one(
            &d,
            |b| {
                b.put_u32(pa::UPCALL_KIND, pnfsd::UpcallKind::GetDeviceInfo as u32)
                    .put_bytes(pa::DEVICE_ID, &dev);
            },
            |up| {
                check_eq!(up.cmd, pc::GET_DEVICE_INFO, "upcall command");
                let a = up.msg.view(pnfsd::ops::get_device_info::Request::parse)?;
                check_eq!(a.device_id(), &dev, "device-id");
                Ok((
                    0,
                    attrs(|b| {
                        for (netid, uaddr) in [("tcp", "10.0.0.7.8.1"), ("tcp6", "fd00::7.8.1")] {
                            let n = b.nest_begin(pa::DS_ADDR);
                            b.put_str(pnfsd::ds_addr_attr::NETID, netid)
                                .put_str(pnfsd::ds_addr_attr::UADDR, uaddr);
                            b.nest_end(n);
                        }
                    }),
                ))
            },
        )
        .await?;
    check_eq!(
        counts(Fam::Pnfsd, &t)?,
        (1, 1, 0, 0, 0),
        "trigger run counts"
    );
    let addrs: Vec<(Option<&str>, Option<&str>)> = t
        .view(pnfsd::ops::trigger::Reply::parse)?
        .ds_addr()
        .map(|a| (a.netid(), a.uaddr()))
        .collect();
    check_eq!(
        addrs,
        vec![
            (Some("tcp"), Some("10.0.0.7.8.1")),
            (Some("tcp6"), Some("fd00::7.8.1"))
        ],
        "ds-addr list echoed by trigger"
    );
    Ok(())
}

async fn upcall_layout_get(env: &mut Env) -> R {
    let d = env.daemon(Fam::Pnfsd).await?;
    let (t, _) = env
        .trigger_one(
            &d,
            |b| {
                b.put_u32(pa::UPCALL_KIND, pnfsd::UpcallKind::LayoutGet as u32)
                    .put_u64(pa::CLIENTID, 21)
                    .put_u64(pa::FSID, 22)
                    .put_u64(pa::FILEID, 23)
                    .put_u32(pa::IOMODE, 2)
                    .put_u64(pa::OFFSET, 4096)
                    .put_u64(pa::LENGTH, 8192);
            },
            |up| {
                check_eq!(up.cmd, pc::LAYOUT_GET, "upcall command");
                let a = up.msg.view(pnfsd::ops::layout_get::Request::parse)?;
                check_eq!(
                    (
                        a.clientid(),
                        a.fsid(),
                        a.fileid(),
                        a.iomode(),
                        a.offset(),
                        a.length()
                    ),
                    (21, 22, 23, 2, 4096, 8192),
                    "layout-get attributes"
                );
                Ok((
                    0,
                    attrs(|b| {
                        b.put_bytes(pa::DEVICE_ID, &devid(1))
                            .put_bytes(pa::STATEID, &stateid(1, 0x21))
                            .put_u32(pa::IOMODE, 2)
                            .put_u64(pa::OFFSET, 4096)
                            .put_u64(pa::LENGTH, 8192);
                    }),
                ))
            },
        )
        .await?;
    check_eq!(
        counts(Fam::Pnfsd, &t)?,
        (1, 1, 0, 0, 0),
        "trigger run counts"
    );
    let l = layouts(env).await?;
    check_eq!(l.len(), 1, "layouts after one layout-get");
    let a = l[0].view(pnfsd::ops::layout_dump::Reply::parse)?;
    check_eq!(
        (
            a.clientid(),
            a.fsid(),
            a.fileid(),
            a.device_id(),
            a.stateid(),
            a.iomode(),
            a.offset(),
            a.length()
        ),
        (
            Some(21),
            Some(22),
            Some(23),
            Some(&devid(1)),
            Some(&stateid(1, 0x21)),
            Some(2),
            Some(4096),
            Some(8192)
        ),
        "layout-dump entry"
    );
    Ok(())
}

async fn upcall_layout_return(env: &mut Env) -> R {
    let d = env.daemon(Fam::Pnfsd).await?;
    layout_get(env, &d, 31, 32, 33, 3).await?;
    layout_get(env, &d, 31, 32, 34, 3).await?;
    check_eq!(layouts(env).await?.len(), 2, "layouts before return");
    let sid = stateid(1, 3);
    let ret = |b: &mut MsgBuilder<'_>| {
        b.put_u32(pa::UPCALL_KIND, pnfsd::UpcallKind::LayoutReturn as u32)
            .put_u64(pa::CLIENTID, 31)
            .put_u64(pa::FSID, 32)
            .put_u64(pa::FILEID, 33)
            .put_bytes(pa::STATEID, &sid)
            .put_u64(pa::OFFSET, 0)
            .put_u64(pa::LENGTH, 1 << 20);
    };
    // Refused by the daemon: nothing forgotten, counted as an error.
    let (t, _) = env
        .trigger_one(&d, ret, |up| {
            check_eq!(up.cmd, pc::LAYOUT_RETURN, "upcall command");
            Ok((pnfsd::Nfsstat::NomatchingLayout as u32, vec![]))
        })
        .await?;
    check_eq!(
        counts(Fam::Pnfsd, &t)?,
        (1, 1, 1, 0, 0),
        "refused return run"
    );
    check_eq!(
        t.view(pnfsd::ops::trigger::Reply::parse)?.status(),
        Some(10060),
        "echoed status"
    );
    check_eq!(
        layouts(env).await?.len(),
        2,
        "layouts after a refused return"
    );
    let (t, _) = env
        .trigger_one(&d, ret, |up| {
            check_eq!(up.cmd, pc::LAYOUT_RETURN, "upcall command");
            let a = up.msg.view(pnfsd::ops::layout_return::Request::parse)?;
            check_eq!(
                (
                    a.clientid(),
                    a.fsid(),
                    a.fileid(),
                    a.stateid(),
                    a.offset(),
                    a.length()
                ),
                (31, 32, 33, &sid, 0, 1 << 20),
                "layout-return attributes"
            );
            Ok((0, vec![]))
        })
        .await?;
    check_eq!(counts(Fam::Pnfsd, &t)?, (1, 1, 0, 0, 0), "return run");
    let l = layouts(env).await?;
    check_eq!(
        l.iter().map(|m| m.a().u64(pa::FILEID)).collect::<Vec<_>>(),
        vec![Some(34)],
        "layouts left after returning file 33"
    );
    Ok(())
}

async fn upcall_layout_commit(env: &mut Env) -> R {
    let d = env.daemon(Fam::Pnfsd).await?;
    let sid = stateid(2, 0x41);
    let (t, _) = env
        .trigger_one(
            &d,
            |b| {
                b.put_u32(pa::UPCALL_KIND, pnfsd::UpcallKind::LayoutCommit as u32)
                    .put_u64(pa::CLIENTID, 41)
                    .put_u64(pa::FSID, 42)
                    .put_u64(pa::FILEID, 43)
                    .put_bytes(pa::STATEID, &sid)
                    .put_u64(pa::LAST_WRITE, 65535);
            },
            |up| {
                check_eq!(up.cmd, pc::LAYOUT_COMMIT, "upcall command");
                let a = up.msg.view(pnfsd::ops::layout_commit::Request::parse)?;
                check_eq!(
                    (
                        a.clientid(),
                        a.fsid(),
                        a.fileid(),
                        a.stateid(),
                        a.last_write()
                    ),
                    (41, 42, 43, &sid, 65535),
                    "layout-commit attributes"
                );
                Ok((0, vec![]))
            },
        )
        .await?;
    check_eq!(counts(Fam::Pnfsd, &t)?, (1, 1, 0, 0, 0), "commit run");
    Ok(())
}

async fn upcall_state_changed(env: &mut Env) -> R {
    let d = env.daemon(Fam::Pnfsd).await?;
    let sid = stateid(3, 0x51);
    let (t, _) = env
        .trigger_one(
            &d,
            |b| {
                b.put_u32(pa::UPCALL_KIND, pnfsd::UpcallKind::StateChanged as u32)
                    .put_u64(pa::CLIENTID, 51)
                    .put_u64(pa::FSID, 52)
                    .put_u64(pa::FILEID, 53)
                    .put_bytes(pa::STATEID, &sid)
                    .put_u32(pa::GENERATION, 3)
                    .put_u32(pa::STATE_CHANGE, pnfsd::StateChange::Revoked as u32);
            },
            |up| {
                check_eq!(up.cmd, pc::STATE_CHANGED, "upcall command");
                let a = up.msg.view(pnfsd::ops::state_changed::Request::parse)?;
                check_eq!(
                    (
                        a.clientid(),
                        a.fsid(),
                        a.fileid(),
                        a.stateid(),
                        a.generation(),
                        a.state_change()
                    ),
                    (51, 52, 53, &sid, 3, 2),
                    "state-changed attributes"
                );
                Ok((0, vec![]))
            },
        )
        .await?;
    check_eq!(
        counts(Fam::Pnfsd, &t)?,
        (1, 1, 0, 0, 0),
        "state-changed run"
    );
    Ok(())
}

async fn upcall_gfs2_mount(env: &mut Env) -> R {
    let d = env.daemon(Fam::Gfs2).await?;
    let table = "conf:mount";
    let (t, _) = env
        .trigger_one(
            &d,
            |b| {
                b.put_u32(ga::UPCALL_KIND, gfs2ctl::UpcallKind::Mount as u32)
                    .put_str(ga::TABLE, table)
                    .put_bytes(ga::UUID, &[0x66; 16])
                    .put_str(ga::DEVICE, "/dev/vdc")
                    .put_u32(ga::MOUNT_FLAGS, gfs2ctl::mount_flags::SPECTATOR);
            },
            |up| {
                check_eq!(up.cmd, gc::MOUNT, "upcall command");
                let a = up.msg.view(gfs2ctl::ops::mount::Request::parse)?;
                check_eq!(
                    (a.table(), a.uuid(), a.device(), a.mount_flags()),
                    (table, Some(&[0x66u8; 16]), "/dev/vdc", 1),
                    "mount attributes (table, uuid, device, flags)"
                );
                Ok((
                    0,
                    attrs(|b| {
                        b.put_u32(ga::JID, 3).put_u8(ga::FIRST, 1);
                    }),
                ))
            },
        )
        .await?;
    check_eq!(counts(Fam::Gfs2, &t)?, (1, 1, 0, 0, 0), "mount run");
    let echo = t.view(gfs2ctl::ops::trigger::Reply::parse)?;
    check_eq!(
        (echo.status(), echo.jid(), echo.first()),
        (Some(0), Some(3), Some(1)),
        "trigger echo (status, jid, first)"
    );
    let m = mount_of(env, table)
        .await?
        .ok_or("mount-get lacks the mount")?;
    let a = m.view(gfs2ctl::ops::mount_get::Reply::parse)?;
    check_eq!(
        (
            a.jid(),
            a.first(),
            a.uuid(),
            a.device(),
            a.mount_flags(),
            a.blocked(),
            a.withdrawn()
        ),
        (
            3,
            Some(1),
            Some(&[0x66u8; 16]),
            Some("/dev/vdc"),
            Some(1),
            Some(0),
            Some(0)
        ),
        "mount-get (jid, first, uuid, device, flags, blocked, withdrawn)"
    );
    Ok(())
}

async fn upcall_gfs2_mount_done(env: &mut Env) -> R {
    let d = env.daemon(Fam::Gfs2).await?;
    let table = "conf:done";
    gfs2_mount(env, &d, table, 2, 1).await?;
    gfs2_upcall(
        env,
        &d,
        gfs2ctl::UpcallKind::MountDone,
        table,
        |b| {
            b.put_u32(ga::JID, 2).put_i32(ga::STATUS, 0);
        },
        |a| {
            check_eq!(
                (a.u32(ga::JID), a.i32(ga::STATUS)),
                (Some(2), Some(0)),
                "mount-done (jid, status)"
            );
            Ok(())
        },
    )
    .await?;
    check!(
        mount_of(env, table).await?.is_some(),
        "mount gone after mount-done"
    );
    Ok(())
}

async fn upcall_gfs2_withdraw(env: &mut Env) -> R {
    let d = env.daemon(Fam::Gfs2).await?;
    let table = "conf:withdraw";
    gfs2_mount(env, &d, table, 1, 0).await?;
    gfs2_upcall(
        env,
        &d,
        gfs2ctl::UpcallKind::Withdraw,
        table,
        |b| {
            b.put_u32(ga::JID, 1);
        },
        |a| {
            check_eq!(a.u32(ga::JID), Some(1), "withdraw jid");
            Ok(())
        },
    )
    .await?;
    let m = mount_of(env, table)
        .await?
        .ok_or("mount gone after withdraw")?;
    check_eq!(
        m.view(gfs2ctl::ops::mount_get::Reply::parse)?.withdrawn(),
        Some(1),
        "withdrawn"
    );
    Ok(())
}

async fn upcall_gfs2_recovery_done(env: &mut Env) -> R {
    let d = env.daemon(Fam::Gfs2).await?;
    let table = "conf:recovery";
    gfs2_mount(env, &d, table, 0, 1).await?;
    env.req(Fam::Gfs2, gc::RECOVER, |b| {
        b.put_str(ga::TABLE, table).put_u32(ga::JID, 2);
    })
    .await?;
    let m = mount_of(env, table).await?.ok_or("mount gone")?;
    check_eq!(
        m.a().u32(ga::RECOVER_JID),
        Some(2),
        "recover-jid after recover"
    );
    gfs2_upcall(
        env,
        &d,
        gfs2ctl::UpcallKind::RecoveryDone,
        table,
        |b| {
            b.put_u32(ga::JID, 2)
                .put_u32(ga::RECOVERY_STATUS, gfs2ctl::RecoveryStatus::Done as u32);
        },
        |a| {
            check_eq!(
                (a.u32(ga::JID), a.u32(ga::RECOVERY_STATUS)),
                (Some(2), Some(1)),
                "recovery-done (jid, recovery-status)"
            );
            Ok(())
        },
    )
    .await?;
    let m = mount_of(env, table).await?.ok_or("mount gone")?;
    check_eq!(
        (m.a().u32(ga::RECOVERY_STATUS), m.a().u32(ga::RECOVER_JID)),
        (Some(1), None),
        "mount-get after recovery-done (recovery-status, recover-jid)"
    );
    Ok(())
}

async fn upcall_gfs2_unmount(env: &mut Env) -> R {
    let d = env.daemon(Fam::Gfs2).await?;
    let table = "conf:unmount";
    gfs2_mount(env, &d, table, 4, 0).await?;
    gfs2_mount(env, &d, "conf:stays", 5, 0).await?;
    gfs2_upcall(
        env,
        &d,
        gfs2ctl::UpcallKind::Unmount,
        table,
        |_| {},
        |_| Ok(()),
    )
    .await?;
    check!(
        mount_of(env, table).await?.is_none(),
        "mount still listed after unmount"
    );
    check!(
        mount_of(env, "conf:stays").await?.is_some(),
        "unmount removed another mount"
    );
    // Unmount it too, so later cases see no mounts of this one.
    gfs2_upcall(
        env,
        &d,
        gfs2ctl::UpcallKind::Unmount,
        "conf:stays",
        |_| {},
        |_| Ok(()),
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Upcall failure modes

async fn upcall_no_daemon(env: &mut Env) -> R {
    for f in Fam::BOTH {
        let before = env.kind_stats(f, 1).await?;
        let t = env
            .trigger(f, |b| {
                b.put_u32(upcall_kind_attr(f), 1)
                    .put_u32(count_attr(f), 10)
                    .put_u32(depth_attr(f), 4);
            })
            .await?;
        check_eq!(
            counts(f, &t)?,
            (10, 0, 0, 0, 10),
            "{} run without daemon",
            f.name()
        );
        let after = env.kind_stats(f, 1).await?;
        check_eq!(
            before.delta(&after).counts(),
            (10, 0, 0, 0, 10),
            "{} cumulative delta",
            f.name()
        );
    }
    Ok(())
}

async fn upcall_timeouts(env: &mut Env) -> R {
    for f in Fam::BOTH {
        env.set_timeout(f, 100).await?;
        let tattr = match f {
            Fam::Pnfsd => pa::TIMEOUT_MS,
            Fam::Gfs2 => ga::TIMEOUT_MS,
        };
        check_eq!(
            env.status(f).await?.a().u32(tattr),
            Some(100),
            "{} status-get timeout-ms",
            f.name()
        );
        let d = env.daemon(f).await?;
        let before = env.kind_stats(f, 2).await?;
        let trig = env.trigger(f, |b| {
            b.put_u32(upcall_kind_attr(f), 2)
                .put_u32(count_attr(f), 3)
                .put_u32(depth_attr(f), 3);
        });
        // The silent daemon reads them (they were sent) and never answers.
        let read = async {
            let mut xids = HashSet::new();
            for _ in 0..3 {
                xids.insert(d.upcall(WAIT).await?.xid);
            }
            Ok::<_, String>(xids.len())
        };
        let (t, n) = tokio::join!(trig, read);
        check_eq!(n?, 3, "distinct xids the silent daemon received");
        check_eq!(
            counts(f, &t?)?,
            (3, 0, 0, 3, 0),
            "{} run with a silent daemon",
            f.name()
        );
        let after = env.kind_stats(f, 2).await?;
        check_eq!(
            before.delta(&after).counts(),
            (3, 0, 0, 3, 0),
            "{} cumulative delta",
            f.name()
        );
        d.unregister().await?;
    }
    Ok(())
}

async fn reply_late(env: &mut Env) -> R {
    env.set_timeout(Fam::Pnfsd, 100).await?;
    let d = env.daemon(Fam::Pnfsd).await?;
    let (_, late0) = env.stats(Fam::Pnfsd).await?;
    let trig = env.trigger(Fam::Pnfsd, |b| {
        b.put_u32(pa::UPCALL_KIND, 1);
    });
    let (t, up) = tokio::join!(trig, d.upcall(WAIT));
    let (t, up) = (t?, up?);
    check_eq!(counts(Fam::Pnfsd, &t)?, (1, 0, 0, 1, 0), "run");
    let r = d.reply(up.xid, 0, &[]).await;
    let p = refused(r, &[libc::ENOENT], "REPLY after the timeout")?;
    check!(
        p.message
            .as_deref()
            .is_some_and(|m| m.contains(&up.xid.to_string())),
        "extack {:?} does not name xid {}",
        p.message,
        up.xid
    );
    let (_, late1) = env.stats(Fam::Pnfsd).await?;
    check_eq!(late1 - late0, 1, "late-replies delta");
    Ok(())
}

async fn reply_duplicate(env: &mut Env) -> R {
    for f in Fam::BOTH {
        let d = env.daemon(f).await?;
        let (_, late0) = env.stats(f).await?;
        let (t, up) = env
            .trigger_one(
                &d,
                |b| {
                    b.put_u32(upcall_kind_attr(f), 1);
                },
                |_| Ok((0, vec![])),
            )
            .await?;
        check_eq!(counts(f, &t)?, (1, 1, 0, 0, 0), "run");
        let r = d.reply(up.xid, 0, &[]).await;
        refused(r, &[libc::ENOENT], "duplicate REPLY")?;
        let r = d.reply(0x7fff_fff0, 0, &[]).await;
        refused(r, &[libc::ENOENT], "REPLY to an xid never issued")?;
        let (_, late1) = env.stats(f).await?;
        check_eq!(late1 - late0, 2, "{} late-replies delta", f.name());
        d.unregister().await?;
    }
    Ok(())
}

/// REGISTER's reply names the twin's upcall socket (the module names none: its upcalls
/// come from the kernel). There, what comes from the registered daemon's port has the
/// credentials it registered with — its REPLY ends the upcall — and anything else has
/// none: another port's REPLY, an admin command, is refused.
async fn upcall_port(env: &mut Env) -> R {
    let (d, m) = env
        .register_with(Fam::Pnfsd, |b| {
            b.put_u32(pa::VERSION, 1).put_u32(pa::NODE_ID, 1);
        })
        .await?;
    let port = m.a().u32(pa::UPCALL_PORT);
    if env.target.proto == Proto::Generic {
        check_eq!(port, None, "the module's REGISTER reply upcall-port");
        return Ok(());
    }
    let Some(port) = port else {
        return Err("the twin's REGISTER reply names no upcall-port".into());
    };
    check!(
        port != env.target.peer && port != 0,
        "upcall-port {port:#x} is not a port of its own (the twin is on {:#x})",
        env.target.peer
    );
    foreign_reply_refused(env, &d, Some(port)).await
}

/// REPLY OK to `xid` from `c`, sent to `to` if given, else to the kernel half's port.
async fn reply_ok(c: &Conn, to: Option<u32>, id: u16, xid: u32) -> Result<Vec<Msg>, Fail> {
    let build = |b: &mut MsgBuilder<'_>| {
        b.put_u32(pa::XID, xid).put_u32(pa::STATUS, 0);
    };
    match to {
        Some(port) => c.request_at(port, id, pc::REPLY, build).await,
        None => c.request(id, pc::REPLY, build).await,
    }
}

/// One GET_STATE upcall to `d`: a REPLY to it from another port is refused (EPERM, with
/// extack), then `d`'s own REPLY ends it — both sent to `to` (the twin's upcall port) if
/// given, else to the kernel half's port.
async fn foreign_reply_refused(env: &mut Env, d: &Daemon, to: Option<u32>) -> R {
    let intruder = env.conn()?;
    if let Some(port) = to {
        intruder.set_upcall_peer(port);
    }
    let id = env.id(Fam::Pnfsd);
    let trig = env.trigger(Fam::Pnfsd, |b| {
        b.put_u32(pa::UPCALL_KIND, 1);
    });
    let serve = async {
        let up = d.upcall(WAIT).await?;
        let p = refused(
            reply_ok(&intruder, to, id, up.xid).await,
            &[libc::EPERM],
            "REPLY from a port that is not the daemon",
        );
        // Answer properly either way, so the trigger ends.
        reply_ok(&d.conn, to, id, up.xid)
            .await
            .map_err(|e| format!("the daemon's REPLY: {e}"))?;
        with_extack(&p?, "REPLY from a foreign port")
    };
    let (t, s) = tokio::join!(trig, serve);
    s?;
    check_eq!(counts(Fam::Pnfsd, &t?)?, (1, 1, 0, 0, 0), "run");
    Ok(())
}

async fn reply_other_port(env: &mut Env) -> R {
    let d = env.daemon(Fam::Pnfsd).await?;
    let (_, late0) = env.stats(Fam::Pnfsd).await?;
    foreign_reply_refused(env, &d, None).await?;
    let (_, late1) = env.stats(Fam::Pnfsd).await?;
    check_eq!(late1 - late0, 0, "late-replies delta (EPERM is not late)");
    Ok(())
}

async fn daemon_death(env: &mut Env) -> R {
    const N: u32 = 1000;
    let Some(exe) = env.exe.clone() else {
        return Err(format!("{SKIPPED}: the suite binary's path is unknown"));
    };
    env.set_timeout(Fam::Pnfsd, 120_000).await?;
    let listener = env.listen(Fam::Pnfsd)?;
    let mut child = tokio::process::Command::new(exe)
        .args([
            "fake-daemon",
            "--proto",
            env.target.proto_name(),
            "--peer",
            &env.target.peer.to_string(),
            "--family",
            "pnfsd",
            "--hold",
            &N.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawn fake-daemon: {e}"))?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let mut line = async || -> Result<String, String> {
        match tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await {
            Ok(Ok(Some(l))) => Ok(l),
            Ok(Ok(None)) => Err("fake-daemon exited".into()),
            Ok(Err(e)) => Err(format!("fake-daemon stdout: {e}")),
            Err(_) => Err("fake-daemon said nothing for 60 s".into()),
        }
    };
    let result = async {
        let l = line().await?;
        let port: u32 = l
            .strip_prefix("registered port ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("fake-daemon: {l:?}"))?;
        check_eq!(
            env.status(Fam::Pnfsd).await?.a().u32(pa::PORT),
            Some(port),
            "registered port"
        );
        let trig = env.trigger(Fam::Pnfsd, |b| {
            b.put_u32(pa::UPCALL_KIND, 1)
                .put_u32(pa::COUNT, N)
                .put_u32(pa::DEPTH, N);
        });
        let kill = async {
            check_eq!(line().await?, format!("held {N}"), "fake-daemon");
            let pending = env.dump(Fam::Pnfsd, pc::UPCALL_DUMP).await?;
            check_eq!(pending.len(), N as usize, "upcall-dump entries while held");
            child
                .start_kill()
                .map_err(|e| format!("kill fake-daemon: {e}"))?;
            Ok::<_, String>(())
        };
        let (t, k) = tokio::join!(trig, kill);
        k?;
        check_eq!(
            counts(Fam::Pnfsd, &t?)?,
            (N as u64, 0, 0, 0, N as u64),
            "run"
        );
        let down = event(env, &listener, Fam::Pnfsd, pc::DAEMON_DOWN, |a| {
            a.u32(pa::PORT) == Some(port)
        })
        .await?;
        check_eq!(down.a().u32(pa::COUNT), Some(N), "daemon-down count");
        check_eq!(
            env.status(Fam::Pnfsd).await?.a().u32(pa::PORT),
            Some(0),
            "port after the daemon died"
        );
        check!(
            env.dump(Fam::Pnfsd, pc::UPCALL_DUMP).await?.is_empty(),
            "upcalls still pending"
        );
        Ok(())
    }
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    result
}

async fn upcall_concurrent(env: &mut Env) -> R {
    const COUNT: u32 = 2000;
    const DEPTH: usize = 64;
    let d = env.daemon(Fam::Pnfsd).await?;
    let before = env.kind_stats(Fam::Pnfsd, 1).await?;
    let trig = env.trigger(Fam::Pnfsd, |b| {
        b.put_u32(pa::UPCALL_KIND, 1)
            .put_u32(pa::COUNT, COUNT)
            .put_u32(pa::DEPTH, DEPTH as u32);
    });
    let serve = async {
        let mut outstanding: Vec<u32> = Vec::new();
        let mut answered = 0u32;
        let mut filled = false;
        while answered < COUNT {
            outstanding.push(d.upcall(WAIT).await?.xid);
            while let Some(u) = d.try_upcall()? {
                outstanding.push(u.xid);
            }
            let distinct: HashSet<u32> = outstanding.iter().copied().collect();
            check_eq!(
                distinct.len(),
                outstanding.len(),
                "xids in flight are distinct"
            );
            check!(
                outstanding.len() <= DEPTH,
                "{} upcalls in flight, depth is {DEPTH}",
                outstanding.len()
            );
            // First let the generator fill its window, proving depth upcalls fly at once.
            if !filled && outstanding.len() < DEPTH {
                continue;
            }
            filled = true;
            for x in outstanding.drain(..) {
                d.reply(x, 0, &[]).await?;
                answered += 1;
            }
        }
        Ok::<_, String>(())
    };
    let (t, s) = tokio::join!(trig, serve);
    s?;
    let c = COUNT as u64;
    check_eq!(counts(Fam::Pnfsd, &t?)?, (c, c, 0, 0, 0), "run");
    let after = env.kind_stats(Fam::Pnfsd, 1).await?;
    check_eq!(
        before.delta(&after).counts(),
        (c, c, 0, 0, 0),
        "cumulative delta"
    );
    Ok(())
}

async fn upcall_dump(env: &mut Env) -> R {
    for f in Fam::BOTH {
        let d = env.daemon(f).await?;
        let kind = 3;
        let (dump_cmd, xid_a, kind_a, age_a) = match f {
            Fam::Pnfsd => (pc::UPCALL_DUMP, pa::XID, pa::UPCALL_KIND, pa::AGE_US),
            Fam::Gfs2 => (gc::UPCALL_DUMP, ga::XID, ga::UPCALL_KIND, ga::AGE_US),
        };
        let trig = env.trigger(f, |b| {
            b.put_u32(upcall_kind_attr(f), kind)
                .put_u32(count_attr(f), 3)
                .put_u32(depth_attr(f), 3);
        });
        let serve = async {
            let mut xids = Vec::new();
            for _ in 0..3 {
                xids.push(d.upcall(WAIT).await?.xid);
            }
            xids.sort();
            let dump = env.dump(f, dump_cmd).await;
            for x in &xids {
                d.reply(*x, 0, &[]).await?;
            }
            let dump = dump?;
            let mut listed: Vec<u32> = dump.iter().filter_map(|m| m.a().u32(xid_a)).collect();
            listed.sort();
            check_eq!(listed, xids, "{} upcall-dump xids", f.name());
            for m in &dump {
                check_eq!(m.a().u32(kind_a), Some(kind), "upcall-dump upcall-kind");
                check!(
                    m.a().u64(age_a).is_some(),
                    "upcall-dump entry without age-us"
                );
            }
            Ok::<_, String>(())
        };
        let (t, s) = tokio::join!(trig, serve);
        s?;
        check_eq!(counts(f, &t?)?, (3, 3, 0, 0, 0), "{} run", f.name());
        check!(
            env.dump(f, dump_cmd).await?.is_empty(),
            "{} upcall-dump not empty after the replies",
            f.name()
        );
        d.unregister().await?;
    }
    Ok(())
}

async fn stats_per_kind(env: &mut Env) -> R {
    for (f, kinds) in [
        (Fam::Pnfsd, pnfsd::UpcallKind::ALL.len() as u32),
        (Fam::Gfs2, gfs2ctl::UpcallKind::ALL.len() as u32),
    ] {
        let (all, _) = env.stats(f).await?;
        let listed: Vec<u32> = all.iter().map(|k| k.kind).collect();
        check_eq!(
            listed,
            (1..=kinds).collect::<Vec<_>>(),
            "{} stats kinds",
            f.name()
        );
        let d = env.daemon(f).await?;
        let kind = 2;
        let before = env.kind_stats(f, kind).await?;
        // One answered with an error status, one with success.
        for status in [5u32, 0] {
            let (t, _) = env
                .trigger_one(
                    &d,
                    |b| {
                        b.put_u32(upcall_kind_attr(f), kind);
                    },
                    |_| Ok((status, vec![])),
                )
                .await?;
            let errors = (status != 0) as u64;
            check_eq!(
                counts(f, &t)?,
                (1, 1, errors, 0, 0),
                "{} run status {status}",
                f.name()
            );
        }
        let after = env.kind_stats(f, kind).await?;
        let delta = before.delta(&after);
        check_eq!(
            delta.counts(),
            (2, 2, 1, 0, 0),
            "{} cumulative delta",
            f.name()
        );
        check!(
            after.p50 > 0 && after.p50 <= after.p99 && after.p99 <= after.p999,
            "{} percentiles {after:?}",
            f.name()
        );
        d.unregister().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// pnfsd downcalls and dumps

fn ds_addr(b: &mut MsgBuilder<'_>, netid: &str, uaddr: &str) {
    let n = b.nest_begin(pa::DS_ADDR);
    b.put_str(pnfsd::ds_addr_attr::NETID, netid)
        .put_str(pnfsd::ds_addr_attr::UADDR, uaddr);
    b.nest_end(n);
}

/// (device-id, node-id, [(netid, uaddr)]) of every device.
async fn devices(env: &Env) -> Result<Vec<(Vec<u8>, Option<u32>, Vec<(String, String)>)>, String> {
    env.dump(Fam::Pnfsd, pc::DEVICE_GET)
        .await?
        .iter()
        .map(|m| {
            let a = m.view(pnfsd::ops::device_get::Reply::parse)?;
            let addrs = a
                .ds_addr()
                .map(|x| {
                    (
                        x.netid().unwrap_or("?").to_string(),
                        x.uaddr().unwrap_or("?").to_string(),
                    )
                })
                .collect();
            Ok((a.device_id().to_vec(), Some(a.node_id()), addrs))
        })
        .collect()
}

async fn device_set_get_del(env: &mut Env) -> R {
    let (d1, d2) = (devid(1), devid(2));
    env.req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
        b.put_bytes(pa::DEVICE_ID, &d1).put_u32(pa::NODE_ID, 3);
        ds_addr(b, "tcp", "10.0.0.1.8.1");
        ds_addr(b, "tcp6", "fd00::1.8.1");
    })
    .await?;
    let s = |x: &str| x.to_string();
    check_eq!(
        devices(env).await?,
        vec![(
            d1.to_vec(),
            Some(3),
            vec![(s("tcp"), s("10.0.0.1.8.1")), (s("tcp6"), s("fd00::1.8.1"))]
        )],
        "device-get after device-set"
    );
    env.req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
        b.put_bytes(pa::DEVICE_ID, &d1).put_u32(pa::NODE_ID, 4);
        ds_addr(b, "tcp", "10.0.0.4.8.1");
    })
    .await?;
    env.req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
        b.put_bytes(pa::DEVICE_ID, &d2).put_u32(pa::NODE_ID, 5);
    })
    .await?;
    let mut got = devices(env).await?;
    got.sort();
    check_eq!(
        got,
        vec![
            (d1.to_vec(), Some(4), vec![(s("tcp"), s("10.0.0.4.8.1"))]),
            (d2.to_vec(), Some(5), vec![])
        ],
        "device-get after replace and a second device"
    );
    env.req(Fam::Pnfsd, pc::DEVICE_DEL, |b| {
        b.put_bytes(pa::DEVICE_ID, &d1);
    })
    .await?;
    let r = env
        .req(Fam::Pnfsd, pc::DEVICE_DEL, |b| {
            b.put_bytes(pa::DEVICE_ID, &d1);
        })
        .await;
    let p = refused(r, &[libc::ENOENT], "device-del of a deleted device")?;
    with_extack(&p, "device-del ENOENT")?;
    check_eq!(
        devices(env)
            .await?
            .into_iter()
            .map(|d| d.0)
            .collect::<Vec<_>>(),
        vec![d2.to_vec()],
        "devices after delete"
    );
    Ok(())
}

async fn device_set_invalid(env: &mut Env) -> R {
    let r = env
        .req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
            b.put_bytes(pa::DEVICE_ID, &devid(9));
            let n = b.nest_begin(pa::DS_ADDR);
            b.put_str(pnfsd::ds_addr_attr::NETID, "tcp");
            b.nest_end(n);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "ds-addr without uaddr")?;
    with_extack(&p, "ds-addr without uaddr")?;
    let r = env
        .req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
            b.put_bytes(pa::DEVICE_ID, &devid(9));
            for i in 0..=pnfsd::MAX_DS_ADDRS {
                ds_addr(b, "tcp", &format!("10.0.0.{i}.8.1"));
            }
        })
        .await;
    let p = refused(r, &[libc::E2BIG], "more than max-ds-addrs ds-addr")?;
    with_extack(&p, "too many ds-addr")?;
    let r = env
        .req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
            ds_addr(b, "tcp", "10.0.0.1.8.1");
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "device-set without device-id")?;
    names_missing(
        &p,
        pa::DEVICE_ID,
        "device-id",
        "device-set without device-id",
    )?;
    let r = env
        .req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
            b.put_bytes(pa::DEVICE_ID, &[1; 15]);
        })
        .await;
    let p = refused(r, &[libc::EINVAL, libc::ERANGE], "device-id of 15 bytes")?;
    with_extack(&p, "device-id of 15 bytes")?;
    let r = env
        .req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
            b.put_bytes(pa::DEVICE_ID, &devid(9));
            ds_addr(b, "a-netid-too-long", "10.0.0.1.8.1");
        })
        .await;
    let p = refused(r, &[libc::EINVAL, libc::ERANGE], "netid longer than 8")?;
    with_extack(&p, "netid longer than 8")?;
    check!(
        devices(env).await?.is_empty(),
        "a refused device-set left a device"
    );
    let r = env
        .req(Fam::Pnfsd, pc::DEVICE_DEL, |b| {
            b.put_bytes(pa::DEVICE_ID, &devid(9));
        })
        .await;
    refused(r, &[libc::ENOENT], "device-del of an unknown device")?;
    Ok(())
}

async fn state_check(
    env: &Env,
    fsid: u64,
    fileid: u64,
    sid: &[u8; 16],
    cl: Option<u64>,
) -> Result<Msg, String> {
    env.req1(Fam::Pnfsd, pc::STATE_CHECK, |b| {
        b.put_u64(pa::FSID, fsid)
            .put_u64(pa::FILEID, fileid)
            .put_bytes(pa::STATEID, sid);
        if let Some(c) = cl {
            b.put_u64(pa::CLIENTID, c);
        }
    })
    .await
}

async fn state_set(
    env: &Env,
    fsid: u64,
    fileid: u64,
    sid: &[u8; 16],
    cl: u64,
    gen: Option<u32>,
) -> R {
    env.req(Fam::Pnfsd, pc::STATE_SET, |b| {
        b.put_u64(pa::FSID, fsid)
            .put_u64(pa::FILEID, fileid)
            .put_bytes(pa::STATEID, sid)
            .put_u64(pa::CLIENTID, cl)
            .put_u32(pa::ACCESS, pnfsd::access::READ);
        if let Some(g) = gen {
            b.put_u32(pa::GENERATION, g);
        }
    })
    .await?;
    Ok(())
}

async fn state_set_check(env: &mut Env) -> R {
    use pnfsd::Nfsstat as N;
    let _d = env
        .register_with(Fam::Pnfsd, |b| {
            b.put_u32(pa::VERSION, 1)
                .put_u32(pa::ROLE, 1)
                .put_u64(pa::BOOT_EPOCH, 4242);
        })
        .await?;
    state_set(env, 1, 2, &stateid(5, 0xa), 7, None).await?;
    let m = state_check(env, 1, 2, &stateid(5, 0xa), None).await?;
    let a = m.view(pnfsd::ops::state_check::Reply::parse)?;
    check_eq!(
        (
            a.status(),
            a.access(),
            a.generation(),
            a.clientid(),
            a.verifier(),
            a.boot_epoch()
        ),
        (
            N::Ok as u32,
            Some(1),
            Some(5),
            Some(7),
            Some(4242),
            Some(4242)
        ),
        "state-check of the installed stateid (status, access, gen, client, verifier, epoch)"
    );
    let status = |m: Msg| {
        m.view(pnfsd::ops::state_check::Reply::parse)
            .ok()
            .map(|r| r.status())
    };
    check_eq!(
        status(state_check(env, 1, 2, &stateid(4, 0xa), None).await?),
        Some(N::OldStateid as u32),
        "older seqid"
    );
    check_eq!(
        status(state_check(env, 1, 2, &stateid(6, 0xa), None).await?),
        Some(N::BadStateid as u32),
        "newer seqid"
    );
    check_eq!(
        status(state_check(env, 1, 2, &stateid(5, 0xb), None).await?),
        Some(N::BadStateid as u32),
        "unknown other"
    );
    check_eq!(
        status(state_check(env, 1, 3, &stateid(5, 0xa), None).await?),
        Some(N::BadStateid as u32),
        "other file"
    );
    check_eq!(
        status(state_check(env, 1, 2, &stateid(5, 0xa), Some(8)).await?),
        Some(N::BadStateid as u32),
        "other client"
    );
    check_eq!(
        status(state_check(env, 1, 2, &stateid(5, 0xa), Some(7)).await?),
        Some(N::Ok as u32),
        "matching client"
    );
    // An explicit generation overrides the stateid's seqid.
    state_set(env, 1, 4, &stateid(1, 0xc), 7, Some(9)).await?;
    check_eq!(
        status(state_check(env, 1, 4, &stateid(9, 0xc), None).await?),
        Some(N::Ok as u32),
        "seqid equal to the explicit generation"
    );
    check_eq!(
        status(state_check(env, 1, 4, &stateid(1, 0xc), None).await?),
        Some(N::OldStateid as u32),
        "seqid below the explicit generation"
    );
    let mut got: Vec<StateRow> = env
        .dump(Fam::Pnfsd, pc::STATE_GET)
        .await?
        .iter()
        .map(|m| {
            let a = m.view(pnfsd::ops::state_get::Reply::parse)?;
            Ok((
                Some(a.fsid()),
                Some(a.fileid()),
                Some(a.generation()),
                Some(a.clientid()),
            ))
        })
        .collect::<Result<_, String>>()?;
    got.sort();
    check_eq!(
        got,
        vec![
            (Some(1), Some(2), Some(5), Some(7)),
            (Some(1), Some(4), Some(9), Some(7))
        ],
        "state-get (fsid, fileid, generation, clientid)"
    );
    let r = env
        .req(Fam::Pnfsd, pc::STATE_SET, |b| {
            b.put_u64(pa::FSID, 1)
                .put_u64(pa::FILEID, 2)
                .put_bytes(pa::STATEID, &stateid(1, 1));
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "state-set without clientid")?;
    names_missing(&p, pa::CLIENTID, "clientid", "state-set without clientid")?;
    Ok(())
}

async fn state_revoke(env: &mut Env) -> R {
    let env: &Env = env;
    state_set(env, 1, 1, &stateid(1, 1), 7, None).await?;
    state_set(env, 1, 2, &stateid(1, 2), 7, None).await?;
    state_set(env, 1, 3, &stateid(1, 3), 8, None).await?;
    let revoke = |one: Option<(u64, u64, [u8; 16])>, cl: u64| {
        env.req1(Fam::Pnfsd, pc::STATE_REVOKE, move |b| {
            b.put_u64(pa::CLIENTID, cl);
            if let Some((f, i, s)) = one {
                b.put_u64(pa::FSID, f)
                    .put_u64(pa::FILEID, i)
                    .put_bytes(pa::STATEID, &s);
            }
        })
    };
    let m = revoke(Some((1, 1, stateid(1, 1))), 7).await?;
    let count = |m: Msg| {
        m.view(pnfsd::ops::state_revoke::Reply::parse)
            .map(|r| r.count())
    };
    check_eq!(count(m)?, 1, "revoke one stateid");
    let left = |v: Vec<Msg>| {
        let mut x: Vec<_> = v.iter().map(|m| m.a().u64(pa::FILEID)).collect();
        x.sort();
        x
    };
    check_eq!(
        left(env.dump(Fam::Pnfsd, pc::STATE_GET).await?),
        vec![Some(2), Some(3)],
        "files with state after revoking one"
    );
    let r = env
        .req(Fam::Pnfsd, pc::STATE_REVOKE, |b| {
            b.put_u64(pa::CLIENTID, 7).put_u64(pa::FSID, 1);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "state-revoke with fsid alone")?;
    with_extack(&p, "state-revoke with fsid alone")?;
    let m = revoke(None, 7).await?;
    check_eq!(count(m)?, 1, "revoke the rest of client 7");
    let m = revoke(None, 7).await?;
    check_eq!(count(m)?, 0, "revoke client 7 again");
    check_eq!(
        left(env.dump(Fam::Pnfsd, pc::STATE_GET).await?),
        vec![Some(3)],
        "files with state after revoking client 7"
    );
    let r = env.req(Fam::Pnfsd, pc::STATE_REVOKE, |_| {}).await;
    let p = refused(r, &[libc::EINVAL], "state-revoke without clientid")?;
    names_missing(
        &p,
        pa::CLIENTID,
        "clientid",
        "state-revoke without clientid",
    )?;
    Ok(())
}

async fn recall(env: &Env, build: impl FnOnce(&mut MsgBuilder<'_>)) -> Result<Option<u32>, String> {
    let m = env.req1(Fam::Pnfsd, pc::LAYOUT_RECALL, build).await?;
    Ok(Some(
        m.view(pnfsd::ops::layout_recall::Reply::parse)?.layouts(),
    ))
}

async fn layout_recall(env: &mut Env) -> R {
    use pnfsd::RecallType as T;
    let d = env.daemon(Fam::Pnfsd).await?;
    layout_get(env, &d, 1, 10, 1, 0xa).await?;
    layout_get(env, &d, 1, 10, 2, 0xa).await?;
    layout_get(env, &d, 2, 20, 3, 0xb).await?;
    layout_get(env, &d, 2, 20, 4, 0xb).await?;
    check_eq!(layouts(env).await?.len(), 4, "layouts");
    let n = recall(env, |b| {
        b.put_u32(pa::RECALL_TYPE, T::File as u32)
            .put_u64(pa::FSID, 10)
            .put_u64(pa::FILEID, 1);
    })
    .await?;
    check_eq!(n, Some(1), "recall by file");
    let n = recall(env, |b| {
        b.put_u32(pa::RECALL_TYPE, T::Fsid as u32)
            .put_u64(pa::FSID, 20)
            .put_u64(pa::CLIENTID, 99);
    })
    .await?;
    check_eq!(n, Some(0), "recall by fsid of another client");
    let n = recall(env, |b| {
        b.put_u32(pa::RECALL_TYPE, T::Device as u32)
            .put_bytes(pa::DEVICE_ID, &devid(0xb))
            .put_u64(pa::CLIENTID, 2);
    })
    .await?;
    check_eq!(n, Some(2), "recall by device for client 2");
    let n = recall(env, |b| {
        b.put_u32(pa::RECALL_TYPE, T::Fsid as u32)
            .put_u64(pa::FSID, 20);
    })
    .await?;
    check_eq!(n, Some(0), "recall by an emptied fsid");
    let left = layouts(env).await?;
    check_eq!(
        left.iter()
            .map(|m| m.a().u64(pa::FILEID))
            .collect::<Vec<_>>(),
        vec![Some(2)],
        "layouts before recall all"
    );
    let n = recall(env, |b| {
        b.put_u32(pa::RECALL_TYPE, T::All as u32);
    })
    .await?;
    check_eq!(n, Some(1), "recall all");
    check!(
        layouts(env).await?.is_empty(),
        "layouts left after recall all"
    );
    Ok(())
}

async fn layout_recall_missing(env: &mut Env) -> R {
    use pnfsd::RecallType as T;
    let cases: [(&str, Box<Build>); 3] = [
        (
            "file without fileid",
            Box::new(|b| {
                b.put_u32(pa::RECALL_TYPE, T::File as u32)
                    .put_u64(pa::FSID, 1);
            }),
        ),
        (
            "fsid without fsid",
            Box::new(|b| {
                b.put_u32(pa::RECALL_TYPE, T::Fsid as u32)
                    .put_u64(pa::FILEID, 1);
            }),
        ),
        (
            "device without device-id",
            Box::new(|b| {
                b.put_u32(pa::RECALL_TYPE, T::Device as u32);
            }),
        ),
    ];
    for (what, build) in cases {
        let r = env.req(Fam::Pnfsd, pc::LAYOUT_RECALL, |b| build(b)).await;
        let p = refused(r, &[libc::EINVAL], what)?;
        with_extack(&p, what)?;
    }
    let r = env
        .req(Fam::Pnfsd, pc::LAYOUT_RECALL, |b| {
            b.put_u64(pa::FSID, 1);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "recall without recall-type")?;
    names_missing(
        &p,
        pa::RECALL_TYPE,
        "recall-type",
        "recall without recall-type",
    )?;
    let r = env
        .req(Fam::Pnfsd, pc::LAYOUT_RECALL, |b| {
            b.put_u32(pa::RECALL_TYPE, 5);
        })
        .await;
    refused(r, &[libc::ERANGE], "recall-type 5")?;
    Ok(())
}

async fn grace(env: &mut Env) -> R {
    let env: &Env = env;
    use pnfsd::GraceAction as G;
    let set = |action: u32, epoch: Option<u64>| {
        env.req(Fam::Pnfsd, pc::GRACE, move |b| {
            b.put_u32(pa::GRACE_ACTION, action);
            if let Some(e) = epoch {
                b.put_u64(pa::GRACE_EPOCH, e);
            }
        })
    };
    let state = || async {
        let s = env.status(Fam::Pnfsd).await?;
        Ok::<_, String>((s.a().u8(pa::IN_GRACE), s.a().u64(pa::GRACE_EPOCH)))
    };
    set(G::Start as u32, Some(42)).await?;
    check_eq!(
        state().await?,
        (Some(1), Some(42)),
        "status after grace start 42"
    );
    set(G::End as u32, None).await?;
    check_eq!(
        state().await?,
        (Some(0), Some(42)),
        "status after grace end"
    );
    set(G::Start as u32, Some(43)).await?;
    check_eq!(
        state().await?,
        (Some(1), Some(43)),
        "status after grace start 43"
    );
    set(G::End as u32, Some(44)).await?;
    check_eq!(
        state().await?,
        (Some(0), Some(44)),
        "status after grace end 44"
    );
    let r = env
        .req(Fam::Pnfsd, pc::GRACE, |b| {
            b.put_u64(pa::GRACE_EPOCH, 1);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "grace without grace-action")?;
    names_missing(&p, pa::GRACE_ACTION, "grace-action", "grace without action")?;
    let r = set(3, None).await;
    refused(r, &[libc::ERANGE], "grace-action 3")?;
    check_eq!(
        state().await?,
        (Some(0), Some(44)),
        "status after refused grace"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// gfs2ctl downcalls

async fn gfs2_block_recover(env: &mut Env) -> R {
    let d = env.daemon(Fam::Gfs2).await?;
    let env: &Env = env;
    let table = "conf:block";
    gfs2_mount(env, &d, table, 1, 0).await?;
    let on = |cmd: u8, t: &'static str| {
        env.req(Fam::Gfs2, cmd, move |b| {
            b.put_str(ga::TABLE, t);
        })
    };
    on(gc::BLOCK, table).await?;
    let m = mount_of(env, table).await?.ok_or("mount gone")?;
    check_eq!(m.a().u8(ga::BLOCKED), Some(1), "blocked after block");
    on(gc::UNBLOCK, table).await?;
    let m = mount_of(env, table).await?.ok_or("mount gone")?;
    check_eq!(m.a().u8(ga::BLOCKED), Some(0), "blocked after unblock");
    env.req(Fam::Gfs2, gc::RECOVER, |b| {
        b.put_str(ga::TABLE, table).put_u32(ga::JID, 4);
    })
    .await?;
    let m = mount_of(env, table).await?.ok_or("mount gone")?;
    check_eq!(
        m.a().u32(ga::RECOVER_JID),
        Some(4),
        "recover-jid after recover"
    );
    for cmd in [gc::BLOCK, gc::UNBLOCK] {
        let p = refused(
            on(cmd, "conf:nosuch").await,
            &[libc::ENOENT],
            "unknown table",
        )?;
        with_extack(&p, "unknown table")?;
    }
    let r = env
        .req(Fam::Gfs2, gc::RECOVER, |b| {
            b.put_str(ga::TABLE, "conf:nosuch").put_u32(ga::JID, 1);
        })
        .await;
    refused(r, &[libc::ENOENT], "recover of an unknown table")?;
    let r = env.req(Fam::Gfs2, gc::BLOCK, |_| {}).await;
    let p = refused(r, &[libc::EINVAL], "block without table")?;
    names_missing(&p, ga::TABLE, "table", "block without table")?;
    let r = env
        .req(Fam::Gfs2, gc::RECOVER, |b| {
            b.put_str(ga::TABLE, table);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "recover without jid")?;
    names_missing(&p, ga::JID, "jid", "recover without jid")?;
    gfs2_upcall(
        env,
        &d,
        gfs2ctl::UpcallKind::Unmount,
        table,
        |_| {},
        |_| Ok(()),
    )
    .await?;
    Ok(())
}

async fn gfs2_members(env: &mut Env) -> R {
    for list in [vec![1u32, 2, 3], vec![5], vec![]] {
        env.req(Fam::Gfs2, gc::MEMBERS, |b| {
            for m in &list {
                b.put_u32(ga::MEMBER, *m);
            }
        })
        .await?;
        let s = env.status(Fam::Gfs2).await?;
        let got: Vec<u32> = s
            .view(gfs2ctl::ops::status_get::Reply::parse)?
            .member()
            .collect();
        check_eq!(got, list, "status-get members");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Events

async fn events_pnfsd(env: &mut Env) -> R {
    let f = Fam::Pnfsd;
    let l = env.listen(f)?;
    let d = env.daemon(f).await?;
    let port = d.port();
    let up = event(env, &l, f, pc::DAEMON_UP, |a| a.u32(pa::PORT) == Some(port)).await?;
    let up = up.view(pnfsd::ops::daemon_up::Event::parse)?;
    check_eq!(
        (up.node_id(), up.role(), up.version()),
        (Some(1), Some(1), Some(1)),
        "daemon-up (node-id, role, version)"
    );
    env.req(f, pc::DEVICE_SET, |b| {
        b.put_bytes(pa::DEVICE_ID, &devid(0xe))
            .put_u32(pa::NODE_ID, 4);
        ds_addr(b, "tcp", "10.0.0.14.8.1");
    })
    .await?;
    let m = event(env, &l, f, pc::DEVICE_CHANGED, |a| {
        a.get(pa::DEVICE_ID) == Some(&devid(0xe)[..])
    })
    .await?;
    let ev = m.view(pnfsd::ops::device_changed::Event::parse)?;
    check_eq!(
        (ev.node_id(), ev.ds_addr().count()),
        (Some(4), 1),
        "device-changed on set (node-id, ds-addr count)"
    );
    env.req(f, pc::DEVICE_DEL, |b| {
        b.put_bytes(pa::DEVICE_ID, &devid(0xe));
    })
    .await?;
    let m = event(env, &l, f, pc::DEVICE_CHANGED, |a| {
        a.get(pa::DEVICE_ID) == Some(&devid(0xe)[..])
    })
    .await?;
    let ev = m.view(pnfsd::ops::device_changed::Event::parse)?;
    check!(
        ev.node_id().is_none() && ev.ds_addr().next().is_none(),
        "device-changed on delete carries more than device-id"
    );
    layout_get(env, &d, 5, 50, 500, 0xe).await?;
    env.req(f, pc::LAYOUT_RECALL, |b| {
        b.put_u32(pa::RECALL_TYPE, pnfsd::RecallType::Fsid as u32)
            .put_u64(pa::FSID, 50);
    })
    .await?;
    let m = event(env, &l, f, pc::LAYOUT_RECALLED, |_| true).await?;
    let ev = m.view(pnfsd::ops::layout_recalled::Event::parse)?;
    check_eq!(
        (ev.recall_type(), ev.fsid(), ev.layouts()),
        (Some(2), Some(50), Some(1)),
        "layout-recalled (type, fsid, layouts)"
    );
    env.req(f, pc::GRACE, |b| {
        b.put_u32(pa::GRACE_ACTION, 1).put_u64(pa::GRACE_EPOCH, 77);
    })
    .await?;
    let m = event(env, &l, f, pc::GRACE_CHANGED, |_| true).await?;
    let ev = m.view(pnfsd::ops::grace_changed::Event::parse)?;
    check_eq!(
        (ev.grace_action(), ev.grace_epoch()),
        (Some(1), Some(77)),
        "grace-changed"
    );
    env.req(f, pc::GRACE, |b| {
        b.put_u32(pa::GRACE_ACTION, 2);
    })
    .await?;
    let m = event(env, &l, f, pc::GRACE_CHANGED, |_| true).await?;
    check_eq!(
        m.view(pnfsd::ops::grace_changed::Event::parse)?
            .grace_action(),
        Some(2),
        "grace-changed on end"
    );
    state_set(env, 6, 60, &stateid(1, 6), 66, None).await?;
    env.req(f, pc::STATE_REVOKE, |b| {
        b.put_u64(pa::CLIENTID, 66);
    })
    .await?;
    let m = event(env, &l, f, pc::STATE_REVOKED, |_| true).await?;
    let ev = m.view(pnfsd::ops::state_revoked::Event::parse)?;
    check_eq!(
        (ev.clientid(), ev.count()),
        (Some(66), Some(1)),
        "state-revoked (clientid, count)"
    );
    d.unregister().await?;
    let m = event(env, &l, f, pc::DAEMON_DOWN, |a| {
        a.u32(pa::PORT) == Some(port)
    })
    .await?;
    let ev = m.view(pnfsd::ops::daemon_down::Event::parse)?;
    check_eq!(
        (ev.node_id(), ev.count()),
        (Some(1), Some(0)),
        "daemon-down (node-id, count)"
    );
    Ok(())
}

async fn events_gfs2(env: &mut Env) -> R {
    let f = Fam::Gfs2;
    let l = env.listen(f)?;
    let d = env.daemon(f).await?;
    let port = d.port();
    let up = event(env, &l, f, gc::DAEMON_UP, |a| a.u32(ga::PORT) == Some(port)).await?;
    let up = up.view(gfs2ctl::ops::daemon_up::Event::parse)?;
    check_eq!(
        (up.node_id(), up.version()),
        (Some(1), Some(1)),
        "daemon-up (node-id, version)"
    );
    let table = "conf:events";
    gfs2_mount(env, &d, table, 6, 1).await?;
    let m = event(env, &l, f, gc::MOUNT_CHANGED, |a| {
        a.str(ga::TABLE) == Some(table)
    })
    .await?;
    let ev = m.view(gfs2ctl::ops::mount_changed::Event::parse)?;
    check_eq!(
        (ev.jid(), ev.first()),
        (Some(6), Some(1)),
        "mount-changed on mount (jid, first)"
    );
    env.req(f, gc::BLOCK, |b| {
        b.put_str(ga::TABLE, table);
    })
    .await?;
    let m = event(env, &l, f, gc::MOUNT_CHANGED, |a| {
        a.str(ga::TABLE) == Some(table)
    })
    .await?;
    check_eq!(
        m.view(gfs2ctl::ops::mount_changed::Event::parse)?.blocked(),
        Some(1),
        "mount-changed on block"
    );
    env.req(f, gc::RECOVER, |b| {
        b.put_str(ga::TABLE, table).put_u32(ga::JID, 2);
    })
    .await?;
    let m = event(env, &l, f, gc::RECOVERY, |a| {
        a.str(ga::TABLE) == Some(table)
    })
    .await?;
    check_eq!(
        m.view(gfs2ctl::ops::recovery::Event::parse)?.jid(),
        Some(2),
        "recovery on recover (jid)"
    );
    gfs2_upcall(
        env,
        &d,
        gfs2ctl::UpcallKind::RecoveryDone,
        table,
        |b| {
            b.put_u32(ga::JID, 2).put_u32(ga::RECOVERY_STATUS, 2);
        },
        |_| Ok(()),
    )
    .await?;
    let m = event(env, &l, f, gc::RECOVERY, |a| {
        a.str(ga::TABLE) == Some(table)
    })
    .await?;
    let ev = m.view(gfs2ctl::ops::recovery::Event::parse)?;
    check_eq!(
        (ev.jid(), ev.recovery_status()),
        (Some(2), Some(2)),
        "recovery on recovery-done (jid, recovery-status)"
    );
    gfs2_upcall(
        env,
        &d,
        gfs2ctl::UpcallKind::Withdraw,
        table,
        |b| {
            b.put_u32(ga::JID, 6);
        },
        |_| Ok(()),
    )
    .await?;
    let m = event(env, &l, f, gc::MOUNT_CHANGED, |a| {
        a.str(ga::TABLE) == Some(table)
    })
    .await?;
    check_eq!(
        m.view(gfs2ctl::ops::mount_changed::Event::parse)?
            .withdrawn(),
        Some(1),
        "mount-changed on withdraw"
    );
    gfs2_upcall(
        env,
        &d,
        gfs2ctl::UpcallKind::Unmount,
        table,
        |_| {},
        |_| Ok(()),
    )
    .await?;
    event(env, &l, f, gc::MOUNT_CHANGED, |a| {
        a.str(ga::TABLE) == Some(table)
    })
    .await?;
    d.unregister().await?;
    let m = event(env, &l, f, gc::DAEMON_DOWN, |a| {
        a.u32(ga::PORT) == Some(port)
    })
    .await?;
    check_eq!(
        m.view(gfs2ctl::ops::daemon_down::Event::parse)?.count(),
        Some(0),
        "daemon-down count"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Privilege

async fn unprivileged(env: &mut Env) -> R {
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "{SKIPPED}: needs root to run a sender as uid 65534 (this runs as uid {})",
            // SAFETY: plain syscall.
            unsafe { libc::geteuid() }
        ));
    }
    let Some(exe) = env.exe.clone() else {
        return Err(format!("{SKIPPED}: the suite binary's path is unknown"));
    };
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(exe)
            .args([
                "unpriv",
                "--proto",
                env.target.proto_name(),
                "--peer",
                &env.target.peer.to_string(),
                "--uid",
                "65534",
                "--op",
                "all",
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "unpriv did not finish in 120 s".to_string())?
    .map_err(|e| format!("spawn unpriv: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    check!(
        out.status.success(),
        "unpriv failed ({}): {}{}",
        out.status,
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    check_eq!(
        lines.next(),
        Some("uid 65534 capabilities none"),
        "unpriv's first line"
    );
    let got: Vec<(String, i32)> = lines
        .filter_map(|l| {
            let mut w = l.strip_prefix("op ")?.split(' ');
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect();
    let want: Vec<(String, i32)> = crate::sub::request_ops()
        .into_iter()
        .map(|(f, name, _, admin, _)| {
            (
                format!("{}:{name}", f.name()),
                if admin { libc::EPERM } else { 0 },
            )
        })
        .collect();
    let wrong: Vec<String> = want
        .iter()
        .filter(|w| !got.contains(w))
        .map(|(op, e)| {
            let g = got.iter().find(|g| &g.0 == op).map(|g| g.1);
            format!("{op}: errno {g:?}, want {e}")
        })
        .collect();
    check!(
        wrong.is_empty(),
        "unprivileged sender: {}",
        wrong.join("; ")
    );
    for f in Fam::BOTH {
        let port = env.status(f).await?.a().u32(f.port_attr());
        check_eq!(
            port,
            Some(0),
            "{} daemon after the unprivileged REGISTER",
            f.name()
        );
    }
    check!(
        devices(env).await?.is_empty(),
        "unprivileged device-set took effect"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Malformed input

/// Offset of the first attribute from the start of the netlink message.
const ATTRS_AT: u32 = 20;

async fn malformed_short_fixed(env: &mut Env) -> R {
    let r = env
        .register_with(Fam::Pnfsd, |b| {
            b.put_u16(pa::VERSION, 1);
        })
        .await
        .map(|(_, m)| m);
    let p = refused(r, &[libc::EINVAL, libc::ERANGE], "2-byte u32 version")?;
    with_extack(&p, "2-byte u32 version")?;
    check_eq!(
        p.offset,
        Some(ATTRS_AT),
        "extack offset of the bad attribute"
    );
    let r = env
        .req(Fam::Pnfsd, pc::CONFIG_SET, |b| {
            b.put_u8(pa::TIMEOUT_MS, 1);
        })
        .await;
    let p = refused(r, &[libc::EINVAL, libc::ERANGE], "1-byte u32 timeout-ms")?;
    with_extack(&p, "1-byte u32 timeout-ms")?;
    Ok(())
}

async fn malformed_stateid(env: &mut Env) -> R {
    let r = env
        .req(Fam::Pnfsd, pc::STATE_SET, |b| {
            b.put_u64(pa::FSID, 1)
                .put_u64(pa::FILEID, 2)
                .put_bytes(pa::STATEID, &[1; 15])
                .put_u64(pa::CLIENTID, 3);
        })
        .await;
    let p = refused(r, &[libc::EINVAL, libc::ERANGE], "stateid of 15 bytes")?;
    with_extack(&p, "stateid of 15 bytes")?;
    check_eq!(
        p.offset,
        Some(ATTRS_AT + 24),
        "extack offset of the stateid"
    );
    let r = env
        .req(Fam::Pnfsd, pc::STATE_CHECK, |b| {
            b.put_u64(pa::FSID, 1)
                .put_u64(pa::FILEID, 2)
                .put_bytes(pa::STATEID, &[1; 17]);
        })
        .await;
    refused(r, &[libc::EINVAL, libc::ERANGE], "stateid of 17 bytes")?;
    check!(
        env.dump(Fam::Pnfsd, pc::STATE_GET).await?.is_empty(),
        "a refused state-set installed state"
    );
    Ok(())
}

async fn malformed_string(env: &mut Env) -> R {
    let r = env
        .req(Fam::Gfs2, gc::BLOCK, |b| {
            b.put_bytes(ga::TABLE, b"conf:nonul");
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "table without NUL")?;
    with_extack(&p, "table without NUL")?;
    check_eq!(p.offset, Some(ATTRS_AT), "extack offset of the table");
    let long = "x".repeat(gfs2ctl::TABLE_MAX as usize + 1);
    let r = env
        .req(Fam::Gfs2, gc::BLOCK, |b| {
            b.put_str(ga::TABLE, &long);
        })
        .await;
    let p = refused(
        r,
        &[libc::EINVAL, libc::ERANGE],
        "table longer than table-max",
    )?;
    with_extack(&p, "table longer than table-max")?;
    Ok(())
}

async fn malformed_range(env: &mut Env) -> R {
    let r = env
        .register_with(Fam::Pnfsd, |b| {
            b.put_u32(pa::VERSION, 1).put_u32(pa::ROLE, 3);
        })
        .await
        .map(|(_, m)| m);
    let p = refused(r, &[libc::ERANGE], "role 3")?;
    with_extack(&p, "role 3")?;
    check_eq!(p.offset, Some(ATTRS_AT + 8), "extack offset of the role");
    let r = env
        .trigger(Fam::Pnfsd, |b| {
            b.put_u32(pa::UPCALL_KIND, 7);
        })
        .await;
    refused(r, &[libc::ERANGE], "upcall-kind 7")?;
    let r = env
        .trigger(Fam::Gfs2, |b| {
            b.put_u32(ga::UPCALL_KIND, 1).put_u32(ga::DEPTH, 0);
        })
        .await;
    refused(r, &[libc::ERANGE], "depth 0")?;
    let r = env
        .req(Fam::Pnfsd, pc::CONFIG_SET, |b| {
            b.put_u32(pa::TIMEOUT_MS, 600_001);
        })
        .await;
    refused(r, &[libc::ERANGE], "timeout-ms 600001")?;
    Ok(())
}

async fn malformed_missing(env: &mut Env) -> R {
    let r = env
        .req(Fam::Pnfsd, pc::STATE_SET, |b| {
            b.put_u64(pa::FSID, 1)
                .put_bytes(pa::STATEID, &stateid(1, 1))
                .put_u64(pa::CLIENTID, 3);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "state-set without fileid")?;
    names_missing(&p, pa::FILEID, "fileid", "state-set without fileid")?;
    let d = env.daemon(Fam::Pnfsd).await?;
    let r = d
        .conn
        .request(d.id, pc::REPLY, |b| {
            b.put_u32(pa::STATUS, 0);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "REPLY without xid")?;
    names_missing(&p, pa::XID, "xid", "REPLY without xid")?;
    let r = env.trigger(Fam::Gfs2, |_| {}).await;
    let p = refused(r, &[libc::EINVAL], "trigger without upcall-kind")?;
    names_missing(
        &p,
        ga::UPCALL_KIND,
        "upcall-kind",
        "trigger without upcall-kind",
    )?;
    let r = env.req(Fam::Pnfsd, pc::CONFIG_SET, |_| {}).await;
    let p = refused(r, &[libc::EINVAL], "config-set without timeout-ms")?;
    names_missing(
        &p,
        pa::TIMEOUT_MS,
        "timeout-ms",
        "config-set without timeout-ms",
    )?;
    Ok(())
}

async fn malformed_unknown_cmd(env: &mut Env) -> R {
    for f in Fam::BOTH {
        for cmd in [0u8, 200] {
            let r = env.req(f, cmd, |_| {}).await;
            refused(
                r,
                &[libc::EOPNOTSUPP],
                &format!("{} command {cmd}", f.name()),
            )?;
        }
    }
    Ok(())
}

async fn malformed_upcall_to_kernel(env: &mut Env) -> R {
    let sent = [
        (Fam::Pnfsd, pc::GET_STATE),
        (Fam::Pnfsd, pc::STATE_CHANGED),
        (Fam::Pnfsd, pc::DAEMON_UP),
        (Fam::Gfs2, gc::MOUNT),
        (Fam::Gfs2, gc::RECOVERY_DONE),
        (Fam::Gfs2, gc::MOUNT_CHANGED),
    ];
    for (f, cmd) in sent {
        let r = env
            .req(f, cmd, |b| {
                b.put_u32(1, 1);
            })
            .await;
        refused(
            r,
            &[libc::EOPNOTSUPP],
            &format!("{} cmd {cmd} sent to the kernel half", f.name()),
        )?;
    }
    Ok(())
}

/// One attribute, encoded by hand (type taken as is, flags included), padded to 4.
fn raw_nla(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut v = Vec::with_capacity(len + 3);
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(payload);
    v.resize((len + 3) & !3, 0);
    v
}

/// `depth` nested attributes of type 3, each holding the next.
fn nest_bomb(depth: usize) -> Vec<u8> {
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..depth {
        let mut v = Vec::with_capacity(inner.len() + 4);
        v.extend_from_slice(&((inner.len() + 4) as u16).to_ne_bytes());
        v.extend_from_slice(&(3u16 | NLA_F_NESTED).to_ne_bytes());
        v.extend_from_slice(&inner);
        inner = v;
    }
    inner
}

async fn malformed_depth_bomb(env: &mut Env) -> R {
    let r = env
        .req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
            b.put_bytes(pa::DEVICE_ID, &devid(0xbb));
            let n = b.nest_begin(pa::DS_ADDR);
            b.put_raw_attrs(&nest_bomb(200));
            b.nest_end(n);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "ds-addr holding a 200-deep nest")?;
    with_extack(&p, "nest depth bomb")?;
    check!(devices(env).await?.is_empty(), "the bomb created a device");
    env.status(Fam::Pnfsd).await?;
    Ok(())
}

async fn malformed_truncated(env: &mut Env) -> R {
    for f in Fam::BOTH {
        let seq = env.admin.next_seq();
        let mut buf = Vec::with_capacity(20);
        buf.extend_from_slice(&18u32.to_ne_bytes());
        buf.extend_from_slice(&env.id(f).to_ne_bytes());
        buf.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&env.admin.port().to_ne_bytes());
        buf.extend_from_slice(&[pc::STATUS_GET, 1, 0, 0]);
        env.admin.send_raw(&buf).await?;
        let r = env.admin.answer(seq, None, WAIT).await;
        refused(r, &[libc::EINVAL], "genl header of 2 bytes")?;
        env.status(f).await?;
    }
    Ok(())
}

/// Strict validation (the kernel's default for new genetlink commands): an attribute id
/// the family does not define is refused with "Unknown attribute type" and its offset, and
/// nothing of the request takes effect. A newer daemon learns what the kernel half
/// understands from REGISTER's version, not by sending attributes on spec.
async fn unknown_attribute(env: &mut Env) -> R {
    const UNKNOWN: u16 = 0x7ff;
    let unknown_type = |p: &PeerError, what: &str| -> R {
        check_eq!(
            p.message.as_deref(),
            Some("Unknown attribute type"),
            "{what}: extack"
        );
        check!(p.offset.is_some(), "{what}: no extack offset");
        Ok(())
    };
    let r = env
        .req(Fam::Pnfsd, pc::STATUS_GET, |b| {
            b.put_u32(UNKNOWN, 1);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "status-get with an unknown attribute")?;
    unknown_type(&p, "status-get with an unknown attribute")?;
    let before = env.status(Fam::Pnfsd).await?.a().u32(pa::TIMEOUT_MS);
    let r = env
        .req(Fam::Pnfsd, pc::CONFIG_SET, |b| {
            b.put_u32(pa::TIMEOUT_MS, 4321).put_u64(UNKNOWN, 1);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "config-set with an unknown attribute")?;
    unknown_type(&p, "config-set with an unknown attribute")?;
    check_eq!(
        env.status(Fam::Pnfsd).await?.a().u32(pa::TIMEOUT_MS),
        before,
        "a refused config-set changed the timeout"
    );
    let r = env
        .register_with(Fam::Gfs2, |b| {
            b.put_str(UNKNOWN, "future").put_u32(ga::VERSION, 1);
        })
        .await
        .map(|(_, m)| m);
    let p = refused(r, &[libc::EINVAL], "REGISTER with an unknown attribute")?;
    unknown_type(&p, "REGISTER with an unknown attribute")?;
    check_eq!(
        env.status(Fam::Gfs2).await?.a().u32(ga::PORT),
        Some(0),
        "gfs2ctl registered after a refused REGISTER"
    );
    Ok(())
}

/// Strict validation of the nested flag: a nest without NLA_F_NESTED, or the flag on a
/// plain attribute, is refused with the kernel's extack message.
async fn nested_flag(env: &mut Env) -> R {
    let r = env
        .req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
            b.put_bytes(pa::DEVICE_ID, &devid(0xcc));
            let mut inner = raw_nla(1, b"tcp\0");
            inner.extend_from_slice(&raw_nla(2, b"10.0.0.1.8.1\0"));
            b.put_raw_attrs(&raw_nla(pa::DS_ADDR, &inner));
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "ds-addr without NLA_F_NESTED")?;
    check_eq!(
        p.message.as_deref(),
        Some("NLA_F_NESTED is missing"),
        "ds-addr without NLA_F_NESTED: extack"
    );
    check!(
        devices(env).await?.is_empty(),
        "a refused device-set left a device"
    );
    let r = env
        .req(Fam::Pnfsd, pc::CONFIG_SET, |b| {
            b.put_u32(pa::TIMEOUT_MS | NLA_F_NESTED, 4000);
        })
        .await;
    let p = refused(r, &[libc::EINVAL], "timeout-ms with NLA_F_NESTED")?;
    check_eq!(
        p.message.as_deref(),
        Some("NLA_F_NESTED not expected"),
        "timeout-ms with NLA_F_NESTED: extack"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Answers: whom they are addressed to, what an error echoes, a reader that does not read

/// Send one request from `c` with `flags` and a bogus nlmsg_pid (the kernel ignores it),
/// from a blocking thread (the module runs TRIGGER inside sendmsg); every message
/// answering it, the ACK, error or NLMSG_DONE included.
async fn ask_raw(
    c: &Conn,
    family: u16,
    cmd: u8,
    flags: u16,
    build: impl FnOnce(&mut MsgBuilder<'_>),
) -> Result<(Vec<u8>, u32), String> {
    let (mut buf, seq) = c.encode(family, cmd, flags, build);
    buf[12..16].copy_from_slice(&0x0bad_f00du32.to_ne_bytes());
    c.send_raw_detached(buf.clone()).await?;
    Ok((buf, seq))
}

/// Every message in `msgs` (answering `what`) carries `port` in nlmsg_pid, and the last
/// is of type `last`.
fn addressed_to(port: u32, msgs: &[Msg], last: u16, what: &str) -> R {
    check!(!msgs.is_empty(), "{what}: no answer");
    for m in msgs {
        check_eq!(
            m.pid,
            port,
            "{what}: nlmsg_pid of a message of type {:#x} (the requester's port is {port:#x})",
            m.kind
        );
    }
    check_eq!(
        msgs.last().map(|m| m.kind),
        Some(last),
        "{what}: last message type"
    );
    Ok(())
}

/// Everything the kernel half sends a requester — a do reply, the ACK, an error, dump
/// parts and NLMSG_DONE, nlctrl's answers, a TRIGGER's deferred answer — carries the
/// requester's port in nlmsg_pid, whatever the request's nlmsg_pid said: the kernel puts
/// NETLINK_CB(skb).portid there, and libmnl's mnl_cb_run(..., portid) refuses anything
/// else with ESRCH. The twin of f506fb8 put its own port (0x504e4653) in every ACK,
/// error and NLMSG_DONE and copied the request's nlmsg_pid into its replies: this failed
/// there on status-get's reply.
async fn answers_carry_the_requesters_port(env: &mut Env) -> R {
    let c = env.conn()?;
    let port = c.port();
    let id = env.id(Fam::Pnfsd);
    let (_, seq) = ask_raw(&c, id, pc::STATUS_GET, 0, |_| {}).await?;
    addressed_to(
        port,
        &c.raw_answer(seq, WAIT).await?,
        NLMSG_ERROR,
        "status-get",
    )?;
    let (_, seq) = ask_raw(&c, id, pc::CONFIG_SET, 0, |b| {
        b.put_u8(pa::TIMEOUT_MS, 1);
    })
    .await?;
    addressed_to(
        port,
        &c.raw_answer(seq, WAIT).await?,
        NLMSG_ERROR,
        "refused config-set",
    )?;
    env.req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
        b.put_bytes(pa::DEVICE_ID, &devid(1));
    })
    .await?;
    let (_, seq) = ask_raw(&c, id, pc::DEVICE_GET, NLM_F_DUMP, |_| {}).await?;
    let dump = c.raw_answer(seq, WAIT).await?;
    check_eq!(dump.len(), 2, "device-get dump of one device: messages");
    addressed_to(port, &dump, NLMSG_DONE, "device-get dump")?;
    let (_, seq) = ask_raw(&c, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, |b| {
        b.put_str(CTRL_ATTR_FAMILY_NAME, pnfsd::FAMILY_NAME);
    })
    .await?;
    addressed_to(
        port,
        &c.raw_answer(seq, WAIT).await?,
        NLMSG_ERROR,
        "nlctrl getfamily",
    )?;
    let (_, seq) = ask_raw(&c, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_DUMP, |_| {}).await?;
    addressed_to(
        port,
        &c.raw_answer(seq, WAIT).await?,
        NLMSG_DONE,
        "nlctrl dump",
    )?;
    let d = env.daemon(Fam::Pnfsd).await?;
    let trig = ask_raw(&c, id, pc::TRIGGER, 0, |b| {
        b.put_u32(pa::UPCALL_KIND, 1);
    });
    let serve = async {
        let up = d.upcall(WAIT).await?;
        d.reply(up.xid, 0, &[])
            .await
            .map_err(|e| format!("REPLY: {e}"))
    };
    let (t, s) = tokio::join!(trig, serve);
    s?;
    let (_, seq) = t?;
    let answer = c.raw_answer(seq, WAIT).await?;
    check_eq!(answer.len(), 2, "trigger answer: reply and ACK");
    addressed_to(port, &answer, NLMSG_ERROR, "trigger")
}

/// A refused request is echoed whole in its NLMSG_ERROR to a socket that did not set
/// NETLINK_CAP_ACK (the kernel's default, and what the twin always does: USERSOCK does
/// not show it its requesters' socket options): no NLM_F_CAPPED, the request's bytes
/// after the errno, then the extack TLVs (NLM_F_ACK_TLVS), which the project's parsers
/// (this suite's, `Client`'s) find after the echo. An ACK echoes the header only and is
/// flagged NLM_F_CAPPED, as the kernel's netlink_ack() does. The twin of f506fb8 capped
/// every error: this failed there on NLM_F_CAPPED.
async fn error_echoes_the_request(env: &mut Env) -> R {
    let c = Conn::open_uncapped(&env.target, 0)?;
    let id = env.id(Fam::Pnfsd);
    let (req, seq) = ask_raw(&c, id, pc::CONFIG_SET, 0, |b| {
        b.put_u8(pa::TIMEOUT_MS, 1);
    })
    .await?;
    let msgs = c.raw_answer(seq, WAIT).await?;
    check_eq!(msgs.len(), 1, "messages answering a refused config-set");
    let e = &msgs[0];
    check_eq!(e.kind, NLMSG_ERROR, "answer type");
    check!(
        e.flags & NLM_F_CAPPED == 0,
        "NLM_F_CAPPED on an error to a socket without NETLINK_CAP_ACK (flags {:#x})",
        e.flags
    );
    check!(
        e.flags & NLM_F_ACK_TLVS != 0,
        "no NLM_F_ACK_TLVS on an error with extack (flags {:#x})",
        e.flags
    );
    check!(
        e.attrs.get(4..4 + req.len()) == Some(&req[..]),
        "the error does not echo the {}-byte request after its errno ({} bytes follow it)",
        req.len(),
        e.attrs.len().saturating_sub(4)
    );
    let p = parse_error(e)?.ok_or("the error parsed as an ACK")?;
    check!(
        p.errno == libc::EINVAL || p.errno == libc::ERANGE,
        "errno {}, want EINVAL or ERANGE",
        p.errno
    );
    with_extack(&p, "refused config-set, echoed whole")?;
    check_eq!(p.offset, Some(ATTRS_AT), "extack offset after the echo");
    // The project's client (its socket sets NETLINK_CAP_ACK: the module caps, the twin
    // cannot know and echoes).
    let mut cl = Client::open(env.target.proto, env.target.peer).map_err(|e| e.to_string())?;
    let r = cl
        .request(
            id,
            pc::CONFIG_SET,
            1,
            false,
            |b| {
                b.put_u8(pa::TIMEOUT_MS, 1);
            },
            |_| Ok(()),
        )
        .await;
    match r {
        Err(NlError::Peer(p)) => {
            with_extack(&p, "Client: refused config-set")?;
            check_eq!(p.offset, Some(ATTRS_AT), "Client: extack offset");
        }
        other => return Err(format!("Client: refused config-set gave {other:?}")),
    }
    let (ok, seq) = ask_raw(&c, id, pc::STATUS_GET, 0, |_| {}).await?;
    let msgs = c.raw_answer(seq, WAIT).await?;
    let ack = msgs.last().ok_or("status-get: no answer")?;
    check_eq!(ack.kind, NLMSG_ERROR, "status-get: last message type");
    check!(parse_error(ack)?.is_none(), "status-get was refused");
    check!(
        ack.flags & NLM_F_CAPPED != 0,
        "an ACK without NLM_F_CAPPED (flags {:#x})",
        ack.flags
    );
    check_eq!(
        ack.attrs.get(4..20),
        Some(&ok[..16]),
        "an ACK echoes the request's header"
    );
    Ok(())
}

/// A reader with a tiny receive buffer that never reads, flooding requests, costs the
/// kernel half nothing: its answers that do not fit are dropped at once (as the kernel's
/// genlmsg_reply() to a full socket drops them) and another client is answered at once.
/// The twin of f506fb8 waited up to 2 s (SEND_PATIENCE) for room for each of them, in the
/// thread that serves every request: the status-get behind these 64 requests would
/// have waited about two minutes, and this failed on its 10 s bound.
async fn slow_reader_stalls_nobody(env: &mut Env) -> R {
    const FLOOD: usize = 64;
    let id = env.id(Fam::Pnfsd);
    let slow = env.conn()?;
    slow.set_rcvbuf(0)?;
    for _ in 0..FLOOD {
        let (buf, _) = slow.encode(id, pc::STATUS_GET, 0, |_| {});
        slow.send_raw(&buf).await?;
    }
    let c = env.conn()?;
    c.timeout.set(Duration::from_secs(10));
    let t0 = Instant::now();
    c.request(id, pc::STATUS_GET, |_| {}).await.map_err(|e| {
        format!(
            "status-get behind {FLOOD} requests of a reader that does not read: {e} (after {:?})",
            t0.elapsed()
        )
    })?;
    c.dump(id, pc::DEVICE_GET, |_| {})
        .await
        .map_err(|e| format!("device-get dump after the flood: {e}"))?;
    drop(slow);
    Ok(())
}

/// A dump longer than its reader's receive buffer arrives whole when the reader starts
/// reading late: the kernel paces a dump by the reader's recvmsg(); the twin sends what
/// fits and paces the rest from a task, never from the thread that serves requests.
async fn dump_paced_to_a_late_reader(env: &mut Env) -> R {
    const DEVICES: u8 = 200;
    for n in 0..DEVICES {
        env.req(Fam::Pnfsd, pc::DEVICE_SET, |b| {
            b.put_bytes(pa::DEVICE_ID, &devid(n))
                .put_u32(pa::NODE_ID, n as u32);
            for i in 0..4 {
                ds_addr(b, "tcp", &format!("192.168.{n}.{i}.8.1 and some padding"));
            }
        })
        .await
        .map_err(|e| format!("device-set {n}: {e}"))?;
    }
    let r = env.conn()?;
    r.set_rcvbuf(8 << 10)?;
    let id = env.id(Fam::Pnfsd);
    let (buf, seq) = r.encode(id, pc::DEVICE_GET, NLM_F_DUMP, |_| {});
    r.send_raw(&buf).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = r.answer(seq, Some(pc::DEVICE_GET), WAIT).await?;
    check_eq!(
        got.len(),
        DEVICES as usize,
        "devices in a dump read 300 ms late through a 16 KiB receive buffer"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// A daemon's port taken by another process; a TRIGGER's requester gone

/// Run the suite binary's `unpriv` as `uid` (0: root, another process), bound to `bind`
/// and sending `op` (with `xid`) to `to` if given; its errno.
async fn send_from_port(
    exe: &Path,
    target: &Target,
    uid: u32,
    op: &str,
    bind: u32,
    to: Option<u32>,
    xid: u32,
) -> Result<i32, String> {
    let mut args = vec![
        "unpriv".to_string(),
        "--proto".into(),
        target.proto_name().into(),
        "--peer".into(),
        target.peer.to_string(),
        "--uid".into(),
        uid.to_string(),
        "--op".into(),
        op.into(),
        "--bind".into(),
        bind.to_string(),
        "--xid".into(),
        xid.to_string(),
    ];
    if let Some(to) = to {
        args.extend(["--to".into(), to.to_string()]);
    }
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(exe)
            .args(&args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| format!("unpriv {op} did not finish in 60 s"))?
    .map_err(|e| format!("spawn unpriv: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    check!(
        out.status.success(),
        "unpriv {op} as uid {uid} from port {bind} failed ({}): {}{}",
        out.status,
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("op {op} ")))
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| format!("unpriv {op}: no result in {text:?}"))
}

/// A process that binds a daemon's port once the daemon's socket is closed gets none of
/// the daemon's rights: admin requests and REPLYs are judged by the sender's
/// credentials (SCM_CREDENTIALS: pid and uid), never by its port alone. The daemon's
/// socket is closed here while its process (this one) lives on, so the twin's pidfd
/// watcher cannot have forgotten it, and processes of uid 65534 and of root, on its
/// port, send the twin's upcall socket (the module: its port) a REPLY to the daemon's
/// pending upcall and a DEVICE_SET: every one is refused. The process that registered
/// may take its port back. The twin of f506fb8 gave whatever came from a registered
/// daemon's port the daemon's credentials: it accepted uid 65534's REPLY (the run
/// counted it answered) and DEVICE_SET, and this failed there on the REPLY.
async fn stolen_port_gets_no_rights(env: &mut Env) -> R {
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!("{SKIPPED}: needs root to run senders as uid 65534"));
    }
    let Some(exe) = env.exe.clone() else {
        return Err(format!("{SKIPPED}: the suite binary's path is unknown"));
    };
    env.set_timeout(Fam::Pnfsd, 3000).await?;
    let id = env.id(Fam::Pnfsd);
    // The daemon: a socket of this process, not tracked by `env` (it is closed below).
    let conn = Conn::open(&env.target)?;
    let m = conn
        .request(id, pc::REGISTER, |b| {
            b.put_u32(pa::VERSION, 1).put_u32(pa::NODE_ID, 1);
        })
        .await
        .map_err(|e| format!("REGISTER: {e}"))?
        .into_iter()
        .next()
        .ok_or("REGISTER: no reply")?;
    take_upcall_port(Fam::Pnfsd, &conn, &m);
    let to = m.a().u32(pa::UPCALL_PORT);
    let port = conn.port();
    let d = Daemon {
        conn: Rc::new(conn),
        fam: Fam::Pnfsd,
        id,
    };
    let target = env.target;
    let trig = env.trigger(Fam::Pnfsd, |b| {
        b.put_u32(pa::UPCALL_KIND, 1);
    });
    let forge = async move {
        let up = d.upcall(WAIT).await?;
        drop(d); // the daemon's socket is closed: its port is free
        let mut wrong = Vec::new();
        for (uid, op) in [
            (65534, "pnfsd:reply"),
            (0, "pnfsd:reply"),
            (65534, "pnfsd:device-set"),
        ] {
            let errno = send_from_port(&exe, &target, uid, op, port, to, up.xid).await?;
            if errno != libc::EPERM {
                wrong.push(format!("{op} as uid {uid}: errno {errno}"));
            }
        }
        check!(
            wrong.is_empty(),
            "from the closed daemon's port {port}, want EPERM: {}",
            wrong.join("; ")
        );
        Ok::<_, String>(())
    };
    let (t, f) = tokio::join!(trig, forge);
    let run = t
        .map_err(|e| format!("trigger: {e}"))
        .and_then(|t| run_stats(Fam::Pnfsd, &t));
    // This process takes its daemon's port back: it may unregister (the module forgot
    // the daemon when its socket closed).
    let back = Conn::open_with(
        &env.target,
        &SocketOptions {
            port,
            ..SocketOptions::default()
        },
    )?;
    match back.request(id, pc::UNREGISTER, |_| {}).await {
        Ok(_) => {}
        Err(Fail::Peer(p)) if p.errno == libc::ENOENT => {}
        Err(e) => {
            return Err(format!(
                "UNREGISTER from the daemon's process on its port: {e}"
            ))
        }
    }
    f?;
    check_eq!(run?.answered, 0, "upcalls answered from the stolen port");
    check!(
        devices(env).await?.is_empty(),
        "DEVICE_SET from the stolen port took effect"
    );
    Ok(())
}

/// A TRIGGER ends when its requester goes away: a requester that asked for 2^32-1
/// upcalls and exited after 300 ms (as `pnfsctl trigger --wait-ms` does when it gives
/// up) leaves no load behind. The module runs TRIGGER inside the requester's sendmsg,
/// and the requester's death aborts the run; the twin looks for the requester's port
/// every 200 ms. The twin of f506fb8 kept issuing until it was restarted: this failed
/// there with upcalls still coming 20 s after the requester had exited.
async fn trigger_ends_with_its_requester(env: &mut Env) -> R {
    let Some(exe) = env.exe.clone() else {
        return Err(format!("{SKIPPED}: the suite binary's path is unknown"));
    };
    let d = env.daemon(Fam::Pnfsd).await?;
    let before = env.kind_stats(Fam::Pnfsd, 1).await?;
    let mut child = tokio::process::Command::new(exe)
        .args([
            "requester",
            "--proto",
            env.target.proto_name(),
            "--peer",
            &env.target.peer.to_string(),
            "--family",
            "pnfsd",
            "--count",
            "4294967295",
            "--depth",
            "4",
            "--exit-after-ms",
            "300",
        ])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawn requester: {e}"))?;
    let t0 = Instant::now();
    let mut served = 0u64;
    let mut exited: Option<Instant> = None;
    let result = async {
        loop {
            if exited.is_none() {
                if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                    check!(st.success(), "requester: {st}");
                    exited = Some(Instant::now());
                }
            }
            match d.upcall(Duration::from_secs(1)).await {
                Ok(up) => {
                    served += 1;
                    match d.reply(up.xid, 0, &[]).await {
                        Ok(()) => {}
                        // The module failed it when the run was aborted.
                        Err(Fail::Peer(p)) if p.errno == libc::ENOENT => {}
                        Err(e) => return Err(format!("REPLY: {e}")),
                    }
                    if let Some(t) = exited {
                        check!(
                            t.elapsed() < Duration::from_secs(20),
                            "upcalls still coming {:?} after the requester exited ({served} served)",
                            t.elapsed()
                        );
                    }
                }
                // A second without upcalls once the requester is gone: the run ended.
                Err(_) if exited.is_some() => return Ok(()),
                Err(e) => check!(
                    t0.elapsed() < Duration::from_secs(30),
                    "the requester did not exit within 30 s: {e}"
                ),
            }
        }
    }
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    result?;
    check!(
        served > 0,
        "the TRIGGER issued no upcall before its requester left"
    );
    check!(
        env.dump(Fam::Pnfsd, pc::UPCALL_DUMP).await?.is_empty(),
        "upcalls still pending after the run ended"
    );
    let k = before.delta(&env.kind_stats(Fam::Pnfsd, 1).await?);
    check_eq!(
        k.sent,
        k.answered + k.timeouts + k.failed,
        "sent = answered + timeouts + failed once the run ended ({:?})",
        k.counts()
    );
    Ok(())
}
