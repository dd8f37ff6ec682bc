#!/usr/bin/env bash
# Instructions per request through the core, counted by callgrind: each workload
# of benches/core_cost.rs is run for N and for 2N requests, and the difference is
# divided by N, so start-up (and the first, uncached file read) cancels out.
#
# Usage: bash benches/callgrind.sh [N]     (default N = 8000; run from the repo root)
set -euo pipefail
N=${1:-8000}
command -v valgrind >/dev/null || { echo "callgrind.sh: needs valgrind" >&2; exit 2; }
cargo bench --bench core_cost --no-run >/dev/null 2>&1
BIN=$(ls -t target/release/deps/core_cost-* | grep -v '\.d$' | head -1)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
count() { # workload requests -> total instructions
  valgrind --tool=callgrind --callgrind-out-file="$TMP/out" "$BIN" "$1" "$2" >/dev/null 2>"$TMP/log"
  sed -n 's/^summary: //p' "$TMP/out"
}
printf '%-18s %s\n' workload instructions/request
for w in pipelined16-file keep-alive-file keep-alive-hello browser-file; do
  one=$(count "$w" "$N"); two=$(count "$w" $((2 * N)))
  printf '%-18s %d\n' "$w" $(((two - one) / N))
done
