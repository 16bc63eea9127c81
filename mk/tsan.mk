# A ThreadSanitizer build of the virtio-pci unit test, whose
# test_intx_msix_concurrent races a vCPU's MSI-X control writes against a
# device's signals (ASan and TSan cannot share a binary, so not in `make
# unit`).  The whole library is rebuilt under $(O)/tsan; -Wno-tsan because
# GCC's TSan does not model the ring's fences (it may miss races there,
# not report false ones in pci.c).  Any report fails the run (exit 66).
.PHONY: tsan-virtio-pci
tsan-virtio-pci:
	$(Q)$(MAKE) --no-print-directory O=$(O)/tsan CFLAGS='-O1 -g -fsanitize=thread -Wno-tsan' \
		$(O)/tsan/tests/unit/test-virtio-pci
	$(Q)$(O)/tsan/tests/unit/test-virtio-pci
