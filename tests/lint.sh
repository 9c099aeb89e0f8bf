#!/usr/bin/env bash
# tests/lint.sh - make lint: cppcheck and clang-tidy (config: .clang-tidy) over
# src/; any finding fails.  A missing tool is reported in one line and skipped.
set -u
cd "$(dirname "$0")/.."
rc=0 pass=0 fail=0
if command -v cppcheck >/dev/null; then
	cppcheck -q --std=c11 --enable=warning,performance,portability --error-exitcode=1 \
		--inline-suppr -D_GNU_SOURCE -Iinclude src/ || rc=1
	echo "cppcheck: $([ $rc = 0 ] && echo clean || echo findings)"
	[ $rc = 0 ] && pass=$((pass + 1)) || fail=$((fail + 1))
else
	echo "lint: cppcheck not installed (apt-get install cppcheck); skipped"
fi
if command -v clang-tidy >/dev/null; then
	t=0
	for f in src/lib/*.c src/*.c; do
		clang-tidy -quiet "$f" -- -std=c11 -D_GNU_SOURCE -Iinclude 2>/dev/null || t=1
	done
	echo "clang-tidy: $([ $t = 0 ] && echo clean || echo findings)"
	[ $t = 0 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); rc=1; }
else
	echo "lint: clang-tidy not installed (apt-get install clang-tidy); skipped"
fi
echo "$pass passed, $fail failed"
exit $rc
