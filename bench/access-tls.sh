#!/usr/bin/env bash
# Access endpoint direct TLS listener vs stunnel, same certificates, same redis-server, one run:
# (two references ride along: the plainest Node mTLS relay, bench/reference/node-tls-relay.mjs, and
# redis-server's own TLS port with no relay at all, the ceiling for any relay on this machine)
#   redis-benchmark --tls at -P 16 and -P 1 (throughput), and the handshake rate: full mTLS
#   handshakes per second from PAR parallel `openssl s_time -new` clients (redis-benchmark -k 0 is
#   client-bound: it builds a TLS context per connection). Loopback only. Short by default;
#   N=…, CLIENTS=…, PAR=…, SECS=… to change.
#   bash bench/access-tls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PAR=${PAR:-4}
SECS=${SECS:-4}
CLIENTS=${CLIENTS:-16}
WORK=$(mktemp -d /tmp/gh-bench-access-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing on $1" >&2; return 1; }

npm run --silent build
G="node bin/gatehouse.js pki --pki $WORK/pki"
$G init-pki >/dev/null
$G build-ca >/dev/null
$G build-server-full server --san IP:127.0.0.1 >/dev/null
$G build-client-full bench --group bench >/dev/null
$G gen-crl >/dev/null
CA=$WORK/pki/ca.crt
CRT=$WORK/pki/issued/bench.crt
KEY=$WORK/pki/private/bench.key

REDIS=$(free_port); GH_TUN=$(free_port); GH=$(free_port); ST=$(free_port); NODE=$(free_port); DIRECT=$(free_port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=($!)
redis-server --port 0 --tls-port "$DIRECT" --bind 127.0.0.1 --save '' --appendonly no \
  --tls-cert-file "$WORK/pki/issued/server.crt" --tls-key-file "$WORK/pki/private/server.key" \
  --tls-ca-cert-file "$CA" >/dev/null &
pids+=($!)
node bench/reference/node-tls-relay.mjs "$WORK/pki" "$NODE" "$REDIS" &
pids+=($!)
cat >"$WORK/gatehouse.yaml" <<YAML
pki: ./pki
accessEndpoints:
  bench:
    listen: "127.0.0.1:$GH_TUN"
    serverCertificate: server
    connectionLog: false
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [bench] }
    directListeners:
      - { listen: "127.0.0.1:$GH", target: "127.0.0.1:$REDIS" }
admin:
  enabled: false
YAML
node bin/gatehouse.js serve -c "$WORK/gatehouse.yaml" >/dev/null 2>"$WORK/gatehouse.err" &
pids+=($!)
cat >"$WORK/stunnel.conf" <<CONF
foreground = yes
pid =
debug = 3
output = $WORK/stunnel.log
[redis]
accept = 127.0.0.1:$ST
connect = 127.0.0.1:$REDIS
cert = $WORK/pki/issued/server.crt
key = $WORK/pki/private/server.key
CAfile = $CA
CRLfile = $WORK/pki/crl.pem
verifyChain = yes
requireCert = yes
CONF
stunnel4 "$WORK/stunnel.conf" 2>>"$WORK/stunnel.err" &
pids+=($!)
wait_port "$REDIS"; wait_port "$GH"; wait_port "$ST"; wait_port "$NODE"; wait_port "$DIRECT"

TLS=(--tls --cert "$CRT" --key "$KEY" --cacert "$CA")
rps() { redis-benchmark "${TLS[@]}" -h 127.0.0.1 -p "$1" -c "$CLIENTS" -t set,get "${@:2}" -q | awk '{for(i=1;i<=NF;i++) if($i ~ /^[0-9.]+$/ && $(i+1)=="requests"){s+=$i;n++}} END{printf "%.0f", s/n}'; }
handshakes() {
  for _ in $(seq "$PAR"); do
    openssl s_time -connect "127.0.0.1:$1" -new -time "$SECS" -cert "$CRT" -key "$KEY" -CAfile "$CA" 2>/dev/null \
      | grep 'real seconds' &
  done | awk '{c+=$1; t=$4} END{printf "%.0f", c/t}'
}
row() {
  printf '%-34s %10s %10s %10s %10s %8s %8s\n' "$1" "$2" "$3" "$4" "$5" \
    "$(awk -v a="$2" -v b="$3" 'BEGIN{printf "%.2fx", a/b}')" "$(awk -v a="$4" -v b="$3" 'BEGIN{printf "%.2fx", a/b}')"
}
printf '%-34s %10s %10s %10s %10s %8s %8s\n' "case" gatehouse stunnel node-tls redis-tls "gh/st" "node/st"
for label in "requests/s, set+get, -P 16:-n $N -P 16" "requests/s, set+get, -P 1:-n $((N / 4)) -P 1"; do
  name=${label%%:*}; args=${label#*:}
  # shellcheck disable=SC2086
  row "$name" "$(rps "$GH" $args)" "$(rps "$ST" $args)" "$(rps "$NODE" $args)" "$(rps "$DIRECT" $args)"
done
row "mTLS handshakes/s ($PAR clients)" "$(handshakes "$GH")" "$(handshakes "$ST")" "$(handshakes "$NODE")" "$(handshakes "$DIRECT")"
echo "gh/st is the issue's ratio (goal: 2x throughput, 4x handshakes); node/st shows what Node's TLS does by itself;"
echo "redis-tls is redis-server's own TLS with no relay, the ceiling for any relay on this machine."
