//! nlctrl's `notify` group hears the twin's families appear when it starts serving them
//! and go when it stops, as the kernel's genl_register_family() and
//! genl_unregister_family() multicast it when the module loads and unloads: on
//! USERSOCK group `NOTIFY_GROUP` (nlctrl's group id, 0x10), one message per datagram,
//! port 0, seq 0. (The twin of f506fb8 sent nothing: this failed there waiting for the
//! first message.)

use pnfs_netlink::client::{FamilyInfo, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME};
use pnfs_netlink::codec::{AttrIter, GenlMsg, Messages};
use pnfs_netlink::socket::{NlSocket, SocketOptions, NETLINK_USERSOCK};
use pnfs_netlink::{Client, Proto};
use pnfs_twin::nlctrl::{
    CTRL_CMD_DELFAMILY, CTRL_CMD_DELMCAST_GRP, CTRL_CMD_NEWMCAST_GRP, NOTIFY_GROUP,
};
use pnfs_twin::{Fam, Twin, TwinConfig};
use std::time::Duration;

const CTRL_CMD_NEWFAMILY: u8 = 1;

/// The next `n` notifications the twin on `port` multicast: (cmd, family name, attrs).
async fn notifications(l: &NlSocket, port: u32, n: usize) -> Vec<(u8, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while out.len() < n {
        let (len, from) = tokio::time::timeout(Duration::from_secs(10), l.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{} of {n} notifications after 10 s", out.len()))
            .expect("receive");
        if from.port != port {
            continue; // another twin of this network namespace
        }
        assert_eq!(
            from.groups,
            1 << (NOTIFY_GROUP - 1),
            "sent to the notify group"
        );
        let msgs: Vec<_> = Messages::new(&buf[..len]).map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 1, "one notification per datagram");
        let m = msgs[0];
        assert_eq!((m.header.kind, m.header.pid, m.header.seq), (0x10, 0, 0));
        assert_eq!(m.header.flags, 0);
        let g = GenlMsg::parse(m).unwrap();
        let name = AttrIter::new(g.attrs)
            .map(Result::unwrap)
            .find(|a| a.kind == CTRL_ATTR_FAMILY_NAME)
            .map(|a| a.str().to_string())
            .expect("family name");
        out.push((g.cmd(), name, g.attrs.to_vec()));
    }
    out
}

#[test]
fn notify_group_hears_the_families_come_and_go() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let l = NlSocket::open(NETLINK_USERSOCK, &SocketOptions::default()).unwrap();
        l.join_group(NOTIFY_GROUP).unwrap();
        let twin = Twin::bind(&TwinConfig {
            port: 0,
            ..Default::default()
        })
        .unwrap();
        let port = twin.port();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(twin.run(stopped));

        let up = notifications(&l, port, 4).await;
        let seen: Vec<(u8, &str)> = up.iter().map(|(c, n, _)| (*c, n.as_str())).collect();
        assert_eq!(
            seen,
            vec![
                (CTRL_CMD_NEWFAMILY, "pnfsd"),
                (CTRL_CMD_NEWMCAST_GRP, "pnfsd"),
                (CTRL_CMD_NEWFAMILY, "gfs2ctl"),
                (CTRL_CMD_NEWMCAST_GRP, "gfs2ctl"),
            ]
        );
        for (i, fam) in [(0, Fam::Pnfsd), (2, Fam::Gfs2)] {
            // The whole description, as GETFAMILY gives it; and the group's own message.
            assert_eq!(FamilyInfo::parse(&up[i].2).unwrap(), fam.info());
            let grp = FamilyInfo::parse(&up[i + 1].2).unwrap();
            assert_eq!(
                (grp.id, grp.groups),
                (fam.id(), vec![("events".to_string(), fam.group())])
            );
            let id = AttrIter::new(&up[i + 1].2)
                .map(Result::unwrap)
                .find(|a| a.kind == CTRL_ATTR_FAMILY_ID)
                .map(|a| a.u16());
            assert_eq!(id, Some(fam.id()));
        }
        // Announced means served.
        let mut c = Client::open(Proto::Usersock, port).unwrap();
        assert_eq!(c.resolve("gfs2ctl").await.unwrap(), Fam::Gfs2.info());

        stop.send(true).unwrap();
        server.await.unwrap().unwrap();
        let down = notifications(&l, port, 4).await;
        let seen: Vec<(u8, &str)> = down.iter().map(|(c, n, _)| (*c, n.as_str())).collect();
        assert_eq!(
            seen,
            vec![
                (CTRL_CMD_DELMCAST_GRP, "pnfsd"),
                (CTRL_CMD_DELFAMILY, "pnfsd"),
                (CTRL_CMD_DELMCAST_GRP, "gfs2ctl"),
                (CTRL_CMD_DELFAMILY, "gfs2ctl"),
            ]
        );
        assert_eq!(FamilyInfo::parse(&down[1].2).unwrap(), Fam::Pnfsd.info());
    });
}
