#!/usr/bin/env bash
# Access endpoint direct TLS listener vs stunnel and HAProxy in mTLS mode, same certificates, same
# CRL, same redis-server, one run. Gatehouse runs twice: gh-w1 (workers: 1) and gh-auto (workers:
# auto, a primary and one worker per core); stunnel is threaded and HAProxy runs at its default
# nbthread (the cores it may use). Two references ride along: the plainest Node mTLS relay
# (bench/reference/node-tls-relay.mjs, one process: what Node's TLS costs by itself) and
# redis-server's own TLS port with no relay at all (the ceiling for any relay on this machine).
# For each contender, in ROUNDS rounds taken in rotating order:
#   redis-benchmark --tls at -P 16 and -P 1 (requests/s, the mean of SET and GET);
#   the handshake rate: full mTLS handshakes per second from PAR parallel `openssl s_time -new`
#   clients for SECS seconds (redis-benchmark -k 0 is client-bound: it builds a TLS context per
#   connection);
#   server CPU per handshake: utime + stime from /proc over every process of that server (for
#   Gatehouse the primary and all its workers), after the handshake load less before, divided by
#   the handshakes done.
# Loopback only. N=…, CLIENTS=…, PAR=…, SECS=…, ROUNDS=… to change.
#   bash bench/access-tls.sh              (ROUNDS=3 N=100000 CLIENTS=16 PAR=4 SECS=4)
#   GH_NODE=/path/to/node GH_STORE=none   Gatehouse on another node (better-sqlite3 is built for
#                                         the node on PATH, so the SQLite store goes off)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/procs.sh
source bench/procs.sh
ROUNDS=${ROUNDS:-3}
N=${N:-100000}
PAR=${PAR:-4}
SECS=${SECS:-4}
CLIENTS=${CLIENTS:-16}
GH_NODE=${GH_NODE:-node}
for bin in redis-server redis-benchmark stunnel4 haproxy openssl "$GH_NODE"; do
  command -v "$bin" >/dev/null || { echo "bench: $bin is missing; run bash scripts/install-test-deps.sh as root" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gh-bench-access-XXXXXX")
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
cat "$WORK/pki/issued/server.crt" "$WORK/pki/private/server.key" >"$WORK/server.pem"

REDIS=$(free_port); DIRECT=$(free_port); NODE=$(free_port); ST=$(free_port); HAT=$(free_port)
GH1=$(free_port); GH1_TUN=$(free_port); GHA=$(free_port); GHA_TUN=$(free_port)
declare -A PID PORT=([gh-w1]=$GH1 [gh-auto]=$GHA [stunnel]=$ST [haproxy]=$HAT [node-tls]=$NODE [redis-tls]=$DIRECT)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=($!)
redis-server --port 0 --tls-port "$DIRECT" --bind 127.0.0.1 --save '' --appendonly no \
  --tls-cert-file "$WORK/pki/issued/server.crt" --tls-key-file "$WORK/pki/private/server.key" \
  --tls-ca-cert-file "$CA" >/dev/null &
PID[redis-tls]=$!
pids+=($!)
node bench/reference/node-tls-relay.mjs "$WORK/pki" "$NODE" "$REDIS" &
PID[node-tls]=$!
pids+=($!)
for w in 1 auto; do
  name=gh-$([ "$w" = 1 ] && echo w1 || echo auto)
  cat >"$WORK/$name.yaml" <<YAML
workers: $w
pki: ./pki
accessEndpoints:
  bench:
    listen: "127.0.0.1:$([ "$w" = 1 ] && echo "$GH1_TUN" || echo "$GHA_TUN")"
    serverCertificate: server
    connectionLog: false
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [bench] }
    directListeners:
      - { listen: "127.0.0.1:${PORT[$name]}", target: "127.0.0.1:$REDIS" }
admin:
  enabled: false
audit:
  store: ${GH_STORE:-./$name-audit.db}
YAML
  "$GH_NODE" bin/gatehouse.js serve -c "$WORK/$name.yaml" >/dev/null 2>"$WORK/$name.err" &
  PID[$name]=$!
  pids+=($!)
done
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
PID[stunnel]=$!
pids+=($!)
cat >"$WORK/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend mtls
  bind 127.0.0.1:$HAT ssl crt $WORK/server.pem ca-file $CA crl-file $WORK/pki/crl.pem verify required
  default_backend redis
backend redis
  server redis 127.0.0.1:$REDIS
CFG
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PID[haproxy]=$!
pids+=($!)
wait_port "$REDIS"
for p in "${PORT[@]}"; do wait_port "$p"; done
sleep 1

names=(gh-w1 gh-auto stunnel haproxy node-tls redis-tls)
echo "bench: $(nproc) cores; Gatehouse on node $("$GH_NODE" --version); $(openssl version); audit store ${GH_STORE:-SQLite}"
echo "  gh-w1      Gatehouse direct TLS listener, workers: 1 ($(proc_summary "${PID[gh-w1]}"))"
echo "  gh-auto    Gatehouse direct TLS listener, workers: auto ($(proc_summary "${PID[gh-auto]}")): $(grep -o 'starting [0-9]* workers[^"]*' "$WORK/gh-auto.err" | head -1)"
echo "  stunnel    $(stunnel4 -version 2>&1 | grep -m1 -o 'stunnel [0-9.]*'), $(stunnel4 -version 2>&1 | grep -o 'Threading:[A-Z]*' | head -1) ($(proc_summary "${PID[stunnel]}"))"
echo "  haproxy    $(haproxy -v | head -1 | cut -d' ' -f1-3), mode tcp, bind ssl ... verify required, nbthread at its default (= cores it may use) ($(proc_summary "${PID[haproxy]}"))"
echo "  node-tls   reference: bench/reference/node-tls-relay.mjs, one process"
echo "  redis-tls  reference: redis-server's own TLS port, no relay"
echo "  load: redis-benchmark -c $CLIENTS, -n $N at -P 16 and -n $((N / 4)) at -P 1; handshakes: $PAR x openssl s_time -new for ${SECS}s"

TLS=(--tls --cert "$CRT" --key "$KEY" --cacert "$CA")
rps() { redis-benchmark "${TLS[@]}" -h 127.0.0.1 -p "$1" -c "$CLIENTS" -t set,get "${@:2}" -q | awk '{for(i=1;i<=NF;i++) if($i ~ /^[0-9.]+$/ && $(i+1)=="requests"){s+=$i;n++}} END{printf "%.0f", s/n}'; }
# handshakes PORT -> "HANDSHAKES PER_SECOND"
handshakes() {
  for _ in $(seq "$PAR"); do
    openssl s_time -connect "127.0.0.1:$1" -new -time "$SECS" -cert "$CRT" -key "$KEY" -CAfile "$CA" 2>/dev/null \
      | grep 'real seconds' &
  done | awk '{c+=$1; t=$4} END{printf "%d %.0f\n", c, t ? c/t : 0}'
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

declare -A P16 P1 HS CPU
for r in $(seq "$ROUNDS"); do
  for i in "${!names[@]}"; do
    who=${names[$(((i + r) % ${#names[@]}))]}
    a=$(rps "${PORT[$who]}" -n "$N" -P 16)
    b=$(rps "${PORT[$who]}" -n "$((N / 4))" -P 1)
    t0=$(cpu_ticks "${PID[$who]}")
    read -r count rate < <(handshakes "${PORT[$who]}")
    t1=$(cpu_ticks "${PID[$who]}")
    ms=$(awk -v d="$((t1 - t0))" -v hz="$CLK_TCK" -v c="$count" 'BEGIN{printf "%.3f", c ? d * 1000 / hz / c : 0}')
    P16[$who]+="$a "; P1[$who]+="$b "; HS[$who]+="$rate "; CPU[$who]+="$ms "
    printf '  round %s %-10s -P 16 %8s  -P 1 %8s  handshakes/s %6s (%s in %ss)  server CPU %s ms/handshake\n' \
      "$r" "$who" "$a" "$b" "$rate" "$count" "$SECS" "$ms" >&2
  done
done

declare -A M16 M1 MHS MCPU
for who in "${names[@]}"; do
  M16[$who]=$(echo "${P16[$who]}" | median); M1[$who]=$(echo "${P1[$who]}" | median)
  MHS[$who]=$(echo "${HS[$who]}" | median); MCPU[$who]=$(echo "${CPU[$who]}" | median)
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2fx", a/b}'; }
printf '\nMedians of %s rounds (requests/s: mean of SET and GET; CPU: server CPU ms per full mTLS handshake)\n' "$ROUNDS"
printf '%-10s %10s %10s %12s %10s   %-29s %-29s\n' contender "-P 16" "-P 1" handshakes/s "CPU ms/hs" \
  "vs stunnel (P16 P1 hs cpu)" "vs haproxy (P16 P1 hs cpu)"
for who in "${names[@]}"; do
  printf '%-10s %10s %10s %12s %10s   %-29s %-29s\n' "$who" "${M16[$who]}" "${M1[$who]}" "${MHS[$who]}" "${MCPU[$who]}" \
    "$(ratio "${M16[$who]}" "${M16[stunnel]}") $(ratio "${M1[$who]}" "${M1[stunnel]}") $(ratio "${MHS[$who]}" "${MHS[stunnel]}") $(ratio "${MCPU[$who]}" "${MCPU[stunnel]}")" \
    "$(ratio "${M16[$who]}" "${M16[haproxy]}") $(ratio "${M1[$who]}" "${M1[haproxy]}") $(ratio "${MHS[$who]}" "${MHS[haproxy]}") $(ratio "${MCPU[$who]}" "${MCPU[haproxy]}")"
done
printf '\nEvery round:\n'
for who in "${names[@]}"; do
  printf '  %-10s -P 16: %s| -P 1: %s| handshakes/s: %s| CPU ms/hs: %s\n' "$who" "${P16[$who]}" "${P1[$who]}" "${HS[$who]}" "${CPU[$who]}"
done
echo "Ratios above 1x are better except in the CPU column, where below 1x is less CPU per handshake."
echo "gh/stunnel is the issue's ratio (goal: 2x throughput, 4x handshakes); node-tls shows what Node's TLS does by"
echo "itself; redis-tls is redis-server's own TLS with no relay, the ceiling for any relay on this machine."
printf '\nCPU time and RSS at the end of the run, per process:\n  gh-auto (the primary first, then its workers)\n'
proc_each "${PID[gh-auto]}"
printf '  gh-w1\n'
proc_each "${PID[gh-w1]}"
log_problems "$WORK/gh-w1.err" "$WORK/gh-auto.err"
