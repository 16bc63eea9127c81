# ipc-raw: the control-socket test client that sends malformed messages
# (tests/integration/ipc-*.sh).  Built with the unit tests so that
# `make all unit` is enough to run every test.
IPC_RAW := $(O)/tests/tools/ipc-raw

$(IPC_RAW): tests/tools/ipc-raw.c include/lkvm/ipc.h include/lkvm/migration.h
	@mkdir -p $(dir $@)
	$(quiet) "  TOOL    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $<

unit: $(IPC_RAW)
check-extra:: $(IPC_RAW)
