// SPDX-License-Identifier: GPL-2.0
/*
 * pnfs_shim: the "pnfsd" family.  Upcalls of nfsd pNFS (get-state,
 * get-device-info, layout-get/return/commit, state-changed), downcall state
 * (devices, layouts, stateids, grace), dumps, events, the load generator.
 */

#include <linux/atomic.h>
#include <linux/export.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <asm/unaligned.h>
#include <net/genetlink.h>
#include <net/sock.h>

#include "pnfs_shim_internal.h"
#include "pnfsd-nl.h"

struct pnfs_shim_device {
	struct list_head node;
	u8 device_id[PNFSD_DEVICEID_SIZE];
	u32 node_id;
	u32 nr_addrs;
	struct pnfs_shim_ds_addr addrs[];
};

struct pnfs_shim_layout {
	struct list_head node;
	u64 clientid;
	u64 fsid;
	u64 fileid;
	u8 device_id[PNFSD_DEVICEID_SIZE];
	u8 stateid[PNFSD_STATEID_SIZE];
	u32 iomode;
	u64 offset;
	u64 length;
	u64 recorded_ns;	/* ktime_get_ns() when recorded */
};

/*
 * A backstop, not the way layouts leave the table (layout-return, nfsd's
 * layout stateid going away through pnfs_shim_ff, layout-recall): at most
 * this many layouts per network namespace; recording one more forgets the
 * oldest, counted in layouts_evicted and logged.  A grant scans the table.
 */
static unsigned int pnfsd_max_layouts = 4096;
module_param_named(max_layouts, pnfsd_max_layouts, uint, 0644);
MODULE_PARM_DESC(max_layouts, "layouts the kernel half records per network namespace (backstop; the oldest is forgotten)");

static atomic_t pnfsd_layouts_evicted = ATOMIC_INIT(0);

static int pnfsd_get_evicted(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&pnfsd_layouts_evicted));
}

static const struct kernel_param_ops pnfsd_evicted_ops = {
	.get = pnfsd_get_evicted,
};

module_param_cb(layouts_evicted, &pnfsd_evicted_ops, NULL, 0444);
MODULE_PARM_DESC(layouts_evicted, "layouts forgotten because the table held max_layouts");

struct pnfs_shim_stateid {
	struct list_head node;
	u64 fsid;
	u64 fileid;
	u64 clientid;
	u8 stateid[PNFSD_STATEID_SIZE];
	u32 access;
	u32 generation;
};

struct pnfs_shim_pnfsd_state {
	struct mutex lock;		/* lists, grace; never held across an upcall */
	unsigned int seq;		/* bumped on every change, for dumps */
	struct list_head devices;
	struct list_head layouts;
	unsigned int nr_layouts;	/* entries in layouts */
	struct list_head stateids;
	bool in_grace;
	u64 grace_epoch;
};

static struct pnfs_shim_pnfsd_state *pnfsd_state(const struct net *net)
{
	return pnfs_shim_net(net)->pnfsd;
}

static struct pnfs_shim_chan *pnfsd_chan(const struct net *net)
{
	return pnfs_shim_chan(net, PNFS_SHIM_PNFSD);
}

static int pnfsd_put_u64(struct sk_buff *skb, int type, u64 value)
{
	return nla_put_u64_64bit(skb, type, value, PNFSD_A_PAD);
}

/* A stateid's "other" part is bytes 4..16, its seqid the be32 in bytes 0..4. */
static bool stateid_other_eq(const u8 *a, const u8 *b)
{
	return !memcmp(a + 4, b + 4, PNFSD_STATEID_SIZE - 4);
}

static u32 stateid_seqid(const u8 *stateid)
{
	return get_unaligned_be32(stateid);
}

struct pnfs_shim_pnfsd_state *pnfs_shim_pnfsd_state_alloc(void)
{
	struct pnfs_shim_pnfsd_state *st;

	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return NULL;
	mutex_init(&st->lock);
	st->seq = 1;
	INIT_LIST_HEAD(&st->devices);
	INIT_LIST_HEAD(&st->layouts);
	INIT_LIST_HEAD(&st->stateids);
	return st;
}

void pnfs_shim_pnfsd_state_free(struct pnfs_shim_pnfsd_state *st)
{
	struct pnfs_shim_device *dev, *dtmp;
	struct pnfs_shim_layout *lo, *ltmp;
	struct pnfs_shim_stateid *sid, *stmp;

	if (!st)
		return;
	list_for_each_entry_safe(dev, dtmp, &st->devices, node)
		kfree(dev);
	list_for_each_entry_safe(lo, ltmp, &st->layouts, node)
		kfree(lo);
	list_for_each_entry_safe(sid, stmp, &st->stateids, node)
		kfree(sid);
	mutex_destroy(&st->lock);
	kfree(st);
}

/* ds-addr entries: each needs netid and uaddr, at most max-ds-addrs. */
static int pnfsd_parse_ds_addrs(struct genl_info *info, struct pnfs_shim_ds_addr *out,
				u32 *nr)
{
	struct nlattr *tb[PNFSD_A_DS_ADDR_MAX + 1];
	struct nlattr *attr;
	u32 n = 0;
	int rem, err;

	nlmsg_for_each_attr(attr, info->nlhdr, GENL_HDRLEN, rem) {
		if (nla_type(attr) != PNFSD_A_DS_ADDR)
			continue;
		if (n == PNFSD_MAX_DS_ADDRS) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "too many ds-addr entries (max-ds-addrs is 16)");
			return -E2BIG;
		}
		err = nla_parse_nested(tb, PNFSD_A_DS_ADDR_MAX, attr,
				       pnfsd_ds_addr_nl_policy, info->extack);
		if (err)
			return err;
		if (NL_REQ_ATTR_CHECK(info->extack, attr, tb, PNFSD_A_DS_ADDR_NETID)) {
			NL_SET_ERR_MSG(info->extack, "missing attribute: netid");
			return -EINVAL;
		}
		if (NL_REQ_ATTR_CHECK(info->extack, attr, tb, PNFSD_A_DS_ADDR_UADDR)) {
			NL_SET_ERR_MSG(info->extack, "missing attribute: uaddr");
			return -EINVAL;
		}
		if (out) {
			nla_strscpy(out[n].netid, tb[PNFSD_A_DS_ADDR_NETID],
				    sizeof(out[n].netid));
			nla_strscpy(out[n].uaddr, tb[PNFSD_A_DS_ADDR_UADDR],
				    sizeof(out[n].uaddr));
		}
		n++;
	}
	if (nr)
		*nr = n;
	return 0;
}

static int pnfsd_put_ds_addrs(struct sk_buff *skb, const struct pnfs_shim_ds_addr *addrs,
			      u32 nr)
{
	struct nlattr *nest;
	u32 i;

	for (i = 0; i < nr; i++) {
		nest = nla_nest_start(skb, PNFSD_A_DS_ADDR);
		if (!nest)
			return -EMSGSIZE;
		if (nla_put_string(skb, PNFSD_A_DS_ADDR_NETID, addrs[i].netid) ||
		    nla_put_string(skb, PNFSD_A_DS_ADDR_UADDR, addrs[i].uaddr)) {
			nla_nest_cancel(skb, nest);
			return -EMSGSIZE;
		}
		nla_nest_end(skb, nest);
	}
	return 0;
}

/* ---- the upcalls ---- */

static const u8 pnfsd_kind_cmd[] = {
	[PNFSD_UPCALL_KIND_GET_STATE]		= PNFSD_CMD_GET_STATE,
	[PNFSD_UPCALL_KIND_GET_DEVICE_INFO]	= PNFSD_CMD_GET_DEVICE_INFO,
	[PNFSD_UPCALL_KIND_LAYOUT_GET]		= PNFSD_CMD_LAYOUT_GET,
	[PNFSD_UPCALL_KIND_LAYOUT_RETURN]	= PNFSD_CMD_LAYOUT_RETURN,
	[PNFSD_UPCALL_KIND_LAYOUT_COMMIT]	= PNFSD_CMD_LAYOUT_COMMIT,
	[PNFSD_UPCALL_KIND_STATE_CHANGED]	= PNFSD_CMD_STATE_CHANGED,
};

/* The request attributes of each upcall, in the spec's order after xid. */
static int pnfsd_put_args(struct sk_buff *skb, u32 kind, const void *p)
{
	const struct pnfs_shim_pnfsd_args *a = p;

	switch (kind) {
	case PNFSD_UPCALL_KIND_GET_STATE:
		if (nla_put_u32(skb, PNFSD_A_MDS_ID, a->mds_id) ||
		    pnfsd_put_u64(skb, PNFSD_A_BOOT_EPOCH, a->boot_epoch) ||
		    pnfsd_put_u64(skb, PNFSD_A_FSID, a->fsid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FILEID, a->fileid) ||
		    nla_put(skb, PNFSD_A_STATEID, PNFSD_STATEID_SIZE, a->stateid) ||
		    pnfsd_put_u64(skb, PNFSD_A_CLIENTID, a->clientid))
			return -EMSGSIZE;
		return 0;
	case PNFSD_UPCALL_KIND_GET_DEVICE_INFO:
		if (nla_put(skb, PNFSD_A_DEVICE_ID, PNFSD_DEVICEID_SIZE, a->device_id))
			return -EMSGSIZE;
		return 0;
	case PNFSD_UPCALL_KIND_LAYOUT_GET:
		if (pnfsd_put_u64(skb, PNFSD_A_CLIENTID, a->clientid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FSID, a->fsid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FILEID, a->fileid) ||
		    nla_put_u32(skb, PNFSD_A_IOMODE, a->iomode) ||
		    pnfsd_put_u64(skb, PNFSD_A_OFFSET, a->offset) ||
		    pnfsd_put_u64(skb, PNFSD_A_LENGTH, a->length))
			return -EMSGSIZE;
		return 0;
	case PNFSD_UPCALL_KIND_LAYOUT_RETURN:
		if (pnfsd_put_u64(skb, PNFSD_A_CLIENTID, a->clientid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FSID, a->fsid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FILEID, a->fileid) ||
		    nla_put(skb, PNFSD_A_STATEID, PNFSD_STATEID_SIZE, a->stateid) ||
		    pnfsd_put_u64(skb, PNFSD_A_OFFSET, a->offset) ||
		    pnfsd_put_u64(skb, PNFSD_A_LENGTH, a->length))
			return -EMSGSIZE;
		return 0;
	case PNFSD_UPCALL_KIND_LAYOUT_COMMIT:
		if (pnfsd_put_u64(skb, PNFSD_A_CLIENTID, a->clientid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FSID, a->fsid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FILEID, a->fileid) ||
		    nla_put(skb, PNFSD_A_STATEID, PNFSD_STATEID_SIZE, a->stateid) ||
		    pnfsd_put_u64(skb, PNFSD_A_LAST_WRITE, a->last_write))
			return -EMSGSIZE;
		return 0;
	case PNFSD_UPCALL_KIND_STATE_CHANGED:
		if (pnfsd_put_u64(skb, PNFSD_A_CLIENTID, a->clientid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FSID, a->fsid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FILEID, a->fileid) ||
		    nla_put(skb, PNFSD_A_STATEID, PNFSD_STATEID_SIZE, a->stateid) ||
		    nla_put_u32(skb, PNFSD_A_GENERATION, a->generation) ||
		    nla_put_u32(skb, PNFSD_A_STATE_CHANGE, a->state_change))
			return -EMSGSIZE;
		return 0;
	}
	return -EINVAL;
}

static int pnfsd_check_reply(struct genl_info *info)
{
	return pnfsd_parse_ds_addrs(info, NULL, NULL);
}

static void pnfsd_decode_reply(struct genl_info *info, void *p)
{
	struct pnfs_shim_pnfsd_reply *r = p;
	struct nlattr **tb = info->attrs;

	memset(r, 0, sizeof(*r));
	r->status = nla_get_u32(tb[PNFSD_A_STATUS]);
	if (tb[PNFSD_A_ACCESS]) {
		r->access = nla_get_u32(tb[PNFSD_A_ACCESS]);
		r->has |= PNFS_SHIM_HAS_ACCESS;
	}
	if (tb[PNFSD_A_GENERATION]) {
		r->generation = nla_get_u32(tb[PNFSD_A_GENERATION]);
		r->has |= PNFS_SHIM_HAS_GENERATION;
	}
	if (tb[PNFSD_A_CLIENTID]) {
		r->clientid = nla_get_u64(tb[PNFSD_A_CLIENTID]);
		r->has |= PNFS_SHIM_HAS_CLIENTID;
	}
	if (tb[PNFSD_A_VERIFIER]) {
		r->verifier = nla_get_u64(tb[PNFSD_A_VERIFIER]);
		r->has |= PNFS_SHIM_HAS_VERIFIER;
	}
	if (tb[PNFSD_A_DEVICE_ID]) {
		nla_memcpy(r->device_id, tb[PNFSD_A_DEVICE_ID], sizeof(r->device_id));
		r->has |= PNFS_SHIM_HAS_DEVICE_ID;
	}
	if (tb[PNFSD_A_STATEID]) {
		nla_memcpy(r->stateid, tb[PNFSD_A_STATEID], sizeof(r->stateid));
		r->has |= PNFS_SHIM_HAS_STATEID;
	}
	if (tb[PNFSD_A_IOMODE]) {
		r->iomode = nla_get_u32(tb[PNFSD_A_IOMODE]);
		r->has |= PNFS_SHIM_HAS_IOMODE;
	}
	if (tb[PNFSD_A_OFFSET]) {
		r->offset = nla_get_u64(tb[PNFSD_A_OFFSET]);
		r->has |= PNFS_SHIM_HAS_OFFSET;
	}
	if (tb[PNFSD_A_LENGTH]) {
		r->length = nla_get_u64(tb[PNFSD_A_LENGTH]);
		r->has |= PNFS_SHIM_HAS_LENGTH;
	}
	/* checked by pnfsd_check_reply() */
	pnfsd_parse_ds_addrs(info, r->ds_addr, &r->nr_ds_addrs);
}

/* layout-get answered with status 0: record the layout (request + reply). */
static void pnfsd_layout_record(struct pnfs_shim_pnfsd_state *st,
				const struct pnfs_shim_pnfsd_args *a,
				const struct pnfs_shim_pnfsd_reply *r)
{
	struct pnfs_shim_layout *lo, *old;

	lo = kzalloc(sizeof(*lo), GFP_KERNEL);
	if (!lo)
		return;
	lo->clientid = a->clientid;
	lo->fsid = a->fsid;
	lo->fileid = a->fileid;
	memcpy(lo->device_id, r->has & PNFS_SHIM_HAS_DEVICE_ID ? r->device_id : a->device_id,
	       PNFSD_DEVICEID_SIZE);
	memcpy(lo->stateid, r->has & PNFS_SHIM_HAS_STATEID ? r->stateid : a->stateid,
	       PNFSD_STATEID_SIZE);
	lo->iomode = r->has & PNFS_SHIM_HAS_IOMODE ? r->iomode : a->iomode;
	lo->offset = r->has & PNFS_SHIM_HAS_OFFSET ? r->offset : a->offset;
	lo->length = r->has & PNFS_SHIM_HAS_LENGTH ? r->length : a->length;

	mutex_lock(&st->lock);
	lo->recorded_ns = ktime_get_ns();
	/*
	 * An identical layout is recorded once, as of now: a forget of what an
	 * older layout stateid held (pnfs_shim_layout_returned) leaves it.
	 */
	list_for_each_entry(old, &st->layouts, node) {
		if (old->clientid == lo->clientid && old->fsid == lo->fsid &&
		    old->fileid == lo->fileid && old->iomode == lo->iomode &&
		    old->offset == lo->offset && old->length == lo->length &&
		    !memcmp(old->device_id, lo->device_id, PNFSD_DEVICEID_SIZE) &&
		    !memcmp(old->stateid, lo->stateid, PNFSD_STATEID_SIZE)) {
			old->recorded_ns = lo->recorded_ns;
			mutex_unlock(&st->lock);
			kfree(lo);
			return;
		}
	}
	/* the first recorded: the oldest but for one re-granted since */
	if (st->nr_layouts >= READ_ONCE(pnfsd_max_layouts) && st->nr_layouts) {
		old = list_first_entry(&st->layouts, struct pnfs_shim_layout, node);
		list_del(&old->node);
		kfree(old);
		st->nr_layouts--;
		atomic_inc(&pnfsd_layouts_evicted);
		pr_warn_ratelimited("pnfs_shim: layout table full (max_layouts %u): forgot the oldest layout (client %llx fsid %llu fileid %llu)\n",
				    READ_ONCE(pnfsd_max_layouts), old->clientid, old->fsid,
				    old->fileid);
	}
	list_add_tail(&lo->node, &st->layouts);
	st->nr_layouts++;
	st->seq++;
	mutex_unlock(&st->lock);
}

/*
 * Forget the layouts of (clientid, fsid, fileid) recorded at or before
 * @before_ns (U64_MAX: all of them); returns how many.
 */
static unsigned int pnfsd_layout_forget(struct pnfs_shim_pnfsd_state *st,
					const struct pnfs_shim_pnfsd_args *a, u64 before_ns)
{
	struct pnfs_shim_layout *lo, *tmp;
	unsigned int n = 0;

	mutex_lock(&st->lock);
	list_for_each_entry_safe(lo, tmp, &st->layouts, node) {
		if (lo->clientid == a->clientid && lo->fsid == a->fsid &&
		    lo->fileid == a->fileid && lo->recorded_ns <= before_ns) {
			list_del(&lo->node);
			kfree(lo);
			st->nr_layouts--;
			n++;
		}
	}
	if (n)
		st->seq++;
	mutex_unlock(&st->lock);
	return n;
}

static int pnfsd_call(struct pnfs_shim_chan *chan, u32 kind, const void *args,
		      void *reply, struct pnfs_shim_kstats *run)
{
	const struct pnfs_shim_pnfsd_args *a = args;
	struct pnfs_shim_pnfsd_reply *r = reply;
	int err;

	err = pnfs_shim_upcall(chan, kind, args, reply, run);
	if (err || r->status != PNFSD_NFSSTAT_OK)
		return err;
	if (kind == PNFSD_UPCALL_KIND_LAYOUT_GET)
		pnfsd_layout_record(pnfsd_state(chan->net), a, r);
	else if (kind == PNFSD_UPCALL_KIND_LAYOUT_RETURN)
		pnfsd_layout_forget(pnfsd_state(chan->net), a, U64_MAX);
	return 0;
}

static void pnfsd_daemon_down(struct pnfs_shim_chan *chan, u32 port, u32 node_id,
			      u32 count)
{
	struct sk_buff *skb;
	void *hdr;

	skb = pnfs_shim_event_new(chan, PNFSD_CMD_DAEMON_DOWN, &hdr);
	if (!skb)
		return;
	if (nla_put_u32(skb, PNFSD_A_PORT, port) ||
	    nla_put_u32(skb, PNFSD_A_NODE_ID, node_id) ||
	    nla_put_u32(skb, PNFSD_A_COUNT, count)) {
		nlmsg_free(skb);
		return;
	}
	pnfs_shim_event_send(chan, skb, hdr);
}

const struct pnfs_shim_family pnfs_shim_pnfsd_fam = {
	.genl			= &pnfs_shim_pnfsd_family,
	.nkinds			= PNFSD_UPCALL_KIND_STATE_CHANGED,
	.kind_cmd		= pnfsd_kind_cmd,
	.cmd_upcall_dump	= PNFSD_CMD_UPCALL_DUMP,
	.attr_xid		= PNFSD_A_XID,
	.attr_status		= PNFSD_A_STATUS,
	.attr_upcall_kind	= PNFSD_A_UPCALL_KIND,
	.attr_age_us		= PNFSD_A_AGE_US,
	.attr_kind_stats	= PNFSD_A_KIND_STATS,
	.attr_pad		= PNFSD_A_PAD,
	.args_size		= sizeof(struct pnfs_shim_pnfsd_args),
	.reply_size		= sizeof(struct pnfs_shim_pnfsd_reply),
	.put_args		= pnfsd_put_args,
	.check_reply		= pnfsd_check_reply,
	.decode_reply		= pnfsd_decode_reply,
	.call			= pnfsd_call,
	.daemon_down		= pnfsd_daemon_down,
};

/* ---- in-kernel API ---- */

static int pnfsd_api(struct net *net, u32 kind, const struct pnfs_shim_pnfsd_args *args,
		     struct pnfs_shim_pnfsd_reply *reply)
{
	return pnfsd_call(pnfsd_chan(net), kind, args, reply, NULL);
}

int pnfs_shim_get_state(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			struct pnfs_shim_pnfsd_reply *reply)
{
	return pnfsd_api(net, PNFSD_UPCALL_KIND_GET_STATE, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_get_state);

int pnfs_shim_get_device_info(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			      struct pnfs_shim_pnfsd_reply *reply)
{
	return pnfsd_api(net, PNFSD_UPCALL_KIND_GET_DEVICE_INFO, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_get_device_info);

int pnfs_shim_layout_get(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			 struct pnfs_shim_pnfsd_reply *reply)
{
	return pnfsd_api(net, PNFSD_UPCALL_KIND_LAYOUT_GET, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_layout_get);

int pnfs_shim_layout_return(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			    struct pnfs_shim_pnfsd_reply *reply)
{
	return pnfsd_api(net, PNFSD_UPCALL_KIND_LAYOUT_RETURN, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_layout_return);

/*
 * The server dropped every layout of (clientid, fsid, fileid) at @freed_ns
 * (pnfs_shim_ff: nfsd freed the layout stateid): forget those recorded up to
 * then whatever the daemon answers, then tell the daemon with a layout-return
 * upcall (offset, length, stateid from @args).  A layout recorded after
 * @freed_ns belongs to a newer stateid and stays.  Returns the upcall's
 * result as pnfs_shim_layout_return(); *forgotten is how many were dropped.
 */
int pnfs_shim_layout_returned(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			      u64 freed_ns, struct pnfs_shim_pnfsd_reply *reply,
			      unsigned int *forgotten)
{
	*forgotten = pnfsd_layout_forget(pnfsd_state(net), args, freed_ns);
	return pnfs_shim_upcall(pnfsd_chan(net), PNFSD_UPCALL_KIND_LAYOUT_RETURN, args,
				reply, NULL);
}
EXPORT_SYMBOL_GPL(pnfs_shim_layout_returned);

int pnfs_shim_layout_commit(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			    struct pnfs_shim_pnfsd_reply *reply)
{
	return pnfsd_api(net, PNFSD_UPCALL_KIND_LAYOUT_COMMIT, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_layout_commit);

int pnfs_shim_state_changed(struct net *net, const struct pnfs_shim_pnfsd_args *args,
			    struct pnfs_shim_pnfsd_reply *reply)
{
	return pnfsd_api(net, PNFSD_UPCALL_KIND_STATE_CHANGED, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_state_changed);

/* ---- registration ---- */

int pnfsd_nl_register_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_chan *chan = pnfsd_chan(genl_info_net(info));
	struct nlattr **tb = info->attrs;
	u32 version, node_id, role;
	struct sk_buff *msg, *ev;
	void *hdr, *evhdr;
	int err;

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_VERSION, "version"))
		return -EINVAL;
	version = min_t(u32, nla_get_u32(tb[PNFSD_A_VERSION]), PNFSD_FAMILY_VERSION);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &pnfs_shim_pnfsd_family, 0,
				info->genlhdr->cmd);
	if (!hdr) {
		err = -EMSGSIZE;
		goto err_free;
	}

	/* a daemon whose socket is being released does not hold its place */
	pnfs_shim_reap(chan);
	spin_lock(&chan->lock);
	err = pnfs_shim_register_locked(chan, skb, info);
	if (err) {
		spin_unlock(&chan->lock);
		goto err_free;
	}
	chan->version = version;
	if (tb[PNFSD_A_NODE_ID])
		chan->node_id = nla_get_u32(tb[PNFSD_A_NODE_ID]);
	if (tb[PNFSD_A_ROLE])
		chan->role = nla_get_u32(tb[PNFSD_A_ROLE]);
	if (tb[PNFSD_A_MDS_ID])
		chan->mds_id = nla_get_u32(tb[PNFSD_A_MDS_ID]);
	if (tb[PNFSD_A_BOOT_EPOCH])
		chan->boot_epoch = nla_get_u64(tb[PNFSD_A_BOOT_EPOCH]);
	node_id = chan->node_id;
	role = chan->role;
	spin_unlock(&chan->lock);

	if (nla_put_u32(msg, PNFSD_A_VERSION, version) ||
	    nla_put_u32(msg, PNFSD_A_PORT, info->snd_portid)) {
		err = -EMSGSIZE;
		goto err_free;
	}
	genlmsg_end(msg, hdr);

	ev = pnfs_shim_event_new(chan, PNFSD_CMD_DAEMON_UP, &evhdr);
	if (ev) {
		if (nla_put_u32(ev, PNFSD_A_PORT, info->snd_portid) ||
		    nla_put_u32(ev, PNFSD_A_NODE_ID, node_id) ||
		    (role && nla_put_u32(ev, PNFSD_A_ROLE, role)) ||
		    nla_put_u32(ev, PNFSD_A_VERSION, version))
			nlmsg_free(ev);
		else
			pnfs_shim_event_send(chan, ev, evhdr);
	}
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return err;
}

int pnfsd_nl_unregister_doit(struct sk_buff *skb, struct genl_info *info)
{
	return pnfs_shim_unregister(pnfsd_chan(genl_info_net(info)), skb, info);
}

int pnfsd_nl_reply_doit(struct sk_buff *skb, struct genl_info *info)
{
	return pnfs_shim_reply(pnfsd_chan(genl_info_net(info)), skb, info);
}

/* ---- stateids ---- */

static struct pnfs_shim_stateid *pnfsd_stateid_find(struct pnfs_shim_pnfsd_state *st,
						    u64 fsid, u64 fileid, const u8 *stateid)
{
	struct pnfs_shim_stateid *sid;

	list_for_each_entry(sid, &st->stateids, node)
		if (sid->fsid == fsid && sid->fileid == fileid &&
		    stateid_other_eq(sid->stateid, stateid))
			return sid;
	return NULL;
}

int pnfsd_nl_state_set_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(genl_info_net(info));
	struct pnfs_shim_stateid *sid, *old;
	struct nlattr **tb = info->attrs;

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_FSID, "fsid") ||
	    PNFS_SHIM_REQ_ATTR(info, PNFSD_A_FILEID, "fileid") ||
	    PNFS_SHIM_REQ_ATTR(info, PNFSD_A_STATEID, "stateid") ||
	    PNFS_SHIM_REQ_ATTR(info, PNFSD_A_CLIENTID, "clientid"))
		return -EINVAL;

	sid = kzalloc(sizeof(*sid), GFP_KERNEL);
	if (!sid)
		return -ENOMEM;
	sid->fsid = nla_get_u64(tb[PNFSD_A_FSID]);
	sid->fileid = nla_get_u64(tb[PNFSD_A_FILEID]);
	nla_memcpy(sid->stateid, tb[PNFSD_A_STATEID], sizeof(sid->stateid));
	sid->clientid = nla_get_u64(tb[PNFSD_A_CLIENTID]);
	if (tb[PNFSD_A_ACCESS])
		sid->access = nla_get_u32(tb[PNFSD_A_ACCESS]);
	if (tb[PNFSD_A_GENERATION])
		sid->generation = nla_get_u32(tb[PNFSD_A_GENERATION]);
	else
		sid->generation = stateid_seqid(sid->stateid);

	mutex_lock(&st->lock);
	old = pnfsd_stateid_find(st, sid->fsid, sid->fileid, sid->stateid);
	if (old) {
		list_replace(&old->node, &sid->node);
		kfree(old);
	} else {
		list_add_tail(&sid->node, &st->stateids);
	}
	st->seq++;
	mutex_unlock(&st->lock);
	return 0;
}

int pnfsd_nl_state_check_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(net);
	struct pnfs_shim_chan *chan = pnfsd_chan(net);
	struct nlattr **tb = info->attrs;
	u8 stateid[PNFSD_STATEID_SIZE];
	struct pnfs_shim_stateid *sid;
	u32 status, access = 0, generation = 0, seqid;
	u64 fsid, fileid, clientid = 0, epoch;
	struct sk_buff *msg;
	void *hdr;

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_FSID, "fsid") ||
	    PNFS_SHIM_REQ_ATTR(info, PNFSD_A_FILEID, "fileid") ||
	    PNFS_SHIM_REQ_ATTR(info, PNFSD_A_STATEID, "stateid"))
		return -EINVAL;
	fsid = nla_get_u64(tb[PNFSD_A_FSID]);
	fileid = nla_get_u64(tb[PNFSD_A_FILEID]);
	nla_memcpy(stateid, tb[PNFSD_A_STATEID], sizeof(stateid));
	seqid = stateid_seqid(stateid);

	mutex_lock(&st->lock);
	sid = pnfsd_stateid_find(st, fsid, fileid, stateid);
	if (!sid || (tb[PNFSD_A_CLIENTID] &&
		     nla_get_u64(tb[PNFSD_A_CLIENTID]) != sid->clientid)) {
		status = PNFSD_NFSSTAT_BAD_STATEID;
	} else if (seqid == sid->generation) {
		status = PNFSD_NFSSTAT_OK;
		access = sid->access;
		generation = sid->generation;
		clientid = sid->clientid;
	} else if (seqid < sid->generation) {
		status = PNFSD_NFSSTAT_OLD_STATEID;
	} else {
		status = PNFSD_NFSSTAT_BAD_STATEID;
	}
	mutex_unlock(&st->lock);

	spin_lock(&chan->lock);
	epoch = chan->boot_epoch;
	spin_unlock(&chan->lock);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &pnfs_shim_pnfsd_family, 0,
				info->genlhdr->cmd);
	if (!hdr || nla_put_u32(msg, PNFSD_A_STATUS, status))
		goto err_free;
	if (status == PNFSD_NFSSTAT_OK &&
	    (nla_put_u32(msg, PNFSD_A_ACCESS, access) ||
	     nla_put_u32(msg, PNFSD_A_GENERATION, generation) ||
	     pnfsd_put_u64(msg, PNFSD_A_CLIENTID, clientid) ||
	     pnfsd_put_u64(msg, PNFSD_A_VERIFIER, epoch) ||
	     pnfsd_put_u64(msg, PNFSD_A_BOOT_EPOCH, epoch)))
		goto err_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

int pnfsd_nl_state_revoke_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(net);
	struct pnfs_shim_chan *chan = pnfsd_chan(net);
	u8 stateid[PNFSD_STATEID_SIZE] = {};
	struct pnfs_shim_stateid *sid, *tmp;
	struct nlattr **tb = info->attrs;
	u64 clientid, fsid = 0, fileid = 0;
	struct sk_buff *msg, *ev;
	void *hdr, *evhdr;
	bool one;
	u32 count = 0;

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_CLIENTID, "clientid"))
		return -EINVAL;
	clientid = nla_get_u64(tb[PNFSD_A_CLIENTID]);
	one = tb[PNFSD_A_FSID] && tb[PNFSD_A_FILEID] && tb[PNFSD_A_STATEID];
	if (!one && (tb[PNFSD_A_FSID] || tb[PNFSD_A_FILEID] || tb[PNFSD_A_STATEID])) {
		GENL_SET_ERR_MSG(info, "fsid, fileid and stateid go together");
		return -EINVAL;
	}
	if (one) {
		fsid = nla_get_u64(tb[PNFSD_A_FSID]);
		fileid = nla_get_u64(tb[PNFSD_A_FILEID]);
		nla_memcpy(stateid, tb[PNFSD_A_STATEID], sizeof(stateid));
	}

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	mutex_lock(&st->lock);
	list_for_each_entry_safe(sid, tmp, &st->stateids, node) {
		if (sid->clientid != clientid)
			continue;
		if (one && (sid->fsid != fsid || sid->fileid != fileid ||
			    !stateid_other_eq(sid->stateid, stateid)))
			continue;
		list_del(&sid->node);
		kfree(sid);
		count++;
	}
	if (count)
		st->seq++;
	mutex_unlock(&st->lock);

	hdr = genlmsg_put_reply(msg, info, &pnfs_shim_pnfsd_family, 0,
				info->genlhdr->cmd);
	if (!hdr || nla_put_u32(msg, PNFSD_A_COUNT, count)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);

	ev = pnfs_shim_event_new(chan, PNFSD_CMD_STATE_REVOKED, &evhdr);
	if (ev) {
		if (pnfsd_put_u64(ev, PNFSD_A_CLIENTID, clientid) ||
		    (tb[PNFSD_A_FSID] &&
		     pnfsd_put_u64(ev, PNFSD_A_FSID, nla_get_u64(tb[PNFSD_A_FSID]))) ||
		    (tb[PNFSD_A_FILEID] &&
		     pnfsd_put_u64(ev, PNFSD_A_FILEID, nla_get_u64(tb[PNFSD_A_FILEID]))) ||
		    (tb[PNFSD_A_STATEID] &&
		     nla_put(ev, PNFSD_A_STATEID, PNFSD_STATEID_SIZE,
			     nla_data(tb[PNFSD_A_STATEID]))) ||
		    nla_put_u32(ev, PNFSD_A_COUNT, count))
			nlmsg_free(ev);
		else
			pnfs_shim_event_send(chan, ev, evhdr);
	}
	return genlmsg_reply(msg, info);
}

int pnfsd_nl_state_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(sock_net(skb->sk));
	struct pnfs_shim_stateid *sid;
	unsigned long i = 0;
	void *hdr;

	mutex_lock(&st->lock);
	cb->seq = st->seq;
	list_for_each_entry(sid, &st->stateids, node) {
		if (i++ < cb->args[0])
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  &pnfs_shim_pnfsd_family, NLM_F_MULTI, PNFSD_CMD_STATE_GET);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (pnfsd_put_u64(skb, PNFSD_A_FSID, sid->fsid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FILEID, sid->fileid) ||
		    nla_put(skb, PNFSD_A_STATEID, PNFSD_STATEID_SIZE, sid->stateid) ||
		    pnfsd_put_u64(skb, PNFSD_A_CLIENTID, sid->clientid) ||
		    nla_put_u32(skb, PNFSD_A_ACCESS, sid->access) ||
		    nla_put_u32(skb, PNFSD_A_GENERATION, sid->generation)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0]++;
	}
	mutex_unlock(&st->lock);
	return skb->len;
}

/* ---- devices ---- */

static struct pnfs_shim_device *pnfsd_device_find(struct pnfs_shim_pnfsd_state *st,
						  const u8 *device_id)
{
	struct pnfs_shim_device *dev;

	list_for_each_entry(dev, &st->devices, node)
		if (!memcmp(dev->device_id, device_id, PNFSD_DEVICEID_SIZE))
			return dev;
	return NULL;
}

static void pnfsd_device_event(struct pnfs_shim_chan *chan, const u8 *device_id,
			       const struct pnfs_shim_device *dev)
{
	struct sk_buff *ev;
	void *hdr;

	ev = pnfs_shim_event_new(chan, PNFSD_CMD_DEVICE_CHANGED, &hdr);
	if (!ev)
		return;
	if (nla_put(ev, PNFSD_A_DEVICE_ID, PNFSD_DEVICEID_SIZE, device_id) ||
	    (dev && (nla_put_u32(ev, PNFSD_A_NODE_ID, dev->node_id) ||
		     pnfsd_put_ds_addrs(ev, dev->addrs, dev->nr_addrs)))) {
		nlmsg_free(ev);
		return;
	}
	pnfs_shim_event_send(chan, ev, hdr);
}

int pnfsd_nl_device_set_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(net);
	struct pnfs_shim_device *dev, *old;
	struct nlattr **tb = info->attrs;
	u32 nr;
	int err;

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_DEVICE_ID, "device-id"))
		return -EINVAL;
	err = pnfsd_parse_ds_addrs(info, NULL, &nr);
	if (err)
		return err;

	dev = kzalloc(struct_size(dev, addrs, nr), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	nla_memcpy(dev->device_id, tb[PNFSD_A_DEVICE_ID], sizeof(dev->device_id));
	if (tb[PNFSD_A_NODE_ID])
		dev->node_id = nla_get_u32(tb[PNFSD_A_NODE_ID]);
	pnfsd_parse_ds_addrs(info, dev->addrs, &dev->nr_addrs);

	mutex_lock(&st->lock);
	old = pnfsd_device_find(st, dev->device_id);
	if (old) {
		list_replace(&old->node, &dev->node);
		kfree(old);
	} else {
		list_add_tail(&dev->node, &st->devices);
	}
	st->seq++;
	/* the event is built under the lock: dev cannot be replaced meanwhile */
	pnfsd_device_event(pnfsd_chan(net), dev->device_id, dev);
	mutex_unlock(&st->lock);
	return 0;
}

int pnfsd_nl_device_del_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(net);
	u8 device_id[PNFSD_DEVICEID_SIZE];
	struct pnfs_shim_device *dev;

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_DEVICE_ID, "device-id"))
		return -EINVAL;
	nla_memcpy(device_id, info->attrs[PNFSD_A_DEVICE_ID], sizeof(device_id));

	mutex_lock(&st->lock);
	dev = pnfsd_device_find(st, device_id);
	if (dev) {
		list_del(&dev->node);
		st->seq++;
	}
	mutex_unlock(&st->lock);
	if (!dev) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[PNFSD_A_DEVICE_ID],
				    "no such device");
		return -ENOENT;
	}
	kfree(dev);
	pnfsd_device_event(pnfsd_chan(net), device_id, NULL);
	return 0;
}

int pnfsd_nl_device_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(sock_net(skb->sk));
	struct pnfs_shim_device *dev;
	unsigned long i = 0;
	void *hdr;

	mutex_lock(&st->lock);
	cb->seq = st->seq;
	list_for_each_entry(dev, &st->devices, node) {
		if (i++ < cb->args[0])
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  &pnfs_shim_pnfsd_family, NLM_F_MULTI, PNFSD_CMD_DEVICE_GET);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (nla_put(skb, PNFSD_A_DEVICE_ID, PNFSD_DEVICEID_SIZE, dev->device_id) ||
		    nla_put_u32(skb, PNFSD_A_NODE_ID, dev->node_id) ||
		    pnfsd_put_ds_addrs(skb, dev->addrs, dev->nr_addrs)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0]++;
	}
	mutex_unlock(&st->lock);
	return skb->len;
}

/* ---- layouts ---- */

static const struct pnfs_shim_recall_ops __rcu *recall_ops;
static DEFINE_MUTEX(recall_ops_mutex);

int pnfs_shim_set_recall_ops(const struct pnfs_shim_recall_ops *ops)
{
	int ret = -EBUSY;

	mutex_lock(&recall_ops_mutex);
	if (!rcu_access_pointer(recall_ops)) {
		rcu_assign_pointer(recall_ops, ops);
		ret = 0;
	}
	mutex_unlock(&recall_ops_mutex);
	return ret;
}
EXPORT_SYMBOL_GPL(pnfs_shim_set_recall_ops);

void pnfs_shim_clear_recall_ops(const struct pnfs_shim_recall_ops *ops)
{
	mutex_lock(&recall_ops_mutex);
	if (rcu_access_pointer(recall_ops) == ops)
		RCU_INIT_POINTER(recall_ops, NULL);
	mutex_unlock(&recall_ops_mutex);
	synchronize_rcu();
}
EXPORT_SYMBOL_GPL(pnfs_shim_clear_recall_ops);

/* Forwards a LAYOUT_RECALL to the registered server; how many it recalled. */
static int pnfsd_forward_recall(struct net *net, const struct pnfs_shim_recall *r)
{
	const struct pnfs_shim_recall_ops *ops;
	int n;

	rcu_read_lock();
	ops = rcu_dereference(recall_ops);
	if (ops && !try_module_get(ops->owner))
		ops = NULL;
	rcu_read_unlock();
	if (!ops)
		return 0;
	n = ops->recall(net, r);
	module_put(ops->owner);
	return n;
}

int pnfsd_nl_layout_recall_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(net);
	struct pnfs_shim_chan *chan = pnfsd_chan(net);
	u64 fsid = 0, fileid = 0, clientid = 0;
	u8 device_id[PNFSD_DEVICEID_SIZE] = {};
	struct pnfs_shim_layout *lo, *tmp;
	struct nlattr **tb = info->attrs;
	struct pnfs_shim_recall fwd;
	struct sk_buff *msg, *ev;
	void *hdr, *evhdr;
	u32 type, count = 0;
	bool match;

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_RECALL_TYPE, "recall-type"))
		return -EINVAL;
	type = nla_get_u32(tb[PNFSD_A_RECALL_TYPE]);
	switch (type) {
	case PNFSD_RECALL_TYPE_FILE:
		if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_FSID, "fsid") ||
		    PNFS_SHIM_REQ_ATTR(info, PNFSD_A_FILEID, "fileid"))
			return -EINVAL;
		break;
	case PNFSD_RECALL_TYPE_FSID:
		if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_FSID, "fsid"))
			return -EINVAL;
		break;
	case PNFSD_RECALL_TYPE_DEVICE:
		if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_DEVICE_ID, "device-id"))
			return -EINVAL;
		break;
	}
	if (tb[PNFSD_A_FSID])
		fsid = nla_get_u64(tb[PNFSD_A_FSID]);
	if (tb[PNFSD_A_FILEID])
		fileid = nla_get_u64(tb[PNFSD_A_FILEID]);
	if (tb[PNFSD_A_DEVICE_ID])
		nla_memcpy(device_id, tb[PNFSD_A_DEVICE_ID], sizeof(device_id));
	if (tb[PNFSD_A_CLIENTID])
		clientid = nla_get_u64(tb[PNFSD_A_CLIENTID]);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	fwd.type = type;
	fwd.has_clientid = !!tb[PNFSD_A_CLIENTID];
	fwd.clientid = clientid;
	fwd.fsid = fsid;
	fwd.fileid = fileid;
	memcpy(fwd.device_id, device_id, PNFSD_DEVICEID_SIZE);
	pnfsd_forward_recall(net, &fwd);

	mutex_lock(&st->lock);
	list_for_each_entry_safe(lo, tmp, &st->layouts, node) {
		if (tb[PNFSD_A_CLIENTID] && lo->clientid != clientid)
			continue;
		switch (type) {
		case PNFSD_RECALL_TYPE_FILE:
			match = lo->fsid == fsid && lo->fileid == fileid;
			break;
		case PNFSD_RECALL_TYPE_FSID:
			match = lo->fsid == fsid;
			break;
		case PNFSD_RECALL_TYPE_DEVICE:
			match = !memcmp(lo->device_id, device_id, PNFSD_DEVICEID_SIZE);
			break;
		default:
			match = true;
			break;
		}
		if (!match)
			continue;
		list_del(&lo->node);
		kfree(lo);
		st->nr_layouts--;
		count++;
	}
	if (count)
		st->seq++;
	mutex_unlock(&st->lock);

	hdr = genlmsg_put_reply(msg, info, &pnfs_shim_pnfsd_family, 0,
				info->genlhdr->cmd);
	if (!hdr || nla_put_u32(msg, PNFSD_A_LAYOUTS, count)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);

	ev = pnfs_shim_event_new(chan, PNFSD_CMD_LAYOUT_RECALLED, &evhdr);
	if (ev) {
		if (nla_put_u32(ev, PNFSD_A_RECALL_TYPE, type) ||
		    (tb[PNFSD_A_FSID] && pnfsd_put_u64(ev, PNFSD_A_FSID, fsid)) ||
		    (tb[PNFSD_A_FILEID] && pnfsd_put_u64(ev, PNFSD_A_FILEID, fileid)) ||
		    (tb[PNFSD_A_DEVICE_ID] &&
		     nla_put(ev, PNFSD_A_DEVICE_ID, PNFSD_DEVICEID_SIZE, device_id)) ||
		    (tb[PNFSD_A_CLIENTID] && pnfsd_put_u64(ev, PNFSD_A_CLIENTID, clientid)) ||
		    nla_put_u32(ev, PNFSD_A_LAYOUTS, count))
			nlmsg_free(ev);
		else
			pnfs_shim_event_send(chan, ev, evhdr);
	}
	return genlmsg_reply(msg, info);
}

int pnfsd_nl_layout_dump_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(sock_net(skb->sk));
	struct pnfs_shim_layout *lo;
	unsigned long i = 0;
	void *hdr;

	mutex_lock(&st->lock);
	cb->seq = st->seq;
	list_for_each_entry(lo, &st->layouts, node) {
		if (i++ < cb->args[0])
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  &pnfs_shim_pnfsd_family, NLM_F_MULTI, PNFSD_CMD_LAYOUT_DUMP);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (pnfsd_put_u64(skb, PNFSD_A_CLIENTID, lo->clientid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FSID, lo->fsid) ||
		    pnfsd_put_u64(skb, PNFSD_A_FILEID, lo->fileid) ||
		    nla_put(skb, PNFSD_A_DEVICE_ID, PNFSD_DEVICEID_SIZE, lo->device_id) ||
		    nla_put(skb, PNFSD_A_STATEID, PNFSD_STATEID_SIZE, lo->stateid) ||
		    nla_put_u32(skb, PNFSD_A_IOMODE, lo->iomode) ||
		    pnfsd_put_u64(skb, PNFSD_A_OFFSET, lo->offset) ||
		    pnfsd_put_u64(skb, PNFSD_A_LENGTH, lo->length)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0]++;
	}
	mutex_unlock(&st->lock);
	return skb->len;
}

/* ---- grace, config, status, stats ---- */

int pnfsd_nl_grace_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(net);
	struct nlattr **tb = info->attrs;
	struct sk_buff *ev;
	u32 action;
	u64 epoch;
	void *hdr;

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_GRACE_ACTION, "grace-action"))
		return -EINVAL;
	action = nla_get_u32(tb[PNFSD_A_GRACE_ACTION]);

	mutex_lock(&st->lock);
	st->in_grace = action == PNFSD_GRACE_ACTION_START;
	if (tb[PNFSD_A_GRACE_EPOCH])
		st->grace_epoch = nla_get_u64(tb[PNFSD_A_GRACE_EPOCH]);
	epoch = st->grace_epoch;
	mutex_unlock(&st->lock);

	ev = pnfs_shim_event_new(pnfsd_chan(net), PNFSD_CMD_GRACE_CHANGED, &hdr);
	if (ev) {
		if (nla_put_u32(ev, PNFSD_A_GRACE_ACTION, action) ||
		    pnfsd_put_u64(ev, PNFSD_A_GRACE_EPOCH, epoch))
			nlmsg_free(ev);
		else
			pnfs_shim_event_send(pnfsd_chan(net), ev, hdr);
	}
	return 0;
}

int pnfsd_nl_upcall_dump_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	return pnfs_shim_upcall_dump(pnfsd_chan(sock_net(skb->sk)), skb, cb);
}

int pnfsd_nl_config_set_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_chan *chan = pnfsd_chan(genl_info_net(info));

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_TIMEOUT_MS, "timeout-ms"))
		return -EINVAL;
	spin_lock(&chan->lock);
	chan->timeout_ms = nla_get_u32(info->attrs[PNFSD_A_TIMEOUT_MS]);
	spin_unlock(&chan->lock);
	return 0;
}

int pnfsd_nl_status_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_pnfsd_state *st = pnfsd_state(net);
	struct pnfs_shim_chan *chan = pnfsd_chan(net);
	u32 version, port, node_id, role, mds_id, timeout_ms;
	u64 boot_epoch, grace_epoch;
	struct sk_buff *msg;
	bool registered, in_grace;
	void *hdr;

	spin_lock(&chan->lock);
	registered = chan->registered;
	version = chan->version;
	port = chan->port;
	node_id = chan->node_id;
	role = chan->role;
	mds_id = chan->mds_id;
	boot_epoch = chan->boot_epoch;
	timeout_ms = chan->timeout_ms;
	spin_unlock(&chan->lock);

	mutex_lock(&st->lock);
	in_grace = st->in_grace;
	grace_epoch = st->grace_epoch;
	mutex_unlock(&st->lock);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &pnfs_shim_pnfsd_family, 0,
				info->genlhdr->cmd);
	if (!hdr)
		goto err_free;
	/* Always present: port 0 means no daemon, version is then the family's own. */
	if (!registered)
		version = PNFSD_FAMILY_VERSION;
	if (nla_put_u32(msg, PNFSD_A_VERSION, version) ||
	    nla_put_u32(msg, PNFSD_A_PORT, registered ? port : 0) ||
	    nla_put_u32(msg, PNFSD_A_NODE_ID, registered ? node_id : 0) ||
	    (role && nla_put_u32(msg, PNFSD_A_ROLE, role)) ||
	    nla_put_u32(msg, PNFSD_A_MDS_ID, mds_id) ||
	    pnfsd_put_u64(msg, PNFSD_A_BOOT_EPOCH, boot_epoch))
		goto err_free;
	if (nla_put_u8(msg, PNFSD_A_IN_GRACE, in_grace) ||
	    pnfsd_put_u64(msg, PNFSD_A_GRACE_EPOCH, grace_epoch) ||
	    nla_put_u32(msg, PNFSD_A_TIMEOUT_MS, timeout_ms))
		goto err_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

/*
 * What this kernel half refused, both families together.  Only what the module sees:
 * genetlink refuses an unprivileged admin-perm request before it runs, and netlink
 * drops an answer to a full receive queue itself (those reasons are left out).
 */
static int pnfsd_put_refusals(struct sk_buff *msg, struct net *net)
{
	u64 foreign = 0, abandoned = 0;
	struct nlattr *nest;
	unsigned int i;

	for (i = 0; i < PNFS_SHIM_NFAM; i++) {
		struct pnfs_shim_chan *c = pnfs_shim_chan(net, i);

		foreign += atomic64_read(&c->foreign_replies);
		abandoned += atomic64_read(&c->abandoned_runs);
	}
	nest = nla_nest_start(msg, PNFSD_A_REFUSALS);
	if (!nest ||
	    nla_put_u64_64bit(msg, PNFSD_A_REFUSALS_FOREIGN_REPLY, foreign,
			      PNFSD_A_REFUSALS_PAD) ||
	    nla_put_u64_64bit(msg, PNFSD_A_REFUSALS_TRIGGER_ABANDONED, abandoned,
			      PNFSD_A_REFUSALS_PAD))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

int pnfsd_nl_stats_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_chan *chan = pnfsd_chan(genl_info_net(info));
	struct sk_buff *msg;
	void *hdr;
	int err;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &pnfs_shim_pnfsd_family, 0,
				info->genlhdr->cmd);
	if (!hdr) {
		err = -EMSGSIZE;
		goto err_free;
	}
	err = pnfs_shim_put_all_stats(msg, chan, PNFSD_A_LATE_REPLIES);
	if (err)
		goto err_free;
	err = pnfsd_put_refusals(msg, genl_info_net(info));
	if (err)
		goto err_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return err;
}

/* ---- trigger ---- */

/* A finished TRIGGER run's answer. */
static int pnfsd_trigger_answer(struct sk_buff *msg, struct pnfs_shim_chan *chan, u32 kind,
				struct pnfs_shim_run *run)
{
	const struct pnfs_shim_pnfsd_reply *last = run->last;
	int err;

	err = pnfs_shim_put_kind_stats(msg, chan->fam, true, kind, run->stats);
	if (err)
		return err;
	if (pnfsd_put_u64(msg, PNFSD_A_ELAPSED_NS, run->elapsed_ns))
		return -EMSGSIZE;
	if (run->have_last &&
	    (nla_put_u32(msg, PNFSD_A_STATUS, last->status) ||
	     ((last->has & PNFS_SHIM_HAS_ACCESS) &&
	      nla_put_u32(msg, PNFSD_A_ACCESS, last->access)) ||
	     ((last->has & PNFS_SHIM_HAS_GENERATION) &&
	      nla_put_u32(msg, PNFSD_A_GENERATION, last->generation)) ||
	     ((last->has & PNFS_SHIM_HAS_DEVICE_ID) &&
	      nla_put(msg, PNFSD_A_DEVICE_ID, PNFSD_DEVICEID_SIZE, last->device_id)) ||
	     pnfsd_put_ds_addrs(msg, last->ds_addr, last->nr_ds_addrs)))
		return -EMSGSIZE;
	return 0;
}

int pnfsd_nl_trigger_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_chan *chan = pnfsd_chan(genl_info_net(info));
	struct pnfs_shim_pnfsd_args *args;
	struct nlattr **tb = info->attrs;
	u32 kind, count = 1, depth = 1;

	if (PNFS_SHIM_REQ_ATTR(info, PNFSD_A_UPCALL_KIND, "upcall-kind"))
		return -EINVAL;
	kind = nla_get_u32(tb[PNFSD_A_UPCALL_KIND]);
	if (tb[PNFSD_A_COUNT])
		count = nla_get_u32(tb[PNFSD_A_COUNT]);
	if (tb[PNFSD_A_DEPTH])
		depth = nla_get_u32(tb[PNFSD_A_DEPTH]);

	args = kzalloc(sizeof(*args), GFP_KERNEL);
	if (!args)
		return -ENOMEM;
	/* absent attributes: the twin's defaults (a READ layout of the whole file) */
	args->iomode = 1;
	args->length = U64_MAX;
	args->state_change = 1;
	if (tb[PNFSD_A_FSID])
		args->fsid = nla_get_u64(tb[PNFSD_A_FSID]);
	if (tb[PNFSD_A_FILEID])
		args->fileid = nla_get_u64(tb[PNFSD_A_FILEID]);
	if (tb[PNFSD_A_STATEID])
		nla_memcpy(args->stateid, tb[PNFSD_A_STATEID], sizeof(args->stateid));
	if (tb[PNFSD_A_CLIENTID])
		args->clientid = nla_get_u64(tb[PNFSD_A_CLIENTID]);
	if (tb[PNFSD_A_MDS_ID])
		args->mds_id = nla_get_u32(tb[PNFSD_A_MDS_ID]);
	if (tb[PNFSD_A_BOOT_EPOCH])
		args->boot_epoch = nla_get_u64(tb[PNFSD_A_BOOT_EPOCH]);
	if (tb[PNFSD_A_DEVICE_ID])
		nla_memcpy(args->device_id, tb[PNFSD_A_DEVICE_ID], sizeof(args->device_id));
	if (tb[PNFSD_A_IOMODE])
		args->iomode = nla_get_u32(tb[PNFSD_A_IOMODE]);
	if (tb[PNFSD_A_OFFSET])
		args->offset = nla_get_u64(tb[PNFSD_A_OFFSET]);
	if (tb[PNFSD_A_LENGTH])
		args->length = nla_get_u64(tb[PNFSD_A_LENGTH]);
	if (tb[PNFSD_A_GENERATION])
		args->generation = nla_get_u32(tb[PNFSD_A_GENERATION]);
	if (tb[PNFSD_A_STATE_CHANGE])
		args->state_change = nla_get_u32(tb[PNFSD_A_STATE_CHANGE]);
	if (tb[PNFSD_A_LAST_WRITE])
		args->last_write = nla_get_u64(tb[PNFSD_A_LAST_WRITE]);

	/* answered (and ACKed) when the run ends, see pnfs_shim_trigger.c */
	return pnfs_shim_trigger_start(chan, skb, info, kind, count, depth, args,
				       nla_get_flag(tb[PNFSD_A_LOOPBACK]),
				       pnfsd_trigger_answer);
}
