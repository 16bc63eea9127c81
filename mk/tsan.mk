# ThreadSanitizer builds: unit tests that race threads on purpose, and the
# whole VMM for integration scripts (README.md, "Tests and benchmarks").
#
# A ThreadSanitizer build of the virtio-pci unit test, whose
# test_intx_msix_concurrent races a vCPU's MSI-X control writes against a
# device's signals (ASan and TSan cannot share a binary, so not in `make
# unit`).  The whole library is rebuilt under $(O)/tsan; -Wno-tsan because
# GCC's TSan does not model the ring's fences (it may miss races there,
# not report false ones in pci.c).  Any report fails the run (exit 66).
TSAN_CFLAGS := -O1 -g -fsanitize=thread -Wno-tsan

.PHONY: tsan-virtio-pci
tsan-virtio-pci:
	$(Q)$(MAKE) --no-print-directory O=$(O)/tsan CFLAGS='$(TSAN_CFLAGS)' \
		$(O)/tsan/tests/unit/test-virtio-pci
	$(Q)$(O)/tsan/tests/unit/test-virtio-pci

# Every unit test that races threads on purpose, under TSan (test-core:
# what a stop publishes to lock-free readers).
TSAN_UNIT := test-virtio-pci test-core

.PHONY: tsan-unit
tsan-unit:
	$(Q)$(MAKE) --no-print-directory O=$(O)/tsan CFLAGS='$(TSAN_CFLAGS)' \
		$(TSAN_UNIT:%=$(O)/tsan/tests/unit/%)
	$(Q)set -e; for t in $(TSAN_UNIT); do $(O)/tsan/tests/unit/$$t; done

# The whole VMM under ThreadSanitizer, from the same objects:
# make build/tsan/lkvm && LKVM=$PWD/build/tsan/lkvm bash tests/integration/X.sh
# The sub-make's $(O) is $(O)/tsan; only there is $(O)/lkvm a target.
.PHONY: FORCE
$(O)/tsan/$(PROGRAM): FORCE
	$(Q)$(MAKE) --no-print-directory O=$(O)/tsan CFLAGS='$(TSAN_CFLAGS)' $@

# A short whole-VMM run under ThreadSanitizer: integration scripts against
# $(O)/tsan/lkvm, failing on any report not in tests/tsan/vmm.supp (races by
# design, each with its reason) or any FAIL (tests/tsan/run-vmm.sh).
.PHONY: tsan-vmm
tsan-vmm: all $(O)/tsan/$(PROGRAM)
	$(Q)O=$(O) tests/tsan/run-vmm.sh

ifeq ($(notdir $(O)),tsan)
$(O)/$(PROGRAM): $(O)/main.o $(LIB_OBJS) $(BIOS_OBJ)
	$(quiet) "  LINK    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)
endif
