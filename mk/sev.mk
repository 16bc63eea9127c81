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
