#!/usr/bin/env bash
# bench/udp.sh - U1..U4: parley-server over UDP against bench/udpfloor (one
# blocking recvfrom and one sendto per datagram), in one run, on this
# machine; prints the figures and their ratios.  Servers run on CPU 0, the
# generator on CPU 1 when there are two CPUs.
#   bash bench/udp.sh [--duration SECONDS] [--rounds N] [--bulk SIZE]
# U1 and U2 run ROUNDS times (default 3), the two servers taking turns in
# each round; their figures are the medians of the rounds.
#   U1  50 peers, 1 in flight each: datagrams/s, parley / floor (target >= 2)
#   U2  open loop at 75% of U1's parley rate: loss (target <= 0.1%), p99
#   U3  a flood past capacity: server CPU each second, RSS, drops counted,
#       and whether a probe is still answered during it
#   U4  SIZE (default 1G) of 1400-byte datagrams client -> server, with
#       UDP_SEGMENT (GSO) and without (sendmmsg): MB/s sent
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
BUILD=${BUILD:-build}
D=3
ROUNDS=3
BULK=1G
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) D=$2; shift ;;
	--bulk) BULK=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	*) echo "usage: bench/udp.sh [--duration SECONDS] [--rounds N] [--bulk SIZE]" >&2; exit 2 ;;
	esac
	shift
done
BENCH=$BUILD/parley-bench
[ -x "$BUILD/bench/udpfloor" ] || make -s "$BUILD/bench/udpfloor"
TMP=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
pin_cpus
HZ=$(getconf CLK_TCK)

# echo servers and numbered requests (--expect-echo, 16 bytes): each reply
# finds its own request, so a loss is counted as such (parley-bench(1))
start parley "$BUILD/parley-server" -q --echo udp:127.0.0.1:0
start floor "$BUILD/bench/udpfloor" --echo 0
# U4's receiver answers each datagram with "world": the bulk goes one way
start bulk "$BUILD/parley-server" -q udp:127.0.0.1:0

# udp SERVER ARGS...: parley-bench --json against SERVER; its JSON in OUT,
# the server's and the generator's CPU microseconds per request in CPU_US
# and GEN_US (which of the two CPUs runs out first).
udp() {
	local name=$1 pid addr t0 t1 n TIMEFORMAT='%U %S'
	shift
	eval "pid=\$PID_$name addr=\$ADDR_$name"
	t0=$(ticks "$pid")
	{ time "${GEN_PIN[@]}" "$BENCH" -q --json --size 16 --expect-echo "$@" "$addr" >"$TMP/out"; } 2>"$TMP/gen.time"
	OUT=$(cat "$TMP/out")
	t1=$(ticks "$pid")
	n=$(field requests "$OUT")
	CPU_US=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.2f", (n > 0 ? d * 1e6 / hz / n : 0) }')
	GEN_US=$(awk -v n="$n" '{ printf "%.2f", (n > 0 ? ($1 + $2) * 1e6 / n : 0) }' "$TMP/gen.time")
}
pct() { awk -v l="$1" 'BEGIN { printf "%.3f%%", l * 100 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

echo "U1: 50 peers, 1 in flight, ${D}s each, $ROUNDS rounds"
declare -A R V
for round in $(seq 1 "$ROUNDS"); do for s in parley floor; do
	udp "$s" -c 50 -P 1 -d "$D" -t 1
	put U1,$s,rps "$(field rps "$OUT")"; put U1,$s,p99 "$(field p99_us "$OUT")"
	put U1,$s,cpu "$CPU_US"; put U1,$s,gen "$GEN_US"; put U1,$s,loss "$(field loss "$OUT")"
done; done
settle

RATE=$(awk -v r="${R[U1,parley,rps]}" 'BEGIN { printf "%d", r * 0.75 }')
echo "U2: open loop at $RATE datagrams/s (75% of parley's U1), ${D}s each, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do for s in parley floor; do
	udp "$s" -c 50 --rate "$RATE" -d "$D" -t 1
	put U2,$s,loss "$(field loss "$OUT")"; put U2,$s,p99 "$(field p99_us "$OUT")"
	put U2,$s,p999 "$(field p999_us "$OUT")"
done; done
settle

# U3: a server of its own with -v, so its drop counters come out at the end
FLOOD=$(awk -v r="${R[U1,parley,rps]}" 'BEGIN { printf "%d", r * 4 }')
echo "U3: flood at $FLOOD datagrams/s (4x parley's U1) for $((2 * D))s"
start flood "$BUILD/parley-server" -q -v --echo udp:127.0.0.1:0
rss0=$(rss "$PID_flood")
"${GEN_PIN[@]}" "$BENCH" -q --json --size 16 --expect-echo -c 50 --rate "$FLOOD" -d $((2 * D)) -t 1 "$ADDR_flood" >"$TMP/flood.json" &
gen=$!
cpu_samples=() rss_max=$rss0 probe=no
for ((i = 0; i < 2 * D; i++)); do
	t0=$(ticks "$PID_flood")
	sleep 1
	t1=$(ticks "$PID_flood")
	cpu_samples+=("$(awk -v d=$((t1 - t0)) -v hz="$HZ" 'BEGIN { printf "%d%%", d * 100 / hz }')")
	r=$(rss "$PID_flood")
	[ "$r" -gt "$rss_max" ] && rss_max=$r
	[ $i = 1 ] && "$BUILD/parley-client" -t 0.2 --retries 20 "$ADDR_flood" probe >/dev/null 2>&1 && probe=yes
done
wait "$gen"
kill -TERM "$PID_flood"
wait "$PID_flood" 2>/dev/null
stats=$(grep '^stats:' "$TMP/flood.err")
flood_loss=$(field loss "$(cat "$TMP/flood.json")")
flood_rps=$(field rps "$(cat "$TMP/flood.json")")

echo "U4: $BULK of 1400-byte datagrams to parley, with GSO and without"
for g in gso nogso; do
	extra=()
	[ $g = nogso ] && extra=(--no-gso)
	o=$("${GEN_PIN[@]}" "$BENCH" --json --bulk "$BULK" "${extra[@]}" "$ADDR_bulk")
	R[U4,$g,mbs]=$(field mb_per_s "$o") R[U4,$g,on]=$(field gso "$o") R[U4,$g,loss]=$(field loss "$o")
done

echo
printf '%-4s %-28s %14s %14s %8s\n' "" figure parley floor ratio
row() { printf '%-4s %-28s %14s %14s %8s\n' "$1" "$2" "$3" "$4" "$5"; }
row U1 "datagrams/s" "${R[U1,parley,rps]}" "${R[U1,floor,rps]}" "$(ratio "${R[U1,parley,rps]}" "${R[U1,floor,rps]}")"
row U1 "p99 us" "${R[U1,parley,p99]}" "${R[U1,floor,p99]}" "$(ratio "${R[U1,parley,p99]}" "${R[U1,floor,p99]}")"
row U1 "server CPU us/datagram" "${R[U1,parley,cpu]}" "${R[U1,floor,cpu]}" "$(ratio "${R[U1,parley,cpu]}" "${R[U1,floor,cpu]}")"
row U1 "generator CPU us/datagram" "${R[U1,parley,gen]}" "${R[U1,floor,gen]}" "$(ratio "${R[U1,parley,gen]}" "${R[U1,floor,gen]}")"
row U1 "loss" "$(pct "${R[U1,parley,loss]}")" "$(pct "${R[U1,floor,loss]}")" ""
row U2 "loss (open loop)" "$(pct "${R[U2,parley,loss]}")" "$(pct "${R[U2,floor,loss]}")" ""
row U2 "p99 us (open loop)" "${R[U2,parley,p99]}" "${R[U2,floor,p99]}" "$(ratio "${R[U2,parley,p99]}" "${R[U2,floor,p99]}")"
row U2 "p99.9 us (open loop)" "${R[U2,parley,p999]}" "${R[U2,floor,p999]}" "$(ratio "${R[U2,parley,p999]}" "${R[U2,floor,p999]}")"
echo
echo "U2 rate: $RATE datagrams/s."
echo "U3 flood: $flood_rps answered/s, loss $(pct "$flood_loss"); server CPU each second: ${cpu_samples[*]};"
echo "   RSS ${rss0} KiB before, ${rss_max} KiB at most; a probe during it answered: $probe"
echo "   ${stats}"
echo "U4 bulk: GSO $(awk -v m="${R[U4,gso,mbs]}" 'BEGIN { printf "%.0f", m }') MB/s (gso=${R[U4,gso,on]}), sendmmsg $(awk -v m="${R[U4,nogso,mbs]}" 'BEGIN { printf "%.0f", m }') MB/s: ratio $(ratio "${R[U4,gso,mbs]}" "${R[U4,nogso,mbs]}"); replies lost $(pct "${R[U4,gso,loss]}") and $(pct "${R[U4,nogso,loss]}")"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, kernel $(uname -r)"
