// SPDX-License-Identifier: GPL-2.0
/*
 * A real libmnl client of the kernel half: what a C program written against
 * the generated uapi headers and libmnl sees of the module (NETLINK_GENERIC)
 * or of its twin (NETLINK_USERSOCK, the twin's port).
 *
 * Every answer goes through mnl_cb_run2() with our own port, as libmnl's users
 * do: an answer whose nlmsg_pid is not the requester's port is refused by
 * libmnl itself (ESRCH), one with another sequence number too (EPROTO).
 *
 * Checks: both families resolved through nlctrl (CTRL_CMD_GETFAMILY), and
 * nlctrl itself; every dump op each family lists; a policy dump
 * (CTRL_CMD_GETPOLICY); a `do` with its reply and ACK; an admin op with its
 * ACK as root and refused (EPERM) as nobody; and the refusals with their
 * extack: a missing attribute (EINVAL, message, missing type, and the nest
 * it is missing from), an unknown attribute (EINVAL), a value out of the range
 * the policy dump advertises (ERANGE), a fixed-size binary of the wrong size
 * (ERANGE), a nest without NLA_F_NESTED, an unknown command, an upcall sent to
 * the kernel half, an unknown family.
 *
 * Usage: mnl_client [--proto generic|usersock] [--peer PORT]
 * One line per check ("PASS name" / "FAIL name: why"), then "N passed, M failed";
 * exit status 0 only if nothing failed.
 *
 * Build: gcc -O2 -Wall -Wextra -I kmod-shim/module/uapi -o mnl_client \
 *            tests/interop/mnl_client.c -lmnl
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "gfs2ctl.h"
#include "pnfsd.h"

#define TWIN_DEFAULT_PORT 0x504e4653u
#define NOBODY 65534
#define MAX_OPS 64
#define NOTIFY_GROUP 0x10

static int proto = NETLINK_GENERIC;
static uint32_t peer;
static int passed, failed;

static void pass(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("PASS ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	passed++;
}

static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL %s: ", name);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	failed++;
}

/* ------------------------------------------------------------------ socket */

struct conn {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

static int conn_open(struct conn *c)
{
	int one = 1;

	c->nl = mnl_socket_open(proto);
	if (!c->nl)
		return -1;
	if (mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -1;
	/* extack TLVs from the kernel; the twin always sends them */
	if (mnl_socket_setsockopt(c->nl, NETLINK_EXT_ACK, &one, sizeof(one)) < 0)
		return -1;
	c->portid = mnl_socket_get_portid(c->nl);
	c->seq = (uint32_t)time(NULL);
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->nl)
		mnl_socket_close(c->nl);
	c->nl = NULL;
}

/* What one exchange produced. */
struct answer {
	int err;		/* errno of the NLMSG_ERROR, 0 for the ACK */
	bool acked;		/* an NLMSG_ERROR (ACK or error) ended it */
	bool done;		/* NLMSG_DONE ended it */
	char msg[256];		/* NLMSGERR_ATTR_MSG */
	bool has_offs, has_miss_type, has_miss_nest;
	uint32_t offs, miss_type, miss_nest;
	int nmsgs;		/* data messages */
	mnl_cb_t data_cb;
	void *data;
	char local[160];	/* a local failure (libmnl's, or the socket's) */
};

static int tlv_cb(const struct nlattr *a, void *data)
{
	struct answer *an = data;

	switch (mnl_attr_get_type(a)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(an->msg, sizeof(an->msg), "%s", mnl_attr_get_str(a));
		break;
	case NLMSGERR_ATTR_OFFS:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			an->has_offs = true;
			an->offs = mnl_attr_get_u32(a);
		}
		break;
	case NLMSGERR_ATTR_MISS_TYPE:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			an->has_miss_type = true;
			an->miss_type = mnl_attr_get_u32(a);
		}
		break;
	case NLMSGERR_ATTR_MISS_NEST:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			an->has_miss_nest = true;
			an->miss_nest = mnl_attr_get_u32(a);
		}
		break;
	}
	return MNL_CB_OK;
}

/* NLMSG_ERROR: the ACK, or an error with its extack TLVs after the echo. */
static int error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	struct answer *an = data;
	unsigned int off = sizeof(*e);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	an->acked = true;
	an->err = -e->error;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		/* the whole request is echoed unless NLM_F_CAPPED */
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
		mnl_attr_parse(nlh, off, tlv_cb, an);
	}
	if (e->error == 0)
		return MNL_CB_STOP;
	errno = -e->error;
	return MNL_CB_ERROR;
}

static int done_cb(const struct nlmsghdr *nlh, void *data)
{
	struct answer *an = data;

	(void)nlh;
	an->done = true;
	return MNL_CB_STOP;
}

static int noop_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_OK;
}

static int overrun_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	errno = ENOSPC;
	return MNL_CB_ERROR;
}

static int data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct answer *an = data;

	an->nmsgs++;
	return an->data_cb ? an->data_cb(nlh, an->data) : MNL_CB_OK;
}

static mnl_cb_t ctl_cbs[NLMSG_MIN_TYPE] = {
	[NLMSG_NOOP] = noop_cb,
	[NLMSG_ERROR] = error_cb,
	[NLMSG_DONE] = done_cb,
	[NLMSG_OVERRUN] = overrun_cb,
};

static struct nlmsghdr *genl_req(char *buf, struct conn *c, uint16_t type,
				 uint16_t flags, uint8_t cmd)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++c->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = 1;
	return nlh;
}

/*
 * Send nlh to the kernel half and run every answer through mnl_cb_run2() with
 * our port and the request's seq until the ACK, the error or NLMSG_DONE.
 * Returns 0 when it ended with an ACK or NLMSG_DONE, the errno of an error
 * answer, or -1 on a local failure (an->local says which: libmnl's ESRCH for an
 * answer addressed to another port, EPROTO for another seq, a timeout).
 */
static int exchange(struct conn *c, struct nlmsghdr *nlh, struct answer *an)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = peer };
	static char buf[1 << 17];
	struct timeval tv = { .tv_sec = 10 };
	int ret;

	setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(mnl_socket_get_fd(c->nl), nlh, nlh->nlmsg_len, 0,
		   (struct sockaddr *)&to, sizeof(to)) < 0) {
		snprintf(an->local, sizeof(an->local), "sendto: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		const struct nlmsghdr *first = (const void *)buf;
		ssize_t n;

		n = recvfrom(mnl_socket_get_fd(c->nl), buf, sizeof(buf), 0,
			     (struct sockaddr *)&from, &fl);
		if (n < 0) {
			snprintf(an->local, sizeof(an->local), "recv: %s", strerror(errno));
			return -1;
		}
		/* only the kernel half's unicasts answer us */
		if (from.nl_pid != peer || from.nl_groups)
			continue;
		errno = 0;
		ret = mnl_cb_run2(buf, n, nlh->nlmsg_seq, c->portid, data_cb, an,
				  ctl_cbs, NLMSG_MIN_TYPE);
		if (ret == MNL_CB_ERROR && an->acked && an->err)
			return an->err;
		if (ret == MNL_CB_ERROR) {
			const struct nlmsghdr *m = first;
			int e = errno, len = n;

			/* name the message libmnl refused: another port's or seq's */
			for (; mnl_nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len))
				if ((m->nlmsg_pid && m->nlmsg_pid != c->portid) ||
				    (m->nlmsg_seq && m->nlmsg_seq != nlh->nlmsg_seq))
					break;
			if (!mnl_nlmsg_ok(m, len))
				m = first;
			snprintf(an->local, sizeof(an->local),
				 "mnl_cb_run: %s (answer type %#x nlmsg_pid %#x seq %u; our port %#x seq %u)",
				 strerror(e), m->nlmsg_type, m->nlmsg_pid, m->nlmsg_seq,
				 c->portid, nlh->nlmsg_seq);
			return -1;
		}
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

/* ------------------------------------------------------------------ nlctrl */

struct family {
	const char *name;
	uint16_t id;
	uint32_t version, maxattr;
	int nops;
	uint32_t op_id[MAX_OPS], op_flags[MAX_OPS];
	uint32_t group;		/* the first multicast group's id */
	char group_name[32];
};

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	struct family *f = data;
	struct nlattr *a, *e, *x;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		switch (mnl_attr_get_type(a)) {
		case CTRL_ATTR_FAMILY_ID:
			f->id = mnl_attr_get_u16(a);
			break;
		case CTRL_ATTR_VERSION:
			f->version = mnl_attr_get_u32(a);
			break;
		case CTRL_ATTR_MAXATTR:
			f->maxattr = mnl_attr_get_u32(a);
			break;
		case CTRL_ATTR_OPS:
			mnl_attr_for_each_nested(e, a) {
				if (f->nops == MAX_OPS)
					break;
				mnl_attr_for_each_nested(x, e) {
					if (mnl_attr_get_type(x) == CTRL_ATTR_OP_ID)
						f->op_id[f->nops] = mnl_attr_get_u32(x);
					if (mnl_attr_get_type(x) == CTRL_ATTR_OP_FLAGS)
						f->op_flags[f->nops] = mnl_attr_get_u32(x);
				}
				f->nops++;
			}
			break;
		case CTRL_ATTR_MCAST_GROUPS:
			mnl_attr_for_each_nested(e, a) {
				mnl_attr_for_each_nested(x, e) {
					if (mnl_attr_get_type(x) == CTRL_ATTR_MCAST_GRP_ID &&
					    !f->group)
						f->group = mnl_attr_get_u32(x);
					if (mnl_attr_get_type(x) == CTRL_ATTR_MCAST_GRP_NAME &&
					    !f->group_name[0])
						snprintf(f->group_name, sizeof(f->group_name),
							 "%s", mnl_attr_get_str(x));
				}
				break;
			}
			break;
		}
	}
	return MNL_CB_OK;
}

static int resolve(struct conn *c, struct family *f, struct answer *an)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	nlh = genl_req(buf, c, GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, f->name);
	memset(an, 0, sizeof(*an));
	an->data_cb = family_cb;
	an->data = f;
	return exchange(c, nlh, an);
}

static void check_resolve(struct conn *c, struct family *f, const char *events)
{
	char name[64];
	struct answer an;
	int r = resolve(c, f, &an);

	snprintf(name, sizeof(name), "resolve %s", f->name);
	if (r)
		fail(name, "%s", r < 0 ? an.local : strerror(r));
	else if (an.nmsgs != 1 || !f->id || f->version != 1 || !f->nops)
		fail(name, "%d answers, id %#x version %u, %d ops", an.nmsgs, f->id,
		     f->version, f->nops);
	else if (strcmp(f->group_name, events) || !f->group)
		fail(name, "group %s id %u, want %s", f->group_name, f->group, events);
	else
		pass("%s: id %#x, %d ops, group %s %u", name, f->id, f->nops,
		     f->group_name, f->group);
}

/* ------------------------------------------------------------------ checks */

static const char *errname(int e)
{
	static char b[32];

	switch (e) {
	case 0: return "0 (accepted)";
	case EINVAL: return "EINVAL";
	case ERANGE: return "ERANGE";
	case ENOENT: return "ENOENT";
	case EPERM: return "EPERM";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case E2BIG: return "E2BIG";
	}
	snprintf(b, sizeof(b), "errno %d", e);
	return b;
}

/* A request refused with errno `want` (and message `msg`, when not NULL). */
static bool refused(const char *name, int r, struct answer *an, int want, const char *msg)
{
	if (r < 0) {
		fail(name, "%s", an->local);
		return false;
	}
	if (r != want) {
		fail(name, "%s (\"%s\"), want %s", errname(r), an->msg, errname(want));
		return false;
	}
	if (msg && strcmp(an->msg, msg)) {
		fail(name, "extack \"%s\", want \"%s\"", an->msg, msg);
		return false;
	}
	return true;
}

static int simple(struct conn *c, uint16_t fam, uint8_t cmd, uint16_t flags,
		  void (*fill)(struct nlmsghdr *, void *), void *arg, struct answer *an)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = genl_req(buf, c, fam, NLM_F_ACK | flags, cmd);

	if (fill)
		fill(nlh, arg);
	memset(an, 0, sizeof(*an));
	return exchange(c, nlh, an);
}

/* Offset of the first attribute of a genl request from the message start. */
#define ATTRS_AT (sizeof(struct nlmsghdr) + sizeof(struct genlmsghdr))

static void check_dumps(struct conn *c, struct family *f, const uint32_t *want, int nwant)
{
	int i, j;

	for (j = 0; j < nwant; j++) {
		char name[64];
		bool listed = false;

		for (i = 0; i < f->nops; i++)
			listed |= f->op_id[i] == want[j] && (f->op_flags[i] & GENL_CMD_CAP_DUMP);
		snprintf(name, sizeof(name), "%s lists cmd %u as a dump", f->name, want[j]);
		if (listed)
			pass("%s", name);
		else
			fail(name, "not listed with GENL_CMD_CAP_DUMP");
	}
	for (i = 0; i < f->nops; i++) {
		struct answer an;
		char name[64];
		int r;

		if (!(f->op_flags[i] & GENL_CMD_CAP_DUMP))
			continue;
		snprintf(name, sizeof(name), "dump %s cmd %u", f->name, f->op_id[i]);
		r = simple(c, f->id, f->op_id[i], NLM_F_DUMP, NULL, NULL, &an);
		if (r)
			fail(name, "%s", r < 0 ? an.local : strerror(r));
		else if (!an.done)
			fail(name, "ended without NLMSG_DONE");
		else
			pass("%s: %d messages, NLMSG_DONE", name, an.nmsgs);
	}
}

/* CTRL_CMD_GETPOLICY: the op -> policy map and one attribute's bounds. */
struct policy_q {
	uint32_t op;		/* the op whose do policy we look for */
	uint16_t attr;		/* the attribute whose bounds we want */
	int ops;		/* CTRL_ATTR_OP_POLICY entries */
	int attrs;		/* CTRL_ATTR_POLICY entries */
	int64_t idx;		/* the op's do policy index, -1 unknown */
	/* bounds of attr per policy index (index < 16) */
	bool have[16];
	uint64_t min[16], max[16];
};

static int policy_cb(const struct nlmsghdr *nlh, void *data)
{
	struct policy_q *q = data;
	struct nlattr *a, *p, *x, *d;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) == CTRL_ATTR_OP_POLICY) {
			mnl_attr_for_each_nested(p, a) {
				q->ops++;
				if (mnl_attr_get_type(p) != q->op)
					continue;
				mnl_attr_for_each_nested(x, p)
					if (mnl_attr_get_type(x) == CTRL_ATTR_POLICY_DO)
						q->idx = mnl_attr_get_u32(x);
			}
		}
		if (mnl_attr_get_type(a) != CTRL_ATTR_POLICY)
			continue;
		mnl_attr_for_each_nested(p, a) {
			uint16_t idx = mnl_attr_get_type(p);

			mnl_attr_for_each_nested(x, p) {
				q->attrs++;
				if (mnl_attr_get_type(x) != q->attr || idx >= 16)
					continue;
				mnl_attr_for_each_nested(d, x) {
					if (mnl_attr_get_type(d) == NL_POLICY_TYPE_ATTR_MIN_VALUE_U)
						q->min[idx] = mnl_attr_get_u64(d);
					if (mnl_attr_get_type(d) == NL_POLICY_TYPE_ATTR_MAX_VALUE_U) {
						q->max[idx] = mnl_attr_get_u64(d);
						q->have[idx] = true;
					}
				}
			}
		}
	}
	return MNL_CB_OK;
}

/* Learn attribute `attr`'s range in op `op`'s policy; returns its max, 0 if unknown. */
static uint64_t check_policy(struct conn *c, struct family *f, uint32_t op, uint16_t attr)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], name[64];
	struct policy_q q = { .op = op, .attr = attr, .idx = -1 };
	struct nlmsghdr *nlh;
	struct answer an;
	int r;

	snprintf(name, sizeof(name), "policy dump of %s", f->name);
	nlh = genl_req(buf, c, GENL_ID_CTRL, NLM_F_DUMP, CTRL_CMD_GETPOLICY);
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, f->id);
	memset(&an, 0, sizeof(an));
	an.data_cb = policy_cb;
	an.data = &q;
	r = exchange(c, nlh, &an);
	if (r) {
		fail(name, "%s", r < 0 ? an.local : strerror(r));
		return 0;
	}
	if (q.ops != f->nops || !q.attrs || q.idx < 0 || q.idx >= 16 || !q.have[q.idx]) {
		fail(name, "%d ops with a policy (%d listed), %d attributes, op %u policy %lld",
		     q.ops, f->nops, q.attrs, op, (long long)q.idx);
		return 0;
	}
	pass("%s: %d ops, %d attribute policies; op %u attribute %u in [%llu, %llu]", name,
	     q.ops, q.attrs, op, attr, (unsigned long long)q.min[q.idx],
	     (unsigned long long)q.max[q.idx]);
	return q.max[q.idx];
}

static void put_u32_attr(struct nlmsghdr *nlh, void *arg)
{
	const uint32_t *kv = arg;

	mnl_attr_put_u32(nlh, kv[0], kv[1]);
}

static void check_status(struct conn *c, struct family *f, uint8_t cmd)
{
	char name[64];
	struct answer an;
	int r = simple(c, f->id, cmd, 0, NULL, NULL, &an);

	snprintf(name, sizeof(name), "%s status-get (reply, ACK)", f->name);
	if (r)
		fail(name, "%s", r < 0 ? an.local : strerror(r));
	else if (an.nmsgs != 1 || !an.acked)
		fail(name, "%d replies, ACK %d", an.nmsgs, an.acked);
	else
		pass("%s", name);
}

static void put_device(struct nlmsghdr *nlh, void *arg)
{
	const char *what = arg;
	uint8_t id[PNFSD_DEVICEID_SIZE];
	struct nlattr *n;

	memset(id, 0xe1, sizeof(id));
	mnl_attr_put(nlh, PNFSD_A_DEVICE_ID, sizeof(id), id);
	if (!strcmp(what, "none"))
		return;
	if (!strcmp(what, "noflag")) {
		/* a nest written by hand, without NLA_F_NESTED */
		n = mnl_nlmsg_get_payload_tail(nlh);
		mnl_attr_put(nlh, PNFSD_A_DS_ADDR, 0, NULL);
		mnl_attr_put_strz(nlh, PNFSD_A_DS_ADDR_NETID, "tcp");
		mnl_attr_put_strz(nlh, PNFSD_A_DS_ADDR_UADDR, "10.0.0.1.8.1");
		n->nla_len = (char *)mnl_nlmsg_get_payload_tail(nlh) - (char *)n;
		return;
	}
	n = mnl_attr_nest_start(nlh, PNFSD_A_DS_ADDR);
	mnl_attr_put_strz(nlh, PNFSD_A_DS_ADDR_NETID, "tcp");
	if (strcmp(what, "nouaddr"))
		mnl_attr_put_strz(nlh, PNFSD_A_DS_ADDR_UADDR, "10.0.0.1.8.1");
	mnl_attr_nest_end(nlh, n);
}

static void check_admin_do(struct conn *c, struct family *pn)
{
	struct answer an;
	int r;

	r = simple(c, pn->id, PNFSD_CMD_DEVICE_SET, 0, put_device, "full", &an);
	if (r)
		fail("device-set as root (ACK)", "%s", r < 0 ? an.local : strerror(r));
	else if (!an.acked || an.nmsgs)
		fail("device-set as root (ACK)", "ACK %d, %d replies", an.acked, an.nmsgs);
	else
		pass("device-set as root (ACK)");
	r = simple(c, pn->id, PNFSD_CMD_DEVICE_GET, NLM_F_DUMP, NULL, NULL, &an);
	if (r || an.nmsgs != 1)
		fail("device-get lists it", "%s, %d devices",
		     r < 0 ? an.local : strerror(r), an.nmsgs);
	else
		pass("device-get lists it");
	r = simple(c, pn->id, PNFSD_CMD_DEVICE_DEL, 0, put_device, "none", &an);
	if (r)
		fail("device-del as root (ACK)", "%s", r < 0 ? an.local : strerror(r));
	else
		pass("device-del as root (ACK)");
}

static void check_nobody(struct family *f, uint8_t cmd, uint16_t attr)
{
	char name[64];
	int status;
	pid_t pid;

	snprintf(name, sizeof(name), "%s config-set as nobody", f->name);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fail(name, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		uint32_t kv[2] = { attr, 5000 };
		struct conn c = { 0 };
		struct answer an;
		gid_t g = NOBODY;
		int r;

		/* drop root before opening the socket: the kernel checks the opener too */
		if (setgroups(1, &g) || setgid(NOBODY) || setuid(NOBODY) || conn_open(&c))
			_exit(255);
		r = simple(&c, f->id, cmd, 0, put_u32_attr, kv, &an);
		if (r < 0)
			fprintf(stderr, "%s: %s\n", name, an.local);
		_exit(r < 0 ? 254 : r);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
		fail(name, "child did not exit");
		return;
	}
	if (WEXITSTATUS(status) == EPERM)
		pass("%s: EPERM", name);
	else if (WEXITSTATUS(status) == 255)
		fail(name, "the child could not become nobody");
	else if (WEXITSTATUS(status) == 254)
		fail(name, "no answer the child could take (on its stderr)");
	else
		fail(name, "%s, want EPERM", errname(WEXITSTATUS(status)));
}

static void put_register_no_version(struct nlmsghdr *nlh, void *arg)
{
	const uint16_t *node_id_attr = arg;

	mnl_attr_put_u32(nlh, *node_id_attr, 1);
}

static void check_missing(struct conn *c, struct family *f, uint8_t cmd, uint16_t version_attr,
			  uint16_t node_id_attr)
{
	char name[64];
	struct answer an;
	int r;

	snprintf(name, sizeof(name), "%s register without version", f->name);
	r = simple(c, f->id, cmd, 0, put_register_no_version, &node_id_attr, &an);
	if (!refused(name, r, &an, EINVAL, "missing attribute: version"))
		return;
	if (!an.has_miss_type || an.miss_type != version_attr || an.has_miss_nest)
		fail(name, "missing type %s%u (want %u), missing nest %d",
		     an.has_miss_type ? "" : "absent ", an.miss_type, version_attr,
		     an.has_miss_nest);
	else
		pass("%s: EINVAL, \"%s\", missing type %u", name, an.msg, an.miss_type);
}

static void check_missing_in_nest(struct conn *c, struct family *pn)
{
	const char *name = "pnfsd ds-addr without uaddr";
	/* device-id (4 + 16 bytes), then the ds-addr nest */
	const uint32_t nest = ATTRS_AT + 20;
	struct answer an;
	int r;

	r = simple(c, pn->id, PNFSD_CMD_DEVICE_SET, 0, put_device, "nouaddr", &an);
	if (!refused(name, r, &an, EINVAL, "missing attribute: uaddr"))
		return;
	if (!an.has_miss_type || an.miss_type != PNFSD_A_DS_ADDR_UADDR ||
	    !an.has_miss_nest || an.miss_nest != nest)
		fail(name, "missing type %u (%d), nest %u (%d); want %u in the nest at %u",
		     an.miss_type, an.has_miss_type, an.miss_nest, an.has_miss_nest,
		     PNFSD_A_DS_ADDR_UADDR, nest);
	else
		pass("%s: EINVAL, missing type %u in the nest at %u", name, an.miss_type,
		     an.miss_nest);
}

static void check_refusals(struct conn *c, struct family *pn, struct family *g2,
			   uint64_t timeout_max)
{
	uint32_t kv[2];
	struct answer an;
	int r;

	kv[0] = 0x7ff;
	kv[1] = 1;
	r = simple(c, pn->id, PNFSD_CMD_STATUS_GET, 0, put_u32_attr, kv, &an);
	if (refused("unknown attribute", r, &an, EINVAL, "Unknown attribute type")) {
		if (!an.has_offs || an.offs != ATTRS_AT)
			fail("unknown attribute", "offset %u (%d), want %zu", an.offs,
			     an.has_offs, ATTRS_AT);
		else
			pass("unknown attribute: EINVAL at offset %u", an.offs);
	}

	if (timeout_max && timeout_max < UINT32_MAX) {
		kv[0] = PNFSD_A_TIMEOUT_MS;
		kv[1] = (uint32_t)timeout_max + 1;
		r = simple(c, pn->id, PNFSD_CMD_CONFIG_SET, 0, put_u32_attr, kv, &an);
		if (refused("timeout-ms above the policy's max", r, &an, ERANGE, NULL)) {
			if (!an.has_offs || an.offs != ATTRS_AT)
				fail("timeout-ms above the policy's max", "offset %u (%d)",
				     an.offs, an.has_offs);
			else
				pass("timeout-ms %u (policy max %llu): ERANGE \"%s\"", kv[1],
				     (unsigned long long)timeout_max, an.msg);
		}
	} else {
		fail("timeout-ms above the policy's max", "no max learnt from the policy dump");
	}

	{
		uint8_t sid[PNFSD_STATEID_SIZE - 1];
		char buf[MNL_SOCKET_BUFFER_SIZE];
		struct nlmsghdr *nlh;

		memset(sid, 1, sizeof(sid));
		nlh = genl_req(buf, c, pn->id, NLM_F_ACK, PNFSD_CMD_STATE_CHECK);
		mnl_attr_put_u64(nlh, PNFSD_A_FSID, 1);
		mnl_attr_put_u64(nlh, PNFSD_A_FILEID, 2);
		mnl_attr_put(nlh, PNFSD_A_STATEID, sizeof(sid), sid);
		memset(&an, 0, sizeof(an));
		r = exchange(c, nlh, &an);
		if (refused("stateid of 15 bytes", r, &an, ERANGE, NULL))
			pass("stateid of 15 bytes: ERANGE \"%s\"", an.msg);
	}

	r = simple(c, pn->id, PNFSD_CMD_DEVICE_SET, 0, put_device, "noflag", &an);
	if (refused("ds-addr without NLA_F_NESTED", r, &an, EINVAL, "NLA_F_NESTED is missing"))
		pass("ds-addr without NLA_F_NESTED: EINVAL");

	r = simple(c, pn->id, 200, 0, NULL, NULL, &an);
	if (refused("unknown command", r, &an, EOPNOTSUPP, NULL))
		pass("unknown command: EOPNOTSUPP");

	kv[0] = GFS2CTL_A_XID;
	kv[1] = 1;
	r = simple(c, g2->id, GFS2CTL_CMD_MOUNT, 0, put_u32_attr, kv, &an);
	if (refused("upcall sent to the kernel half", r, &an, EOPNOTSUPP, NULL))
		pass("upcall sent to the kernel half: EOPNOTSUPP");

	r = simple(c, 0x7ffe, 1, 0, NULL, NULL, &an);
	if (refused("unknown family id", r, &an, ENOENT, NULL))
		pass("unknown family id: ENOENT");
}

int main(int argc, char **argv)
{
	struct family pn = { .name = PNFSD_FAMILY_NAME };
	struct family g2 = { .name = GFS2CTL_FAMILY_NAME };
	struct family nl = { .name = "nlctrl" };
	struct family none = { .name = "pnfsd-no-such" };
	const uint32_t pn_dumps[] = { PNFSD_CMD_STATE_GET, PNFSD_CMD_DEVICE_GET,
				      PNFSD_CMD_LAYOUT_DUMP, PNFSD_CMD_UPCALL_DUMP };
	const uint32_t g2_dumps[] = { GFS2CTL_CMD_MOUNT_GET, GFS2CTL_CMD_UPCALL_DUMP };
	struct conn c = { 0 };
	struct answer an;
	uint64_t timeout_max;
	bool peer_set = false;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--proto") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "generic"))
				proto = NETLINK_GENERIC;
			else if (!strcmp(argv[i], "usersock"))
				proto = NETLINK_USERSOCK;
			else
				goto usage;
		} else if (!strcmp(argv[i], "--peer") && i + 1 < argc) {
			peer = strtoul(argv[++i], NULL, 0);
			peer_set = true;
		} else {
			goto usage;
		}
	}
	if (!peer_set)
		peer = proto == NETLINK_USERSOCK ? TWIN_DEFAULT_PORT : 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (conn_open(&c)) {
		fail("socket", "%s", strerror(errno));
		goto out;
	}

	check_resolve(&c, &pn, PNFSD_MCGRP_EVENTS);
	check_resolve(&c, &g2, GFS2CTL_MCGRP_EVENTS);
	if (!pn.id || !g2.id)
		goto out;
	r = resolve(&c, &nl, &an);
	if (r)
		fail("resolve nlctrl", "%s", r < 0 ? an.local : strerror(r));
	else if (nl.id != GENL_ID_CTRL || nl.maxattr != 0 || nl.group != NOTIFY_GROUP ||
		 strcmp(nl.group_name, "notify") || nl.nops != 2 ||
		 nl.op_id[1] != CTRL_CMD_GETPOLICY || nl.op_flags[1] != 0xc)
		fail("resolve nlctrl", "id %#x maxattr %u group %s %u, %d ops", nl.id,
		     nl.maxattr, nl.group_name, nl.group, nl.nops);
	else
		pass("resolve nlctrl: maxattr 0, GETPOLICY listed, group notify %#x", nl.group);
	r = resolve(&c, &none, &an);
	if (refused("resolve an unknown family", r, &an, ENOENT, NULL))
		pass("resolve an unknown family: ENOENT");

	check_dumps(&c, &pn, pn_dumps, sizeof(pn_dumps) / sizeof(pn_dumps[0]));
	check_dumps(&c, &g2, g2_dumps, sizeof(g2_dumps) / sizeof(g2_dumps[0]));
	timeout_max = check_policy(&c, &pn, PNFSD_CMD_CONFIG_SET, PNFSD_A_TIMEOUT_MS);
	check_policy(&c, &g2, GFS2CTL_CMD_CONFIG_SET, GFS2CTL_A_TIMEOUT_MS);

	check_status(&c, &pn, PNFSD_CMD_STATUS_GET);
	check_status(&c, &g2, GFS2CTL_CMD_STATUS_GET);
	check_admin_do(&c, &pn);
	check_nobody(&pn, PNFSD_CMD_CONFIG_SET, PNFSD_A_TIMEOUT_MS);
	check_nobody(&g2, GFS2CTL_CMD_CONFIG_SET, GFS2CTL_A_TIMEOUT_MS);

	check_missing(&c, &pn, PNFSD_CMD_REGISTER, PNFSD_A_VERSION, PNFSD_A_NODE_ID);
	check_missing(&c, &g2, GFS2CTL_CMD_REGISTER, GFS2CTL_A_VERSION, GFS2CTL_A_NODE_ID);
	check_missing_in_nest(&c, &pn);
	check_refusals(&c, &pn, &g2, timeout_max);
out:
	conn_close(&c);
	printf("%d passed, %d failed\n", passed, failed);
	return failed || !passed ? 1 : 0;
usage:
	fprintf(stderr, "usage: %s [--proto generic|usersock] [--peer PORT]\n", argv[0]);
	return 2;
}
