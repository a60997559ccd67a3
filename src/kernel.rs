//! The daemon's link to the kernel half: finding it (module or twin), registering, the
//! upcall socket, and the downcall worker.

use crate::config::SocketKind;
use crate::wire::DsAddr;
use pnfs_netlink::client::{Client, FamilyInfo};
use pnfs_netlink::codec::MsgBuilder;
use pnfs_netlink::socket::{NlSocket, SocketOptions};
use pnfs_netlink::{gfs2ctl, pnfsd, NlError, Proto};
use std::time::Duration;
use tokio::sync::mpsc;

/// Where the kernel half is.
#[derive(Debug, Clone)]
pub struct Target {
    pub proto: Proto,
    /// 0 for the kernel, the twin's port for USERSOCK.
    pub peer: u32,
    pub pnfsd: FamilyInfo,
    pub gfs2: FamilyInfo,
}

impl Target {
    pub fn describe(&self) -> String {
        match self.proto {
            Proto::Generic => "kernel module (NETLINK_GENERIC)".to_string(),
            Proto::Usersock => format!("twin (NETLINK_USERSOCK port {:#x})", self.peer),
        }
    }
}

async fn resolve_both(c: &mut Client) -> Result<(FamilyInfo, FamilyInfo), NlError> {
    Ok((
        c.resolve(pnfsd::FAMILY_NAME).await?,
        c.resolve(gfs2ctl::FAMILY_NAME).await?,
    ))
}

/// Find the kernel half: with `Auto`, the module's families if registered, else the twin.
pub async fn find(kind: SocketKind, twin_port: u32) -> Result<(Client, Target), NlError> {
    if kind != SocketKind::Usersock {
        let mut c = Client::open(Proto::Generic, 0)?;
        match resolve_both(&mut c).await {
            Ok((p, g)) => {
                return Ok((
                    c,
                    Target {
                        proto: Proto::Generic,
                        peer: 0,
                        pnfsd: p,
                        gfs2: g,
                    },
                ))
            }
            Err(e) if kind == SocketKind::Generic => return Err(e),
            Err(NlError::FamilyNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut c = Client::open(Proto::Usersock, twin_port)?;
    // A short wait only when probing (Auto may fall back to an error quickly); when told
    // to use the twin, give a loaded machine the normal request timeout (the fault suite
    // saw 1.5 s pass without an answer at load average 19).
    if kind == SocketKind::Auto {
        c.set_timeout(Duration::from_millis(1500));
    }
    match resolve_both(&mut c).await {
        Ok((p, g)) => {
            c.set_timeout(Duration::from_secs(5));
            Ok((c, Target { proto: Proto::Usersock, peer: twin_port, pnfsd: p, gfs2: g }))
        }
        Err(NlError::Timeout { .. }) | Err(NlError::Io(_)) if kind == SocketKind::Auto => {
            Err(NlError::FamilyNotFound(format!(
                "{} (neither the pnfs_shim module nor a twin on USERSOCK port {twin_port:#x} answered)",
                pnfsd::FAMILY_NAME
            )))
        }
        Err(e) => Err(e),
    }
}

/// What REGISTER says about this daemon.
#[derive(Debug, Clone, Copy)]
pub struct Registration {
    pub node_id: u32,
    pub role: pnfsd::Role,
    pub mds_id: u32,
    pub epoch: u64,
}

/// The upcall socket, registered for both families.
pub struct Registered {
    pub sock: NlSocket,
    /// The port upcalls come from and REPLYs go to: the twin's upcall socket when
    /// REGISTER's reply names one (`upcall-port`), else the target's port (the kernel's 0).
    pub peer: u32,
    /// The negotiated versions of pnfsd and gfs2ctl.
    pub pnfsd_version: u32,
    pub gfs2_version: u32,
    /// Upcalls that came while registering (before the last REGISTER's answer): the
    /// daemon answers them first.
    pub early: Vec<Vec<u8>>,
}

/// Open the upcall socket and register it for both families.
pub async fn register(target: &Target, reg: Registration) -> Result<Registered, NlError> {
    let sock = NlSocket::open(
        target.proto.number(),
        &SocketOptions {
            rcvbuf: 8 << 20,
            ..Default::default()
        },
    )?;
    let mut c = Client::from_socket(sock, target.peer);
    c.keep_strays(4096);
    let (pv, upcall_port) = reregister(&mut c, target, reg).await?;
    let mut gv = 0;
    let req = gfs2ctl::ops::register::RequestAttrs {
        version: gfs2ctl::VERSION,
        node_id: Some(reg.node_id),
    };
    call(
        &mut c,
        target.gfs2.id,
        gfs2ctl::ops::register::CMD,
        |b| req.put(b),
        |m| {
            gv = gfs2ctl::ops::register::Reply::parse(m)?.version();
            Ok(())
        },
    )
    .await?;
    let peer = match target.proto {
        Proto::Usersock => upcall_port.unwrap_or(target.peer),
        // The module's upcalls come from the kernel, whatever a reply says.
        Proto::Generic => target.peer,
    };
    let early = c
        .take_strays()
        .into_iter()
        .filter(|(_, from)| *from == peer)
        .map(|(d, _)| d)
        .collect();
    Ok(Registered {
        sock: c.into_socket(),
        peer,
        pnfsd_version: pv,
        gfs2_version: gv,
        early,
    })
}

/// pnfsd's REGISTER: the negotiated version, and the upcall port if the reply names one.
async fn reregister(
    c: &mut Client,
    target: &Target,
    reg: Registration,
) -> Result<(u32, Option<u32>), NlError> {
    use pnfsd::ops::register;
    let mut version = 0;
    let mut upcall_port = None;
    let req = register::RequestAttrs {
        version: pnfsd::VERSION,
        node_id: Some(reg.node_id),
        role: Some(reg.role as u32),
        mds_id: Some(reg.mds_id),
        boot_epoch: Some(reg.epoch),
    };
    call(
        c,
        target.pnfsd.id,
        register::CMD,
        |b| req.put(b),
        |m| {
            let r = register::Reply::parse(m)?;
            version = r.version();
            upcall_port = r.upcall_port();
            Ok(())
        },
    )
    .await?;
    Ok((version, upcall_port))
}

/// A downcall the daemon makes.
#[derive(Debug, Clone)]
pub enum Down {
    /// Re-REGISTER pnfsd with a new role / MDS (from the registered port: done by the
    /// main loop itself, not here).
    DeviceSet {
        id: [u8; 16],
        node: u32,
        addrs: Vec<DsAddr>,
    },
    DeviceDel {
        id: [u8; 16],
    },
    LayoutRecallDevice {
        id: [u8; 16],
    },
    StateCheck {
        fsid: u64,
        fileid: u64,
        stateid: [u8; 16],
        clientid: u64,
    },
    StateRevoke {
        clientid: u64,
        one: Option<(u64, u64, [u8; 16])>,
    },
    Grace {
        start: bool,
        epoch: u64,
    },
    Block {
        table: String,
        block: bool,
    },
    Recover {
        table: String,
        jid: u32,
    },
    Members(Vec<u32>),
}

/// Result of a downcall.
#[derive(Debug, Clone)]
pub enum DownOut {
    Done,
    Count(u32),
    State {
        status: u32,
        access: u32,
        generation: u32,
        clientid: u64,
        verifier: u64,
        epoch: u64,
    },
}

/// Routing of a downcall's result back to the main loop.
pub type Tagged<T> = (T, Down, Result<DownOut, String>);

/// Start the downcall worker: one request at a time on its own socket, results back to
/// the main loop with their tag. Bounded queue: a full queue is reported by `try_send`.
/// `targets` gives the kernel half's family ids anew after it restarted (a module loaded
/// again may have others).
pub fn spawn_worker<T: Send + 'static>(
    mut client: Client,
    mut targets: tokio::sync::watch::Receiver<Target>,
    done: mpsc::Sender<Tagged<T>>,
) -> mpsc::Sender<(T, Down)> {
    let (tx, mut rx) = mpsc::channel::<(T, Down)>(1024);
    tokio::spawn(async move {
        let mut target = targets.borrow_and_update().clone();
        while let Some((tag, d)) = rx.recv().await {
            if targets.has_changed().unwrap_or(false) {
                target = targets.borrow_and_update().clone();
            }
            let r = downcall(&mut client, &target, &d)
                .await
                .map_err(|e| e.to_string());
            if done.send((tag, d, r)).await.is_err() {
                break;
            }
        }
    });
    tx
}

/// Send one request built by `attrs` (the generated builder of the op's message) as
/// command `cmd` of `family`, and hand each reply message's attributes to `on_reply`.
async fn call(
    c: &mut Client,
    family: u16,
    cmd: u8,
    put: impl FnOnce(&mut MsgBuilder<'_>),
    mut on_reply: impl FnMut(&[u8]) -> Result<(), NlError>,
) -> Result<(), NlError> {
    // Both families are version 1 (their `FAMILY_VERSION`).
    c.request(family, cmd, pnfsd::FAMILY_VERSION, false, put, |m| {
        on_reply(m.attrs)
    })
    .await
}

/// Perform one downcall: its request built by the op's generated builder, its answer
/// read through the op's reply view.
pub async fn downcall(c: &mut Client, t: &Target, d: &Down) -> Result<DownOut, NlError> {
    use gfs2ctl::ops as g;
    use pnfsd::ops as p;
    let (pf, gf) = (t.pnfsd.id, t.gfs2.id);
    let mut out = DownOut::Done;
    match d {
        Down::DeviceSet { id, node, addrs } => {
            let addrs: Vec<_> = addrs
                .iter()
                .map(|a| pnfsd::nest::DsAddrAttrs {
                    netid: Some(&a.netid),
                    uaddr: Some(&a.uaddr),
                })
                .collect();
            let req = p::device_set::RequestAttrs {
                device_id: *id,
                node_id: Some(*node),
                ds_addr: &addrs,
            };
            call(c, pf, p::device_set::CMD, |b| req.put(b), |_| Ok(())).await?
        }
        Down::DeviceDel { id } => {
            let req = p::device_del::RequestAttrs { device_id: *id };
            call(c, pf, p::device_del::CMD, |b| req.put(b), |_| Ok(())).await?
        }
        Down::LayoutRecallDevice { id } => {
            let req = p::layout_recall::RequestAttrs {
                recall_type: pnfsd::RecallType::Device as u32,
                device_id: Some(*id),
                ..Default::default()
            };
            call(
                c,
                pf,
                p::layout_recall::CMD,
                |b| req.put(b),
                |m| {
                    out = DownOut::Count(p::layout_recall::Reply::parse(m)?.layouts());
                    Ok(())
                },
            )
            .await?
        }
        Down::StateCheck {
            fsid,
            fileid,
            stateid,
            clientid,
        } => {
            let req = p::state_check::RequestAttrs {
                fsid: *fsid,
                fileid: *fileid,
                stateid: *stateid,
                clientid: Some(*clientid),
            };
            call(
                c,
                pf,
                p::state_check::CMD,
                |b| req.put(b),
                |m| {
                    let r = p::state_check::Reply::parse(m)?;
                    out = DownOut::State {
                        status: r.status(),
                        access: r.access().unwrap_or(0),
                        generation: r.generation().unwrap_or(0),
                        clientid: r.clientid().unwrap_or(*clientid),
                        verifier: r.verifier().unwrap_or(0),
                        epoch: r.boot_epoch().unwrap_or(0),
                    };
                    Ok(())
                },
            )
            .await?
        }
        Down::StateRevoke { clientid, one } => {
            let req = p::state_revoke::RequestAttrs {
                clientid: *clientid,
                fsid: one.map(|o| o.0),
                fileid: one.map(|o| o.1),
                stateid: one.map(|o| o.2),
            };
            call(
                c,
                pf,
                p::state_revoke::CMD,
                |b| req.put(b),
                |m| {
                    out = DownOut::Count(p::state_revoke::Reply::parse(m)?.count());
                    Ok(())
                },
            )
            .await?
        }
        Down::Grace { start, epoch } => {
            let action = if *start {
                pnfsd::GraceAction::Start
            } else {
                pnfsd::GraceAction::End
            };
            let req = p::grace::RequestAttrs {
                grace_action: action as u32,
                grace_epoch: Some(*epoch),
            };
            call(c, pf, p::grace::CMD, |b| req.put(b), |_| Ok(())).await?
        }
        Down::Block { table, block } => {
            // BLOCK and UNBLOCK take the same request.
            let cmd = if *block {
                g::block::CMD
            } else {
                g::unblock::CMD
            };
            let req = g::block::RequestAttrs { table };
            call(c, gf, cmd, |b| req.put(b), |_| Ok(())).await?
        }
        Down::Recover { table, jid } => {
            let req = g::recover::RequestAttrs { table, jid: *jid };
            call(c, gf, g::recover::CMD, |b| req.put(b), |_| Ok(())).await?
        }
        Down::Members(m) => {
            let req = g::members::RequestAttrs { member: m };
            call(c, gf, g::members::CMD, |b| req.put(b), |_| Ok(())).await?
        }
    }
    Ok(out)
}

/// What `status-get` says of the kernel half: the port its registered daemon has (0: none)
/// and its upcall timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelStatus {
    pub port: u32,
    pub timeout_ms: Option<u32>,
}

/// Ask the kernel half for its status (also a ping).
pub async fn status(c: &mut Client, t: &Target) -> Result<KernelStatus, NlError> {
    let mut out = KernelStatus {
        port: 0,
        timeout_ms: None,
    };
    use pnfsd::ops::status_get;
    call(
        c,
        t.pnfsd.id,
        status_get::CMD,
        |_| {},
        |m| {
            let r = status_get::Reply::parse(m)?;
            out.port = r.port();
            out.timeout_ms = r.timeout_ms();
            Ok(())
        },
    )
    .await?;
    Ok(out)
}

/// What the kernel watch sees.
#[derive(Debug)]
pub enum Watched {
    /// The kernel half answered its status.
    Status(KernelStatus),
    /// It did not (gone, restarting, its families unregistered).
    Unreachable(String),
}

/// How often the kernel watch asks, and how long it waits for an answer.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);
const WATCH_PATIENCE: Duration = Duration::from_millis(700);

/// Watch the kernel half on a socket of its own: its status every `WATCH_EVERY`, found
/// again (nlctrl) after it failed to answer. The daemon learns this way that the kernel
/// half restarted (the twin started again, the module loaded again) and no longer knows
/// it: the registered port is no longer its own.
pub fn spawn_watch(kind: SocketKind, twin_port: u32, to: mpsc::Sender<Watched>) {
    tokio::spawn(async move {
        let mut link: Option<(Client, Target)> = None;
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            if link.is_none() {
                match tokio::time::timeout(WATCH_PATIENCE, find(kind, twin_port)).await {
                    Ok(Ok((mut c, t))) => {
                        c.set_timeout(WATCH_PATIENCE);
                        link = Some((c, t));
                    }
                    Ok(Err(e)) => {
                        if to.send(Watched::Unreachable(e.to_string())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(_) => {
                        let e = "no answer from nlctrl".to_string();
                        if to.send(Watched::Unreachable(e)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                }
            }
            let (c, t) = link.as_mut().unwrap();
            let seen = match status(c, t).await {
                Ok(s) => Watched::Status(s),
                Err(e) => {
                    link = None;
                    Watched::Unreachable(e.to_string())
                }
            };
            if to.send(seen).await.is_err() {
                return;
            }
        }
    });
}

/// The filesystems the kernel half has mounted: (table, jid, first). A restarted daemon
/// reads them back (the kernel kept them mounted while it was away).
pub async fn read_mounts(c: &mut Client, t: &Target) -> Result<Vec<(String, u32, bool)>, NlError> {
    use gfs2ctl::ops::mount_get;
    let mut out = Vec::new();
    c.request(
        t.gfs2.id,
        mount_get::CMD,
        gfs2ctl::FAMILY_VERSION,
        true,
        |_| {},
        |m| {
            let r = mount_get::Reply::parse(m.attrs)?;
            out.push((r.table().to_string(), r.jid(), r.first().unwrap_or(0) != 0));
            Ok(())
        },
    )
    .await?;
    Ok(out)
}

/// The device id the cluster uses for a node's data server.
pub fn device_id(node: u32) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(b"PNFS");
    id[4..8].copy_from_slice(&node.to_be_bytes());
    id
}

/// The node of a device id made by `device_id`.
pub fn device_node(id: &[u8; 16]) -> Option<u32> {
    (id[..4] == *b"PNFS" && id[8..] == [0; 8])
        .then(|| u32::from_be_bytes(id[4..8].try_into().unwrap()))
}
