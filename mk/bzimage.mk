# The real-mode BIOS for the bzImage boot path (x86/bios/bios.S): assembled
# as 16-bit code, linked flat at offset 0 of segment 0xf000, and wrapped
# into an object that defines lkvm_bios_blob[]..lkvm_bios_blob_end[] for
# x86/bios.c.  The object is added to the binary and both libraries as an
# extra prerequisite (their recipes link $^).

BIOS_DIR := $(O)/x86/bios
BIOS_BIN := $(BIOS_DIR)/bios.bin
BIOS_OBJ := $(BIOS_DIR)/bios-blob.o

$(BIOS_DIR)/bios16.o: x86/bios/bios.S include/lkvm/x86-boot.h
	@mkdir -p $(dir $@)
	$(quiet) "  AS16    $<"
	$(Q)$(CC) -m32 -Iinclude -c -o $@ $<

$(BIOS_BIN): $(BIOS_DIR)/bios16.o
	$(Q)$(LD) -m elf_i386 -Ttext=0 -e 0 --oformat=binary -o $@ $<

$(BIOS_OBJ): $(BIOS_BIN)
	$(quiet) "  BLOB    $@"
	$(Q)printf '\t.section .rodata\n\t.globl lkvm_bios_blob, lkvm_bios_blob_end\nlkvm_bios_blob:\n\t.incbin "%s"\nlkvm_bios_blob_end:\n\t.section .note.GNU-stack,"",@progbits\n' \
		$< | $(CC) -c -x assembler -o $@ -

$(PROGRAM) $(O)/san/$(PROGRAM) $(O)/liblkvm.a $(O)/san/liblkvm.a: $(BIOS_OBJ)

# tests/bzimage/probe.S: a synthetic bzImage whose setup code probes the
# BIOS services (tests/integration/linux-boot.sh boots it).
BZPROBE := $(O)/tests/bzimage/probe.bzimage

$(O)/tests/bzimage/probe.o: tests/bzimage/probe.S
	@mkdir -p $(dir $@)
	$(quiet) "  AS16    $<"
	$(Q)$(CC) -m32 -c -o $@ $<

$(BZPROBE): $(O)/tests/bzimage/probe.o
	$(quiet) "  BZIMAGE $@"
	$(Q)$(LD) -m elf_i386 -Ttext=0 -e 0 --oformat=binary -o $@ $<

guests:: $(BZPROBE)

# The Debian cloud kernel the bzImage tests use (cached in $(O)/linux).
.PHONY: linux-image
linux-image:
	@O=$(O) scripts/fetch-linux.sh
