/*
 * A synthetic bzImage whose "setup code" is a probe of lkvm's real-mode
 * BIOS: booted exactly like Linux (CS=DS=SS=0x1000, IP=0x200), it asks
 * for the e820 map, the e801/88 sizes, reads its command line and initrd
 * fields, finds the MP table, checks an unsupported call fails with CF,
 * prints everything through int 0x10 and resets through the i8042.
 * tests/integration/linux-boot.sh compares the output with what the
 * loader built.  A few thousand instructions: fast even when emulated.
 */
	.code16
	.text
	.globl	_start
_start:
	.org	0x1f1
setup_sects:	.byte	2
root_flags:	.word	0
syssize:	.long	1		/* 16 bytes of "kernel" */
ram_size:	.word	0
vid_mode:	.word	0xffff
root_dev:	.word	0
boot_flag:	.word	0xaa55
	jmp	start			/* 0x200: the entry point */
	.ascii	"HdrS"
	.word	0x020f
	.long	0			/* realmode_swtch */
	.word	0			/* start_sys_seg */
	.word	0			/* kernel_version */
type_of_loader:	.byte	0
loadflags:	.byte	0x01		/* LOADED_HIGH */
	.word	0			/* setup_move_size */
	.long	0x100000		/* code32_start */
ramdisk_image:	.long	0
ramdisk_size:	.long	0
	.long	0			/* bootsect_kludge */
heap_end_ptr:	.word	0
	.byte	0, 0			/* ext_loader_ver/type */
cmd_line_ptr:	.long	0
	.long	0x7fffffff		/* initrd_addr_max */
	.long	0x1000			/* kernel_alignment */
	.byte	0			/* relocatable_kernel */
	.byte	0			/* min_alignment */
	.word	0			/* xloadflags */
	.long	255			/* cmdline_size */
	.long	0			/* hardware_subarch */
	.quad	0			/* hardware_subarch_data */
	.long	0, 0			/* payload_offset/length */
	.quad	0			/* setup_data */
	.quad	0x100000		/* pref_address */
	.long	0x1000			/* init_size */
	.long	0			/* handover_offset */
	.long	0			/* kernel_info_offset */

start:
	cld
	movw	$s_hello, %si
	call	puts

	/* e820: "e820 <addr> <size> <type>" per entry */
	xorl	%ebx, %ebx
1:	movl	$0xe820, %eax
	movl	$0x534d4150, %edx
	movl	$24, %ecx
	movw	$buf, %di
	int	$0x15
	jc	2f
	cmpl	$0x534d4150, %eax
	jne	fail
	cmpl	$20, %ecx
	jne	fail
	movw	$s_e820, %si
	call	puts
	movl	buf+4, %eax
	call	hex32
	movl	buf, %eax
	call	hex32
	call	space
	movl	buf+12, %eax
	call	hex32
	movl	buf+8, %eax
	call	hex32
	call	space
	movl	buf+16, %eax
	call	hex32
	call	newline
	incw	nr_e820
	testl	%ebx, %ebx
	jnz	1b
2:	cmpw	$0, nr_e820
	je	fail

	/* e801 and 88 */
	movw	$0xe801, %ax
	int	$0x15
	jc	fail
	pushw	%bx
	movw	$s_e801, %si
	call	puts
	call	hex16
	call	space
	popw	%ax
	call	hex16
	call	newline
	movb	$0x88, %ah
	int	$0x15
	jc	fail
	movw	$s_88, %si
	call	puts
	call	hex16
	call	newline

	/* an unsupported service must fail with CF set */
	movb	$0x02, %ah
	movb	$0x80, %dl
	stc
	clc
	int	$0x13
	jnc	fail
	movw	$s_int13, %si
	call	puts

	/* loader fields */
	movw	$s_loader, %si
	call	puts
	movb	type_of_loader, %al
	call	hex8
	call	space
	movb	loadflags, %al
	call	hex8
	call	space
	movw	heap_end_ptr, %ax
	call	hex16
	call	newline
	movw	$s_initrd, %si
	call	puts
	movl	ramdisk_image, %eax
	call	hex32
	call	space
	movl	ramdisk_size, %eax
	call	hex32
	call	newline

	/* the command line, through a segment made from cmd_line_ptr */
	movw	$s_cmdline, %si
	call	puts
	movl	cmd_line_ptr, %eax
	movl	%eax, %esi
	shrl	$4, %eax
	andw	$0xf, %si
	pushw	%ds
	movw	%ax, %ds
3:	lodsb
	testb	%al, %al
	jz	4f
	call	putc
	jmp	3b
4:	popw	%ds
	movb	$'"', %al
	call	putc
	call	newline

	/* MP table: "_MP_" on a 16-byte boundary in f000, then count CPUs */
	pushw	%ds
	movw	$0xf000, %ax
	movw	%ax, %ds
	xorw	%si, %si
5:	cmpl	$0x5f504d5f, (%si)	/* "_MP_" */
	je	6f
	addw	$16, %si
	jnz	5b
	popw	%ds
	jmp	fail
6:	movl	4(%si), %eax		/* physptr */
	movl	%eax, %esi
	shrl	$4, %eax
	andw	$0xf, %si
	movw	%ax, %ds
	cmpl	$0x504d4350, (%si)	/* "PCMP" */
	jne	fail
	movw	34(%si), %cx		/* entry count */
	leaw	44(%si), %si
	xorw	%dx, %dx		/* processors */
7:	movb	(%si), %al
	cmpb	$0, %al
	jne	8f
	incw	%dx
	addw	$12, %si		/* processor entries are 20 bytes */
8:	addw	$8, %si
	loop	7b
	popw	%ds
	movw	$s_mp, %si
	call	puts
	movw	%dx, %ax
	call	hex16
	call	newline

	movw	$s_done, %si
	call	puts
	/* pulse the reset line: lkvm treats this as a clean guest exit */
	movb	$0xfe, %al
	outb	%al, $0x64
9:	hlt
	jmp	9b

fail:
	movw	$s_fail, %si
	call	puts
10:	hlt
	jmp	10b

/* ---- output through the BIOS (int 0x10 teletype) ---- */
putc:
	pushw	%ax
	pushw	%bx
	movb	$0x0e, %ah
	xorw	%bx, %bx
	int	$0x10
	popw	%bx
	popw	%ax
	ret
puts:
	pushw	%ax
11:	lodsb
	testb	%al, %al
	jz	12f
	call	putc
	jmp	11b
12:	popw	%ax
	ret
space:
	pushw	%ax
	movb	$' ', %al
	call	putc
	popw	%ax
	ret
newline:
	pushw	%ax
	movb	$'\n', %al
	call	putc
	popw	%ax
	ret
hexdigit:			/* low nibble of %al */
	pushw	%ax
	andb	$0xf, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	13f
	addb	$('a' - '0' - 10), %al
13:	call	putc
	popw	%ax
	ret
hex8:
	rorb	$4, %al
	call	hexdigit
	rorb	$4, %al
	call	hexdigit
	ret
hex16:
	xchgb	%al, %ah
	call	hex8
	xchgb	%al, %ah
	call	hex8
	ret
hex32:
	rorl	$16, %eax
	call	hex16
	rorl	$16, %eax
	call	hex16
	ret

s_hello:	.asciz	"bzimage-probe: real-mode setup running\n"
s_e820:		.asciz	"e820 "
s_e801:		.asciz	"e801 "
s_88:		.asciz	"ext88 "
s_int13:	.asciz	"int13 unsupported: CF set\n"
s_loader:	.asciz	"loader "
s_initrd:	.asciz	"initrd "
s_cmdline:	.asciz	"cmdline \""
s_mp:		.asciz	"mp cpus "
s_done:		.asciz	"bzimage-probe: done\n"
s_fail:		.asciz	"bzimage-probe: FAILED\n"
nr_e820:	.word	0
buf:		.fill	24, 1, 0

	.org	(2 + 1) * 512		/* end of the setup sectors */
kernel:		.fill	16, 1, 0	/* the protected-mode part */
