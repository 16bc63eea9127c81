#!/usr/bin/env bash
# QEMU's live migration of the same guests bench/migrate.sh migrates with
# lkvm (the PVH idle guest, RAM zero or filled from a random initrd), over
# loopback, without a bandwidth cap, plain and with multifd, and with the
# destination's RAM preallocated (-mem-prealloc) as lkvm's is; driven through
# the HMP monitor on a TCP port.  Prints total time and downtime as QEMU
# reports them.  With the openssl CLI, also over TLS (tls-creds-x509 with a
# throwaway CA made here), the reference for lkvm's sealed stream (--key).
# Each completed migration is followed by the memory both QEMUs used beside
# their guest RAM (bench/mem.sh).
#   bench/migrate-qemu.sh GUEST SIZE_MB CHANNELS REPEAT [RANDOM_IMG]
#   QEMU_TLS=0: not over TLS
set -u
. "$(dirname "$0")/mem.sh"
GUEST=$1 SIZE_MB=$2 CHANNELS=$3 REPEAT=$4 IMG=${5:-}
Q=qemu-system-x86_64
tmp=$(mktemp -d /tmp/lkvm-qbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# hmp PORT CMD: one monitor command, its output without terminal escapes.
hmp() {
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
	echo "$2" >&$fd
	sleep 0.2
	timeout 0.3 cat <&$fd | tr -d '\r' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g'
	exec {fd}>&-
}

# make_certs DIR: a CA, and a server and a client certificate it signed, in
# the file names tls-creds-x509 reads from its dir; valid one day, for
# 127.0.0.1 (QEMU checks the address it connects to against the server's).
make_certs() {
	local d=$1 who
	mkdir -p "$d" && chmod 700 "$d" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj "/CN=lkvm bench CA" -keyout "$d/ca-key.pem" -out "$d/ca-cert.pem" 2>/dev/null || return 1
	for who in server client; do
		printf 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=%s\n' \
			"$([ $who = server ] && echo serverAuth || echo clientAuth)" >"$d/$who.ext"
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$who" \
			-keyout "$d/$who-key.pem" -out "$d/$who.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/$who.csr" -CA "$d/ca-cert.pem" -CAkey "$d/ca-key.pem" \
			-CAcreateserial -days 1 -extfile "$d/$who.ext" -out "$d/$who-cert.pem" 2>/dev/null ||
			return 1
	done
}

run_case() {	# LABEL MULTIFD PREALLOC MEM [initrd args]; TLS=1: over TLS ($tmp/pki)
	local label=$1 multifd=$2 prealloc=$3 mem=$4; shift 4
	local mp=$((30000 + RANDOM % 20000)) sp dp info t d tls=${TLS:-0}
	sp=$((mp + 1)); dp=$((mp + 2))
	local common=(-accel kvm -m "$mem" -nographic -nodefaults -kernel "$GUEST" "$@")
	rm -f "$tmp"/src.* "$tmp"/dst.*
	$Q "${common[@]}" -serial "file:$tmp/src.out" -monitor "tcp:127.0.0.1:$sp,server,nowait" \
		$([ "$tls" = 1 ] && echo "-object tls-creds-x509,id=tls0,dir=$tmp/pki,endpoint=client") \
		>/dev/null 2>"$tmp/src.err" &
	pids+=($!)
	$Q "${common[@]}" -serial "file:$tmp/dst.out" -monitor "tcp:127.0.0.1:$dp,server,nowait" \
		$([ "$tls" = 1 ] && echo "-object tls-creds-x509,id=tls0,dir=$tmp/pki,endpoint=server") \
		-incoming defer $([ "$prealloc" = 1 ] && echo -mem-prealloc) >/dev/null 2>"$tmp/dst.err" &
	pids+=($!)
	for _ in $(seq 300); do grep -q ready "$tmp/src.out" 2>/dev/null && break; sleep 0.1; done
	# The destination's monitor opens once its RAM is set up (-mem-prealloc: faulted in).
	for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$dp") 2>/dev/null && break; sleep 0.1; done
	if ! grep -q ready "$tmp/src.out" 2>/dev/null; then
		echo "  $label: QEMU guest did not start: $(tail -n 1 "$tmp/src.err")"
	else
		if [ "$multifd" = 1 ]; then
			for p in $sp $dp; do
				hmp $p "migrate_set_capability multifd on" >/dev/null
				hmp $p "migrate_set_parameter multifd-channels $CHANNELS" >/dev/null
			done
		fi
		if [ "$tls" = 1 ]; then
			for p in $sp $dp; do
				hmp $p "migrate_set_parameter tls-creds tls0" >/dev/null
				hmp $p "info migrate_parameters" | grep -q "tls-creds: '\?tls0'\?$" ||
					echo "  $label: tls-creds did not take on port $p"
			done
		fi
		hmp $sp "migrate_set_parameter max-bandwidth 1T" >/dev/null
		hmp $sp "migrate_set_parameter downtime-limit 30" >/dev/null
		hmp $dp "migrate_incoming tcp:127.0.0.1:$mp" >/dev/null
		mem_before "${pids[0]}" "${pids[1]}" "$tmp"
		hmp $sp "migrate -d tcp:127.0.0.1:$mp" >/dev/null
		for _ in $(seq 600); do
			info=$(hmp $sp "info migrate")
			echo "$info" | grep -q "Migration status: \(completed\|failed\)" && break
			sleep 0.1
		done
		t=$(echo "$info" | sed -n 's/^total time: \([0-9]*\) ms.*/\1/p')
		d=$(echo "$info" | sed -n 's/^downtime: \([0-9]*\) ms.*/\1/p')
		if echo "$info" | grep -q "status: completed"; then
			printf "  %s: total %.3f s, downtime %s ms\n" "$label" "$(echo "$t / 1000" | bc -l)" "$d"
			mem_after "${pids[0]}" "${pids[1]}" "$label"
		else
			mem_watch_stop
			echo "  $label: QEMU migration did not complete: $(echo "$info" | grep -i status)" \
				"$(tail -n 1 "$tmp/src.err")"
		fi
	fi
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	pids=()
}

echo "-- QEMU ($($Q --version | head -n 1)), same guest and RAM, no bandwidth cap:"
for i in $(seq "$REPEAT"); do run_case "QEMU zero RAM ${SIZE_MB} MiB #$i" 0 0 "${SIZE_MB}M"; done
if [ -n "$IMG" ]; then
	mem=$((SIZE_MB * 2 + 64))M
	for i in $(seq "$REPEAT"); do
		run_case "QEMU random RAM ${SIZE_MB} MiB #$i" 0 0 "$mem" -initrd "$IMG"
	done
	for i in $(seq "$REPEAT"); do
		run_case "QEMU random RAM ${SIZE_MB} MiB, multifd $CHANNELS channels #$i" 1 0 "$mem" -initrd "$IMG"
	done
	# lkvm's destination faults its RAM in while it waits: QEMU's
	# equivalent is -mem-prealloc on the destination.
	for i in $(seq "$REPEAT"); do
		run_case "QEMU random RAM ${SIZE_MB} MiB, destination -mem-prealloc #$i" 0 1 "$mem" -initrd "$IMG"
	done
	for i in $(seq "$REPEAT"); do
		run_case "QEMU random RAM ${SIZE_MB} MiB, multifd $CHANNELS channels, destination -mem-prealloc #$i" \
			1 1 "$mem" -initrd "$IMG"
	done
	# Over TLS (what lkvm --key is to lkvm), with the destination
	# preallocating; without -mem-prealloc it measures page faults as above.
	if [ "${QEMU_TLS:-1}" = 0 ]; then
		:	# bench/migrate.sh ONLY=memory
	elif ! command -v openssl >/dev/null || ! make_certs "$tmp/pki"; then
		echo "  QEMU over TLS: skipped (no openssl CLI, or it could not make certificates)"
	else
		for i in $(seq "$REPEAT"); do
			TLS=1 run_case "QEMU random RAM ${SIZE_MB} MiB, TLS, destination -mem-prealloc #$i" \
				0 1 "$mem" -initrd "$IMG"
			TLS=1 run_case "QEMU random RAM ${SIZE_MB} MiB, TLS, multifd $CHANNELS channels, destination -mem-prealloc #$i" \
				1 1 "$mem" -initrd "$IMG"
		done
	fi
fi
