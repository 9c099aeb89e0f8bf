# test_limits.sh - the server's limits hold against hostile clients: request
# deadlines, the memory budget, connection limits across threads, the cost
# of long lines, and the ranges of the timeout options.

# 2,000 lines then a half-close: 2,000 replies, not an extra one for an
# empty line the EOF rule made up while whole lines were still buffered.
test_line_eof_adds_no_request() {
	start_server -q --proto line --out-cap 1000 127.0.0.1:0
	local lines i
	lines=$(printf 'x%.0s\\n' $(seq 1 2000))
	for i in 1 2 3; do
		expect_eq "$(rawpeer "$ADDR" "w:$lines" shut rall)" "rall 12000 2000" "run $i"
	done
	# an unterminated last line is still served
	expect_eq "$(rawpeer "$ADDR" 'w:a\nb' shut rall)" "rall 12 2"
	stop_server
}

# CPU ticks the server spends while a peer drips N single bytes onto a
# partial message of SIZE bytes (len: a header declaring more; line: no
# newline yet).
drip_cost() {
	local proto=$1 prefix=${2:-} c0 c1
	start_server -q --proto "$proto" --max-msg 16M --idle-timeout 0 --request-timeout 0 127.0.0.1:0
	rawpeer "$ADDR" $prefix fill:8000000:a say:filled drip:3000:200:a say:dripped sleep:5000 >drip.out &
	PIDS+=($!)
	_x=$(first_line drip.out)
	c0=$(cpu_ticks "$SRV_PID")
	local i
	for ((i = 0; i < 400; i++)); do grep -q dripped drip.out && break; sleep 0.05; done
	grep -q dripped drip.out || fail "the drip did not finish"
	c1=$(cpu_ticks "$SRV_PID")
	stop_server KILL
	echo $((c1 - c0))
}

# 3,000 one-byte reads onto an 8 MB partial line cost about what they cost
# in len mode: the line end is searched for in new bytes only.
test_line_partial_costs_like_len() {
	[ -n "${UNDER_VALGRIND:-}" ] && skip "CPU time is meaningless under valgrind"
	local len_ticks line_ticks
	len_ticks=$(drip_cost len h:16000000) || fail "len run"
	line_ticks=$(drip_cost line) || fail "line run"
	echo "ticks: len $len_ticks, line $line_ticks"
	[ "$line_ticks" -le $((3 * len_ticks + 10)) ] ||
		fail "line mode used $line_ticks ticks for 3000 bytes, len mode $len_ticks"
}

# Slowloris: one byte every 300 ms keeps the idle timeout from firing, but
# the request deadline closes each one; the slots come back for others.
test_request_timeout_closes_tricklers() {
	start_server -q -v --idle-timeout 2 --max-conns 5 --request-timeout 1 127.0.0.1:0
	local i pids=()
	for i in 1 2 3 4 5; do
		rawpeer -t 8000 "$ADDR" say:on bd:300:hello eof >"t$i.out" 2>&1 &
		pids+=($!)
	done
	for i in 1 2 3 4 5; do _x=$(first_line "t$i.out"); done
	for p in "${pids[@]}"; do wait "$p"; done
	for i in 1 2 3 4 5; do
		# closed while it still writes: the next byte finds the socket gone
		expect_match "$(tail -1 "t$i.out")" "^(eof|reset|error: write: (Broken pipe|Connection reset by peer))$" \
			"trickler $i closed"
	done
	expect_eq "$(client "$ADDR")" "server says: world" "a fresh client"
	stop_server
	counted slow 5
	expect_match "$(cat err)" "close 127.0.0.1:[0-9]+: slow"
	# whole requests in time are untouched
	start_server -q -v --request-timeout 1 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" bd:50:hi r:1)" "reply: world"
	stop_server
	counted slow 0
}

# 20 clients send 16 MiB each and never read: the budget holds the server
# near --max-memory, the biggest holders of unsent output are closed and
# counted, and a fresh client is served throughout.
test_max_memory_bounds_never_readers() {
	asan_build && skip "ASan's allocator keeps freed memory; the bound is for the real build"
	[ -n "${UNDER_VALGRIND:-}" ] && skip "RSS is meaningless under valgrind"
	start_server -q -v --echo --max-memory 64M 127.0.0.1:0
	local i peak=0 rss
	for i in $(seq 1 20); do
		rawpeer -t 20000 "$ADDR" big:16000000 say:sent sleep:6000 >"m$i.out" 2>&1 &
		PIDS+=($!)
	done
	for ((i = 0; i < 60; i++)); do
		rss=$(rss_kib "$SRV_PID")
		[ "$rss" -gt "$peak" ] && peak=$rss
		expect_match "$(rawpeer "$ADDR" m:fresh r:1)" "^reply: fresh$" "a fresh client while loaded"
		[ "$(cat m*.out | grep -c sent)" -ge 20 ] && [ "$i" -ge 20 ] && break
		sleep 0.1
	done
	echo "peak RSS ${peak} KiB"
	# 64 MiB of budget, one message being copied beyond it, the read buffer
	[ "$peak" -lt $((64 * 1024 + 48 * 1024)) ] || fail "RSS peaked at ${peak} KiB with --max-memory 64M"
	stop_server KILL
	expect_match "$(cat err)" "close 127.0.0.1:[0-9]+: memory"
}

# The budget is counted and logged per close; 0 turns it off.
test_max_memory_counts_and_zero_is_off() {
	start_server -q -v --echo --max-memory 1M 127.0.0.1:0
	rawpeer -t 5000 "$ADDR" big:3000000 sleep:1500 >/dev/null 2>&1 &
	PIDS+=($!)
	sleep 1
	expect_eq "$(rawpeer "$ADDR" m:fresh r:1)" "reply: fresh"
	stop_server
	counted memory 1
	# logged without -v too, as an oversize message is
	start_server -q --echo --max-memory 1M 127.0.0.1:0
	expect_match "$(rawpeer -t 5000 "$ADDR" big:3000000 eof 2>&1)" "^(eof|reset|error: write: .*)$"
	stop_server
	expect_match "$(cat err)" "127.0.0.1:[0-9]+: holds [0-9]+ bytes of buffers, the most while over --max-memory 1048576; closing"
	start_server -q -v --echo --max-memory 0 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" big:3000000 rbig:3000000)" "rbig ok"
	stop_server
	counted memory 0
}

# --max-conns is the whole server's, exactly, whatever the thread count.
test_max_conns_exact_with_threads() {
	local n
	for n in 1 8; do
		start_server -q -v --threads 4 --max-conns "$n" 127.0.0.1:0
		rawpeer -t 5000 "$ADDR" hold:20 say:held sleep:1500 >hold.out 2>&1 &
		PIDS+=($!)
		_x=$(first_line hold.out)
		sleep 0.3
		stop_server
		# the peer's own connection plus 20 held: all but n refused
		expect_match "$(grep '^stats: ' err)" " limit=$((21 - n)) " "--max-conns $n with 4 threads"
	done
}

# Timeouts are 64-bit milliseconds: 4294968 s (2^32 ms + a bit) does not
# wrap to 0.7 s; values out of range are usage errors.
test_timeout_ranges() {
	start_server -q -v --idle-timeout 4294968 127.0.0.1:0
	rawpeer -t 3000 "$ADDR" m:hi r:1 sleep:1500 m:again r:1 >idle.out 2>&1
	expect_eq "$(cat idle.out)" $'reply: world\nreply: world' "still open after 1.5 s"
	stop_server
	counted idle 0
	local opt v err
	for opt in --idle-timeout --send-timeout --request-timeout --drain-timeout; do
		for v in 10000001 0.0001 -1 nan inf 1e400 0x10 ''; do
			err=$("$SERVER" "$opt" "$v" 2>&1)
			expect_eq "$?" 2 "$opt '$v'"
			expect_match "$err" "^parley-server: $opt: '" "$opt '$v' message"
		done
	done
	for opt in --max-msg --out-cap; do
		for v in 0 1X; do
			err=$("$SERVER" "$opt" $v 2>&1)
			expect_eq "$?" 2 "$opt $v"
			expect_match "$err" "^parley-server: $opt: '$v' is not a size from 1 to " "$opt $v message"
		done
	done
	err=$("$CLIENT" --max-msg 0 2>&1)
	expect_eq "$?" 2 "client --max-msg 0"
}

# A number is digits: strtoull and strtod would skip leading blanks and
# take a sign, so ' 5', '+5' and a tab were accepted by some options.
test_number_options_refuse_blanks_and_signs() {
	local opt v err
	for opt in --max-conns --threads --busy-poll --max-msg --out-cap --max-memory \
		--idle-timeout --request-timeout --send-timeout --drain-timeout --unix-mode; do
		for v in ' 5' '+5' $'\t5' $'\n5' '5 '; do
			err=$(timeout 5 "$SERVER" -q "$opt" "$v" 127.0.0.1:0 2>&1 </dev/null)
			expect_eq "$?" 2 "$opt '$v'"
			expect_match "$err" "^parley-server: $opt: '" "$opt '$v' message"
		done
	done
	# what the numbers may look like stays accepted
	for v in 5 0.5 .5; do
		"$SERVER" --idle-timeout "$v" --help >/dev/null || fail "--idle-timeout $v"
	done
	"$SERVER" --max-memory 5K --out-cap 1M --unix-mode 660 --help >/dev/null || fail "sizes"
}

# The budget is the whole server's, and so is the choice of whom to close:
# a hog on one thread (an 8 MB partial request) goes when a small client on
# another thread pushes the total over, not that client.  Five clients one
# after another: with 4 threads most land away from the hog's thread.
test_max_memory_evicts_the_hog_on_any_thread() {
	start_server -q -v --threads 4 --max-memory 10M 127.0.0.1:0
	rawpeer -t 20000 "$ADDR" h:6000000 fill:5000000:a say:hogged eof >hog.out 2>&1 &
	PIDS+=($!)
	expect_eq "$(first_line hog.out)" "hogged"
	local i
	for i in 1 2 3 4 5; do
		# 4 MB of partial request: the server holds it; nobody closes it
		rawpeer -t 1000 "$ADDR" h:4000000 fill:3000000:b say:sent eof >"small$i.out" 2>&1
		expect_eq "$(cat "small$i.out")" $'sent\ntimeout' "small client $i"
	done
	for ((i = 0; i < 100; i++)); do [ "$(wc -l <hog.out)" -ge 2 ] && break; sleep 0.1; done
	expect_match "$(tail -1 hog.out)" "^(eof|reset)$" "the hog closed"
	stop_server
	counted memory 1
}

# Whole requests the server has read but not yet served (its replies were
# over --out-cap a moment ago) are served as soon as the replies are under
# it: a client that pipelines 200-300 KB over a Unix socket gets every
# reply, read at once (they waited for an event that never came) or 2.5 s
# later (within --send-timeout; not a close as slow after 1 s).
test_request_timeout_spares_whole_pipelined_requests() {
	start_server -q -v --echo --out-cap 64K --request-timeout 1 --send-timeout 10 "unix:$T/p.sock"
	local n text
	text=$(printf 'x%.0s' $(seq 1 10000))
	for n in 20 30; do
		expect_eq "$(rawpeer -t 5000 "unix:$T/p.sock" "M:$n:$text" "rc:$n:$text")" "rc ok $n" \
			"$n requests read at once"
		expect_eq "$(rawpeer -t 10000 "unix:$T/p.sock" "M:$n:$text" say:written sleep:2500 "rc:$n:$text")" \
			$'written\nrc ok '"$n" "$n requests read late"
	done
	stop_server
	counted slow 0
}

# The reply batch buffer is given back after a burst of large replies: one
# 16 MB echo leaves the server's RSS near where it was.
test_large_reply_batch_given_back() {
	asan_build && skip "ASan's allocator keeps freed memory; the bound is for the real build"
	[ -n "${UNDER_VALGRIND:-}" ] && skip "RSS is meaningless under valgrind"
	start_server -q --echo 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" m:warm r:1)" "reply: warm"
	local before after
	before=$(rss_kib "$SRV_PID")
	expect_eq "$(rawpeer -t 10000 "$ADDR" big:16000000 rbig:16000000)" "rbig ok"
	after=$(rss_kib "$SRV_PID")
	echo "RSS ${before} KiB before, ${after} KiB after"
	[ "$after" -lt $((before + 4096)) ] || fail "RSS ${after} KiB after one 16 MB echo, ${before} KiB before"
	stop_server
}
