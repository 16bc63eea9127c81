#!/usr/bin/env bash
# A long random walk of migrations, outside make check (`make soak`,
# HOPS=N SEED=S): one guest (tests/guests/migrate-smp: 2 vCPUs counting and
# rewriting memory) moves from instance to instance, each hop with options
# drawn at random (channels, --key, --compress, --verify, --downtime,
# --auto-converge, a bandwidth cap), and before some hops a migration that
# must fail (destination killed mid-stream, --cancel, another key, another
# memory size, nobody listening, the source stopped mid-stream by
# --set --bandwidth 0 ... going on).  After every failure the guest must
# still count on its source; after every hop it must count on at the
# destination; at the end each vCPU's counts must run 1, 2, 3 ... with no
# gap or repeat across every instance the guest lived in.  make check
# covers each case once; this looks for what only their mix and repetition
# shows.  Prints SEED so a failing walk can be replayed.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../integration/migrate-common.inc"
need_kvm soak
need_migrate soak

HOPS=${HOPS:-40}
SEED=${SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$SEED
MEM=64M
echo "migrate-soak: HOPS=$HOPS SEED=$SEED (replay: HOPS=$HOPS SEED=$SEED make soak)"

(umask 077; head -c 32 /dev/urandom >"$T_TMP/k1"; head -c 32 /dev/urandom >"$T_TMP/k2")
head -c $((8 << 20)) /dev/urandom >"$T_TMP/random.img"

chain=()	# the out files of every instance the guest lived in, in order
n_fail=0 n_ok=0

# new_dst NAME ARGS...: a destination NAME on a fresh port (DPORT, DPID)
new_dst() {
	local name=$1; shift
	DPORT=$(pick_port)
	start_dst "$name" "$DPORT" -m $MEM -c 2 "$@" || return 1
	DPID=$DST_PID
	wait_for 30 grep -q "faulted in" "$T_TMP/$name.err"
}

# counting NAME: both vCPUs print 2 more counts within 60 s
counting() {
	local c last
	for c in 0 1; do
		last=$(SEQ_CPU=$c last_count "$T_TMP/$1.out")
		SEQ_CPU=$c wait_for 60 counts_past "$T_TMP/$1.out" $((${last:-0} + 2)) ||
			{ echo "$1: vCPU $c stopped at ${last:-nothing}: $(tail -n 2 "$T_TMP/$1.err")"; return 1; }
	done
}

# migrate_bg ARGS...: lkvm migrate of $SRC in the background (MPID), JSON in $T_TMP/m.json
migrate_bg() {
	timeout 300 "$LKVM" migrate --name "$SRC" --json "$@" >"$T_TMP/m.json" 2>"$T_TMP/m.err" &
	MPID=$!
}

# expect_failed HOP WHAT: the migration in MPID failed and left the guest on the source
expect_failed() {
	local rc
	wait "$MPID"; rc=$?
	if [ $rc -eq 0 ] || ! grep -q '"guest":"source"' "$T_TMP/m.json"; then
		fail soak "hop $1 ($2): expected a failure with the guest on the source, got rc $rc: $(cat "$T_TMP/m.json") $(tail -n 2 "$T_TMP/m.err")"
		return 1
	fi
	if ! counting "$SRC"; then
		fail soak "hop $1 ($2): the source stopped counting after the failure"; return 1
	fi
	n_fail=$((n_fail + 1))
	echo "hop $1: $2: failed as it should: $(sed -n 's/.*"reason":"\([^"]*\)".*/\1/p' "$T_TMP/m.json" | cut -c1-100)"
}

# in_round0: lkvm migrate has shown a round 0 progress line
in_round0() { grep -q '"round":0' "$T_TMP/m.err"; }

# a_failure HOP: one migration that must fail, of a kind drawn at random
a_failure() {
	local h=$1 kind=$((RANDOM % 6)) name="f$h"
	case $kind in
	0)	new_dst "$name" || { fail soak "hop $h: destination $name: $(tail -n 2 "$T_TMP/$name.err")"; return 1; }
		migrate_bg --to "127.0.0.1:$DPORT" --bandwidth 8
		wait_for 30 in_round0; sleep 0.$((RANDOM % 9 + 1))
		kill -9 "$DPID"; wait "$DPID" 2>/dev/null
		expect_failed "$h" "destination killed mid-stream" || return 1 ;;
	1)	new_dst "$name" || { fail soak "hop $h: destination $name"; return 1; }
		migrate_bg --to "127.0.0.1:$DPORT" --bandwidth 8
		wait_for 30 in_round0; sleep 0.$((RANDOM % 9 + 1))
		"$LKVM" migrate --cancel --name "$SRC" >/dev/null 2>&1
		expect_failed "$h" "cancelled" || return 1
		"$LKVM" stop --name "$name" >/dev/null 2>&1; wait "$DPID" 2>/dev/null ;;
	2)	new_dst "$name" --incoming-key "$T_TMP/k1" || { fail soak "hop $h: destination $name"; return 1; }
		migrate_bg --to "127.0.0.1:$DPORT" --key "$T_TMP/k2"
		expect_failed "$h" "another key" || return 1
		# A destination with a key keeps waiting for its own source.
		if ! kill -0 "$DPID" 2>/dev/null; then
			fail soak "hop $h: the keyed destination gave up on a stranger"; return 1
		fi
		"$LKVM" stop --name "$name" >/dev/null 2>&1; wait "$DPID" 2>/dev/null ;;
	3)	DPORT=$(pick_port)
		start_dst "$name" "$DPORT" -m 32M -c 2 || { fail soak "hop $h: destination $name"; return 1; }
		DPID=$DST_PID
		migrate_bg --to "127.0.0.1:$DPORT"
		expect_failed "$h" "another memory size" || return 1
		"$LKVM" stop --name "$name" >/dev/null 2>&1; wait "$DPID" 2>/dev/null ;;
	4)	migrate_bg --to "127.0.0.1:$(pick_port)"
		expect_failed "$h" "nobody listening" || return 1 ;;
	5)	new_dst "$name" -c 1 || { fail soak "hop $h: destination $name"; return 1; }
		migrate_bg --to "127.0.0.1:$DPORT"
		expect_failed "$h" "another vCPU count" || return 1
		"$LKVM" stop --name "$name" >/dev/null 2>&1; wait "$DPID" 2>/dev/null ;;
	esac
	return 0
}

# a_hop HOP: move the guest from $SRC to a new instance with random options
a_hop() {
	local h=$1 name="i$h" opts=() dopts=() desc="" rc crc
	opts+=(--channels $((RANDOM % 3 + 1)))
	if [ $((RANDOM % 3)) -eq 0 ]; then
		opts+=(--key "$T_TMP/k1"); dopts+=(--incoming-key "$T_TMP/k1")
	fi
	[ $((RANDOM % 5)) -eq 0 ] && opts+=(--compress)
	[ $((RANDOM % 2)) -eq 0 ] && opts+=(--verify)
	[ $((RANDOM % 4)) -eq 0 ] && opts+=(--downtime $((RANDOM % 50 + 5)))
	[ $((RANDOM % 4)) -eq 0 ] && opts+=(--auto-converge)
	[ $((RANDOM % 4)) -eq 0 ] && opts+=(--bandwidth $((RANDOM % 200 + 50)))
	desc="${opts[*]//$T_TMP\//}"
	if ! new_dst "$name" "${dopts[@]}"; then
		fail soak "hop $h: destination $name: $(tail -n 2 "$T_TMP/$name.err")"; return 1
	fi
	migrate_bg --to "127.0.0.1:$DPORT" "${opts[@]}"
	# Now and then change the running migration (lifts any cap).
	if [ $((RANDOM % 4)) -eq 0 ] && wait_for 5 in_round0; then
		"$LKVM" migrate --set --bandwidth 0 --name "$SRC" >/dev/null 2>&1 && desc="$desc, --set --bandwidth 0"
	fi
	wait "$MPID"; rc=$?
	if [ $rc -ne 0 ] || ! grep -q '"status":"completed"' "$T_TMP/m.json"; then
		fail soak "hop $h ($desc): rc $rc: $(cat "$T_TMP/m.json") $(tail -n 3 "$T_TMP/m.err" "$T_TMP/$name.err")"
		return 1
	fi
	if ! wait_exit "$SPID" 20 || [ "$EXIT_RC" != 0 ]; then
		fail soak "hop $h ($desc): the source did not exit 0 after handing over ($EXIT_RC)"; return 1
	fi
	crc=$(sed -n 's/.*"mem_crc32":"\(0x[0-9a-f]*\)".*/\1/p' "$T_TMP/m.json")
	if [ -n "$crc" ] && ! wait_for 10 grep -q "guest memory crc32 $crc matches" "$T_TMP/$name.err"; then
		fail soak "hop $h ($desc): the destination did not confirm crc $crc"; return 1
	fi
	SRC=$name SPID=$DPID
	chain+=("$T_TMP/$name.out")
	if ! counting "$SRC"; then
		fail soak "hop $h ($desc): the guest does not count on at the destination"; return 1
	fi
	n_ok=$((n_ok + 1))
	echo "hop $h: $desc: $(sed -n 's/.*"total_ms":\([0-9.]*\).*"downtime_ms":\([0-9.]*\).*"rounds":\([0-9]*\).*"converged":\([a-z]*\).*"downtime_target_ms":\([0-9]*\).*/total \1 ms, downtime \2 ms (target \5), \3 rounds, converged \4/p' "$T_TMP/m.json")"
}

SRC=i0
bg_start SPID "$LKVM" run -k "$GUESTS/migrate-smp" --name i0 -m $MEM -c 2 -i "$T_TMP/random.img" \
	-p "delay=200 dirty=64" >"$T_TMP/i0.out" 2>"$T_TMP/i0.err"
chain+=("$T_TMP/i0.out")
counting i0 || { fail soak "the first instance does not count"; t_done; }

ok=1 t0=$SECONDS
for h in $(seq 1 "$HOPS"); do
	if [ $((RANDOM % 3)) -eq 0 ]; then a_failure "$h" || { ok=; break; }; fi
	a_hop "$h" || { ok=; break; }
done
if [ -n "$ok" ]; then
	for c in 0 1; do
		if ! m=$(SEQ_CPU=$c check_sequence "${chain[@]}"); then
			fail soak "vCPU $c: count sequence broken across ${#chain[@]} instances: $m"; ok=
		else
			echo "vCPU $c: $m across ${#chain[@]} instances"
		fi
	done
fi
"$LKVM" stop --name "$SRC" >/dev/null 2>&1
[ -n "$ok" ] && pass soak
echo "migrate-soak: $n_ok hops, $n_fail failures injected, $((SECONDS - t0)) s, SEED=$SEED"
t_done
