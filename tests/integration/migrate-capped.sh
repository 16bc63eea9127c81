#!/usr/bin/env bash
# A long bandwidth-capped round that is aborted: the source guest goes on.
# 14 MiB of random RAM at 2 MB/s make round 0 last about 7 s, in which the
# vCPU's dirty ring (every guest write is an entry on this host) fills
# several times over.  When the rings were drained only at the end of a
# round and on ring-full exits, the ring wrapped, and the vCPU then exited
# with a "full" ring that had nothing left to harvest, forever: the source
# guest stalled and never recovered after the migration was aborted.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="aborted-capped-round status-on-destination cancel-capped cap-shared"
need_kvm $tests
need_migrate $tests

t=aborted-capped-round
head -c $((14 << 20)) /dev/urandom >"$T_TMP/random14.img"
port=$(pick_port)
bg_start SRC_PID "$LKVM" run --page-map --test-doorbell -m 32M -k "$GUESTS/sevmig-guest" \
	-i "$T_TMP/random14.img" --name capsrc -p delay=20000 >"$T_TMP/capsrc.out" 2>"$T_TMP/capsrc.err"
if ! start_dst capdst "$port" --page-map --test-doorbell -m 32M; then
	fail $t "destination did not listen: $(tail -n 2 "$T_TMP/capdst.err")"; t_done
fi
if ! wait_for 30 counts_past "$T_TMP/capsrc.out" 2; then
	fail $t "source guest did not count: $(tail -n 3 "$T_TMP/capsrc.err")"; t_done
fi
st_wait=$("$LKVM" migrate --status --name capdst 2>&1)
"$LKVM" migrate --name capsrc --to "127.0.0.1:$port" --bandwidth 2 \
	>"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
MIG_PID=$!
# Well into round 0 (the ring has filled by then), the destination dies:
# at the 6th progress line inside round 0 (one per 0.5 s, so about 3 s in;
# the round takes about 7 s at 2 MB/s), not after a guessed sleep.
if ! wait_for 30 progress_lines "$T_TMP/$t.mig.err" 6; then
	fail $t "no progress lines inside round 0: $(tail -n 2 "$T_TMP/$t.mig.err")"
fi
st_text=$("$LKVM" migrate --status --name capdst 2>&1)
st_json=$("$LKVM" migrate --status --json --name capdst 2>&1)
kill -9 "$DST_PID" 2>/dev/null
wait "$MIG_PID"; rc=$?
if [ $rc -eq 0 ]; then
	fail $t "migration succeeded although the destination was killed: $(grep '^migrate: round' "$T_TMP/$t.mig.err" | tail -n 3)"
elif ! still_counting "$T_TMP/capsrc.out"; then
	fail $t "source guest stopped counting after the abort (last: $(last_count "$T_TMP/capsrc.out"))"
elif grep -aq 'priv BAD\|shared BAD' "$T_TMP/capsrc.out"; then
	fail $t "source guest found its memory changed: $(grep -a -m 1 'sevmig:' "$T_TMP/capsrc.out")"
else
	pass $t
	echo "$t: $(grep -v '^migrate: round' "$T_TMP/$t.mig.err"); source counted on to $(last_count "$T_TMP/capsrc.out")"
fi

# lkvm migrate --status on the destination shows the guest arriving (it
# used to answer only "the guest has not arrived yet"): waiting, then the
# source, the round and how much of RAM came, in words and in JSON.
t=status-on-destination
pct=$(echo "$st_json" | sed -n 's/.*"percent":\([0-9.]*\).*/\1/p')
if [ "$st_wait" != "incoming: waiting for a source on 127.0.0.1:$port for ${st_wait##* for }" ]; then
	fail $t "before the source came: '$st_wait'"
elif ! echo "$st_text" | grep -q "^incoming: receiving from 127.0.0.1:[0-9]* for [0-9.]* s: round 0, [0-9]*% of guest RAM arrived"; then
	fail $t "while receiving: '$st_text'"
elif ! echo "$st_json" | grep -q '^{"active":true,"incoming":true,"phase":"receiving","from":"127.0.0.1:' ||
     [ -z "$pct" ] || ! awk -v p="$pct" 'BEGIN { exit !(p > 0 && p < 100) }'; then
	fail $t "JSON while receiving: '$st_json'"
else
	pass $t
	echo "$t: $st_text"
fi

# A cancel under a low cap over many channels (1 MB/s over 16: one 2 MiB
# batch is half a minute of waiting per channel) ends at once, and the
# destination hears why.  The wait used to be an uninterruptible sleep: the
# client ended ~30 s later and the destination saw a cut connection.
t=cancel-capped
port=$(pick_port)
if ! start_dst capdst2 "$port" --page-map --test-doorbell -m 32M; then
	fail $t "destination did not listen: $(tail -n 2 "$T_TMP/capdst2.err")"
else
	"$LKVM" migrate --name capsrc --to "127.0.0.1:$port" --bandwidth 1 --channels 16 \
		>"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MIG_PID=$!
	wait_for 30 progress_lines "$T_TMP/$t.mig.err" 2
	t0=$(date +%s%N)
	"$LKVM" migrate --cancel --name capsrc >/dev/null 2>&1
	wait_exit "$MIG_PID" 30
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	if [ "$EXIT_RC" != 1 ] || [ $ms -gt 5000 ]; then
		fail $t "lkvm migrate ended $ms ms after the cancel (exit $EXIT_RC)"
	elif ! wait_exit "$DST_PID" 10 || ! grep -q "source aborted: cancelled (lkvm migrate --cancel)" "$T_TMP/capdst2.err"; then
		fail $t "the destination: $(tail -n 1 "$T_TMP/capdst2.err")"
	elif ! still_counting "$T_TMP/capsrc.out"; then
		fail $t "the source guest stopped counting"
	else
		pass $t
		echo "$t: lkvm migrate ended $ms ms after the cancel"
	fi
fi
# --bandwidth is one cap for all channels together.  It used to be split
# evenly (cap/16 each over --channels 16): with the guest's 14 MiB of data
# in 7 of the 2 MiB stripes, 9 channels idled and the migration ran at
# under half the cap.  Now at most the cap, and near it.
t=cap-shared
port=$(pick_port)
if ! start_dst capdst3 "$port" --page-map --test-doorbell -m 32M; then
	fail $t "destination did not listen: $(tail -n 2 "$T_TMP/capdst3.err")"
else
	"$LKVM" migrate --name capsrc --to "127.0.0.1:$port" --bandwidth 8 --channels 16 --json \
		>"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err"; rc=$?
	mbps=$(sed -n 's/.*"throughput_mbps":\([0-9.]*\).*/\1/p' "$T_TMP/$t.mig.out")
	if [ $rc -ne 0 ] || [ -z "$mbps" ]; then
		fail $t "rc=$rc: $(cat "$T_TMP/$t.mig.out")"
	elif ! awk -v m="$mbps" 'BEGIN { exit !(m >= 6.0 && m <= 8.4) }'; then
		fail $t "$mbps MB/s under a cap of 8 MB/s over 16 channels (want 6.0-8.4)"
	else
		pass $t
		echo "$t: $mbps MB/s under a cap of 8 MB/s over 16 channels"
	fi
	"$LKVM" stop --name capdst3 >/dev/null 2>&1
fi
"$LKVM" stop --name capsrc >/dev/null 2>&1
wait "$SRC_PID" 2>/dev/null
t_done
