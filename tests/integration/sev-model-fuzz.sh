#!/usr/bin/env bash
# A short libFuzzer run of the software SEV firmware model's command
# dispatcher (tests/fuzz/fuzz-sev-model.c): guest and platform command
# sequences with hostile structs, blobs and guest addresses, on three VMs
# over two platforms, seeded with valid launch, secret, send and receive
# sequences the harness writes itself.  FUZZ_SECONDS (default 20) halved
# bounds it; any crash, sanitizer report, leak or timeout fails.
source "$(dirname "$0")/../lib.sh"
fz="$LKVM_BUILD/fuzz/fuzz-sev-model"
need_fuzzer sev-model-fuzz "$fz"
secs=$(( ${FUZZ_SECONDS:-20} / 2 ))
[ "$secs" -ge 1 ] || secs=1
mkdir -p "$T_TMP/corpus"
if ! LKVM_FUZZ_SEED="$T_TMP/seeds" "$fz" >"$T_TMP/seed.log" 2>&1 ||
   [ -z "$(ls "$T_TMP/seeds" 2>/dev/null)" ]; then
	fail sev-model-fuzz "could not write its seeds: $(tail -n 3 "$T_TMP/seed.log")"
else
	fuzz_for sev-model-fuzz "$secs" "$fz" -max_len=65536 "$T_TMP/corpus" "$T_TMP/seeds"
fi
t_done
