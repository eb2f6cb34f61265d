#!/bin/sh
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, seeded from
# tests/fuzz/corpus/<target>/ (committed seeds) into a scratch corpus so the
# committed seeds stay small. Fails if any target finds a crash.
set -e
dir="$1"; secs="${2:-60}"
fail=0
for f in "$dir"/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    seeds="tests/fuzz/corpus/$name"
    work="$dir/corpus-$name"
    mkdir -p "$work"
    echo "fuzz: $name for ${secs}s"
    if ! "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
            -artifact_prefix="$dir/crash-$name-" "$work" $( [ -d "$seeds" ] && echo "$seeds" ) \
            >"$dir/$name.log" 2>&1; then
        echo "fuzz: $name FAILED (log: $dir/$name.log)"; tail -40 "$dir/$name.log"; fail=1
    else
        grep -E "^Done|DONE" "$dir/$name.log" | tail -1 || true
    fi
done
exit $fail
