#!/usr/bin/env bash
# lkvm migrate --set: the settings of a migration in progress change
# without starting over (which would send all of RAM again).
#   set-none-running  --set with no migration under way: an error, exit 1
#   set-uncap         a crawling capped migration (16 MiB of random RAM at
#                     1 MB/s) finishes soon after the cap is lifted, and the
#                     summary shows the cap it ended with
#   set-last-round    a migration that never converges (a dirtying guest,
#                     1 ms target) ends after --set --max-rounds 1; the
#                     counts run on at the destination with no gap
#   set-lower-cap     a cap lowered to 1 MB/s with a 1 s target: pre-copy
#                     judges by the new cap, not by the rounds sent at the
#                     old one (it used to call it converged and pause the
#                     guest for 2 s)
#   set-too-late      refused once pre-copy is over (the guest paused for the
#                     last round), and the refusal changes nothing
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"

tests="set-none-running set-uncap set-last-round set-lower-cap set-too-late"
need_kvm $tests
need_migrate $tests

# json_field FILE KEY: the value of "KEY": in the summary object
json_field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$1" | tail -n 1; }
# rounds_reported FILE N: a progress line of round N or later (lkvm migrate --json)
rounds_reported() { grep -o '"round":[0-9]*' "$1" | cut -d: -f2 | awk -v n="$2" '$1 >= n { f = 1 } END { exit !f }'; }

head -c $((16 << 20)) /dev/urandom >"$T_TMP/random16.img"

t=set-none-running
PORT=$(pick_port)
bg_start SRC_PID "$LKVM" run -k "$GUESTS/counter" -m 64M -i "$T_TMP/random16.img" \
	-p delay=2000 --name set-s >"$T_TMP/set-s.out" 2>"$T_TMP/set-s.err"
if ! wait_for 30 counts_past "$T_TMP/set-s.out" 2; then
	fail $t "source guest did not count: $(tail -n 2 "$T_TMP/set-s.err")"
	for n in $tests; do [ $n = $t ] || fail $n "no source"; done
	t_done
fi
out=$("$LKVM" migrate --set --bandwidth 5 --name set-s 2>&1); rc=$?
if [ $rc -ne 1 ] || [ "$out" != "lkvm migrate: error: set-s: no migration in progress" ]; then
	fail $t "rc $rc: '$out'"
else
	pass $t
fi

t=set-uncap
if ! start_dst set-d "$PORT" -m 64M || ! wait_for 30 grep -q "faulted in" "$T_TMP/set-d.err"; then
	fail $t "destination: $(tail -n 2 "$T_TMP/set-d.err")"
else
	"$LKVM" migrate --name set-s --to "127.0.0.1:$PORT" --bandwidth 1 --json \
		>"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	# A progress report well inside round 0: it crawls.
	if ! wait_for 30 grep -q '"round":0,"final":false,"percent":[1-9]' "$T_TMP/$t.mig.err"; then
		fail $t "no progress inside round 0: $(tail -n 2 "$T_TMP/$t.mig.err")"
	fi
	t0=$(date +%s%N)
	set_out=$("$LKVM" migrate --set --bandwidth 0 --name set-s 2>&1); set_rc=$?
	wait_exit "$MPID" 60; rc=$EXIT_RC
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "$t: '$set_out'; lkvm migrate ended $ms ms later"
	if [ $set_rc -ne 0 ] ||
	   ! grep -q "^set-s: migration to 127.0.0.1:$PORT now: downtime target 30 ms, bandwidth no cap (was 1 MB/s), round limit 30, auto-converge off$" <<<"$set_out"; then
		fail $t "--set: rc $set_rc, '$set_out'"
	elif [ "$rc" != 0 ]; then
		fail $t "migration failed (rc $rc): $(cat "$T_TMP/$t.mig.out")"
	elif [ "$(json_field "$T_TMP/$t.mig.out" bandwidth_cap_mbps)" != 0 ] ||
	     [ "$(json_field "$T_TMP/$t.mig.out" settings_changed)" != 1 ]; then
		fail $t "summary: $(cat "$T_TMP/$t.mig.out")"
	elif [ $ms -gt 8000 ]; then
		# At 1 MB/s the 16 MiB left would take about 16 s.
		fail $t "took $ms ms after the cap was lifted"
	elif ! grep -q "bandwidth no cap (was 1 MB/s).*(lkvm migrate --set)" "$T_TMP/set-s.err"; then
		fail $t "the source did not log the change: $(grep migration "$T_TMP/set-s.err" | tail -n 2)"
	else
		last=$(last_count "$T_TMP/set-s.out")
		if ! wait_for 30 counts_past "$T_TMP/set-d.out" $((last + 2)) ||
		   ! m=$(check_sequence "$T_TMP/set-s.out" "$T_TMP/set-d.out"); then
			fail $t "destination: ${m:-did not count on past $last}"
		else
			pass $t
		fi
	fi
fi
"$LKVM" stop --name set-s >/dev/null 2>&1
"$LKVM" stop --name set-d >/dev/null 2>&1
wait_exit "$SRC_PID" 20; wait_exit "$DST_PID" 20

# The dirtying 2-vCPU guest (dirty_pair): at 4 MB/s it never gets under a
# 1 ms downtime.

# migrate_to_round2 T ARGS...: lkvm migrate --json ARGS of T-s to $PORT in
# the background (pid in MPID), returning once it reports round 2; else
# fails T, ends the migration and returns 1
migrate_to_round2() {
	local t=$1; shift
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --json "$@" \
		>"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	wait_for 60 rounds_reported "$T_TMP/$t.mig.err" 2 && return
	fail $t "no round 2 within 60 s: $(tail -n 1 "$T_TMP/$t.mig.err")"
	kill $MPID 2>/dev/null; wait $MPID
	return 1
}
t=set-last-round
if dirty_pair $t; then
	if migrate_to_round2 $t --bandwidth 4 --downtime 1 --max-rounds 1000; then
		set_out=$("$LKVM" migrate --set --max-rounds 1 --name $t-s 2>&1); set_rc=$?
		wait_exit "$MPID" 60; rc=$EXIT_RC
		rounds=$(json_field "$T_TMP/$t.mig.out" rounds)
		echo "$t: '$set_out'; $(cat "$T_TMP/$t.mig.out")"
		if [ $set_rc -ne 0 ] || ! grep -q "round limit 1," <<<"$set_out"; then
			fail $t "--set: rc $set_rc, '$set_out'"
		elif [ "$rc" != 0 ]; then
			fail $t "migration failed (rc $rc): $(cat "$T_TMP/$t.mig.out")"
		elif ! grep -q '"converged":false,"max_rounds":1,' "$T_TMP/$t.mig.out" ||
		     [ "$(json_field "$T_TMP/$t.mig.out" settings_changed)" != 1 ] ||
		     [ -z "$rounds" ] || [ "$rounds" -gt 8 ]; then
			fail $t "summary: $(cat "$T_TMP/$t.mig.out")"
		elif ! bad=$(vcpus_continue $t); then
			fail $t "$bad"
		else
			pass $t
		fi
	fi
	cleanup_pair $t
fi

t=set-lower-cap
if dirty_pair $t; then
	# 5 MB/s, not more: rounds 2-4 of a guest that dirties little under
	# load once went by before --set could land ("too late").
	if migrate_to_round2 $t --bandwidth 5 --downtime 1 --max-rounds 4; then
		set_out=$("$LKVM" migrate --set --bandwidth 1 --downtime 1000 --name $t-s 2>&1); set_rc=$?
		wait_exit "$MPID" 60; rc=$EXIT_RC
		down=$(json_field "$T_TMP/$t.mig.out" downtime_ms)
		# The last report of pre-copy, made after the change: at most the new cap.
		mbps=$(grep '"final":false' "$T_TMP/$t.mig.err" | tail -n 1 | sed -n 's/.*"mbps":\([0-9.]*\).*/\1/p')
		echo "$t: '$set_out'; last pre-copy report ${mbps:-?} MB/s; $(cat "$T_TMP/$t.mig.out")"
		if [ $set_rc -ne 0 ] || [ "$rc" != 0 ]; then
			fail $t "--set rc $set_rc '$set_out', migrate rc $rc: $(cat "$T_TMP/$t.mig.out")"
		elif grep -q '"converged":true' "$T_TMP/$t.mig.out" &&
		     ! awk -v d="$down" 'BEGIN { exit !(d <= 1500) }'; then
			fail $t "called converged for a 1000 ms target, then paused the guest $down ms"
		elif [ -z "$mbps" ] || ! awk -v m="$mbps" 'BEGIN { exit !(m <= 1.1) }'; then
			fail $t "pre-copy still reckoned with ${mbps:-?} MB/s under a 1 MB/s cap"
		else
			pass $t
		fi
	fi
	cleanup_pair $t
fi

# Held in its final round by the test hook (LKVM_MIG_FAULT=hold-paused):
# --set is refused there, and the migration completes as it was.
t=set-too-late
MEM=64M
if pair $t "LKVM_MIG_FAULT=hold-paused:8000"; then
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --json \
		>"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	if ! wait_for 30 grep -q "test hook: vCPUs paused" "$T_TMP/$t-s.err"; then
		fail $t "the source never held paused: $(tail -n 2 "$T_TMP/$t-s.err")"
	else
		set_out=$("$LKVM" migrate --set --bandwidth 1 --name $t-s 2>&1); set_rc=$?
		wait_exit "$MPID" 60; rc=$EXIT_RC
		if [ $set_rc -ne 1 ] ||
		   [ "$set_out" != "lkvm migrate: error: $t-s: too late: the migration to 127.0.0.1:$PORT is past pre-copy" ]; then
			fail $t "--set: rc $set_rc, '$set_out'"
		elif [ "$rc" != 0 ] || [ "$(json_field "$T_TMP/$t.mig.out" settings_changed)" != 0 ] ||
		     [ "$(json_field "$T_TMP/$t.mig.out" bandwidth_cap_mbps)" != 0 ]; then
			fail $t "migration (rc $rc): $(cat "$T_TMP/$t.mig.out")"
		else
			pass $t
		fi
	fi
	cleanup_pair $t
fi
t_done
