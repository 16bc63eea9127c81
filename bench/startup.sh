#!/usr/bin/env bash
# Start-up cost of lkvm: wall time and peak RSS of `lkvm run` for a guest
# that powers off at once, over N runs (median, min, max).  With
# KVMTOOL=/path/to/kvmtool-lkvm the same figures for kvmtool on a 37-byte
# flat real-mode guest that prints and resets, measured in the same run.
#   bench/startup.sh [N]
set -u
cd "$(dirname "$0")/.."
N=${1:-30}
TIME=/usr/bin/time
[ -x $TIME ] || { echo "bench/startup: needs GNU time (apt-get install time)" >&2; exit 1; }
[ -x ./lkvm ] && [ -f tests/guests/hello ] || make -s all >/dev/null

measure() {	# label cmd... -> prints "label: median/min/max ms, peak RSS KiB"
	local label=$1; shift
	local i t
	: > /tmp/lkvm-bench.$$
	for i in $(seq "$N"); do
		t0=$(date +%s%N)
		$TIME -f "%M" -o /tmp/lkvm-bench.t.$$ "$@" >/dev/null 2>&1 </dev/null
		t1=$(date +%s%N)
		echo "$(( (t1 - t0) / 1000 )) $(cat /tmp/lkvm-bench.t.$$)" >> /tmp/lkvm-bench.$$
	done
	sort -n -k1 /tmp/lkvm-bench.$$ | awk -v l="$label" -v n="$N" '
		{ t[NR] = $1 / 1000; r[NR] = $2; if ($2 > maxr) maxr = $2 }
		END { printf "%-34s median %6.1f ms  min %6.1f  max %6.1f  peak RSS %6d KiB  (%d runs)\n",
		      l, t[int((NR + 1) / 2)], t[1], t[NR], maxr, n }'
	rm -f /tmp/lkvm-bench.$$ /tmp/lkvm-bench.t.$$
}

echo "start-up: lkvm run of a guest that powers off at once"
measure "lkvm (tests/guests/hello, 256M)" ./lkvm run -k tests/guests/hello
measure "lkvm (tests/guests/hello, 4G)" ./lkvm run -k tests/guests/hello -m 4G
measure "lkvm (tests/guests/smp, 4 cpus)" ./lkvm run -k tests/guests/smp -c 4 -p cpus=4
if [ -n "${KVMTOOL:-}" ]; then
	d=$(mktemp -d)
	# 37 bytes: print "Hello from kvmtool\n" on COM1, then reset through the i8042.
	cat > $d/flat.S <<'ASM'
	.code16
	.globl _start
_start:	mov $0x3f8, %dx
	mov $msg, %si
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	mov $0xfe, %al
	out %al, $0x64
	hlt
msg:	.asciz "Hi kvmtool\n"
ASM
	as --32 -o $d/flat.o $d/flat.S && ld -m elf_i386 -Ttext=0 --oformat binary -o $d/flat.bin $d/flat.o
	echo "flat guest: $(stat -c %s $d/flat.bin) bytes"
	# A run that fails would time only the failure: check one run first.
	if out=$("$KVMTOOL" run -k $d/flat.bin -m 256 2>&1 </dev/null) && echo "$out" | grep -q "Hi kvmtool"; then
		measure "kvmtool (flat guest, 256M)" "$KVMTOOL" run -k $d/flat.bin -m 256
	else
		echo "kvmtool (flat guest, 256M)         not measured: it failed on this host:"
		echo "$out" | grep -iE 'error|fatal' | sed 's/^ */    /'
	fi
	rm -rf "$d"
else
	echo "kvmtool: not measured (set KVMTOOL=/path/to/kvmtool's lkvm binary)"
fi
