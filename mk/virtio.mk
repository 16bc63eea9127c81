# virtio: the descriptor-walker fuzz target and the virtio-blk bench.
#
# The fuzzer is built with clang and libFuzzer (Debian: clang,
# libclang-rt-14-dev) straight from the walker's source so that the walker
# itself is instrumented; tests/integration/virtio-fuzz.sh runs it briefly
# and skips, saying why, where clang cannot link a fuzzer.

FUZZ_CC ?= clang
VIRTIO_FUZZ := $(O)/fuzz/fuzz-virtio-ring
VIRTIO_BENCH := $(O)/bench/bench-virtio-blk

$(VIRTIO_FUZZ): tests/fuzz/fuzz-virtio-ring.c virtio/ring.c include/lkvm/virtio.h include/lkvm/util.h
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -std=gnu11 -g -O1 $(CPPFLAGS) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ tests/fuzz/fuzz-virtio-ring.c virtio/ring.c

.PHONY: fuzz-virtio
fuzz-virtio: $(VIRTIO_FUZZ)

# Only where the toolchain can link a fuzzer at all; the test says so otherwise.
check-extra::
	@if echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then \
		$(MAKE) --no-print-directory $(VIRTIO_FUZZ); fi

$(VIRTIO_BENCH): bench/bench-virtio-blk.c $(O)/liblkvm.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(O)/liblkvm.a $(LIBS)

bench:: $(VIRTIO_BENCH)
	$(VIRTIO_BENCH)

# What a guest drives through a virtio-blk device: the virtio-pci registers,
# PCI config space and the block requests behind them, on a small disk file
# (tests/fuzz/fuzz-virtio-pci-blk.c), with migrations of its state in the middle.
# Only the sources it reaches.
VPCI_FUZZ := $(O)/fuzz/fuzz-virtio-pci-blk
VPCI_FUZZ_SRCS := virtio/pci.c virtio/core.c virtio/ring.c virtio/blk.c virtio/mig.c x86/pci.c x86/cpuid.c \
		  kvm.c ioport.c page-map.c migration/shape.c migration/stream.c x86/tsc.c \
		  migration/crc32.c $(wildcard util/*.c)

$(VPCI_FUZZ): tests/fuzz/fuzz-virtio-pci-blk.c $(VPCI_FUZZ_SRCS) $(wildcard include/lkvm/*.h)
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -std=gnu11 -g -O1 $(CPPFLAGS) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -Wno-gnu-variable-sized-type-not-at-end \
		-o $@ tests/fuzz/fuzz-virtio-pci-blk.c $(VPCI_FUZZ_SRCS) \
		-lz -lfdt

fuzz-virtio: $(VPCI_FUZZ)

check-extra::
	@if echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then \
		$(MAKE) --no-print-directory $(VPCI_FUZZ); fi
