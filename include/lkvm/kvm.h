/*
 * The virtual machine: /dev/kvm and VM fds, guest memory banks, vCPUs and
 * the run state.  kvm.c owns this; everything else reaches guest memory
 * through the accessors at the bottom, never by adding host pointers to
 * guest addresses on its own.
 */
#ifndef LKVM__KVM_H
#define LKVM__KVM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "lkvm/util.h"

#define KVM_MAX_MEM_BANKS	4
#define KVM_MAX_VCPUS		64

/* x86 layout: RAM from 0 up to the 32-bit PCI hole, the rest above 4 GiB. */
#define KVM_32BIT_GAP_START	0xc0000000ULL
#define KVM_32BIT_GAP_SIZE	0x40000000ULL

enum kvm_mem_type {
	KVM_MEM_TYPE_RAM = 1,
};

struct kvm_mem_bank {
	u64 guest_phys_addr;
	u64 size;
	void *host_addr;
	u32 slot;
	enum kvm_mem_type type;
	u64 page_base;		/* index of this bank's first page over all banks */
};

enum kvm_sev_mode {
	SEV_MODE_NONE,
	SEV_MODE_HARDWARE,	/* --sev : /dev/sev + KVM_MEMORY_ENCRYPT_OP */
	SEV_MODE_EMULATED,	/* --sev=emulated : the software firmware model */
};

struct kvm_config {
	const char *kernel_filename;
	const char *initrd_filename;
	const char *kernel_cmdline;
	const char *name;		/* instance name (control socket) */
	const char *console;		/* "serial" (default) or "virtio" */
	u64 ram_size;
	int nr_cpus;
	struct cpuid_mask_bit {		/* --cpuid-mask: bits hidden from the guest */
		u32 leaf, subleaf;
		u8 reg;			/* 0 eax, 1 ebx, 2 ecx, 3 edx */
		u8 bit;
		bool any_subleaf;
	} cpuid_masks[64];
	int nr_cpuid_masks;
	u64 tsc_khz;			/* --tsc-khz: guest TSC rate; 0 = the host's */
	bool page_map;			/* --page-map: hypercall/MSR interface on */
	enum kvm_sev_mode sev_mode;
	const char *incoming;		/* --incoming [ADDR:]PORT */
	bool no_prefault;		/* --no-prefault: leave incoming RAM lazy */
	const char *incoming_key;	/* --incoming-key FILE: take only a stream sealed with it */
	bool mig_keyed;			/* mig_key holds that file's master key */
	u8 mig_key[32];			/* MIG_KEY_SIZE (migration/crypt.c) */
	bool debug_ioport;		/* test-only doorbells on port 0xe0-0xef */
};

struct kvm_cpu;
struct page_map;
struct sev_guest;

struct kvm {
	int sys_fd;			/* /dev/kvm */
	int vm_fd;
	int vm_type;
	long kvm_run_size;
	u32 dirty_ring_bytes;		/* per vCPU; 0 = no dirty ring */
	struct kvm_config cfg;

	struct kvm_mem_bank mem_banks[KVM_MAX_MEM_BANKS];
	int nr_mem_banks;
	u64 ram_size;
	u64 nr_pages;			/* 4 KiB pages over all banks */

	int nr_cpus;
	struct kvm_cpu *cpus[KVM_MAX_VCPUS];
	/*
	 * The guest's TSC rate in kHz (0: unknown), read as vCPU 0 was made or
	 * taken from a migration's source: KVM_GET_TSC_KHZ is a vCPU ioctl,
	 * which waits for a vCPU in KVM_RUN, forever for a halted one.
	 */
	u32 tsc_khz;

	/* Boot: filled by the kernel loader, consumed by vCPU reset. */
	u64 boot_entry;			/* guest physical entry point */
	u64 boot_info;			/* start_info / boot_params address */
	int boot_mode;			/* KVM_BOOT_PVH, KVM_BOOT_BZIMAGE */
	u16 boot_cs, boot_ip, boot_sp;	/* real-mode entry for bzImage */

	struct kvm_loaded_range *loaded;	/* see kvm__load_bytes() */
	int nr_loaded;

	struct page_map *page_map;	/* shared/private map, or NULL */
	/*
	 * Set (kvm__refuse_run(), under run_lock) when the guest may never run
	 * again here (SEV: sent away); kvm__resume refuses.
	 */
	const char *run_refused;
	struct sev_guest *sev;		/* SEV launch/migration state, or NULL */

	/* Run state (kvm-cpu.c): who stops the VM and with what status. */
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	bool stopping;
	bool paused;
	int exit_status;		/* 0 = reset/poweroff, else failure */
	const char *exit_reason;
	/*
	 * --incoming: true until the guest has arrived (or failed to); the
	 * control socket then answers list and stop only.  stop_notify, set
	 * under run_lock, is called by kvm__request_stop() so that a thread
	 * blocked outside KVM (waiting for a migration) notices the stop.
	 */
	bool incoming_wait;
	void (*stop_notify)(struct kvm *kvm);
	/* The before-start steps are running: no guest to pause or debug yet. */
	bool starting;
	bool vcpus_go;			/* every vCPU thread exists; under run_lock */
};

enum { KVM_BOOT_PVH = 1, KVM_BOOT_BZIMAGE = 2 };

static inline bool kvm__incoming_wait(struct kvm *kvm)
{
	return __atomic_load_n(&kvm->incoming_wait, __ATOMIC_ACQUIRE);
}

static inline bool kvm__starting(struct kvm *kvm)
{
	return __atomic_load_n(&kvm->starting, __ATOMIC_ACQUIRE);
}

/*
 * A stop was requested (kvm__request_stop(), under run_lock).  For a look
 * from outside the lock; code that needs the stop's status with it takes
 * run_lock instead.
 */
static inline bool kvm__stopping(struct kvm *kvm)
{
	return __atomic_load_n(&kvm->stopping, __ATOMIC_ACQUIRE);
}

/* Guest memory.  All return NULL / -EFAULT outside RAM or across banks. */
struct kvm_mem_bank *kvm__find_bank(struct kvm *kvm, u64 gpa, u64 len);
void *guest_flat_to_host(struct kvm *kvm, u64 gpa, u64 len);
/* Page index over all banks (bank->page_base + offset), or -1. */
s64 kvm__gpa_to_page(struct kvm *kvm, u64 gpa);
u64 kvm__page_to_gpa(struct kvm *kvm, u64 page);

/*
 * The checked accessors for VMM code that reads or writes guest memory at
 * run time (devices, diagnostics).  With SEV on, a range that touches a
 * page the page map says is private is refused with -EPERM: on hardware
 * the VMM would see ciphertext there, so it must never rely on it.
 */
int kvm__read_guest(struct kvm *kvm, u64 gpa, void *buf, size_t len);
int kvm__write_guest(struct kvm *kvm, u64 gpa, const void *buf, size_t len);
void *kvm__shared_ptr(struct kvm *kvm, u64 gpa, u64 len);

int kvm__register_ram(struct kvm *kvm, u64 gpa, u64 size, void *host);

/*
 * Loaders place every byte of the initial guest image (kernel, initrd,
 * boot tables, BIOS, command line) with kvm__load_bytes() or, when they
 * build a structure in place, kvm__load_mark().  Both record the range in
 * kvm->loaded[] in call order: that list is exactly what SEV
 * LAUNCH_UPDATE_DATA encrypts and measures, and what `lkvm sev measure`
 * replays offline, so nothing may be written to guest memory before the
 * first instruction by any other path.
 */
struct kvm_loaded_range {
	u64 gpa;
	u64 len;
};
int kvm__load_bytes(struct kvm *kvm, u64 gpa, const void *src, u64 len);
int kvm__load_mark(struct kvm *kvm, u64 gpa, u64 len);

/*
 * The -k and -i files as loader messages name them, "kernel '%s': ...",
 * so that a refusal says which file; the unit tests and fuzzers load
 * images from memory, with no name.
 */
static inline const char *kvm__kernel_file(const struct kvm *kvm)
{
	return kvm->cfg.kernel_filename ?: "(in memory)";
}

static inline const char *kvm__initrd_file(const struct kvm *kvm)
{
	return kvm->cfg.initrd_filename ?: "(in memory)";
}

int kvm__init(struct kvm *kvm);		/* memory + VM + irqchip + PIT */
int kvm__init_memory(struct kvm *kvm);	/* memory only (offline tools) */
int kvm__alloc_ram(struct kvm *kvm);
void kvm__exit(struct kvm *kvm);
int kvm__check_cap(struct kvm *kvm, long ext);
int kvm__set_memslot(struct kvm *kvm, struct kvm_mem_bank *bank, bool log_dirty);
int kvm__irq_line(struct kvm *kvm, int irq, int level);
/* True if any page of [gpa, gpa+len) is private (SEV); the page map provides it. */
bool kvm__range_private(struct kvm *kvm, u64 gpa, u64 len);

/* Stop the VM: first caller's status wins (race-free shutdown). */
void kvm__request_stop(struct kvm *kvm, int status, const char *reason);
/* All vCPUs out of KVM_RUN, parked; given up (and undone) on *cancel or after
 * timeout_ms (0: never): -ECANCELED, -ETIMEDOUT, *stuck = a vCPU that had not
 * parked. */
int kvm__pause_until(struct kvm *kvm, const atomic_bool *cancel, u32 timeout_ms, int *stuck);
void kvm__pause_wake(struct kvm *kvm);	/* a waiting kvm__pause_until() checks *cancel */
void kvm__resume(struct kvm *kvm);
/* From now on kvm__resume() refuses, saying why: the guest lives elsewhere. */
void kvm__refuse_run(struct kvm *kvm, const char *why);
bool kvm__is_paused(struct kvm *kvm);
/*
 * Give the vCPUs only (100 - pct)% of the time (auto-converge); 0 ends it
 * and wakes them at once.  pct up to 99.  -ESHUTDOWN while stopping.
 */
int kvm__throttle(struct kvm *kvm, u32 pct);

#endif
