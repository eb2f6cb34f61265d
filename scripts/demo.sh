#!/bin/sh
# What `make run` shows: until the demo model lands, inspect a fixture model.
set -e
KVLM="$1"
"$KVLM" inspect tests/fixtures/models/llama-gqa-q4_k.gguf
