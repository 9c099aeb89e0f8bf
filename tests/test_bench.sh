# test_bench.sh - parley-bench's own behaviour against a real parley-server.
# (No test asserts a speed: that is what make bench is for.)

BENCH=$TOP/$BUILD/parley-bench

test_bench_short_run_exits_0() {
	start_server -q 127.0.0.1:0
	out=$("$BENCH" -c 4 -n 2000 "$ADDR")
	expect_eq "$?" 0 "exit"
	expect_match "$out" "requests      2000 in "
	expect_match "$out" "errors        0 wrong, 0 missing, 0 connect"
	stop_server
}

test_bench_pipelined_and_duration() {
	start_server -q 127.0.0.1:0
	out=$("$BENCH" -q -c 3 -P 8 -d 0.5 --json "$ADDR")
	expect_eq "$?" 0 "exit"
	expect_match "$out" '"pipeline":8,'
	expect_match "$out" '"errors":0}'
	stop_server
}

test_bench_wrong_replies_exit_1() {
	start_server -q --reply nope 127.0.0.1:0
	out=$("$BENCH" -c 2 -n 100 "$ADDR")
	expect_eq "$?" 1 "exit"
	expect_match "$out" "errors        100 wrong, 0 missing, 0 connect"
	stop_server
}

test_bench_missing_replies_exit_1() {
	# a peer that reads one request and closes: the rest never get replies
	start_peer rb:9
	local a=$PEER
	out=$("$BENCH" -c 1 -P 4 -n 4 --json "$a")
	expect_eq "$?" 1 "exit"
	expect_match "$out" '"missing":4,'
}

test_bench_json_parses() {
	start_server -q --echo 127.0.0.1:0
	out=$("$BENCH" -c 2 -n 500 --size 64 --expect-echo --json "$ADDR")
	expect_eq "$?" 0 "exit"
	if command -v python3 >/dev/null; then
		printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["requests"]==500 and d["errors"]==0 and d["p99_us"]>0, d' ||
			fail "JSON does not parse or is wrong: $out"
	else
		expect_match "$out" '^\{"address":"[^"]+",("[a-z0-9_]+":("[^"]*"|[0-9.]+),?)+\}$'
	fi
	stop_server
}

test_bench_raw_mode_with_reply_size() {
	start_server -q --proto raw 127.0.0.1:0
	# raw, one in flight: each "hello" chunk gets "world"
	out=$("$BENCH" -c 2 -n 300 --proto raw --reply-size 5 --expect world --json "$ADDR")
	expect_eq "$?" 0 "exit"
	expect_match "$out" '"requests":300,'
	stop_server
}

test_bench_churn_and_open_loop() {
	start_server -q 127.0.0.1:0
	out=$("$BENCH" --churn -c 4 -n 200 --json "$ADDR")
	expect_eq "$?" 0 "churn exit"
	expect_match "$out" '"mode":"churn"'
	out=$("$BENCH" -c 4 --rate 2000 -d 0.5 --json "$ADDR")
	expect_eq "$?" 0 "open loop exit"
	expect_match "$out" '"rate":2000,'
	stop_server
}

test_bench_connect_only_holds_connections() {
	start_server -q -v 127.0.0.1:0
	"$BENCH" --connect-only -c 20 -d 1 "$ADDR" >hold.out &
	local b=$!
	expect_eq "$(first_line hold.out)" "holding 20 connections"
	wait $b
	expect_eq "$?" 0 "exit"
	stop_server
	expect_match "$(cat err)" "accepted=20 "
}

test_bench_usage_errors() {
	"$BENCH" --proto raw 127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "raw without --reply-size"
	"$BENCH" -c 0 127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "zero connections"
}

# ADDR where nothing listens: a server's address after it stopped.
nothing_listening() {
	start_server -q 127.0.0.1:0
	stop_server
}

# connects_paced OUT ERR: the run counted its refused connects, said so once,
# and paced its retries (a few per connection in half a second, not a busy
# loop or a recursion per attempt).
connects_paced() {
	local n
	n=$(sed -n 's/^errors .* \([0-9]*\) connect$/\1/p' <<<"$1")
	[ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -le 100 ] || fail "connect errors: [$n] in [$1]"
	expect_eq "$2" "parley-bench: connect to $ADDR: Connection refused" "stderr"
}

test_bench_churn_nothing_listening_counts_connect_errors() {
	nothing_listening
	out=$("$BENCH" -q --churn -c 4 -d 0.5 "$ADDR" 2>berr)
	expect_eq "$?" 1 "exit"
	connects_paced "$out" "$(cat berr)"
}

test_bench_nothing_listening_counts_connect_errors() {
	nothing_listening
	out=$("$BENCH" -q -c 4 -d 0.5 "$ADDR" 2>berr)
	expect_eq "$?" 1 "exit"
	connects_paced "$out" "$(cat berr)"
}

test_bench_never_answering_server_counts_missing() {
	# the peer reads one request and never answers
	start_peer rb:9 sleep:10000
	out=$(timeout 10 "$BENCH" -c 1 -d 0.2 -t 0.3 --json "$PEER")
	expect_eq "$?" 1 "exit"
	expect_match "$out" '"missing":1,'
}

test_bench_never_answering_server_ends_n_run() {
	start_peer rb:18 sleep:10000
	out=$(timeout 10 "$BENCH" -c 1 -P 2 -n 2 -t 0.3 "$PEER" 2>berr)
	expect_eq "$?" 1 "exit"
	expect_match "$out" "errors        0 wrong, 2 missing, 0 connect"
	expect_eq "$(cat berr)" "parley-bench: $PEER: no reply within 0.3 s" "stderr"
}

test_bench_sigint_with_requests_in_flight_exits_1() {
	start_peer rb:9 sleep:10000
	"$BENCH" -q -c 1 -n 1 "$PEER" >bench.out &
	local b=$! i
	# once the peer has the request, it is in flight
	for ((i = 0; i < 200; i++)); do grep -q '^raw: ' "$T/peer" && break; sleep 0.05; done
	grep -q '^raw: ' "$T/peer" || fail "the request never reached the peer"
	kill -INT $b
	wait $b
	expect_eq "$?" 1 "exit"
	expect_match "$(cat bench.out)" "errors        0 wrong, 1 missing, 0 connect"
}

test_bench_raw_reply_size_too_small_is_wrong() {
	start_server -q --proto raw 127.0.0.1:0
	# each "world" is taken as a 3-byte reply and 2 bytes nobody asked for
	out=$(timeout 10 "$BENCH" -c 1 -n 1 --proto raw --reply-size 3 "$ADDR")
	expect_eq "$?" 1 "exit"
	expect_match "$out" "errors        1 wrong, 0 missing, 0 connect"
	stop_server
}

test_bench_raw_reply_size_too_large_is_missing() {
	start_server -q --proto raw 127.0.0.1:0
	out=$(timeout 10 "$BENCH" -c 1 -n 1 --proto raw --reply-size 10 -t 0.3 "$ADDR" 2>/dev/null)
	expect_eq "$?" 1 "exit"
	expect_match "$out" "errors        0 wrong, 1 missing, 0 connect"
	stop_server
}

# A listener whose accept queue is full: connects neither finish nor fail.
start_black_hole() {
	"$RAWPEER" -t 10000 -B 127.0.0.1:0 >hole &
	PIDS+=($!)
	HOLE=$(first_line hole)
	HOLE=${HOLE#listening on }
}

# connect_times_out WHAT ARGS...: a run without -d against the black hole
# ends after -t with its connects counted and the cause said once.
connect_times_out() {
	local what=$1
	shift
	out=$(timeout 10 "$BENCH" -q "$@" -c 2 -t 0.3 "$HOLE" 2>berr)
	expect_eq "$?" 1 "$what exit"
	expect_match "$out" "errors        0 wrong, 0 missing, [1-9][0-9]* connect" "$what report"
	expect_eq "$(cat berr)" "parley-bench: connect to $HOLE: Connection timed out" "$what stderr"
}

test_bench_connect_timeout_counts_connect_errors() {
	start_black_hole
	connect_times_out load -n 4
	connect_times_out churn --churn -n 4
	connect_times_out connect-only --connect-only
}

# usage_error MESSAGE ARGS...: parley-bench ARGS is refused with exit 2:
# one line naming the problem (matching MESSAGE), then the --help hint.
usage_error() {
	local want=$1 err
	shift
	err=$(timeout 5 "$BENCH" "$@" 2>&1 >/dev/null)
	expect_eq "$?" 2 "exit of [$*]"
	expect_eq "$(wc -l <<<"$err")" 2 "lines from [$*]: [$err]"
	expect_match "$err" "^parley-bench: $want" "message of [$*]"
	expect_match "$err" $'\n'"Try 'parley-bench --help' for more information.$" "hint of [$*]"
}

test_bench_extra_argument_is_usage_error() {
	usage_error "unexpected argument 'extra'" 127.0.0.1:1 extra
	usage_error "unexpected argument 'b'" -q a b
}

test_bench_missing_option_value_says_it_once() {
	usage_error "option '-c' needs a value" -c
	usage_error "option '--conns' needs a value" 127.0.0.1:1 --conns
	usage_error "option '-t' needs a value" -q -t
	usage_error "unknown option '--nope'" --nope 127.0.0.1:1
	usage_error "unknown option '-x'" -qx 127.0.0.1:1
	usage_error "option '--churn' takes no value" --churn=1 127.0.0.1:1
}

test_bench_contradictory_options_are_usage_errors() {
	local a=127.0.0.1:1
	usage_error "--churn and --connect-only cannot be combined" --churn --connect-only $a
	usage_error "--expect and --expect-echo cannot be combined" --expect world --expect-echo $a
	usage_error "--requests and --duration cannot be combined" -n 10 -d 1 $a
	usage_error "--size and --request cannot be combined" --size 10 --request hi $a
	usage_error "--rate and --churn cannot be combined" --rate 100 --churn $a
	usage_error "--rate and --pipeline cannot be combined" --rate 100 -P 4 $a
	usage_error "--pipeline and --churn cannot be combined" -P 4 --churn $a
	usage_error "--connect-only and --rate cannot be combined" --connect-only --rate 100 $a
	usage_error "--connect-only and --requests cannot be combined" --connect-only -n 5 $a
	usage_error "--connect-only and --expect cannot be combined" --connect-only --expect x $a
	usage_error "--reset goes with --churn" --reset $a
	usage_error "--proto line: a reply cannot contain a newline" --proto line --expect 'a\nb' $a
}

test_bench_zero_is_refused_where_it_means_nothing() {
	local a=127.0.0.1:1
	usage_error "--conns: '0' is not a number from 1" -c 0 $a
	usage_error "--pipeline: '0' is not a number from 1" -P 0 $a
	usage_error "--requests: '0' is not a number from 1" -n 0 $a
	usage_error "--rate: '0' is not a number from 1" --rate 0 $a
	usage_error "--duration: '0' is not a number of seconds from 0.001" -d 0 $a
	usage_error "--reply-size: '0' is not a size from 1" --proto raw --reply-size 0 $a
	usage_error "--proto raw: an empty request sends nothing" --proto raw --reply-size 5 --size 0 $a
}

test_bench_bad_escape_is_usage_error() {
	usage_error "--request: 'bad.xZZ' has a bad escape" --request 'bad\xZZ' 127.0.0.1:1
	usage_error "--expect: 'bad.q' has a bad escape" --expect 'bad\q' 127.0.0.1:1
}

# -r is --reply (server) and -s --source (client): bench's --rate and
# --size have no short form; -t is --timeout as in the client.
test_bench_short_options_mean_the_same_in_every_program() {
	usage_error "unknown option '-r'" -r 100 127.0.0.1:1
	usage_error "unknown option '-s'" -s 10 127.0.0.1:1
	usage_error "--timeout: 'soon' is not a number of seconds" -t soon 127.0.0.1:1
	start_server -q 127.0.0.1:0
	out=$("$BENCH" -q -c 1 --rate 200 -d 0.2 --size 5 -t 2 "$ADDR")
	expect_eq "$?" 0 "exit with the long forms"
	stop_server
}

test_bench_report_write_error_exits_1() {
	start_server -q 127.0.0.1:0
	"$BENCH" -q -c 1 -n 10 "$ADDR" >/dev/full 2>berr
	expect_eq "$?" 1 "exit"
	expect_eq "$(cat berr)" "parley-bench: write to stdout: No space left on device" "stderr"
	stop_server
}

test_bench_closed_std_fds_are_not_reused() {
	start_server -q 127.0.0.1:0
	"$BENCH" -q -c 1 -n 10 "$ADDR" <&- >&- 2>berr
	expect_eq "$?" 0 "exit"
	expect_eq "$(cat berr)" "" "stderr"
	stop_server
}

test_bench_reader_that_stops_early_is_no_error() {
	start_server -q 127.0.0.1:0
	# head leaves after "holding"; the report then meets a closed pipe
	out=$("$BENCH" --connect-only -c 1 -d 0.3 "$ADDR" 2>berr | head -n 1; echo "rc=${PIPESTATUS[0]}")
	expect_eq "$out" $'holding 1 connections\nrc=0'
	expect_eq "$(cat berr)" "" "stderr"
	stop_server
}

# ---- TLS (--tls, tls:ADDRESS); skipped (77) in a build without it ----

# bench_tls [ARGS...]: a TLS server (ARGS, then a tls: listener) with the
# test certificates (C, SRV_TLS: tls_lib.sh); ADDR is tls:127.0.0.1:PORT.
bench_tls() {
	[ -f "$TOP/tests/tls_lib.sh" ] || skip "tests/tls_lib.sh is not here"
	. "$TOP/tests/tls_lib.sh"
	need_tls
	start_server -q "${SRV_TLS[@]}" "$@" tls:127.0.0.1:0
}

test_bench_tls_load() {
	bench_tls
	out=$("$BENCH" --tls-ca "$C/ca.pem" -c 4 -n 2000 "$ADDR")
	expect_eq "$?" 0 "exit"
	expect_match "$out" "^$ADDR  len  load, 4 connections, pipeline 1"$'\n'"requests      2000 in "
	expect_match "$out" $'\n'"tls           TLSv1\.3 TLS_[A-Z0-9_]+, verified"$'\n'"handshakes    4 \(0 resumed\)"$'\n'
	expect_match "$out" $'\n'"errors        0 wrong, 0 missing, 0 connect, 0 tls$"
	stop_server
}

# --tls with a plain ADDRESS is tls:ADDRESS; --insecure says it verifies nothing
test_bench_tls_option_json_and_insecure() {
	bench_tls --echo
	out=$("$BENCH" --tls --insecure --tls-min 1.3 -c 2 -P 4 -n 400 --size 20000 --expect-echo \
		--json "127.0.0.1:$PORT" 2>berr)
	expect_eq "$?" 0 "exit"
	expect_match "$out" '"requests":400,.*"tls":1,"tls_version":"TLSv1.3","tls_cipher":"TLS_[A-Z0-9_]+","verified":0,"handshakes":2,"resumed":0,"handshakes_per_s":[0-9.]+,"ktls":0,"tls_errors":0,"errors":0}$'
	expect_eq "$(cat berr)" "parley-bench: warning: --insecure: the server's certificate is not verified; anyone on the path can read and change this connection" "stderr"
	stop_server
}

# churn: a full handshake per connection; --tls-resume: after the first,
# each connection resumes the session the one before it got
test_bench_tls_churn_and_resume() {
	bench_tls
	out=$("$BENCH" --tls-ca "$C/ca.pem" --churn -c 1 -n 20 "$ADDR")
	expect_eq "$?" 0 "churn exit"
	expect_match "$out" $'\n'"handshakes    20 \(0 resumed\), [0-9]+/s"$'\n'
	out=$("$BENCH" --tls-ca "$C/ca.pem" --churn --reset --tls-resume -c 1 -n 20 --json "$ADDR")
	expect_eq "$?" 0 "resume exit"
	expect_match "$out" '"mode":"churn".*"handshakes":20,"resumed":19,.*"errors":0}$'
	stop_server
}

# A handshake that fails is counted and said once, with OpenSSL's reason,
# and retried as a refused connect is: a -n run ends after -t
test_bench_tls_handshake_failure_is_counted() {
	local n
	bench_tls
	for mode in load churn; do
		local args=(-n 4)
		[ $mode = churn ] && args+=(--churn)
		out=$(timeout 10 "$BENCH" -q --tls-ca "$C/ca2.pem" -c 2 -t 0.3 "${args[@]}" "$ADDR" 2>berr)
		expect_eq "$?" 1 "$mode exit"
		n=$(sed -n 's/^errors        0 wrong, 0 missing, 0 connect, \([0-9]*\) tls$/\1/p' <<<"$out")
		[ -n "$n" ] && [ "$n" -ge 2 ] && [ "$n" -le 100 ] || fail "$mode: tls errors [$n] in [$out]"
		expect_match "$out" $'\n'"tls           no handshake finished"$'\n'"handshakes    0 \(0 resumed\)"
		expect_eq "$(cat berr)" "parley-bench: $ADDR: certificate verify failed: unable to get local issuer certificate" "$mode stderr"
	done
	stop_server
	# a TLS client on a plaintext port: the server's close ends the handshake
	start_server -q 127.0.0.1:0
	out=$(timeout 10 "$BENCH" -q --tls-ca "$C/ca.pem" -c 1 -n 1 -t 0.3 --json "tls:$ADDR" 2>berr)
	expect_eq "$?" 1 "plain port exit"
	expect_match "$out" '"handshakes":0,.*"tls_errors":[1-9][0-9]*,'
	expect_eq "$(cat berr)" "parley-bench: tls:$ADDR: peer closed during the handshake (not a TLS port?)" "plain port stderr"
	stop_server
}

test_bench_tls_usage_errors() {
	bench_tls
	stop_server
	usage_error "--tls-resume goes with --churn" --tls --tls-resume tls:127.0.0.1:1
	usage_error "--tls-\* options and --insecure go with --tls or a tls: ADDRESS" --insecure 127.0.0.1:1
	usage_error "--tls-min: '1.1' is not 1.2 or 1.3" --tls-min 1.1 tls:127.0.0.1:1
	out=$(timeout 5 "$BENCH" --tls-ca "$T/none.pem" -n 1 tls:127.0.0.1:1 2>&1)
	expect_eq "$?" 1 "exit for a CA file that is not there"
	expect_eq "$out" "parley-bench: tls: $T/none.pem: No such file or directory"
}
