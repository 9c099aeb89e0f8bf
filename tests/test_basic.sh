# test_basic.sh - hello/world over every address family the server speaks.

test_hello_world() {
	start_server 127.0.0.1:0
	expect_match "$ADDR" '^127\.0\.0\.1:[0-9]+$' "listening address"
	[ "$PORT" != 0 ] || fail "port 0 was not replaced by the bound port"
	out=$(client "$ADDR")
	expect_eq "$?" 0 "client exit"
	expect_eq "$out" "server says: world"
	stop_server
	expect_eq "$SRV_RC" 0 "server exit"
	expect_eq "$(cat out)" "client says: hello"
}

test_default_is_dual_stack() {
	start_server :0
	expect_match "$ADDR" '^\[::\]:[0-9]+$' "wildcard listener"
	expect_eq "$(client 127.0.0.1:"$PORT" v4)" "server says: world" "over IPv4"
	expect_eq "$(client "[::1]:$PORT" v6)" "server says: world" "over IPv6"
	expect_eq "$(client -4 localhost:"$PORT")" "server says: world" "localhost -4"
	expect_eq "$(client -6 "[::1]:$PORT")" "server says: world" "-6"
	stop_server
	expect_eq "$(sort out | tr '\n' ' ')" "client says: hello client says: hello client says: v4 client says: v6 "
}

test_explicit_ipv6_and_ipv4_side_by_side() {
	start_server 127.0.0.1:0
	local p=$PORT
	stop_server
	start_server --n 2 "127.0.0.1:$p" "[::1]:$p"
	expect_eq "${ADDRS[1]}" "[::1]:$p"
	expect_eq "$(client "[::1]:$p")" "server says: world"
	expect_eq "$(client "127.0.0.1:$p")" "server says: world"
	stop_server
}

test_ipv6_only_listener_refuses_ipv4_family() {
	start_server '[::1]:0'
	expect_eq "$(client -6 "[::1]:$PORT")" "server says: world"
	err=$(client -4 "127.0.0.1:$PORT" 2>&1)
	expect_eq "$?" 1 "client exit for IPv4"
	expect_eq "$err" "parley-client: connect to 127.0.0.1:$PORT: Connection refused"
	stop_server
}

test_unix_socket_path() {
	start_server "unix:$T/s.sock"
	expect_eq "$ADDR" "unix:$T/s.sock"
	[ -S "$T/s.sock" ] || fail "no socket file"
	expect_eq "$(client "unix:$T/s.sock" over-unix)" "server says: world"
	stop_server
	expect_eq "$SRV_RC" 0
	[ ! -e "$T/s.sock" ] || fail "socket file left behind"
	expect_eq "$(cat out)" "client says: over-unix"
}

test_unix_abstract() {
	local name="parley-test-$$-$RANDOM"
	start_server "unix:@$name"
	expect_eq "$ADDR" "unix:@$name"
	expect_eq "$(client -v "unix:@$name" 2>err.client)" "server says: world"
	expect_eq "$(cat err.client)" $'trying unix:@'"$name"$'\nconnected to unix:@'"$name from unix:(unnamed)"
	stop_server
}

test_reply_option() {
	start_server --reply 'pong!' 127.0.0.1:0
	expect_eq "$(client "$ADDR" ping)" "server says: pong!"
	stop_server
}

test_quiet_prints_nothing_per_request() {
	start_server -q 127.0.0.1:0
	expect_eq "$(client "$ADDR" a b)" $'server says: world\nserver says: world'
	stop_server
	expect_eq "$(cat out)" ""
}
