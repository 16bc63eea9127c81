/*
 * The requests every VMM answers: INFO (lkvm list), STOP, PAUSE, RESUME
 * and DEBUG.  Other modules add theirs with ipc_handler().
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/ipc.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/kvm.h"
#include "lkvm/page-map.h"


/*
 * Serialises the commands that change the run state (pause, resume, debug,
 * stop), so `lkvm debug` during `lkvm pause` neither resumes a guest the
 * user paused nor races with it.  kvm__pause_until() nests; user_paused makes
 * sure `lkvm pause` takes one level at most and `lkvm resume` gives back
 * only that one.
 */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static bool user_paused;
/* A migration is handing the guest over with user_paused as it was. */
static bool state_held;
/* ...and ended not knowing whether the destination took it (migrate.c);
 * set only while state_held. */
static int (*held_resume)(struct kvm *kvm, char *why, size_t n);

static int ipc_info(struct kvm *kvm, int fd, const void *p, u32 len)
{
	const char *name = kvm_ipc__name();
	struct ipc_info info = {
		.pid = getpid(),
		.nr_cpus = kvm->nr_cpus,
		.ram_size = kvm->ram_size,
	};
	int ret;

	if (len)
		return -EINVAL;
	/* Paused by anyone (lkvm pause, a migration's final phase) counts. */
	if (kvm__stopping(kvm))
		info.state = IPC_STATE_STOPPING;
	else if (kvm__incoming_wait(kvm))
		info.state = IPC_STATE_INCOMING;
	else if (kvm__starting(kvm))
		info.state = IPC_STATE_STARTING;
	else if (kvm_ipc__outcome_unknown())
		info.state = IPC_STATE_UNKNOWN;
	else
		info.state = __atomic_load_n(&kvm->paused, __ATOMIC_ACQUIRE) ?
			IPC_STATE_PAUSED : IPC_STATE_RUNNING;
	if (name)	/* NUL-padded */
		memcpy(info.name, name, strnlen(name, sizeof(info.name)));
	ret = ipc__send(fd, IPC_MSG_DATA, &info, sizeof(info));
	return ret;
}

/*
 * The optional flags word of STOP and RESUME (WHAT): *all set, or the
 * answer to a payload this build cannot read.  A flag a newer client sends
 * is refused by name, never ignored: the user asked for something this VMM
 * cannot do (docs/ipc.md, "Other lkvm builds").
 */
static int all_flag(int fd, const char *what, const void *p, u32 len, bool *all)
{
	u32 flags = 0;

	if (len != 0 && len != sizeof(flags))
		return -EINVAL;
	if (len)
		memcpy(&flags, p, sizeof(flags));
	if (flags & ~IPC_FLAG_ALL)
		return ipc__reply(fd, -EINVAL, "unknown %s flags 0x%x", what,
				  flags & ~IPC_FLAG_ALL) ?: IPC_REPLIED;
	*all = flags & IPC_FLAG_ALL;
	return 0;
}

static int ipc_stop(struct kvm *kvm, int fd, const void *p, u32 len)
{
	bool all;
	int ret = all_flag(fd, "stop", p, len, &all);

	if (ret)
		return ret;
	/* Only this copy may be left of the guest: only by name. */
	if (all && kvm_ipc__outcome_unknown())
		return ipc__reply(fd, -EBUSY, "not stopped by --all: the last migration's outcome "
				  "is unknown; stop or resume it by --name") ?: IPC_REPLIED;
	pr_info("stop requested through the control socket");
	/*
	 * Answer first: once the stop is requested the VMM may reach
	 * kvm_ipc__stop() and hang up before a later reply would leave.  The
	 * client learns that the process is gone from its lock, not from us.
	 */
	if (ipc__reply(fd, 0, NULL))
		pr_debug("ipc: stop requester went away; stopping anyway");
	/*
	 * Stop before taking state_lock: a pause that holds it may be stuck
	 * waiting for a vCPU (one blocked on a full console), and only the
	 * stop ends that wait.
	 */
	kvm__request_stop(kvm, 0, "stopped by 'lkvm stop'");
	pthread_mutex_lock(&state_lock);
	/* Parked vCPUs must wake up to see the stop. */
	if (user_paused) {
		kvm__resume(kvm);
		__atomic_store_n(&user_paused, false, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&state_lock);
	return IPC_REPLIED;
}

bool kvm_ipc__user_paused(void)
{
	return __atomic_load_n(&user_paused, __ATOMIC_ACQUIRE);
}

/*
 * How long `lkvm pause` and `lkvm debug` wait for every vCPU to leave
 * KVM_RUN.  A vCPU blocked in a device (its write to a console nobody
 * reads) parks only once that returns, and meanwhile the waiting pause
 * holds the pause lock that a migration's final pause needs: it would
 * wait behind, deaf to --cancel.  Under the client's IPC_TIMEOUT_MS, so
 * that the client hears why.
 */
#define USER_PAUSE_TIMEOUT_MS	3000

/* A pause that gave up (-ETIMEDOUT), answered: which vCPU, and why. */
static int reply_stuck(int fd, int stuck)
{
	pr_warn("ipc: pause given up: vCPU %d did not stop within %u s", stuck,
		USER_PAUSE_TIMEOUT_MS / 1000);
	return ipc__reply(fd, -ETIMEDOUT, "vCPU %d did not stop within %u s (blocked in a "
			  "device: a console nobody reads?); the guest runs on", stuck,
			  USER_PAUSE_TIMEOUT_MS / 1000) ?: IPC_REPLIED;
}

/* Called with state_lock held.  timeout_ms 0: no limit. */
static int user_pause(struct kvm *kvm, u32 timeout_ms, int *stuck)
{
	int ret;

	if (kvm__stopping(kvm))
		return -ESHUTDOWN;
	if (user_paused)
		return -EALREADY;
	ret = kvm__pause_until(kvm, NULL, timeout_ms, stuck);
	if (!ret)
		__atomic_store_n(&user_paused, true, __ATOMIC_RELEASE);
	return ret;
}

static int reply_held(int fd, const char *what)
{
	if (held_resume)
		return ipc__reply(fd, -EBUSY, "%s", IPC_UNKNOWN_MSG) ?: IPC_REPLIED;
	return ipc__reply(fd, -EBUSY, "a migration is handing the guest over as it is now "
			  "(%s); %s it at the destination, or here if the migration fails",
			  user_paused ? "paused" : "running", what) ?: IPC_REPLIED;
}

static int ipc_pause(struct kvm *kvm, int fd, const void *p, u32 len)
{
	int ret, stuck = -1;

	if (len)
		return -EINVAL;
	pthread_mutex_lock(&state_lock);
	if (state_held) {
		ret = reply_held(fd, "pause");
		pthread_mutex_unlock(&state_lock);
		return ret;
	}
	ret = user_pause(kvm, USER_PAUSE_TIMEOUT_MS, &stuck);
	/*
	 * The pause waits for every vCPU to leave KVM_RUN, which the host
	 * can delay past the client's timeout even within the limit above.
	 * That client reported a failure: undo it.
	 */
	if (!ret && ipc__client_gone(fd)) {
		kvm__resume(kvm);
		__atomic_store_n(&user_paused, false, __ATOMIC_RELEASE);
		pr_warn("ipc: pause undone: its requester gave up waiting for it");
		ret = -ECANCELED;
	}
	pthread_mutex_unlock(&state_lock);
	if (ret == -EALREADY)
		return ipc__reply(fd, 0, "already paused") ?: IPC_REPLIED;
	if (ret == -ETIMEDOUT)
		return reply_stuck(fd, stuck);
	return ret;
}

static int ipc_resume(struct kvm *kvm, int fd, const void *p, u32 len)
{
	bool all, was;
	int ret = all_flag(fd, "resume", p, len, &all);

	if (ret)
		return ret;
	pthread_mutex_lock(&state_lock);
	/* It may have waited for state_lock behind a slow pause. */
	if (ipc__client_gone(fd)) {
		pthread_mutex_unlock(&state_lock);
		pr_warn("ipc: resume not done: its requester gave up waiting for it");
		return -ECANCELED;
	}
	if (held_resume && all) {
		pthread_mutex_unlock(&state_lock);
		return ipc__reply(fd, -EBUSY, "not resumed by --all: the last migration's outcome "
				  "is unknown; resume it by --name only if the destination does not "
				  "run it") ?: IPC_REPLIED;
	}
	if (held_resume) {
		char why[400];

		/* The user looked at the destination: the guest is ours again. */
		ret = held_resume(kvm, why, sizeof(why));
		if (ret) {
			pthread_mutex_unlock(&state_lock);
			return ipc__reply(fd, -EBUSY, "not resumed: %s; if the destination runs the "
					  "guest, 'lkvm stop' here", why) ?: IPC_REPLIED;
		}
		held_resume = NULL;
		state_held = false;
		if (user_paused) {
			kvm__resume(kvm);
			__atomic_store_n(&user_paused, false, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&state_lock);
		return ipc__reply(fd, 0, "resumed here (the last migration's outcome was "
				  "unknown)") ?: IPC_REPLIED;
	}
	if (state_held) {
		ret = reply_held(fd, "resume");
		pthread_mutex_unlock(&state_lock);
		return ret;
	}
	was = user_paused;
	if (was) {
		kvm__resume(kvm);
		__atomic_store_n(&user_paused, false, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&state_lock);
	if (!was)
		return ipc__reply(fd, 0, "not paused") ?: IPC_REPLIED;
	return 0;
}

bool kvm_ipc__hold_run_state(void)
{
	bool paused;

	pthread_mutex_lock(&state_lock);
	state_held = true;
	paused = user_paused;
	pthread_mutex_unlock(&state_lock);
	return paused;
}

void kvm_ipc__release_run_state(void)
{
	pthread_mutex_lock(&state_lock);
	state_held = false;
	pthread_mutex_unlock(&state_lock);
}

void kvm_ipc__hold_unknown(int (*resume)(struct kvm *kvm, char *why, size_t n))
{
	pthread_mutex_lock(&state_lock);
	held_resume = resume;
	pthread_mutex_unlock(&state_lock);
}

bool kvm_ipc__outcome_unknown(void)
{
	bool u;

	pthread_mutex_lock(&state_lock);
	u = held_resume != NULL;
	pthread_mutex_unlock(&state_lock);
	return u;
}

int kvm_ipc__pause_as_user(struct kvm *kvm)
{
	int ret;

	pthread_mutex_lock(&state_lock);
	ret = user_pause(kvm, 0, NULL);
	pthread_mutex_unlock(&state_lock);
	return ret == -EALREADY ? 0 : ret;
}

static int ipc_debug(struct kvm *kvm, int fd, const void *p, u32 len)
{
	char *text = NULL;
	size_t size = 0;
	u32 flags = IPC_DEBUG_REGS;
	bool no_page_map = false;
	FILE *out;
	int i, ret = 0, stuck = -1;

	if (len != 0 && len != sizeof(u32))
		return -EINVAL;
	if (len)
		memcpy(&flags, p, sizeof(flags));
	if (!flags)
		return ipc__reply(fd, -EINVAL, "debug flags 0 ask for nothing: 1 registers, "
				  "2 page map") ?: IPC_REPLIED;
	if (flags & ~(IPC_DEBUG_REGS | IPC_DEBUG_PAGE_MAP))
		return ipc__reply(fd, -EINVAL, "unknown debug flags 0x%x",
				  flags & ~(IPC_DEBUG_REGS | IPC_DEBUG_PAGE_MAP)) ?: IPC_REPLIED;
	if ((flags & IPC_DEBUG_PAGE_MAP) && !kvm->page_map) {
		if (!(flags & IPC_DEBUG_REGS))
			return ipc__reply(fd, -ENODEV, "page map not enabled") ?: IPC_REPLIED;
		/* --regs --page-map: the registers, then the failure of the rest. */
		flags &= ~IPC_DEBUG_PAGE_MAP;
		no_page_map = true;
	}

	out = open_memstream(&text, &size);
	if (!out)
		return -ENOMEM;
	/*
	 * Registers are only meaningful while the vCPU is out of KVM_RUN, so
	 * park them around the dump; the text goes to memory first so that a
	 * slow client never keeps the guest paused.
	 */
	pthread_mutex_lock(&state_lock);
	if (!user_paused)
		ret = kvm__pause_until(kvm, NULL, USER_PAUSE_TIMEOUT_MS, &stuck);
	if (!ret) {
		for (i = 0; (flags & IPC_DEBUG_REGS) && i < kvm->nr_cpus; i++) {
			if (!kvm->cpus[i])
				continue;
			fprintf(out, "--- vCPU %d ---\n", i);
			kvm_cpu__dump(kvm->cpus[i], out);
		}
		if (flags & IPC_DEBUG_PAGE_MAP) {
			fprintf(out, "--- page map ---\n");
			page_map__dump(kvm->page_map, out);
		}
		if (!user_paused)
			kvm__resume(kvm);
	}
	pthread_mutex_unlock(&state_lock);
	if (fclose(out) && !ret)
		ret = -ENOMEM;
	if (ret == -ETIMEDOUT) {
		free(text);
		return reply_stuck(fd, stuck);
	}
	if (!ret)
		ret = ipc__send_data(fd, text, size);
	free(text);
	if (!ret && no_page_map)
		return ipc__reply(fd, -ENODEV, "page map not enabled (the registers are above)") ?:
		       IPC_REPLIED;
	return ret;
}

/*
 * Called by ipc.c rather than by constructors here, so that anything
 * linking the server (a unit test from liblkvm.a) also gets these.
 */
void ipc_cmds__register(void)
{
	ipc__register_handler(IPC_MSG_INFO, ipc_info);
	ipc__register_handler(IPC_MSG_STOP, ipc_stop);
	ipc__register_guest_handler(IPC_MSG_PAUSE, ipc_pause);
	ipc__register_guest_handler(IPC_MSG_RESUME, ipc_resume);
	ipc__register_guest_handler(IPC_MSG_DEBUG, ipc_debug);
}
