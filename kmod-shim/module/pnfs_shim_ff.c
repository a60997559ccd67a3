// SPDX-License-Identifier: GPL-2.0
/*
 * pnfs_shim_ff: nfsd's flexfile layout server decided by the cluster daemon.
 *
 * Registers nfsd's flexfile policy hooks (kmod-shim/nfsd/nfsd-hooks.patch,
 * pnfs_ff.h) and maps them onto the pnfsd protocol through pnfs_shim's
 * in-kernel API:
 *   LAYOUTGET      -> LAYOUT_GET upcall; the daemon's device id becomes a
 *                     small data-server index nfsd sends as the device id's
 *                     generation, its segment the layout's segment
 *   GETDEVICEINFO  -> GET_DEVICE_INFO upcall of that device id; the first
 *                     tcp/tcp6 ds-addr is the data server's address
 *   fence          -> STATE_CHANGED upcall (state-change revoked) of the
 *                     layout stateid, from a workqueue
 *   layout_free    -> nfsd freed a layout stateid (its layouts returned,
 *                     returned on close, or the client gone): pnfs_shim
 *                     forgets that (client, file)'s layouts recorded until
 *                     then and sends the LAYOUT_RETURN upcall, from a
 *                     workqueue
 * and registers pnfs_shim's recall callback: a LAYOUT_RECALL downcall
 * becomes nfsd_ff_recall.
 *
 * No daemon, an error or a timeout: nfsd answers LAYOUTUNAVAILABLE or
 * LAYOUTTRYLATER and the client does its I/O through the MDS.  An nfsd
 * thread waits at most the channel's upcall timeout.
 *
 * A separate module so that pnfs_shim.ko loads without the patched nfsd.
 */

#include <linux/atomic.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>

#include "pnfs_shim.h"
#include "pnfs_ff.h"

/* NFS4ERR_* values nfsd answers with (host order). */
#define FF_NFS4ERR_NOENT		2
#define FF_NFS4ERR_LAYOUTTRYLATER	10058
#define FF_NFS4ERR_LAYOUTUNAVAILABLE	10059

/*
 * Device ids the daemon named, by index + 1 (the generation nfsd sends in
 * the flexfile device id; 0 is nfsd's own).  Entries are never reused.
 */
#define FF_MAX_DEVICES	64

static DEFINE_SPINLOCK(ff_dev_lock);
static u8 ff_devs[FF_MAX_DEVICES][PNFSD_DEVICEID_SIZE];
static unsigned int ff_ndevs;

static struct workqueue_struct *ff_wq;

static atomic_t ff_granted = ATOMIC_INIT(0);
static atomic_t ff_refused = ATOMIC_INIT(0);
static atomic_t ff_unreachable = ATOMIC_INIT(0);
static atomic_t ff_devinfo = ATOMIC_INIT(0);
static atomic_t ff_recalled = ATOMIC_INIT(0);
static atomic_t ff_fenced = ATOMIC_INIT(0);
static atomic_t ff_returned = ATOMIC_INIT(0);
static atomic_t ff_forgotten = ATOMIC_INIT(0);

static int ff_get_counter(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read((atomic_t *)kp->arg));
}

static const struct kernel_param_ops ff_counter_ops = {
	.get = ff_get_counter,
};

/* Read-only counters under /sys/module/pnfs_shim_ff/parameters/. */
module_param_cb(granted, &ff_counter_ops, &ff_granted, 0444);
MODULE_PARM_DESC(granted, "LAYOUTGETs the daemon granted");
module_param_cb(refused, &ff_counter_ops, &ff_refused, 0444);
MODULE_PARM_DESC(refused, "LAYOUTGETs the daemon refused (its status answered)");
module_param_cb(unreachable, &ff_counter_ops, &ff_unreachable, 0444);
MODULE_PARM_DESC(unreachable, "LAYOUTGETs without an answer (no daemon, timeout, error)");
module_param_cb(devinfo, &ff_counter_ops, &ff_devinfo, 0444);
MODULE_PARM_DESC(devinfo, "GETDEVICEINFOs answered with the daemon's address");
module_param_cb(recalled, &ff_counter_ops, &ff_recalled, 0444);
MODULE_PARM_DESC(recalled, "layout stateids nfsd recalled on LAYOUT_RECALL downcalls");
module_param_cb(fenced, &ff_counter_ops, &ff_fenced, 0444);
MODULE_PARM_DESC(fenced, "layout stateids reported revoked (recall not answered)");
module_param_cb(returned, &ff_counter_ops, &ff_returned, 0444);
MODULE_PARM_DESC(returned, "layout stateids nfsd freed (layouts returned, returned on close, client gone)");
module_param_cb(forgotten, &ff_counter_ops, &ff_forgotten, 0444);
MODULE_PARM_DESC(forgotten, "layouts pnfs_shim's table forgot because nfsd freed their layout stateid");

/* The index of @id, added if new; 0 when the table is full. */
static u32 ff_dev_index(const u8 *id)
{
	u32 i, ret = 0;

	spin_lock(&ff_dev_lock);
	for (i = 0; i < ff_ndevs; i++) {
		if (!memcmp(ff_devs[i], id, PNFSD_DEVICEID_SIZE)) {
			ret = i + 1;
			goto out;
		}
	}
	if (ff_ndevs < FF_MAX_DEVICES) {
		memcpy(ff_devs[ff_ndevs], id, PNFSD_DEVICEID_SIZE);
		ret = ++ff_ndevs;
	}
out:
	spin_unlock(&ff_dev_lock);
	return ret;
}

/* The device id of index @ds into @id; false if unknown. */
static bool ff_dev_id(u32 ds, u8 *id)
{
	bool ok = false;

	spin_lock(&ff_dev_lock);
	if (ds >= 1 && ds <= ff_ndevs) {
		memcpy(id, ff_devs[ds - 1], PNFSD_DEVICEID_SIZE);
		ok = true;
	}
	spin_unlock(&ff_dev_lock);
	return ok;
}

/* Why an upcall got no answer, as a LAYOUTGET status. */
static u32 ff_unanswered(int err)
{
	atomic_inc(&ff_unreachable);
	return err == -ETIMEDOUT ? FF_NFS4ERR_LAYOUTTRYLATER : FF_NFS4ERR_LAYOUTUNAVAILABLE;
}

static u32 ff_layoutget(struct net *net, struct nfsd_ff_layoutget *lg)
{
	struct pnfs_shim_pnfsd_args args = {
		.fsid = lg->fsid,
		.fileid = lg->fileid,
		.clientid = lg->clientid,
		.iomode = lg->iomode,
		.offset = lg->offset,
		.length = lg->length,
	};
	struct pnfs_shim_pnfsd_reply *r;
	u32 status, ds;
	int err;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return ff_unanswered(-ENOMEM);
	err = pnfs_shim_layout_get(net, &args, r);
	if (err) {
		status = ff_unanswered(err);
		goto out;
	}
	status = r->status;
	if (status == PNFSD_NFSSTAT_DELAY)
		status = FF_NFS4ERR_LAYOUTTRYLATER;
	if (status) {
		atomic_inc(&ff_refused);
		goto out;
	}
	ds = (r->has & PNFS_SHIM_HAS_DEVICE_ID) ? ff_dev_index(r->device_id) : 0;
	if (!ds) {
		/* no device id, or more devices than the table holds */
		status = ff_unanswered(-EINVAL);
		goto out;
	}
	lg->ds = ds;
	if (r->has & PNFS_SHIM_HAS_OFFSET)
		lg->offset = r->offset;
	if (r->has & PNFS_SHIM_HAS_LENGTH)
		lg->length = r->length;
	atomic_inc(&ff_granted);
out:
	kfree(r);
	return status;
}

static u32 ff_getdeviceinfo(struct net *net, u32 ds, u64 clientid, char *netid,
			    char *uaddr)
{
	struct pnfs_shim_pnfsd_args args = { .clientid = clientid };
	struct pnfs_shim_pnfsd_reply *r;
	u32 status = FF_NFS4ERR_NOENT, i;
	int err;

	if (!ff_dev_id(ds, args.device_id))
		return FF_NFS4ERR_NOENT;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return PNFSD_NFSSTAT_DELAY;
	err = pnfs_shim_get_device_info(net, &args, r);
	if (err) {
		status = PNFSD_NFSSTAT_DELAY;
		goto out;
	}
	if (r->status) {
		status = r->status;
		goto out;
	}
	for (i = 0; i < r->nr_ds_addrs && i < PNFSD_MAX_DS_ADDRS; i++) {
		const struct pnfs_shim_ds_addr *a = &r->ds_addr[i];

		if (strcmp(a->netid, "tcp") && strcmp(a->netid, "tcp6"))
			continue;
		if (strscpy(uaddr, a->uaddr, NFSD_FF_UADDR_LEN) < 0)
			continue;
		strscpy(netid, a->netid, NFSD_FF_NETID_LEN);
		atomic_inc(&ff_devinfo);
		status = 0;
		break;
	}
out:
	kfree(r);
	return status;
}

struct ff_fence_work {
	struct work_struct work;
	struct net *net;
	struct nfsd_ff_layout_state f;
	u64 freed_ns;			/* layout_free: when nfsd freed it */
};

static void ff_fence_fn(struct work_struct *work)
{
	struct ff_fence_work *fw = container_of(work, struct ff_fence_work, work);
	struct pnfs_shim_pnfsd_args args = {
		.clientid = fw->f.clientid,
		.fsid = fw->f.fsid,
		.fileid = fw->f.fileid,
		.state_change = PNFSD_STATE_CHANGE_REVOKED,
	};
	struct pnfs_shim_pnfsd_reply *r;

	memcpy(args.stateid, fw->f.stateid, PNFSD_STATEID_SIZE);
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (r) {
		int err = pnfs_shim_state_changed(fw->net, &args, r);

		if (err || r->status)
			pr_warn_ratelimited("pnfs_shim_ff: fence of client %llx not acknowledged (%d, status %u)\n",
					    fw->f.clientid, err, r->status);
		kfree(r);
	}
	put_net(fw->net);
	kfree(fw);
}

/* nfsd gave up on a recall: tell the daemon the layout stateid is revoked. */
static void ff_fence(struct net *net, const struct nfsd_ff_layout_state *f)
{
	struct ff_fence_work *fw;

	atomic_inc(&ff_fenced);
	fw = kzalloc(sizeof(*fw), GFP_ATOMIC);
	if (!fw) {
		pr_warn_ratelimited("pnfs_shim_ff: no memory to report the fence of client %llx\n",
				    f->clientid);
		return;
	}
	INIT_WORK(&fw->work, ff_fence_fn);
	fw->net = get_net(net);
	fw->f = *f;
	queue_work(ff_wq, &fw->work);
}

static void ff_layout_free_fn(struct work_struct *work)
{
	struct ff_fence_work *fw = container_of(work, struct ff_fence_work, work);
	struct pnfs_shim_pnfsd_args args = {
		.clientid = fw->f.clientid,
		.fsid = fw->f.fsid,
		.fileid = fw->f.fileid,
		.offset = 0,
		.length = U64_MAX,	/* every layout of the stateid */
	};
	struct pnfs_shim_pnfsd_reply *r;
	unsigned int n = 0;

	memcpy(args.stateid, fw->f.stateid, PNFSD_STATEID_SIZE);
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (r) {
		/* fire and forget: the daemon's answer changes nothing here */
		pnfs_shim_layout_returned(fw->net, &args, fw->freed_ns, r, &n);
		kfree(r);
	} else {
		pr_warn_ratelimited("pnfs_shim_ff: no memory to forget the layouts of client %llx\n",
				    fw->f.clientid);
	}
	atomic_add(n, &ff_forgotten);
	put_net(fw->net);
	kfree(fw);
}

/*
 * nfsd frees a hooked layout stateid (must not sleep): pnfs_shim forgets its
 * layouts and the daemon hears LAYOUT_RETURN, from the workqueue.
 */
static void ff_layout_free(struct net *net, const struct nfsd_ff_layout_state *f)
{
	struct ff_fence_work *fw;

	atomic_inc(&ff_returned);
	fw = kzalloc(sizeof(*fw), GFP_ATOMIC);
	if (!fw) {
		pr_warn_ratelimited("pnfs_shim_ff: no memory to report the layouts of client %llx returned\n",
				    f->clientid);
		return;
	}
	/* the namespace may be on its way out (nfsd's shutdown frees the clients) */
	fw->net = maybe_get_net(net);
	if (!fw->net) {
		kfree(fw);
		return;
	}
	INIT_WORK(&fw->work, ff_layout_free_fn);
	fw->f = *f;
	fw->freed_ns = ktime_get_ns();
	queue_work(ff_wq, &fw->work);
}

static const struct nfsd_ff_hooks ff_hooks = {
	.owner = THIS_MODULE,
	.layoutget = ff_layoutget,
	.getdeviceinfo = ff_getdeviceinfo,
	.fence = ff_fence,
	.layout_free = ff_layout_free,
};

static int ff_recall(struct net *net, const struct pnfs_shim_recall *r)
{
	struct nfsd_ff_recall nr = {
		.clientid = r->has_clientid ? r->clientid : 0,
		.fsid = r->fsid,
		.fileid = r->fileid,
	};
	int n;

	switch (r->type) {
	case PNFSD_RECALL_TYPE_FILE:
		nr.type = NFSD_FF_RECALL_FILE;
		break;
	case PNFSD_RECALL_TYPE_FSID:
		nr.type = NFSD_FF_RECALL_FSID;
		break;
	case PNFSD_RECALL_TYPE_DEVICE:
		nr.type = NFSD_FF_RECALL_DS;
		spin_lock(&ff_dev_lock);
		for (nr.ds = ff_ndevs; nr.ds; nr.ds--)
			if (!memcmp(ff_devs[nr.ds - 1], r->device_id, PNFSD_DEVICEID_SIZE))
				break;
		spin_unlock(&ff_dev_lock);
		if (!nr.ds)
			return 0;
		break;
	default:
		nr.type = NFSD_FF_RECALL_ALL;
		break;
	}
	n = nfsd_ff_recall(net, &nr);
	atomic_add(n, &ff_recalled);
	return n;
}

static const struct pnfs_shim_recall_ops ff_recall_ops = {
	.owner = THIS_MODULE,
	.recall = ff_recall,
};

static int __init pnfs_shim_ff_init(void)
{
	int err;

	ff_wq = alloc_workqueue("pnfs_shim_ff", WQ_UNBOUND, 0);
	if (!ff_wq)
		return -ENOMEM;
	err = pnfs_shim_set_recall_ops(&ff_recall_ops);
	if (err)
		goto out_wq;
	err = nfsd_ff_register_hooks(&ff_hooks);
	if (err)
		goto out_recall;
	return 0;

out_recall:
	pnfs_shim_clear_recall_ops(&ff_recall_ops);
out_wq:
	destroy_workqueue(ff_wq);
	return err;
}

static void __exit pnfs_shim_ff_exit(void)
{
	nfsd_ff_unregister_hooks(&ff_hooks);
	pnfs_shim_clear_recall_ops(&ff_recall_ops);
	/* fences queued before the hooks went away */
	destroy_workqueue(ff_wq);
}

module_init(pnfs_shim_ff_init);
module_exit(pnfs_shim_ff_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pnfs_shim adapter: nfsd flexfile layouts decided by the cluster daemon");
