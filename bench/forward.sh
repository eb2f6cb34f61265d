#!/bin/sh
# Forward-pass benchmark of docs/PERFORMANCE.md, in one command:
#   sh bench/forward.sh [THREADS]
# Makes the random-weight benchmark models if missing (numpy + gguf, see
# bench/make_bench_models.py), then runs `kvlm bench forward` (512-token
# prefill, 128 decode steps, median of 3) on each, and prints a markdown
# table with the decode rate as a share of the memory-bandwidth bound
# (weights bytes / bandwidth, bandwidth from bench/membw).
set -e
T=${1:-$(nproc)}
OUT=bench/out
mkdir -p bench/models "$OUT"
[ -x build/kvlm ] || { echo "build first: make build" >&2; exit 1; }
cc -O3 -march=native -pthread -o "$OUT/membw" bench/membw.c
BW=$("$OUT/membw" "$T")
echo "memory read bandwidth, $T threads: $BW GB/s" >&2
MODELS="tinyllama:f16 tinyllama:q8_0 tinyllama:q4_0 qwen2.5-0.5b:q8_0"
echo "| model | type | prefill 512 (tok/s) | decode 128 (tok/s) | decode bound (tok/s) | % of bound |"
echo "|---|---|---|---|---|---|"
for mt in $MODELS; do
    shape=${mt%%:*}; type=${mt##*:}
    f=bench/models/$shape-$type.gguf
    [ -f "$f" ] || python3 bench/make_bench_models.py --shape "$shape" --type "$type" --out bench/models/ >&2
    build/kvlm bench forward -m "$f" --threads "$T" --prompt 512 --gen 128 --reps 3 --json > "$OUT/forward-$shape-$type.json"
    python3 - "$OUT/forward-$shape-$type.json" "$BW" "$shape" "$type" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); bw = float(sys.argv[2]) * 1e9
bound = bw / r["weight_bytes"]
print(f"| {sys.argv[3]} | {sys.argv[4]} | {r['prefill_tokens_per_s']:.1f} | {r['decode_tokens_per_s']:.2f} "
      f"| {bound:.1f} | {100 * r['decode_tokens_per_s'] / bound:.0f}% |")
PY
done
