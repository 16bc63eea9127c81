#!/usr/bin/env bash
# A short libFuzzer run of the migration stream parser (tests/fuzz).
# FUZZ_SECONDS (default 20) bounds it; the corpus starts from valid streams.
source "$(dirname "$0")/../lib.sh"
fz="$LKVM_BUILD/fuzz/fuzz-migration-stream"
need_fuzzer stream-parser "$fz"
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
t_done
