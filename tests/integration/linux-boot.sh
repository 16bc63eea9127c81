#!/usr/bin/env bash
# bzImage boot path: the BIOS services through a synthetic bzImage whose
# setup code probes them (always runs), malformed images refused with one
# line, and the Debian cloud kernel's real-mode setup code printing its
# first message on the serial console (skipped when apt cannot fetch it).
. "$(dirname "$0")/../lib.sh"
need_kvm probe_bios_services probe_exit_status bad_images \
	linux_setup_message_bios linux_setup_message_uart linux_stops_cleanly
PROBE=$LKVM_BUILD/tests/bzimage/probe.bzimage

# ---- the probe: e820, e801/88, int 0x13 failure, header, initrd, cmdline, MP ----
head -c 5000 /dev/urandom > "$T_TMP/initrd.img"
out=$(timeout 60 "$LKVM" run -k "$PROBE" -m 64M -c 4 -i "$T_TMP/initrd.img" \
	-p "hello from lkvm" 2>"$T_TMP/err"); rc=$?
# What the loader must have built for 64 MiB (see docs/boot.md); the
# initrd goes as high as possible: page-aligned below the top of RAM.
want="bzimage-probe: real-mode setup running
e820 0000000000000000 000000000009fc00 00000001
e820 000000000009fc00 0000000000000400 00000002
e820 00000000000f0000 0000000000010000 00000002
e820 0000000000100000 0000000003f00000 00000001
e820 00000000fec00000 0000000001400000 00000002
e801 3c00 0300
ext88 fc00
int13 unsupported: CF set
loader ff 81 de00
initrd $(printf %08x $(( (0x4000000 - 5000) & ~0xfff ))) 00001388
cmdline \"hello from lkvm\"
mp cpus 0004
bzimage-probe: done"
if [ "$out" = "$want" ]; then pass probe_bios_services
else fail probe_bios_services "rc=$rc: got:
$out
--- want:
$want
--- stderr: $(cat "$T_TMP/err")"; fi
[ $rc -eq 0 ] && pass probe_exit_status || fail probe_exit_status "rc=$rc (the probe resets: want 0)"

# ---- malformed images: non-zero exit, one line naming the problem ----
bad_ok=1
mutate() {	# mutate NAME OFFSET HEXBYTES: a copy of the probe with bytes patched
	cp "$PROBE" "$T_TMP/$1"
	printf "$(echo "$3" | sed 's/../\\x&/g')" |
		dd of="$T_TMP/$1" bs=1 seek=$(($2)) conv=notrunc 2>/dev/null
}
expect_refused() {	# expect_refused FILE WORDS
	local rc
	timeout 20 "$LKVM" run -k "$T_TMP/$1" -m 64M >/dev/null 2>"$T_TMP/err.$1"; rc=$?
	if [ $rc -eq 0 ] || [ $rc -ge 124 ] || ! grep -q "kernel '$T_TMP/$1': bzImage: .*$2" "$T_TMP/err.$1"; then
		echo "# $1: rc=$rc: $(cat "$T_TMP/err.$1")"
		bad_ok=0
	fi
}
mutate old-proto 0x206 0502;		expect_refused old-proto "too old"
mutate bad-flag 0x1fe 55ab;		expect_refused bad-flag "boot_flag"
mutate big-setup 0x1f1 40;		expect_refused big-setup "setup_sects"
mutate big-sys 0x1f4 00000100;		expect_refused big-sys "syssize"
mutate zimage 0x211 00;			expect_refused zimage "LOADED_HIGH"
head -c 1000 "$PROBE" > "$T_TMP/truncated";	expect_refused truncated "truncated"
cp "$PROBE" "$T_TMP/long-cmdline"
timeout 20 "$LKVM" run -k "$T_TMP/long-cmdline" -m 64M -p "$(head -c 300 /dev/zero | tr '\0' x)" \
	>/dev/null 2>"$T_TMP/err.cmd" && bad_ok=0
grep -q "command line is 300 bytes; this kernel accepts at most 255" "$T_TMP/err.cmd" || bad_ok=0
truncate -s 63M "$T_TMP/big-initrd"
timeout 20 "$LKVM" run -k "$PROBE" -m 64M -i "$T_TMP/big-initrd" >/dev/null 2>"$T_TMP/err.rd" &&
	bad_ok=0
grep -q "kernel '$PROBE': bzImage: initrd '$T_TMP/big-initrd' is .* bytes; only .* fit" "$T_TMP/err.rd" || bad_ok=0
rm -f "$T_TMP/big-initrd"
[ $bad_ok -eq 1 ] && pass bad_images ||
	fail bad_images "$(cat "$T_TMP/err.cmd" "$T_TMP/err.rd")"

# ---- the Debian cloud kernel ----
if ! O="$LKVM_BUILD" "$LKVM_SRC/scripts/fetch-linux.sh" >"$T_TMP/fetch" 2>&1; then
	why="cannot fetch linux-image-cloud-amd64: $(tail -n 1 "$T_TMP/fetch")"
	skip linux_setup_message_bios "$why"
	skip linux_setup_message_uart "$why"
	skip linux_stops_cleanly "$why"
	t_done
fi
VMLINUZ=$LKVM_BUILD/linux/vmlinuz
MSG="early console in setup code"

# boot_linux NAME CMDLINE: start lkvm on the kernel, wait for the message.
boot_linux() {
	: > "$T_TMP/$1.out"
	bg_start LPID "$LKVM" run -k "$VMLINUZ" -m 128M -c 2 -p "$2" \
		>"$T_TMP/$1.out" 2>"$T_TMP/$1.err"
	wait_for 60 grep -q "$MSG" "$T_TMP/$1.out"
}

# 1. "console=ttyS0 debug": the setup code has no serial console of its own,
#    so the message can only arrive through the BIOS's int 0x10 teletype.
if boot_linux bios "console=ttyS0 debug"; then pass linux_setup_message_bios
else fail linux_setup_message_bios "no '$MSG' in 60 s: $(head -c 300 "$T_TMP/bios.out") / $(cat "$T_TMP/bios.err")"; fi
kill -TERM $LPID 2>/dev/null; wait $LPID 2>/dev/null

# 2. With earlyprintk the setup code drives the UART itself: the message
#    must appear exactly once (the BIOS stays quiet), not doubled.
if boot_linux uart "console=ttyS0 earlyprintk=serial,ttyS0,115200 debug" &&
   [ "$(grep -c "$MSG" "$T_TMP/uart.out")" -eq 1 ] && ! grep -q "eeaa" "$T_TMP/uart.out"; then
	pass linux_setup_message_uart
else fail linux_setup_message_uart "$(head -c 300 "$T_TMP/uart.out" | od -c | head -5) / $(cat "$T_TMP/uart.err")"; fi

# 3. The kernel then runs on (its decompressor alone takes over two minutes
#    on a software KVM host, which then cannot emulate some instruction the
#    kernel uses: see docs/boot.md).  Either
#    lkvm has ended by itself with a diagnosis, or it must stop promptly
#    and say why when asked to; never hang.
sleep 2
if kill -0 $LPID 2>/dev/null; then
	kill -TERM $LPID
	t0=$SECONDS
	wait $LPID; rc=$?
	waited=$((SECONDS - t0))
else
	wait $LPID; rc=$?
	waited=0
fi
if [ $rc -ne 0 ] && [ $waited -le 30 ] && grep -q "^lkvm" "$T_TMP/uart.err"; then
	pass linux_stops_cleanly
else fail linux_stops_cleanly "rc=$rc after ${waited}s: $(cat "$T_TMP/uart.err")"; fi
t_done
