# test_docs.sh - the documentation matches the programs.

# Every long option a program's --help lists is described in its man page.
check_options_in_man() {
	local prog=$1 page=$2 opt missing=
	for opt in $("$prog" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
		grep -qF -- "$(echo "$opt" | sed 's/-/\\-/g')" "$page" || missing="$missing $opt"
	done
	[ -z "$missing" ] || fail "$(basename "$prog"): not in $(basename "$page"):$missing"
}

test_docs_server_options_in_man_page() {
	check_options_in_man "$SERVER" "$OLDPWD/man/parley-server.1"
}

test_docs_client_options_in_man_page() {
	check_options_in_man "$CLIENT" "$OLDPWD/man/parley-client.1"
}

test_docs_bench_options_in_man_page() {
	check_options_in_man "$TOP/$BUILD/parley-bench" "$OLDPWD/man/parley-bench.1"
}

# The "-X, --NAME" lines of a program's --help, as "X NAME".
help_letters() {
	"$1" --help | sed -nE 's/^ +-([[:alnum:]]), --([a-z][a-z0-9-]*).*/\1 \2/p'
}

# The --help text is written by hand, the letters come from each program's
# option table: -X and --NAME must do the same with the same value (two
# stray options end either with a usage error, which names the option whose
# value is bad; of a flag, or of an option taking any text, only that much
# is checked).
test_docs_help_letters_are_their_long_options() {
	local prog l name a b
	for prog in "$SERVER" "$CLIENT" "$TOP/$BUILD/parley-bench"; do
		while read -r l name; do
			a=$("$prog" "-$l" --zzz --zzz 2>&1 </dev/null; echo "exit $?")
			b=$("$prog" "--$name" --zzz --zzz 2>&1 </dev/null; echo "exit $?")
			[ "$a" == "$b" ] || fail "$(basename "$prog"): -$l is not --$name: [$a] [$b]"
		done < <(help_letters "$prog")
	done
}

# A letter means one thing in every program that has it (-p proto, -t
# timeout, -q quiet, -v verbose...), so it can be typed without looking.
test_docs_short_options_agree_across_programs() {
	local prog clash
	clash=$(for prog in "$SERVER" "$CLIENT" "$TOP/$BUILD/parley-bench"; do
		help_letters "$prog"
	done | sort -u | awk '{ n[$1]++; names[$1] = names[$1] " --" $2 }
		END { for (l in n) if (n[l] > 1) print "-" l ":" names[l] }')
	[ -z "$clash" ] || fail "one letter, several options: $clash"
}

test_docs_man_pages_render_cleanly() {
	local page out
	for page in "$OLDPWD"/man/*.[0-9]; do
		if command -v groff >/dev/null; then
			out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
			[ -z "$out" ] || fail "$(basename "$page"): $out"
		fi
		grep -q '^\.TH ' "$page" || fail "$(basename "$page"): no .TH header"
		grep -q '^\.SH NAME' "$page" || fail "$(basename "$page"): no NAME section"
	done
}

test_docs_readme_commands() {
	local r="$OLDPWD/README.md"
	grep -q '^    make run ' "$r" || fail "README lacks make run"
	grep -q '^    make test ' "$r" || fail "README lacks make test"
	grep -q '^    build/parley-client ' "$r" || fail "README lacks the client command"
}

# Every pl_ name libparley(7) lists is declared in an installed header.
test_docs_libparley_names_exist() {
	local name missing=
	for name in $(grep -oE '\bpl_[a-z0-9_]+' "$OLDPWD/man/libparley.7" | sort -u); do
		grep -qE "\b$name\b" "$OLDPWD"/include/parley/*.h || missing="$missing $name"
	done
	[ -z "$missing" ] || fail "libparley.7 names what no header declares:$missing"
}
