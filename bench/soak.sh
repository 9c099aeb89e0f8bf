#!/usr/bin/env bash
# bench/soak.sh [SECONDS] - mixed load against one parley-server for SECONDS
# (default 600; or SOAK_SECONDS), then checks that nothing leaked:
#   - the well-behaved clients (pipelined parley-bench, and rawpeer batches)
#     got every reply, right, in order;
#   - server RSS at the end is within 5% of its RSS after the first minute
#     (after the first tenth of the run when that is shorter), each taken as
#     the lowest sample of a 30 s window (see below);
#   - the server holds as many descriptors after the load as before it.
# Alongside them: connection churn, slow readers, clients that never read,
# oversized headers, garbage, and resets.  Prints a one-line summary, exits 0
# when every check holds, 1 otherwise.  Not part of CI (docs/RELIABILITY.md
# has a recorded run).
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
BUILD=${BUILD:-build}
D=${1:-${SOAK_SECONDS:-600}}
B=$PWD/$BUILD
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
[ -x "$B/parley-server" ] && [ -x "$B/tests/rawpeer" ] || { echo "soak: run make first" >&2; exit 1; }
# private copies: a rebuild during the run must not swap binaries under it
mkdir -p "$W/bin/tests"
cp "$B/parley-server" "$B/parley-client" "$B/parley-bench" "$W/bin/"
cp "$B/tests/rawpeer" "$W/bin/tests/"
B=$W/bin

fds() { ls "/proc/$SRV/fd" | wc -l; }
now() { date +%s; }

# the server logs opens and closes with -v: keep only what the checks read
"$B/parley-server" -q -v --idle-timeout 5 --send-timeout 3 --max-msg 1M 127.0.0.1:0 \
	2> >(grep --line-buffered -Ev '^(open|close) ' >"$W/err") &
SRV=$!
A=$(listening_addr "$W/err")
[ -n "$A" ] || { echo "soak: server did not start" >&2; exit 1; }
fd0=$(fds)
end=$(($(now) + D))
first=$((D >= 600 ? 60 : D / 10))
[ "$first" -lt 5 ] && first=5

# until CMD...: runs CMD over and over until the deadline
until_end() { while [ "$(now)" -lt "$end" ]; do "$@"; done; }
peer() { "$B/tests/rawpeer" -t 10000 "$A" "$@" >/dev/null 2>&1; }
steady_batches() {
	local out
	out=$("$B/tests/rawpeer" -t 10000 "$A" M:1000:hello rc:1000:world 2>&1)
	if [ "$out" = "rc ok 1000" ]; then echo ok; else echo "bad: $out"; fi >>"$W/batches"
}

"$B/parley-bench" -c 8 -P 8 -d "$D" --expect world --json "$A" >"$W/steady.json" 2>"$W/steady.err" &
STEADY=$!
"$B/parley-bench" -c 2 --churn -d "$D" --expect world --json "$A" >"$W/churn.json" 2>"$W/churn.err" &
CHURN=$!
until_end steady_batches &
until_end peer M:2000:slow rslow:50:20 &                         # slow readers
until_end peer flood:2:8000:1 &                                  # never read (stalled)
until_end peer h:100000000 eof &                                 # oversized
until_end peer junk:100000 eof &                                 # garbage
until_end peer big:1000000 sleep:5 rst &                         # resets
until_end peer 'w:\x10\x00\x00\x00abc' sleep:20 rst &            # reset mid-request

# RSS every 2 s.  Buffers in flight (a 1 MB message being assembled, a
# never-reader's queued replies) come and go, so each window is judged by its
# lowest sample: what the server keeps when those are gone.  A leak raises it.
win=$((first < 30 ? first : 30))
: >"$W/rss"
fd_peak=0 t0=$(now)
while [ "$(now)" -lt "$end" ]; do
	sleep 2
	kill -0 "$SRV" 2>/dev/null || break
	echo "$(($(now) - t0)) $(rss "$SRV")" >>"$W/rss"
	f=$(fds)
	[ "$f" -gt "$fd_peak" ] && fd_peak=$f
done
low() { awk -v a="$1" -v b="$2" '$1 >= a && $1 < b { if (m == "" || $2 < m) m = $2 } END { print m }' "$W/rss"; }
rss_first=$(low "$first" $((first + win)))
rss_last=$(low $((D - win)) $((D + 1)))
rss_peak=$(awk '$2 > m { m = $2 } END { print m }' "$W/rss")
wait "$STEADY"; steady_rc=$?
wait "$CHURN"; churn_rc=$?
sleep 4 # the loops finish their last round; send and idle timeouts reap the rest
alive=1
kill -0 "$SRV" 2>/dev/null || alive=0
fd1=$( [ $alive = 1 ] && fds || echo dead)
fresh=$("$B/parley-client" "$A" 2>&1)
kill -TERM "$SRV"
wait "$SRV"
srv_rc=$?
sleep 0.2

steady=$(cat "$W/steady.json") churn=$(cat "$W/churn.json")
reqs=$(field requests "$steady")
wrong=$(($(field wrong "$steady") + $(field wrong "$churn")))
missing=$(($(field missing "$steady") + $(field missing "$churn")))
batches=$(grep -c . "$W/batches")
bad_batches=$(grep -vc '^ok$' "$W/batches")
stats=$(grep '^stats: ' "$W/err" | sed 's/^stats: //')
growth=$(awk -v a="${rss_first:-0}" -v b="${rss_last:-0}" 'BEGIN { printf "%+.1f", a ? (b - a) * 100 / a : 0 }')

verdict=PASS
problems=()
[ "$alive" = 1 ] && [ "$srv_rc" = 0 ] || problems+=("server died or exit $srv_rc")
[ "$steady_rc" = 0 ] && [ "$churn_rc" = 0 ] || problems+=("bench exit $steady_rc/$churn_rc: $(cat "$W/steady.err" "$W/churn.err" | tail -2)")
[ "$wrong" = 0 ] && [ "$missing" = 0 ] && [ "$bad_batches" = 0 ] ||
	problems+=("wrong=$wrong missing=$missing bad batches=$bad_batches, first: $(grep -vm1 '^ok$' "$W/batches")")
[ "$fresh" = "server says: world" ] || problems+=("fresh client: $fresh")
[ "$fd1" = "$fd0" ] || problems+=("descriptors $fd0 before, $fd1 after")
awk -v g="$growth" 'BEGIN { exit !(g <= 5 && g >= -5) }' || problems+=("RSS moved ${growth}%")
[ ${#problems[@]} -gt 0 ] && verdict="FAIL (${problems[*]})"

echo "soak: ${D} s, ${reqs} pipelined requests + ${batches} batches of 1000 (wrong ${wrong}, missing ${missing}, bad batches ${bad_batches}), RSS ${rss_first} KiB at ${first} s -> ${rss_last} KiB at end (${growth}%, peak ${rss_peak}), fds ${fd0} before / ${fd1} after (peak ${fd_peak}), ${stats}: ${verdict}"
[ "$verdict" = PASS ]
