/*
 * MC146818 CMOS RTC at 0x70/0x71: the time from the host clock, BCD, 24 h,
 * and the CMOS memory-size bytes BIOS-era code reads.  No alarm or
 * periodic interrupts: nothing lkvm boots needs them.  A migration carries
 * the index latch and the CMOS bytes the guest can write (section
 * MIG_SEC_RTC); the time registers follow the host clock on either side.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "lkvm/init.h"
#include "lkvm/ioport.h"
#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/migration.h"
#include "lkvm/rtc.h"

#define RTC_INDEX	0x70
#define RTC_DATA	0x71

static struct {
	pthread_mutex_t lock;
	u8 index;
	u8 cmos[128];
} rtc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static u8 bcd(int v)
{
	return (u8)(((v / 10) << 4) | (v % 10));
}

static u8 rtc_read(u8 idx)
{
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	switch (idx) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x32: return bcd((tm.tm_year + 1900) / 100);
	case 0x0a: return 0x26;		/* 32.768 kHz, no update in progress */
	case 0x0b: return 0x02;		/* 24 h, BCD */
	case 0x0c: return 0x00;
	case 0x0d: return 0x80;		/* valid RAM and time */
	default: return rtc.cmos[idx];
	}
}

static void rtc_io(struct kvm_cpu *vcpu, u64 addr, u8 *data, u32 len, bool is_write,
		   void *ptr)
{
	pthread_mutex_lock(&rtc.lock);
	if (addr == RTC_INDEX) {
		if (is_write)
			rtc.index = data[0] & 0x7f;	/* bit 7 is the NMI mask */
		else
			data[0] = rtc.index;
	} else if (is_write) {
		if (rtc.index > 0x0d)
			rtc.cmos[rtc.index] = data[0];
	} else {
		data[0] = rtc_read(rtc.index);
	}
	pthread_mutex_unlock(&rtc.lock);
}

static int rtc__init(struct kvm *kvm)
{
	u64 ext = kvm->ram_size > SZ_1M ? (min(kvm->mem_banks[0].size, 64 * SZ_1M) - SZ_1M) >> 10 : 0;
	u64 above16 = kvm->mem_banks[0].size > 16 * SZ_1M ?
		      (kvm->mem_banks[0].size - 16 * SZ_1M) >> 16 : 0;
	u64 high = kvm->nr_mem_banks > 1 ? kvm->mem_banks[1].size >> 16 : 0;

	/* Memory sizes where BIOSes look for them (KiB above 1M, 64K units above 16M/4G). */
	ext = min(ext, 0xffffULL);
	above16 = min(above16, 0xffffULL);
	rtc.cmos[0x15] = 640 & 0xff;
	rtc.cmos[0x16] = 640 >> 8;
	rtc.cmos[0x17] = rtc.cmos[0x30] = ext & 0xff;
	rtc.cmos[0x18] = rtc.cmos[0x31] = ext >> 8;
	rtc.cmos[0x34] = above16 & 0xff;
	rtc.cmos[0x35] = above16 >> 8;
	rtc.cmos[0x5b] = high & 0xff;
	rtc.cmos[0x5c] = (high >> 8) & 0xff;
	rtc.cmos[0x5d] = (high >> 16) & 0xff;
	return kvm__register_pio(kvm, RTC_INDEX, 2, rtc_io, NULL);
}

static int rtc__exit(struct kvm *kvm)
{
	return kvm__deregister_pio(kvm, RTC_INDEX);
}
dev_init(rtc__init, rtc__exit);

/*
 * Migration: the index latch, then CMOS bytes 0x0e-0x7f (the registers
 * below them are computed; writes to them are dropped, so a source's are
 * always 0).  A vCPU paused between its OUT to 0x70 and its IN from 0x71
 * (each an exit) would otherwise read the seconds on the destination, and
 * NVRAM bytes the guest wrote would be back at their start-up values.
 */
#define RTC_STATE_LEN	(1 + sizeof(rtc.cmos))

int rtc__save_state(struct mig_buf *out)
{
	u8 st[RTC_STATE_LEN];

	pthread_mutex_lock(&rtc.lock);
	st[0] = rtc.index;
	memcpy(st + 1, rtc.cmos, sizeof(rtc.cmos));
	pthread_mutex_unlock(&rtc.lock);
	return mig_buf__put(out, st, sizeof(st));
}

int rtc__load_state(const void *data, size_t len)
{
	static const u8 zero[0x0e];
	const u8 *st = data;

	/* Only what a guest can leave: an index of 7 bits, nothing below 0x0e. */
	if (len != RTC_STATE_LEN || st[0] > 0x7f || memcmp(st + 1, zero, sizeof(zero)))
		return -EINVAL;
	pthread_mutex_lock(&rtc.lock);
	rtc.index = st[0];
	memcpy(rtc.cmos, st + 1, sizeof(rtc.cmos));
	pthread_mutex_unlock(&rtc.lock);
	return 0;
}

static int rtc_save(struct kvm *kvm, u32 inst, struct mig_buf *out)
{
	return inst ? -ERANGE : rtc__save_state(out);
}

static int rtc_load(struct kvm *kvm, u32 inst, const void *data, size_t len)
{
	return inst ? -ERANGE : rtc__load_state(data, len);
}

/* Behind a stream feature, as the PCI bus's section (x86/pci.c says why). */
static struct mig_section rtc_section = {
	.name	= "rtc",
	.id	= MIG_SEC_RTC,
	.feature = MIG_F_RTC_STATE,
	.save	= rtc_save,
	.load	= rtc_load,
};
mig_section_register(rtc_section);
