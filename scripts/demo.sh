#!/bin/sh
# What `make run` shows: the bundled demo model (models/demo/, a 4.6M-parameter
# Llama trained on the King James Bible) continuing a prompt, with the
# timings kvlm prints to stderr.
set -e
KVLM="$1"
echo "kvlm run -p \"In the beginning God\" -n 96 --temp 0.7 --seed 7   (bundled demo model)"
echo
"$KVLM" run -p "In the beginning God" -n 96 --temp 0.7 --seed 7
echo
