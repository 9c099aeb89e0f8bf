#!/usr/bin/env bash
# bench/scaling.sh [THREADS...] - parley-server --threads N for each N
# (default: 1 2 4 8 16, capped at the CPU count), with the generator
# (parley-bench, 100 connections, 16 in flight) on the same machine, no
# pinning.  Prints requests/s for each N and the speedup over one thread.
# On a machine with few CPUs the generator takes its share of them, so the
# curve flattens early; run it on a bigger machine to see the real curve.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
BUILD=${BUILD:-build}
D=${D:-3}
CPUS=$(nproc)
LIST=("$@")
[ ${#LIST[@]} -eq 0 ] && for t in 1 2 4 8 16; do [ "$t" -le "$CPUS" ] && LIST+=("$t"); done
TMP=$(mktemp -d)
trap 'kill $SRV 2>/dev/null; rm -rf "$TMP"' EXIT

echo "threads  requests/s  speedup   ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $CPUS CPUs; -c 100 -P 16, ${D} s)"
base=
for t in "${LIST[@]}"; do
	"$BUILD/parley-server" -q --threads "$t" 127.0.0.1:0 >/dev/null 2>"$TMP/err" &
	SRV=$!
	addr=$(listening_addr "$TMP/err")
	out=$("$BUILD/parley-bench" -q --json -c 100 -P 16 -d "$D" "$addr")
	kill "$SRV"
	wait "$SRV" 2>/dev/null
	rps=$(field rps "$out")
	[ -z "$base" ] && base=$rps
	printf '%7s  %10.0f  %7.2f\n' "$t" "$rps" "$(awk -v a="$rps" -v b="$base" 'BEGIN { print a / b }')"
done
