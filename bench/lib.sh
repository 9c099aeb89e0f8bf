# bench/lib.sh - helpers the bench scripts share (sourced, not run).

# field KEY JSON: a number from parley-bench --json output.
field() { grep -o "\"$1\":[-0-9.]*" <<<"$2" | head -1 | cut -d: -f2; }
# CPU time of a process in clock ticks (user + system).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Resident memory of a process in KiB.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# listening_addr FILE: waits (up to 5 s) for a server's "listening on" line in
# FILE and prints the first address; prints nothing if none came.
listening_addr() {
	for _ in $(seq 1 100); do
		grep -q '^listening on ' "$1" 2>/dev/null && break
		sleep 0.05
	done
	sed -n 's/^listening on //p' "$1" 2>/dev/null | head -1
}

# ---- options, servers and rounds, for run.sh and tls.sh ----

# options WORKLOADS "$@": [--json] [--duration SECONDS] [--rounds N] [--only
# LIST] into JSON, D (default 3), ROUNDS (default 3) and ONLY; anything else
# is a usage error.  Exits 0 at once when --only names none of WORKLOADS
# ("W1 W2 ..."): make bench hands both scripts the same options.
options() {
	local prog=$0 list=$1 w
	shift
	JSON=0 D=3 ROUNDS=3 ONLY=
	while [ $# -gt 0 ]; do
		case "$1" in
		--json) JSON=1 ;;
		--duration) D=$2; shift ;;
		--only) ONLY=$2; shift ;;
		--rounds) ROUNDS=$2; shift ;;
		*) echo "usage: $prog [--json] [--duration SECONDS] [--rounds N] [--only ${list// /,}]" >&2; exit 2 ;;
		esac
		shift
	done
	for w in $list; do want "$w" && return 0; done
	exit 0
}

# want W: whether workload W runs (all of them unless --only lists some)
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
# The caller sets BUILD, BENCH, TMP, JSON and PIDS=() first, and calls
# pin_cpus; then start/start_redis run servers (killed with PIDS at exit),
# gen drives one, put/settle make medians of rounds.

# log TEXT: progress, on stderr when stdout carries JSON
log() { [ "$JSON" = 1 ] && echo "$*" >&2 || echo "$*"; }

# Servers on CPU 0, the generator on CPU 1, when there are two CPUs.
pin_cpus() {
	SRV_PIN=() GEN_PIN=()
	if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
		SRV_PIN=(taskset -c 0) GEN_PIN=(taskset -c 1)
	fi
	HZ=$(getconf CLK_TCK)
}

# start NAME CMD...: runs a server, waits for its "listening on" line, sets ADDR_<NAME>, PID_<NAME>
start() {
	local name=$1 addr
	shift
	"${SRV_PIN[@]}" "$@" >/dev/null 2>"$TMP/$name.err" &
	local pid=$!
	PIDS+=("$pid")
	addr=$(listening_addr "$TMP/$name.err")
	[ -n "$addr" ] || { echo "bench: $name did not start: $(cat "$TMP/$name.err")" >&2; exit 1; }
	eval "ADDR_$name=\$addr; PID_$name=$pid"
}

# A TCP port nobody listens on now.
free_port() { "$BUILD/tests/rawpeer" -t 1 -B 127.0.0.1:0 | sed -n 's/.*://p'; }

# Redis answers the generator this way (GEN_ARGS[NAME] for each Redis).
REDIS_GEN_ARGS="--proto raw --request PING\r\n --reply-size 7 --expect +PONG\r\n"
declare -A GEN_ARGS

# start_redis NAME ADDR ARGS...: redis-server without persistence, ARGS
# its listener (--port P, or --tls-port P --port 0 and the TLS files);
# ADDR (tls:127.0.0.1:P for TLS) is where the generator finds it, with
# GEN_ARGS[NAME] (REDIS_GEN_ARGS, and --tls-ca for TLS) set first.  Waits
# until it answers a PING.
start_redis() {
	local name=$1 addr=$2
	shift 2
	"${SRV_PIN[@]}" redis-server --bind 127.0.0.1 --save '' --appendonly no \
		--maxclients 20000 --loglevel warning "$@" >"$TMP/$name.err" 2>&1 &
	local pid=$! extra
	PIDS+=("$pid")
	eval "ADDR_$name=\$addr; PID_$name=$pid"
	read -ra extra <<<"${GEN_ARGS[$name]:-}"
	for _ in $(seq 1 100); do
		"$BENCH" -q -c 1 -n 1 -t 1 "${extra[@]}" "$addr" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "bench: redis-server did not start: $(cat "$TMP/$name.err")" >&2
	exit 1
}

# gen SERVER ARGS...: runs parley-bench against SERVER (with GEN_ARGS[SERVER]);
# its JSON lands in OUT, the server's CPU microseconds per request (per
# connection for churn) in CPU_US, and the share of a CPU the generator
# used in GEN_CPU (near 1: the generator, not the server, set the pace).
gen() {
	local name=$1 pid addr t0 t1 out extra req
	shift
	eval "pid=\$PID_$name addr=\$ADDR_$name"
	read -ra extra <<<"${GEN_ARGS[$name]:-}"
	t0=$(ticks "$pid")
	# the subshell's children's CPU time is the generator's
	out=$("${GEN_PIN[@]}" "$BENCH" -q --json "${extra[@]}" "$@" "$addr" 2>"$TMP/gen.err"
		awk '{ print $16 + $17 }' "/proc/$BASHPID/stat" >"$TMP/gen.cpu")
	t1=$(ticks "$pid")
	grep -v 'warning: --insecure' "$TMP/gen.err" >&2 # a run that asked for it is told so
	GEN_CPU=$(awk -v d="$(cat "$TMP/gen.cpu")" -v hz="$HZ" -v s="$(field seconds "$out")" \
		'BEGIN { printf "%.2f", (s > 0 ? d / hz / s : 0) }')
	req=$(field requests "$out")
	grep -q '"mode":"churn"' <<<"$out" && req=$(awk -v r="$(field connections_per_s "$out")" -v s="$(field seconds "$out")" 'BEGIN{print int(r*s)}')
	CPU_US=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="${req:-0}" 'BEGIN { printf "%.2f", (n > 0 ? d * 1e6 / hz / n : 0) }')
	[ "$(field errors "$out")" = 0 ] || log "bench: $name reported errors: $out"
	OUT=$out
}

# put KEY VALUE: one round's figure; settle turns each key's rounds into
# their median in R (servers alternate within a round, so drift on this
# shared machine hits them alike)
declare -A V R
put() { V[$1]="${V[$1]:-} $2"; }
settle() {
	local k
	for k in "${!V[@]}"; do
		R[$k]=$(tr ' ' '\n' <<<"${V[$k]}" | grep . | sort -g |
			awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
num() { [ -n "${1:-}" ] && printf '%s' "$1" || printf -- '-'; }
machine() { echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, kernel $(uname -r)"; }
