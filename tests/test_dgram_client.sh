# test_dgram_client.sh - parley-client and parley-bench over udp:, unixgram:
# and seqpacket:: against socat, small python3 servers and parley-server.

BENCH=$TOP/$BUILD/parley-bench

# A UDP port nothing is bound to (bound and closed again; the kernel does
# not hand it out again at once).
free_udp_port() {
	python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_udp PORT: until a socket is bound to PORT (socat prints nothing
# when it is ready).
wait_udp() {
	local hex i
	hex=$(printf '%04X' "$1")
	for ((i = 0; i < 100; i++)); do
		grep -qE "^ *[0-9]+: [0-9A-F]{8}:$hex " /proc/net/udp && return 0
		sleep 0.05
	done
	fail "nothing bound to udp port $1"
}

# start_py SCRIPT [ARG...]: runs a python3 UDP server (it prints
# "listening on ADDR") and sets PY to that address.
start_py() {
	need python3 python3
	printf '%s\n' "$1" >"$T/srv.py"
	shift
	python3 "$T/srv.py" "$@" >"$T/py.out" 2>&1 &
	PIDS+=($!)
	local line
	line=$(first_line "$T/py.out")
	PY=${line#listening on }
	[[ "$PY" == udp:* ]] || fail "python server did not start: $line"
}

# A UDP server that drops every Nth datagram it receives (N from argv)
# and answers the others with themselves.
DROP_EVERY='import socket, sys
every = int(sys.argv[1]) if len(sys.argv) > 1 else 0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("listening on udp:127.0.0.1:%d" % s.getsockname()[1], flush=True)
n = 0
while True:
    data, peer = s.recvfrom(65536)
    n += 1
    if n == 1 or (every and n % every == 0):
        continue
    s.sendto(data, peer)'

# The same, each answer sent DELAY seconds (argv[2]) after its request, so
# that several requests of one peer are in flight at once.
DROP_AND_DELAY='import socket, sys, time, heapq
every, delay = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("listening on udp:127.0.0.1:%d" % s.getsockname()[1], flush=True)
n, due = 0, []
while True:
    s.settimeout(max(0.001, due[0][0] - time.monotonic()) if due else None)
    try:
        data, peer = s.recvfrom(65536)
        n += 1
        if n != 1 and n % every:
            heapq.heappush(due, (time.monotonic() + delay, n, data, peer))
    except socket.timeout:
        pass
    while due and due[0][0] <= time.monotonic():
        _, _, data, peer = heapq.heappop(due)
        s.sendto(data, peer)'

# socat_echo KIND: a socat UDP echo server (KIND UDP4-RECVFROM or
# UDP4-LISTEN, forking), asked three messages by the client.
socat_echo() {
	need socat socat
	local port
	port=$(free_udp_port)
	socat "$1:$port,fork" EXEC:cat &
	PIDS+=($!)
	wait_udp "$port"
	out=$(client -t 5 "udp:127.0.0.1:$port" one 'two words' three)
	expect_eq "$?" 0 "exit"
	expect_eq "$out" $'server says: one\nserver says: two words\nserver says: three'
}

# a child per datagram, answering its sender
test_dgram_client_socat_udp_recvfrom_echo() { socat_echo UDP4-RECVFROM; }
# a child per peer, talking to it alone: every message must come from one socket
test_dgram_client_socat_udp_listen_echo() { socat_echo UDP4-LISTEN; }

test_dgram_client_parley_server_udp() {
	start_server -q --echo udp:127.0.0.1:0
	expect_match "$ADDR" '^udp:127\.0\.0\.1:[0-9]+$' "listening spelling"
	out=$(printf 'from stdin\r\n\nlast' | client -E "$ADDR" 'a\x1bb' '' - end)
	expect_eq "$?" 0 "exit"
	expect_eq "$out" $'server says: a\\x1bb\nserver says: \nserver says: from stdin\nserver says: \nserver says: last\nserver says: end'
	stop_server
	start_server -q udp:127.0.0.1:0
	expect_eq "$(client "$ADDR")" "server says: world"
	stop_server
}

test_dgram_client_retries_a_lost_datagram() {
	start_py "$DROP_EVERY"
	# the server drops the first datagram: the second try is answered
	out=$(client -v -t 0.3 --retries 2 "$PY" one two 2>err.client)
	expect_eq "$?" 0 "exit"
	expect_eq "$out" $'server says: one\nserver says: two'
	expect_match "$(cat err.client)" "no reply within 0\\.3 s; sending again \\(try 2 of 3\\)"
}

test_dgram_client_no_reply_exits_1() {
	start_py "$DROP_EVERY" 1
	err=$(client -t 0.2 --retries 2 "$PY" lost 2>&1)
	expect_eq "$?" 1 "exit with retries"
	expect_eq "$err" "parley-client: $PY: no reply after 3 tries"
	err=$(client -t 0.2 "$PY" lost 2>&1)
	expect_eq "$?" 1 "exit without"
	expect_eq "$err" "parley-client: $PY: no reply within 0.2 s"
}

test_dgram_client_refused_exits_1() {
	local port
	port=$(free_udp_port)
	err=$(client -t 5 "udp:127.0.0.1:$port" hello 2>&1)
	expect_eq "$?" 1 "exit"
	expect_eq "$err" "parley-client: udp:127.0.0.1:$port: Connection refused"
	err=$(client unixgram:"$T/none.sock" 2>&1)
	expect_eq "$?" 1 "exit (unixgram)"
	expect_eq "$err" "parley-client: connect to unixgram:$T/none.sock: No such file or directory"
	err=$(client seqpacket:@parley-none-$$ 2>&1)
	expect_eq "$?" 1 "exit (seqpacket)"
	expect_eq "$err" "parley-client: connect to seqpacket:@parley-none-$$: Connection refused"
}

test_dgram_client_next_address_after_a_refusal() {
	start_server -q udp:127.0.0.1:0
	# whichever of ::1 and 127.0.0.1 localhost gives first, the answer comes
	out=$(client -t 5 "udp:localhost:$PORT" hi)
	expect_eq "$?" 0 "exit"
	expect_eq "$out" "server says: world"
	stop_server
}

test_dgram_client_unixgram_binds_its_own_address() {
	need socat socat
	# socat answers the address the datagram came from: none, no answer
	socat "UNIX-RECVFROM:$T/g.sock,fork" EXEC:cat &
	PIDS+=($!)
	for ((i = 0; i < 100; i++)); do [ -S "$T/g.sock" ] && break; sleep 0.05; done
	out=$(client -v -t 5 "unixgram:$T/g.sock" one two 2>err.client)
	expect_eq "$?" 0 "exit (autobind)"
	expect_eq "$out" $'server says: one\nserver says: two'
	expect_match "$(cat err.client)" "connected to unixgram:$T/g\\.sock from unixgram:@[0-9a-f]{5}"
	out=$(client -v -t 5 -s "unixgram:$T/me.sock" "unixgram:$T/g.sock" three 2>err.client)
	expect_eq "$?" 0 "exit (-s)"
	expect_eq "$out" "server says: three"
	expect_match "$(cat err.client)" "from unixgram:$T/me\\.sock"
	[ ! -e "$T/me.sock" ] || fail "the client's socket file was left behind"
}

test_dgram_client_unixgram_parley_server() {
	start_server -q --echo "unixgram:$T/s.sock" unixgram:@parley-dgc-$$
	out=$(client "unixgram:$T/s.sock" a b)
	expect_eq "$out" $'server says: a\nserver says: b'
	out=$(client "unixgram:@parley-dgc-$$" c)
	expect_eq "$out" "server says: c"
	stop_server
}

test_dgram_client_ipv6() {
	[ -e /proc/net/if_inet6 ] || skip "no IPv6 on this host"
	start_server -q --echo 'udp:[::1]:0'
	expect_match "$ADDR" '^udp:\[::1\]:[0-9]+$'
	out=$(client -6 -v "$ADDR" six 2>err.client)
	expect_eq "$out" "server says: six"
	expect_match "$(cat err.client)" "from udp:\\[::1\\]:[0-9]+"
	stop_server
	# the dual-stack wildcard answers both families
	start_server -q udp:0
	expect_eq "$(client "udp:[::1]:$PORT")" "server says: world"
	expect_eq "$(client "udp:127.0.0.1:$PORT")" "server says: world"
	stop_server
}

test_dgram_client_seqpacket() {
	start_server -q --echo "seqpacket:$T/p.sock"
	out=$(client "seqpacket:$T/p.sock" one 'two two' three)
	expect_eq "$out" $'server says: one\nserver says: two two\nserver says: three'
	err=$(client "seqpacket:$T/p.sock" '' 2>&1)
	expect_eq "$?" 2 "empty message"
	expect_match "$err" "an empty MESSAGE reads as the end of the connection on seqpacket:"
	stop_server
}

test_dgram_client_stream_udp() {
	start_server -q --echo udp:127.0.0.1:0
	out=$(printf 'a\nb b\nno newline' | client --stream --quit 0.5 "$ADDR")
	expect_eq "$?" 0 "exit"
	expect_eq "$out" $'a\nb b\nno newline'
	stop_server
}

test_dgram_client_stream_seqpacket_ends_at_the_servers_end() {
	start_server -q --echo "seqpacket:$T/p.sock"
	# no --quit: the client half-closes at stdin's end, the server answers and closes
	out=$(printf 'x\ny\n' | timeout 10 "$CLIENT" -S "seqpacket:$T/p.sock")
	expect_eq "$?" 0 "exit"
	expect_eq "$out" $'x\ny'
	stop_server
}

test_dgram_client_reply_over_max_msg() {
	start_server -q --echo udp:127.0.0.1:0
	err=$(client --max-msg 3 "$ADDR" abcdef 2>&1)
	expect_eq "$?" 1 "exit"
	expect_eq "$err" "parley-client: $ADDR: reply of 6 bytes exceeds --max-msg 3"
	stop_server
}

test_dgram_client_piped_into_head() {
	start_server -q --echo udp:127.0.0.1:0
	# more than a pipe holds, so a write fails once head is gone
	seq 1 100000 | client "$ADDR" - | head -n 1 >got
	expect_eq "${PIPESTATUS[0]}" 141 "client status (SIGPIPE)"
	expect_eq "$(cat got)" "server says: 1"
	stop_server
}

test_dgram_client_usage_errors() {
	err=$(client --retries 2 127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "--retries on TCP"
	expect_match "$err" "--retries goes with udp: and unixgram:"
	err=$(client --proto line udp:127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "--proto on udp"
	err=$(client -t 0 --retries 1 udp:127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "--retries without a timeout"
	err=$(client --retries 1 seqpacket:@x 2>&1)
	expect_eq "$?" 2 "--retries on seqpacket"
	err=$(client --retries x udp:127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "bad --retries"
	err=$(client udp:7000 2>&1)
	expect_eq "$?" 2 "a port alone"
	err=$(client tls:udp:127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "tls: on udp"
	expect_match "$err" "there is no DTLS"
	client --tls seqpacket:@x >/dev/null 2>&1
	expect_eq "$?" 2 "--tls on seqpacket"
}

test_dgram_bench_udp_smoke() {
	start_server -q udp:127.0.0.1:0
	out=$("$BENCH" -n 300 -c 4 -P 2 "$ADDR")
	expect_eq "$?" 0 "exit"
	expect_match "$out" "requests      300 in "
	expect_match "$out" "loss          0\\.000% \\(0 of 300 datagrams unanswered; 0 replies dropped by this generator.s own sockets\\)"
	out=$("$BENCH" --json -n 100 --rate 2000 "$ADDR")
	expect_eq "$?" 0 "exit (open loop)"
	expect_match "$out" '"requests":100,.*"missing":0,.*"sent":100,"loss":0\.000000,"own_drops":0}$'
	stop_server
}

test_dgram_bench_reports_loss() {
	start_py "$DROP_EVERY" 10
	# 100 requests one at a time: datagrams 1, 10, 20 ... 90 and 100 are dropped
	out=$("$BENCH" -n 100 -c 1 -t 0.1 --expect-echo "$PY")
	expect_eq "$?" 1 "exit (requests missing)"
	expect_match "$out" "errors        0 wrong, 11 missing, 0 refused"
	expect_match "$out" "loss          11\\.000% \\(11 of 100 datagrams unanswered; 0 replies dropped by this generator.s own sockets\\)"
	expect_match "$out" "requests      89 in "
}

test_dgram_bench_open_loop_counts_loss() {
	start_py "$DROP_AND_DELAY" 10 0.1
	# 100 requests/s answered 0.1 s late, so about ten in flight at once;
	# unnumbered, each reply is taken for the oldest: the count still comes right
	out=$("$BENCH" -n 200 -c 1 --rate 100 -t 1 --expect-echo "$PY")
	expect_eq "$?" 1 "exit (requests missing)"
	expect_match "$out" "errors        0 wrong, 21 missing, 0 refused"
	expect_match "$out" "requests      179 in "
}

test_dgram_bench_numbered_requests_find_their_replies() {
	start_py "$DROP_AND_DELAY" 10 0.1
	# numbered (--expect-echo, 8 bytes or more): a lost request is known as
	# soon as a younger one's reply comes, not after -t (30 s: the run would
	# be cut by the timeout below, exit 124)
	out=$(timeout 20 "$BENCH" -n 195 -c 1 --rate 100 -t 30 --size 16 --expect-echo "$PY")
	expect_eq "$?" 1 "exit (requests missing)"
	expect_match "$out" "errors        0 wrong, 20 missing, 0 refused"
	expect_match "$out" "requests      175 in "
}

test_dgram_bench_refused() {
	local port
	port=$(free_udp_port)
	out=$("$BENCH" -n 5 -c 1 -t 1 "udp:127.0.0.1:$port" 2>err.bench)
	expect_eq "$?" 1 "exit"
	expect_eq "$(cat err.bench)" "parley-bench: udp:127.0.0.1:$port: Connection refused"
	expect_match "$out" "5 missing, [1-9][0-9]* refused"
}

test_dgram_bench_unix_and_seqpacket() {
	start_server --n 2 -q --echo "unixgram:$T/g.sock" "seqpacket:$T/p.sock"
	out=$("$BENCH" -n 500 -c 20 --expect-echo "unixgram:$T/g.sock")
	expect_eq "$?" 0 "exit (unixgram)"
	expect_match "$out" "loss          0\\.000% \\(0 of 500"
	out=$("$BENCH" -n 500 -c 5 -P 8 --expect-echo "seqpacket:$T/p.sock")
	expect_eq "$?" 0 "exit (seqpacket)"
	expect_match "$out" "loss          0\\.000% \\(0 of 500"
	stop_server
}

test_dgram_bench_bulk() {
	start_server -q udp:127.0.0.1:0
	out=$("$BENCH" --bulk 1M "$ADDR")
	expect_eq "$?" 0 "exit"
	expect_match "$out" "bulk, 1400-byte datagrams, GSO (on|off)"
	expect_match "$out" "sent          1048576 bytes in 749 datagrams"
	out=$("$BENCH" --json --bulk 100K --size 1000 --no-gso "$ADDR")
	expect_match "$out" '"mode":"bulk","size":1000,"gso":0,"bytes":102400,"datagrams":103,'
	stop_server
}

test_dgram_bench_usage_errors() {
	"$BENCH" --bulk 1M 127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "--bulk on TCP"
	"$BENCH" --churn udp:127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "--churn on udp"
	"$BENCH" --bulk 1M -c 4 udp:127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "--bulk with -c"
	"$BENCH" --no-gso udp:127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "--no-gso without --bulk"
	"$BENCH" -t 0 udp:127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "-t 0 on udp"
	"$BENCH" --bulk 1M --size 0 udp:127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "--bulk of empty datagrams"
	"$BENCH" --size 65508 udp:127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "a request over 65507 bytes on udp"
}
