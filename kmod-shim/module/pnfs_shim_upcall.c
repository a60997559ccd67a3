// SPDX-License-Identifier: GPL-2.0
/*
 * pnfs_shim upcall machinery, shared by both families: the registered daemon,
 * the table of pending upcalls, REPLY, daemon death, statistics.
 */

#include <linux/bitops.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/sock.h>
#include <asm/unaligned.h>

#include "pnfs_shim_internal.h"

/* One upcall waiting for its REPLY. */
struct pnfs_shim_upcall {
	refcount_t ref;		/* one for the waiter, one for the table */
	u32 xid;
	u32 kind;
	u64 gen;		/* registration it was sent under, 0 = none yet */
	u64 start_ns;		/* 0 until sent */
	u64 latency_ns;
	u32 status;
	int result;		/* 0 answered, else -ENOTCONN */
	struct completion done;
	struct list_head fail_node;
	u64 reply[];		/* the family's reply struct */
};

static void pnfs_shim_upcall_put(struct pnfs_shim_upcall *up)
{
	if (refcount_dec_and_test(&up->ref))
		kfree(up);
}

unsigned int pnfs_shim_hist_bucket(u64 ns)
{
	unsigned int msb;

	if (ns < 64)
		return 0;
	msb = fls64(ns) - 1;
	return (msb - 5) * 16 + ((ns >> (msb - 4)) & 15);
}

u64 pnfs_shim_hist_lower(unsigned int bucket)
{
	unsigned int msb, sub;

	if (bucket < 16)
		return 0;
	msb = bucket / 16 + 5;
	sub = bucket % 16;
	return (u64)(16 + sub) << (msb - 4);
}

#define PNFS_SHIM_COUNT(ks, run, field) do {				\
	atomic64_inc(&(ks)->field);					\
	if (run)							\
		atomic64_inc(&(run)->field);				\
} while (0)

static void pnfs_shim_hist_add(struct pnfs_shim_kstats *ks,
			       struct pnfs_shim_kstats *run, u64 ns)
{
	unsigned int b = pnfs_shim_hist_bucket(ns);

	atomic64_inc(&ks->hist[b]);
	if (run)
		atomic64_inc(&run->hist[b]);
}

struct pnfs_shim_chan *pnfs_shim_chan_alloc(struct net *net,
					    const struct pnfs_shim_family *fam)
{
	struct pnfs_shim_chan *chan;

	chan = kzalloc(sizeof(*chan), GFP_KERNEL);
	if (!chan)
		return NULL;
	chan->kstats = kvcalloc(fam->nkinds, sizeof(*chan->kstats), GFP_KERNEL);
	if (!chan->kstats) {
		kfree(chan);
		return NULL;
	}
	chan->fam = fam;
	chan->net = net;
	spin_lock_init(&chan->lock);
	chan->timeout_ms = PNFS_SHIM_DEFAULT_TIMEOUT_MS;
	xa_init_flags(&chan->pending, XA_FLAGS_ALLOC1);
	atomic64_set(&chan->late_replies, 0);
	atomic64_set(&chan->foreign_replies, 0);
	atomic64_set(&chan->abandoned_runs, 0);
	return chan;
}

void pnfs_shim_chan_free(struct pnfs_shim_chan *chan)
{
	if (!chan)
		return;
	pnfs_shim_fail_pending(chan, 0);
	WARN_ON(!xa_empty(&chan->pending));
	xa_destroy(&chan->pending);
	if (chan->registered)
		sock_put(chan->sk);
	kvfree(chan->kstats);
	kfree(chan);
}

/* Takes @up out of the table; true if we did (and so own its table ref). */
static bool pnfs_shim_remove(struct pnfs_shim_chan *chan, struct pnfs_shim_upcall *up)
{
	if (xa_cmpxchg(&chan->pending, up->xid, up, NULL, 0) != up)
		return false;
	refcount_dec(&up->ref);
	return true;
}

/*
 * Fails the pending upcalls sent under registration @gen (all when @gen is 0)
 * with -ENOTCONN, at once.  Returns how many.
 */
unsigned int pnfs_shim_fail_pending(struct pnfs_shim_chan *chan, u64 gen)
{
	struct pnfs_shim_upcall *up, *tmp;
	unsigned int n = 0;
	unsigned long idx;
	LIST_HEAD(list);

	xa_lock(&chan->pending);
	xa_for_each(&chan->pending, idx, up) {
		if (gen && READ_ONCE(up->gen) != gen)
			continue;
		__xa_erase(&chan->pending, idx);
		list_add_tail(&up->fail_node, &list);
		n++;
	}
	xa_unlock(&chan->pending);

	list_for_each_entry_safe(up, tmp, &list, fail_node) {
		list_del(&up->fail_node);
		up->result = -ENOTCONN;
		complete(&up->done);
		pnfs_shim_upcall_put(up);
	}
	return n;
}

/*
 * The daemon is known by its socket, not by its port.  netlink_release() takes
 * the port out of the table (netlink_remove()) first, then orphans the socket,
 * and calls the NETLINK_URELEASE notifiers last; it can sleep in between
 * (netlink_table_grab(), the notifier chain's rwsem), and another socket can
 * bind() the port meanwhile.  Known by its port, the daemon was taken over by
 * that socket: upcalls went to it (an unprivileged one too), its REGISTER was
 * taken for the daemon's re-register and then undone by the old socket's
 * URELEASE (tests/vm/porttheft.c).
 *
 * Whether @sk, the registered daemon's socket, is still open.  The caller holds
 * read_lock_bh(&sk->sk_callback_lock): sock_orphan() cannot complete, so
 * sk->sk_socket and its file stay valid.  The last fput() of the file comes
 * before all of netlink_release(): a file count of 0 says that the release has
 * begun and the port may be free already, before SOCK_DEAD is set.
 */
static bool pnfs_shim_sk_open(struct sock *sk)
{
	struct socket *sock = sk->sk_socket;

	if (sock_flag(sk, SOCK_DEAD) || !sock)
		return false;
	return !sock->file || file_count(sock->file) > 0;
}

/* Whether @sk (held) is still open: not released, its port still its own. */
bool pnfs_shim_sock_open(struct sock *sk)
{
	bool open;

	read_lock_bh(&sk->sk_callback_lock);
	open = pnfs_shim_sk_open(sk);
	read_unlock_bh(&sk->sk_callback_lock);
	return open;
}

/*
 * Forgets registration @gen if it is still the current one: fails its pending
 * upcalls at once, sends daemon-down, lets go of the daemon's socket.  Returns
 * how many upcalls failed, -ENOENT if @gen is not the registration.
 */
static int pnfs_shim_forget(struct pnfs_shim_chan *chan, u64 gen)
{
	unsigned int count;
	struct sock *sk;
	u32 port, node_id;

	spin_lock(&chan->lock);
	if (!chan->registered || chan->gen != gen) {
		spin_unlock(&chan->lock);
		return -ENOENT;
	}
	sk = chan->sk;
	port = chan->port;
	node_id = chan->node_id;
	chan->registered = false;
	chan->sk = NULL;
	chan->port = 0;
	chan->gen = 0;
	chan->version = 0;
	chan->node_id = 0;
	chan->role = 0;
	chan->mds_id = 0;
	chan->boot_epoch = 0;
	spin_unlock(&chan->lock);

	count = pnfs_shim_fail_pending(chan, gen);
	chan->fam->daemon_down(chan, port, node_id, count);
	sock_put(sk);
	return count;
}

/* The registered daemon's socket, held (sock_put() it), and its registration. */
static struct sock *pnfs_shim_daemon_sk(struct pnfs_shim_chan *chan, u64 *gen, u32 *port)
{
	struct sock *sk = NULL;

	spin_lock(&chan->lock);
	if (chan->registered) {
		sk = chan->sk;
		sock_hold(sk);
		*gen = chan->gen;
		*port = chan->port;
	}
	spin_unlock(&chan->lock);
	return sk;
}

/*
 * A registered daemon whose socket is being released (its NETLINK_URELEASE
 * not handled yet) is forgotten now, as if it had been.
 */
void pnfs_shim_reap(struct pnfs_shim_chan *chan)
{
	struct sock *sk;
	u32 port;
	u64 gen;

	sk = pnfs_shim_daemon_sk(chan, &gen, &port);
	if (!sk)
		return;
	if (!pnfs_shim_sock_open(sk))
		pnfs_shim_forget(chan, gen);
	sock_put(sk);
}

/*
 * NETLINK_URELEASE of a socket bound to @port.  The daemon died if it was its
 * socket; another socket may have bound the port since and registered, so the
 * port alone does not tell.  Returns the upcalls failed, -ENOENT if not the
 * daemon.
 */
int pnfs_shim_daemon_released(struct pnfs_shim_chan *chan, u32 port)
{
	struct sock *sk;
	u32 dport;
	u64 gen;
	int ret = -ENOENT;

	sk = pnfs_shim_daemon_sk(chan, &gen, &dport);
	if (!sk)
		return -ENOENT;
	if (dport == port && !pnfs_shim_sock_open(sk))
		ret = pnfs_shim_forget(chan, gen);
	sock_put(sk);
	return ret;
}

/*
 * REGISTER, generic part; called with chan->lock held, after pnfs_shim_reap().
 * One daemon per family per netns: another socket gets -EBUSY, the daemon's
 * own re-registers.
 */
int pnfs_shim_register_locked(struct pnfs_shim_chan *chan, struct sk_buff *skb,
			      struct genl_info *info)
{
	struct sock *sk = NETLINK_CB(skb).sk;

	lockdep_assert_held(&chan->lock);

	if (chan->registered && chan->sk != sk) {
		pnfs_shim_set_err(info->extack,
				  "a daemon is already registered on port %u",
				  chan->port);
		return -EBUSY;
	}
	if (!chan->registered) {
		chan->registered = true;
		sock_hold(sk);
		chan->sk = sk;
		chan->port = info->snd_portid;
		chan->gen = ++chan->last_gen;
	}
	return 0;
}

int pnfs_shim_unregister(struct pnfs_shim_chan *chan, struct sk_buff *skb,
			 struct genl_info *info)
{
	bool daemon;
	u64 gen;

	spin_lock(&chan->lock);
	daemon = chan->registered && chan->sk == NETLINK_CB(skb).sk;
	gen = chan->gen;
	spin_unlock(&chan->lock);
	if (!daemon || pnfs_shim_forget(chan, gen) < 0) {
		GENL_SET_ERR_MSG(info, "not the registered daemon");
		return -ENOENT;
	}
	return 0;
}

/*
 * Unicasts @skb to the socket @sk (held), bound to @port, and never to another
 * socket that took the port over: -ECONNREFUSED once @sk is being released.
 * The socket cannot be orphaned while the message is on its way.
 */
int pnfs_shim_unicast(struct net *net, struct sock *sk, u32 port, struct sk_buff *skb)
{
	int err;

	read_lock_bh(&sk->sk_callback_lock);
	if (pnfs_shim_sk_open(sk)) {
		err = genlmsg_unicast(net, skb, port);
	} else {
		nlmsg_free(skb);
		err = -ECONNREFUSED;
	}
	read_unlock_bh(&sk->sk_callback_lock);
	return err;
}

/*
 * Issues one upcall of @kind and waits for its reply.  0: answered, the reply
 * is in @reply (status included); else -ENOTCONN, -ETIMEDOUT, -EINTR or the
 * error of the send.  Counts into the kind's stats and into @run if given.
 */
/*
 * TRIGGER loopback: the kernel-only floor of an upcall (benches/vm.sh).  The
 * message was built exactly as for the daemon; instead of genlmsg_unicast() the
 * module takes it back, finds its xid attribute as the daemon would, and
 * completes the waiter as a REPLY with status 0 and no payload does (the reply
 * struct stays zeroed: status OK, nothing present).  No socket, no user space.
 */
static int pnfs_shim_loopback(struct pnfs_shim_chan *chan, struct sk_buff *skb)
{
	const struct pnfs_shim_family *fam = chan->fam;
	struct pnfs_shim_upcall *up;
	struct nlattr *xa;
	u64 start;

	xa = nlmsg_find_attr(nlmsg_hdr(skb), GENL_HDRLEN, fam->attr_xid);
	if (!xa || nla_len(xa) != sizeof(u32)) {
		nlmsg_free(skb);
		return -EINVAL;
	}
	up = xa_erase(&chan->pending, nla_get_u32(xa));
	nlmsg_free(skb);
	if (!up)
		return -ENOENT;
	start = READ_ONCE(up->start_ns);
	up->latency_ns = start ? ktime_get_ns() - start : 0;
	up->status = 0;
	up->result = 0;
	complete(&up->done);
	pnfs_shim_upcall_put(up);
	return 0;
}

int pnfs_shim_upcall(struct pnfs_shim_chan *chan, u32 kind, const void *args,
		     void *reply, struct pnfs_shim_kstats *run)
{
	const struct pnfs_shim_family *fam = chan->fam;
	struct pnfs_shim_kstats *ks;
	struct pnfs_shim_upcall *up;
	struct sock *sk = NULL;
	struct sk_buff *skb;
	bool registered;
	u32 port = 0, timeout_ms;
	u64 gen = 0;
	void *hdr;
	long left;
	int err;

	if (kind < 1 || kind > fam->nkinds)
		return -EINVAL;
	ks = &chan->kstats[kind - 1];
	/* also one that fails at once: sent = answered + timeouts + failed */
	PNFS_SHIM_COUNT(ks, run, sent);

	up = kzalloc(sizeof(*up) + fam->reply_size, GFP_KERNEL);
	if (!up) {
		PNFS_SHIM_COUNT(ks, run, failed);
		return -ENOMEM;
	}
	refcount_set(&up->ref, 2);
	init_completion(&up->done);
	up->kind = kind;

	/* xid: 32-bit cyclic counter, never 0, never one still pending */
	err = xa_alloc_cyclic(&chan->pending, &up->xid, up, XA_LIMIT(1, U32_MAX),
			      &chan->next_xid, GFP_KERNEL);
	if (err < 0) {
		kfree(up);
		PNFS_SHIM_COUNT(ks, run, failed);
		return err;
	}

	/*
	 * In the table before the daemon check: a daemon_gone() that clears the
	 * registration after this check finds the entry by its gen.
	 */
	spin_lock(&chan->lock);
	/* a loopback run needs no daemon: the module answers itself */
	registered = (chan->registered || (run && run->loopback)) &&
		     !READ_ONCE(pnfs_shim_stopping);
	if (registered) {
		port = chan->port;
		gen = chan->gen;
		WRITE_ONCE(up->gen, gen);
		sk = chan->registered ? chan->sk : NULL;
		if (sk)
			sock_hold(sk);
	}
	timeout_ms = chan->timeout_ms;
	spin_unlock(&chan->lock);

	if (!registered) {
		err = -ENOTCONN;
		goto out_unsent;
	}

	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!skb) {
		err = -ENOMEM;
		goto out_unsent;
	}
	hdr = genlmsg_put(skb, 0, 0, fam->genl, 0, fam->kind_cmd[kind]);
	if (!hdr || nla_put_u32(skb, fam->attr_xid, up->xid) ||
	    fam->put_args(skb, kind, args)) {
		nlmsg_free(skb);
		err = -EMSGSIZE;
		goto out_unsent;
	}
	genlmsg_end(skb, hdr);

	WRITE_ONCE(up->start_ns, ktime_get_ns());
	if (run && run->loopback)
		err = pnfs_shim_loopback(chan, skb);
	else
		err = pnfs_shim_unicast(chan->net, sk, port, skb);
	if (err) {
		if (err == -ECONNREFUSED) {
			/* the daemon's socket is gone: same as its death */
			pnfs_shim_forget(chan, gen);
			err = -ENOTCONN;
		}
		goto out_unsent;
	}
	if (sk) {
		sock_put(sk);
		sk = NULL;
	}

	left = wait_for_completion_killable_timeout(&up->done,
						    msecs_to_jiffies(timeout_ms));
	if (left <= 0) {
		if (pnfs_shim_remove(chan, up)) {
			if (left == 0) {
				PNFS_SHIM_COUNT(ks, run, timeouts);
				err = -ETIMEDOUT;
			} else {
				PNFS_SHIM_COUNT(ks, run, failed);
				err = -EINTR;
			}
			goto out_put;
		}
		/* a REPLY or a failure took it: it completes without sleeping */
		wait_for_completion(&up->done);
	}
	goto out_result;

out_unsent:
	if (pnfs_shim_remove(chan, up)) {
		PNFS_SHIM_COUNT(ks, run, failed);
		goto out_put;
	}
	wait_for_completion(&up->done);
out_result:
	err = up->result;
	if (err) {
		PNFS_SHIM_COUNT(ks, run, failed);
		goto out_put;
	}
	PNFS_SHIM_COUNT(ks, run, answered);
	if (up->status)
		PNFS_SHIM_COUNT(ks, run, errors);
	pnfs_shim_hist_add(ks, run, up->latency_ns);
	memcpy(reply, up->reply, fam->reply_size);
out_put:
	if (sk)
		sock_put(sk);
	pnfs_shim_upcall_put(up);
	return err;
}

/* REPLY from the daemon: wake the waiter of this xid. */
int pnfs_shim_reply(struct pnfs_shim_chan *chan, struct sk_buff *skb, struct genl_info *info)
{
	const struct pnfs_shim_family *fam = chan->fam;
	struct pnfs_shim_upcall *up;
	bool daemon;
	u64 start;
	u32 xid;
	int err;

	if (PNFS_SHIM_REQ_ATTR(info, fam->attr_xid, "xid") ||
	    PNFS_SHIM_REQ_ATTR(info, fam->attr_status, "status"))
		return -EINVAL;

	/* the daemon's socket, not whichever has its port now */
	spin_lock(&chan->lock);
	daemon = chan->registered && chan->sk == NETLINK_CB(skb).sk;
	spin_unlock(&chan->lock);
	if (!daemon) {
		atomic64_inc(&chan->foreign_replies);
		GENL_SET_ERR_MSG(info, "reply from a port that is not the registered daemon");
		return -EPERM;
	}

	if (fam->check_reply) {
		err = fam->check_reply(info);
		if (err)
			return err;
	}

	xid = nla_get_u32(info->attrs[fam->attr_xid]);
	up = xa_erase(&chan->pending, xid);
	if (!up) {
		atomic64_inc(&chan->late_replies);
		pnfs_shim_set_err(info->extack, "xid %u is not pending", xid);
		NL_SET_BAD_ATTR(info->extack, info->attrs[fam->attr_xid]);
		return -ENOENT;
	}

	start = READ_ONCE(up->start_ns);
	up->latency_ns = start ? ktime_get_ns() - start : 0;
	/* status is u32 in pnfsd and s32 in gfs2ctl: both 4 bytes */
	up->status = nla_get_u32(info->attrs[fam->attr_status]);
	fam->decode_reply(info, up->reply);
	up->result = 0;
	complete(&up->done);
	pnfs_shim_upcall_put(up);
	return 0;
}

int pnfs_shim_upcall_dump(struct pnfs_shim_chan *chan, struct sk_buff *skb,
			  struct netlink_callback *cb)
{
	const struct pnfs_shim_family *fam = chan->fam;
	struct pnfs_shim_upcall *up;
	u64 now = ktime_get_ns();
	unsigned long idx;
	void *hdr;

	xa_lock(&chan->pending);
	xa_for_each_start(&chan->pending, idx, up, cb->args[0]) {
		u64 start = READ_ONCE(up->start_ns);

		cb->args[0] = idx;
		if (!start)
			continue;	/* not sent yet */
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, fam->genl, NLM_F_MULTI,
				  fam->cmd_upcall_dump);
		if (!hdr)
			break;
		if (nla_put_u32(skb, fam->attr_xid, up->xid) ||
		    nla_put_u32(skb, fam->attr_upcall_kind, up->kind) ||
		    nla_put_u64_64bit(skb, fam->attr_age_us,
				      div_u64(now > start ? now - start : 0, NSEC_PER_USEC),
				      fam->attr_pad)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = idx + 1;
	}
	xa_unlock(&chan->pending);
	return skb->len;
}

/* Percentile (permille) of a histogram: lower bound of its bucket. */
static u64 pnfs_shim_percentile(const u64 *counts, u64 total, unsigned int permille)
{
	u64 target, seen = 0;
	unsigned int b;

	if (!total)
		return 0;
	target = div_u64(total * permille + 999, 1000);
	if (!target)
		target = 1;
	for (b = 0; b < PNFS_SHIM_HIST_BUCKETS; b++) {
		seen += counts[b];
		if (seen >= target)
			return pnfs_shim_hist_lower(b);
	}
	return pnfs_shim_hist_lower(PNFS_SHIM_HIST_BUCKETS - 1);
}

/* One kind-stats nest (attribute ids are the same in both families). */
int pnfs_shim_put_kind_stats(struct sk_buff *skb, const struct pnfs_shim_family *fam, bool hist,
			     u32 kind, struct pnfs_shim_kstats *ks)
{
	u64 p50, p99, p999, total = 0;
	unsigned int b, used = 0;
	struct nlattr *nest, *h;
	u64 *counts, *pair;
	u16 pad = fam->attr_pad;

	BUILD_BUG_ON((int)PNFSD_A_KIND_STATS_P999_NS != (int)GFS2CTL_A_KIND_STATS_P999_NS ||
		     (int)PNFSD_A_KIND_STATS_HIST != (int)GFS2CTL_A_KIND_STATS_HIST ||
		     (int)PNFSD_A_KIND_STATS_KIND != (int)GFS2CTL_A_KIND_STATS_KIND);

	counts = kvmalloc_array(PNFS_SHIM_HIST_BUCKETS, sizeof(*counts), GFP_KERNEL);
	if (!counts)
		return -ENOMEM;
	for (b = 0; b < PNFS_SHIM_HIST_BUCKETS; b++) {
		counts[b] = atomic64_read(&ks->hist[b]);
		total += counts[b];
	}
	p50 = pnfs_shim_percentile(counts, total, 500);
	p99 = pnfs_shim_percentile(counts, total, 990);
	p999 = pnfs_shim_percentile(counts, total, 999);

	nest = nla_nest_start(skb, fam->attr_kind_stats);
	if (!nest) {
		kvfree(counts);
		return -EMSGSIZE;
	}
	if (nla_put_u32(skb, PNFSD_A_KIND_STATS_KIND, kind) ||
	    nla_put_u64_64bit(skb, PNFSD_A_KIND_STATS_SENT,
			      atomic64_read(&ks->sent), pad) ||
	    nla_put_u64_64bit(skb, PNFSD_A_KIND_STATS_ANSWERED,
			      atomic64_read(&ks->answered), pad) ||
	    nla_put_u64_64bit(skb, PNFSD_A_KIND_STATS_ERRORS,
			      atomic64_read(&ks->errors), pad) ||
	    nla_put_u64_64bit(skb, PNFSD_A_KIND_STATS_TIMEOUTS,
			      atomic64_read(&ks->timeouts), pad) ||
	    nla_put_u64_64bit(skb, PNFSD_A_KIND_STATS_FAILED,
			      atomic64_read(&ks->failed), pad) ||
	    nla_put_u64_64bit(skb, PNFSD_A_KIND_STATS_P50_NS, p50, pad) ||
	    nla_put_u64_64bit(skb, PNFSD_A_KIND_STATS_P99_NS, p99, pad) ||
	    nla_put_u64_64bit(skb, PNFSD_A_KIND_STATS_P999_NS, p999, pad))
		goto too_big;
	if (hist) {
		/* the non-empty buckets as (lower bound ns, count) u64 pairs */
		for (b = 0; b < PNFS_SHIM_HIST_BUCKETS; b++)
			used += counts[b] != 0;
		h = nla_reserve(skb, PNFSD_A_KIND_STATS_HIST, used * 2 * sizeof(u64));
		if (!h)
			goto too_big;
		pair = nla_data(h);
		for (b = 0; b < PNFS_SHIM_HIST_BUCKETS; b++) {
			if (!counts[b])
				continue;
			put_unaligned(pnfs_shim_hist_lower(b), pair++);
			put_unaligned(counts[b], pair++);
		}
	}
	kvfree(counts);
	nla_nest_end(skb, nest);
	return 0;

too_big:
	kvfree(counts);
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

/* stats-get body: one kind-stats nest per kind, then late-replies. */
int pnfs_shim_put_all_stats(struct sk_buff *skb, struct pnfs_shim_chan *chan, u16 attr_late)
{
	const struct pnfs_shim_family *fam = chan->fam;
	unsigned int kind;
	int err;

	for (kind = 1; kind <= fam->nkinds; kind++) {
		err = pnfs_shim_put_kind_stats(skb, fam, false, kind, &chan->kstats[kind - 1]);
		if (err)
			return err;
	}
	if (nla_put_u64_64bit(skb, attr_late, atomic64_read(&chan->late_replies),
			      fam->attr_pad))
		return -EMSGSIZE;
	return 0;
}

/* An event message for the family's events group, or NULL if nobody listens. */
struct sk_buff *pnfs_shim_event_new(struct pnfs_shim_chan *chan, u8 cmd, void **hdr)
{
	struct genl_family *genl = chan->fam->genl;
	struct sk_buff *skb;

	if (!genl_has_listeners(genl, chan->net, 0))
		return NULL;
	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!skb)
		return NULL;
	*hdr = genlmsg_put(skb, 0, 0, genl, 0, cmd);
	if (!*hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

void pnfs_shim_event_send(struct pnfs_shim_chan *chan, struct sk_buff *skb, void *hdr)
{
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(chan->fam->genl, chan->net, skb, 0, 0, GFP_KERNEL);
}
