#!/usr/bin/env bash
# Short libFuzzer runs of the migration stream parser, and of the section
# payloads and small peer records it does not reach (tests/fuzz).
# FUZZ_SECONDS (default 20) bounds each; the corpora start from valid input.
source "$(dirname "$0")/../lib.sh"
fz="$LKVM_BUILD/fuzz/fuzz-migration-stream"
fs="$LKVM_BUILD/fuzz/fuzz-mig-sections"
need_fuzzer stream-parser "$fz"
need_fuzzer sections-fuzz "$fs"
mkdir -p "$T_TMP/corpus"
if ! LKVM_FUZZ_SEED="$T_TMP/seed" "$fz" >"$T_TMP/seed.log" 2>&1 || [ ! -s "$T_TMP/seed/full" ]; then
	fail seed-corpus "could not write the seed corpus: $(tail -n 3 "$T_TMP/seed.log")"
	t_done
fi
pass seed-corpus
secs=${FUZZ_SECONDS:-20}
fuzz_for stream-parser "$secs" "$fz" "$T_TMP/corpus" "$T_TMP/seed"

# A page map, a virtio device's state, the PCI bus, the RTC, a console's typed
# input, SEV records, STATUS/END/ROUND and
# HELLO: a refused load leaves the object as it was, an accepted one
# re-encodes.  (It found a section that hung the destination in libfdt.)
mkdir -p "$T_TMP/sec-corpus"
if ! FUZZ_MIG_SECTIONS_SEEDS="$T_TMP/sec-seeds" "$fs" >"$T_TMP/sec-seed.log" 2>&1 ||
   [ ! -s "$T_TMP/sec-seeds/seed-1" ]; then
	fail sections-fuzz "could not write its seeds: $(tail -n 3 "$T_TMP/sec-seed.log")"
else
	fuzz_for sections-fuzz "$secs" "$fs" -max_len=20000 "$T_TMP/sec-corpus" "$T_TMP/sec-seeds"
fi
t_done
