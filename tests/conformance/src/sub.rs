//! The suite binary's helper subcommands, run as separate processes by the cases that
//! need another process: a daemon that dies (the twin notices death by pidfd, the module
//! by socket release), an unprivileged sender (uid 65534, no capabilities) — which may
//! also bind a given port (a dead daemon's) and send to a given port (the twin's upcall
//! socket) — and a TRIGGER requester that goes away without waiting for the answer.

use crate::conn::{Conn, Fail};
use crate::{resolve, Fam, Target};
use pnfs_netlink::codec::MsgBuilder;
use pnfs_netlink::policy::{Family, OpKind};
use pnfs_netlink::{gfs2ctl, pnfsd};
use std::io::Write;
use std::time::Duration;

/// `fake-daemon`: register for `fam`, read `hold` upcalls without answering, print
/// `held N`, then wait to be killed.
pub async fn fake_daemon(target: Target, fam: Fam, hold: u32) -> Result<(), String> {
    let (p, g) = resolve(&target).await?;
    let id = match fam {
        Fam::Pnfsd => p.id,
        Fam::Gfs2 => g.id,
    };
    let conn = Conn::open(&target)?;
    let r = conn
        .request(id, pnfsd::cmd::REGISTER, |b| {
            b.put_u32(pnfsd::attr::VERSION, 1).put_u32(4, 2);
        })
        .await
        .map_err(|e| format!("register: {e}"))?;
    if let Some(m) = r.first() {
        crate::take_upcall_port(fam, &conn, m);
    }
    println!("registered port {}", conn.port());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut held = 0;
    while held < hold {
        let m = conn.unsolicited(Duration::from_secs(60)).await?;
        if m.kind == id && fam.is_upcall(m.cmd) {
            held += 1;
        }
    }
    println!("held {held}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    std::future::pending::<()>().await;
    Ok(())
}

/// Drop to `uid` (and gid `uid`, no supplementary groups). Losing uid 0 clears every
/// capability; this checks it did.
pub fn drop_privileges(uid: u32) -> Result<(), String> {
    // SAFETY: plain syscalls on this (still single-threaded) process.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(format!("setgroups: {}", std::io::Error::last_os_error()));
        }
        if libc::setresgid(uid, uid, uid) != 0 {
            return Err(format!("setresgid: {}", std::io::Error::last_os_error()));
        }
        if libc::setresuid(uid, uid, uid) != 0 {
            return Err(format!("setresuid: {}", std::io::Error::last_os_error()));
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let cap = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(str::trim)
        .unwrap_or("?");
    if cap.chars().any(|c| c != '0') {
        return Err(format!(
            "capabilities left after dropping to uid {uid}: {cap}"
        ));
    }
    Ok(())
}

/// Attributes that make an op's request valid apart from privilege, so that only the
/// permission check can refuse it.
fn plausible(fam: Fam, op: &str, xid: u32, b: &mut MsgBuilder<'_>) {
    match fam {
        Fam::Pnfsd => {
            use pnfsd::attr as a;
            match op {
                "register" => {
                    b.put_u32(a::VERSION, 1);
                }
                "reply" => {
                    b.put_u32(a::XID, xid).put_u32(a::STATUS, 0);
                }
                "state-check" | "state-set" => {
                    b.put_u64(a::FSID, 0xfeed)
                        .put_u64(a::FILEID, 1)
                        .put_bytes(a::STATEID, &[7u8; 16])
                        .put_u64(a::CLIENTID, 0xfeed);
                }
                "state-revoke" => {
                    b.put_u64(a::CLIENTID, 0xfeed);
                }
                "device-set" | "device-del" => {
                    b.put_bytes(a::DEVICE_ID, &[0xfe; 16]);
                }
                "layout-recall" => {
                    b.put_u32(a::RECALL_TYPE, pnfsd::RecallType::All as u32);
                }
                "grace" => {
                    b.put_u32(a::GRACE_ACTION, pnfsd::GraceAction::End as u32);
                }
                "config-set" => {
                    b.put_u32(a::TIMEOUT_MS, crate::DEFAULT_TIMEOUT_MS);
                }
                "trigger" => {
                    b.put_u32(a::UPCALL_KIND, 1).put_u32(a::COUNT, 1);
                }
                _ => {}
            }
        }
        Fam::Gfs2 => {
            use gfs2ctl::attr as a;
            match op {
                "register" => {
                    b.put_u32(a::VERSION, 1);
                }
                "reply" => {
                    b.put_u32(a::XID, xid).put_i32(a::STATUS, 0);
                }
                "block" | "unblock" => {
                    b.put_str(a::TABLE, "unpriv:none");
                }
                "recover" => {
                    b.put_str(a::TABLE, "unpriv:none").put_u32(a::JID, 0);
                }
                "members" => {
                    b.put_u32(a::MEMBER, 1);
                }
                "config-set" => {
                    b.put_u32(a::TIMEOUT_MS, crate::DEFAULT_TIMEOUT_MS);
                }
                "trigger" => {
                    b.put_u32(a::UPCALL_KIND, 1).put_u32(a::COUNT, 1);
                }
                _ => {}
            }
        }
    }
}

fn spec(fam: Fam) -> &'static Family {
    match fam {
        Fam::Pnfsd => &pnfsd::FAMILY,
        Fam::Gfs2 => &gfs2ctl::FAMILY,
    }
}

/// Every request op of both families, as `family:op` with whether it is admin-only.
pub fn request_ops() -> Vec<(Fam, &'static str, u8, bool, bool)> {
    let mut out = Vec::new();
    for fam in Fam::BOTH {
        for op in spec(fam).ops {
            if op.upcall || op.kind == OpKind::Event {
                continue;
            }
            out.push((fam, op.name, op.cmd, op.admin, op.kind == OpKind::Dump));
        }
    }
    out
}

/// Where `unpriv` sends from and to, and what it puts in a REPLY.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendAs {
    /// Bind this port (a dead daemon's), retrying while it is taken; 0: auto.
    pub bind: u32,
    /// Send to this port (the twin's upcall socket) instead of the kernel half's.
    pub to: Option<u32>,
    /// The xid of a REPLY.
    pub xid: u32,
}

/// `unpriv`: as uid 65534 (dropped by the caller), send `which` (`family:op` or `all`)
/// and print one line `op FAMILY:OP ERRNO` per op (0 = accepted). Resolution itself
/// must work.
pub async fn unpriv(target: Target, which: &str, how: SendAs) -> Result<(), String> {
    let (p, g) = resolve(&target).await?;
    let conn = bind_spinning(&target, how.bind).await?;
    if let Some(to) = how.to {
        conn.set_upcall_peer(to);
    }
    conn.timeout.set(Duration::from_secs(10));
    let mut n = 0;
    for (fam, name, cmd, _admin, dump) in request_ops() {
        let full = format!("{}:{name}", fam.name());
        if which != "all" && which != full {
            continue;
        }
        n += 1;
        let id = match fam {
            Fam::Pnfsd => p.id,
            Fam::Gfs2 => g.id,
        };
        let r = match (dump, how.to) {
            (true, _) => conn.dump(id, cmd, |_| {}).await,
            (false, None) => {
                conn.request(id, cmd, |b| plausible(fam, name, how.xid, b))
                    .await
            }
            (false, Some(to)) => {
                conn.request_at(to, id, cmd, |b| plausible(fam, name, how.xid, b))
                    .await
            }
        };
        let errno = match r {
            Ok(_) => 0,
            Err(Fail::Peer(e)) => e.errno,
            Err(Fail::Local(e)) => return Err(format!("{full}: {e}")),
        };
        println!("op {full} {errno}");
    }
    if n == 0 {
        return Err(format!("no op named {which:?}"));
    }
    Ok(())
}

/// A socket bound to `port` (0: auto), trying again every millisecond for 5 s while the
/// port is taken, as a process lying in wait for a daemon's port would.
async fn bind_spinning(target: &Target, port: u32) -> Result<Conn, String> {
    if port == 0 {
        return Conn::open(target);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match Conn::open_with(
            target,
            &pnfs_netlink::socket::SocketOptions {
                port,
                ..Default::default()
            },
        ) {
            Ok(c) => return Ok(c),
            Err(e) if std::time::Instant::now() > deadline => {
                return Err(format!("bind port {port}: {e}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// `requester`: send a TRIGGER of `count` upcalls (kind 1), `depth` in flight, print
/// `requester port PORT`, and exit after `exit_after` without waiting for its answer (as
/// `pnfsctl trigger --wait-ms` does when it gives up). The process exits with a thread
/// still in the send (the module runs TRIGGER inside sendmsg): exiting kills it.
pub async fn requester(
    target: Target,
    fam: Fam,
    count: u32,
    depth: u32,
    exit_after: Duration,
) -> Result<(), String> {
    let (p, g) = resolve(&target).await?;
    let (id, cmd, a_kind, a_count, a_depth) = match fam {
        Fam::Pnfsd => (
            p.id,
            pnfsd::cmd::TRIGGER,
            pnfsd::attr::UPCALL_KIND,
            pnfsd::attr::COUNT,
            pnfsd::attr::DEPTH,
        ),
        Fam::Gfs2 => (
            g.id,
            gfs2ctl::cmd::TRIGGER,
            gfs2ctl::attr::UPCALL_KIND,
            gfs2ctl::attr::COUNT,
            gfs2ctl::attr::DEPTH,
        ),
    };
    let conn = Conn::open(&target)?;
    let (buf, _) = conn.encode(id, cmd, 0, |b| {
        b.put_u32(a_kind, 1)
            .put_u32(a_count, count)
            .put_u32(a_depth, depth);
    });
    println!("requester port {}", conn.port());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let send = conn.send_raw_detached(buf);
    let gone = tokio::time::sleep(exit_after);
    tokio::pin!(send, gone);
    tokio::select! {
        r = &mut send => {
            r.map_err(|e| format!("send: {e}"))?;
            gone.await;
        }
        () = &mut gone => {}
    }
    // Gone without reading the answer (or without waiting for the send, which the
    // module is still running).
    std::process::exit(0);
}
