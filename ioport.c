/*
 * Port I/O and MMIO dispatch tables.  Registration happens at init time,
 * lookups on every exit from any vCPU thread, so lookups take a read lock
 * and the tables are small sorted arrays.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/ioport.h"
#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"

struct io_range {
	u64 start, len;
	kvm_io_fn fn;
	void *ptr;
};

struct io_table {
	struct io_range *r;
	int n;
	pthread_rwlock_t lock;
};

static struct io_table pio = { .lock = PTHREAD_RWLOCK_INITIALIZER };
static struct io_table mmio = { .lock = PTHREAD_RWLOCK_INITIALIZER };

static int table_add(struct io_table *t, u64 start, u64 len, kvm_io_fn fn, void *ptr)
{
	struct io_range *r;
	int i, ret = 0;

	if (!len || start + len < start)
		return -EINVAL;
	pthread_rwlock_wrlock(&t->lock);
	for (i = 0; i < t->n; i++)
		if (start < t->r[i].start + t->r[i].len && t->r[i].start < start + len) {
			ret = -EBUSY;
			goto out;
		}
	r = realloc(t->r, (t->n + 1) * sizeof(*r));
	if (!r) {
		ret = -ENOMEM;
		goto out;
	}
	t->r = r;
	for (i = t->n; i > 0 && t->r[i - 1].start > start; i--)
		t->r[i] = t->r[i - 1];
	t->r[i] = (struct io_range){ start, len, fn, ptr };
	t->n++;
out:
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

static int table_del(struct io_table *t, u64 start)
{
	int i, ret = -ENOENT;

	pthread_rwlock_wrlock(&t->lock);
	for (i = 0; i < t->n; i++)
		if (t->r[i].start == start) {
			memmove(&t->r[i], &t->r[i + 1], (t->n - i - 1) * sizeof(t->r[0]));
			t->n--;
			ret = 0;
			break;
		}
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

/* Returns true if a handler ran. */
static bool table_call(struct io_table *t, struct kvm_cpu *vcpu, u64 addr, u8 *data,
		       u32 len, bool is_write)
{
	int lo = 0, hi;
	bool found = false;
	struct io_range r;

	pthread_rwlock_rdlock(&t->lock);
	hi = t->n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (addr < t->r[mid].start) {
			hi = mid - 1;
		} else if (addr - t->r[mid].start >= t->r[mid].len) {
			lo = mid + 1;
		} else {
			r = t->r[mid];
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	/* Handlers run unlocked: they may sleep, and must not deadlock a re-register. */
	if (found)
		r.fn(vcpu, addr, data, len, is_write, r.ptr);
	return found;
}

int kvm__register_pio(struct kvm *kvm, u16 port, u16 count, kvm_io_fn fn, void *ptr)
{
	return table_add(&pio, port, count, fn, ptr);
}

int kvm__register_mmio(struct kvm *kvm, u64 gpa, u64 len, kvm_io_fn fn, void *ptr)
{
	return table_add(&mmio, gpa, len, fn, ptr);
}

int kvm__deregister_pio(struct kvm *kvm, u16 port)
{
	return table_del(&pio, port);
}

int kvm__deregister_mmio(struct kvm *kvm, u64 gpa)
{
	return table_del(&mmio, gpa);
}

void kvm__emulate_io(struct kvm_cpu *vcpu, u16 port, u8 *data, bool is_write,
		     u32 size, u32 count)
{
	u32 i;

	for (i = 0; i < count; i++, data += size) {
		if (table_call(&pio, vcpu, port, data, size, is_write))
			continue;
		if (!is_write)
			memset(data, 0xff, size);
		pr_debug("unhandled %s of port 0x%x (size %u)", is_write ? "write" : "read",
			 port, size);
	}
}

void kvm__emulate_mmio(struct kvm_cpu *vcpu, u64 gpa, u8 *data, u32 len, bool is_write)
{
	if (table_call(&mmio, vcpu, gpa, data, len, is_write))
		return;
	if (!is_write)
		memset(data, 0xff, len);
	pr_debug("unhandled MMIO %s at 0x%llx (len %u)", is_write ? "write" : "read",
		 (unsigned long long)gpa, len);
}
