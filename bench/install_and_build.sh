#!/usr/bin/env bash
# Times the README's set-up from scratch and the strict book build, in a
# fresh clone: install (fresh .venv, pip's cache disabled), cold build
# (no jupyter cache), cached rebuild with no change.
#   bash bench/install_and_build.sh [CLONE_DIR]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d)/ziptie}
git clone -q "$repo" "$dir"
cd "$dir"
t() { local s=$(date +%s.%N); "$@" > /dev/null 2>&1; awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
export PIP_NO_CACHE_DIR=1
echo "install from scratch (s): $(t make .venv/.installed)"
echo "cold strict book build (s): $(t make book-check)"
echo "cached rebuild, no change (s): $(t make book-check)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
