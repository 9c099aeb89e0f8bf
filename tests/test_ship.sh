# test_ship.sh - install, pkg-config, examples, socket activation, JSON logs, docs.

test_ship_install_pkgconfig_and_uninstall() {
	need pkg-config pkgconf
	local dest=$T/dest prefix=/opt/parley-test
	make -s -C "$TOP" BUILD="$BUILD" DESTDIR="$dest" PREFIX="$prefix" install >make.log 2>&1 || fail "install: $(cat make.log)"
	for f in bin/parley-server bin/parley-client bin/parley-bench lib/libparley.a \
		lib/libparley.so.0 lib/libparley.so lib/pkgconfig/parley.pc include/parley/parley.h \
		share/man/man1/parley-server.1 share/man/man7/libparley.7 \
		share/bash-completion/completions/parley-client; do
		[ -e "$dest$prefix/$f" ] || fail "not installed: $f"
	done
	expect_match "$(readelf -d "$dest$prefix/lib/libparley.so" | grep SONAME)" 'libparley\.so\.0'
	# a program built against the installed copy, the way a user would
	export PKG_CONFIG_PATH=$dest$prefix/lib/pkgconfig
	flags=$(pkg-config --define-variable=prefix="$dest$prefix" --cflags --libs parley) || fail "pkg-config"
	local san=
	[ "$BUILD" = build-asan ] && san="-fsanitize=address,undefined" # the installed .so is instrumented
	cc -std=c11 -D_GNU_SOURCE $san -o hello "$TOP/examples/hello-client.c" $flags 2>/dev/null ||
		fail "build against install"
	start_server --reply installed 127.0.0.1:0
	expect_eq "$(LD_LIBRARY_PATH=$dest$prefix/lib ./hello "$ADDR")" "reply: installed"
	stop_server
	make -s -C "$TOP" BUILD="$BUILD" DESTDIR="$dest" PREFIX="$prefix" uninstall >/dev/null 2>&1
	left=$(find "$dest" -type f -o -type l)
	expect_eq "$left" "" "files left after uninstall"
}

test_ship_examples_run() {
	"$TOP/$BUILD/examples/echo-server" 127.0.0.1:0 2>ex.err &
	PIDS+=($!)
	local line
	line=$(first_line ex.err)
	local a=${line#listening on }
	expect_eq "$("$TOP/$BUILD/examples/hello-client" "$a" 'ping me')" "reply: ping me"
	expect_eq "$(client "$a" one two)" $'server says: one\nserver says: two'
	kill -TERM "${PIDS[-1]}"
	wait "${PIDS[-1]}"
	expect_eq "$?" 0 "echo-server exit"
}

test_ship_examples_are_short() {
	local n
	n=$(wc -l <"$TOP/examples/echo-server.c")
	[ "$n" -lt 60 ] || fail "echo-server.c has $n lines"
}

test_ship_socket_activation() {
	mkfifo act.fifo
	"$RAWPEER" -A 127.0.0.1:0 "$SERVER" -v >act.out 2>act.fifo &
	SRV_PID=$!
	PIDS+=($SRV_PID)
	exec {fd}<act.fifo
	IFS= read -r -t 5 -u $fd l1 || fail "no output"
	IFS= read -r -t 5 -u $fd l2 || fail "no second line"
	cat <&$fd >act.err &
	expect_match "$l1" '^listening on 127\.0\.0\.1:[0-9]+$'
	expect_eq "$l2" "socket activation: 1 listener from systemd"
	local a=${l1#listening on }
	expect_eq "$(client "$a")" "server says: world"
	# a Unix socket handed over by "systemd" is not deleted on exit
	kill -TERM $SRV_PID
	wait $SRV_PID
	expect_eq "$?" 0
	"$RAWPEER" -A "unix:$T/act.sock" "$SERVER" -q 2>/dev/null &
	local p=$!
	PIDS+=($p)
	for _ in $(seq 1 100); do client "unix:$T/act.sock" >/dev/null 2>&1 && break; sleep 0.05; done
	kill -TERM $p
	wait $p
	[ -S "$T/act.sock" ] || fail "the server removed a socket file it did not create"
}

test_ship_json_logs() {
	"$SERVER" --log-format json -v 127.0.0.1:0 2>json.err &
	local p=$!
	PIDS+=($p)
	local line
	line=$(first_line json.err)
	expect_match "$line" '^\{"ts":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z","level":"info","event":"listening","msg":"listening on 127\.0\.0\.1:[0-9]+","addr":"127\.0\.0\.1:[0-9]+"\}$'
	local a
	a=$(sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' <<<"$line")
	client "$a" >/dev/null
	kill -TERM $p
	wait $p
	expect_match "$(cat json.err)" '"event":"open","msg":"open 127\.0\.0\.1:[0-9]+","peer":"127\.0\.0\.1:[0-9]+"'
	expect_match "$(cat json.err)" '"event":"close",.*"reason":"eof"'
	expect_match "$(cat json.err)" '"event":"stats",.*"accepted":1,'
	if command -v python3 >/dev/null; then
		python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' json.err || fail "a line is not JSON"
	fi
}

test_ship_version_from_one_place() {
	local v
	v=$(sed -n 's/^#define PARLEY_VERSION "\(.*\)"/\1/p' "$TOP/include/parley/version.h")
	for p in "$SERVER" "$CLIENT" "$TOP/$BUILD/parley-bench"; do
		expect_match "$("$p" --version)" "^parley-[a-z]+ $v \\(git [0-9a-f]+|unknown\\)$"
	done
	grep -q "\"parley $v\"" "$TOP/man/parley-server.1" || fail "man page version differs from version.h"
}

test_ship_bash_completion_loads() {
	bash -c "source '$TOP/contrib/parley.bash-completion' && complete -p parley-client" >/dev/null ||
		fail "completion does not load"
}

# The completion knows which options take a value from each program's own
# --help: -q is quiet (no value) in the server, -t takes one in the client.
test_ship_bash_completion_values() {
	local out
	out=$(bash -c "source '$TOP/contrib/parley.bash-completion'
		for w in 'parley-server -q' 'parley-server --max-conns' 'parley-server -r' 'parley-server --echo' \
			 'parley-client -t' 'parley-client -v' 'parley-client -s' 'parley-client -4'; do
			set -- \$w
			p=$TOP/$BUILD/\$1
			_parley_takes_value \"\$p\" \"\$2\" && echo \"\$*: value\" || echo \"\$*: flag\"
		done")
	expect_eq "$out" "parley-server -q: flag
parley-server --max-conns: value
parley-server -r: value
parley-server --echo: flag
parley-client -t: value
parley-client -v: flag
parley-client -s: value
parley-client -4: flag"
}

# parley.pc names the PREFIX of the install that writes it, not of an earlier
# one: two installs from one build tree (make test's own install uses
# /opt/parley-test) each get their own prefix in parley.pc and pkg-config.
test_ship_pkgconfig_follows_prefix() {
	need pkg-config pkgconf
	local prefix dest cflags
	for prefix in /opt/parley-a /usr/local/parley-b; do
		dest=$T/dest${prefix//\//_}
		make -s -C "$TOP" BUILD="$BUILD" DESTDIR="$dest" PREFIX="$prefix" install >make.log 2>&1 ||
			fail "install PREFIX=$prefix: $(cat make.log)"
		expect_eq "$(grep '^prefix=' "$dest$prefix/lib/pkgconfig/parley.pc")" "prefix=$prefix" \
			"parley.pc of PREFIX=$prefix"
		cflags=$(PKG_CONFIG_PATH=$dest$prefix/lib/pkgconfig pkg-config --cflags parley) ||
			fail "pkg-config for PREFIX=$prefix"
		expect_eq "$(echo $cflags)" "-I$prefix/include" "pkg-config --cflags for PREFIX=$prefix"
		[ -e "$dest$prefix/include/parley/parley.h" ] || fail "no parley.h under $dest$prefix/include"
	done
}
