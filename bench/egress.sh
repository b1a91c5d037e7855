#!/usr/bin/env bash
# Egress proxies head to head, one run, same allowlist (127.0.0.1), same origin on loopback:
#   plain HTTP (absolute-form GET, keep-alive) with wrk: direct, Gatehouse, Squid, tinyproxy;
#   requests inside CONNECT tunnels (N tunnels, keep-alive GETs inside each), with a small Node
#   load generator embedded below: direct, Gatehouse, Squid, tinyproxy; and, as a reference for
#   what any relay can do on this machine, the same requests through HAProxy in mode tcp (a plain
#   TCP relay in C: no CONNECT, no policy), shown in the CONNECT column only.
# Gatehouse runs twice: gh-w1 (workers: 1) and gh-auto (workers: auto, a primary and one worker
# per core). Squid runs in SMP mode with `workers` = cores (started without -N, so a master, a
# coordinator and the workers run); HAProxy at its default nbthread (the cores it may use);
# tinyproxy as it comes (one thread per connection).
# Each figure is the median of ROUNDS short runs in rotating order.
#   bash bench/egress.sh          (ROUNDS=3 SECS=5 CONNS=32 by default)
#   GH_NODE=/path/to/node         the node that runs Gatehouse (its SQLite store is off already)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
CONNS=${CONNS:-32}
GH_NODE=${GH_NODE:-node}
CORES=$(nproc)
# shellcheck source=bench/procs.sh
source bench/procs.sh
for bin in wrk squid tinyproxy haproxy "$GH_NODE"; do
  command -v "$bin" >/dev/null || { echo "bench: $bin is missing; run bash scripts/install-test-deps.sh as root" >&2; exit 1; }
done
[ -f dist/cli/main.js ] || npm run --silent build

work=$(mktemp -d "${TMPDIR:-/tmp}/gh-bench-egress-XXXXXX")
chmod 777 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo > /dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "bench: nothing on port $1" >&2; exit 1; }

ORIGIN=$(port); GH=$(port); GHA=$(port); SQ=$(port); TP=$(port); HA=$(port)

# Origin: a small fixed response, keep-alive.
node -e "
require('http').createServer((q, s) => { s.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 13 }); s.end('hello, world\n'); })
  .listen($ORIGIN, '127.0.0.1');" &
pids+=($!)

printf '127.0.0.1\n' > "$work/allowlist.txt"
chmod 644 "$work/allowlist.txt"

for w in 1 auto; do
  name=gh-$([ "$w" = 1 ] && echo w1 || echo auto)
  cat > "$work/$name.yaml" <<YAML
workers: $w
egressProxies:
  bench:
    listen: "127.0.0.1:$([ "$w" = 1 ] && echo "$GH" || echo "$GHA")"
    allowlist: ./allowlist.txt
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
    connectPorts: "443,$ORIGIN"
    accessLog: $work/$name-access.log
admin:
  enabled: false
# Like for like with Squid (which writes an access log and nothing else): the Squid-format access
# log and the JSON audit lines go to files; the SQLite audit store is off.
audit:
  log: $work/$name-audit.jsonl
  store: none
YAML
  "$GH_NODE" bin/gatehouse.js serve -c "$work/$name.yaml" 2>"$work/$name.err" &
  pids+=($!)
  if [ "$w" = 1 ]; then GH_W1_PID=$!; else GH_AUTO_PID=$!; fi
done

# SMP: `workers` = cores. Squid's kids share the listening socket through its coordinator (IPC
# sockets under /run/squid) and the memory cache through shared memory; nothing is cached here.
cat > "$work/squid.conf" <<CONF
workers $CORES
http_port 127.0.0.1:$SQ
visible_hostname bench
acl allowlist dstdomain "$work/allowlist.txt"
acl SSL_ports port 443 $ORIGIN
acl Safe_ports port 80 21 443 70 210 1025-65535 280 488 591 777
acl CONNECT method CONNECT
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access allow allowlist
http_access deny all
cache deny all
cache_mem 8 MB
pid_filename $work/squid.pid
access_log stdio:$work/squid-access.log
cache_log $work/squid-cache.log
cache_store_log none
coredump_dir $work
shutdown_lifetime 0 seconds
pinger_enable off
memory_cache_shared off
CONF
squid --foreground -f "$work/squid.conf" &
SQ_PID=$!
pids+=($!)

cat > "$work/tinyproxy.conf" <<CONF
Port $TP
Listen 127.0.0.1
Timeout 60
MaxClients 1024
LogLevel Critical
Filter "$work/allowlist.txt"
FilterDefaultDeny Yes
FilterExtended Off
ConnectPort 443
ConnectPort $ORIGIN
CONF
tinyproxy -d -c "$work/tinyproxy.conf" >/dev/null 2>&1 &
pids+=($!)

cat > "$work/haproxy.cfg" <<CONF
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend tcp_relay
  bind 127.0.0.1:$HA
  default_backend origin
backend origin
  server origin 127.0.0.1:$ORIGIN
CONF
haproxy -db -f "$work/haproxy.cfg" >/dev/null 2>&1 &
HA_PID=$!
pids+=($!)

for p in "$ORIGIN" "$GH" "$GHA" "$SQ" "$TP" "$HA"; do wait_port "$p"; done
sleep 1
echo "bench: $CORES cores; Gatehouse on node $("$GH_NODE" --version)"
echo "  gh-w1      Gatehouse, workers: 1 ($(proc_summary "$GH_W1_PID")), access log and JSON audit lines to files, no SQLite store"
echo "  gh-auto    Gatehouse, workers: auto ($(proc_summary "$GH_AUTO_PID")): $(grep -o 'starting [0-9]* workers[^"]*' "$work/gh-auto.err" | head -1)"
echo "  squid      $(squid -v | head -1), workers $CORES, no cache ($(proc_summary "$SQ_PID"): master, coordinator, workers)"
echo "  tinyproxy  $(tinyproxy -v 2>&1 | head -1)"
echo "  tcp-relay  reference: $(haproxy -v | head -1 | cut -d' ' -f1-3) mode tcp, nbthread at its default (= cores it may use) ($(proc_summary "$HA_PID")); no CONNECT"

cat > "$work/proxy.lua" <<LUA
wrk.path = "http://127.0.0.1:$ORIGIN/"
wrk.headers["Host"] = "127.0.0.1:$ORIGIN"
LUA

# Plain HTTP: requests/s from wrk (2 threads, CONNS connections).
http_rps() {
  if [ "$1" = direct ]; then
    wrk -t2 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$ORIGIN/" | awk '/Requests\/sec/ {print $2}'
  else
    wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$work/proxy.lua" "http://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'
  fi
}

# Requests through CONNECT tunnels: CONNS tunnels, one keep-alive GET at a time in each.
cat > "$work/tunnel-load.mjs" <<'JS'
import net from 'node:net';
const [proxyPort, originPort, conns, secs] = process.argv.slice(2).map(Number);
const req = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
let done = 0;
let stop = false;
function open() {
  return new Promise((resolve, reject) => {
    const s = net.connect(proxyPort || originPort, '127.0.0.1', () => {
      if (!proxyPort) return resolve(s);
      s.write(`CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
      let b = '';
      const onData = (d) => {
        b += d.toString('latin1');
        const end = b.indexOf('\r\n\r\n');
        if (end < 0) return;
        s.removeListener('data', onData);
        if (!/^HTTP\/1\.[01] 200/.test(b)) return reject(new Error(b.split('\r\n')[0]));
        resolve(s);
      };
      s.on('data', onData);
    });
    s.on('error', reject);
  });
}
function drive(s) {
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length: *(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (buf.length < total) return;
      buf = buf.subarray(total);
      done++;
      if (!stop) s.write(req);
      else s.destroy();
    }
  });
  s.write(req);
}
const sockets = await Promise.all(Array.from({ length: conns }, open));
sockets.forEach(drive);
const t0 = performance.now();
setTimeout(() => {
  stop = true;
  console.log((done / ((performance.now() - t0) / 1000)).toFixed(0));
  process.exit(0);
}, secs * 1000);
JS
tunnel_rps() {
  local p=$1
  [ "$p" = direct ] && p=0
  node "$work/tunnel-load.mjs" "$p" "$ORIGIN" "$CONNS" "$SECS"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

names=(direct gh-w1 gh-auto squid tinyproxy tcp-relay)
declare -A portof=([direct]=direct [gh-w1]=$GH [gh-auto]=$GHA [squid]=$SQ [tinyproxy]=$TP [tcp-relay]=$HA)
declare -A http tun
for r in $(seq "$ROUNDS"); do
  for i in "${!names[@]}"; do
    n=${names[$(( (i + r) % ${#names[@]} ))]}
    if [ "$n" = tcp-relay ]; then
      # No proxy protocol: the load generator connects "directly" to the relay's port.
      http[$n]+="- "
      tun[$n]+="$(node "$work/tunnel-load.mjs" 0 "$HA" "$CONNS" "$SECS") "
      continue
    fi
    http[$n]+="$(http_rps "${portof[$n]}") "
    tun[$n]+="$(tunnel_rps "${portof[$n]}") "
  done
done

printf '\nEgress proxies, %s rounds x %ss, %s connections, median requests/s (machine: %s cores)\n' "$ROUNDS" "$SECS" "$CONNS" "$(nproc)"
printf '%-10s %14s %14s\n' proxy 'plain HTTP' 'in CONNECT'
declare -A mh mt
for n in "${names[@]}"; do
  mh[$n]=$(echo "${http[$n]}" | tr ' ' '\n' | grep . | median)
  mt[$n]=$(echo "${tun[$n]}" | tr ' ' '\n' | grep . | median)
  printf '%-10s %14s %14s\n' "$n" "${mh[$n]}" "${mt[$n]}"
done
printf '\nEvery round (requests/s):\n'
for n in "${names[@]}"; do
  printf '  %-10s plain HTTP: %s  in CONNECT: %s\n' "$n" "${http[$n]}" "${tun[$n]}"
done
for g in gh-w1 gh-auto; do
  printf '\n%s / Squid: plain HTTP %s (goal >= 1.5), in CONNECT %s (goal >= 1.0)' "$g" \
    "$(echo "scale=2; ${mh[$g]} / ${mh[squid]}" | bc)" "$(echo "scale=2; ${mt[$g]} / ${mt[squid]}" | bc)"
done
printf '\nReference, a plain TCP relay in C (HAProxy mode tcp, no CONNECT) / Squid, in CONNECT: %s\n' \
  "$(echo "scale=2; ${mt[tcp-relay]} / ${mt[squid]}" | bc)"
printf '\nCPU time and RSS at the end of the run, per process:\n  gh-auto (the primary first, then its workers)\n'
proc_each "$GH_AUTO_PID"
printf '  gh-w1\n'
proc_each "$GH_W1_PID"
printf '  squid\n'
proc_each "$SQ_PID"
log_problems "$work/gh-w1.err" "$work/gh-auto.err"
