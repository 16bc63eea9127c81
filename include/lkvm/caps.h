/*
 * Dropping privileges once the VM is set up.  Everything lkvm needs root
 * for (opening /dev/kvm, /dev/sev, tap devices, binding a low port) happens
 * during start-up; afterwards the process keeps only its open fds.
 *
 * Linux capabilities are per thread: call caps__drop_all() on the main
 * thread after kvm__init_all() and before creating vCPU or other threads
 * (they inherit the empty sets).  A thread created earlier must call it
 * itself (the IPC accept thread does).
 */
#ifndef LKVM__CAPS_H
#define LKVM__CAPS_H

/*
 * Clear the effective, permitted, inheritable and ambient sets of the
 * calling thread except for the capabilities in keep[] (CAP_* numbers from
 * <linux/capability.h>), drop the rest of the bounding set where we are
 * allowed to (needs CAP_SETPCAP), and set PR_SET_NO_NEW_PRIVS so no exec
 * can regain anything.  Returns 0 or -errno; an unprivileged process has
 * nothing to drop and gets 0.
 */
int caps__drop_except(const int *keep, int nr_keep);
static inline int caps__drop_all(void) { return caps__drop_except((const int *)0, 0); }

/* The calling thread's effective set as a bit mask (bit n = CAP n), for tests. */
unsigned long long caps__effective(void);

#endif
