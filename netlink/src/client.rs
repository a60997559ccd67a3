//! Request/response over a netlink socket: ACKs with extack, dumps, and nlctrl family
//! resolution. The same code talks to the kernel (GENERIC, peer port 0) and to the twin
//! (USERSOCK, the twin's port), which answers nlctrl for its own families.

use crate::codec::*;
use crate::error::{NlError, PeerError};
pub use crate::nlctrl::*;
use crate::socket::{NlSocket, Proto, SocketOptions};
use std::time::Duration;

/// A request/response client.
pub struct Client {
    sock: NlSocket,
    peer: u32,
    seq: u32,
    tx: Vec<u8>,
    rx: Vec<u8>,
    timeout: Duration,
    /// Keep the datagrams that are not answers (`keep_strays`), up to this many.
    strays_max: usize,
    strays: Vec<(Vec<u8>, u32)>,
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
            strays_max: 0,
            strays: Vec::new(),
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
            strays_max: 0,
            strays: Vec::new(),
        }
    }

    /// Keep up to `max` datagrams that arrive while waiting for an answer and are not
    /// one (with their sender's port), instead of dropping them: on a socket that is
    /// about to receive upcalls (REGISTER from the upcall socket), the first upcalls may
    /// come before the last answer.
    pub fn keep_strays(&mut self, max: usize) {
        self.strays_max = max;
    }

    /// The datagrams kept by `keep_strays`, oldest first.
    pub fn take_strays(&mut self) -> Vec<(Vec<u8>, u32)> {
        std::mem::take(&mut self.strays)
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
            if from.port != self.peer
                || from.groups != 0
                || !Messages::new(&self.rx[..n]).any(|m| m.is_ok_and(|m| m.header.seq == seq))
            {
                // Not the answer (a stray event, an upcall).
                if from.groups == 0 && self.strays.len() < self.strays_max {
                    self.strays.push((self.rx[..n].to_vec(), from.port));
                }
                continue;
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
