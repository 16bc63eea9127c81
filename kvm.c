/*
 * The VM: /dev/kvm, the VM fd, the in-kernel irqchip and PIT, guest RAM
 * banks, the loaded-range record and run-state transitions (stop, pause).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/init.h"

/* Addresses the VMX/PVM backends need for their real-mode helpers. */
#define KVM_TSS_ADDR		0xfffbd000ULL
#define KVM_IDENTITY_MAP_ADDR	0xfffbc000ULL

/* 1 MiB of dirty-ring entries per vCPU: the largest KVM allows here. */
#define KVM_DIRTY_RING_BYTES	(1u << 20)

static int kvm__check_extension(struct kvm *kvm, long ext)
{
	int r = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, ext);

	return r < 0 ? 0 : r;
}

int kvm__check_cap(struct kvm *kvm, long ext)
{
	int r = -1;

	if (kvm->vm_fd >= 0)
		r = ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, ext);
	if (r < 0)
		r = kvm__check_extension(kvm, ext);
	return r < 0 ? 0 : r;
}

/*
 * Guest RAM layout (x86): [0, min(ram, 3 GiB)) and, for larger guests, the
 * rest from 4 GiB up, leaving the 32-bit PCI hole free for device BARs.
 */
int kvm__alloc_ram(struct kvm *kvm)
{
	u64 low = min(kvm->cfg.ram_size, KVM_32BIT_GAP_START);
	u64 high = kvm->cfg.ram_size - low;
	int ret;

	ret = kvm__register_ram(kvm, 0, low, NULL);
	if (ret)
		return ret;
	if (high)
		ret = kvm__register_ram(kvm, KVM_32BIT_GAP_START + KVM_32BIT_GAP_SIZE,
					high, NULL);
	return ret;
}

int kvm__register_ram(struct kvm *kvm, u64 gpa, u64 size, void *host)
{
	struct kvm_mem_bank *bank;

	if (kvm->nr_mem_banks >= KVM_MAX_MEM_BANKS)
		return -ENOSPC;
	if (!IS_ALIGNED(gpa, PAGE_SIZE) || !IS_ALIGNED(size, PAGE_SIZE) || !size)
		return -EINVAL;
	if (!host) {
		/* NORESERVE: a 64 GiB guest that touches 100 MiB costs 100 MiB. */
		host = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (host == MAP_FAILED)
			return -errno;
		madvise(host, size, MADV_DONTDUMP);
	}
	bank = &kvm->mem_banks[kvm->nr_mem_banks];
	bank->guest_phys_addr = gpa;
	bank->size = size;
	bank->host_addr = host;
	bank->slot = kvm->nr_mem_banks;
	bank->type = KVM_MEM_TYPE_RAM;
	bank->page_base = kvm->nr_pages;
	kvm->nr_pages += size >> PAGE_SHIFT;
	kvm->ram_size += size;
	kvm->nr_mem_banks++;
	return 0;
}

int kvm__set_memslot(struct kvm *kvm, struct kvm_mem_bank *bank, bool log_dirty)
{
	struct kvm_userspace_memory_region r = {
		.slot = bank->slot,
		.flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = bank->guest_phys_addr,
		.memory_size = bank->size,
		.userspace_addr = (u64)(unsigned long)bank->host_addr,
	};

	if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	return 0;
}

struct kvm_mem_bank *kvm__find_bank(struct kvm *kvm, u64 gpa, u64 len)
{
	int i;

	for (i = 0; i < kvm->nr_mem_banks; i++) {
		struct kvm_mem_bank *b = &kvm->mem_banks[i];

		if (gpa >= b->guest_phys_addr && gpa - b->guest_phys_addr < b->size &&
		    len <= b->size - (gpa - b->guest_phys_addr))
			return b;
	}
	return NULL;
}

void *guest_flat_to_host(struct kvm *kvm, u64 gpa, u64 len)
{
	struct kvm_mem_bank *b = kvm__find_bank(kvm, gpa, len);

	if (!b)
		return NULL;
	return (u8 *)b->host_addr + (gpa - b->guest_phys_addr);
}

s64 kvm__gpa_to_page(struct kvm *kvm, u64 gpa)
{
	struct kvm_mem_bank *b = kvm__find_bank(kvm, gpa, 1);

	if (!b)
		return -1;
	return b->page_base + ((gpa - b->guest_phys_addr) >> PAGE_SHIFT);
}

u64 kvm__page_to_gpa(struct kvm *kvm, u64 page)
{
	int i;

	for (i = 0; i < kvm->nr_mem_banks; i++) {
		struct kvm_mem_bank *b = &kvm->mem_banks[i];

		if (page >= b->page_base && page - b->page_base < (b->size >> PAGE_SHIFT))
			return b->guest_phys_addr + ((page - b->page_base) << PAGE_SHIFT);
	}
	return ~0ULL;
}

/*
 * The single policy point for "may the VMM look at these guest bytes".
 * Without SEV every RAM byte is fair game.  With SEV only pages the guest
 * declared shared are (kvm__range_private() in page-map.c).
 */
static bool access_allowed(struct kvm *kvm, u64 gpa, u64 len)
{
	if (kvm->cfg.sev_mode == SEV_MODE_NONE)
		return true;
	return !kvm__range_private(kvm, gpa, len);
}

void *kvm__shared_ptr(struct kvm *kvm, u64 gpa, u64 len)
{
	void *p = guest_flat_to_host(kvm, gpa, len);

	if (!p || !access_allowed(kvm, gpa, len))
		return NULL;
	return p;
}

int kvm__read_guest(struct kvm *kvm, u64 gpa, void *buf, size_t len)
{
	void *p = guest_flat_to_host(kvm, gpa, len);

	if (!p)
		return -EFAULT;
	if (!access_allowed(kvm, gpa, len))
		return -EPERM;
	memcpy(buf, p, len);
	return 0;
}

int kvm__write_guest(struct kvm *kvm, u64 gpa, const void *buf, size_t len)
{
	void *p = guest_flat_to_host(kvm, gpa, len);

	if (!p)
		return -EFAULT;
	if (!access_allowed(kvm, gpa, len))
		return -EPERM;
	memcpy(p, buf, len);
	return 0;
}

int kvm__load_mark(struct kvm *kvm, u64 gpa, u64 len)
{
	struct kvm_loaded_range *r;

	if (!len)
		return 0;
	if (!guest_flat_to_host(kvm, gpa, len))
		return -EFAULT;
	if (kvm->nr_loaded) {
		r = &kvm->loaded[kvm->nr_loaded - 1];
		if (r->gpa + r->len == gpa) {
			r->len += len;
			return 0;
		}
	}
	r = realloc(kvm->loaded, (kvm->nr_loaded + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	kvm->loaded = r;
	kvm->loaded[kvm->nr_loaded].gpa = gpa;
	kvm->loaded[kvm->nr_loaded].len = len;
	kvm->nr_loaded++;
	return 0;
}

int kvm__load_bytes(struct kvm *kvm, u64 gpa, const void *src, u64 len)
{
	void *dst = guest_flat_to_host(kvm, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return kvm__load_mark(kvm, gpa, len);
}

/*
 * Say what the device allows and what to do: on a host where /dev/kvm is
 * root:root 0600 there is no 'kvm' group to join yet (README: Host
 * requirements has the steps).
 */
static void kvm_access_denied(void)
{
	struct stat st;
	struct group *g;

	if (stat("/dev/kvm", &st)) {
		pr_err("/dev/kvm: permission denied");
		return;
	}
	g = getgrgid(st.st_gid);
	if (g && !strcmp(g->gr_name, "kvm") && (st.st_mode & 0060) == 0060)
		pr_err("/dev/kvm: permission denied (group kvm, mode %04o): add yourself to "
		       "the 'kvm' group (usermod -aG kvm USER, then log in again) or run as root",
		       st.st_mode & 07777);
	else
		pr_err("/dev/kvm: permission denied (owner uid %u, group %s, mode %04o): give "
		       "it to a 'kvm' group with mode 0660 and join it (README: Host "
		       "requirements), or run as root", st.st_uid, g ? g->gr_name : "?",
		       st.st_mode & 07777);
}

static int kvm__create_vm(struct kvm *kvm)
{
	int ret, i;

	kvm->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm->sys_fd < 0) {
		ret = -errno;
		if (errno == ENOENT)
			pr_err("/dev/kvm does not exist: load the kvm module (modprobe kvm_amd or kvm_intel)");
		else if (errno == EACCES)
			kvm_access_denied();
		else
			pr_err("/dev/kvm: %s", strerror(errno));
		return ret;
	}
	ret = ioctl(kvm->sys_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		pr_err("KVM API version %d, lkvm needs %d", ret, KVM_API_VERSION);
		return -EINVAL;
	}
	kvm->kvm_run_size = ioctl(kvm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->kvm_run_size <= 0) {
		pr_err("KVM_GET_VCPU_MMAP_SIZE failed");
		return -EINVAL;
	}

	kvm->vm_fd = ioctl(kvm->sys_fd, KVM_CREATE_VM, kvm->vm_type);
	if (kvm->vm_fd < 0) {
		ret = -errno;
		pr_err("KVM_CREATE_VM(type %d): %s", kvm->vm_type, strerror(errno));
		return ret;
	}
	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
		pr_debug("KVM_SET_TSS_ADDR: %s", strerror(errno));
	{
		u64 idmap = KVM_IDENTITY_MAP_ADDR;

		if (ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
			pr_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	}

	/*
	 * The dirty ring must be enabled before any vCPU exists.  It costs
	 * nothing until a memslot asks for dirty logging (migration), and it is
	 * the only dirty tracking that works on software KVM hosts.
	 */
	if (kvm__check_cap(kvm, KVM_CAP_DIRTY_LOG_RING) >= (int)KVM_DIRTY_RING_BYTES) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_DIRTY_LOG_RING,
			.args = { KVM_DIRTY_RING_BYTES },
		};

		if (ioctl(kvm->vm_fd, KVM_ENABLE_CAP, &cap) == 0)
			kvm->dirty_ring_bytes = KVM_DIRTY_RING_BYTES;
		else
			pr_debug("dirty ring: %s; using the dirty bitmap", strerror(errno));
	}

	if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP) < 0) {
		ret = -errno;
		pr_err("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return ret;
	}
	{
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

		if (ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
			ret = -errno;
			pr_err("KVM_CREATE_PIT2: %s", strerror(errno));
			return ret;
		}
	}

	for (i = 0; i < kvm->nr_mem_banks; i++) {
		ret = kvm__set_memslot(kvm, &kvm->mem_banks[i], false);
		if (ret) {
			pr_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/*
 * Memory-only init is what `lkvm sev measure` uses to replay the loaders
 * without /dev/kvm; kvm__init() adds the VM on top.
 */
int kvm__init_memory(struct kvm *kvm)
{
	pthread_condattr_t attr;

	kvm->sys_fd = kvm->vm_fd = -1;
	pthread_mutex_init(&kvm->run_lock, NULL);
	/* Monotonic: a throttled vCPU's timed sleep must not follow the wall clock. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&kvm->run_cond, &attr);
	pthread_condattr_destroy(&attr);
	return kvm__alloc_ram(kvm);
}

int kvm__init(struct kvm *kvm)
{
	int ret = kvm__init_memory(kvm);

	if (ret) {
		pr_err("cannot allocate %llu MiB of guest memory: %s",
		       (unsigned long long)(kvm->cfg.ram_size >> 20), strerror(-ret));
		return ret;
	}
	return kvm__create_vm(kvm);
}

void kvm__exit(struct kvm *kvm)
{
	int i;

	for (i = 0; i < kvm->nr_mem_banks; i++)
		munmap(kvm->mem_banks[i].host_addr, kvm->mem_banks[i].size);
	kvm->nr_mem_banks = 0;
	free(kvm->loaded);
	kvm->loaded = NULL;
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->sys_fd >= 0)
		close(kvm->sys_fd);
	kvm->vm_fd = kvm->sys_fd = -1;
}

int kvm__irq_line(struct kvm *kvm, int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (ioctl(kvm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		return -errno;
	return 0;
}
