// SPDX-License-Identifier: GPL-2.0
/*
 * pnfs_shim: generic netlink control channel between nfsd pNFS / GFS2 and the
 * cluster daemon (families "pnfsd" and "gfs2ctl").  Module setup: the two
 * families, per-netns state, the netlink notifier that sees a daemon die.
 */

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "pnfs_shim_internal.h"
#include "pnfsd-nl.h"
#include "gfs2ctl-nl.h"

bool pnfs_shim_stopping;

static unsigned int pnfs_shim_net_id __read_mostly;
static LIST_HEAD(pnfs_shim_nets);
static DEFINE_MUTEX(pnfs_shim_nets_lock);

/*
 * Formatted extack messages.  Linux 6.1 has no NL_SET_ERR_MSG_FMT (6.2+) and
 * extack keeps only a pointer that is read when the ACK is built, after the
 * handler returns.  The text goes to a small ring of static buffers instead;
 * the last byte of a slot is never written, so a slot reused under heavy
 * concurrent errors can garble a message but never unterminate it.
 */
#define PNFS_SHIM_ERR_SLOTS	64
#define PNFS_SHIM_ERR_LEN	80

static char pnfs_shim_err_ring[PNFS_SHIM_ERR_SLOTS][PNFS_SHIM_ERR_LEN];
static atomic_t pnfs_shim_err_next = ATOMIC_INIT(0);

void pnfs_shim_set_err(struct netlink_ext_ack *extack, const char *fmt, ...)
{
	unsigned int slot;
	va_list ap;
	char *buf;

	if (!extack)
		return;
	slot = (unsigned int)atomic_inc_return(&pnfs_shim_err_next) % PNFS_SHIM_ERR_SLOTS;
	buf = pnfs_shim_err_ring[slot];
	va_start(ap, fmt);
	vscnprintf(buf, PNFS_SHIM_ERR_LEN - 1, fmt, ap);
	va_end(ap);
	extack->_msg = buf;
}

struct pnfs_shim_net *pnfs_shim_net(const struct net *net)
{
	return net_generic(net, pnfs_shim_net_id);
}

struct pnfs_shim_chan *pnfs_shim_chan(const struct net *net, enum pnfs_shim_fam_idx idx)
{
	return pnfs_shim_net(net)->chan[idx];
}

/*
 * Upcall and event commands are not ops: sent to the kernel half they get genetlink's
 * own -EOPNOTSUPP, and CTRL_CMD_GETFAMILY does not list them as accepted commands.
 */
struct genl_family pnfs_shim_pnfsd_family __ro_after_init = {
	.name		= PNFSD_FAMILY_NAME,
	.version	= PNFSD_FAMILY_VERSION,
	/* family-wide too, so CTRL_CMD_GETFAMILY reports maxattr (6.1 takes it from here) */
	.maxattr	= PNFSD_A_MAX,
	.policy		= pnfsd_pnfsd_nl_policy,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= pnfsd_nl_ops,
	.n_ops		= ARRAY_SIZE(pnfsd_nl_ops),
	.mcgrps		= pnfsd_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(pnfsd_nl_mcgrps),
};

struct genl_family pnfs_shim_gfs2_family __ro_after_init = {
	.name		= GFS2CTL_FAMILY_NAME,
	.version	= GFS2CTL_FAMILY_VERSION,
	/* family-wide too, so CTRL_CMD_GETFAMILY reports maxattr (6.1 takes it from here) */
	.maxattr	= GFS2CTL_A_MAX,
	.policy		= gfs2ctl_gfs2ctl_nl_policy,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= gfs2ctl_nl_ops,
	.n_ops		= ARRAY_SIZE(gfs2ctl_nl_ops),
	.mcgrps		= gfs2ctl_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(gfs2ctl_nl_mcgrps),
};

static void pnfs_shim_net_free(struct pnfs_shim_net *pn)
{
	int i;

	for (i = 0; i < PNFS_SHIM_NFAM; i++) {
		pnfs_shim_chan_free(pn->chan[i]);
		pn->chan[i] = NULL;
	}
	pnfs_shim_pnfsd_state_free(pn->pnfsd);
	pn->pnfsd = NULL;
	pnfs_shim_gfs2_state_free(pn->gfs2);
	pn->gfs2 = NULL;
}

static int __net_init pnfs_shim_net_init(struct net *net)
{
	struct pnfs_shim_net *pn = pnfs_shim_net(net);

	pn->net = net;
	pn->chan[PNFS_SHIM_PNFSD] = pnfs_shim_chan_alloc(net, &pnfs_shim_pnfsd_fam);
	pn->chan[PNFS_SHIM_GFS2] = pnfs_shim_chan_alloc(net, &pnfs_shim_gfs2_fam);
	pn->pnfsd = pnfs_shim_pnfsd_state_alloc();
	pn->gfs2 = pnfs_shim_gfs2_state_alloc();
	if (!pn->chan[PNFS_SHIM_PNFSD] || !pn->chan[PNFS_SHIM_GFS2] ||
	    !pn->pnfsd || !pn->gfs2) {
		pnfs_shim_net_free(pn);
		return -ENOMEM;
	}

	mutex_lock(&pnfs_shim_nets_lock);
	list_add_tail(&pn->node, &pnfs_shim_nets);
	mutex_unlock(&pnfs_shim_nets_lock);
	return 0;
}

static void __net_exit pnfs_shim_net_exit(struct net *net)
{
	struct pnfs_shim_net *pn = pnfs_shim_net(net);

	mutex_lock(&pnfs_shim_nets_lock);
	list_del(&pn->node);
	mutex_unlock(&pnfs_shim_nets_lock);
	pnfs_shim_net_free(pn);
}

static struct pernet_operations pnfs_shim_net_ops = {
	.init	= pnfs_shim_net_init,
	.exit	= pnfs_shim_net_exit,
	.id	= &pnfs_shim_net_id,
	.size	= sizeof(struct pnfs_shim_net),
};

/* A generic netlink socket was released: was it a registered daemon? */
static int pnfs_shim_netlink_event(struct notifier_block *nb,
				   unsigned long event, void *ptr)
{
	struct netlink_notify *n = ptr;
	struct pnfs_shim_net *pn;
	int i;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC)
		return NOTIFY_DONE;

	pn = pnfs_shim_net(n->net);
	for (i = 0; i < PNFS_SHIM_NFAM; i++)
		if (pn->chan[i])
			pnfs_shim_daemon_released(pn->chan[i], n->portid);
	pnfs_shim_trigger_released(n->net, n->portid);
	return NOTIFY_DONE;
}

static struct notifier_block pnfs_shim_netlink_notifier = {
	.notifier_call = pnfs_shim_netlink_event,
};

static int __init pnfs_shim_init(void)
{
	int err;

	err = pnfs_shim_trigger_init();
	if (err)
		return err;
	err = register_pernet_subsys(&pnfs_shim_net_ops);
	if (err)
		goto err_trigger;
	err = genl_register_family(&pnfs_shim_pnfsd_family);
	if (err)
		goto err_pernet;
	err = genl_register_family(&pnfs_shim_gfs2_family);
	if (err)
		goto err_pnfsd;
	err = netlink_register_notifier(&pnfs_shim_netlink_notifier);
	if (err)
		goto err_gfs2;
	return 0;

err_gfs2:
	genl_unregister_family(&pnfs_shim_gfs2_family);
err_pnfsd:
	genl_unregister_family(&pnfs_shim_pnfsd_family);
err_pernet:
	unregister_pernet_subsys(&pnfs_shim_net_ops);
err_trigger:
	pnfs_shim_trigger_exit();
	return err;
}

static void __exit pnfs_shim_exit(void)
{
	struct pnfs_shim_net *pn;
	int i;

	/*
	 * New upcalls fail at once, pending ones fail now and TRIGGER runs stop,
	 * so that genl_unregister_family() (which waits for running handlers)
	 * does not wait for a daemon.
	 */
	WRITE_ONCE(pnfs_shim_stopping, true);
	netlink_unregister_notifier(&pnfs_shim_netlink_notifier);
	/* the runs end and answer; their work items are done after this */
	pnfs_shim_trigger_exit();
	mutex_lock(&pnfs_shim_nets_lock);
	list_for_each_entry(pn, &pnfs_shim_nets, node)
		for (i = 0; i < PNFS_SHIM_NFAM; i++)
			pnfs_shim_fail_pending(pn->chan[i], 0);
	mutex_unlock(&pnfs_shim_nets_lock);

	genl_unregister_family(&pnfs_shim_gfs2_family);
	genl_unregister_family(&pnfs_shim_pnfsd_family);
	unregister_pernet_subsys(&pnfs_shim_net_ops);
}

module_init(pnfs_shim_init);
module_exit(pnfs_shim_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pnfsd/gfs2ctl generic netlink control channel to the cluster daemon");
MODULE_ALIAS_GENL_FAMILY(PNFSD_FAMILY_NAME);
MODULE_ALIAS_GENL_FAMILY(GFS2CTL_FAMILY_NAME);
