/* smoke test for pnfs_shim.ko: resolve, register, trigger+reply, timeout, daemon death */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>
#include "uapi/pnfsd.h"

#define NLA_DATA(a) ((void *)((char *)(a) + NLA_HDRLEN))
struct msg { struct nlmsghdr n; struct genlmsghdr g; char buf[4096]; };
static int fam;

static void put(struct msg *m, int type, const void *d, int len)
{
	struct nlattr *a = (void *)((char *)m + NLMSG_ALIGN(m->n.nlmsg_len));
	a->nla_type = type; a->nla_len = NLA_HDRLEN + len;
	memcpy(NLA_DATA(a), d, len);
	m->n.nlmsg_len = NLMSG_ALIGN(m->n.nlmsg_len) + NLA_ALIGN(a->nla_len);
}
static void put32(struct msg *m, int t, unsigned v) { put(m, t, &v, 4); }
static void init(struct msg *m, int type, int cmd, int flags)
{
	memset(m, 0, sizeof(*m));
	m->n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	m->n.nlmsg_type = type; m->n.nlmsg_flags = NLM_F_REQUEST | flags;
	m->g.cmd = cmd; m->g.version = 1;
}
static struct nlattr *find(struct msg *m, int type, int from)
{
	int rem = m->n.nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	struct nlattr *a = (void *)m->buf;
	for (; rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem;
	     rem -= NLA_ALIGN(a->nla_len), a = (void *)((char *)a + NLA_ALIGN(a->nla_len)))
		if ((a->nla_type & 0x3fff) == type && from-- == 0)
			return a;
	return NULL;
}
static unsigned long long nest64(struct nlattr *n, int type)
{
	int rem = n->nla_len - NLA_HDRLEN; struct nlattr *a = NLA_DATA(n);
	for (; rem >= NLA_HDRLEN; rem -= NLA_ALIGN(a->nla_len), a = (void *)((char *)a + NLA_ALIGN(a->nla_len)))
		if (a->nla_type == type)
			return a->nla_len == 8 ? *(unsigned *)NLA_DATA(a) : *(unsigned long long *)NLA_DATA(a);
	return ~0ULL;
}
static int sk(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1;
	bind(s, (void *)&sa, sizeof(sa));
	setsockopt(s, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	return s;
}
/* send, then receive one message; returns errno of NLMSG_ERROR (0 = ack) or 1 for data */
static int xfer(int s, struct msg *m, struct msg *r)
{
	if (m && send(s, m, m->n.nlmsg_len, 0) < 0) { perror("send"); return -1; }
	if (recv(s, r, sizeof(*r), 0) < 0) { perror("recv"); return -1; }
	if (r->n.nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = NLMSG_DATA(&r->n);
		return -e->error;
	}
	return 1;
}
#define CHECK(c, ...) do { fflush(stdout); if (c) printf("PASS " __VA_ARGS__); else { printf("FAIL " __VA_ARGS__); fails++; } printf("\n"); fflush(stdout); } while (0)

int main(void)
{
	struct msg m, r;
	int fails = 0, s = sk(), d = sk(), rc;
	struct nlattr *a;

	init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	put(&m, CTRL_ATTR_FAMILY_NAME, "pnfsd", 6);
	rc = xfer(s, &m, &r);
	a = find(&r, CTRL_ATTR_FAMILY_ID, 0);
	CHECK(rc == 1 && a, "resolve pnfsd");
	if (!a) return 1;
	fam = *(unsigned short *)NLA_DATA(a);

	/* register daemon on d */
	init(&m, fam, PNFSD_CMD_REGISTER, NLM_F_ACK);
	put32(&m, PNFSD_A_VERSION, 7); put32(&m, PNFSD_A_NODE_ID, 3);
	rc = xfer(d, &m, &r);
	a = find(&r, PNFSD_A_VERSION, 0);
	CHECK(rc == 1 && a && *(unsigned *)NLA_DATA(a) == 1, "register -> version 1");
	xfer(d, NULL, &r); /* ack */
	/* second registration from s -> EBUSY */
	init(&m, fam, PNFSD_CMD_REGISTER, NLM_F_ACK);
	put32(&m, PNFSD_A_VERSION, 1);
	rc = xfer(s, &m, &r);
	CHECK(rc == EBUSY, "register from another port -> EBUSY (%d)", rc);
	/* missing version */
	init(&m, fam, PNFSD_CMD_REGISTER, NLM_F_ACK);
	rc = xfer(s, &m, &r);
	CHECK(rc == EINVAL, "register without version -> EINVAL (%d)", rc);
	/* upcall sent to kernel */
	init(&m, fam, PNFSD_CMD_GET_STATE, NLM_F_ACK);
	rc = xfer(s, &m, &r);
	CHECK(rc == EOPNOTSUPP, "upcall cmd to kernel -> EOPNOTSUPP (%d)", rc);
	/* late reply */
	init(&m, fam, PNFSD_CMD_REPLY, NLM_F_ACK);
	put32(&m, PNFSD_A_XID, 12345); put32(&m, PNFSD_A_STATUS, 0);
	rc = xfer(d, &m, &r);
	CHECK(rc == ENOENT, "unknown xid -> ENOENT (%d)", rc);

	/* trigger 20 get-state, depth 4, child sends it; parent answers */
	pid_t pid = fork();
	if (!pid) {
		init(&m, fam, PNFSD_CMD_TRIGGER, 0);
		put32(&m, PNFSD_A_UPCALL_KIND, PNFSD_UPCALL_KIND_GET_STATE);
		put32(&m, PNFSD_A_COUNT, 20); put32(&m, PNFSD_A_DEPTH, 4);
		rc = xfer(s, &m, &r);
		a = find(&r, PNFSD_A_KIND_STATS, 0);
		printf("trigger rc=%d answered=%llu sent=%llu failed=%llu p50=%llu\n", rc,
		       a ? nest64(a, PNFSD_A_KIND_STATS_ANSWERED) : 0, a ? nest64(a, PNFSD_A_KIND_STATS_SENT) : 0,
		       a ? nest64(a, PNFSD_A_KIND_STATS_FAILED) : 0, a ? nest64(a, PNFSD_A_KIND_STATS_P50_NS) : 0);
		_exit(rc == 1 && a && nest64(a, PNFSD_A_KIND_STATS_ANSWERED) == 20 &&
		      find(&r, PNFSD_A_ACCESS, 0) ? 0 : 1);
	}
	for (int i = 0; i < 20; i++) {
		struct msg up;
		rc = xfer(d, NULL, &up);
		if (rc != 1 || up.g.cmd != PNFSD_CMD_GET_STATE) { printf("bad upcall rc=%d cmd=%d\n", rc, up.g.cmd); fails++; break; }
		a = find(&up, PNFSD_A_XID, 0);
		init(&m, fam, PNFSD_CMD_REPLY, 0);
		put32(&m, PNFSD_A_XID, *(unsigned *)NLA_DATA(a)); put32(&m, PNFSD_A_STATUS, 0);
		put32(&m, PNFSD_A_ACCESS, 3);
		send(d, &m, m.n.nlmsg_len, 0);
	}
	waitpid(pid, &rc, 0);
	CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "trigger 20 answered");

	/* timeout: 100 ms, daemon silent */
	init(&m, fam, PNFSD_CMD_CONFIG_SET, NLM_F_ACK);
	put32(&m, PNFSD_A_TIMEOUT_MS, 100);
	CHECK(xfer(d, &m, &r) == 0, "config-set 100ms");
	init(&m, fam, PNFSD_CMD_CONFIG_SET, NLM_F_ACK);
	put32(&m, PNFSD_A_TIMEOUT_MS, 700000);
	rc = xfer(d, &m, &r);
	CHECK(rc == ERANGE || rc == EINVAL, "config-set 700000 refused (%d)", rc);
	init(&m, fam, PNFSD_CMD_TRIGGER, 0);
	put32(&m, PNFSD_A_UPCALL_KIND, PNFSD_UPCALL_KIND_LAYOUT_GET);
	put32(&m, PNFSD_A_COUNT, 2);
	rc = xfer(s, &m, &r);
	a = find(&r, PNFSD_A_KIND_STATS, 0);
	CHECK(rc == 1 && a && nest64(a, PNFSD_A_KIND_STATS_TIMEOUTS) == 2, "2 timeouts");
	/* drain the 2 upcalls on d */
	xfer(d, NULL, &r); xfer(d, NULL, &r);

	/* daemon death while an upcall waits */
	init(&m, fam, PNFSD_CMD_CONFIG_SET, NLM_F_ACK);
	put32(&m, PNFSD_A_TIMEOUT_MS, 60000);
	xfer(d, &m, &r);
	pid = fork();
	if (!pid) {
		close(d);	/* else the daemon socket outlives the parent's close */
		init(&m, fam, PNFSD_CMD_TRIGGER, 0);
		put32(&m, PNFSD_A_UPCALL_KIND, PNFSD_UPCALL_KIND_GET_DEVICE_INFO);
		rc = xfer(s, &m, &r);
		a = find(&r, PNFSD_A_KIND_STATS, 0);
		_exit(rc == 1 && a && nest64(a, PNFSD_A_KIND_STATS_FAILED) == 1 ? 0 : 1);
	}
	printf("waiting for upcall\n"); fflush(stdout); rc = xfer(d, NULL, &r); printf("got rc=%d cmd=%d; closing d\n", rc, r.g.cmd); fflush(stdout);
	close(d);
	waitpid(pid, &rc, 0);
	CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "daemon death fails pending upcall at once");

	/* no daemon: fails at once */
	init(&m, fam, PNFSD_CMD_TRIGGER, 0);
	put32(&m, PNFSD_A_UPCALL_KIND, PNFSD_UPCALL_KIND_GET_STATE);
	put32(&m, PNFSD_A_COUNT, 100000); put32(&m, PNFSD_A_DEPTH, 8);
	rc = xfer(s, &m, &r);
	a = find(&r, PNFSD_A_KIND_STATS, 0);
	CHECK(rc == 1 && a && nest64(a, PNFSD_A_KIND_STATS_FAILED) == 100000, "no daemon: 100000 failed");

	/* stats-get */
	init(&m, fam, PNFSD_CMD_STATS_GET, 0);
	rc = xfer(s, &m, &r);
	a = find(&r, PNFSD_A_LATE_REPLIES, 0);
	CHECK(rc == 1 && a && *(unsigned long long *)NLA_DATA(a) == 1, "late-replies 1");

	/* state-set / state-check */
	unsigned char sid[16] = { 0, 0, 0, 5, 1, 2, 3 };
	unsigned long long v = 9;
	init(&m, fam, PNFSD_CMD_STATE_SET, NLM_F_ACK);
	put(&m, PNFSD_A_FSID, &v, 8); put(&m, PNFSD_A_FILEID, &v, 8); put(&m, PNFSD_A_CLIENTID, &v, 8);
	put(&m, PNFSD_A_STATEID, sid, 16);
	CHECK(xfer(s, &m, &r) == 0, "state-set");
	sid[3] = 4;
	init(&m, fam, PNFSD_CMD_STATE_CHECK, 0);
	put(&m, PNFSD_A_FSID, &v, 8); put(&m, PNFSD_A_FILEID, &v, 8); put(&m, PNFSD_A_STATEID, sid, 16);
	rc = xfer(s, &m, &r);
	a = find(&r, PNFSD_A_STATUS, 0);
	CHECK(rc == 1 && a && *(unsigned *)NLA_DATA(a) == PNFSD_NFSSTAT_OLD_STATEID, "state-check old-stateid");

	printf("SMOKE %s (%d failures)\n", fails ? "FAILED" : "OK", fails);
	return fails != 0;
}
