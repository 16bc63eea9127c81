# Shared by bench/migrate.sh and bench/sevmig.sh (sourced from the top of
# the tree): BENCH_NEEDS lists what the caller runs from $O/bench.
set -u
O=${O:-build}
LKVM=${BENCH_LKVM:-$PWD/lkvm}	# BENCH_LKVM: another build (the "before" of a change)
for f in "$LKVM" ${BENCH_NEEDS:+$(printf "$O/bench/%s " $BENCH_NEEDS)}; do
	[ -x "$f" ] || { echo "$0: $f is missing: run 'make bench' (it builds the bench guests)" >&2; exit 1; }
done
SIZE_MB=${SIZE_MB:-1024}
CHANNELS=${CHANNELS:-}		# empty: lkvm's default (one per two CPUs, at least 2)
tmp=$(mktemp -d /tmp/lkvm-bench.XXXXXX)
export LKVM_DIR=$tmp/run
mkdir -p "$LKVM_DIR" && chmod 700 "$LKVM_DIR"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# stop_pair: end the source and destination of the last run.  TERM: lkvm
# exits cleanly on it (a KILL makes bash report "Killed").  Their output
# goes too: the next pair's shells truncate it only once they run, and
# wait_pair must not find this pair's "ready" before that.
stop_pair() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	pids=()
	rm -f "$tmp/src.out" "$tmp/src.err" "$tmp/dst.out" "$tmp/dst.err"
}

# wait_pair LABEL TRIES: until the source guest printed "ready" and the
# destination has faulted its RAM in (as for an operator who starts it
# ahead of time); the source is ${pids[0]}, the destination ${pids[1]}.
# Fails, saying why, if either exits or is not ready in TRIES tenths of a second.
wait_pair() {
	local label=$1 tries=$2
	for _ in $(seq "$tries"); do
		grep -q "ready" "$tmp/src.out" 2>/dev/null &&
			grep -q -e "faulted in" -e "cannot pre-fault" "$tmp/dst.err" && return 0
		kill -0 "${pids[0]}" 2>/dev/null || { echo "$label: source failed: $(tail -n 2 "$tmp/src.err")"; return 1; }
		kill -0 "${pids[1]}" 2>/dev/null ||
			{ echo "$label: destination failed: $(tail -n 2 "$tmp/dst.err")"; return 1; }
		sleep 0.1
	done
	echo "$label: source or destination not ready; destination said: $(tail -n 2 "$tmp/dst.err" | tr '\n' ' ')"
	return 1
}

# crc_level_of: the crc32 level lkvm runs at here (migration/crc32.c), as it says it.
crc_level_of() {
	local f=" $(grep -m1 '^flags' /proc/cpuinfo) " best
	if [[ $f != *" pclmulqdq "* || $f != *" sse4_1 "* ]]; then best="0 (zlib)"
	elif [[ $f != *" vpclmulqdq "* || $f != *" avx2 "* ]]; then best="1 (PCLMULQDQ)"
	elif [[ $f != *" avx512f "* ]]; then best="2 (VPCLMULQDQ with AVX2)"
	else best="3 (VPCLMULQDQ with AVX-512)"; fi
	if [ -n "${LKVM_CRC_LEVEL:-}" ]; then
		echo "LKVM_CRC_LEVEL=$LKVM_CRC_LEVEL (this CPU's best: level $best)"
	else
		echo "level $best, this CPU's best (LKVM_CRC_LEVEL unset)"
	fi
}

