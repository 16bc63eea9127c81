# lkvm: one binary, one Makefile.  Sources are found by wildcard so that a new
# file in a known directory needs no Makefile edit; topic-specific rules live
# in mk/*.mk fragments (fuzz targets, benches) included at the end.

CC       ?= gcc
O        ?= build
CFLAGS   ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
CPPFLAGS := -Iinclude -D_GNU_SOURCE -DLKVM_VERSION=\"0.1\"
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARNINGS) $(CPPFLAGS) -MMD -MP
LIBS     := -lfdt -lz -lcap -lcrypto -lpthread

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SRC_DIRS := . util x86 sev virtio migration
ALL_SRCS := $(filter-out ./main.c,$(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c)))
ALL_SRCS := $(patsubst ./%,%,$(ALL_SRCS))
LIB_OBJS := $(ALL_SRCS:%.c=$(O)/%.o)
SAN_OBJS := $(ALL_SRCS:%.c=$(O)/san/%.o)

UNIT_SRCS  := $(wildcard tests/unit/test-*.c)
UNIT_BINS  := $(UNIT_SRCS:%.c=$(O)/%)
UNIT_SAN   := $(UNIT_SRCS:%.c=$(O)/san/%)

PROGRAM := lkvm

# V=1 shows full command lines.
ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @echo
endif

.PHONY: all check unit demo deps deps-test clean guests bench soak
all: $(PROGRAM) guests

# Every object goes into the binary: builtin-*.c files register their commands
# in a linker section, so nothing may be dropped by archive member selection.
$(PROGRAM): $(O)/main.o $(LIB_OBJS)
	$(quiet) "  LINK    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# The whole VMM under ASan/UBSan, for running integration tests against it:
# make build/san/lkvm && LKVM=$PWD/build/san/lkvm bash tests/integration/X.sh
$(O)/san/$(PROGRAM): $(O)/san/main.o $(SAN_OBJS)
	$(quiet) "  LINK    $@"
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LIBS)

$(O)/liblkvm.a: $(LIB_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(O)/san/liblkvm.a: $(SAN_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) "  CC-SAN  $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(O)/tests/unit/%: tests/unit/%.c $(O)/liblkvm.a
	@mkdir -p $(dir $@)
	$(quiet) "  TEST    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(O)/liblkvm.a $(LIBS)

$(O)/san/tests/unit/%: tests/unit/%.c $(O)/san/liblkvm.a
	@mkdir -p $(dir $@)
	$(quiet) "  TEST    $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/unit -o $@ $< $(O)/san/liblkvm.a $(LIBS)

unit: $(UNIT_BINS) $(UNIT_SAN)

deps:
	@scripts/deps.sh

deps-test:
	@scripts/deps.sh test

# `make check` builds everything (after making sure the Debian packages are
# there) and runs every test; tests/run-tests.sh prints the summary line.
# The build part of check and demo uses every core unless the user gave -j
# already (CI runs plain `make check`; the build was 1.5 of its 11.5 min).
JOBS_FLAG = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 1))

check: deps-test
	@$(MAKE) --no-print-directory $(JOBS_FLAG) all unit check-extra
	@O=$(O) tests/run-tests.sh

demo: deps
	@$(MAKE) --no-print-directory $(JOBS_FLAG) all
	@scripts/demo.sh

# A long random walk of migrations, not part of check: HOPS=N SEED=S make soak
soak: all
	@LKVM="$(CURDIR)/$(PROGRAM)" LKVM_SRC="$(CURDIR)" LKVM_BUILD="$(CURDIR)/$(O)" \
		GUESTS="$(CURDIR)/tests/guests" tests/soak/migrate-soak.sh

clean:
	rm -rf $(O) $(PROGRAM) $(GUEST_BINS)

# Hooks that mk/*.mk fragments extend with double-colon rules.
.SECONDARY:
.PHONY: check-extra
check-extra:: $(O)/san/$(PROGRAM)
guests::
bench::

-include $(wildcard mk/*.mk)
-include $(shell find $(O) -name '*.d' 2>/dev/null)
