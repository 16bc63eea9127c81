#!/usr/bin/env bash
# The `lkvm migrate` client going away or losing its output while the VMM
# migrates.  The migration goes on in the VMM (docs/migration.md: a
# script's timeout must not half-abort a move); what the client must still
# keep is its exit status contract (0 destination, 1 here, 2 stopped, 3
# unknown) and one true line.
#
#   client-interrupted  SIGINT, SIGTERM, SIGHUP to `lkvm migrate` mid-stream:
#                  it exits 3 with one line that says the migration goes on
#                  and how to follow it (--json: one object, guest
#                  "unknown"), and the guest does arrive at the destination
#                  and counts on in sequence.  (It died silently with
#                  128+N, a status that says nothing of the guest.)  The
#                  source VMM has then exited, so the destination's
#                  --status must tell: "the guest arrived here from ..."
#                  (--json: "arrived"), not a bare "no migration in
#                  progress", the answer of an instance that was never
#                  migrated.
#   client-sigpipe `lkvm migrate 2>&1 | head -n 1` (its output closed after
#                  the first line): it still exits with the outcome, 0, not
#                  killed by SIGPIPE (141) at its next progress line.
#   vmm-not-responding  the source VMM stopped (SIGSTOP, or wedged): `lkvm
#                  migrate` gives up after the 5 s every client waits, exit
#                  1 and one line, and the VMM, once it runs again, does
#                  not start a migration nobody waits for.  (The client
#                  waited for ever: it has no timeout once the request is
#                  sent, a migration's steps being the VMM's to bound.)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="client-interrupted client-sigpipe vmm-not-responding"
need_kvm $tests
need_migrate $tests

MEM=16M
# Non-zero RAM (a random initrd) so that, capped, round 0 lasts about a second.
head -c $((4 << 20)) /dev/urandom >"$T_TMP/random.img"

# capped_pair T: source T-s (counting, with the random initrd) and destination T-d on $PORT
capped_pair() {
	PORT=$(pick_port)
	bg_start SRC_PID "$LKVM" run -k "$GUESTS/counter" --name "$1-s" -m $MEM \
		-i "$T_TMP/random.img" -p delay=2000 >"$T_TMP/$1-s.out" 2>"$T_TMP/$1-s.err"
	start_dst "$1-d" "$PORT" -m $MEM && wait_for 30 counts_past "$T_TMP/$1-s.out" 2
}

# arrived T: the guest counts on at T-d in sequence and T-s has exited 0
arrived() {
	local last
	last=$(last_count "$T_TMP/$1-s.out")
	wait_exit "$SRC_PID" 30 && [ "$EXIT_RC" = 0 ] &&
		wait_for 30 counts_past "$T_TMP/$1-d.out" $((last + 2)) &&
		check_sequence "$T_TMP/$1-s.out" "$T_TMP/$1-d.out" >/dev/null
}

t=client-interrupted
why=""
for sig in INT TERM HUP; do
	capped_pair $t || { why="$sig: setup: $(tail -n 1 "$T_TMP/$t-s.err" "$T_TMP/$t-d.err")"; break; }
	# (Not the last round's file: it would show progress before this one starts.)
	rm -f "$T_TMP/$t.mig.out" "$T_TMP/$t.mig.err"
	# (A background job of a script ignores SIGINT unless told otherwise.)
	env --default-signal=INT "$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --bandwidth 4 \
		--json >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	wait_for 30 grep -q '"event":"progress"' "$T_TMP/$t.mig.err"
	kill -$sig "$MPID"
	wait "$MPID"; rc=$?
	line=$(grep -v '"event":"progress"' "$T_TMP/$t.mig.err")
	if [ $rc -ne 3 ] || [ "$(printf '%s\n' "$line" | wc -l)" -ne 1 ] ||
	   ! grep -q "goes on in its VMM.*'lkvm migrate --status --name $t-s' tells how it ends" <<<"$line"; then
		why="$sig: want exit 3 and one line saying the migration goes on (rc $rc): $line"
	elif [ "$(wc -l <"$T_TMP/$t.mig.out")" -ne 1 ] ||
	     ! grep -q '^{"status":"unknown","reason":".*","guest":"unknown"}$' "$T_TMP/$t.mig.out"; then
		why="$sig: --json: want one object, guest unknown: $(cat "$T_TMP/$t.mig.out")"
	elif ! arrived $t; then
		why="$sig: the migration did not go on to the destination: $(tail -n 2 "$T_TMP/$t-s.err" "$T_TMP/$t-d.err")"
	elif ! st=$("$LKVM" migrate --status --name $t-d 2>&1) ||
	     ! grep -q "^no migration in progress; the guest arrived here from 127.0.0.1:[0-9]* [0-9.]* s ago$" <<<"$st" ||
	     ! st=$("$LKVM" migrate --status --json --name $t-d 2>&1) ||
	     ! grep -q '^{"active":false,"last":null,"arrived":{"from":"127.0.0.1:[0-9]*","elapsed_ms":[0-9]*}}$' <<<"$st"; then
		why="$sig: the destination's --status does not say the guest arrived: $st"
	fi
	cleanup_pair $t
	[ -z "$why" ] || break
done
if [ -z "$why" ]; then pass $t; else fail $t "$why"; fi

t=client-sigpipe
if ! capped_pair $t; then
	fail $t "setup: $(tail -n 1 "$T_TMP/$t-s.err" "$T_TMP/$t-d.err")"
else
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --bandwidth 4 2>&1 | head -n 1 >/dev/null
	rc=${PIPESTATUS[0]}
	if [ "$rc" != 0 ]; then
		fail $t "lkvm migrate with its output closed exited $rc, not the outcome (0)"
	elif ! arrived $t; then
		fail $t "the guest did not arrive: $(tail -n 2 "$T_TMP/$t-s.err" "$T_TMP/$t-d.err")"
	else
		pass $t
	fi
fi
cleanup_pair $t

t=vmm-not-responding
bg_start SRC_PID "$LKVM" run -k "$GUESTS/counter" --name $t -m $MEM -p delay=2000 \
	>"$T_TMP/$t.out" 2>"$T_TMP/$t.err"
if ! wait_for 30 counts_past "$T_TMP/$t.out" 2; then
	fail $t "setup: $(tail -n 1 "$T_TMP/$t.err")"
else
	kill -STOP "$SRC_PID"
	PORT=$(pick_port)
	timeout -k 1 20 "$LKVM" migrate --to "127.0.0.1:$PORT" --name $t --json \
		>"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err"
	rc=$?
	kill -CONT "$SRC_PID"
	sleep 1
	if [ $rc -ne 1 ] || [ "$(wc -l <"$T_TMP/$t.mig.err")" -ne 1 ] ||
	   ! grep -q "^lkvm migrate: error: $t: instance not responding within 5 s; the request is withdrawn$" "$T_TMP/$t.mig.err"; then
		fail $t "want exit 1 and one line (rc $rc): $(head -n 3 "$T_TMP/$t.mig.err")"
	elif ! grep -q '^{"status":"failed","reason":"'$t': instance not responding within 5 s; the request is withdrawn","guest":"unchanged"}$' "$T_TMP/$t.mig.out"; then
		fail $t "--json: $(cat "$T_TMP/$t.mig.out")"
	elif grep -q "migration to" "$T_TMP/$t.err"; then
		fail $t "the VMM started the migration once it ran again: $(grep "migration" "$T_TMP/$t.err" | head -n 2)"
	else
		pass $t
	fi
fi
"$LKVM" stop --name $t >/dev/null 2>&1
t_done
