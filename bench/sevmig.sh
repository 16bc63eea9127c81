#!/usr/bin/env bash
# SEV live migration bench (issue 6, "what it must show" 4): a 1 GiB SEV
# guest on the firmware model migrated between two local instances (two
# model platforms), every private page through SEND_UPDATE_DATA and
# RECEIVE_UPDATE_DATA; printed beside the plain migration of the same
# idle guest and RAM size in the same run.
#
#   bench/sevmig.sh            (make bench)
#   SIZE_MB=256 CHANNELS=2 bench/sevmig.sh
cd "$(dirname "$0")/.."
BENCH_NEEDS="sevmig-idle idle-guest"
. bench/lib.sh

if [ ! -w /dev/kvm ] || ! "$LKVM" help 2>&1 | grep -q '^ *migrate '; then
	echo "SEV migration bench skipped: needs /dev/kvm and lkvm migrate"
	exit 0
fi
echo "== lkvm SEV migration bench: ${SIZE_MB} MiB, ${CHANNELS:-default} channel(s), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# bench LABEL GUEST SRC_ARGS -- DST_ARGS: migrate once, print the summary.
bench() {
	local label=$1 guest=$2 port=$((30000 + RANDOM % 30000)) out src=() dst=(); shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do src+=("$1"); shift; done
	shift; dst=("$@")
	"$LKVM" run -k "$guest" --name b-src -m "${SIZE_MB}M" "${src[@]}" >"$tmp/src.out" 2>"$tmp/src.err" &
	pids+=($!)
	"$LKVM" run --name b-dst -m "${SIZE_MB}M" --incoming "127.0.0.1:$port" "${dst[@]}" \
		>"$tmp/dst.out" 2>"$tmp/dst.err" &
	pids+=($!)
	wait_pair "$label" 1200 || { stop_pair; return 1; }
	out=$("$LKVM" migrate --name b-src --to "127.0.0.1:$port" ${CHANNELS:+--channels "$CHANNELS"} --json --quiet)
	echo "$label: $out"
	if ! grep -q '"status":"completed"' <<<"$out"; then
		echo "  $label: FAILED"
		stop_pair
		return 1
	fi
	echo "$out" | sed -n 's/.*"total_ms":\([0-9.]*\).*"downtime_ms":\([0-9.]*\).*"bytes":\([0-9]*\).*"pages_encrypted":\([0-9]*\).*/\1 \2 \3 \4/p' |
		awk -v mb="$SIZE_MB" -v l="$label" '{ s = $1 / 1000;
			printf "  %s: total %.3f s, downtime %.1f ms, %.0f MB/s of guest RAM, %.0f MB/s on the wire", l, s, $2, mb * 1048576 / s / 1e6, $3 / s / 1e6;
			if ($4 > 0) printf ", %d encrypted pages = %.0f pages/s (%.0f MB/s)", $4, $4 / s, $4 * 4096 / s / 1e6;
			printf "\n" }'
	stop_pair
}

bench "plain, zero RAM" "$O/bench/idle-guest" --
head -c $((SIZE_MB << 19)) /dev/urandom >"$tmp/random.img"
bench "plain, half random RAM (initrd)" "$O/bench/idle-guest" -i "$tmp/random.img" --
bench "SEV model, every page private" "$O/bench/sevmig-idle" \
	--sev=emulated --sev-state "$tmp/plat-a" -- --sev=emulated --sev-state "$tmp/plat-b"
echo "(SEV: a private page is never read by the VMM, so none is sent as a zero page; the"
echo " model's cost is AES-128-CTR + HMAC-SHA256 per page on each side plus one firmware"
echo " command per page, as on hardware where each is a PSP command: sev-facts 4.6)"
