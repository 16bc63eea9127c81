#!/usr/bin/env bash
# Live migration between two local instances (issue 5, "what it must show" 1):
# the counting guest moves mid-run, the destination continues with the next
# count (no gap, no repeat), and the whole guest RAM checksum (--verify) the
# destination computed matches the source's.  1 vCPU, 2 vCPUs, and a guest
# that keeps dirtying memory while it moves.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="one-vcpu two-vcpus dirtying-guest"
need_kvm $tests
need_migrate $tests

# migrate_once TEST MEM CPUS GUEST_PARAMS [CHANNELS]
migrate_once() {
	local t=$1 mem=$2 cpus=$3 params=$4 ch=${5:-2} port src dst out rc
	port=$(pick_port)
	src="$t-src"; dst="$t-dst"
	start_src "$src" -m "$mem" -c "$cpus" -p "$params"
	if ! start_dst "$dst" "$port" -m "$mem" -c "$cpus"; then
		fail "$t" "destination did not listen: $(tail -n 2 "$T_TMP/$dst.err")"; return
	fi
	if ! wait_for 30 counts_past "$T_TMP/$src.out" 3; then
		fail "$t" "source guest did not count: $(tail -n 3 "$T_TMP/$src.err")"; return
	fi
	out=$("$LKVM" migrate --to "127.0.0.1:$port" --name "$src" --verify --json --channels "$ch" \
		2>"$T_TMP/$t-migrate.err")
	rc=$?
	echo "$t: $out"
	if grep -q "cannot save vCPU state" "$T_TMP/$t-migrate.err"; then
		skip "$t" "this tree has no vCPU state sections (cpustate branch)"; return
	fi
	if [ $rc -ne 0 ] || ! echo "$out" | grep -q '"status":"completed"'; then
		fail "$t" "migrate failed (rc $rc): $(cat "$T_TMP/$t-migrate.err")"; return
	fi
	# The source exits 0 once committed; the destination goes on counting.
	if ! wait_for 10 bash -c "! kill -0 $SRC_PID 2>/dev/null"; then
		fail "$t" "source still running after the commit"; return
	fi
	wait "$SRC_PID"; rc=$?
	[ $rc -eq 0 ] || { fail "$t" "source exited with $rc"; return; }
	local last; last=$(last_count "$T_TMP/$src.out")
	if ! wait_for 30 counts_past "$T_TMP/$dst.out" $((last + 3)); then
		fail "$t" "destination did not continue past $last: $(tail -n 3 "$T_TMP/$dst.err")"; return
	fi
	if ! seq_msg=$(check_sequence "$T_TMP/$src.out" "$T_TMP/$dst.out"); then
		fail "$t" "count sequence broken: $seq_msg"; return
	fi
	local crc; crc=$(echo "$out" | sed -n 's/.*"mem_crc32":"\(0x[0-9a-f]*\)".*/\1/p')
	if ! grep -q "guest memory crc32 $crc matches" "$T_TMP/$dst.err"; then
		fail "$t" "destination did not confirm memory checksum $crc: $(cat "$T_TMP/$dst.err")"; return
	fi
	"$LKVM" stop --name "$dst" >/dev/null 2>&1
	wait "$DST_PID" 2>/dev/null
	pass "$t"
	echo "$t: source stopped at count $last, $seq_msg, memory crc32 $crc"
}

migrate_once one-vcpu 16M 1 "delay=20000" 1
migrate_once two-vcpus 32M 2 "delay=20000"
migrate_once dirtying-guest 32M 2 "delay=500 dirty=1" 3
t_done
