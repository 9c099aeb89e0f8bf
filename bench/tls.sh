#!/usr/bin/env bash
# bench/tls.sh - T1..T5: parley over TLS against Redis over TLS (and against
# parley's own plaintext), in one run, on this machine; prints figures,
# ratios and the issue's targets.  Certificates (ECDSA P-256) are made at
# run time.  Servers run on CPU 0, the generator on CPU 1 (as run.sh).
#   bash bench/tls.sh [--json] [--duration SECONDS] [--rounds N] [--only T1,T3,...]
# (T4 moves BULK_MIB MiB, default 1024.)
# Each workload runs ROUNDS times (default 3), the servers taking turns in
# each round; every figure is the median of its rounds.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
BUILD=${BUILD:-build}
options "T1 T2 T3 T4 T5" "$@"
MIB=${BULK_MIB:-1024} # T4's size
BENCH=$BUILD/parley-bench
TMP=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

if ! command -v openssl >/dev/null; then
	log "bench: openssl not installed (apt-get install openssl); TLS benchmarks T1..T5 skipped"
	exit 0
fi
if ! "$BENCH" --tls --help >/dev/null 2>&1; then
	log "bench: parley built without TLS (apt-get install libssl-dev, then make); T1..T5 skipped"
	exit 0
fi
HAVE_REDIS=0
if command -v redis-server >/dev/null; then
	HAVE_REDIS=1
else
	log "bench: redis-server not installed (apt-get install redis-server); Redis columns skipped"
fi
pin_cpus
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

bash tests/tls_certs.sh "$TMP/certs" || { echo "bench: could not make certificates" >&2; exit 1; }
CA=$TMP/certs/ca.pem CERT=$TMP/certs/server.pem KEY=$TMP/certs/server.key
SRV_TLS=(--tls-cert "$CERT" --tls-key "$KEY")

# parley: plaintext (W2's server) and TLS, one thread each; T5's two
# threads run unpinned (the generator too) beside the same with one thread
start parley "$BUILD/parley-server" -q --max-conns 20000 127.0.0.1:0
start parleytls "$BUILD/parley-server" -q --max-conns 20000 "${SRV_TLS[@]}" tls:127.0.0.1:0
GEN_ARGS[parleytls]="--tls-ca $CA"
SERVERS=(parleytls parley)
if [ "$HAVE_REDIS" = 1 ]; then
	GEN_ARGS[redistls]="$REDIS_GEN_ARGS --tls-ca $CA"
	port=$(free_port)
	start_redis redistls "tls:127.0.0.1:$port" --port 0 --tls-port "$port" --tls-cert-file "$CERT" \
		--tls-key-file "$KEY" --tls-ca-cert-file "$CA" --tls-auth-clients no
	SERVERS=(parleytls redistls parley)
fi

if want T1 || want T2; then
	log "bench: T1, T2 (${D}s each per server, $ROUNDS rounds)"
	for round in $(seq 1 "$ROUNDS"); do for s in "${SERVERS[@]}"; do
		want T1 && { gen "$s" -c 50 -P 1 -d "$D"; put "T1,$s,rps" "$(field rps "$OUT")"; put "T1,$s,p99" "$(field p99_us "$OUT")"; put "T1,$s,cpu" "$CPU_US"; put "T1,$s,gen" "$GEN_CPU"; }
		[ "$s" = parley ] && continue # plaintext: T1's baseline only
		want T2 && { gen "$s" -c 50 -P 16 -d "$D"; put "T2,$s,rps" "$(field rps "$OUT")"; put "T2,$s,cpu" "$CPU_US"; put "T2,$s,gen" "$GEN_CPU"; }
	done; done
fi

if want T3; then
	# --insecure: the generator's handshake costs more than the server's
	# (it verifies a signature and parses a certificate), and T3 is about
	# the server's; without verification the generator keeps up better
	log "bench: T3 churn, full handshakes and resumed (--churn --reset --insecure)"
	for round in $(seq 1 "$ROUNDS"); do for s in "${SERVERS[@]}"; do
		[ "$s" = parley ] && continue
		gen "$s" --churn --reset --insecure -c 50 -d "$D"; put "T3,$s,hs" "$(field handshakes_per_s "$OUT")"; put "T3,$s,cpu" "$CPU_US"; put "T3,$s,gen" "$GEN_CPU"
		gen "$s" --churn --reset --insecure --tls-resume -c 50 -d "$D"; put "T3r,$s,hs" "$(field handshakes_per_s "$OUT")"; put "T3r,$s,cpu" "$CPU_US"
		put "T3r,$s,share" "$(awk -v r="$(field resumed "$OUT")" -v h="$(field handshakes "$OUT")" 'BEGIN { printf "%.2f", h ? r / h : 0 }')"
	done; done
fi
settle

# T4: MIB MiB through one TLS connection into a sink (socat, on CPU 0)
# from parley-client --stream --tls and from socat OPENSSL (on CPU 1):
# the client's MB/s and its CPU per GB, best of the rounds
cpu0_busy() { awk '/^cpu0 / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
bulk() { # NAME CMD...: best MB/s, that run's CPU s per GB and the sink's CPU share in R[T4,NAME,*]
	local name=$1 best=0 cpu=0 sink=0 t0 t1 mbs b0 b1
	shift
	for _ in $(seq 1 "$ROUNDS"); do
		b0=$(cpu0_busy)
		t0=$(date +%s%N)
		# the subshell's children's CPU time is the client's alone
		head -c "${MIB}M" /dev/zero | ( "${GEN_PIN[@]}" "$@" >/dev/null 2>>"$TMP/bulk.err"
			awk '{ print $16 + $17 }' "/proc/$BASHPID/stat" >"$TMP/bulk.cpu" )
		t1=$(date +%s%N)
		b1=$(cpu0_busy)
		mbs=$(awk -v m="$MIB" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", m * 1048576 / 1e6 / (ns / 1e9) }')
		if [ "$mbs" -gt "$best" ]; then
			best=$mbs
			cpu=$(awk -v d="$(cat "$TMP/bulk.cpu")" -v hz="$HZ" -v m="$MIB" 'BEGIN { printf "%.2f", d / hz / (m / 1024) }')
			sink=$(awk -v a="$b0" -v b="$b1" 'BEGIN { split(a, x, " "); split(b, y, " ");
				printf "%.2f", (y[2] > x[2]) ? (y[1] - x[1]) / (y[2] - x[2]) : 0 }')
		fi
	done
	R[T4,$name,mbs]=$best R[T4,$name,cpu]=$cpu R[T4,$name,sink]=$sink
}
KTLS=
if want T4; then
	if command -v socat >/dev/null; then
		log "bench: T4 bulk ${MIB} MiB over TLS into a socat sink"
		port=$(free_port)
		"${SRV_PIN[@]}" socat -b 262144 -u "OPENSSL-LISTEN:$port,reuseaddr,fork,cert=$CERT,key=$KEY,verify=0" \
			OPEN:/dev/null 2>"$TMP/sink.err" &
		PIDS+=("$!")
		for _ in $(seq 1 100); do "$BUILD/parley-client" --stream --tls-ca "$CA" "tls:127.0.0.1:$port" </dev/null >/dev/null 2>&1 && break; sleep 0.05; done
		PC=("$BUILD/parley-client" --stream --tls-ca "$CA" "tls:127.0.0.1:$port")
		bulk parley "${PC[@]}"
		bulk ktls "${PC[@]}" --tls-ktls
		bulk socat socat -u STDIN "OPENSSL:127.0.0.1:$port,cafile=$CA"
		[ -s "$TMP/bulk.err" ] && log "bench: T4 clients said: $(sort -u "$TMP/bulk.err" | head -5)"
		KTLS=$("${PC[@]}" -v --tls-ktls </dev/null 2>&1 | grep -q 'kTLS did not engage' && echo "kTLS did not engage (this kernel: $(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || echo '?') in tcp_available_ulp)" || echo "kTLS engaged")
	else
		log "bench: socat not installed (apt-get install socat); T4 skipped"
	fi
fi

if want T5; then
	log "bench: T5 --threads 1 and 2 on T1, nothing pinned"
	SRV_PIN=() GEN_PIN=()
	start t1 "$BUILD/parley-server" -q "${SRV_TLS[@]}" tls:127.0.0.1:0
	start t2 "$BUILD/parley-server" -q --threads 2 "${SRV_TLS[@]}" tls:127.0.0.1:0
	GEN_ARGS[t1]="--tls-ca $CA" GEN_ARGS[t2]="--tls-ca $CA"
	for round in $(seq 1 "$ROUNDS"); do for s in t1 t2; do
		gen "$s" -c 50 -P 1 -d "$D"; put "T5,$s,rps" "$(field rps "$OUT")"
	done; done
	settle
fi

if [ "$JSON" = 1 ]; then
	printf '{"duration_s":%s,"bulk_mib":%s' "$D" "$MIB"
	for k in "${!R[@]}"; do printf ',"%s":%s' "${k//,/_}" "${R[$k]:-null}"; done
	printf ',"ktls":"%s"}\n' "$KTLS"
	exit 0
fi

# row T FIGURE A B TARGET: A against B, their ratio, and whether it meets TARGET
row() {
	local r verdict=
	r=$(ratio "${3:-}" "${4:-}")
	[ -n "$5" ] && [ "$r" != - ] && verdict=$(awk -v r="$r" -v t="$5" 'BEGIN { print (r >= t) ? "met (>= " t ")" : "MISSED (< " t ")" }')
	printf '%-4s %-30s %12s %12s %8s  %s\n' "$1" "$2" "$(num "${3:-}")" "$(num "${4:-}")" "$r" "$verdict"
}
printf '\n%-4s %-30s %12s %12s %8s  %s\n' "" "figure (A against B)" A B A/B target
row T1 "req/s: parley TLS, Redis TLS" "${R[T1,parleytls,rps]:-}" "${R[T1,redistls,rps]:-}" 1.25
row T1 "req/s: TLS, plaintext (W2)" "${R[T1,parleytls,rps]:-}" "${R[T1,parley,rps]:-}" 0.85
row T1 "p99 us: parley, Redis" "${R[T1,parleytls,p99]:-}" "${R[T1,redistls,p99]:-}" ""
row T1 "CPU us/req: parley, Redis" "${R[T1,parleytls,cpu]:-}" "${R[T1,redistls,cpu]:-}" ""
row T1 "CPU us/req: TLS, plaintext" "${R[T1,parleytls,cpu]:-}" "${R[T1,parley,cpu]:-}" ""
row T1 "generator CPU: TLS, plaintext" "${R[T1,parleytls,gen]:-}" "${R[T1,parley,gen]:-}" ""
row T2 "req/s: parley TLS, Redis TLS" "${R[T2,parleytls,rps]:-}" "${R[T2,redistls,rps]:-}" 1.5
row T2 "CPU us/req: parley, Redis" "${R[T2,parleytls,cpu]:-}" "${R[T2,redistls,cpu]:-}" ""
row T2 "generator CPU: parley, Redis" "${R[T2,parleytls,gen]:-}" "${R[T2,redistls,gen]:-}" ""
row T3 "full handshakes/s: parley, Redis" "${R[T3,parleytls,hs]:-}" "${R[T3,redistls,hs]:-}" 1.2
row T3 "CPU us/handshake: parley, Redis" "${R[T3,parleytls,cpu]:-}" "${R[T3,redistls,cpu]:-}" ""
row T3 "generator CPU: parley, Redis" "${R[T3,parleytls,gen]:-}" "${R[T3,redistls,gen]:-}" ""
row T3 "resumed hs/s: parley, Redis" "${R[T3r,parleytls,hs]:-}" "${R[T3r,redistls,hs]:-}" ""
row T3 "parley hs/s: resumed, full" "${R[T3r,parleytls,hs]:-}" "${R[T3,parleytls,hs]:-}" ""
row T3 "Redis hs/s: resumed, full" "${R[T3r,redistls,hs]:-}" "${R[T3,redistls,hs]:-}" ""
row T3 "CPU us/hs resumed: parley, Redis" "${R[T3r,parleytls,cpu]:-}" "${R[T3r,redistls,cpu]:-}" ""
row T4 "MB/s: parley-client, socat" "${R[T4,parley,mbs]:-}" "${R[T4,socat,mbs]:-}" 1.5
row T4 "CPU s/GB: parley-client, socat" "${R[T4,parley,cpu]:-}" "${R[T4,socat,cpu]:-}" ""
row T4 "MB/s: --tls-ktls, without" "${R[T4,ktls,mbs]:-}" "${R[T4,parley,mbs]:-}" ""
row T4 "CPU s/GB: --tls-ktls, without" "${R[T4,ktls,cpu]:-}" "${R[T4,parley,cpu]:-}" ""
row T4 "sink's CPU 0 busy: parley, socat" "${R[T4,parley,sink]:-}" "${R[T4,socat,sink]:-}" ""
row T5 "req/s: --threads 2, 1" "${R[T5,t2,rps]:-}" "${R[T5,t1,rps]:-}" ""
echo
echo "T3 resumed: $(num "${R[T3r,parleytls,share]:-}") of parley's handshakes and $(num "${R[T3r,redistls,share]:-}") of Redis's were resumptions (--tls-resume)."
[ -n "$KTLS" ] && echo "T4: $KTLS; best of $ROUNDS runs of ${MIB} MiB; CPU s/GB is the client's; near 1.00 busy, the sink set the pace."
echo "generator CPU: the share of its CPU parley-bench used (near 1.00: it set the pace, not the server)."
echo "TLS 1.3, ECDSA P-256 certificates made at run time, verified by the generator (--tls-ca),"
echo "except in T3 (--insecure: the generator's handshake would cost it more than the server's)."
echo "${D} s per workload, $ROUNDS rounds, medians; servers on CPU 0 and the generator on CPU 1 except T5."
echo "machine: $(machine)"
