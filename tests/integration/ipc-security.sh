#!/usr/bin/env bash
# Control socket fences and privileges: private directory and socket modes,
# refusing unsafe directories, another user kept out (by the directory and,
# when that is opened up, by the peer uid check), and a running VMM without
# capabilities in any of its threads.
. "$(dirname "$0")/../lib.sh"
need_kvm dir_modes unsafe_dir_refused other_user_client other_user_peercred caps_dropped
G=$GUESTS
RAW=$LKVM_BUILD/tests/tools/ipc-raw
listed() { $LKVM list --json 2>/dev/null | grep -q "\"name\": \"$1\", \"pid\": [0-9]*, \"state\": \"running\""; }

# A fresh directory is created 0700, the socket 0600.
export LKVM_DIR=$T_TMP/fresh
bg_start VM $LKVM run -k $G/counter --name sec -p delay=20000 >/dev/null 2>$T_TMP/vm.err
if wait_for 20 listed sec && [ "$(stat -c %a $LKVM_DIR)" = 700 ] &&
   [ "$(stat -c %a $LKVM_DIR/sec.sock)" = 600 ] && [ -S $LKVM_DIR/sec.sock ]
then pass dir_modes
else fail dir_modes "dir $(stat -c %a $LKVM_DIR 2>&1) sock $(stat -c %a $LKVM_DIR/sec.sock 2>&1): $(cat $T_TMP/vm.err)"; fi

# Group/other access or a symlink: refused with the reason, nothing started.
mkdir -m 755 $T_TMP/open; ln -s $T_TMP/fresh $T_TMP/link
LKVM_DIR=$T_TMP/open $LKVM run -k $G/hello --name x >/dev/null 2>$T_TMP/e1; r1=$?
LKVM_DIR=$T_TMP/link $LKVM run -k $G/hello --name x >/dev/null 2>$T_TMP/e2; r2=$?
LKVM_DIR=$T_TMP/open $LKVM list >/dev/null 2>$T_TMP/e3; r3=$?
if [ $r1 -ne 0 ] && grep -q "has mode 0755: it must be private" $T_TMP/e1 &&
   [ $r2 -ne 0 ] && grep -q "is a symlink; give the directory it points to" $T_TMP/e2 &&
   [ $r3 -ne 0 ] && grep -q "^lkvm list: error: .*has mode 0755" $T_TMP/e3 && [ "$(wc -l < $T_TMP/e3)" -eq 1 ]
then pass unsafe_dir_refused
else fail unsafe_dir_refused "$r1 $(cat $T_TMP/e1) / $r2 $(cat $T_TMP/e2) / $r3 $(cat $T_TMP/e3)"; fi

# A directory whose parent is missing: made one level deep only, and said so.
LKVM_DIR=$T_TMP/none/dir $LKVM run -k $G/hello --name x >/dev/null 2>$T_TMP/e4; r4=$?
if [ $r4 -ne 0 ] && [ "$(wc -l < $T_TMP/e4)" -eq 1 ] && [ ! -e $T_TMP/none ] &&
   grep -q "cannot create $T_TMP/none/dir: No such file or directory (its parent does not exist)" $T_TMP/e4
then pass dir_parent_missing
else fail dir_parent_missing "$r4 $(cat $T_TMP/e4)"; fi

as_nobody() {
	if command -v setpriv >/dev/null; then
		setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"
	else
		runuser -u nobody -- "$@"
	fi
}
nobody_can_run() { as_nobody test -x $NLKVM && as_nobody test -x $NRAW; }
NLKVM=$LKVM NRAW=$RAW

if [ "$(id -u)" -ne 0 ]; then
	skip other_user_client "needs root to act as a second user"
	skip other_user_peercred "needs root to act as a second user"
else
	chmod 711 $T_TMP
	# A checkout in a private directory (mktemp -d): give nobody its own copies.
	if ! nobody_can_run; then
		mkdir -m 755 $T_TMP/bin && cp $LKVM $RAW $T_TMP/bin/ && chmod 755 $T_TMP/bin/*
		NLKVM=$T_TMP/bin/lkvm NRAW=$T_TMP/bin/$(basename $RAW)
	fi
	if ! nobody_can_run; then
		skip other_user_client "user nobody cannot execute $LKVM (path not world-accessible)"
		skip other_user_peercred "user nobody cannot execute $LKVM (path not world-accessible)"
	else
		# The ordinary client refuses a directory it does not own.
		as_nobody env LKVM_DIR=$LKVM_DIR $NLKVM stop --name sec >/dev/null 2>$T_TMP/n1; rc=$?
		if [ $rc -ne 0 ] && grep -q "^lkvm stop: error: sec: .*owned by uid 0, not by you" $T_TMP/n1 && listed sec
		then pass other_user_client
		else fail other_user_client "rc=$rc: $(cat $T_TMP/n1)"; fi

		# Open the directory and socket up (an admin's mistake): the VMM
		# itself still refuses the other uid, answers why, and runs on.
		as_nobody $NRAW $LKVM_DIR/sec.sock read-only >$T_TMP/n2 2>&1; closed=$?
		chmod 711 $LKVM_DIR; chmod 666 $LKVM_DIR/sec.sock
		# The VMM answers and hangs up before reading anything: just read.
		as_nobody $NRAW $LKVM_DIR/sec.sock read-only >$T_TMP/n3 2>&1
		chmod 700 $LKVM_DIR; chmod 600 $LKVM_DIR/sec.sock
		if [ $closed -ne 0 ] && grep -q "connect-failed Permission denied" $T_TMP/n2 &&
		   [ "$(cat $T_TMP/n3 | tr '\n' ' ')" = "reply -13 permission denied eof " ] && grep -q "refused connection from uid 65534" $T_TMP/vm.err &&
		   listed sec
		then pass other_user_peercred
		else fail other_user_peercred "closed dir: $(cat $T_TMP/n2) / open: $(cat $T_TMP/n3)"; fi
	fi
fi

# No capabilities left in any thread of the running VMM (as root the
# bounding set is emptied too), and no way back through exec.  The control
# socket comes up (run hook 30) before the drop (hook 90): poll for it.
caps_dropped() {
	ok=1; why=
	for t in /proc/$VM/task/*; do
		# Read each file once: connection threads come and go.
		st=$(cat $t/status 2>/dev/null) && stat=$(cat $t/stat 2>/dev/null) || continue
		comm=$(echo "$st" | awk '$1 == "Name:" { print $2 }')
		# Kernel workers in the thread group (PF_USER_WORKER/PF_KTHREAD) run no user code.
		flags=$(echo "$stat" | sed 's/.*) //' | awk '{ print $7 }')
		(( flags & 0x00204000 )) && continue
		for f in CapEff CapPrm CapInh CapAmb; do
			v=$(echo "$st" | awk -v f="$f:" '$1 == f { print $2 }')
			[ "$v" = 0000000000000000 ] || { ok=0; why="$why $comm $f=$v"; }
		done
		[ "$(echo "$st" | awk '$1 == "NoNewPrivs:" { print $2 }')" = 1 ] || { ok=0; why="$why $comm no NoNewPrivs"; }
		if [ "$(id -u)" -eq 0 ]; then
			v=$(echo "$st" | awk '$1 == "CapBnd:" { print $2 }')
			[ "$v" = 0000000000000000 ] || { ok=0; why="$why $comm CapBnd=$v"; }
		fi
	done
	ntasks=$(ls /proc/$VM/task | wc -l)
	[ $ok -eq 1 ] && [ "$ntasks" -ge 3 ]
}
if wait_for 15 caps_dropped; then pass caps_dropped
else caps_dropped; fail caps_dropped "threads=$ntasks:$why"; fi

$LKVM stop --name sec >/dev/null
t_done
