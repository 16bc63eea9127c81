#!/usr/bin/env bash
# Connections that are not the migration, at both ends.  A waiting
# destination's port is open to anyone: probes, health checks, scanners and
# stale sources must be logged and ignored, never end the wait or hold up
# the real source.  A source whose destination accepted but never answers
# must still obey --cancel and lkvm stop at once, and say what happened.
#
#   strays-ignored     a connect-and-close, a half preamble, one reset mid-preamble (logged with its address), 100 bytes of
#                      garbage, a data-channel preamble, a stream version 99
#                      and an idle connection, then the real migration: it
#                      succeeds and the destination logged each stray
#   connection-flood   28 idle connections (more than the 24 read side by
#                      side), then the real migration: it still gets in
#   stop-with-idle     lkvm stop ends a wait that an idle connection holds
#   handshake-cancel   destination accepts and says nothing: --cancel ends
#                      the migration at once, the guest counts on
#   handshake-stop     the same, lkvm stop on the source: it exits 0 at once
#                      and the client hears "the guest stops with this VMM"
#   not-lkvm           an HTTP server on the port: "no handshake reply ...
#                      (is it an lkvm run --incoming?)", the guest counts on
#   silent-not-lkvm    a listener that never answers (nc -l): "no handshake
#                      reply from ... within N s: not an lkvm run --incoming,
#                      or one stopped or overloaded" (it said "timed out")
#   unresolvable       --to a name under .invalid: "does not resolve"
#   busy-destination   a second source aimed at a destination in the middle
#                      of receiving is refused at once ("busy with another
#                      source"), not held until the first is done
#   busy-handshake     a second source that comes while the destination has
#                      taken a first one's control connection and waits for
#                      its data connections (LKVM_MIG_FAULT=hold-channels holds
#                      the first there; the port is still open) is refused at
#                      once, told why ("busy: it is receiving a migration from
#                      another source"), not reset; its guest counts on and
#                      the first source's migration goes through
#   busy-handshake-keyed  the same with --key and --incoming-key: the second
#                      source hears it sealed, after the nonce exchange (one
#                      with another key first hears that the keys differ)
#   busy-at-close      the same, but the destination (SIGSTOP) finds the second
#                      source's preamble only after the first source's data
#                      connections, queued before it: it reads it as the
#                      listener closes, and tells it why there
#   channels-reordered through a proxy that holds the first data channel's
#                      bytes back, the second channel's preamble comes
#                      first: both are used (the destination used to close
#                      the one still pending, and the migration failed)
#   stopped-in-handshake  the destination is stopped while a source's HELLO
#                      is due: the source hears "stopped by ..." (an early
#                      version took its own stop for a source that left)
#   stale-source       a source gives up on a destination that was stopped
#                      (SIGSTOP) and goes away; the destination, let go,
#                      finds its queued HELLO with the source gone, ignores
#                      it and takes the next source (it used to take the
#                      dead one, wait for its data channels and exit)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="strays-ignored connection-flood stop-with-idle handshake-cancel handshake-stop not-lkvm unresolvable busy-destination busy-handshake busy-handshake-keyed busy-at-close channels-reordered stale-source silent-not-lkvm stopped-in-handshake"
need_kvm $tests
need_migrate $tests
if ! command -v python3 >/dev/null; then
	for n in $tests; do skip $n "python3 is not installed (it plays the strangers)"; done; t_done
fi

# stray PORT KIND...: one connection of each KIND to 127.0.0.1:PORT, one after
# the other, from one process; "idle" ones stay open (60 s) while the next
# go.  Each KIND's name is added as a line to $T_TMP/stray.state once it is
# done (an idle one: connected).  It execs, so call it in ( ) or with &.
# (One process, not one per connection: python takes seconds to start on a
# loaded host, and an idle connection the destination has waited 10 s for
# is dropped, so strays-ignored's started 7 pythons in a row and lost it.)
stray() {
	exec python3 - "$T_TMP/stray.state" "$@" <<'EOF'
import socket, struct, sys, time
state, port = sys.argv[1], int(sys.argv[2])
pre = lambda v, ch: b"LKVMMIG\0" + struct.pack("<IIQ", v, ch, 0x1234)
held = []
for kind in sys.argv[3:]:
    s = socket.create_connection(("127.0.0.1", port))
    if kind == "idle":
        held.append(s)
    elif kind == "half":
        s.sendall(b"LKVMMIG\0abc")
    elif kind == "reset":            # part of a preamble, then a reset: gone when logged
        s.sendall(b"LKVMMIG")
        time.sleep(0.05)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif kind == "garbage":
        s.sendall(b"GET / HTTP/1.0\r\n" + b"x" * 84)
    elif kind == "data":
        s.sendall(pre(2, 1))
    elif kind == "version":
        s.sendall(pre(99, 0))
        s.settimeout(5)
        try:
            s.recv(512)              # the destination says why
        except OSError:
            pass
    elif kind == "control-wait":     # a source that sends its preamble, then waits
        s.sendall(pre(2, 0))
        s.settimeout(30)
        got = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
        except OSError:
            pass
        print("got %d bytes%s" % (len(got), ": stopped by" if b"stopped by" in got else ""))
    if kind != "idle":
        s.close()
    with open(state, "a") as f:
        f.write(kind + "\n")
if held:
    time.sleep(60)
EOF
}

# fake_dst PORT MODE: a listener that is not lkvm (silent: accepts, reads, never answers).
# It writes "listening", then "accepted" into $T_TMP/fake.state: python can
# take most of a second to start on a loaded host, so no fixed sleeps.
fake_dst() {
	rm -f "$T_TMP/fake.state"
	python3 - "$1" "$2" "$T_TMP/fake.state" >/dev/null <<'EOF' &
import socket, sys, time
def state(s):
    with open(sys.argv[3], "a") as f:
        f.write(s + "\n")
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(4)
state("listening")
c, _ = l.accept()
c.recv(4096)
state("accepted")
if sys.argv[2] == "http":
    c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    time.sleep(1)
else:
    time.sleep(60)
EOF
	FAKE_PID=$!
	T_PIDS+=("$FAKE_PID")
}

# ---- the destination's side ----
t=strays-ignored
port=$(pick_port)
src_counting s1 || { fail $t "source did not count: $(tail -n 2 "$T_TMP/s1.err")"; t_done; }
start_dst d1 "$port" -m 16M || { fail $t "destination did not listen"; t_done; }
rm -f "$T_TMP/stray.state"
stray "$port" idle close half reset garbage data version & IDLE_PID=$!; T_PIDS+=("$IDLE_PID")
# The source comes once the six are done and the destination has logged
# them (not after a fixed time: they must not be still pending then, and
# the idle one must be, which it is for the first 10 s only).
six_logged() { [ "$(grep -c "ignored a connection from 127.0.0.1:" "$T_TMP/d1.err")" -ge 6 ]; }
wait_for 60 grep -qx version "$T_TMP/stray.state" && wait_for 10 six_logged
t0=$(date +%s%N)
"$LKVM" migrate --name s1 --to "127.0.0.1:$port" --quiet >"$T_TMP/m1.out" 2>"$T_TMP/m1.err"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
last=$(last_count "$T_TMP/s1.out")
ign=$(grep -c "ignored a connection from 127.0.0.1:" "$T_TMP/d1.err")
if [ $rc -ne 0 ]; then
	fail $t "migration failed: $(cat "$T_TMP/m1.err"); destination: $(tail -n 3 "$T_TMP/d1.err")"
elif ! wait_for 30 counts_past "$T_TMP/d1.out" $((last + 2)); then
	fail $t "the guest does not go on at the destination: $(tail -n 2 "$T_TMP/d1.err")"
elif ! grep -q "closed after 0 of the preamble's 24 bytes" "$T_TMP/d1.err" ||
	! grep -q "closed after 11 of the preamble's 24 bytes" "$T_TMP/d1.err" ||
	! grep -q "ignored a connection from 127.0.0.1:[1-9][0-9]*: closed after 7 of the preamble's 24 bytes" "$T_TMP/d1.err" ||
	! grep -q "not a migration stream (bad preamble)" "$T_TMP/d1.err" ||
	! grep -q "a data connection (channel 1) while no source is connected" "$T_TMP/d1.err" ||
	! grep -q "unsupported stream version 99 (this lkvm speaks 2)" "$T_TMP/d1.err" ||
	! grep -q "still pending when the source had all its connections in" "$T_TMP/d1.err" ||
	[ "$ign" -ne 7 ]; then
	fail $t "the destination did not log the 6 strays and the idle one, with their addresses ($ign): $(grep -v faulted "$T_TMP/d1.err" | head -n 9)"
else
	pass $t
	echo "$t: migrated in $ms ms past 6 strays and an idle connection"
fi
"$LKVM" stop --name d1 >/dev/null 2>&1
kill "$IDLE_PID" 2>/dev/null

t=connection-flood
port=$(pick_port)
src_counting s2 || { fail $t "source did not count"; t_done; }
start_dst d2 "$port" -m 16M || { fail $t "destination did not listen"; t_done; }
stray "$port" $(printf 'idle %.0s' $(seq 28)) & T_PIDS+=($!)
wait_for 30 grep -q "more than 24 connections at once" "$T_TMP/d2.err"
"$LKVM" migrate --name s2 --to "127.0.0.1:$port" --quiet >"$T_TMP/m2.out" 2>"$T_TMP/m2.err"; rc=$?
last=$(last_count "$T_TMP/s2.out")
if [ $rc -eq 0 ] && wait_for 30 counts_past "$T_TMP/d2.out" $((last + 2)) &&
	grep -q "more than 24 connections at once" "$T_TMP/d2.err"; then
	pass $t
else
	fail $t "rc=$rc: $(cat "$T_TMP/m2.err"); destination: $(grep -v ignored "$T_TMP/d2.err" | tail -n 2)"
fi
"$LKVM" stop --name d2 >/dev/null 2>&1

t=stop-with-idle
port=$(pick_port)
start_dst d3 "$port" -m 16M || { fail $t "destination did not listen"; t_done; }
rm -f "$T_TMP/stray.state"
stray "$port" idle & T_PIDS+=($!)
# Stopped once the idle connection is the destination's (accepted: the
# socket is lkvm's), not after a fixed 0.5 s (python may not have
# connected by then, and nothing held the wait).
held_by_dst() { ss -Htnp state established "( sport = :$port )" 2>/dev/null | grep -q "pid=$DST_PID,"; }
if ! wait_for 30 grep -qx idle "$T_TMP/stray.state" || ! wait_for 10 held_by_dst; then
	fail $t "the idle connection is not the destination's: $(ss -Htnp state established "( sport = :$port )" 2>&1)"
else
	t0=$(date +%s%N)
	if "$LKVM" stop --name d3 >"$T_TMP/stop3.out" 2>&1 && wait_exit "$DST_PID" 5; then
		pass $t
		echo "$t: the destination left $(( ($(date +%s%N) - t0) / 1000000 )) ms after lkvm stop"
	else
		fail $t "$(cat "$T_TMP/stop3.out"); exit $EXIT_RC; $(tail -n 2 "$T_TMP/d3.err")"
	fi
fi

# ---- the source's side ----
src_counting s4 || { fail handshake-cancel "source did not count"; t_done; }
# migrate_to_fake TEST PORT MODE: lkvm migrate in the background against fake_dst
migrate_to_fake() {
	fake_dst "$2" "$3"
	wait_for 30 grep -q listening "$T_TMP/fake.state"
	"$LKVM" migrate --name s4 --to "127.0.0.1:$2" --quiet >"$T_TMP/$1.out" 2>"$T_TMP/$1.err" &
	MIG_PID=$!
}

t=handshake-cancel
port=$(pick_port)
migrate_to_fake $t "$port" silent
wait_for 30 grep -q accepted "$T_TMP/fake.state"
t0=$(date +%s%N)
"$LKVM" migrate --cancel --name s4 >/dev/null 2>&1
if ! wait_exit "$MIG_PID" 5; then
	fail $t "lkvm migrate still waits 5 s after the cancel"
elif [ "$EXIT_RC" = 0 ] || ! grep -q "migration failed: cancelled (lkvm migrate --cancel); the guest runs on here" "$T_TMP/$t.err"; then
	fail $t "exit $EXIT_RC: $(cat "$T_TMP/$t.err")"
elif ! still_counting "$T_TMP/s4.out"; then
	fail $t "the guest stopped counting"
else
	pass $t
	echo "$t: lkvm migrate ended $(( ($(date +%s%N) - t0) / 1000000 )) ms after the cancel"
fi
kill "$FAKE_PID" 2>/dev/null

t=not-lkvm
port=$(pick_port)
migrate_to_fake $t "$port" http
wait_exit "$MIG_PID" 10
if [ "$EXIT_RC" != 0 ] && grep -q "no handshake reply from 127.0.0.1:$port: .* (is it an lkvm run --incoming?)" "$T_TMP/$t.err" &&
	! grep -q refused "$T_TMP/$t.err" && still_counting "$T_TMP/s4.out"; then
	pass $t
else
	fail $t "exit $EXIT_RC: $(cat "$T_TMP/$t.err")"
fi

t=unresolvable
"$LKVM" migrate --name s4 --to "no-such-host.invalid:$port" --quiet >/dev/null 2>"$T_TMP/$t.err"; rc=$?
if [ $rc -ne 0 ] && grep -Eq "cannot connect to no-such-host.invalid:$port: the host name (does not resolve|cannot be resolved now)" "$T_TMP/$t.err" &&
	still_counting "$T_TMP/s4.out"; then
	pass $t
else
	fail $t "rc=$rc: $(cat "$T_TMP/$t.err")"
fi

t=handshake-stop
port=$(pick_port)
migrate_to_fake $t "$port" silent
wait_for 30 grep -q accepted "$T_TMP/fake.state"
S4_PID=$SRC_PID
t0=$(date +%s%N)
"$LKVM" stop --name s4 >"$T_TMP/stop4.out" 2>&1; src=$?
if ! wait_exit "$S4_PID" 5; then
	fail $t "the source VMM still runs 5 s after lkvm stop ($(cat "$T_TMP/stop4.out"))"
elif [ $src -ne 0 ] || [ "$EXIT_RC" != 0 ]; then
	fail $t "lkvm stop exit $src, VMM exit $EXIT_RC: $(cat "$T_TMP/stop4.out")"
elif ! wait_exit "$MIG_PID" 5 || ! grep -q "cancelled: the source VMM is stopping (stopped by 'lkvm stop'); the guest stops with this VMM" "$T_TMP/$t.err"; then
	fail $t "client: $(cat "$T_TMP/$t.err")"
else
	pass $t
	echo "$t: the source exited $(( ($(date +%s%N) - t0) / 1000000 )) ms after lkvm stop"
fi
kill "$FAKE_PID" 2>/dev/null
t=busy-destination
head -c $((6 << 20)) /dev/urandom >"$T_TMP/random6.img"
port=$(pick_port)
start_src s6 -m 16M -i "$T_TMP/random6.img" -p "delay=20000"
S6_PID=$SRC_PID
start_src s7 -m 16M -p "delay=20000"
if ! start_dst d6 "$port" -m 16M || ! wait_for 30 counts_past "$T_TMP/s6.out" 2 ||
   ! wait_for 30 counts_past "$T_TMP/s7.out" 2; then
	fail $t "setup: $(tail -n 1 "$T_TMP/s6.err" "$T_TMP/d6.err")"
else
	"$LKVM" migrate --name s6 --to "127.0.0.1:$port" --bandwidth 1 >"$T_TMP/m6.out" 2>"$T_TMP/m6.err" &
	MIG_PID=$!
	wait_for 30 progress_lines "$T_TMP/m6.err" 2
	t0=$(date +%s%N)
	"$LKVM" migrate --name s7 --to "127.0.0.1:$port" --quiet >/dev/null 2>"$T_TMP/m7.err"; rc=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	"$LKVM" migrate --cancel --name s6 >/dev/null 2>&1
	wait "$MIG_PID"
	if [ $rc -ne 1 ] || [ $ms -gt 5000 ] ||
	   ! grep -q "or one already busy with another source" "$T_TMP/m7.err"; then
		fail $t "second source: rc=$rc after $ms ms: $(cat "$T_TMP/m7.err")"
	elif ! still_counting "$T_TMP/s7.out"; then
		fail $t "the second source's guest stopped"
	else
		pass $t
		echo "$t: refused after $ms ms"
	fi
fi
"$LKVM" stop --name s6 >/dev/null 2>&1
"$LKVM" stop --name s7 >/dev/null 2>&1

# The window before the listener closes: the destination (d11) has taken
# the first source (s11, held after its handshake by hold-channels) and
# waits for its data connections when the second (s12) comes.
# busy_setup HOLD_MS PORT [DST_ARGS...]: s11, s12 counting, d11 listening on PORT
busy_setup() {
	local hold=$1 port=$2; shift 2
	bg_start S11_PID env LKVM_MIG_FAULT=hold-channels:$hold "$LKVM" run -k "$GUESTS/counter" \
		--name s11 -m 16M -p delay=2000 >"$T_TMP/s11.out" 2>"$T_TMP/s11.err"
	start_src s12 -m 16M -p delay=2000
	S12_PID=$SRC_PID
	start_dst d11 "$port" -m 16M "$@" && wait_for 30 counts_past "$T_TMP/s11.out" 2 &&
		wait_for 30 counts_past "$T_TMP/s12.out" 2 && return 0
	why="setup: $(tail -n 1 "$T_TMP/s11.err" "$T_TMP/s12.err" "$T_TMP/d11.err")"
	return 1
}
# busy_verdict PORT RC: the second source exited RC (its stderr in m12.err)
# and the first source's lkvm migrate EXIT_RC: why="" if all is as it should be
busy_verdict() {
	local last
	last=$(last_count "$T_TMP/s11.out")
	if [ "$2" != 1 ] ||
	   ! grep -Eq "destination refused: this destination \(127.0.0.1:$1\) is busy: it is receiving a migration from another source \(127.0.0.1:[0-9]+\) for [0-9.]+ s" "$T_TMP/m12.err"; then
		why="second source: exit $2: $(cat "$T_TMP/m12.err"); destination: $(grep -v faulted "$T_TMP/d11.err" | tail -n 2)"
	elif ! SRC_PID=$S12_PID still_counting "$T_TMP/s12.out"; then
		why="the second source's guest stopped"
	elif [ "$EXIT_RC" != 0 ] || ! wait_for 30 counts_past "$T_TMP/d11.out" $((last + 1)); then
		why="the first source's migration: exit $EXIT_RC: $(cat "$T_TMP/m11.err"); destination: $(grep -v faulted "$T_TMP/d11.err" | tail -n 3)"
	elif ! grep -q "ignored a connection from 127.0.0.1:[0-9]*: another source while a migration is being received (told so)" "$T_TMP/d11.err"; then
		why="the destination did not log it: $(grep -v faulted "$T_TMP/d11.err" | tail -n 3)"
	fi
}
busy_cleanup() {
	"$LKVM" stop --name d11 >/dev/null 2>&1
	"$LKVM" stop --name s11 >/dev/null 2>&1
	"$LKVM" stop --name s12 >/dev/null 2>&1
	wait_exit "$DST_PID" 20; wait_exit "$S11_PID" 20; wait_exit "$S12_PID" 20
}

(umask 077; head -c 32 /dev/urandom >"$T_TMP/busy.key"; head -c 32 /dev/urandom >"$T_TMP/busy-other.key")
for t in busy-handshake busy-handshake-keyed; do
	key=() ikey=() why=""
	if [ $t = busy-handshake-keyed ]; then
		key=(--key "$T_TMP/busy.key") ikey=(--incoming-key "$T_TMP/busy.key")
	fi
	port=$(pick_port)
	if busy_setup 4000 "$port" "${ikey[@]}"; then
		"$LKVM" migrate --name s11 --to "127.0.0.1:$port" --quiet "${key[@]}" >/dev/null \
			2>"$T_TMP/m11.err" &
		MIG_PID=$!
		wait_for 30 grep -q "test hook: handshake done" "$T_TMP/s11.err"
		if [ ${#key[@]} -gt 0 ]; then
			# Another key: its HELLO does not open, so it hears what
			# another key hears, not that the destination is busy.
			"$LKVM" migrate --name s12 --to "127.0.0.1:$port" --quiet \
				--key "$T_TMP/busy-other.key" >/dev/null 2>"$T_TMP/m12k.err"; rc=$?
			grep -q "handshake reply does not authenticate: it was started with another --incoming-key" \
				"$T_TMP/m12k.err" && [ $rc = 1 ] ||
				why="second source, another key: exit $rc: $(cat "$T_TMP/m12k.err")"
		fi
		t0=$(date +%s%N)
		"$LKVM" migrate --name s12 --to "127.0.0.1:$port" --quiet "${key[@]}" >/dev/null \
			2>"$T_TMP/m12.err"; rc=$?
		ms=$(( ($(date +%s%N) - t0) / 1000000 ))
		wait_exit "$MIG_PID" 60
		[ -z "$why" ] && busy_verdict "$port" $rc
		# Told before the first source's 4 s hold is over: not held until it is done.
		[ -z "$why" ] && [ $ms -gt 3000 ] && why="refused only after $ms ms"
	fi
	if [ -z "$why" ]; then
		pass $t
		echo "$t: refused after $ms ms: $(cat "$T_TMP/m12.err")"
	else
		fail $t "$why"
	fi
	busy_cleanup
done

# estab_to PORT N: at least N connections to PORT (their client ends);
# queued_at PORT N: at least N server ends with unread bytes (accepted or queued)
estab_to() { [ "$(ss -Htn state established "( dport = :$1 )" | wc -l)" -ge "$2" ]; }
queued_at() { [ "$(ss -Htn state established "( sport = :$1 )" | awk '$1 > 0' | wc -l)" -ge "$2" ]; }

t=busy-at-close
port=$(pick_port)
why=""
if busy_setup 1000 "$port"; then
	"$LKVM" migrate --name s11 --to "127.0.0.1:$port" --channels 2 --quiet >/dev/null \
		2>"$T_TMP/m11.err" &
	MIG_PID=$!
	wait_for 30 grep -q "test hook: handshake done" "$T_TMP/s11.err"
	# Stopped while it waits for the data connections: they queue, then
	# the second source's, each with its first bytes in.  Let go, it
	# takes the data connections first (accepted first, lower places)
	# and stops listening with the second source's preamble unread.
	kill -STOP "$DST_PID"
	wait_for 10 estab_to "$port" 3 || why="the data connections did not come"
	"$LKVM" migrate --name s12 --to "127.0.0.1:$port" --quiet >/dev/null 2>"$T_TMP/m12.err" &
	M12_PID=$!
	[ -z "$why" ] && { wait_for 10 queued_at "$port" 3 ||
		why="not 3 connections with bytes queued: $(ss -Htn state established "( sport = :$port )")"; }
	kill -CONT "$DST_PID"
	wait_exit "$M12_PID" 20; rc=$EXIT_RC
	wait_exit "$MIG_PID" 60
	[ -z "$why" ] && busy_verdict "$port" "$rc"
fi
[ -z "$why" ] && pass $t || fail $t "$why"
busy_cleanup

t=channels-reordered
# 2 channels, the first held back 0.5 s; then 16, all but the last held
# back 1 s (more than the 8 strangers read side by side: the source's
# own channels must not push each other out).
start_src s8 -m 16M -p "delay=2000"
why="" from=s8
wait_for 30 counts_past "$T_TMP/s8.out" 2 || why="source did not count: $(tail -n 1 "$T_TMP/s8.err")"
for run in "2 0,0.5,0" "16 0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0"; do
	[ -n "$why" ] && break
	nch=${run%% *}
	port=$(pick_port)
	rport=$(pick_port)
	python3 "$(dirname "$0")/sevmig-relay.py" "$rport" "$port" "$T_TMP/reorder.cap" "${run#* }" \
		>"$T_TMP/reorder$nch.log" 2>&1 &
	RELAY_PID=$!
	if ! start_dst d8-$nch "$port" -m 16M ||
	   ! wait_for 10 grep -q "relay ready" "$T_TMP/reorder$nch.log"; then
		why="setup: $(tail -n 1 "$T_TMP/d8-$nch.err" "$T_TMP/reorder$nch.log")"
	elif ! "$LKVM" migrate --name $from --to "127.0.0.1:$rport" --channels $nch --quiet >/dev/null \
		2>"$T_TMP/m8.err"; then
		why="$nch channels: $(cat "$T_TMP/m8.err"); destination: $(grep -m 2 'ignored\|failed' "$T_TMP/d8-$nch.err")"
	elif ! wait_for 20 counts_past "$T_TMP/d8-$nch.out" 0; then
		why="$nch channels: the destination does not count"
	fi
	kill "$RELAY_PID" 2>/dev/null
	from=d8-$nch	# the guest lives there now: the next source
done
[ -z "$why" ] && pass $t || fail $t "$why"
"$LKVM" stop --name d8-2 >/dev/null 2>&1
"$LKVM" stop --name d8-16 >/dev/null 2>&1
"$LKVM" stop --name s8 >/dev/null 2>&1

t=stale-source
port=$(pick_port)
bg_start SRC_PID env LKVM_MIG_ACK_TIMEOUT_MS=1000 "$LKVM" run -k "$GUESTS/counter" --name s9 -m 16M \
	-p delay=2000 >"$T_TMP/s9.out" 2>"$T_TMP/s9.err"
if ! start_dst d9 "$port" -m 16M || ! wait_for 30 counts_past "$T_TMP/s9.out" 2; then
	fail $t "setup: $(tail -n 1 "$T_TMP/s9.err" "$T_TMP/d9.err")"
	fail silent-not-lkvm "setup failed"
else
	# A listener that takes the connection and never answers (nc -l): the
	# line says how long it waited and what may be there, not a bare "timed
	# out".  (s9 waits 1 s for a reply, LKVM_MIG_ACK_TIMEOUT_MS.)
	t=silent-not-lkvm
	fport=$(pick_port)
	fake_dst "$fport" silent
	wait_for 30 grep -q listening "$T_TMP/fake.state"
	"$LKVM" migrate --name s9 --to "127.0.0.1:$fport" --quiet >/dev/null 2>"$T_TMP/m9c.err"; rc=$?
	why=""
	if [ $rc -eq 1 ] && [ "$(wc -l <"$T_TMP/m9c.err")" -eq 1 ] &&
	   grep -q "^migration failed: no handshake reply from 127.0.0.1:$fport within 1 s: not an lkvm run --incoming, or one stopped or overloaded; the guest runs on here$" "$T_TMP/m9c.err" &&
	   still_counting "$T_TMP/s9.out"
	then :
	else why="rc=$rc: $(cat "$T_TMP/m9c.err")"; fi
	kill "$FAKE_PID" 2>/dev/null
	# The same with --key: its nonce exchange is the first answer.
	(umask 077 && head -c 32 /dev/urandom >"$T_TMP/k9.key")
	fport=$(pick_port)
	fake_dst "$fport" silent
	wait_for 30 grep -q listening "$T_TMP/fake.state"
	"$LKVM" migrate --name s9 --to "127.0.0.1:$fport" --key "$T_TMP/k9.key" --quiet >/dev/null \
		2>"$T_TMP/m9d.err"; rc=$?
	[ $rc -eq 1 ] && [ "$(wc -l <"$T_TMP/m9d.err")" -eq 1 ] &&
	   grep -q "^migration failed: no authentication reply from 127.0.0.1:$fport within 1 s: not an lkvm run --incoming, or one stopped or overloaded; the guest runs on here$" "$T_TMP/m9d.err" &&
	   still_counting "$T_TMP/s9.out" || why="${why:-} --key: rc=$rc: $(cat "$T_TMP/m9d.err")"
	kill "$FAKE_PID" 2>/dev/null
	[ -z "${why:-}" ] && pass $t || fail $t "$why"
	why=""
	t=stale-source
	kill -STOP "$DST_PID"
	"$LKVM" migrate --name s9 --to "127.0.0.1:$port" --quiet >/dev/null 2>"$T_TMP/m9a.err"; rc1=$?
	kill -CONT "$DST_PID"
	wait_for 10 grep -q "its source closed it before the handshake" "$T_TMP/d9.err"
	"$LKVM" migrate --name s9 --to "127.0.0.1:$port" --quiet >/dev/null 2>"$T_TMP/m9b.err"; rc2=$?
	if [ $rc1 -ne 1 ] || ! grep -q "no handshake reply" "$T_TMP/m9a.err"; then
		fail $t "first migration: rc=$rc1: $(cat "$T_TMP/m9a.err")"
	elif [ $rc2 -ne 0 ]; then
		fail $t "second migration: rc=$rc2: $(cat "$T_TMP/m9b.err"); destination: $(grep -v faulted "$T_TMP/d9.err" | tail -n 3)"
	elif ! grep -q "ignored a connection from 127.0.0.1:[0-9]*: its source closed it before the handshake" "$T_TMP/d9.err" ||
	     ! wait_for 20 counts_past "$T_TMP/d9.out" 0; then
		fail $t "destination: $(tail -n 3 "$T_TMP/d9.err")"
	else
		pass $t
	fi
fi
"$LKVM" stop --name d9 >/dev/null 2>&1
"$LKVM" stop --name s9 >/dev/null 2>&1

t=stopped-in-handshake
port=$(pick_port)
if ! start_dst d10 "$port" -m 16M; then
	fail $t "destination did not listen"
else
	stray "$port" control-wait >"$T_TMP/cw.out" 2>&1 &
	CW_PID=$!
	T_PIDS+=("$CW_PID")
	wait_for 30 bash -c "'$LKVM' migrate --status --name d10 2>/dev/null | grep -q '^incoming: receiving from'"
	"$LKVM" stop --name d10 >/dev/null 2>&1
	wait_exit "$CW_PID" 40
	wait_exit "$DST_PID" 20
	if ! grep -q "stopped by" "$T_TMP/cw.out" || grep -q "gave up waiting" "$T_TMP/d10.err"; then
		fail $t "the source got: $(cat "$T_TMP/cw.out"); destination: $(grep -v faulted "$T_TMP/d10.err" | tail -n 2)"
	else
		pass $t
	fi
fi
t_done
