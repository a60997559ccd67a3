// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	netlink/specs/pnfsd.yaml */
/* YNL-GEN kernel source (pnfs-controld ynl-gen) */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "pnfsd-nl.h"

const struct nla_policy pnfsd_ds_addr_nl_policy[PNFSD_A_DS_ADDR_MAX + 1] = {
	[PNFSD_A_DS_ADDR_NETID] = { .type = NLA_NUL_STRING, .len = 8, },
	[PNFSD_A_DS_ADDR_UADDR] = { .type = NLA_NUL_STRING, .len = 64, },
};

const struct nla_policy pnfsd_kind_stats_nl_policy[PNFSD_A_KIND_STATS_MAX + 1] = {
	[PNFSD_A_KIND_STATS_KIND] = { .type = NLA_U32, },
	[PNFSD_A_KIND_STATS_SENT] = { .type = NLA_U64, },
	[PNFSD_A_KIND_STATS_ANSWERED] = { .type = NLA_U64, },
	[PNFSD_A_KIND_STATS_ERRORS] = { .type = NLA_U64, },
	[PNFSD_A_KIND_STATS_TIMEOUTS] = { .type = NLA_U64, },
	[PNFSD_A_KIND_STATS_FAILED] = { .type = NLA_U64, },
	[PNFSD_A_KIND_STATS_P50_NS] = { .type = NLA_U64, },
	[PNFSD_A_KIND_STATS_P99_NS] = { .type = NLA_U64, },
	[PNFSD_A_KIND_STATS_P999_NS] = { .type = NLA_U64, },
	[PNFSD_A_KIND_STATS_HIST] = { .type = NLA_BINARY, },
};

static struct netlink_range_validation pnfsd_pnfsd_timeout_ms_range = {
	.min = 1ULL,
	.max = 600000ULL,
};

const struct nla_policy pnfsd_pnfsd_nl_policy[PNFSD_A_MAX + 1] = {
	[PNFSD_A_XID] = { .type = NLA_U32, },
	[PNFSD_A_STATUS] = { .type = NLA_U32, },
	[PNFSD_A_VERSION] = NLA_POLICY_MIN(NLA_U32, 1),
	[PNFSD_A_NODE_ID] = { .type = NLA_U32, },
	[PNFSD_A_ROLE] = NLA_POLICY_RANGE(NLA_U32, 1, 2),
	[PNFSD_A_MDS_ID] = { .type = NLA_U32, },
	[PNFSD_A_BOOT_EPOCH] = { .type = NLA_U64, },
	[PNFSD_A_FSID] = { .type = NLA_U64, },
	[PNFSD_A_FILEID] = { .type = NLA_U64, },
	[PNFSD_A_STATEID] = NLA_POLICY_EXACT_LEN(16),
	[PNFSD_A_CLIENTID] = { .type = NLA_U64, },
	[PNFSD_A_ACCESS] = { .type = NLA_U32, },
	[PNFSD_A_GENERATION] = { .type = NLA_U32, },
	[PNFSD_A_VERIFIER] = { .type = NLA_U64, },
	[PNFSD_A_DEVICE_ID] = NLA_POLICY_EXACT_LEN(16),
	[PNFSD_A_DS_ADDR] = NLA_POLICY_NESTED(pnfsd_ds_addr_nl_policy),
	[PNFSD_A_IOMODE] = NLA_POLICY_RANGE(NLA_U32, 1, 3),
	[PNFSD_A_OFFSET] = { .type = NLA_U64, },
	[PNFSD_A_LENGTH] = { .type = NLA_U64, },
	[PNFSD_A_RECALL_TYPE] = NLA_POLICY_RANGE(NLA_U32, 1, 4),
	[PNFSD_A_LAST_WRITE] = { .type = NLA_U64, },
	[PNFSD_A_STATE_CHANGE] = NLA_POLICY_RANGE(NLA_U32, 1, 3),
	[PNFSD_A_GRACE_ACTION] = NLA_POLICY_RANGE(NLA_U32, 1, 2),
	[PNFSD_A_GRACE_EPOCH] = { .type = NLA_U64, },
	[PNFSD_A_IN_GRACE] = { .type = NLA_U8, },
	[PNFSD_A_UPCALL_KIND] = NLA_POLICY_RANGE(NLA_U32, 1, 6),
	[PNFSD_A_AGE_US] = { .type = NLA_U64, },
	[PNFSD_A_PORT] = { .type = NLA_U32, },
	[PNFSD_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &pnfsd_pnfsd_timeout_ms_range),
	[PNFSD_A_COUNT] = { .type = NLA_U32, },
	[PNFSD_A_DEPTH] = NLA_POLICY_RANGE(NLA_U32, 1, 4096),
	[PNFSD_A_ELAPSED_NS] = { .type = NLA_U64, },
	[PNFSD_A_KIND_STATS] = NLA_POLICY_NESTED(pnfsd_kind_stats_nl_policy),
	[PNFSD_A_LATE_REPLIES] = { .type = NLA_U64, },
	[PNFSD_A_LAYOUTS] = { .type = NLA_U32, },
	[PNFSD_A_PAD] = { .type = NLA_REJECT, },
	[PNFSD_A_LOOPBACK] = { .type = NLA_FLAG, },
	[PNFSD_A_UPCALL_PORT] = { .type = NLA_U32, },
};

/* Ops table for pnfsd */
const struct genl_ops pnfsd_nl_ops[18] = {
	{
		.cmd		= PNFSD_CMD_REGISTER,
		.doit		= pnfsd_nl_register_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_UNREGISTER,
		.doit		= pnfsd_nl_unregister_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_REPLY,
		.doit		= pnfsd_nl_reply_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_STATE_CHECK,
		.doit		= pnfsd_nl_state_check_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_STATE_SET,
		.doit		= pnfsd_nl_state_set_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_STATE_REVOKE,
		.doit		= pnfsd_nl_state_revoke_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_STATE_GET,
		.dumpit		= pnfsd_nl_state_get_dumpit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
	},
	{
		.cmd		= PNFSD_CMD_DEVICE_SET,
		.doit		= pnfsd_nl_device_set_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_DEVICE_DEL,
		.doit		= pnfsd_nl_device_del_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_DEVICE_GET,
		.dumpit		= pnfsd_nl_device_get_dumpit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
	},
	{
		.cmd		= PNFSD_CMD_LAYOUT_RECALL,
		.doit		= pnfsd_nl_layout_recall_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_LAYOUT_DUMP,
		.dumpit		= pnfsd_nl_layout_dump_dumpit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
	},
	{
		.cmd		= PNFSD_CMD_GRACE,
		.doit		= pnfsd_nl_grace_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_UPCALL_DUMP,
		.dumpit		= pnfsd_nl_upcall_dump_dumpit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
	},
	{
		.cmd		= PNFSD_CMD_STATUS_GET,
		.doit		= pnfsd_nl_status_get_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
	},
	{
		.cmd		= PNFSD_CMD_STATS_GET,
		.doit		= pnfsd_nl_stats_get_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
	},
	{
		.cmd		= PNFSD_CMD_CONFIG_SET,
		.doit		= pnfsd_nl_config_set_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_TRIGGER,
		.doit		= pnfsd_nl_trigger_doit,
		.policy		= pnfsd_pnfsd_nl_policy,
		.maxattr	= PNFSD_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
};

const struct genl_multicast_group pnfsd_nl_mcgrps[1] = {
	[PNFSD_NLGRP_EVENTS] = { "events", },
};
