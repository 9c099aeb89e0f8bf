# test_server.sh - parley-server under load, limits, faults and shutdown.

test_server_200_concurrent_clients() {
	start_server -q 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" multi:200:hello:world)" "multi 200 of 200 ok"
	stop_server
}

test_server_1000_pipelined_on_one_connection() {
	start_server -q 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" M:1000:hello rc:1000:world)" "rc ok 1000"
	stop_server
}

test_server_writer_sends_one_byte_at_a_time() {
	start_server 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" bd:2:hello b:again r:2)" $'reply: world\nreply: world'
	stop_server
	expect_eq "$(cat out)" $'client says: hello\nclient says: again'
}

test_server_many_messages_in_one_write() {
	start_server --echo 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" 'w:\x01\x00\x00\x00a\x00\x00\x00\x00\x02\x00\x00\x00bc' r:3)" $'reply: a\nreply: \nreply: bc'
	stop_server
}

test_server_oversized_header_closes_connection() {
	start_server --max-msg 1000 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" m:ok r:1 h:1001 eof)" $'reply: world\neof'
	expect_eq "$(rawpeer "$ADDR" h:4294967295 eof)" "eof"
	expect_eq "$(client "$ADDR")" "server says: world" "still serving"
	stop_server
	expect_match "$(cat err)" "parley-server: 127\\.0\\.0\\.1:[0-9]+: message of 1001 bytes exceeds --max-msg 1000; closing"
	expect_match "$(cat err)" "message of 4294967295 bytes exceeds"
}

test_server_maximum_size_message_accepted() {
	start_server -q --echo --max-msg 100000 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" big:100000 rbig:100000)" "rbig ok"
	stop_server
}

test_server_large_replies_resume_partial_writes() {
	# 8 MiB echoed: far more than the socket buffers, so writes are partial
	start_server -q --echo 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" big:8388608 rbig:8388608 big:3 rbig:3)" $'rbig ok\nrbig ok'
	stop_server
}

test_server_client_resets_mid_reply() {
	start_server -q -v --echo 127.0.0.1:0
	rawpeer "$ADDR" big:8000000 sleep:50 rst
	expect_eq "$(client "$ADDR" after)" "server says: after" "still serving"
	stop_server
	expect_eq "$SRV_RC" 0
	expect_match "$(cat err)" "close 127\\.0\\.0\\.1:[0-9]+: reset \\((Connection reset by peer|Broken pipe)\\)"
}

test_server_half_close_gets_all_replies() {
	start_server -q 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" M:3:hi shut rc:3:world eof)" $'rc ok 3\neof'
	stop_server
}

test_server_sigterm_flushes_replies_in_flight() {
	start_server -q -v --echo "unix:$T/drain.sock"
	# 20,000 requests written, then SIGTERM before a single reply is read
	out=$(rawpeer "unix:$T/drain.sock" M:20000:ping "kill:$SRV_PID:15" rc:20000:ping eof)
	expect_eq "$out" $'rc ok 20000\neof'
	wait_server
	expect_eq "$SRV_RC" 0 "server exit"
	[ ! -e "$T/drain.sock" ] || fail "socket file left behind"
	expect_match "$(cat err)" "stats: accepted=1 requests=20000 .*shutdown=1"
}

test_server_sigterm_drain_timeout_bounds_exit() {
	start_server -q --drain-timeout 0.3 127.0.0.1:0
	# a client that sent half a request never completes it: the drain timeout ends the wait
	rawpeer -t 5000 "$ADDR" 'w:\x05\x00\x00\x00ab' sleep:4000 &
	PIDS+=($!)
	expect_eq "$(client "$ADDR")" "server says: world"
	local t0=$(date +%s%N)
	stop_server TERM
	local ms=$((($(date +%s%N) - t0) / 1000000))
	expect_eq "$SRV_RC" 0
	[ "$ms" -lt 3000 ] || fail "server took ${ms} ms to exit with a 0.3 s drain timeout"
}

test_server_sigint_exits_0() {
	start_server -q 127.0.0.1:0
	stop_server INT
	expect_eq "$SRV_RC" 0
}

test_server_max_conns() {
	start_server -v --max-conns 2 127.0.0.1:0
	# this peer holds one connection of its own and one more: the limit
	rawpeer "$ADDR" hold:1 say:held sleep:500 m:first r:1 >peer.out &
	local peer=$!
	expect_eq "$(first_line peer.out)" held
	err=$(client "$ADDR" 2>&1)
	expect_eq "$?" 1 "client over the limit"
	# closed at once: a FIN, or a reset when our request was already in its buffer
	expect_match "$err" "^parley-client: ($ADDR: connection closed by the server after 0 of 1 replies|read from $ADDR: Connection reset by peer)$"
	wait $peer
	expect_eq "$(cat peer.out)" $'held\nreply: world' "existing clients unaffected"
	stop_server
	expect_match "$(cat err)" "parley-server: 127\\.0\\.0\\.1:[0-9]+: --max-conns 2 reached; closing"
	expect_match "$(cat err)" "limit=1"
}

test_server_idle_timeout_closes_idle_clients_only() {
	start_server -q -v --idle-timeout 0.4 127.0.0.1:0
	rawpeer "$ADDR" eof >idle.out &
	local idle=$!
	# a busy client talks every 100 ms for 1 s: never idle that long
	out=$(rawpeer "$ADDR" m:1 r:1 sleep:100 m:2 r:1 sleep:100 m:3 r:1 sleep:100 m:4 r:1 sleep:100 \
		m:5 r:1 sleep:100 m:6 r:1 sleep:100 m:7 r:1 sleep:100 m:8 r:1 sleep:100 m:9 r:1 sleep:100 m:10 r:1)
	expect_eq "$(echo "$out" | grep -c 'reply: world')" 10 "busy client replies"
	wait $idle
	expect_eq "$(cat idle.out)" "eof" "idle client"
	stop_server
	expect_match "$(cat err)" "idle=1 "
}

test_server_survives_fd_exhaustion() {
	# 40 descriptors: about 33 for clients; 100 clients arrive at once
	SERVER_ULIMIT=40
	"$BASH" -c 'ulimit -n 40; exec "$0" "$@"' "$SERVER" -q 127.0.0.1:0 >out 2>err.srv &
	SRV_PID=$!
	PIDS+=($SRV_PID)
	line=$(first_line err.srv)
	local a=${line#listening on }
	rawpeer "$a" hold:100 say:held sleep:1500 release >peer.out &
	local peer=$!
	_x=$(first_line peer.out)
	local c0=$(cpu_ticks "$SRV_PID")
	sleep 1
	local c1=$(cpu_ticks "$SRV_PID")
	# a spinning loop burns ~100 ticks a second; an idle one next to none
	[ $((c1 - c0)) -lt 20 ] || fail "server used $((c1 - c0)) ticks in 1 s while out of descriptors"
	wait $peer
	expect_eq "$(client "$a")" "server says: world" "serving after descriptors freed"
	expect_eq "$(grep -c 'accept: Too many open files' err.srv)" 1 "logged once per episode"
	kill -TERM "$SRV_PID"
	wait "$SRV_PID"
	expect_eq "$?" 0
}

test_server_escapes_hostile_bytes() {
	start_server 127.0.0.1:0
	rawpeer "$ADDR" 'm:\x1b[31mred\x1b[0m\\\x00\x07' r:1 >/dev/null
	stop_server
	expect_eq "$(cat out)" 'client says: \x1b[31mred\x1b[0m\\\x00\x07'
}

test_server_cuts_long_messages() {
	start_server 127.0.0.1:0
	client "$ADDR" "$(printf 'y%.0s' $(seq 1 300))" >/dev/null
	stop_server
	expect_eq "$(cat out)" "client says: $(printf 'y%.0s' $(seq 1 200))... (300 bytes)"
}

test_server_backpressure_bounds_memory() {
	start_server -q --out-cap 64K 127.0.0.1:0
	# sends 4 MB of requests and never reads a reply
	rawpeer -t 3000 "$ADDR" M:400000:abcdef say:sent sleep:2000 >stuck.out &
	PIDS+=($!)
	_x=$(first_line stuck.out)
	expect_eq "$(client "$ADDR")" "server says: world" "others still served"
	local rss=$(rss_kib "$SRV_PID")
	[ "$rss" -lt 20000 ] || fail "server RSS ${rss} KiB with a 64K output cap"
	stop_server KILL
}
