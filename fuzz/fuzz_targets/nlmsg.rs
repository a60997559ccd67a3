//! Any datagram: split into messages, view as generic netlink, validate the attributes
//! against both families' policies, read every slot, and parse NLMSG_ERROR.
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
        if let Ok(t) = Gfs2Attrs::parse(g.attrs, &gfs2ctl::GFS2CTL_POLICY) {
            for id in 0..=gfs2ctl::attr::MAX + 1 {
                let _ = t.get(id).map(|a| (a.u32(), a.str()));
            }
        }
    }
});
