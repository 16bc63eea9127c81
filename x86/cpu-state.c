/*
 * Per-vCPU state for live migration: read everything KVM keeps for a vCPU,
 * encode it as a self-describing FDT blob, and put it back on another VM in
 * an order KVM accepts.  The blob format and the restore order are in
 * docs/vm-state.md.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <libfdt.h>

#include "lkvm/cpu-state.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/state-fdt.h"
#include "lkvm/tsc.h"

#define MSR_IA32_TSC		0x10
#define MSR_IA32_TSC_DEADLINE	0x6e0

/*
 * KVM_GET_MSR_INDEX_LIST is per host, not per VM: fetch it once.  It names
 * every MSR KVM saves or emulates; which of them a vCPU really has depends
 * on its CPUID, so reading them is done one batch at a time, skipping the
 * ones KVM refuses.
 */
static pthread_mutex_t msr_list_lock = PTHREAD_MUTEX_INITIALIZER;
static u32 *msr_list;
static u32 nr_msr_list;

static int get_msr_list(int sys_fd, const u32 **list, u32 *n)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *ml = NULL;
	int ret = 0;

	pthread_mutex_lock(&msr_list_lock);
	if (msr_list)
		goto out;
	/* The first call fails with E2BIG and says how many there are. */
	if (ioctl(sys_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		ret = -errno;
		goto out;
	}
	if (probe.nmsrs > CPU_STATE_MAX_MSRS) {
		ret = -E2BIG;
		goto out;
	}
	ml = calloc(1, sizeof(*ml) + probe.nmsrs * sizeof(u32));
	if (!ml) {
		ret = -ENOMEM;
		goto out;
	}
	ml->nmsrs = probe.nmsrs;
	if (probe.nmsrs && ioctl(sys_fd, KVM_GET_MSR_INDEX_LIST, ml) < 0) {
		ret = -errno;
		goto out;
	}
	msr_list = malloc((ml->nmsrs ? ml->nmsrs : 1) * sizeof(u32));
	if (!msr_list) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(msr_list, ml->indices, ml->nmsrs * sizeof(u32));
	nr_msr_list = ml->nmsrs;
out:
	*list = msr_list;
	*n = nr_msr_list;
	pthread_mutex_unlock(&msr_list_lock);
	free(ml);
	return ret;
}

static int cmp_msr(const void *a, const void *b)
{
	const struct kvm_msr_entry *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

static int read_msrs(struct kvm_cpu *vcpu, struct cpu_state *st)
{
	struct kvm_msrs *m;
	const u32 *list;
	u32 n, pos = 0, i, kept = 0;
	int ret, r;

	ret = get_msr_list(vcpu->kvm->sys_fd, &list, &n);
	if (ret)
		return ret;
	m = calloc(1, sizeof(*m) + (n ? n : 1) * sizeof(struct kvm_msr_entry));
	st->msrs = calloc(n ? n : 1, sizeof(struct kvm_msr_entry));
	if (!m || !st->msrs) {
		ret = -ENOMEM;
		goto out;
	}
	/*
	 * KVM_GET_MSRS stops at the first MSR it refuses and returns how many
	 * it read: keep those, skip the refused one, go on with the rest.
	 */
	while (pos < n) {
		m->nmsrs = n - pos;
		for (i = 0; i < m->nmsrs; i++)
			m->entries[i] = (struct kvm_msr_entry){ .index = list[pos + i] };
		r = ioctl(vcpu->vcpu_fd, KVM_GET_MSRS, m);
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		for (i = 0; i < (u32)r && i < m->nmsrs; i++)
			st->msrs[kept++] = m->entries[i];
		pos += r + 1;
	}
	qsort(st->msrs, kept, sizeof(*st->msrs), cmp_msr);
	/* The list has no duplicates today; make sure the blob never does. */
	for (i = 1, n = kept ? 1 : 0; i < kept; i++)
		if (st->msrs[i].index != st->msrs[n - 1].index)
			st->msrs[n++] = st->msrs[i];
	st->nr_msrs = n;
out:
	free(m);
	return ret;
}

/*
 * Restore order: the TSC first, because KVM interprets the TSC deadline
 * relative to the guest TSC; the TSC deadline last (and after the LAPIC,
 * see cpu_state__set()), because KVM drops it unless the LAPIC timer is
 * already in TSC-deadline mode; everything else in index order.
 */
static int msr_rank(u32 index)
{
	if (index == MSR_IA32_TSC)
		return 0;
	if (index == MSR_IA32_TSC_DEADLINE)
		return 2;
	return 1;
}

static int write_msrs(struct kvm_cpu *vcpu, const struct cpu_state *st)
{
	struct kvm_msrs *m;
	u32 i, k = 0;
	int rank, r, ret = 0;

	if (!st->nr_msrs)
		return 0;
	m = calloc(1, sizeof(*m) + st->nr_msrs * sizeof(struct kvm_msr_entry));
	if (!m)
		return -ENOMEM;
	for (rank = 0; rank < 3; rank++)
		for (i = 0; i < st->nr_msrs; i++)
			if (msr_rank(st->msrs[i].index) == rank)
				m->entries[k++] = st->msrs[i];
	m->nmsrs = k;
	r = ioctl(vcpu->vcpu_fd, KVM_SET_MSRS, m);
	if (r < 0) {
		ret = -errno;
		pr_err("vCPU %d: KVM_SET_MSRS: %s", vcpu->cpu_id, strerror(errno));
	} else if ((u32)r < k) {
		ret = -EINVAL;
		pr_err("vCPU %d: KVM refused MSR 0x%x = 0x%llx", vcpu->cpu_id,
		       m->entries[r].index, (unsigned long long)m->entries[r].data);
	}
	free(m);
	return ret;
}

/* Bytes KVM_GET_XSAVE2 / KVM_SET_XSAVE use on this VM; 0 without XSAVE. */
static u32 xsave_size(struct kvm *kvm)
{
	int size = ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	if (size >= (int)sizeof(struct kvm_xsave))
		return (u32)size;
	if (ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0)
		return sizeof(struct kvm_xsave);
	return 0;
}

static bool has_cap(struct kvm *kvm, long cap)
{
	return ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

#define VCPU_IOCTL(vcpu, req, arg, what) do {					\
	if (ioctl((vcpu)->vcpu_fd, (req), (arg)) < 0) {				\
		ret = -errno;							\
		pr_err("vCPU %d: %s: %s", (vcpu)->cpu_id, what, strerror(errno)); \
		goto err;							\
	}									\
} while (0)

/*
 * Nested virtualization state (a guest running its own hypervisor) is not
 * carried.  KVM_GET_SUPPORTED_CPUID may offer SVM/VMX on a hardware host,
 * so refuse to save a vCPU that is actually using it rather than restore
 * it wrong: KVM returns more than the bare header only while VMXON is on
 * (VMX) or an L2 guest runs (SVM).
 */
static int check_nested(struct kvm_cpu *vcpu)
{
	int size = ioctl(vcpu->kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NESTED_STATE);
	struct kvm_nested_state *ns;
	int ret = 0;

	if (size < (int)sizeof(*ns))
		return 0;
	ns = calloc(1, size);
	if (!ns)
		return -ENOMEM;
	ns->size = size;
	if (ioctl(vcpu->vcpu_fd, KVM_GET_NESTED_STATE, ns) == 0 &&
	    (ns->size > sizeof(*ns) || (ns->flags & KVM_STATE_NESTED_GUEST_MODE))) {
		pr_err("vCPU %d runs a nested hypervisor: lkvm does not migrate nested state",
		       vcpu->cpu_id);
		ret = -EOPNOTSUPP;
	}
	free(ns);
	return ret;
}

int cpu_state__get(struct kvm_cpu *vcpu, struct cpu_state *st)
{
	struct kvm *kvm = vcpu->kvm;
	struct kvm_mp_state mp;
	int ret, khz;

	memset(st, 0, sizeof(*st));
	st->cpu_id = vcpu->cpu_id;
	ret = check_nested(vcpu);
	if (ret)
		return ret;

	khz = ioctl(vcpu->vcpu_fd, KVM_GET_TSC_KHZ, 0);
	st->tsc_khz = khz > 0 ? (u32)khz : 0;

	VCPU_IOCTL(vcpu, KVM_GET_REGS, &st->regs, "KVM_GET_REGS");
	if (has_cap(kvm, KVM_CAP_SREGS2)) {
		VCPU_IOCTL(vcpu, KVM_GET_SREGS2, &st->sregs2, "KVM_GET_SREGS2");
		st->have |= CPU_HAVE_SREGS2;
	} else {
		VCPU_IOCTL(vcpu, KVM_GET_SREGS, &st->sregs, "KVM_GET_SREGS");
	}

	st->xsave_size = xsave_size(kvm);
	if (st->xsave_size) {
		if (st->xsave_size > CPU_STATE_MAX_XSAVE) {
			ret = -E2BIG;
			goto err;
		}
		st->xsave = calloc(1, st->xsave_size);
		if (!st->xsave) {
			ret = -ENOMEM;
			goto err;
		}
		/* KVM_GET_XSAVE2 fills the whole size; KVM_GET_XSAVE only 4 KiB. */
		if (st->xsave_size > sizeof(struct kvm_xsave))
			VCPU_IOCTL(vcpu, KVM_GET_XSAVE2, st->xsave, "KVM_GET_XSAVE2");
		else
			VCPU_IOCTL(vcpu, KVM_GET_XSAVE, st->xsave, "KVM_GET_XSAVE");
		st->have |= CPU_HAVE_XSAVE;
	} else {
		VCPU_IOCTL(vcpu, KVM_GET_FPU, &st->fpu, "KVM_GET_FPU");
	}
	if (has_cap(kvm, KVM_CAP_XCRS)) {
		VCPU_IOCTL(vcpu, KVM_GET_XCRS, &st->xcrs, "KVM_GET_XCRS");
		st->have |= CPU_HAVE_XCRS;
	}

	ret = read_msrs(vcpu, st);
	if (ret) {
		pr_err("vCPU %d: reading MSRs: %s", vcpu->cpu_id, strerror(-ret));
		goto err;
	}
	VCPU_IOCTL(vcpu, KVM_GET_LAPIC, &st->lapic, "KVM_GET_LAPIC");
	VCPU_IOCTL(vcpu, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE");
	st->mp_state = mp.mp_state;
	if (has_cap(kvm, KVM_CAP_VCPU_EVENTS)) {
		VCPU_IOCTL(vcpu, KVM_GET_VCPU_EVENTS, &st->events, "KVM_GET_VCPU_EVENTS");
		st->have |= CPU_HAVE_EVENTS;
	}
	if (has_cap(kvm, KVM_CAP_DEBUGREGS)) {
		VCPU_IOCTL(vcpu, KVM_GET_DEBUGREGS, &st->debugregs, "KVM_GET_DEBUGREGS");
		st->have |= CPU_HAVE_DEBUGREGS;
	}
	return 0;

err:
	cpu_state__free(st);
	return ret;
}

/* A kvm_sregs2 for a KVM without KVM_SET_SREGS2: PDPTRs are reloaded from CR3. */
static void sregs2_to_sregs(const struct kvm_sregs2 *s2, struct kvm_sregs *s)
{
	memset(s, 0, sizeof(*s));
	s->cs = s2->cs; s->ds = s2->ds; s->es = s2->es;
	s->fs = s2->fs; s->gs = s2->gs; s->ss = s2->ss;
	s->tr = s2->tr; s->ldt = s2->ldt;
	s->gdt = s2->gdt; s->idt = s2->idt;
	s->cr0 = s2->cr0; s->cr2 = s2->cr2; s->cr3 = s2->cr3;
	s->cr4 = s2->cr4; s->cr8 = s2->cr8;
	s->efer = s2->efer;
	s->apic_base = s2->apic_base;
}

/*
 * Order (see docs/vm-state.md): special registers first (APIC base, CRs,
 * EFER: the mode everything else is checked against), general registers,
 * XCRs before the XSAVE image, the LAPIC before the MSRs (TSC deadline),
 * MP state after the LAPIC, pending events last but one (they may override
 * the interrupt KVM_SET_SREGS queued), debug registers.
 */
int cpu_state__set(struct kvm_cpu *vcpu, const struct cpu_state *st)
{
	struct kvm *kvm = vcpu->kvm;
	struct kvm_mp_state mp = { .mp_state = st->mp_state };
	struct kvm_sregs sregs;
	u32 dst_size;
	u8 *xs = NULL;
	char why[256];
	int ret;

	/* Normally done already by the handshake (tsc__adopt), for all vCPUs at once. */
	ret = tsc__match(vcpu, st->tsc_khz, why, sizeof(why));
	if (ret) {
		pr_err("vCPU %d: %s", vcpu->cpu_id, why);
		return ret;
	}

	if (st->have & CPU_HAVE_SREGS2) {
		if (has_cap(kvm, KVM_CAP_SREGS2)) {
			VCPU_IOCTL(vcpu, KVM_SET_SREGS2, &st->sregs2, "KVM_SET_SREGS2");
		} else {
			sregs2_to_sregs(&st->sregs2, &sregs);
			VCPU_IOCTL(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
		}
	} else {
		VCPU_IOCTL(vcpu, KVM_SET_SREGS, &st->sregs, "KVM_SET_SREGS");
	}
	VCPU_IOCTL(vcpu, KVM_SET_REGS, &st->regs, "KVM_SET_REGS");

	if (st->have & CPU_HAVE_XCRS) {
		if (!has_cap(kvm, KVM_CAP_XCRS)) {
			pr_err("vCPU %d: the source has XCRs, this KVM has no KVM_SET_XCRS",
			       vcpu->cpu_id);
			return -EOPNOTSUPP;
		}
		VCPU_IOCTL(vcpu, KVM_SET_XCRS, &st->xcrs, "KVM_SET_XCRS");
	}
	if (st->have & CPU_HAVE_XSAVE) {
		dst_size = xsave_size(kvm);
		if (!dst_size) {
			pr_err("vCPU %d: the source has XSAVE state, this KVM has no KVM_SET_XSAVE",
			       vcpu->cpu_id);
			return -EOPNOTSUPP;
		}
		/*
		 * KVM_SET_XSAVE reads exactly this VM's size.  A shorter image
		 * is zero-padded (components past it are absent from its
		 * XSTATE_BV); a longer one fits only if the tail is unused.
		 */
		if (st->xsave_size > dst_size) {
			u32 i;

			for (i = dst_size; i < st->xsave_size; i++)
				if (st->xsave[i]) {
					pr_err("vCPU %d: XSAVE state of %u bytes does not fit this KVM's %u",
					       vcpu->cpu_id, st->xsave_size, dst_size);
					return -EOPNOTSUPP;
				}
		}
		xs = calloc(1, max(dst_size, st->xsave_size));
		if (!xs)
			return -ENOMEM;
		memcpy(xs, st->xsave, st->xsave_size);
		VCPU_IOCTL(vcpu, KVM_SET_XSAVE, xs, "KVM_SET_XSAVE");
	} else {
		VCPU_IOCTL(vcpu, KVM_SET_FPU, &st->fpu, "KVM_SET_FPU");
	}

	VCPU_IOCTL(vcpu, KVM_SET_LAPIC, &st->lapic, "KVM_SET_LAPIC");
	ret = write_msrs(vcpu, st);
	if (ret)
		goto err;
	VCPU_IOCTL(vcpu, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
	if (st->have & CPU_HAVE_EVENTS)
		VCPU_IOCTL(vcpu, KVM_SET_VCPU_EVENTS, &st->events, "KVM_SET_VCPU_EVENTS");
	if (st->have & CPU_HAVE_DEBUGREGS)
		VCPU_IOCTL(vcpu, KVM_SET_DEBUGREGS, &st->debugregs, "KVM_SET_DEBUGREGS");
	ret = 0;
err:
	free(xs);
	return ret;
}

void cpu_state__free(struct cpu_state *st)
{
	free(st->xsave);
	free(st->msrs);
	st->xsave = NULL;
	st->msrs = NULL;
	st->xsave_size = st->nr_msrs = 0;
}

/* ---- The blob (docs/vm-state.md, "vCPU") ---- */

static int raw_node(void *fdt, const char *node, const char *prop,
		    const void *p, size_t len)
{
	int ret = sfdt__begin(fdt, node, 1);

	if (!ret)
		ret = sfdt__put_raw(fdt, prop, p, len);
	return ret ? ret : sfdt__end(fdt);
}

static int fill_cpu(void *fdt, const void *arg)
{
	const struct cpu_state *st = arg;
	char name[16];
	u32 i;
	int ret;

	ret = fdt_begin_node(fdt, "");
	if (!ret) ret = fdt_property_string(fdt, "compatible", CPU_STATE_COMPAT);
	if (!ret) ret = sfdt__put_u32(fdt, "version", CPU_STATE_VERSION);
	if (!ret) ret = sfdt__put_u32(fdt, "cpu-id", st->cpu_id);
	if (!ret) ret = sfdt__put_u32(fdt, "tsc-khz", st->tsc_khz);
	if (!ret) ret = sfdt__put_u32(fdt, "mp-state", st->mp_state);
	if (!ret) ret = raw_node(fdt, "regs", "kvm-regs", &st->regs, sizeof(st->regs));
	if (ret)
		return ret;
	if (st->have & CPU_HAVE_SREGS2)
		ret = raw_node(fdt, "sregs", "kvm-sregs2", &st->sregs2, sizeof(st->sregs2));
	else
		ret = raw_node(fdt, "sregs", "kvm-sregs", &st->sregs, sizeof(st->sregs));
	if (ret)
		return ret;
	if (st->have & CPU_HAVE_XSAVE)
		ret = raw_node(fdt, "fpu", "kvm-xsave", st->xsave, st->xsave_size);
	else
		ret = raw_node(fdt, "fpu", "kvm-fpu", &st->fpu, sizeof(st->fpu));
	if (!ret && (st->have & CPU_HAVE_XCRS))
		ret = raw_node(fdt, "xcrs", "kvm-xcrs", &st->xcrs, sizeof(st->xcrs));
	if (ret)
		return ret;

	/* One property per MSR, named by its index, so the blob reads itself. */
	ret = sfdt__begin(fdt, "msrs", 1);
	for (i = 0; !ret && i < st->nr_msrs; i++) {
		snprintf(name, sizeof(name), "0x%08x", st->msrs[i].index);
		ret = sfdt__put_u64(fdt, name, st->msrs[i].data);
	}
	if (!ret) ret = sfdt__end(fdt);

	if (!ret) ret = raw_node(fdt, "lapic", "kvm-lapic", &st->lapic, sizeof(st->lapic));
	if (!ret && (st->have & CPU_HAVE_EVENTS))
		ret = raw_node(fdt, "events", "kvm-vcpu-events", &st->events, sizeof(st->events));
	if (!ret && (st->have & CPU_HAVE_DEBUGREGS))
		ret = raw_node(fdt, "debugregs", "kvm-debugregs", &st->debugregs,
			       sizeof(st->debugregs));
	return ret ? ret : fdt_end_node(fdt);
}

int cpu_state__encode(const struct cpu_state *st, struct mig_buf *out)
{
	size_t hint = 4096 + st->xsave_size + st->nr_msrs * 32 + sizeof(*st);

	return sfdt__build(out, hint, fill_cpu, st);
}

/* Node "name" with one raw property: checked, exact size, copied out. */
static int get_raw_node(const void *fdt, const char *node, const char *prop,
			void *dst, size_t len, bool required)
{
	const char *const props[] = { prop, NULL };
	u32 version;
	int off, ret;

	off = sfdt__subnode(fdt, 0, node);
	if (off < 0)
		return required ? -EINVAL : -ENOENT;
	ret = sfdt__check_node(fdt, off, 1, props, NULL, &version);
	if (ret)
		return ret;
	ret = sfdt__get_raw(fdt, off, prop, dst, len);
	return ret == -ENOENT ? -EINVAL : ret;
}

static int decode_sregs(const void *fdt, struct cpu_state *st)
{
	static const char *const props[] = { "kvm-sregs2", "kvm-sregs", NULL };
	u32 version;
	int off, r2, r1;

	off = sfdt__subnode(fdt, 0, "sregs");
	if (off < 0)
		return -EINVAL;
	r2 = sfdt__check_node(fdt, off, 1, props, NULL, &version);
	if (r2)
		return r2;
	r2 = sfdt__get_raw(fdt, off, "kvm-sregs2", &st->sregs2, sizeof(st->sregs2));
	r1 = sfdt__get_raw(fdt, off, "kvm-sregs", &st->sregs, sizeof(st->sregs));
	/* Exactly one of the two, of exactly its size. */
	if (!r2 && r1 == -ENOENT) {
		st->have |= CPU_HAVE_SREGS2;
		return 0;
	}
	return !r1 && r2 == -ENOENT ? 0 : -EINVAL;
}

static int decode_fpu(const void *fdt, struct cpu_state *st)
{
	static const char *const props[] = { "kvm-xsave", "kvm-fpu", NULL };
	const void *p;
	size_t len;
	u32 version;
	int off, rx, rf;

	off = sfdt__subnode(fdt, 0, "fpu");
	if (off < 0)
		return -EINVAL;
	rx = sfdt__check_node(fdt, off, 1, props, NULL, &version);
	if (rx)
		return rx;
	rx = sfdt__get_blob(fdt, off, "kvm-xsave", &p, &len);
	rf = sfdt__get_raw(fdt, off, "kvm-fpu", &st->fpu, sizeof(st->fpu));
	if (!rf && rx == -ENOENT)
		return 0;
	if (rx || rf != -ENOENT)
		return -EINVAL;
	if (len < sizeof(struct kvm_xsave) || len > CPU_STATE_MAX_XSAVE || len % 4)
		return -EINVAL;
	st->xsave = malloc(len);
	if (!st->xsave)
		return -ENOMEM;
	memcpy(st->xsave, p, len);
	st->xsave_size = len;
	st->have |= CPU_HAVE_XSAVE;
	return 0;
}

/* "0x" and exactly eight lower-case hex digits, as fill_cpu() writes. */
static bool parse_msr_name(const char *name, u32 *index)
{
	u32 v = 0;
	int i;

	if (strlen(name) != 10 || name[0] != '0' || name[1] != 'x')
		return false;
	for (i = 2; i < 10; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (u32)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (u32)(c - 'a' + 10);
		else
			return false;
	}
	*index = v;
	return true;
}

static int decode_msrs(const void *fdt, struct cpu_state *st)
{
	const char *name;
	const void *p;
	fdt64_t be;
	u32 version, index, n = 0, i;
	int node, off, len, ret;

	node = sfdt__subnode(fdt, 0, "msrs");
	if (node < 0)
		return -EINVAL;
	/* No subnodes; properties are checked one by one below. */
	fdt_for_each_subnode(off, fdt, node) {
		name = fdt_get_name(fdt, off, NULL);
		if (!name || strncmp(name, SFDT_OPT_PREFIX, strlen(SFDT_OPT_PREFIX)))
			return -EOPNOTSUPP;
	}
	ret = sfdt__get_u32(fdt, node, "version", &version);
	if (ret || !version)
		return -EINVAL;
	if (version > 1)
		return -EOPNOTSUPP;

	st->msrs = calloc(CPU_STATE_MAX_MSRS, sizeof(*st->msrs));
	if (!st->msrs)
		return -ENOMEM;
	fdt_for_each_property_offset(off, fdt, node) {
		p = fdt_getprop_by_offset(fdt, off, &name, &len);
		if (!p)
			return -EINVAL;
		if (!strcmp(name, "version") ||
		    !strncmp(name, SFDT_OPT_PREFIX, strlen(SFDT_OPT_PREFIX)))
			continue;
		if (!parse_msr_name(name, &index))
			return -EOPNOTSUPP;	/* no name to print: it may be anything */
		if (len != sizeof(be) || n >= CPU_STATE_MAX_MSRS)
			return -EINVAL;
		memcpy(&be, p, sizeof(be));
		st->msrs[n].index = index;
		st->msrs[n].data = fdt64_to_cpu(be);
		n++;
	}
	if (off != -FDT_ERR_NOTFOUND)
		return -EINVAL;
	qsort(st->msrs, n, sizeof(*st->msrs), cmp_msr);
	for (i = 1; i < n; i++)
		if (st->msrs[i].index == st->msrs[i - 1].index)
			return -EINVAL;
	st->nr_msrs = n;
	return 0;
}

int cpu_state__decode(const void *data, size_t len, struct cpu_state *st)
{
	static const char *const props[] = { "cpu-id", "tsc-khz", "mp-state", NULL };
	static const char *const nodes[] = {
		"regs", "sregs", "fpu", "xcrs", "msrs", "lapic", "events", "debugregs", NULL
	};
	void *fdt;
	u32 version;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = sfdt__open(data, len, CPU_STATE_COMPAT, &fdt);
	if (ret)
		return ret;
	ret = sfdt__check_node(fdt, 0, CPU_STATE_VERSION, props, nodes, &version);
	if (ret)
		goto out;
	if (sfdt__get_u32(fdt, 0, "cpu-id", &st->cpu_id) ||
	    sfdt__get_u32(fdt, 0, "tsc-khz", &st->tsc_khz) ||
	    sfdt__get_u32(fdt, 0, "mp-state", &st->mp_state)) {
		ret = -EINVAL;
		goto out;
	}
	ret = get_raw_node(fdt, "regs", "kvm-regs", &st->regs, sizeof(st->regs), true);
	if (!ret) ret = decode_sregs(fdt, st);
	if (!ret) ret = decode_fpu(fdt, st);
	if (!ret) ret = decode_msrs(fdt, st);
	if (!ret) ret = get_raw_node(fdt, "lapic", "kvm-lapic", &st->lapic,
				     sizeof(st->lapic), true);
	if (ret)
		goto out;

	ret = get_raw_node(fdt, "xcrs", "kvm-xcrs", &st->xcrs, sizeof(st->xcrs), false);
	if (!ret) {
		if (st->xcrs.nr_xcrs > KVM_MAX_XCRS) {
			ret = -EINVAL;
			goto out;
		}
		st->have |= CPU_HAVE_XCRS;
	}
	if (ret && ret != -ENOENT)
		goto out;
	ret = get_raw_node(fdt, "events", "kvm-vcpu-events", &st->events,
			   sizeof(st->events), false);
	if (!ret)
		st->have |= CPU_HAVE_EVENTS;
	if (ret && ret != -ENOENT)
		goto out;
	ret = get_raw_node(fdt, "debugregs", "kvm-debugregs", &st->debugregs,
			   sizeof(st->debugregs), false);
	if (!ret)
		st->have |= CPU_HAVE_DEBUGREGS;
	if (ret == -ENOENT)
		ret = 0;
out:
	free(fdt);
	if (ret)
		cpu_state__free(st);
	return ret;
}

/*
 * KVM finishes an exit that userspace handled (the data of an IN or MMIO
 * read into a register, RIP past an OUT, an RDMSR result) only on the next
 * KVM_RUN; until then that part of the vCPU state is nowhere userspace can
 * read it, and a guest restored without it would redo the OUT or lose the
 * IN.  So re-enter KVM_RUN with immediate_exit set: KVM completes the
 * operation and returns EINTR before running a guest instruction.  The
 * exit_reason may be stale (already completed): then this is a no-op.
 */
int cpu_state__complete_io(struct kvm_cpu *vcpu)
{
	struct kvm_run *run = vcpu->kvm_run;
	u8 old;
	int r;

	if (!run)
		return 0;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
	case KVM_EXIT_MMIO:
	case KVM_EXIT_HYPERCALL:
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		break;
	default:
		return 0;
	}
	old = __atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST);
	__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	r = ioctl(vcpu->vcpu_fd, KVM_RUN, 0);
	__atomic_store_n(&run->immediate_exit, old, __ATOMIC_SEQ_CST);
	if (r < 0 && errno != EINTR && errno != EAGAIN) {
		pr_err("vCPU %d: completing its last exit: %s", vcpu->cpu_id, strerror(errno));
		return -errno;
	}
	if (r == 0) {
		/* A string I/O needing another round trip: its owner must run it. */
		pr_err("vCPU %d: more I/O pending (exit %u); resume and pause again",
		       vcpu->cpu_id, run->exit_reason);
		return -EAGAIN;
	}
	return 0;
}

int cpu_state__save(struct kvm_cpu *vcpu, struct mig_buf *out)
{
	struct cpu_state st;
	int ret = cpu_state__complete_io(vcpu);

	if (ret)
		return ret;
	ret = cpu_state__get(vcpu, &st);

	if (ret)
		return ret;
	ret = cpu_state__encode(&st, out);
	cpu_state__free(&st);
	return ret;
}

int cpu_state__load(struct kvm_cpu *vcpu, const void *data, size_t len)
{
	struct cpu_state st;
	int ret = cpu_state__decode(data, len, &st);

	if (ret) {
		pr_err("vCPU %d: state blob rejected: %s", vcpu->cpu_id, strerror(-ret));
		return ret;
	}
	if (st.cpu_id != (u32)vcpu->cpu_id) {
		pr_err("vCPU %d: state blob is for vCPU %u", vcpu->cpu_id, st.cpu_id);
		ret = -EINVAL;
	} else {
		ret = cpu_state__set(vcpu, &st);
	}
	cpu_state__free(&st);
	return ret;
}

/* ---- Migration section: one instance per vCPU ---- */

static struct kvm_cpu *section_cpu(struct kvm *kvm, u32 instance)
{
	if (kvm->nr_cpus < 0 || instance >= (u32)kvm->nr_cpus ||
	    instance >= KVM_MAX_VCPUS)
		return NULL;
	return kvm->cpus[instance];
}

static u32 cpu_section_count(struct kvm *kvm)
{
	return kvm->nr_cpus > 0 ? (u32)kvm->nr_cpus : 0;
}

static int cpu_section_save(struct kvm *kvm, u32 instance, struct mig_buf *out)
{
	struct kvm_cpu *vcpu = section_cpu(kvm, instance);

	return vcpu ? cpu_state__save(vcpu, out) : -ERANGE;
}

static int cpu_section_load(struct kvm *kvm, u32 instance, const void *data, size_t len)
{
	struct kvm_cpu *vcpu = section_cpu(kvm, instance);

	if (!vcpu) {
		pr_err("vCPU state for vCPU %u, this VM has %d", instance, kvm->nr_cpus);
		return -ERANGE;
	}
	return cpu_state__load(vcpu, data, len);
}

static struct mig_section cpu_section = {
	.name	= "cpu",
	.id	= MIG_SEC_CPU,
	.count	= cpu_section_count,
	.save	= cpu_section_save,
	.load	= cpu_section_load,
};
mig_section_register(cpu_section);
