#!/usr/bin/env bash
# SEV live migration with the firmware model (issue 6, "what it must show"
# 1 and 3): an SEV guest that declared 4 shared pages (test doorbell) and
# is migration-ready moves mid-run from platform A to platform B through a
# TCP relay that records every byte on the wire.
#   migrate         completes; private pages went as firmware packets
#   continues       the destination counts on, no gap, no repeat, and the
#                   guest's own check of every private and shared byte holds
#   capture         the recorded stream has none of the planted private
#                   pattern, and the shared pattern in plain text
#   source-sent     the source ran SEND_FINISH: firmware state SENT, it
#                   exited 0 and never ran the guest again
#   control-plain   the same guest migrated without SEV: the capture DOES
#                   show the private pattern (so the capture test can fail)
#   page-flips      the guest flips a page shared<->private at every count
#                   without writing it, during the migration of a larger guest:
#                   only the page map's changed set sends it again, and the
#                   destination refuses any page whose last copy came the
#                   wrong way for the installed map
#   compressed      with --compress: private pages still go as firmware
#                   packets (ciphertext is never deflated), the shared pages
#                   go deflated, and the guest's own check of every byte
#                   holds at the destination
#   sealed          with --key / --incoming-key: the SEV handshake and
#                   pages go through the sealed stream, the guest's check
#                   holds at the destination, and the recorded stream has
#                   neither the private nor the shared pattern
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
source "$(dirname "$0")/sevmig-common.inc"
tests="migrate continues capture source-sent control-plain page-flips compressed sealed"
need_kvm $tests
need_migrate $tests
need_python $tests || exit 0
RELAY=$(dirname "$0")/sevmig-relay.py

# relay_start CAPTURE TARGET_PORT: sets RELAY_PORT.  A port taken since
# pick_port looked (a concurrent test) fails the bind: a new port, up to 3.
# Python starts slowly on a loaded host: 30 s each.
relay_start() {
	local try
	for try in 1 2 3; do
		RELAY_PORT=$(pick_port)
		bg_start RELAY_PID python3 "$RELAY" "$RELAY_PORT" "$2" "$1" >"$1.log" 2>&1
		wait_for 30 bash -c "grep -q 'relay ready' '$1.log' || ! kill -0 $RELAY_PID 2>/dev/null"
		grep -q "relay ready" "$1.log" && return 0
		kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null
		echo "relay_start: try $try: $(tail -n 1 "$1.log")"
	done
	return 1
}

PRIV="LKVM-PRIVATE-PATTERN-"
SHARED="LKVM-SHARED-PATTERN-"

port=$(pick_port)
start_sev_src src "delay=20000" --sev-policy 0x21	# NODBG | SEV: chain checked to the ARK
start_sev_dst dst "$port" || { fail migrate "destination did not listen: $(cat "$T_TMP/dst.err")"; t_done; }
relay_start "$T_TMP/sev.cap" "$port" || { fail migrate "relay did not start: $(cat "$T_TMP/sev.cap.log")"; t_done; }
if ! wait_for 60 counts_past "$T_TMP/src.out" 3; then
	fail migrate "source guest did not count: $(tail -n 3 "$T_TMP/src.err")"; t_done
fi
out=$("$LKVM" migrate --to "127.0.0.1:$RELAY_PORT" --name src --json 2>"$T_TMP/migrate.err")
rc=$?
echo "migrate: $out"
enc=$(echo "$out" | sed -n 's/.*"pages_encrypted":\([0-9]*\).*/\1/p')
if [ $rc -eq 0 ] && echo "$out" | grep -q '"status":"completed"' && [ "${enc:-0}" -gt 1000 ]; then
	pass migrate
else
	fail migrate "rc $rc: $out $(cat "$T_TMP/migrate.err")"
	grep SEV "$T_TMP/src.err" "$T_TMP/dst.err"; t_done
fi

if wait_for 15 bash -c "! kill -0 $SRC_PID 2>/dev/null" && wait "$SRC_PID"; then
	last=$(last_count "$T_TMP/src.out")
	if ! wait_for 60 counts_past "$T_TMP/dst.out" $((last + 3)); then
		fail continues "destination did not continue past $last: $(tail -n 3 "$T_TMP/dst.err")"
	elif ! seq_msg=$(check_sequence "$T_TMP/src.out" "$T_TMP/dst.out"); then
		fail continues "count sequence broken: $seq_msg"
	# (The next count from both files: the migration can cut its line in two.)
	elif mem_bad "$T_TMP/dst.out" || mem_bad "$T_TMP/src.out" ||
	     ! cat "$T_TMP/src.out" "$T_TMP/dst.out" | grep -aq "count $((last + 1)) priv ok shared ok"; then
		fail continues "guest memory check failed: $(grep -a BAD "$T_TMP/dst.out" | head -n 2)"
	else
		pass continues
		echo "continues: source stopped at count $last, $seq_msg, every count 'priv ok shared ok'"
	fi
else
	fail continues "source did not exit 0 after the commit"
fi
grep SEV: "$T_TMP/dst.err"

# The capture holds both directions of all connections.
npriv=$(grep -ac -- "$PRIV" "$T_TMP/sev.cap")
nshared=$(grep -ao -- "$SHARED" "$T_TMP/sev.cap" | wc -l)
size=$(stat -c %s "$T_TMP/sev.cap")
if [ "$size" -gt 1000000 ] && [ "$npriv" -eq 0 ] && [ "$nshared" -ge 4 ]; then
	pass capture
	echo "capture: $size bytes on the wire, private pattern 0 times, shared pattern $nshared times"
else
	fail capture "$size bytes, private pattern in $npriv lines, shared pattern $nshared times"
fi

if grep -q "SEND_FINISH: source guest state SENT; it can never run here again" "$T_TMP/src.err" &&
   grep -q "RECEIVE_FINISH: guest state RUNNING" "$T_TMP/dst.err" &&
   [ "$(last_count "$T_TMP/src.out")" = "$last" ]; then
	pass source-sent
else
	fail source-sent "$(grep SEV "$T_TMP/src.err")"
fi
"$LKVM" stop --name dst >/dev/null 2>&1
wait "$DST_PID" 2>/dev/null
kill "$RELAY_PID" 2>/dev/null

# Control: the same guest, no SEV (page map + doorbell on a plain guest).
port=$(pick_port)
bg_start SRC_PID "$LKVM" run --page-map --test-doorbell -m 16M -k "$SEVG" --name psrc \
	-p "delay=20000" >"$T_TMP/psrc.out" 2>"$T_TMP/psrc.err" </dev/null
bg_start DST_PID "$LKVM" run --page-map --test-doorbell -m 16M --name pdst \
	--incoming "127.0.0.1:$port" >"$T_TMP/pdst.out" 2>"$T_TMP/pdst.err" </dev/null
wait_for 30 grep -q "waiting for the source" "$T_TMP/pdst.err"
relay_start "$T_TMP/plain.cap" "$port" || echo "control-plain: the relay did not start: $(cat "$T_TMP/plain.cap.log")"
wait_for 60 counts_past "$T_TMP/psrc.out" 2
out=$("$LKVM" migrate --to "127.0.0.1:$RELAY_PORT" --name psrc --json 2>&1)
n=$(grep -ac -- "$PRIV" "$T_TMP/plain.cap")
if echo "$out" | grep -q '"status":"completed"' && [ "$n" -gt 0 ]; then
	pass control-plain
	echo "control-plain: without SEV the private pattern is on the wire ($n lines)"
else
	fail control-plain "$out; private pattern $n times"
fi
stop_all psrc pdst
kill "$RELAY_PID" 2>/dev/null

port=$(pick_port)
# (No --bandwidth needed: sealing 256 MiB on the model makes round 0 last ~1 s.)
SEV_MEM=256M start_sev_src fsrc "delay=2000 flip=1"
SEV_MEM=256M start_sev_dst fdst "$port"
wait_for 60 counts_past "$T_TMP/fsrc.out" 2
before=$(last_count "$T_TMP/fsrc.out")
out=$("$LKVM" migrate --to "127.0.0.1:$port" --name fsrc --json 2>&1)
counts=$(( $(last_count "$T_TMP/fsrc.out") - before ))
# The guest flips all the time it runs (in its pause loop), counts or not.
if echo "$out" | grep -q '"status":"completed"' && grep -q "RECEIVE_FINISH" "$T_TMP/fdst.err" &&
   wait_for 30 counts_past "$T_TMP/fdst.out" "$(last_count "$T_TMP/fsrc.out")" && ! mem_bad "$T_TMP/fdst.out"; then
	pass page-flips
	echo "page-flips: $counts counts on the source during the migration (16 flips per count); $(grep -o 'rounds":[0-9]*' <<<"$out")"
else
	fail page-flips "$out $(grep -a 'failed\|BAD' "$T_TMP/fdst.err" "$T_TMP/fdst.out" | head -n 3)"
fi
stop_all fsrc fdst

port=$(pick_port)
start_sev_src zsrc "delay=20000" --sev-policy 0x21
start_sev_dst zdst "$port"
wait_for 60 counts_past "$T_TMP/zsrc.out" 2
out=$("$LKVM" migrate --to "127.0.0.1:$port" --name zsrc --json --compress 2>&1 | tail -n 1)
enc=$(sed -n 's/.*"pages_encrypted":\([0-9]*\).*/\1/p' <<<"$out")
z=$(sed -n 's/.*"pages_compressed":\([0-9]*\).*/\1/p' <<<"$out")
last=$(last_count "$T_TMP/zsrc.out")
if grep -q '"status":"completed"' <<<"$out" && grep -q '"compress":true' <<<"$out" &&
   [ "${enc:-0}" -gt 1000 ] && [ "${z:-0}" -ge 4 ] && grep -q "RECEIVE_FINISH" "$T_TMP/zdst.err" &&
   wait_for 60 counts_past "$T_TMP/zdst.out" $((last + 2)) && ! mem_bad "$T_TMP/zdst.out" &&
   cat "$T_TMP/zsrc.out" "$T_TMP/zdst.out" | grep -aq "count $((last + 1)) priv ok shared ok"; then
	pass compressed
	echo "compressed: $enc pages as firmware packets, ${z:-0} deflated"
else
	fail compressed "$out $(grep -a 'failed\|BAD' "$T_TMP/zdst.err" "$T_TMP/zdst.out" | head -n 3)"
fi
stop_all zsrc zdst

(umask 077; head -c 32 /dev/urandom >"$T_TMP/mig.key")
port=$(pick_port)
start_sev_src ksrc "delay=20000" --sev-policy 0x21
start_sev_dst kdst "$port" --incoming-key "$T_TMP/mig.key"
relay_start "$T_TMP/sealed.cap" "$port" || echo "sealed: the relay did not start: $(cat "$T_TMP/sealed.cap.log")"
wait_for 60 counts_past "$T_TMP/ksrc.out" 2
out=$("$LKVM" migrate --to "127.0.0.1:$RELAY_PORT" --name ksrc --key "$T_TMP/mig.key" --json 2>&1 | tail -n 1)
enc=$(sed -n 's/.*"pages_encrypted":\([0-9]*\).*/\1/p' <<<"$out")
last=$(last_count "$T_TMP/ksrc.out")
npriv=$(grep -ac -- "$PRIV" "$T_TMP/sealed.cap")
nshared=$(grep -ao -- "$SHARED" "$T_TMP/sealed.cap" | wc -l)
size=$(stat -c %s "$T_TMP/sealed.cap")
if grep -q '"status":"completed"' <<<"$out" && grep -q '"sealed":true' <<<"$out" &&
   [ "${enc:-0}" -gt 1000 ] && grep -q "RECEIVE_FINISH" "$T_TMP/kdst.err" &&
   wait_for 60 counts_past "$T_TMP/kdst.out" $((last + 2)) && ! mem_bad "$T_TMP/kdst.out" &&
   cat "$T_TMP/ksrc.out" "$T_TMP/kdst.out" | grep -aq "count $((last + 1)) priv ok shared ok" &&
   [ "$size" -gt 1000000 ] && [ "$npriv" -eq 0 ] && [ "$nshared" -eq 0 ]; then
	pass sealed
	echo "sealed: $size bytes on the wire, private pattern 0 times, shared pattern 0 times"
else
	fail sealed "$out; $size bytes, private $npriv, shared $nshared; $(grep -a 'failed\|BAD' "$T_TMP/kdst.err" "$T_TMP/kdst.out" | head -n 3)"
fi
kill "$RELAY_PID" 2>/dev/null
stop_all ksrc kdst
t_done
