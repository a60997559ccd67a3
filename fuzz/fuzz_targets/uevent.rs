//! Any datagram on the kernel's uevent group: parse gives a uevent or a reason, never a
//! panic; a parsed one changes the GFS2 view without panicking, and an acknowledgement is
//! only ever asked for a lock_dlm filesystem's own `lock_module/withdraw` under the sysfs
//! root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pnfs_controld::gfs2::{Action, Gfs2View, Uevent};

fuzz_target!(|data: &[u8]| {
    let mut view = Gfs2View::new("/sysroot");
    // Several events per input: the state carries over between them.
    for chunk in data.split(|&b| b == 0xff) {
        let Ok(ev) = Uevent::parse(chunk) else { continue };
        let _ = ev.vars().count();
        let (_, act) = view.apply(&ev);
        if let Some(Action::AckWithdraw { table, path }) = act {
            assert!(!table.contains('/') && table != ".." && table != ".");
            assert_eq!(path, std::path::Path::new("/sysroot/fs/gfs2").join(&table).join("lock_module/withdraw"));
            assert_eq!(view.get(&table).map(|s| s.lockproto.as_str()), Some("lock_dlm"));
        }
    }
    let _ = view.to_json();
});
