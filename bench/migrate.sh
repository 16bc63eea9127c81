#!/usr/bin/env bash
# Live migration bench (issue 5, "what it must show" 6): a guest with 1 GiB
# of random RAM (an initrd of random bytes) and one with 1 GiB of zero RAM,
# migrated between two local lkvm instances over loopback; total time,
# throughput and downtime beside raw single-stream loopback TCP measured in
# the same run, and beside QEMU when qemu-system-x86_64 is installed.
#
#   bench/migrate.sh            (make bench)
#   SIZE_MB=256 CHANNELS=2 REPEAT=3 bench/migrate.sh
set -u
cd "$(dirname "$0")/.."
O=${O:-build}
LKVM=$PWD/lkvm
SIZE_MB=${SIZE_MB:-1024}
CHANNELS=${CHANNELS:-2}
REPEAT=${REPEAT:-3}
tmp=$(mktemp -d /tmp/lkvm-bench.XXXXXX)
export LKVM_DIR=$tmp/run
mkdir -p "$LKVM_DIR" && chmod 700 "$LKVM_DIR"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

echo "== lkvm migration bench: ${SIZE_MB} MiB, $CHANNELS channel(s), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "-- the RAM stream alone (no VM), beside raw loopback TCP in the same process:"
"$O/bench/migrate-ram-loopback" "$SIZE_MB" "$CHANNELS"
"$O/bench/migrate-ram-loopback" "$SIZE_MB" "$CHANNELS" zero | grep -v raw

if ! "$LKVM" help 2>&1 | grep -q '^ *migrate '; then
	echo "lkvm migrate is not built here (needs the control socket): VM benches skipped"
	exit 0
fi
if [ ! -w /dev/kvm ]; then
	echo "/dev/kvm is not usable: VM benches skipped"
	exit 0
fi

# guest_bench LABEL RUN_ARGS...: migrate the idle bench guest, print the JSON summary.
guest_bench() {
	local label=$1 port=$((30000 + RANDOM % 30000)) out; shift
	"$LKVM" run -k "$O/bench/idle-guest" --name "b-src" "$@" \
		>"$tmp/src.out" 2>"$tmp/src.err" &
	pids+=($!)
	"$LKVM" run --name "b-dst" --incoming "127.0.0.1:$port" \
		$(printf '%s\n' "$@" | grep -v -- '^-i$' | grep -v '\.img$') \
		>"$tmp/dst.out" 2>"$tmp/dst.err" &
	pids+=($!)
	for _ in $(seq 600); do
		grep -q "ready" "$tmp/src.out" 2>/dev/null && grep -q "waiting for the source" "$tmp/dst.err" && break
		kill -0 "${pids[0]}" 2>/dev/null || { echo "$label: source failed: $(tail -n 2 "$tmp/src.err")"; break; }
		sleep 0.1
	done
	out=$("$LKVM" migrate --name b-src --to "127.0.0.1:$port" --channels "$CHANNELS" --json --quiet)
	echo "$label: $out"
	echo "$out" | sed -n 's/.*"total_ms":\([0-9.]*\).*"downtime_ms":\([0-9.]*\).*"bytes":\([0-9]*\).*/\1 \2 \3/p' |
		awk -v mb="$SIZE_MB" -v l="$label" '{ printf "  %s: total %.3f s, downtime %.1f ms, %.0f MB/s of guest RAM, %.0f MB/s on the wire\n", l, $1/1000, $2, mb*1048576/($1/1000)/1e6, $3/($1/1000)/1e6 }'
	# TERM: lkvm exits cleanly on it (a KILL makes bash report "Killed").
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	pids=()
}

# The PVH loader puts an initrd in the upper half of low memory.
mem=$((SIZE_MB * 2 + 64))M
echo
echo "-- live migration of a VM between two local instances:"
for i in $(seq "$REPEAT"); do guest_bench "zero RAM ${SIZE_MB} MiB #$i" -m "${SIZE_MB}M"; done
head -c $((SIZE_MB << 20)) /dev/urandom >"$tmp/random.img"
for i in $(seq "$REPEAT"); do
	guest_bench "random RAM ${SIZE_MB} MiB (initrd) #$i" -m "$mem" -i "$tmp/random.img"
done

echo
if command -v qemu-system-x86_64 >/dev/null; then
	bench/migrate-qemu.sh "$O/bench/idle-guest" "$SIZE_MB" "$CHANNELS" "$REPEAT" "$tmp/random.img" 2>&1 |
		grep -v -e 'Killed' -e 'connect:'
else
	echo "-- qemu-system-x86_64 is not installed; reference figures for this kind of machine"
	echo "   (shared/reference/host-kvm.md): QEMU 7.2, 1 GiB random RAM: 0.71-0.81 s;"
	echo "   multifd 2 channels: 0.45-0.48 s; 1 GiB zero RAM: ~0.10 s, downtime 5 ms."
fi
