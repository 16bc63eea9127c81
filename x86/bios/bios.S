/*
 * The tiny BIOS behind the bzImage boot path: just the real-mode services
 * Linux's setup code (arch/x86/boot) calls before it switches to protected
 * mode, loaded at f000:0000.  x86/bios.c points the IVT at the handlers
 * listed in the header below and fills the data area (e820 map, e801/88
 * sizes) at BIOS_DATA_OFF; this code only reads it, through %cs.
 *
 * Services:
 *   int 0x10  AH=0x0e teletype -> COM1, AH=0x0f/0x03 mode and cursor
 *             queries answer "80x25 text"; everything else is a no-op,
 *             which the setup code reads as "CGA, no VESA".
 *   int 0x13  no disks: CF=1, AH=1.
 *   int 0x15  AX=0xe820 memory map, AX=0xe801 and AH=0x88 sizes; other
 *             functions CF=1, AH=0x86 (unsupported).
 *   int 0x16  no keyboard input: no key pending, shift flags 0.
 *   int 0x1a  tick count 0; RTC functions CF=1.
 *   IRQ 0-15  EOI to the PIC(s) and return.
 *
 * Handlers return status in CF/ZF by editing the FLAGS word the int
 * pushed, so the caller's IF survives (no "retf 2").
 */
#include "lkvm/x86-boot.h"

	.code16
	.text
	.globl	bios_start
bios_start:
	.ascii	"LKVMBIOS"
	.word	int_default		/* 8 */
	.word	irq_master		/* 10 */
	.word	irq_slave		/* 12 */
	.word	int10			/* 14 */
	.word	int13			/* 16 */
	.word	int15			/* 18 */
	.word	int16			/* 20 */
	.word	int1a			/* 22 */
	.word	bios_end		/* 24: code size */

int_default:
	iret

/* Return with CF set / cleared in the caller's FLAGS. */
iret_cf1:
	pushw	%bp
	movw	%sp, %bp
	orw	$0x0001, 6(%bp)
	popw	%bp
	iret
iret_cf0:
	pushw	%bp
	movw	%sp, %bp
	andw	$0xfffe, 6(%bp)
	popw	%bp
	iret

irq_master:
	pushw	%ax
	movb	$0x20, %al
	outb	%al, $0x20
	popw	%ax
	iret
irq_slave:
	pushw	%ax
	movb	$0x20, %al
	outb	%al, $0xa0
	outb	%al, $0x20
	popw	%ax
	iret

/* ---- int 0x10: video ---- */
int10:
	cmpb	$0x0e, %ah
	je	int10_tty
	cmpb	$0x0f, %ah
	je	int10_getmode
	cmpb	$0x03, %ah
	je	int10_getcursor
	iret

/*
 * Teletype output goes to COM1 unless the guest already drives the UART
 * itself: Linux's early serial console (earlyprintk=serial) raises DTR|RTS
 * in the MCR and then writes every character directly as well as through
 * int 0x10, so without this check each character would appear twice.
 */
int10_tty:
	pushw	%dx
	pushw	%ax
	movw	$COM1_MCR, %dx
	inb	%dx, %al
	testb	$0x03, %al
	popw	%ax
	jnz	1f
	movw	$COM1_PORT, %dx
	outb	%al, %dx
1:	popw	%dx
	iret

int10_getmode:
	movw	$0x5003, %ax		/* AH = 80 columns, AL = mode 3 */
	xorb	%bh, %bh		/* page 0 */
	iret

int10_getcursor:
	movw	$0x0607, %cx		/* underline cursor shape */
	movw	$0x1800, %dx		/* row 24, column 0 */
	iret

/* ---- int 0x13: no disks ---- */
int13:
	movb	$0x01, %ah
	jmp	iret_cf1

/* ---- int 0x15: system services ---- */
int15:
	cmpl	$0xe820, %eax
	je	int15_e820
	cmpw	$0xe801, %ax
	je	int15_e801
	cmpb	$0x88, %ah
	je	int15_88
	movb	$0x86, %ah
	jmp	iret_cf1

/*
 * In: EBX continuation (entry index), ECX buffer size, EDX "SMAP", ES:DI
 * buffer.  Out: one 20-byte entry, EAX "SMAP", ECX 20, EBX next index or
 * 0 after the last entry.
 */
int15_e820:
	cmpl	$E820_SMAP, %edx
	jne	e820_fail
	cmpl	$E820_ENTRY_SIZE, %ecx
	jb	e820_fail
	movzwl	%cs:BIOS_DATA_NR_E820, %eax
	cmpl	%eax, %ebx
	jae	e820_fail
	pushw	%ds
	pushw	%si
	pushw	%di
	pushw	%cx
	pushw	%cs
	popw	%ds
	imulw	$E820_ENTRY_SIZE, %bx, %si
	addw	$BIOS_DATA_E820, %si
	movw	$E820_ENTRY_SIZE, %cx
	cld
	rep movsb
	popw	%cx
	popw	%di
	popw	%si
	popw	%ds
	incl	%ebx
	cmpl	%eax, %ebx
	jb	1f
	xorl	%ebx, %ebx
1:	movl	$E820_SMAP, %eax
	movl	$E820_ENTRY_SIZE, %ecx
	jmp	iret_cf0
e820_fail:
	movb	$0x86, %ah
	jmp	iret_cf1

int15_e801:
	movw	%cs:BIOS_DATA_E801_LO, %ax
	movw	%ax, %cx
	movw	%cs:BIOS_DATA_E801_HI, %bx
	movw	%bx, %dx
	jmp	iret_cf0

int15_88:
	movw	%cs:BIOS_DATA_EXT88, %ax
	jmp	iret_cf0

/* ---- int 0x16: keyboard (never any input) ---- */
int16:
	cmpb	$0x01, %ah
	je	int16_peek
	cmpb	$0x11, %ah
	je	int16_peek
	cmpb	$0x00, %ah
	je	int16_read
	cmpb	$0x10, %ah
	je	int16_read
	cmpb	$0x02, %ah
	je	int16_shift
	cmpb	$0x12, %ah
	je	int16_shift
	iret
int16_read:				/* would block forever: say "no key" */
	xorw	%ax, %ax
	iret
int16_peek:				/* ZF=1: no keystroke waiting */
	xorw	%ax, %ax
	pushw	%bp
	movw	%sp, %bp
	orw	$0x0040, 6(%bp)
	popw	%bp
	iret
int16_shift:
	xorw	%ax, %ax
	iret

/* ---- int 0x1a: time ---- */
int1a:
	cmpb	$0x00, %ah
	jne	1f
	xorw	%cx, %cx		/* ticks since midnight: 0 */
	xorw	%dx, %dx
	xorb	%al, %al
	jmp	iret_cf0
1:	movb	$0x86, %ah
	jmp	iret_cf1

bios_end:
