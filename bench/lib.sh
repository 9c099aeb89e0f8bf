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

# pin_cpus: SRV_PIN and GEN_PIN, the prefixes that run servers on CPU 0 and
# the generator on CPU 1 when there are two CPUs (empty otherwise).
pin_cpus() {
	SRV_PIN=() GEN_PIN=()
	if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
		SRV_PIN=(taskset -c 0) GEN_PIN=(taskset -c 1)
	fi
}

# start NAME CMD...: runs a server (on SRV_PIN, stderr in $TMP/NAME.err),
# waits for its "listening on" line, sets ADDR_<NAME>, PID_<NAME> and adds
# the pid to PIDS.
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

# put KEY VALUE: one round's figure (in the caller's associative array V);
# settle turns each key's rounds into their median in R (servers alternate
# within a round, so drift on this shared machine hits them alike)
put() { V[$1]="${V[$1]:-} $2"; }
settle() {
	local k
	for k in "${!V[@]}"; do
		R[$k]=$(tr ' ' '\n' <<<"${V[$k]}" | grep . | sort -g |
			awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	done
}
