#!/usr/bin/env bash
# A flood of connections at a waiting destination, from another host than
# the source (127.0.0.2; skipped where it cannot be bound): 20000 silent
# non-blocking connects a second, far more than the 24 pending slots turn
# over in a handshake, during a keyed migration from 127.0.0.1.
#
#   flood-elsewhere  the migration completes and the guest counts on at the
#                    destination: the flood's own connections gave way, not
#                    the source half way through its handshake (with the
#                    oldest-first rule before session 16 it failed every
#                    time, "no authentication reply" / "no handshake
#                    reply ... connection closed").  The destination must
#                    have logged the flood filling its slots.
#
# Its own script, not under ASan: the flood loads both CPUs for seconds,
# and nothing of it may reach the next test.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="flood-elsewhere"
need_kvm $tests
need_migrate $tests
if ! command -v python3 >/dev/null; then
	for n in $tests; do skip $n "python3 is not installed (it plays the flood)"; done; t_done
fi

t=flood-elsewhere
port=$(pick_port)
if ! python3 -c 'import socket; socket.socket().bind(("127.0.0.2", 0))' 2>/dev/null; then
	skip $t "cannot bind 127.0.0.2 here (the flood must come from another host than the source)"
elif (umask 077; head -c 32 /dev/urandom >"$T_TMP/flood.key") &&
     ! { src_counting s11 && start_dst d11 "$port" -m 16M --incoming-key "$T_TMP/flood.key"; }; then
	fail $t "setup: $(tail -n 1 "$T_TMP/s11.err" "$T_TMP/d11.err" 2>&1)"
else
	# Non-blocking connects, FLOOD_RATE a second (far more than the slots
	# turn over in a handshake, few enough that the accept queue keeps up),
	# the oldest 800 closed as new ones open; it stops itself.
	python3 - "$port" "${FLOOD_RATE:-20000}" 2>/dev/null <<'EOF' &
import collections, socket, sys, time
ring, t0, n = collections.deque(), time.time(), 0
while time.time() - t0 < 60:
    try:
        s = socket.socket()
        s.setblocking(False)
        s.bind(("127.0.0.2", 0))
        s.connect_ex(("127.0.0.1", int(sys.argv[1])))
        ring.append(s)
        n += 1
    except OSError:
        time.sleep(0.001)
    if len(ring) > 800:
        ring.popleft().close()
    ahead = n / float(sys.argv[2]) - (time.time() - t0)
    if ahead > 0:
        time.sleep(ahead)
EOF
	FLOOD_PID=$!
	T_PIDS+=("$FLOOD_PID")
	wait_for 30 grep -q "ignored a connection from 127.0.0.2:[0-9]*: more than 24 connections at once" \
		"$T_TMP/d11.err"
	"$LKVM" migrate --name s11 --to "127.0.0.1:$port" --key "$T_TMP/flood.key" --quiet \
		>"$T_TMP/m11.out" 2>"$T_TMP/m11.err"; rc=$?
	kill "$FLOOD_PID" 2>/dev/null
	last=$(last_count "$T_TMP/s11.out")
	if ! grep -q "more than 24 connections at once" "$T_TMP/d11.err"; then
		fail $t "the flood never filled the destination's 24 slots: $(grep -v faulted "$T_TMP/d11.err" | tail -n 2)"
	elif [ $rc -ne 0 ]; then
		fail $t "migration failed under the flood: $(cat "$T_TMP/m11.err")"
	elif ! wait_for 30 counts_past "$T_TMP/d11.out" $((last + 2)); then
		fail $t "the guest does not go on at the destination: $(tail -n 2 "$T_TMP/d11.err")"
	else
		pass $t
	fi
fi
"$LKVM" stop --name d11 >/dev/null 2>&1
"$LKVM" stop --name s11 >/dev/null 2>&1

t_done
