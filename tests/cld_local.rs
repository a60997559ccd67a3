//! pnfs_controld as nfsd's client-tracking daemon (the cld pipe), on the local engine,
//! with the test playing nfsd over a stand-in pipe: a unix SOCK_SEQPACKET socket at the
//! pipe's path (one message per read, as rpc_pipefs gives). The real pipe and a real
//! nfsd are the VM lane's.

mod common;
use common::cld::Nfsd;
use common::{can_run, Node};
use pnfs_controld::cld::{self, cmd, CldMsg};

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
