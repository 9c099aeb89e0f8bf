# test_lifecycle.sh - starting, signals and stopping: what a second server,
# a second SIGTERM, a SIGHUP, a bad LISTEN_FDS or a full Unix backlog do,
# and how the server's output reaches a pipe or file.

# A second SIGTERM while threads still drain: exit 0 with the counters,
# every time (thread 0 may finish its own clients first).
test_second_sigterm_during_threaded_drain() {
	local round
	for round in 1 2 3; do
		start_server -q -v --echo --threads 4 --drain-timeout 1.5 127.0.0.1:0
		rawpeer -t 5000 "$ADDR" M:400000:abcdef say:sent sleep:3000 >s1.out 2>&1 &
		PIDS+=($!)
		rawpeer -t 5000 "$ADDR" M:400000:abcdef say:sent sleep:3000 >s2.out 2>&1 &
		PIDS+=($!)
		_x=$(first_line s1.out)
		_x=$(first_line s2.out)
		kill -TERM "$SRV_PID"
		sleep 0.3
		kill -TERM "$SRV_PID" 2>/dev/null
		sleep 0.2
		kill -INT "$SRV_PID" 2>/dev/null
		wait_server
		expect_eq "$SRV_RC" 0 "round $round: exit"
		expect_match "$(grep '^stats: ' err)" "accepted=2 .*shutdown=2 " "round $round: counters"
	done
}

# SIGHUP is logged and changes nothing; the Unix file stays until SIGTERM.
test_sighup_keeps_serving() {
	start_server -v "unix:$T/h.sock"
	kill -HUP "$SRV_PID"
	local i
	for ((i = 0; i < 100; i++)); do grep -q SIGHUP err && break; sleep 0.05; done
	expect_eq "$(grep SIGHUP err)" "SIGHUP: nothing to reload; still serving"
	expect_eq "$(client "unix:$T/h.sock")" "server says: world"
	stop_server
	expect_eq "$SRV_RC" 0
	[ ! -e "$T/h.sock" ] || fail "socket file left behind"
}

# A Unix path whose live server has a full accept queue: refused at once
# (the probe does not block), not a hang deaf to SIGTERM.
test_unix_path_of_busy_server_refused() {
	"$RAWPEER" -t 8000 -B "unix:$T/busy.sock" >busy.out 2>&1 &
	PIDS+=($!)
	local i
	for ((i = 0; i < 100; i++)); do [ -S "$T/busy.sock" ] && grep -q . busy.out && break; sleep 0.05; done
	err=$(timeout 5 "$SERVER" "unix:$T/busy.sock" 2>&1)
	expect_eq "$?" 1 "exit"
	expect_eq "$err" "parley-server: listen on unix:$T/busy.sock: Address already in use"
}

# A second server on a port fails whatever either one's thread count.
test_second_server_refused_with_threads() {
	local first second
	for first in 1 2; do
		for second in 1 2 4; do
			start_server -q --threads "$first" 127.0.0.1:0
			err=$(timeout 5 "$SERVER" -q --threads "$second" "127.0.0.1:$PORT" 2>&1)
			expect_eq "$?" 1 "--threads $second beside --threads $first"
			expect_eq "$err" "parley-server: listen on 127.0.0.1:$PORT: Address already in use"
			err=$(timeout 5 "$SERVER" -q --threads "$second" ":$PORT" 2>&1)
			expect_eq "$?" 1 "wildcard --threads $second beside --threads $first"
			stop_server
		done
	done
	# and the port is free again once the first has gone
	start_server -q --threads 2 127.0.0.1:0
	local p=$PORT
	stop_server
	start_server -q --threads 2 "127.0.0.1:$p"
	expect_eq "$(client "$ADDR")" "server says: world"
	stop_server
}

# Into a file or pipe, each request's line arrives while the server runs,
# not at 4 KiB or at exit.
test_output_reaches_a_file_at_once() {
	start_server 127.0.0.1:0
	expect_eq "$(client "$ADDR" ping)" "server says: world"
	local i
	for ((i = 0; i < 40; i++)); do grep -q ping out && break; sleep 0.05; done
	expect_eq "$(cat out)" "client says: ping"
	stop_server
	# through a pipe too, with the log lines in order around it
	mkfifo pipe
	"$SERVER" -v 127.0.0.1:0 >pipe 2>&1 &
	local pid=$!
	PIDS+=($pid)
	cat pipe >piped &
	for ((i = 0; i < 200; i++)); do grep -q "listening on" piped && break; sleep 0.05; done
	local a
	a=$(sed -n 's/^listening on //p' piped)
	expect_eq "$(client "$a" one)" "server says: world"
	for ((i = 0; i < 40; i++)); do grep -q "close" piped && break; sleep 0.05; done
	expect_match "$(cat piped)" $'\nopen [^\n]*\nclient says: one\nclose [^\n]*: eof$'
	kill -TERM "$pid"
	wait "$pid"
	expect_eq "$?" 0 "server exit"
}

# LISTEN_FDS other than decimal digits: one message, exit 1.
test_listen_fds_parsed_strictly() {
	local v err
	for v in 2147483647 -1 -2 1x ' 1' '' 99999999999999999999; do
		err=$(LISTEN_FDS=$v timeout 5 bash -c 'export LISTEN_PID=$$; exec "$0" 127.0.0.1:0' "$SERVER" 2>&1)
		expect_eq "$?" 1 "LISTEN_FDS='$v'"
		expect_eq "$err" "parley-server: socket activation: LISTEN_FDS='$v' is not a number of descriptors"
	done
}

# Option mistakes: one message each; --reply takes C escapes.
test_server_option_messages() {
	local hint="Try 'parley-server --help' for more information."
	err=$("$SERVER" --max-conns 2>&1)
	expect_eq "$?" 2
	expect_eq "$err" "parley-server: option '--max-conns' needs a value"$'\n'"$hint"
	err=$("$SERVER" -r 2>&1)
	expect_eq "$err" "parley-server: option '-r' needs a value"$'\n'"$hint"
	err=$("$SERVER" --nope 2>&1)
	expect_eq "$err" "parley-server: unknown option '--nope'"$'\n'"$hint"
	err=$("$SERVER" -x 2>&1)
	expect_eq "$err" "parley-server: unknown option '-x'"$'\n'"$hint"
	for v in 0 257; do
		err=$("$SERVER" --threads $v 2>&1)
		expect_eq "$err" "parley-server: --threads: '$v' is not a number from 1 to 256"$'\n'"$hint"
	done
	err=$("$SERVER" --reply 'bad\q' 2>&1)
	expect_eq "$?" 2 "bad escape"
	expect_match "$err" "^parley-server: --reply: 'bad.q' has a bad escape"
	err=$("$SERVER" --echo --reply x 2>&1)
	expect_eq "$err" "parley-server: --reply and --echo: choose one"$'\n'"$hint"
	err=$("$SERVER" --proto raw --reply '' 2>&1)
	expect_eq "$err" "parley-server: --reply: an empty raw reply sends nothing"$'\n'"$hint"
	start_server -q --proto raw --reply '+PONG\r\n' 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" w:PING rb:7)" 'raw: +PONG\x0d\x0a'
	stop_server
}

# With --log-format json even a fatal error is a JSON line.
test_json_fatal_error() {
	err=$("$SERVER" --log-format json "unix:$T/no/such/dir/s.sock" 2>&1)
	expect_eq "$?" 1
	expect_match "$err" '^\{"ts":"[0-9T:.-]+Z","level":"warn","event":"error","msg":"listen on unix:[^"]*: No such file or directory"\}$'
}

# A JSON line stays JSON however long the message: 1,000 control bytes in a
# usage error escape to 6,000 characters, more than a line holds, so the
# message is cut at a whole escape and its string still closed.
test_json_long_message_stays_json() {
	local v err
	v=$(printf '\x01%.0s' $(seq 1 1000))
	err=$("$SERVER" --log-format json --proto "$v" 2>&1)
	expect_eq "$?" 2
	expect_eq "$(printf '%s\n' "$err" | wc -l)" 1 "lines"
	expect_match "$err" '^\{"ts":"[0-9T:.-]+Z","level":"warn","event":"error","msg":"--proto: '"'"'(\\u0001)+"\}$'
	if command -v python3 >/dev/null; then
		printf '%s' "$err" | python3 -m json.tool >/dev/null || fail "python3 rejects: $err"
	fi
}

# LISTEN_PID names us only when it is our pid in digits: with anything
# around it ("1234x", "+1234", " 1234") the descriptors are someone else's,
# so fd 3 (here /dev/null) is left alone and the named address is served.
test_listen_pid_parsed_strictly() {
	local v out
	for v in '$$x' '+$$' "' '\$\$" '$$.0'; do
		out=$(LISTEN_FDS=1 timeout 2 bash -c "export LISTEN_PID=$v; exec \"\$0\" 127.0.0.1:0 3</dev/null" \
			"$SERVER" 2>&1)
		expect_match "$out" "^listening on 127\.0\.0\.1:[0-9]+$" "LISTEN_PID=$v"
	done
	# our pid itself still means us
	out=$(LISTEN_FDS=1 timeout 2 bash -c 'export LISTEN_PID=$$; exec "$0" 127.0.0.1:0 3</dev/null' "$SERVER" 2>&1)
	expect_eq "$out" "parley-server: socket activation: fd 3 is not a listening socket"
}

# A value given to an option that takes none is named as that, not as an
# unknown option.
test_server_option_takes_no_value() {
	local hint="Try 'parley-server --help' for more information." o
	for o in echo quiet verbose; do
		err=$("$SERVER" "--$o=1" 2>&1)
		expect_eq "$?" 2 "--$o=1"
		expect_eq "$err" "parley-server: option '--$o' takes no value"$'\n'"$hint"
	done
	err=$("$SERVER" --nope=1 2>&1)
	expect_eq "$err" "parley-server: unknown option '--nope=1'"$'\n'"$hint"
}
