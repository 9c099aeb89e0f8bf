#!/usr/bin/env bash
# Test harness: bash tests/lib.sh FILE TEST runs one test function from FILE
# in a fresh temporary directory and kills whatever it started on exit.
set -u
BUILD=${BUILD:-build}
TOP=$PWD
SERVER=$PWD/$BUILD/parley-server
CLIENT=$PWD/$BUILD/parley-client
RAWPEER=$PWD/$BUILD/tests/rawpeer
T=$(mktemp -d)
PIDS=()
SRV_PID=
SRV_N=0
WRAP=()      # a launcher start_server puts before the server (prlimit, env)

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	for f in "$T"/out* "$T"/err*; do
		[ -f "$f" ] && { echo "--- $(basename "$f")"; tail -n 20 "$f"; }
	done
	exit 1
}

# skip WHY: an optional tool (socat, nc, valgrind, pkg-config) is missing;
# reported as skipped with WHY, never as passed.
skip() {
	echo "$*"
	exit 77
}

# need TOOL PACKAGE: skips the test unless TOOL is installed.
need() {
	command -v "$1" >/dev/null || skip "$1 is not installed (apt-get install $2)"
}

# expect_eq ACTUAL EXPECTED [WHAT]
expect_eq() {
	[ "$1" == "$2" ] || fail "${3:-value}: got [$1], expected [$2]"
}

# expect_match TEXT REGEX [WHAT]
expect_match() {
	[[ "$1" =~ $2 ]] || fail "${3:-text}: [$1] does not match /$2/"
}

# start_server [--n N] ARGS...: starts parley-server, waits for its N
# "listening on" lines (an event, not a sleep), sets SRV_PID, ADDR (first
# address), PORT, ADDRS.  stdout goes to $T/out, stderr to $T/err.
start_server() {
	local n=1
	if [ "${1:-}" = --n ]; then n=$2; shift 2; fi
	SRV_N=$((SRV_N + 1))
	local fifo=$T/errfifo$SRV_N
	mkfifo "$fifo"
	"${WRAP[@]}" "$SERVER" "$@" >"$T/out" 2>"$fifo" &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	exec {SRV_FD}<"$fifo"
	ADDRS=()
	: >"$T/err"
	local line
	while [ ${#ADDRS[@]} -lt "$n" ]; do
		IFS= read -r -t 10 -u "$SRV_FD" line || fail "server did not start: $(cat "$T/err")"
		echo "$line" >>"$T/err"
		[[ "$line" == "listening on "* ]] && ADDRS+=("${line#listening on }")
	done
	ADDR=${ADDRS[0]}
	PORT=${ADDR##*:}
	cat <&"$SRV_FD" >>"$T/err" &
	SRV_CAT=$!
	exec {SRV_FD}<&-
}

# stop_server [SIGNAL]: signals the server, waits, sets SRV_RC.
stop_server() {
	kill -"${1:-TERM}" "$SRV_PID" 2>/dev/null
	wait "$SRV_PID"
	SRV_RC=$?
	wait "$SRV_CAT" 2>/dev/null
}

# Waits (bounded) for the server process to exit by itself.
wait_server() {
	wait "$SRV_PID"
	SRV_RC=$?
	wait "$SRV_CAT" 2>/dev/null
}

client() { "$CLIENT" "$@"; }
rawpeer() { "$RAWPEER" "$@"; }

# CPU time of a process in clock ticks (user + system).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Resident memory of a process in KiB.
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# Open descriptors of a process.
fd_count() { ls "/proc/$1/fd" | wc -l; }

# survived [RSS_KIB]: "survive" checked, not assumed.  After whatever a test
# did, the server answers a fresh client, uses at most 2 clock ticks in 0.5 s
# while waiting (4% of a CPU; a busy loop takes 50), and its RSS is under
# RSS_KIB (default 64 MiB, room for ASan's shadow memory).
survived() {
	local max=${1:-65536}
	expect_match "$(rawpeer "$ADDR" m:fresh r:1)" "^reply: (world|fresh)$" "a fresh client"
	idle_and_bounded "$max"
}

# idle_and_bounded RSS_KIB: the server waits without spinning (at most 2
# clock ticks in 0.5 s) and its RSS is under RSS_KIB; skipped under
# valgrind, which makes CPU time and RSS meaningless.
idle_and_bounded() {
	local max=$1 c0 c1 rss
	[ -n "${UNDER_VALGRIND:-}" ] && return
	c0=$(cpu_ticks "$SRV_PID")
	sleep 0.5
	c1=$(cpu_ticks "$SRV_PID")
	[ $((c1 - c0)) -le 2 ] || fail "server used $((c1 - c0)) ticks in 0.5 s while waiting"
	rss=$(rss_kib "$SRV_PID")
	[ "$rss" -lt "$max" ] || fail "server RSS $rss KiB, over the bound of $max KiB"
}

# counted REASON N: after stop_server, the -v stats line counted N closes
# for REASON (e.g. counted idle 1).
counted() {
	local line
	line=$(grep '^stats: ' "$T/err")
	expect_match "$line" " $1=$2( |$)" "closes counted as $1"
}

# True in the ASan+UBSan build, whose allocator keeps freed memory quarantined.
asan_build() { [[ "$BUILD" == *asan* ]]; }

# first_line FILE: waits (up to 10 s) for the first line a background process
# writes to FILE and prints it.  tail -f wakes on the write; --pid ends it.
# A loaded machine may run us before the background shell has created FILE
# (its redirection), so first wait for it to exist.
first_line() {
	local line i
	for ((i = 0; i < 200; i++)); do [ -e "$1" ] && break; sleep 0.05; done
	IFS= read -r -t 10 line < <(exec tail -n +1 -f --pid=$$ "$1") || fail "nothing written to $1"
	printf '%s\n' "$line"
}

# start_peer CMD...: runs rawpeer -l 127.0.0.1:0 CMD... in the background
# (output in $T/peer) and sets PEER to the address it listens on.
start_peer() {
	"$RAWPEER" -l 127.0.0.1:0 "$@" >"$T/peer" &
	PIDS+=($!)
	local line
	line=$(first_line "$T/peer")
	PEER=${line#listening on }
	[ -n "$PEER" ] || fail "peer did not start"
}

file=$1
shift
cd "$T" || exit 1
source "$OLDPWD/$file"
"$@"
