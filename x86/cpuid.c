/*
 * The guest's CPUID: what KVM says it can virtualise (KVM_GET_SUPPORTED_CPUID),
 * never the host's own CPUID, so a software KVM host without SVM/VMX flags
 * still runs guests.  --cpuid-mask hides features the host cannot run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "lkvm/cpuid.h"
#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"

#define MAX_CPUID_ENTRIES 256

struct cpuid_feature {
	const char *name;
	u32 leaf, subleaf;
	u8 reg, bit;
};

enum { R_EAX, R_EBX, R_ECX, R_EDX };

static const struct cpuid_feature features[] = {
	{ "sse3", 1, 0, R_ECX, 0 },	{ "pclmulqdq", 1, 0, R_ECX, 1 },
	{ "monitor", 1, 0, R_ECX, 3 },	{ "vmx", 1, 0, R_ECX, 5 },
	{ "ssse3", 1, 0, R_ECX, 9 },	{ "fma", 1, 0, R_ECX, 12 },
	{ "cx16", 1, 0, R_ECX, 13 },	{ "pcid", 1, 0, R_ECX, 17 },
	{ "sse4_1", 1, 0, R_ECX, 19 },	{ "sse4_2", 1, 0, R_ECX, 20 },
	{ "x2apic", 1, 0, R_ECX, 21 },	{ "movbe", 1, 0, R_ECX, 22 },
	{ "popcnt", 1, 0, R_ECX, 23 },	{ "tsc_deadline", 1, 0, R_ECX, 24 },
	{ "aes", 1, 0, R_ECX, 25 },	{ "xsave", 1, 0, R_ECX, 26 },
	{ "avx", 1, 0, R_ECX, 28 },	{ "f16c", 1, 0, R_ECX, 29 },
	{ "rdrand", 1, 0, R_ECX, 30 },	{ "mce", 1, 0, R_EDX, 7 },
	{ "cx8", 1, 0, R_EDX, 8 },	{ "mtrr", 1, 0, R_EDX, 12 },
	{ "pge", 1, 0, R_EDX, 13 },	{ "clflush", 1, 0, R_EDX, 19 },
	{ "fsgsbase", 7, 0, R_EBX, 0 },	{ "bmi1", 7, 0, R_EBX, 3 },
	{ "avx2", 7, 0, R_EBX, 5 },	{ "smep", 7, 0, R_EBX, 7 },
	{ "bmi2", 7, 0, R_EBX, 8 },	{ "erms", 7, 0, R_EBX, 9 },
	{ "invpcid", 7, 0, R_EBX, 10 },	{ "avx512f", 7, 0, R_EBX, 16 },
	{ "rdseed", 7, 0, R_EBX, 18 },	{ "adx", 7, 0, R_EBX, 19 },
	{ "smap", 7, 0, R_EBX, 20 },	{ "sha", 7, 0, R_EBX, 29 },
	{ "umip", 7, 0, R_ECX, 2 },	{ "pku", 7, 0, R_ECX, 3 },
	{ "la57", 7, 0, R_ECX, 16 },	{ "rdpid", 7, 0, R_ECX, 22 },
	{ "xsaveopt", 0xd, 1, R_EAX, 0 }, { "xsavec", 0xd, 1, R_EAX, 1 },
	{ "xsaves", 0xd, 1, R_EAX, 3 },
	{ "lahf_lm", 0x80000001, 0, R_ECX, 0 }, { "svm", 0x80000001, 0, R_ECX, 2 },
	{ "lzcnt", 0x80000001, 0, R_ECX, 5 }, { "nx", 0x80000001, 0, R_EDX, 20 },
	{ "pdpe1gb", 0x80000001, 0, R_EDX, 26 }, { "rdtscp", 0x80000001, 0, R_EDX, 27 },
};

static int parse_reg(const char *s)
{
	static const char *const regs[] = { "eax", "ebx", "ecx", "edx" };
	int i;

	for (i = 0; i < 4; i++)
		if (!strcasecmp(s, regs[i]))
			return i;
	return -1;
}

/*
 * One --cpuid-mask item: a feature name ("cx16") or LEAF[.SUBLEAF].REG:BIT
 * ("0x7.ebx:5", "1.ecx:13").  Returns 0 or -EINVAL.
 */
int cpuid__parse_mask(const char *item, struct kvm_config *cfg)
{
	struct cpuid_mask_bit m = { 0 };
	char buf[64], *colon, *dot, *regs, *end;
	unsigned long v;
	size_t i;
	int reg;

	for (i = 0; i < ARRAY_SIZE(features); i++)
		if (!strcasecmp(item, features[i].name)) {
			m.leaf = features[i].leaf;
			m.subleaf = features[i].subleaf;
			m.reg = features[i].reg;
			m.bit = features[i].bit;
			m.any_subleaf = features[i].leaf != 0xd && features[i].leaf != 7;
			goto add;
		}
	if (strlen(item) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, item);
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	regs = strrchr(buf, '.');
	if (!regs)
		return -EINVAL;
	*regs++ = '\0';
	reg = parse_reg(regs);
	if (reg < 0)
		return -EINVAL;
	dot = strchr(buf, '.');
	if (dot)
		*dot++ = '\0';
	v = strtoul(buf, &end, 0);
	if (!*buf || *end || v > 0xffffffffUL)
		return -EINVAL;
	m.leaf = v;
	m.any_subleaf = !dot;
	if (dot) {
		v = strtoul(dot, &end, 0);
		if (!*dot || *end || v > 0xffffffffUL)
			return -EINVAL;
		m.subleaf = v;
	}
	v = strtoul(colon + 1, &end, 0);
	if (!colon[1] || *end || v > 31)
		return -EINVAL;
	m.reg = reg;
	m.bit = v;
add:
	/* The same bit twice ("cx16,1.ecx:13") is one mask, warned about once. */
	for (i = 0; i < (size_t)cfg->nr_cpuid_masks; i++) {
		const struct cpuid_mask_bit *o = &cfg->cpuid_masks[i];

		if (o->leaf == m.leaf && o->subleaf == m.subleaf && o->reg == m.reg &&
		    o->bit == m.bit && o->any_subleaf == m.any_subleaf)
			return 0;
	}
	if (cfg->nr_cpuid_masks >= (int)ARRAY_SIZE(cfg->cpuid_masks))
		return -ENOSPC;
	cfg->cpuid_masks[cfg->nr_cpuid_masks++] = m;
	return 0;
}

const char *cpuid__feature_names(void)
{
	static char buf[1024];
	size_t i, n = 0;

	if (buf[0])
		return buf;
	for (i = 0; i < ARRAY_SIZE(features) && n < sizeof(buf) - 16; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "", features[i].name);
	return buf;
}

static u32 *entry_reg(struct kvm_cpuid_entry2 *e, int reg)
{
	switch (reg) {
	case R_EAX: return &e->eax;
	case R_EBX: return &e->ebx;
	case R_ECX: return &e->ecx;
	default: return &e->edx;
	}
}

struct kvm_cpuid_entry2 *cpuid__find(struct kvm_cpuid2 *c, u32 leaf, u32 subleaf)
{
	u32 i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == leaf &&
		    (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     c->entries[i].index == subleaf))
			return &c->entries[i];
	return NULL;
}

/* Apply the masks and per-vCPU fields to a copy of the supported CPUID. */
void cpuid__filter(struct kvm_cpuid2 *c, const struct kvm_config *cfg, int cpu_id,
		   int nr_cpus)
{
	u32 i;
	int m;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* Initial APIC id and the logical processor count. */
			e->ebx = (e->ebx & 0x0000ffff) | ((u32)cpu_id << 24) |
				 ((u32)min(nr_cpus, 255) << 16);
			e->ecx |= 1u << 31;		/* hypervisor present */
			e->edx |= 1u << 28;		/* HTT: count field valid */
			break;
		case 0xb:
		case 0x1f:
			e->edx = cpu_id;		/* x2APIC id */
			break;
		}
		for (m = 0; m < cfg->nr_cpuid_masks; m++) {
			const struct cpuid_mask_bit *b = &cfg->cpuid_masks[m];

			if (b->leaf != e->function || (!b->any_subleaf && b->subleaf != e->index))
				continue;
			*entry_reg(e, b->reg) &= ~(1u << b->bit);
		}
		/* Hiding XSAVE must also hide what depends on it, or guests trip on it. */
		if (e->function == 1 && !(e->ecx & (1u << 26)))
			e->ecx &= ~((1u << 27) | (1u << 28) | (1u << 12) | (1u << 29));
	}
	{
		struct kvm_cpuid_entry2 *l1 = cpuid__find(c, 1, 0);

		if (l1 && !(l1->ecx & (1u << 26)))
			for (i = 0; i < c->nent; i++)
				if (c->entries[i].function == 0xd) {
					c->entries[i].eax = c->entries[i].ebx = 0;
					c->entries[i].ecx = c->entries[i].edx = 0;
				}
	}
}

struct kvm_cpuid2 *cpuid__get_supported(struct kvm *kvm)
{
	struct kvm_cpuid2 *c;
	int n = MAX_CPUID_ENTRIES;

	for (;;) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm->sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG || n > 4096)
			return NULL;
		n *= 2;
	}
}

const char *cpuid__bit_name(u32 leaf, u32 subleaf, u32 reg, u32 bit)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(features); i++)
		if (features[i].leaf == leaf && features[i].subleaf == subleaf &&
		    features[i].reg == reg && features[i].bit == bit)
			return features[i].name;
	return NULL;
}

/*
 * What the guest really sees (KVM_GET_CPUID2); NULL on error.  A vCPU ioctl
 * waits while that vCPU is in KVM_RUN, so this is read once, at set-up,
 * and kept in vcpu->cpuid.
 */
static struct kvm_cpuid2 *read_back(struct kvm_cpu *vcpu)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAX_CPUID_ENTRIES * sizeof(c->entries[0]));

	if (!c)
		return NULL;
	c->nent = MAX_CPUID_ENTRIES;
	if (ioctl(vcpu->vcpu_fd, KVM_GET_CPUID2, c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

u32 cpuid__reg(struct kvm_cpuid2 *c, u32 leaf, u32 subleaf, int reg)
{
	struct kvm_cpuid_entry2 *e = cpuid__find(c, leaf, subleaf);

	return e ? *entry_reg(e, reg) : 0;
}

/*
 * Some KVM back ends (the software PVM host among them) override CPUID
 * bits after KVM_SET_CPUID2.  Read back what the guest will really see and
 * say which masked bits the kernel kept, instead of pretending.
 */
static const char *const regn[] = { "eax", "ebx", "ecx", "edx" };

void cpuid__mask_where(const struct cpuid_mask_bit *b, char *buf, size_t n)
{
	const char *name = cpuid__bit_name(b->leaf, b->subleaf, b->reg, b->bit);
	char sub[16] = "";

	/* "0xd.eax" would say every subleaf: xsaveopt is 0xd.1 only. */
	if (!b->any_subleaf)
		snprintf(sub, sizeof(sub), ".%u", b->subleaf);
	snprintf(buf, n, "0x%x%s.%s bit %u (%s)", b->leaf, sub, regn[b->reg & 3], b->bit,
		 name ? name : "?");
}

static void verify_masks(struct kvm_cpu *vcpu, struct kvm_cpuid2 *c)
{
	const struct kvm_config *cfg = &vcpu->kvm->cfg;
	char where[96];
	int m;

	for (m = 0; m < cfg->nr_cpuid_masks; m++) {
		const struct cpuid_mask_bit *b = &cfg->cpuid_masks[m];

		/* A leaf this CPU does not have: the mask hides nothing (a typo?). */
		if (vcpu->cpu_id == 0 && !cpuid__find(c, b->leaf, b->subleaf)) {
			if (b->any_subleaf)
				pr_warn("--cpuid-mask: CPUID leaf 0x%x does not exist here; bit %u "
					"of %s hides nothing", b->leaf, b->bit, regn[b->reg & 3]);
			else
				pr_warn("--cpuid-mask: CPUID leaf 0x%x subleaf %u does not exist "
					"here; bit %u of %s hides nothing", b->leaf, b->subleaf,
					b->bit, regn[b->reg & 3]);
		} else if (cpuid__reg(c, b->leaf, b->subleaf, b->reg) & (1u << b->bit)) {
			cpuid__mask_where(b, where, sizeof(where));
			pr_warn("KVM keeps CPUID %s visible despite --cpuid-mask: this host's KVM "
				"overrides it", where);
		}
	}
}

int cpuid__setup_vcpu(struct kvm_cpu *vcpu)
{
	struct kvm *kvm = vcpu->kvm;
	struct kvm_cpuid2 *c = cpuid__get_supported(kvm);
	int ret = 0;

	if (!c) {
		pr_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		return -errno;
	}
	cpuid__filter(c, &kvm->cfg, vcpu->cpu_id, kvm->nr_cpus);
	cpuid__run_hooks(kvm, c);
	if (ioctl(vcpu->vcpu_fd, KVM_SET_CPUID2, c) < 0) {
		ret = -errno;
		pr_err("KVM_SET_CPUID2: %s", strerror(errno));
	}
	free(c);
	if (ret || vcpu->cpu_id != 0)
		return ret;
	/* What the guest will see (kept for the migration handshake). */
	free(vcpu->cpuid);
	vcpu->cpuid = read_back(vcpu);
	if (!vcpu->cpuid) {
		ret = errno ? -errno : -ENOMEM;
		pr_err("KVM_GET_CPUID2: %s", strerror(-ret));
		return ret;
	}
	verify_masks(vcpu, vcpu->cpuid);
	return 0;
}

/* Other modules (page map, SEV) add their leaves through hooks. */
static cpuid_hook_fn hooks[8];
static int nr_hooks;

int cpuid__register_hook(cpuid_hook_fn fn)
{
	if (nr_hooks >= (int)ARRAY_SIZE(hooks))
		return -ENOSPC;
	hooks[nr_hooks++] = fn;
	return 0;
}

void cpuid__run_hooks(struct kvm *kvm, struct kvm_cpuid2 *c)
{
	int i;

	for (i = 0; i < nr_hooks; i++)
		hooks[i](kvm, c);
}
