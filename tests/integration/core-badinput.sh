#!/usr/bin/env bash
# Bad options and bad kernel images: one clear line, non-zero exit.
. "$(dirname "$0")/../lib.sh"

# expect_err NAME PATTERN ARGS...: lkvm fails, stderr has exactly one line matching PATTERN.
expect_err() {
	local n=$1 pat=$2; shift 2
	$LKVM "$@" >/dev/null 2>$T_TMP/err </dev/null; local rc=$?
	local lines; lines=$(wc -l < $T_TMP/err)
	if [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$pat" $T_TMP/err; then pass "$n"
	else fail "$n" "rc=$rc lines=$lines: $(head -3 $T_TMP/err)"; fi
}

K=$GUESTS/hello
expect_err no_kernel "no kernel" run
expect_err mem_garbage "--mem: 'lots' is not a size" run -k $K -m lots
expect_err mem_zero "--mem: size must not be zero" run -k $K -m 0
expect_err mem_tiny "at least 2M" run -k $K -m 1M
expect_err mem_unaligned "multiple of 4K" run -k $K -m 4194305b
expect_err mem_huge "more than 1T" run -k $K -m 2T
expect_err cpus_zero "--cpus: 0 is out of range" run -k $K -c 0
expect_err cpus_many "--cpus: 65 is out of range" run -k $K -c 65
expect_err cpus_text "--cpus: 'two' is not a whole number" run -k $K -c two
expect_err cpus_negative "--cpus: -2 is out of range 1..64" run -k $K -c -2
expect_err cpus_huge "--cpus: 99999999999999999999 is out of range 1..64" run -k $K -c 99999999999999999999
expect_err cpus_missing "--cpus: requires a value" run -k $K -c
expect_err name_bad "--name: 'a/b'" run -k $K --name a/b
expect_err name_dash "--name: '-x': use 1 to 64 letters, digits, '-', '_', '.', not starting with '.' or '-'" run -k $K --name=-x
expect_err console_bad "not a console type" run -k $K --console vga
expect_err cpuid_bad "is not a feature name" run -k $K --cpuid-mask nosuchfeature
expect_err cpuid_empty_item "--cpuid-mask: empty item in 'x2apic,'" run -k $K --cpuid-mask "x2apic,"
expect_err cpuid_raw_bad "is not a feature name" run -k $K --cpuid-mask 0x7.exx:5
# A long bad item: stderr still ends with the list of names (not cut at 1 KiB).
expect_err cpuid_long_item "$(printf 'x%.0s' {1..1200})' is not a feature name or LEAF.*REG:BIT (known: [a-z0-9_ ]*)$" \
	run -k $K --cpuid-mask "$(printf 'x%.0s' {1..1200})"
expect_err tsc_zero "--tsc-khz: 0 is out of range 1000..10000000" run -k $K --tsc-khz 0
expect_err tsc_huge "--tsc-khz: 10000001 is out of range 1000..10000000" run -k $K --tsc-khz 10000001
expect_err tsc_text "--tsc-khz: '2.5GHz' is not a whole number" run -k $K --tsc-khz 2.5GHz
# A guest TSC slower than the host's needs TSC scaling (KVM_CAP_TSC_CONTROL).
if $LKVM run -k $K --tsc-khz 1000 >/dev/null 2>&1 </dev/null; then
	skip tsc_slow "this host's KVM scales the TSC: a 1 MHz guest TSC runs"
else
	expect_err tsc_slow "--tsc-khz 1000: KVM cannot run a guest TSC at 1000 kHz here, where it runs at [0-9]* kHz: a slower guest TSC needs TSC scaling, which this host lacks" \
		run -k $K --tsc-khz 1000
	# A faster one runs, only approximated: one warning line says so, as the
	# README promises (it was said for a migrated guest, not for --tsc-khz).
	out=$($LKVM run -k $K --tsc-khz 10000000 2>$T_TMP/err </dev/null); rc=$?
	if [ $rc -eq 0 ] && [ "$out" = "Hello from an lkvm guest!" ] &&
	   [ "$(grep -c warning $T_TMP/err)" -eq 1 ] &&
	   grep -q "^lkvm: warning: --tsc-khz 10000000: without TSC scaling KVM runs the guest's TSC faster than this host's ([0-9]* kHz) by catching it up at each VM entry; between entries it ticks at this host's rate$" $T_TMP/err
	then pass tsc_fast_warns
	else fail tsc_fast_warns "rc=$rc: $(tr '\n' '|' <$T_TMP/err)"; fi
fi
expect_err unknown_opt "unknown option '--frobnicate'" run -k $K --frobnicate
expect_err debug_after_cmd "lkvm run: error: --debug goes before the command: lkvm --debug run ..." run --debug -k $K
expect_err extra_arg "unexpected argument 'extra'" run -k $K extra
expect_err net_mac_bad "MAC address '02:aa:bb' is not six hex octets" run -k $K -n mode=tap,mac=02:aa:bb
expect_err net_mac_multicast "MAC address '01:00:5e:00:00:01' is a multicast address" run -k $K -n mode=tap,mac=01:00:5e:00:00:01
# A tap name the kernel would refuse says what a good one is (it said only "bad").
expect_err net_tapif_long "--network: bad tap interface name 'tap-name-too-long': use 1 to 15 characters, no '/', ':' or whitespace" run -k $K -n mode=tap,tapif=tap-name-too-long
expect_err net_tapif_slash "--network: bad tap interface name 'a/b': use 1 to 15" run -k $K -n mode=tap,tapif=a/b
expect_err net_mac_twice "devices 0 and 1 would both have the MAC 52:54:00:12:34:56" run -k $K -n mode=tap -n mode=tap,mac=52:54:00:12:34:56
# A FIFO where a file belongs: refused, not an open() that blocks forever
# (SIGTERM cannot end set-up).  timeout: a regression hangs.
mkfifo $T_TMP/fifo
LKVM_REAL=$LKVM LKVM="timeout -k 2 10 $LKVM_REAL"
expect_err kernel_fifo "cannot read kernel '$T_TMP/fifo': not a regular file" run -k $T_TMP/fifo
expect_err initrd_fifo "cannot read initrd '$T_TMP/fifo': not a regular file" run -k $K -i $T_TMP/fifo
expect_err disk_fifo_ro "disk $T_TMP/fifo: cannot open read-only: not a regular file" run -k $K -d $T_TMP/fifo,ro
# An empty image, and one file given twice (the second through a symlink):
# both used to start (a disk of capacity 0; two disks on one image).
: >$T_TMP/empty-disk.img; truncate -s 1M $T_TMP/disk.img; ln -s disk.img $T_TMP/disk-link.img
expect_err disk_empty "disk $T_TMP/empty-disk.img: 0 bytes, less than one 512-byte sector" \
	run -k $K -d $T_TMP/empty-disk.img
expect_err disk_twice "disk $T_TMP/disk-link.img: the same file as disk 0 ($T_TMP/disk.img)" \
	run -k $K -d $T_TMP/disk.img -d $T_TMP/disk-link.img,ro
LKVM=$LKVM_REAL
# --disk flags: peeled off the end, each once; a repeated, contradictory or
# unknown one is named (",ro,ro" used to open "FILE,ro").
expect_err disk_flag_twice "--disk: disk flag 'ro' given twice in '$T_TMP/disk.img,ro,ro'" run -k $K -d $T_TMP/disk.img,ro,ro
expect_err disk_flag_contradict "--disk: disk flags 'ro' and 'rw' contradict each other" run -k $K -d $T_TMP/disk.img,rw,ro
expect_err disk_flag_unknown "--disk: unknown disk flag 'rx' (want FILE\[,ro|,rw\])" run -k $K -d $T_TMP/disk.img,ro,rx
# A comma in the name is kept when a flag follows it.
expect_err disk_comma_name "disk $T_TMP/a,b.img: cannot open read-write: No such file" run -k $K -d $T_TMP/a,b.img,rw
# A device that cannot start says why in one line (not also "init ... failed").
expect_err disk_missing_one_line "disk $T_TMP/nodisk: cannot open read-write: No such file" run -k $K -d $T_TMP/nodisk
expect_err no_prefault_alone "--no-prefault only applies with --incoming" run -k $K --no-prefault
# Without -k too: the missing --incoming is named, not the kernel.
expect_err no_prefault_no_kernel "--no-prefault only applies with --incoming" run --no-prefault
expect_err incoming_key_alone "--incoming-key only applies with --incoming" run --incoming-key $T_TMP/nokey
expect_err unknown_cmd "unknown command 'runn'" runn
# Words after help COMMAND or version are refused, not ignored.
expect_err help_extra "lkvm: error: unexpected argument 'extra' (lkvm help COMMAND: run has no subcommands)" help run extra
expect_err version_extra "lkvm: error: unexpected argument 'extra' after --version" --version extra
# No HOME and no LKVM_DIR (cron, a unit): clients name that, not "no such
# instance" or an empty list while instances may run under HOME.
for c in "list" "stop --name x" "pause --name x"; do
	# shellcheck disable=SC2086
	if out=$(env -u HOME -u LKVM_DIR $LKVM $c 2>&1 >/dev/null); then
		fail "no_dir_${c%% *}" "exit 0: $out"
	elif [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && grep -q 'no socket directory: set HOME or LKVM_DIR$' <<<"$out"; then
		pass "no_dir_${c%% *}"
	else
		fail "no_dir_${c%% *}" "$out"
	fi
done
# No command: the list goes to stdout as help does, and stderr says why it failed.
expect_err no_command "^lkvm: error: no command given"
expect_err sev_no_command "^lkvm sev: error: no sev command given" sev
# A named instance's --incoming warning carries its name, as the lines after
# it do (here the SEV refusal that stops it before anything is opened).
$LKVM run --incoming 1 --name d2 -k $K --sev-policy 0x1 >/dev/null 2>$T_TMP/err </dev/null; rc=$?
if [ $rc -ne 0 ] && [ "$(wc -l <$T_TMP/err)" -eq 2 ] &&
   grep -q "^lkvm d2: warning: --incoming: .*-k, -i and -p are not used$" $T_TMP/err &&
   grep -q "^lkvm d2: error: SEV: --sev-\* options need --sev" $T_TMP/err
then pass incoming_warning_named
else fail incoming_warning_named "rc=$rc: $(cat $T_TMP/err)"; fi
# stop/pause/resume need one of --name or --all: their usage must not show both as optional.
for c in stop pause resume; do
	u=$($LKVM $c --help | head -n 1)
	if [ "$u" = "usage: lkvm $c --name NAME | --all" ]; then pass ${c}_usage; else fail ${c}_usage "'$u'"; fi
done
# 'lkvm help CMD' and 'lkvm CMD --help' are one text: the options (help
# used to leave them out) and what the command does, with its exit status
# where it has more than 0 and 1 (--help used to leave that out).
for c in $($LKVM help | sed -n 's/^   \([a-z][a-z-]*\) .*/\1/p'); do
	h=$($LKVM help $c); hrc=$?; o=$($LKVM $c --help); orc=$?
	if [ $hrc -eq 0 ] && [ $orc -eq 0 ] && [ -n "$h" ] && [ "$h" = "$o" ]; then pass help_same_$c
	else fail help_same_$c "rc $hrc/$orc: $(diff <(echo "$h") <(echo "$o") | head -4 | tr '\n' '|')"; fi
done
# Every command's help says its exit status (debug and sev used to say
# nothing, while run, migrate, list, stop, pause and resume did).
for c in $($LKVM help | sed -n 's/^   \([a-z][a-z-]*\) .*/\1/p'); do
	if $LKVM $c --help | grep -q '^Exit status: 0 '; then pass help_exit_status_$c
	else fail help_exit_status_$c "no 'Exit status:' in lkvm $c --help"; fi
done
# A command with subcommands (lkvm sev): 'lkvm help sev SUB' is 'lkvm sev
# SUB --help' (it was refused as an unexpected argument); an unknown SUB
# is named, and a word after SUB is still refused.
ok=1 why=""
subs=$($LKVM sev --help | sed -n 's/^   \([a-z][a-z-]*\) .*/\1/p')
[ -n "$subs" ] || { ok=0; why="no subcommands listed by lkvm sev --help; "; }
for s in $subs; do
	h=$($LKVM help sev $s 2>&1); hrc=$?; o=$($LKVM sev $s --help 2>&1); orc=$?
	{ [ $hrc -eq 0 ] && [ $orc -eq 0 ] && [ -n "$h" ] && [ "$h" = "$o" ] &&
	  echo "$h" | grep -q "^usage: lkvm sev $s"; } ||
		{ ok=0; why="$why $s: rc $hrc/$orc $(echo "$h" | head -1); "; }
done
[ $ok = 1 ] && pass help_subcommand || fail help_subcommand "$why"
expect_err help_subcommand_unknown "lkvm sev: error: unknown command 'bogus' (see 'lkvm sev --help')" help sev bogus
expect_err help_subcommand_extra "lkvm: error: unexpected argument 'extra' (lkvm help \[COMMAND \[SUBCOMMAND\]\])" help sev measure extra
# Output that cannot be written is an error, as 'lkvm list' already says
# (a script's 'lkvm migrate --json >out.json' on a full disk exited 0).
if [ -w /dev/full ]; then
	for c in "--version" "help" "help run" "migrate --help"; do
		# shellcheck disable=SC2086
		$LKVM $c >/dev/full 2>$T_TMP/err; rc=$?
		if [ $rc -eq 1 ] && [ "$(wc -l <$T_TMP/err)" -eq 1 ] &&
		   grep -q "error: cannot write to stdout: No space left on device$" $T_TMP/err
		then pass "stdout_full_${c//[ -]/_}"
		else fail "stdout_full_${c//[ -]/_}" "rc=$rc: $(cat $T_TMP/err)"; fi
	done
else
	skip stdout_full "/dev/full is not writable here"
fi
expect_err option_before_cmd "unknown option '--bogus' (before the command only --debug, --help and --version" --bogus list
# A user-space program is not a kernel: named as such, not by what its segments overlap.
expect_err elf_no_pvh_note "ELF without a PVH entry note" run -k "$(type -P true)"
# lkvm migrate's own options (nothing runs yet in this test's LKVM_DIR).
expect_err migrate_no_to "--to HOST:PORT (or --cancel, --status, --set) is required" migrate
expect_err migrate_bad_to "--to: 'nohost' is not HOST:PORT" migrate --to nohost
expect_err migrate_bad_port "--to: 'h:99999' is not HOST:PORT" migrate --to h:99999
expect_err migrate_port_wraps "--to: 'h:4294967297' is not HOST:PORT" migrate --to h:4294967297
expect_err incoming_port_wraps "--incoming: '127.0.0.1:4294999996' is not \[ADDR:\]PORT" run --incoming 127.0.0.1:4294999996
expect_err incoming_bad "--incoming: '::1:80' is not \[ADDR:\]PORT" run --incoming ::1:80
expect_err migrate_channels "--channels: 17 is out of range" migrate --to h:1 --channels 17
# --help states the sealed default too (one channel per CPU with --key, mig__default_channels).
if $LKVM migrate --help | grep -q -- '--channels .*with --key one per CPU'; then pass migrate_channels_help
else fail migrate_channels_help "$($LKVM migrate --help | grep -- --channels)"; fi
expect_err migrate_downtime "--downtime: 'soon' is not a whole number" migrate --to h:1 --downtime soon
expect_err migrate_bw_huge "--bandwidth: 5000000 is out of range 0..1000000" migrate --to h:1 --bandwidth 5000000
expect_err migrate_cancel_to "--cancel takes no option but --name" migrate --cancel --to h:1
expect_err migrate_no_instance "no running instance" migrate --to h:1
# A bad --key file is named by its option, as run's --incoming-key is.
expect_err migrate_key_missing "--key: cannot read key file '$T_TMP/nokey': No such file" migrate --to h:1 --key $T_TMP/nokey
head -c 31 /dev/zero >$T_TMP/short.key; chmod 600 $T_TMP/short.key
expect_err migrate_key_short "--key: key file '$T_TMP/short.key' holds 31 bytes; a key needs 32 to 4096" migrate --to h:1 --key $T_TMP/short.key
expect_err incoming_key_short "--incoming-key: key file '$T_TMP/short.key' holds 31 bytes" run --incoming 1 --incoming-key $T_TMP/short.key
expect_err migrate_cancel_none "nope: no such instance" migrate --cancel --name nope
expect_err migrate_status_cancel "--status takes no option but --name and --json" migrate --status --cancel
expect_err migrate_status_none "nope: no such instance" migrate --status --name nope
# A name no instance can have is named as such, not blamed on another lkvm
# build (debug and --status connect through ipc__print_request()).
expect_err debug_bad_name "lkvm debug: error: a b: invalid instance name$" debug --name "a b"
expect_err migrate_status_bad_name "lkvm migrate: error: a b: invalid instance name$" migrate --status --name "a b"
expect_err migrate_set_nothing "--set: nothing to change" migrate --set --name nope
expect_err migrate_set_to "--set changes only --downtime, --bandwidth, --max-rounds and --\[no-\]auto-converge" migrate --set --bandwidth 5 --to h:1
expect_err migrate_set_both "--auto-converge and --no-auto-converge contradict each other" migrate --set --auto-converge --no-auto-converge
expect_err migrate_no_converge_alone "--no-auto-converge goes with --set" migrate --to h:1 --no-auto-converge
expect_err migrate_set_none "nope: no such instance" migrate --set --downtime 100 --name nope
# lkvm sev's subcommands name a word left over (status, export and measure
# used to exit 1 without a word).
expect_err sev_status_extra "lkvm sev status: error: unexpected argument 'extra'" sev status extra
expect_err sev_export_extra "lkvm sev export: error: unexpected argument 'extra'" sev export --pdh $T_TMP/pdh extra
expect_err sev_measure_extra "lkvm sev measure: error: unexpected argument 'extra'" sev measure -k $K extra
expect_err sev_session_extra "lkvm sev session: error: unexpected argument 'extra'" sev session extra
# With --json the failure object names the problem too, not just "see stderr".
for a in "unknown|--bogus|unknown option '--bogus'" \
	 "range|--channels 99|--channels: 99 is out of range 1..16" \
	 "no_value|--channels|--channels: requires a value" \
	 "argument|extra|unexpected argument 'extra'"; do
	IFS='|' read -r n args want <<<"$a"
	# shellcheck disable=SC2086
	out=$($LKVM migrate --json --to h:1 $args 2>/dev/null); rc=$?
	if [ $rc -ne 0 ] && [ "$out" = "{\"status\":\"failed\",\"reason\":\"$want\",\"guest\":\"unchanged\"}" ]; then
		pass "migrate_json_$n"
	else
		fail "migrate_json_$n" "rc=$rc: $out"
	fi
done
# ... and the instance, as stderr does ("lkvm migrate: error: nope: ...").
out=$($LKVM migrate --json --to h:1 --name nope 2>/dev/null); rc=$?
if [ $rc -eq 1 ] && [ "$out" = '{"status":"failed","reason":"nope: no such instance","guest":"unchanged"}' ]; then
	pass migrate_json_no_instance
else
	fail migrate_json_no_instance "rc=$rc: $out"
fi

# --status names it too: the same reason whichever request failed.
out=$($LKVM migrate --status --json --name nope 2>/dev/null); rc=$?
if [ $rc -eq 1 ] && [ "$out" = '{"status":"failed","reason":"nope: no such instance","guest":"unchanged"}' ]; then
	pass migrate_status_json_no_instance
else
	fail migrate_status_json_no_instance "rc=$rc: $out"
fi

# A socket directory lkvm run cannot use is found before anything is set up:
# one line, not after the SEV model's notice (or a tap device's) of a start
# that never happens.
mkdir -p $T_TMP/opendir && chmod 755 $T_TMP/opendir
LKVM_DIR=$T_TMP/opendir expect_err run_dir_open_first "^lkvm: error: control socket: $T_TMP/opendir has mode 0755: it must be private (chmod 700)$" \
	run -k $K --sev=emulated
# A socket directory whose socket path would be too long: refused without
# making the directory (it was made, then left behind).
long=$T_TMP/$(printf 'd%.0s' {1..110})
LKVM_DIR=$long expect_err run_dir_too_long "control socket path $long/guest-[0-9]*.sock is too long for a unix socket" run -k $K
if [ -e "$long" ]; then fail run_dir_too_long_not_made "$long was created"; else pass run_dir_too_long_not_made; fi
# A relative socket directory names another directory from another working
# directory: an instance started with it could not be listed, stopped or
# migrated from elsewhere.  Refused, by the VMM and by every client, and not made.
(cd $T_TMP && LKVM_DIR=reldir expect_err run_dir_relative \
	"^lkvm: error: control socket: LKVM_DIR=reldir is not an absolute path" run -k $K)
if [ -e "$T_TMP/reldir" ]; then fail run_dir_relative_not_made "$T_TMP/reldir was created"; else pass run_dir_relative_not_made; fi
mkdir -m 700 $T_TMP/reldir2
(cd $T_TMP && LKVM_DIR=reldir2 expect_err list_dir_relative "LKVM_DIR=reldir2 is not an absolute path" list)
(cd $T_TMP && LKVM_DIR=reldir2 expect_err stop_dir_relative "LKVM_DIR=reldir2 is not an absolute path" stop --name x)

need_kvm kernel_missing run_name_in_use_first kernel_dir kernel_garbage kernel_truncated_elf kernel_elf_phdrs_named \
	 kernel_bzimage_named kernel_no_pvh \
	 kernel_segment_outside initrd_missing initrd_shorter_than_size initrd_empty \
	 initrd_too_big cmdline_too_long incoming_not_ours incoming_port_taken
expect_err kernel_missing "cannot read kernel .*No such file" run -k $T_TMP/nope
# A destination that cannot listen says why, with the likely cause.
expect_err incoming_not_ours "cannot listen on 192.0.2.1:5000: .*(that address is not one of this host's" \
	run --incoming 192.0.2.1:5000 -m 16M
python3 -c 'import socket, time; s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(30)' >$T_TMP/busy.port &
busy_pid=$!
if wait_for 10 test -s $T_TMP/busy.port; then
	expect_err incoming_port_taken "cannot listen on 127.0.0.1:$(cat $T_TMP/busy.port): .*(another lkvm run --incoming, or another program, listens there)" \
		run --incoming 127.0.0.1:$(cat $T_TMP/busy.port) -m 16M
else
	fail incoming_port_taken "the listener holding the port did not start"
fi
kill $busy_pid 2>/dev/null; wait $busy_pid 2>/dev/null
# A name in use, likewise: refused before the SEV model (or a tap) starts.
bg_start held $LKVM run -k $GUESTS/idle --name held -m 16M </dev/null >/dev/null 2>&1
if wait_for 10 test -S "$LKVM_DIR/held.sock"; then
	expect_err run_name_in_use_first "^lkvm held: error: instance name 'held' is in use by a running lkvm (pick another --name, or 'lkvm stop --name held')$" \
		run -k $K --name held --sev=emulated
	$LKVM stop --name held >/dev/null
else
	fail run_name_in_use_first "the first instance did not start"
fi
expect_err kernel_dir "not a regular file" run -k $T_TMP
head -c 4096 /dev/urandom | tr -d '\177' > $T_TMP/garbage
expect_err kernel_garbage "not a bzImage or an ELF image" run -k $T_TMP/garbage
head -c 40 $K > $T_TMP/trunc
expect_err kernel_truncated_elf "kernel '$T_TMP/trunc': truncated ELF header" run -k $T_TMP/trunc
# Format errors name the file, as the read errors do.
head -c 64 $K > $T_TMP/phdrs
expect_err kernel_elf_phdrs_named "kernel '$T_TMP/phdrs': ELF program headers lie outside the file" run -k $T_TMP/phdrs
head -c 1024 $LKVM_BUILD/tests/bzimage/probe.bzimage > $T_TMP/bztrunc
expect_err kernel_bzimage_named "kernel '$T_TMP/bztrunc': bzImage: truncated: setup_sects 2 needs 1536 bytes, the file has 1024" \
	run -k $T_TMP/bztrunc
# Drop the PVH note: turn PT_NOTE into PT_NULL (program header 3, p_type at +0).
cp $K $T_TMP/nonote
phoff=$(od -An -t u8 -j 32 -N 8 $K | tr -d ' ')
printf '\x00\x00\x00\x00' | dd of=$T_TMP/nonote bs=1 seek=$((phoff + 3 * 56)) conv=notrunc 2>/dev/null
expect_err kernel_no_pvh "kernel '$T_TMP/nonote': ELF without a PVH entry note" run -k $T_TMP/nonote
# Move the data segment's physical address past the end of a 16M guest.
cp $K $T_TMP/far
printf '\x00\x00\x00\x40' | dd of=$T_TMP/far bs=1 seek=$((phoff + 2 * 56 + 24 + 4)) conv=notrunc 2>/dev/null
expect_err kernel_segment_outside "kernel '$T_TMP/far': segment at .* does not fit in guest memory" run -k $T_TMP/far -m 16M
expect_err initrd_missing "cannot read initrd" run -k $K -i $T_TMP/nope
# A file that gives fewer bytes than its size says (one being rewritten,
# or a sysfs attribute: 4096 bytes by stat, a line by read) is named as
# such, not as "Broken pipe".
short=""
for f in /sys/kernel/uevent_seqnum /sys/kernel/mm/transparent_hugepage/enabled; do
	[ -r "$f" ] && [ "$(stat -c %s "$f")" -gt "$(wc -c <"$f")" ] && { short=$f; break; }
done
if [ -n "$short" ]; then
	expect_err initrd_shorter_than_size "cannot read initrd '$short': it ended before its size ([0-9]* bytes): changed while read?" \
		run -k $K -i "$short"
else
	skip initrd_shorter_than_size "no sysfs attribute here that reads shorter than its size"
fi
: >$T_TMP/empty.img		# (used to exit 1 with no message)
expect_err initrd_empty "initrd '$T_TMP/empty.img' is empty" run -k $K -i $T_TMP/empty.img
truncate -s 63M $T_TMP/big.img
expect_err initrd_too_big "initrd '$T_TMP/big.img' of 66060288 bytes does not fit between what is loaded at 0x100000-" \
	run -k $GUESTS/initrd -i $T_TMP/big.img -m 64M
expect_err cmdline_too_long "command line too long" run -k $K -p "$(head -c 70000 /dev/zero | tr '\0' a)"
t_done
