# SEV crypto benchmark (bench/sev-crypto-bench.c): `make bench`, never
# `make check`.  SEV_CRYPTO_BENCH_SECS sets the time spent per figure.
SEV_CRYPTO_BENCH := $(O)/bench/sev-crypto-bench
SEV_CRYPTO_BENCH_SECS ?= 1

$(SEV_CRYPTO_BENCH): bench/sev-crypto-bench.c $(O)/liblkvm.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(O)/liblkvm.a $(LIBS)

.PHONY: bench-sev-crypto
bench-sev-crypto: $(SEV_CRYPTO_BENCH)
	$(SEV_CRYPTO_BENCH) $(SEV_CRYPTO_BENCH_SECS)

bench:: bench-sev-crypto
