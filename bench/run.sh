#!/usr/bin/env bash
# bench/run.sh - `make bench`: W1..W7 against parley-server, redis-server and
# the blocking floor, in one run, on this machine; prints a table of figures
# and ratios (and with --json, one JSON object).  Servers run on CPU 0, the
# generator on CPU 1 when there are two CPUs.
#   bash bench/run.sh [--json] [--duration SECONDS] [--rounds N] [--only W1,W6,...]
# Each workload runs ROUNDS times (default 3), the servers taking turns in
# each round; every figure is the median of its rounds.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
BUILD=${BUILD:-build}
D=3
ROUNDS=3
JSON=0
ONLY=
while [ $# -gt 0 ]; do
	case "$1" in
	--json) JSON=1 ;;
	--duration) D=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	*) echo "usage: bench/run.sh [--json] [--duration SECONDS] [--rounds N] [--only W1,W6,...]" >&2; exit 2 ;;
	esac
	shift
done
BENCH=$BUILD/parley-bench
BUSY_US=50
TMP=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
log() { [ "$JSON" = 1 ] && echo "$*" >&2 || echo "$*"; }

pin_cpus
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

start_redis() {
	local port
	port=$("$BUILD/tests/rawpeer" -t 1 -B 127.0.0.1:0 | sed -n 's/.*://p')
	"${SRV_PIN[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--maxclients 20000 --loglevel warning >"$TMP/redis.err" 2>&1 &
	PID_redis=$!
	PIDS+=("$PID_redis")
	ADDR_redis=127.0.0.1:$port
	for _ in $(seq 1 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "bench: redis-server did not start" >&2
	exit 1
}

HAVE_REDIS=0
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	HAVE_REDIS=1
else
	log "bench: redis-server not installed (apt-get install redis-server redis-tools); Redis columns skipped"
fi

start parley "$BUILD/parley-server" -q --max-conns 20000 127.0.0.1:0
start parleyecho "$BUILD/parley-server" -q --echo 127.0.0.1:0
# busy polling trades CPU for latency: shown for W1 and W4, beside the default
start parleybp "$BUILD/parley-server" -q --busy-poll "$BUSY_US" 127.0.0.1:0
start floor "$BUILD/bench/floor" 0
start floorecho "$BUILD/bench/floor" --echo 0
[ "$HAVE_REDIS" = 1 ] && start_redis

HZ=$(getconf CLK_TCK)

# gen SERVER ARGS...: runs parley-bench against SERVER; its JSON lands in OUT
# and the server's CPU microseconds per request in CPU_US.
gen() {
	local name=$1 pid addr t0 t1 out extra=()
	shift
	eval "pid=\$PID_$name addr=\$ADDR_$name"
	[ "$name" = redis ] && extra=(--proto raw --request 'PING\r\n' --reply-size 7 --expect '+PONG\r\n')
	t0=$(ticks "$pid")
	out=$("${GEN_PIN[@]}" "$BENCH" -q --json "${extra[@]}" "$@" "$addr")
	t1=$(ticks "$pid")
	local req
	req=$(field requests "$out")
	grep -q '"mode":"churn"' <<<"$out" && req=$(awk -v r="$(field connections_per_s "$out")" -v s="$(field seconds "$out")" 'BEGIN{print int(r*s)}')
	CPU_US=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="${req:-0}" 'BEGIN { printf "%.2f", (n > 0 ? d * 1e6 / hz / n : 0) }')
	[ "$(field errors "$out")" = 0 ] || log "bench: $name reported errors: $out"
	OUT=$out
}

declare -A V
# want W: whether workload W runs (all of them unless --only lists some)
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
declare -A R
SERVERS=(parley floor)
[ "$HAVE_REDIS" = 1 ] && SERVERS=(parley redis floor)

want W1 || want W2 || want W3 || want W4 && log "bench: W1..W3 (${D}s each per server)"
for round in $(seq 1 "$ROUNDS"); do for s in "${SERVERS[@]}" parleybp; do
	if want W1; then
		gen "$s" -c 1 -P 1 -d "$D"; o=$OUT; put W1,$s,rps "$(field rps "$o")"; put W1,$s,p50 "$(field p50_us "$o")"; put W1,$s,p99 "$(field p99_us "$o")"; put W1,$s,cpu "$CPU_US"
	fi
	[ "$s" = parleybp ] && continue # busy polling: W1 here, W4 below
	if want W2 || want W4; then # W4's rate comes from W2
		gen "$s" -c 50 -P 1 -d "$D"; o=$OUT; put W2,$s,rps "$(field rps "$o")"; put W2,$s,p99 "$(field p99_us "$o")"; put W2,$s,cpu "$CPU_US"
	fi
	if want W3; then
		gen "$s" -c 50 -P 16 -d "$D"; o=$OUT; put W3,$s,rps "$(field rps "$o")"; put W3,$s,cpu "$CPU_US"
	fi
done; done
settle

RATE=
if want W4; then
	base=${R[W2,redis,rps]:-${R[W2,parley,rps]}}
	RATE=$(awk -v r="$base" 'BEGIN { printf "%d", r * 0.75 }')
	log "bench: W4 open loop at $RATE requests/s (75% of $([ "$HAVE_REDIS" = 1 ] && echo Redis || echo parley)'s W2)"
	for round in $(seq 1 "$ROUNDS"); do for s in "${SERVERS[@]}" parleybp; do
		gen "$s" -c 50 --rate "$RATE" -d "$D"; o=$OUT; put W4,$s,p99 "$(field p99_us "$o")"; put W4,$s,p999 "$(field p999_us "$o")"
	done; done
fi

want W5 && log "bench: W5 10,000 idle connections plus W2"
for s in parley redis; do
	want W5 || continue
	[ "$s" = redis ] && [ "$HAVE_REDIS" = 0 ] && continue
	eval "pid=\$PID_$s addr=\$ADDR_$s"
	before=$(rss "$pid")
	"${GEN_PIN[@]}" "$BENCH" --connect-only -c 10000 -d "$(awk -v d="$D" 'BEGIN { print d + 6 }')" "$addr" >"$TMP/hold" 2>&1 &
	hold=$!
	for _ in $(seq 1 400); do grep -q holding "$TMP/hold" && break; sleep 0.05; done
	sleep 0.5
	after=$(rss "$pid")
	gen "$s" -c 50 -P 1 -d "$D"; o=$OUT; put W5,$s,rps "$(field rps "$o")"
	put W5,$s,bytes "$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.0f", (a - b) * 1024 / 10000 }')"
	kill "$hold" 2>/dev/null
	wait "$hold" 2>/dev/null
done

want W6 && log "bench: W6 echo of 64 KiB messages, 4 connections"
for round in $(seq 1 "$ROUNDS"); do for s in parleyecho floorecho; do
	want W6 || continue
	gen "$s" -c 4 -P 1 --size 65536 --expect-echo -d "$D"; o=$OUT
	put W6,$s,mbs "$(awk -v r="$(field rps "$o")" 'BEGIN { printf "%.1f", r * 65536 / 1e6 }')"
done; done

want W7 && log "bench: W7 churn"
for round in $(seq 1 "$ROUNDS"); do for s in "${SERVERS[@]}"; do
	want W7 || continue
	gen "$s" --churn --reset -c 50 -d "$D"; o=$OUT; put W7,$s,cps "$(field connections_per_s "$o")"; put W7,$s,cpu "$CPU_US"
done; done
settle

GENCHECK=""
if [ "$HAVE_REDIS" = 1 ] && command -v redis-benchmark >/dev/null && want W2; then
	port=${ADDR_redis##*:}
	rb=$(timeout 60 "${GEN_PIN[@]}" redis-benchmark -p "$port" -t ping_inline -c 50 -P 1 -n 200000 -q 2>/dev/null |
		grep -o '[0-9.]* requests per second' | head -1 | cut -d' ' -f1)
	GENCHECK=$(awk -v rb="$rb" -v pb="${R[W2,redis,rps]}" 'BEGIN {
		v = (pb < 0.9 * rb) ? "the generator is the bottleneck" : "the generator keeps up";
		printf "generator check: redis-benchmark %.0f req/s, parley-bench %.0f req/s against the same Redis (W2): %s", rb, pb, v }')
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
num() { [ -n "${1:-}" ] && printf '%s' "$1" || printf -- '-'; }

if [ "$JSON" = 1 ]; then
	printf '{"duration_s":%s,"rate_w4":%s' "$D" "${RATE:-null}"
	for k in "${!R[@]}"; do printf ',"%s":%s' "${k//,/_}" "${R[$k]:-null}"; done
	printf ',"generator_check":"%s"}\n' "$GENCHECK"
	exit 0
fi

printf '\n%-4s %-22s %12s %12s %12s %10s %10s\n' "" figure parley redis floor "p/redis" "p/floor"
row() { # W FIGURE KEY [PARLEY_SERVER]
	local p=${R[$1,${4:-parley},$3]:-${R[$1,parleyecho,$3]:-}} r=${R[$1,redis,$3]:-} f=${R[$1,floor,$3]:-${R[$1,floorecho,$3]:-}}
	printf '%-4s %-22s %12s %12s %12s %10s %10s\n' "$1" "$2" "$(num "$p")" "$(num "$r")" "$(num "$f")" "$(ratio "$p" "$r")" "$(ratio "$p" "$f")"
}
row W1 "requests/s" rps
row W1 "p50 us" p50
row W1 "p99 us" p99
row W1 "server CPU us/req" cpu
row W1 "  busy-poll: req/s" rps parleybp
row W1 "  busy-poll: p99 us" p99 parleybp
row W1 "  busy-poll: CPU us/req" cpu parleybp
row W2 "requests/s" rps
row W2 "p99 us" p99
row W2 "server CPU us/req" cpu
row W3 "requests/s" rps
row W3 "server CPU us/req" cpu
row W4 "p99 us (open loop)" p99
row W4 "p99.9 us (open loop)" p999
row W4 "  busy-poll: p99 us" p99 parleybp
row W5 "bytes/idle conn" bytes
row W5 "requests/s (W2)" rps
row W6 "MB/s (64 KiB echo)" mbs
row W7 "connections/s" cps
row W7 "server CPU us/conn" cpu
echo
[ -n "$RATE" ] && echo "W4 rate: $RATE requests/s."
echo "Ratios are parley divided by the other; for latency,"
echo "CPU and bytes lower is better, for the rest higher is better."
echo "busy-poll: parley-server --busy-poll $BUSY_US (not the default)."
[ -n "$GENCHECK" ] && echo "$GENCHECK"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, kernel $(uname -r)"
