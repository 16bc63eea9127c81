# The memory a migration costs, for bench/migrate.sh (lkvm) and
# bench/migrate-qemu.sh (QEMU): the same code reads both (sourced).
#
# Both lkvm and QEMU map guest RAM as one anonymous region (here: of -m's size),
# so a VMM's resident memory splits into that region's resident part and
# the rest, the VMM's own.  The peak is the kernel's VmHWM after a reset
# (clear_refs 5) just before the migration, so the boot's own peak (an
# initrd read in whole) does not count.

# mem_guest_kb PID: "RSS SIZE" in KiB of PID's largest mapping (its guest RAM).
mem_guest_kb() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { size = 0 } /^Size:/ { size = $2 }
	     /^Rss:/ { if (size > best) { best = size; rss = $2 } } END { print rss + 0, best + 0 }' \
		"/proc/$1/smaps" 2>/dev/null
}

# mem_rss_kb PID: sets mem_rss and mem_hwm (KiB) to PID's VmRSS and VmHWM
# (empty once it is gone); no fork, for the watcher's sake.
mem_rss_kb() {
	local k v
	mem_rss= mem_hwm=
	while read -r k v _; do
		case $k in VmRSS:) mem_rss=$v;; VmHWM:) mem_hwm=$v;; esac
	done 2>/dev/null <"/proc/$1/status"
	[ -n "$mem_rss" ] && [ -n "$mem_hwm" ]
}

# mem_watch_start PID FILE: reset PID's peak RSS, then until PID exits or
# mem_watch_stop, read its "VmRSS VmHWM" every 50 ms and write the last
# reading to FILE as it ends (a source VMM exits as its migration
# completes: its last reading is its peak).  Sets mem_watcher.
mem_watch_start() {
	echo 5 >"/proc/$1/clear_refs" 2>/dev/null
	rm -f "$2" "$2.fifo"
	mkfifo "$2.fifo"
	(
		last=
		trap 'echo "$last" >"$2.new"; mv -f "$2.new" "$2"; exit 0' TERM
		exec {sl}<>"$2.fifo"	# read -t on it: a sleep without a fork
		while mem_rss_kb "$1"; do
			last="$mem_rss $mem_hwm"
			read -r -t 0.05 -u "$sl"
		done
		echo "$last" >"$2.new"; mv -f "$2.new" "$2"
	) &
	mem_watcher=$!
}

# mem_watch_stop: end the last watcher and wait (up to a second) for its
# FILE, which then holds its last reading.  By the file, not by wait: a
# caller in a pipeline is a subshell, whose wait does not know the watcher.
mem_watch_stop() {
	local i
	kill -TERM "$mem_watcher" 2>/dev/null
	for i in $(seq 100); do
		[ -e "$mem_dir/mem.src" ] && break
		sleep 0.01
	done
	rm -f "$mem_dir/mem.src.fifo"
}

# mem_before SRC_PID DST_PID DIR: both VMMs at rest, just before the
# migration (guest RAM and the rest, KiB); resets both peaks and starts
# watching the source.  DIR: a directory for the watcher's file.
mem_before() {
	mem_dir=$3
	read -r mem_sg _ < <(mem_guest_kb "$1")
	read -r mem_dg0 _ < <(mem_guest_kb "$2")
	mem_rss_kb "$1"; mem_s0=$mem_rss
	mem_rss_kb "$2"; mem_d0=$mem_rss
	echo 5 >"/proc/$2/clear_refs" 2>/dev/null
	mem_watch_start "$1" "$mem_dir/mem.src"
}

# mem_after SRC_PID DST_PID LABEL: once the migration ended, prints
#   "  memory, LABEL: source guest RAM G MiB resident, own O MiB before, P at peak;
#    destination guest RAM G0 -> G1 MiB resident, own O MiB before, P at peak"
# (one line).  "Own" is resident memory outside the guest RAM mapping.  The
# source's guest RAM is taken as it was before (a migration reads it, and a
# read of a page never written maps the shared zero page, which is not
# resident); the destination's is read after, so where guest RAM fills
# during the migration (QEMU without -mem-prealloc) its peak "own" is a
# lower bound: peak RSS minus guest RAM at the end.
mem_after() {
	local s1 shwm d1 dhwm dg1
	mem_watch_stop
	read -r s1 shwm <"$mem_dir/mem.src" 2>/dev/null
	mem_rss_kb "$2"; d1=$mem_rss dhwm=$mem_hwm
	read -r dg1 _ < <(mem_guest_kb "$2")
	awk -v l="$3" -v sg="$mem_sg" -v s0="$mem_s0" -v sh="${shwm:-}" -v dg0="$mem_dg0" \
	    -v d0="$mem_d0" -v dh="${dhwm:-}" -v dg1="${dg1:-}" 'BEGIN {
		m = 1024
		printf "  memory, %s: source guest RAM %.1f MiB resident, own %.1f MiB before, %s at peak;",
			l, sg / m, (s0 - sg) / m, sh == "" ? "-" : sprintf("%.1f", (sh - sg) / m)
		printf " destination guest RAM %.1f -> %s MiB resident, own %.1f MiB before, %s at peak\n",
			dg0 / m, dg1 == "" ? "-" : sprintf("%.1f", dg1 / m), (d0 - dg0) / m,
			dh == "" || dg1 == "" ? "-" : sprintf("%.1f", (dh - dg1) / m) }'
}
