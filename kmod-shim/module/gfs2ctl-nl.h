/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	netlink/specs/gfs2ctl.yaml */
/* YNL-GEN kernel header (pnfs-controld ynl-gen) */

#ifndef _LINUX_GFS2CTL_GEN_H
#define _LINUX_GFS2CTL_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include "uapi/gfs2ctl.h"

/*
 * The family-wide policy of Linux 6.1's genl_family (its CTRL_ATTR_MAXATTR);
 * every op has its own, so it validates nothing (ours only, not the kernel's).
 */
extern const struct nla_policy gfs2ctl_gfs2ctl_nl_policy[GFS2CTL_A_MAX + 1];

int gfs2ctl_nl_register_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_unregister_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_reply_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_block_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_unblock_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_recover_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_members_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_mount_get_dumpit(struct sk_buff *skb,
				struct netlink_callback *cb);
int gfs2ctl_nl_upcall_dump_dumpit(struct sk_buff *skb,
				  struct netlink_callback *cb);
int gfs2ctl_nl_status_get_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_stats_get_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_config_set_doit(struct sk_buff *skb, struct genl_info *info);
int gfs2ctl_nl_trigger_doit(struct sk_buff *skb, struct genl_info *info);

enum {
	GFS2CTL_NLGRP_EVENTS,
};

/* Linux 6.1: struct genl_ops with a policy each (genl_split_ops came in 6.2) */
extern const struct genl_ops gfs2ctl_nl_ops[13];
extern const struct genl_multicast_group gfs2ctl_nl_mcgrps[1];

#endif /* _LINUX_GFS2CTL_GEN_H */
