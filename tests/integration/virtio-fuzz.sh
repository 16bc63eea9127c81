#!/usr/bin/env bash
# A short, bounded libFuzzer run of the virtqueue descriptor walker
# (tests/fuzz/fuzz-virtio-ring.c): any crash, sanitizer report, leak or
# timeout is a failure.  Skips, saying why, where clang cannot link a fuzzer.
. "$(dirname "$0")/../lib.sh"

FUZZ="$LKVM_BUILD/fuzz/fuzz-virtio-ring"
need_fuzzer walker-fuzz "$FUZZ"

mkdir -p "$T_TMP/corpus"
mkdir -p "$LKVM_BUILD/fuzz-crashes"
if "$FUZZ" -artifact_prefix="$LKVM_BUILD/fuzz-crashes/$(basename "$FUZZ")-" -max_total_time="${FUZZ_SECONDS:-20}" -runs=2000000 -timeout=15 \
	-rss_limit_mb=1024 -max_len=4096 "$T_TMP/corpus" >"$T_TMP/fuzz.log" 2>&1; then
	runs=$(grep -o 'Done [0-9]* runs' "$T_TMP/fuzz.log" | grep -o '[0-9]*')
	if [ -n "$runs" ] && [ "$runs" -gt 1000 ]; then
		pass walker-fuzz
	else
		fail walker-fuzz "fuzzer ran only '${runs:-0}' inputs"
	fi
else
	tail -n 30 "$T_TMP/fuzz.log"
	fail walker-fuzz "fuzzer found a crash or sanitizer report"
fi
t_done
