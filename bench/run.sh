#!/usr/bin/env bash
# redis-benchmark (SET/GET, -c 50) directly, through Gatehouse and through HAProxy (mode tcp), in
# one run, at -P 16 and -P 1. Each figure is the median of ROUNDS runs, taken in rotating order so
# that no contender always runs first; ratios are against direct on the same machine and run.
#   bash bench/run.sh            (ROUNDS=3 N16=1000000 N1=200000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
for bin in redis-server redis-benchmark haproxy; do
  command -v "$bin" >/dev/null || { echo "bench: $bin is missing; run bash scripts/install-test-deps.sh as root" >&2; exit 1; }
done

REDIS=$(port); GH=$(port); GHK=$(port); HA=$(port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
pids+=($!)
cat > "$work/gatehouse.yaml" <<YAML
portForwards:
  bench:
    address: 127.0.0.1
    forwards:
      - { listen: "$GH", target: "127.0.0.1:$REDIS" }
  bench-kernel:
    address: 127.0.0.1
    dataPath: kernel
    forwards:
      - { listen: "$GHK", target: "127.0.0.1:$REDIS" }
admin:
  enabled: false
audit:
  log: $work/audit.jsonl
YAML
node bin/gatehouse.js serve -c "$work/gatehouse.yaml" 2>"$work/gatehouse.log" &
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
pids+=($!)
wait_port "$REDIS"; wait_port "$GH"; wait_port "$GHK"; wait_port "$HA"
if grep -q 'nftables rules in force' "$work/gatehouse.log"; then
  echo "bench: gatehouse-kernel = port forward with dataPath: kernel (nftables DNAT kept by Gatehouse)"
else
  echo "bench: the kernel data path is not in force here (needs root, nft, conntrack): gatehouse-kernel is the userspace relay"
fi
echo "bench: redis-server $(redis-server --version | grep -o 'v=[^ ]*'), $(haproxy -v | head -1 | cut -d' ' -f1-3), node $(node --version), $(nproc) cores"


declare -A PORTS=([direct]=$REDIS [gatehouse]=$GH [gh-kernel]=$GHK [haproxy]=$HA)
order=(direct gatehouse gh-kernel haproxy)
for P in 16 1; do
  n=$([ "$P" = 16 ] && echo "$N16" || echo "$N1")
  declare -A SET=() GET=()
  for r in $(seq "$ROUNDS"); do
    for i in 0 1 2 3; do
      who=${order[$(((i + r) % 4))]}
      read -r s g < <(rps "${PORTS[$who]}" "$P" "$n")
      SET[$who]="${SET[$who]:-} $s"; GET[$who]="${GET[$who]:-} $g"
      echo "  round $r -P $P $who: SET $s GET $g rps" >&2
    done
  done
  printf '\n-P %-3s %-10s %12s %12s %9s %9s\n' "$P" contender "SET rps" "GET rps" "SET/dir" "GET/dir"
  ds=$(echo ${SET[direct]} | tr ' ' '\n' | median); dg=$(echo ${GET[direct]} | tr ' ' '\n' | median)
  for who in direct gatehouse gh-kernel haproxy; do
    s=$(echo ${SET[$who]} | tr ' ' '\n' | median); g=$(echo ${GET[$who]} | tr ' ' '\n' | median)
    printf '       %-10s %12.0f %12.0f %8.2fx %8.2fx\n' "$who" "$s" "$g" "$(echo "$s/$ds" | bc -l)" "$(echo "$g/$dg" | bc -l)"
    eval "M_${who//-/_}_S=$s M_${who//-/_}_G=$g"
  done
  printf '       gatehouse (userspace relay)/haproxy: SET %.2fx GET %.2fx\n' "$(echo "$M_gatehouse_S/$M_haproxy_S" | bc -l)" "$(echo "$M_gatehouse_G/$M_haproxy_G" | bc -l)"
  printf '       gatehouse (kernel data path)/haproxy: SET %.2fx GET %.2fx\n' "$(echo "$M_gh_kernel_S/$M_haproxy_S" | bc -l)" "$(echo "$M_gh_kernel_G/$M_haproxy_G" | bc -l)"
  unset SET GET
done
