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
if "$fz" -max_total_time="$secs" -runs=5000000 -rss_limit_mb=1024 -timeout=10 \
	-artifact_prefix="$T_TMP/" "$T_TMP/corpus" "$T_TMP/seed" >"$T_TMP/fuzz.log" 2>&1; then
	echo "stream parser: $(grep -o 'Done [0-9]* runs' "$T_TMP/fuzz.log") in ${secs}s"
	pass stream-parser
else
	tail -n 30 "$T_TMP/fuzz.log"
	for a in "$T_TMP"/crash-* "$T_TMP"/leak-* "$T_TMP"/timeout-*; do
		[ -f "$a" ] && cp "$a" /tmp/ && echo "reproducer kept: /tmp/$(basename "$a")"
	done
	fail stream-parser "the fuzzer found a crash (see above)"
fi

# A page map, a virtio device's state, SEV records, STATUS/END/ROUND and
# HELLO: a refused load leaves the object as it was, an accepted one
# re-encodes.  (It found a section that hung the destination in libfdt.)
mkdir -p "$T_TMP/sec-corpus"
if ! FUZZ_MIG_SECTIONS_SEEDS="$T_TMP/sec-seeds" "$fs" >"$T_TMP/sec-seed.log" 2>&1 ||
   [ ! -s "$T_TMP/sec-seeds/seed-1" ]; then
	fail sections-fuzz "could not write its seeds: $(tail -n 3 "$T_TMP/sec-seed.log")"
elif "$fs" -max_total_time="$secs" -runs=5000000 -rss_limit_mb=1024 -timeout=10 -max_len=20000 \
	-artifact_prefix="$T_TMP/sec-" "$T_TMP/sec-corpus" "$T_TMP/sec-seeds" >"$T_TMP/sec-fuzz.log" 2>&1; then
	echo "sections: $(grep -o 'Done [0-9]* runs' "$T_TMP/sec-fuzz.log") in ${secs}s"
	pass sections-fuzz
else
	tail -n 30 "$T_TMP/sec-fuzz.log"
	for a in "$T_TMP"/sec-crash-* "$T_TMP"/sec-leak-* "$T_TMP"/sec-timeout-*; do
		[ -f "$a" ] && cp "$a" /tmp/ && echo "reproducer kept: /tmp/$(basename "$a")"
	done
	fail sections-fuzz "the fuzzer found a crash (see above)"
fi
t_done
