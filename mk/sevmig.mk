# SEV live migration (docs/sev-migration.md): the bench (not in make check).
$(O)/bench/sevmig-idle: bench/guests/sevmig-idle.c $(GUEST_RT) tests/guests/rt/rt.h tests/guests/rt/guest.ld
	@mkdir -p $(dir $@)
	$(quiet) "  GUEST   $@"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_RT)

bench:: $(PROGRAM) $(O)/bench/sevmig-idle $(O)/bench/idle-guest
	@O=$(O) bench/sevmig.sh
