#!/usr/bin/env bash
# Live migration between two local instances (issue 5, "what it must show" 1):
# the counting guest moves mid-run, the destination continues with the next
# count (no gap, no repeat), and the whole guest RAM checksum (--verify) the
# destination computed matches the source's.  1 vCPU, 2 and 8 vCPUs all
# counting, and a guest that keeps dirtying memory while it moves.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="one-vcpu tsc-rate-kept two-vcpus eight-vcpus halted-guest dirtying-guest precopy-rounds crc-levels compressed compressed-pages round-limit-run round-limit default-instance stale-destination capped-long-round"
need_kvm $tests
need_migrate $tests

# migrate_once TEST MEM CPUS GUEST_PARAMS [CHANNELS]  (GUEST=path overrides the counter;
# no CHANNELS: lkvm's default, one per two CPUs it may run on, at least 2 on 2)
migrate_once() {
	local t=$1 mem=$2 cpus=$3 params=$4 ch=${5:-} port src dst out rc
	port=$(pick_port)
	src="$t-src"; dst="$t-dst"
	bg_start SRC_PID ${SRC_WRAP:-} "$LKVM" run -k "${GUEST:-$GUESTS/counter}" --name "$src" -m "$mem" -c "$cpus" \
		-p "$params" ${SRC_ARGS:-} >"$T_TMP/$src.out" 2>"$T_TMP/$src.err"
	if ! start_dst "$dst" "$port" -m "$mem" -c "$cpus" ${DST_ARGS:-}; then
		fail "$t" "destination did not listen: $(tail -n 2 "$T_TMP/$dst.err")"; return
	fi
	# Migrate into a faulted-in destination, as the bench does: otherwise
	# the pre-fault thread may lose the race to the stream and stop short.
	if [ -z "${LAZY:-}" ] && ! wait_for 30 grep -q "guest RAM faulted in" "$T_TMP/$dst.err"; then
		fail "$t" "destination did not fault its RAM in: $(tail -n 3 "$T_TMP/$dst.err")"; return
	fi
	local c
	for c in ${SEQ_CPUS:-""}; do
		if ! SEQ_CPU=$c wait_for 30 counts_past "$T_TMP/$src.out" 3; then
			fail "$t" "source guest (vCPU ${c:-0}) did not count: $(tail -n 3 "$T_TMP/$src.err")"
			return
		fi
	done
	out=$("$LKVM" migrate --to "127.0.0.1:$port" --name "$src" --verify --json ${ch:+--channels "$ch"} \
		${MIG_ARGS:-} 2>"$T_TMP/$t-migrate.err")
	rc=$?
	echo "$t: $out"
	if [ $rc -ne 0 ] || ! echo "$out" | grep -q '"status":"completed"'; then
		fail "$t" "migrate failed (rc $rc): $out $(cat "$T_TMP/$t-migrate.err")"; return
	fi
	local want=$ch
	if [ -z "$want" ]; then
		want=$(($(nproc) / 2))
		[ "$want" -ge 2 ] || want=2
		[ "$(nproc)" -ge 2 ] || want=1
		[ "$want" -le 16 ] || want=16
	fi
	# A running guest arrives running (migrate-paused.sh: a paused one paused).
	if ! echo "$out" | grep -q '"paused":false,"guest":"destination"}$'; then
		fail "$t" "the summary does not say the guest runs on: $out"; return
	fi
	if ! echo "$out" | grep -q "\"channels\":$want,"; then
		fail "$t" "expected $want channel(s)${ch:+ (--channels $ch)}${ch:- (the default on $(nproc) CPUs)}: $out"
		return
	fi
	# --json: progress as one JSON object per line on stderr, ending with
	# the final round's (stdout keeps the one summary object).
	local num='[0-9]+(\.[0-9])?' plines
	plines=$(grep -c '^{"event":"progress"' "$T_TMP/$t-migrate.err")
	if [ "$plines" -lt 2 ] || grep '^{' "$T_TMP/$t-migrate.err" | grep -Evq \
		"^\{\"event\":\"progress\",\"round\":[0-9]+,\"final\":(true|false),\"percent\":$num,\"mbps\":($num|null),\"dirty_pages_per_s\":[0-9]+,\"remaining_pages\":[0-9]+,\"expected_downtime_ms\":($num|null),\"bytes\":[0-9]+,\"throttle_pct\":[0-9]+\}$" ||
		! grep '^{' "$T_TMP/$t-migrate.err" | tail -n 1 | grep -q '"final":true' ||
		[ "$(echo "$out" | wc -l)" -ne 1 ]; then
		fail "$t" "progress JSON lines ($plines): $(head -c 600 "$T_TMP/$t-migrate.err")"; return
	fi
	# The source exits 0 once committed; the destination goes on counting.
	if ! wait_for 10 bash -c "! kill -0 $SRC_PID 2>/dev/null"; then
		fail "$t" "source still running after the commit"; return
	fi
	wait "$SRC_PID"; rc=$?
	[ $rc -eq 0 ] || { fail "$t" "source exited with $rc"; return; }
	local last cpu seq_msg="" m
	# Every vCPU that counts (SEQ_CPUS, default: the one counter) continues.
	for cpu in ${SEQ_CPUS:-""}; do
		export SEQ_CPU=$cpu
		last=$(last_count "$T_TMP/$src.out")
		if [ -z "$last" ]; then
			fail "$t" "vCPU ${cpu:-0} never counted on the source"
			unset SEQ_CPU; return
		fi
		if ! wait_for 30 counts_past "$T_TMP/$dst.out" $((last + 3)); then
			fail "$t" "vCPU ${cpu:-0}: destination did not continue past $last: $(tail -n 3 "$T_TMP/$dst.err")"
			unset SEQ_CPU; return
		fi
		if ! m=$(check_sequence "$T_TMP/$src.out" "$T_TMP/$dst.out"); then
			fail "$t" "vCPU ${cpu:-0}: count sequence broken: $m"
			echo "--- source output ends:"; tail -c 120 "$T_TMP/$src.out" | od -c | tail -n 9
			echo "--- destination output starts:"; head -c 120 "$T_TMP/$dst.out" | od -c | head -n 9
			unset SEQ_CPU; return
		fi
		seq_msg="$seq_msg${cpu:+cpu$cpu: }$m; "
		unset SEQ_CPU
	done
	# A guest that checks its own memory (sevmig-guest) must find it intact.
	if grep -aq 'priv BAD\|shared BAD' "$T_TMP/$dst.out"; then
		fail "$t" "the guest found its memory changed: $(grep -a -m 1 'sevmig:' "$T_TMP/$dst.out")"
		return
	fi
	local crc; crc=$(echo "$out" | sed -n 's/.*"mem_crc32":"\(0x[0-9a-f]*\)".*/\1/p')
	if ! grep -q "guest memory crc32 $crc matches" "$T_TMP/$dst.err"; then
		fail "$t" "destination did not confirm memory checksum $crc: $(cat "$T_TMP/$dst.err")"; return
	fi
	# By default the destination faults its RAM in while it waits;
	# --no-prefault leaves it to the stream.
	if [ -z "${LAZY:-}" ] && ! grep -q "guest RAM faulted in" "$T_TMP/$dst.err"; then
		fail "$t" "destination did not fault its RAM in: $(cat "$T_TMP/$dst.err")"; return
	elif [ -n "${LAZY:-}" ] && grep -q "faulted in" "$T_TMP/$dst.err"; then
		fail "$t" "--no-prefault destination faulted its RAM in anyway"; return
	fi
	if [ -n "${DST_EXPECT:-}" ] && ! grep -Eq "$DST_EXPECT" "$T_TMP/$dst.err"; then
		fail "$t" "destination did not say /$DST_EXPECT/: $(cat "$T_TMP/$dst.err")"; return
	fi
	if [ -n "${SRC_EXPECT:-}" ] && ! grep -Eq "$SRC_EXPECT" "$T_TMP/$src.err"; then
		fail "$t" "source did not say /$SRC_EXPECT/: $(cat "$T_TMP/$src.err")"; return
	fi
	# The guest's new home stops as any instance does: exit 0.
	"$LKVM" stop --name "$dst" >/dev/null 2>&1
	if ! wait_exit "$DST_PID" 20 || [ "$EXIT_RC" != 0 ]; then
		fail "$t" "destination exited with $EXIT_RC on lkvm stop: $(tail -n 2 "$T_TMP/$dst.err")"; return
	fi
	pass "$t"
	echo "$t: ${seq_msg}memory crc32 $crc"
	LAST_JSON=$out
}

migrate_once one-vcpu 16M 1 "delay=20000" 1
# A guest started with --tsc-khz keeps that TSC rate on a destination that
# was not given one (9 GHz: above any real TSC, so KVM can always provide it).
SRC_ARGS="--tsc-khz 9000000" DST_EXPECT="the guest's TSC runs at 9000000 kHz \(here: [0-9]+ kHz\): (KVM scales it to the guest's rate|without TSC scaling KVM keeps its rate by catching it up)" \
	migrate_once tsc-rate-kept 16M 1 "delay=20000" 1
# The destination as on a host that cannot commit all guest RAM up front.
LAZY=1 DST_ARGS="--no-prefault" migrate_once lazy-destination 16M 1 "delay=20000" 2
# Both vCPUs count (tests/guests/migrate-smp): each goes on with its next count.
GUEST=$GUESTS/migrate-smp SEQ_CPUS="0 1" migrate_once two-vcpus 32M 2 "delay=20000"
# Eight vCPUs on this 2-CPU host: each one's counts run on.
GUEST=$GUESTS/migrate-smp SEQ_CPUS="0 1 2 3 4 5 6 7" migrate_once eight-vcpus 32M 8 "delay=2000"
# Both vCPUs write 256 pages of a 2 MiB buffer per line; 16 MiB of random
# RAM (an initrd) at 64 MB/s makes round 0 last ~0.25 s, so with a 1 ms
# downtime target pre-copy has to chase the guest over many rounds (without
# the cap a fast round 0 sometimes left too little dirty to go on), and the
# RAM checksum shows no write was lost on the way.
LAST_JSON=
head -c $((16 << 20)) /dev/urandom >"$T_TMP/random.img"
GUEST=$GUESTS/migrate-smp SEQ_CPUS="0 1" MIG_ARGS="--downtime 1 --bandwidth 64" SRC_ARGS="-i $T_TMP/random.img" \
	migrate_once dirtying-guest 64M 2 "delay=100 dirty=256" 3
rounds=$(echo "$LAST_JSON" | sed -n 's/.*"rounds":\([0-9]*\).*/\1/p')
if [ -z "$rounds" ]; then
	:	# the migration itself failed above
elif [ "$rounds" -ge 3 ]; then
	pass precopy-rounds
	echo "precopy-rounds: $rounds rounds while the guest dirtied memory"
else
	skip precopy-rounds "only $rounds rounds: the guest barely ran during round 0 (host too busy)"
fi
# The page copy with its crc as CPUs without AVX-512 run it (most SEV
# hosts): the source at PCLMULQDQ (AMD Rome), the destination at
# VPCLMULQDQ on AVX2 (Milan), the dirtying guest and --verify.
if ! LKVM_CRC_LEVEL=2 "$LKVM" version >/dev/null 2>&1; then
	skip crc-levels "this CPU has no VPCLMULQDQ with AVX2 ($(LKVM_CRC_LEVEL=2 "$LKVM" version 2>&1 | head -n 1))"
else
	GUEST=$GUESTS/migrate-smp SEQ_CPUS="0 1" MIG_ARGS="--downtime 1 --bandwidth 64" \
		SRC_ARGS="-i $T_TMP/random.img" SRC_WRAP="env LKVM_CRC_LEVEL=1" DST_WRAP="env LKVM_CRC_LEVEL=2" \
		SRC_EXPECT="crc32 forced to level 1" DST_EXPECT="crc32 forced to level 2" \
		migrate_once crc-levels 64M 2 "delay=100 dirty=256" 2
fi
# --compress: the dirtying guest again, with 16 MiB of compressible RAM (this
# lkvm binary, repeated) beside its buffer; the summary counts deflated pages
# and --verify's checksum shows every one arrived as it was.
LAST_JSON=
for _ in $(seq 40); do cat "$LKVM"; done | head -c $((16 << 20)) >"$T_TMP/text.img"
GUEST=$GUESTS/migrate-smp SEQ_CPUS="0 1" MIG_ARGS="--compress --downtime 1 --bandwidth 64" \
	SRC_ARGS="-i $T_TMP/text.img" migrate_once compressed 64M 2 "delay=100 dirty=256" 2
if [ -n "$LAST_JSON" ]; then
	zpages=$(echo "$LAST_JSON" | sed -n 's/.*"pages_compressed":\([0-9]*\).*/\1/p')
	ratio=$(echo "$LAST_JSON" | sed -n 's/.*"compression_ratio":\([0-9.]*\).*/\1/p')
	# Over 4096 pages of the initrd alone, and the binary shrinks by a third at least.
	if grep -q '"compress":true,' <<<"$LAST_JSON" && [ "${zpages:-0}" -gt 4096 ] &&
	   awk -v r="${ratio:-0}" 'BEGIN { exit !(r >= 1.5) }'; then
		pass compressed-pages
		echo "compressed-pages: $zpages pages deflated $ratio:1"
	else
		fail compressed-pages "$LAST_JSON"
	fi
fi
# The same guest with --max-rounds 2: pre-copy stops at the limit above the
# 1 ms target, and the summary says so ("converged":false, and the VMM
# warns) instead of reporting a plain success.
LAST_JSON=
GUEST=$GUESTS/migrate-smp SEQ_CPUS="0 1" MIG_ARGS="--downtime 1 --bandwidth 64 --max-rounds 2" \
	SRC_ARGS="-i $T_TMP/random.img" migrate_once round-limit-run 64M 2 "delay=100 dirty=256"
if [ -z "$LAST_JSON" ]; then
	fail round-limit "the migration failed (above)"
elif echo "$LAST_JSON" | grep -q '"converged":true'; then
	skip round-limit "converged within 2 rounds: the guest barely ran (host too busy)"
elif echo "$LAST_JSON" | grep -q '"converged":false,"max_rounds":2,"downtime_target_ms":1,"auto_converge":false,"throttle_pct":0,"bandwidth_cap_mbps":64,"settings_changed":0,"paused"' &&
     grep -q "still dirties memory faster than it moves" "$T_TMP/round-limit-run-src.err"; then
	pass round-limit
else
	fail round-limit "$LAST_JSON; source: $(grep -c dirties "$T_TMP/round-limit-run-src.err")"
fi
# A guest halted with interrupts off never leaves KVM_RUN by itself: nothing
# in the migration may wait for its vCPU to come out (a KVM_GET_CPUID2 for
# the handshake once did, and the migration hung).  --verify: its memory.
t=halted-guest
port=$(pick_port)
bg_start SRC_PID "$LKVM" run -k "$GUESTS/idle" --name h-src -m 16M >"$T_TMP/h-src.out" 2>"$T_TMP/h-src.err"
if ! start_dst h-dst "$port" -m 16M || ! wait_for 30 grep -q ready "$T_TMP/h-src.out" ||
   ! wait_for 30 grep -q "faulted in" "$T_TMP/h-dst.err"; then
	fail $t "setup: $(tail -n 1 "$T_TMP/h-src.err" "$T_TMP/h-dst.err")"
else
	out=$(timeout 60 "$LKVM" migrate --to "127.0.0.1:$port" --name h-src --verify --json 2>"$T_TMP/h.mig.err"); rc=$?
	if [ $rc -ne 0 ] || ! grep -q '"status":"completed"' <<<"$out"; then
		fail $t "migrate (rc $rc$([ $rc -eq 124 ] && echo ': hung 60 s')): $out $(tail -n 1 "$T_TMP/h.mig.err")"
	elif ! wait_exit "$SRC_PID" 10 || [ "$EXIT_RC" != 0 ] || ! wait_for 10 state_is h-dst running; then
		fail $t "source exit $EXIT_RC, destination '$(state h-dst)'"
	else
		pass $t
		echo "$t: $out"
	fi
fi
"$LKVM" stop --name h-dst >/dev/null 2>&1

# A destination whose memory already holds data (an initrd where the source
# has zero pages) must end up with the source's memory: the zero pages clear
# what was there, and --verify proves it.
head -c $((4 << 20)) /dev/urandom >"$T_TMP/stale.img"
DST_ARGS="-k $GUESTS/counter -i $T_TMP/stale.img" migrate_once stale-destination 16M 1 "delay=20000" 1

# A bandwidth cap makes round 0 take seconds (14 MiB of random RAM at
# 4 MB/s) while the guest keeps writing: on this host every guest write is
# a dirty ring entry, so the 64Ki-entry ring of the vCPU fills several times
# within one round.  Nothing written in that round may be lost (the guest
# checks its pages' count words, and --verify compares all RAM), and the
# source guest must not stall on a ring that can no longer be harvested.
head -c $((14 << 20)) /dev/urandom >"$T_TMP/random14.img"
GUEST=$GUESTS/sevmig-guest MIG_ARGS="--bandwidth 4" \
	SRC_ARGS="--page-map --test-doorbell -i $T_TMP/random14.img" DST_ARGS="--page-map --test-doorbell" \
	migrate_once capped-long-round 32M 1 "delay=20000" 2


# With no --name, lkvm migrate takes the only instance that can migrate: a
# destination waiting on the same host does not make it "several".  Alone,
# the destination is the default for --status only.
t=default-instance
LKVM_DIR_SAVED=$LKVM_DIR
export LKVM_DIR=$T_TMP/run-default
mkdir -m 700 "$LKVM_DIR"
port=$(pick_port)
start_src def-s -m 16M -p delay=2000
if ! start_dst def-d "$port" -m 16M || ! wait_for 30 counts_past "$T_TMP/def-s.out" 1; then
	fail $t "setup: $(tail -n 1 "$T_TMP/def-s.err" "$T_TMP/def-d.err")"
else
	st1=$("$LKVM" migrate --status 2>&1)
	"$LKVM" migrate --to "127.0.0.1:$port" --quiet >/dev/null 2>"$T_TMP/$t.err"; rc=$?
	port2=$(pick_port)
	start_dst def-d2 "$port2" -m 16M
	"$LKVM" stop --name def-d >/dev/null 2>&1
	wait_for 10 bash -c "! '$LKVM' list 2>/dev/null | grep -q '^def-d '"
	st2=$("$LKVM" migrate --status 2>&1)
	"$LKVM" migrate --to "127.0.0.1:1" >/dev/null 2>"$T_TMP/$t.err2"; rc2=$?
	if [ $rc -ne 0 ] || [ "$st1" != "no migration in progress" ]; then
		fail $t "source and destination: status '$st1', migrate rc=$rc: $(cat "$T_TMP/$t.err")"
	elif [[ "$st2" != "incoming: waiting for a source on 127.0.0.1:$port2 for "* ]] || [ $rc2 -ne 1 ] ||
	     ! grep -q "no instance to migrate: only destinations waiting" "$T_TMP/$t.err2"; then
		fail $t "destination alone: status '$st2', migrate rc=$rc2: $(cat "$T_TMP/$t.err2")"
	else
		pass $t
	fi
fi
"$LKVM" stop --all >/dev/null 2>&1
export LKVM_DIR=$LKVM_DIR_SAVED
t_done
