# test_reliability.sh - behaviours from ../shared/RELIABILITY.md not covered
# elsewhere (the rest are named in test_server.sh, test_client.sh, test_basic.sh).

# 23: SIGTERM with 100 clients mid-pipeline: every queued reply arrives, exit 0
# within the drain timeout, no socket file left behind.
test_rel_sigterm_100_clients_mid_pipeline() {
	start_server -q --echo --drain-timeout 5 "unix:$T/r.sock"
	local i pids=()
	for i in $(seq 1 100); do
		rawpeer "unix:$T/r.sock" M:200:ping say:sent rc:200:ping eof >"c$i.out" 2>&1 &
		pids+=($!)
	done
	# every client has written all 200 requests before the signal
	for i in $(seq 1 100); do
		[ "$(first_line "c$i.out")" = sent ] || fail "client $i: $(cat "c$i.out")"
	done
	local t0=$(date +%s%N)
	stop_server TERM
	local ms=$((($(date +%s%N) - t0) / 1000000))
	expect_eq "$SRV_RC" 0 "server exit"
	[ "$ms" -lt 5500 ] || fail "exit took ${ms} ms, drain timeout is 5 s"
	for p in "${pids[@]}"; do wait "$p"; done
	for i in $(seq 1 100); do
		expect_eq "$(cat "c$i.out")" $'sent\nrc ok 200\neof' "client $i"
	done
	[ ! -e "$T/r.sock" ] || fail "socket file left behind"
}

# 13: garbage is closed within bounded time and memory.
test_rel_garbage_closed() {
	start_server -q --max-msg 1M 127.0.0.1:0
	# random bytes: the first four read as a length, almost surely over 1 MiB
	expect_eq "$(rawpeer "$ADDR" 'w:\xde\xad\xbe\xef garbage garbage' eof)" "eof"
	expect_eq "$(client "$ADDR")" "server says: world" "still serving"
	stop_server
}

# 12: slowloris: a header, then a byte now and then; the idle timeout frees it.
test_rel_slowloris_closed_by_idle_timeout() {
	start_server -q -v --idle-timeout 0.3 127.0.0.1:0
	out=$(rawpeer "$ADDR" 'w:\x10\x00\x00\x00a' sleep:100 'w:b' sleep:600 'w:c' eof 2>&1)
	expect_match "$out" "^(eof|reset|error: write: .*)$"
	stop_server
	expect_match "$(cat err)" "close 127\\.0\\.0\\.1:[0-9]+: idle"
}
