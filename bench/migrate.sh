#!/usr/bin/env bash
# Live migration bench (issue 5, "what it must show" 6): a guest with 1 GiB
# of random RAM (an initrd of random bytes) and one with 1 GiB of zero RAM,
# migrated between two local lkvm instances over loopback; total time,
# throughput and downtime beside raw single-stream loopback TCP measured in
# the same run, and beside QEMU when qemu-system-x86_64 is installed.  Ends
# with a side-by-side table of medians, and one of the memory each side's
# VMM used beside its guest RAM, at rest and at its peak while migrating
# (bench/mem.sh), lkvm's and QEMU's.
#
#   bench/migrate.sh            (make bench)
#   SIZE_MB=256 CHANNELS=2 REPEAT=3 bench/migrate.sh
#   ONLY=pairs REPEAT=15 bench/migrate.sh   (only the clear random-RAM
#       migrations, each paired with raw TCP just before it: the ratio rows
#       with more pairs than a whole run can afford)
#   ONLY=memory bench/migrate.sh   (only the zero- and random-RAM
#       migrations and QEMU's without TLS: for the memory table)
#   LKVM_CRC_LEVEL=1 bench/migrate.sh   (the page crc32s as a CPU without
#       VPCLMULQDQ computes them; docs/migration.md, "On CPUs without AVX-512")
cd "$(dirname "$0")/.."
BENCH_NEEDS="idle-guest migrate-ram-loopback"
REPEAT=${REPEAT:-3}
. bench/lib.sh
. bench/mem.sh

# ONLY=pairs: only the paired clear migrations; ONLY=memory: those and the
# zero-RAM ones, and QEMU's.  everything() says whether to run the rest.
everything() { [ -z "${ONLY:-}" ]; }
memory() { [ "${ONLY:-}" != pairs ]; }

# Figures for the summary: one "KEY VALUE" line per measurement.
fig() { [ -z "$2" ] || echo "$1 $2" >>"$tmp/figures"; }
# raw_of FILE reused|"memory to memory": that raw TCP MB/s from migrate-ram-loopback's output
raw_of() { sed -n "s/^raw .*$2: *\([0-9]*\) MB.*/\1/p" "$1"; }
# raw_multi_of FILE: raw TCP MB/s over as many streams as lkvm's channels (none on 1)
raw_multi_of() { sed -n 's/^raw .*memory to memory over [0-9]* streams: *\([0-9]*\) MB.*/\1/p' "$1"; }
median() {	# KEY: the median of its values, or "-"
	awk -v k="$1" '$1 == k { print $2 }' "$tmp/figures" 2>/dev/null | sort -g |
		awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
					 else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "== lkvm migration bench: ${SIZE_MB} MiB, ${CHANNELS:-default} channel(s), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   page crc32: $(crc_level_of)"
echo "   socket buffer limits: net.core.wmem_max $(cat /proc/sys/net/core/wmem_max), rmem_max $(cat /proc/sys/net/core/rmem_max), tcp_wmem $(tr '\t' ' ' </proc/sys/net/ipv4/tcp_wmem), tcp_rmem $(tr '\t' ' ' </proc/sys/net/ipv4/tcp_rmem)"
echo
if everything; then
	echo "-- the RAM stream alone (no VM) beside raw loopback TCP, in one process:"
	for i in $(seq "$REPEAT"); do
		"$O/bench/migrate-ram-loopback" "$SIZE_MB" "${CHANNELS:-auto}" random | tee "$tmp/loop.out"
		fig raw_hot "$(raw_of "$tmp/loop.out" reused)"
		fig raw_mem "$(raw_of "$tmp/loop.out" "memory to memory")"
		fig raw_mem_multi "$(raw_multi_of "$tmp/loop.out")"
		fig stream "$(sed -n 's/^lkvm RAM stream.*s, *\([0-9]*\) MB.*/\1/p' "$tmp/loop.out")"
	done
	"$O/bench/migrate-ram-loopback" "$SIZE_MB" "${CHANNELS:-auto}" random lazy | grep -v '^raw'
	"$O/bench/migrate-ram-loopback" "$SIZE_MB" "${CHANNELS:-auto}" zero | grep -v '^raw'
fi

if ! "$LKVM" help 2>&1 | grep -q '^ *migrate '; then
	echo "lkvm migrate is not built here (needs the control socket): VM benches skipped"
	exit 0
fi
if [ ! -w /dev/kvm ]; then
	echo "/dev/kvm is not usable: VM benches skipped"
	exit 0
fi

# guest_bench KEY LABEL RUN_ARGS...: migrate the idle bench guest, print the JSON summary
# (MIG_ARGS: more lkvm migrate options; MB: the RAM the figures are of, default SIZE_MB).
guest_bench() {
	local key=$1 label=$2 port=$((30000 + RANDOM % 30000)) out line; shift 2
	"$LKVM" run -k "$O/bench/idle-guest" --name "b-src" "$@" \
		>"$tmp/src.out" 2>"$tmp/src.err" &
	pids+=($!)
	"$LKVM" run --name "b-dst" --incoming "127.0.0.1:$port" ${DST_ARGS:-} \
		$(printf '%s\n' "$@" | grep -v -- '^-i$' | grep -v '\.img$') \
		>"$tmp/dst.out" 2>"$tmp/dst.err" &
	pids+=($!)
	wait_pair "$label" 600 || { stop_pair; return 1; }
	mem_before "${pids[0]}" "${pids[1]}" "$tmp"
	out=$("$LKVM" migrate --name b-src --to "127.0.0.1:$port" ${CHANNELS:+--channels "$CHANNELS"} \
		${MIG_ARGS:-} --json --quiet)
	echo "$label: $out"
	if grep -q '"status":"completed"' <<<"$out"; then
		mem_after "${pids[0]}" "${pids[1]}" "$label" | tee -a "$tmp/mem.out"
	else
		mem_watch_stop
	fi
	line=$(echo "$out" | sed -n 's/.*"total_ms":\([0-9.]*\).*"downtime_ms":\([0-9.]*\).*"bytes":\([0-9]*\).*/\1 \2 \3/p')
	# A failed run is reported, not counted: its 0 s would pass for a win.
	if ! grep -q '"status":"completed"' <<<"$out"; then
		echo "  $label: FAILED, not counted"
	elif [ -n "$line" ]; then
		echo "$line" | awk -v mb="${MB:-$SIZE_MB}" -v l="$label" '{ printf "  %s: total %.3f s, downtime %.1f ms, %.0f MB/s of guest RAM, %.0f MB/s on the wire\n", l, $1/1000, $2, mb*1048576/($1/1000)/1e6, $3/($1/1000)/1e6 }'
		set -- $line
		fig "${key}_s" "$(echo "$1" | awk '{ printf "%.3f", $1 / 1000 }')"
		fig "${key}_dt" "$2"
	fi
	stop_pair
}

# The PVH loader puts an initrd in the upper half of low memory.
mem=$((SIZE_MB * 2 + 64))M
echo
echo "-- live migration of a VM between two local instances:"
memory && for i in $(seq "$REPEAT"); do guest_bench zero "zero RAM ${SIZE_MB} MiB #$i" -m "${SIZE_MB}M"; done
head -c $((SIZE_MB << 20)) /dev/urandom >"$tmp/random.img"
for i in $(seq "$REPEAT"); do
	# The raw reference right before each run: both see the same host load
	# (this machine's speed drifts by a third from minute to minute).
	# (Also over as many streams as lkvm opens channels, where more than one.)
	"$O/bench/migrate-ram-loopback" "$SIZE_MB" "${CHANNELS:-auto}" random rawonly >"$tmp/raw.out"
	raw=$(raw_of "$tmp/raw.out" "memory to memory")
	hot=$(raw_of "$tmp/raw.out" reused)
	multi=$(raw_multi_of "$tmp/raw.out")
	echo "raw single-stream TCP just before #$i: ${SIZE_MB} MiB memory to memory $raw MB/s, one hot 1 MiB buffer $hot MB/s${multi:+; memory to memory over as many streams as channels $multi MB/s}"
	fig raw_pair "$raw"
	fig raw_pair_hot "$hot"
	fig raw_pair_multi "$multi"
	before=$(grep -c '^rand_s ' "$tmp/figures" 2>/dev/null)
	guest_bench rand "random RAM ${SIZE_MB} MiB (initrd) #$i" -m "$mem" -i "$tmp/random.img"
	if [ -n "$raw" ] && [ -n "$hot" ] && [ "$(grep -c '^rand_s ' "$tmp/figures")" -gt "${before:-0}" ]; then
		s=$(grep '^rand_s ' "$tmp/figures" | tail -n 1 | cut -d' ' -f2)
		for ref in "pair_ratio $raw" "pair_ratio_hot $hot" "pair_ratio_multi $multi"; do
			read -r k r <<<"$ref"
			[ -n "$r" ] || continue
			fig "$k" "$(awk -v s="$s" -v r="$r" -v mb="$SIZE_MB" \
				'BEGIN { printf "%.2f", mb * 1048576 / s / 1e6 / r }')"
		done
	fi
done

ZMB=${ZMB:-256}		# the --compress bench's MiB of executables
if everything; then
	# The same guest over the sealed stream (--key / --incoming-key): what
	# AES-256-GCM costs, on 1 channel and on --key's default (one per CPU, or
	# CHANNELS).
	(umask 077; head -c 32 /dev/urandom >"$tmp/mig.key")
	for i in $(seq "$REPEAT"); do
		DST_ARGS="--incoming-key $tmp/mig.key" MIG_ARGS="--key $tmp/mig.key --channels 1" \
			guest_bench rand_key "random RAM ${SIZE_MB} MiB, --key, 1 channel #$i" -m "$mem" \
			-i "$tmp/random.img"
		DST_ARGS="--incoming-key $tmp/mig.key" MIG_ARGS="--key $tmp/mig.key" \
			guest_bench rand_key2 "random RAM ${SIZE_MB} MiB, --key, ${CHANNELS:-default} channel(s) #$i" \
			-m "$mem" -i "$tmp/random.img"
	done

	# --compress over a capped link (a 200 Mbit/s WAN: --bandwidth 25), with RAM
	# that compresses as real memory does: the host's executables, concatenated.
	find /usr/bin -maxdepth 1 -type f -size +64k -print0 2>/dev/null | sort -z | xargs -0 cat 2>/dev/null |
		head -c $((ZMB << 20)) >"$tmp/text.img"
	if [ "$(stat -c %s "$tmp/text.img")" -eq $((ZMB << 20)) ]; then
		echo
		echo "-- ${ZMB} MiB of executables (/usr/bin) over a link capped at 25 MB/s, 2 channels:"
		for i in $(seq "$REPEAT"); do
			MB=$ZMB MIG_ARGS="--bandwidth 25 --channels 2" guest_bench capped "capped 25 MB/s, as they are #$i" \
				-m $((ZMB * 2 + 64))M -i "$tmp/text.img"
			MB=$ZMB MIG_ARGS="--bandwidth 25 --channels 2 --compress" guest_bench capped_z \
				"capped 25 MB/s, --compress #$i" -m $((ZMB * 2 + 64))M -i "$tmp/text.img"
		done
	else
		echo "-- /usr/bin holds less than ${ZMB} MiB of executables: the --compress bench is skipped"
	fi
fi

if memory; then
	echo
	if command -v qemu-system-x86_64 >/dev/null; then
		QEMU_TLS=$(everything && echo 1 || echo 0) bench/migrate-qemu.sh "$O/bench/idle-guest" "$SIZE_MB" "${CHANNELS:-2}" "$REPEAT" "$tmp/random.img" 2>&1 |
			grep -v -e 'Killed' -e 'connect:' | tee "$tmp/qemu.out"
		# "  QEMU <case> #i: total T s, downtime D ms" -> per-case figures.
		sed -n 's/^  QEMU \(.*\) #[0-9]*: total \([0-9.]*\) s, downtime \([0-9]*\) ms.*/\1|\2|\3/p' "$tmp/qemu.out" |
			while IFS='|' read -r case t d; do
				k=q_$(echo "$case" | tr -c 'A-Za-z0-9\n' '_')
				fig "${k}_s" "$t"; fig "${k}_dt" "$d"
			done
	else
		echo "-- qemu-system-x86_64 is not installed; reference figures for this kind of machine"
		echo "   (shared/reference/host-kvm.md): QEMU 7.2, 1 GiB random RAM: 0.71-0.81 s;"
		echo "   multifd 2 channels: 0.45-0.48 s; 1 GiB zero RAM: ~0.10 s, downtime 5 ms."
	fi
fi

mbs() { awk -v s="$1" -v mb="$SIZE_MB" 'BEGIN { if (s == "-" || s <= 0) print "-"; else printf "%.0f", mb * 1048576 / s / 1e6 }'; }
row() { printf "  %-72s %8s %6s %12s\n" "$1" "$2" "$3" "$4"; }
echo
echo "== summary: medians of $REPEAT, ${SIZE_MB} MiB, this run"
row "" "total s" "MB/s" "downtime ms"
row "raw single-stream TCP, one 1 MiB buffer reused" "" "$(median raw_hot)" ""
row "raw single-stream TCP, ${SIZE_MB} MiB memory to memory" "" "$(median raw_mem)" ""
row "raw TCP over as many streams as lkvm's channels, memory to memory" "" "$(median raw_mem_multi)" ""
row "lkvm RAM stream alone, ${CHANNELS:-default} channel(s)" "" "$(median stream)" ""
row "raw single-stream TCP, memory to memory, just before each lkvm run" "" "$(median raw_pair)" ""
row "raw single-stream TCP, hot 1 MiB buffer, just before each lkvm run" "" "$(median raw_pair_hot)" ""
row "raw TCP over as many streams as lkvm's channels, memory to memory, just before" "" "$(median raw_pair_multi)" ""
row "lkvm live migration, random RAM" "$(median rand_s)" "$(mbs "$(median rand_s)")" "$(median rand_dt)"
row "  lkvm MB/s / raw memory-to-memory MB/s just before (median of pairs)" "" "$(median pair_ratio)" ""
row "  lkvm MB/s / raw hot-buffer MB/s just before (median of pairs)" "" "$(median pair_ratio_hot)" ""
row "  lkvm MB/s / raw TCP over as many streams, memory to memory (median of pairs)" "" "$(median pair_ratio_multi)" ""
# How many pairs lkvm won: a median alone hides how often it falls short.
above() { awk -v k="$1" '$1 == k { n++; if ($2 >= 1) a++ } END { printf "%d of %d", a, n }' "$tmp/figures" 2>/dev/null; }
row "  pairs where lkvm >= raw memory to memory / >= raw hot buffer" "" "" "$(above pair_ratio) / $(above pair_ratio_hot)"
row "lkvm live migration, random RAM, sealed (--key), 1 channel" "$(median rand_key_s)" "$(mbs "$(median rand_key_s)")" "$(median rand_key_dt)"
row "lkvm live migration, random RAM, sealed (--key), ${CHANNELS:-default} channel(s)" "$(median rand_key2_s)" "$(mbs "$(median rand_key2_s)")" "$(median rand_key2_dt)"
row "lkvm live migration, zero RAM" "$(median zero_s)" "" "$(median zero_dt)"
row "lkvm, ${ZMB} MiB of executables, capped at 25 MB/s" "$(median capped_s)" "" "$(median capped_dt)"
row "lkvm, the same with --compress" "$(median capped_z_s)" "" "$(median capped_z_dt)"
for k in $(awk '$1 ~ /^q_.*_s$/ { print $1 }' "$tmp/figures" 2>/dev/null | awk '!seen[$0]++'); do
	base=${k%_s}
	name=$(echo "${base#q_}" | tr '_' ' ' | sed 's/  */ /g; s/ $//; s/mem prealloc/-mem-prealloc/')
	row "QEMU $name" "$(median "$k")" "$(case $name in *random*) mbs "$(median "$k")";; esac)" "$(median "${base}_dt")"
done

# Memory: "  memory, CASE #i: ..." lines (bench/mem.sh), lkvm's and QEMU's, as
# figures m<case number>_<column>, the cases in the order they ran.
cat "$tmp/mem.out" "$tmp/qemu.out" 2>/dev/null |
	sed -n 's/^  memory, \(.*\) #[0-9]*: source guest RAM \([0-9.]*\) MiB resident, own \([0-9.-]*\) MiB before, \([0-9.-]*\) at peak; destination guest RAM \([0-9.]*\) -> \([0-9.-]*\) MiB resident, own \([0-9.-]*\) MiB before, \([0-9.-]*\) at peak$/\1|\2|\3|\4|\5|\6|\7|\8/p' |
	while IFS='|' read -r case sg sa sp dg0 dg1 da dp; do
		grep -qxF -- "$case" "$tmp/mem.cases" 2>/dev/null || echo "$case" >>"$tmp/mem.cases"
		n=$(grep -nxF -- "$case" "$tmp/mem.cases" | cut -d: -f1)
		for kv in "sg $sg" "sa $sa" "sp $sp" "dg0 $dg0" "dg1 $dg1" "da $da" "dp $dp"; do
			set -- $kv
			[ "$2" = - ] || fig "m${n}_$1" "$2"
		done
	done
if [ -s "$tmp/mem.cases" ]; then
	mrow() { printf "  %-74s %7s %7s %7s %17s %7s %7s\n" "$@"; }
	echo
	echo "== memory: medians, MiB; \"own\" is a VMM's resident memory outside its guest RAM mapping,"
	echo "   at rest just before the migration and at its peak during it (VmHWM, reset before)"
	mrow "" "source" "" "" "destination" "" ""
	mrow "" "guest" "own" "peak" "guest" "own" "peak"
	n=0
	while read -r case; do
		n=$((n + 1))
		mrow "$case" "$(median "m${n}_sg")" "$(median "m${n}_sa")" "$(median "m${n}_sp")" \
			"$(median "m${n}_dg0") -> $(median "m${n}_dg1")" "$(median "m${n}_da")" "$(median "m${n}_dp")"
	done <"$tmp/mem.cases"
fi
