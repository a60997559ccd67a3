//! Request/response over a netlink socket: ACKs with extack, dumps, and nlctrl family
//! resolution. The same code talks to the kernel (GENERIC, peer port 0) and to the twin
//! (USERSOCK, the twin's port), which answers nlctrl for its own families.

use crate::codec::*;
use crate::error::{NlError, PeerError};
use crate::socket::{NlSocket, Proto, SocketOptions};
use std::time::Duration;

pub const GENL_ID_CTRL: u16 = 0x10;
pub const CTRL_CMD_NEWFAMILY: u8 = 1;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;
pub const CTRL_ATTR_VERSION: u16 = 3;
pub const CTRL_ATTR_HDRSIZE: u16 = 4;
pub const CTRL_ATTR_MAXATTR: u16 = 5;
pub const CTRL_ATTR_OPS: u16 = 6;
pub const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
pub const CTRL_ATTR_OP_ID: u16 = 1;
pub const CTRL_ATTR_OP_FLAGS: u16 = 2;
pub const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
pub const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;
/// GENL_ADMIN_PERM etc. as reported in CTRL_ATTR_OP_FLAGS.
pub const GENL_ADMIN_PERM: u32 = 0x01;
pub const GENL_CMD_CAP_DO: u32 = 0x02;
pub const GENL_CMD_CAP_DUMP: u32 = 0x04;
pub const GENL_CMD_CAP_HASPOL: u32 = 0x08;

/// Port of the twin in its network namespace unless configured otherwise ("PNFS").
pub const TWIN_DEFAULT_PORT: u32 = 0x504e_4653;

/// A family as nlctrl describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FamilyInfo {
    pub id: u16,
    pub name: String,
    pub version: u32,
    pub hdrsize: u32,
    pub maxattr: u32,
    /// (command, CTRL_ATTR_OP_FLAGS)
    pub ops: Vec<(u32, u32)>,
    /// (group name, group id)
    pub groups: Vec<(String, u32)>,
}

impl FamilyInfo {
    /// Id of the multicast group `name`.
    pub fn group(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    /// Parse a CTRL_CMD_NEWFAMILY message's attributes.
    pub fn parse(attrs: &[u8]) -> Result<Self, NlError> {
        let mut f = FamilyInfo::default();
        for a in AttrIter::new(attrs) {
            let a = a?;
            match a.kind {
                CTRL_ATTR_FAMILY_ID => f.id = a.u16(),
                CTRL_ATTR_FAMILY_NAME => f.name = a.str().to_string(),
                CTRL_ATTR_VERSION => f.version = a.u32(),
                CTRL_ATTR_HDRSIZE => f.hdrsize = a.u32(),
                CTRL_ATTR_MAXATTR => f.maxattr = a.u32(),
                CTRL_ATTR_OPS => {
                    for op in a.nested() {
                        let (mut id, mut flags) = (0, 0);
                        for x in op?.nested() {
                            let x = x?;
                            match x.kind {
                                CTRL_ATTR_OP_ID => id = x.u32(),
                                CTRL_ATTR_OP_FLAGS => flags = x.u32(),
                                _ => {}
                            }
                        }
                        f.ops.push((id, flags));
                    }
                }
                CTRL_ATTR_MCAST_GROUPS => {
                    for g in a.nested() {
                        let (mut name, mut id) = (String::new(), 0);
                        for x in g?.nested() {
                            let x = x?;
                            match x.kind {
                                CTRL_ATTR_MCAST_GRP_NAME => name = x.str().to_string(),
                                CTRL_ATTR_MCAST_GRP_ID => id = x.u32(),
                                _ => {}
                            }
                        }
                        f.groups.push((name, id));
                    }
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Encode as the attributes of a CTRL_CMD_NEWFAMILY (what the twin answers).
    pub fn encode(&self, b: &mut MsgBuilder<'_>) {
        b.put_str(CTRL_ATTR_FAMILY_NAME, &self.name);
        b.put_u16(CTRL_ATTR_FAMILY_ID, self.id);
        b.put_u32(CTRL_ATTR_VERSION, self.version);
        b.put_u32(CTRL_ATTR_HDRSIZE, self.hdrsize);
        b.put_u32(CTRL_ATTR_MAXATTR, self.maxattr);
        if !self.ops.is_empty() {
            let ops = b.nest_begin(CTRL_ATTR_OPS);
            for (i, (id, flags)) in self.ops.iter().enumerate() {
                let n = b.nest_begin(i as u16 + 1);
                b.put_u32(CTRL_ATTR_OP_ID, *id);
                b.put_u32(CTRL_ATTR_OP_FLAGS, *flags);
                b.nest_end(n);
            }
            b.nest_end(ops);
        }
        if !self.groups.is_empty() {
            let gs = b.nest_begin(CTRL_ATTR_MCAST_GROUPS);
            for (i, (name, id)) in self.groups.iter().enumerate() {
                let n = b.nest_begin(i as u16 + 1);
                b.put_u32(CTRL_ATTR_MCAST_GRP_ID, *id);
                b.put_str(CTRL_ATTR_MCAST_GRP_NAME, name);
                b.nest_end(n);
            }
            b.nest_end(gs);
        }
    }
}

/// A request/response client.
pub struct Client {
    sock: NlSocket,
    peer: u32,
    seq: u32,
    tx: Vec<u8>,
    rx: Vec<u8>,
    timeout: Duration,
}

/// What the reply callback of `request`/`dump` receives.
pub type Reply<'a> = GenlMsg<'a>;

impl Client {
    /// Open a client socket for `proto`; `peer` is 0 for the kernel, the twin's port for
    /// USERSOCK.
    pub fn open(proto: Proto, peer: u32) -> Result<Self, NlError> {
        let sock = NlSocket::open(proto.number(), &SocketOptions::default())?;
        Ok(Client {
            sock,
            peer,
            seq: 1,
            tx: Vec::with_capacity(4096),
            rx: vec![0u8; 64 * 1024],
            timeout: Duration::from_secs(5),
        })
    }

    /// A client over an existing socket (e.g. the daemon's upcall socket, which must
    /// send REGISTER itself so the kernel half remembers its port).
    pub fn from_socket(sock: NlSocket, peer: u32) -> Self {
        Client {
            sock,
            peer,
            seq: 1,
            tx: Vec::with_capacity(4096),
            rx: vec![0u8; 64 * 1024],
            timeout: Duration::from_secs(5),
        }
    }

    /// Give the socket back.
    pub fn into_socket(self) -> NlSocket {
        self.sock
    }

    /// Bound on the wait for each answer (the twin may be gone; the kernel never is).
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    pub fn socket(&self) -> &NlSocket {
        &self.sock
    }

    pub fn peer(&self) -> u32 {
        self.peer
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Send a generic netlink request built by `build` (attributes only), then collect
    /// the answer: every reply message goes to `on_reply`; an NLMSG_ERROR with errno 0
    /// (ACK) or NLMSG_DONE ends it; an error becomes `NlError::Peer` with the extack.
    pub async fn request(
        &mut self,
        family: u16,
        cmd: u8,
        version: u8,
        dump: bool,
        build: impl FnOnce(&mut MsgBuilder<'_>),
        mut on_reply: impl FnMut(Reply<'_>) -> Result<(), NlError>,
    ) -> Result<(), NlError> {
        let seq = self.next_seq();
        let flags = NLM_F_REQUEST | NLM_F_ACK | if dump { NLM_F_DUMP } else { 0 };
        self.tx.clear();
        let mut b = MsgBuilder::genl(
            &mut self.tx,
            family,
            flags,
            seq,
            self.sock.port(),
            cmd,
            version,
        );
        build(&mut b);
        b.finish();
        self.sock.send_to(&self.tx, self.peer, 0).await?;
        let mut interrupted = false;
        loop {
            let (n, from) =
                match tokio::time::timeout(self.timeout, self.sock.recv_from(&mut self.rx)).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(NlError::Timeout {
                            port: self.peer,
                            ms: self.timeout.as_millis() as u64,
                        })
                    }
                };
            if from.port != self.peer || from.groups != 0 {
                continue; // not the answer (e.g. a stray event)
            }
            for m in Messages::new(&self.rx[..n]) {
                let m = m?;
                if m.header.seq != seq {
                    continue;
                }
                if m.header.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match m.header.kind {
                    NLMSG_ERROR => {
                        let e = ErrorMsg::parse(m)?;
                        if e.error == 0 {
                            return if interrupted {
                                Err(NlError::DumpInterrupted)
                            } else {
                                Ok(())
                            };
                        }
                        return Err(NlError::Peer(PeerError {
                            errno: -e.error,
                            message: e.message.map(str::to_string),
                            offset: e.offset,
                            missing_attr: e.missing_attr,
                        }));
                    }
                    NLMSG_DONE => {
                        return if interrupted {
                            Err(NlError::DumpInterrupted)
                        } else {
                            Ok(())
                        };
                    }
                    NLMSG_NOOP => {}
                    NLMSG_OVERRUN => return Err(NlError::Overrun),
                    _ => {
                        on_reply(GenlMsg::parse(m)?)?;
                        // A `do` answer is followed by its ACK (we asked for one).
                    }
                }
            }
        }
    }

    /// Resolve a family by name.
    pub async fn resolve(&mut self, name: &str) -> Result<FamilyInfo, NlError> {
        let mut out = None;
        let r = self
            .request(
                GENL_ID_CTRL,
                CTRL_CMD_GETFAMILY,
                1,
                false,
                |b| {
                    b.put_str(CTRL_ATTR_FAMILY_NAME, name);
                },
                |m| {
                    out = Some(FamilyInfo::parse(m.attrs)?);
                    Ok(())
                },
            )
            .await;
        match r {
            Err(NlError::Peer(p)) if p.errno == libc::ENOENT => {
                Err(NlError::FamilyNotFound(name.to_string()))
            }
            Err(e) => Err(e),
            Ok(()) => out.ok_or_else(|| NlError::FamilyNotFound(name.to_string())),
        }
    }

    /// Dump every family (CTRL_CMD_GETFAMILY with NLM_F_DUMP).
    pub async fn families(&mut self) -> Result<Vec<FamilyInfo>, NlError> {
        let mut out = Vec::new();
        self.request(
            GENL_ID_CTRL,
            CTRL_CMD_GETFAMILY,
            1,
            true,
            |_| {},
            |m| {
                out.push(FamilyInfo::parse(m.attrs)?);
                Ok(())
            },
        )
        .await?;
        Ok(out)
    }
}
