#!/usr/bin/env bash
# What the audit trail of a port forward costs per short connection: redis-benchmark with one new
# connection per request (-k 0, -c 50, -n N, GET) through a forward with connectionLog: full and
# one with connectionLog: summary, the audit JSON lines going to a file each. Prints the lines and
# bytes each wrote, and per connection.
#   bash bench/log-lines.sh          (N=10000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
N=${N:-10000}
for bin in redis-server redis-benchmark; do
  command -v "$bin" >/dev/null || { echo "bench: $bin is missing" >&2; exit 1; }
done

REDIS=$(port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
pids+=($!)
wait_port "$REDIS"

measure() { # MODE -> "LINES BYTES"
  local mode=$1 gh
  gh=$(port)
  cat > "$work/$mode.yaml" <<YAML
workers: 1
securityGroups:
  local:
    ingress:
      - { ports: '$gh', source: '127.0.0.0/8' }
portForwards:
  bench:
    address: 127.0.0.1
    securityGroups: [local]
    connectionLog: $mode
    forwards:
      - { listen: "$gh", target: "127.0.0.1:$REDIS" }
admin:
  enabled: false
audit:
  log: $work/$mode.jsonl
  store: none
YAML
  node bin/gatehouse.js serve -c "$work/$mode.yaml" 2>"$work/$mode.log" &
  local pid=$!
  pids+=("$pid")
  wait_port "$gh"
  redis-benchmark -h 127.0.0.1 -p "$gh" -t get -c 50 -n "$N" -k 0 -q >/dev/null 2>&1
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$(wc -l < "$work/$mode.jsonl") $(wc -c < "$work/$mode.jsonl")"
}

printf '%-8s %8s %10s %10s %10s\n' mode lines bytes lines/conn bytes/conn
for mode in full summary; do
  read -r lines bytes < <(measure "$mode")
  printf '%-8s %8d %10d %10.2f %10.1f\n' "$mode" "$lines" "$bytes" "$(echo "$lines / $N" | bc -l)" "$(echo "$bytes / $N" | bc -l)"
done
