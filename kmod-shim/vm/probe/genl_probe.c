// SPDX-License-Identifier: GPL-2.0
/*
 * genl_probe - userspace end-to-end test of the placeholder "pnfs_probe"
 * generic netlink family registered by pnfs_shim.ko.  Runs inside the
 * VM lane guest (statically linked, no libnl).
 *
 * Prints one "PASS name" or "FAIL name: reason" line per test, plus
 * "INFO ..." lines; exits 0 only if every test passed.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

/* The kernel's spellings, for userspace (as tools/include does). */
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define __aligned(x)	__attribute__((aligned(x)))

#define FAMILY_NAME		"pnfs_probe"
#define CMD_ECHO		1
#define A_PAD			1
#define A_COOKIE		2
#define A_PAYLOAD		3

#define ROUND_TRIPS		1000
#define PAYLOAD_LEN		64
#define BUF_SIZE		16384

static int failures;
static uint32_t seq = 1;

static void pass(const char *name)
{
	printf("PASS %s\n", name);
	fflush(stdout);
}

static __printf(2, 3) void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failures++;
}

struct msgbuf {
	size_t len;
	unsigned char data[BUF_SIZE] __aligned(NLMSG_ALIGNTO);
};

static struct nlmsghdr *msg_start(struct msgbuf *m, uint16_t type,
				  uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)m->data;
	struct genlmsghdr *g;

	memset(m->data, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq++;
	g = (struct genlmsghdr *)NLMSG_DATA(nlh);
	g->cmd = cmd;
	g->version = version;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
	nlh->nlmsg_len = m->len;
	return nlh;
}

static int msg_put(struct msgbuf *m, uint16_t type, const void *data,
		   size_t len)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)m->data;
	struct nlattr *nla;

	if (m->len + NLA_ALIGN(NLA_HDRLEN + len) > sizeof(m->data))
		return -1;
	nla = (struct nlattr *)(m->data + m->len);
	nla->nla_type = type;
	nla->nla_len = NLA_HDRLEN + len;
	memcpy((char *)nla + NLA_HDRLEN, data, len);
	memset((char *)nla + NLA_HDRLEN + len, 0,
	       NLA_ALIGN(nla->nla_len) - nla->nla_len);
	m->len += NLA_ALIGN(nla->nla_len);
	nlh->nlmsg_len = m->len;
	return 0;
}

static int nl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int nl_send(int fd, struct msgbuf *m)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	ssize_t n;

	n = sendto(fd, m->data, m->len, 0, (struct sockaddr *)&sa, sizeof(sa));
	if (n < 0)
		return -errno;
	return n == (ssize_t)m->len ? 0 : -EIO;
}

/*
 * Receive one message for the last request.  Returns the genl payload
 * message (>0 length in *out), or a negative errno from NLMSG_ERROR.
 */
static int nl_recv(int fd, struct msgbuf *r, struct nlmsghdr **out)
{
	ssize_t n;
	struct nlmsghdr *nlh;

	n = recv(fd, r->data, sizeof(r->data), 0);
	if (n < 0)
		return -errno;
	r->len = n;
	nlh = (struct nlmsghdr *)r->data;
	if (!NLMSG_OK(nlh, (size_t)n))
		return -EBADMSG;
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = NLMSG_DATA(nlh);

		return e->error ? e->error : -ENOMSG;
	}
	*out = nlh;
	return 0;
}

static struct nlattr *find_attr(struct nlmsghdr *nlh, uint16_t type)
{
	struct nlattr *nla;
	int rem;

	nla = (struct nlattr *)((char *)NLMSG_DATA(nlh) + GENL_HDRLEN);
	rem = nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
	while (rem >= (int)sizeof(*nla) && nla->nla_len >= sizeof(*nla) &&
	       nla->nla_len <= rem) {
		if ((nla->nla_type & NLA_TYPE_MASK) == type)
			return nla;
		rem -= NLA_ALIGN(nla->nla_len);
		nla = (struct nlattr *)((char *)nla + NLA_ALIGN(nla->nla_len));
	}
	return NULL;
}

static int resolve_family(int fd, uint16_t *id)
{
	struct msgbuf m, r;
	struct nlmsghdr *nlh;
	struct nlattr *a;
	int err;

	msg_start(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	msg_put(&m, CTRL_ATTR_FAMILY_NAME, FAMILY_NAME, sizeof(FAMILY_NAME));
	err = nl_send(fd, &m);
	if (err)
		return err;
	err = nl_recv(fd, &r, &nlh);
	if (err)
		return err;
	a = find_attr(nlh, CTRL_ATTR_FAMILY_ID);
	if (!a || a->nla_len < NLA_HDRLEN + sizeof(uint16_t))
		return -ENOENT;
	memcpy(id, (char *)a + NLA_HDRLEN, sizeof(*id));
	return 0;
}

/* One echo; returns 0 if the reply carries the same cookie and payload. */
static int echo_once(int fd, uint16_t id, uint64_t cookie,
		     const void *payload, size_t len)
{
	struct msgbuf m, r;
	struct nlmsghdr *nlh;
	struct nlattr *a;
	uint64_t got;
	int err;

	msg_start(&m, id, CMD_ECHO, 1);
	msg_put(&m, A_COOKIE, &cookie, sizeof(cookie));
	if (payload)
		msg_put(&m, A_PAYLOAD, payload, len);
	err = nl_send(fd, &m);
	if (err)
		return err;
	err = nl_recv(fd, &r, &nlh);
	if (err)
		return err;
	if (nlh->nlmsg_type != id)
		return -EPROTO;
	a = find_attr(nlh, A_COOKIE);
	if (!a || a->nla_len != NLA_HDRLEN + sizeof(got))
		return -EPROTO;
	memcpy(&got, (char *)a + NLA_HDRLEN, sizeof(got));
	if (got != cookie)
		return -EPROTO;
	if (payload) {
		a = find_attr(nlh, A_PAYLOAD);
		if (!a || a->nla_len != NLA_HDRLEN + len ||
		    memcmp((char *)a + NLA_HDRLEN, payload, len))
			return -EPROTO;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void test_echo_roundtrips(int fd, uint16_t id)
{
	static uint64_t lat[ROUND_TRIPS];
	unsigned char payload[PAYLOAD_LEN];
	int i, err;

	for (i = 0; i < PAYLOAD_LEN; i++)
		payload[i] = (unsigned char)(i * 7 + 1);
	for (i = 0; i < ROUND_TRIPS; i++) {
		uint64_t t0 = now_ns();

		payload[0] = (unsigned char)i;
		err = echo_once(fd, id, 0x5eed0000ull + i, payload,
				sizeof(payload));
		lat[i] = now_ns() - t0;
		if (err) {
			fail("echo_roundtrips", "round trip %d: %s", i,
			     strerror(-err));
			return;
		}
	}
	qsort(lat, ROUND_TRIPS, sizeof(lat[0]), cmp_u64);
	printf("INFO echo round trips=%d payload=%dB p50=%.1fus p99=%.1fus max=%.1fus\n",
	       ROUND_TRIPS, PAYLOAD_LEN,
	       lat[ROUND_TRIPS / 2] / 1000.0,
	       lat[ROUND_TRIPS * 99 / 100 - 1] / 1000.0,
	       lat[ROUND_TRIPS - 1] / 1000.0);
	pass("echo_roundtrips");
}

static void test_missing_cookie(int fd, uint16_t id)
{
	struct msgbuf m, r;
	struct nlmsghdr *nlh;
	int err;

	msg_start(&m, id, CMD_ECHO, 1);
	err = nl_send(fd, &m);
	if (!err)
		err = nl_recv(fd, &r, &nlh);
	if (err == -EINVAL)
		pass("echo_requires_cookie");
	else
		fail("echo_requires_cookie", "expected EINVAL, got %d", err);
}

static void test_unknown_attr(int fd, uint16_t id)
{
	struct msgbuf m, r;
	struct nlmsghdr *nlh;
	uint64_t cookie = 1;
	uint32_t junk = 0;
	int err;

	/* Strict validation: an attribute above maxattr is rejected. */
	msg_start(&m, id, CMD_ECHO, 1);
	msg_put(&m, A_COOKIE, &cookie, sizeof(cookie));
	msg_put(&m, 42, &junk, sizeof(junk));
	err = nl_send(fd, &m);
	if (!err)
		err = nl_recv(fd, &r, &nlh);
	if (err == -EINVAL)
		pass("echo_strict_validation");
	else
		fail("echo_strict_validation", "expected EINVAL, got %d", err);
}

static void test_admin_perm(uint16_t id)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fail("echo_requires_cap_net_admin", "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		int fd, err;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		fd = nl_open();
		if (fd < 0)
			_exit(3);
		err = echo_once(fd, id, 7, NULL, 0);
		_exit(err == -EPERM ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		fail("echo_requires_cap_net_admin", "child did not exit");
		return;
	}
	if (WEXITSTATUS(status) == 0)
		pass("echo_requires_cap_net_admin");
	else
		fail("echo_requires_cap_net_admin",
		     "unprivileged echo not refused with EPERM (child rc %d)",
		     WEXITSTATUS(status));
}

int main(void)
{
	uint16_t id = 0;
	int fd, err;

	fd = nl_open();
	if (fd < 0) {
		fail("netlink_socket", "%s", strerror(errno));
		return 1;
	}
	err = resolve_family(fd, &id);
	if (err) {
		fail("family_resolve", "nlctrl lookup of %s: %s", FAMILY_NAME,
		     strerror(-err));
		return 1;
	}
	printf("INFO family %s id %u\n", FAMILY_NAME, id);
	pass("family_resolve");

	test_echo_roundtrips(fd, id);
	test_missing_cookie(fd, id);
	test_unknown_attr(fd, id);
	test_admin_perm(id);

	close(fd);
	return failures ? 1 : 0;
}
