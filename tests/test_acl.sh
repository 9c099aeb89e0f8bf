# test_acl.sh - access control: --allow, --deny, --allow-uid, --allow-gid.

# What a TCP client the rules refused sees: a reset (SO_LINGER 0), during
# or after its connect, never an orderly end.
RESET_CLIENT='^parley-client: (connect to|read from|write to) [^ ]+: Connection reset by peer$'
RESET_PEER='^(reset|error: (connect|write): Connection reset by peer)$'

# need_nobody: skips unless a client can run as nobody (root, and setpriv
# or su; the build readable by nobody).
need_nobody() {
	[ "$(id -u)" = 0 ] || skip "not root: cannot run a client as another user"
	as_nobody "$CLIENT" --version >/dev/null 2>&1 ||
		skip "cannot run $CLIENT as nobody (setpriv/su missing, or the build is not readable)"
}

# as_nobody CMD...: CMD as nobody:nogroup with no other group.
as_nobody() {
	if command -v setpriv >/dev/null; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
	else
		su -s /bin/sh nobody -c "$(printf '%q ' "$@")"
	fi
}

test_acl_allow_ipv4_refuses_the_rest() {
	start_server -v --allow 127.0.0.1 127.0.0.1:0
	expect_eq "$(client "$ADDR")" "server says: world"
	out=$(client -s 127.0.0.2 "$ADDR" 2>&1)
	expect_eq "$?" 1 "refused client's exit"
	expect_match "$out" "$RESET_CLIENT" "refused client"
	stop_server
	expect_eq "$(cat out)" "client says: hello" "only the allowed client was read"
	expect_match "$(grep denied err | grep -v '^stats')" \
		'^127\.0\.0\.2:[0-9]+: denied, no --allow matches; closing$' "log line"
	grep -q '^open 127\.0\.0\.2' err && fail "a refused client was opened"
	expect_match "$(grep '^stats: ' err)" '^stats: accepted=1 requests=1 eof=1 .* denied=1$'
}

test_acl_deny_ipv4_lets_the_rest_in() {
	start_server -q -v --deny 127.0.0.2 127.0.0.1:0
	out=$(client -s 127.0.0.2 "$ADDR" 2>&1)
	expect_match "$out" "$RESET_CLIENT" "denied client"
	expect_eq "$(client -s 127.0.0.3 "$ADDR")" "server says: world"
	expect_eq "$(client "$ADDR")" "server says: world"
	stop_server
	expect_match "$(grep ': denied' err)" \
		'^127\.0\.0\.2:[0-9]+: denied by --deny 127\.0\.0\.2; closing$' "log line"
	counted denied 1
	counted eof 2
}

# Refused right after accept: nothing it sent is read, it gets a reset.
test_acl_refused_before_a_byte_is_read() {
	start_server -v --deny 127.0.0.0/8 127.0.0.1:0
	expect_match "$(rawpeer "$ADDR" m:hello eof 2>&1)" "$RESET_PEER" "client that wrote first"
	expect_match "$(rawpeer "$ADDR" eof 2>&1)" "$RESET_PEER" "silent client"
	stop_server
	expect_eq "$(cat out)" "" "requests read"
	expect_match "$(grep '^stats: ' err)" '^stats: accepted=0 requests=0 eof=0 .* denied=2$'
}

test_acl_ipv6() {
	start_server -q -v --allow ::1 --allow 127.0.0.1 '[::1]:0'
	expect_eq "$(client "$ADDR")" "server says: world"
	stop_server
	start_server -q -v --deny ::1/128 '[::1]:0'
	expect_match "$(client "$ADDR" 2>&1)" "$RESET_CLIENT" "::1 denied"
	stop_server
	expect_match "$(grep ': denied' err)" '^\[::1\]:[0-9]+: denied by --deny ::1/128; closing$'
	# an IPv4 allow list leaves IPv6 clients out
	start_server -q -v --allow 127.0.0.0/8 '[::1]:0'
	expect_match "$(client "$ADDR" 2>&1)" "$RESET_CLIENT" "::1 not allowed"
	stop_server
	counted denied 1
}

# On the dual-stack wildcard IPv4 clients arrive as ::ffff:a.b.c.d; IPv4
# rules judge them, and so does a rule written mapped.
test_acl_mapped_ipv4_on_the_dual_stack_listener() {
	start_server -q -v --allow 127.0.0.1 --allow ::ffff:127.0.0.3 :0
	expect_eq "$(client "127.0.0.1:$PORT")" "server says: world"
	expect_eq "$(client -s 127.0.0.3 "127.0.0.1:$PORT")" "server says: world"
	expect_match "$(client -s 127.0.0.2 "127.0.0.1:$PORT" 2>&1)" "$RESET_CLIENT" "127.0.0.2"
	expect_match "$(client "[::1]:$PORT" 2>&1)" "$RESET_CLIENT" "::1 (IPv6, not allowed)"
	stop_server
	expect_match "$(grep ': denied' err | head -n 1)" \
		'^\[::ffff:127\.0\.0\.2\]:[0-9]+: denied, no --allow matches; closing$' "log line"
	expect_match "$(grep '^stats: ' err)" '^stats: accepted=2 requests=2 eof=2 .* denied=2$'
}

# Rules are tried in the order given; the first that matches decides.
test_acl_first_match_wins() {
	start_server -q -v --deny 127.0.0.2 --allow 127.0.0.0/8 127.0.0.1:0
	expect_match "$(client -s 127.0.0.2 "$ADDR" 2>&1)" "$RESET_CLIENT" "deny first"
	expect_eq "$(client -s 127.0.0.3 "$ADDR")" "server says: world"
	stop_server
	counted denied 1
	start_server -q -v --allow 127.0.0.0/8 --deny 127.0.0.2 127.0.0.1:0
	expect_eq "$(client -s 127.0.0.2 "$ADDR")" "server says: world" "allow first"
	stop_server
	counted denied 0
}

test_acl_unix_allow_uid() {
	need_nobody
	start_server -q -v --allow-uid nobody "unix:@parley-acl-$$"
	expect_eq "$(as_nobody "$CLIENT" "$ADDR")" "server says: world" "nobody"
	# root is refused: the socket is closed before a byte is read
	expect_eq "$(rawpeer "$ADDR" eof)" "eof" "root"
	stop_server
	expect_match "$(grep ': denied' err)" \
		'^unix:\(unnamed\) uid 0 gid 0: denied, no --allow-uid or --allow-gid matches; closing$'
	expect_match "$(grep '^stats: ' err)" '^stats: accepted=1 requests=1 eof=1 .* denied=1$'
	# by number, and the reverse: root allowed, nobody refused
	start_server -q -v --allow-uid 0 "unix:@parley-acl-$$"
	expect_eq "$(client "$ADDR")" "server says: world" "root"
	out=$(as_nobody "$CLIENT" "$ADDR" 2>&1)
	expect_eq "$?" 1 "nobody's exit"
	expect_match "$out" "^parley-client: " "nobody"
	stop_server
	expect_match "$(grep ': denied' err)" '^unix:\(unnamed\) uid 65534 gid 65534: denied, '
	counted denied 1
}

# A refused SEQPACKET client is logged as one, as its open and close would be.
test_acl_seqpacket_denied_names_its_socket() {
	start_server -q -v --allow-uid 4242 "seqpacket:@parley-acl-$$"
	out=$(client "$ADDR" 2>&1)
	expect_eq "$?" 1 "refused client's exit"
	stop_server
	expect_match "$(grep ': denied' err)" \
		'^seqpacket:\(unnamed\) uid [0-9]+ gid [0-9]+: denied, no --allow-uid or --allow-gid matches; closing$'
	counted denied 1
}

# --allow-gid matches the primary group and supplementary ones.
test_acl_unix_allow_gid_supplementary() {
	need_nobody
	need setpriv util-linux
	start_server -q -v --allow-gid 4242 --allow-gid nogroup "unix:@parley-acl-$$"
	expect_eq "$(setpriv --reuid=nobody --regid=4243 --groups=4242 "$CLIENT" "$ADDR")" \
		"server says: world" "in 4242 by a supplementary group"
	expect_eq "$(as_nobody "$CLIENT" "$ADDR")" "server says: world" "in nogroup"
	out=$(setpriv --reuid=nobody --regid=4243 --clear-groups "$CLIENT" "$ADDR" 2>&1)
	expect_eq "$?" 1 "in neither"
	stop_server
	expect_match "$(grep ': denied' err)" '^unix:\(unnamed\) uid 65534 gid 4243: denied, '
	expect_match "$(grep '^stats: ' err)" '^stats: accepted=2 requests=2 eof=2 .* denied=1$'
}

# IP rules judge TCP clients only, uid/gid rules Unix clients only.
test_acl_kinds_judge_their_own_clients() {
	start_server --n 2 -q -v --allow 10.0.0.0/8 127.0.0.1:0 "unix:@parley-acl-$$"
	expect_match "$(client "${ADDRS[0]}" 2>&1)" "$RESET_CLIENT" "TCP, not in 10/8"
	expect_eq "$(client "${ADDRS[1]}")" "server says: world" "Unix, no uid rule"
	stop_server
	counted denied 1
	start_server --n 2 -q -v --allow-uid 4242 127.0.0.1:0 "unix:@parley-acl-$$"
	expect_eq "$(client "${ADDRS[0]}")" "server says: world" "TCP, no IP rule"
	expect_eq "$(rawpeer "${ADDRS[1]}" eof)" "eof" "Unix, not uid 4242"
	stop_server
	counted denied 1
}

# --threads: one set of rules for every loop, refusals summed at exit.
test_acl_threads_share_the_rules() {
	start_server -q -v --threads 3 --allow 127.0.0.1 127.0.0.1:0
	expect_eq "$(rawpeer "$ADDR" multi:60:hello:world)" "multi 60 of 60 ok"
	for i in 2 3 4 5 6 7; do
		expect_match "$(client -s "127.0.0.$i" "$ADDR" 2>&1)" "$RESET_CLIENT" "127.0.0.$i"
	done
	stop_server
	expect_match "$(grep '^stats: ' err)" '^stats: accepted=60 requests=60 .* denied=6$'
}

test_acl_json_log() {
	"$SERVER" -q -v --log-format json --deny 127.0.0.2 --allow-uid 4242 127.0.0.1:0 \
		"unix:@parley-acl-$$" 2>json.err &
	local p=$! a
	PIDS+=($p)
	a=$(sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' <<<"$(first_line json.err)")
	client -s 127.0.0.2 "$a" >/dev/null 2>&1
	expect_eq "$(rawpeer "unix:@parley-acl-$$" eof)" "eof" "our user over Unix"
	kill -TERM $p
	wait $p
	expect_match "$(grep '"event":"denied"' json.err | head -n 1)" \
		'"level":"info","event":"denied","msg":"127\.0\.0\.2:[0-9]+: denied by --deny 127\.0\.0\.2; closing","peer":"127\.0\.0\.2:[0-9]+","rule":"--deny 127\.0\.0\.2"\}$'
	expect_match "$(grep '"event":"denied"' json.err | tail -n 1)" \
		'"msg":"unix:\(unnamed\) uid '"$(id -u)"' gid '"$(id -g)"': denied, no --allow-uid or --allow-gid matches; closing","peer":"unix:\(unnamed\)","uid":'"$(id -u)"',"gid":'"$(id -g)"'\}$'
	expect_match "$(grep '"event":"stats"' json.err)" '"denied":2\}$'
	if command -v python3 >/dev/null; then
		python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' json.err || fail "a line is not JSON"
	fi
}

# Without -v a refusal is counted but not logged.
test_acl_quiet_without_v() {
	start_server -q --deny 127.0.0.2 127.0.0.1:0
	client -s 127.0.0.2 "$ADDR" >/dev/null 2>&1
	stop_server
	expect_eq "$(grep -c denied err)" 0 "lines about refusals"
}

bad_value() {
	local out
	out=$("$SERVER" "$@" 2>&1 </dev/null)
	expect_eq "$?" 2 "exit of $*"
	printf '%s\n' "$out" | head -n 1
}

test_acl_bad_values_exit_2() {
	expect_eq "$(bad_value --allow 10.0.0.300/8)" \
		"parley-server: --allow: bad address '10.0.0.300/8': not an IPv4 or IPv6 address"
	expect_eq "$(bad_value --deny 10.1.2.3/8)" \
		"parley-server: --deny: bad address '10.1.2.3/8': address bits are set past the length"
	expect_eq "$(bad_value --deny ::/129)" \
		"parley-server: --deny: bad address '::/129': the length is not a number from 0 to 128"
	expect_eq "$(bad_value --allow localhost)" \
		"parley-server: --allow: bad address 'localhost': not an IPv4 or IPv6 address"
	expect_eq "$(bad_value --allow-uid no-such-user-here)" \
		"parley-server: --allow-uid: no user named 'no-such-user-here'"
	expect_eq "$(bad_value --allow-gid no-such-group-here)" \
		"parley-server: --allow-gid: no group named 'no-such-group-here'"
	expect_eq "$(bad_value --allow-uid 4294967295)" \
		"parley-server: --allow-uid: '4294967295' is not a number from 0 to 4294967294"
	expect_eq "$(bad_value --allow-gid -1)" \
		"parley-server: --allow-gid: no group named '-1'"
	expect_eq "$(bad_value --allow)" "parley-server: option '--allow' needs a value"
}

# Datagram senders are judged too: a refused one gets no answer and no peer,
# and is counted (before, udp: answered every sender whatever the rules said)
test_acl_udp_sender_refused() {
	start_server -v --allow 127.0.0.2 udp:127.0.0.1:0 127.0.0.1:0
	local out
	out=$(client -t 0.3 "$ADDR" hi 2>&1)
	expect_eq "$?" 1 "a refused sender waits in vain"
	expect_match "$out" "no reply within 0.3 s"
	expect_eq "$(client -t 2 -s 127.0.0.2 "$ADDR" hi 2>&1)" "server says: world" "an allowed sender"
	stop_server
	counted denied 1
	expect_match "$(cat err)" " peers=1 " # the allowed sender alone
}
