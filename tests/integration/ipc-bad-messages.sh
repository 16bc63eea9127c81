#!/usr/bin/env bash
# Malformed control messages get an error answer and are logged; the VMM
# and its guest keep running, and a stalled client blocks nobody.
. "$(dirname "$0")/../lib.sh"
need_kvm bad_magic bad_version bad_flags huge_length too_long unknown_type reply_type \
	 truncated_header truncated_payload garbage migrate_short migrate_huge_bandwidth \
	 migrate_compress_level migrate_unknown_flag cancel_payload cancel_nothing \
	 set_short set_no_field set_unknown_field set_huge_bandwidth set_zero_downtime \
	 set_converge_2 set_nothing \
	 status_empty status_flags status_nothing \
	 vmm_survives stalled_client client_other_version_ok client_other_version_fail
G=$GUESTS
RAW=$LKVM_BUILD/tests/tools/ipc-raw
S=$LKVM_DIR/bad.sock
lines() { wc -l < "$1"; }
# grows FILE: the guest goes on printing (within 10 s: a loaded host may
# starve its vCPU for a while).
more_lines() { [ "$(lines "$1")" -gt "$2" ]; }
grows() { local a; a=$(lines "$1"); wait_for 10 more_lines "$1" "$a"; }
listed() { $LKVM list --json 2>/dev/null | grep -q "\"name\": \"bad\", \"pid\": [0-9]*, \"state\": \"running\""; }

bg_start VM $LKVM run -k $G/counter --name bad -p delay=2000 >$T_TMP/out 2>$T_TMP/err
wait_for 20 listed || { fail vmm_survives "did not start: $(cat $T_TMP/err)"; t_done; }

# expect NAME CASE PATTERN: the raw client's transcript matches PATTERN (grep -E on one line).
expect() {
	local out; out=$($RAW $S $2 2>&1 | tr '\n' ' ')
	if echo "$out" | grep -Eq -- "$3"; then pass $1; else fail $1 "got: $out"; fi
}
expect bad_magic bad-magic '^reply -74 rejected: bad magic eof $'
expect bad_version bad-version '^reply -93 rejected: unsupported protocol version eof $'
expect bad_flags bad-flags '^reply -22 rejected: non-zero flags eof $'
expect huge_length huge-len '^reply -90 rejected: payload too large eof $'
expect too_long too-long '^reply -90 rejected: payload too large eof $'
# Unknown types are answered and the connection stays usable: ipc-raw
# follows up with an INFO on the same connection.
expect unknown_type unknown-type '^reply -95 unknown request type 0x4242 data 88 reply 0 $'
expect reply_type reply-type '^reply -95 unknown request type 0x8000 data 88 reply 0 $'
expect truncated_header truncated-hdr '^reply -32 rejected: truncated message eof $'
expect truncated_payload truncated-payload '^reply -32 rejected: truncated message eof $'
expect garbage garbage '^reply -74 rejected: bad magic eof $'
# Migration requests of the wrong size, and a cancel with nothing to
# cancel: answered, and the connection goes on (an INFO follows).
expect migrate_short migrate-short '^reply -22 Invalid argument data 88 reply 0 $'
# A well-formed MIGRATE with a --bandwidth the client would refuse (2^58
# MB/s: x10^6 it wrapped to a cap of 0, and the sender divided by it).
expect migrate_huge_bandwidth migrate-huge-bw '^reply -22 Invalid argument data 88 reply 0 $'
# The fields --compress and --auto-converge added: out of range, refused.
expect migrate_compress_level migrate-level '^reply -22 Invalid argument data 88 reply 0 $'
expect migrate_unknown_flag migrate-flag '^reply -22 Invalid argument data 88 reply 0 $'
# lkvm migrate --set: the wrong size, no field or an unknown one, and
# values the client would refuse; a valid one with no migration under way.
expect set_short set-short '^reply -22 Invalid argument data 88 reply 0 $'
expect set_no_field set-none '^reply -22 Invalid argument data 88 reply 0 $'
expect set_unknown_field set-bits '^reply -22 Invalid argument data 88 reply 0 $'
expect set_huge_bandwidth set-huge-bw '^reply -22 Invalid argument data 88 reply 0 $'
expect set_zero_downtime set-downtime-0 '^reply -22 Invalid argument data 88 reply 0 $'
expect set_converge_2 set-converge-2 '^reply -22 Invalid argument data 88 reply 0 $'
expect set_nothing set '^reply -2 no migration in progress data 88 reply 0 $'
expect cancel_payload cancel-payload '^reply -22 Invalid argument data 88 reply 0 $'
expect cancel_nothing cancel '^reply -2 no migration in progress data 88 reply 0 $'
# lkvm migrate --status without its flags word, with an unknown flag, and
# with nothing to report ("no migration in progress\n", 25 bytes).
expect status_empty status-empty '^reply -22 Invalid argument data 88 reply 0 $'
expect status_flags status-flags '^reply -22 Invalid argument data 88 reply 0 $'
expect status_nothing status '^data 25 reply 0 data 88 reply 0 $'

if grep -q "rejected message: bad magic" $T_TMP/err && grep -q "rejected unknown request type 0x4242" $T_TMP/err &&
   grep -q "ipc: rejected request type 0x[0-9a-f]*: invalid payload" $T_TMP/err &&
   kill -0 $VM && listed && grows $T_TMP/out && [ "$($RAW $S info | tr '\n' ' ')" = "data 88 reply 0 " ]
then pass vmm_survives
else fail vmm_survives "log: $(grep ipc: $T_TMP/err | tail -3)"; fi

# A client that connects and sends half a header, and one that sends
# nothing: neither delays list, pause/resume or the guest.  A server that
# served them in turn would block for its 5 s message timeout at least;
# 4 s leaves a loaded host room for three client runs.
$RAW $S idle 20 >/dev/null 2>&1 &
T_PIDS+=($!)
$RAW $S half-hdr 20 >/dev/null 2>&1 &
T_PIDS+=($!)
sleep 0.2
start=$(date +%s%N)
ok=1
listed || ok=0
$LKVM pause --name bad >/dev/null && $LKVM resume --name bad >/dev/null || ok=0
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $ok -eq 1 ] && [ $ms -lt 4000 ] && grows $T_TMP/out; then pass stalled_client
else fail stalled_client "ok=$ok took ${ms}ms"; fi

# The client side: a VMM of another lkvm build sends its progress and
# result structs in another size.  The client says so (one warning), and a
# completed migration still ends in one JSON object on stdout; a failure
# still gives the VMM's reason and exit 1.  Before, the client dropped the
# messages silently: --json printed nothing at all.
fake_vmm() {	# fake_vmm SOCKET STATUS TEXT: answer one MIGRATE, then exit
	python3 - "$@" <<'PY'
import os, socket, struct, sys
path, st, txt = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path); s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
magic, ver, fl, typ, ln = struct.unpack('<IHHII', c.recv(16, socket.MSG_WAITALL))
c.recv(ln, socket.MSG_WAITALL)
def msg(t, p): c.sendall(struct.pack('<IHHII', 0x4d564b4c, 1, 0, t, len(p)) + p)
msg(0x8002, bytes(40))		# PROGRESS
msg(0x8001, bytes(300))		# DATA: the result
msg(0x8000, struct.pack('<iI', st, 0) + txt)
c.close(); os.unlink(path)
PY
}
other_version() {	# other_version NAME STATUS TEXT [client options]
	local n=$1 st=$2 txt=$3; shift 3
	rm -f $T_TMP/fake.ready
	fake_vmm $LKVM_DIR/$n.sock $st "$txt" >$T_TMP/fake.ready &
	T_PIDS+=($!)
	wait_for 10 grep -q ready $T_TMP/fake.ready
	$LKVM migrate --to 127.0.0.1:1 --name $n "$@" >$T_TMP/ov.out 2>$T_TMP/ov.err
}
other_version fake-ok 0 migrated --json; rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c 'warning: the VMM of fake-ok sent a result of 300 bytes where' $T_TMP/ov.err)" = 1 ] &&
   python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["status"] == "completed"' <$T_TMP/ov.out; then
	pass client_other_version_ok
else fail client_other_version_ok "rc=$rc out: $(cat $T_TMP/ov.out) err: $(cat $T_TMP/ov.err)"; fi
other_version fake-fail -5 "the destination went away" --json; rc=$?
if [ $rc -eq 1 ] && grep -q 'sent a result of 300 bytes' $T_TMP/ov.err &&
   grep -q 'error: fake-fail: the destination went away' $T_TMP/ov.err &&
   python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["status"] == "failed"' <$T_TMP/ov.out; then
	pass client_other_version_fail
else fail client_other_version_fail "rc=$rc out: $(cat $T_TMP/ov.out) err: $(cat $T_TMP/ov.err)"; fi

$LKVM stop --name bad >/dev/null
t_done
