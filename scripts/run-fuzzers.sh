#!/bin/sh
# Runs libFuzzer targets in BUILD_DIR for SECONDS each (all fuzz_* targets,
# or only the one named), seeded from tests/fuzz/corpus/<target>/
# (committed seeds) into a scratch corpus so the committed seeds stay small.
# Fails if any target finds a crash, a leak or a timeout.
#   usage: run-fuzzers.sh BUILD_DIR [SECONDS] [TARGET]
set -e
dir="$1"; secs="${2:-60}"; only="${3:-}"
fail=0
for f in "$dir"/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    [ -n "$only" ] && [ "$name" != "$only" ] && continue
    seeds="tests/fuzz/corpus/$name"
    work="$dir/corpus-$name"
    mkdir -p "$work"
    echo "fuzz: $name for ${secs}s"
    if ! "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$dir/crash-$name-" "$work" $( [ -d "$seeds" ] && echo "$seeds" ) \
            >"$dir/$name.log" 2>&1; then
        echo "fuzz: $name FAILED (log: $dir/$name.log)"; tail -40 "$dir/$name.log"; fail=1
    else
        echo "fuzz: $name ok, $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$dir/$name.log" | grep -Eo '[0-9]+$') runs"
    fi
done
exit $fail
