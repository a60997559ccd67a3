//! pnfs_controld as nfsd's client-tracking daemon (the cld pipe), on the local engine,
//! with the test playing nfsd over a stand-in pipe: a unix SOCK_SEQPACKET socket at the
//! pipe's path (one message per read, as rpc_pipefs gives). The real pipe and a real
//! nfsd are the VM lane's.

mod common;
use common::{can_run, Node};
use pnfs_controld::cld::{self, cmd, CldMsg};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// The nfsd side of the stand-in pipe.
struct Nfsd {
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
    fn listen(path: &Path) -> Nfsd {
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
    fn accept(&mut self, node: &Node) {
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
        let fd = unsafe {
            libc::accept(
                self.listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert!(fd >= 0);
        self.conn = Some(unsafe { OwnedFd::from_raw_fd(fd) });
    }

    /// nfsd stops: the pipe goes away (the daemon must reopen it when nfsd starts).
    fn close(&mut self) {
        self.conn = None;
    }

    fn send(&self, m: &[u8]) {
        let fd = self.conn.as_ref().expect("pipe open").as_raw_fd();
        // SAFETY: writing our buffer.
        let n = unsafe { libc::write(fd, m.as_ptr().cast(), m.len()) };
        assert_eq!(n as usize, m.len());
    }

    /// The next answer (bounded wait).
    fn recv(&self, node: &Node) -> Vec<u8> {
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
    fn call(&self, node: &Node, m: &[u8]) -> (i16, Vec<u8>) {
        self.send(m);
        let a = self.recv(node);
        assert_eq!(a.len(), m.len(), "an answer is as long as its message");
        let am = CldMsg::parse_any(&a);
        assert_eq!(am.xid(), CldMsg::parse_any(m).xid());
        (am.status(), a)
    }

    /// nfsd starts: GetVersion (v1 framing), then GraceStart; returns the clients uploaded.
    fn start(&self, node: &Node, xid: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
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

fn clients(n: &Node) -> serde_json::Value {
    n.must(&["client", "show"])
}

#[test]
fn serves_nfsds_client_tracking_pipe() {
    if !can_run("serves_nfsds_client_tracking_pipe") {
        return;
    }
    let mut n = Node::new("cld");
    let pipe = n.dir.join("cld");
    let mut nfsd = Nfsd::listen(&pipe);
    // A message an earlier daemon read and never answered: journaled, answered now.
    std::fs::create_dir_all(n.dir.join("state")).unwrap();
    let stale = cld::request(true, cmd::GRACE_DONE, 4242, b"", &[]);
    let hex: String = stale.iter().map(|b| format!("{b:02x}")).collect();
    // ... from this pipe (its device and inode); one from an earlier pipe is void.
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(&pipe).unwrap();
    let void = cld::request(true, cmd::GRACE_START, 4243, b"", &[]);
    let void: String = void.iter().map(|b| format!("{b:02x}")).collect();
    let entry =
        |ino: u64, msg: &str| format!(r#"{{"dev":{},"ino":{ino},"msg":"{msg}"}}"#, md.dev());
    std::fs::write(
        n.dir.join("state/cld-inflight.json"),
        format!("[{},{}]", entry(md.ino(), &hex), entry(md.ino() + 1, &void)),
    )
    .unwrap();
    n.start_daemon(&["--cld-pipe", pipe.to_str().unwrap()]);
    nfsd.accept(&n);
    let a = nfsd.recv(&n);
    let m = CldMsg::parse(&a).unwrap();
    assert_eq!(
        (m.xid(), m.cmd(), m.status()),
        (4242, cmd::GRACE_DONE, 0),
        "journaled xid answered"
    );

    // First start: nothing to reclaim; a client confirms, one expires.
    assert!(nfsd.start(&n, 1).is_empty());
    assert_eq!(
        nfsd.call(&n, &cld::request(true, cmd::GRACE_DONE, 3, b"", &[]))
            .0,
        0
    );
    let ph = [7u8; 32];
    for (xid, name) in [
        (4, &b"Linux NFSv4.1 client-a"[..]),
        (5, b"Linux NFSv4.1 client-b"),
    ] {
        assert_eq!(
            nfsd.call(&n, &cld::request(true, cmd::CREATE, xid, name, &ph))
                .0,
            0
        );
    }
    assert_eq!(
        nfsd.call(
            &n,
            &cld::request(true, cmd::REMOVE, 6, b"Linux NFSv4.1 client-b", &[])
        )
        .0,
        0
    );
    let c = clients(&n);
    assert_eq!(c["in_grace"], false, "{c}");
    let cur = c["current_epoch"].as_u64().unwrap();
    let names: Vec<_> = c["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["epoch"] == cur)
        .flat_map(|e| {
            e["clients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(names, ["Linux NFSv4.1 client-a"], "{c}");

    // Bad messages: each answered with its error (or, if no size fits, dropped), and
    // the daemon keeps serving.
    let mut m = cld::request(true, 9, 7, b"x", &[]);
    assert_eq!(nfsd.call(&n, &m).0, -(libc::EOPNOTSUPP as i16));
    m = cld::request(true, cmd::CREATE, 8, b"", &[]);
    assert_eq!(
        nfsd.call(&n, &m).0,
        -(libc::EINVAL as i16),
        "empty client name"
    );
    m = cld::request(true, cmd::CREATE, 9, b"x", &[]);
    m[0] = 3;
    assert_eq!(
        nfsd.call(&n, &m).0,
        -(libc::EPROTONOSUPPORT as i16),
        "newer upcall version"
    );
    nfsd.send(&[1, 0, 0, 0, 10, 0, 0, 0]);
    assert_eq!(
        nfsd.call(&n, &cld::request(true, cmd::CHECK, 11, b"zz", &[]))
            .0,
        -(libc::EACCES as i16)
    );
    let ring = n.must(&["debug", "dump"]).to_string();
    assert!(ring.contains("cld: dropped: message of 8 bytes"), "{ring}");

    // The daemon crashes and comes back: the records were on disk before the answers.
    n.kill_daemon();
    nfsd.close();
    n.start_daemon(&["--cld-pipe", pipe.to_str().unwrap()]);
    nfsd.accept(&n);
    // nfsd restarts: the confirmed client (and only it) may reclaim, with its hash.
    let up = nfsd.start(&n, 20);
    assert_eq!(up, vec![(b"Linux NFSv4.1 client-a".to_vec(), ph.to_vec())]);
    let c = clients(&n);
    assert_eq!(c["in_grace"], true, "{c}");
    assert_eq!(c["recovery_epoch"].as_u64().unwrap(), cur, "{c}");
    assert_eq!(
        nfsd.call(
            &n,
            &cld::request(true, cmd::CHECK, 22, b"Linux NFSv4.1 client-a", &[])
        )
        .0,
        0
    );
    assert_eq!(
        nfsd.call(
            &n,
            &cld::request(true, cmd::CHECK, 23, b"Linux NFSv4.1 client-b", &[])
        )
        .0,
        -(libc::EACCES as i16),
        "an expired client may not reclaim"
    );
    // nfsd stops and starts again within grace: the same clients may still reclaim.
    nfsd.close();
    nfsd.accept(&n);
    assert_eq!(nfsd.start(&n, 30).len(), 1);
    assert_eq!(
        nfsd.call(
            &n,
            &cld::request(true, cmd::CREATE, 32, b"Linux NFSv4.1 client-a", &ph)
        )
        .0,
        0
    );
    assert_eq!(
        nfsd.call(&n, &cld::request(true, cmd::GRACE_DONE, 33, b"", &[]))
            .0,
        0
    );
    let c = clients(&n);
    assert_eq!(
        (c["in_grace"].clone(), c["epochs"].as_array().unwrap().len()),
        (false.into(), 1),
        "{c}"
    );
    let j = std::fs::read_to_string(n.dir.join("state/cld-inflight.json")).unwrap();
    assert_eq!(j.trim(), "[]", "everything read was answered");
}
