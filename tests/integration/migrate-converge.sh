#!/usr/bin/env bash
# Auto-converge (lkvm migrate --auto-converge): a guest that dirties memory
# faster than the link moves it converges only if its vCPUs get less time.
# Both vCPUs of tests/guests/migrate-smp rewrite a 2 MiB buffer every few
# ms; at --bandwidth 4 one pass over it takes 0.5 s, so without a throttle
# every round leaves the whole buffer dirty and pre-copy never gets under
# a 1 ms downtime.
#   no-throttle      without the option: stops at --max-rounds, "converged":false
#   auto-converge    with it: converges, counts run on at the destination
#                    with no gap, the RAM checksum matches
#   throttle-lifted  a cancelled migration gives the guest its speed back
#                    (the lkvm-throttle thread is gone, and vCPU 0 no longer
#                    sleeps: its count rate is shown, not judged)
#   stop-throttled   lkvm stop of a throttled source ends it at once
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"

tests="no-throttle auto-converge throttle-lifted stop-throttled"
need_kvm $tests
need_migrate $tests

throttle_threads() { grep -lx lkvm-throttle /proc/"$1"/task/*/comm 2>/dev/null | wc -l; }

# rate FILE: vCPU 0's counts per second, over one second
rate() {
	local a b
	a=$(SEQ_CPU=0 last_count "$1"); sleep 1; b=$(SEQ_CPU=0 last_count "$1")
	echo $((b - a))
}

# asleep PID: percent of 100 looks over about a second in which vCPU 0's
# thread of PID sleeps.  A throttled vCPU waits out its share in
# throttle_sleep(); an unthrottled one spins in the guest's delay loop and
# is runnable, whether or not a busy host lets it run.  So unlike a count
# rate, this does not move with the host's load.
asleep() {
	local t st n=0 i
	t=$(grep -lx lkvm-vcpu0 /proc/"$1"/task/*/comm 2>/dev/null | head -n 1)
	t=${t%/comm}
	for i in $(seq 100); do
		read -r _ _ st _ <"$t/stat" 2>/dev/null || return 1
		[ "$st" = S ] && n=$((n + 1))
		sleep 0.01
	done
	echo $n
}

# last_throttle FILE: the throttle in the last progress line of lkvm migrate --json
last_throttle() { grep -o '"throttle_pct":[0-9]*' "$1" | tail -n 1 | cut -d: -f2; }
throttle_at_least() { local p; p=$(last_throttle "$1"); [ -n "$p" ] && [ "$p" -ge "$2" ]; }

# throttled T PCT: an endless auto-converge migration of T-s in the
# background (its pid in MPID), until the throttle reaches PCT%
throttled() {
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name "$1-s" --json --bandwidth 4 --downtime 1 \
		--auto-converge --max-rounds 1000 >"$T_TMP/$1.mig.out" 2>"$T_TMP/$1.mig.err" &
	MPID=$!
	wait_for 60 throttle_at_least "$T_TMP/$1.mig.err" "$2" && return
	fail "$1" "no throttle of $2% within 60 s: $(tail -n 1 "$T_TMP/$1.mig.err")"
	kill $MPID 2>/dev/null; wait $MPID
	return 1
}

# The control: the same guest and link without the option.
t=no-throttle
if dirty_pair $t; then
	out=$("$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --json --bandwidth 4 --downtime 1 \
		--max-rounds 6 2>"$T_TMP/$t.mig.err"); rc=$?
	echo "$t: $out"
	if [ $rc -ne 0 ] || ! grep -q '"status":"completed"' <<<"$out"; then
		fail $t "migrate (rc $rc): $out $(tail -n 1 "$T_TMP/$t.mig.err")"
	elif grep -q '"converged":true' <<<"$out"; then
		skip $t "converged without a throttle: the guest barely ran (host too busy)"
	elif grep -q '"converged":false,"max_rounds":6,"downtime_target_ms":1,"auto_converge":false,"throttle_pct":0,' <<<"$out" &&
	     [ "$(throttle_threads "$DST_PID")" = 0 ]; then
		pass $t
	else
		fail $t "$out"
	fi
	cleanup_pair $t
fi

t=auto-converge
if dirty_pair $t; then
	out=$("$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --json --bandwidth 4 --downtime 1 \
		--auto-converge --verify 2>"$T_TMP/$t.mig.err"); rc=$?
	echo "$t: $out"
	pct=$(sed -n 's/.*"throttle_pct":\([0-9]*\).*/\1/p' <<<"$out")
	crc=$(sed -n 's/.*"mem_crc32":"\(0x[0-9a-f]*\)".*/\1/p' <<<"$out")
	if [ $rc -ne 0 ] || ! grep -q '"status":"completed"' <<<"$out"; then
		fail $t "migrate (rc $rc): $out $(tail -n 1 "$T_TMP/$t.mig.err")"
	elif ! grep -q '"converged":true,.*"auto_converge":true,' <<<"$out" || [ "${pct:-0}" -lt 20 ]; then
		fail $t "did not converge by throttling: $out"
	elif ! grep -q "its vCPUs now get $((100 - pct))% of the time" "$T_TMP/$t-s.err"; then
		fail $t "the source did not log its throttle steps: $(grep migration "$T_TMP/$t-s.err" | tail -n 3)"
	elif ! wait_for 10 grep -q "guest memory crc32 $crc matches" "$T_TMP/$t-d.err"; then
		fail $t "destination did not confirm memory checksum $crc: $(tail -n 2 "$T_TMP/$t-d.err")"
	elif ! wait_exit "$SRC_PID" 10 || [ "$EXIT_RC" != 0 ]; then
		fail $t "source exit $EXIT_RC after the commit"
	else
		# The destination's vCPUs run free: throttling is the source's business.
		if ! bad=$(vcpus_continue $t); then
			fail $t "$bad"
		elif [ "$(throttle_threads "$DST_PID")" != 0 ]; then
			fail $t "the destination runs a throttle thread"
		else
			pass $t
			echo "$t: throttled up to $pct%, $(grep -c '"throttle_pct":[1-9]' "$T_TMP/$t.mig.err") progress reports with a throttle"
		fi
	fi
	cleanup_pair $t
fi

# Throttled to 70% or more, then cancelled: the guest gets its CPU back.
# The destination is held (SIGSTOP) from then on: at 90-99% the guest
# dirties almost nothing, and the migration once converged and completed
# in the second the throttled speed was being measured, before the cancel.
# Held, it can send END but never hear the ACK, so the cancel still wins.
t=throttle-lifted
if dirty_pair $t; then
	before=$(rate "$T_TMP/$t-s.out")
	if throttled $t 70; then
		kill -STOP "$DST_PID"
		threads=$(throttle_threads "$SRC_PID")
		during=$(rate "$T_TMP/$t-s.out"); slept=$(asleep "$SRC_PID")
		pct=$(last_throttle "$T_TMP/$t.mig.err")
		"$LKVM" migrate --cancel --name $t-s >/dev/null 2>&1
		wait $MPID; rc=$?
		kill -CONT "$DST_PID"
		after=$(rate "$T_TMP/$t-s.out"); awake=$(asleep "$SRC_PID")
		# The rates are shown, not judged: on a busy host an unthrottled
		# vCPU runs only as often as the scheduler lets it.
		echo "$t: vCPU 0 counts/s: $before before, $during at $pct% or more, $after after the cancel;" \
			"asleep ${slept:-?}% of the time throttled, ${awake:-?}% after"
		if [ $rc -ne 1 ] || ! grep -q '"guest":"source"' "$T_TMP/$t.mig.out"; then
			fail $t "cancel: rc $rc, $(cat "$T_TMP/$t.mig.out")"
		elif [ "$threads" != 1 ] || [ "$(throttle_threads "$SRC_PID")" != 0 ]; then
			fail $t "lkvm-throttle threads: $threads while throttled, $(throttle_threads "$SRC_PID") after"
		elif [ "$before" -le 0 ] || [ "$after" -le 0 ] || [ -z "$slept" ] || [ -z "$awake" ] ||
		     [ "$slept" -lt $((pct / 2)) ] || [ "$awake" -gt 15 ]; then
			fail $t "vCPU 0 not throttled and then let run: asleep ${slept:-?}% at $pct%, ${awake:-?}% after ($before, $during, $after counts/s)"
		else
			pass $t
		fi
	fi
	cleanup_pair $t
fi

# lkvm stop cuts the throttle's sleeps short (up to 1 s each at 99%) and
# joins its thread before the vCPUs go (the ASan rerun watches that).
# The destination is held from 90% on, as in throttle-lifted, so that the
# migration cannot complete first; a 5 s ACK timeout bounds the wait of a
# source whose END went out before the stop (a stop lets that commit try).
t=stop-throttled
export LKVM_MIG_ACK_TIMEOUT_MS=5000
dirty_pair $t; ok=$?
unset LKVM_MIG_ACK_TIMEOUT_MS
if [ $ok -eq 0 ]; then
	if throttled $t 90; then
		kill -STOP "$DST_PID"
		"$LKVM" stop --name $t-s >/dev/null 2>&1
		wait $MPID; rc=$?
		kill -CONT "$DST_PID"
		if ! wait_exit "$SRC_PID" 10; then
			fail $t "the source did not exit within 10 s of lkvm stop"
		elif [ $rc -ne 2 ] || ! grep -q '"guest":"stopped"' "$T_TMP/$t.mig.out"; then
			fail $t "migrate: rc $rc, $(cat "$T_TMP/$t.mig.out"); source exit $EXIT_RC"
		elif grep -q "ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error" "$T_TMP/$t-s.err"; then
			fail $t "sanitizer: $(grep -m 1 Sanitizer "$T_TMP/$t-s.err")"
		else
			pass $t
		fi
	fi
	cleanup_pair $t
fi
t_done
