#!/usr/bin/env bash
# bench/ab.sh - before/after of one change: two parley-server binaries, the
# same workload, alternated ROUNDS times (A B A B ...) so drift on this noisy
# machine hits both alike; prints the median of each and the ratio B/A.
#   bash bench/ab.sh A_SERVER B_SERVER [ROUNDS] -- SERVER_ARGS -- BENCH_ARGS
# e.g. bash bench/ab.sh /tmp/base/build/parley-server build/parley-server 5 \
#          -- -q -- -c 50 -P 1 -d 2
# Servers on CPU 0, the generator (build/parley-bench) on CPU 1.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
A=$1 B=$2
shift 2
ROUNDS=5
if [ "$1" != -- ]; then ROUNDS=$1; shift; fi
[ "$1" = -- ] || { echo "usage: bench/ab.sh A B [ROUNDS] -- SERVER_ARGS -- BENCH_ARGS" >&2; exit 2; }
shift
SARGS=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do SARGS+=("$1"); shift; done
shift
BENCH=${BUILD:-build}/parley-bench
TMP=$(mktemp -d)
trap 'kill $PA $PB 2>/dev/null; rm -rf "$TMP"' EXIT

start() { # BIN NAME -> pid in $!, address in $TMP/NAME.addr
	taskset -c 0 "$1" "${SARGS[@]}" 127.0.0.1:0 >/dev/null 2>"$TMP/$2.err" &
	listening_addr "$TMP/$2.err" >"$TMP/$2.addr"
}
start "$A" a; PA=$!
start "$B" b; PB=$!
HZ=$(getconf CLK_TCK)

run() { # NAME PID: one round; appends "rps cpu_us p99" to $TMP/NAME.res
	local t0 t1 out n
	t0=$(ticks "$2")
	out=$(taskset -c 1 "$BENCH" -q --json "${BARGS[@]}" "$(cat "$TMP/$1.addr")")
	t1=$(ticks "$2")
	n=$(field requests "$out")
	grep -q '"mode":"churn"' <<<"$out" && n=$(awk -v r="$(field connections_per_s "$out")" -v s="$(field seconds "$out")" 'BEGIN{print int(r*s)}')
	echo "$(field rps "$out") $(field connections_per_s "$out") $(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.2f", n ? d * 1e6 / hz / n : 0 }') $(field p99_us "$out")" >>"$TMP/$1.res"
}
BARGS=("$@")
for _ in $(seq 1 "$ROUNDS"); do
	run a "$PA" >/dev/null 2>&1 || true
	run b "$PB" >/dev/null 2>&1 || true
done
med() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$TMP/$1.res" | med; }
printf '%-6s %14s %12s %12s %10s\n' "" "requests/s" "conns/s" "CPU us/op" "p99 us"
for x in a b; do
	printf '%-6s %14s %12s %12s %10s\n' "$([ $x = a ] && echo A || echo B)" "$(col $x 1)" "$(col $x 2)" "$(col $x 3)" "$(col $x 4)"
done
awk -v a="$(col a 1)" -v b="$(col b 1)" -v ca="$(col a 3)" -v cb="$(col b 3)" -v pa="$(col a 4)" -v pb="$(col b 4)" \
	-v na="$(col a 2)" -v nb="$(col b 2)" 'BEGIN {
	printf "B/A    %14s %12s %12s %10s\n", a ? sprintf("%.3f", b / a) : "-", na ? sprintf("%.3f", nb / na) : "-",
		ca ? sprintf("%.3f", cb / ca) : "-", pa ? sprintf("%.3f", pb / pa) : "-" }'
echo "($ROUNDS rounds each, alternating, medians; server args: ${SARGS[*]}; bench args: ${BARGS[*]})"
