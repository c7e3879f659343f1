#!/usr/bin/env bash
# Runs `duro bench journal` for 1, 8 and 64 writers, three times each, and prints every JSON
# line with the run's peak resident memory. The figures go to docs/benchmarks.md.
# Usage: benches/journal.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
cargo build --release --quiet
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
for writers in 1 8 64; do
  for run in 1 2 3; do
    rm -rf "$dir/data"
    /usr/bin/time -f 'peak_rss_kib %M' -o "$dir/rss" \
      ./target/release/duro bench journal --data-dir "$dir/data" --writers "$writers" \
      --seconds "$seconds" --json
    cat "$dir/rss"
  done
done
