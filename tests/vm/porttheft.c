// SPDX-License-Identifier: GPL-2.0
/*
 * porttheft: a dead daemon's netlink port taken over before its NETLINK_URELEASE
 * is handled (#20 item 4, module side).  Runs in the VM as root, module loaded, no
 * daemon registered; tests/vm.sh builds it static like smoke.c.
 *
 * netlink_release() frees the port first (netlink_remove), orphans the socket, and
 * only then calls the NETLINK_URELEASE notifiers, sleeping in between (the
 * might_sleep() of netlink_table_grab() and of the notifier chain's rwsem).  Another
 * socket can bind() the dead daemon's port in that window.  Before the fix the
 * module knew its daemon by port alone, so:
 *  - a new socket's REGISTER on that port was taken for the old daemon's
 *    re-register (accepted, node-id overwritten), and the old socket's URELEASE that
 *    followed unregistered it: the new daemon believed itself registered and was not
 *    ("priv" rounds below failed: registered port 0 after the old socket's release);
 *  - upcalls went on being unicast to the port, that is to whoever had bound it: an
 *    unprivileged process received GET_STATE upcalls (stateids, client ids) meant
 *    for the daemon ("unpriv" rounds failed: "upcall leaked").
 * REPLY, DEVICE_SET and the other downcalls are GENL_ADMIN_PERM, checked on the
 * sender's socket and task for every message: the unprivileged thief got EPERM for
 * them before the fix too (checked here all the same).
 *
 * To stop the daemon's release inside that window the test runs everything on CPU 0,
 * switches the kernel to full preemption (/sys/kernel/debug/sched/preempt, restored
 * at the end) and makes the thief a SCHED_FIFO task waking every few microseconds:
 * the dying daemon (SCHED_IDLE) is preempted wherever the thief's timer finds it.
 * The window is widened: the old daemon and SUBSCRIBERS other sockets are members
 * of nlctrl's multicast group, so that its netlink_remove() spends a long time in
 * netlink_update_listeners() (interrupts off) right after freeing the port, and is
 * preempted when it turns them on again, before sock_orphan().  The thief's bind()
 * then succeeds while the module still shows the old daemon registered (checked by
 * status-get: that is a "hit"), and nothing of the daemon's release runs again until
 * the thief sleeps.  Attempts that miss the window are retried; each kind of round
 * needs HITS hits.  In "unpriv" rounds a root helper keeps a TRIGGER of get-state
 * upcalls going to the old daemon (each times out in UPCALL_TIMEOUT_MS); the thief
 * holds the CPU until the pending one has timed out, then waits for the next.
 *
 * Before the fix: "priv" rounds: REGISTER in the window -> 0, and after the old
 * socket's release "registered port 0 node 0"; "unpriv" rounds: "upcall received:
 * cmd 4 fsid 0x7e57f51d" (GET_STATE with the helper's fsid), 3 of 3 hits each.
 *
 * Prints PASS/FAIL lines for the VM lane's count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include "uapi/pnfsd.h"

#define HITS		3	/* window hits needed per kind of round */
/* At most this many attempts, or ATTEMPT_SECONDS, per kind. The window is hit by chance:
 * unpriv rounds needed 5 to 55 attempts for their 3 hits in earlier CI runs; on
 * 2026-12-05 a fresh-clone run missed all of 80, and a run beside a busy host needed 64
 * (priv) and 224 (unpriv); a miss costs ~0.05-0.1 s. */
#define ATTEMPTS	1000
#define ATTEMPT_SECONDS	150
#define MARK_FSID	0x7e57f51dULL
#define UPCALL_TIMEOUT_MS 20
#define THIEF_UID	65534
#define SUBSCRIBERS	3000
#define NLCTRL_GROUP	GENL_ID_CTRL	/* nlctrl's "notify" multicast group */

#define NLA_DATA(a) ((void *)((char *)(a) + NLA_HDRLEN))
struct msg {
	struct nlmsghdr n;
	struct genlmsghdr g;
	char buf[8192];
};
static int fam;

static void put(struct msg *m, int type, const void *d, int len)
{
	struct nlattr *a = (void *)((char *)m + NLMSG_ALIGN(m->n.nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy(NLA_DATA(a), d, len);
	m->n.nlmsg_len = NLMSG_ALIGN(m->n.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void put32(struct msg *m, int t, unsigned int v) { put(m, t, &v, 4); }
static void put64(struct msg *m, int t, unsigned long long v) { put(m, t, &v, 8); }

static void init(struct msg *m, int type, int cmd, int flags)
{
	memset(m, 0, sizeof(m->n) + sizeof(m->g));
	m->n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	m->n.nlmsg_type = type;
	m->n.nlmsg_flags = NLM_F_REQUEST | flags;
	m->g.cmd = cmd;
	m->g.version = 1;
}

static struct nlattr *find(struct msg *m, int type)
{
	int rem = m->n.nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	struct nlattr *a = (void *)m->buf;

	for (; rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem;
	     rem -= NLA_ALIGN(a->nla_len), a = (void *)((char *)a + NLA_ALIGN(a->nla_len)))
		if ((a->nla_type & 0x3fff) == type)
			return a;
	return NULL;
}

static unsigned int get32(struct msg *m, int type, unsigned int dflt)
{
	struct nlattr *a = find(m, type);

	return a ? *(unsigned int *)NLA_DATA(a) : dflt;
}

static int nlsock(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	int one = 1;

	if (s >= 0)
		setsockopt(s, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	return s;
}

static int nlbind(int s, unsigned int port)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = port };

	return bind(s, (void *)&sa, sizeof(sa));
}

#define DATA	1000	/* xfer(): a message that is not an NLMSG_ERROR (EPERM is 1) */

/*
 * Sends @m (if any) and receives one message (skipping none): 0 ack, errno of an
 * NLMSG_ERROR, DATA, -1 local failure.
 */
static int xfer(int s, struct msg *m, struct msg *r)
{
	if (m && send(s, m, m->n.nlmsg_len, 0) < 0)
		return -1;
	if (recv(s, r, sizeof(*r), 0) < 0)
		return -1;
	if (r->n.nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = NLMSG_DATA(&r->n);

		return -e->error;
	}
	return DATA;
}

/* A request answered by an ACK or an error only: its errno (0 ok). */
static int ack(int s, struct msg *m)
{
	struct msg r;
	int rc;

	m->n.nlmsg_flags |= NLM_F_ACK;
	rc = xfer(s, m, &r);
	while (rc == DATA)
		rc = xfer(s, NULL, &r);
	return rc;
}

/* As ack(), waiting at most @ms for the answer: -2 if none came. */
static int ack_within(int s, struct msg *m, int ms)
{
	struct pollfd pf = { .fd = s, .events = POLLIN };
	struct msg r;
	int rc;

	m->n.nlmsg_flags |= NLM_F_ACK;
	if (send(s, m, m->n.nlmsg_len, 0) < 0)
		return -1;
	do {
		if (poll(&pf, 1, ms) != 1)
			return -2;
		rc = xfer(s, NULL, &r);
	} while (rc == DATA);
	return rc;
}

/* pnfsd status-get: the registered port (0: none), node-id in *node. */
static unsigned int status_port(int s, unsigned int *node)
{
	struct msg m, r;

	init(&m, fam, PNFSD_CMD_STATUS_GET, 0);
	if (xfer(s, &m, &r) != DATA)
		return ~0U;
	if (node)
		*node = get32(&r, PNFSD_A_NODE_ID, ~0U);
	return get32(&r, PNFSD_A_PORT, ~0U);
}

static int resolve(int s)
{
	struct msg m, r;
	struct nlattr *a;

	init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	put(&m, CTRL_ATTR_FAMILY_NAME, "pnfsd", 6);
	if (xfer(s, &m, &r) != DATA)
		return -1;
	a = find(&r, CTRL_ATTR_FAMILY_ID);
	return a ? *(unsigned short *)NLA_DATA(a) : -1;
}

static void set_sched(int policy, int prio)
{
	struct sched_param sp = { .sched_priority = prio };

	if (sched_setscheduler(0, policy, &sp))
		perror("porttheft: sched_setscheduler");
}

static void wr(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		_exit(90);
}

/* reads exactly n bytes within ms milliseconds: 0, else -1 */
static int rd(int fd, void *p, size_t n, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	if (poll(&pf, 1, ms) != 1)
		return -1;
	return read(fd, p, n) == (ssize_t)n ? 0 : -1;
}

enum { PRIV, UNPRIV };

struct report {
	int hit;		/* bound the port while the old daemon was still registered */
	int tries;		/* bind() calls */
	unsigned int seen;	/* the registered port status-get showed then */
	int bind_err;		/* errno of a bind that never succeeded */
	/* PRIV */
	int reg_rc;		/* the thief's REGISTER */
	unsigned int port_after, node_after;
	/* UNPRIV */
	int reply_rc, devset_rc;
	int leaked_cmd;		/* genl cmd of a message the thief received, 0 none */
	unsigned long long leaked_fsid;
};

/* The old daemon: registers on @port, closes its socket when told. */
static void daemon_proc(unsigned int port, int ready, int go)
{
	struct msg m;
	char c;
	int s = nlsock();

	int grp = NLCTRL_GROUP;

	if (s < 0 || nlbind(s, port) ||
	    setsockopt(s, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)))
		_exit(2);
	init(&m, fam, PNFSD_CMD_REGISTER, 0);
	put32(&m, PNFSD_A_VERSION, 1);
	put32(&m, PNFSD_A_NODE_ID, 7);
	if (ack(s, &m))
		_exit(3);
	wr(ready, "r", 1);
	if (rd(go, &c, 1, 10000))
		_exit(4);
	set_sched(SCHED_IDLE, 0);
	close(s);		/* netlink_release(): the window opens here */
	_exit(0);
}

/*
 * Root helper for UNPRIV rounds: a TRIGGER of get-state upcalls, one at a time, to the
 * old daemon, which does not answer them: each times out (UPCALL_TIMEOUT_MS) and the
 * next is issued.  Killed at the end of the attempt.
 */
static void trigger_proc(void)
{
	struct msg m, r;
	int s = nlsock();

	init(&m, fam, PNFSD_CMD_TRIGGER, 0);
	put32(&m, PNFSD_A_UPCALL_KIND, PNFSD_UPCALL_KIND_GET_STATE);
	put32(&m, PNFSD_A_COUNT, 100000);
	put64(&m, PNFSD_A_FSID, MARK_FSID);
	xfer(s, &m, &r);
	_exit(0);
}

static void thief_proc(int kind, unsigned int port, int out, int started)
{
	struct report rep = { 0 };
	struct timespec nap = { 0, 0 }, t0, t;
	unsigned int rnd = port * 2654435761U;
	struct msg m, r;
	unsigned int p;
	int ts, ss;

	set_sched(SCHED_FIFO, 50);
	if (kind == UNPRIV &&
	    (setgroups(0, NULL) || setgid(THIEF_UID) || setuid(THIEF_UID)))
		_exit(5);
	ts = nlsock();
	ss = nlsock();
	if (ts < 0 || ss < 0)
		_exit(6);
	status_port(ss, NULL);	/* autobinds ss now, not in the window */
	wr(started, "s", 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		rep.tries++;
		rnd = rnd * 1103515245U + 12345U;
		nap.tv_nsec = 2000 + (rnd >> 8) % 30000;	/* 2..32 us */
		nanosleep(&nap, NULL);
		if (!nlbind(ts, port))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (errno != EADDRINUSE || t.tv_sec - t0.tv_sec > 3) {
			rep.bind_err = errno;
			wr(out, &rep, sizeof(rep));
			_exit(0);
		}
	}
	/* The port is ours.  Is the old daemon still registered with the module? */
	p = status_port(ss, NULL);
	rep.seen = p;
	rep.hit = p == port;
	if (!rep.hit) {
		wr(out, &rep, sizeof(rep));
		_exit(0);
	}
	if (kind == PRIV) {
		/* a restarted daemon that binds its predecessor's port */
		init(&m, fam, PNFSD_CMD_REGISTER, 0);
		put32(&m, PNFSD_A_VERSION, 1);
		put32(&m, PNFSD_A_NODE_ID, 8);
		rep.reg_rc = ack(ts, &m);
		/* let the old socket's release (its URELEASE) run */
		usleep(300000);
		rep.port_after = status_port(ss, &rep.node_after);
		init(&m, fam, PNFSD_CMD_UNREGISTER, 0);
		ack(ts, &m);
	} else {
		unsigned char dev[16] = { 0x7e, 0x57 };
		struct pollfd pf = { .fd = ts, .events = POLLIN };

		init(&m, fam, PNFSD_CMD_REPLY, 0);
		put32(&m, PNFSD_A_XID, 1);
		put32(&m, PNFSD_A_STATUS, 0);
		rep.reply_rc = ack_within(ts, &m, 1000);
		init(&m, fam, PNFSD_CMD_DEVICE_SET, 0);
		put(&m, PNFSD_A_DEVICE_ID, dev, sizeof(dev));
		rep.devset_rc = ack_within(ts, &m, 1000);
		/*
		 * The helper's TRIGGER issues get-state upcalls to the old daemon; the
		 * one pending times out within UPCALL_TIMEOUT_MS, and its kthread is
		 * then runnable.  Keep the CPU until it is (the old daemon must not
		 * finish its release meanwhile), then sleep: the kthread, woken after a
		 * sleep, runs before the old daemon (SCHED_IDLE) and issues the next
		 * upcall.  Is it sent to the port, that is to us?
		 */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 <
		       3 * UPCALL_TIMEOUT_MS);
		if (poll(&pf, 1, 1000) == 1 && recv(ts, &r, sizeof(r), MSG_DONTWAIT) > 0 &&
		    r.n.nlmsg_type == fam) {
			struct nlattr *a = find(&r, PNFSD_A_FSID);

			rep.leaked_cmd = r.g.cmd;
			rep.leaked_fsid = a ? *(unsigned long long *)NLA_DATA(a) : 0;
		}
	}
	wr(out, &rep, sizeof(rep));
	_exit(0);
}

static int fails;

#define CHECK(c, ...) do {						\
	if (c) {							\
		printf("PASS " __VA_ARGS__);				\
	} else {							\
		printf("FAIL " __VA_ARGS__);				\
		fails++;						\
	}								\
	printf("\n");							\
	fflush(stdout);							\
} while (0)

/* One attempt: 1 hit (checked), 0 miss, -1 broken. */
static int attempt(int s, int kind, unsigned int port, int *bad)
{
	int pready[2], pgo[2], pout[2], pstart[2];
	pid_t d, h = -1, t;
	struct report rep;
	char c;
	int rc = -1;

	if (pipe(pready) || pipe(pgo) || pipe(pout) || pipe(pstart))
		return -1;
	d = fork();
	if (!d)
		daemon_proc(port, pready[1], pgo[0]);
	if (rd(pready[0], &c, 1, 10000)) {
		printf("porttheft: the old daemon did not register on port %u\n", port);
		goto out;
	}
	if (kind == UNPRIV) {
		h = fork();
		if (!h)
			trigger_proc();
		usleep(100000);	/* its run has begun */
	}
	t = fork();
	if (!t)
		thief_proc(kind, port, pout[1], pstart[1]);
	if (rd(pstart[0], &c, 1, 10000))
		goto out_kill;
	wr(pgo[1], "c", 1);
	if (rd(pout[0], &rep, sizeof(rep), 10000)) {
		printf("porttheft: no report from the thief\n");
		goto out_kill;
	}
	if (!rep.hit) {
		rc = 0;
		if (rep.bind_err)
			printf("porttheft: bind(%u): %s\n", port, strerror(rep.bind_err));
		else if (getenv("PORTTHEFT_DEBUG"))
			printf("porttheft: miss: bound after %d tries, registered port then %u\n",
			       rep.tries, rep.seen);
		goto out_kill;
	}
	rc = 1;
	if (kind == PRIV) {
		printf("porttheft: priv port %u: REGISTER in the window -> %d; after the old socket's release: registered port %u node %u\n",
		       port, rep.reg_rc, rep.port_after, rep.node_after);
		if (rep.reg_rc || rep.port_after != port || rep.node_after != 8)
			(*bad)++;
	} else {
		printf("porttheft: unpriv port %u: REPLY -> errno %d, DEVICE_SET -> errno %d (EPERM is %d), upcall received: cmd %d fsid %#llx\n",
		       port, rep.reply_rc, rep.devset_rc, EPERM, rep.leaked_cmd, rep.leaked_fsid);
		if (rep.reply_rc != EPERM || rep.devset_rc != EPERM || rep.leaked_cmd)
			(*bad)++;
	}
out_kill:
	if (h > 0)
		kill(h, SIGKILL);
	kill(t, SIGKILL);
out:
	kill(d, SIGKILL);
	wr(pgo[1], "c", 1);
	while (wait(NULL) > 0)
		;
	close(pready[0]); close(pready[1]); close(pgo[0]); close(pgo[1]);
	close(pout[0]); close(pout[1]);
	close(pstart[0]); close(pstart[1]);
	/* every socket of the attempt is gone: no daemon may be left registered */
	for (int i = 0; i < 50 && status_port(s, NULL) != 0; i++)
		usleep(20000);
	if (status_port(s, NULL) != 0) {
		printf("porttheft: a registration outlived its sockets (port %u)\n",
		       status_port(s, NULL));
		(*bad)++;
	}
	return rc;
}

static int device_present(int s)
{
	struct msg m, r;
	int n, found = 0;

	init(&m, fam, PNFSD_CMD_DEVICE_GET, NLM_F_DUMP);
	if (send(s, &m, m.n.nlmsg_len, 0) < 0)
		return -1;
	for (;;) {
		struct nlmsghdr *h;

		n = recv(s, &r, sizeof(r), 0);
		if (n <= 0)
			return -1;
		for (h = &r.n; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			struct msg *x = (void *)h;
			struct nlattr *a;

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				return found;
			a = find(x, PNFSD_A_DEVICE_ID);
			if (a && ((unsigned char *)NLA_DATA(a))[0] == 0x7e &&
			    ((unsigned char *)NLA_DATA(a))[1] == 0x57)
				found = 1;
		}
	}
}

/* The kernel's preemption mode (PREEMPT_DYNAMIC): the current one into @was. */
#define PREEMPT_CTL "/sys/kernel/debug/sched/preempt"
static void preempt_mode(const char *mode, char *was, size_t len)
{
	char buf[128] = "", *a, *b;
	FILE *f;

	f = fopen(PREEMPT_CTL, "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
	a = strchr(buf, '(');
	b = a ? strchr(a, ')') : NULL;
	if (was && a && b && (size_t)(b - a) < len) {
		memcpy(was, a + 1, b - a - 1);
		was[b - a - 1] = 0;
	}
	f = fopen(PREEMPT_CTL, "w");
	if (!f || fputs(mode, f) < 0 || fclose(f))
		printf("porttheft: cannot set preemption mode %s (%s)\n", mode, strerror(errno));
	else
		printf("porttheft: preemption mode %s (was %s)\n", mode, buf[0] ? buf : "?");
}

int main(void)
{
	char was[32] = "";
	static const char *const name[] = { "priv", "unpriv" };
	cpu_set_t cpu0;
	struct msg m;
	int s, kind;

	setvbuf(stdout, NULL, _IOLBF, 0);
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0))
		perror("porttheft: sched_setaffinity");
	s = nlsock();
	fam = s < 0 ? -1 : resolve(s);
	if (fam < 0) {
		printf("FAIL porttheft_setup: pnfsd family not found\n");
		return 1;
	}
	if (status_port(s, NULL) != 0) {
		printf("FAIL porttheft_setup: a daemon is registered already (port %u)\n",
		       status_port(s, NULL));
		return 1;
	}
	{
		struct rlimit rl = { SUBSCRIBERS + 256, SUBSCRIBERS + 256 };
		int i, grp = NLCTRL_GROUP, n = 0;

		if (setrlimit(RLIMIT_NOFILE, &rl))
			perror("porttheft: setrlimit");
		for (i = 0; i < SUBSCRIBERS; i++) {
			int x = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);

			if (x < 0 || setsockopt(x, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
						&grp, sizeof(grp)))
				break;
			n++;
		}
		printf("porttheft: %d sockets in nlctrl's multicast group\n", n);
	}
	/* the old daemon never answers: its upcalls time out quickly */
	init(&m, fam, PNFSD_CMD_CONFIG_SET, 0);
	put32(&m, PNFSD_A_TIMEOUT_MS, UPCALL_TIMEOUT_MS);
	ack(s, &m);

	preempt_mode("full", was, sizeof(was));
	for (kind = PRIV; kind <= UNPRIV; kind++) {
		int hits = 0, misses = 0, bad = 0, i, rc;
		time_t t0 = time(NULL);

		for (i = 0; i < ATTEMPTS && hits < HITS && time(NULL) - t0 < ATTEMPT_SECONDS; i++) {
			rc = attempt(s, kind, 0x7e570000U + kind * 0x1000 + i, &bad);
			if (rc < 0)
				break;
			hits += rc;
			misses += !rc;
		}
		printf("porttheft: %s: %d window hits, %d misses, %d bad (%lld s)\n",
		       name[kind], hits, misses, bad, (long long)(time(NULL) - t0));
		CHECK(hits > 0, "porttheft_%s_window: the dead daemon's port was bound before its URELEASE (%d hits in %d attempts)",
		      name[kind], hits, hits + misses);
		if (kind == PRIV)
			CHECK(hits && !bad, "porttheft_priv_register: a new socket on the dead daemon's port registers as a new daemon and stays registered (%d of %d hits wrong)",
			      bad, hits);
		else
			CHECK(hits && !bad, "porttheft_unpriv: the thief gets EPERM for REPLY/DEVICE_SET and no upcall (%d of %d hits wrong)",
			      bad, hits);
	}
	if (was[0])
		preempt_mode(was, NULL, 0);
	CHECK(device_present(s) == 0, "porttheft_no_device: the thief's DEVICE_SET left no device");

	init(&m, fam, PNFSD_CMD_CONFIG_SET, 0);
	put32(&m, PNFSD_A_TIMEOUT_MS, 5000);
	ack(s, &m);
	return fails ? 1 : 0;
}
