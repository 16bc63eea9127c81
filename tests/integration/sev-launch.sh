#!/usr/bin/env bash
# SEV launch with the firmware model, end to end as a guest owner runs it
# (docs/sev.md): export the platform PDH, make a session for it, launch,
# predict the measurement offline, verify it, wrap a secret, let lkvm
# inject it and check the guest read exactly that secret.  Plus the
# failures: no /dev/sev, a session for another platform, a tampered secret.
. "$(dirname "$0")/../lib.sh"
G=$GUESTS
cd "$T_TMP" || exit 1
export LKVM_SEV_STATE=$T_TMP/platform-a
unset LKVM_SEV_ROOT

fnv1a() {	# FNV-1a 64 of a file, as the sev-secret guest prints it
	local h=$((0xcbf29ce484222325)) b
	for b in $(od -An -v -tu1 "$1"); do h=$(( (h ^ b) * 0x100000001b3 )); done
	printf '%x\n' $h
}

# 4. Hardware SEV on a host without it: non-zero, one line naming what is missing.
if [ -e /dev/sev ]; then
	skip no_sev_one_line "/dev/sev exists on this host"
else
	$LKVM run --sev -k $G/hello >out 2>err </dev/null; rc=$?
	if [ $rc -ne 0 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q "no /dev/sev" err && [ ! -s out ]
	then pass no_sev_one_line
	else fail no_sev_one_line "rc=$rc stderr: $(cat err)"; fi
fi

# SEV options without a back end are an error, not silently ignored.
$LKVM run --sev-policy 0x3 -k $G/hello >/dev/null 2>err </dev/null; rc=$?
[ $rc -ne 0 ] && grep -q "need --sev" err && pass options_need_sev ||
	fail options_need_sev "rc=$rc: $(cat err)"

# Platform side: export the PDH and chains (the model makes its identity on first use).
if $LKVM sev export --sev=emulated --pdh pdh.cert --chain chain.bin --amd-chain amd.bin 2>err &&
   [ "$(stat -c %s pdh.cert)" -eq 2084 ] && [ "$(stat -c %s chain.bin)" -eq 6252 ] &&
   [ "$(stat -c %a platform-a)" = 700 ] && [ "$(stat -c %a platform-a/pdh.pem)" = 600 ]
then pass export
else fail export "$(cat err)"; fi

status=$($LKVM sev status --sev=emulated 2>/dev/null)
api=$(echo "$status" | sed -n 's/^api: //p')
build=$(echo "$status" | sed -n 's/^build: //p')
[ -n "$api" ] && [ -n "$build" ] && pass status || fail status "'$status'"

# Guest owner: a session for this platform's PDH (chain checked up to the
# ARK).  The chain ends at the model's test root, and one warning says what
# that means (the owner may not know the platform is the model).
policy=0x1
if $LKVM sev session --pdh pdh.cert --chain chain.bin --amd-chain amd.bin --policy $policy \
	--dh-cert owner-dh.cert --session owner-session.bin --keys owner.keys 2>err &&
   [ "$(cat err)" = "lkvm sev session: warning: platform chain amd.bin ends at lkvm's built-in TEST AMD root (the software firmware model: guest memory is NOT encrypted, and the root's private key is public): fine for testing, not for trust" ]
then pass owner_session
else fail owner_session "$(cat err)"; fi

# Without --chain the PDH is only checked for being a PDH: the session is
# made, and one warning line says it was not validated (with a chain: none).
if $LKVM sev session --pdh pdh.cert --policy $policy --dh-cert nc-dh.cert \
	--session nc-session.bin --keys nc.keys 2>err >/dev/null &&
   [ "$(cat err)" = "lkvm sev session: warning: platform PDH pdh.cert was not checked against a certificate chain (no --chain): fine for testing, not for trust" ] &&
   [ "$(stat -c %s nc-session.bin)" -gt 0 ]
then pass session_no_chain_warns
else fail session_no_chain_warns "$(cat err)"; fi

# Output paths that are not regular files: written through, never replaced.
# As root, "--keys /dev/full" used to replace the device node with a file.
t=outputs_not_replaced
ln -s owner.keys keys.link
ok=1 why=""
if ! mknod full.dev c 1 7 2>/dev/null; then
	why="(no mknod here: device case not run) "
elif $LKVM sev session --pdh pdh.cert --policy $policy --dh-cert o1.cert --session o1.bin \
	--keys full.dev >/dev/null 2>err; then
	ok=0 why="writing to a full device succeeded; "
elif [ ! -c full.dev ] || ! grep -q "No space left on device" err; then
	ok=0 why="full.dev: $(stat -c %F full.dev): $(cat err); "
fi
cp owner.keys keys.before
mkfifo dh.fifo
( timeout 10 cat dh.fifo >dh.fromfifo ) &	# bounded: a regression replaces the fifo
if ! $LKVM sev session --pdh pdh.cert --policy $policy --dh-cert dh.fifo --session o2.bin \
	--keys keys.link 2>err; then
	ok=0 why="$why symlink/fifo outputs failed: $(cat err); "
fi
wait
if [ ! -L keys.link ] || cmp -s owner.keys keys.before || [ "$(stat -c %s dh.fromfifo)" -ne 2084 ] ||
	[ ! -p dh.fifo ] || ls ./*.XXXXXX ./owner.keys.* 2>/dev/null | grep -q .; then
	ok=0 why="$why link $(stat -c %F keys.link), keys changed: $(cmp -s owner.keys keys.before && echo no || echo yes), fifo gave $(stat -c %s dh.fromfifo 2>/dev/null) bytes"
fi
# (owner.keys now belongs to the o2 session: put the first one back.)
cp keys.before owner.keys
if [ $ok = 1 ]; then pass $t; [ -z "$why" ] || echo "$t: $why"; else fail $t "$why"; fi

# The SEV migration options are checked at start like the others: without
# --sev they are an error (they were ignored), and a file that is not there
# is named now, not at the first migration.  --sev-secret-wait needs a secret.
# Owner files of the wrong size are named with their sizes (LAUNCH_START's
# INVALID_LENGTH used to leave the user to guess which of the two).
ok=1 why=""
head -c 100 /dev/zero >short.bin
for c in "--sev-ark ark.cert|SEV: --sev-* options need --sev (hardware) or --sev=emulated" \
	 "--sev-amd-chain x|SEV: --sev-* options need --sev (hardware) or --sev=emulated" \
	 "--sev-secret-wait 5|SEV: --sev-* options need --sev (hardware) or --sev=emulated" \
	 "--sev=emulated --sev-ark nothere.cert|SEV: cannot read --sev-ark nothere.cert: No such file or directory" \
	 "--sev=emulated --sev-amd-chain nothere|SEV: cannot read --sev-amd-chain nothere: No such file or directory" \
	 "--sev=emulated --sev-ark .|SEV: cannot read --sev-ark .: not a regular file" \
	 "--sev=emulated --sev-amd-chain .|SEV: cannot read --sev-amd-chain .: not a regular file" \
	 "--sev=emulated --sev-secret-wait 5|SEV: --sev-secret-wait needs --sev-secret and --sev-secret-header" \
	 "--sev=|--sev: empty value (use --sev or --sev=emulated)" \
	 "--sev=emulated --sev-dh-cert . --sev-session .|SEV: cannot read DH certificate .: not a regular file" \
	 "--sev=emulated --sev-dh-cert short.bin --sev-session short.bin|the DH certificate must be 0x824 bytes (--sev-dh-cert short.bin has 0x64) and the session 0x80 (--sev-session short.bin has 0x64)"; do
	$LKVM run -k $G/hello ${c%%|*} >out 2>err </dev/null; rc=$?
	{ [ $rc -ne 0 ] && [ ! -s out ] && grep -qF -- "${c#*|}" err; } || { ok=0; why="$why ${c%%|*}: rc=$rc $(cat err); "; }
done
[ $ok = 1 ] && pass sev_options_checked || fail sev_options_checked "$why"
# Options that go together are checked before the firmware (the model's
# NOT-encrypted notice), RAM, devices and the control socket: one line.
ok=1 why=""
for c in "--sev-dh-cert short.bin|SEV: --sev-dh-cert and --sev-session go together" \
	 "--sev-session short.bin|SEV: --sev-dh-cert and --sev-session go together" \
	 "--sev-secret short.bin --sev-secret-gpa 0x1000|SEV: a launch secret needs --sev-secret, --sev-secret-header and --sev-secret-gpa together" \
	 "--sev-secret-gpa 0x1000|SEV: a launch secret needs"; do
	# shellcheck disable=SC2086
	$LKVM run --sev=emulated -k $G/hello ${c%%|*} >out 2>err </dev/null; rc=$?
	{ [ $rc -eq 1 ] && [ "$(wc -l <err)" -eq 1 ] && grep -qF -- "${c#*|}" err; } ||
		{ ok=0; why="$why ${c%%|*}: rc=$rc $(tr '\n' '|' <err); "; }
done
[ $ok = 1 ] && pass sev_pairs_before_start || fail sev_pairs_before_start "$why"

# --sev-ark and --sev-amd-chain are parsed and verified at start (a wrong
# file used to pass until the first migration needed it); good ones start,
# with a note that the model uses its own root instead.
t=sev_mig_certs_parsed
ok=1 why=""
if $LKVM sev export --sev=emulated --pdh pdh2.cert --ark ark.cert 2>err; then
	head -c 1600 amd.bin >ask.only
	cat ark.cert ark.cert >ark.twice
	head -c 3000 amd.bin >amd.short
	for c in "--sev-ark ask.only|--sev-ark ask.only is not one self-signed AMD ARK certificate" \
		 "--sev-amd-chain ark.cert|--sev-amd-chain ark.cert is not an AMD ASK || ARK chain" \
		 "--sev-amd-chain ark.twice|--sev-amd-chain ark.twice is not an AMD ASK || ARK chain" \
		 "--sev-amd-chain amd.short|--sev-amd-chain amd.short is not an AMD ASK || ARK chain"; do
		$LKVM run --sev=emulated -k $G/hello ${c%%|*} >out 2>err </dev/null; rc=$?
		{ [ $rc -ne 0 ] && [ ! -s out ] && [ "$(grep -c error err)" = 1 ] &&
		  grep -qF -- "${c#*|}" err; } || { ok=0; why="$why ${c%%|*}: rc=$rc $(cat err); "; }
	done
	$LKVM run --sev=emulated -k $G/hello --sev-ark ark.cert --sev-amd-chain amd.bin >out 2>err </dev/null ||
		{ ok=0; why="$why good files refused: $(cat err); "; }
	grep -q "Hello" out && grep -q "checked but not used" err ||
		{ ok=0; why="$why good files: $(cat out err); "; }
else
	ok=0 why="export --ark: $(cat err)"
fi
[ $ok = 1 ] && pass $t || fail $t "$why"

# The model's directories: a --sev-state whose parent is missing (a typo)
# is refused rather than made, with every parent, into a new platform; the
# default ~/.lkvm/sev-model never creates HOME; a --sev-root that is a
# file says so (it used to exit 1 with no message at all).
t=model_dirs
ok=1 why=""
touch rootfile
for c in "--sev-state $T_TMP/typo/state|cannot create state directory $T_TMP/typo/state: No such file or directory (its parent does not exist)" \
	 "--sev-root rootfile|cannot use rootfile as the AMD root directory: Not a directory"; do
	$LKVM sev status --sev=emulated ${c%%|*} >/dev/null 2>err && ok=0
	[ "$(grep -c error err)" = 1 ] && grep -qF "${c#*|}" err || { ok=0; why="$why ${c%%|*}: $(cat err); "; }
done
(unset LKVM_SEV_STATE; HOME=$T_TMP/nohome $LKVM sev status --sev=emulated >/dev/null 2>err) && ok=0
grep -q "nohome/.lkvm/sev-model: No such file or directory (its parent does not exist)" err ||
	{ ok=0; why="$why missing HOME: $(cat err); "; }
[ -e typo ] || [ -e nohome ] && { ok=0; why="$why created: $(ls -d typo nohome 2>/dev/null)"; }
[ $ok = 1 ] && pass $t || fail $t "$why"

# A --sev-root that does not exist is named, not made: it used to get a new
# AMD root, which the existing platform's CEK then did not match (a second
# error), and the root stayed behind.  A typo must not make a trust anchor.
# An empty root directory beside a platform certified by another root is
# refused before a root is made in it, for the same reason.
t=model_root_missing
ok=1 why=""
mkdir -m 700 emptyroot
for c in "sev status --sev=emulated --sev-root $T_TMP/noroot|^lkvm sev status: error: SEV model: AMD root directory $T_TMP/noroot does not exist (create it, mode 0700, for a new root)$" \
	 "run --sev=emulated -k $G/hello --sev-root $T_TMP/noroot|^lkvm: error: SEV model: AMD root directory $T_TMP/noroot does not exist (create it, mode 0700, for a new root)$" \
	 "sev status --sev=emulated --sev-root emptyroot|^lkvm sev status: error: SEV model: the platform in $T_TMP/platform-a was certified by an AMD root that emptyroot does not hold (check --sev-root / LKVM_SEV_ROOT)$"; do
	# shellcheck disable=SC2086
	$LKVM ${c%%|*} >out 2>err </dev/null; rc=$?
	{ [ $rc -eq 1 ] && [ ! -s out ] && [ "$(wc -l <err)" -eq 1 ] && grep -q -- "${c#*|}" err; } ||
		{ ok=0; why="$why ${c%%|*}: rc=$rc $(tr '\n' '|' <err); "; }
done
[ -e noroot ] && { ok=0; why="$why noroot was created; "; }
[ -z "$(ls -A emptyroot)" ] || { ok=0; why="$why emptyroot has: $(ls -A emptyroot); "; }
[ $ok = 1 ] && pass $t || fail $t "$why"

# A command's outputs are all written or none: one that cannot be written
# leaves the others as they were (a new keys file beside an old session
# blob only fails at launch), and two outputs naming one file are refused.
t=outputs_all_or_none
ok=1 why=""
cp owner.keys k3; cp owner-dh.cert d3; cp owner-session.bin s3; md5sum k3 d3 s3 >sums
$LKVM sev session --pdh pdh.cert --policy $policy --dh-cert d3 --session nodir/s3 --keys k3 \
	>/dev/null 2>err && ok=0
[ "$(cat err)" = "lkvm sev session: error: cannot write --session nodir/s3: No such file or directory (no output written)" ] &&
	md5sum -c --quiet sums || { ok=0; why="session, one output fails: $(cat err); "; }
$LKVM sev session --pdh pdh.cert --policy $policy --dh-cert same --session ./same --keys k4 \
	>/dev/null 2>err && ok=0
[ "$(cat err)" = "lkvm sev session: error: --dh-cert and --session name the same file (./same)" ] &&
	[ ! -e same ] && [ ! -e k4 ] || { ok=0; why="$why session, same file twice: $(cat err); "; }
$LKVM sev export --sev=emulated --pdh pdh.new --chain nodir/chain >/dev/null 2>err && ok=0
[ "$(tail -1 err)" = "lkvm sev export: error: cannot write --chain nodir/chain: No such file or directory (no output written)" ] &&
	[ ! -e pdh.new ] || { ok=0; why="$why export: $(cat err); "; }
left=$(ls -d k3.* d3.* s3.* k4* same* pdh.new* 2>/dev/null)
[ -z "$left" ] || { ok=0; why="$why temporary files left: $left"; }
[ $ok = 1 ] && pass $t || fail $t "$why"

# lkvm sev measure is the owner's check: a blob given with --measurement
# but no TIK to check it with was exit 0 with only the digest printed (a
# script testing the exit status took a random blob as verified); --tik
# and --mnonce took anything sscanf("%2x") takes ("-1", " f") as hex; and
# of two sources for one value (--tik/--keys, --mnonce/--measurement) one
# was silently dropped.  Each is now one line and exit 1.
t=measure_options_checked
ok=1 why=""
head -c 48 /dev/urandom >rand48.bin
z32=00000000000000000000000000000000
for c in "--measurement rand48.bin|--measurement needs --keys or --tik to check it with" \
	 "--tik -1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1 --mnonce $z32|--tik: 32 hex digits expected" \
	 "--tik $z32 --mnonce +f+f+f+f+f+f+f+f+f+f+f+f+f+f+f+f|--mnonce: 32 hex digits expected" \
	 "--tik $z32 --keys owner.keys --mnonce $z32|give --tik or --keys, not both" \
	 "--tik $z32 --mnonce $z32 --measurement rand48.bin|give --mnonce or --measurement, not both"; do
	$LKVM sev measure -k $G/hello ${c%%|*} >out 2>err </dev/null; rc=$?
	{ [ $rc -ne 0 ] && [ ! -s out ] && [ "$(wc -l <err)" = 1 ] && grep -qF -- "${c#*|}" err; } ||
		{ ok=0; why="$why ${c%%|*}: rc=$rc $(cat out err); "; }
done
[ $ok = 1 ] && pass $t || fail $t "$why"
# A mismatch names what it assumed: without --api/--build those are the
# model's, and a real platform's blob then "was not made by this launch",
# which blamed the launch for a missing option.
$LKVM sev measure -k $G/hello --tik $z32 --measurement rand48.bin >out 2>err; rc=$?
if [ $rc = 1 ] && grep -qF "measurement MISMATCH: rand48.bin does not match policy 0x1, API 0.24 build 0 (the model's API and build: give --api and --build from \`lkvm sev status\`)" out
then pass measure_mismatch_names_inputs
else fail measure_mismatch_names_inputs "rc=$rc $(cat out err)"; fi

# An owner input that is not a regular file (a device, a directory) is
# named as such: read_file()'s -EINVAL came out as "Invalid argument".
t=owner_inputs_not_files
ok=1 why=""
S="--dh-cert nf-dh.cert --session nf-s.bin --keys nf.keys"
for c in "session --pdh /dev/null $S|PDH certificate /dev/null: not a regular file" \
	 "session --pdh pdh.cert --chain . $S|certificate chain .: not a regular file" \
	 "session --pdh pdh.cert --chain chain.bin --amd-chain . $S|AMD chain .: not a regular file" \
	 "session --pdh pdh.cert --chain chain.bin --amd-chain amd.bin --ark . $S|ARK .: not a regular file" \
	 "wrap-secret --keys owner.keys --measurement rand48.bin --secret /dev/zero --header nf.h --out nf.o|secret /dev/zero: not a regular file" \
	 "wrap-secret --keys owner.keys --measurement . --secret rand48.bin --header nf.h --out nf.o|measurement .: not a regular file"; do
	$LKVM sev ${c%%|*} >out 2>err </dev/null; rc=$?
	{ [ $rc -ne 0 ] && [ "$(wc -l <err)" = 1 ] && grep -qF -- "${c#*|}" err; } ||
		{ ok=0; why="$why ${c%%|*}: rc=$rc $(cat err); "; }
done
[ $ok = 1 ] && pass $t || fail $t "$why"

# The owner's --ark is the root it pins: it must be one self-signed ARK,
# as lkvm run's --sev-ark is.  An ASK given there ended in "chain does not
# validate: BAD_SIGNATURE", which blames the platform for the owner's file.
t=session_ark_checked
ok=1 why=""
if $LKVM sev export --sev=emulated --ark own-ark.cert 2>err; then
	head -c "$(stat -c %s own-ark.cert)" amd.bin >own-ask.cert
	$LKVM sev session --pdh pdh.cert --chain chain.bin --amd-chain amd.bin --ark own-ask.cert \
		--dh-cert ak-dh.cert --session ak-s.bin --keys ak.keys >/dev/null 2>err; rc=$?
	{ [ $rc -ne 0 ] && [ "$(wc -l <err)" = 1 ] &&
	  grep -qF "ARK own-ask.cert: not one self-signed AMD ARK certificate" err; } ||
		{ ok=0; why="ASK as --ark: rc=$rc $(cat err); "; }
	# ASK || ARK given as --ark (the file AMD publishes): named, not "File too large".
	$LKVM sev session --pdh pdh.cert --chain chain.bin --amd-chain amd.bin --ark amd.bin \
		--dh-cert ak-dh.cert --session ak-s.bin --keys ak.keys >/dev/null 2>err; rc=$?
	{ [ $rc -ne 0 ] && [ "$(wc -l <err)" = 1 ] &&
	  grep -qF "ARK amd.bin: larger than one AMD certificate (--ark takes the ARK alone, not ASK || ARK)" err; } ||
		{ ok=0; why="$why ASK||ARK as --ark: rc=$rc $(cat err); "; }
	$LKVM sev session --pdh pdh.cert --chain chain.bin --amd-chain amd.bin --ark own-ark.cert \
		--dh-cert ak-dh.cert --session ak-s.bin --keys ak.keys >/dev/null 2>err ||
		{ ok=0; why="$why the real ARK refused: $(cat err)"; }
else
	ok=0 why="export --ark: $(cat err)"
fi
[ $ok = 1 ] && pass $t || fail $t "$why"

# An output never replaces a file the command reads, as `cp a a` refuses:
# `--keys P --pdh P` replaced the PDH it had read and `-k K
# --sev-measure-out K` the kernel with the 48-byte measurement.  One line
# naming both options and the file, exit 1, nothing written; for run,
# before the firmware is opened or anything built.  The same file is found
# through a symlink or a hard link; a device or FIFO is never "the same".
t=output_not_an_input
ok=1 why=""
for f in pdh.cert chain.bin amd.bin own-ark.cert owner.keys owner-dh.cert owner-session.bin; do
	cp $f in-$f
done
ln -f in-chain.bin in-chain.hard
head -c 48 /dev/urandom >in-meas.bin
head -c 64 /dev/urandom >in-secret.bin
cp $G/hello in-kernel; cp $G/hello in-initrd; head -c 1M /dev/zero >in-disk.img
ln -sf in-disk.img in-disk.link
md5sum in-* >in.sums 2>/dev/null
ls -A >in.before
C="--chain in-chain.bin --amd-chain in-amd.bin"
W="wrap-secret --keys in-owner.keys --measurement in-meas.bin --secret in-secret.bin"
for c in "session --pdh in-pdh.cert --dh-cert io-dh.cert --session io-s.bin --keys in-pdh.cert|--keys in-pdh.cert would replace the file --pdh reads" \
	 "session --pdh in-pdh.cert --chain in-chain.bin --dh-cert in-chain.hard --session io-s.bin --keys io.keys|--dh-cert in-chain.hard would replace the file --chain reads" \
	 "session --pdh in-pdh.cert $C --dh-cert io-dh.cert --session ./in-amd.bin --keys io.keys|--session ./in-amd.bin would replace the file --amd-chain reads" \
	 "session --pdh in-pdh.cert $C --ark in-own-ark.cert --dh-cert io-dh.cert --session io-s.bin --keys in-own-ark.cert|--keys in-own-ark.cert would replace the file --ark reads" \
	 "$W --header io.h --out in-secret.bin|--out in-secret.bin would replace the file --secret reads" \
	 "$W --header in-meas.bin --out io.o|--header in-meas.bin would replace the file --measurement reads" \
	 "$W --header io.h --out in-owner.keys|--out in-owner.keys would replace the file --keys reads"; do
	# shellcheck disable=SC2086
	$LKVM sev ${c%%|*} >out 2>err </dev/null; rc=$?
	{ [ $rc -eq 1 ] && [ ! -s out ] &&
	  [ "$(cat err)" = "lkvm sev ${c%% *}: error: ${c#*|}" ]; } ||
		{ ok=0; why="$why ${c%%|*}: rc=$rc $(tr '\n' '|' <err); "; }
done
for c in "-k in-kernel --sev-measure-out in-kernel|--sev-measure-out in-kernel would replace the file -k/--kernel reads" \
	 "-k $G/hello -i in-initrd --sev-measure-out ./in-initrd|--sev-measure-out ./in-initrd would replace the file -i/--initrd reads" \
	 "-k $G/hello -d $T_TMP/in-kernel,ro -d in-disk.img --sev-measure-out in-disk.link|--sev-measure-out in-disk.link would replace the file -d/--disk reads" \
	 "-k $G/hello --sev-dh-cert in-owner-dh.cert --sev-session in-owner-session.bin --sev-measure-out in-owner-session.bin|--sev-measure-out in-owner-session.bin would replace the file --sev-session reads" \
	 "-k $G/hello --sev-amd-chain in-amd.bin --sev-measure-out $T_TMP/in-amd.bin|--sev-measure-out $T_TMP/in-amd.bin would replace the file --sev-amd-chain reads" \
	 "-k $G/hello --sev-secret-header io-none.h --sev-secret io-none.enc --sev-secret-gpa 0x300000 --sev-secret-wait 1 --sev-measure-out io-none.h|--sev-measure-out io-none.h would replace the file --sev-secret-header reads"; do
	# shellcheck disable=SC2086
	timeout 20 $LKVM run --sev=emulated ${c%%|*} >out 2>err </dev/null; rc=$?
	{ [ $rc -eq 1 ] && [ ! -s out ] && [ "$(cat err)" = "lkvm: error: SEV: ${c#*|}" ]; } ||
		{ ok=0; why="$why run ${c%%|*}: rc=$rc $(tr '\n' '|' <err); "; }
done
md5sum -c --quiet in.sums >sums.out 2>&1 || { ok=0; why="$why changed: $(tr '\n' ' ' <sums.out); "; }
left=$(ls -A | grep -vxF -e out -e err -e sums.out | diff in.before - | grep '^>')
[ -z "$left" ] || { ok=0; why="$why written: $left"; }
[ $ok = 1 ] && pass $t || fail $t "$why"

need_kvm launch measure_predicted verify secret_in_guest wrap_same_file wrong_platform \
	tampered_secret secret_timeout secret_empty name_taken_during_launch secret_gpa_checked \
	measurement_stdout_full measure_fifo_stoppable measure_fifo_read measure_stdout_file
head -c 64 /dev/urandom >secret.bin
P="secret_gpa=0x300000 secret_len=64"
$LKVM run --sev=emulated --sev-policy $policy --sev-dh-cert owner-dh.cert \
	--sev-session owner-session.bin --sev-measure-out meas.bin \
	--sev-secret-header hdr.bin --sev-secret sec.enc --sev-secret-gpa 0x300000 \
	--sev-secret-wait 60 -k $G/sev-secret -p "$P" >guest.out 2>run.err </dev/null &
pid=$!
T_PIDS+=($pid)
if wait_for 30 test -s meas.bin && [ "$(stat -c %s meas.bin)" -eq 48 ]
then pass launch
else fail launch "no measurement: $(cat run.err)"; fi

# lkvm sev measure replays the loaders offline and predicts the firmware's value.
pred=$($LKVM sev measure -k $G/sev-secret -p "$P" --keys owner.keys --measurement meas.bin \
	--api "$api" --build "$build" 2>&1)
echo "$pred" | grep -q "^measurement matches" && pass measure_predicted ||
	fail measure_predicted "$pred"

digest=$($LKVM sev measure -k $G/sev-secret -p "$P" | sed -n 's/^launch digest: //p')
other=$($LKVM sev measure -k $G/sev-secret -p "$P x=1" | sed -n 's/^launch digest: //p')
if $LKVM sev verify --measurement meas.bin --keys owner.keys --digest "$digest" \
	--api "$api" --build "$build" >verify.out 2>&1 &&
   ! $LKVM sev verify --measurement meas.bin --keys owner.keys --digest "$other" \
	--api "$api" --build "$build" >/dev/null 2>&1
then pass verify
else fail verify "$(cat verify.out)"; fi
# --data names files: /dev/zero hashed forever and a FIFO hung the open.
mkfifo data.fifo
ok=1 why=""
for f in /dev/zero data.fifo .; do
	timeout 10 $LKVM sev verify --measurement meas.bin --keys owner.keys --api "$api" \
		--build "$build" --data "$f" >/dev/null 2>err; rc=$?
	{ [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "data file $f: not a regular file" err; } ||
		{ ok=0; why="$why $f: rc=$rc $(cat err);"; }
done
[ $ok = 1 ] && pass verify_data_files || fail verify_data_files "$why"

# Wrap the secret and hand it over (renamed into place: lkvm waits for the files).
$LKVM sev wrap-secret --keys owner.keys --measurement meas.bin --secret secret.bin \
	--header hdr.tmp --out sec.tmp --api "$api" 2>wrap.err && mv sec.tmp sec.enc &&
	mv hdr.tmp hdr.bin
wait $pid; rc=$?
want=$(fnv1a secret.bin)
if [ $rc -eq 0 ] && grep -q "^secret fnv1a $want len 64$" guest.out &&
   grep -q "^sev cpuid eax 2 cbit 51$" guest.out &&
   [ "$(grep -c "NOT encrypted" run.err)" -eq 1 ]
then pass secret_in_guest
else fail secret_in_guest "rc=$rc want $want: $(cat guest.out run.err wrap.err)"; fi

$LKVM sev wrap-secret --keys owner.keys --measurement meas.bin --secret secret.bin \
	--header w.bin --out w.bin --api "$api" 2>err; rc=$?
if [ $rc -ne 0 ] && [ ! -e w.bin ] &&
   [ "$(cat err)" = "lkvm sev wrap-secret: error: --header and --out name the same file (w.bin)" ]
then pass wrap_same_file
else fail wrap_same_file "rc=$rc: $(cat err)"; fi

# A session made for another platform's PDH does not unwrap here.
LKVM_SEV_STATE=$T_TMP/platform-b $LKVM sev export --sev=emulated --pdh pdh-b.cert 2>/dev/null
$LKVM sev session --pdh pdh-b.cert --policy $policy --dh-cert b-dh.cert \
	--session b-session.bin --keys b.keys 2>/dev/null
$LKVM run --sev=emulated --sev-policy $policy --sev-dh-cert b-dh.cert --sev-session b-session.bin \
	-k $G/hello >/dev/null 2>err </dev/null; rc=$?
if [ $rc -ne 0 ] && grep -q "LAUNCH_START failed: firmware error BAD_MEASUREMENT" err
then pass wrong_platform
else fail wrong_platform "rc=$rc: $(cat err)"; fi

# A secret wrapped for another launch (an earlier measurement) is refused.
$LKVM run --sev=emulated --sev-policy $policy --sev-dh-cert owner-dh.cert \
	--sev-session owner-session.bin --sev-measure-out meas2.bin \
	--sev-secret-header hdr.bin --sev-secret sec.enc --sev-secret-gpa 0x300000 \
	-k $G/sev-secret -p "$P" >guest2.out 2>err </dev/null; rc=$?
if [ $rc -ne 0 ] && grep -q "LAUNCH_SECRET failed: firmware error BAD_MEASUREMENT" err &&
   ! grep -q "^secret" guest2.out
then pass tampered_secret
else fail tampered_secret "rc=$rc: $(cat err)"; fi

# No secret from the owner: a bounded wait, then one clear line.
$LKVM run --sev=emulated --sev-measure-out m3.bin --sev-secret-header none.hdr \
	--sev-secret none.enc --sev-secret-gpa 0x300000 --sev-secret-wait 1 \
	-k $G/hello >/dev/null 2>err </dev/null; rc=$?
[ $rc -ne 0 ] && grep -q "did not appear within 1 s" err && pass secret_timeout ||
	fail secret_timeout "rc=$rc: $(cat err)"
# One that exists but stays empty is named as such (not "did not appear").
: >empty.hdr
$LKVM run --sev=emulated --sev-measure-out m3.bin --sev-secret-header empty.hdr \
	--sev-secret sec.enc --sev-secret-gpa 0x300000 --sev-secret-wait 1 \
	-k $G/hello >/dev/null 2>err </dev/null; rc=$?
[ $rc -ne 0 ] && grep -q "secret file empty.hdr is still empty after 1 s" err || {
	secret_empty_why="rc=$rc: $(cat err); "; }
# A FIFO or device is not a file the owner will fill: said at once, not
# "still empty" after the whole wait.
mkfifo secret.fifo
timeout 20 $LKVM run --sev=emulated --sev-measure-out m3.bin --sev-secret-header secret.fifo \
	--sev-secret sec.enc --sev-secret-gpa 0x300000 --sev-secret-wait 10 \
	-k $G/hello >/dev/null 2>err </dev/null; rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "secret file secret.fifo is not a regular file" err ||
	secret_empty_why="$secret_empty_why fifo: rc=$rc: $(cat err)"
[ -z "${secret_empty_why:-}" ] && pass secret_empty || fail secret_empty "$secret_empty_why"

# While the launch waits for the owner's secret the instance already has
# its name: listed as starting, a second one with that name is refused
# (it used to start, and the first then died "name in use" after using
# up the secret), guest requests are refused, and stop ends the wait.
bg_start VMS $LKVM run --sev=emulated --name sev-wait --sev-measure-out m5.bin \
	--sev-secret-header none.hdr --sev-secret none.enc --sev-secret-gpa 0x300000 \
	--sev-secret-wait 60 -k $G/hello >/dev/null 2>wait.err </dev/null
starting_as() { $LKVM list 2>/dev/null | grep -Eq "^$1 +[0-9]+ +starting "; }
starting() { starting_as sev-wait; }
if wait_for 20 starting; then
	$LKVM run -k $G/hello --name sev-wait >/dev/null 2>dup.err </dev/null; drc=$?
	pout=$($LKVM pause --name sev-wait 2>&1); prc=$?
	sout=$($LKVM stop --name sev-wait 2>&1); src=$?
	wait $VMS; vrc=$?
	if [ $drc -ne 0 ] && grep -q "instance name 'sev-wait' is in use" dup.err &&
	   [ $prc -ne 0 ] && echo "$pout" | grep -q "the guest has not started yet" &&
	   [ $src -eq 0 ] && [ $vrc -eq 0 ] && grep -q "stopped while waiting for the launch secret" wait.err
	then pass name_taken_during_launch
	else fail name_taken_during_launch "dup rc=$drc $(cat dup.err) / pause rc=$prc $pout / stop rc=$src $sout / vmm rc=$vrc $(cat wait.err)"; fi
else
	fail name_taken_during_launch "never listed as starting: $($LKVM list 2>&1) / $(cat wait.err)"
	kill $VMS; wait $VMS
fi

# --sev-measure-out on a FIFO (an owner's agent reads it): while no
# reader comes the launch waits, says so, and a stop ends the wait.  (The
# open() blocked in set-up, where signals only request a stop: lkvm stop
# and SIGTERM left it there for ever, "still running after 10s".)
mkfifo meas.fifo
bg_start VMF $LKVM run --sev=emulated --name sev-fifo --sev-measure-out meas.fifo \
	-k $G/hello >/dev/null 2>fifo.err </dev/null
sleep 1
if wait_for 20 starting_as sev-fifo; then
	sout=$(timeout 15 $LKVM stop --name sev-fifo 2>&1); src=$?
	if [ $src -eq 0 ] && wait_for 5 bash -c "! kill -0 $VMF" && wait $VMF &&
	   grep -q "waiting for a reader of the FIFO meas.fifo" fifo.err &&
	   grep -q "SEV: stopped while waiting for a reader of meas.fifo" fifo.err &&
	   ! grep -q "guest powered off" fifo.err
	then pass measure_fifo_stoppable
	else fail measure_fifo_stoppable "stop rc=$src $sout / $(tr '\n' '|' <fifo.err)"; kill -9 $VMF; fi
else
	fail measure_fifo_stoppable "never listed as starting: $($LKVM list 2>&1) / $(cat fifo.err)"
fi
# ... and a reader that comes late gets the 48 bytes; the guest runs.
bg_start VMF $LKVM run --sev=emulated --sev-measure-out meas.fifo -k $G/hello \
	>fifo.out 2>fifo.err </dev/null
sleep 1
timeout 10 cat meas.fifo >fifo.bin
if wait_for 10 bash -c "! kill -0 $VMF" && wait $VMF && [ "$(stat -c %s fifo.bin)" -eq 48 ] &&
   grep -q "Hello from an lkvm guest" fifo.out
then pass measure_fifo_read
else fail measure_fifo_read "$(stat -c %s fifo.bin) bytes: $(tr '\n' '|' <fifo.err)"; kill -9 $VMF; fi

# --sev-measure-out /dev/stdout with stdout a file: the 48 bytes, then the
# guest's console after them.  (The file was replaced by a new one holding
# the measurement, and the console went on into the old, unlinked one.)
$LKVM run --sev=emulated --sev-measure-out /dev/stdout -k $G/hello >mstd.out 2>mstd.err </dev/null; rc=$?
if [ $rc -eq 0 ] && [ "$(head -c 48 mstd.out | wc -c)" -eq 48 ] &&
   [ "$(tail -c +49 mstd.out)" = "Hello from an lkvm guest!" ]
then pass measure_stdout_file
else fail measure_stdout_file "rc=$rc, $(wc -c <mstd.out) bytes: $(tail -c +49 mstd.out | head -c 80) / $(cat mstd.err)"; fi

# Where the secret goes is checked before the owner is made to wrap one
# (no measurement written, no wait), and one that would cross a page is
# named as such instead of KVM's bare EINVAL.  A secret position without
# a secret is an error, not ignored.
ok=1 why=""
head -c 52 /dev/zero >h52; head -c 32 /dev/zero >s32
for c in "0x300008|is not 16-byte aligned" "0x40000000|is not guest RAM" \
	 "0x300ff0|the secret (32 bytes at --sev-secret-gpa 0x300ff0) crosses a 4 KiB page"; do
	rm -f m4.bin
	$LKVM run --sev=emulated --sev-measure-out m4.bin --sev-secret-header h52 \
		--sev-secret s32 --sev-secret-gpa ${c%%|*} --sev-secret-wait 30 \
		-k $G/hello >/dev/null 2>err </dev/null; rc=$?
	{ [ $rc -ne 0 ] && [ "$(grep -c error err)" = 1 ] && grep -qF "${c#*|}" err; } ||
		{ ok=0; why="$why ${c%%|*}: rc=$rc $(cat err); "; }
	case $c in *crosses*) ;; *) [ -e m4.bin ] && { ok=0; why="$why measured first; "; } ;; esac
done
$LKVM run --sev=emulated --sev-secret-gpa 0x300000 -k $G/hello >/dev/null 2>err </dev/null; rc=$?
[ $rc -ne 0 ] && grep -q "needs --sev-secret, --sev-secret-header and --sev-secret-gpa together" err ||
	{ ok=0; why="$why gpa alone: rc=$rc $(cat err)"; }
head -c 4112 /dev/zero >s4112
$LKVM sev wrap-secret --keys owner.keys --measurement meas.bin --secret s4112 \
	--header w.hdr --out w.enc 2>err && ok=0
grep -q "larger than 4096 bytes" err || { ok=0; why="$why wrap 4112 bytes: $(cat err)"; }
[ $ok = 1 ] && pass secret_gpa_checked || fail secret_gpa_checked "$why"

# The measurement on a stdout that cannot take it fails the launch, as a
# --sev-measure-out that cannot be written does: the guest never runs with
# its measurement lost (it ran, and lkvm exited 0).
if [ -w /dev/full ]; then
	$LKVM run --sev=emulated -k $G/hello </dev/null >/dev/full 2>err; rc=$?
	if [ $rc -eq 1 ] && grep -q "error: SEV: cannot write the measurement to stdout: No space left on device$" err &&
	   ! grep -q "guest powered off" err
	then pass measurement_stdout_full
	else fail measurement_stdout_full "rc=$rc: $(cat err)"; fi
else
	skip measurement_stdout_full "/dev/full is not writable here"
fi

t_done
