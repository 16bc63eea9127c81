/*
 * Port I/O and MMIO dispatch.  Devices register a handler for a range;
 * kvm-cpu.c calls kvm__emulate_io()/kvm__emulate_mmio() on exits.  An
 * access nobody handles is logged once (with --debug) and ignored: reads
 * return all ones, as on real hardware.
 */
#ifndef LKVM__IOPORT_H
#define LKVM__IOPORT_H

#include "lkvm/util.h"

struct kvm;
struct kvm_cpu;

/* data holds len bytes (1, 2, 4 or 8); fill it for reads. */
typedef void (*kvm_io_fn)(struct kvm_cpu *vcpu, u64 addr, u8 *data, u32 len,
			  bool is_write, void *ptr);

int kvm__register_pio(struct kvm *kvm, u16 port, u16 count, kvm_io_fn fn, void *ptr);
int kvm__register_mmio(struct kvm *kvm, u64 gpa, u64 len, kvm_io_fn fn, void *ptr);
int kvm__deregister_pio(struct kvm *kvm, u16 port);
int kvm__deregister_mmio(struct kvm *kvm, u64 gpa);

void kvm__emulate_io(struct kvm_cpu *vcpu, u16 port, u8 *data, bool is_write,
		     u32 size, u32 count);
void kvm__emulate_mmio(struct kvm_cpu *vcpu, u64 gpa, u8 *data, u32 len, bool is_write);

/* Little-endian helpers for handlers. */
static inline u32 ioport__read_le(const u8 *data, u32 len)
{
	u32 v = 0;
	for (u32 i = 0; i < len && i < 4; i++)
		v |= (u32)data[i] << (8 * i);
	return v;
}

static inline void ioport__write_le(u8 *data, u32 len, u32 v)
{
	for (u32 i = 0; i < len && i < 4; i++)
		data[i] = v >> (8 * i);
}

#endif
