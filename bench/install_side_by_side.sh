#!/usr/bin/env bash
# The README's set-up (`make .venv/.installed`: a fresh virtual environment)
# at two commits, side by side: one fresh clone for each, the two taking
# turns, REPEAT times each. Prints the wall time and the CPU time the whole
# machine was busy (from /proc/stat, so run it on an otherwise idle
# machine). pip's cache is used as it is found.
#   bash bench/install_side_by_side.sh COMMIT_A COMMIT_B [REPEAT]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
a=$1 b=$2 repeat=${3:-2}
work=$(mktemp -d)
busy() { awk '/^cpu /{ printf "%.2f", ($2 + $3 + $4 + $7 + $8) / 100 }' /proc/stat; }
for commit in "$a" "$b"; do
  git clone -q "$repo" "$work/$commit"
  git -C "$work/$commit" checkout -q "$commit"
done
for _ in $(seq "$repeat"); do
  for commit in "$a" "$b"; do
    cd "$work/$commit"
    rm -rf .venv
    cpu=$(busy) start=$(date +%s.%N)
    make -s .venv/.installed > install.log 2>&1
    awk -v c="$commit" -v s="$start" -v e="$(date +%s.%N)" -v b0="$cpu" \
      -v b1="$(busy)" 'BEGIN { printf "%s: wall %.1f s, busy CPU %.1f s\n",
      c, e - s, b1 - b0 }'
  done
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
