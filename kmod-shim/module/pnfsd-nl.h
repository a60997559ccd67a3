/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	netlink/specs/pnfsd.yaml */
/* YNL-GEN kernel header (pnfs-controld ynl-gen) */

#ifndef _LINUX_PNFSD_GEN_H
#define _LINUX_PNFSD_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include "uapi/pnfsd.h"

/* Common nested types */
extern const struct nla_policy pnfsd_ds_addr_nl_policy[PNFSD_A_DS_ADDR_UADDR + 1];

/*
 * The family-wide policy of Linux 6.1's genl_family (its CTRL_ATTR_MAXATTR);
 * every op has its own, so it validates nothing (ours only, not the kernel's).
 */
extern const struct nla_policy pnfsd_pnfsd_nl_policy[PNFSD_A_MAX + 1];

int pnfsd_nl_register_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_unregister_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_reply_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_state_check_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_state_set_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_state_revoke_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_state_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int pnfsd_nl_device_set_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_device_del_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_device_get_dumpit(struct sk_buff *skb,
			       struct netlink_callback *cb);
int pnfsd_nl_layout_recall_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_layout_dump_dumpit(struct sk_buff *skb,
				struct netlink_callback *cb);
int pnfsd_nl_grace_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_upcall_dump_dumpit(struct sk_buff *skb,
				struct netlink_callback *cb);
int pnfsd_nl_status_get_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_stats_get_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_config_set_doit(struct sk_buff *skb, struct genl_info *info);
int pnfsd_nl_trigger_doit(struct sk_buff *skb, struct genl_info *info);

enum {
	PNFSD_NLGRP_EVENTS,
};

/* Linux 6.1: struct genl_ops with a policy each (genl_split_ops came in 6.2) */
extern const struct genl_ops pnfsd_nl_ops[18];
extern const struct genl_multicast_group pnfsd_nl_mcgrps[1];

#endif /* _LINUX_PNFSD_GEN_H */
