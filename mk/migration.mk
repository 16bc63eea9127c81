# Live migration: the stream fuzzer and the benches.

# libFuzzer target: the stream parser built with clang, the fuzzer and ASan,
# and with checksum bypass available (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION).
FUZZ_CC       ?= clang
FUZZ_FLAGS    := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -std=gnu11 $(CPPFLAGS)
FUZZ_MIG_SRCS := migration/stream.c migration/crc32.c migration/transport.c migration/crypt.c \
		 migration/incoming.c \
		 migration/sev-stream.c \
		 util/util.c util/mig-section.c

$(O)/fuzz/fuzz-migration-stream: tests/fuzz/fuzz-migration-stream.c $(FUZZ_MIG_SRCS) \
				  include/lkvm/migration.h include/lkvm/mig-section.h tests/fuzz/fuzz-mig-dest.h
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz-migration-stream.c $(FUZZ_MIG_SRCS) -lz -lcrypto

.PHONY: fuzz-migration
fuzz-migration: $(O)/fuzz/fuzz-migration-stream

# Built by make check when clang can; the integration script skips otherwise.
check-extra::
	@$(MAKE) --no-print-directory $(O)/fuzz/fuzz-migration-stream 2>$(O)/fuzz-migration-build.log || \
		echo "fuzz-migration-stream: not built (see $(O)/fuzz-migration-build.log)"

# The sealed stream's reader (migration/crypt.c): frames, tags, order.
FUZZ_CRYPT_SRCS := migration/transport.c migration/crypt.c migration/stream.c migration/crc32.c \
		   util/util.c util/mig-section.c

$(O)/fuzz/fuzz-mig-crypt: tests/fuzz/fuzz-mig-crypt.c $(FUZZ_CRYPT_SRCS) include/lkvm/migration.h
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz-mig-crypt.c $(FUZZ_CRYPT_SRCS) -lz -lcrypto

fuzz-migration: $(O)/fuzz/fuzz-mig-crypt

check-extra::
	@$(MAKE) --no-print-directory $(O)/fuzz/fuzz-mig-crypt 2>$(O)/fuzz-mig-crypt-build.log || \
		echo "fuzz-mig-crypt: not built (see $(O)/fuzz-mig-crypt-build.log)"

# The section payloads (page map, virtio, PCI, RTC, console input) and the small peer
# records the stream fuzzer stubs out or does not link (tests/fuzz/fuzz-mig-sections.c).
FUZZ_SEC_SRCS := virtio/pci.c virtio/core.c virtio/ring.c virtio/mig.c virtio/console.c term.c \
		 x86/pci.c x86/rtc.c x86/cpuid.c \
		 kvm.c ioport.c page-map.c migration/shape.c migration/stream.c x86/tsc.c \
		 migration/crc32.c migration/sev-stream.c $(wildcard util/*.c)

$(O)/fuzz/fuzz-mig-sections: tests/fuzz/fuzz-mig-sections.c $(FUZZ_SEC_SRCS) $(wildcard include/lkvm/*.h)
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-std=gnu11 $(CPPFLAGS) -Wno-gnu-variable-sized-type-not-at-end \
		-o $@ tests/fuzz/fuzz-mig-sections.c $(FUZZ_SEC_SRCS) -lz -lfdt

fuzz-migration: $(O)/fuzz/fuzz-mig-sections

check-extra::
	@$(MAKE) --no-print-directory $(O)/fuzz/fuzz-mig-sections 2>$(O)/fuzz-mig-sections-build.log || \
		echo "fuzz-mig-sections: not built (see $(O)/fuzz-mig-sections-build.log)"

# Benches (not part of make check): `make bench`.
$(O)/bench/migrate-ram-loopback: bench/migrate-ram-loopback.c $(O)/liblkvm.a
	@mkdir -p $(dir $@)
	$(quiet) "  BENCH   $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(O)/liblkvm.a $(LIBS)

bench:: $(PROGRAM) $(O)/bench/migrate-ram-loopback $(O)/bench/idle-guest
	@O=$(O) bench/migrate.sh

# The bench's idle guest is the test guest tests/guests/idle (also used by
# migrate-basic's halted-guest), under the name the bench scripts expect.
$(O)/bench/idle-guest: tests/guests/idle
	@mkdir -p $(dir $@)
	cp $< $@

# The destination's connection intake (migration/dest.c included whole:
# control / data channel / stranger), over AF_UNIX with a fake clock
# (tests/fuzz/fuzz-mig-accept.c).
FUZZ_ACCEPT_SRCS := migration/stream.c migration/crc32.c migration/transport.c migration/crypt.c \
		    migration/incoming.c \
		    util/util.c util/mig-section.c util/init.c util/run-hooks.c

$(O)/fuzz/fuzz-mig-accept: tests/fuzz/fuzz-mig-accept.c tests/fuzz/fuzz-input.h migration/dest.c $(FUZZ_ACCEPT_SRCS) \
			   $(wildcard include/lkvm/*.h)
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-std=gnu11 $(CPPFLAGS) -o $@ tests/fuzz/fuzz-mig-accept.c $(FUZZ_ACCEPT_SRCS) -lz -lcrypto -lpthread

fuzz-migration: $(O)/fuzz/fuzz-mig-accept

# The SEV half of the incoming stream: SEV_START, ENCRYPTED pages and
# RECEIVE_FINISH on the firmware model (tests/fuzz/fuzz-migration-sev.c).
FUZZ_MIGSEV_SRCS := migration/stream.c migration/crc32.c migration/transport.c migration/crypt.c \
		    migration/incoming.c migration/sev-dst.c migration/sev-src.c migration/sev-stream.c \
		    $(filter-out sev/launch.c sev/owner.c,$(wildcard sev/*.c)) \
		    util/util.c util/mig-section.c util/parse-options.c util/out-files.c

$(O)/fuzz/fuzz-migration-sev: tests/fuzz/fuzz-migration-sev.c $(FUZZ_MIGSEV_SRCS) \
			      $(wildcard include/lkvm/*.h) tests/fuzz/fuzz-mig-dest.h
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz-migration-sev.c $(FUZZ_MIGSEV_SRCS) \
		-lz -lcrypto -lpthread

fuzz-migration: $(O)/fuzz/fuzz-migration-sev

# tests/integration/migrate-fuzz-intake.sh runs these two briefly.
check-extra::
	@$(MAKE) --no-print-directory $(O)/fuzz/fuzz-mig-accept 2>$(O)/fuzz-mig-accept-build.log || \
		echo "fuzz-mig-accept: not built (see $(O)/fuzz-mig-accept-build.log)"
	@$(MAKE) --no-print-directory $(O)/fuzz/fuzz-migration-sev 2>$(O)/fuzz-migration-sev-build.log || \
		echo "fuzz-migration-sev: not built (see $(O)/fuzz-migration-sev-build.log)"
