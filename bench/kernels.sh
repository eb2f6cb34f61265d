#!/bin/sh
# Builds the kernel microbenchmarks of docs/PERFORMANCE.md against the
# release library (make build first) and, with no arguments, runs the
# round-6 set: the matmul kernels at prefill (512 rows) and decode (1 row)
# shapes of TinyLlama, 1 thread, and one attention item from memory.
#   sh bench/kernels.sh            build and run the set
#   sh bench/kernels.sh build      build only (bench/out/matmul_bench, attn_bench)
set -e
OUT=bench/out
mkdir -p "$OUT"
[ -f build/libkvlm.a ] || { echo "build first: make build" >&2; exit 1; }
for b in matmul_bench attn_bench; do
    cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -o "$OUT/$b" "bench/$b.c" \
        build/libkvlm.a -ljansson -lcrypto -lm -lpthread
done
[ "${1:-}" = build ] && exit 0
for t in f16 q8_0 q4_0 q4_k q5_k q6_k; do
    "$OUT/matmul_bench" "$t" 2048 2048 512 1 5
done
"$OUT/matmul_bench" f32 768 768 512 1 5
for t in f16 q8_0 q4_0; do
    "$OUT/matmul_bench" "$t" 2048 32000 1 2 10
done
"$OUT/attn_bench" 2048 737280 2
NOFLUSH=1 "$OUT/attn_bench" 2048 8192 0
