#!/bin/sh
# Installs the Debian packages kvlm needs to build and test, and the PyPI
# packages its tests use as oracles. Idempotent: installs only what is missing.
# Uses sudo when not root. Safe to run on every `make run` / `make test`.
set -e

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev libjansson-dev libssl-dev libpcre2-dev python3 python3-pip python3-venv"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    echo "install-deps: installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
