# test_tls_interop.sh - parley's TLS against other implementations, both
# ways: openssl s_client/s_server, socat, ncat, redis-cli/redis-server.
# Interactive clients (s_client, ncat) run on fifos (peer_start in
# tls_lib.sh), so each test writes a line and waits for its answer.
source "$TOP/tests/tls_lib.sh"

# --- openssl s_client against parley-server

test_tls_interop_s_client_line() {
	need_tls
	start_server -v --proto line "${SRV_TLS[@]}" tls:127.0.0.1:0
	peer_start "${S_CLIENT[@]}" -connect "127.0.0.1:$PORT" -servername localhost -verify_hostname localhost
	peer_say hello
	peer_expect '^world$'
	peer_say there
	peer_expect '^world$'
	peer_end
	expect_eq "$PEER_RC" 0 "s_client exit"
	stop_server
	expect_eq "$(cat out)" $'client says: hello\nclient says: there'
	# s_client sends close_notify when its stdin ends
	expect_match "$(cat err)" $'\nclose 127\\.0\\.0\\.1:[0-9]+: eof\n'
	counted tls 0
}

test_tls_interop_s_client_ipv6_and_unix() {
	need_tls
	start_server --n 2 -q --proto line "${SRV_TLS[@]}" 'tls:[::1]:0' "tls:unix:$T/s.sock"
	s_client_hello -connect "[::1]:$PORT" -verify_ip ::1
	s_client_hello -unix "$T/s.sock" -verify_hostname localhost
	stop_server
}

test_tls_interop_s_client_sni() {
	need_tls
	start_server -q "${SRV_TLS[@]}" --tls-cert "$C/other.pem" --tls-key "$C/other.key" tls:127.0.0.1:0
	out=$(openssl s_client -CAfile "$C/ca.pem" -verify_return_error -connect "127.0.0.1:$PORT" \
		-servername other.test -verify_hostname other.test </dev/null 2>&1)
	expect_eq "$?" 0 "s_client exit: $out"
	expect_match "$out" $'\nsubject=CN = other\\.test\n' "other.test's certificate"
	expect_match "$out" $'\nVerification: OK\n'
	out=$(openssl s_client -CAfile "$C/ca.pem" -verify_return_error -connect "127.0.0.1:$PORT" \
		-servername localhost </dev/null 2>&1)
	expect_match "$out" $'\nsubject=CN = localhost\n' "localhost's certificate"
	out=$(openssl s_client -CAfile "$C/ca.pem" -connect "127.0.0.1:$PORT" -noservername </dev/null 2>&1)
	expect_match "$out" $'\nsubject=CN = localhost\n' "no SNI: the default"
	stop_server
}

test_tls_interop_s_client_alpn() {
	need_tls
	start_server -v "${SRV_TLS[@]}" --tls-alpn h2,http/1.1 tls:127.0.0.1:0
	out=$(openssl s_client -CAfile "$C/ca.pem" -connect "127.0.0.1:$PORT" -alpn http/1.1 </dev/null 2>&1)
	expect_match "$out" $'\nALPN protocol: http/1\\.1\n' "http/1.1"
	out=$(openssl s_client -CAfile "$C/ca.pem" -connect "127.0.0.1:$PORT" -alpn http/1.1,h2 </dev/null 2>&1)
	expect_match "$out" $'\nALPN protocol: h2\n' "the server's preference first"
	out=$(openssl s_client -CAfile "$C/ca.pem" -connect "127.0.0.1:$PORT" -alpn foo </dev/null 2>&1)
	expect_eq "$?" 1 "no protocol in common: s_client exit"
	expect_match "$out" "no application protocol" "the alert"
	stop_server
	counted tls 1
}

# k: the client updates its keys; K: it asks the server to update its own
# too.  Both directions keep working after each.  s_client takes a line as
# a command only when it comes alone in one read (it drops the rest of
# the read), so each command waits for its KEYUPDATE line before the next.
test_tls_interop_key_update() {
	need_tls
	start_server -v --proto line --echo "${SRV_TLS[@]}" tls:127.0.0.1:0
	peer_start "${S_CLIENT[@]}" -connect "127.0.0.1:$PORT" -servername localhost
	peer_say one
	peer_expect '^one$'
	key_update k 1
	peer_say two
	peer_expect '^two$'
	key_update K 2
	peer_say three
	peer_expect '^three$'
	key_update K 3
	key_update k 4
	peer_say four
	peer_expect '^four$'
	peer_end
	expect_eq "$PEER_RC" 0 "s_client exit"
	stop_server
	counted tls 0
	expect_match "$(grep '^stats: ' err)" " requests=4 "
}

# key_update k|K N: the command, then s_client's Nth KEYUPDATE line
key_update() {
	peer_say "$1"
	wait_file "$T/peer.err" '^KEYUPDATE$' "$2"
}

test_tls_interop_renegotiation_refused() {
	need_tls
	trap '' PIPE # s_client may be gone when the test writes to it
	start_server --n 2 -v --proto line "${SRV_TLS[@]}" tls:127.0.0.1:0 127.0.0.1:0
	peer_start "${S_CLIENT[@]}" -tls1_2 -connect "127.0.0.1:$PORT" -servername localhost
	peer_say hello
	peer_expect '^world$'
	peer_say R
	wait_file "$T/peer.err" '^RENEGOTIATING$'
	peer_say again
	if IFS= read -r -t 10 -u "$PR" PEER_LINE; then
		fail "the connection renegotiated: got [$PEER_LINE]"
	fi
	peer_end
	expect_eq "$PEER_RC" 1 "s_client exit"
	expect_match "$(cat "$T/peer.err")" "no renegotiation" "the server's refusal"
	tls_survived --proto line
	stop_server
}

test_tls_interop_min_13_refuses_s_client_12() {
	need_tls
	start_server -v "${SRV_TLS[@]}" --tls-min 1.3 tls:127.0.0.1:0
	out=$(s_client -tls1_2 -connect "127.0.0.1:$PORT" </dev/null 2>&1)
	expect_eq "$?" 1 "s_client exit"
	expect_match "$out" "protocol version" "the alert"
	expect_eq "$(printf 'x' | s_client -tls1_3 -connect "127.0.0.1:$PORT" -servername localhost 2>/dev/null | wc -c)" 0 \
		"a TLS 1.3 s_client connects"
	stop_server
	counted tls 1
}

test_tls_interop_s_client_killed() {
	need_tls
	start_server --n 2 -v --proto line "${SRV_TLS[@]}" tls:127.0.0.1:0 127.0.0.1:0
	peer_start "${S_CLIENT[@]}" -connect "127.0.0.1:$PORT" -servername localhost
	peer_say hello
	peer_expect '^world$'
	kill -9 "$PEER_PID"
	wait_log 'close 127\.0\.0\.1:[0-9]+: tls \(peer closed without close_notify\)$'
	peer_end
	tls_survived --proto line
	stop_server
	counted tls 1
}

test_tls_interop_s_client_mutual() {
	need_tls
	start_server -v --proto line "${SRV_TLS[@]}" --tls-ca "$C/ca.pem" --tls-client-cert require tls:127.0.0.1:0
	s_client_hello -connect "127.0.0.1:$PORT" -servername localhost -cert "$C/client.pem" -key "$C/client.key"
	# TLS 1.3: the handshake ends before the server has checked; the alert
	# comes with the first read
	peer_start "${S_CLIENT[@]}" -connect "127.0.0.1:$PORT" -servername localhost
	peer_say hello
	wait_file "$T/peer.err" "certificate required"
	peer_end
	expect_eq "$PEER_RC" 1 "s_client without a certificate: exit"
	stop_server
	counted tls 1
}

# --- parley-client against openssl s_server

# s_server_start ARGS...: s_server on a free port (PORT) reversing each line
s_server_start() {
	PORT=$(tls_free_port)
	openssl s_server -accept "127.0.0.1:$PORT" -rev -naccept 1 "$@" >s_server.out 2>&1 &
	PIDS+=($!)
	wait_port_s_server
}

# wait_port_s_server: s_server prints ACCEPT once it listens (a probe
# connection would use up its one accept)
wait_port_s_server() { wait_file s_server.out '^ACCEPT$'; }

test_tls_interop_client_vs_s_server() {
	need_tls
	s_server_start -cert "$C/server.pem" -key "$C/server.key"
	out=$(client -v --proto line --tls-ca "$C/ca.pem" "tls:localhost:$PORT" hello 2>err.client)
	expect_eq "$?" 0 "client exit: $(cat err.client)"
	expect_eq "$out" "server says: olleh"
	expect_match "$(grep '^tls: ' err.client)" "^tls: .*TLSv1\\.3.* peer=CN=localhost( |$)"
}

# (s_server sets ALPN on its first context only: after an SNI switch to
# -cert2 it negotiates none, so ALPN is checked without one)
test_tls_interop_client_vs_s_server_12_alpn_sni() {
	need_tls
	s_server_start -tls1_2 -alpn h2 -cert "$C/server.pem" -key "$C/server.key" \
		-cert2 "$C/other.pem" -key2 "$C/other.key" -servername other.test -naccept 2
	out=$(client -v --proto line --tls-ca "$C/ca.pem" --tls-alpn http/1.1,h2 "tls:127.0.0.1:$PORT" abc 2>err.client)
	expect_eq "$?" 0 "client exit: $(cat err.client)"
	expect_eq "$out" "server says: cba"
	local line
	line=$(grep '^tls: ' err.client)
	expect_match "$line" "TLSv1\\.2" "version"
	expect_match "$line" " alpn=h2( |$)" "alpn"
	expect_match "$line" " peer=CN=localhost( |$)" "the default certificate"
	out=$(client -v --proto line --tls-ca "$C/ca.pem" --tls-servername other.test "tls:127.0.0.1:$PORT" abc 2>err.client)
	expect_eq "$?" 0 "client exit: $(cat err.client)"
	expect_match "$(grep '^tls: ' err.client)" " peer=CN=other\\.test( |$)" "SNI"
}

test_tls_interop_client_min_13_vs_s_server_12() {
	need_tls
	s_server_start -tls1_2 -cert "$C/server.pem" -key "$C/server.key"
	err=$(client --proto line --tls-ca "$C/ca.pem" --tls-min 1.3 "tls:localhost:$PORT" 2>&1)
	expect_eq "$?" 1 "client exit"
	expect_match "$err" "^parley-client: tls:localhost:$PORT: .*protocol version"
}

test_tls_interop_client_mutual_vs_s_server() {
	need_tls
	s_server_start -Verify 1 -verify_return_error -CAfile "$C/ca.pem" -cert "$C/server.pem" -key "$C/server.key"
	out=$(client --proto line --tls-ca "$C/ca.pem" --tls-cert "$C/client.pem" --tls-key "$C/client.key" \
		"tls:localhost:$PORT" hello 2>&1)
	expect_eq "$out" "server says: olleh"
	expect_match "$(cat s_server.out)" "Peer certificate: CN = client" "s_server saw the client's certificate"
	s_server_start -Verify 1 -verify_return_error -CAfile "$C/ca.pem" -cert "$C/server.pem" -key "$C/server.key"
	err=$(client --proto line --tls-ca "$C/ca.pem" "tls:localhost:$PORT" hello 2>&1)
	expect_eq "$?" 1 "without a certificate"
	expect_match "$err" "^parley-client: tls:localhost:$PORT: .*certificate required"
}

# --- socat

test_tls_interop_socat_to_parley() {
	need_tls
	need socat socat
	start_server -v --proto line "${SRV_TLS[@]}" tls:127.0.0.1:0
	out=$(printf 'hello\nthere\n' | socat -t 5 - "OPENSSL:localhost:$PORT,cafile=$C/ca.pem" 2>socat.err)
	expect_eq "$out" $'world\nworld' "socat: $(cat socat.err)"
	err=$(printf 'hello\n' | socat -t 5 - "OPENSSL:localhost:$PORT,cafile=$C/ca2.pem" 2>&1 >/dev/null)
	expect_eq "$?" 1 "socat trusting another CA"
	expect_match "$err" "certificate verify failed"
	stop_server
	counted tls 1
}

test_tls_interop_client_to_socat_echo() {
	need_tls
	need socat socat
	PORT=$(tls_free_port)
	socat -t 5 "OPENSSL-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork,cert=$C/server.pem,key=$C/server.key,verify=0" PIPE \
		2>socat.err &
	PIDS+=($!)
	wait_port "$PORT"
	expect_eq "$(client --proto line --tls-ca "$C/ca.pem" "tls:localhost:$PORT" one two)" \
		$'server says: one\nserver says: two'
	head -c 1M /dev/urandom >in.bin
	client --stream --tls-ca "$C/ca.pem" "tls:localhost:$PORT" <in.bin >back.bin 2>err.client ||
		fail "stream: $(cat err.client)"
	expect_eq "$(sha256sum <back.bin)" "$(sha256sum <in.bin)" "1 MiB through socat"
}

# --- ncat

test_tls_interop_ncat_to_parley() {
	need_tls
	need ncat ncat
	start_server -v --proto line "${SRV_TLS[@]}" tls:127.0.0.1:0
	peer_start ncat --ssl --ssl-verify --ssl-trustfile "$C/ca.pem" localhost "$PORT"
	peer_say hello
	peer_expect '^world$'
	peer_end
	expect_eq "$PEER_RC" 0 "ncat exit"
	stop_server
	expect_eq "$(cat out)" "client says: hello"
}

test_tls_interop_client_to_ncat() {
	need_tls
	need ncat ncat
	PORT=$(tls_free_port)
	ncat --ssl --ssl-cert "$C/server.pem" --ssl-key "$C/server.key" -k -l 127.0.0.1 "$PORT" --sh-exec cat \
		2>ncat.err &
	PIDS+=($!)
	wait_port "$PORT"
	expect_eq "$(client --proto line --tls-ca "$C/ca.pem" "tls:localhost:$PORT" hello)" "server says: hello"
}

# --- redis

test_tls_interop_redis_cli_to_parley() {
	need_tls
	need redis-cli redis-tools
	# redis-cli sends each command in one write: one raw request, one reply
	start_server -q --proto raw --reply '+PONG\r\n' "${SRV_TLS[@]}" tls:127.0.0.1:0
	expect_eq "$(redis-cli --tls --cacert "$C/ca.pem" -h localhost -p "$PORT" PING 2>&1)" "PONG"
	stop_server
}

test_tls_interop_client_to_redis_server() {
	need_tls
	need redis-server redis-server
	PORT=$(tls_free_port)
	redis-server --port 0 --tls-port "$PORT" --bind 127.0.0.1 --tls-cert-file "$C/server.pem" \
		--tls-key-file "$C/server.key" --tls-ca-cert-file "$C/ca.pem" --tls-auth-clients no \
		--save '' --appendonly no --dir "$T" >redis.out 2>&1 &
	PIDS+=($!)
	wait_port "$PORT"
	expect_eq "$(client --proto raw -E --tls-ca "$C/ca.pem" "tls:localhost:$PORT" 'PING\r\n')" 'server says: +PONG\x0d\x0a'
	# redis drops the replies it owes a client that half-closes (plain TCP
	# too): keep the write side open (-N) and quit a second after stdin ends
	out=$(printf 'PING\r\nECHO hi\r\n' | client --stream -N --quit 1 --tls-ca "$C/ca.pem" "tls:localhost:$PORT")
	expect_eq "$?" 0 "client exit"
	expect_eq "$(tr -d '\r' <<<"$out")" $'+PONG\n$2\nhi'
}
