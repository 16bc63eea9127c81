#!/usr/bin/env bash
# virtio in an SEV guest (issue 7, "what it must show" 4), on the SEV firmware
# model: ACCESS_PLATFORM offered and required, rings and buffers in private
# memory refused (device stopped, VMM alive, nothing written), and the
# device working once the guest has declared them shared (page map through
# the test doorbell, since this host's KVM never delivers the hypercall).
. "$(dirname "$0")/../lib.sh"
need_kvm sev_shared_only
out=$(timeout 60 $LKVM run -k $GUESTS/virtio-sev --sev=emulated --test-doorbell --rng \
	2>$T_TMP/err); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "virtio-sev: ok" &&
   grep -q "virtio-rng: queue 0: guest error" $T_TMP/err &&
   grep -q "shared: 2 pages" $T_TMP/err; then
	pass sev_shared_only
else
	fail sev_shared_only "rc=$rc out='$out' err=$(tr '\n' ' ' <$T_TMP/err)"
fi
t_done
