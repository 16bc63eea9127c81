/*
 * Diagnostics: a vCPU's registers and the code bytes at RIP.  The code is
 * found by walking the guest's own page tables (2-, 3- and 4-level, large
 * pages), because a failing guest is usually running with paging on.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"

#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define CR4_PSE		(1ULL << 4)
#define EFER_LMA	(1ULL << 10)
#define PTE_P		1ULL
#define PTE_PS		(1ULL << 7)
#define PTE_ADDR	0x000ffffffffff000ULL

static int read_u64(struct kvm *kvm, u64 gpa, u64 *v)
{
	return kvm__read_guest(kvm, gpa, v, sizeof(*v));
}

/*
 * Pure walker so unit tests can drive it: cr0/cr3/cr4/efer as the vCPU
 * has them.  Returns 0 and the guest physical address, or -EFAULT for a
 * non-present entry / address outside RAM, -EPERM for private memory.
 */
int x86__walk(struct kvm *kvm, u64 cr0, u64 cr3, u64 cr4, u64 efer, u64 gva, u64 *gpa)
{
	u64 e;
	int ret, level;

	if (!(cr0 & CR0_PG)) {
		*gpa = gva;
		return 0;
	}
	if (efer & EFER_LMA) {
		u64 table = cr3 & PTE_ADDR;

		for (level = 4; level >= 1; level--) {
			int shift = 12 + 9 * (level - 1);

			ret = read_u64(kvm, table + ((gva >> shift) & 0x1ff) * 8, &e);
			if (ret)
				return ret;
			if (!(e & PTE_P))
				return -EFAULT;
			if (level == 1 || ((level == 2 || level == 3) && (e & PTE_PS))) {
				u64 mask = (1ULL << shift) - 1;

				*gpa = (e & PTE_ADDR & ~mask) | (gva & mask);
				return 0;
			}
			table = e & PTE_ADDR;
		}
		return -EFAULT;
	}
	if (cr4 & CR4_PAE) {
		u64 table;

		ret = read_u64(kvm, (cr3 & ~0x1fULL) + ((gva >> 30) & 3) * 8, &e);
		if (ret)
			return ret;
		if (!(e & PTE_P))
			return -EFAULT;
		table = e & PTE_ADDR;
		ret = read_u64(kvm, table + ((gva >> 21) & 0x1ff) * 8, &e);
		if (ret)
			return ret;
		if (!(e & PTE_P))
			return -EFAULT;
		if (e & PTE_PS) {
			*gpa = (e & PTE_ADDR & ~0x1fffffULL) | (gva & 0x1fffff);
			return 0;
		}
		ret = read_u64(kvm, (e & PTE_ADDR) + ((gva >> 12) & 0x1ff) * 8, &e);
		if (ret)
			return ret;
		if (!(e & PTE_P))
			return -EFAULT;
		*gpa = (e & PTE_ADDR) | (gva & 0xfff);
		return 0;
	}
	{
		u32 e32;

		ret = kvm__read_guest(kvm, (cr3 & 0xfffff000) + ((gva >> 22) & 0x3ff) * 4, &e32, 4);
		if (ret)
			return ret;
		if (!(e32 & PTE_P))
			return -EFAULT;
		if ((e32 & PTE_PS) && (cr4 & CR4_PSE)) {
			*gpa = (e32 & 0xffc00000) | (gva & 0x3fffff);
			return 0;
		}
		ret = kvm__read_guest(kvm, (e32 & 0xfffff000) + ((gva >> 12) & 0x3ff) * 4, &e32, 4);
		if (ret)
			return ret;
		if (!(e32 & PTE_P))
			return -EFAULT;
		*gpa = (e32 & 0xfffff000) | (gva & 0xfff);
		return 0;
	}
}

int kvm_cpu__gva_to_gpa(struct kvm_cpu *vcpu, u64 gva, u64 *gpa)
{
	struct kvm_sregs s;

	if (ioctl(vcpu->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	return x86__walk(vcpu->kvm, s.cr0, s.cr3, s.cr4, s.efer, gva, gpa);
}

static void dump_seg(FILE *out, const char *n, const struct kvm_segment *s)
{
	fprintf(out, "  %-3s sel %04x base %016llx limit %08x type %x p%u dpl%u db%u s%u l%u g%u\n",
		n, s->selector, (unsigned long long)s->base, s->limit, s->type, s->present,
		s->dpl, s->db, s->s, s->l, s->g);
}

static void dump_code(struct kvm_cpu *vcpu, FILE *out, const struct kvm_sregs *s, u64 rip)
{
	/* Linear address: CS base counts outside 64-bit mode. */
	u64 lin = (s->efer & EFER_LMA) && s->cs.l ? rip : s->cs.base + rip;
	u64 gpa;
	u8 code[16];
	int ret, i, n = 0;

	ret = x86__walk(vcpu->kvm, s->cr0, s->cr3, s->cr4, s->efer, lin, &gpa);
	if (ret) {
		fprintf(out, "  code at %llx: cannot translate (%s)\n", (unsigned long long)lin,
			ret == -EPERM ? "private memory" : "not mapped");
		return;
	}
	/* Stop at a page boundary: the next page may map anywhere. */
	n = min((u64)sizeof(code), PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));
	ret = kvm__read_guest(vcpu->kvm, gpa, code, n);
	if (ret) {
		fprintf(out, "  code at gpa %llx: %s\n", (unsigned long long)gpa,
			ret == -EPERM ? "private (encrypted) memory, not shown" : "outside RAM");
		return;
	}
	fprintf(out, "  code at %llx (gpa %llx):", (unsigned long long)lin,
		(unsigned long long)gpa);
	for (i = 0; i < n; i++)
		fprintf(out, " %02x", code[i]);
	fputc('\n', out);
}

void kvm_cpu__dump(struct kvm_cpu *vcpu, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->vcpu_fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(vcpu->vcpu_fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "  vCPU %d: cannot read registers: %s\n", vcpu->cpu_id,
			strerror(errno));
		return;
	}
	fprintf(out, " vCPU %d registers:\n", vcpu->cpu_id);
	fprintf(out, "  rip %016llx rflags %08llx\n", (unsigned long long)r.rip,
		(unsigned long long)r.rflags);
	fprintf(out, "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n",
		(unsigned long long)r.rax, (unsigned long long)r.rbx,
		(unsigned long long)r.rcx, (unsigned long long)r.rdx);
	fprintf(out, "  rsi %016llx rdi %016llx rbp %016llx rsp %016llx\n",
		(unsigned long long)r.rsi, (unsigned long long)r.rdi,
		(unsigned long long)r.rbp, (unsigned long long)r.rsp);
	fprintf(out, "  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n",
		(unsigned long long)r.r8, (unsigned long long)r.r9,
		(unsigned long long)r.r10, (unsigned long long)r.r11);
	fprintf(out, "  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n",
		(unsigned long long)r.r12, (unsigned long long)r.r13,
		(unsigned long long)r.r14, (unsigned long long)r.r15);
	fprintf(out, "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx\n",
		(unsigned long long)s.cr0, (unsigned long long)s.cr2,
		(unsigned long long)s.cr3, (unsigned long long)s.cr4);
	fprintf(out, "  efer %016llx apic_base %016llx\n", (unsigned long long)s.efer,
		(unsigned long long)s.apic_base);
	dump_seg(out, "cs", &s.cs);
	dump_seg(out, "ss", &s.ss);
	dump_seg(out, "ds", &s.ds);
	dump_seg(out, "tr", &s.tr);
	fprintf(out, "  gdt base %016llx limit %04x  idt base %016llx limit %04x\n",
		(unsigned long long)s.gdt.base, s.gdt.limit,
		(unsigned long long)s.idt.base, s.idt.limit);
	dump_code(vcpu, out, &s, r.rip);
}
