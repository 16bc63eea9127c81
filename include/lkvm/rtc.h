/*
 * The CMOS RTC's migration state (x86/rtc.c, section MIG_SEC_RTC): the
 * index latch and the CMOS bytes a guest can write.  Load refuses anything
 * a guest could not have left and then changes nothing.
 */
#ifndef LKVM__RTC_H
#define LKVM__RTC_H

#include <stddef.h>

struct mig_buf;

int rtc__save_state(struct mig_buf *out);
int rtc__load_state(const void *data, size_t len);

#endif
