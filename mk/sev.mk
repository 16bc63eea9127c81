# SEV launch benchmark (bench/sev-launch.c): LAUNCH_UPDATE_DATA throughput
# of the firmware model for a 256 MiB image.  `make bench`, never `make check`.
SEV_LAUNCH_BENCH := $(O)/bench/sev-launch
SEV_LAUNCH_BENCH_MIB ?= 256

$(SEV_LAUNCH_BENCH): bench/sev-launch.c $(O)/liblkvm.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(O)/liblkvm.a $(LIBS)

.PHONY: bench-sev-launch
bench-sev-launch: $(SEV_LAUNCH_BENCH)
	$(SEV_LAUNCH_BENCH) $(SEV_LAUNCH_BENCH_MIB)

bench:: bench-sev-launch

# libFuzzer target for the software firmware model's command dispatcher
# (tests/fuzz/fuzz-sev-model.c): guest and platform command sequences with
# hostile structs, blobs and guest addresses.  `make fuzz-sev`.
SEV_FUZZ := $(O)/fuzz/fuzz-sev-model
SEV_FUZZ_SRCS := $(filter-out sev/launch.c sev/owner.c,$(wildcard sev/*.c)) \
		 util/util.c util/parse-options.c util/out-files.c

$(SEV_FUZZ): tests/fuzz/fuzz-sev-model.c tests/fuzz/fuzz-input.h $(SEV_FUZZ_SRCS) $(wildcard include/lkvm/*.h)
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -std=gnu11 -g -O1 $(CPPFLAGS) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ tests/fuzz/fuzz-sev-model.c \
		$(SEV_FUZZ_SRCS) -lcrypto -lpthread

.PHONY: fuzz-sev
fuzz-sev: $(SEV_FUZZ)

# tests/integration/sev-model-fuzz.sh runs it briefly.
check-extra::
	@$(MAKE) --no-print-directory $(SEV_FUZZ) 2>$(O)/fuzz-sev-model-build.log || \
		echo "fuzz-sev-model: not built (see $(O)/fuzz-sev-model-build.log)"
