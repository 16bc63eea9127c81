#!/usr/bin/env bash
# KVM_HC_MAP_GPA_RANGE from a guest's vmmcall through KVM_EXIT_HYPERCALL.
# Hosts whose KVM never delivers the exit (the software-emulated CI host:
# the vCPU spins on the instruction) are detected with a short timeout and
# the test skips, saying so.  The handler itself is covered by test-page-map.
. "$(dirname "$0")/../lib.sh"
need_kvm hypercall_vmmcall
G=$GUESTS

bg_start pid $LKVM run -m 256M -k $G/hypercall-map --page-map --test-doorbell \
	>$T_TMP/out 2>$T_TMP/err
if ! wait_for 30 grep -q "issuing vmmcall" $T_TMP/out; then
	fail hypercall_vmmcall "guest never started: $(tr '\n' '|' <$T_TMP/err)"
elif ! wait_for 3 grep -q "hypercall-map: returned" $T_TMP/out; then
	kill -9 $pid 2>/dev/null
	skip hypercall_vmmcall "this host's KVM never delivers KVM_EXIT_HYPERCALL (vCPU still in vmmcall after 3 s)"
else
	wait $pid; rc=$?
	if [ $rc -eq 0 ] && grep -q "hypercall-map: ok" $T_TMP/out; then pass hypercall_vmmcall
	else fail hypercall_vmmcall "rc=$rc out: $(tr '\n' '|' <$T_TMP/out)"; fi
fi
t_done
