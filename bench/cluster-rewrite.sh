#!/usr/bin/env bash
# The rewriting relay (cluster forward: RESP framing, command tracking, address rewriting) against
# the plain relay (fixed target) on the same pipelined redis-benchmark load, in one run. The node
# is a one-node Redis Cluster owning every slot, so no reply is a MOVED: this measures the cost
# of watching the stream, which every cluster session pays.
#   bash bench/cluster-rewrite.sh        (ROUNDS=3 N16=1000000 N1=200000)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

NODE=$(python3 -c 'import socket
for p in range(12000, 20000):
    try:
        a=socket.socket(); a.bind(("127.0.0.1",p)); b=socket.socket(); b.bind(("127.0.0.1",p+10000)); a.close(); b.close(); print(p); break
    except OSError: pass')
PLAIN=$(port); RW=$(port)
redis-server --port "$NODE" --bind 127.0.0.1 --save '' --appendonly no --cluster-enabled yes \
  --cluster-config-file "$work/nodes.conf" --dir "$work" >/dev/null &
pids+=($!)
wait_port "$NODE"
redis-cli -p "$NODE" CLUSTER ADDSLOTSRANGE 0 16383 >/dev/null
for _ in $(seq 100); do redis-cli -p "$NODE" CLUSTER INFO | grep -q cluster_state:ok && break; sleep 0.1; done
cat > "$work/gatehouse.yaml" <<YAML
clusters:
  one: { engine: redis, nodes: ["127.0.0.1:$NODE"] }
portForwards:
  plain:
    address: 127.0.0.1
    forwards:
      - { listen: "$PLAIN", target: "127.0.0.1:$NODE" }
  rewriting:
    address: 127.0.0.1
    forwards:
      - { listen: "$RW", cluster: one }
admin:
  enabled: false
audit:
  log: $work/audit.jsonl
YAML
node bin/gatehouse.js serve -c "$work/gatehouse.yaml" 2>"$work/gatehouse.log" &
pids+=($!)
wait_port "$PLAIN"; wait_port "$RW"
redis-cli -p "$RW" CLUSTER SLOTS | grep -q "$RW" || { echo "bench: the rewriting forward does not rewrite" >&2; cat "$work/gatehouse.log" "$work/audit.jsonl" >&2; exit 1; }
for P in 16 1; do
  n=$([ "$P" = 16 ] && echo "$N16" || echo "$N1")
  declare -A SET=() GET=()
  for r in $(seq "$ROUNDS"); do
    for who in $([ $((r % 2)) = 0 ] && echo "plain rewriting" || echo "rewriting plain"); do
      p=$([ "$who" = plain ] && echo "$PLAIN" || echo "$RW")
      read -r s g < <(rps "$p" "$P" "$n")
      SET[$who]="${SET[$who]:-} $s"; GET[$who]="${GET[$who]:-} $g"
    done
  done
  ps=$(echo ${SET[plain]} | tr ' ' '\n' | median); pg=$(echo ${GET[plain]} | tr ' ' '\n' | median)
  rs=$(echo ${SET[rewriting]} | tr ' ' '\n' | median); rg=$(echo ${GET[rewriting]} | tr ' ' '\n' | median)
  printf -- '-P %-3s plain relay SET %8.0f GET %8.0f | rewriting relay SET %8.0f GET %8.0f | ratio SET %.2fx GET %.2fx\n' \
    "$P" "$ps" "$pg" "$rs" "$rg" "$(echo "$rs/$ps" | bc -l)" "$(echo "$rg/$pg" | bc -l)"
  unset SET GET
done
