# test_dgram.sh - parley-server over datagrams (udp:, unixgram:) and Unix
# packets (seqpacket:): interop with nc, ncat and socat, many peers on one
# socket, hostile input, drops counted, SEQPACKET boundaries.

DGRAMPEER=$TOP/$BUILD/tests/dgrampeer
dgrampeer() { "$DGRAMPEER" "$@"; }

# first_reply CMD...: runs a netcat-like CMD whose stdin stays open, writes
# "hello\n" into it and prints the first line it writes back (bounded by
# first_line); then ends it.  Waiting for EOF would not do: a datagram
# tool has no end of stream to wait for.
first_reply() {
	local in=$T/in$RANDOM w pid
	mkfifo "$in"
	"$@" <"$in" >"$T/tool.out" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	exec {w}>"$in"
	printf 'hello\n' >&$w
	first_line "$T/tool.out"
	exec {w}>&-
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$in" "$T/tool.out"
}

# wait_log REGEX: the server logged a line matching REGEX (up to 10 s).
wait_log() {
	local i
	for ((i = 0; i < 200; i++)); do grep -qE "$1" "$T/err" && return; sleep 0.05; done
	fail "no log line matching /$1/"
}

# stats_line: the -v counters after stop_server.
stats_line() { grep '^stats: ' "$T/err"; }

test_dgram_listening_spelling_is_the_client_spelling() {
	start_server --n 4 -q udp:127.0.0.1:0 'udp:[::1]:0' "unixgram:$T/g.sock" "seqpacket:$T/p.sock"
	expect_match "${ADDRS[0]}" '^udp:127\.0\.0\.1:[0-9]+$'
	expect_match "${ADDRS[1]}" '^udp:\[::1\]:[0-9]+$'
	expect_eq "${ADDRS[2]}" "unixgram:$T/g.sock"
	expect_eq "${ADDRS[3]}" "seqpacket:$T/p.sock"
	local a
	for a in "${ADDRS[@]}"; do
		expect_eq "$(dgrampeer "$a" s:hello r)" "reply: world" "$a"
	done
	stop_server
	expect_eq "$SRV_RC" 0
	[ ! -e "$T/g.sock" ] && [ ! -e "$T/p.sock" ] || fail "socket files left behind"
}

test_dgram_socat_udp() {
	need socat socat
	start_server -q --reply 'world\n' udp:127.0.0.1:0
	expect_eq "$(first_reply socat - "UDP:127.0.0.1:$PORT")" "world"
	stop_server
}

test_dgram_nc_u() {
	need nc netcat-openbsd
	start_server -q --reply 'world\n' udp:127.0.0.1:0
	expect_eq "$(first_reply nc -u 127.0.0.1 "$PORT")" "world"
	stop_server
}

test_dgram_ncat_udp() {
	need ncat ncat
	start_server -q --echo udp:127.0.0.1:0
	expect_eq "$(first_reply ncat --udp 127.0.0.1 "$PORT")" "hello"
	stop_server
}

# A Unix datagram client must bind an address of its own to be answered.
test_dgram_socat_unix_sendto() {
	need socat socat
	start_server -q --echo "unixgram:$T/g.sock"
	expect_eq "$(first_reply socat - "UNIX-SENDTO:$T/g.sock,bind=$T/c.sock")" "hello"
	stop_server
}

# An abstract server name, and a client bound to a path: the log names
# the peer by the address it sent from.
test_dgram_socat_abstract_sendto() {
	need socat socat
	start_server -q -v --echo "unixgram:@parley-test-$$"
	expect_eq "$(first_reply socat - "ABSTRACT-SENDTO:parley-test-$$,bind=$T/r.sock")" "hello"
	stop_server
	# socat binds in the abstract namespace too, so the name starts with @
	expect_match "$(cat err)" "open unixgram:@$T/r.sock"
}

# 1,000 source ports, one server socket: every one answered.
test_dgram_1000_peers_one_socket() {
	start_server -q -v udp:127.0.0.1:0
	expect_eq "$(dgrampeer "$ADDR" peers:1000)" "peers 1000 of 1000 answered"
	stop_server
	expect_match "$(stats_line)" " peers=1000 dropped=0 "
	expect_match "$(stats_line)" "requests=1000 "
}

test_dgram_ipv6_and_dual_stack_wildcard() {
	start_server -q 'udp:[::1]:0'
	expect_eq "$(dgrampeer "$ADDR" s:hello r)" "reply: world" "[::1]"
	stop_server
	start_server -q udp:0
	expect_match "$ADDR" '^udp:\[::\]:[0-9]+$'
	expect_eq "$(dgrampeer "udp:[::1]:$PORT" s:hello r)" "reply: world" "IPv6 on the wildcard"
	expect_eq "$(dgrampeer "udp:127.0.0.1:$PORT" s:hello r)" "reply: world" "IPv4 on the wildcard"
	stop_server
}

# The peer's socket is connected to the address it asked, so the kernel
# drops a reply from any other: 127.0.0.2 is answered from 127.0.0.2.
test_dgram_wildcard_answers_from_the_address_asked() {
	start_server -q -v udp:0
	expect_eq "$(dgrampeer "udp:127.0.0.2:$PORT" s:hello r)" "reply: world" "asked 127.0.0.2"
	expect_eq "$(dgrampeer "udp:127.0.0.1:$PORT" s:hello r)" "reply: world" "asked 127.0.0.1"
	stop_server
	start_server -q 'udp:0.0.0.0:0'
	expect_eq "$(dgrampeer "udp:127.0.0.2:$PORT" s:hello r)" "reply: world" "IPv4 wildcard, 127.0.0.2"
	stop_server
}

# Decided: an empty datagram is a message of length 0, answered.
test_dgram_zero_length_is_a_message() {
	start_server --echo udp:127.0.0.1:0
	expect_eq "$(dgrampeer "$ADDR" z r s:after r)" $'reply: \nreply: after'
	stop_server
	expect_eq "$(cat out)" $'client says: \nclient says: after'
}

test_dgram_over_max_msg_dropped_and_counted() {
	start_server -q -v --echo --max-msg 100 udp:127.0.0.1:0
	# the oversize one is never echoed: the first reply is the one after it
	expect_eq "$(dgrampeer "$ADDR" big:100 rbig:100 big:101 s:after r)" $'rbig ok\nreply: after'
	stop_server
	expect_match "$(stats_line)" "requests=2 .* dropped=1 drop_oversize=1 "
}

test_dgram_64k_datagrams() {
	start_server --n 2 -q -v --echo udp:127.0.0.1:0 "unixgram:$T/g.sock"
	expect_eq "$(dgrampeer "${ADDRS[0]}" big:65507 rbig:65507)" "rbig ok" "largest UDP/IPv4 datagram"
	expect_eq "$(dgrampeer "${ADDRS[1]}" big:65536 rbig:65536 big:65537 s:after r)" \
		$'rbig ok\nreply: after' "64 KiB Unix datagram, and one byte more"
	stop_server
	expect_match "$(stats_line)" " drop_oversize=1 "
}

# A flood while the server is stopped overflows the socket's buffer for
# sure: the kernel's drops are counted, every datagram is accounted for
# (served or dropped), and the server then answers as before.
test_dgram_flood_past_the_socket_buffer() {
	start_server -q -v udp:127.0.0.1:0
	kill -STOP "$SRV_PID"
	expect_eq "$(dgrampeer "$ADDR" flood:20000:1000)" "flood 20000 sent"
	kill -CONT "$SRV_PID"
	expect_eq "$(dgrampeer "$ADDR" s:fresh r)" "reply: world"
	local c0 c1
	if [ -z "${UNDER_VALGRIND:-}" ]; then
		c0=$(cpu_ticks "$SRV_PID")
		sleep 0.5
		c1=$(cpu_ticks "$SRV_PID")
		[ $((c1 - c0)) -le 2 ] || fail "server used $((c1 - c0)) ticks in 0.5 s while waiting"
		[ "$(rss_kib "$SRV_PID")" -lt 65536 ] || fail "server RSS over 64 MiB"
	fi
	stop_server
	local line req drops
	line=$(stats_line)
	req=$(sed -E 's/.* requests=([0-9]+) .*/\1/' <<<"$line")
	drops=$(sed -E 's/.* drop_rcvbuf=([0-9]+).*/\1/' <<<"$line")
	[ "$drops" -gt 0 ] || fail "no drop counted: $line"
	expect_eq "$((req + drops))" 20001 "served + dropped"
}

# Replies to peers that are gone bounce (ICMP port unreachable for UDP, a
# refused sendto for Unix); the others are served all the same.  The
# server is stopped while the peers come and go, so every one is gone
# before its reply.
test_dgram_bounced_replies_do_not_stop_serving() {
	start_server --n 2 -q -v udp:127.0.0.1:0 "unixgram:$T/g.sock"
	kill -STOP "$SRV_PID"
	dgrampeer "${ADDRS[0]}" bounce:200
	# (a Unix datagram socket queues 10 at most: the 11th send would block)
	dgrampeer "${ADDRS[1]}" bounce:8
	kill -CONT "$SRV_PID"
	expect_eq "$(dgrampeer "${ADDRS[0]}" s:after r)" "reply: world" "udp"
	expect_eq "$(dgrampeer "${ADDRS[1]}" s:after r)" "reply: world" "unixgram"
	expect_eq "$(dgrampeer "${ADDRS[0]}" peers:100)" "peers 100 of 100 answered"
	stop_server
	# a Unix peer's socket is gone: its reply fails at once and is counted
	expect_match "$(stats_line)" "requests=310 .* drop_error=8 "
}

# Many sources (what spoofed traffic looks like): every one answered, but
# never more state than --max-conns peers; the least recently active goes.
test_dgram_peers_bounded_by_max_conns() {
	start_server -q -v --max-conns 10 udp:127.0.0.1:0
	expect_eq "$(dgrampeer "$ADDR" peers:500)" "peers 500 of 500 answered"
	stop_server
	expect_match "$(stats_line)" " limit=490 shutdown=10 .* peers=500 dropped=0 "
}

test_dgram_verbose_logs_first_datagram_and_expiry() {
	start_server -v --idle-timeout 0.2 udp:127.0.0.1:0
	expect_eq "$(dgrampeer "$ADDR" s:hello r s:again r)" $'reply: world\nreply: world'
	wait_log "^close udp:127\.0\.0\.1:[0-9]+: idle$"
	stop_server
	expect_eq "$(grep -c '^open udp:127\.0\.0\.1:' err)" 1 "one open for two datagrams"
	expect_match "$(stats_line)" " idle=1 .* peers=1 "
}

# Datagrams are whole messages whatever --proto says.
test_dgram_ignores_stream_framing() {
	start_server --proto line --echo udp:127.0.0.1:0
	expect_eq "$(dgrampeer "$ADDR" 's:a\nb' r)" 'reply: a\x0ab'
	stop_server
}

test_dgram_next_to_stream_listeners() {
	start_server --n 4 -q 127.0.0.1:0 udp:127.0.0.1:0 "unix:$T/s.sock" "unixgram:$T/g.sock"
	expect_eq "$(client "${ADDRS[0]}")" "server says: world"
	expect_eq "$(dgrampeer "${ADDRS[1]}" s:hello r)" "reply: world"
	expect_eq "$(client "${ADDRS[2]}")" "server says: world"
	expect_eq "$(dgrampeer "${ADDRS[3]}" s:hello r)" "reply: world"
	stop_server
	expect_eq "$SRV_RC" 0
}

# SO_REUSEADDR would let two UDP sockets share a port: a second server on
# it must fail as a second TCP server does.
test_dgram_second_server_on_the_port_fails() {
	start_server -q udp:127.0.0.1:0
	"$SERVER" -q "$ADDR" >out2 2>err2
	expect_eq "$?" 1 "exit status"
	expect_eq "$(cat err2)" "parley-server: listen on $ADDR: Address already in use"
	"$SERVER" -q --threads 2 "$ADDR" >out2 2>err2
	expect_eq "$?" 1 "exit status with threads"
	stop_server
}

test_dgram_threads_share_the_port() {
	start_server -q -v --threads 3 udp:127.0.0.1:0
	expect_eq "$(dgrampeer "$ADDR" peers:300)" "peers 300 of 300 answered"
	stop_server
	expect_match "$(stats_line)" " peers=300 dropped=0 "
}

test_dgram_sigterm_drains_and_removes_the_file() {
	start_server -q -v "unixgram:$T/g.sock"
	expect_eq "$(dgrampeer "$ADDR" s:hello r)" "reply: world"
	stop_server TERM
	expect_eq "$SRV_RC" 0
	[ ! -e "$T/g.sock" ] || fail "socket file left behind"
	expect_match "$(stats_line)" " shutdown=1 .* peers=1 "
}

test_dgram_bad_addresses_are_usage_errors() {
	"$SERVER" udp:unix:/x >out 2>err
	expect_eq "$?" 2
	expect_eq "$(head -n 1 err)" "parley-server: bad address 'udp:unix:/x': udp: takes HOST:PORT; a Unix datagram socket is unixgram:PATH"
	"$SERVER" unixgram: >out 2>err
	expect_eq "$?" 2
	expect_eq "$(head -n 1 err)" "parley-server: bad address 'unixgram:': empty Unix socket path"
}

# ---- SEQPACKET: a connection whose packets are the messages ----

test_seqpacket_boundaries_kept_with_pipelining() {
	start_server -q --echo "seqpacket:$T/p.sock"
	# three packets written before a reply is read, one of them empty of
	# newlines and one holding what len framing would read as a header
	expect_eq "$(dgrampeer "$ADDR" s:one 's:\x05\x00\x00\x00two' s:three r r r)" \
		$'reply: one\nreply: \\x05\\x00\\x00\\x00two\nreply: three'
	stop_server
}

test_seqpacket_whatever_the_protocol() {
	start_server -q --proto line --echo "seqpacket:$T/p.sock"
	expect_eq "$(dgrampeer "$ADDR" 's:a\nb' r)" 'reply: a\x0ab'
	stop_server
}

test_seqpacket_half_close_gets_the_answers() {
	start_server -q "seqpacket:@parley-sp-$$"
	expect_eq "$(dgrampeer "$ADDR" s:a s:b shut r r eof)" $'reply: world\nreply: world\neof'
	stop_server
}

test_seqpacket_socat_client() {
	need socat socat
	start_server -q --reply 'world\n' "seqpacket:$T/p.sock"
	expect_eq "$(first_reply socat - "UNIX-CONNECT:$T/p.sock,type=5")" "world"
	stop_server
}

# A client that leaves without reading its replies resets the connection;
# the server closes that one and serves the next.
test_seqpacket_peer_reset() {
	start_server -q -v --echo "seqpacket:$T/p.sock"
	dgrampeer "$ADDR" big:60000 big:60000 big:60000 big:60000 big:60000 >/dev/null
	wait_log "^close seqpacket:\(unnamed\): (reset|eof)"
	expect_eq "$(dgrampeer "$ADDR" s:next r)" "reply: next"
	stop_server
	expect_eq "$SRV_RC" 0
}

test_seqpacket_over_max_msg_closes() {
	start_server -q -v --max-msg 10 "seqpacket:$T/p.sock"
	expect_eq "$(dgrampeer "$ADDR" s:0123456789 r s:0123456789x eof)" $'reply: world\neof'
	stop_server
	counted oversize 1
}

# The library's smallest server, unchanged, serves datagrams and packets.
test_dgram_echo_example_unchanged() {
	SERVER=$TOP/$BUILD/examples/echo-server start_server udp:127.0.0.1:0
	expect_eq "$(dgrampeer "$ADDR" s:hi r s:there r)" $'reply: hi\nreply: there'
	stop_server
	expect_eq "$SRV_RC" 0
	SERVER=$TOP/$BUILD/examples/echo-server start_server "seqpacket:$T/p.sock"
	expect_eq "$(dgrampeer "$ADDR" s:hi s:there r r)" $'reply: hi\nreply: there'
	stop_server
}
