// SPDX-License-Identifier: GPL-2.0
/*
 * pnfs_shim TRIGGER: the test trigger and load generator.  depth kthreads
 * each issue upcalls one after another until count have been issued; a work
 * item waits for them and answers the requester with this run's statistics.
 *
 * The run is not waited for in the TRIGGER handler: that runs inside the
 * requester's sendmsg(), which holds its socket's file, so the requester could
 * neither give up (pnfsctl --wait-ms) nor close the socket to stop a run of
 * 2^32-1 upcalls; only a fatal signal ended it.  The handler queues the run and
 * returns -EINTR (netlink_rcv_skb() then sends no ACK); the answer and the ACK
 * come when the run ends.  A requester whose socket is released (its
 * NETLINK_URELEASE) ends its runs: no upcall is issued after that.
 */

#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/signal.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/sock.h>

#include "pnfs_shim_internal.h"

static LIST_HEAD(pnfs_shim_runs);
static DEFINE_MUTEX(pnfs_shim_runs_lock);	/* may sleep: the URELEASE notifier may */
static struct workqueue_struct *pnfs_shim_trigger_wq;

/* A TRIGGER request, answered when its run ends. */
struct pnfs_shim_trigger {
	struct work_struct work;
	struct pnfs_shim_chan *chan;
	u32 kind, count, depth;
	bool loopback;
	void *args;			/* the family's, freed with this */
	pnfs_shim_answer_fn answer;
	struct sock *sk;		/* the requester's socket (held) */
	u32 port, seq;
	struct nlmsghdr nlh;		/* the request's header, for the ACK */
	u8 cmd;
};

static int pnfs_shim_trigger_thread(void *data)
{
	struct pnfs_shim_run *run = data;
	const struct pnfs_shim_family *fam = run->chan->fam;
	void *reply;
	int err;

	/* run abort (handler killed, module unload) interrupts the wait */
	allow_signal(SIGKILL);

	reply = kmalloc(fam->reply_size, GFP_KERNEL);
	while (reply && !READ_ONCE(run->stop) && !READ_ONCE(pnfs_shim_stopping) &&
	       !fatal_signal_pending(current) &&
	       atomic64_inc_return(&run->issued) <= run->count) {
		err = fam->call(run->chan, run->kind, run->args, reply, run->stats);
		if (!err) {
			spin_lock(&run->lock);
			memcpy(run->last, reply, fam->reply_size);
			run->have_last = true;
			spin_unlock(&run->lock);
		}
		cond_resched();
	}
	kfree(reply);
	/* never returns to this module's text after the completion */
	kthread_complete_and_exit(&run->exited, 0);
}

static void pnfs_shim_run_abort(struct pnfs_shim_run *run)
{
	unsigned int i;

	spin_lock(&run->lock);
	WRITE_ONCE(run->stop, true);
	for (i = 0; i < run->nr_tasks; i++)
		send_sig(SIGKILL, run->tasks[i], 1);
	spin_unlock(&run->lock);
}

/* Module unload: stop every run at once. */
void pnfs_shim_trigger_abort_all(void)
{
	struct pnfs_shim_run *run;

	mutex_lock(&pnfs_shim_runs_lock);
	list_for_each_entry(run, &pnfs_shim_runs, node)
		pnfs_shim_run_abort(run);
	mutex_unlock(&pnfs_shim_runs_lock);
}

/*
 * NETLINK_URELEASE of a socket on @port in @net: the runs it asked for end (the
 * upcalls in flight end as usual, no other is issued).  Another socket may have
 * bound the port since: a run ends only if its own requester's socket is gone.
 */
void pnfs_shim_trigger_released(struct net *net, u32 port)
{
	struct pnfs_shim_run *run;

	mutex_lock(&pnfs_shim_runs_lock);
	list_for_each_entry(run, &pnfs_shim_runs, node)
		if (run->req_sk && run->req_port == port && net_eq(run->chan->net, net) &&
		    !pnfs_shim_sock_open(run->req_sk)) {
			atomic64_inc(&run->chan->abandoned_runs);
			pnfs_shim_run_abort(run);
		}
	mutex_unlock(&pnfs_shim_runs_lock);
}

void pnfs_shim_run_free(struct pnfs_shim_run *run)
{
	unsigned int i;

	if (!run)
		return;
	for (i = 0; i < run->nr_tasks; i++)
		put_task_struct(run->tasks[i]);
	kfree(run->last);
	kvfree(run->stats);
	kfree(run);
}

/*
 * Issues @count upcalls of @kind, @depth in flight, filled from @args (which
 * must stay valid until this returns); with @loopback the module answers
 * them itself (see pnfs_shim_loopback()).  The run ends early when the socket
 * @req_sk (bound to @req_port) of its requester is released.  Returns the
 * finished run (stats, elapsed_ns, last answered reply) to be freed with
 * pnfs_shim_run_free(), or an ERR_PTR: -ENOMEM, or -EINTR when the caller was
 * killed meanwhile.
 */
static struct pnfs_shim_run *pnfs_shim_trigger_run(struct pnfs_shim_chan *chan, u32 kind,
						   u32 count, u32 depth, const void *args,
						   bool loopback, struct sock *req_sk,
						   u32 req_port)
{
	unsigned int nthreads = min(count, depth);
	unsigned int i, done = 0;
	struct pnfs_shim_run *run;
	struct task_struct *t;
	bool aborted = false;
	u64 start;

	run = kzalloc(struct_size(run, tasks, nthreads), GFP_KERNEL);
	if (!run)
		return ERR_PTR(-ENOMEM);
	run->stats = kvzalloc(sizeof(*run->stats), GFP_KERNEL);
	run->last = kzalloc(chan->fam->reply_size, GFP_KERNEL);
	if (!run->stats || !run->last) {
		pnfs_shim_run_free(run);
		return ERR_PTR(-ENOMEM);
	}
	run->stats->loopback = loopback;
	run->chan = chan;
	run->kind = kind;
	run->count = count;
	run->args = args;
	atomic64_set(&run->issued, 0);
	init_completion(&run->exited);
	spin_lock_init(&run->lock);
	run->req_sk = req_sk;
	run->req_port = req_port;

	mutex_lock(&pnfs_shim_runs_lock);
	list_add_tail(&run->node, &pnfs_shim_runs);
	/* released before it was listed: pnfs_shim_trigger_released() missed it */
	if (req_sk && !pnfs_shim_sock_open(req_sk))
		WRITE_ONCE(run->stop, true);
	mutex_unlock(&pnfs_shim_runs_lock);

	start = ktime_get_ns();
	for (i = 0; i < nthreads; i++) {
		t = kthread_create(pnfs_shim_trigger_thread, run, "pnfs_shim_trg/%u", i);
		if (IS_ERR(t))
			break;	/* the threads already started do the work */
		get_task_struct(t);
		spin_lock(&run->lock);
		run->tasks[run->nr_tasks++] = t;
		if (READ_ONCE(run->stop))
			send_sig(SIGKILL, t, 1);
		spin_unlock(&run->lock);
		wake_up_process(t);
	}

	while (done < run->nr_tasks) {
		if (!aborted) {
			if (wait_for_completion_killable(&run->exited)) {
				pnfs_shim_run_abort(run);
				aborted = true;
				continue;
			}
		} else {
			wait_for_completion(&run->exited);
		}
		done++;
	}
	run->elapsed_ns = ktime_get_ns() - start;

	mutex_lock(&pnfs_shim_runs_lock);
	list_del(&run->node);
	mutex_unlock(&pnfs_shim_runs_lock);

	if (aborted || (nthreads && !run->nr_tasks)) {
		pnfs_shim_run_free(run);
		return ERR_PTR(aborted ? -EINTR : -ENOMEM);
	}
	return run;
}

/* An NLMSG_ERROR for the request: its ACK (@err 0) or its failure. */
static void pnfs_shim_trigger_ack(struct pnfs_shim_trigger *t, int err)
{
	struct nlmsghdr *nlh;
	struct nlmsgerr *e;
	struct sk_buff *skb;

	skb = nlmsg_new(sizeof(*e), GFP_KERNEL);
	if (!skb)
		return;
	/* as netlink_ack() does for a socket with NETLINK_CAP_ACK: header only */
	nlh = nlmsg_put(skb, t->port, t->seq, NLMSG_ERROR, sizeof(*e), NLM_F_CAPPED);
	if (!nlh) {
		nlmsg_free(skb);
		return;
	}
	e = nlmsg_data(nlh);
	e->error = err;
	e->msg = t->nlh;
	nlmsg_end(skb, nlh);
	pnfs_shim_unicast(t->chan->net, t->sk, t->port, skb);
}

static void pnfs_shim_trigger_work(struct work_struct *work)
{
	struct pnfs_shim_trigger *t = container_of(work, struct pnfs_shim_trigger, work);
	const struct pnfs_shim_family *fam = t->chan->fam;
	struct pnfs_shim_run *run;
	struct sk_buff *msg;
	void *hdr;
	int err;

	run = pnfs_shim_trigger_run(t->chan, t->kind, t->count, t->depth, t->args,
				    t->loopback, t->sk, t->port);
	if (IS_ERR(run)) {
		err = PTR_ERR(run);
		goto out;
	}
	err = -ENOMEM;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		goto out_free;
	err = -EMSGSIZE;
	hdr = genlmsg_put(msg, t->port, t->seq, fam->genl, 0, t->cmd);
	if (hdr)
		err = t->answer(msg, t->chan, t->kind, run);
	if (err) {
		nlmsg_free(msg);
		goto out_free;
	}
	genlmsg_end(msg, hdr);
	/* a requester that is gone (or cannot take it) gets no ACK either */
	err = pnfs_shim_unicast(t->chan->net, t->sk, t->port, msg) ? 1 : 0;
out_free:
	pnfs_shim_run_free(run);
out:
	if (err < 0 || (!err && (t->nlh.nlmsg_flags & NLM_F_ACK)))
		pnfs_shim_trigger_ack(t, err);
	sock_put(t->sk);
	kfree(t->args);
	kfree(t);
}

/*
 * TRIGGER: queues the run of @count upcalls of @kind, @depth in flight, filled
 * from @args (kmalloc()ed, taken over, also on failure); @answer puts the
 * answer's attributes when it has ended.  Returns -EINTR (the handler's return:
 * no ACK now, it comes with the answer) or the error to answer at once.
 */
int pnfs_shim_trigger_start(struct pnfs_shim_chan *chan, struct sk_buff *skb,
			    struct genl_info *info, u32 kind, u32 count, u32 depth,
			    void *args, bool loopback, pnfs_shim_answer_fn answer)
{
	struct pnfs_shim_trigger *t;

	if (READ_ONCE(pnfs_shim_stopping)) {
		kfree(args);
		return -ENOTCONN;
	}
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t) {
		kfree(args);
		return -ENOMEM;
	}
	INIT_WORK(&t->work, pnfs_shim_trigger_work);
	t->chan = chan;
	t->kind = kind;
	t->count = count;
	t->depth = depth;
	t->loopback = loopback;
	t->args = args;
	t->answer = answer;
	t->sk = NETLINK_CB(skb).sk;
	sock_hold(t->sk);
	t->port = info->snd_portid;
	t->seq = info->snd_seq;
	t->nlh = *info->nlhdr;
	t->cmd = info->genlhdr->cmd;
	queue_work(pnfs_shim_trigger_wq, &t->work);
	return -EINTR;
}

int pnfs_shim_trigger_init(void)
{
	pnfs_shim_trigger_wq = alloc_workqueue("pnfs_shim_trigger", WQ_UNBOUND, 0);
	return pnfs_shim_trigger_wq ? 0 : -ENOMEM;
}

/* Module unload: runs stop (pnfs_shim_stopping is set), their answers go out. */
void pnfs_shim_trigger_exit(void)
{
	pnfs_shim_trigger_abort_all();
	destroy_workqueue(pnfs_shim_trigger_wq);
}
