#!/usr/bin/env bash
# Two lkvm binaries against each other: interleaved whole-VM migrations of
# the idle bench guest with SIZE_MB of random RAM, one binary's pair right
# after the other's, so both see the same host load (a change worth a few
# percent is lost in this host's drift between separate bench runs).  Each
# binary migrates to itself: their streams need not be compatible.
#
#   bench/migrate-ab.sh OLD_LKVM [NEW_LKVM] [-- lkvm migrate options]
#   KEY=1 N=6 bench/migrate-ab.sh /tmp/old/lkvm -- --channels 1
#
# Either binary may be a wrapper script that sets LKVM_CRC_LEVEL (or other
# environment) and execs an lkvm: docs/migration.md, "On CPUs without AVX-512".
#
# NEW_LKVM defaults to this tree's lkvm.  KEY=1: sealed (--key and
# --incoming-key).  N pairs (default 6).  Prints each binary's median and
# every run's total time, and in how many pairs NEW was faster; a failed
# migration is shown and not counted.
usage() { echo "usage: bench/migrate-ab.sh OLD_LKVM [NEW_LKVM] [-- lkvm migrate options]" >&2; exit 2; }
# The binaries as the caller named them, from the caller's directory: before
# the cd to the tree, which would turn ./lkvm into this tree's own.
[ $# -ge 1 ] && [ "$1" != -- ] || usage
old=$(realpath "$1") || usage; shift
new=$(realpath "$(dirname "$0")/../lkvm")
if [ $# -ge 1 ] && [ "$1" != -- ]; then new=$(realpath "$1") || usage; shift; fi
[ $# -eq 0 ] || { [ "$1" = -- ] && shift; } || usage
for b in "$old" "$new"; do
	[ -x "$b" ] || { echo "bench/migrate-ab.sh: $b is not an executable" >&2; exit 2; }
done
cd "$(dirname "$0")/.."
BENCH_NEEDS="idle-guest"
. bench/lib.sh
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "/dev/kvm is not usable: nothing to bench"
	exit 0
fi
N=${N:-6}
mem=$((SIZE_MB * 2 + 64))M	# the PVH loader puts an initrd in the upper half
keyargs_dst=() keyargs_src=()
if [ "${KEY:-0}" = 1 ]; then
	(umask 077; head -c 32 /dev/urandom >"$tmp/mig.key")
	keyargs_dst=(--incoming-key "$tmp/mig.key")
	keyargs_src=(--key "$tmp/mig.key")
fi
head -c $((SIZE_MB << 20)) /dev/urandom >"$tmp/random.img"

# one BIN TAG PAIR [migrate options]: one migration; appends "TAG PAIR MS" to $tmp/figures.
one() {
	local bin=$1 tag=$2 pair=$3 port=$((30000 + RANDOM % 30000)) out ms
	shift 3
	"$bin" run -k "$O/bench/idle-guest" --name b-src -m "$mem" -i "$tmp/random.img" \
		>"$tmp/src.out" 2>"$tmp/src.err" &
	pids+=($!)
	"$bin" run --name b-dst --incoming "127.0.0.1:$port" "${keyargs_dst[@]}" -m "$mem" \
		>"$tmp/dst.out" 2>"$tmp/dst.err" &
	pids+=($!)
	wait_pair "$tag #$pair" 600 || { stop_pair; return; }
	out=$("$bin" migrate --name b-src --to "127.0.0.1:$port" "${keyargs_src[@]}" "$@" \
		--json --quiet)
	ms=$(sed -n 's/.*"total_ms":\([0-9.]*\).*/\1/p' <<<"$out")
	if grep -q '"status":"completed"' <<<"$out" && [ -n "$ms" ]; then
		echo "$tag $pair $ms" >>"$tmp/figures"
		echo "  $tag #$pair: $ms ms"
	else
		echo "  $tag #$pair: FAILED, not counted: $out"
	fi
	stop_pair
}

shift_args=("$@")
echo "A/B: $SIZE_MB MiB random RAM, $N pairs, $([ "${KEY:-0}" = 1 ] && echo sealed || echo clear), migrate options: ${shift_args[*]:-(none)}"
echo "  old: $old"
echo "  new: $new"
echo "  page crc32 unless a wrapper sets LKVM_CRC_LEVEL: $(crc_level_of)"
for i in $(seq "$N"); do
	# Alternate which goes first: the first of two runs may see a cooler host.
	if [ $((i % 2)) = 1 ]; then
		one "$old" old "$i" "${shift_args[@]}"; one "$new" new "$i" "${shift_args[@]}"
	else
		one "$new" new "$i" "${shift_args[@]}"; one "$old" old "$i" "${shift_args[@]}"
	fi
done
touch "$tmp/figures"
for t in old new; do
	awk -v t=$t '$1 == t { print $3 }' "$tmp/figures" | sort -n |
		awk -v t=$t '{ a[NR] = $1 } END {
			if (!NR) { printf "%s: no completed run\n", t; exit }
			printf "%s: median %.1f ms over %d runs:", t,
				NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2, NR
			for (i = 1; i <= NR; i++) printf " %.0f", a[i]
			print "" }'
done
awk '{ ms[$2, $1] = $3; p[$2] = 1 } END {
	for (i in p) if ((i, "old") in ms && (i, "new") in ms) { n++; if (ms[i, "new"] < ms[i, "old"]) w++ }
	printf "new faster in %d of %d complete pairs\n", w, n; exit !n }' "$tmp/figures"
