#!/usr/bin/env bash
# Times the strict book build at two commits, side by side in one run, in
# one fresh clone sharing one virtual environment: for each commit a cold
# build (no execution cache) and a cached rebuild with no change.
#   bash bench/book_before_after.sh BEFORE AFTER [CLONE_DIR]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
before=$1 after=$2
dir=${3:-$(mktemp -d)/ziptie}
git clone -q "$repo" "$dir"
cd "$dir"
t() { local s=$(date +%s.%N); "$@" > /dev/null 2>&1 || echo -n "FAILED "; awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
git checkout -q "$after"
make .venv/.installed > /dev/null
for commit in "$before" "$after"; do
  git checkout -q "$commit"
  rm -rf _build
  chapters=$(ls book/[0-9]*.md | wc -l)
  echo "$commit ($chapters chapters): cold strict book build (s): $(t make book-check)"
  echo "$commit ($chapters chapters): cached rebuild, no change (s): $(t make book-check)"
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
