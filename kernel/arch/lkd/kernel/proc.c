// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel processes for host threads.
 *
 * Every lkd process is an ordinary Linux process: a group leader task plus
 * one thread (CLONE_THREAD) per bound host thread. All of them are
 * host-backed (threads.c): the leader never runs a system call; host
 * threads enter it only for process-level operations (spawning a thread,
 * fork, exit), serialised by admin_lock.
 *
 * New processes are children of pid 1, which ignores SIGCHLD so that they
 * are reaped when they exit. A fork is made with CLONE_PARENT for the same
 * reason (its parent is pid 1 too).
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fdtable.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/syscalls.h>
#include <linux/task_work.h>
#include <lkd/kernel.h>

#include "internal.h"

static struct lkd_host_mutex *admin_lock;	/* process-level operations */
static struct lkd_host_mutex *tasks_lock;	/* host_backed_tasks */
static LIST_HEAD(host_backed_tasks);
static struct lkd_host_tls_key *binding_key;	/* host thread -> task */
static int host_process_pid;

static bool kernel_up(void)
{
	return lkd_init_task_host && !lkd_halting;
}

/* ---------------------------------------------------------------------
 * Bookkeeping of host-backed tasks
 * --------------------------------------------------------------------- */

static void task_list_add(struct lkd_task_host *th)
{
	__atomic_add_fetch(&th->refs, 1, __ATOMIC_RELAXED);
	lkd_host->mutex_lock(tasks_lock);
	list_add_tail(&th->node, &host_backed_tasks);
	lkd_host->mutex_unlock(tasks_lock);
}

/* Drop a dead task from the list (and the list's reference). */
static void forget_if_dead(struct lkd_task_host *th)
{
	bool listed = false;

	if (!th->dead)
		return;
	lkd_host->mutex_lock(tasks_lock);
	if (!list_empty(&th->node)) {
		list_del_init(&th->node);
		listed = true;
	}
	lkd_host->mutex_unlock(tasks_lock);
	if (listed)
		lkd_task_host_put(th);
}

/* A live listed task of process `tgid` (the leader if `leader`), with a
 * reference for the caller, or NULL. */
static struct lkd_task_host *find_task(int tgid, bool leader)
{
	struct lkd_task_host *th, *found = NULL;

	lkd_host->mutex_lock(tasks_lock);
	list_for_each_entry(th, &host_backed_tasks, node) {
		if (th->tgid == tgid && !th->dead && (!leader || th->leader)) {
			found = th;
			__atomic_add_fetch(&th->refs, 1, __ATOMIC_RELAXED);
			break;
		}
	}
	lkd_host->mutex_unlock(tasks_lock);
	return found;
}

/* The live listed task of process `tgid` with the smallest pid above
 * `after`, with a reference for the caller, or NULL: a walk over a
 * process's tasks that survives the list changing between steps. */
static struct lkd_task_host *find_task_after(int tgid, int after)
{
	struct lkd_task_host *th, *found = NULL;

	lkd_host->mutex_lock(tasks_lock);
	list_for_each_entry(th, &host_backed_tasks, node) {
		if (th->tgid == tgid && !th->dead && th->pid > after &&
		    (!found || th->pid < found->pid))
			found = th;
	}
	if (found)
		__atomic_add_fetch(&found->refs, 1, __ATOMIC_RELAXED);
	lkd_host->mutex_unlock(tasks_lock);
	return found;
}

/* Enter `th` (waiting for its current occupant, if any) and run fn. */
static long run_in_task(struct lkd_task_host *th, long (*fn)(void *),
			void *arg)
{
	long ret;

	lkd_host->mutex_lock(th->occupy);
	ret = lkd_run_as(th, fn, arg);
	lkd_host->mutex_unlock(th->occupy);
	forget_if_dead(th);
	return ret;
}

/* ---------------------------------------------------------------------
 * Functions that run inside the kernel, as some task
 * --------------------------------------------------------------------- */

struct spawn_request {
	unsigned long flags;
	int exit_signal;
	struct lkd_task_host *child;
};

/* As the parent: clone a host-backed child. */
static long spawn_child(void *arg)
{
	struct spawn_request *req = arg;
	struct kernel_clone_args args = {
		.flags		= req->flags,
		.exit_signal	= req->exit_signal,
		.fn		= lkd_host_backed_marker,
	};
	pid_t pid;

	req->child = NULL;
	/* The child cannot run before we leave this task (its only host
	 * thread is ours), so looking it up by pid is safe. */
	pid = kernel_clone(&args);
	if (pid < 0)
		return pid;
	rcu_read_lock();
	{
		struct task_struct *t = find_task_by_vpid(pid);

		if (t)
			req->child = task_thread_info(t)->host;
	}
	rcu_read_unlock();
	return req->child ? pid : -ESRCH;
}

static long child_setup_ids(void *arg)
{
	struct lkd_task_host *th = current_thread_info()->host;

	th->pid = task_pid_nr(current);
	th->tgid = task_tgid_nr(current);
	th->leader = th->pid == th->tgid;
	return th->pid;
}

/*
 * Signals the kernel raises for a process (SIGPIPE on a write to a closed
 * connection, SIGXFSZ, SIGURG, SIGIO) belong to its host process, whose
 * dispositions lkd does not know. Left at SIG_DFL here, a SIGPIPE would
 * kill the kernel process at once (complete_signal turns a fatal default
 * into a group exit) while the host process lives on, and the signal
 * would never reach it. So every signal that can be caught is "allowed"
 * the way a kernel thread allows the signals it dequeues itself
 * (allow_signal: SIG_KTHREAD, a handler that is never called): it is
 * queued, collected on the way out of the call (lkd_collect_signals) and
 * handed to the host through lkd_take_signals, where the host process's
 * own disposition applies, as if its kernel had raised it. SIGKILL and
 * SIGSTOP cannot be caught; SIGCHLD stays as it is (the host kernel sends
 * the host process its own).
 */
static void relay_signals_to_host(void)
{
	int sig;

	for (sig = 1; sig <= _NSIG; sig++)
		if (!sig_kernel_only(sig) && sig != SIGCHLD)
			allow_signal(sig);
}

static long new_process_setup(void *arg)
{
	const struct lkd_cred *c = arg;
	kuid_t uid = make_kuid(&init_user_ns, c->uid);
	kgid_t gid = make_kgid(&init_user_ns, c->gid);
	kernel_cap_t caps;
	struct cred *new;

	if (!uid_valid(uid) || !gid_valid(gid))
		return -EINVAL;
	new = prepare_creds();
	if (!new)
		return -ENOMEM;
	caps.cap[0] = (u32)c->caps;
	caps.cap[1] = (u32)(c->caps >> 32);
	caps = cap_intersect(caps, CAP_FULL_SET);
	new->uid = new->euid = new->suid = new->fsuid = uid;
	new->gid = new->egid = new->sgid = new->fsgid = gid;
	new->cap_inheritable = CAP_EMPTY_SET;
	new->cap_ambient = CAP_EMPTY_SET;
	new->cap_permitted = caps;
	new->cap_effective = caps;
	commit_creds(new);

	/* A fresh process starts with an empty fd table. */
	__close_range(0, ~0U, 0);
	/* Forks copy this; threads share it. */
	relay_signals_to_host();
	return child_setup_ids(NULL);
}

static long group_exit(void *arg)
{
	do_group_exit(SIGKILL);
}

static long thread_exit(void *arg)
{
	do_exit(0);
}

/* As the process: what execve(2) does to the fd table. */
static long exec_close_fds(void *arg)
{
	do_close_on_exec(current->files);
	return 0;
}

static long noop(void *arg)
{
	return 0;
}

static long sync_all(void *arg)
{
	ksys_sync();
	return 0;
}

/* ---------------------------------------------------------------------
 * Creating tasks
 * --------------------------------------------------------------------- */

/*
 * Clone a host-backed child of `parent`, claim it on the calling host
 * thread and run setup(arg) as the child. Returns setup's result (the
 * child's pid) with the child listed, or -errno. *child_out (if asked for)
 * receives the child with a reference for the caller, taken here while
 * the caller still holds admin_lock: once admin_lock is released, an exit
 * of the process (lkd_proc_exit on another thread) may kill the child and
 * drop every other reference.
 */
static long create_child(struct lkd_task_host *parent, unsigned long flags,
			 int exit_signal, long (*setup)(void *), void *arg,
			 struct lkd_task_host **child_out)
{
	struct spawn_request req = { .flags = flags,
				     .exit_signal = exit_signal };
	struct lkd_task_host *child;
	long ret;

	ret = run_in_task(parent, spawn_child, &req);
	if (ret < 0)
		return ret;
	child = req.child;
	task_list_add(child);
	ret = run_in_task(child, setup, arg);
	if (ret < 0) {
		if (!child->dead)
			run_in_task(child, flags & CLONE_THREAD ? thread_exit
						: group_exit, NULL);
		return ret;
	}
	if (child_out) {
		__atomic_add_fetch(&child->refs, 1, __ATOMIC_RELAXED);
		*child_out = child;
	}
	return ret;
}

int lkd_proc_create(const struct lkd_cred *cred)
{
	long ret;

	if (!kernel_up())
		return -ENODEV;
	if (!cred)
		return -EINVAL;
	lkd_host->mutex_lock(admin_lock);
	ret = create_child(lkd_init_task_host, 0, SIGCHLD, new_process_setup,
			   (void *)cred, NULL);
	lkd_host->mutex_unlock(admin_lock);
	return ret;
}

/*
 * Runs op(leader, arg) on the leader of lkd process `pid` with admin_lock
 * held: -ESRCH if there is no such process.
 */
static long on_leader(int pid, long (*op)(struct lkd_task_host *, void *),
		      void *arg)
{
	struct lkd_task_host *leader;
	long ret;

	lkd_host->mutex_lock(admin_lock);
	leader = find_task(pid, true);
	if (!leader) {
		ret = -ESRCH;
	} else {
		ret = op(leader, arg);
		lkd_task_host_put(leader);
	}
	lkd_host->mutex_unlock(admin_lock);
	return ret;
}

static long fork_process(struct lkd_task_host *leader, void *unused)
{
	return create_child(leader, CLONE_PARENT, 0, child_setup_ids, NULL,
			    NULL);
}

int lkd_proc_fork(int pid)
{
	if (!kernel_up())
		return -ENODEV;
	return on_leader(pid, fork_process, NULL);
}

/*
 * Read from outside the task: the leader only runs when a host thread
 * enters it, which needs admin_lock (held here), so it cannot die and
 * free its task meanwhile. complete_signal() sets the flag and code under
 * the sighand lock; a racing reader sees the process alive a moment
 * longer, as it would an instant earlier.
 */
static long fatal_signal_of(struct lkd_task_host *leader, void *unused)
{
	struct signal_struct *sig = leader->task ? leader->task->signal : NULL;

	if (!sig)
		return -ESRCH;
	if (!(READ_ONCE(sig->flags) & SIGNAL_GROUP_EXIT))
		return 0;
	return READ_ONCE(sig->group_exit_code) & 0x7f;
}

int lkd_proc_fatal_signal(int pid)
{
	if (!kernel_up())
		return -ENODEV;
	return on_leader(pid, fatal_signal_of, NULL);
}

static long exec_process(struct lkd_task_host *leader, void *unused)
{
	return run_in_task(leader, exec_close_fds, NULL);
}

/* As the leader: setns(2) into the network namespace at `arg` (a path). */
static long enter_netns(void *arg)
{
	long fd, ret;

	fd = sys_openat(AT_FDCWD, (const char __user *)arg, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	ret = sys_setns(fd, CLONE_NEWNET);
	close_fd(fd);
	return ret;
}

static long set_netns(struct lkd_task_host *leader, void *path)
{
	return run_in_task(leader, enter_netns, path);
}

int lkd_proc_set_netns(int pid, const char *path)
{
	if (!kernel_up())
		return -ENODEV;
	if (!path)
		return -EINVAL;
	return on_leader(pid, set_netns, (void *)path);
}

int lkd_proc_exec(int pid)
{
	if (!kernel_up())
		return -ENODEV;
	return on_leader(pid, exec_process, NULL);
}

/*
 * Credentials of a whole process (lkd_proc_commit_cred). Linux keeps them
 * per task and only a task changes its own (commit_creds), so each task
 * takes them itself: the leader at once, the others from task work, run
 * on their way back to user mode (lkd_work_before_user_mode), i.e. at the
 * end of the call they are in, or of a no-op call made for the purpose.
 */

/* Task work: take the leader's credentials, which are the process's
 * latest, so that works queued by two quick changes need no order. */
static void take_leader_cred(struct callback_head *work)
{
	const struct cred *cred;

	kfree(work);
	if (current->flags & PF_EXITING)
		return;
	cred = get_task_cred(current->group_leader);
	if (cred == current->real_cred)
		put_cred(cred);
	else
		commit_creds((struct cred *)cred);	/* takes our reference */
}

/* As the leader: take the credentials of task `*arg` of this process and
 * queue take_leader_cred on every other task. */
static long spread_cred(void *arg)
{
	pid_t tid = *(int *)arg;
	const struct cred *cred = NULL;
	struct task_struct *t;
	long ret = 0;

	rcu_read_lock();
	t = find_task_by_vpid(tid);
	if (t && same_thread_group(t, current))
		cred = get_task_cred(t);
	rcu_read_unlock();
	if (!cred)
		return -ESRCH;
	if (cred == current->real_cred)
		put_cred(cred);
	else
		commit_creds((struct cred *)cred);

	rcu_read_lock();
	for_each_thread(current, t) {
		struct callback_head *work;

		if (t == current || task_pid_vnr(t) == tid)
			continue;
		/* One pending work per task is enough (it reads the leader's
		 * credentials when it runs). */
		work = task_work_cancel_func(t, take_leader_cred);
		if (!work)
			work = kmalloc(sizeof(*work), GFP_ATOMIC);
		if (!work) {
			ret = -ENOMEM;
			break;
		}
		init_task_work(work, take_leader_cred);
		if (task_work_add(t, work, TWA_RESUME))
			kfree(work);	/* it is exiting */
	}
	rcu_read_unlock();
	return ret;
}

/*
 * A task between calls runs its task work now, in a no-op call; one in a
 * call (or with an asynchronous call submitted) runs it when that call
 * ends. Under th->occupy no asynchronous call can be submitted, so the
 * check and the no-op cannot race with one; a thread bound with lkd_bind
 * holds occupy for its whole call, hence the look at call_state first.
 */
static void run_work_between_calls(struct lkd_task_host *th)
{
	if (__atomic_load_n(&th->call_state, __ATOMIC_ACQUIRE) != LKD_CALL_NONE)
		return;
	lkd_host->mutex_lock(th->occupy);
	if (__atomic_load_n(&th->async_inflight, __ATOMIC_ACQUIRE) ==
	    LKD_ASYNC_IDLE)
		lkd_run_as(th, noop, NULL);
	lkd_host->mutex_unlock(th->occupy);
	forget_if_dead(th);
}

static long commit_cred(struct lkd_task_host *leader, void *tid)
{
	struct lkd_task_host *th;
	long ret;
	int after = 0;

	ret = run_in_task(leader, spread_cred, tid);
	if (ret < 0)
		return ret;
	/* admin_lock is held: no task of the process is created meanwhile. */
	while ((th = find_task_after(leader->tgid, after))) {
		after = th->pid;
		if (!th->leader)
			run_work_between_calls(th);
		lkd_task_host_put(th);
	}
	return 0;
}

int lkd_proc_commit_cred(int pid, int tid)
{
	if (!kernel_up())
		return -ENODEV;
	if (tid <= 0)
		return -ESRCH;
	return on_leader(pid, commit_cred, &tid);
}

static int proc_exit_locked(int pid)
{
	struct lkd_task_host *th;

	th = find_task(pid, true);
	if (!th)
		return -ESRCH;
	run_in_task(th, group_exit, NULL);
	lkd_task_host_put(th);
	/*
	 * Threads sleeping in the kernel were woken by SIGKILL and die on
	 * their way out. Threads whose host thread is outside the kernel
	 * sleep in LKD_TASK_AWAY, which no signal wakes: enter each to let it
	 * see the signal and die, so the fd table goes away now.
	 */
	while ((th = find_task(pid, false))) {
		run_in_task(th, noop, NULL);
		lkd_task_host_put(th);
	}
	return 0;
}

int lkd_proc_exit(int pid)
{
	int ret;

	if (!kernel_up())
		return -ENODEV;
	lkd_host->mutex_lock(admin_lock);
	ret = proc_exit_locked(pid);
	lkd_host->mutex_unlock(admin_lock);
	return ret;
}

/* ---------------------------------------------------------------------
 * Binding host threads
 * --------------------------------------------------------------------- */

static void release_binding(struct lkd_task_host *th)
{
	if (kernel_up() && !th->dead)
		run_in_task(th, thread_exit, NULL);
	forget_if_dead(th);
	lkd_task_host_put(th);
}

static void binding_destructor(void *value)
{
	release_binding(value);
}

/* A new thread of the leader's process; *arg receives its task host. */
static long new_thread(struct lkd_task_host *leader, void *arg)
{
	return create_child(leader, CLONE_VM | CLONE_FS | CLONE_FILES |
			    CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, 0,
			    child_setup_ids, NULL, arg);
}

int lkd_bind(int pid)
{
	struct lkd_task_host *child = NULL;
	long ret;

	if (!kernel_up())
		return -ENODEV;
	lkd_unbind();
	/* create_child's reference for us becomes the binding's. */
	ret = on_leader(pid, new_thread, &child);
	if (ret < 0)
		return ret;
	lkd_host->tls_set(binding_key, child);
	return ret;
}

int lkd_task_create(int pid, struct lkd_task **task)
{
	struct lkd_task_host *child = NULL;
	long ret;

	if (!task)
		return -EINVAL;
	if (!kernel_up())
		return -ENODEV;
	/* create_child's reference for us becomes the handle's. */
	ret = on_leader(pid, new_thread, &child);
	if (ret < 0)
		return ret;
	*task = (struct lkd_task *)child;
	return ret;
}

void lkd_task_release(struct lkd_task *task)
{
	if (task)
		release_binding((struct lkd_task_host *)task);
}

/* run_in_task without the wait: the call's arguments are kept in the
 * task, since the submitter does not wait for it. */
int lkd_submit_to(struct lkd_task_host *th, long (*fn)(void *), long nr,
		  const long args[6], lkd_call_done_fn done, void *done_arg)
{
	int ret;

	lkd_host->mutex_lock(th->occupy);
	ret = lkd_run_async(th, fn, nr, args, done, done_arg);
	lkd_host->mutex_unlock(th->occupy);
	return ret;
}

void lkd_unbind(void)
{
	struct lkd_task_host *th;

	if (!binding_key)
		return;
	th = lkd_host->tls_get(binding_key);
	if (!th)
		return;
	lkd_host->tls_set(binding_key, NULL);
	release_binding(th);
}

/* The task bound to the calling thread; binds to the host process first
 * if there is none. */
struct lkd_task_host *lkd_current_binding(bool bind)
{
	struct lkd_task_host *th;

	if (!binding_key)
		return NULL;
	th = lkd_host->tls_get(binding_key);
	if (!th && bind && lkd_bind(host_process_pid) >= 0)
		th = lkd_host->tls_get(binding_key);
	return th;
}

long lkd_run_bound(struct lkd_task_host *th, long (*fn)(void *), void *arg)
{
	return run_in_task(th, fn, arg);
}

/* ---------------------------------------------------------------------
 * Boot and halt
 * --------------------------------------------------------------------- */

int lkd_proc_init(void)
{
	static const struct lkd_cred root = { 0, 0, LKD_CAPS_ALL };
	struct lkd_task_host *init = lkd_init_task_host;
	long ret;

	admin_lock = lkd_host->mutex_alloc();
	tasks_lock = lkd_host->mutex_alloc();
	binding_key = lkd_host->tls_alloc(binding_destructor);
	if (!admin_lock || !tasks_lock || !binding_key)
		return -ENOMEM;
	init->pid = init->tgid = 1;
	init->leader = true;

	ret = lkd_proc_create(&root);
	if (ret < 0)
		return ret;
	host_process_pid = ret;
	return 0;
}

void lkd_proc_halt(void)
{
	struct lkd_task_host *th;
	int pid;

	lkd_host->mutex_lock(admin_lock);
	for (;;) {
		pid = 0;
		lkd_host->mutex_lock(tasks_lock);
		list_for_each_entry(th, &host_backed_tasks, node) {
			if (!th->dead && th->leader) {
				pid = th->tgid;
				break;
			}
		}
		lkd_host->mutex_unlock(tasks_lock);
		if (!pid)
			break;
		proc_exit_locked(pid);
	}
	run_in_task(lkd_init_task_host, sync_all, NULL);
	/* The last call: the kernel's CPU stops for good (cpu.c). */
	run_in_task(lkd_init_task_host, lkd_cpu_halt_call, NULL);
	lkd_host->mutex_unlock(admin_lock);
}
