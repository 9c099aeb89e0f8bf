# test_tls.sh - TLS with parley at both ends, and hostile or odd TLS peers
# (tests/tlspeer.py, rawpeer) against parley-server: listeners, verification,
# SNI, ALPN, versions, partial records, timeouts, failures, SIGHUP reload.
# Certificates come from tests/tls_certs.sh; every test skips (77) when
# parley was built without TLS.  test_tls_interop.sh has the foreign tools.
source "$TOP/tests/tls_lib.sh"

# --- listeners and the client's two spellings

test_tls_listener_and_client() {
	need_tls
	start_server -v "${SRV_TLS[@]}" tls:127.0.0.1:0
	expect_match "$ADDR" '^tls:127\.0\.0\.1:[0-9]+$' "listening address"
	expect_eq "$(client --tls-ca "$C/ca.pem" "tls:localhost:$PORT")" "server says: world" "by name"
	expect_eq "$(client --tls-ca "$C/ca.pem" "$ADDR" one two)" $'server says: world\nserver says: world' "by IP"
	stop_server
	expect_eq "$SRV_RC" 0 "server exit"
	expect_eq "$(cat out)" $'client says: hello\nclient says: one\nclient says: two'
	expect_match "$(cat err)" $'\nclose 127\\.0\\.0\\.1:[0-9]+: eof\n' "a clean close"
	counted tls 0
}

test_tls_client_flag_spelling() {
	need_tls
	start_server -q "${SRV_TLS[@]}" tls:127.0.0.1:0
	expect_eq "$(client --tls-ca "$C/ca.pem" --tls "localhost:$PORT" hi)" "server says: world"
	expect_eq "$(client --tls --tls-ca "$C/ca.pem" "127.0.0.1:$PORT")" "server says: world" "--tls first"
	stop_server
}

test_tls_ipv6_listener() {
	need_tls
	start_server -q "${SRV_TLS[@]}" 'tls:[::1]:0'
	expect_match "$ADDR" '^tls:\[::1\]:[0-9]+$' "listening address"
	expect_eq "$(client --tls-ca "$C/ca.pem" "$ADDR")" "server says: world" "by IP (SAN IP:::1)"
	expect_eq "$(client --tls-ca "$C/ca.pem" --tls-servername localhost "$ADDR")" "server says: world" \
		"by the name given"
	stop_server
}

test_tls_port_only_listener() {
	need_tls
	start_server -q "${SRV_TLS[@]}" tls:0
	expect_match "$ADDR" '^tls:\[::\]:[0-9]+$' "listening address"
	expect_eq "$(client --tls-ca "$C/ca.pem" "tls:127.0.0.1:$PORT")" "server says: world" "IPv4"
	expect_eq "$(client --tls-ca "$C/ca.pem" "tls:[::1]:$PORT")" "server says: world" "IPv6"
	stop_server
}

test_tls_unix_listener() {
	need_tls
	start_server -v "${SRV_TLS[@]}" "tls:unix:$T/s.sock"
	expect_eq "$ADDR" "tls:unix:$T/s.sock" "listening address"
	expect_eq "$(client --tls-ca "$C/ca.pem" --tls-servername localhost "$ADDR")" "server says: world"
	err=$(client --tls-ca "$C/ca.pem" --tls-servername other.test "$ADDR" 2>&1)
	expect_eq "$?" 1 "the name given must match"
	expect_match "$err" "^parley-client: tls:unix:$T/s\\.sock: (certificate verify failed: )?hostname mismatch$"
	# no name to check on a Unix socket without one (docs/SECURITY.md): the chain only
	expect_eq "$(client --tls-ca "$C/ca.pem" "$ADDR")" "server says: world" "without --tls-servername"
	err=$(client --tls-ca "$C/ca2.pem" "$ADDR" 2>&1)
	expect_eq "$err" "parley-client: $ADDR: certificate verify failed: unable to get local issuer certificate"
	stop_server
	[ ! -e "$T/s.sock" ] || fail "socket file left behind"
}

test_tls_plain_and_tls_listeners_side_by_side() {
	need_tls
	start_server --n 3 -v "${SRV_TLS[@]}" 127.0.0.1:0 tls:127.0.0.1:0 "unix:$T/p.sock"
	local tls_port=${ADDRS[1]##*:}
	expect_eq "${ADDRS[1]}" "tls:127.0.0.1:$tls_port"
	expect_eq "$(client "${ADDRS[0]}")" "server says: world" "plain TCP"
	expect_eq "$(client --tls-ca "$C/ca.pem" "tls:localhost:$tls_port")" "server says: world" "TLS"
	expect_eq "$(client "${ADDRS[2]}")" "server says: world" "plain Unix"
	expect_eq "$(rawpeer "${ADDRS[0]}" m:raw r:1)" "reply: world" "plain bytes on the plain port"
	stop_server
	expect_match "$(grep '^stats: ' err)" "accepted=4 requests=4 eof=4 "
	counted tls 0
}

test_tls_server_usage_errors_exit_2() {
	need_tls
	local cert=(--tls-cert "$C/server.pem" --tls-key "$C/server.key")
	err=$("$SERVER" tls:127.0.0.1:0 2>&1)
	expect_eq "$?" 2 "a tls: listener without a certificate"
	expect_match "$err" "^parley-server: .*--tls-cert" "the message names the missing option"
	err=$("$SERVER" "${cert[@]}" 127.0.0.1:0 2>&1)
	expect_eq "$?" 2 "--tls-cert without a tls: listener"
	expect_match "$err" "^parley-server: .*tls:" "the message names the missing listener"
	"$SERVER" --tls-cert "$C/server.pem" tls:127.0.0.1:0 >/dev/null 2>&1
	expect_eq "$?" 2 "--tls-cert without --tls-key"
	"$SERVER" "${cert[@]}" --tls-cert "$C/other.pem" tls:127.0.0.1:0 >/dev/null 2>&1
	expect_eq "$?" 2 "two certificates, one key"
	"$SERVER" "${cert[@]}" --tls-client-cert sometimes tls:127.0.0.1:0 >/dev/null 2>&1
	expect_eq "$?" 2 "--tls-client-cert sometimes"
	"$SERVER" "${cert[@]}" --tls-min 1.1 tls:127.0.0.1:0 >/dev/null 2>&1
	expect_eq "$?" 2 "--tls-min 1.1"
	"$SERVER" "${cert[@]}" --tls-handshake-timeout abc tls:127.0.0.1:0 >/dev/null 2>&1
	expect_eq "$?" 2 "--tls-handshake-timeout abc"
}

# A file OpenSSL refuses is reported with its name, not started around.
test_tls_server_bad_files_named() {
	need_tls
	err=$(timeout 5 "$SERVER" --tls-cert "$T/none.pem" --tls-key "$C/server.key" tls:127.0.0.1:0 2>&1)
	local rc=$?
	[ "$rc" = 1 ] || [ "$rc" = 2 ] || fail "a missing certificate file: exit $rc"
	expect_match "$err" "^parley-server: .*$T/none\\.pem" "names the missing file"
	err=$(timeout 5 "$SERVER" --tls-cert "$C/server.pem" --tls-key "$C/other.key" tls:127.0.0.1:0 2>&1)
	rc=$?
	[ "$rc" = 1 ] || [ "$rc" = 2 ] || fail "a key that is not the certificate's: exit $rc"
	expect_match "$err" "^parley-server: .*other\\.key" "names the key that does not match"
}

test_tls_client_usage_errors_exit_2() {
	need_tls
	client --tls-cert "$C/client.pem" --tls-ca "$C/ca.pem" tls:127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "--tls-cert without --tls-key"
	client --tls-min 1.4 tls:127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "--tls-min 1.4"
	# a bad value names its option and exits 2, before any connect (both
	# exited 1 with OpenSSL's words or "Invalid argument")
	local out
	out=$(client --tls-alpn '' tls:127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "--tls-alpn ''"
	expect_match "$out" "^parley-client: --tls-alpn: '' is not a comma-separated list"
	client --tls-alpn 'h2,' tls:127.0.0.1:1 >/dev/null 2>&1
	expect_eq "$?" 2 "--tls-alpn 'h2,'"
	out=$(client --tls-servername '' tls:127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "--tls-servername ''"
	expect_match "$out" "^parley-client: --tls-servername: '' is not a host name"
	"$SERVER" --tls-alpn '' "${SRV_TLS[@]}" tls:127.0.0.1:0 >/dev/null 2>&1
	expect_eq "$?" 2 "server --tls-alpn ''"
}

# Built without OpenSSL (make TLS=0, or no libssl-dev): every TLS option
# and address is a usage error that says so.  Skipped in a TLS build.
test_tls_built_without_openssl_exits_2() {
	"$SERVER" --tls-cert /dev/null 2>&1 | grep -q "built without TLS" || skip "parley was built with TLS"
	local why="built without TLS (rebuild with libssl-dev installed)"
	err=$("$SERVER" --tls-cert "$T/c.pem" --tls-key "$T/c.key" tls:127.0.0.1:0 2>&1)
	expect_eq "$?" 2 "server exit"
	expect_eq "$(head -n 1 <<<"$err")" "parley-server: $why"
	err=$("$SERVER" tls:127.0.0.1:0 2>&1)
	expect_eq "$?" 2 "server exit (a tls: listener alone)"
	expect_match "$(head -n 1 <<<"$err")" "^parley-server: .*built without TLS"
	err=$(client --tls 127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "client exit"
	expect_eq "$(head -n 1 <<<"$err")" "parley-client: $why"
	err=$(client tls:127.0.0.1:1 2>&1)
	expect_eq "$?" 2 "client exit (a tls: address)"
	expect_eq "$(head -n 1 <<<"$err")" "parley-client: tls:127.0.0.1:1: $why"
}

# --- what the client verifies, and what it says when that fails

# verify_fails SERVER_CERT EXPECTED_MESSAGE_REGEX CLIENT_ARGS...
verify_fails() {
	local cert=$1 want=$2
	shift 2
	start_server -v --tls-cert "$C/$cert.pem" --tls-key "$C/$cert.key" tls:127.0.0.1:0
	err=$(client "$@" "tls:localhost:$PORT" 2>&1)
	expect_eq "$?" 1 "client exit"
	expect_match "$err" "^parley-client: tls:localhost:$PORT: $want\$"
	stop_server
	# the server sees the client give up during the handshake
	expect_match "$(cat err)" $'\nclose 127\\.0\\.0\\.1:[0-9]+: tls \\(.+\\)\n'
	counted tls 1
	expect_eq "$(cat out)" "" "no request reached the server"
}

test_tls_client_wrong_ca_fails() {
	need_tls
	verify_fails server "certificate verify failed: unable to get local issuer certificate" \
		--tls-ca "$C/ca2.pem"
}

test_tls_client_self_signed_fails() {
	need_tls
	verify_fails self "certificate verify failed: self-signed certificate" --tls-ca "$C/ca.pem"
}

test_tls_client_expired_fails() {
	need_tls
	verify_fails expired "certificate verify failed: certificate has expired" --tls-ca "$C/ca.pem"
}

test_tls_client_hostname_mismatch_fails() {
	need_tls
	verify_fails wrong "(certificate verify failed: )?hostname mismatch" --tls-ca "$C/ca.pem"
}

test_tls_client_servername_is_what_is_checked() {
	need_tls
	start_server -q "${SRV_TLS[@]}" tls:127.0.0.1:0
	err=$(client --tls-ca "$C/ca.pem" --tls-servername other.test "$ADDR" 2>&1)
	expect_eq "$?" 1 "server.pem has no other.test"
	expect_match "$err" "^parley-client: $ADDR: (certificate verify failed: )?hostname mismatch$"
	expect_eq "$(client --tls-ca "$C/ca.pem" --tls-servername localhost "$ADDR")" "server says: world"
	stop_server
}

test_tls_client_system_store_does_not_trust_test_ca() {
	need_tls
	start_server -q "${SRV_TLS[@]}" tls:127.0.0.1:0
	err=$(client "tls:localhost:$PORT" 2>&1)
	expect_eq "$?" 1 "exit"
	expect_eq "$err" "parley-client: tls:localhost:$PORT: certificate verify failed: unable to get local issuer certificate"
	stop_server
}

test_tls_client_bundle_with_two_cas() {
	need_tls
	start_server -q "${SRV_TLS[@]}" tls:127.0.0.1:0
	expect_eq "$(client --tls-ca "$C/bundle.pem" "tls:localhost:$PORT")" "server says: world"
	stop_server
}

test_tls_client_insecure_warns() {
	need_tls
	start_server -q --tls-cert "$C/self.pem" --tls-key "$C/self.key" tls:127.0.0.1:0
	out=$(client --insecure "tls:localhost:$PORT" 2>err.client)
	expect_eq "$?" 0 "exit"
	expect_eq "$out" "server says: world"
	expect_match "$(cat err.client)" "not verified" "the warning"
	# --insecure skips the name check too
	expect_eq "$(client --insecure --tls-servername wrong.test "tls:localhost:$PORT" 2>/dev/null)" "server says: world"
	stop_server
}

test_tls_client_verbose_line() {
	need_tls
	start_server -q "${SRV_TLS[@]}" tls:127.0.0.1:0
	out=$(client -v --tls-ca "$C/ca.pem" "tls:localhost:$PORT" 2>err.client)
	expect_eq "$out" "server says: world"
	local line
	line=$(grep '^tls: ' err.client)
	expect_match "$line" '^tls: .*TLSv1\.3' "version"
	expect_match "$line" 'TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)' "cipher"
	expect_match "$line" ' alpn=none( |$)' "no ALPN"
	expect_match "$line" ' peer=CN=localhost( |$)' "the server's subject"
	# the tls line comes after the connection is made
	expect_match "$(cat err.client)" $'connected to [^\n]*\ntls: '
	stop_server
}

# -v says what the handshake settled as soon as it is done, not with the
# first reply: a server that never answers still shows who it is (the
# line was missing before)
test_tls_client_verbose_line_without_reply() {
	need_tls
	start_server -q --proto raw --reply x "${SRV_TLS[@]}" tls:127.0.0.1:0
	# a line client to a raw server: "x" never ends a line, no reply is whole
	client -v -t 1 --proto line --tls-ca "$C/ca.pem" "tls:localhost:$PORT" >/dev/null 2>err.client
	expect_eq "$?" 1 "no reply"
	expect_match "$(grep '^tls: ' err.client)" '^tls: TLSv1\.3 .* peer=CN=localhost'
	expect_match "$(cat err.client)" "no reply within 1 s"
	stop_server
}

# --- SNI, ALPN, versions

test_tls_sni_picks_certificate() {
	need_tls
	start_server -q "${SRV_TLS[@]}" --tls-cert "$C/other.pem" --tls-key "$C/other.key" tls:127.0.0.1:0
	client -v --tls-ca "$C/ca.pem" --tls-servername other.test "$ADDR" >/dev/null 2>err.client ||
		fail "other.test: $(cat err.client)"
	expect_match "$(grep '^tls: ' err.client)" ' peer=CN=other\.test( |$)' "other.test's certificate"
	client -v --tls-ca "$C/ca.pem" "tls:localhost:$PORT" >/dev/null 2>err.client ||
		fail "localhost: $(cat err.client)"
	expect_match "$(grep '^tls: ' err.client)" ' peer=CN=localhost( |$)' "the first is the default"
	# an unknown name gets the default, which then fails the client's check
	err=$(client --tls-ca "$C/ca.pem" --tls-servername nobody.test "$ADDR" 2>&1)
	expect_eq "$?" 1 "nobody.test"
	expect_match "$err" "hostname mismatch$"
	stop_server
}

test_tls_alpn() {
	need_tls
	start_server -v "${SRV_TLS[@]}" --tls-alpn h2,http/1.1 tls:127.0.0.1:0
	client -v --tls-ca "$C/ca.pem" --tls-alpn http/1.1 "$ADDR" >/dev/null 2>err.client ||
		fail "http/1.1: $(cat err.client)"
	expect_match "$(grep '^tls: ' err.client)" ' alpn=http/1\.1( |$)' "http/1.1"
	client -v --tls-ca "$C/ca.pem" --tls-alpn foo,h2 "$ADDR" >/dev/null 2>err.client ||
		fail "foo,h2: $(cat err.client)"
	expect_match "$(grep '^tls: ' err.client)" ' alpn=h2( |$)' "the one both know"
	client -v --tls-ca "$C/ca.pem" "$ADDR" >/dev/null 2>err.client || fail "no ALPN: $(cat err.client)"
	expect_match "$(grep '^tls: ' err.client)" ' alpn=none( |$)' "a client that offers none"
	err=$(client --tls-ca "$C/ca.pem" --tls-alpn foo "$ADDR" 2>&1)
	expect_eq "$?" 1 "no protocol in common"
	expect_match "$err" "^parley-client: $ADDR: .*application protocol"
	stop_server
	counted tls 1
}

test_tls_min_13_refuses_12() {
	need_tls
	need_python
	start_server --n 2 -v "${SRV_TLS[@]}" --tls-min 1.3 tls:127.0.0.1:0 127.0.0.1:0
	expect_match "$(tlspeer --ca "$C/ca.pem" --tls12 "tls:localhost:$PORT" info)" \
		"^handshake failed: .*(PROTOCOL_VERSION|protocol version)" "a TLS 1.2 client"
	expect_match "$(tlspeer --ca "$C/ca.pem" --tls13 "tls:localhost:$PORT" info)" "^version=TLSv1\\.3 " \
		"a TLS 1.3 client"
	expect_eq "$(client --tls-ca "$C/ca.pem" --tls-min 1.3 "$ADDR")" "server says: world"
	tls_survived
	stop_server
	counted tls 1
}

test_tls_default_accepts_12() {
	need_tls
	need_python
	start_server -q "${SRV_TLS[@]}" --proto line tls:127.0.0.1:0
	expect_eq "$(tlspeer --ca "$C/ca.pem" --tls12 "tls:localhost:$PORT" info 'w:hello\n' r:1)" \
		$'version=TLSv1.2 alpn= peer=CN=localhost\nline: world'
	stop_server
}

# --- client certificates (mutual TLS)

# mtls_server MODE: a server asking for client certificates signed by ca.pem
mtls_server() {
	start_server --n 2 -v "${SRV_TLS[@]}" --tls-ca "$C/ca.pem" --tls-client-cert "$1" tls:127.0.0.1:0 127.0.0.1:0
}
mtls_client() { client --tls-ca "$C/ca.pem" --tls-cert "$C/$1.pem" --tls-key "$C/$1.key" "$ADDR"; }

test_tls_client_cert_required_and_missing() {
	need_tls
	mtls_server require
	err=$(client --tls-ca "$C/ca.pem" "$ADDR" 2>&1)
	expect_eq "$?" 1 "client exit"
	expect_match "$err" "^parley-client: $ADDR: .*certificate required"
	wait_log 'close 127\.0\.0\.1:[0-9]+: tls \(peer did not send a certificate\)$'
	expect_eq "$(cat out)" "" "no request was answered"
	tls_survived --tls-cert "$C/client.pem" --tls-key "$C/client.key"
	stop_server
	counted tls 1
}

test_tls_client_cert_required_and_given() {
	need_tls
	mtls_server require
	expect_eq "$(mtls_client client)" "server says: world"
	stop_server
	counted tls 0
}

test_tls_client_cert_from_another_ca_refused() {
	need_tls
	mtls_server require
	err=$(mtls_client client2 2>&1)
	expect_eq "$?" 1 "client exit"
	expect_match "$err" "^parley-client: $ADDR: "
	wait_log 'close 127\.0\.0\.1:[0-9]+: tls \(certificate verify failed: unable to get local issuer certificate\)$'
	stop_server
	counted tls 1
}

test_tls_client_cert_self_signed_refused() {
	need_tls
	mtls_server optional
	err=$(client --tls-ca "$C/ca.pem" --tls-cert "$C/self.pem" --tls-key "$C/self.key" "$ADDR" 2>&1)
	expect_eq "$?" 1 "client exit"
	wait_log 'close 127\.0\.0\.1:[0-9]+: tls \(certificate verify failed: self-signed certificate\)$'
	stop_server
	counted tls 1
}

test_tls_client_cert_optional() {
	need_tls
	mtls_server optional
	expect_eq "$(client --tls-ca "$C/ca.pem" "$ADDR")" "server says: world" "without one"
	expect_eq "$(mtls_client client)" "server says: world" "with one"
	err=$(mtls_client client2 2>&1)
	expect_eq "$?" 1 "with one the server cannot verify"
	stop_server
	counted tls 1
}

test_tls_client_cert_none_not_asked() {
	need_tls
	start_server -v "${SRV_TLS[@]}" tls:127.0.0.1:0
	# not asked for, a client's certificate is not sent or checked
	expect_eq "$(mtls_client client2)" "server says: world"
	stop_server
	counted tls 0
}

# --- the record layer: partial records and writes, big and many messages

test_tls_one_byte_per_record() {
	need_tls
	need_python
	start_server -q "${SRV_TLS[@]}" --proto line tls:127.0.0.1:0
	expect_eq "$(tlspeer --ca "$C/ca.pem" "tls:localhost:$PORT" 'b:hello\nthere\n' r:2)" \
		$'line: world\nline: world'
	stop_server
}

test_tls_pipelined_requests_in_one_record() {
	need_tls
	need_python
	start_server -q "${SRV_TLS[@]}" --proto line --echo tls:127.0.0.1:0
	out=$(tlspeer --ca "$C/ca.pem" "tls:localhost:$PORT" 'w:a\nb\nc\n' r:3 'M:500:ping\n' r:500)
	expect_eq "$(head -n 3 <<<"$out")" $'line: a\nline: b\nline: c'
	expect_eq "$(tail -n +4 <<<"$out" | sort | uniq -c | sed 's/^ *//')" "500 line: ping"
	stop_server
}

test_tls_message_over_one_record() {
	need_tls
	need_python
	# 16 KiB + 1 bytes: a message in two records each way
	local m
	m=$(head -c 16385 /dev/zero | tr '\0' x)
	start_server --echo "${SRV_TLS[@]}" tls:127.0.0.1:0
	expect_eq "$(client --tls-ca "$C/ca.pem" "$ADDR" "$m")" "server says: ${m:0:200}... (16385 bytes)"
	stop_server
	expect_eq "$(cat out)" "client says: ${m:0:200}... (16385 bytes)"
	start_server -q --proto line --echo "${SRV_TLS[@]}" tls:127.0.0.1:0
	expect_eq "$(tlspeer --ca "$C/ca.pem" "tls:localhost:$PORT" big:16385 rbig:16385 big:16384 rbig:16384)" \
		$'rbig ok\nrbig ok'
	stop_server
}

# A reader with a 4 KiB receive buffer: the server's writes of a 2 MB reply
# stop short again and again (SSL_write wants to write) and resume.
test_tls_slow_small_reader_gets_big_reply() {
	need_tls
	need_python
	start_server -q -v --proto line --echo --max-msg 4M "${SRV_TLS[@]}" tls:127.0.0.1:0
	expect_eq "$(tlspeer -t 20 --rcvbuf 4096 --ca "$C/ca.pem" "tls:localhost:$PORT" big:2000000 sleep:300 rbig:2000000)" \
		"rbig ok"
	stop_server
	counted tls 0
}

# Full duplex through tiny buffers on the peer's side: reads and writes
# interleave at every size.
test_tls_tiny_buffers_full_duplex() {
	need_tls
	need_python
	start_server -q --proto raw --echo "${SRV_TLS[@]}" tls:127.0.0.1:0
	expect_eq "$(tlspeer -t 20 --rcvbuf 2048 --sndbuf 2048 --ca "$C/ca.pem" "tls:localhost:$PORT" xfer:3000000)" \
		"xfer ok 3000000"
	stop_server
}

test_tls_stream_64_mib_both_ends_parley() {
	need_tls
	head -c 64M /dev/urandom >in.bin
	start_server -q --proto raw --echo "${SRV_TLS[@]}" tls:127.0.0.1:0
	client --stream --tls --tls-ca "$C/ca.pem" "localhost:$PORT" <in.bin >back.bin 2>err.client ||
		fail "stream: $(cat err.client)"
	expect_eq "$(sha256sum <back.bin)" "$(sha256sum <in.bin)" "sha256 of what came back"
	stop_server
}

# --stream half-closes on stdin EOF: close_notify is the TLS end of stream,
# and the server still answers every line before it closes.
test_tls_stream_half_close() {
	need_tls
	start_server -v --proto line "${SRV_TLS[@]}" tls:127.0.0.1:0
	out=$(printf 'a\nb\n' | client --stream --tls-ca "$C/ca.pem" "tls:localhost:$PORT")
	expect_eq "$?" 0 "client exit"
	expect_eq "$out" $'world\nworld'
	stop_server
	expect_match "$(cat err)" $'\nclose 127\\.0\\.0\\.1:[0-9]+: eof\n'
	counted tls 0
}

# --- failures: closes without close_notify, stalls, garbage, wrong ports

test_tls_peer_closes_without_close_notify() {
	need_tls
	need_python
	start_server --n 2 -v --proto line "${SRV_TLS[@]}" tls:127.0.0.1:0 127.0.0.1:0
	expect_eq "$(tlspeer --ca "$C/ca.pem" "$ADDR" 'w:hello\n' r:1 close)" "line: world"
	wait_log 'close 127\.0\.0\.1:[0-9]+: tls \(peer closed without close_notify\)$'
	tls_survived --proto line
	stop_server
	counted tls 1
}

test_tls_handshake_timeout() {
	need_tls
	need_python
	start_server --n 2 -v --tls-handshake-timeout 1 "${SRV_TLS[@]}" tls:127.0.0.1:0 127.0.0.1:0
	# a ClientHello, the server's answer, then nothing: the handshake stalls midway
	expect_eq "$(tlspeer --ca "$C/ca.pem" "$ADDR" stall)" "eof" "stalled after the ClientHello"
	# half a ClientHello; and nothing at all
	expect_eq "$(rawpeer "127.0.0.1:$PORT" 'w:\x16\x03\x01\x01\x00\x01\x00' eof)" "eof" "half a ClientHello"
	expect_eq "$(rawpeer "127.0.0.1:$PORT" eof)" "eof" "a silent client"
	wait_log 'close 127\.0\.0\.1:[0-9]+: tls \(handshake timeout\)$'
	tls_survived
	stop_server
	expect_eq "$(grep -c ': tls (handshake timeout)$' err)" 3 "three handshake timeouts logged"
	counted tls 3
}

# The default handshake timeout is not the idle timeout: a silent TLS
# client is closed after the handshake timeout even with --idle-timeout 0.
test_tls_handshake_timeout_without_idle_timeout() {
	need_tls
	start_server -v --idle-timeout 0 --tls-handshake-timeout 0.5 "${SRV_TLS[@]}" tls:127.0.0.1:0
	expect_eq "$(rawpeer "127.0.0.1:$PORT" eof)" "eof"
	stop_server
	counted tls 1
}

test_tls_garbage_instead_of_client_hello() {
	need_tls
	start_server --n 2 -v "${SRV_TLS[@]}" tls:127.0.0.1:0 127.0.0.1:0
	expect_match "$(rawpeer "127.0.0.1:$PORT" junk:3000 eof)" "^(eof|reset)$" "garbage"
	# a record header declaring 64 KiB, and an SSLv2-format ClientHello
	# (46 bytes: 7 cipher specs, a 16-byte challenge) that OpenSSL 3 refuses
	expect_match "$(rawpeer "127.0.0.1:$PORT" 'w:\x16\x03\x03\xff\xff' fill:2000:A eof)" "^(eof|reset)$" "a huge record"
	expect_match "$(rawpeer "127.0.0.1:$PORT" 'w:\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10' fill:37:A eof)" \
		"^(eof|reset)$" "SSLv2"
	tls_survived
	stop_server
	expect_match "$(cat err)" $'\nclose 127\\.0\\.0\\.1:[0-9]+: tls \\(.+\\)\n' "logged with a reason"
	counted tls 3
}

test_tls_plaintext_client_on_tls_port() {
	need_tls
	start_server --n 2 -v "${SRV_TLS[@]}" tls:127.0.0.1:0 127.0.0.1:0
	local plain_on_tls=127.0.0.1:$PORT
	err=$(client -t 5 "$plain_on_tls" 2>&1)
	expect_eq "$?" 1 "client exit"
	expect_match "$err" "^parley-client: (read from )?$plain_on_tls: " "names the address"
	expect_match "$(rawpeer "$plain_on_tls" m:hello eof)" "^(eof|reset)$" "rawpeer"
	expect_match "$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 "$CLIENT" --stream "$plain_on_tls" 2>/dev/null | head -c 100 | wc -c)" \
		"^[0-9]+$" "an HTTP request"
	expect_eq "$(cat out)" "" "nothing reached the application"
	tls_survived
	stop_server
	counted tls 3
}

test_tls_client_on_plain_port() {
	need_tls
	# an echo server sends the ClientHello back: not a ServerHello
	start_server -v --proto raw --echo 127.0.0.1:0
	err=$(client -t 5 --tls-ca "$C/ca.pem" "tls:127.0.0.1:$PORT" 2>&1)
	expect_eq "$?" 1 "client exit (echo server)"
	expect_match "$err" "^parley-client: tls:127\\.0\\.0\\.1:$PORT: " "names the address"
	survived
	stop_server
	# a len server reads the ClientHello as a header: the client's -t bounds the wait
	start_server -v 127.0.0.1:0
	err=$(timeout 20 "$CLIENT" -t 2 --tls-ca "$C/ca.pem" "tls:127.0.0.1:$PORT" 2>&1)
	expect_eq "$?" 1 "client exit (len server)"
	expect_match "$err" "^parley-client: tls:127\\.0\\.0\\.1:$PORT: " "names the address"
	survived
	stop_server
}

# Every kind of failure counted once in tls=N, and the good clients around
# them all served.
test_tls_failures_counted() {
	need_tls
	start_server -v --tls-handshake-timeout 1 "${SRV_TLS[@]}" --tls-ca "$C/ca.pem" \
		--tls-client-cert optional tls:127.0.0.1:0
	client --tls-ca "$C/ca2.pem" "$ADDR" >/dev/null 2>&1       # the client refuses the server
	client --tls-ca "$C/ca.pem" --tls-cert "$C/client2.pem" --tls-key "$C/client2.key" \
		"$ADDR" >/dev/null 2>&1                              # the server refuses the client
	rawpeer "127.0.0.1:$PORT" junk:100 eof >/dev/null                     # garbage
	rawpeer "127.0.0.1:$PORT" eof >/dev/null                              # silence
	expect_eq "$(client --tls-ca "$C/ca.pem" "$ADDR" a b)" $'server says: world\nserver says: world'
	stop_server
	counted tls 4
	expect_match "$(grep '^stats: ' err)" "accepted=5 requests=2 "
}

# --- SIGHUP: new certificate files for new clients, old ones unharmed

test_tls_sighup_reloads_certificate() {
	need_tls
	cp "$C/server.pem" srv.pem
	cp "$C/server.key" srv.key
	start_server -v --proto line --tls-cert srv.pem --tls-key srv.key tls:127.0.0.1:0
	mkfifo old.in
	client --stream --tls-ca "$C/ca.pem" "tls:localhost:$PORT" <old.in >old.out 2>old.err &
	local old=$!
	PIDS+=("$old")
	exec {OW}>old.in
	printf 'hello\n' >&"$OW"
	expect_eq "$(nth_line old.out 1)" "world" "the old client before"
	cp "$C/renewed.pem" srv.pem
	cp "$C/renewed.key" srv.key
	kill -HUP "$SRV_PID"
	wait_log '[Rr]eload'
	client -v --proto line --tls-ca "$C/ca.pem" "tls:localhost:$PORT" >/dev/null 2>err.client ||
		fail "a new client: $(cat err.client)"
	expect_match "$(grep '^tls: ' err.client)" ' peer=CN=renewed( |$)' "a new client sees the new certificate"
	printf 'again\n' >&"$OW"
	expect_eq "$(nth_line old.out 2)" "world" "the old client after"
	exec {OW}>&-
	wait "$old"
	expect_eq "$?" 0 "the old client's exit"
	stop_server
	expect_eq "$SRV_RC" 0
	counted tls 0
}

test_tls_sighup_with_broken_files_keeps_old() {
	need_tls
	cp "$C/server.pem" srv.pem
	cp "$C/server.key" srv.key
	start_server -v --tls-cert srv.pem --tls-key srv.key tls:127.0.0.1:0
	echo "not a certificate" >srv.pem
	kill -HUP "$SRV_PID"
	wait_log 'srv\.pem'
	expect_match "$LOG_LINE" '[Rr]eload' "the reload failure is logged"
	client -v --tls-ca "$C/ca.pem" "tls:localhost:$PORT" >/dev/null 2>err.client ||
		fail "a client after a failed reload: $(cat err.client)"
	expect_match "$(grep '^tls: ' err.client)" ' peer=CN=localhost( |$)' "the old certificate"
	# a key that does not match the new certificate: also refused as a whole
	cp "$C/renewed.pem" srv.pem
	cp "$C/other.key" srv.key
	kill -HUP "$SRV_PID"
	wait_log 'srv\.(pem|key)'
	client -v --tls-ca "$C/ca.pem" "tls:localhost:$PORT" >/dev/null 2>err.client ||
		fail "a client after the second failed reload: $(cat err.client)"
	expect_match "$(grep '^tls: ' err.client)" ' peer=CN=localhost( |$)' "still the old certificate"
	stop_server
	expect_eq "$SRV_RC" 0
}

# --- threads and shutdown

test_tls_threads() {
	need_tls
	start_server -q -v --threads 3 "${SRV_TLS[@]}" tls:127.0.0.1:0
	local i pids=()
	for i in $(seq 1 12); do
		client --tls-ca "$C/ca.pem" "$ADDR" a b c >"c$i.out" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "a client failed: $(cat c*.out | grep -v 'server says')"; done
	stop_server
	expect_match "$(grep '^stats: ' err)" "accepted=12 requests=36 eof=12 "
	counted tls 0
}

# SIGTERM with TLS clients mid-pipeline: every reply is still encrypted and
# sent before the server exits.
test_tls_sigterm_drains() {
	need_tls
	need_python
	start_server -q -v --proto line --echo "${SRV_TLS[@]}" tls:127.0.0.1:0
	tlspeer --ca "$C/ca.pem" "tls:localhost:$PORT" 'M:2000:ping\n' say:sent r:2000 eof >peer.out 2>&1 &
	local p=$!
	PIDS+=("$p")
	expect_eq "$(first_line peer.out)" "sent"
	stop_server TERM
	expect_eq "$SRV_RC" 0 "server exit"
	wait "$p"
	expect_eq "$(grep -c '^line: ping$' peer.out)" 2000 "replies"
	expect_match "$(tail -n 1 peer.out)" "^eof" "closed"
}
