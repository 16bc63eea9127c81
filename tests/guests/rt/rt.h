/*
 * The test-guest runtime: serial output, exit status through lkvm's exit
 * port, exception hooks, port I/O and MSR helpers, SMP bring-up.
 * Every guest instruction costs ~1 us on software KVM: keep loops short.
 */
#ifndef RT_H
#define RT_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long s64;

#define RT_EXIT_PORT	0xf4
#define NULL ((void *)0)

struct rt_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rdi, rsi, rbp, rbx, rdx, rcx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};

struct hvm_start_info {
	u32 magic, version, flags, nr_modules;
	u64 modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	u32 memmap_entries, reserved;
};

struct hvm_modlist_entry {
	u64 paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_entry {
	u64 addr, size;
	u32 type, reserved;
};

extern struct hvm_start_info *rt_start_info;
extern const char *rt_cmdline;

int main(void);
void ap_main(int cpu);			/* optional, weak default halts */

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void mmio_write32(u64 addr, u32 v) { *(volatile u32 *)addr = v; }
static inline u32 mmio_read32(u64 addr) { return *(volatile u32 *)addr; }

void putc_(char c);
void puts_(const char *s);
void printf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define printf printf_
#define puts puts_
void __attribute__((noreturn)) rt_exit(int status);

/* A 64-bit IDT gate. */
struct idt_entry {
	u16 off0, sel;
	u8 ist, type;
	u16 off1;
	u32 off2, zero;
} __attribute__((packed));

/* Exceptions: a handler returns to the faulting RIP (it may change frame->rip). */
typedef void (*rt_trap_fn)(struct rt_frame *f);
void rt_set_trap(int vector, rt_trap_fn fn);

/* Command line: value of "key=" as unsigned (default if absent). */
u64 rt_cmdline_u64(const char *key, u64 def);
int rt_cmdline_has(const char *key);

/* SMP: start all APs with INIT-SIPI-SIPI; each runs ap_main(cpu). */
void rt_start_aps(void);
int rt_cpu_id(void);

void *memset(void *d, int c, u64 n);
void *memcpy(void *d, const void *s, u64 n);
int memcmp(const void *a, const void *b, u64 n);
u64 strlen(const char *s);

/* Spinlock for output from several CPUs. */
typedef struct { volatile u32 v; } rt_lock_t;
static inline void rt_lock(rt_lock_t *l) { while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE)) cpu_relax(); }
static inline void rt_unlock(rt_lock_t *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }

#endif
