#!/usr/bin/env bash
# Before/after: one bench script run alternately from two checkouts (before, after, before,
# after, ...), PAIRS pairs, each run's whole output printed under a header that names the
# checkout, its commit and the pair. Each checkout runs its own copy of the script against its
# own build, so a script that differs between them (a config key the older code lacks) is
# compared as each side has it. The environment (ROUNDS, SECS, ...) goes to every run.
#   bash bench/ab.sh BEFORE_DIR AFTER_DIR SCRIPT [PAIRS]     e.g. ... run.sh 3
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: bash bench/ab.sh BEFORE_DIR AFTER_DIR SCRIPT [PAIRS]" >&2; exit 2; }
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
script=$3
pairs=${4:-3}
for dir in "$before" "$after"; do
  [ -f "$dir/bench/$script" ] || { echo "bench: $dir/bench/$script is missing" >&2; exit 2; }
done
for pair in $(seq "$pairs"); do
  for side in before after; do
    dir=$before
    [ "$side" = after ] && dir=$after
    echo "=== $script pair $pair $side: $dir ($(git -C "$dir" rev-parse --short HEAD)$(git -C "$dir" diff --quiet || echo ', with local changes'))"
    (cd "$dir" && bash "bench/$script") 2>&1
  done
done
