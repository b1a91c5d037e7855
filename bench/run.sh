#!/usr/bin/env bash
# redis-benchmark (SET/GET, -c 50) directly, through Gatehouse and through HAProxy (mode tcp), in
# one run, at -P 16 and -P 1. Gatehouse runs twice: gh-w1 (workers: 1, one process) and gh-auto
# (workers: auto, a primary and one worker per core); gh-kernel is gh-w1's `dataPath: kernel`
# forward (nftables moves the bytes, so the workers setting does not apply to it). HAProxy runs
# at its multi-core default (nbthread = the cores it may use). Each figure is the median of
# ROUNDS runs, taken in rotating order so that no contender always runs first; ratios are
# against direct and against HAProxy on the same machine and run.
#   bash bench/run.sh            (ROUNDS=3 N16=1000000 N1=200000 by default)
#   GH_NODE=/path/to/node        the node that runs Gatehouse (default: node on PATH)
#   GH_STORE=none                the audit store (default: a SQLite file); none where GH_NODE is
#                                a Node that better-sqlite3 was not built for
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck source=bench/procs.sh
source bench/procs.sh
GH_NODE=${GH_NODE:-node}
for bin in redis-server redis-benchmark haproxy "$GH_NODE"; do
  command -v "$bin" >/dev/null || { echo "bench: $bin is missing; run bash scripts/install-test-deps.sh as root" >&2; exit 1; }
done

REDIS=$(port); GH=$(port); GHA=$(port); GHK=$(port); HA=$(port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
pids+=($!)
# gatehouse_config WORKERS NAME -> the config of one Gatehouse (gh-w1 also holds the kernel forward)
gatehouse_config() {
  cat <<YAML
workers: $1
portForwards:
  bench:
    address: 127.0.0.1
    forwards:
      - { listen: "$([ "$1" = 1 ] && echo "$GH" || echo "$GHA")", target: "127.0.0.1:$REDIS" }
YAML
  if [ "$1" = 1 ]; then
    cat <<YAML
  bench-kernel:
    address: 127.0.0.1
    dataPath: kernel
    forwards:
      - { listen: "$GHK", target: "127.0.0.1:$REDIS" }
YAML
  fi
  cat <<YAML
admin:
  enabled: false
audit:
  log: $work/$2-audit.jsonl
  store: ${GH_STORE:-$work/$2-audit.db}
YAML
}
gatehouse_config 1 gh-w1 >"$work/gh-w1.yaml"
gatehouse_config auto gh-auto >"$work/gh-auto.yaml"
"$GH_NODE" bin/gatehouse.js serve -c "$work/gh-w1.yaml" 2>"$work/gh-w1.log" &
GH_W1_PID=$!
pids+=($!)
"$GH_NODE" bin/gatehouse.js serve -c "$work/gh-auto.yaml" 2>"$work/gh-auto.log" &
GH_AUTO_PID=$!
pids+=($!)
cat > "$work/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend fe
  bind 127.0.0.1:$HA
  default_backend be
backend be
  server redis 127.0.0.1:$REDIS
CFG
haproxy -f "$work/haproxy.cfg" -db >/dev/null 2>&1 &
HA_PID=$!
pids+=($!)
wait_port "$REDIS"; wait_port "$GH"; wait_port "$GHA"; wait_port "$GHK"; wait_port "$HA"
sleep 1
if grep -q 'nftables rules in force' "$work/gh-w1.log"; then
  echo "bench: gh-kernel = port forward with dataPath: kernel (nftables DNAT kept by Gatehouse)"
else
  echo "bench: the kernel data path is not in force here (needs root, nft, conntrack): gh-kernel is the userspace relay"
fi
echo "bench: redis-server $(redis-server --version | grep -o 'v=[^ ]*'), $(haproxy -v | head -1 | cut -d' ' -f1-3), Gatehouse on node $("$GH_NODE" --version), $(nproc) cores"
echo "bench: gh-w1   = workers: 1 ($(proc_summary "$GH_W1_PID")), audit store ${GH_STORE:-SQLite}"
echo "bench: gh-auto = workers: auto ($(proc_summary "$GH_AUTO_PID")): $(grep -o 'starting [0-9]* workers[^"]*' "$work/gh-auto.log" | head -1)"
echo "bench: haproxy = mode tcp, nbthread at its default (= cores it may use): $(proc_summary "$HA_PID")"

declare -A PORTS=([direct]=$REDIS [gh-w1]=$GH [gh-auto]=$GHA [gh-kernel]=$GHK [haproxy]=$HA)
order=(direct gh-w1 gh-auto gh-kernel haproxy)
every=()
for P in 16 1; do
  n=$([ "$P" = 16 ] && echo "$N16" || echo "$N1")
  declare -A SET=() GET=()
  for r in $(seq "$ROUNDS"); do
    for i in "${!order[@]}"; do
      who=${order[$(((i + r) % ${#order[@]}))]}
      read -r s g < <(rps "${PORTS[$who]}" "$P" "$n")
      SET[$who]="${SET[$who]:-} $s"; GET[$who]="${GET[$who]:-} $g"
      every+=("$(printf '  round %s -P %-2s %-10s SET %10.0f GET %10.0f rps' "$r" "$P" "$who" "$s" "$g")")
      echo "${every[-1]}" >&2
    done
  done
  printf '\n-P %-3s %-10s %12s %12s %9s %9s %9s %9s\n' "$P" contender "SET rps" "GET rps" "SET/dir" "GET/dir" "SET/ha" "GET/ha"
  ds=$(echo "${SET[direct]}" | tr ' ' '\n' | grep . | median); dg=$(echo "${GET[direct]}" | tr ' ' '\n' | grep . | median)
  hs=$(echo "${SET[haproxy]}" | tr ' ' '\n' | grep . | median); hg=$(echo "${GET[haproxy]}" | tr ' ' '\n' | grep . | median)
  for who in "${order[@]}"; do
    s=$(echo "${SET[$who]}" | tr ' ' '\n' | grep . | median); g=$(echo "${GET[$who]}" | tr ' ' '\n' | grep . | median)
    printf '       %-10s %12.0f %12.0f %8.2fx %8.2fx %8.2fx %8.2fx\n' "$who" "$s" "$g" \
      "$(echo "$s/$ds" | bc -l)" "$(echo "$g/$dg" | bc -l)" "$(echo "$s/$hs" | bc -l)" "$(echo "$g/$hg" | bc -l)"
  done
  unset SET GET
done
printf '\nEvery round (requests/s):\n'
printf '%s\n' "${every[@]}"
printf '\nCPU time and RSS at the end of the run, per process:\n  gh-w1\n'
proc_each "$GH_W1_PID"
printf '  gh-auto (the primary first, then its workers)\n'
proc_each "$GH_AUTO_PID"
printf '  haproxy\n'
proc_each "$HA_PID"
log_problems "$work/gh-w1.log" "$work/gh-auto.log"
