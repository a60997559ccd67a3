// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	netlink/specs/pnfsd.yaml */
/* YNL-GEN kernel source (pnfs-controld ynl-gen) */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "pnfsd-nl.h"

/* Integer value ranges */
static struct netlink_range_validation pnfsd_a_timeout_ms_range = {
	.min	= 1ULL,
	.max	= 600000ULL,
};

/* Common nested types */
const struct nla_policy pnfsd_ds_addr_nl_policy[PNFSD_A_DS_ADDR_UADDR + 1] = {
	[PNFSD_A_DS_ADDR_NETID] = { .type = NLA_NUL_STRING, .len = 8, },
	[PNFSD_A_DS_ADDR_UADDR] = { .type = NLA_NUL_STRING, .len = 64, },
};

/* Family-wide (Linux 6.1 genl_family.policy): the handled requests' attributes */
const struct nla_policy pnfsd_pnfsd_nl_policy[PNFSD_A_MAX + 1] = {
	[PNFSD_A_XID] = { .type = NLA_U32, },
	[PNFSD_A_STATUS] = NLA_POLICY_MAX(NLA_U32, 10062),
	[PNFSD_A_VERSION] = NLA_POLICY_MIN(NLA_U32, 1),
	[PNFSD_A_NODE_ID] = { .type = NLA_U32, },
	[PNFSD_A_ROLE] = NLA_POLICY_RANGE(NLA_U32, 1, 2),
	[PNFSD_A_MDS_ID] = { .type = NLA_U32, },
	[PNFSD_A_BOOT_EPOCH] = { .type = NLA_U64, },
	[PNFSD_A_FSID] = { .type = NLA_U64, },
	[PNFSD_A_FILEID] = { .type = NLA_U64, },
	[PNFSD_A_STATEID] = NLA_POLICY_EXACT_LEN(PNFSD_STATEID_SIZE),
	[PNFSD_A_CLIENTID] = { .type = NLA_U64, },
	[PNFSD_A_ACCESS] = NLA_POLICY_MASK(NLA_U32, 0x3),
	[PNFSD_A_GENERATION] = { .type = NLA_U32, },
	[PNFSD_A_VERIFIER] = { .type = NLA_U64, },
	[PNFSD_A_DEVICE_ID] = NLA_POLICY_EXACT_LEN(PNFSD_DEVICEID_SIZE),
	[PNFSD_A_DS_ADDR] = NLA_POLICY_NESTED(pnfsd_ds_addr_nl_policy),
	[PNFSD_A_IOMODE] = NLA_POLICY_RANGE(NLA_U32, 1, 3),
	[PNFSD_A_OFFSET] = { .type = NLA_U64, },
	[PNFSD_A_LENGTH] = { .type = NLA_U64, },
	[PNFSD_A_RECALL_TYPE] = NLA_POLICY_RANGE(NLA_U32, 1, 4),
	[PNFSD_A_LAST_WRITE] = { .type = NLA_U64, },
	[PNFSD_A_STATE_CHANGE] = NLA_POLICY_RANGE(NLA_U32, 1, 3),
	[PNFSD_A_GRACE_ACTION] = NLA_POLICY_RANGE(NLA_U32, 1, 2),
	[PNFSD_A_GRACE_EPOCH] = { .type = NLA_U64, },
	[PNFSD_A_UPCALL_KIND] = NLA_POLICY_RANGE(NLA_U32, 1, 6),
	[PNFSD_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &pnfsd_a_timeout_ms_range),
	[PNFSD_A_COUNT] = { .type = NLA_U32, },
	[PNFSD_A_DEPTH] = NLA_POLICY_RANGE(NLA_U32, 1, 4096),
	[PNFSD_A_LOOPBACK] = { .type = NLA_FLAG, },
};

/* PNFSD_CMD_REGISTER - do */
static const struct nla_policy pnfsd_register_nl_policy[PNFSD_A_BOOT_EPOCH + 1] = {
	[PNFSD_A_VERSION] = NLA_POLICY_MIN(NLA_U32, 1),
	[PNFSD_A_NODE_ID] = { .type = NLA_U32, },
	[PNFSD_A_ROLE] = NLA_POLICY_RANGE(NLA_U32, 1, 2),
	[PNFSD_A_MDS_ID] = { .type = NLA_U32, },
	[PNFSD_A_BOOT_EPOCH] = { .type = NLA_U64, },
};

/* PNFSD_CMD_REPLY - do */
static const struct nla_policy pnfsd_reply_nl_policy[PNFSD_A_LENGTH + 1] = {
	[PNFSD_A_XID] = { .type = NLA_U32, },
	[PNFSD_A_STATUS] = NLA_POLICY_MAX(NLA_U32, 10062),
	[PNFSD_A_ACCESS] = NLA_POLICY_MASK(NLA_U32, 0x3),
	[PNFSD_A_GENERATION] = { .type = NLA_U32, },
	[PNFSD_A_CLIENTID] = { .type = NLA_U64, },
	[PNFSD_A_VERIFIER] = { .type = NLA_U64, },
	[PNFSD_A_DEVICE_ID] = NLA_POLICY_EXACT_LEN(PNFSD_DEVICEID_SIZE),
	[PNFSD_A_DS_ADDR] = NLA_POLICY_NESTED(pnfsd_ds_addr_nl_policy),
	[PNFSD_A_STATEID] = NLA_POLICY_EXACT_LEN(PNFSD_STATEID_SIZE),
	[PNFSD_A_IOMODE] = NLA_POLICY_RANGE(NLA_U32, 1, 3),
	[PNFSD_A_OFFSET] = { .type = NLA_U64, },
	[PNFSD_A_LENGTH] = { .type = NLA_U64, },
};

/* PNFSD_CMD_STATE_CHECK - do */
static const struct nla_policy pnfsd_state_check_nl_policy[PNFSD_A_CLIENTID + 1] = {
	[PNFSD_A_FSID] = { .type = NLA_U64, },
	[PNFSD_A_FILEID] = { .type = NLA_U64, },
	[PNFSD_A_STATEID] = NLA_POLICY_EXACT_LEN(PNFSD_STATEID_SIZE),
	[PNFSD_A_CLIENTID] = { .type = NLA_U64, },
};

/* PNFSD_CMD_STATE_SET - do */
static const struct nla_policy pnfsd_state_set_nl_policy[PNFSD_A_GENERATION + 1] = {
	[PNFSD_A_FSID] = { .type = NLA_U64, },
	[PNFSD_A_FILEID] = { .type = NLA_U64, },
	[PNFSD_A_STATEID] = NLA_POLICY_EXACT_LEN(PNFSD_STATEID_SIZE),
	[PNFSD_A_CLIENTID] = { .type = NLA_U64, },
	[PNFSD_A_ACCESS] = NLA_POLICY_MASK(NLA_U32, 0x3),
	[PNFSD_A_GENERATION] = { .type = NLA_U32, },
};

/* PNFSD_CMD_STATE_REVOKE - do */
static const struct nla_policy pnfsd_state_revoke_nl_policy[PNFSD_A_CLIENTID + 1] = {
	[PNFSD_A_CLIENTID] = { .type = NLA_U64, },
	[PNFSD_A_FSID] = { .type = NLA_U64, },
	[PNFSD_A_FILEID] = { .type = NLA_U64, },
	[PNFSD_A_STATEID] = NLA_POLICY_EXACT_LEN(PNFSD_STATEID_SIZE),
};

/* PNFSD_CMD_DEVICE_SET - do */
static const struct nla_policy pnfsd_device_set_nl_policy[PNFSD_A_DS_ADDR + 1] = {
	[PNFSD_A_DEVICE_ID] = NLA_POLICY_EXACT_LEN(PNFSD_DEVICEID_SIZE),
	[PNFSD_A_NODE_ID] = { .type = NLA_U32, },
	[PNFSD_A_DS_ADDR] = NLA_POLICY_NESTED(pnfsd_ds_addr_nl_policy),
};

/* PNFSD_CMD_DEVICE_DEL - do */
static const struct nla_policy pnfsd_device_del_nl_policy[PNFSD_A_DEVICE_ID + 1] = {
	[PNFSD_A_DEVICE_ID] = NLA_POLICY_EXACT_LEN(PNFSD_DEVICEID_SIZE),
};

/* PNFSD_CMD_LAYOUT_RECALL - do */
static const struct nla_policy pnfsd_layout_recall_nl_policy[PNFSD_A_RECALL_TYPE + 1] = {
	[PNFSD_A_RECALL_TYPE] = NLA_POLICY_RANGE(NLA_U32, 1, 4),
	[PNFSD_A_FSID] = { .type = NLA_U64, },
	[PNFSD_A_FILEID] = { .type = NLA_U64, },
	[PNFSD_A_DEVICE_ID] = NLA_POLICY_EXACT_LEN(PNFSD_DEVICEID_SIZE),
	[PNFSD_A_CLIENTID] = { .type = NLA_U64, },
};

/* PNFSD_CMD_GRACE - do */
static const struct nla_policy pnfsd_grace_nl_policy[PNFSD_A_GRACE_EPOCH + 1] = {
	[PNFSD_A_GRACE_ACTION] = NLA_POLICY_RANGE(NLA_U32, 1, 2),
	[PNFSD_A_GRACE_EPOCH] = { .type = NLA_U64, },
};

/* PNFSD_CMD_CONFIG_SET - do */
static const struct nla_policy pnfsd_config_set_nl_policy[PNFSD_A_TIMEOUT_MS + 1] = {
	[PNFSD_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &pnfsd_a_timeout_ms_range),
};

/* PNFSD_CMD_TRIGGER - do */
static const struct nla_policy pnfsd_trigger_nl_policy[PNFSD_A_LOOPBACK + 1] = {
	[PNFSD_A_UPCALL_KIND] = NLA_POLICY_RANGE(NLA_U32, 1, 6),
	[PNFSD_A_COUNT] = { .type = NLA_U32, },
	[PNFSD_A_DEPTH] = NLA_POLICY_RANGE(NLA_U32, 1, 4096),
	[PNFSD_A_FSID] = { .type = NLA_U64, },
	[PNFSD_A_FILEID] = { .type = NLA_U64, },
	[PNFSD_A_STATEID] = NLA_POLICY_EXACT_LEN(PNFSD_STATEID_SIZE),
	[PNFSD_A_CLIENTID] = { .type = NLA_U64, },
	[PNFSD_A_MDS_ID] = { .type = NLA_U32, },
	[PNFSD_A_BOOT_EPOCH] = { .type = NLA_U64, },
	[PNFSD_A_DEVICE_ID] = NLA_POLICY_EXACT_LEN(PNFSD_DEVICEID_SIZE),
	[PNFSD_A_IOMODE] = NLA_POLICY_RANGE(NLA_U32, 1, 3),
	[PNFSD_A_OFFSET] = { .type = NLA_U64, },
	[PNFSD_A_LENGTH] = { .type = NLA_U64, },
	[PNFSD_A_GENERATION] = { .type = NLA_U32, },
	[PNFSD_A_STATE_CHANGE] = NLA_POLICY_RANGE(NLA_U32, 1, 3),
	[PNFSD_A_LAST_WRITE] = { .type = NLA_U64, },
	[PNFSD_A_LOOPBACK] = { .type = NLA_FLAG, },
};

/*
 * Ops without request attributes: what the kernel gives a new command without a
 * policy (genl_policy_reject_all), here because Linux 6.1 hands such an op the
 * family-wide policy instead when the family has one.
 */
static const struct nla_policy pnfsd_reject_all_nl_policy[2] = {
	{ .type = NLA_REJECT, },
	{ .type = NLA_REJECT, },
};

/* Ops table for pnfsd */
const struct genl_ops pnfsd_nl_ops[18] = {
	{
		.cmd		= PNFSD_CMD_REGISTER,
		.doit		= pnfsd_nl_register_doit,
		.policy		= pnfsd_register_nl_policy,
		.maxattr	= PNFSD_A_BOOT_EPOCH,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_UNREGISTER,
		.doit		= pnfsd_nl_unregister_doit,
		.policy		= pnfsd_reject_all_nl_policy,
		.maxattr	= 1,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_REPLY,
		.doit		= pnfsd_nl_reply_doit,
		.policy		= pnfsd_reply_nl_policy,
		.maxattr	= PNFSD_A_LENGTH,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_STATE_CHECK,
		.doit		= pnfsd_nl_state_check_doit,
		.policy		= pnfsd_state_check_nl_policy,
		.maxattr	= PNFSD_A_CLIENTID,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_STATE_SET,
		.doit		= pnfsd_nl_state_set_doit,
		.policy		= pnfsd_state_set_nl_policy,
		.maxattr	= PNFSD_A_GENERATION,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_STATE_REVOKE,
		.doit		= pnfsd_nl_state_revoke_doit,
		.policy		= pnfsd_state_revoke_nl_policy,
		.maxattr	= PNFSD_A_CLIENTID,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_STATE_GET,
		.dumpit		= pnfsd_nl_state_get_dumpit,
		.policy		= pnfsd_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= PNFSD_CMD_DEVICE_SET,
		.doit		= pnfsd_nl_device_set_doit,
		.policy		= pnfsd_device_set_nl_policy,
		.maxattr	= PNFSD_A_DS_ADDR,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_DEVICE_DEL,
		.doit		= pnfsd_nl_device_del_doit,
		.policy		= pnfsd_device_del_nl_policy,
		.maxattr	= PNFSD_A_DEVICE_ID,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_DEVICE_GET,
		.dumpit		= pnfsd_nl_device_get_dumpit,
		.policy		= pnfsd_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= PNFSD_CMD_LAYOUT_RECALL,
		.doit		= pnfsd_nl_layout_recall_doit,
		.policy		= pnfsd_layout_recall_nl_policy,
		.maxattr	= PNFSD_A_RECALL_TYPE,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_LAYOUT_DUMP,
		.dumpit		= pnfsd_nl_layout_dump_dumpit,
		.policy		= pnfsd_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= PNFSD_CMD_GRACE,
		.doit		= pnfsd_nl_grace_doit,
		.policy		= pnfsd_grace_nl_policy,
		.maxattr	= PNFSD_A_GRACE_EPOCH,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_UPCALL_DUMP,
		.dumpit		= pnfsd_nl_upcall_dump_dumpit,
		.policy		= pnfsd_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= PNFSD_CMD_STATUS_GET,
		.doit		= pnfsd_nl_status_get_doit,
		.policy		= pnfsd_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= PNFSD_CMD_STATS_GET,
		.doit		= pnfsd_nl_stats_get_doit,
		.policy		= pnfsd_reject_all_nl_policy,
		.maxattr	= 1,
	},
	{
		.cmd		= PNFSD_CMD_CONFIG_SET,
		.doit		= pnfsd_nl_config_set_doit,
		.policy		= pnfsd_config_set_nl_policy,
		.maxattr	= PNFSD_A_TIMEOUT_MS,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= PNFSD_CMD_TRIGGER,
		.doit		= pnfsd_nl_trigger_doit,
		.policy		= pnfsd_trigger_nl_policy,
		.maxattr	= PNFSD_A_LOOPBACK,
		.flags		= GENL_ADMIN_PERM,
	},
};

const struct genl_multicast_group pnfsd_nl_mcgrps[1] = {
	[PNFSD_NLGRP_EVENTS] = { "events", },
};
