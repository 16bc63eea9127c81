/* Test-guest runtime: C side. */
#include <stdarg.h>
#include "rt.h"

#define COM1 0x3f8

struct hvm_start_info *rt_start_info;
const char *rt_cmdline = "";
static rt_trap_fn traps[32];
static rt_lock_t print_lock;

static struct idt_entry idt[32] __attribute__((aligned(16)));
extern char rt_trap_stubs[];

void *memset(void *d, int c, u64 n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, u64 n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, u64 n)
{
	const u8 *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

u64 strlen(const char *s)
{
	u64 n = 0;
	while (s[n])
		n++;
	return n;
}

/* lkvm's UART never makes the guest wait: no LSR polling (each poll is an exit). */
void putc_(char c)
{
	outb(COM1, c);
}

static void puts_nolock(const char *s)
{
	while (*s)
		putc_(*s++);
}

void puts_(const char *s)
{
	rt_lock(&print_lock);
	puts_nolock(s);
	putc_('\n');
	rt_unlock(&print_lock);
}

static char *fmt_u(char *end, u64 v, int base)
{
	*--end = 0;
	do {
		*--end = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	return end;
}

void printf_(const char *fmt, ...)
{
	char buf[32];
	va_list ap;

	rt_lock(&print_lock);
	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		int lng = 0;

		if (*fmt != '%') {
			putc_(*fmt);
			continue;
		}
		fmt++;
		while (*fmt == 'l') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);
			if (v < 0) {
				putc_('-');
				v = -v;
			}
			puts_nolock(fmt_u(buf + sizeof(buf), (u64)v, 10));
			break;
		}
		case 'u':
			puts_nolock(fmt_u(buf + sizeof(buf), lng ? va_arg(ap, u64) : va_arg(ap, u32), 10));
			break;
		case 'x':
			puts_nolock(fmt_u(buf + sizeof(buf), lng ? va_arg(ap, u64) : va_arg(ap, u32), 16));
			break;
		case 'p':
			puts_nolock("0x");
			puts_nolock(fmt_u(buf + sizeof(buf), (u64)va_arg(ap, void *), 16));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			puts_nolock(s ? s : "(null)");
			break;
		}
		case 'c':
			putc_((char)va_arg(ap, int));
			break;
		case '%':
			putc_('%');
			break;
		default:
			putc_('?');
		}
	}
	va_end(ap);
	rt_unlock(&print_lock);
}

void rt_exit(int status)
{
	outl(RT_EXIT_PORT, (u32)status);	/* all 32 bits: lkvm says so if they do not fit */
	for (;;)
		__asm__ volatile("cli; hlt");
}

void rt_set_trap(int vector, rt_trap_fn fn)
{
	if (vector >= 0 && vector < 32)
		traps[vector] = fn;
}

void rt_trap(struct rt_frame *f)
{
	if (f->vector < 32 && traps[f->vector]) {
		traps[f->vector](f);
		return;
	}
	printf("rt: unexpected exception %lu (error %lx) at rip %lx\n", f->vector, f->error,
	       f->rip);
	rt_exit(3);
}

static void idt_init(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) desc = { sizeof(idt) - 1, (u64)idt };
	int i;

	for (i = 0; i < 32; i++) {
		u64 h = (u64)rt_trap_stubs + 16 * i;

		idt[i].off0 = h & 0xffff;
		idt[i].sel = 0x08;
		idt[i].ist = 0;
		idt[i].type = 0x8e;	/* present, interrupt gate */
		idt[i].off1 = (h >> 16) & 0xffff;
		idt[i].off2 = h >> 32;
		idt[i].zero = 0;
	}
	__asm__ volatile("lidt %0" :: "m"(desc));
}

static const char *find_key(const char *key)
{
	const char *p = rt_cmdline;
	u64 kl = strlen(key);

	while (*p) {
		while (*p == ' ')
			p++;
		if (!memcmp(p, key, kl) && (p[kl] == '=' || p[kl] == ' ' || !p[kl]))
			return p + kl;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

int rt_cmdline_has(const char *key)
{
	return find_key(key) != NULL;
}

u64 rt_cmdline_u64(const char *key, u64 def)
{
	const char *p = find_key(key);
	u64 v = 0;
	int base = 10;

	if (!p || *p != '=')
		return def;
	p++;
	if (p[0] == '0' && p[1] == 'x') {
		base = 16;
		p += 2;
	}
	for (; *p && *p != ' '; p++) {
		int d = *p >= '0' && *p <= '9' ? *p - '0' :
			*p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : 99;
		if (d >= base)
			return def;
		v = v * base + d;
	}
	return v;
}

int rt_cpu_id(void)
{
	u32 a, b, c, d;

	cpuid(1, 0, &a, &b, &c, &d);
	return b >> 24;
}

#define LAPIC_ICR_LO	0xfee00300UL
#define LAPIC_ICR_HI	0xfee00310UL

void rt_start_aps(void)
{
	int i;

	/* INIT to all but self, then SIPI twice with vector 0x08 (0x8000). */
	mmio_write32(LAPIC_ICR_HI, 0);
	mmio_write32(LAPIC_ICR_LO, 0x000c4500);
	for (i = 0; i < 2; i++)
		mmio_write32(LAPIC_ICR_LO, 0x000c4608);
}

void __attribute__((weak)) ap_main(int cpu)
{
}

void rt_ap_start(int cpu)
{
	idt_init();
	ap_main(cpu);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void rt_start(struct hvm_start_info *si)
{
	rt_start_info = si;
	if (si && si->magic == 0x336ec578 && si->cmdline_paddr)
		rt_cmdline = (const char *)si->cmdline_paddr;
	idt_init();
	rt_exit(main());
}
