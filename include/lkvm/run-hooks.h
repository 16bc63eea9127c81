/*
 * Steps of `lkvm run` that other modules own and that must happen at a
 * fixed point: after the kernel is loaded and vCPUs are reset, before the
 * first instruction (SEV launch, incoming migration, dropping capabilities).
 * They run in registration priority order; a negative return aborts the run.
 */
#ifndef LKVM__RUN_HOOKS_H
#define LKVM__RUN_HOOKS_H

struct kvm;

enum run_hook_prio {
	/*
	 * The name first: a second `lkvm run --name N` is refused before
	 * anything else (an SEV launch consumes the owner's secret), and the
	 * instance can be listed and stopped while the steps below wait.
	 */
	RUN_HOOK_IPC = 5,		/* control socket up */
	RUN_HOOK_SEV_LAUNCH = 10,	/* encrypt + measure the loaded image */
	RUN_HOOK_INCOMING_LISTEN = 20,	/* bind the migration port (may be < 1024) */
	RUN_HOOK_DROP_CAPS = 90,	/* nothing privileged after this */
	RUN_HOOK_INCOMING = 95,		/* receive a migrated guest, unprivileged */
};

struct run_hook {
	const char *name;
	int prio;
	int (*fn)(struct kvm *kvm);
	struct run_hook *next;
};

void run_hooks__register(struct run_hook *h);
int run_hooks__before_start(struct kvm *kvm);

#define run_hook_register(_h)						\
	static void __attribute__((constructor)) __run_hook_##_h(void)	\
	{ run_hooks__register(&_h); }

#endif
