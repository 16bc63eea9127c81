#!/usr/bin/env bash
# Malformed control messages get an error answer and are logged; the VMM
# and its guest keep running, and a stalled client blocks nobody.
. "$(dirname "$0")/../lib.sh"
need_kvm bad_magic bad_version bad_flags huge_length too_long unknown_type reply_type \
	 truncated_header truncated_payload garbage migrate_short migrate_huge_bandwidth \
	 migrate_compress_level migrate_unknown_option migrate_duplicate migrate_wrong_width \
	 migrate_nul migrate_no_to migrate_old_client cancel_payload cancel_nothing \
	 set_short set_no_field set_unknown_field set_duplicate set_huge_bandwidth \
	 set_zero_downtime set_converge_2 set_nothing set_old_client \
	 status_empty status_flags status_nothing \
	 vmm_survives stalled_client client_newer_vmm_ok client_newer_vmm_fail \
	 client_garbled_ok client_garbled_fail client_old_vmm client_old_vmm_set \
	 client_older_vmm_json client_older_vmm_text client_escapes status_escapes old_vmm_escapes \
	 stop_unknown_flag resume_unknown_flag client_older_vmm_progress_text \
	 client_older_vmm_progress_json list_newer_info list_unknown_state list_short_info \
	 old_vmm_requests garbled_reply resume_all_old stop_all_other_builds stop_old_by_name \
	 client_unreadable_answer client_unreadable_set_answer
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
# Migrate requests (named fields, docs/ipc.md) that are malformed, out of
# range, or ask for an option this lkvm does not have: refused with the
# field named, and the connection goes on (an INFO follows).  None of them
# starts a migration: the guest keeps running (vmm_survives).
expect migrate_short migrate-short '^reply -22 migrate request: field 0 \(at byte 0\): its header is cut short \(3 bytes left\) data 88 reply 0 $'
# A well-formed MIGRATE with a --bandwidth the client would refuse (2^58
# MB/s: x10^6 it wrapped to a cap of 0, and the sender divided by it).
expect migrate_huge_bandwidth migrate-huge-bw "^reply -22 migrate request: field 'bandwidth' is 288230376151711744: out of its range 0-1000000 data 88 reply 0 \$"
expect migrate_compress_level migrate-level "^reply -22 migrate request: field 'compress' is 10: out of its range 0-9 data 88 reply 0 \$"
# A newer client asking for an option this VMM lacks: refused by name,
# never ignored, saying which lkvm answers.
expect migrate_unknown_option migrate-unknown "^reply -92 this lkvm \(VMM pid $VM, $LKVM\) does not know the migrate option 'frobnicate': leave it out, or migrate with an lkvm that has it data 88 reply 0 \$"
expect migrate_duplicate migrate-dup "^reply -22 migrate request: field 'to' appears twice data 88 reply 0 \$"
expect migrate_wrong_width migrate-width "^reply -22 migrate request: field 'downtime' is 2 bytes: an integer of 4 bytes data 88 reply 0 \$"
expect migrate_nul migrate-nul "^reply -22 migrate request: field 'to' holds a NUL byte data 88 reply 0 \$"
expect migrate_no_to migrate-no-to "^reply -22 migrate request: field 'to' is missing data 88 reply 0 \$"
# The raw-struct request of lkvm clients before the named fields (type
# 0x10): whatever its size, one clear answer.
expect migrate_old_client migrate-old "^reply -93 this lkvm \(VMM pid $VM, $LKVM\) no longer takes the migrate request of older lkvm clients: run its own 'lkvm migrate' data 88 reply 0 \$"
# lkvm migrate --set (named fields too): malformed, an option this VMM
# lacks (refused by name), values the client would refuse; a valid one with
# no migration under way; and the retired raw-struct type 0x13.
expect set_short set-short "^reply -22 migrate --set request: field 0 \(at byte 0\): its header is cut short \(9 bytes left\) data 88 reply 0 \$"
expect set_no_field set-none "^reply -22 migrate --set request: no field: nothing to change data 88 reply 0 \$"
expect set_unknown_field set-unknown "^reply -92 this lkvm \(VMM pid $VM, $LKVM\) does not know the migrate --set option 'frobnicate': leave it out, or migrate with an lkvm that has it data 88 reply 0 \$"
expect set_duplicate set-dup "^reply -22 migrate --set request: field 'bandwidth' appears twice data 88 reply 0 \$"
expect set_huge_bandwidth set-huge-bw "^reply -22 migrate --set request: field 'bandwidth' is 288230376151711744: out of its range 0-1000000 data 88 reply 0 \$"
expect set_zero_downtime set-downtime-0 "^reply -22 migrate --set request: field 'downtime' is 0: out of its range 1-600000 data 88 reply 0 \$"
expect set_converge_2 set-converge-2 "^reply -22 migrate --set request: field 'auto-converge' is 2: a flag is 0 or 1 data 88 reply 0 \$"
expect set_nothing set '^reply -2 no migration in progress data 88 reply 0 $'
expect set_old_client set-old "^reply -93 this lkvm \(VMM pid $VM, $LKVM\) no longer takes the migrate --set request of older lkvm clients: run its own 'lkvm migrate --set' data 88 reply 0 \$"
expect cancel_payload cancel-payload '^reply -22 Invalid argument data 88 reply 0 $'
expect cancel_nothing cancel '^reply -2 no migration in progress data 88 reply 0 $'
# lkvm migrate --status without its flags word, with an unknown flag, and
# with nothing to report ("no migration in progress\n", 25 bytes).
expect status_empty status-empty '^reply -22 Invalid argument data 88 reply 0 $'
expect status_flags status-flags '^reply -22 Invalid argument data 88 reply 0 $'
expect status_nothing status '^data 25 reply 0 data 88 reply 0 $'
# A newer client's STOP or RESUME with a flag this VMM does not know:
# refused by name (never ignored), nothing stopped, the connection goes on.
expect stop_unknown_flag stop-flags '^reply -22 unknown stop flags 0x2 data 88 reply 0 $'
expect resume_unknown_flag resume-flags '^reply -22 unknown resume flags 0x2 data 88 reply 0 $'

if grep -q "rejected message: bad magic" $T_TMP/err && grep -q "rejected unknown request type 0x4242" $T_TMP/err &&
   grep -q "ipc: rejected migrate request: unknown field 'frobnicate'" $T_TMP/err &&
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

# The client side, against a fake VMM of another lkvm build.  A newer one
# sends fields this client does not know: they are skipped, the rest is
# shown (progress line, summary, JSON figures).  A broken one sends a
# field cut short or of the wrong width: one warning, and the REPLY still
# decides the exit code (a completed migration still ends in one JSON
# object).  One warning for the progress reports, one for the result.  An
# older one without some figures of the result: those are unknown, not 0
# (null in the JSON, "?" in the summary).  One older still does not know
# the request at all (migrate or --set): one line naming the binary it was
# started from (the fake's own, python), nothing run.
fake_vmm() {	# fake_vmm NAME MODE STATUS TEXT: answer one MIGRATE, then exit ($PY: the python)
	"${PY:-python3}" - "$@" <<'PY'
import fcntl, os, socket, struct, sys
d = os.environ["LKVM_DIR"]
name, mode, st, txt = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
lock = os.open(f"{d}/{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
os.write(lock, b"%d\n" % os.getpid())
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(f"{d}/{name}.sock"); s.listen(1)
print("ready", os.getpid(), os.readlink("/proc/self/exe"), flush=True)
c, _ = s.accept()
magic, ver, fl, typ, ln = struct.unpack('<IHHII', c.recv(16, socket.MSG_WAITALL))
req = c.recv(ln, socket.MSG_WAITALL)
def msg(t, p): c.sendall(struct.pack('<IHHII', 0x4d564b4c, 1, 0, t, len(p)) + p)
def f(n, fmt, v):
	val = struct.pack('<' + fmt, v) if fmt else v
	return bytes([len(n)]) + n.encode() + struct.pack('<H', len(val)) + val
if mode == "old":
	msg(0x8000, struct.pack('<iI', -95, 0) + b"unknown request type 0x%x" % typ)
elif mode == "broken":			# a message type no lkvm sends, mid-answer
	if typ == 0x14:			# the migration under way first
		msg(0x8002, f("round", "I", 0) + f("percent", "d", 10.0))
	msg(0x8007, b"")
elif mode == "status":			# lkvm migrate --status: text, then the REPLY
	assert typ == 0x12, typ
	msg(0x8001, txt + b"\n")
	msg(0x8000, struct.pack('<iI', 0, 0))
else:
	assert typ == 0x14 and req.startswith(b"\x02to"), (typ, req)
	older = mode == "older"			# a build without 'bytes' and 'rounds'
	prog = f("round", "I", 2) + f("percent", "d", 50.0) + f("quantum_pages", "Q", 7) + \
	       f("remaining_pages", "Q", 1234)
	res = f("status", "i", st) + f("reason", "", txt if st else b"") + \
	      (f("downtime_ns", "Q", 1500000) + f("pages_total", "Q", 100) if older else
	       f("future_figure", "", b"\x00" * 300) + f("rounds", "Q", 3) + f("bytes", "Q", 5000000)) + \
	      f("total_ns", "Q", 2000000000) + f("channels", "I", 2)
	if mode == "garbled":
		prog = prog[:-3]			# the last value cut short
		res = f("status", "q", st)		# 8 bytes where 4 belong
	msg(0x8002, prog)			# PROGRESS
	msg(0x8001, res)			# DATA: the result
	msg(0x8000, struct.pack('<iI', st, 0) + txt)
c.close(); os.unlink(f"{d}/{name}.sock")
# A VMM lives on after it answers: the client names it (its pid and binary,
# from the lock and /proc) after the conversation, and a fake gone by then
# was "pid unknown" on a loaded host.  The test ends it (done_fake).
import signal; signal.alarm(60); signal.pause()
PY
}
done_fake() { local _ p; read -r _ p _ <"$T_TMP/fake-$1.ready" && kill "$p" 2>/dev/null; }
other_build() {	# other_build NAME MODE STATUS TEXT client options
	local n=$1 mode=$2 st=$3 txt=$4; shift 4
	# A file per fake: the next fake's '>' truncates a shared one only once
	# it runs, and a wait that saw the last fake's line raced ahead of it.
	fake_vmm $n $mode $st "$txt" >$T_TMP/fake-$n.ready &
	T_PIDS+=($!)
	wait_for 10 grep -q ready $T_TMP/fake-$n.ready
	$LKVM migrate --name $n "$@" >$T_TMP/ov.out 2>$T_TMP/ov.err
	local rc=$?
	done_fake $n
	return $rc
}
json_is() { python3 -c "import json,sys; d=json.load(sys.stdin); assert $1, d" <$T_TMP/ov.out; }
other_build newer-ok newer 0 migrated --to 127.0.0.1:1 --json; rc=$?
if [ $rc -eq 0 ] && ! grep -q warning $T_TMP/ov.err && grep -q '"round":2,.*"remaining_pages":1234' $T_TMP/ov.err &&
   json_is 'd["status"] == "completed" and d["rounds"] == 3 and d["bytes"] == 5000000 and d["channels"] == 2'; then
	pass client_newer_vmm_ok
else fail client_newer_vmm_ok "rc=$rc out: $(cat $T_TMP/ov.out) err: $(cat $T_TMP/ov.err)"; fi
other_build newer-fail newer -5 "the destination went away" --to 127.0.0.1:1; rc=$?
if [ $rc -eq 1 ] && ! grep -q warning $T_TMP/ov.err && grep -q 'round 2: *50.0%.*1234 pages left' $T_TMP/ov.err &&
   grep -q 'migration failed: the destination went away; the guest runs on here' $T_TMP/ov.err; then
	pass client_newer_vmm_fail
else fail client_newer_vmm_fail "rc=$rc err: $(cat $T_TMP/ov.err)"; fi
other_build garbled-ok garbled 0 migrated --to 127.0.0.1:1 --json; rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c warning $T_TMP/ov.err)" = 2 ] &&
   grep -q "warning: the VMM of garbled-ok sent a progress report this lkvm cannot read (field 'remaining_pages': 8 value bytes, only 5 left); reports like it are not shown" $T_TMP/ov.err &&
   grep -q "warning: the VMM of garbled-ok sent a result this lkvm cannot read (field 'status' is 8 bytes: an integer of 4 bytes); the figures of its summary are lost" $T_TMP/ov.err &&
   [ "$(wc -l <$T_TMP/ov.out)" = 1 ] && json_is 'd["status"] == "completed" and d["guest"] == "destination"'; then
	pass client_garbled_ok
else fail client_garbled_ok "rc=$rc out: $(cat $T_TMP/ov.out) err: $(cat $T_TMP/ov.err)"; fi
other_build garbled-fail garbled -5 "the destination went away" --to 127.0.0.1:1 --json --quiet; rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c warning $T_TMP/ov.err)" = 2 ] &&
   grep -q "warning: the VMM of garbled-fail sent a result this lkvm cannot read (field 'status' is 8 bytes: an integer of 4 bytes)" $T_TMP/ov.err &&
   grep -q 'error: garbled-fail: the destination went away' $T_TMP/ov.err &&
   json_is 'd["status"] == "failed"'; then
	pass client_garbled_fail
else fail client_garbled_fail "rc=$rc out: $(cat $T_TMP/ov.out) err: $(cat $T_TMP/ov.err)"; fi
other_build old-vmm old 0 "" --to 127.0.0.1:1 --json; rc=$?
read -r _ pid exe <$T_TMP/fake-old-vmm.ready
want="error: old-vmm: its VMM (pid $pid) was started by an older lkvm that does not take this lkvm's migrate request: run '$exe migrate' with the same options"
if [ $rc -eq 1 ] && [ -n "$exe" ] && [ "$(wc -l <$T_TMP/ov.err)" = 1 ] && grep -qF "$want" $T_TMP/ov.err &&
   json_is 'd["status"] == "failed" and d["guest"] == "unchanged" and "older lkvm" in d["reason"]'; then
	pass client_old_vmm
else fail client_old_vmm "rc=$rc exe=$exe out: $(cat $T_TMP/ov.out) err: $(cat $T_TMP/ov.err)"; fi
other_build old-set old 0 "" --set --bandwidth 5; rc=$?
read -r _ pid exe <$T_TMP/fake-old-set.ready
want="error: old-set: its VMM (pid $pid) was started by an older lkvm that does not take this lkvm's migrate --set request: run '$exe migrate --set' with the same options"
if [ $rc -eq 1 ] && [ -n "$exe" ] && [ "$(wc -l <$T_TMP/ov.err)" = 1 ] && grep -qF "$want" $T_TMP/ov.err &&
   [ ! -s $T_TMP/ov.out ]; then
	pass client_old_vmm_set
else fail client_old_vmm_set "rc=$rc exe=$exe out: $(cat $T_TMP/ov.out) err: $(cat $T_TMP/ov.err)"; fi
# An answer to migrate that cannot be read: the request went out, and a
# VMM goes on migrating when its client goes: the outcome is unknown (exit
# 3), not "unchanged", and the line says where to ask.  The same for --set:
# whether the settings changed is not known.
other_build broken-mig broken 0 "" --to 127.0.0.1:1 --json; rc=$?
read -r _ pid exe <$T_TMP/fake-broken-mig.ready
want="error: broken-mig: its VMM (pid $pid, $exe) sent an answer this lkvm cannot read (a message of type 0x8007): how its migration ends is not known here (a VMM goes on without its client): '$exe migrate --status --name broken-mig' tells"
if [ $rc -eq 3 ] && [ "$(grep -c error $T_TMP/ov.err)" = 1 ] && grep -qF "$want" $T_TMP/ov.err &&
   json_is 'd["status"] == "unknown" and d["guest"] == "unknown" and "cannot read" in d["reason"]'; then
	pass client_unreadable_answer
else fail client_unreadable_answer "rc=$rc out: $(cat $T_TMP/ov.out) err: $(cat $T_TMP/ov.err)"; fi
other_build broken-set broken 0 "" --set --bandwidth 5; rc=$?
read -r _ pid exe <$T_TMP/fake-broken-set.ready
want="error: broken-set: its VMM (pid $pid, $exe) sent an answer this lkvm cannot read (a message of type 0x8007): whether the settings changed is not known here: '$exe migrate --status --name broken-set' tells"
if [ $rc -eq 1 ] && [ "$(wc -l <$T_TMP/ov.err)" = 1 ] && grep -qF "$want" $T_TMP/ov.err; then
	pass client_unreadable_set_answer
else fail client_unreadable_set_answer "rc=$rc err: $(cat $T_TMP/ov.err)"; fi
# The same keys as ever, the unreported figures (and what is computed from
# them) null, the reported ones as sent.
other_build older-json older 0 migrated --to 127.0.0.1:1 --json --quiet; rc=$?
keys='status reason total_ms downtime_ms bytes rounds pages pages_normal pages_zero pages_encrypted pages_compressed compress compression_ratio channels sealed throughput_mbps verified mem_crc32 converged max_rounds downtime_target_ms auto_converge throttle_pct bandwidth_cap_mbps settings_changed paused guest'
if [ $rc -eq 0 ] && ! grep -q warning $T_TMP/ov.err &&
   json_is "list(d) == '$keys'.split() and d['bytes'] is None and d['rounds'] is None and d['throughput_mbps'] is None and d['pages_zero'] is None and d['converged'] is None and d['total_ms'] == 2000 and d['downtime_ms'] == 1.5 and d['pages'] == 100 and d['channels'] == 2 and d['status'] == 'completed'"; then
	pass client_older_vmm_json
else fail client_older_vmm_json "rc=$rc out: $(cat $T_TMP/ov.out) err: $(cat $T_TMP/ov.err)"; fi
# Its progress report lacks figures too (dirty pages, bytes, final,
# throttle): unknown, not 0, as in the summary.
other_build older-progress older 0 migrated --to 127.0.0.1:1; rc=$?
want="migrate: round 2:  50.0%  ? MB/s  ? dirty pages/s  1234 pages left  expected downtime not known yet"
if [ $rc -eq 0 ] && grep -qxF "$want" $T_TMP/ov.err; then
	pass client_older_vmm_progress_text
else fail client_older_vmm_progress_text "rc=$rc err: $(cat $T_TMP/ov.err)"; fi
other_build older-progress-json older 0 migrated --to 127.0.0.1:1 --json; rc=$?
if [ $rc -eq 0 ] && head -1 $T_TMP/ov.err | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['round'] == 2 and d['percent'] == 50.0 and d['remaining_pages'] == 1234 and d['dirty_pages_per_s'] is None and d['bytes'] is None and d['final'] is None and d['throttle_pct'] is None and d['mbps'] is None, d"; then
	pass client_older_vmm_progress_json
else fail client_older_vmm_progress_json "rc=$rc err: $(cat $T_TMP/ov.err)"; fi
other_build older-text older 0 migrated --to 127.0.0.1:1 --quiet; rc=$?
want="migration done: total 2.000 s, downtime 1.5 ms, ? MB sent (? MB/s), ? rounds, 100 pages (? normal, ? zero, ? encrypted), 2 channels"
if [ $rc -eq 0 ] && grep -qxF "$want" $T_TMP/ov.err; then
	pass client_older_vmm_text
else fail client_older_vmm_text "rc=$rc err: $(cat $T_TMP/ov.err)"; fi

# A hostile same-uid process posing as a VMM: the reason and the status
# text it sends reach the user's terminal without their escape sequences
# (an OSC retitling the window, a CSI clearing the screen), as '?'.
evil=$'\e]0;owned\a\e[2Jgone \xc2\x9b31m'
other_build evil-fail newer -5 "$evil" --to 127.0.0.1:1; rc=$?
if [ $rc -eq 1 ] && ! grep -q $'[\e\a]' $T_TMP/ov.err && ! grep -q $'\xc2\x9b' $T_TMP/ov.err &&
   grep -qF 'migration failed: ?]0;owned??[2Jgone ??31m' $T_TMP/ov.err; then
	pass client_escapes
else fail client_escapes "rc=$rc err: $(cat -v $T_TMP/ov.err)"; fi
fake_vmm evil-status status 0 "$evil" >$T_TMP/fake-evil-status.ready &
T_PIDS+=($!)
wait_for 10 grep -q ready $T_TMP/fake-evil-status.ready
$LKVM migrate --status --name evil-status >$T_TMP/ov.out 2>$T_TMP/ov.err; rc=$?
done_fake evil-status
if [ $rc -eq 0 ] && [ "$(cat $T_TMP/ov.out)" = '?]0;owned??[2Jgone ??31m' ]; then
	pass status_escapes
else fail status_escapes "rc=$rc out: $(cat -v $T_TMP/ov.out) err: $(cat -v $T_TMP/ov.err)"; fi
# An "older VMM" whose binary's name carries an escape sequence: named as '?'.
PY="$T_TMP/py"$'\e[2J'
cp "$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')" "$PY"
other_build old-evil old 0 "" --to 127.0.0.1:1; rc=$?
unset PY
if [ $rc -eq 1 ] && ! grep -q $'\e' $T_TMP/ov.err && grep -qF "$T_TMP/py?[2J migrate" $T_TMP/ov.err; then
	pass old_vmm_escapes
else fail old_vmm_escapes "rc=$rc err: $(cat -v $T_TMP/ov.err)"; fi

$LKVM stop --name bad >/dev/null

# list, stop, pause, resume, debug, migrate --status/--cancel against fake
# VMMs of other lkvm builds (docs/ipc.md, "Other lkvm builds"), in a
# directory of their own so that --all meets only them: a newer one (an
# INFO with fields appended, a state this lkvm does not know, DATA before
# its REPLY), a broken one (an INFO cut short, a REPLY cut short), and an
# older one (STOP and RESUME without the --all flag, no migrate --status or
# --cancel, no debug page map).  Every instance is listed and stoppable;
# what this client cannot read is one line naming the instance, the VMM's
# pid and its binary.
fake_ctl() {	# fake_ctl NAME MODE STATE: answer until a STOP (or 20 s idle), then exit
	exec python3 - "$@" <<'PY'
import fcntl, os, socket, struct, sys
d = os.environ["LKVM_DIR"]
name, mode, state = sys.argv[1], sys.argv[2], int(sys.argv[3])
lock = os.open(f"{d}/{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
os.write(lock, b"%d\n" % os.getpid())
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(f"{d}/{name}.sock"); s.listen(8); s.settimeout(20)
print("ready", os.getpid(), os.readlink("/proc/self/exe"), flush=True)
def msg(c, t, p): c.sendall(struct.pack('<IHHII', 0x4d564b4c, 1, 0, t, len(p)) + p)
def reply(c, st, txt=b""): msg(c, 0x8000, struct.pack('<iI', st, 0) + txt)
def serve(c):		# one connection; True after a STOP
	while True:
		h = c.recv(16, socket.MSG_WAITALL)
		if len(h) < 16: return False
		magic, ver, fl, typ, ln = struct.unpack('<IHHII', h)
		req = c.recv(ln, socket.MSG_WAITALL) if ln else b""
		flags = struct.unpack('<I', req)[0] if ln == 4 else 0
		if typ == 0x01:				# INFO
			info = struct.pack('<IIIIQ64s', os.getpid(), state, 2, 0, 256 << 20, name.encode())
			if mode == "newer":
				info += struct.pack('<QI', 7, 9)	# fields a newer build appended
			elif mode == "short":
				info = info[:40]
			msg(c, 0x8001, info); reply(c, 0)
		elif mode == "old" and typ in (0x02, 0x04) and ln:
			reply(c, -22, b"Invalid argument")	# no flags word before --all's
		elif mode == "old" and typ in (0x11, 0x12):
			reply(c, -95, b"unknown request type 0x%x" % typ)
		elif mode == "old" and typ == 0x05 and flags & 2:
			reply(c, -22, b"unknown debug flags 0x2")
		elif mode == "garbled" and typ == 0x03:
			msg(c, 0x8000, b"\0\0\0\0")		# a REPLY cut short
		elif typ == 0x02:			# STOP
			if mode == "newer":
				msg(c, 0x8001, b"\1\2")	# something a newer build tells
			reply(c, 0)
			return True
		elif typ == 0x04:			# RESUME
			reply(c, 0, b"" if state == 2 else b"not paused")
		else:
			reply(c, -95, b"unknown request type 0x%x" % typ)
stop = False
while not stop:
	try: c, _ = s.accept()
	except socket.timeout: break
	try: stop = serve(c)
	except OSError: pass		# a client that hung up early (it could not read an answer)
	c.close()
if os.path.exists(f"{d}/{name}.sock"):
	os.unlink(f"{d}/{name}.sock")
PY
}
export LKVM_DIR=$T_TMP/other
mkdir -m 700 $LKVM_DIR
declare -A FPID FEXE
for f in "newer newer 1" "newer-state newer 9" "short short 1" "old-running old 1" \
	 "old-paused old 2" "garbled garbled 1"; do
	set -- $f
	fake_ctl $1 $2 $3 >$T_TMP/ctl-$1.ready &
	T_PIDS+=($!)
	wait_for 10 grep -q ready $T_TMP/ctl-$1.ready
	read -r _ FPID[$1] FEXE[$1] <$T_TMP/ctl-$1.ready
done
# "NAME: its VMM (pid P, EXE)": what names an instance of another build.
vmm() { echo "$1: its VMM (pid ${FPID[$1]}, ${FEXE[$1]})"; }
$LKVM list --json >$T_TMP/l.out 2>$T_TMP/l.err; rc=$?
$LKVM list >$T_TMP/lt.out 2>$T_TMP/lt.err; rc2=$?
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ] &&
   grep -qF "{\"name\": \"newer\", \"pid\": ${FPID[newer]}, \"state\": \"running\", \"cpus\": 2, \"mem_bytes\": 268435456}" $T_TMP/l.out &&
   grep -Eq "^newer +${FPID[newer]} +running +2 +256M\$" $T_TMP/lt.out && ! grep -q "newer:" $T_TMP/l.err; then
	pass list_newer_info
else fail list_newer_info "rc=$rc/$rc2 out: $(cat $T_TMP/l.out $T_TMP/lt.out) err: $(cat $T_TMP/l.err)"; fi
want="lkvm list: warning: $(vmm newer-state) reports state 9, which this lkvm does not know: it runs another lkvm build: run '${FEXE[newer-state]} list' with the same options"
if grep -qF "{\"name\": \"newer-state\", \"pid\": ${FPID[newer-state]}, \"state\": \"state-9\", \"cpus\": 2, \"mem_bytes\": 268435456}" $T_TMP/l.out &&
   grep -Eq "^newer-state +${FPID[newer-state]} +state-9 +2 +256M\$" $T_TMP/lt.out &&
   [ "$(grep -c newer-state $T_TMP/l.err)" = 1 ] && grep -qxF "$want" $T_TMP/l.err && grep -qxF "$want" $T_TMP/lt.err; then
	pass list_unknown_state
else fail list_unknown_state "out: $(cat $T_TMP/l.out $T_TMP/lt.out) err: $(cat $T_TMP/l.err)"; fi
want="lkvm list: warning: $(vmm short) sent an answer this lkvm cannot read (INFO data of 40 bytes, fewer than the 88 this lkvm reads): it runs another lkvm build: run '${FEXE[short]} list' with the same options"
if grep -qF "{\"name\": \"short\", \"pid\": ${FPID[short]}, \"state\": \"unreadable\", \"cpus\": null, \"mem_bytes\": null}" $T_TMP/l.out &&
   grep -Eq "^short +${FPID[short]} +unreadable +- +-\$" $T_TMP/lt.out &&
   [ "$(grep -c short $T_TMP/l.err)" = 1 ] && grep -qxF "$want" $T_TMP/l.err; then
	pass list_short_info
else fail list_short_info "out: $(cat $T_TMP/l.out $T_TMP/lt.out) err: $(cat $T_TMP/l.err)"; fi

# An older VMM without migrate --status / --cancel, or the debug page map.
ok=1; errs=
for c in "debug --page-map:debug:unknown debug flags 0x2:refused this lkvm's request" \
	 "migrate --status:migrate --status:unknown request type 0x12:is of an older lkvm that does not know this request" \
	 "migrate --cancel:migrate --cancel:unknown request type 0x11:is of an older lkvm that does not know this request"; do
	IFS=: read -r args what text how <<<"$c"
	$LKVM $args --name old-running >$T_TMP/o.out 2>$T_TMP/o.err; rc=$?
	tail=; [ "$what" = debug ] && tail=": it runs another lkvm build"
	want="lkvm ${what%% *}: error: $(vmm old-running) $how ($text)$tail: run '${FEXE[old-running]} $what' with the same options"
	if [ $rc -ne 1 ] || [ "$(wc -l <$T_TMP/o.err)" != 1 ] || ! grep -qxF "$want" $T_TMP/o.err; then
		ok=0; errs+="[$args: rc=$rc $(cat $T_TMP/o.err) want $want] "
	fi
done
if [ $ok = 1 ]; then pass old_vmm_requests; else fail old_vmm_requests "$errs"; fi
$LKVM pause --name garbled >$T_TMP/o.out 2>$T_TMP/o.err; rc=$?
want="lkvm pause: error: $(vmm garbled) sent an answer this lkvm cannot read (a REPLY of 4 bytes, fewer than 8): it runs another lkvm build: run '${FEXE[garbled]} pause' with the same options"
if [ $rc -eq 1 ] && [ "$(wc -l <$T_TMP/o.err)" = 1 ] && grep -qxF "$want" $T_TMP/o.err; then
	pass garbled_reply
else fail garbled_reply "rc=$rc err: $(cat $T_TMP/o.err)"; fi

# --all over an older VMM whose RESUME and STOP take no flags word: one
# that runs is resumed/stopped without it (the state --all must leave
# alone is a paused one); a paused one cannot tell --all of an unknown
# migration outcome: left alone, saying so, and stopped by --name.
$LKVM resume --all >$T_TMP/o.out 2>$T_TMP/o.err; rc=$?
want="lkvm resume: error: old-paused: not resumed by --all: $(vmm old-paused | cut -d' ' -f2-) is of an older lkvm that cannot refuse --all when its last migration's outcome is unknown, and its guest is paused: resume it by --name"
if [ $rc -eq 1 ] && grep -qx "old-running: not paused" $T_TMP/o.out && grep -qx "newer: not paused" $T_TMP/o.out &&
   [ "$(wc -l <$T_TMP/o.err)" = 1 ] && grep -qxF "$want" $T_TMP/o.err; then
	pass resume_all_old
else fail resume_all_old "rc=$rc out: $(cat $T_TMP/o.out) err: $(cat $T_TMP/o.err)"; fi
$LKVM stop --all >$T_TMP/o.out 2>$T_TMP/o.err; rc=$?
want="lkvm stop: error: old-paused: not stopped by --all: $(vmm old-paused | cut -d' ' -f2-) is of an older lkvm that cannot refuse --all when its last migration's outcome is unknown, and its guest is paused: stop it by --name"
ok=1
for n in newer newer-state short old-running garbled; do
	grep -qx "$n: stopped" $T_TMP/o.out || ok=0
done
if [ $rc -eq 1 ] && [ $ok = 1 ] && [ "$(wc -l <$T_TMP/o.err)" = 1 ] && grep -qxF "$want" $T_TMP/o.err &&
   [ "$(ls $LKVM_DIR/*.sock)" = "$LKVM_DIR/old-paused.sock" ]; then
	pass stop_all_other_builds
else fail stop_all_other_builds "rc=$rc out: $(cat $T_TMP/o.out) err: $(cat $T_TMP/o.err) left: $(ls $LKVM_DIR)"; fi
$LKVM stop --name old-paused >$T_TMP/o.out 2>$T_TMP/o.err; rc=$?
if [ $rc -eq 0 ] && grep -qx "old-paused: stopped" $T_TMP/o.out && [ ! -e $LKVM_DIR/old-paused.sock ]; then
	pass stop_old_by_name
else fail stop_old_by_name "rc=$rc out: $(cat $T_TMP/o.out) err: $(cat $T_TMP/o.err)"; fi
t_done
