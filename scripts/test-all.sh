#!/bin/sh
# Runs every test stage of `make test` and ends with one summary line
# ("N passed, M failed") counting CTest tests of both builds and fuzz
# targets. Exit status is non-zero if any stage failed.
#   1. release build: unit, fixture and end-to-end tests (CTest)
#   2. ASan + UBSan build: the same tests (bit-exactness in quick mode)
#   3. libFuzzer targets, FUZZ_SECONDS each
set -u
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
pass=0; fail=0

count_ctest() { # $1 = log
    p=$(grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$1" | tail -1)
    if [ -z "$p" ]; then fail=$((fail + 1)); return; fi
    f=$(echo "$p" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+)/\1/')
    t=$(echo "$p" | sed -E 's/.* out of ([0-9]+)/\1/')
    pass=$((pass + t - f)); fail=$((fail + f))
}

echo "== release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j "$JOBS" || fail=$((fail + 1))
(cd build && ctest --output-on-failure -j "$JOBS") 2>&1 | tee build/ctest.log
count_ctest build/ctest.log

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVLM_SANITIZE=ON >/dev/null &&
    cmake --build build-asan -j "$JOBS" || fail=$((fail + 1))
(cd build-asan && KVLM_TEST_QUICK=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j "$JOBS") 2>&1 | tee build-asan/ctest.log
count_ctest build-asan/ctest.log

echo "== libFuzzer targets, ${FUZZ_SECONDS}s each"
if CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVLM_FUZZ=ON >/dev/null &&
        cmake --build build-fuzz -j "$JOBS"; then
    for f in build-fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        if sh scripts/run-fuzzers.sh build-fuzz "$FUZZ_SECONDS" "$(basename "$f")"; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
        fi
    done
else
    fail=$((fail + 1))
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
