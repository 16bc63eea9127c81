/*
 * Test-guest runtime entry.  lkvm enters here through PVH: 32-bit flat
 * protected mode, paging off, EBX = hvm_start_info.  We switch to long mode
 * with prebuilt identity page tables (first 4 GiB, 2 MiB pages: data in the
 * image, so no guest instructions are spent building them) and call
 * rt_start(start_info).
 *
 * APs start in real mode at 0x8000 (SIPI vector 8) and take the same road.
 */
#define MSR_EFER	0xc0000080

	.section .note.pvh, "a"
	.balign 4
	.long 4			/* namesz "Xen\0" */
	.long 4			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start

	.section .text.entry, "ax"
	.code32
	.globl _start
_start:
	cli
	mov	%ebx, %edi
	lgdt	gdt_desc
	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$0x100, %eax		/* LME */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax	/* PG | PE */
	mov	%eax, %cr0
	ljmp	$0x08, $start64

	.code64
start64:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	lea	bsp_stack_top(%rip), %rsp
	call	rt_start
1:	cli
	hlt
	jmp	1b

/* --- AP entry: real mode at 0x8000 ----------------------------------- */
	.section .trampoline, "ax"
	.code16
	.globl ap_trampoline
ap_trampoline:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	lgdtl	ap_gdt_desc - ap_trampoline + 0x8000
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x18, $ap_pm32

	.balign 8
ap_gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt

	.section .text.entry, "ax"
	.code32
ap_pm32:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%cr4, %eax
	or	$0x20, %eax
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$0x100, %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax
	mov	%eax, %cr0
	ljmp	$0x08, $ap_start64

	.code64
ap_start64:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	/* Stack by initial APIC id (CPUID.1:EBX[31:24]): no atomics needed. */
	mov	$1, %eax
	cpuid
	shr	$24, %ebx
	mov	%ebx, %edi
	mov	%rbx, %rax
	inc	%rax
	shl	$12, %rax
	lea	ap_stacks(%rip), %rsp
	add	%rax, %rsp
	call	rt_ap_start
2:	cli
	hlt
	jmp	2b

/* --- exception stubs: push vector (and a fake error code) ------------- */
	.section .text, "ax"
	.code64
	.globl rt_trap_stubs
	.balign 16
rt_trap_stubs:
	.set vec, 0
	.rept 32
	.balign 16
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17)
	push	$vec
	.else
	push	$0
	push	$vec
	.endif
	jmp	trap_common
	.set vec, vec + 1
	.endr

trap_common:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rbx
	push	%rbp
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, %rdi
	call	rt_trap
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rbp
	pop	%rbx
	pop	%rdx
	pop	%rcx
	pop	%rax
	add	$16, %rsp		/* vector + error code */
	iretq

/* --- data: GDT and identity page tables -------------------------------- */
	.section .data, "aw"
	.balign 16
gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: data */
	.quad	0x00cf9a000000ffff	/* 0x18: 32-bit code (AP trampoline) */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.quad	gdt

	.section .data.pagetables, "aw"
	.balign 4096
pml4:
	.quad	pdpt + 0x3
	.fill	511, 8, 0
pdpt:
	.quad	pd + 0x3
	.quad	pd + 0x1000 + 0x3
	.quad	pd + 0x2000 + 0x3
	.quad	pd + 0x3000 + 0x3
	.fill	508, 8, 0
pd:
	.set i, 0
	.rept	2048
	.quad	(i << 21) | 0x83	/* present, writable, 2 MiB */
	.set i, i + 1
	.endr

	.section .bss, "aw", @nobits
	.balign 4096
	.globl bsp_stack_top
	.space	16384
bsp_stack_top:
	.globl ap_stacks
ap_stacks:
	.space	4096 * 65
