#!/usr/bin/env bash
# tests/valgrind.sh - the integration tests with parley-server and
# parley-client running under valgrind memcheck (make valgrind), and the
# connection layer's unit tests.  A valgrind
# error or a definite leak makes the program exit 99, so the test fails.
# Tests that time the server (CPU ticks, drain deadlines) are left out: valgrind
# slows it 20-50x.  Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind); skipped"; echo "0 passed, 0 failed"; exit 0; }
make -s all || exit 1
vg=build-valgrind
rm -rf "$vg"
mkdir -p "$vg/tests" "$vg/examples"
# the examples too: they are the library's other users (test_examples.sh)
for p in parley-server parley-client $(cd build && ls examples/*); do
	cat >"$vg/$p" <<W
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite "$PWD/build/$p" "\$@"
W
	chmod +x "$vg/$p"
done
ln -s "$PWD/build/parley-bench" "$vg/parley-bench"
for f in build/tests/*; do ln -s "$PWD/$f" "$vg/tests/"; done
rm -f "$vg"/tests/unit_* # unit tests run natively in make test / make asan,
# but the connection layer's run here too: closing from every callback is
# where a use after free or a leak would hide
for u in unit_conn unit_client unit_tls; do
	cat >"$vg/tests/$u" <<W
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite "$PWD/build/tests/$u" "\$@"
W
	chmod +x "$vg/tests/$u"
done
# left out: timing (CPU ticks, deadlines), RSS bounds (valgrind's own memory
# counts), LD_PRELOAD fault shims (valgrind has its own preloads), and
# bulk/bench/storm runs that would take minutes under valgrind, and
# pkgconfig_follows_prefix, which installs twice and runs no program.  The
# survived checks keep only their fresh-client part (UNDER_VALGRIND).
SKIP='rel_01|rel_03|rel_04|rel_07|rel_12|rel_16_never|rel_25|drain_timeout|idle_timeout|connect_timeout|reply_timeout|backpressure_bounds_memory|test_bench|64mib|stream_idle|pkgconfig_follows_prefix' \
	UNDER_VALGRIND=1 TEST_TIMEOUT=180 BUILD=$vg bash tests/run.sh "${1:-test_}"
