#!/usr/bin/env bash
# Runs every test, each in its own process under a hard timeout, and ends
# with "N passed, N failed".  BUILD picks the build (build or build-asan);
# a pattern argument runs only the tests whose name contains it; ONLY, a
# regex, runs only the tests whose name matches it (make tsan); SKIP, a
# regex, names tests to leave out (reported as skipped), and a test that
# exits 77 skipped itself because an optional tool is missing.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
only=${1:-}
limit=${TEST_TIMEOUT:-60}
pass=0 fail=0 skipped=0
failed=()
log=$(mktemp)
# the TLS tests' certificates, made once per run by the first that needs them
PARLEY_TLS_CERTS=$(mktemp -d)
export PARLEY_TLS_CERTS
trap 'rm -f "$log"; rm -rf "$PARLEY_TLS_CERTS"' EXIT

run_case() {
	local name=$1
	shift
	case "$name" in *"$only"*) ;; *) return ;; esac
	if [ -n "${ONLY:-}" ] && ! [[ "$name" =~ $ONLY ]]; then return; fi
	if [ -n "${SKIP:-}" ] && [[ "$name" =~ $SKIP ]]; then
		skipped=$((skipped + 1))
		printf 'skip  %s\n' "$name"
		return
	fi
	if timeout -k 5 "$limit" "$@" >"$log" 2>&1; then
		pass=$((pass + 1))
		printf 'ok    %s\n' "$name"
	else
		local rc=$?
		if [ "$rc" = 77 ]; then # an optional tool is missing (lib.sh: skip)
			skipped=$((skipped + 1))
			printf 'skip  %s (%s)\n' "$name" "$(tail -n 1 "$log")"
			return
		fi
		fail=$((fail + 1))
		failed+=("$name")
		printf 'FAIL  %s (exit %d%s)\n' "$name" "$rc" "$([ $rc = 124 ] && echo ', timed out')"
		tail -n 30 "$log" | sed 's/^/      /'
	fi
}

for u in "$BUILD"/tests/unit_*; do
	[ -x "$u" ] || continue
	for t in $("$u" --list); do
		run_case "$(basename "$u") $t" "$u" "$t"
	done
done
for f in tests/test_*.sh; do
	for t in $(grep -o '^test_[a-z0-9_]*' "$f"); do
		run_case "$(basename "$f" .sh) $t" bash tests/lib.sh "$f" "$t"
	done
done

if [ "$fail" -gt 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failed[@]}"
fi
if [ "$skipped" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skipped skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
