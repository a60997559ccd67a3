// SPDX-License-Identifier: GPL-2.0
/*
 * pnfs_shim TRIGGER: the test trigger and load generator.  depth kthreads
 * each issue upcalls one after another until count have been issued; the
 * handler waits for them and answers with this run's statistics.
 */

#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/signal.h>
#include <linux/slab.h>

#include "pnfs_shim_internal.h"

static LIST_HEAD(pnfs_shim_runs);
static DEFINE_SPINLOCK(pnfs_shim_runs_lock);

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

	spin_lock(&pnfs_shim_runs_lock);
	list_for_each_entry(run, &pnfs_shim_runs, node)
		pnfs_shim_run_abort(run);
	spin_unlock(&pnfs_shim_runs_lock);
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
 * them itself (see pnfs_shim_loopback()).  Returns the finished run (stats,
 * elapsed_ns, last answered reply) to be freed with pnfs_shim_run_free(), or
 * an ERR_PTR: -ENOMEM, or -EINTR when the caller was killed meanwhile.
 */
struct pnfs_shim_run *pnfs_shim_trigger_run(struct pnfs_shim_chan *chan, u32 kind,
					    u32 count, u32 depth, const void *args,
					    bool loopback)
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

	spin_lock(&pnfs_shim_runs_lock);
	list_add_tail(&run->node, &pnfs_shim_runs);
	spin_unlock(&pnfs_shim_runs_lock);

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

	spin_lock(&pnfs_shim_runs_lock);
	list_del(&run->node);
	spin_unlock(&pnfs_shim_runs_lock);

	if (aborted || (nthreads && !run->nr_tasks)) {
		pnfs_shim_run_free(run);
		return ERR_PTR(aborted ? -EINTR : -ENOMEM);
	}
	return run;
}
