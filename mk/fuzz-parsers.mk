# libFuzzer target for kernel images, SEV certificates, IPC headers and the
# named fields of migrate and migrate --set (tests/fuzz/fuzz-parsers.c),
# built from the sources so the parsers are instrumented;
# tests/integration/fuzz-parsers.sh runs it briefly.
PARSERS_FUZZ := $(O)/fuzz/fuzz-parsers
PARSERS_FUZZ_SRCS := kvm.c page-map.c util/mig-section.c util/init.c x86/pvh.c x86/bzimage.c x86/bios.c x86/e820.c x86/mptable.c \
		     sev/cert.c sev/amd-cert.c sev/kdf.c ipc-proto.c util/util.c util/out-files.c \
		     ipc-fields.c migration/control-fields.c

$(PARSERS_FUZZ): tests/fuzz/fuzz-parsers.c $(PARSERS_FUZZ_SRCS) $(BIOS_OBJ) \
		 include/lkvm/ipc-fields.h include/lkvm/migration.h
	@mkdir -p $(dir $@)
	$(quiet) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -std=gnu11 -g -O1 $(CPPFLAGS) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ tests/fuzz/fuzz-parsers.c \
		$(PARSERS_FUZZ_SRCS) $(BIOS_OBJ) -lfdt -lcrypto -lpthread

check-extra::
	@if echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then \
		$(MAKE) --no-print-directory $(PARSERS_FUZZ); fi
