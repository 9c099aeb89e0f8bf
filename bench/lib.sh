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
