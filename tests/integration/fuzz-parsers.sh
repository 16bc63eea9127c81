#!/usr/bin/env bash
# A short, bounded libFuzzer run over the kernel-image loaders (PVH ELF,
# bzImage), the SEV and AMD certificate parsers, the IPC header check and
# the migrate request / progress / result and migrate --set fields
# (tests/fuzz/fuzz-parsers.c), seeded with real inputs of each kind.  Any
# crash, sanitizer report, leak or timeout fails; skips, saying why, where
# clang cannot link a fuzzer.
. "$(dirname "$0")/../lib.sh"

FUZZ="$LKVM_BUILD/fuzz/fuzz-parsers"
need_fuzzer parsers-fuzz "$FUZZ"

C="$T_TMP/corpus"
mkdir -p "$C"
seed() { { printf "\\x$(printf %02x "$1")"; cat "$2"; } > "$C/seed-$1-$(basename "$2")"; }
seed 0 "$GUESTS/hello"
seed 0 "$GUESTS/smp"
[ -f "$LKVM_BUILD/tests/bzimage/probe.bzimage" ] && seed 1 "$LKVM_BUILD/tests/bzimage/probe.bzimage"
mkdir -m 700 "$T_TMP/root"
if $LKVM sev export --sev=emulated --sev-state "$T_TMP/sev" --sev-root "$T_TMP/root" \
	--pdh "$T_TMP/pdh" --chain "$T_TMP/chain" --amd-chain "$T_TMP/amd" >/dev/null 2>&1; then
	seed 2 "$T_TMP/pdh"
	head -c 2084 "$T_TMP/chain" > "$T_TMP/pek" && seed 2 "$T_TMP/pek"
	seed 3 "$T_TMP/amd"
else
	fail parsers-fuzz "could not export model certificates for the seed corpus"
	t_done
fi
printf '\x04LKVM\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00' > "$C/seed-4-ipc"
# Named fields (docs/ipc.md): a request with a key, a progress report, a result, a --set.
{ printf '\x05\x02to\x0b\x00127.0.0.1:1\x08downtime\x04\x00\x2c\x01\x00\x00'
  printf '\x06verify\x01\x00\x01\x03key\x20\x00'; head -c 32 /dev/zero; } > "$C/seed-5-req"
printf '\x05\x05round\x04\x00\x02\x00\x00\x00\x07percent\x08\x00\x00\x00\x00\x00\x00\x00\x49\x40\x05final\x01\x00\x01' \
	> "$C/seed-5-progress"
printf '\x05\x06status\x04\x00\xfb\xff\xff\xff\x06reason\x05\x00oops!\x06rounds\x08\x00\x03\x00\x00\x00\x00\x00\x00\x00' \
	> "$C/seed-5-result"
printf '\x05\x08downtime\x04\x00\x2c\x01\x00\x00\x09bandwidth\x08\x00\x05\x00\x00\x00\x00\x00\x00\x00\x0dauto-converge\x01\x00\x01' \
	> "$C/seed-5-set"

mkdir -p "$LKVM_BUILD/fuzz-crashes"
if "$FUZZ" -artifact_prefix="$LKVM_BUILD/fuzz-crashes/fuzz-parsers-" \
	-max_total_time="${FUZZ_SECONDS:-20}" -runs=3000000 -timeout=15 -rss_limit_mb=1536 \
	-max_len=65536 "$C" >"$T_TMP/fuzz.log" 2>&1; then
	runs=$(grep -o 'Done [0-9]* runs' "$T_TMP/fuzz.log" | grep -o '[0-9]*')
	if [ -n "$runs" ] && [ "$runs" -gt 1000 ]; then pass parsers-fuzz
	else fail parsers-fuzz "fuzzer ran only '${runs:-0}' inputs"; fi
else
	grep -v -e '^lkvm: error' -e '^bzImage:' "$T_TMP/fuzz.log" | tail -n 30
	fail parsers-fuzz "fuzzer found a crash or sanitizer report (input in $LKVM_BUILD/fuzz-crashes/)"
fi
t_done
