//! The nfsd side of a stand-in cld pipe: a unix SOCK_SEQPACKET socket at the pipe's path
//! (one message per read, as rpc_pipefs gives), which `pnfs_controld` opens like the real
//! pipe. The test plays nfsd on it.

#![allow(dead_code)]

use pnfs_controld::cld::{self, cmd, CldMsg};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// Whatever can show the logs of the daemon under test when a wait fails.
pub trait Logs {
    fn logs(&self) -> String;
}

/// The nfsd side of the stand-in pipe.
pub struct Nfsd {
    listener: OwnedFd,
    conn: Option<OwnedFd>,
}

fn sockaddr(path: &Path) -> libc::sockaddr_un {
    use std::os::unix::ffi::OsStrExt;
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in a.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
        *d = *s as libc::c_char;
    }
    a
}

impl Nfsd {
    pub fn listen(path: &Path) -> Nfsd {
        let _ = std::fs::remove_file(path);
        // SAFETY: plain socket calls on fds we own.
        unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0);
            let fd = OwnedFd::from_raw_fd(fd);
            let a = sockaddr(path);
            let sz = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            assert_eq!(
                libc::bind(fd.as_raw_fd(), (&a as *const libc::sockaddr_un).cast(), sz),
                0
            );
            assert_eq!(libc::listen(fd.as_raw_fd(), 4), 0);
            Nfsd {
                listener: fd,
                conn: None,
            }
        }
    }

    /// Wait for the daemon to open the pipe (bounded).
    pub fn accept(&mut self, node: &impl Logs) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut p = libc::pollfd {
                fd: self.listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd.
            if unsafe { libc::poll(&mut p, 1, 100) } == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon never opened the pipe\n{}",
                node.logs()
            );
        }
        // SAFETY: accept on our listener.
        // CLOEXEC: a process the test starts later (a monitor) must not hold nfsd's end.
        let fd = unsafe {
            libc::accept4(
                self.listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        assert!(fd >= 0);
        self.conn = Some(unsafe { OwnedFd::from_raw_fd(fd) });
    }

    /// nfsd stops: the pipe goes away (the daemon must reopen it when nfsd starts).
    pub fn close(&mut self) {
        self.conn = None;
    }

    pub fn send(&self, m: &[u8]) {
        let fd = self.conn.as_ref().expect("pipe open").as_raw_fd();
        // SAFETY: writing our buffer.
        let n = unsafe { libc::write(fd, m.as_ptr().cast(), m.len()) };
        assert_eq!(n as usize, m.len());
    }

    /// The next answer (bounded wait).
    pub fn recv(&self, node: &impl Logs) -> Vec<u8> {
        let fd = self.conn.as_ref().expect("pipe open").as_raw_fd();
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd.
        let r = unsafe { libc::poll(&mut p, 1, 10_000) };
        assert_eq!(r, 1, "no answer from the daemon in 10 s\n{}", node.logs());
        let mut b = vec![0u8; cld::V2_LEN + 16];
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) };
        assert!(n > 0, "pipe closed\n{}", node.logs());
        b.truncate(n as usize);
        b
    }

    /// Send a message and take its one answer: (status, the answer).
    pub fn call(&self, node: &impl Logs, m: &[u8]) -> (i16, Vec<u8>) {
        self.send(m);
        let a = self.recv(node);
        assert_eq!(a.len(), m.len(), "an answer is as long as its message");
        let am = CldMsg::parse_any(&a);
        assert_eq!(am.xid(), CldMsg::parse_any(m).xid());
        (am.status(), a)
    }

    /// nfsd starts: GetVersion (v1 framing), then GraceStart; returns the clients uploaded.
    pub fn start(&self, node: &impl Logs, xid: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (st, a) = self.call(node, &cld::request(false, cmd::GET_VERSION, xid, b"", &[]));
        assert_eq!(
            (st, a[cld::HDR_LEN]),
            (0, 2),
            "GetVersion answers version 2"
        );
        self.send(&cld::request(true, cmd::GRACE_START, xid + 1, b"", &[]));
        let mut up = Vec::new();
        loop {
            let a = self.recv(node);
            let m = CldMsg::parse(&a).unwrap();
            assert_eq!((m.xid(), m.cmd()), (xid + 1, cmd::GRACE_START));
            if m.status() == 0 {
                return up;
            }
            assert_eq!(m.status(), -(libc::EINPROGRESS as i16));
            up.push((m.name().unwrap().to_vec(), m.princhash().unwrap().to_vec()));
        }
    }
}

impl Nfsd {
    /// Whether an answer arrives within `ms` (it is left unread).
    pub fn answer_within(&self, ms: i32) -> bool {
        let fd = self.conn.as_ref().expect("pipe open").as_raw_fd();
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd.
        unsafe { libc::poll(&mut p, 1, ms) == 1 }
    }

    /// The next answer's status, which must be for `xid` and carry no client.
    pub fn status_of(&self, node: &impl Logs, xid: u32) -> i16 {
        let a = self.recv(node);
        let m = CldMsg::parse_any(&a);
        assert_eq!(m.xid(), xid, "answer for another xid\n{}", node.logs());
        m.status()
    }
}
