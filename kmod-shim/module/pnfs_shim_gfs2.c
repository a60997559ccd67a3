// SPDX-License-Identifier: GPL-2.0
/*
 * pnfs_shim: the "gfs2ctl" family.  Upcalls of GFS2 (mount, mount-done,
 * unmount, withdraw, recovery-done), downcall state (mounts, members), dumps,
 * events, the load generator.
 */

#include <linux/export.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/genetlink.h>
#include <net/sock.h>

#include "pnfs_shim_internal.h"
#include "gfs2ctl-nl.h"

#define PNFS_SHIM_GFS2_TEST_TABLE	"test:fs0"

struct pnfs_shim_mount {
	struct list_head node;
	char table[GFS2CTL_TABLE_MAX + 1];
	u8 uuid[16];
	char device[PNFS_SHIM_DEVICE_LEN];
	u32 mount_flags;
	u32 jid;
	u8 first;
	u8 blocked;
	u8 withdrawn;
	bool recovering;		/* recover-jid is set */
	u32 recover_jid;
	u32 recovery_status;		/* 0 until a recovery-done */
};

struct pnfs_shim_gfs2_state {
	struct mutex lock;		/* mounts, members; never held across an upcall */
	unsigned int seq;		/* bumped on every change, for dumps */
	struct list_head mounts;
	u32 nr_members;
	u32 *members;
};

static struct pnfs_shim_gfs2_state *gfs2_state(const struct net *net)
{
	return pnfs_shim_net(net)->gfs2;
}

static struct pnfs_shim_chan *gfs2_chan(const struct net *net)
{
	return pnfs_shim_chan(net, PNFS_SHIM_GFS2);
}

struct pnfs_shim_gfs2_state *pnfs_shim_gfs2_state_alloc(void)
{
	struct pnfs_shim_gfs2_state *st;

	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return NULL;
	mutex_init(&st->lock);
	st->seq = 1;
	INIT_LIST_HEAD(&st->mounts);
	return st;
}

void pnfs_shim_gfs2_state_free(struct pnfs_shim_gfs2_state *st)
{
	struct pnfs_shim_mount *m, *tmp;

	if (!st)
		return;
	list_for_each_entry_safe(m, tmp, &st->mounts, node)
		kfree(m);
	kfree(st->members);
	mutex_destroy(&st->lock);
	kfree(st);
}

static struct pnfs_shim_mount *gfs2_mount_find(struct pnfs_shim_gfs2_state *st,
					       const char *table)
{
	struct pnfs_shim_mount *m;

	list_for_each_entry(m, &st->mounts, node)
		if (!strcmp(m->table, table))
			return m;
	return NULL;
}

/* mount-changed: the mount's table, jid, first, blocked, withdrawn. */
static void gfs2_mount_event(struct pnfs_shim_chan *chan, const struct pnfs_shim_mount *m)
{
	struct sk_buff *ev;
	void *hdr;

	ev = pnfs_shim_event_new(chan, GFS2CTL_CMD_MOUNT_CHANGED, &hdr);
	if (!ev)
		return;
	if (nla_put_string(ev, GFS2CTL_A_TABLE, m->table) ||
	    nla_put_u32(ev, GFS2CTL_A_JID, m->jid) ||
	    nla_put_u8(ev, GFS2CTL_A_FIRST, m->first) ||
	    nla_put_u8(ev, GFS2CTL_A_BLOCKED, m->blocked) ||
	    nla_put_u8(ev, GFS2CTL_A_WITHDRAWN, m->withdrawn)) {
		nlmsg_free(ev);
		return;
	}
	pnfs_shim_event_send(chan, ev, hdr);
}

/* recovery: table, jid and, once finished, recovery-status. */
static void gfs2_recovery_event(struct pnfs_shim_chan *chan, const char *table, u32 jid,
				u32 recovery_status)
{
	struct sk_buff *ev;
	void *hdr;

	ev = pnfs_shim_event_new(chan, GFS2CTL_CMD_RECOVERY, &hdr);
	if (!ev)
		return;
	if (nla_put_string(ev, GFS2CTL_A_TABLE, table) ||
	    nla_put_u32(ev, GFS2CTL_A_JID, jid) ||
	    (recovery_status &&
	     nla_put_u32(ev, GFS2CTL_A_RECOVERY_STATUS, recovery_status))) {
		nlmsg_free(ev);
		return;
	}
	pnfs_shim_event_send(chan, ev, hdr);
}

/* ---- the upcalls ---- */

static const u8 gfs2_kind_cmd[] = {
	[GFS2CTL_UPCALL_KIND_MOUNT]		= GFS2CTL_CMD_MOUNT,
	[GFS2CTL_UPCALL_KIND_MOUNT_DONE]	= GFS2CTL_CMD_MOUNT_DONE,
	[GFS2CTL_UPCALL_KIND_UNMOUNT]		= GFS2CTL_CMD_UNMOUNT,
	[GFS2CTL_UPCALL_KIND_WITHDRAW]		= GFS2CTL_CMD_WITHDRAW,
	[GFS2CTL_UPCALL_KIND_RECOVERY_DONE]	= GFS2CTL_CMD_RECOVERY_DONE,
};

static int gfs2_put_args(struct sk_buff *skb, u32 kind, const void *p)
{
	const struct pnfs_shim_gfs2_args *a = p;

	if (nla_put_string(skb, GFS2CTL_A_TABLE, a->table))
		return -EMSGSIZE;
	switch (kind) {
	case GFS2CTL_UPCALL_KIND_MOUNT:
		if (nla_put(skb, GFS2CTL_A_UUID, sizeof(a->uuid), a->uuid) ||
		    nla_put_string(skb, GFS2CTL_A_DEVICE, a->device) ||
		    nla_put_u32(skb, GFS2CTL_A_MOUNT_FLAGS, a->mount_flags))
			return -EMSGSIZE;
		return 0;
	case GFS2CTL_UPCALL_KIND_MOUNT_DONE:
		if (nla_put_u32(skb, GFS2CTL_A_JID, a->jid) ||
		    nla_put_s32(skb, GFS2CTL_A_STATUS, a->status))
			return -EMSGSIZE;
		return 0;
	case GFS2CTL_UPCALL_KIND_UNMOUNT:
		return 0;
	case GFS2CTL_UPCALL_KIND_WITHDRAW:
		if (nla_put_u32(skb, GFS2CTL_A_JID, a->jid))
			return -EMSGSIZE;
		return 0;
	case GFS2CTL_UPCALL_KIND_RECOVERY_DONE:
		if (nla_put_u32(skb, GFS2CTL_A_JID, a->jid) ||
		    nla_put_u32(skb, GFS2CTL_A_RECOVERY_STATUS, a->recovery_status))
			return -EMSGSIZE;
		return 0;
	}
	return -EINVAL;
}

static void gfs2_decode_reply(struct genl_info *info, void *p)
{
	struct pnfs_shim_gfs2_reply *r = p;
	struct nlattr **tb = info->attrs;

	memset(r, 0, sizeof(*r));
	r->status = nla_get_s32(tb[GFS2CTL_A_STATUS]);
	if (tb[GFS2CTL_A_JID]) {
		r->jid = nla_get_u32(tb[GFS2CTL_A_JID]);
		r->has |= PNFS_SHIM_HAS_JID;
	}
	if (tb[GFS2CTL_A_FIRST]) {
		r->first = nla_get_u8(tb[GFS2CTL_A_FIRST]);
		r->has |= PNFS_SHIM_HAS_FIRST;
	}
}

/* What an answered (status 0) upcall does to the mount table. */
static void gfs2_apply(struct pnfs_shim_chan *chan, u32 kind,
		       const struct pnfs_shim_gfs2_args *a,
		       const struct pnfs_shim_gfs2_reply *r)
{
	struct pnfs_shim_gfs2_state *st = gfs2_state(chan->net);
	struct pnfs_shim_mount *m, *new = NULL;

	if (kind == GFS2CTL_UPCALL_KIND_MOUNT) {
		new = kzalloc(sizeof(*new), GFP_KERNEL);
		if (!new)
			return;
		strscpy(new->table, a->table, sizeof(new->table));
		memcpy(new->uuid, a->uuid, sizeof(new->uuid));
		strscpy(new->device, a->device, sizeof(new->device));
		new->mount_flags = a->mount_flags;
		new->jid = r->jid;
		new->first = r->first;
	}

	mutex_lock(&st->lock);
	m = gfs2_mount_find(st, a->table);
	switch (kind) {
	case GFS2CTL_UPCALL_KIND_MOUNT:
		if (m) {
			list_replace(&m->node, &new->node);
			kfree(m);
		} else {
			list_add_tail(&new->node, &st->mounts);
		}
		m = new;
		break;
	case GFS2CTL_UPCALL_KIND_MOUNT_DONE:
		if (m)
			m->first = 0;	/* first-mount done */
		break;
	case GFS2CTL_UPCALL_KIND_UNMOUNT:
		if (m)
			list_del(&m->node);
		break;
	case GFS2CTL_UPCALL_KIND_WITHDRAW:
		if (m)
			m->withdrawn = 1;
		break;
	case GFS2CTL_UPCALL_KIND_RECOVERY_DONE:
		if (m) {
			m->recovery_status = a->recovery_status;
			m->recovering = false;
		}
		break;
	}
	if (m) {
		st->seq++;
		if (kind == GFS2CTL_UPCALL_KIND_RECOVERY_DONE)
			gfs2_recovery_event(chan, m->table, a->jid, a->recovery_status);
		else
			gfs2_mount_event(chan, m);
		if (kind == GFS2CTL_UPCALL_KIND_UNMOUNT)
			kfree(m);
	}
	mutex_unlock(&st->lock);
}

static int gfs2_call(struct pnfs_shim_chan *chan, u32 kind, const void *args,
		     void *reply, struct pnfs_shim_kstats *run)
{
	struct pnfs_shim_gfs2_reply *r = reply;
	int err;

	err = pnfs_shim_upcall(chan, kind, args, reply, run);
	if (err || r->status)
		return err;
	gfs2_apply(chan, kind, args, r);
	return 0;
}

static void gfs2_daemon_down(struct pnfs_shim_chan *chan, u32 port, u32 node_id,
			     u32 count)
{
	struct sk_buff *skb;
	void *hdr;

	skb = pnfs_shim_event_new(chan, GFS2CTL_CMD_DAEMON_DOWN, &hdr);
	if (!skb)
		return;
	if (nla_put_u32(skb, GFS2CTL_A_PORT, port) ||
	    nla_put_u32(skb, GFS2CTL_A_NODE_ID, node_id) ||
	    nla_put_u32(skb, GFS2CTL_A_COUNT, count)) {
		nlmsg_free(skb);
		return;
	}
	pnfs_shim_event_send(chan, skb, hdr);
}

const struct pnfs_shim_family pnfs_shim_gfs2_fam = {
	.genl			= &pnfs_shim_gfs2_family,
	.nkinds			= GFS2CTL_UPCALL_KIND_RECOVERY_DONE,
	.kind_cmd		= gfs2_kind_cmd,
	.cmd_upcall_dump	= GFS2CTL_CMD_UPCALL_DUMP,
	.attr_xid		= GFS2CTL_A_XID,
	.attr_status		= GFS2CTL_A_STATUS,
	.attr_upcall_kind	= GFS2CTL_A_UPCALL_KIND,
	.attr_age_us		= GFS2CTL_A_AGE_US,
	.attr_kind_stats	= GFS2CTL_A_KIND_STATS,
	.attr_pad		= GFS2CTL_A_PAD,
	.args_size		= sizeof(struct pnfs_shim_gfs2_args),
	.reply_size		= sizeof(struct pnfs_shim_gfs2_reply),
	.put_args		= gfs2_put_args,
	.decode_reply		= gfs2_decode_reply,
	.call			= gfs2_call,
	.daemon_down		= gfs2_daemon_down,
};

/* ---- in-kernel API ---- */

static int gfs2_api(struct net *net, u32 kind, const struct pnfs_shim_gfs2_args *args,
		    struct pnfs_shim_gfs2_reply *reply)
{
	return gfs2_call(gfs2_chan(net), kind, args, reply, NULL);
}

int pnfs_shim_gfs2_mount(struct net *net, const struct pnfs_shim_gfs2_args *args,
			 struct pnfs_shim_gfs2_reply *reply)
{
	return gfs2_api(net, GFS2CTL_UPCALL_KIND_MOUNT, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_gfs2_mount);

int pnfs_shim_gfs2_mount_done(struct net *net, const struct pnfs_shim_gfs2_args *args,
			      struct pnfs_shim_gfs2_reply *reply)
{
	return gfs2_api(net, GFS2CTL_UPCALL_KIND_MOUNT_DONE, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_gfs2_mount_done);

int pnfs_shim_gfs2_unmount(struct net *net, const struct pnfs_shim_gfs2_args *args,
			   struct pnfs_shim_gfs2_reply *reply)
{
	return gfs2_api(net, GFS2CTL_UPCALL_KIND_UNMOUNT, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_gfs2_unmount);

int pnfs_shim_gfs2_withdraw(struct net *net, const struct pnfs_shim_gfs2_args *args,
			    struct pnfs_shim_gfs2_reply *reply)
{
	return gfs2_api(net, GFS2CTL_UPCALL_KIND_WITHDRAW, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_gfs2_withdraw);

int pnfs_shim_gfs2_recovery_done(struct net *net, const struct pnfs_shim_gfs2_args *args,
				 struct pnfs_shim_gfs2_reply *reply)
{
	return gfs2_api(net, GFS2CTL_UPCALL_KIND_RECOVERY_DONE, args, reply);
}
EXPORT_SYMBOL_GPL(pnfs_shim_gfs2_recovery_done);

/* ---- registration ---- */

int gfs2ctl_nl_register_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_chan *chan = gfs2_chan(genl_info_net(info));
	struct nlattr **tb = info->attrs;
	struct sk_buff *msg, *ev;
	u32 version, node_id;
	void *hdr, *evhdr;
	int err;

	if (PNFS_SHIM_REQ_ATTR(info, GFS2CTL_A_VERSION, "version"))
		return -EINVAL;
	version = min_t(u32, nla_get_u32(tb[GFS2CTL_A_VERSION]), GFS2CTL_FAMILY_VERSION);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &pnfs_shim_gfs2_family, 0,
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
	if (tb[GFS2CTL_A_NODE_ID])
		chan->node_id = nla_get_u32(tb[GFS2CTL_A_NODE_ID]);
	node_id = chan->node_id;
	spin_unlock(&chan->lock);

	if (nla_put_u32(msg, GFS2CTL_A_VERSION, version) ||
	    nla_put_u32(msg, GFS2CTL_A_PORT, info->snd_portid)) {
		err = -EMSGSIZE;
		goto err_free;
	}
	genlmsg_end(msg, hdr);

	ev = pnfs_shim_event_new(chan, GFS2CTL_CMD_DAEMON_UP, &evhdr);
	if (ev) {
		if (nla_put_u32(ev, GFS2CTL_A_PORT, info->snd_portid) ||
		    nla_put_u32(ev, GFS2CTL_A_NODE_ID, node_id) ||
		    nla_put_u32(ev, GFS2CTL_A_VERSION, version))
			nlmsg_free(ev);
		else
			pnfs_shim_event_send(chan, ev, evhdr);
	}
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return err;
}

int gfs2ctl_nl_unregister_doit(struct sk_buff *skb, struct genl_info *info)
{
	return pnfs_shim_unregister(gfs2_chan(genl_info_net(info)), skb, info);
}

int gfs2ctl_nl_reply_doit(struct sk_buff *skb, struct genl_info *info)
{
	return pnfs_shim_reply(gfs2_chan(genl_info_net(info)), skb, info);
}

/* ---- downcalls on a mount ---- */

static int gfs2_set_blocked(struct genl_info *info, u8 blocked)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_gfs2_state *st = gfs2_state(net);
	struct pnfs_shim_mount *m;

	if (PNFS_SHIM_REQ_ATTR(info, GFS2CTL_A_TABLE, "table"))
		return -EINVAL;

	mutex_lock(&st->lock);
	m = gfs2_mount_find(st, nla_data(info->attrs[GFS2CTL_A_TABLE]));
	if (!m) {
		mutex_unlock(&st->lock);
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[GFS2CTL_A_TABLE],
				    "filesystem not mounted");
		return -ENOENT;
	}
	m->blocked = blocked;
	st->seq++;
	gfs2_mount_event(gfs2_chan(net), m);
	mutex_unlock(&st->lock);
	return 0;
}

int gfs2ctl_nl_block_doit(struct sk_buff *skb, struct genl_info *info)
{
	return gfs2_set_blocked(info, 1);
}

int gfs2ctl_nl_unblock_doit(struct sk_buff *skb, struct genl_info *info)
{
	return gfs2_set_blocked(info, 0);
}

int gfs2ctl_nl_recover_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_gfs2_state *st = gfs2_state(net);
	struct pnfs_shim_mount *m;
	u32 jid;

	if (PNFS_SHIM_REQ_ATTR(info, GFS2CTL_A_TABLE, "table") ||
	    PNFS_SHIM_REQ_ATTR(info, GFS2CTL_A_JID, "jid"))
		return -EINVAL;
	jid = nla_get_u32(info->attrs[GFS2CTL_A_JID]);

	mutex_lock(&st->lock);
	m = gfs2_mount_find(st, nla_data(info->attrs[GFS2CTL_A_TABLE]));
	if (!m) {
		mutex_unlock(&st->lock);
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[GFS2CTL_A_TABLE],
				    "filesystem not mounted");
		return -ENOENT;
	}
	m->recovering = true;
	m->recover_jid = jid;
	m->recovery_status = 0;
	st->seq++;
	gfs2_recovery_event(gfs2_chan(net), m->table, jid, 0);
	mutex_unlock(&st->lock);
	return 0;
}

int gfs2ctl_nl_members_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_gfs2_state *st = gfs2_state(genl_info_net(info));
	u32 *members = NULL, *old, n = 0, i = 0;
	struct nlattr *attr;
	int rem;

	nlmsg_for_each_attr(attr, info->nlhdr, GENL_HDRLEN, rem)
		if (nla_type(attr) == GFS2CTL_A_MEMBER)
			n++;
	if (n) {
		members = kmalloc_array(n, sizeof(*members), GFP_KERNEL);
		if (!members)
			return -ENOMEM;
		nlmsg_for_each_attr(attr, info->nlhdr, GENL_HDRLEN, rem)
			if (nla_type(attr) == GFS2CTL_A_MEMBER && i < n)
				members[i++] = nla_get_u32(attr);
	}

	mutex_lock(&st->lock);
	old = st->members;
	st->members = members;
	st->nr_members = n;
	mutex_unlock(&st->lock);
	kfree(old);
	return 0;
}

int gfs2ctl_nl_mount_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct pnfs_shim_gfs2_state *st = gfs2_state(sock_net(skb->sk));
	struct pnfs_shim_mount *m;
	unsigned long i = 0;
	void *hdr;

	mutex_lock(&st->lock);
	cb->seq = st->seq;
	list_for_each_entry(m, &st->mounts, node) {
		if (i++ < cb->args[0])
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  &pnfs_shim_gfs2_family, NLM_F_MULTI, GFS2CTL_CMD_MOUNT_GET);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (nla_put_string(skb, GFS2CTL_A_TABLE, m->table) ||
		    nla_put(skb, GFS2CTL_A_UUID, sizeof(m->uuid), m->uuid) ||
		    nla_put_string(skb, GFS2CTL_A_DEVICE, m->device) ||
		    nla_put_u32(skb, GFS2CTL_A_MOUNT_FLAGS, m->mount_flags) ||
		    nla_put_u32(skb, GFS2CTL_A_JID, m->jid) ||
		    nla_put_u8(skb, GFS2CTL_A_FIRST, m->first) ||
		    nla_put_u8(skb, GFS2CTL_A_BLOCKED, m->blocked) ||
		    nla_put_u8(skb, GFS2CTL_A_WITHDRAWN, m->withdrawn) ||
		    (m->recovering &&
		     nla_put_u32(skb, GFS2CTL_A_RECOVER_JID, m->recover_jid)) ||
		    (m->recovery_status &&
		     nla_put_u32(skb, GFS2CTL_A_RECOVERY_STATUS, m->recovery_status))) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0]++;
	}
	mutex_unlock(&st->lock);
	return skb->len;
}

int gfs2ctl_nl_upcall_dump_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	return pnfs_shim_upcall_dump(gfs2_chan(sock_net(skb->sk)), skb, cb);
}

/* ---- config, status, stats ---- */

int gfs2ctl_nl_config_set_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_chan *chan = gfs2_chan(genl_info_net(info));

	if (PNFS_SHIM_REQ_ATTR(info, GFS2CTL_A_TIMEOUT_MS, "timeout-ms"))
		return -EINVAL;
	spin_lock(&chan->lock);
	chan->timeout_ms = nla_get_u32(info->attrs[GFS2CTL_A_TIMEOUT_MS]);
	spin_unlock(&chan->lock);
	return 0;
}

int gfs2ctl_nl_status_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct pnfs_shim_gfs2_state *st = gfs2_state(net);
	struct pnfs_shim_chan *chan = gfs2_chan(net);
	u32 version, port, node_id, timeout_ms, i;
	struct sk_buff *msg;
	bool registered;
	void *hdr;

	spin_lock(&chan->lock);
	registered = chan->registered;
	version = chan->version;
	port = chan->port;
	node_id = chan->node_id;
	timeout_ms = chan->timeout_ms;
	spin_unlock(&chan->lock);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &pnfs_shim_gfs2_family, 0,
				info->genlhdr->cmd);
	if (!hdr)
		goto err_free;
	/* Always present: port 0 means no daemon, version is then the family's own. */
	if (!registered)
		version = GFS2CTL_FAMILY_VERSION;
	if (nla_put_u32(msg, GFS2CTL_A_VERSION, version) ||
	    nla_put_u32(msg, GFS2CTL_A_PORT, registered ? port : 0) ||
	    nla_put_u32(msg, GFS2CTL_A_NODE_ID, registered ? node_id : 0))
		goto err_free;

	mutex_lock(&st->lock);
	for (i = 0; i < st->nr_members; i++) {
		if (nla_put_u32(msg, GFS2CTL_A_MEMBER, st->members[i])) {
			mutex_unlock(&st->lock);
			goto err_free;
		}
	}
	mutex_unlock(&st->lock);

	if (nla_put_u32(msg, GFS2CTL_A_TIMEOUT_MS, timeout_ms))
		goto err_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

int gfs2ctl_nl_stats_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_chan *chan = gfs2_chan(genl_info_net(info));
	struct sk_buff *msg;
	void *hdr;
	int err;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &pnfs_shim_gfs2_family, 0,
				info->genlhdr->cmd);
	if (!hdr) {
		err = -EMSGSIZE;
		goto err_free;
	}
	err = pnfs_shim_put_all_stats(msg, chan, GFS2CTL_A_LATE_REPLIES);
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
static int gfs2_trigger_answer(struct sk_buff *msg, struct pnfs_shim_chan *chan, u32 kind,
			       struct pnfs_shim_run *run)
{
	const struct pnfs_shim_gfs2_reply *last = run->last;
	int err;

	err = pnfs_shim_put_kind_stats(msg, chan->fam, true, kind, run->stats);
	if (err)
		return err;
	if (nla_put_u64_64bit(msg, GFS2CTL_A_ELAPSED_NS, run->elapsed_ns, GFS2CTL_A_PAD))
		return -EMSGSIZE;
	if (run->have_last &&
	    (nla_put_s32(msg, GFS2CTL_A_STATUS, last->status) ||
	     ((last->has & PNFS_SHIM_HAS_JID) &&
	      nla_put_u32(msg, GFS2CTL_A_JID, last->jid)) ||
	     ((last->has & PNFS_SHIM_HAS_FIRST) &&
	      nla_put_u8(msg, GFS2CTL_A_FIRST, last->first))))
		return -EMSGSIZE;
	return 0;
}

int gfs2ctl_nl_trigger_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pnfs_shim_chan *chan = gfs2_chan(genl_info_net(info));
	struct nlattr **tb = info->attrs;
	struct pnfs_shim_gfs2_args *args;
	u32 kind, count = 1, depth = 1;

	if (PNFS_SHIM_REQ_ATTR(info, GFS2CTL_A_UPCALL_KIND, "upcall-kind"))
		return -EINVAL;
	kind = nla_get_u32(tb[GFS2CTL_A_UPCALL_KIND]);
	if (tb[GFS2CTL_A_COUNT])
		count = nla_get_u32(tb[GFS2CTL_A_COUNT]);
	if (tb[GFS2CTL_A_DEPTH])
		depth = nla_get_u32(tb[GFS2CTL_A_DEPTH]);

	args = kzalloc(sizeof(*args), GFP_KERNEL);
	if (!args)
		return -ENOMEM;
	if (tb[GFS2CTL_A_TABLE])
		nla_strscpy(args->table, tb[GFS2CTL_A_TABLE], sizeof(args->table));
	else
		strscpy(args->table, PNFS_SHIM_GFS2_TEST_TABLE, sizeof(args->table));
	if (tb[GFS2CTL_A_UUID])
		nla_memcpy(args->uuid, tb[GFS2CTL_A_UUID], sizeof(args->uuid));
	if (tb[GFS2CTL_A_DEVICE])
		nla_strscpy(args->device, tb[GFS2CTL_A_DEVICE], sizeof(args->device));
	if (tb[GFS2CTL_A_MOUNT_FLAGS])
		args->mount_flags = nla_get_u32(tb[GFS2CTL_A_MOUNT_FLAGS]);
	if (tb[GFS2CTL_A_JID])
		args->jid = nla_get_u32(tb[GFS2CTL_A_JID]);
	if (tb[GFS2CTL_A_RECOVERY_STATUS])
		args->recovery_status = nla_get_u32(tb[GFS2CTL_A_RECOVERY_STATUS]);
	if (tb[GFS2CTL_A_STATUS])
		args->status = nla_get_s32(tb[GFS2CTL_A_STATUS]);

	/* answered (and ACKed) when the run ends, see pnfs_shim_trigger.c */
	return pnfs_shim_trigger_start(chan, skb, info, kind, count, depth, args, false,
				       gfs2_trigger_answer);
}
