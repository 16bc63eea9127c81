#!/usr/bin/env bash
# Page map driven by real guests: MSR_KVM_MIGRATION_CONTROL through KVM's
# MSR-filter exits (incl. #GP for reserved bits), shared ranges through the
# test doorbell (same validation as the hypercall), and guest reset dropping
# the map to all-private.  With --test-doorbell lkvm prints its final map on
# stderr at exit; the checks below read the VMM's view from there.
. "$(dirname "$0")/../lib.sh"
need_kvm msr_roundtrip msr_absent_without_map doorbell_ranges doorbell_without_map \
	 reset_all_private
G=$GUESTS
run() { timeout 60 $LKVM run -m 256M "$@" >$T_TMP/out 2>$T_TMP/err; }
why() { echo "rc=$1 out: $(tr '\n' '|' <$T_TMP/out) err: $(tr '\n' '|' <$T_TMP/err)"; }

run -k $G/msr-migration --page-map --test-doorbell; rc=$?
if [ $rc -eq 100 ]; then
	skip msr_roundtrip "this host's KVM offers no user-space MSR filter or hypercall exit"
elif [ $rc -eq 0 ] && grep -q "msr-migration: ok" $T_TMP/out &&
     grep -q "msr 0x1, ready; became ready 2 time(s), withdrawn 2 time(s)" $T_TMP/err; then
	pass msr_roundtrip
else fail msr_roundtrip "$(why $rc)"; fi

# Without --page-map the MSR is unknown to KVM (#GP) and CPUID stays quiet.
run -k $G/msr-migration -p nopm=1; rc=$?
[ $rc -eq 0 ] && grep -q "msr-migration: ok" $T_TMP/out && pass msr_absent_without_map ||
	fail msr_absent_without_map "$(why $rc)"

run -k $G/doorbell-map --page-map --test-doorbell; rc=$?
if [ $rc -eq 0 ] && grep -q "doorbell-map: ok" $T_TMP/out &&
   grep -q "shared 0x000000100000-0x000000107fff          8 pages" $T_TMP/err &&
   grep -q "shared 0x000000109000-0x00000011ffff         23 pages" $T_TMP/err &&
   grep -q "shared 0x000000400000-0x0000005fffff        512 pages" $T_TMP/err &&
   grep -q "shared: 543 pages in 3 range(s); private: 64993 pages" $T_TMP/err
then pass doorbell_ranges
else fail doorbell_ranges "$(why $rc)"; fi

run -k $G/doorbell-map -p nopm=1 --test-doorbell; rc=$?
[ $rc -eq 0 ] && pass doorbell_without_map || fail doorbell_without_map "$(why $rc)"

# The guest checks its 543 shared pages are recorded, then resets the machine.
run -k $G/doorbell-map -p reset=1 --page-map --test-doorbell; rc=$?
if [ $rc -eq 0 ] && grep -q "doorbell-map: ok" $T_TMP/out && grep -q "guest reset" $T_TMP/err &&
   grep -q "shared: 0 pages in 0 range(s); private: 65536 pages" $T_TMP/err; then
	pass reset_all_private
else fail reset_all_private "$(why $rc)"; fi
t_done
