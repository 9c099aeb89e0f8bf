# tls_lib.sh - what the TLS tests share (sourced by test_tls*.sh after lib.sh).

# need_tls: skips (77) unless both programs were built with TLS; then makes
# (or finds) the test certificates and sets C to their directory and SRV_TLS
# to the server options for server.pem.  tls_certs.sh makes them once per
# run of tests/run.sh (PARLEY_TLS_CERTS, its temporary directory), else per test.
need_tls() {
	need openssl openssl
	local out
	out=$(timeout 5 "$SERVER" --tls-cert /dev/null 2>&1)
	case "$out" in
	*"built without TLS"*) skip "parley was built without TLS (apt-get install libssl-dev, then make)" ;;
	*"unknown option"* | *"unrecognized option"*) skip "this parley-server has no TLS options" ;;
	esac
	out=$(timeout 5 "$CLIENT" -t 1 --tls-ca /dev/null tls:127.0.0.1:1 2>&1)
	case "$out" in
	*"built without TLS"*) skip "parley was built without TLS (apt-get install libssl-dev, then make)" ;;
	*"unknown option"* | *"unrecognized option"*) skip "this parley-client has no TLS options" ;;
	esac
	local base=${PARLEY_TLS_CERTS:-$T}
	C=$base/certs
	if [ ! -f "$C/bundle.pem" ]; then
		# made beside and renamed: a test killed halfway leaves no half set
		bash "$TOP/tests/tls_certs.sh" "$C.new.$$" || fail "tls_certs.sh failed"
		mv -T "$C.new.$$" "$C" 2>/dev/null || rm -rf "$C.new.$$"
	fi
	SRV_TLS=(--tls-cert "$C/server.pem" --tls-key "$C/server.key")
	S_CLIENT=(openssl s_client -quiet -no_ign_eof -verify_return_error -CAfile "$C/ca.pem")
}

# need_python: tests/tlspeer.py needs python3 (its ssl module).
need_python() {
	need python3 python3
	python3 -c 'import ssl' 2>/dev/null || skip "python3 has no ssl module"
}

tlspeer() { python3 "$TOP/tests/tlspeer.py" "$@"; }

# tls_survived [--proto P] [CLIENT_TLS_ARGS...]: "survive" checked (as
# survived in lib.sh, which speaks only len): after whatever a test did, a
# fresh TLS client is served on ADDR and a plain one on the server's second
# listener, ADDRS[1], and the server idles (at most 2 clock ticks in 0.5 s)
# with its RSS under 64 MiB.
tls_survived() {
	local common=()
	if [ "${1:-}" = --proto ]; then common=(--proto "$2"); shift 2; fi
	[ ${#ADDRS[@]} -ge 2 ] || fail "tls_survived needs a plain listener second"
	expect_eq "$(client "${common[@]}" --tls-ca "$C/ca.pem" "$@" "$ADDR" 2>&1)" "server says: world" \
		"a fresh TLS client"
	expect_eq "$(client "${common[@]}" "${ADDRS[1]}" 2>&1)" "server says: world" "a fresh plain client"
	idle_and_bounded 65536
}

# A TCP port that was free a moment ago (for tools that cannot report port 0).
tls_free_port() {
	"$RAWPEER" -t 1 -B 127.0.0.1:0 | sed -n 's/.*://p'
}

# wait_port PORT: a foreign server (s_server, socat, ncat, redis) prints no
# "listening" line we can use, so poll until PORT accepts, bounded at 5 s.
wait_port() {
	local i
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	fail "nothing listening on port $1"
}

# peer_start CMD...: runs CMD (an interactive foreign client: s_client)
# with its stdin and stdout on fifos this shell holds, so a test writes a
# line and waits for the answer, an event rather than a sleep.  PW is the
# write end, PR the read end; stderr goes to $T/peer.err.
peer_start() {
	rm -f "$T/peer.in" "$T/peer.out"
	mkfifo "$T/peer.in" "$T/peer.out"
	"$@" <"$T/peer.in" >"$T/peer.out" 2>"$T/peer.err" &
	PEER_PID=$!
	PIDS+=("$PEER_PID")
	exec {PW}>"$T/peer.in"
	exec {PR}<"$T/peer.out"
}

# peer_say TEXT: one line to the peer's stdin.
peer_say() { printf '%s\n' "$1" >&"$PW"; }

# peer_expect REGEX: reads the peer's stdout until a line matches (each read
# bounded at 10 s); fails on EOF or timeout.  The line is in PEER_LINE.
peer_expect() {
	while IFS= read -r -t 10 -u "$PR" PEER_LINE; do
		[[ "$PEER_LINE" =~ $1 ]] && return 0
	done
	fail "peer output has no line matching /$1/ (stderr: $(tail -n 5 "$T/peer.err"))"
}

# peer_end: closes the peer's stdin, drains its stdout, waits: PEER_RC.
peer_end() {
	exec {PW}>&-
	cat <&"$PR" >"$T/peer.rest"
	exec {PR}<&-
	wait "$PEER_PID"
	PEER_RC=$?
}

# s_client ARGS...: openssl s_client trusting the test CA, failing on a
# verification error, quiet (only the application data on stdout), ending
# at its stdin's end.  S_CLIENT is the command, for peer_start (a function
# would put a shell between the test and openssl, and kill -9 on it).
s_client() { "${S_CLIENT[@]}" "$@"; }

# s_client_hello ARGS...: s_client says hello to a --proto line server on
# fifos (peer_start) and must get world back, then exit 0 at stdin's end.
s_client_hello() {
	peer_start "${S_CLIENT[@]}" "$@"
	peer_say hello
	peer_expect '^world$'
	peer_end
	expect_eq "$PEER_RC" 0 "s_client exit: $(cat "$T/peer.err")"
}

# wait_file FILE REGEX [N]: waits (each line bounded at 10 s) until FILE,
# which a background process writes, has N (default 1) lines matching
# REGEX; sets LOG_LINE to the last.
wait_file() {
	local n=0
	while IFS= read -r -t 10 LOG_LINE; do
		[[ "$LOG_LINE" =~ $2 ]] && n=$((n + 1))
		[ "$n" -ge "${3:-1}" ] && return 0
	done < <(exec tail -n +1 -f --pid=$$ "$1")
	fail "$(basename "$1") has $n of ${3:-1} lines matching /$2/"
}

# wait_log REGEX: wait_file on the server's stderr.
wait_log() { wait_file "$T/err" "$1"; }

# nth_line FILE N: waits (each line bounded at 10 s) for the Nth line a
# background process writes to FILE and prints it.
nth_line() {
	local line i=0
	while IFS= read -r -t 10 line; do
		i=$((i + 1))
		[ "$i" -eq "$2" ] && { printf '%s\n' "$line"; return 0; }
	done < <(exec tail -n +1 -f --pid=$$ "$1")
	fail "$1 has no line $2"
}
