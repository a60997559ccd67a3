// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	netlink/specs/gfs2ctl.yaml */
/* YNL-GEN kernel source (pnfs-controld ynl-gen) */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "gfs2ctl-nl.h"

/* Integer value ranges */
static struct netlink_range_validation gfs2ctl_a_timeout_ms_range = {
	.min	= 1ULL,
	.max	= 600000ULL,
};

/* Family-wide (Linux 6.1 genl_family.policy): the handled requests' attributes */
const struct nla_policy gfs2ctl_gfs2ctl_nl_policy[GFS2CTL_A_MAX + 1] = {
	[GFS2CTL_A_XID] = { .type = NLA_U32, },
	[GFS2CTL_A_STATUS] = { .type = NLA_S32, },
	[GFS2CTL_A_VERSION] = NLA_POLICY_MIN(NLA_U32, 1),
	[GFS2CTL_A_NODE_ID] = { .type = NLA_U32, },
	[GFS2CTL_A_TABLE] = { .type = NLA_NUL_STRING, .len = GFS2CTL_TABLE_MAX, },
	[GFS2CTL_A_UUID] = NLA_POLICY_EXACT_LEN(16),
	[GFS2CTL_A_DEVICE] = { .type = NLA_NUL_STRING, .len = 255, },
	[GFS2CTL_A_MOUNT_FLAGS] = NLA_POLICY_MASK(NLA_U32, 0x3),
	[GFS2CTL_A_JID] = { .type = NLA_U32, },
	[GFS2CTL_A_FIRST] = { .type = NLA_U8, },
	[GFS2CTL_A_RECOVERY_STATUS] = NLA_POLICY_RANGE(NLA_U32, 1, 2),
	[GFS2CTL_A_MEMBER] = { .type = NLA_U32, },
	[GFS2CTL_A_UPCALL_KIND] = NLA_POLICY_RANGE(NLA_U32, 1, 5),
	[GFS2CTL_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &gfs2ctl_a_timeout_ms_range),
	[GFS2CTL_A_COUNT] = { .type = NLA_U32, },
	[GFS2CTL_A_DEPTH] = NLA_POLICY_RANGE(NLA_U32, 1, 4096),
};

/* GFS2CTL_CMD_REGISTER - do */
static const struct nla_policy gfs2ctl_register_nl_policy[GFS2CTL_A_NODE_ID + 1] = {
	[GFS2CTL_A_VERSION] = NLA_POLICY_MIN(NLA_U32, 1),
	[GFS2CTL_A_NODE_ID] = { .type = NLA_U32, },
};

/* GFS2CTL_CMD_REPLY - do */
static const struct nla_policy gfs2ctl_reply_nl_policy[GFS2CTL_A_FIRST + 1] = {
	[GFS2CTL_A_XID] = { .type = NLA_U32, },
	[GFS2CTL_A_STATUS] = { .type = NLA_S32, },
	[GFS2CTL_A_JID] = { .type = NLA_U32, },
	[GFS2CTL_A_FIRST] = { .type = NLA_U8, },
};

/* GFS2CTL_CMD_BLOCK - do */
static const struct nla_policy gfs2ctl_block_nl_policy[GFS2CTL_A_TABLE + 1] = {
	[GFS2CTL_A_TABLE] = { .type = NLA_NUL_STRING, .len = GFS2CTL_TABLE_MAX, },
};

/* GFS2CTL_CMD_UNBLOCK - do */
static const struct nla_policy gfs2ctl_unblock_nl_policy[GFS2CTL_A_TABLE + 1] = {
	[GFS2CTL_A_TABLE] = { .type = NLA_NUL_STRING, .len = GFS2CTL_TABLE_MAX, },
};

/* GFS2CTL_CMD_RECOVER - do */
static const struct nla_policy gfs2ctl_recover_nl_policy[GFS2CTL_A_JID + 1] = {
	[GFS2CTL_A_TABLE] = { .type = NLA_NUL_STRING, .len = GFS2CTL_TABLE_MAX, },
	[GFS2CTL_A_JID] = { .type = NLA_U32, },
};

/* GFS2CTL_CMD_MEMBERS - do */
static const struct nla_policy gfs2ctl_members_nl_policy[GFS2CTL_A_MEMBER + 1] = {
	[GFS2CTL_A_MEMBER] = { .type = NLA_U32, },
};

/* GFS2CTL_CMD_CONFIG_SET - do */
static const struct nla_policy gfs2ctl_config_set_nl_policy[GFS2CTL_A_TIMEOUT_MS + 1] = {
	[GFS2CTL_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &gfs2ctl_a_timeout_ms_range),
};

/* GFS2CTL_CMD_TRIGGER - do */
static const struct nla_policy gfs2ctl_trigger_nl_policy[GFS2CTL_A_DEPTH + 1] = {
	[GFS2CTL_A_UPCALL_KIND] = NLA_POLICY_RANGE(NLA_U32, 1, 5),
	[GFS2CTL_A_COUNT] = { .type = NLA_U32, },
	[GFS2CTL_A_DEPTH] = NLA_POLICY_RANGE(NLA_U32, 1, 4096),
	[GFS2CTL_A_TABLE] = { .type = NLA_NUL_STRING, .len = GFS2CTL_TABLE_MAX, },
	[GFS2CTL_A_UUID] = NLA_POLICY_EXACT_LEN(16),
	[GFS2CTL_A_DEVICE] = { .type = NLA_NUL_STRING, .len = 255, },
	[GFS2CTL_A_MOUNT_FLAGS] = NLA_POLICY_MASK(NLA_U32, 0x3),
	[GFS2CTL_A_JID] = { .type = NLA_U32, },
	[GFS2CTL_A_RECOVERY_STATUS] = NLA_POLICY_RANGE(NLA_U32, 1, 2),
	[GFS2CTL_A_STATUS] = { .type = NLA_S32, },
};

/*
 * Ops without request attributes: what the kernel gives a new command without a
 * policy (genl_policy_reject_all), here because Linux 6.1 hands such an op the
 * family-wide policy instead when the family has one.
 */
static const struct nla_policy gfs2ctl_reject_all_nl_policy[2] = {
	{ .type = NLA_REJECT, },
	{ .type = NLA_REJECT, },
};

/* Ops table for gfs2ctl */
const struct genl_ops gfs2ctl_nl_ops[13] = {
	{
		.cmd		= GFS2CTL_CMD_REGISTER,
		.doit		= gfs2ctl_nl_register_doit,
		.policy		= gfs2ctl_register_nl_policy,
		.maxattr	= GFS2CTL_A_NODE_ID,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= GFS2CTL_CMD_UNREGISTER,
		.doit		= gfs2ctl_nl_unregister_doit,
		.policy		= gfs2ctl_reject_all_nl_policy,
		.maxattr	= 1,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= GFS2CTL_CMD_REPLY,
		.doit		= gfs2ctl_nl_reply_doit,
		.policy		= gfs2ctl_reply_nl_policy,
		.maxattr	= GFS2CTL_A_FIRST,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= GFS2CTL_CMD_BLOCK,
		.doit		= gfs2ctl_nl_block_doit,
		.policy		= gfs2ctl_block_nl_policy,
		.maxattr	= GFS2CTL_A_TABLE,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= GFS2CTL_CMD_UNBLOCK,
		.doit		= gfs2ctl_nl_unblock_doit,
		.policy		= gfs2ctl_unblock_nl_policy,
		.maxattr	= GFS2CTL_A_TABLE,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= GFS2CTL_CMD_RECOVER,
		.doit		= gfs2ctl_nl_recover_doit,
		.policy		= gfs2ctl_recover_nl_policy,
		.maxattr	= GFS2CTL_A_JID,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= GFS2CTL_CMD_MEMBERS,
		.doit		= gfs2ctl_nl_members_doit,
		.policy		= gfs2ctl_members_nl_policy,
		.maxattr	= GFS2CTL_A_MEMBER,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= GFS2CTL_CMD_MOUNT_GET,
		.dumpit		= gfs2ctl_nl_mount_get_dumpit,
		.policy		= gfs2ctl_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= GFS2CTL_CMD_UPCALL_DUMP,
		.dumpit		= gfs2ctl_nl_upcall_dump_dumpit,
		.policy		= gfs2ctl_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= GFS2CTL_CMD_STATUS_GET,
		.doit		= gfs2ctl_nl_status_get_doit,
		.policy		= gfs2ctl_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= GFS2CTL_CMD_STATS_GET,
		.doit		= gfs2ctl_nl_stats_get_doit,
		.policy		= gfs2ctl_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= GFS2CTL_CMD_CONFIG_SET,
		.doit		= gfs2ctl_nl_config_set_doit,
		.policy		= gfs2ctl_config_set_nl_policy,
		.maxattr	= GFS2CTL_A_TIMEOUT_MS,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= GFS2CTL_CMD_TRIGGER,
		.doit		= gfs2ctl_nl_trigger_doit,
		.policy		= gfs2ctl_trigger_nl_policy,
		.maxattr	= GFS2CTL_A_DEPTH,
		.flags		= GENL_ADMIN_PERM,
	},
};

const struct genl_multicast_group gfs2ctl_nl_mcgrps[1] = {
	[GFS2CTL_NLGRP_EVENTS] = { "events", },
};
