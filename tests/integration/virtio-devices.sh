#!/usr/bin/env bash
# virtio devices in real guests with small polling drivers (tests/guests/virtio-*.c):
# blk reads and writes checked on the host file, read-only enforcement, rng
# bytes, an MSI-X interrupt taken by the guest, INTx taken by the guest (Interrupt Disable
# and MSI-X on lower the pin, off again raise it), console output, net frames through a tap in a network namespace,
# and clear start-up errors for a missing disk or a bad --network value;
# a hostile driver (malformed rings and requests) stops the devices, not the VMM.
. "$(dirname "$0")/../lib.sh"
need_kvm blk_rw blk_readonly blk_missing_file rng hostile_driver msix_interrupt intx_interrupt console net_tap net_rx_split_header net_rx_frame_larger_than_buffer net_bad_option
G=$GUESTS

disk=$T_TMP/disk.img
head -c $((1024 * 1024)) /dev/urandom >"$disk"
out=$(timeout 60 $LKVM run -k $G/virtio-blk -d "$disk" 2>$T_TMP/err); rc=$?
sect() { dd if="$disk" bs=512 skip=$1 count=$2 2>/dev/null; }
if [ $rc -eq 0 ] && echo "$out" | grep -q "virtio-blk: ok" &&
   cmp -s <(sect 0 4) <(sect 16 4) && [ "$(sect 8 2 | tr -d L | wc -c)" -eq 0 ] &&
   [ "$(sect 8 2 | wc -c)" -eq 1024 ] && ! cmp -s <(sect 0 1) <(sect 10 1); then
	pass blk_rw
else
	fail blk_rw "rc=$rc out='$out' err=$(cat $T_TMP/err)"
fi

cp "$disk" "$T_TMP/disk.orig"
out=$(timeout 60 $LKVM run -k $G/virtio-blk -d "$disk,ro" -p ro=1 2>$T_TMP/err); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "write 16-19: status 1" &&
   cmp -s "$disk" "$T_TMP/disk.orig"; then
	pass blk_readonly
else
	fail blk_readonly "rc=$rc out='$out' err=$(cat $T_TMP/err)"
fi

timeout 20 $LKVM run -k $G/virtio-blk -d "$T_TMP/nope.img" >/dev/null 2>$T_TMP/err; rc=$?
if [ $rc -ne 0 ] && grep -q "disk $T_TMP/nope.img: cannot open read-write: No such file" $T_TMP/err
then pass blk_missing_file
else fail blk_missing_file "rc=$rc err=$(cat $T_TMP/err)"; fi

out=$(timeout 60 $LKVM run -k $G/virtio-rng --rng 2>$T_TMP/err); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "virtio-rng: ok"; then pass rng
else fail rng "rc=$rc out='$out' err=$(cat $T_TMP/err)"; fi

# A hostile driver (tests/guests/virtio-hostile.c): every malformed ring stops
# its device until a reset, the VMM lives on, and no bad request writes the disk.
cp "$T_TMP/disk.orig" "$T_TMP/hostile.img"
out=$(timeout 60 $LKVM run -k $G/virtio-hostile -m 64M --rng -d "$T_TMP/hostile.img" 2>$T_TMP/err); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "virtio-hostile: ok" &&
   cmp -s "$T_TMP/hostile.img" "$T_TMP/disk.orig" && grep -q "guest error" $T_TMP/err; then
	pass hostile_driver
else
	fail hostile_driver "rc=$rc out='$(echo "$out" | grep -v ': ok$')' err=$(tail -n 3 $T_TMP/err)"
fi

# MSI-X: the guest waits for the interrupt (routing + irqfd + LAPIC), not the ring.
out=$(timeout 60 $LKVM run -k $G/virtio-msix --rng 2>$T_TMP/err); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "virtio-msix: ok"; then pass msix_interrupt
else fail msix_interrupt "rc=$rc out='$out' err=$(cat $T_TMP/err)"; fi

out=$(timeout 60 $LKVM run -k $G/virtio-intx --rng 2>$T_TMP/err); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "virtio-intx: ok"; then pass intx_interrupt
else fail intx_interrupt "rc=$rc out='$out' err=$(cat $T_TMP/err)"; fi

out=$(timeout 60 $LKVM run -k $G/virtio-console --console virtio 2>$T_TMP/err); rc=$?
if [ $rc -eq 0 ] && [ "$out" = "hello through virtio-console" ]; then pass console
else fail console "rc=$rc out='$out' err=$(cat $T_TMP/err)"; fi

timeout 20 $LKVM run -k $G/virtio-net -n mode=user >/dev/null 2>$T_TMP/err; rc=$?
if [ $rc -ne 0 ] && [ "$(wc -l <$T_TMP/err)" -eq 1 ] && grep -q "only mode=tap" $T_TMP/err
then pass net_bad_option
else fail net_bad_option "rc=$rc err=$(cat $T_TMP/err)"; fi

# Net: the tap and its peer address live in a namespace of our own, so
# no frame leaves this test.
ns=lkvm-vnet-$$
if ! command -v ip >/dev/null; then
	for n in net_tap net_rx_split_header net_rx_frame_larger_than_buffer; do skip $n "iproute2 (ip) not installed"; done
elif ! ip netns add $ns 2>$T_TMP/nserr; then
	for n in net_tap net_rx_split_header net_rx_frame_larger_than_buffer; do skip $n "cannot create a network namespace: $(head -1 $T_TMP/nserr)"; done
elif ! ip netns exec $ns ip tuntap add dev lkvmtap0 mode tap 2>$T_TMP/nserr; then
	for n in net_tap net_rx_split_header net_rx_frame_larger_than_buffer; do skip $n "cannot create a tap device: $(head -1 $T_TMP/nserr)"; done
	ip netns del $ns
else
	ip netns exec $ns ip addr add 10.0.0.1/24 dev lkvmtap0
	ip netns exec $ns ip link set lkvmtap0 up
	out=$(timeout 60 ip netns exec $ns $LKVM run -k $G/virtio-net \
		-n mode=tap,tapif=lkvmtap0 2>$T_TMP/err); rc=$?
	# A receive chain whose first writable segment is the last byte of
	# RAM (16 MiB - 1): the header's num_buffers used to be written 9 bytes
	# past it, outside the host's mapping (lkvm died of SIGSEGV).
	out2=$(timeout 60 ip netns exec $ns $LKVM run -k $G/virtio-net -m 16M -p split=16777215 \
		-n mode=tap,tapif=lkvmtap0 2>$T_TMP/err2); rc2=$?
	# A frame larger than the receive buffer: cut to it, nothing past it written.
	out3=$(timeout 60 ip netns exec $ns $LKVM run -k $G/virtio-net -p small=1 \
		-n mode=tap,tapif=lkvmtap0 2>$T_TMP/err3); rc3=$?
	ip netns del $ns
	if [ $rc -eq 0 ] && echo "$out" | grep -q "virtio-net: ok"; then pass net_tap
	else fail net_tap "rc=$rc out='$out' err=$(cat $T_TMP/err)"; fi
	if [ $rc2 -eq 0 ] && echo "$out2" | grep -q "virtio-net: ok"; then pass net_rx_split_header
	else fail net_rx_split_header "rc=$rc2 out='$out2' err=$(tail -n 3 $T_TMP/err2)"; fi
	if [ $rc3 -eq 0 ] && echo "$out3" | grep -q "virtio-net: ok" &&
	   echo "$out3" | grep -q "32-byte buffer: used 32, canary intact"; then
		pass net_rx_frame_larger_than_buffer
	else
		fail net_rx_frame_larger_than_buffer "rc=$rc3 out='$out3' err=$(tail -n 3 $T_TMP/err3)"
	fi
fi
t_done
