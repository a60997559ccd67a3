//! Any datagram: split into messages, view as generic netlink, validate the attributes
//! against both families' policies, read every slot, read it through the generated views
//! of what the daemon receives (upcalls, replies, nests), and parse NLMSG_ERROR.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pnfs_netlink::codec::NLMSG_ERROR;
use pnfs_netlink::{gfs2ctl, pnfsd, ErrorMsg, GenlMsg, Gfs2Attrs, Messages, PnfsdAttrs};

fuzz_target!(|data: &[u8]| {
    for m in Messages::new(data) {
        let Ok(m) = m else { break };
        if m.header.kind == NLMSG_ERROR {
            if let Ok(e) = ErrorMsg::parse(m) {
                let _ = (e.message.map(str::len), e.offset, e.missing_attr);
            }
        }
        let Ok(g) = GenlMsg::parse(m) else { continue };
        if let Ok(t) = PnfsdAttrs::parse(g.attrs, &pnfsd::PNFSD_POLICY) {
            for id in 0..=pnfsd::attr::MAX + 1 {
                if let Some(a) = t.get(id) {
                    let _ = (a.u64(), a.str(), a.nested().count());
                }
                for a in t.all(id) {
                    let _ = a.payload.len();
                }
            }
        }
        views(g.attrs);
        if let Ok(t) = Gfs2Attrs::parse(g.attrs, &gfs2ctl::GFS2CTL_POLICY) {
            for id in 0..=gfs2ctl::attr::MAX + 1 {
                let _ = t.get(id).map(|a| (a.u32(), a.str()));
            }
        }
    }
});

/// The generated views over any bytes: a view parses or names a missing attribute, and
/// its getters (required ones included) read without panicking.
fn views(attrs: &[u8]) {
    use pnfsd::ops as p;
    if let Ok(r) = p::get_state::Request::parse(attrs) {
        let _ = (r.xid(), r.fsid(), r.stateid(), r.clientid(), r.boot_epoch());
    }
    if let Ok(r) = p::layout_get::Request::parse(attrs) {
        let _ = (r.iomode(), r.offset(), r.length());
    }
    if let Ok(r) = p::trigger::Reply::parse(attrs) {
        let _ = (r.elapsed_ns(), r.status(), r.device_id());
        for a in r.ds_addr() {
            let _ = (a.netid(), a.uaddr());
        }
        for k in r.kind_stats() {
            let _ = (k.kind(), k.sent(), k.hist());
        }
    }
    if let Ok(r) = p::stats_get::Reply::parse(attrs) {
        let _ = r.refusals().map(|n| n.impostor());
    }
    if let Ok(r) = gfs2ctl::ops::mount::Request::parse(attrs) {
        let _ = (r.table(), r.uuid(), r.device(), r.mount_flags());
    }
    if let Ok(r) = gfs2ctl::ops::status_get::Reply::parse(attrs) {
        let _ = r.member().count();
    }
}
