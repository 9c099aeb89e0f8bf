# test_client.sh - parley-client: options, output and exit codes.

test_client_reply_timeout_exits_1() {
	# accepts and reads, never answers
	start_peer sleep:5000
	local a=$PEER
	err=$(client -t 0.3 "$a" 2>&1)
	expect_eq "$?" 1 "exit"
	expect_eq "$err" "parley-client: $a: no reply within 0.3 s"
}

test_client_server_closes_early_exits_1() {
	start_peer rb:9
	local a=$PEER
	err=$(client "$a" 2>&1)
	expect_eq "$?" 1 "exit"
	expect_eq "$err" "parley-client: $a: connection closed by the server after 0 of 1 replies"
}

test_client_reset_exits_1() {
	start_peer rb:9 rst
	local a=$PEER
	err=$(client "$a" 2>&1)
	expect_eq "$?" 1 "exit"
	expect_eq "$err" "parley-client: read from $a: Connection reset by peer"
}

test_client_usage_errors_exit_2() {
	client --bogus >/dev/null 2>&1
	expect_eq "$?" 2 "unknown option"
	err=$(client 127.0.0.1:0 2>&1)
	expect_eq "$?" 2 "port 0"
	expect_eq "$err" $'parley-client: bad address \'127.0.0.1:0\': port 0 is only for listening\nTry \'parley-client --help\' for more information.'
	err=$(client '[::1' 2>&1)
	expect_eq "$?" 2 "unterminated ["
	expect_match "$err" "unterminated '\\['"
	client 127.0.0.1:70000 >/dev/null 2>&1
	expect_eq "$?" 2 "port above 65535"
	client -t abc 127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "bad timeout"
}

test_client_unknown_host_exits_1() {
	err=$(client no-such-host.invalid:1234 2>&1)
	expect_eq "$?" 1 "exit"
	expect_match "$err" '^parley-client: resolve no-such-host\.invalid: '
}

test_client_verbose_reports_both_ends() {
	start_server -v 127.0.0.1:0
	out=$(client -v "$ADDR" 2>err.client)
	expect_eq "$out" "server says: world"
	expect_match "$(cat err.client)" "^trying $ADDR"$'\n'"connected to $ADDR from 127\\.0\\.0\\.1:[0-9]+$"
	stop_server
}

test_client_source_address() {
	start_server -v 127.0.0.1:0
	out=$(client -v -s 127.0.0.2 "$ADDR" 2>err.client)
	expect_eq "$out" "server says: world"
	expect_match "$(tail -n 1 err.client)" "^connected to $ADDR from 127\\.0\\.0\\.2:[0-9]+$"
	# and with a port; retry if a random port happens to be taken
	local sp ok=
	for i in 1 2 3 4 5; do
		sp=$((20000 + RANDOM % 30000))
		if client -v -s "127.0.0.3:$sp" "$ADDR" >/dev/null 2>err.client; then ok=1; break; fi
	done
	[ -n "$ok" ] || fail "could not bind any source port: $(cat err.client)"
	expect_eq "$(tail -n 1 err.client)" "connected to $ADDR from 127.0.0.3:$sp"
	stop_server
	expect_match "$(cat err)" "open 127\\.0\\.0\\.2:[0-9]+"
	expect_match "$(cat err)" "open 127\\.0\\.0\\.3:$sp"
}

test_client_source_family_mismatch_is_skipped() {
	start_server :0
	# an IPv4 source cannot reach [::1]; the IPv6 target is skipped, not fatal
	out=$(client -v -s 127.0.0.1 "127.0.0.1:$PORT" 2>/dev/null)
	expect_eq "$out" "server says: world"
	err=$(client -s 127.0.0.1 "[::1]:$PORT" 2>&1)
	expect_eq "$?" 1 "only mismatching targets"
	expect_eq "$err" "parley-client: connect to [::1]:$PORT: no address of the source address's family"
	stop_server
}

test_client_messages_from_stdin() {
	start_server --echo 127.0.0.1:0
	out=$(printf 'a\nb b\n\nlast' | client "$ADDR" first - end)
	expect_eq "$out" $'server says: first\nserver says: a\nserver says: b b\nserver says: \nserver says: last\nserver says: end'
	stop_server
}

test_client_pipelines_1000_in_order() {
	start_server --echo -q 127.0.0.1:0
	client "$ADDR" $(seq 1 1000) >got
	expect_eq "$?" 0 "exit"
	seq 1 1000 | sed 's/^/server says: /' >want
	cmp -s got want || fail "replies out of order or missing: $(diff got want | head -5)"
	stop_server
}

test_help_and_version() {
	for p in "$SERVER" "$CLIENT"; do
		out=$("$p" --help)
		expect_eq "$?" 0 "--help exit"
		expect_match "$out" '^Usage: parley-'
		out=$("$p" --version)
		expect_eq "$?" 0 "--version exit"
		expect_match "$out" '^parley-(server|client) [0-9]+\.[0-9]+\.[0-9]+ \(git [0-9a-z]+\)$'
	done
}

test_client_closed_stdin_reads_as_empty() {
	# started with fd 0 closed, the socket must not become "stdin"
	start_server --echo 127.0.0.1:0
	err=$(timeout 5 "$CLIENT" "$ADDR" - <&- 2>&1)
	expect_eq "$?" 0 "exit of '$ADDR -' (124 would be a hang)"
	expect_eq "$err" "" "output"
	out=$(timeout 5 "$CLIENT" "$ADDR" one - two <&- 2>&1)
	expect_eq "$?" 0 "exit of 'one - two'"
	expect_eq "$out" $'server says: one\nserver says: two'
	stop_server
}

test_client_stream_closed_stdin_is_eof() {
	start_server -q --proto raw --echo 127.0.0.1:0
	out=$(timeout 5 "$CLIENT" --stream "$ADDR" <&- 2>&1)
	expect_eq "$?" 0 "exit (124 would be a hang)"
	expect_eq "$out" "" "output"
	stop_server
}

test_client_source_bind_failure_names_bind() {
	# 10.99.99.99 and 192.0.2.1 are on no local interface: bind fails at
	# once (EADDRNOTAVAIL) and nothing is sent
	start_server 127.0.0.1:0
	err=$(client -s 10.99.99.99 "$ADDR" 2>&1)
	expect_eq "$?" 1 "exit"
	expect_eq "$err" "parley-client: bind to 10.99.99.99: Cannot assign requested address"
	err=$(client -s 192.0.2.1:4321 "$ADDR" 2>&1)
	expect_eq "$err" "parley-client: bind to 192.0.2.1:4321: Cannot assign requested address"
	err=$(client -v -s 10.99.99.99 "$ADDR" 2>&1)
	expect_eq "$err" "trying $ADDR"$'\n'"parley-client: bind to 10.99.99.99: Cannot assign requested address" "with -v"
	stop_server
}

# still_waiting SECS ARGS...: the client started with ARGS has not given up
# after SECS seconds (then it is killed).
still_waiting() {
	local secs=$1 pid
	shift
	"$CLIENT" "$@" >/dev/null 2>err.client &
	pid=$!
	sleep "$secs"
	kill -0 "$pid" 2>/dev/null || fail "gave up within $secs s ($*): $(cat err.client)"
	kill "$pid"
}

test_client_timeout_beyond_32_bits_of_ms_still_waits() {
	# 4294968 s is 2^32 ms + 704 ms: a 32-bit count of them gives up after
	# 0.7 s (the connect timeout did); replies wait in 64 bits too
	start_peer sleep:5000
	still_waiting 1.5 -t 4294968 "$PEER"
	# the connect timeout too, against a listener that never accepts
	"$RAWPEER" -t 5000 -B 127.0.0.1:0 >bh &
	PIDS+=($!)
	line=$(first_line bh)
	still_waiting 1.5 -t 4294968 "${line#listening on }"
}

test_client_timeout_zero_is_no_limit() {
	start_peer sleep:5000
	still_waiting 1 -t 0 "$PEER"
}

test_client_seconds_out_of_range_are_usage_errors() {
	local v o
	for o in -t -w --quit; do
		for v in 0.0001 1e9 10000001 -1 nan; do
			err=$(client --stream "$o" "$v" 127.0.0.1:1 2>&1)
			expect_eq "$?" 2 "$o $v"
			expect_match "$err" "Try 'parley-client --help'" "$o $v"
		done
	done
}

test_client_q_is_not_quit() {
	# -q is "quiet" in the server and bench; the client's --quit has no short form
	err=$(client --stream -q 1 127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "-q"
	err=$(client --quit 1 127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "--quit without --stream"
	expect_match "$err" "^parley-client: -N, -w and --quit go with --stream"
}

test_client_stdin_crlf_lines_lose_the_cr() {
	start_server --echo 127.0.0.1:0
	# one CR before the LF goes; any other CR is data
	out=$(printf 'a\r\nb\r\r\nc\rd\n\r\nlast\r' | client "$ADDR" -)
	expect_eq "$out" 'server says: a
server says: b\x0d
server says: c\x0dd
server says: 
server says: last\x0d'
	stop_server
}

test_client_stdin_reply_flushed_before_next_line() {
	# a coprocess: each reply is read before the next line is written, so
	# it must leave the client's stdout (a pipe) without waiting for more
	start_server --echo 127.0.0.1:0
	coproc CL { "$CLIENT" "$ADDR" - 2>err.client; }
	local w=${CL[1]} r=${CL[0]} line i
	for i in one two three; do
		echo "$i" >&"$w"
		IFS= read -r -t 10 line <&"$r" || fail "no reply to '$i' within 10 s"
		expect_eq "$line" "server says: $i"
	done
	exec {w}>&-
	wait "$CL_PID"
	expect_eq "$?" 0 "exit"
	# and into a file
	mkfifo in
	exec {w}<>in
	"$CLIENT" "$ADDR" - <in >file 2>err.client &
	PIDS+=($!)
	echo four >&"$w"
	for i in $(seq 1 60); do [ -s file ] && break; sleep 0.05; done
	expect_eq "$(cat file)" "server says: four" "the file after one line"
	stop_server
}

test_client_stdout_closed_by_reader_ends_quietly() {
	# head exits after two lines: the client ends as if SIGPIPE killed it
	# (status 141, no message), as seq and cat do
	start_server -q --echo 127.0.0.1:0
	out=$(seq 1 100000 | "$CLIENT" "$ADDR" - 2>err.client | head -2; echo "${PIPESTATUS[1]}")
	expect_eq "$out" $'server says: 1\nserver says: 2\n141'
	expect_eq "$(cat err.client)" "" "stderr"
	stop_server
}

test_client_escapes_decode_messages_and_lines() {
	start_server --echo 127.0.0.1:0
	out=$(printf 'c\\r\\n\nraw\0nul\\x42\n' | client -E "$ADDR" 'a\tb' 'x\x41\0y' 'back\\slash' -)
	expect_eq "$?" 0 "exit"
	expect_eq "$out" 'server says: a\x09b
server says: xA\x00y
server says: back\\slash
server says: c\x0d\x0a
server says: raw\x00nulB'
	# without -E a message is sent as typed
	out=$(printf 'd\\n\n' | client "$ADDR" 'a\tb' -)
	expect_eq "$out" 'server says: a\\tb
server says: d\\n'
	stop_server
}

test_client_escapes_bad_argument_is_usage_error() {
	err=$(client -E 127.0.0.1:1 'fine' 'a\q' 2>&1)
	expect_eq "$?" 2 "exit"
	expect_match "$err" "^parley-client: MESSAGE: 'a\\\\q' has a bad escape"
	client -E 127.0.0.1:1 'x\x4' >/dev/null 2>&1
	expect_eq "$?" 2 "short \\x"
	err=$(client -E -p line 127.0.0.1:1 'a\nb' 2>&1)
	expect_eq "$?" 2 "a decoded newline with --proto line"
	client -E --stream 127.0.0.1:1 </dev/null >/dev/null 2>&1
	expect_eq "$?" 2 "-E with --stream"
}

test_client_escapes_bad_stdin_line_exits_1_naming_it() {
	# the lines before it are answered; nothing from it on is sent
	start_server --echo 127.0.0.1:0
	out=$(printf 'ok\nbad\\q\nnot sent\n' | client -E "$ADDR" - after 2>err.client)
	expect_eq "$?" 1 "exit"
	expect_eq "$out" "server says: ok"
	expect_eq "$(cat err.client)" 'parley-client: stdin line 2: bad escape (\n \r \t \0 \\ \xHH allowed)'
	stop_server
	expect_eq "$(cat out)" "client says: ok" "what the server got"
}

test_client_max_msg_bounds_each_stdin_line_not_the_buffer() {
	# many short lines arrive in one read: each is under the limit
	start_server -q --echo 127.0.0.1:0
	out=$(seq 1 100 | client --max-msg 10 "$ADDR" - | tail -n 1)
	expect_eq "$?" 0 "exit"
	expect_eq "$out" "server says: 100"
	err=$(printf 'short\n0123456789ABC\n' | client --max-msg 10 "$ADDR" - 2>&1 >/dev/null)
	expect_eq "$?" 1 "a whole line over the limit"
	expect_eq "$err" "parley-client: stdin line 2: longer than --max-msg 10"
	err=$(printf 'short\n0123456789ABC' | client --max-msg 10 "$ADDR" - 2>&1 >/dev/null)
	expect_eq "$err" "parley-client: stdin line 2: longer than --max-msg 10" "a line without its newline"
	stop_server
}

# An option mistake is one line and the hint, not getopt's line as well.
test_client_option_mistakes_say_it_once() {
	local hint="Try 'parley-client --help' for more information."
	err=$("$CLIENT" --timeout 2>&1)
	expect_eq "$?" 2
	expect_eq "$err" "parley-client: option '--timeout' needs a value"$'\n'"$hint"
	err=$("$CLIENT" -x 2>&1)
	expect_eq "$err" "parley-client: unknown option '-x'"$'\n'"$hint"
}
