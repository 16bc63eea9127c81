/*
 * Self-registering subsystems, as in kvmtool: a device adds its init and
 * exit functions to an ordered level with one line next to the function.
 * kvm__init_all() runs the levels in order; kvm__exit_all() unwinds only
 * what was initialised, in reverse.
 */
#ifndef LKVM__INIT_H
#define LKVM__INIT_H

#include <stdbool.h>

struct kvm;

enum init_level {
	INIT_CORE,	/* VM, memory, irqchip */
	INIT_BASE,	/* arch base: cpuid, legacy firmware tables */
	INIT_DEV_BASE,	/* buses: PCI, IO port space */
	INIT_DEV,	/* devices */
	INIT_VIRTIO,
	INIT_FIRMWARE,	/* unused today: the kernel loads before kvm__init_all(), SEV launches in a run hook */
	INIT_LATE,	/* things that want everything else present */
	INIT_NR_LEVELS,
};

struct init_item {
	const char *name;
	int (*init)(struct kvm *kvm);	/* NULL: nothing to set up, only the exit */
	int (*exit)(struct kvm *kvm);
	enum init_level level;
	struct init_item *next;
	bool done;
};

void init__register(struct init_item *item);
int kvm__init_all(struct kvm *kvm);
void kvm__exit_all(struct kvm *kvm);

#define __lkvm_init(_lvl, _init, _exit)					\
	static struct init_item __init_item_##_init = {			\
		.name = #_init, .init = _init, .exit = _exit,		\
		.level = _lvl };					\
	static void __attribute__((constructor)) __init_reg_##_init(void) \
	{ init__register(&__init_item_##_init); }

#define core_init(fn, ex)	__lkvm_init(INIT_CORE, fn, ex)
#define base_init(fn, ex)	__lkvm_init(INIT_BASE, fn, ex)
#define dev_base_init(fn, ex)	__lkvm_init(INIT_DEV_BASE, fn, ex)
#define dev_init(fn, ex)	__lkvm_init(INIT_DEV, fn, ex)
#define virtio_dev_init(fn, ex)	__lkvm_init(INIT_VIRTIO, fn, ex)
#define firmware_init(fn, ex)	__lkvm_init(INIT_FIRMWARE, fn, ex)
#define late_init(fn, ex)	__lkvm_init(INIT_LATE, fn, ex)

/* Only an exit (a teardown step ordered like the rest), no init. */
#define __lkvm_exit(_lvl, _exit)					\
	static struct init_item __exit_item_##_exit = {			\
		.name = #_exit, .exit = _exit, .level = _lvl };		\
	static void __attribute__((constructor)) __exit_reg_##_exit(void) \
	{ init__register(&__exit_item_##_exit); }

#define late_exit(ex)		__lkvm_exit(INIT_LATE, ex)

#endif
