# Page map benchmark (bench/pagemap-bench.c): `make bench`, never `make check`.
PAGEMAP_BENCH := $(O)/bench/pagemap-bench

$(PAGEMAP_BENCH): bench/pagemap-bench.c $(O)/liblkvm.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(O)/liblkvm.a $(LIBS)

.PHONY: bench-pagemap
bench-pagemap: $(PAGEMAP_BENCH)
	$(PAGEMAP_BENCH) $(PAGEMAP_GIB)

bench:: bench-pagemap
