/*
 * Small legacy devices: i8042 (only its reset line), the 0xcf9 reset
 * register, and lkvm's exit port.
 *
 * Exit port 0xf4 (as QEMU's isa-debug-exit, but with the value as is):
 * a guest writes a status and lkvm exits with it; 0 is a clean poweroff.
 * Guests without ACPI use it to power off; test guests to report results.
 */
#include <stdio.h>

#include "lkvm/init.h"
#include "lkvm/ioport.h"
#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/page-map.h"

#define I8042_DATA	0x60
#define I8042_CMD	0x64
#define I8042_CMD_RESET	0xfe
#define RST_CNT		0xcf9
#define LKVM_EXIT_PORT	0xf4

static void i8042_io(struct kvm_cpu *vcpu, u64 addr, u8 *data, u32 len, bool is_write,
		     void *ptr)
{
	if (is_write) {
		if (addr == I8042_CMD && data[0] == I8042_CMD_RESET) {
			page_map__guest_reset(vcpu->kvm);
			kvm__request_stop(vcpu->kvm, 0, "guest reset");
		}
		return;
	}
	/* Status: output buffer empty, input buffer empty; data: nothing. */
	ioport__write_le(data, len, 0);
}

static void rst_cnt_io(struct kvm_cpu *vcpu, u64 addr, u8 *data, u32 len, bool is_write,
		       void *ptr)
{
	if (is_write) {
		if (data[0] & 0x04) {
			page_map__guest_reset(vcpu->kvm);
			kvm__request_stop(vcpu->kvm, 0, "guest reset");
		}
		return;
	}
	ioport__write_le(data, len, 0);
}

static void exit_port_io(struct kvm_cpu *vcpu, u64 addr, u8 *data, u32 len, bool is_write,
			 void *ptr)
{
	/* One per vCPU: the first stop keeps a pointer to its text, which a
	 * second vCPU writing the port at the same moment must not rewrite. */
	static char reasons[KVM_MAX_VCPUS][80];
	char *reason = reasons[vcpu->cpu_id % KVM_MAX_VCPUS];
	u32 v;

	if (!is_write) {
		ioport__write_le(data, len, 0);
		return;
	}
	v = ioport__read_le(data, len);
	if (v == 0) {
		kvm__request_stop(vcpu->kvm, 0, "guest powered off");
	} else if (v > 255) {
		/* A process status has 8 bits: 256 must not read as success. */
		snprintf(reason, sizeof(reasons[0]), "guest exited with status %u (exit status 255: "
			 "more than 8 bits)", v);
		kvm__request_stop(vcpu->kvm, 255, reason);
	} else {
		snprintf(reason, sizeof(reasons[0]), "guest exited with status %u", v);
		kvm__request_stop(vcpu->kvm, (int)v, reason);
	}
}

static int legacy__init(struct kvm *kvm)
{
	int ret;

	ret = kvm__register_pio(kvm, I8042_DATA, 1, i8042_io, NULL);
	if (!ret)
		ret = kvm__register_pio(kvm, I8042_CMD, 1, i8042_io, NULL);
	if (!ret)
		ret = kvm__register_pio(kvm, RST_CNT, 1, rst_cnt_io, NULL);
	if (!ret)
		ret = kvm__register_pio(kvm, LKVM_EXIT_PORT, 4, exit_port_io, NULL);
	return ret;
}

static int legacy__exit(struct kvm *kvm)
{
	kvm__deregister_pio(kvm, I8042_DATA);
	kvm__deregister_pio(kvm, I8042_CMD);
	kvm__deregister_pio(kvm, RST_CNT);
	kvm__deregister_pio(kvm, LKVM_EXIT_PORT);
	return 0;
}
dev_init(legacy__init, legacy__exit);
