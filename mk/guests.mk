# Test guests: freestanding 64-bit programs booted through PVH.
GUEST_CC      := $(CC)
GUEST_CFLAGS  := -O2 -g -std=gnu11 -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
		 -mno-red-zone -mgeneral-regs-only -mcmodel=small -fno-asynchronous-unwind-tables \
		 -fcf-protection=none -Wall -Wextra -Werror -Wno-unused-parameter -Itests/guests/rt
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,tests/guests/rt/guest.ld -Wl,--build-id=none \
		 -Wl,-z,max-page-size=4096 -Wl,-z,noexecstack
GUEST_RT      := $(O)/guests/rt/entry.o $(O)/guests/rt/rt.o
GUEST_SRCS    := $(wildcard tests/guests/*.c)
GUEST_BINS    := $(GUEST_SRCS:tests/guests/%.c=tests/guests/%)

$(O)/guests/rt/%.o: tests/guests/rt/%.S
	@mkdir -p $(dir $@)
	$(quiet) "  AS      $<"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(O)/guests/rt/%.o: tests/guests/rt/%.c tests/guests/rt/rt.h
	@mkdir -p $(dir $@)
	$(quiet) "  CC      $<"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

tests/guests/%: tests/guests/%.c $(GUEST_RT) tests/guests/rt/rt.h tests/guests/rt/guest.ld
	$(quiet) "  GUEST   $@"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_RT)

guests:: $(GUEST_BINS)
