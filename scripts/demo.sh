#!/bin/sh
# What `make run` shows. Until the bundled demo model and tokenizer land,
# it inspects a fixture model (a tiny random Llama with grouped-query
# attention in Q4_K) and measures its forward pass.
set -e
KVLM="$1"
M=tests/fixtures/models/llama-gqa-q4_k.gguf
"$KVLM" inspect "$M"
echo
"$KVLM" bench forward -m "$M" --prompt 64 --gen 32 --reps 1
