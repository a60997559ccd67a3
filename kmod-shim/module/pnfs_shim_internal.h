/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pnfs_shim internals shared by the upcall machinery, the two families and
 * the load generator.
 */
#ifndef _PNFS_SHIM_INTERNAL_H
#define _PNFS_SHIM_INTERNAL_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <net/genetlink.h>

#include "pnfs_shim.h"

/*
 * Latency histogram (PROTOCOL.md): bucket 0 holds ns < 64, else bucket
 * (msb(ns) - 5) * 16 + ((ns >> (msb(ns) - 4)) & 15).  msb <= 63, so the
 * highest bucket is 58 * 16 + 15.
 */
#define PNFS_SHIM_HIST_BUCKETS	(58 * 16 + 16)

#define PNFS_SHIM_DEFAULT_TIMEOUT_MS	5000

enum pnfs_shim_fam_idx {
	PNFS_SHIM_PNFSD,
	PNFS_SHIM_GFS2,
	PNFS_SHIM_NFAM,
};

/* Counters of one upcall kind (or of one TRIGGER run). */
struct pnfs_shim_kstats {
	atomic64_t sent;
	atomic64_t answered;
	atomic64_t errors;
	atomic64_t timeouts;
	atomic64_t failed;
	atomic64_t hist[PNFS_SHIM_HIST_BUCKETS];
	/* a TRIGGER run's: answer its upcalls in the kernel (pnfsd TRIGGER loopback) */
	bool loopback;
};

struct pnfs_shim_chan;

/* What the generic code needs to know about a family. */
struct pnfs_shim_family {
	struct genl_family *genl;
	unsigned int nkinds;
	const u8 *kind_cmd;		/* [kind] -> upcall command */
	u8 cmd_upcall_dump;
	u16 attr_xid;
	u16 attr_status;
	u16 attr_upcall_kind;
	u16 attr_age_us;
	u16 attr_kind_stats;
	u16 attr_pad;
	size_t args_size;
	size_t reply_size;
	/* puts the request attributes of @kind after the xid */
	int (*put_args)(struct sk_buff *skb, u32 kind, const void *args);
	/* checks a REPLY before its xid is looked up (may be NULL) */
	int (*check_reply)(struct genl_info *info);
	/* decodes a checked REPLY into a reply struct */
	void (*decode_reply)(struct genl_info *info, void *reply);
	/* issues an upcall of @kind and applies its effect on the state */
	int (*call)(struct pnfs_shim_chan *chan, u32 kind, const void *args,
		    void *reply, struct pnfs_shim_kstats *run);
	/* sends the daemon-down event */
	void (*daemon_down)(struct pnfs_shim_chan *chan, u32 port, u32 node_id,
			    u32 count);
};

/* One family in one network namespace: the daemon and its upcalls. */
struct pnfs_shim_chan {
	const struct pnfs_shim_family *fam;
	struct net *net;

	spinlock_t lock;		/* protects the daemon fields below */
	bool registered;
	struct sock *sk;		/* the daemon's socket (held), NULL if none */
	u32 port;
	u64 gen;			/* registration generation, never 0 */
	u64 last_gen;
	u32 version;
	u32 node_id;
	u32 role;			/* pnfsd only */
	u32 mds_id;			/* pnfsd only */
	u64 boot_epoch;			/* pnfsd only */
	u32 timeout_ms;

	struct xarray pending;		/* xid -> struct pnfs_shim_upcall */
	u32 next_xid;			/* protected by the xarray lock */
	atomic64_t late_replies;
	atomic64_t foreign_replies;	/* REPLYs refused: not the daemon's socket */
	atomic64_t abandoned_runs;	/* TRIGGER runs whose requester went away */

	struct pnfs_shim_kstats *kstats;	/* [nkinds], index kind - 1 */
};

struct pnfs_shim_pnfsd_state;
struct pnfs_shim_gfs2_state;

/* Per network namespace. */
struct pnfs_shim_net {
	struct net *net;
	struct list_head node;		/* on pnfs_shim_nets */
	struct pnfs_shim_chan *chan[PNFS_SHIM_NFAM];
	struct pnfs_shim_pnfsd_state *pnfsd;
	struct pnfs_shim_gfs2_state *gfs2;
};

/* A TRIGGER run: depth kthreads issuing count upcalls. */
struct pnfs_shim_run {
	struct pnfs_shim_chan *chan;
	u32 kind;
	u64 count;
	const void *args;
	atomic64_t issued;
	bool stop;
	struct completion exited;	/* completed once per thread */
	struct list_head node;		/* on pnfs_shim_runs */

	struct sock *req_sk;		/* the requester's socket, NULL if none */
	u32 req_port;

	spinlock_t lock;		/* tasks, nr_tasks, last, have_last */
	bool have_last;
	void *last;			/* last answered reply */
	u64 elapsed_ns;
	struct pnfs_shim_kstats *stats;
	unsigned int nr_tasks;
	struct task_struct *tasks[];
};

extern struct genl_family pnfs_shim_pnfsd_family;
extern struct genl_family pnfs_shim_gfs2_family;
extern const struct pnfs_shim_family pnfs_shim_pnfsd_fam;
extern const struct pnfs_shim_family pnfs_shim_gfs2_fam;
extern bool pnfs_shim_stopping;

/* pnfs_shim_main.c */
struct pnfs_shim_net *pnfs_shim_net(const struct net *net);
struct pnfs_shim_chan *pnfs_shim_chan(const struct net *net, enum pnfs_shim_fam_idx idx);
__printf(2, 3)
void pnfs_shim_set_err(struct netlink_ext_ack *extack, const char *fmt, ...);

/*
 * A required attribute: -EINVAL with the missing-type TLV (GENL_REQ_ATTR_CHECK)
 * and the extack message "missing attribute: NAME".
 */
#define PNFS_SHIM_REQ_ATTR(info, attr, name) ({				\
	bool __miss = GENL_REQ_ATTR_CHECK(info, attr);			\
									\
	if (__miss)							\
		NL_SET_ERR_MSG((info)->extack, "missing attribute: " name); \
	__miss;								\
})

/* pnfs_shim_upcall.c */
struct pnfs_shim_chan *pnfs_shim_chan_alloc(struct net *net,
					    const struct pnfs_shim_family *fam);
void pnfs_shim_chan_free(struct pnfs_shim_chan *chan);
int pnfs_shim_upcall(struct pnfs_shim_chan *chan, u32 kind, const void *args,
		     void *reply, struct pnfs_shim_kstats *run);
int pnfs_shim_reply(struct pnfs_shim_chan *chan, struct sk_buff *skb, struct genl_info *info);
int pnfs_shim_daemon_released(struct pnfs_shim_chan *chan, u32 port);
void pnfs_shim_reap(struct pnfs_shim_chan *chan);
bool pnfs_shim_sock_open(struct sock *sk);
int pnfs_shim_unicast(struct net *net, struct sock *sk, u32 port, struct sk_buff *skb);
unsigned int pnfs_shim_fail_pending(struct pnfs_shim_chan *chan, u64 gen);
int pnfs_shim_register_locked(struct pnfs_shim_chan *chan, struct sk_buff *skb,
			      struct genl_info *info);
int pnfs_shim_unregister(struct pnfs_shim_chan *chan, struct sk_buff *skb,
			 struct genl_info *info);
int pnfs_shim_upcall_dump(struct pnfs_shim_chan *chan, struct sk_buff *skb,
			  struct netlink_callback *cb);
unsigned int pnfs_shim_hist_bucket(u64 ns);
u64 pnfs_shim_hist_lower(unsigned int bucket);
int pnfs_shim_put_kind_stats(struct sk_buff *skb, const struct pnfs_shim_family *fam, bool hist,
			     u32 kind, struct pnfs_shim_kstats *ks);
int pnfs_shim_put_all_stats(struct sk_buff *skb, struct pnfs_shim_chan *chan, u16 attr_late);
struct sk_buff *pnfs_shim_event_new(struct pnfs_shim_chan *chan, u8 cmd, void **hdr);
void pnfs_shim_event_send(struct pnfs_shim_chan *chan, struct sk_buff *skb, void *hdr);

/* pnfs_shim_trigger.c */
/* puts a finished TRIGGER run's answer attributes into @msg */
typedef int (*pnfs_shim_answer_fn)(struct sk_buff *msg, struct pnfs_shim_chan *chan,
				   u32 kind, struct pnfs_shim_run *run);
int pnfs_shim_trigger_start(struct pnfs_shim_chan *chan, struct sk_buff *skb,
			    struct genl_info *info, u32 kind, u32 count, u32 depth,
			    void *args, bool loopback, pnfs_shim_answer_fn answer);
void pnfs_shim_run_free(struct pnfs_shim_run *run);
void pnfs_shim_trigger_abort_all(void);
void pnfs_shim_trigger_released(struct net *net, u32 port);
int pnfs_shim_trigger_init(void);
void pnfs_shim_trigger_exit(void);

/* pnfs_shim_pnfsd.c */
struct pnfs_shim_pnfsd_state *pnfs_shim_pnfsd_state_alloc(void);
void pnfs_shim_pnfsd_state_free(struct pnfs_shim_pnfsd_state *st);

/* pnfs_shim_gfs2.c */
struct pnfs_shim_gfs2_state *pnfs_shim_gfs2_state_alloc(void);
void pnfs_shim_gfs2_state_free(struct pnfs_shim_gfs2_state *st);

#endif /* _PNFS_SHIM_INTERNAL_H */
