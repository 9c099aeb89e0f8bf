#!/usr/bin/env bash
# bench/latency.sh - open-loop p99 of parley-server and Redis at several
# rates, with how busy the generator itself was: W4's question ("whose tail
# is it?") asked at more than one rate.
#   bash bench/latency.sh [ROUNDS] RATE...     e.g. bash bench/latency.sh 3 40000 80000 118000
# Servers on CPU 0, parley-bench on CPU 1, 50 connections, 3 s per run;
# servers alternate within each round; medians.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
BUILD=${BUILD:-build}
ROUNDS=3
if [ $# -gt 1 ] && [ "$1" -lt 1000 ] 2>/dev/null; then ROUNDS=$1; shift; fi
[ $# -ge 1 ] || { echo "usage: bench/latency.sh [ROUNDS] RATE..." >&2; exit 2; }
command -v redis-server >/dev/null || { echo "bench/latency.sh: redis-server not installed; skipped"; exit 0; }
TMP=$(mktemp -d)
trap 'kill $PP $PR 2>/dev/null; rm -rf "$TMP"' EXIT
HZ=$(getconf CLK_TCK)

taskset -c 0 "$BUILD/parley-server" -q 127.0.0.1:0 2>"$TMP/p.err" &
PP=$!
AP=$(listening_addr "$TMP/p.err")
port=$("$BUILD/tests/rawpeer" -t 1 -B 127.0.0.1:0 | sed -n 's/.*://p')
taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
PR=$!
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
AR=127.0.0.1:$port
REDIS=(--proto raw --request 'PING\r\n' --reply-size 7 --expect '+PONG\r\n')

# one SERVER RATE: appends "p99 server_busy% generator_busy%" to $TMP/SERVER.RATE
one() {
	local pid addr extra=() out s0 s1 g
	if [ "$1" = parley ]; then pid=$PP addr=$AP; else pid=$PR addr=$AR extra=("${REDIS[@]}"); fi
	s0=$(ticks "$pid")
	# bash's own time: user and system seconds of the generator
	out=$( { TIMEFORMAT='gen %U %S'; time taskset -c 1 "$BUILD/parley-bench" -q --json "${extra[@]}" \
		-c 50 --rate "$2" -d 3 "$addr"; } 2>"$TMP/time")
	s1=$(ticks "$pid")
	g=$(awk '/^gen / { printf "%.0f", ($2 + $3) / 3 * 100 }' "$TMP/time")
	echo "$(field p99_us "$out") $(awk -v d=$((s1 - s0)) -v hz="$HZ" 'BEGIN { printf "%.0f", d / hz / 3 * 100 }') $g" >>"$TMP/$1.$2"
}
med() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$TMP/$1" | med; }

for _ in $(seq 1 "$ROUNDS"); do
	for r in "$@"; do one parley "$r"; one redis "$r"; done
done
printf '%10s %12s %12s %8s %10s %10s %10s %10s\n' rate "parley p99" "redis p99" "p/redis" \
	"parley cpu" "redis cpu" "gen(p)" "gen(r)"
for r in "$@"; do
	pp=$(col "parley.$r" 1) pr=$(col "redis.$r" 1)
	printf '%10s %12s %12s %8s %9s%% %9s%% %9s%% %9s%%\n' "$r" "$pp" "$pr" \
		"$(awk -v a="$pp" -v b="$pr" 'BEGIN { printf "%.2f", b ? a / b : 0 }')" \
		"$(col "parley.$r" 2)" "$(col "redis.$r" 2)" "$(col "parley.$r" 3)" "$(col "redis.$r" 3)"
done
echo "(p99 in us from each request's scheduled time; cpu: share of one CPU; $ROUNDS rounds, medians)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, kernel $(uname -r)"
