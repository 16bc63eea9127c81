#!/usr/bin/env bash
# lkvm run: guest output, exit status, failure diagnosis, bad kernels, initrd.
. "$(dirname "$0")/../lib.sh"
need_kvm hello exit_status triple_fault bad_insn cpuid_mask cpuid_mask_no_leaf initrd initrd_most_of_ram initrd_read_stops std_fds_closed numbers_and_empty_params vcpu_threads_all_or_none background_job
G=$GUESTS

out=$($LKVM run -k $G/hello 2>$T_TMP/err); rc=$?
if [ $rc -eq 0 ] && [ "$out" = "Hello from an lkvm guest!" ]; then pass hello
else fail hello "rc=$rc out='$out' err=$(cat $T_TMP/err)"; fi

$LKVM run -k $G/exit-status -p status=7 >/dev/null 2>&1; rc=$?
# 256 does not fit a process status: 255 and a note, not 0 (success).
$LKVM run -k $G/exit-status -p status=256 >/dev/null 2>$T_TMP/err; rc2=$?
[ $rc -eq 7 ] && [ $rc2 -eq 255 ] && grep -q "status 256 (exit status 255: more than 8 bits)" $T_TMP/err &&
	pass exit_status || fail exit_status "rc=$rc, want 7; rc=$rc2, want 255: $(cat $T_TMP/err)"

$LKVM run -k $G/triple-fault >/dev/null 2>$T_TMP/err; rc=$?
if [ $rc -ne 0 ] && grep -q "triple fault" $T_TMP/err && grep -q "code at .*0f 0b" $T_TMP/err &&
   grep -q "rip 00000000001" $T_TMP/err; then pass triple_fault
else fail triple_fault "rc=$rc: $(head -3 $T_TMP/err)"; fi

$LKVM run -k $G/bad-insn >/dev/null 2>$T_TMP/err; rc=$?
# Software KVM: internal error (emulation failure); hardware: #UD with no IDT = triple fault.
if [ $rc -ne 0 ] && { grep -q "suberror 1: emulation failure" $T_TMP/err ||
		      grep -q "triple fault" $T_TMP/err; } && grep -q "code at .*48 0f ae 2d" $T_TMP/err
then pass bad_insn
else fail bad_insn "rc=$rc: $(head -5 $T_TMP/err)"; fi

# --cpuid-mask: each masked bit reads 0 in the guest, or lkvm warns that this
# host's KVM forced it back (the PVM software host does that for xsave/avx2).
plain=$($LKVM run -k $G/cpuinfo 2>/dev/null)
masked=$($LKVM run -k $G/cpuinfo --cpuid-mask cx16,0x7.ebx:5,xsave 2>$T_TMP/err)
ecx=$(echo "$masked" | sed -n 's/.*leaf1 ecx=\([0-9a-f]*\).*/\1/p')
ebx7=$(echo "$masked" | sed -n 's/.*leaf7 ebx=\([0-9a-f]*\).*/\1/p')
pecx=$(echo "$plain" | sed -n 's/.*leaf1 ecx=\([0-9a-f]*\).*/\1/p')
ok=1
[ -n "$ecx" ] && [ $(( 0x$pecx & (1 << 31) )) -ne 0 ] || ok=0
[ $(( 0x$ecx & (1 << 13) )) -eq 0 ] || grep -q "bit 13 (cx16) visible" $T_TMP/err || ok=0
[ $(( 0x$ecx & (1 << 26) )) -eq 0 ] || grep -q "bit 26 (xsave) visible" $T_TMP/err || ok=0
[ $(( 0x$ebx7 & (1 << 5) )) -eq 0 ] || grep -q "bit 5 (avx2) visible" $T_TMP/err || ok=0
# cx16 is the one the software host cannot emulate: it must really be hidden here.
[ $(( 0x$ecx & (1 << 13) )) -eq 0 ] || ok=0
[ $ok -eq 1 ] && pass cpuid_mask || fail cpuid_mask "plain='$plain' masked='$masked' err=$(cat $T_TMP/err)"
# A leaf the CPU does not have: the mask hides nothing, and lkvm says so once.
$LKVM run -k $G/hello --cpuid-mask 0x9999.eax:3 -c 2 >/dev/null 2>$T_TMP/err; rc=$?
[ $rc -eq 0 ] && [ "$(grep -c "CPUID leaf 0x9999 does not exist here; bit 3 of eax hides nothing" $T_TMP/err)" = 1 ] &&
	pass cpuid_mask_no_leaf || fail cpuid_mask_no_leaf "rc=$rc: $(cat $T_TMP/err)"

# initrd through PVH module 0, with its bytes intact, and the command line.
head -c 100000 /dev/urandom > $T_TMP/initrd.img
want=$(python3 -c 'import sys
d=open(sys.argv[1],"rb").read(); s=0
for b in d: s=(s*31+b)&0xffffffff
print("%x" % s)' $T_TMP/initrd.img 2>/dev/null)
out=$($LKVM run -k $G/initrd -i $T_TMP/initrd.img -p "hello world" -m 64M 2>&1)
if echo "$out" | grep -q "module size 100000 sum $want" && echo "$out" | grep -q "cmdline 'hello world'" &&
   echo "$out" | grep -q "memmap 100000 3f00000 1"; then pass initrd
else fail initrd "want sum $want: $out"; fi
# Most of low memory is fine (it used to stop at half: "does not fit in 64 MiB").
truncate -s 40M $T_TMP/initrd40.img
out=$($LKVM run -k $G/initrd -i $T_TMP/initrd40.img -m 64M -p sum=0 2>&1)
echo "$out" | grep -q "module size 41943040 at 1800000" && pass initrd_most_of_ram ||
	fail initrd_most_of_ram "$out"
rm -f $T_TMP/initrd40.img
# A SIGTERM while a big initrd is read ends lkvm at once with 143 (a 4 GiB
# file, sparse, takes this host many seconds to read; it used to finish
# the read first, then fail on something else with status 1).
truncate -s 4G $T_TMP/initrd4g.img
$LKVM run -k $G/initrd -i $T_TMP/initrd4g.img -m 5G >/dev/null 2>$T_TMP/err & P=$!
sleep 0.5; kill -TERM $P
t0=$(date +%s%N)
wait_for 10 bash -c "! kill -0 $P 2>/dev/null"; wait $P; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
rm -f $T_TMP/initrd4g.img
if [ $rc -eq 1 ] && grep -q "does not fit" $T_TMP/err; then
	skip initrd_read_stops "this host read 4 GiB in under 0.5 s: the signal came after the read"
elif [ $rc -eq 143 ] && [ $ms -lt 5000 ] && grep -q "stopped by Terminated while reading the initrd" $T_TMP/err
then pass initrd_read_stops
else fail initrd_read_stops "rc=$rc after $ms ms: $(cat $T_TMP/err)"; kill -9 $P 2>/dev/null; fi
# Started with stdin, stdout and stderr closed: the log must not land in
# the next file opened (the disk image got "lkvm: guest powered off").
truncate -s 64K $T_TMP/closed.img
$LKVM run -k $G/hello -d $T_TMP/closed.img <&- >&- 2>&-; rc=$?
if [ $rc -eq 0 ] && cmp -s $T_TMP/closed.img <(head -c 65536 /dev/zero); then pass std_fds_closed
else fail std_fds_closed "rc=$rc, the disk now starts with: $(head -c 40 $T_TMP/closed.img | tr -d '\0')"; fi

# The console piped into a reader that stops early (`| head`): the guest
# is stopped as SIGPIPE ends any program, 128+13 and one line saying why.
# (lkvm ran on for ever, the guest's output thrown away, and the pipeline
# never ended.)
timeout -k 2 20 $LKVM run -k $G/counter -m 16M -p delay=100 </dev/null 2>$T_TMP/pipe.err |
	head -n 2 >$T_TMP/pipe.out
rc=${PIPESTATUS[0]}
if [ $rc -eq 141 ] && [ "$(wc -l <$T_TMP/pipe.out)" -eq 2 ] && [ "$(wc -l <$T_TMP/pipe.err)" -eq 1 ] &&
   grep -q "^lkvm: error: stopped: the console's output (stdout) was closed by its reader" $T_TMP/pipe.err
then pass stdout_reader_gone
else fail stdout_reader_gone "rc=$rc, want 141: $(head -3 $T_TMP/pipe.err)"; fi

# Numbers are decimal (or 0x hex), never octal: -c 010 is ten vCPUs (it
# was eight); and an empty -p is no parameters (it was refused).
out=$($LKVM run -k $G/smp -c 010 -p cpus=10 2>&1); rc=$?
out2=$($LKVM run -k $G/hello -p "" 2>&1); rc2=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "smp: all 10 cpus online" && [ $rc2 -eq 0 ]
then pass numbers_and_empty_params
else fail numbers_and_empty_params "rc=$rc $out / rc=$rc2 $out2"; fi

# A vCPU thread that cannot be created (address space capped below 64
# thread stacks): no vCPU has run, so no guest output comes before the
# error.  (vCPU 0 used to start at once and print its hello first.)
out=$( (ulimit -v 500000; $LKVM run -k $G/hello -m 64M -c 64) 2>$T_TMP/thr.err); rc=$?
if [ $rc -eq 0 ]; then
	skip vcpu_threads_all_or_none "64 vCPU threads fit under ulimit -v 500000 here"
elif grep -q "AddressSanitizer failed to allocate" $T_TMP/thr.err; then
	skip vcpu_threads_all_or_none "an ASan build of lkvm cannot start under ulimit -v (its shadow memory)"
elif [ -z "$out" ] && grep -q "cannot start the thread of vCPU [0-9]* of 64" $T_TMP/thr.err; then
	pass vcpu_threads_all_or_none
else
	fail vcpu_threads_all_or_none "rc=$rc out='$out' $(cat $T_TMP/thr.err)"
fi

# `lkvm run ... &` from an interactive shell: lkvm used to put the terminal
# in raw mode anyway and was stopped by SIGTTOU before the guest ran.
if ! command -v script >/dev/null; then
	skip background_job "no script(1) here to give the test a terminal"
else
	out=$(timeout 30 script -qec "bash --norc -ic '$LKVM run -k $G/hello & sleep 2; jobs -l; wait'" /dev/null 2>&1)
	if echo "$out" | grep -q "Hello from an lkvm guest!" && ! echo "$out" | grep -q Stopped
	then pass background_job
	else fail background_job "$(echo "$out" | tr -d '\r' | tail -n 3)"; fi
fi
# A signal lkvm does not turn into a stop still ends it with the terminal
# as it was: SIGQUIT, SIGUSR1 and the like killed it in raw mode, and the
# shell after it echoed nothing and ignored Enter.
if ! command -v script >/dev/null; then
	skip signal_restores_terminal "no script(1) here to give the test a terminal"
else
	cat >$T_TMP/sig.sh <<'SH'
ulimit -c 0
sig=$1; shift
bash -c 'p=$$; (sleep 1; kill -'"$sig"' $p) & exec "$@"' _ "$@"
echo "rc=$?"
stty -a | grep -o -- '-\?icanon'
SH
	why=""
	for sig in QUIT USR1 XCPU; do
		out=$(timeout 30 script -qec "bash $T_TMP/sig.sh $sig $LKVM run -k $G/idle -m 16M" /dev/null 2>&1 | tr -d '\r')
		want=$((128 + $(kill -l $sig)))
		echo "$out" | grep -qx "rc=$want" && echo "$out" | grep -qx icanon ||
			why="$why $sig: $(echo "$out" | tail -n 2 | tr '\n' ' ');"
	done
	if [ -z "$why" ]; then pass signal_restores_terminal
	else fail signal_restores_terminal "$why"; fi
fi
# The defaults --help states are the ones a run gets (--help said none).
bg_start dp $LKVM run -k $GUESTS/idle </dev/null >/dev/null 2>&1
if wait_for 10 test -S "$LKVM_DIR/guest-$dp.sock"; then
	info=$($LKVM list --json); help=$($LKVM run --help)
	if grep -q "\"name\": \"guest-$dp\", \"pid\": $dp, \"state\": \"running\", \"cpus\": 1, \"mem_bytes\": 268435456" <<<"$info" &&
	   grep -q -- '--mem .*(default 256M' <<<"$help" && grep -q -- '--cpus .*default 1)' <<<"$help" &&
	   grep -q -- '--name .*default guest-PID' <<<"$help" && grep -q -- '--console .*default serial' <<<"$help"
	then pass help_defaults
	else fail help_defaults "$info / $(grep -E -- '--(mem|cpus|name|console) ' <<<"$help" | tr '\n' '|')"; fi
	$LKVM stop --name guest-$dp >/dev/null
else
	fail help_defaults "the instance did not start"
fi
t_done
