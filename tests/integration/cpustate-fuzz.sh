#!/usr/bin/env bash
# A short, bounded libFuzzer run of the VM-state blob decoders
# (tests/fuzz/fuzz-cpu-state.c), seeded with one valid blob per format: any
# crash, sanitizer report, leak or timeout is a failure.  Skips, saying
# why, where clang cannot link a fuzzer.
. "$(dirname "$0")/../lib.sh"

FUZZ="$LKVM_BUILD/fuzz/fuzz-cpu-state"
need_fuzzer decoder-fuzz "$FUZZ"

mkdir -p "$T_TMP/corpus"
if ! FUZZ_CPU_STATE_SEEDS="$T_TMP/corpus" "$FUZZ" || [ "$(ls "$T_TMP/corpus" | wc -l)" -ne 6 ]; then
	fail decoder-fuzz "could not write the seed corpus"
	t_done
fi
mkdir -p "$LKVM_BUILD/fuzz-crashes"
if "$FUZZ" -artifact_prefix="$LKVM_BUILD/fuzz-crashes/$(basename "$FUZZ")-" -max_total_time="${FUZZ_SECONDS:-15}" -runs=2000000 -timeout=15 \
	-rss_limit_mb=1024 -max_len=16384 "$T_TMP/corpus" >"$T_TMP/fuzz.log" 2>&1; then
	runs=$(grep -o 'Done [0-9]* runs' "$T_TMP/fuzz.log" | grep -o '[0-9]*')
	if [ -n "$runs" ] && [ "$runs" -gt 1000 ]; then
		pass decoder-fuzz
	else
		fail decoder-fuzz "fuzzer ran only '${runs:-0}' inputs"
	fi
else
	grep -v '^lkvm: error' "$T_TMP/fuzz.log" | tail -n 30
	fail decoder-fuzz "fuzzer found a crash or sanitizer report"
fi
t_done
