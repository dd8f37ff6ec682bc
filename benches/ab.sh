#!/usr/bin/env bash
# Two server binaries side by side: both listen at once on CPU 0, and 5 s wrk runs on
# CPU 1 alternate between them (A, B, A, B...), so drift of the machine falls on both
# alike. Prints each run's server CPU time per request (utime + stime from
# /proc/PID/stat around the run, divided by wrk's request count).
#
# Usage: bash benches/ab.sh BIN_A BIN_B PATH CONNECTIONS ROUNDS [WRK ARGS...]
#   e.g. bash benches/ab.sh target/release/reactor /tmp/reactor-before /hello.txt 100 3
#        ... /hello.txt 50 3 -H 'Connection: close'
#        ... /hello.txt 100 3 -s benches/pipeline16.lua   (16 pipelined, as peers.sh)
# Serves ../shared/bench/docroot (or $DOCROOT); needs wrk and taskset.
set -u
if (($# < 5)); then sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
A=$1 B=$2 URLPATH=$3 CONNS=$4 ROUNDS=$5
shift 5
ROOT=${DOCROOT:-$(cd "$(dirname "$0")/../../shared/bench/docroot" 2>/dev/null && pwd)}
[[ -d $ROOT ]] || { echo "ab.sh: no docroot (set DOCROOT)" >&2; exit 2; }
taskset -c 0 "$A" 18301 -d "$ROOT" 2>/dev/null & PA=$!
taskset -c 0 "$B" 18302 -d "$ROOT" 2>/dev/null & PB=$!
trap 'kill $PA $PB 2>/dev/null' EXIT
sleep 0.5
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # pid port [wrk args...] -> "N.NN us/req (requests)"
  local pid=$1 port=$2 t0 t1 requests
  shift 2
  t0=$(ticks "$pid")
  requests=$(taskset -c 1 wrk -t1 -c"$CONNS" -d5s "$@" "http://127.0.0.1:$port$URLPATH" \
    | awk '/requests in/ {print $1}')
  t1=$(ticks "$pid")
  awk -v t=$((t1 - t0)) -v r="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f us/req (%d requests)", t * 1e6 / hz / r, r }'
}
for i in $(seq "$ROUNDS"); do
  echo "round $i: A $(run $PA 18301 "$@") | B $(run $PB 18302 "$@")"
done
