// SPDX-License-Identifier: GPL-2.0
/*
 * pnfs_shim - generic netlink control channel between nfsd/GFS2 and
 * pnfs_controld.
 *
 * Placeholder: this only registers a tiny "pnfs_probe" family with one
 * admin-only echo command, so that the VM lane (kmod-shim/vm/run.sh) is
 * proven end to end.  The real families (pnfsd, gfs2ctl) replace it.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <net/genetlink.h>

#define PNFS_PROBE_FAMILY_NAME	"pnfs_probe"
#define PNFS_PROBE_VERSION	1
#define PNFS_PROBE_MAX_PAYLOAD	4096

enum pnfs_probe_cmd {
	PNFS_PROBE_CMD_UNSPEC,
	PNFS_PROBE_CMD_ECHO,

	__PNFS_PROBE_CMD_MAX,
};

enum pnfs_probe_attr {
	PNFS_PROBE_A_UNSPEC,
	PNFS_PROBE_A_PAD,
	PNFS_PROBE_A_COOKIE,	/* u64, required, echoed back */
	PNFS_PROBE_A_PAYLOAD,	/* binary, optional, echoed back */

	__PNFS_PROBE_A_MAX,
};

#define PNFS_PROBE_A_MAX	(__PNFS_PROBE_A_MAX - 1)

static const struct nla_policy pnfs_probe_policy[PNFS_PROBE_A_MAX + 1] = {
	[PNFS_PROBE_A_COOKIE]	= { .type = NLA_U64 },
	[PNFS_PROBE_A_PAYLOAD]	= { .type = NLA_BINARY,
				    .len = PNFS_PROBE_MAX_PAYLOAD },
};

static struct genl_family pnfs_probe_family;

static int pnfs_probe_echo(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *payload = info->attrs[PNFS_PROBE_A_PAYLOAD];
	int len = payload ? nla_len(payload) : 0;
	struct sk_buff *msg;
	void *hdr;
	u64 cookie;

	if (!info->attrs[PNFS_PROBE_A_COOKIE]) {
		NL_SET_ERR_MSG(info->extack, "cookie attribute is required");
		return -EINVAL;
	}
	cookie = nla_get_u64(info->attrs[PNFS_PROBE_A_COOKIE]);

	msg = genlmsg_new(nla_total_size_64bit(sizeof(u64)) +
			  nla_total_size(len), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	hdr = genlmsg_put_reply(msg, info, &pnfs_probe_family, 0,
				PNFS_PROBE_CMD_ECHO);
	if (!hdr)
		goto nospace;

	if (nla_put_u64_64bit(msg, PNFS_PROBE_A_COOKIE, cookie,
			      PNFS_PROBE_A_PAD))
		goto nospace;
	if (payload &&
	    nla_put(msg, PNFS_PROBE_A_PAYLOAD, len, nla_data(payload)))
		goto nospace;

	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static const struct genl_small_ops pnfs_probe_ops[] = {
	{
		.cmd	= PNFS_PROBE_CMD_ECHO,
		.flags	= GENL_ADMIN_PERM,
		.doit	= pnfs_probe_echo,
	},
};

static struct genl_family pnfs_probe_family __ro_after_init = {
	.name		= PNFS_PROBE_FAMILY_NAME,
	.version	= PNFS_PROBE_VERSION,
	.maxattr	= PNFS_PROBE_A_MAX,
	.policy		= pnfs_probe_policy,
	.netnsok	= true,
	.module		= THIS_MODULE,
	.small_ops	= pnfs_probe_ops,
	.n_small_ops	= ARRAY_SIZE(pnfs_probe_ops),
};

static int __init pnfs_shim_init(void)
{
	int err;

	err = genl_register_family(&pnfs_probe_family);
	if (err) {
		pr_err("cannot register genl family %s: %d\n",
		       PNFS_PROBE_FAMILY_NAME, err);
		return err;
	}
	pr_info("registered genl family %s (id %u)\n",
		PNFS_PROBE_FAMILY_NAME, pnfs_probe_family.id);
	return 0;
}

static void __exit pnfs_shim_exit(void)
{
	genl_unregister_family(&pnfs_probe_family);
}

module_init(pnfs_shim_init);
module_exit(pnfs_shim_exit);

MODULE_DESCRIPTION("pNFS control channel shim (placeholder: pnfs_probe genl family)");
MODULE_LICENSE("GPL");
MODULE_ALIAS_GENL_FAMILY(PNFS_PROBE_FAMILY_NAME);
