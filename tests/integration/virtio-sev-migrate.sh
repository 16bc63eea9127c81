#!/usr/bin/env bash
# An SEV guest with a live virtio queue migrates (firmware model): the
# migration test guest drives virtio-rng from a ring and buffer it declared
# shared, one request per count, and moves mid-run.
#   migrate     completes (the destination takes the device state: its
#               queue's rings are shared pages of the page map that came
#               with the same stream)
#   rng-after   the destination goes on counting, every count "rng ok":
#               the queue works there without a reset
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
source "$(dirname "$0")/sevmig-common.inc"
tests="migrate rng-after"
need_kvm $tests
need_migrate $tests

port=$(pick_port)
start_sev_src src "delay=20000 rng=1" --rng
start_sev_dst dst "$port" --rng || { fail migrate "destination did not listen: $(cat "$T_TMP/dst.err")"; t_done; }
if ! wait_for 60 counts_past "$T_TMP/src.out" 2 ||
   ! grep -aq "count 2 priv ok shared ok rng ok" "$T_TMP/src.out"; then
	fail migrate "source guest did not count with virtio-rng: $(tail -n 3 "$T_TMP/src.out" "$T_TMP/src.err")"
	stop_all src dst; t_done
fi
out=$("$LKVM" migrate --to "127.0.0.1:$port" --name src --json 2>"$T_TMP/migrate.err")
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q '"status":"completed"'; then
	pass migrate
else
	fail migrate "rc $rc: $out $(cat "$T_TMP/migrate.err"); destination: $(grep -a 'refused\|error' "$T_TMP/dst.err" | head -n 3)"
	stop_all src dst; t_done
fi

wait_for 15 bash -c "! kill -0 $SRC_PID 2>/dev/null"
last=$(last_count "$T_TMP/src.out")
if ! wait_for 60 counts_past "$T_TMP/dst.out" $((last + 3)); then
	fail rng-after "destination did not continue past $last: $(tail -n 3 "$T_TMP/dst.err")"
elif grep -aq "rng BAD" "$T_TMP/dst.out" || grep -q "guest error" "$T_TMP/dst.err" ||
     ! grep -aq "count $((last + 3)) priv ok shared ok rng ok" "$T_TMP/dst.out"; then
	fail rng-after "virtio-rng failed after the move: $(grep -a 'rng BAD' "$T_TMP/dst.out" | head -n 1) $(grep 'guest error' "$T_TMP/dst.err")"
else
	pass rng-after
	echo "rng-after: source stopped at count $last, destination past $((last + 3)), every count 'rng ok'"
fi
stop_all src dst
t_done
