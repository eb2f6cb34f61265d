#!/bin/sh
# kvlm vs llama.cpp in one command (docs/PERFORMANCE.md):
#   sh bench/compare.sh [THREADS] [extra compare_llamacpp.py options]
# Builds the machine probes (bench/membw.c: read bandwidth, bench/peak.c:
# f32 FMA and int8 peaks, 256- or 512-bit), measures them with THREADS threads, then runs
# bench/compare_llamacpp.py (which makes missing models, alternates the two
# engines, prints the tables and writes bench/out/compare.{csv,png}).
set -e
T=${1:-$(nproc)}
[ $# -gt 0 ] && shift
OUT=bench/out
mkdir -p "$OUT"
[ -x build/kvlm ] || { echo "build first: make build" >&2; exit 1; }
cc -O3 -march=native -pthread -o "$OUT/membw" bench/membw.c
cc -O3 -mavx2 -mfma -pthread -o "$OUT/peak" bench/peak.c
echo "load before measuring: $(uptime)" >&2
BW=$("$OUT/membw" "$T")
PEAK=$("$OUT/peak" "$T" | tr ' ' ',')
echo "memory read bandwidth $BW GB/s; peak f32 GFLOP/s, int8 GOP/s: $PEAK ($T threads)" >&2
python3 bench/compare_llamacpp.py --threads "$T" --membw "$BW" --peak "$PEAK" "$@"
echo "load after: $(uptime)" >&2
