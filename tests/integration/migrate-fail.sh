#!/usr/bin/env bash
# Failed migrations never lose the guest (issue 5, "what it must show" 2):
# each failure below leaves the source guest running and still counting,
# the destination exits non-zero without running it, and `lkvm migrate`
# exits 1 with the reason.  At the end the same source migrates fine.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="json-always not-listening different-memory different-vcpus different-cpuid different-tsc flipped-byte-ram flipped-byte-control flipped-byte-section data-fails-control-quiet connection-cut destination-killed destination-terminated source-hung source-killed cancelled status cancel-nothing status-nothing source-stopped guest-reset cancel-after-end cancel-too-late cancel-paused stop-committing waiting-destination-listed waiting-destination-stopped waiting-destination-terminated destination-larger-than-host then-succeeds"
need_kvm $tests
need_migrate $tests

MEM=16M

# --json promises one object on stdout whatever fails, a command line that
# does not parse too (a script reads stdout, and got nothing), and a
# --status whose instance is not there (it printed only the stderr line).
t=json-always
ok=1 why=""
for a in "" "--bogus" "--channels 99" "--to 1.2.3.4:5 --downtime 0" "--cancel" \
	 "--status --quiet" "extra" "--to nohostport" "--name nosuch --to 127.0.0.1:1" \
	 "--status --name nosuch"; do
	out=$("$LKVM" migrate --json $a 2>/dev/null); rc=$?
	if [ $rc -ne 1 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ] ||
	   ! printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["guest"] != "unchanged" or d["status"] != "failed")'; then
		ok=0 why="$why [$a]: rc=$rc '$out';"
	fi
done
# The object's reason is the stderr line's, not a bare errno: here a
# socket directory others may read ("permission denied" before).
mkdir -p "$T_TMP/opendir" && chmod 755 "$T_TMP/opendir"
out=$(LKVM_DIR="$T_TMP/opendir" "$LKVM" migrate --json --name a --to 127.0.0.1:1 2>"$T_TMP/$t.err")
if ! grep -q '"reason":"[^"]*has mode 0755: it must be private' <<<"$out" ||
   ! grep -q 'has mode 0755: it must be private' "$T_TMP/$t.err"; then
	ok=0 why="$why [LKVM_DIR mode 755]: '$out' / '$(cat "$T_TMP/$t.err")';"
fi
# The same without --name: the instance is looked for in that directory, and
# its refusal is the reason ("no running instance" before).
for a in "--to 127.0.0.1:1" "--status"; do
	out=$(LKVM_DIR="$T_TMP/opendir" "$LKVM" migrate --json $a 2>"$T_TMP/$t.err")
	if ! grep -q '"reason":"[^"]*has mode 0755: it must be private' <<<"$out" ||
	   ! grep -q 'has mode 0755: it must be private' "$T_TMP/$t.err"; then
		ok=0 why="$why [LKVM_DIR mode 755, no --name, $a]: '$out' / '$(cat "$T_TMP/$t.err")';"
	fi
done
[ $ok = 1 ] && pass $t || fail $t "$why"

# A source with enough non-zero RAM (a random initrd) that the stream takes
# a while at a capped bandwidth: time to kill the destination mid-stream.
head -c $((6 << 20)) /dev/urandom >"$T_TMP/random.img"

# run_src NAME [env...]: a fresh source guest (env vars apply to the VMM).
run_src() {
	local name=$1; shift
	bg_start SRC_PID env "$@" "$LKVM" run -k "$GUESTS/counter" --name "$name" -m $MEM \
		-i "$T_TMP/random.img" -p "delay=20000" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err"
	wait_for 30 counts_past "$T_TMP/$name.out" 2
}

# expect_failure TEST SRC REASON_REGEX [migrate args...]
# With AT_PROGRESS="COMMAND...", the command runs at the 2nd progress line
# inside round 0 (about 1 s into the stream), the stream still under way.
expect_failure() {
	local t=$1 src=$2 re=$3 rc mpid progress=1; shift 3
	if [ -n "${AT_PROGRESS:-}" ]; then
		"$LKVM" migrate --name "$src" "$@" >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
		mpid=$!
		wait_for 30 progress_lines "$T_TMP/$t.mig.err" 2 || progress=0
		$AT_PROGRESS
		wait "$mpid"; rc=$?
	else
		"$LKVM" migrate --name "$src" --quiet "$@" >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err"
		rc=$?
	fi
	if [ $progress -eq 0 ]; then
		fail "$t" "no progress inside round 0: $(tail -n 2 "$T_TMP/$t.mig.err")"; return 1
	fi
	if [ $rc -eq 0 ]; then
		fail "$t" "migration succeeded but should have failed"; return 1
	fi
	if ! grep -Eq "$re" "$T_TMP/$t.mig.err"; then
		fail "$t" "reason not reported (want /$re/): $(cat "$T_TMP/$t.mig.err")"; return 1
	fi
	if ! still_counting "$T_TMP/$src.out"; then
		fail "$t" "source guest stopped counting: $(tail -n 3 "$T_TMP/$src.err")"; return 1
	fi
	echo "$t: $(grep -v '^migrate: round' "$T_TMP/$t.mig.err")"
	return 0
}

# cancel_src NAME: lkvm migrate --cancel, its answer kept in cancel.out
cancel_src() { "$LKVM" migrate --cancel --name "$1" >"$T_TMP/cancel.out" 2>&1; }

# dest_failed TEST DSTNAME: the destination exited non-zero and never ran the guest
dest_failed() {
	local t=$1 d=$2
	if ! wait_exit "$DST_PID" 15; then
		fail "$t" "destination still running"; return 1
	fi
	if [ "$EXIT_RC" = 0 ]; then fail "$t" "destination exited 0"; return 1; fi
	if grep -q count "$T_TMP/$d.out"; then fail "$t" "destination ran the guest"; return 1; fi
	return 0
}

# dest_heard_abort TEST DSTNAME WHY: dest_failed, and the destination
# reported "source aborted: WHY" (the source's ABORT came before the close)
dest_heard_abort() {
	dest_failed "$1" "$2" || return 1
	grep -q "source aborted: $3" "$T_TMP/$2.err" && return 0
	fail "$1" "the destination did not hear why: $(tail -n 1 "$T_TMP/$2.err")"
	return 1
}

# migrate_held TEST SRC DST HOOK WHERE: a source SRC whose VMM holds at the
# LKVM_MIG_FAULT hook HOOK (its message names WHERE), a destination DST, and
# `lkvm migrate` between them in the background ($MPID, output in
# TEST.mig.*).  Fails TEST and returns 1 when the hook never held the source.
migrate_held() {
	local t=$1 src=$2 dst=$3 port
	run_src "$src" LKVM_MIG_FAULT="$4"
	port=$(pick_port)
	start_dst "$dst" "$port" -m $MEM
	"$LKVM" migrate --name "$src" --quiet --to "127.0.0.1:$port" \
		>"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
	MPID=$!
	if ! wait_for 30 grep -q "test hook: $5" "$T_TMP/$src.err"; then
		fail "$t" "the hook never held the source: $(tail -n 2 "$T_TMP/$src.err")"
		wait "$MPID"; return 1
	fi
}

run_src src
if ! kill -0 "$SRC_PID" 2>/dev/null || ! counts_past "$T_TMP/src.out" 2; then
	fail setup "source guest did not start: $(tail -n 3 "$T_TMP/src.err")"; t_done
fi

# 1. Nobody listens on the port.
port=$(pick_port)
if expect_failure not-listening src "cannot connect|refused" --to "127.0.0.1:$port"; then
	# A failed migration neither converged nor failed to: "converged" is null.
	out=$("$LKVM" migrate --name src --json --to "127.0.0.1:$port" 2>/dev/null)
	if ! grep -q '"status":"failed",.*"converged":null,.*"guest":"source"}$' <<<"$out"; then
		fail not-listening "--json summary of the failure: $out"
	else
		pass not-listening
	fi
fi

# 2. Destination with a different memory size: refused before any page moves.
port=$(pick_port)
start_dst d-mem "$port" -m 32M
expect_failure different-memory src "memory size differs" --to "127.0.0.1:$port" &&
	dest_failed different-memory d-mem && pass different-memory

# 3. Different vCPU count.
port=$(pick_port)
start_dst d-cpu "$port" -m $MEM -c 2
expect_failure different-vcpus src "vCPU count differs: source 1, destination 2" --to "127.0.0.1:$port" &&
	dest_failed different-vcpus d-cpu && pass different-vcpus

# 3b. A destination whose guest would see another CPU: x2apic hidden there
#     (KVM emulates x2APIC on every x86 host, so the source's guest has it).
#     Some KVM back ends ignore the mask; the destination says so, and then
#     there is nothing to refuse.
port=$(pick_port)
start_dst d-cpuid "$port" -m $MEM --cpuid-mask x2apic
if grep -q "keeps CPUID 0x1.ecx bit 21 (x2apic) visible" "$T_TMP/d-cpuid.err"; then
	skip different-cpuid "this host's KVM ignores --cpuid-mask x2apic"
	"$LKVM" stop --name d-cpuid >/dev/null 2>&1
else
	expect_failure different-cpuid src "destination refused: guest CPU features differ: the destination lacks x2apic \(the guest may use them\); the guest runs on here" \
		--to "127.0.0.1:$port" && dest_failed different-cpuid d-cpuid && pass different-cpuid
fi

# 3c. A destination pinned to another TSC rate (lkvm run --tsc-khz): the
#     guest calibrated its clocks against its own, so it is refused in the
#     handshake.  (An unpinned destination takes the guest's rate instead:
#     migrate-basic's tsc-rate-kept.)  9 GHz is above any real TSC, which
#     KVM can always provide, by scaling or by catching the TSC up.
port=$(pick_port)
if ! start_dst d-tsc "$port" -m $MEM --tsc-khz 9000000; then
	skip different-tsc "this host's KVM cannot run a 9 GHz guest TSC: $(tail -n 1 "$T_TMP/d-tsc.err")"
else
	expect_failure different-tsc src "destination refused: TSC rate differs: the guest's runs at [0-9]+ kHz, the destination was started with --tsc-khz 9000000; the guest runs on here" \
		--to "127.0.0.1:$port" && dest_failed different-tsc d-tsc && pass different-tsc
fi

# 4. A flipped byte: in a RAM record's entry table on data channel 1, then in
#    the control channel's HELLO.  Needs a source started with the fault hook.
"$LKVM" stop --name src >/dev/null 2>&1; wait "$SRC_PID" 2>/dev/null
run_src src2 LKVM_MIG_FAULT=flip:100
port=$(pick_port)
start_dst d-flip "$port" -m $MEM
expect_failure flipped-byte-ram src2 "bad RAM record|checksum|Bad message" --to "127.0.0.1:$port" &&
	dest_failed flipped-byte-ram d-flip && pass flipped-byte-ram
"$LKVM" stop --name src2 >/dev/null 2>&1; wait "$SRC_PID" 2>/dev/null

run_src src3 LKVM_MIG_FAULT=flip:70c
port=$(pick_port)
start_dst d-flip2 "$port" -m $MEM
expect_failure flipped-byte-control src3 "refused|checksum|Bad message|reset" --to "127.0.0.1:$port" &&
	dest_failed flipped-byte-control d-flip2 && pass flipped-byte-control
"$LKVM" stop --name src3 >/dev/null 2>&1; wait "$SRC_PID" 2>/dev/null

# ... and in a state section on the control channel with two data channels
# up: the reason is the control channel's checksum, not the echo of the
# data channels being shut down ("data channel: connection closed").
run_src src3b LKVM_MIG_FAULT=flip:3000c
port=$(pick_port)
start_dst d-flip3 "$port" -m $MEM
expect_failure flipped-byte-section src3b "(refused|says): control channel: checksum mismatch; the guest runs on here" \
	--to "127.0.0.1:$port" --channels 2 &&
	dest_failed flipped-byte-section d-flip3 && pass flipped-byte-section
"$LKVM" stop --name src3b >/dev/null 2>&1; wait "$SRC_PID" 2>/dev/null

# ... and in data channel 1 while the control connection goes quiet (a
#     relay forwards nothing more of it from the source once the data
#     connection is in, not even its close: a stalled flow, or a source
#     that neither ABORTs nor hangs up).
#     The destination's failing data thread wakes its control reader: it
#     gives up at once, not after the 120 s silence watchdog.
t=data-fails-control-quiet
run_src src3c LKVM_MIG_FAULT=flip:100
port=$(pick_port)
rport=$(pick_port)
start_dst d-quiet "$port" -m $MEM
python3 - "$rport" "$port" >"$T_TMP/relay.out" 2>&1 <<'PY' &
import socket, sys, threading
lport, dport = int(sys.argv[1]), int(sys.argv[2])
quiet = threading.Event()
def pump(a, b, hold):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            if not (hold and quiet.is_set()):
                b.sendall(d)
    except OSError:
        pass
    if hold and quiet.is_set():
        return          # the source's close is not passed on either
    for x in (a, b):
        try: x.shutdown(socket.SHUT_RDWR)
        except OSError: pass
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport)); ls.listen(8)
print("relay ready", flush=True)
n = 0
while True:
    c, _ = ls.accept()
    d = socket.create_connection(("127.0.0.1", dport))
    if n:
        quiet.set()
    threading.Thread(target=pump, args=(c, d, n == 0), daemon=True).start()
    threading.Thread(target=pump, args=(d, c, False), daemon=True).start()
    n += 1
PY
T_PIDS+=($!)
wait_for 10 grep -q "relay ready" "$T_TMP/relay.out"
if expect_failure $t src3c "." --to "127.0.0.1:$rport" --channels 1; then
	if ! wait_exit "$DST_PID" 15; then
		fail $t "the destination still waits 15 s after its data channel failed"
	elif [ "$EXIT_RC" = 0 ] || grep -q count "$T_TMP/d-quiet.out"; then
		fail $t "destination exited $EXIT_RC or ran the guest"
	elif ! grep -q "incoming migration failed: bad RAM record" "$T_TMP/d-quiet.err"; then
		fail $t "the destination did not name its data channel: $(tail -n 2 "$T_TMP/d-quiet.err")"
	else
		pass $t
	fi
fi
"$LKVM" stop --name src3c >/dev/null 2>&1; wait "$SRC_PID" 2>/dev/null

# 5. The connection is cut mid-stream (data channel 1 after 1 MB).
run_src src4 LKVM_MIG_FAULT=cut:1000000
port=$(pick_port)
start_dst d-cut "$port" -m $MEM
expect_failure connection-cut src4 "failed|reset|Broken pipe|refused" --to "127.0.0.1:$port" --channels 1 &&
	dest_failed connection-cut d-cut && pass connection-cut
"$LKVM" stop --name src4 >/dev/null 2>&1; wait "$SRC_PID" 2>/dev/null

# 6. The destination is killed mid-stream (the bandwidth cap makes the
#    stream last ~3 s; it is killed after one).
run_src src5
port=$(pick_port)
start_dst d-kill "$port" -m $MEM
AT_PROGRESS="kill -KILL $DST_PID" expect_failure destination-killed src5 "failed|reset|Broken pipe|lost" \
	--to "127.0.0.1:$port" --bandwidth 2 && pass destination-killed

# 6b. The destination is stopped by SIGTERM mid-stream: it exits with the
#     signal's status without running the guest, the source keeps it, and
#     hears why (the stop used to shut the control connection too, so the
#     source said only "connection closed").
port=$(pick_port)
start_dst d-term "$port" -m $MEM
term_pid=$DST_PID
if AT_PROGRESS="kill -TERM $term_pid" expect_failure destination-terminated src5 \
	"destination says: stopped by Terminated" --to "127.0.0.1:$port" --bandwidth 2; then
	wait_exit "$term_pid" 15
	if [ "$EXIT_RC" != 143 ]; then
		fail destination-terminated "destination exit $EXIT_RC, not 143: $(tail -n 2 "$T_TMP/d-term.err")"
	elif grep -q count "$T_TMP/d-term.out"; then
		fail destination-terminated "destination ran the guest"
	else
		pass destination-terminated
	fi
fi

# 6b'. The source VMM hangs mid-stream (SIGSTOP): its kernel still answers
#     TCP keepalive, so only the destination's silence watchdog ends the
#     wait (120 s by default, LKVM_MIG_SILENT_MS=2000 here).  The
#     destination exits non-zero without running the guest; the source,
#     let go, hears why and counts on.  (It used to wait forever.)
hang_src() {
	kill -STOP "$SRC_PID"
	wait_exit "$hung_dst" 20; HUNG_RC=$EXIT_RC
	kill -CONT "$SRC_PID"
}
port=$(pick_port)
DST_WRAP="env LKVM_MIG_SILENT_MS=2000" start_dst d-hung "$port" -m $MEM
hung_dst=$DST_PID
if AT_PROGRESS=hang_src expect_failure source-hung src5 \
	"destination says: no data from the source for 2.0 s" --to "127.0.0.1:$port" --bandwidth 2; then
	if [ "$HUNG_RC" = 0 ] || [ "$HUNG_RC" = timeout ]; then
		fail source-hung "destination exit $HUNG_RC: $(tail -n 2 "$T_TMP/d-hung.err")"
	elif grep -q count "$T_TMP/d-hung.out"; then
		fail source-hung "destination ran the guest"
	else
		pass source-hung
	fi
fi

# 6b''. The source VMM is killed mid-stream: lkvm migrate says the guest went
#     with it (exit 2, "guest":"stopped"), not "failed" with the guest
#     unchanged (exit 1, which means it still runs here); the destination
#     does not run it.  The kill comes right after round 0's first report,
#     which is sent as soon as the handshake is done: a kill that early was
#     called "exited before it answered ... no migration started".
t=source-killed
src5_pid=$SRC_PID
run_src src5k
port=$(pick_port)
start_dst d-srck "$port" -m $MEM
"$LKVM" migrate --name src5k --to "127.0.0.1:$port" --bandwidth 2 --json >"$T_TMP/$t.mig.out" 2>"$T_TMP/$t.mig.err" &
mpid=$!
if ! wait_for 30 grep -q '"event":"progress","round":0' "$T_TMP/$t.mig.err"; then
	fail $t "no progress: $(tail -n 2 "$T_TMP/$t.mig.err")"
else
	kill -9 "$SRC_PID"
	wait "$mpid"; rc=$?
	if [ $rc -ne 2 ] || ! grep -q '"guest":"stopped"}$' "$T_TMP/$t.mig.out" ||
	   ! grep -q "the VMM of src5k went away mid-migration" "$T_TMP/$t.mig.err"; then
		fail $t "rc=$rc: $(cat "$T_TMP/$t.mig.out")"
	else
		dest_failed $t d-srck && pass $t
	fi
fi
SRC_PID=$src5_pid

# 6c. lkvm migrate --cancel mid-stream: the migration fails as "cancelled",
#     the source keeps its guest, and the destination hears why (ABORT comes
#     before the data connections close) and exits non-zero.  A second
#     --cancel finds nothing to cancel.
#     lkvm migrate --status, asked before the cancel, reports the migration
#     and its progress; after it, how it failed (text and JSON each time).
status_then_cancel() {
	"$LKVM" migrate --status --name src5 >"$T_TMP/status.during" 2>&1
	"$LKVM" migrate --status --name src5 --json >"$T_TMP/status.during.json" 2>&1
	cancel_src src5
}
port=$(pick_port)
start_dst d-cancel "$port" -m $MEM
if AT_PROGRESS=status_then_cancel expect_failure cancelled src5 "cancelled \(lkvm migrate --cancel\)" \
	--to "127.0.0.1:$port" --bandwidth 2 && dest_heard_abort cancelled d-cancel cancelled; then
	if ! grep -q "^src5: cancelling the migration to 127.0.0.1:$port" "$T_TMP/cancel.out"; then
		fail cancelled "--cancel said: $(cat "$T_TMP/cancel.out")"
	else
		pass cancelled
	fi
	num='[0-9]+(\.[0-9]+)?'
	after=$("$LKVM" migrate --status --name src5)
	after_json=$("$LKVM" migrate --status --name src5 --json)
	if ! grep -Eq "^migrating to 127\.0\.0\.1:$port for $num s; round 0: +$num%" "$T_TMP/status.during" ||
		! grep -Eq "^\{\"active\":true,\"to\":\"127\.0\.0\.1:$port\",\"elapsed_ms\":[0-9]+,\"progress\":\{\"event\":\"progress\",\"round\":0,\"final\":false,.*\}\}$" \
			"$T_TMP/status.during.json"; then
		fail status "during: $(cat "$T_TMP/status.during" "$T_TMP/status.during.json")"
	elif [ "$after" != "no migration in progress; the last one, to 127.0.0.1:$port: failed: cancelled (lkvm migrate --cancel); the guest runs on here" ] ||
		! grep -Eq "^\{\"active\":false,\"to\":\"127\.0\.0\.1:$port\",\"last\":\{\"status\":\"failed\",\"reason\":\"cancelled \(lkvm migrate --cancel\)\",.*\}\}$" \
			<<<"$after_json"; then
		fail status "after: $after $after_json"
	else
		pass status
	fi
fi
if "$LKVM" migrate --cancel --name src5 2>"$T_TMP/cancel2.err" ||
	! grep -q "src5: no migration in progress" "$T_TMP/cancel2.err" || [ "$(wc -l <"$T_TMP/cancel2.err")" -ne 1 ]; then
	fail cancel-nothing "$(cat "$T_TMP/cancel2.err")"
else
	pass cancel-nothing
fi

# 6d. The source VMM is stopped mid-stream (lkvm stop): it cancels the
#     migration first, so the destination hears why, and exits 0 once the
#     engine is done (nothing may read guest memory after it is gone).
run_src src6
if [ "$("$LKVM" migrate --status --name src6)" != "no migration in progress" ] ||
	[ "$("$LKVM" migrate --status --name src6 --json)" != '{"active":false,"last":null}' ]; then
	fail status-nothing "$("$LKVM" migrate --status --name src6 2>&1)"
else
	pass status-nothing
fi
port=$(pick_port)
start_dst d-srcstop "$port" -m $MEM
"$LKVM" migrate --name src6 --to "127.0.0.1:$port" --bandwidth 2 \
	>"$T_TMP/srcstop.mig.out" 2>"$T_TMP/srcstop.mig.err" &
mpid=$!
if ! wait_for 30 progress_lines "$T_TMP/srcstop.mig.err" 2; then
	fail source-stopped "no progress inside round 0: $(tail -n 2 "$T_TMP/srcstop.mig.err")"
	kill "$mpid" 2>/dev/null
else
	"$LKVM" stop --name src6 >/dev/null 2>&1
	wait "$mpid"; rc=$?
	wait_exit "$SRC_PID" 15
	if [ $rc -eq 0 ] || ! grep -q "cancelled: the source VMM is stopping (stopped by 'lkvm stop'); the guest stops with this VMM" \
		"$T_TMP/srcstop.mig.err"; then
		fail source-stopped "lkvm migrate (rc $rc): $(tail -n 1 "$T_TMP/srcstop.mig.err")"
	elif [ "$EXIT_RC" != 0 ] || grep -q "still busy at exit\|still running" "$T_TMP/src6.err"; then
		fail source-stopped "source exit $EXIT_RC: $(tail -n 2 "$T_TMP/src6.err")"
	elif dest_heard_abort source-stopped d-srcstop "cancelled: the source VMM is stopping"; then
		pass source-stopped
	fi
fi

# 6d''. The guest resets itself mid-stream (the counter guest with "reset"
#      does when an 'r' reaches its serial port): the VMM stops as on any
#      reset, and the client's line says that is why, not as if somebody
#      had stopped it (it said only "the source VMM is stopping").
fifo=$T_TMP/rst.fifo
mkfifo "$fifo" && exec 8<>"$fifo"
# (Not bg_start: a job started with & from inside a function reads
# /dev/null, whatever the function's own stdin is.)
"$LKVM" run -k "$GUESTS/counter" --name src-rst -m $MEM -i "$T_TMP/random.img" \
	-p "delay=20000 reset" <"$fifo" >"$T_TMP/src-rst.out" 2>"$T_TMP/src-rst.err" &
SRC_PID=$!; T_PIDS+=($SRC_PID)
port=$(pick_port)
start_dst d-rst "$port" -m $MEM
if ! wait_for 30 counts_past "$T_TMP/src-rst.out" 2; then
	fail guest-reset "setup: $(tail -n 2 "$T_TMP/src-rst.err")"
else
	"$LKVM" migrate --name src-rst --to "127.0.0.1:$port" --bandwidth 2 \
		>"$T_TMP/rst.mig.out" 2>"$T_TMP/rst.mig.err" &
	mpid=$!
	if ! wait_for 30 progress_lines "$T_TMP/rst.mig.err" 2; then
		fail guest-reset "no progress inside round 0: $(tail -n 2 "$T_TMP/rst.mig.err")"
		kill "$mpid" 2>/dev/null
	else
		printf r >&8
		wait "$mpid"; rc=$?
		wait_exit "$SRC_PID" 15
		if [ $rc -ne 2 ] || ! grep -q "cancelled: the source VMM is stopping (guest reset); the guest stops with this VMM" \
			"$T_TMP/rst.mig.err"; then
			fail guest-reset "lkvm migrate (rc $rc): $(tail -n 1 "$T_TMP/rst.mig.err")"
		elif [ "$EXIT_RC" != 0 ] || ! grep -q "guest reset" "$T_TMP/src-rst.err"; then
			fail guest-reset "source exit $EXIT_RC: $(tail -n 2 "$T_TMP/src-rst.err")"
		elif dest_heard_abort guest-reset d-rst "cancelled: the source VMM is stopping (guest reset)"; then
			pass guest-reset
		fi
	fi
fi
exec 8>&-

# 6d'. A cancel after END but before GO still counts: the destination has
#     the whole guest but cannot run it without GO.  The hook holds the
#     source 3 s after END; the cancel fails the migration as "cancelled",
#     the guest counts on here, and the destination hears ABORT.
if migrate_held cancel-after-end src9 d-aend hold:3000 "END sent"; then
	"$LKVM" migrate --cancel --name src9 >/dev/null 2>&1; crc=$?
	wait "$MPID"; rc=$?
	if [ $crc -ne 0 ] || [ $rc -ne 1 ] || ! grep -q "migration failed: cancelled (lkvm migrate --cancel); the guest runs on here" "$T_TMP/cancel-after-end.mig.err"; then
		fail cancel-after-end "cancel rc $crc, migrate rc $rc: $(cat "$T_TMP/cancel-after-end.mig.err")"
	elif ! still_counting "$T_TMP/src9.out"; then
		fail cancel-after-end "the guest does not count on here"
	elif dest_heard_abort cancel-after-end d-aend "cancelled"; then
		pass cancel-after-end
	fi
fi
"$LKVM" stop --name src9 >/dev/null 2>&1

# 6e. A cancel once GO has gone out is refused: the destination has been
#     told to run the guest.  The hook holds the source 3 s after GO so the
#     cancel lands in that window; the migration then completes and the
#     guest counts on at the destination.
if migrate_held cancel-too-late src7 d-late hold-go:3000 "GO sent"; then
	"$LKVM" migrate --cancel --name src7 2>"$T_TMP/late.cancel.err"; crc=$?
	wait "$MPID"; rc=$?
	if [ $crc -eq 0 ] || ! grep -q "src7: too late: the destination has been told to run the guest" "$T_TMP/late.cancel.err"; then
		fail cancel-too-late "--cancel (rc $crc): $(cat "$T_TMP/late.cancel.err")"
	elif [ $rc -ne 0 ]; then
		fail cancel-too-late "the migration failed after the refused cancel: $(cat "$T_TMP/cancel-too-late.mig.err")"
	elif ! wait_for 30 counts_past "$T_TMP/d-late.out" $(( $(last_count "$T_TMP/src7.out") + 2 )); then
		fail cancel-too-late "the guest does not count on at the destination: $(tail -n 2 "$T_TMP/d-late.err")"
	else
		pass cancel-too-late
	fi
fi
"$LKVM" stop --name d-late >/dev/null 2>&1
wait_exit "$DST_PID" 10

# 6f. A cancel while the vCPUs are paused for the final round: the
#     migration still fails as "cancelled", the guest resumes here without
#     gap or repeat, and the destination never runs it.  The hook holds the
#     source 5 s after the pause; the guest must not count meanwhile.
if migrate_held cancel-paused src8 d-paused hold-paused:5000 "vCPUs paused"; then
	held=$(last_count "$T_TMP/src8.out")
	sleep 1
	held_after=$(last_count "$T_TMP/src8.out")
	cancel_src src8; crc=$?
	wait "$MPID"; rc=$?
	if [ "$held" != "$held_after" ]; then
		fail cancel-paused "the guest counted while paused: $held, then $held_after"
	elif [ $crc -ne 0 ] || ! grep -q "^src8: cancelling the migration" "$T_TMP/cancel.out"; then
		fail cancel-paused "--cancel (rc $crc): $(cat "$T_TMP/cancel.out")"
	elif [ $rc -eq 0 ] || ! grep -q "cancelled (lkvm migrate --cancel)" "$T_TMP/cancel-paused.mig.err"; then
		fail cancel-paused "lkvm migrate (rc $rc): $(cat "$T_TMP/cancel-paused.mig.err")"
	elif ! still_counting "$T_TMP/src8.out"; then
		fail cancel-paused "the source guest did not resume: $(tail -n 3 "$T_TMP/src8.err")"
	elif ! check_sequence "$T_TMP/src8.out" >"$T_TMP/paused.seq" 2>&1; then
		fail cancel-paused "counts: $(cat "$T_TMP/paused.seq")"
	elif dest_heard_abort cancel-paused d-paused cancelled; then
		pass cancel-paused
	fi
fi
"$LKVM" stop --name src8 >/dev/null 2>&1
wait_exit "$SRC_PID" 15

# 6g. lkvm stop on the source once END has gone out: too late to cancel,
#     so the stop waits for the commit; the migration succeeds, the guest
#     counts on at the destination, and the source VMM exits 0.
if migrate_held stop-committing src9 d-commit hold:3000 "END sent"; then
	"$LKVM" stop --name src9 >"$T_TMP/commit.stop.out" 2>&1; stoprc=$?
	wait "$MPID"; rc=$?
	wait_exit "$SRC_PID" 15
	if [ $rc -ne 0 ]; then
		fail stop-committing "the migration failed after the stop (stop rc $stoprc): $(cat "$T_TMP/stop-committing.mig.err")"
	elif [ "$EXIT_RC" != 0 ]; then
		fail stop-committing "source exit $EXIT_RC: $(tail -n 2 "$T_TMP/src9.err")"
	elif ! wait_for 30 counts_past "$T_TMP/d-commit.out" $(( $(last_count "$T_TMP/src9.out") + 2 )); then
		fail stop-committing "the guest does not count on at the destination: $(tail -n 2 "$T_TMP/d-commit.err")"
	elif ! check_sequence "$T_TMP/src9.out" "$T_TMP/d-commit.out" >"$T_TMP/commit.seq" 2>&1; then
		fail stop-committing "counts: $(cat "$T_TMP/commit.seq")"
	else
		pass stop-committing
	fi
fi
"$LKVM" stop --name d-commit >/dev/null 2>&1
wait_exit "$DST_PID" 10

# 6h. A destination waiting for its guest is on the control socket: listed
#     as incoming, refuses what needs a guest, has dropped its capabilities,
#     and stops on request.
port=$(pick_port)
start_dst d-wait "$port" -m $MEM
if ! wait_for 10 bash -c "'$LKVM' list 2>/dev/null | grep -q '^d-wait .* incoming '"; then
	fail waiting-destination-listed "not listed as incoming: $("$LKVM" list 2>&1)"
else
	bad=
	for c in pause resume debug "migrate --to 127.0.0.1:1" "migrate --cancel"; do
		if $LKVM $c --name d-wait >/dev/null 2>"$T_TMP/wait.err" ||
			! grep -q "has not arrived yet" "$T_TMP/wait.err" || [ "$(wc -l <"$T_TMP/wait.err")" -ne 1 ]; then
			bad="$bad '$c': $(cat "$T_TMP/wait.err");"
		fi
	done
	# migrate --status answers: the guest is awaited.
	st=$($LKVM migrate --status --name d-wait 2>&1)
	[[ "$st" == "incoming: waiting for a source on 127.0.0.1:$port for "* ]] ||
		bad="$bad 'migrate --status': $st;"
	# It reads the network only after giving up every capability (run hook
	# 90, after the control socket at 30: poll).
	caps_kept() {	# the threads of $DST_PID that still hold any
		local st kept=
		for st in /proc/$DST_PID/task/*/status; do
			grep -q '^CapEff:[[:space:]]*0*$' "$st" && grep -q '^NoNewPrivs:[[:space:]]*1' "$st" ||
				kept="$kept thread $(basename "$(dirname "$st")") keeps capabilities;"
		done
		echo "$kept"
	}
	caps_gone() { [ -z "$(caps_kept)" ]; }
	wait_for 15 caps_gone
	bad="$bad$(caps_kept)"
	if [ -n "$bad" ]; then fail waiting-destination-listed "$bad"
	else pass waiting-destination-listed; fi
fi
"$LKVM" stop --name d-wait >/dev/null 2>&1
wait_exit "$DST_PID" 10
if [ "$EXIT_RC" = 0 ] && grep -q "stopped by 'lkvm stop' while waiting" "$T_TMP/d-wait.err"; then
	pass waiting-destination-stopped
else
	fail waiting-destination-stopped "exit $EXIT_RC: $(tail -n 2 "$T_TMP/d-wait.err")"
fi
port=$(pick_port)
start_dst d-wait2 "$port" -m $MEM
kill -TERM "$DST_PID"
wait_exit "$DST_PID" 10
if [ "$EXIT_RC" = 143 ]; then
	pass waiting-destination-terminated
else
	fail waiting-destination-terminated "exit $EXIT_RC: $(tail -n 2 "$T_TMP/d-wait2.err")"
fi

# 6h. A destination with more guest RAM than the host has available does
#     not fault it all in while it waits (that would call the OOM killer
#     before any source came): it says so and stays small.
avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
big_mb=$(( avail_mb * 2 > 1048576 ? 1048576 : avail_mb * 2 ))
port=$(pick_port)
if [ -z "$avail_mb" ] || [ "$avail_mb" -ge 524288 ]; then
	skip destination-larger-than-host "MemAvailable is '${avail_mb}' MiB here: no -m above it is allowed"
elif ! start_dst d-big "$port" -m ${big_mb}M; then
	fail destination-larger-than-host "did not start: $(tail -n 2 "$T_TMP/d-big.err")"
else
	sleep 1
	rss_mb=$(awk '/^VmRSS:/ { print int($2 / 1024) }' /proc/$DST_PID/status)
	"$LKVM" stop --name d-big >/dev/null 2>&1
	wait_exit "$DST_PID" 10
	if grep -q "guest RAM ($big_mb MiB) is more than the host has available" "$T_TMP/d-big.err" &&
	   [ "$rss_mb" -lt 1024 ] && [ "$EXIT_RC" = 0 ]; then
		pass destination-larger-than-host
	else
		fail destination-larger-than-host "rss $rss_mb MiB, exit $EXIT_RC: $(tail -n 2 "$T_TMP/d-big.err")"
	fi
fi

# 7. After all that, the same source migrates fine.
port=$(pick_port)
start_dst d-ok "$port" -m $MEM
if "$LKVM" migrate --name src5 --quiet --verify --to "127.0.0.1:$port" 2>"$T_TMP/ok.err" &&
	wait_for 30 counts_past "$T_TMP/d-ok.out" $(( $(last_count "$T_TMP/src5.out") + 2 )) &&
	check_sequence "$T_TMP/src5.out" "$T_TMP/d-ok.out" >/dev/null; then
	pass then-succeeds
else
	fail then-succeeds "$(cat "$T_TMP/ok.err") $(tail -n 3 "$T_TMP/d-ok.err")"
fi
"$LKVM" stop --name d-ok >/dev/null 2>&1
t_done
