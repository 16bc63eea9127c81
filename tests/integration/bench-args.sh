#!/usr/bin/env bash
# The bench scripts' command lines (no guest runs): a binary named
# relative to the caller's directory is that one, not the tree's.
. "$(dirname "$0")/../lib.sh"

ab=$LKVM_SRC/bench/migrate-ab.sh
mkdir -p "$T_TMP/old"
out=$(cd "$T_TMP/old" && bash "$ab" ./lkvm 2>&1); rc=$?
if [ $rc -eq 2 ] && [ "$out" = "bench/migrate-ab.sh: $T_TMP/old/lkvm is not an executable" ]; then
	pass ab_relative_old
else
	fail ab_relative_old "rc=$rc: $out"
fi
out=$(cd "$T_TMP/old" && bash "$ab" "$LKVM" ./new-lkvm -- --channels 1 2>&1); rc=$?
if [ $rc -eq 2 ] && [ "$out" = "bench/migrate-ab.sh: $T_TMP/old/new-lkvm is not an executable" ]; then
	pass ab_relative_new
else
	fail ab_relative_new "rc=$rc: $out"
fi
t_done
