/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pnfs_shim: in-kernel API of the pnfsd / gfs2ctl generic netlink control
 * channel.  A kernel user (nfsd pNFS, GFS2) calls these to issue an upcall to
 * the cluster daemon registered in a network namespace and to wait for its
 * REPLY.  See kmod-shim/PROTOCOL.md.
 *
 * Every call returns
 *   0           the daemon answered; reply->status holds its status
 *   -ENOTCONN   no daemon registered, or it went away while we waited
 *   -ETIMEDOUT  no reply within the configured timeout (nfsd: NFS4ERR_DELAY)
 *   -EINTR      the caller was killed while waiting
 *   other < 0   the upcall could not be sent (-ENOMEM, -EAGAIN, ...)
 */
#ifndef _PNFS_SHIM_H
#define _PNFS_SHIM_H

#include <linux/bits.h>
#include <linux/types.h>

#include "uapi/pnfsd.h"
#include "uapi/gfs2ctl.h"

struct net;

#define PNFS_SHIM_NETID_LEN	16	/* ds-addr netid, max-len 8 + NUL */
#define PNFS_SHIM_UADDR_LEN	72	/* ds-addr uaddr, max-len 64 + NUL */
#define PNFS_SHIM_DEVICE_LEN	256	/* gfs2 device, max-len 255 + NUL */

struct pnfs_shim_ds_addr {
	char netid[PNFS_SHIM_NETID_LEN];
	char uaddr[PNFS_SHIM_UADDR_LEN];
};

/*
 * Arguments of every pnfsd upcall; each kind sends the attributes of its
 * request list in the spec and ignores the other fields.
 */
struct pnfs_shim_pnfsd_args {
	u32 mds_id;
	u64 boot_epoch;
	u64 fsid;
	u64 fileid;
	u8 stateid[PNFSD_STATEID_SIZE];
	u64 clientid;
	u8 device_id[PNFSD_DEVICEID_SIZE];
	u32 iomode;
	u64 offset;
	u64 length;
	u32 generation;
	u32 state_change;
	u64 last_write;
};

/* Bits of pnfs_shim_pnfsd_reply.has: which optional attributes came back. */
#define PNFS_SHIM_HAS_ACCESS		BIT(0)
#define PNFS_SHIM_HAS_GENERATION	BIT(1)
#define PNFS_SHIM_HAS_CLIENTID		BIT(2)
#define PNFS_SHIM_HAS_VERIFIER		BIT(3)
#define PNFS_SHIM_HAS_DEVICE_ID		BIT(4)
#define PNFS_SHIM_HAS_STATEID		BIT(5)
#define PNFS_SHIM_HAS_IOMODE		BIT(6)
#define PNFS_SHIM_HAS_OFFSET		BIT(7)
#define PNFS_SHIM_HAS_LENGTH		BIT(8)
#define PNFS_SHIM_HAS_JID		BIT(9)
#define PNFS_SHIM_HAS_FIRST		BIT(10)

/* A pnfsd REPLY, decoded (status is an nfsstat4). */
struct pnfs_shim_pnfsd_reply {
	u32 status;
	u32 has;
	u32 access;
	u32 generation;
	u64 clientid;
	u64 verifier;
	u8 device_id[PNFSD_DEVICEID_SIZE];
	u8 stateid[PNFSD_STATEID_SIZE];
	u32 iomode;
	u64 offset;
	u64 length;
	u32 nr_ds_addrs;
	struct pnfs_shim_ds_addr ds_addr[PNFSD_MAX_DS_ADDRS];
};

/* Arguments of every gfs2ctl upcall (same convention as pnfsd). */
struct pnfs_shim_gfs2_args {
	char table[GFS2CTL_TABLE_MAX + 1];
	u8 uuid[16];
	char device[PNFS_SHIM_DEVICE_LEN];
	u32 mount_flags;
	u32 jid;
	u32 recovery_status;
	s32 status;
};

/* A gfs2ctl REPLY, decoded (status is 0 or a negative errno). */
struct pnfs_shim_gfs2_reply {
	s32 status;
	u32 has;
	u32 jid;
	u8 first;
};

int pnfs_shim_get_state(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			struct pnfs_shim_pnfsd_reply *reply);
int pnfs_shim_get_device_info(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			      struct pnfs_shim_pnfsd_reply *reply);
int pnfs_shim_layout_get(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			 struct pnfs_shim_pnfsd_reply *reply);
int pnfs_shim_layout_return(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			    struct pnfs_shim_pnfsd_reply *reply);
/*
 * Every layout of (args->clientid, fsid, fileid) went away at @freed_ns
 * (ktime_get_ns()): forgets those the kernel half recorded up to then, whatever
 * the daemon answers, and sends the layout-return upcall.  May sleep.
 */
int pnfs_shim_layout_returned(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			      u64 freed_ns, struct pnfs_shim_pnfsd_reply *reply,
			      unsigned int *forgotten);
int pnfs_shim_layout_commit(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			    struct pnfs_shim_pnfsd_reply *reply);
int pnfs_shim_state_changed(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			    struct pnfs_shim_pnfsd_reply *reply);

/*
 * LAYOUT_RECALL downcalls forwarded to the server that holds the layouts
 * (pnfs_shim_ff.ko for nfsd's flexfile layouts).  The recall callback runs
 * in the downcall's context (may sleep) and returns how many layouts it
 * recalled.
 */
struct pnfs_shim_recall {
	u32 type;			/* PNFSD_RECALL_TYPE_* */
	bool has_clientid;		/* else every client */
	u64 clientid;
	u64 fsid;			/* file, fsid */
	u64 fileid;			/* file */
	u8 device_id[PNFSD_DEVICEID_SIZE];	/* device */
};

struct pnfs_shim_recall_ops {
	struct module *owner;
	int (*recall)(struct net *net, const struct pnfs_shim_recall *r);
};

int pnfs_shim_set_recall_ops(const struct pnfs_shim_recall_ops *ops);
void pnfs_shim_clear_recall_ops(const struct pnfs_shim_recall_ops *ops);

int pnfs_shim_gfs2_mount(struct net *net, const struct pnfs_shim_gfs2_args *args,
			 struct pnfs_shim_gfs2_reply *reply);
int pnfs_shim_gfs2_mount_done(struct net *net, const struct pnfs_shim_gfs2_args *args,
			      struct pnfs_shim_gfs2_reply *reply);
int pnfs_shim_gfs2_unmount(struct net *net, const struct pnfs_shim_gfs2_args *args,
			   struct pnfs_shim_gfs2_reply *reply);
int pnfs_shim_gfs2_withdraw(struct net *net, const struct pnfs_shim_gfs2_args *args,
			    struct pnfs_shim_gfs2_reply *reply);
int pnfs_shim_gfs2_recovery_done(struct net *net, const struct pnfs_shim_gfs2_args *args,
				 struct pnfs_shim_gfs2_reply *reply);

#endif /* _PNFS_SHIM_H */
