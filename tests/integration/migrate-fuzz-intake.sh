#!/usr/bin/env bash
# Short libFuzzer runs of the destination code that reads a socket before
# migrate-fuzz.sh's stream parser does, or beside it:
#   accept-fuzz:     the listener's connection intake (migration/dest.c
#                    whole): control, data channels, strangers, slow and
#                    half-open peers, over AF_UNIX with a fake clock;
#   sev-stream-fuzz: an SEV migration's control stream (SEV_START,
#                    ENCRYPTED pages, RECEIVE_FINISH) on the firmware model;
#   crypt-fuzz:      the sealed stream's frame reader (--key): what was
#                    sealed comes back whole, a changed stream gives nothing
#                    of a changed frame, raw bytes never open.
# FUZZ_SECONDS (default 20) halved bounds each; the corpora start from
# valid input the harnesses write themselves.
source "$(dirname "$0")/../lib.sh"
fa="$LKVM_BUILD/fuzz/fuzz-mig-accept"
fv="$LKVM_BUILD/fuzz/fuzz-migration-sev"
fc="$LKVM_BUILD/fuzz/fuzz-mig-crypt"
need_fuzzer accept-fuzz "$fa"
need_fuzzer sev-stream-fuzz "$fv"
need_fuzzer crypt-fuzz "$fc"
secs=$(( ${FUZZ_SECONDS:-20} / 2 ))
[ "$secs" -ge 1 ] || secs=1
mkdir -p "$T_TMP/accept-corpus" "$T_TMP/sev-corpus" "$T_TMP/crypt-corpus"

if ! LKVM_FUZZ_SEED="$T_TMP/accept-seeds" "$fa" >"$T_TMP/accept-seed.log" 2>&1 ||
   [ -z "$(ls "$T_TMP/accept-seeds" 2>/dev/null)" ]; then
	fail accept-fuzz "could not write its seeds: $(tail -n 3 "$T_TMP/accept-seed.log")"
else
	fuzz_for accept-fuzz "$secs" "$fa" -max_len=4096 "$T_TMP/accept-corpus" "$T_TMP/accept-seeds"
fi

# The destination's platform (its PDH signs the seeds' sessions) lives in
# this test's directory, made anew with the seeds.
export LKVM_FUZZ_SEV_STATE="$T_TMP/sev-platform"
if ! LKVM_FUZZ_SEED="$T_TMP/sev-seeds" "$fv" >"$T_TMP/sev-seed.log" 2>&1 ||
   [ ! -s "$T_TMP/sev-seeds/private" ]; then
	fail sev-stream-fuzz "could not write its seeds: $(tail -n 3 "$T_TMP/sev-seed.log")"
else
	fuzz_for sev-stream-fuzz "$secs" "$fv" -max_len=65536 "$T_TMP/sev-corpus" "$T_TMP/sev-seeds"
fi

# No seeds needed: any input of 8 bytes or more is a case.
fuzz_for crypt-fuzz "$secs" "$fc" -max_len=4096 "$T_TMP/crypt-corpus"
t_done
