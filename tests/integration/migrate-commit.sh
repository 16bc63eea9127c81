#!/usr/bin/env bash
# The commit after END (docs/migration-stream.md "The end and the commit
# rule"): the destination runs the guest only on the source's GO, which
# goes out only after its ACK; the source exits only on RUNNING.  So no
# failure runs two copies, and none loses the guest.
#
#   late-ack       the destination is stopped (SIGSTOP) before END, so its
#                  ACK comes after the source gave up (ack timeout 2 s):
#                  the source resumes and counts on; the destination, let
#                  go, sends its ACK, hears ABORT and exits non-zero
#                  without running the guest.  (Stream version 1 ran it:
#                  two copies counting.)
#   running-lost   the destination takes GO but its RUNNING is lost (test
#                  hook): lkvm migrate exits 3 "outcome unknown", the guest
#                  is paused here (no count), pause and a new migrate are
#                  refused with the reason, and `lkvm stop` here ends it.
#   unknown-resume the same, and the destination dies; `lkvm resume` here
#                  gives the guest back: it counts on with no gap or repeat.
#   dst-stopped-before-go  the destination is stopped after its ACK, before
#                  GO: it says so in place of RUNNING, and the source resumes
#                  the guest (exit 1) instead of reporting "unknown".
#   dst-stopped-after-go  the destination is stopped (lkvm stop, then
#                  SIGTERM) after GO came, before it confirmed RUNNING
#                  (hold-claim hook): it must not confirm a guest it will
#                  never run; it says why in place of RUNNING and the
#                  source resumes it (exit 1).  (It confirmed and exited:
#                  lkvm migrate said 0, the guest ran nowhere.)
#   src-stopped-after-end  the source is stopped after END while the ACK is
#                  late: the commit may still finish, so the stop waits for
#                  it; it fails, and lkvm migrate says the guest stops with
#                  this VMM (exit 2), not that it runs on here.
#   stop-races-migrate  `lkvm stop` a few ms after `lkvm migrate`, at
#                  several delays: whichever wins, the source VMM exits 0
#                  (no crash: the engine once read dirty rings the stop had
#                  freed), exactly one side ends with the guest, and the
#                  outcome is never "unknown".
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="late-ack running-lost unknown-resume dst-stopped-before-go dst-stopped-after-go src-stopped-after-end stop-races-migrate"
need_kvm $tests
need_migrate $tests

MEM=16M
export LKVM_MIG_ACK_TIMEOUT_MS=2000

# held_then_freeze TEST: lkvm migrate in the background ($MPID, --json), and
# once the source holds before its final round (hold-paused hook), the
# destination stopped with SIGSTOP: its ACK will be late.
held_then_freeze() {
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $1-s --json >"$T_TMP/$1.mig.out" 2>"$T_TMP/$1.mig.err" &
	MPID=$!
	if ! wait_for 30 grep -q "test hook: vCPUs paused" "$T_TMP/$1-s.err"; then
		fail $1 "the hook never held the source"; wait "$MPID"; return 1
	fi
	kill -STOP "$DST_PID"
}

t=late-ack
if pair $t "LKVM_MIG_FAULT=hold-paused:1000"; then
	if held_then_freeze $t; then
		wait "$MPID"; rc=$?
		last=$(last_count "$T_TMP/$t-s.out")
		kill -CONT "$DST_PID"
		if [ $rc -ne 1 ] || ! grep -q '"reason":"no acknowledgement from the destination within 2000 ms".*"guest":"source"}$' "$T_TMP/$t.mig.out"; then
			fail $t "want a failure with the guest here (rc $rc): $(cat "$T_TMP/$t.mig.out")"
		elif ! wait_exit "$DST_PID" 20 || [ "$EXIT_RC" = 0 ]; then
			fail $t "the destination did not give up (exit $EXIT_RC): $(tail -n 2 "$T_TMP/$t-d.err")"
		elif ! grep -q "source aborted: .* (after the acknowledgement); the guest is not started" "$T_TMP/$t-d.err"; then
			fail $t "the destination's reason: $(tail -n 2 "$T_TMP/$t-d.err")"
		elif grep -q "count" "$T_TMP/$t-d.out"; then
			fail $t "the guest ran at the destination too: $(tail -n 1 "$T_TMP/$t-d.out")"
		elif ! still_counting "$T_TMP/$t-s.out" || ! check_sequence "$T_TMP/$t-s.out" >/dev/null; then
			fail $t "the source does not count on in sequence after $last"
		else
			pass $t
		fi
	fi
	"$LKVM" stop --name $t-s >/dev/null 2>&1
fi

# unknown TEST: migrate with RUNNING lost; checks the unknown outcome.
unknown() {
	local t=$1
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err"; rc=$?
	LAST=$(last_count "$T_TMP/$t-s.out")
	if [ $rc -ne 3 ] || ! grep -q "migration outcome unknown: the destination was told to run the guest but did not confirm it: .*; the guest is paused here" "$T_TMP/$t.mig.err"; then
		fail $t "want exit 3, outcome unknown (rc $rc): $(cat "$T_TMP/$t.mig.err")"; return 1
	elif [ "$(state $t-s)" != paused-unknown ] || ! no_counts_for "$T_TMP/$t-s.out" "$LAST" 2; then
		fail $t "the source is '$(state $t-s)', last count $LAST -> $(last_count "$T_TMP/$t-s.out")"; return 1
	fi
}

t=running-lost
if pair $t "" "LKVM_MIG_FAULT=no-running" && unknown $t; then
	p=$("$LKVM" pause --name $t-s 2>&1)
	m=$("$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s 2>&1); mrc=$?
	wait_for 30 grep -q count "$T_TMP/$t-d.out"
	# --all must not settle it: resuming would run two copies, stopping
	# might end the only one.  (stop --all does end the destination.)
	ra=$("$LKVM" resume --all 2>&1); rarc=$?
	sa=$("$LKVM" stop --all 2>&1); sarc=$?
	if ! echo "$p" | grep -q "the last migration's outcome is unknown and the guest is paused here" ||
	   ! echo "$m" | grep -q "the last migration's outcome is unknown" || [ $mrc -ne 1 ]; then
		fail $t "pause / migrate not refused: '$p' / '$m'"
	elif ! grep -q count "$T_TMP/$t-d.out"; then
		fail $t "the destination does not run the guest: $(tail -n 2 "$T_TMP/$t-d.err")"
	elif [ $rarc -eq 0 ] || ! echo "$ra" | grep -q "$t-s: not resumed by --all" ||
	     [ $sarc -eq 0 ] || ! echo "$sa" | grep -q "$t-s: not stopped by --all" ||
	     [ "$(state $t-s)" != paused-unknown ]; then
		fail $t "--all settled it: '$ra' / '$sa' / $(state $t-s)"
	elif ! "$LKVM" stop --name $t-s >/dev/null || ! wait_exit "$SRC_PID" 10 || [ "$EXIT_RC" != 0 ]; then
		fail $t "lkvm stop of the source: exit $EXIT_RC"
	else
		pass $t
	fi
	"$LKVM" stop --name $t-d >/dev/null 2>&1
fi

t=unknown-resume
if pair $t "" "LKVM_MIG_FAULT=no-running" && unknown $t; then
	kill -9 "$DST_PID"; wait "$DST_PID" 2>/dev/null
	out=$("$LKVM" resume --name $t-s 2>&1); rc=$?
	if [ $rc -ne 0 ] || [ "$out" != "$t-s: resumed here (the last migration's outcome was unknown)" ]; then
		fail $t "lkvm resume: rc $rc '$out'"
	elif ! wait_for 30 counts_past "$T_TMP/$t-s.out" $((LAST + 2)) || ! check_sequence "$T_TMP/$t-s.out" >/dev/null; then
		fail $t "the source does not count on in sequence: $(check_sequence "$T_TMP/$t-s.out")"
	elif [ "$(state $t-s)" != running ]; then
		fail $t "the source is '$(state $t-s)'"
	else
		pass $t
	fi
	"$LKVM" stop --name $t-s >/dev/null 2>&1
fi
t=dst-stopped-before-go
if pair $t "LKVM_MIG_FAULT=hold:2000" "LKVM_DEBUG=1"; then
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	if ! wait_for 30 grep -q "test hook: END sent" "$T_TMP/$t-s.err"; then
		fail $t "the hook never held the source"
	else
		# the destination has sent its ACK and waits for GO: stop it there
		wait_for 10 grep -q "checked and loaded" "$T_TMP/$t-d.err"
		"$LKVM" stop --name $t-d >/dev/null 2>&1
		wait "$MPID"; rc=$?
		if [ $rc -ne 1 ] || ! grep -q "migration failed: the destination did not start the guest: stopped by 'lkvm stop'; the guest runs on here" "$T_TMP/$t.mig.err"; then
			fail $t "want exit 1, not started there (rc $rc): $(tail -n 1 "$T_TMP/$t.mig.err")"
		elif ! still_counting "$T_TMP/$t-s.out" || grep -q count "$T_TMP/$t-d.out"; then
			fail $t "the guest should count here only"
		else
			pass $t
		fi
	fi
	"$LKVM" stop --name $t-s >/dev/null 2>&1
fi

t=dst-stopped-after-go
why=""
for how in stop TERM; do
	pair $t "" "LKVM_MIG_FAULT=hold-claim:1500" || { why=setup; break; }
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	if ! wait_for 30 grep -q "test hook: GO received" "$T_TMP/$t-d.err"; then
		why="$how: the hook never held the destination"; wait "$MPID"
	else
		if [ $how = stop ]; then "$LKVM" stop --name $t-d >/dev/null 2>&1; else kill -TERM "$DST_PID"; fi
		wait "$MPID"; rc=$?
		wait_exit "$DST_PID" 20
		if [ $rc -ne 1 ] || ! grep -q "migration failed: the destination did not start the guest: .*; the guest runs on here" "$T_TMP/$t.mig.err"; then
			why="$how: want exit 1, not started there (rc $rc): $(tail -n 1 "$T_TMP/$t.mig.err")"
		elif ! still_counting "$T_TMP/$t-s.out" || ! check_sequence "$T_TMP/$t-s.out" >/dev/null; then
			why="$how: the source does not count on in sequence: $(tail -n 1 "$T_TMP/$t-s.err")"
		elif grep -q count "$T_TMP/$t-d.out" || ! grep -q "the guest is not started" "$T_TMP/$t-d.err"; then
			why="$how: the destination: $(tail -n 2 "$T_TMP/$t-d.err")"
		else
			echo "$t: $how: $(tail -n 1 "$T_TMP/$t.mig.err")"
		fi
	fi
	"$LKVM" stop --name $t-s >/dev/null 2>&1; wait_exit "$SRC_PID" 20
	[ -z "$why" ] || break
done
if [ -z "$why" ]; then pass $t; else fail $t "$why"; fi

t=src-stopped-after-end
if pair $t "LKVM_MIG_FAULT=hold-paused:1000 LKVM_DEBUG=1"; then
	if held_then_freeze $t; then
		wait_for 10 grep -q "migration: END sent" "$T_TMP/$t-s.err"
		"$LKVM" stop --name $t-s >/dev/null 2>&1
		wait "$MPID"; rc=$?
		kill -CONT "$DST_PID"
		if [ $rc -ne 2 ] || ! grep -q '"guest":"stopped"}$' "$T_TMP/$t.mig.out"; then
			fail $t "want exit 2, the guest stopped (rc $rc): $(cat "$T_TMP/$t.mig.out")"
		elif ! wait_exit "$SRC_PID" 10; then
			fail $t "the source VMM did not exit"
		elif ! wait_exit "$DST_PID" 40 || grep -q count "$T_TMP/$t-d.out"; then
			fail $t "the destination ran the guest or did not exit ($EXIT_RC)"
		else
			pass $t
		fi
	fi
fi

t=stop-races-migrate
ok=1 why="" seen=""
# The destination has exited, or waits for a source again.
dst_settled() {
	! kill -0 "$DST_PID" 2>/dev/null ||
		"$LKVM" migrate --status --name $t-d 2>/dev/null | grep -q "^incoming: waiting for a source"
}
for delay in 0 0.002 0.005 0.01 0.02 0.04 0.08 0.15; do
	pair $t || { ok=0; break; }
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --json >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	sleep $delay
	"$LKVM" stop --name $t-s >/dev/null 2>&1
	wait "$MPID"; rc=$?
	wait_exit "$SRC_PID" 40; src_rc=$EXIT_RC
	guest=$(sed -n 's/.*"guest":"\([a-z-]*\)".*/\1/p' "$T_TMP/$t.mig.out")
	seen="$seen $delay:$rc/$guest"
	if [ -z "$guest" ]; then
		ok=0 why="$why delay $delay: exit $rc without a JSON object: $(cat "$T_TMP/$t.mig.out" "$T_TMP/$t.mig.err"); "
	fi
	if [ "$src_rc" != 0 ]; then
		ok=0 why="$why delay $delay: source VMM exit $src_rc: $(grep -m 1 -i 'error\|sanitizer' "$T_TMP/$t-s.err"); "
	elif [ $rc = 0 ]; then
		# Migrated before the stop: the guest counts on over there.
		wait_for 20 counts_past "$T_TMP/$t-d.out" 0 ||
			{ ok=0; why="$why delay $delay: migrated but the destination does not count; "; }
		"$LKVM" stop --name $t-d >/dev/null 2>&1
		wait_exit "$DST_PID" 20
	elif [ $rc = 1 ] || [ $rc = 2 ]; then
		# Stopped first: the destination never runs it.  It exits, or it
		# waits for a source again: MIGRATE was refused before any
		# connection ("instance is shutting down"), or the source left
		# before the handshake and the destination ignored it.
		wait_for 40 dst_settled
		if kill -0 "$DST_PID" 2>/dev/null; then
			"$LKVM" stop --name $t-d >/dev/null 2>&1
			wait_exit "$DST_PID" 20
			[ "$EXIT_RC" = 0 ] || { ok=0; why="$why delay $delay: waiting destination exit $EXIT_RC; "; }
		else
			wait_exit "$DST_PID" 5
			[ "$EXIT_RC" = 0 ] &&
				{ ok=0; why="$why delay $delay: rc $rc but the destination exited 0; "; }
		fi
		grep -q count "$T_TMP/$t-d.out" &&
			{ ok=0; why="$why delay $delay: rc $rc but the destination ran the guest; "; }
	else
		ok=0 why="$why delay $delay: lkvm migrate exit $rc: $(cat "$T_TMP/$t.mig.out"); "
		"$LKVM" stop --name $t-d >/dev/null 2>&1
		wait_exit "$DST_PID" 20
	fi
done
if [ $ok = 1 ]; then pass $t; echo "$t: delay:exit/guest$seen"; else fail $t "$why"; fi
t_done
