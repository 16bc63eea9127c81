# VM state (x86/cpu-state.c and friends): the blob decoders' libFuzzer target.
# Built from the sources so the decoders themselves are instrumented;
# tests/integration/cpustate-fuzz.sh runs it briefly and skips, saying why,
# where clang cannot link a fuzzer.

FUZZ_CC ?= clang
CPUSTATE_FUZZ := $(O)/fuzz/fuzz-cpu-state
CPUSTATE_FUZZ_SRCS := x86/cpu-state.c x86/tsc.c x86/irqchip-state.c x86/clock-state.c \
		      util/state-fdt.c util/mig-section.c util/util.c

$(CPUSTATE_FUZZ): tests/fuzz/fuzz-cpu-state.c $(CPUSTATE_FUZZ_SRCS) \
		  include/lkvm/cpu-state.h include/lkvm/state-fdt.h
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -std=gnu11 -g -O1 $(CPPFLAGS) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ tests/fuzz/fuzz-cpu-state.c \
		$(CPUSTATE_FUZZ_SRCS) -lfdt -lpthread

.PHONY: fuzz-cpu-state
fuzz-cpu-state: $(CPUSTATE_FUZZ)

check-extra::
	@if echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then \
		$(MAKE) --no-print-directory $(CPUSTATE_FUZZ); fi
