# The user-facing docs (README.md, docs/*.md) name files, make targets,
# command-line options, functions, environment variables and tests: each
# must exist, so a rename or a removal that forgets the docs fails here.
# checker_catches_breakage runs the same checks on a made-up page with one
# broken reference of each kind and expects every one reported.
. "$(dirname "$0")/../lib.sh"
cd "$LKVM_SRC" || exit 1

# Names the docs quote from elsewhere (Linux's tree, a kernel log line, a
# file fetched at test time), not from this one.
EXTERNAL=" x86/fpu build/linux/vmlinuz "

# Every file of the source tree, for bare names ("dest.c") and globs.
find . -path ./build -prune -o -path ./.git -prune -o -type f -print | sed 's|^\./||' \
	>"$T_TMP/files"

if ! "$LKVM" help >/dev/null 2>&1; then
	fail refs_exist "cannot run LKVM='$LKVM' to read its options"
	t_done
fi
# The options lkvm shows in its help, and hidden ones (.long_name = "x").
{
	for c in $("$LKVM" help | sed -n 's/^   \([a-z][a-z-]*\) .*/\1/p'); do
		"$LKVM" "$c" --help
	done
	for s in $("$LKVM" sev --help | sed -n 's/^   \([a-z][a-z-]*\) .*/\1/p'); do
		"$LKVM" sev "$s" --help
	done
	grep -ohE '\.long_name = "[a-z0-9-]+"' -- *.c */*.c | sed 's/.*"\(.*\)"/--\1/'
	echo --debug; echo --help; echo --version	# main.c's own
} 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u >"$T_TMP/options"

# A file name with the placeholders the docs use: builtin-NAME.c,
# builtin-{list,stop}.c, migration/sev-*.c.
file_exists() {
	local p=$1 pre alts post a
	case " $EXTERNAL " in *" $p "*) return 0 ;; esac
	if [[ $p == *"{"*","*"}"* ]]; then
		pre=${p%%\{*}; post=${p#*\}}; alts=${p#*\{}; alts=${alts%%\}*}
		local IFS=,
		for a in $alts; do file_exists "$pre$a$post" || return 1; done
		return 0
	fi
	[ -e "$p" ] && return 0
	p=$(echo "$p" | sed -E 's/[A-Z]{2,}/*/g')
	if [[ $p == */* ]]; then
		grep -qxE "$(glob_re "$p")" "$T_TMP/files"
	else
		grep -qE "(^|/)$(glob_re "$p")\$" "$T_TMP/files"
	fi
}
glob_re() { printf '%s' "$1" | sed -e 's/[.]/\\./g' -e 's/[*]/[^\/]*/g'; }

# build/X: a file the Makefile knows how to make (make -n says so), or a
# directory it makes files in.
build_exists() {
	case " $EXTERNAL " in *" $1 "*) return 0 ;; esac
	[ -e "$1" ] || grep -qF "\$(O)/${1#build/}/" Makefile mk/*.mk ||
		env -u MAKEFLAGS -u MAKELEVEL make -n "$1" >/dev/null 2>&1
}

# check_doc FILE: one line per reference in FILE that names nothing.
check_doc() {
	local f=$1 ln tok
	# Paths under the tree's directories, not inside a longer path
	# (Linux's Documentation/arch/x86/boot.rst) or an #include <...>.
	grep -noE '(^|[^A-Za-z0-9_./<-])(\.ci|bench|docs|include|mk|scripts|tests|util|virtio|x86|sev|migration)/[A-Za-z0-9_.*{},/-]*[A-Za-z0-9_*}]' "$f" |
	while IFS=: read -r ln tok; do
		tok=$(echo "$tok" | sed -E 's/^[^A-Za-z.]*//')
		file_exists "$tok" || echo "$f:$ln: no file $tok"
	done
	# Bare file names: dest.c, migrate-basic.sh, sev.md.
	grep -noE '(^|[^A-Za-z0-9_./-])[A-Za-z0-9_{},*-]+\.(c|h|S|sh|py|mk|inc|md)\b' "$f" |
	while IFS=: read -r ln tok; do
		tok=$(echo "$tok" | sed -E 's/^[^A-Za-z0-9_{*]*//')
		file_exists "$tok" || echo "$f:$ln: no file $tok"
	done
	grep -noE '(^|[^A-Za-z0-9_./-])build/[A-Za-z0-9_./-]*[A-Za-z0-9_]' "$f" |
	while IFS=: read -r ln tok; do
		tok=${tok#*build/}; tok=build/$tok
		build_exists "$tok" || echo "$f:$ln: nothing builds $tok"
	done
	# make targets, as commands: `make X` or an indented "make X".
	grep -noE '`make [a-z][a-z0-9-]*|^ +make [a-z][a-z0-9-]*' "$f" |
	while IFS=: read -r ln tok; do
		tok=${tok##* }
		grep -qE "^$tok:" Makefile mk/*.mk || echo "$f:$ln: no make target $tok"
	done
	grep -noE -- '(^|[^A-Za-z0-9-])--[a-z][a-z0-9-]*[a-z0-9]' "$f" |
	while IFS=: read -r ln tok; do
		tok=--${tok#*--}
		[ "$tok" = --sev- ] && continue		# "--sev-*": the family
		grep -qxF -- "$tok" "$T_TMP/options" || echo "$f:$ln: no option $tok"
	done
	# module__verb functions, LKVM_* variables, test_* unit tests.
	grep -noE '\b[a-z][a-z0-9_]*__[a-z0-9_]+\b|\bLKVM_[A-Z0-9_]+\b|\btest_[a-z0-9_]+\b' "$f" |
	while IFS=: read -r ln tok; do
		grep -rqw --include='*.[chS]' --include='*.sh' --include='*.inc' --include='*.mk' \
			--include=Makefile --exclude=docs-refs.sh --exclude-dir=build -- "$tok" . ||
			echo "$f:$ln: no such name $tok"
	done
}

bad=$(for f in README.md docs/*.md; do check_doc "$f"; done)
if [ -z "$bad" ]; then
	pass refs_exist
else
	fail refs_exist "$(echo "$bad" | wc -l) broken: $(echo "$bad" | tr '\n' '|')"
fi

# A page with one broken reference of each kind, beside good ones.
cat >"$T_TMP/broken.md" <<'EOF'
Good: `x86/serial.c`, kvm.c, builtin-NAME.c, `migration/sev-*.c`,
builtin-{list,stop}.c, `make check`, `--incoming`, kvm__init_all(),
LKVM_DIR, build/san/lkvm, Linux's Documentation/arch/x86/boot.rst.
Broken: `x86/no-such-file.c`, gone-away.sh, builtin-{list,nothere}.c,
`make no-such-target`, `--no-such-option`, kvm__no_such_function,
LKVM_NO_SUCH_VARIABLE, test_no_such_test, build/no/such/binary.
EOF
got=$(check_doc "$T_TMP/broken.md")
want="no file x86/no-such-file.c
no file gone-away.sh
no file builtin-{list,nothere}.c
nothing builds build/no/such/binary
no make target no-such-target
no option --no-such-option
no such name kvm__no_such_function
no such name LKVM_NO_SUCH_VARIABLE
no such name test_no_such_test"
if [ "$(echo "$got" | sed 's/^[^ ]* //')" = "$want" ]; then
	pass checker_catches_breakage
else
	fail checker_catches_breakage "got: $(echo "$got" | tr '\n' '|')"
fi
t_done
