# test_proto.sh - the line and raw protocols, --stream, and real peers (nc, socat,
# the textbook's own programs).  nc and socat come from Debian (.ci/run installs
# them); a test whose tool is missing is reported as skipped (need, in lib.sh).

# A TCP port that was free a moment ago (for tools that cannot report port 0).
free_port() {
	"$RAWPEER" -t 1 -B 127.0.0.1:0 | sed -n 's/.*://p'
}

# wait_socket PATH: an external tool (socat, nc) gives no "listening" line, so
# poll for its socket file, bounded at 5 s.
wait_socket() {
	local i
	for i in $(seq 1 100); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	fail "no socket appeared at $1"
}

# open_stdin: a stdin that stays open (no EOF) and costs no waiting: a fifo we
# hold open for writing ourselves.  Use as: CMD <"$T/open.in"
open_stdin() {
	mkfifo "$T/open.in"
	exec {OPEN_W}<>"$T/open.in"
}

test_proto_line_with_nc() {
	need nc netcat-openbsd
	start_server --proto line 127.0.0.1:0
	out=$(printf 'hello\nthere\r\nlast' | nc -N 127.0.0.1 "$PORT")
	expect_eq "$out" $'world\nworld\nworld'
	stop_server
	expect_eq "$(cat out)" $'client says: hello\nclient says: there\nclient says: last'
}

test_proto_line_with_socat() {
	need socat socat
	start_server --proto line --echo 127.0.0.1:0
	out=$(printf 'one\ntwo\n' | socat -t 5 - "TCP:127.0.0.1:$PORT")
	expect_eq "$out" $'one\ntwo'
	stop_server
}

test_proto_line_over_long_closes() {
	start_server --proto line --max-msg 10 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" 'w:short\n' rb:6 'w:this line is too long\n' eof)" $'raw: world\\x0a\neof'
	stop_server
	expect_match "$(cat err)" "message of [0-9]+ bytes exceeds --max-msg 10; closing"
}

test_proto_raw_echo_with_nc_and_socat() {
	need nc netcat-openbsd
	need socat socat
	start_server -q --proto raw --echo 127.0.0.1:0
	expect_eq "$(printf 'abc\ndef' | nc -N 127.0.0.1 "$PORT")" $'abc\ndef'
	expect_eq "$(printf 'xyz' | socat -t 5 - "TCP:127.0.0.1:$PORT")" "xyz"
	stop_server
}

test_proto_raw_64mib_echo_is_byte_identical() {
	start_server -q --proto raw --echo 127.0.0.1:0
	head -c 64M /dev/urandom >in.bin
	client --stream "$ADDR" <in.bin >back.bin
	expect_eq "$?" 0 "client exit"
	expect_eq "$(md5sum <back.bin)" "$(md5sum <in.bin)" "checksum"
	stop_server
}

test_proto_textbook_client_against_parley() {
	start_server --proto raw 127.0.0.1:0
	expect_eq "$("$TOP/$BUILD/tests/textbook-client" "$PORT")" "server says: world"
	stop_server
	expect_eq "$(cat out)" "client says: hello"
}

test_proto_parley_client_against_textbook_server() {
	"$TOP/$BUILD/tests/textbook-server" 0 >tb.out 2>tb.err &
	PIDS+=($!)
	local line
	line=$(first_line tb.err)
	local a=${line#listening on }
	expect_eq "$(client --proto raw "$a")" "server says: world"
	kill "${PIDS[-1]}"
	expect_eq "$(cat tb.out)" "client says: hello"
}

test_proto_client_raw_against_socat() {
	need socat socat
	socat "UNIX-LISTEN:$T/echo.sock,fork" EXEC:cat &
	PIDS+=($!)
	wait_socket "$T/echo.sock"
	out=$(client --proto raw "unix:$T/echo.sock" ping pong)
	expect_eq "$out" $'server says: ping\nserver says: pong'
}

test_proto_client_line_against_nc_listener() {
	need nc netcat-openbsd
	# nc answers with a canned line and closes
	printf 'canned reply\n' | nc -lU "$T/nc.sock" >nc.got &
	PIDS+=($!)
	wait_socket "$T/nc.sock"
	out=$(client --proto line "unix:$T/nc.sock" question)
	expect_eq "$out" "server says: canned reply"
	wait "${PIDS[-1]}"
	expect_eq "$(cat nc.got)" "question"
}

test_stream_half_close_line_echo() {
	start_server -q --proto line --echo 127.0.0.1:0
	out=$(printf 'a\nb\n' | client --stream "$ADDR")
	expect_eq "$?" 0 "client exit"
	expect_eq "$out" $'a\nb'
	stop_server
}

test_stream_server_closes_first() {
	# the peer says one line and closes while our stdin stays open
	start_peer 'w:bye\n'
	local a=$PEER
	open_stdin
	out=$(timeout 5 "$CLIENT" --stream "$a" <"$T/open.in")
	expect_eq "$?" 0 "client exit (124 would be a hang)"
	expect_eq "$out" "bye"
}

test_stream_reset_exits_1() {
	start_peer rb:3 rst
	local a=$PEER
	open_stdin
	printf 'abc' >&$OPEN_W
	err=$(timeout 5 "$CLIENT" --stream "$a" 2>&1 >/dev/null <"$T/open.in")
	expect_eq "$?" 1 "client exit"
	expect_eq "$err" "parley-client: read from $a: Connection reset by peer"
}

test_stream_idle_timeout_exits_1() {
	start_peer sleep:5000
	local a=$PEER
	open_stdin
	err=$(timeout 5 "$CLIENT" --stream -w 0.3 "$a" 2>&1 <"$T/open.in")
	expect_eq "$?" 1 "client exit"
	expect_eq "$err" "parley-client: $a: no data for 0.3 s"
}

test_stream_quit_after_stdin_eof() {
	# a peer that never closes: -q ends the wait after stdin's EOF, cleanly
	start_peer rb:2 'w:ok' sleep:5000
	local a=$PEER
	out=$(printf 'hi' | timeout 5 "$CLIENT" --stream --no-shutdown --quit 0.5 "$a")
	expect_eq "$?" 0 "client exit"
	expect_eq "$out" "ok"
}

test_stream_no_shutdown_keeps_write_side() {
	# the peer answers only after seeing EOF: with -N it never sees one
	start_peer rb:2 eof 'w:late'
	local a=$PEER
	out=$(printf 'hi' | timeout 5 "$CLIENT" --stream -N --quit 0.5 "$a")
	expect_eq "$?" 0 "client exit"
	expect_eq "$out" "" "no reply without our FIN"
}

test_stream_stdout_closed_by_reader_ends_quietly() {
	start_server -q --proto raw --echo 127.0.0.1:0
	out=$(head -c 4M /dev/zero | "$CLIENT" --stream "$ADDR" 2>err.client | head -c 10 | wc -c
	      echo "${PIPESTATUS[1]}")
	expect_eq "$out" $'10\n141'
	expect_eq "$(cat err.client)" "" "stderr"
	stop_server
}

# blocked_stdout: a FIFO we hold open for reading and never read, so a
# client writing to "$T/blocked.out" fills it and then waits (64 KiB).
blocked_stdout() {
	mkfifo "$T/blocked.out"
	exec {BLOCKED_R}<>"$T/blocked.out"
}

test_stream_idle_timeout_while_stdout_blocked() {
	# the server sends more than stdout takes: -w still ends the wait
	start_peer junk:4000000 sleep:5000
	local a=$PEER
	open_stdin
	blocked_stdout
	local t0=$(date +%s%N)
	err=$(timeout 8 "$CLIENT" --stream -w 1 "$a" 2>&1 <"$T/open.in" >"$T/blocked.out")
	expect_eq "$?" 1 "client exit (124 would be a stalled loop)"
	local ms=$((($(date +%s%N) - t0) / 1000000))
	expect_eq "$err" "parley-client: $a: no data for 1 s; standard output is blocked"
	[ "$ms" -lt 3000 ] || fail "took $ms ms with -w 1"
}

test_stream_upload_flows_while_stdout_blocked() {
	# the peer sends 200 KB (which stdout does not take) and then reads
	# 256 KiB that reach our stdin only after that: they must still go up
	# (-t 3000: on a stalled loop each read gives up, and the test ends)
	"$RAWPEER" -t 3000 -l 127.0.0.1:0 junk:200000 say:sent \
		rb:65536 rb:65536 rb:65536 rb:65536 say:done >"$T/peer" &
	PIDS+=($!)
	local line a
	line=$(first_line "$T/peer")
	a=${line#listening on }
	open_stdin
	blocked_stdout
	"$CLIENT" --stream -w 5 "$a" <"$T/open.in" >"$T/blocked.out" 2>err.client &
	PIDS+=($!)
	local i
	for i in $(seq 1 100); do grep -q '^sent$' "$T/peer" && break; sleep 0.05; done
	sleep 0.2 # the client has the 200 KB and stdout is full
	head -c 262144 /dev/zero >&"$OPEN_W" &
	PIDS+=($!)
	for i in $(seq 1 100); do grep -q '^done$\|^error' "$T/peer" && break; sleep 0.05; done
	expect_eq "$(grep -c '^raw: .*(65536 bytes)$' "$T/peer")" 4 "64 KiB reads the peer got"
}

test_stream_leaves_shared_stdout_blocking() {
	# stdout's file description is shared with whoever opened it: the
	# client must not make it O_NONBLOCK (04000 in fdinfo's octal flags)
	start_peer junk:1000000 sleep:5000
	local a=$PEER
	open_stdin
	blocked_stdout
	"$CLIENT" --stream "$a" <"$T/open.in" >"$T/blocked.out" 2>err.client &
	local pid=$! flags i
	PIDS+=("$pid")
	for i in $(seq 1 40); do
		[ "$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)" -ge 5 ] && break
		sleep 0.05
	done
	sleep 0.2
	flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$pid/fdinfo/1")
	[ -n "$flags" ] || fail "no fdinfo for the client's stdout"
	[ $((8#$flags & 8#4000)) -eq 0 ] || fail "stdout made O_NONBLOCK: flags $flags"
}

test_stream_idle_zero_is_no_limit() {
	start_peer sleep:5000
	open_stdin
	"$CLIENT" --stream -w 0 "$PEER" <"$T/open.in" >/dev/null 2>err.client &
	local pid=$!
	PIDS+=("$pid")
	sleep 0.5
	kill -0 "$pid" 2>/dev/null || fail "-w 0 gave up: $(cat err.client)"
}
