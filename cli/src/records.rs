//! What the kernel half answers, as typed records: each one made from its operation's
//! generated view (`pnfsd::ops::<op>::Reply`/`Event`, `gfs2ctl::...`) and printed by the
//! one [`Sink`](crate::render::Sink). Their keys are the spec's attribute names
//! (`device-id`, `p50-ns`: the structs' fields in kebab-case), in the spec's order (the
//! order the kernel half puts them); an optional attribute that is absent, or a list with
//! no element, is left out; an enum attribute shows its value's name (the number when the
//! spec has no name for it); binary attributes are hex.

use pnfs_netlink::error::DecodeError;
use pnfs_netlink::{gfs2ctl, pnfsd};
use serde::{Serialize, Serializer};

/// An enum attribute's value: its spec name, or the number if the spec has none.
#[derive(Debug, Clone, Copy)]
pub struct Named {
    v: u64,
    name: fn(u64) -> Option<&'static str>,
}

impl Named {
    pub fn new(v: impl Into<u64>, name: fn(u64) -> Option<&'static str>) -> Named {
        Named { v: v.into(), name }
    }

    /// The value's spec name, if it has one.
    pub fn name(&self) -> Option<&'static str> {
        (self.name)(self.v)
    }
}

impl Serialize for Named {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(n) => s.serialize_str(n),
            None => s.serialize_u64(self.v),
        }
    }
}

/// A binary attribute, shown as hex.
#[derive(Debug, Clone)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    fn of(b: &[u8]) -> Hex {
        Hex(b.to_vec())
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::render::hex(&self.0))
    }
}

/// A kind-stats `hist` (pairs of native-endian u64): `[[lower_ns, count], ...]`; hex if
/// it is not whole pairs.
#[derive(Debug, Clone)]
pub struct Hist(Vec<u8>);

impl Serialize for Hist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !self.0.len().is_multiple_of(16) {
            return s.serialize_str(&crate::render::hex(&self.0));
        }
        let w = |p: &[u8], i: usize| u64::from_ne_bytes(p[i..i + 8].try_into().unwrap());
        s.collect_seq(self.0.chunks_exact(16).map(|p| [w(p, 0), w(p, 8)]))
    }
}

fn s(x: Option<&str>) -> Option<String> {
    x.map(str::to_string)
}

fn hx(x: Option<&[u8; 16]>) -> Option<Hex> {
    x.map(|b| Hex::of(b))
}

// ------------------------------------------------------------------------------ pnfsd

/// A data server's address (`ds-addr`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DsAddr {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uaddr: Option<String>,
}

impl From<pnfsd::nest::DsAddr<'_>> for DsAddr {
    fn from(a: pnfsd::nest::DsAddr<'_>) -> Self {
        DsAddr {
            netid: s(a.netid()),
            uaddr: s(a.uaddr()),
        }
    }
}

/// One device of `device-get`'s dump.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Device {
    pub device_id: Hex,
    pub node_id: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ds_addr: Vec<DsAddr>,
}

impl From<pnfsd::ops::device_get::Reply<'_>> for Device {
    fn from(r: pnfsd::ops::device_get::Reply<'_>) -> Self {
        Device {
            device_id: Hex::of(r.device_id()),
            node_id: r.node_id(),
            ds_addr: r.ds_addr().map(DsAddr::from).collect(),
        }
    }
}

/// One layout of `layout-dump`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Layout {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clientid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fileid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Hex>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stateid: Option<Hex>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iomode: Option<Named>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

impl From<pnfsd::ops::layout_dump::Reply<'_>> for Layout {
    fn from(r: pnfsd::ops::layout_dump::Reply<'_>) -> Self {
        Layout {
            clientid: r.clientid(),
            fsid: r.fsid(),
            fileid: r.fileid(),
            device_id: hx(r.device_id()),
            stateid: hx(r.stateid()),
            iomode: r.iomode().map(|v| Named::new(v, pnfsd::Iomode::name_of)),
            offset: r.offset(),
            length: r.length(),
        }
    }
}

/// One stateid of the kernel's table (`state-get`'s dump).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KernelState {
    pub fsid: u64,
    pub fileid: u64,
    pub stateid: Hex,
    pub clientid: u64,
    pub access: u32,
    pub generation: u32,
}

impl From<pnfsd::ops::state_get::Reply<'_>> for KernelState {
    fn from(r: pnfsd::ops::state_get::Reply<'_>) -> Self {
        KernelState {
            fsid: r.fsid(),
            fileid: r.fileid(),
            stateid: Hex::of(r.stateid()),
            clientid: r.clientid(),
            access: r.access(),
            generation: r.generation(),
        }
    }
}

/// One upcall waiting for the daemon (`upcall-dump`, both families).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Upcall {
    pub xid: u32,
    pub upcall_kind: Named,
    pub age_us: u64,
}

impl From<pnfsd::ops::upcall_dump::Reply<'_>> for Upcall {
    fn from(r: pnfsd::ops::upcall_dump::Reply<'_>) -> Self {
        Upcall {
            xid: r.xid(),
            upcall_kind: Named::new(r.upcall_kind(), pnfsd::UpcallKind::name_of),
            age_us: r.age_us(),
        }
    }
}

impl From<gfs2ctl::ops::upcall_dump::Reply<'_>> for Upcall {
    fn from(r: gfs2ctl::ops::upcall_dump::Reply<'_>) -> Self {
        Upcall {
            xid: r.xid(),
            upcall_kind: Named::new(r.upcall_kind(), gfs2ctl::UpcallKind::name_of),
            age_us: r.age_us(),
        }
    }
}

/// pnfsd's `status-get`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PnfsdStatus {
    pub version: u32,
    pub port: u32,
    pub node_id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Named>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mds_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_epoch: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_grace: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_epoch: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
}

impl From<pnfsd::ops::status_get::Reply<'_>> for PnfsdStatus {
    fn from(r: pnfsd::ops::status_get::Reply<'_>) -> Self {
        PnfsdStatus {
            version: r.version(),
            port: r.port(),
            node_id: r.node_id(),
            role: r.role().map(|v| Named::new(v, pnfsd::Role::name_of)),
            mds_id: r.mds_id(),
            boot_epoch: r.boot_epoch(),
            in_grace: r.in_grace(),
            grace_epoch: r.grace_epoch(),
            timeout_ms: r.timeout_ms(),
        }
    }
}

/// One upcall kind's counters and latency (`kind-stats`, both families).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KindStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Named>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p999_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hist: Option<Hist>,
}

macro_rules! kind_stats_from {
    ($fam:ident) => {
        impl From<$fam::nest::KindStats<'_>> for KindStats {
            fn from(k: $fam::nest::KindStats<'_>) -> Self {
                KindStats {
                    kind: k.kind().map(|v| Named::new(v, $fam::UpcallKind::name_of)),
                    sent: k.sent(),
                    answered: k.answered(),
                    errors: k.errors(),
                    timeouts: k.timeouts(),
                    failed: k.failed(),
                    p50_ns: k.p50_ns(),
                    p99_ns: k.p99_ns(),
                    p999_ns: k.p999_ns(),
                    hist: k.hist().map(|h| Hist(h.to_vec())),
                }
            }
        }
    };
}
kind_stats_from!(pnfsd);
kind_stats_from!(gfs2ctl);

/// What the kernel half refused (pnfsd's `stats-get`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Refusals {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impostor: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign_port: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unprivileged: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign_reply: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_dropped: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_abandoned: Option<u64>,
}

impl From<pnfsd::nest::Refusals<'_>> for Refusals {
    fn from(r: pnfsd::nest::Refusals<'_>) -> Self {
        Refusals {
            impostor: r.impostor(),
            foreign_port: r.foreign_port(),
            unprivileged: r.unprivileged(),
            foreign_reply: r.foreign_reply(),
            answer_dropped: r.answer_dropped(),
            trigger_abandoned: r.trigger_abandoned(),
        }
    }
}

/// `stats-get` of either family (gfs2ctl has no refusals).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Stats {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kind_stats: Vec<KindStats>,
    pub late_replies: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusals: Option<Refusals>,
}

impl From<pnfsd::ops::stats_get::Reply<'_>> for Stats {
    fn from(r: pnfsd::ops::stats_get::Reply<'_>) -> Self {
        Stats {
            kind_stats: r.kind_stats().map(KindStats::from).collect(),
            late_replies: r.late_replies(),
            refusals: r.refusals().map(Refusals::from),
        }
    }
}

impl From<gfs2ctl::ops::stats_get::Reply<'_>> for Stats {
    fn from(r: gfs2ctl::ops::stats_get::Reply<'_>) -> Self {
        Stats {
            kind_stats: r.kind_stats().map(KindStats::from).collect(),
            late_replies: r.late_replies(),
            refusals: None,
        }
    }
}

/// pnfsd's `trigger` answer: the run's stats and the last answer's fields.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PnfsdTrigger {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kind_stats: Vec<KindStats>,
    pub elapsed_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Named>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Hex>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ds_addr: Vec<DsAddr>,
}

impl From<pnfsd::ops::trigger::Reply<'_>> for PnfsdTrigger {
    fn from(r: pnfsd::ops::trigger::Reply<'_>) -> Self {
        PnfsdTrigger {
            kind_stats: r.kind_stats().map(KindStats::from).collect(),
            elapsed_ns: r.elapsed_ns(),
            status: r.status().map(|v| Named::new(v, pnfsd::Nfsstat::name_of)),
            access: r.access(),
            generation: r.generation(),
            device_id: hx(r.device_id()),
            ds_addr: r.ds_addr().map(DsAddr::from).collect(),
        }
    }
}

/// `layout-recall`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Recalled {
    pub layouts: u32,
}

impl From<pnfsd::ops::layout_recall::Reply<'_>> for Recalled {
    fn from(r: pnfsd::ops::layout_recall::Reply<'_>) -> Self {
        Recalled {
            layouts: r.layouts(),
        }
    }
}

// ---------------------------------------------------------------------------- gfs2ctl

/// One filesystem of `mount-get`'s dump.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Mount {
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Hex>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_flags: Option<u32>,
    pub jid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recover_jid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_status: Option<Named>,
}

impl From<gfs2ctl::ops::mount_get::Reply<'_>> for Mount {
    fn from(r: gfs2ctl::ops::mount_get::Reply<'_>) -> Self {
        Mount {
            table: r.table().to_string(),
            uuid: hx(r.uuid()),
            device: s(r.device()),
            mount_flags: r.mount_flags(),
            jid: r.jid(),
            first: r.first(),
            blocked: r.blocked(),
            withdrawn: r.withdrawn(),
            recover_jid: r.recover_jid(),
            recovery_status: r
                .recovery_status()
                .map(|v| Named::new(v, gfs2ctl::RecoveryStatus::name_of)),
        }
    }
}

/// gfs2ctl's `status-get`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Gfs2Status {
    pub version: u32,
    pub port: u32,
    pub node_id: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub member: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
}

impl From<gfs2ctl::ops::status_get::Reply<'_>> for Gfs2Status {
    fn from(r: gfs2ctl::ops::status_get::Reply<'_>) -> Self {
        Gfs2Status {
            version: r.version(),
            port: r.port(),
            node_id: r.node_id(),
            member: r.member().collect(),
            timeout_ms: r.timeout_ms(),
        }
    }
}

/// gfs2ctl's `trigger` answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Gfs2Trigger {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kind_stats: Vec<KindStats>,
    pub elapsed_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<u8>,
}

impl From<gfs2ctl::ops::trigger::Reply<'_>> for Gfs2Trigger {
    fn from(r: gfs2ctl::ops::trigger::Reply<'_>) -> Self {
        Gfs2Trigger {
            kind_stats: r.kind_stats().map(KindStats::from).collect(),
            elapsed_ns: r.elapsed_ns(),
            status: r.status(),
            jid: r.jid(),
            first: r.first(),
        }
    }
}

// ----------------------------------------------------------------------------- events

/// A multicast event's attributes (pnfsd's and gfs2ctl's `events` group), by command.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Event {
    DaemonUp(DaemonUp),
    DaemonDown(DaemonDown),
    LayoutRecalled(LayoutRecalled),
    DeviceChanged(DeviceChanged),
    GraceChanged(GraceChanged),
    StateRevoked(StateRevoked),
    MountChanged(MountChanged),
    Recovery(Recovery),
}

/// `daemon-up` (both families; gfs2ctl's has no role).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DaemonUp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Named>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// `daemon-down` (both families).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DaemonDown {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LayoutRecalled {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall_type: Option<Named>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fileid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Hex>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clientid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layouts: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeviceChanged {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Hex>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ds_addr: Vec<DsAddr>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct GraceChanged {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_action: Option<Named>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_epoch: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct StateRevoked {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clientid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fileid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stateid: Option<Hex>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MountChanged {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<u8>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Recovery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_status: Option<Named>,
}

impl Event {
    /// pnfsd's event `cmd` read through its view; None for a command that is not one of
    /// the spec's events (a newer kernel half's).
    pub fn pnfsd(cmd: u8, attrs: &[u8]) -> Option<Result<Event, DecodeError>> {
        use pnfsd::ops as o;
        let e = match cmd {
            o::daemon_up::CMD => o::daemon_up::Event::parse(attrs).map(|e| {
                Event::DaemonUp(DaemonUp {
                    port: e.port(),
                    node_id: e.node_id(),
                    role: e.role().map(|v| Named::new(v, pnfsd::Role::name_of)),
                    version: e.version(),
                })
            }),
            o::daemon_down::CMD => o::daemon_down::Event::parse(attrs).map(|e| {
                Event::DaemonDown(DaemonDown {
                    port: e.port(),
                    node_id: e.node_id(),
                    count: e.count(),
                })
            }),
            o::layout_recalled::CMD => o::layout_recalled::Event::parse(attrs).map(|e| {
                Event::LayoutRecalled(LayoutRecalled {
                    recall_type: e
                        .recall_type()
                        .map(|v| Named::new(v, pnfsd::RecallType::name_of)),
                    fsid: e.fsid(),
                    fileid: e.fileid(),
                    device_id: hx(e.device_id()),
                    clientid: e.clientid(),
                    layouts: e.layouts(),
                })
            }),
            o::device_changed::CMD => o::device_changed::Event::parse(attrs).map(|e| {
                Event::DeviceChanged(DeviceChanged {
                    device_id: hx(e.device_id()),
                    node_id: e.node_id(),
                    ds_addr: e.ds_addr().map(DsAddr::from).collect(),
                })
            }),
            o::grace_changed::CMD => o::grace_changed::Event::parse(attrs).map(|e| {
                Event::GraceChanged(GraceChanged {
                    grace_action: e
                        .grace_action()
                        .map(|v| Named::new(v, pnfsd::GraceAction::name_of)),
                    grace_epoch: e.grace_epoch(),
                })
            }),
            o::state_revoked::CMD => o::state_revoked::Event::parse(attrs).map(|e| {
                Event::StateRevoked(StateRevoked {
                    clientid: e.clientid(),
                    fsid: e.fsid(),
                    fileid: e.fileid(),
                    stateid: hx(e.stateid()),
                    count: e.count(),
                })
            }),
            _ => return None,
        };
        Some(e)
    }

    /// gfs2ctl's event `cmd` read through its view (None: not one of the spec's events).
    pub fn gfs2ctl(cmd: u8, attrs: &[u8]) -> Option<Result<Event, DecodeError>> {
        use gfs2ctl::ops as o;
        let e = match cmd {
            o::daemon_up::CMD => o::daemon_up::Event::parse(attrs).map(|e| {
                Event::DaemonUp(DaemonUp {
                    port: e.port(),
                    node_id: e.node_id(),
                    role: None,
                    version: e.version(),
                })
            }),
            o::daemon_down::CMD => o::daemon_down::Event::parse(attrs).map(|e| {
                Event::DaemonDown(DaemonDown {
                    port: e.port(),
                    node_id: e.node_id(),
                    count: e.count(),
                })
            }),
            o::mount_changed::CMD => o::mount_changed::Event::parse(attrs).map(|e| {
                Event::MountChanged(MountChanged {
                    table: s(e.table()),
                    jid: e.jid(),
                    first: e.first(),
                    blocked: e.blocked(),
                    withdrawn: e.withdrawn(),
                })
            }),
            o::recovery::CMD => o::recovery::Event::parse(attrs).map(|e| {
                Event::Recovery(Recovery {
                    table: s(e.table()),
                    jid: e.jid(),
                    recovery_status: e
                        .recovery_status()
                        .map(|v| Named::new(v, gfs2ctl::RecoveryStatus::name_of)),
                })
            }),
            _ => return None,
        };
        Some(e)
    }
}
