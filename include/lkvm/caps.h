/*
 * Dropping privileges once the VM is set up.  Everything lkvm needs root
 * for (opening /dev/kvm, /dev/sev, tap devices, binding a low port) happens
 * during start-up; afterwards the process keeps only its open fds.
 *
 * caps.c registers caps__drop_all() as the last before-start run hook
 * (RUN_HOOK_DROP_CAPS), so `lkvm run` needs no call.
 *
 * Linux capabilities belong to threads, not processes, so the drop is
 * done by every thread: the caller, then each other thread through the
 * SIGLKVM_CAPS signal, and checked afterwards in /proc/self/task/.
 * Threads must not block SIGLKVM_CAPS.
 */
#ifndef LKVM__CAPS_H
#define LKVM__CAPS_H

#include <signal.h>

#define SIGLKVM_CAPS	(SIGRTMIN + 1)

/*
 * Clear the effective, permitted, inheritable and ambient sets of every
 * thread except for the capabilities in keep[] (CAP_* numbers from
 * <linux/capability.h>), drop the rest of the bounding set where we are
 * allowed to (needs CAP_SETPCAP), and set PR_SET_NO_NEW_PRIVS so no exec
 * can regain anything.  Returns 0 or -errno; an unprivileged process has
 * nothing to drop and gets 0.
 */
int caps__drop_except(const int *keep, int nr_keep);
int caps__drop_all(void);

/* The calling thread's effective set as a bit mask (bit n = CAP n), for tests. */
unsigned long long caps__effective(void);

#endif
