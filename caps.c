/*
 * Giving up capabilities after start-up (include/lkvm/caps.h).
 *
 * Order matters: the bounding set can only be shrunk while CAP_SETPCAP is
 * still effective, so it goes first and the process sets go last.  Every
 * thread has its own sets, so the calling thread computes the final state
 * and then has each other thread apply it to itself from a signal handler
 * (prctl and capset are plain system calls, safe there).  Threads created
 * afterwards inherit the empty sets.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "lkvm/caps.h"
#include "lkvm/run-hooks.h"
#include "lkvm/util.h"

/* What every thread must end up with; filled before any signal is sent. */
static struct __user_cap_header_struct target_hdr;
static struct __user_cap_data_struct target[_LINUX_CAPABILITY_U32S_3];
static u64 drop_bound;			/* bit n: drop CAP n from the bounding set */
static int nr_done, nr_failed;

static bool kept(int cap, const int *keep, int nr)
{
	for (int i = 0; i < nr; i++)
		if (keep[i] == cap)
			return true;
	return false;
}

/* The same steps on the calling thread with raw system calls only. */
static int apply_target(void)
{
	int ret = 0;

	for (int c = 0; c < 64; c++)
		if ((drop_bound >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			ret = -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &target_hdr, target) < 0)
		ret = -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		ret = -1;
	return ret;
}

static void caps_signal(int sig)
{
	int saved = errno;

	__atomic_add_fetch(apply_target() ? &nr_failed : &nr_done, 1, __ATOMIC_SEQ_CST);
	errno = saved;
}

/*
 * Kernel-created workers in our thread group (KVM's NX-huge-page recovery
 * thread on recent kernels) take no signals and never run user code:
 * their credentials cannot be changed by us and do not matter.
 */
#define PF_KTHREAD_FLAG		0x00200000
#define PF_USER_WORKER_FLAG	0x00004000

static bool kernel_worker(const char *tid)
{
	char path[64], buf[512], *p;
	unsigned long flags = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%s/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* comm may hold spaces and ')': the fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & (PF_KTHREAD_FLAG | PF_USER_WORKER_FLAG);
}

#if defined(__SANITIZE_THREAD__)
#define LKVM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LKVM_TSAN 1
#endif
#endif

#ifdef LKVM_TSAN
/*
 * Only in a ThreadSanitizer build (make build/tsan/lkvm): the runtime's
 * background thread never runs our code and blocks every signal it can
 * (GCC's and clang's runtimes leave a few of glibc's and SIGSYS open), so
 * it cannot take SIGLKVM_CAPS.  No thread of ours blocks SIGSEGV or
 * SIGBUS; one that blocked SIGLKVM_CAPS alone still fails the drop.
 */
static bool sanitizer_thread(const char *status_line)
{
	unsigned long long blk, want = 1ULL << (SIGSEGV - 1) | 1ULL << (SIGBUS - 1) |
				       1ULL << (SIGTERM - 1) | 1ULL << (SIGLKVM_CAPS - 1);

	return sscanf(status_line, "SigBlk: %llx", &blk) == 1 && (blk & want) == want;
}
#else
static bool sanitizer_thread(const char *status_line)
{
	return false;
}
#endif

/* Does thread tid still hold more than the target (CapEff / CapPrm)? */
static bool thread_has_extra(const char *tid)
{
	u64 want = target[0].permitted | (u64)target[1].permitted << 32;
	char path[64], line[128];
	bool extra = false, ours = true;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%s/status", tid);
	if (kernel_worker(tid))
		return false;
	f = fopen(path, "r");
	if (!f)
		return false;		/* exited */
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if ((sscanf(line, "CapEff: %llx", &v) == 1 || sscanf(line, "CapPrm: %llx", &v) == 1) &&
		    (v & ~want))
			extra = true;
		if (sanitizer_thread(line))
			ours = false;
	}
	fclose(f);
	return extra && ours;
}

/*
 * Signal every other thread that still has capabilities and wait for them.
 * Returns how many threads still hold extra capabilities afterwards.
 */
static int drop_other_threads(void)
{
	pid_t self = syscall(SYS_gettid);
	int round, left = 0;

	for (round = 0; round < 3; round++) {
		int sent = 0, base;
		struct dirent *de;
		u64 end;
		DIR *d;

		base = __atomic_load_n(&nr_done, __ATOMIC_SEQ_CST) +
		       __atomic_load_n(&nr_failed, __ATOMIC_SEQ_CST);
		d = opendir("/proc/self/task");
		if (!d)
			return -errno;
		while ((de = readdir(d))) {
			pid_t tid = atoi(de->d_name);

			if (tid <= 0 || tid == self || !thread_has_extra(de->d_name))
				continue;
			if (syscall(SYS_tgkill, getpid(), tid, SIGLKVM_CAPS) == 0)
				sent++;
		}
		closedir(d);
		end = now_ns() + 1000000000ULL;
		while (__atomic_load_n(&nr_done, __ATOMIC_SEQ_CST) +
		       __atomic_load_n(&nr_failed, __ATOMIC_SEQ_CST) - base < sent &&
		       now_ns() < end)
			usleep(1000);

		/* Check what the kernel says, not what the handlers said. */
		left = 0;
		d = opendir("/proc/self/task");
		if (!d)
			return -errno;
		while ((de = readdir(d))) {
			pid_t tid = atoi(de->d_name);

			if (tid > 0 && tid != self && thread_has_extra(de->d_name)) {
				left++;
				if (round == 2)
					pr_err("caps: thread %d kept capabilities (is SIGRTMIN+1 blocked?)",
					       tid);
			}
		}
		closedir(d);
		if (!left)
			break;
	}
	return left;
}

int caps__drop_except(const int *keep, int nr_keep)
{
	cap_value_t last = cap_max_bits();	/* number of caps the kernel knows */
	bool setpcap = caps__effective() & (1ULL << CAP_SETPCAP);
	struct sigaction sa = { .sa_handler = caps_signal, .sa_flags = SA_RESTART };
	int ret;

	drop_bound = 0;
	memset(target, 0, sizeof(target));
	for (cap_value_t c = 0; c < last && c < 64; c++) {
		if (kept(c, keep, nr_keep)) {
			target[c / 32].effective |= 1U << (c % 32);
			target[c / 32].permitted |= 1U << (c % 32);
		} else if (setpcap && CAP_IS_SUPPORTED(c)) {
			/* Without CAP_SETPCAP the bounding set cannot change: fine. */
			drop_bound |= 1ULL << c;
		}
	}
	target_hdr.version = _LINUX_CAPABILITY_VERSION_3;
	target_hdr.pid = 0;

	/* Other threads first: they need our handler, not our capabilities. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGLKVM_CAPS, &sa, NULL) < 0)
		return -errno;
	ret = drop_other_threads();
	if (ret > 0) {
		pr_err("caps: %d thread(s) could not drop their capabilities", ret);
		ret = -EPERM;
	}
	if (apply_target() < 0 && !ret) {
		ret = -errno;
		pr_err("caps: cannot drop capabilities: %s", strerror(errno));
	}
	return ret;
}

int caps__drop_all(void)
{
	return caps__drop_except(NULL, 0);
}

unsigned long long caps__effective(void)
{
	unsigned long long mask = 0;
	cap_t caps = cap_get_proc();

	if (!caps)
		return 0;
	for (cap_value_t c = 0; c < 64 && CAP_IS_SUPPORTED(c); c++) {
		cap_flag_value_t v;

		if (!cap_get_flag(caps, c, CAP_EFFECTIVE, &v) && v == CAP_SET)
			mask |= 1ULL << c;
	}
	cap_free(caps);
	return mask;
}

/*
 * Last step before the first guest instruction: nothing after this may
 * need a privilege (see docs/ipc.md for what that rules out).
 */
static int drop_caps_hook(struct kvm *kvm)
{
	int ret = caps__drop_all();

	if (ret)
		pr_err("cannot drop capabilities (%s): refusing to run the guest privileged",
		       strerror(-ret));
	return ret;
}

static struct run_hook caps_run_hook = {
	.name = "drop capabilities",
	.prio = RUN_HOOK_DROP_CAPS,
	.fn = drop_caps_hook,
};
run_hook_register(caps_run_hook);
