#!/usr/bin/env bash
# Short, bounded libFuzzer runs of the virtqueue descriptor walker
# (tests/fuzz/fuzz-virtio-ring.c) and of a virtio-blk device driven through
# its PCI registers (tests/fuzz/fuzz-virtio-pci-blk.c): any crash, sanitizer
# report, leak or timeout is a failure.  Skips, saying why, where clang
# cannot link a fuzzer.
. "$(dirname "$0")/../lib.sh"

FUZZ="$LKVM_BUILD/fuzz/fuzz-virtio-ring"
PCI_FUZZ="$LKVM_BUILD/fuzz/fuzz-virtio-pci-blk"
need_fuzzer walker-fuzz "$FUZZ"
need_fuzzer pci-blk-fuzz "$PCI_FUZZ"

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

# Seeded with one request of each kind, so the run starts past the transport.
mkdir -p "$T_TMP/pci-corpus"
if ! FUZZ_VIRTIO_PCI_SEEDS="$T_TMP/pci-seeds" "$PCI_FUZZ" >/dev/null 2>&1 ||
   [ "$(ls "$T_TMP/pci-seeds" | wc -l)" -ne 5 ]; then
	fail pci-blk-fuzz "the seed writer failed"
elif "$PCI_FUZZ" -artifact_prefix="$LKVM_BUILD/fuzz-crashes/$(basename "$PCI_FUZZ")-" \
	-max_total_time="${FUZZ_SECONDS:-20}" -timeout=15 -rss_limit_mb=1024 -max_len=66000 \
	"$T_TMP/pci-corpus" "$T_TMP/pci-seeds" >"$T_TMP/pci-fuzz.log" 2>&1; then
	runs=$(grep -o 'Done [0-9]* runs' "$T_TMP/pci-fuzz.log" | grep -o '[0-9]*')
	if [ -n "$runs" ] && [ "$runs" -gt 1000 ]; then
		pass pci-blk-fuzz
		echo "pci-blk-fuzz: $runs inputs, $(grep -o 'cov: [0-9]*' "$T_TMP/pci-fuzz.log" | tail -n 1)"
	else
		fail pci-blk-fuzz "fuzzer ran only '${runs:-0}' inputs"
	fi
else
	tail -n 30 "$T_TMP/pci-fuzz.log"
	fail pci-blk-fuzz "fuzzer found a crash or sanitizer report"
fi
t_done
