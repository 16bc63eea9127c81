#!/usr/bin/env bash
# A guest that arrived by migration leaves again: A -> B -> C.  The second
# hop starts from state the destination built (its memory slots, dirty
# tracking, vCPU and device state restored from the stream, not set up by
# a boot), so it shows that what the destination restores is complete
# enough to be sent on, and that tracking dirty pages works on an instance
# that never booted the guest.  Both vCPUs count and dirty memory
# throughout; across the three instances each vCPU's counts run on with no
# gap or repeat, and --verify checks all guest RAM on each hop.
#
#   two-hops        A -> B -> C, one connection then two
#   hop-back        ... and C -> A' on the port A's successor listens on
#                   (the guest comes back to a host it left)
#   sev-two-hops    an SEV guest (firmware model) from platform A to B to C:
#                   B's guest context, made by RECEIVE_START/FINISH, must
#                   SEND again, and its page map (built from the stream, the
#                   guest flipping a page at every count) must say which
#                   pages go through the firmware; the guest checks every
#                   private and shared byte at each count
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
source "$(dirname "$0")/sevmig-common.inc"
tests="two-hops hop-back sev-two-hops"
need_kvm $tests
need_migrate $tests

MEM=64M
GUEST_PARAMS="delay=200 dirty=64"

# hop TEST FROM TO PORT CHANNELS: migrate instance FROM to TO (waiting on
# PORT); the JSON summary into HOP_OUT.  Fails TEST and returns 1 on error.
hop() {
	local t=$1 from=$2 to=$3 port=$4 ch=$5 rc
	if ! wait_for 30 grep -q "guest RAM faulted in" "$T_TMP/$to.err"; then
		fail "$t" "$to did not fault its RAM in: $(tail -n 3 "$T_TMP/$to.err")"; return 1
	fi
	HOP_OUT=$("$LKVM" migrate --to "127.0.0.1:$port" --name "$from" --verify --json \
		--channels "$ch" 2>"$T_TMP/$from-migrate.err")
	rc=$?
	echo "$t: $from -> $to: $HOP_OUT"
	if [ $rc -ne 0 ] || ! echo "$HOP_OUT" | grep -q '"status":"completed"'; then
		fail "$t" "$from -> $to failed (rc $rc): $HOP_OUT $(tail -n 3 "$T_TMP/$from-migrate.err")"
		return 1
	fi
	local crc; crc=$(echo "$HOP_OUT" | sed -n 's/.*"mem_crc32":"\(0x[0-9a-f]*\)".*/\1/p')
	if [ -z "$crc" ] || ! wait_for 10 grep -q "guest memory crc32 $crc matches" "$T_TMP/$to.err"; then
		fail "$t" "$to did not confirm memory checksum '$crc': $(tail -n 3 "$T_TMP/$to.err")"
		return 1
	fi
}

# counting TEST NAME: both vCPUs of instance NAME count on (3 more lines each).
counting() {
	local t=$1 name=$2 cpu last
	for cpu in 0 1; do
		export SEQ_CPU=$cpu
		last=$(last_count "$T_TMP/$name.out")
		if ! wait_for 30 counts_past "$T_TMP/$name.out" $((${last:-0} + 3)); then
			fail "$t" "$name: vCPU $cpu stopped counting at '${last:-nothing}': $(tail -n 3 "$T_TMP/$name.err")"
			unset SEQ_CPU; return 1
		fi
	done
	unset SEQ_CPU
}

# exited_ok TEST NAME PID: a source exits 0 once it has handed over (and
# an instance on 'lkvm stop').
exited_ok() {
	if ! wait_exit "$3" 10 || [ "$EXIT_RC" != 0 ]; then
		fail "$1" "$2 did not exit 0 ($EXIT_RC): $(tail -n 2 "$T_TMP/$2.err")"
		return 1
	fi
}

# sequence TEST FILE...: each vCPU's counts run on across FILE...
sequence() {
	local t=$1 cpu m msg=""; shift
	for cpu in 0 1; do
		if ! m=$(SEQ_CPU=$cpu check_sequence "$@"); then
			fail "$t" "vCPU $cpu: count sequence broken across $*: $m"; return 1
		fi
		msg="$msg cpu$cpu: $m;"
	done
	echo "$t:$msg"
}

head -c $((8 << 20)) /dev/urandom >"$T_TMP/random.img"
pA=$(pick_port); pB=$(pick_port)
while [ "$pB" = "$pA" ]; do pB=$(pick_port); done

bg_start A_PID "$LKVM" run -k "$GUESTS/migrate-smp" --name A -m $MEM -c 2 -i "$T_TMP/random.img" \
	-p "$GUEST_PARAMS" >"$T_TMP/A.out" 2>"$T_TMP/A.err"
start_dst B "$pA" -m $MEM -c 2; B_PID=$DST_PID
start_dst C "$pB" -m $MEM -c 2; C_PID=$DST_PID

ok=1
counting two-hops A || ok=
[ -n "$ok" ] && { hop two-hops A B "$pA" 1 || ok=; }
[ -n "$ok" ] && { exited_ok two-hops A "$A_PID" || ok=; }
[ -n "$ok" ] && { counting two-hops B || ok=; }
[ -n "$ok" ] && { hop two-hops B C "$pB" 2 || ok=; }
[ -n "$ok" ] && { exited_ok two-hops B "$B_PID" || ok=; }
[ -n "$ok" ] && { counting two-hops C || ok=; }
[ -n "$ok" ] && { sequence two-hops "$T_TMP/A.out" "$T_TMP/B.out" "$T_TMP/C.out" || ok=; }
if [ -n "$ok" ]; then
	pass two-hops
	# Back to where it started: a new instance on A's old port.
	start_dst A2 "$pA" -m $MEM -c 2; A2_PID=$DST_PID
	if hop hop-back C A2 "$pA" 1 && exited_ok hop-back C "$C_PID" && counting hop-back A2 &&
	   sequence hop-back "$T_TMP/A.out" "$T_TMP/B.out" "$T_TMP/C.out" "$T_TMP/A2.out"; then
		"$LKVM" stop --name A2 >/dev/null 2>&1
		exited_ok hop-back A2 "$A2_PID" && pass hop-back
	fi
	"$LKVM" stop --name A2 >/dev/null 2>&1
else
	skip hop-back "two-hops failed"
fi
"$LKVM" stop --name C >/dev/null 2>&1

# sev_hop FROM TO PORT: one SEV hop; the source must end SENT, the
# destination RUNNING, and the guest must count on at TO with its memory intact.
sev_hop() {
	local from=$1 to=$2 port=$3 out rc last
	out=$("$LKVM" migrate --to "127.0.0.1:$port" --name "$from" --json 2>"$T_TMP/$from-migrate.err")
	rc=$?
	echo "sev-two-hops: $from -> $to: $out"
	local enc; enc=$(echo "$out" | sed -n 's/.*"pages_encrypted":\([0-9]*\).*/\1/p')
	if [ $rc -ne 0 ] || ! echo "$out" | grep -q '"status":"completed"' || [ "${enc:-0}" -lt 1000 ]; then
		fail sev-two-hops "$from -> $to (rc $rc): $out $(tail -n 2 "$T_TMP/$from-migrate.err")"; return 1
	fi
	if ! grep -q "SEND_FINISH: source guest state SENT" "$T_TMP/$from.err" ||
	   ! grep -q "RECEIVE_FINISH: guest state RUNNING" "$T_TMP/$to.err"; then
		fail sev-two-hops "$from -> $to: firmware states: $(grep -h 'SEV: [A-Z]' "$T_TMP/$from.err" "$T_TMP/$to.err")"
		return 1
	fi
	last=$(last_count "$T_TMP/$from.out")
	if ! wait_for 60 counts_past "$T_TMP/$to.out" $((${last:-0} + 2)); then
		fail sev-two-hops "$to did not count on past ${last:-nothing}: $(tail -n 2 "$T_TMP/$to.err")"; return 1
	fi
	if mem_bad "$T_TMP/$to.out"; then
		fail sev-two-hops "the guest found its memory changed at $to: $(grep -a -m 1 BAD "$T_TMP/$to.out")"
		return 1
	fi
}

p1=$(pick_port); p2=$(pick_port)
while [ "$p2" = "$p1" ]; do p2=$(pick_port); done
start_sev_src SA "delay=20000 flip=1"; SA_PID=$SRC_PID
start_sev_dst SB "$p1"; SB_PID=$DST_PID
bg_start SC_PID "$LKVM" run --sev=emulated --sev-state "$T_TMP/plat-c" --test-doorbell -m 16M \
	--name SC --incoming "127.0.0.1:$p2" >"$T_TMP/SC.out" 2>"$T_TMP/SC.err" </dev/null
if ! wait_for 30 grep -q "waiting for the source" "$T_TMP/SC.err" ||
   ! wait_for 60 counts_past "$T_TMP/SA.out" 2; then
	fail sev-two-hops "not started: $(tail -n 1 "$T_TMP/SA.err" "$T_TMP/SC.err")"
elif sev_hop SA SB "$p1" && exited_ok sev-two-hops SA "$SA_PID" &&
     sev_hop SB SC "$p2" && exited_ok sev-two-hops SB "$SB_PID"; then
	if m=$(check_sequence "$T_TMP/SA.out" "$T_TMP/SB.out" "$T_TMP/SC.out"); then
		pass sev-two-hops
		echo "sev-two-hops: $m, memory checked by the guest at every count"
	else
		fail sev-two-hops "count sequence broken across SA, SB, SC: $m"
	fi
fi
"$LKVM" stop --name SC >/dev/null 2>&1
t_done
