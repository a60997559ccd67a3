//! The same pnfsd messages through the rust-netlink stack, written the way its crates
//! (ethtool, wl-nl80211) write a family: a `GenlFamily` payload holding a `Vec` of typed
//! attributes, each an `Nla` with `Parseable<NlaBuffer>`, unknown ones kept as
//! `DefaultNla`.

use futures::StreamExt;
use netlink_packet_core::{
    emit_u32, emit_u64, parse_string, parse_u32, parse_u64, DecodeError, DefaultNla, Emitable,
    NetlinkHeader, NetlinkMessage, NetlinkPayload, Nla, NlaBuffer, NlasIterator, Parseable,
    ParseableParametrized, NLM_F_ACK, NLM_F_MULTIPART, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsAddr {
    Netid(String),
    Uaddr(String),
    Other(DefaultNla),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PnfsdAttr {
    Xid(u32),
    Status(u32),
    NodeId(u32),
    MdsId(u32),
    BootEpoch(u64),
    Fsid(u64),
    Fileid(u64),
    Stateid([u8; 16]),
    Clientid(u64),
    Access(u32),
    Generation(u32),
    Verifier(u64),
    DeviceId([u8; 16]),
    DsAddr(Vec<DsAddr>),
    Other(DefaultNla),
}

impl Nla for DsAddr {
    fn value_len(&self) -> usize {
        match self {
            DsAddr::Netid(s) | DsAddr::Uaddr(s) => s.len() + 1,
            DsAddr::Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            DsAddr::Netid(_) => 1,
            DsAddr::Uaddr(_) => 2,
            DsAddr::Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            DsAddr::Netid(s) | DsAddr::Uaddr(s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            DsAddr::Other(n) => n.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DsAddr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        Ok(match buf.kind() {
            1 => DsAddr::Netid(parse_string(v)?),
            2 => DsAddr::Uaddr(parse_string(v)?),
            _ => DsAddr::Other(DefaultNla::parse(buf)?),
        })
    }
}

impl Nla for PnfsdAttr {
    fn value_len(&self) -> usize {
        use PnfsdAttr::*;
        match self {
            Xid(_) | Status(_) | NodeId(_) | MdsId(_) | Access(_) | Generation(_) => 4,
            BootEpoch(_) | Fsid(_) | Fileid(_) | Clientid(_) | Verifier(_) => 8,
            Stateid(_) | DeviceId(_) => 16,
            DsAddr(v) => v.as_slice().buffer_len(),
            Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        use PnfsdAttr::*;
        match self {
            Xid(_) => 1,
            Status(_) => 2,
            NodeId(_) => 4,
            MdsId(_) => 6,
            BootEpoch(_) => 7,
            Fsid(_) => 8,
            Fileid(_) => 9,
            Stateid(_) => 10,
            Clientid(_) => 11,
            Access(_) => 12,
            Generation(_) => 13,
            Verifier(_) => 14,
            DeviceId(_) => 15,
            DsAddr(_) => 16,
            Other(n) => n.kind(),
        }
    }
    fn is_nested(&self) -> bool {
        matches!(self, PnfsdAttr::DsAddr(_))
    }
    fn emit_value(&self, buf: &mut [u8]) {
        use PnfsdAttr::*;
        match self {
            Xid(v) | Status(v) | NodeId(v) | MdsId(v) | Access(v) | Generation(v) => {
                emit_u32(buf, *v).unwrap()
            }
            BootEpoch(v) | Fsid(v) | Fileid(v) | Clientid(v) | Verifier(v) => {
                emit_u64(buf, *v).unwrap()
            }
            Stateid(b) | DeviceId(b) => buf.copy_from_slice(b),
            DsAddr(v) => v.as_slice().emit(buf),
            Other(n) => n.emit_value(buf),
        }
    }
}

fn array16(v: &[u8]) -> Result<[u8; 16], DecodeError> {
    v.try_into()
        .map_err(|_| DecodeError::from("binary attribute of the wrong length"))
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for PnfsdAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        use PnfsdAttr::*;
        let v = buf.value();
        Ok(match buf.kind() {
            1 => Xid(parse_u32(v)?),
            2 => Status(parse_u32(v)?),
            4 => NodeId(parse_u32(v)?),
            6 => MdsId(parse_u32(v)?),
            7 => BootEpoch(parse_u64(v)?),
            8 => Fsid(parse_u64(v)?),
            9 => Fileid(parse_u64(v)?),
            10 => Stateid(array16(v)?),
            11 => Clientid(parse_u64(v)?),
            12 => Access(parse_u32(v)?),
            13 => Generation(parse_u32(v)?),
            14 => Verifier(parse_u64(v)?),
            15 => DeviceId(array16(v)?),
            16 => DsAddr(
                NlasIterator::new(v)
                    .map(|n| n.and_then(|n| self::DsAddr::parse(&n)))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PnfsdMsg {
    pub cmd: u8,
    pub nlas: Vec<PnfsdAttr>,
}

impl GenlFamily for PnfsdMsg {
    fn family_name() -> &'static str {
        "pnfsd"
    }
    fn family_id(&self) -> u16 {
        0x20
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        1
    }
}

impl Emitable for PnfsdMsg {
    fn buffer_len(&self) -> usize {
        self.nlas.as_slice().buffer_len()
    }
    fn emit(&self, buf: &mut [u8]) {
        self.nlas.as_slice().emit(buf)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for PnfsdMsg {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(PnfsdMsg {
            cmd: header.cmd,
            nlas: NlasIterator::new(buf)
                .map(|n| n.and_then(|n| PnfsdAttr::parse(&n)))
                .collect::<Result<Vec<_>, _>>()?,
        })
    }
}

type Msg = NetlinkMessage<GenlMessage<PnfsdMsg>>;

fn message(flags: u16, seq: u32, pid: u32, cmd: u8, nlas: Vec<PnfsdAttr>) -> Msg {
    let mut h = NetlinkHeader::default();
    h.flags = flags;
    h.sequence_number = seq;
    h.port_number = pid;
    let mut m = NetlinkMessage::new(
        h,
        NetlinkPayload::from(GenlMessage::from_payload(PnfsdMsg { cmd, nlas })),
    );
    m.finalize();
    m
}

fn append(buf: &mut Vec<u8>, m: &Msg) {
    let at = buf.len();
    buf.resize(at + m.buffer_len(), 0);
    m.serialize(&mut buf[at..]);
}

fn upcall(xid: u32) -> Msg {
    use PnfsdAttr::*;
    message(
        0,
        0,
        0,
        4,
        vec![
            Xid(xid),
            MdsId(7),
            BootEpoch(1_700_000_000),
            Fsid(0xf00d),
            Fileid(4242),
            Stateid(super::STATEID),
            Clientid(0x1122_3344_5566_7788),
        ],
    )
}

fn reply(xid: u32) -> Msg {
    use PnfsdAttr::*;
    message(
        NLM_F_REQUEST | NLM_F_ACK,
        9,
        1234,
        3,
        vec![
            Xid(xid),
            Status(0),
            Access(3),
            Generation(5),
            Clientid(0x1122_3344_5566_7788),
            Verifier(0xdead_beef),
        ],
    )
}

fn device(i: usize) -> Msg {
    let addrs = super::uaddrs(i).map(|a| {
        PnfsdAttr::DsAddr(vec![
            DsAddr::Netid("tcp".to_string()),
            DsAddr::Uaddr(a.to_string()),
        ])
    });
    let [a0, a1] = addrs;
    message(
        NLM_F_MULTIPART,
        9,
        1234,
        16,
        vec![
            PnfsdAttr::DeviceId(super::device_id(i)),
            PnfsdAttr::NodeId(i as u32),
            a0,
            a1,
        ],
    )
}

pub fn build_upcall_into(buf: &mut Vec<u8>, xid: u32) {
    buf.clear();
    append(buf, &upcall(xid));
}
pub fn build_reply_into(buf: &mut Vec<u8>, xid: u32) {
    buf.clear();
    append(buf, &reply(xid));
}
pub fn build_dump_into(buf: &mut Vec<u8>) {
    buf.clear();
    for i in 0..super::DEVICES {
        append(buf, &device(i));
    }
}
pub fn build_upcall(xid: u32) -> Vec<u8> {
    let mut v = Vec::new();
    build_upcall_into(&mut v, xid);
    v
}
pub fn build_reply(xid: u32) -> Vec<u8> {
    let mut v = Vec::new();
    build_reply_into(&mut v, xid);
    v
}
pub fn build_dump() -> Vec<u8> {
    let mut v = Vec::new();
    build_dump_into(&mut v);
    v
}

/// Every message of a datagram, as the rust-netlink stack parses them.
fn each(buf: &[u8], mut f: impl FnMut(PnfsdMsg)) {
    let mut off = 0;
    while off < buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        let m = Msg::deserialize(&buf[off..off + len]).unwrap();
        match m.payload {
            NetlinkPayload::InnerMessage(g) => f(g.payload),
            _ => panic!("not a pnfsd message"),
        }
        off += (len + 3) & !3;
    }
}

fn fold(nla: &PnfsdAttr) -> u64 {
    use PnfsdAttr::*;
    match nla {
        Xid(v) | Status(v) | NodeId(v) | MdsId(v) | Access(v) | Generation(v) => *v as u64,
        BootEpoch(v) | Fsid(v) | Fileid(v) | Clientid(v) | Verifier(v) => *v,
        Stateid(b) => b[3] as u64,
        DeviceId(b) => b[0] as u64,
        DsAddr(v) => v.iter().fold(0, |acc, a| match a {
            self::DsAddr::Netid(s) | self::DsAddr::Uaddr(s) => acc ^ s.len() as u64,
            self::DsAddr::Other(_) => acc,
        }),
        Other(_) => 0,
    }
}

fn parse_fold(buf: &[u8]) -> u64 {
    let mut acc = 0;
    each(buf, |m| {
        for n in &m.nlas {
            acc ^= fold(n);
        }
    });
    acc
}

pub fn parse_upcall(buf: &[u8]) -> u64 {
    parse_fold(buf)
}
pub fn parse_reply(buf: &[u8]) -> u64 {
    parse_fold(buf)
}
pub fn parse_dump(buf: &[u8]) -> u64 {
    parse_fold(buf)
}

// ---- nlctrl

pub fn getfamily(name: &str) -> NetlinkMessage<GenlMessage<GenlCtrl>> {
    let mut m = NetlinkMessage::from(GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.to_owned())],
    }));
    m.header.flags = NLM_F_REQUEST;
    m.finalize();
    m
}

fn id_of(m: NetlinkMessage<GenlMessage<GenlCtrl>>) -> Option<u16> {
    match m.payload {
        NetlinkPayload::InnerMessage(g) => g.payload.nlas.iter().find_map(|a| match a {
            GenlCtrlAttrs::FamilyId(id) => Some(*id),
            _ => None,
        }),
        _ => None,
    }
}

pub fn family_id(buf: &[u8]) -> u16 {
    id_of(NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(buf).unwrap()).unwrap()
}

pub async fn genetlink_getfamily(h: &mut genetlink::GenetlinkHandle, name: &str) -> u16 {
    let mut s = h.request(getfamily(name)).await.unwrap();
    let mut id = 0;
    while let Some(m) = s.next().await {
        if let Some(i) = id_of(m.unwrap()) {
            id = i;
        }
    }
    id
}
