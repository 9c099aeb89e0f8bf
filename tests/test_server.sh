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

test_server_maximum_size_message_accepted() {
	start_server -q --echo --max-msg 100000 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" big:100000 rbig:100000)" "rbig ok"
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

test_server_threads_share_the_load() {
	start_server --n 2 -q -v --threads 4 127.0.0.1:0 "unix:$T/t.sock"
	# (valgrind runs the server under its own launcher process; ThreadSanitizer,
	# make tsan, starts a thread of its own with the first pthread_create)
	local tasks=4
	[[ "$BUILD" == *tsan* ]] && tasks=5
	[ -n "${UNDER_VALGRIND:-}" ] || expect_eq "$(ls "/proc/$SRV_PID/task" | wc -l)" $tasks "threads running"
	expect_eq "$(rawpeer "$ADDR" multi:400:hello:world)" "multi 400 of 400 ok"
	expect_eq "$(rawpeer "unix:$T/t.sock" multi:100:hello:world)" "multi 100 of 100 ok"
	stop_server
	expect_eq "$SRV_RC" 0
	[ ! -e "$T/t.sock" ] || fail "socket file left behind"
	# SO_REUSEPORT spreads 400 TCP clients: every thread gets some
	expect_match "$(grep '^threads: ' err)" "^threads: accepted [1-9][0-9]* [1-9][0-9]* [1-9][0-9]* [1-9][0-9]*$"
	expect_match "$(grep '^stats: ' err)" "accepted=500 requests=500 eof=500 "
	err=$("$SERVER" --threads 0 2>&1)
	expect_eq "$?" 2 "--threads 0 is a usage error"
}

# Busy polling answers as before, still sees signals, and an idle server
# sleeps (survived: at most 2 ticks in 0.5 s).
test_server_busy_poll() {
	start_server -q -v --busy-poll 2000 --threads 2 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" multi:200:hello:world)" "multi 200 of 200 ok"
	expect_eq "$(rawpeer "$ADDR" M:1000:hello rc:1000:world)" "rc ok 1000"
	survived
	stop_server
	expect_eq "$SRV_RC" 0
	expect_match "$(grep '^stats: ' err)" "accepted=202 requests=1201 "
	err=$("$SERVER" --busy-poll 1000001 2>&1)
	expect_eq "$?" 2 "--busy-poll over 1 s is a usage error"
	expect_eq "$err" "parley-server: --busy-poll: '1000001' is not a number from 0 to 1000000"$'\n'"Try 'parley-server --help' for more information."
}

test_server_threads_sigterm_drains_every_thread() {
	start_server -q -v --echo --threads 3 127.0.0.1:0
	local i pids=()
	for i in $(seq 1 30); do
		rawpeer "$ADDR" M:200:ping say:sent rc:200:ping eof >"c$i.out" 2>&1 &
		pids+=($!)
	done
	for i in $(seq 1 30); do _x=$(first_line "c$i.out"); done
	stop_server TERM
	expect_eq "$SRV_RC" 0 "server exit"
	for p in "${pids[@]}"; do wait "$p"; done
	for i in $(seq 1 30); do
		expect_eq "$(cat "c$i.out")" $'sent\nrc ok 200\neof' "client $i"
	done
	expect_match "$(grep '^stats: ' err)" "accepted=30 requests=6000 .*shutdown=30 "
}

# A client on an unbound Unix socket has no name: -v logs it (and the
# client's -v its own end) as unix:(unnamed), not "open unix:" and "close unix:: eof".
test_server_logs_unnamed_unix_peer() {
	start_server -v "unix:$T/s.sock"
	expect_eq "$(client -v "unix:$T/s.sock" 2>c.err)" "server says: world"
	expect_match "$(cat c.err)" "connected to unix:$T/s\\.sock from unix:\\(unnamed\\)"
	stop_server
	expect_match "$(cat "$T/err")" $'\nopen unix:\\(unnamed\\)\n'
	expect_match "$(cat "$T/err")" $'\nclose unix:\\(unnamed\\): eof\n'
}
