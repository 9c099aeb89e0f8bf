#!/usr/bin/env bash
# fuzz/run.sh SECONDS - builds the libFuzzer harnesses with clang (ASan+UBSan)
# and runs each for SECONDS; ends with "N passed, N failed".  Without clang's
# libFuzzer it says so in one line and exits 0.
set -u
cd "$(dirname "$0")/.."
secs=${1:-60}
out=build-fuzz
mkdir -p "$out"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$out/probe.c"
if ! command -v clang >/dev/null || ! clang -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2>/dev/null; then
	echo "fuzz: clang with libFuzzer not found (apt-get install clang libclang-rt-14-dev); skipped"
	echo "0 passed, 0 failed"
	exit 0
fi
# TLS as the normal build has it (the Makefile's test)
tls=()
if pkg-config --atleast-version=3.0 openssl 2>/dev/null; then
	tls=(-DPL_HAVE_TLS $(pkg-config --cflags --libs openssl))
fi
pass=0 fail=0
for h in fuzz/fuzz_*.c; do
	name=$(basename "$h" .c)
	corpus=fuzz/corpus/${name#fuzz_}
	work=$out/corpus-${name#fuzz_}
	mkdir -p "$work"
	if ! clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o "$out/$name" "$h" src/lib/*.c "${tls[@]}" -lm -pthread; then
		echo "FAIL  $name (build)"; fail=$((fail + 1)); continue
	fi
	if "$out/$name" -max_total_time="$secs" -max_len=4096 -artifact_prefix="$out/$name-" \
		"$work" "$corpus" >"$out/$name.log" 2>&1; then
		echo "ok    $name ($(grep -o 'Done [0-9]* runs' "$out/$name.log" | grep -o '[0-9]*') runs in ${secs} s)"
		pass=$((pass + 1))
	else
		echo "FAIL  $name"; tail -n 30 "$out/$name.log" | sed 's/^/      /'; fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
