# test_hardening.sh - what a hostile tester found in TLS options and packet
# listeners: bad values are usage errors, files are named with the real cause.

# need_tls: skips unless the build has TLS and openssl(1) can make a key.
need_tls() {
	need openssl openssl
	"$SERVER" --help | grep -q -- --tls-cert || skip "built without TLS"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=localhost -keyout srv.key -out srv.pem 2>/dev/null || fail "openssl req"
}

# usage_error WHAT EXPECTED-FIRST-LINE PROGRAM ARGS...: exit 2 and the line.
usage_error() {
	local what=$1 line=$2 out
	shift 2
	out=$("$@" 2>&1)
	expect_eq "$?" 2 "$what: exit"
	expect_eq "$(head -1 <<<"$out")" "$line" "$what"
}

# An ALPN list is checked as the option is read (exit 2, as every bad
# option value), not by OpenSSL after the certificate files (exit 1).
test_hardening_tls_alpn_bad_lists_are_usage_errors() {
	need_tls
	local tls=(--tls-cert srv.pem --tls-key srv.key)
	usage_error "empty" "parley-server: --tls-alpn: '' is empty" \
		"$SERVER" "${tls[@]}" --tls-alpn '' tls:127.0.0.1:0
	usage_error "comma" "parley-server: --tls-alpn: ',' has a protocol name that is not 1 to 255 bytes" \
		"$SERVER" "${tls[@]}" --tls-alpn , tls:127.0.0.1:0
	usage_error "empty name" "parley-server: --tls-alpn: 'a,,b' has a protocol name that is not 1 to 255 bytes" \
		"$SERVER" "${tls[@]}" --tls-alpn a,,b tls:127.0.0.1:0
	usage_error "trailing comma" "parley-server: --tls-alpn: 'h2,' has a protocol name that is not 1 to 255 bytes" \
		"$SERVER" "${tls[@]}" --tls-alpn h2, tls:127.0.0.1:0
	local long
	long=$(printf '%0256d' 0)
	usage_error "256 bytes" "parley-server: --tls-alpn: '$long' has a protocol name that is not 1 to 255 bytes" \
		"$SERVER" "${tls[@]}" --tls-alpn "$long" tls:127.0.0.1:0
	usage_error "client" "parley-client: --tls-alpn: '' is empty" \
		"$CLIENT" --tls-alpn '' tls:127.0.0.1:1
	start_server --tls-cert srv.pem --tls-key srv.key --tls-alpn "h2,$(printf '%0255d' 0)" tls:127.0.0.1:0
}

# A directory, or a file that is no PEM, is named with what is wrong with
# it, not OpenSSL's "PEM lib".
test_hardening_tls_files_named_with_the_cause() {
	need_tls
	echo garbage >junk.pem
	head -c 100 srv.pem >half.pem
	mkdir dir
	local c
	for c in "dir srv.key dir: Is a directory" "srv.pem dir dir: Is a directory" \
		"junk.pem srv.key junk.pem: not a PEM certificate" \
		"half.pem srv.key half.pem: not a PEM certificate" \
		"srv.pem junk.pem junk.pem: not a PEM private key"; do
		read -r cert key want <<<"$c"
		out=$("$SERVER" --tls-cert "$cert" --tls-key "$key" tls:127.0.0.1:0 2>&1)
		expect_eq "$?" 1 "$cert $key: exit"
		expect_eq "$out" "parley-server: tls: $want" "$cert $key"
	done
	# and a reload says the same, keeping the certificate in use
	cp srv.pem live.pem
	start_server --tls-cert live.pem --tls-key srv.key tls:127.0.0.1:0
	echo garbage >live.pem
	kill -HUP "$SRV_PID"
	for _ in $(seq 100); do grep -q reload err && break; sleep 0.05; done
	expect_eq "$(grep reload err)" \
		"parley-server: SIGHUP: reload failed: live.pem: not a PEM certificate; keeping the certificates in use"
	expect_eq "$(client --insecure "$ADDR" 2>/dev/null)" "server says: world"
}

# A packet as large as a request may be (256 KiB less the 4 bytes of the
# len header conn.c puts before it) is answered whole: before, a reply over
# the default send buffer (about 208 KiB) closed the connection as
# "reset (Message too long)", and the client could not send one either.
test_hardening_seqpacket_largest_packet_echoed() {
	need python3 python3
	start_server -v -q -e seqpacket:@parley-hardening-$$
	got=$(python3 - "$ADDR" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
for o in (socket.SO_SNDBUF, socket.SO_RCVBUF):
    s.setsockopt(socket.SOL_SOCKET, o, 1 << 20)
s.settimeout(10)
s.connect("\0" + sys.argv[1].split("@", 1)[1])
s.send(b"x" * 262140)
print(len(s.recv(1 << 20)))
PY
)
	expect_eq "$got" 262140 "bytes echoed"
	out=$({ head -c 262140 /dev/zero | tr '\0' y; echo; } | client "$ADDR" - 2>&1)
	expect_eq "$?" 0 "client's exit"
	expect_match "$out" '^server says: yyyyyyyy' "client"
	stop_server
	counted eof 2
	counted reset 0
}
