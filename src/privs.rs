//! Dropping privileges: the daemon keeps only the capabilities it needs.
//!
//! What `pnfs_controld` does after start, and what that needs:
//! - downcalls to the module are `GENL_ADMIN_PERM` commands: `CAP_NET_ADMIN` (kept);
//! - netlink sockets, the control socket, nlctrl, the twin's USERSOCK port: nothing;
//! - libcpg's IPC to corosync, the state directory, rpc_pipefs and sysfs files: the
//!   root uid (kept: only capabilities are dropped, the uid stays 0).
//!
//! Capabilities belong to a thread, so this runs before any other thread exists (before
//! the tokio runtime is built): every thread created later inherits the reduced set.
//!
//! capget/capset and prctl have no wrapper in std or libc's safe surface: the five calls
//! below are raw, each with its reason to be sound.

#![warn(clippy::undocumented_unsafe_blocks)]

use std::io;

/// `CAP_NET_ADMIN` from `<linux/capability.h>`.
pub const CAP_NET_ADMIN: u32 = 12;

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// What `drop_capabilities` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Capability mask (bit n = capability n) held before.
    pub before: u64,
    /// Capability mask held after (effective = permitted).
    pub after: u64,
    /// Whether the bounding set holds no capability beyond those kept: reduced here
    /// (needs CAP_SETPCAP) or already (a systemd unit's CapabilityBoundingSet).
    pub bounding: bool,
}

fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

fn capget() -> io::Result<[CapData; 2]> {
    let mut h = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: capget(2) reads `*h` and, for _LINUX_CAPABILITY_VERSION_3, writes exactly
    // two `struct __user_cap_data_struct` (three u32s each, the layout of the #[repr(C)]
    // CapData) to `d`: both are live locals, exclusively borrowed for the call only. Were
    // the version refused, the kernel writes only `h.version`, inside `h`.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut CapHeader, d.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(d)
}

fn mask(d: &[CapData; 2], f: impl Fn(&CapData) -> u32) -> u64 {
    f(&d[0]) as u64 | (f(&d[1]) as u64) << 32
}

/// Keep only the capabilities in `keep` (effective and permitted, of those held now);
/// clear the inheritable and ambient sets, remove the rest from the bounding set when
/// allowed, and set `no_new_privs` so no exec can gain any back. Call it while the
/// process has one thread.
pub fn drop_capabilities(keep: &[u32]) -> io::Result<Dropped> {
    let cur = capget()?;
    let before = mask(&cur, |d| d.permitted);
    let want: u64 = keep.iter().fold(0, |m, c| m | 1u64 << c) & before;
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
    let mut bounding = true;
    for cap in 0..=last_cap() {
        if want & (1u64 << cap) != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes integers only (a capability number, then unused
        // zeros): no pointer, no memory of ours is read or written.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // No CAP_SETPCAP (not root, or a systemd unit's bounding set without it),
                // or a capability this kernel does not know: the bounding set is as
                // wanted if the capability is not in it already (a unit's
                // CapabilityBoundingSet did it).
                Some(libc::EPERM) | Some(libc::EINVAL) => {
                    // SAFETY: PR_CAPBSET_READ takes integers only (a capability number,
                    // then zeros): no memory of ours is read or written.
                    let held = unsafe {
                        libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0)
                    };
                    if held > 0 {
                        bounding = false;
                    }
                }
                _ => return Err(e),
            }
        }
    }
    // SAFETY: PR_CAP_AMBIENT with PR_CAP_AMBIENT_CLEAR_ALL takes integers only (the rest
    // must be zero): no memory of ours is touched. Its result is ignored on purpose (a
    // kernel without ambient capabilities has none to clear).
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    let lo = want as u32;
    let hi = (want >> 32) as u32;
    let d = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: 0,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: 0,
        },
    ];
    let mut h = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: capset(2) for _LINUX_CAPABILITY_VERSION_3 reads `*h` and exactly two
    // three-u32 data structs (the #[repr(C)] CapData) from `d`; both are live locals
    // borrowed for the call only. On a refused version it writes `h.version` (hence `&mut h`).
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut CapHeader, d.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only (1, then zeros): no memory of ours
    // is touched.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let after = mask(&capget()?, |d| d.permitted);
    Ok(Dropped {
        before,
        after,
        bounding,
    })
}

/// Put the calling thread on SCHED_RR at `priority` (1..=99). Threads it creates
/// afterwards inherit the policy.
pub fn set_realtime(priority: u32) -> io::Result<()> {
    set_scheduler(libc::SCHED_RR, priority as libc::c_int)
}

/// Put the calling thread back on the normal scheduler (no privilege needed).
pub fn normal_scheduling() -> io::Result<()> {
    set_scheduler(libc::SCHED_OTHER, 0)
}

fn set_scheduler(policy: libc::c_int, priority: libc::c_int) -> io::Result<()> {
    let p = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sched_setscheduler(2) only reads the `sched_param` it is given, which
    // lives on this stack frame for the whole call; pid 0 is the calling thread.
    let r = unsafe { libc::sched_setscheduler(0, policy, &p) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
