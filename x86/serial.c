/*
 * 8250/16550A UART at 0x3f8 (COM1, IRQ 4) wired to the host terminal.
 * Output is written at once, so THR is always empty and LSR always says
 * so: guests that poll LSR before each byte never wait.  Input from stdin
 * fills a 64-byte receive FIFO.
 */
#include <pthread.h>
#include <errno.h>
#include <string.h>

#include "lkvm/init.h"
#include "lkvm/ioport.h"
#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/mig-section.h"
#include "lkvm/term.h"

#define UART_BASE	0x3f8
#define UART_IRQ	4
#define FIFO_SIZE	64

#define UART_LSR_DR	0x01
#define UART_LSR_THRE	0x20
#define UART_LSR_TEMT	0x40
#define UART_IER_RDI	0x01
#define UART_IER_THRI	0x02
#define UART_IIR_NO_INT	0x01
#define UART_IIR_THRI	0x02
#define UART_IIR_RDI	0x04
#define UART_LCR_DLAB	0x80
#define UART_MCR_LOOP	0x10
#define UART_MCR_OUT2	0x08

struct serial8250 {
	pthread_mutex_t lock;
	struct kvm *kvm;
	u8 ier, iir, lcr, mcr, lsr, msr, scr, fcr;
	u8 dll, dlm;
	bool thr_ipending;	/* THRE interrupt pending until IIR read or THR write */
	u8 rx[FIFO_SIZE];
	u32 rx_head, rx_count;
	int irq_level;
};

static struct serial8250 uart = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void update_irq(struct serial8250 *s)
{
	u8 iir = UART_IIR_NO_INT;
	int level;

	if ((s->ier & UART_IER_RDI) && s->rx_count)
		iir = UART_IIR_RDI;
	else if ((s->ier & UART_IER_THRI) && s->thr_ipending)
		iir = UART_IIR_THRI;
	s->iir = iir | (s->fcr & 1 ? 0xc0 : 0);
	level = iir != UART_IIR_NO_INT;
	if (level != s->irq_level && s->kvm->vm_fd >= 0) {
		kvm__irq_line(s->kvm, UART_IRQ, level);
		s->irq_level = level;
	}
}

static void rx_push(struct serial8250 *s, const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len && s->rx_count < FIFO_SIZE; i++) {
		s->rx[(s->rx_head + s->rx_count) % FIFO_SIZE] = buf[i];
		s->rx_count++;
	}
}

static void serial_input(struct kvm *kvm, const char *buf, size_t len)
{
	pthread_mutex_lock(&uart.lock);
	rx_push(&uart, buf, len);
	update_irq(&uart);
	pthread_mutex_unlock(&uart.lock);
}

static void serial_io(struct kvm_cpu *vcpu, u64 addr, u8 *data, u32 len, bool is_write,
		      void *ptr)
{
	struct serial8250 *s = ptr;
	u32 off = addr - UART_BASE;
	u8 v = data[0];

	pthread_mutex_lock(&s->lock);
	if (is_write) {
		switch (off) {
		case 0:
			if (s->lcr & UART_LCR_DLAB) {
				s->dll = v;
			} else if (s->mcr & UART_MCR_LOOP) {
				rx_push(s, (char *)&v, 1);
			} else {
				term__write(&v, 1);
				s->thr_ipending = true;
			}
			break;
		case 1:
			if (s->lcr & UART_LCR_DLAB) {
				s->dlm = v;
			} else {
				/* Enabling THRI with an empty THR raises it at once. */
				if (!(s->ier & UART_IER_THRI) && (v & UART_IER_THRI))
					s->thr_ipending = true;
				s->ier = v & 0x0f;
			}
			break;
		case 2:
			s->fcr = v;
			if (v & 0x02)
				s->rx_count = 0;
			break;
		case 3: s->lcr = v; break;
		case 4: s->mcr = v & 0x1f; break;
		case 7: s->scr = v; break;
		}
	} else {
		switch (off) {
		case 0:
			if (s->lcr & UART_LCR_DLAB) {
				v = s->dll;
			} else if (s->rx_count) {
				v = s->rx[s->rx_head];
				s->rx_head = (s->rx_head + 1) % FIFO_SIZE;
				s->rx_count--;
			} else {
				v = 0;
			}
			break;
		case 1: v = s->lcr & UART_LCR_DLAB ? s->dlm : s->ier; break;
		case 2:
			v = s->iir;
			if ((v & 0x0f) == UART_IIR_THRI)
				s->thr_ipending = false;
			break;
		case 3: v = s->lcr; break;
		case 4: v = s->mcr; break;
		case 5:
			v = UART_LSR_THRE | UART_LSR_TEMT | (s->rx_count ? UART_LSR_DR : 0);
			break;
		case 6:
			/* Loopback reflects MCR; otherwise report DCD, DSR, CTS. */
			v = s->mcr & UART_MCR_LOOP ? (u8)((s->mcr & 0x0f) << 4) : 0xb0;
			break;
		case 7: v = s->scr; break;
		}
		memset(data, 0, len);
		data[0] = v;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static int serial8250__init(struct kvm *kvm)
{
	uart.kvm = kvm;
	uart.iir = UART_IIR_NO_INT;
	uart.lsr = UART_LSR_THRE | UART_LSR_TEMT;
	term__set_input(serial_input);
	return kvm__register_pio(kvm, UART_BASE, 8, serial_io, &uart);
}

static int serial8250__exit(struct kvm *kvm)
{
	return kvm__deregister_pio(kvm, UART_BASE);
}
dev_init(serial8250__init, serial8250__exit);

/* Migration: the register file and the unread input. */
struct serial_state {
	u8 ier, lcr, mcr, scr, fcr, dll, dlm, thr_ipending;
	u32 rx_count;
	u8 rx[FIFO_SIZE];
};

static int serial_save(struct kvm *kvm, u32 inst, struct mig_buf *out)
{
	struct serial_state st = { 0 };
	u32 i;

	pthread_mutex_lock(&uart.lock);
	st.ier = uart.ier; st.lcr = uart.lcr; st.mcr = uart.mcr; st.scr = uart.scr;
	st.fcr = uart.fcr; st.dll = uart.dll; st.dlm = uart.dlm;
	st.thr_ipending = uart.thr_ipending;
	st.rx_count = uart.rx_count;
	for (i = 0; i < uart.rx_count; i++)
		st.rx[i] = uart.rx[(uart.rx_head + i) % FIFO_SIZE];
	pthread_mutex_unlock(&uart.lock);
	return mig_buf__put(out, &st, sizeof(st));
}

static int serial_load(struct kvm *kvm, u32 inst, const void *data, size_t len)
{
	struct serial_state st;

	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, data, sizeof(st));
	if (st.rx_count > FIFO_SIZE || st.thr_ipending > 1)
		return -EINVAL;
	pthread_mutex_lock(&uart.lock);
	uart.ier = st.ier & 0x0f; uart.lcr = st.lcr; uart.mcr = st.mcr & 0x1f;
	uart.scr = st.scr; uart.fcr = st.fcr; uart.dll = st.dll; uart.dlm = st.dlm;
	uart.thr_ipending = st.thr_ipending;
	uart.rx_head = 0;
	uart.rx_count = st.rx_count;
	memcpy(uart.rx, st.rx, FIFO_SIZE);
	update_irq(&uart);
	pthread_mutex_unlock(&uart.lock);
	return 0;
}

static struct mig_section serial_section = {
	.name = "serial", .id = MIG_SEC_SERIAL, .save = serial_save, .load = serial_load,
};
mig_section_register(serial_section);
