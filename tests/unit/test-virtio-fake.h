/*
 * A stand-in for the VM in the virtio unit tests: guest RAM is a malloc'd
 * buffer, MMIO and port registrations go into a table the test dispatches
 * through, and a "private" page range plays the part of SEV-encrypted memory.
 * Defining these symbols here keeps kvm.c (and /dev/kvm) out of the tests.
 */
#ifndef LKVM_TEST_VIRTIO_FAKE_H
#define LKVM_TEST_VIRTIO_FAKE_H

#include <errno.h>

#include "lkvm/ioport.h"
#include "lkvm/kvm.h"

#define FAKE_RAM_BASE	0x0ULL
#define FAKE_RAM_SIZE	(4ULL << 20)

static u8 *fake_ram;
static u64 fake_priv_start, fake_priv_end;	/* [start, end) refused */
static struct {
	u64 base, len;
	kvm_io_fn fn;
	void *ptr;
	bool pio;
} fake_io[64];
static int fake_nr_io;
static int fake_stops;

void *guest_flat_to_host(struct kvm *kvm, u64 gpa, u64 len);
void *guest_flat_to_host(struct kvm *kvm, u64 gpa, u64 len)
{
	if (!fake_ram || len > FAKE_RAM_SIZE || gpa > FAKE_RAM_SIZE - len)
		return NULL;
	return fake_ram + gpa;
}

void *kvm__shared_ptr(struct kvm *kvm, u64 gpa, u64 len)
{
	if (gpa < fake_priv_end && gpa + len > fake_priv_start)
		return NULL;
	return guest_flat_to_host(kvm, gpa, len);
}

static inline int fake_register(u64 base, u64 len, kvm_io_fn fn, void *ptr, bool pio)
{
	if (fake_nr_io == (int)ARRAY_SIZE(fake_io))
		return -ENOSPC;
	fake_io[fake_nr_io].base = base;
	fake_io[fake_nr_io].len = len;
	fake_io[fake_nr_io].fn = fn;
	fake_io[fake_nr_io].ptr = ptr;
	fake_io[fake_nr_io].pio = pio;
	fake_nr_io++;
	return 0;
}

static inline int fake_deregister(u64 base, bool pio)
{
	int i;

	for (i = 0; i < fake_nr_io; i++) {
		if (fake_io[i].base == base && fake_io[i].pio == pio) {
			fake_io[i] = fake_io[--fake_nr_io];
			return 0;
		}
	}
	return -ENOENT;
}

int kvm__register_pio(struct kvm *kvm, u16 port, u16 count, kvm_io_fn fn, void *ptr)
{
	return fake_register(port, count, fn, ptr, true);
}

int kvm__register_mmio(struct kvm *kvm, u64 gpa, u64 len, kvm_io_fn fn, void *ptr)
{
	return fake_register(gpa, len, fn, ptr, false);
}

int kvm__deregister_pio(struct kvm *kvm, u16 port)
{
	return fake_deregister(port, true);
}

int kvm__deregister_mmio(struct kvm *kvm, u64 gpa)
{
	return fake_deregister(gpa, false);
}

void kvm__request_stop(struct kvm *kvm, int status, const char *reason)
{
	fake_stops++;
}

/* What a vCPU exit would do: find the handler and call it. */
static inline bool fake_io_rw(bool pio, u64 addr, void *data, u32 len, bool is_write)
{
	int i;

	for (i = 0; i < fake_nr_io; i++) {
		if (fake_io[i].pio == pio && addr >= fake_io[i].base &&
		    addr - fake_io[i].base < fake_io[i].len) {
			fake_io[i].fn(NULL, addr, data, len, is_write, fake_io[i].ptr);
			return true;
		}
	}
	return false;
}

#endif
