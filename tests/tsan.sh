#!/usr/bin/env bash
# tests/tsan.sh - make tsan: the tests that run threads, against the
# ThreadSanitizer build in build-tsan/ (the Makefile builds it first).  They
# are the tests named *thread*, test_server_busy_poll (--threads 2) and
# unit_group's (pl_group); no other unit test starts a thread.  A data race or a lock-order inversion stops the
# program at once with exit 66 (halt_on_error), so its test fails with the
# report in the output.  Ends with "N passed, N failed".
#
# gcc 12's TSan runtime assumes mmap addresses that a kernel with more than 28
# bits of mmap ASLR (vm.mmap_rnd_bits; 32 on some distributions' newer
# kernels) does not keep to, and then every program dies at start with
# "FATAL: ThreadSanitizer: unexpected memory mapping".  A probe finds out; if
# so, the tests run under `setarch -R`: ASLR off for this process tree only,
# inherited by every child, no root needed.  Where that is refused (a
# container's seccomp filter may block personality()), root lowers
# vm.mmap_rnd_bits to 28 for the run and puts it back on exit.  If neither
# works the suite says why and counts as skipped.
set -u
cd "$(dirname "$0")/.."
B=build-tsan
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"

probe() { "$@" "$B/parley-server" --version >/dev/null 2>"$B/probe.err"; }

launch=()
if ! probe; then
	echo "tsan: $(head -n 1 "$B/probe.err")"
	echo "tsan: vm.mmap_rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo '?')"
	if probe setarch "$(uname -m)" -R; then
		echo "tsan: running with ASLR off (setarch -R)"
		launch=(setarch "$(uname -m)" -R)
	elif [ "$(id -u)" = 0 ] && old=$(sysctl -n vm.mmap_rnd_bits 2>/dev/null) &&
		sysctl -qw vm.mmap_rnd_bits=28 2>/dev/null; then
		trap 'sysctl -qw vm.mmap_rnd_bits="$old"' EXIT
		echo "tsan: vm.mmap_rnd_bits lowered from $old to 28 for the run"
		probe || { echo "tsan: still failing: $(head -n 1 "$B/probe.err")"; echo "0 passed, 1 failed"; exit 1; }
	else
		echo "tsan: cannot run here: setarch -R is refused and vm.mmap_rnd_bits needs root" \
			"(sysctl -w vm.mmap_rnd_bits=28); skipped"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	fi
fi
ONLY='thread|test_server_busy_poll|^unit_group ' BUILD=$B "${launch[@]}" bash tests/run.sh
