#!/usr/bin/env bash
# A guest paused with `lkvm pause` migrates paused: it does not run at the
# destination until `lkvm resume` there, and then counts on with no gap or
# repeat.  The run state is fixed when END goes out; until the outcome,
# pause/resume on the source are refused rather than lost.
#
#   stays-paused        paused source -> paused destination ("paused":true),
#                       no count there until `lkvm resume`, then in sequence
#   held-refuses        pause and resume between END and the ACK (the hold
#                       test hook) are refused with the reason; the guest
#                       arrives running ("paused":false) and counts on
#   failed-stays-paused the destination gone between END and its ACK, the
#                       guest paused: the source keeps the guest paused (no
#                       count), pause/resume work again, resume counts on
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="stays-paused held-refuses failed-stays-paused"
need_kvm $tests
need_migrate $tests

MEM=16M

# pause_quiet TEST NAME: `lkvm pause NAME`; sets LAST to the count it stopped at.
pause_quiet() {
	if ! "$LKVM" pause --name "$2" >/dev/null; then fail "$1" "lkvm pause $2 failed"; return 1; fi
	sleep 0.2	# a line being printed finishes
	LAST=$(last_count "$T_TMP/$2.out")
}

# 1. Paused here, paused there.
t=stays-paused
if pair $t && pause_quiet $t $t-s; then
	out=$("$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --json 2>"$T_TMP/$t.mig.err"); rc=$?
	echo "$t: $out"
	if [ $rc -ne 0 ] || ! grep -q '"status":"completed".*"paused":true,"guest":"destination"}$' <<<"$out"; then
		fail $t "migrate (rc $rc): $out $(tail -n 1 "$T_TMP/$t.mig.err")"
	elif ! wait_exit "$SRC_PID" 10 || [ "$EXIT_RC" != 0 ]; then
		fail $t "source did not exit 0: $EXIT_RC"
	elif ! wait_for 10 state_is $t-d paused || ! wait_for 10 grep -q "paused as on the source" "$T_TMP/$t-d.err"; then
		fail $t "destination is '$(state $t-d)': $(tail -n 1 "$T_TMP/$t-d.err")"
	elif ! no_counts_for "$T_TMP/$t-d.out" 0 2; then
		fail $t "the paused guest counted at the destination: $(tail -c 60 "$T_TMP/$t-d.out")"
	elif ! "$LKVM" resume --name $t-d >/dev/null || ! wait_for 30 counts_past "$T_TMP/$t-d.out" $((LAST + 2)); then
		fail $t "after lkvm resume the guest does not count on: $(tail -n 1 "$T_TMP/$t-d.err")"
	elif ! m=$(check_sequence "$T_TMP/$t-s.out" "$T_TMP/$t-d.out"); then
		fail $t "count sequence broken: $m"
	else
		pass $t
		echo "$t: paused at count $LAST, none at the destination until lkvm resume; $m"
	fi
	"$LKVM" stop --name $t-d >/dev/null 2>&1
fi

# 2. Between END and the ACK the run state is fixed.
t=held-refuses
if pair $t LKVM_MIG_FAULT=hold:3000; then
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --json >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	if ! wait_for 30 grep -q "test hook: END sent" "$T_TMP/$t-s.err"; then
		fail $t "the hook never held the source: $(tail -n 2 "$T_TMP/$t-s.err")"
	else
		"$LKVM" pause --name $t-s >"$T_TMP/$t.pause.out" 2>&1; prc=$?
		"$LKVM" resume --name $t-s >"$T_TMP/$t.resume.out" 2>&1; rrc=$?
		wait "$MPID"; rc=$?
		want="a migration is handing the guest over as it is now (running)"
		if [ $prc -eq 0 ] || [ $rrc -eq 0 ] || ! grep -q "$want; pause it at the destination" "$T_TMP/$t.pause.out" ||
		   ! grep -q "$want; resume it at the destination" "$T_TMP/$t.resume.out"; then
			fail $t "pause (rc $prc) / resume (rc $rrc) during the hand-over: $(cat "$T_TMP/$t.pause.out" "$T_TMP/$t.resume.out")"
		elif [ $rc -ne 0 ] || ! grep -q '"paused":false,"guest":"destination"}$' "$T_TMP/$t.mig.out"; then
			fail $t "migrate (rc $rc): $(cat "$T_TMP/$t.mig.out" "$T_TMP/$t.mig.err" | tail -n 2)"
		elif ! wait_for 10 state_is $t-d running ||
		     ! wait_for 30 counts_past "$T_TMP/$t-d.out" $(( $(last_count "$T_TMP/$t-s.out") + 2 )); then
			fail $t "the guest does not run on at the destination ($(state $t-d))"
		else
			pass $t
			echo "$t: $(head -n 1 "$T_TMP/$t.pause.out")"
		fi
	fi
	"$LKVM" stop --name $t-d >/dev/null 2>&1
fi

# 3. A paused guest whose hand-over fails after END stays paused here.  The
#    destination is stopped (SIGSTOP) while the source holds before its
#    final round, so END goes out unread; then it is killed: the source
#    reads no ACK, only the cut.
t=failed-stays-paused
if pair $t "LKVM_MIG_FAULT=hold-paused:1000 LKVM_DEBUG=1" && pause_quiet $t $t-s; then
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --json >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	if ! wait_for 30 grep -q "test hook: vCPUs paused" "$T_TMP/$t-s.err"; then
		fail $t "the hook never held the source: $(tail -n 2 "$T_TMP/$t-s.err")"
	elif ! kill -STOP "$DST_PID" || ! wait_for 30 grep -q "migration: END sent" "$T_TMP/$t-s.err"; then
		fail $t "END never went out: $(tail -n 2 "$T_TMP/$t-s.err")"
	else
		kill -9 "$DST_PID"; wait "$DST_PID" 2>/dev/null
		wait "$MPID"; rc=$?
		# (Not "paused":true: the guest was not handed over paused.)
		if [ $rc -eq 0 ] || ! grep -q '"status":"failed","reason":"connection lost waiting for the acknowledgement.*"paused":false,"guest":"source"}$' "$T_TMP/$t.mig.out"; then
			fail $t "want a failure, reason and \"paused\":false (rc $rc): $(cat "$T_TMP/$t.mig.out")"
		elif ! grep -q "the guest stays here, paused ('lkvm resume')" "$T_TMP/$t-s.err"; then
			fail $t "the source's log does not say the guest stays paused: $(grep 'migration failed' "$T_TMP/$t-s.err")"
		elif ! kill -0 "$SRC_PID" 2>/dev/null || [ "$(state $t-s)" != paused ]; then
			fail $t "the source is '$(state $t-s)' after the failure: $(tail -n 2 "$T_TMP/$t-s.err")"
		elif ! no_counts_for "$T_TMP/$t-s.out" "$LAST" 2; then
			fail $t "the user-paused guest ran after the failed migration"
		elif ! "$LKVM" pause --name $t-s 2>&1 | grep -q "already paused" ||
		     ! "$LKVM" resume --name $t-s >/dev/null ||
		     ! wait_for 30 counts_past "$T_TMP/$t-s.out" $((LAST + 2)); then
			fail $t "pause/resume after the failure: the guest does not count on ($(state $t-s))"
		elif ! m=$(check_sequence "$T_TMP/$t-s.out"); then
			fail $t "count sequence broken: $m"
		else
			pass $t
			echo "$t: $(grep -o '"reason":"[^"]*"' "$T_TMP/$t.mig.out"); paused at $LAST until lkvm resume; $m"
		fi
	fi
	"$LKVM" stop --name $t-s >/dev/null 2>&1
fi
t_done
