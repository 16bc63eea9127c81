/*
 * Test-only doorbell for the page map (--test-doorbell).  This CI host's
 * KVM never delivers hypercall exits, so a test guest passes the same
 * (gpa, npages, attrs) triple through I/O ports instead and gets the same
 * return value: the request goes through hypercall__map_gpa_range(), the
 * path the real exit uses.  Registers (docs/page-map-abi.md):
 *
 *   0xe0 SELECT  outl: register index for DATA
 *   0xe4 DATA    outl/inl: the selected register; the index then moves on
 *                (0-5 = a0..a2 low/high halves, 6-7 = result low/high)
 *   0xe8 CMD     outl: 1 = MAP_GPA_RANGE, 2 = COUNT_SHARED; inl: result
 *
 * State is per vCPU so two vCPUs can ring it at once.  Only 32-bit
 * accesses do anything; other sizes are ignored (reads give all ones).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/init.h"
#include "lkvm/ioport.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/kvm-uapi.h"
#include "lkvm/kvm.h"
#include "lkvm/page-map.h"
#include "lkvm/pv-page-map.h"

struct doorbell_vcpu {
	u32 select;
	u32 regs[DOORBELL_NR_REGS];
};

struct test_doorbell {
	struct kvm *kvm;
	struct doorbell_vcpu vcpu[KVM_MAX_VCPUS];
};

static struct test_doorbell *the_doorbell;	/* one VM per process */

struct test_doorbell *test_doorbell__new(struct kvm *kvm)
{
	struct test_doorbell *db = calloc(1, sizeof(*db));

	if (db)
		db->kvm = kvm;
	return db;
}

void test_doorbell__free(struct test_doorbell *db)
{
	free(db);
}

static u64 reg64(const struct doorbell_vcpu *v, int lo)
{
	return (u64)v->regs[lo + 1] << 32 | v->regs[lo];
}

static s64 count_shared(struct page_map *pm, u64 gpa, u64 npages)
{
	s64 ret;

	if (!pm)
		return -KVM_ENOSYS;
	if (!npages || npages > (~0ULL >> PAGE_SHIFT) || !IS_ALIGNED(gpa, PAGE_SIZE))
		return -KVM_EINVAL;
	ret = page_map__count_gpa_range(pm, gpa, npages << PAGE_SHIFT);
	return ret < 0 ? -KVM_EINVAL : ret;
}

static void command(struct test_doorbell *db, struct doorbell_vcpu *v, u32 cmd)
{
	struct page_map *pm = db->kvm->page_map;
	u64 a0 = reg64(v, DOORBELL_REG_A0_LO);
	u64 a1 = reg64(v, DOORBELL_REG_A1_LO);
	u64 a2 = reg64(v, DOORBELL_REG_A2_LO);
	s64 ret;

	switch (cmd) {
	case DOORBELL_CMD_MAP_GPA_RANGE:
		ret = hypercall__map_gpa_range(pm, a0, a1, a2);
		break;
	case DOORBELL_CMD_COUNT_SHARED:
		ret = count_shared(pm, a0, a1);
		break;
	default:
		ret = -KVM_ENOSYS;
		break;
	}
	v->regs[DOORBELL_REG_RET_LO] = (u32)ret;
	v->regs[DOORBELL_REG_RET_HI] = (u32)((u64)ret >> 32);
}

void test_doorbell__io(struct kvm_cpu *vcpu, u64 port, u8 *data, u32 len,
		       bool is_write, void *ptr)
{
	struct test_doorbell *db = ptr;
	struct doorbell_vcpu *v;
	u32 val;

	if (len != 4 || vcpu->cpu_id < 0 || vcpu->cpu_id >= KVM_MAX_VCPUS) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	v = &db->vcpu[vcpu->cpu_id];
	val = is_write ? ioport__read_le(data, 4) : ~0u;

	switch (port) {
	case DOORBELL_PORT_SELECT:
		if (is_write)
			v->select = val;
		else
			val = v->select;
		break;
	case DOORBELL_PORT_DATA:
		if (v->select < DOORBELL_NR_REGS) {
			if (!is_write)
				val = v->regs[v->select];
			else if (v->select < DOORBELL_REG_RET_LO)
				v->regs[v->select] = val;
			v->select++;
		}
		break;
	case DOORBELL_PORT_CMD:
		if (is_write)
			command(db, v, val);
		else
			val = v->regs[DOORBELL_REG_RET_LO];
		break;
	}
	if (!is_write)
		ioport__write_le(data, 4, val);
}

static int test_doorbell__init(struct kvm *kvm)
{
	int ret;

	if (!kvm->cfg.debug_ioport)
		return 0;
	the_doorbell = test_doorbell__new(kvm);
	if (!the_doorbell)
		return -ENOMEM;
	ret = kvm__register_pio(kvm, DOORBELL_PORT_BASE, DOORBELL_NR_PORTS,
				test_doorbell__io, the_doorbell);
	if (ret) {
		pr_err("test doorbell: ports 0x%x-0x%x taken", DOORBELL_PORT_BASE,
		       DOORBELL_PORT_BASE + DOORBELL_NR_PORTS - 1);
		test_doorbell__free(the_doorbell);
		the_doorbell = NULL;
		return ret;
	}
	if (kvm->page_map)
		page_map__set_features(kvm->page_map,
				       page_map__features(kvm->page_map) | PAGE_MAP_DOORBELL);
	return 0;
}

static int test_doorbell__exit(struct kvm *kvm)
{
	if (!the_doorbell)
		return 0;
	kvm__deregister_pio(kvm, DOORBELL_PORT_BASE);
	test_doorbell__free(the_doorbell);
	the_doorbell = NULL;
	return 0;
}
dev_init(test_doorbell__init, test_doorbell__exit);
