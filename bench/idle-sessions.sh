#!/usr/bin/env bash
# Idle sessions: what each open, idle session costs a relay in memory. For each contender, started
# fresh, one at a time: read the RSS of the server (VmRSS summed over every process of it: for
# Gatehouse the primary and all its workers), open SESSIONS sessions through it to one
# redis-server, prove each established with one PING answered by +PONG, let them sit, read the
# RSS again; RSS per session = (after - before) / SESSIONS. Contenders:
#   gh-w1-tcp    Gatehouse port forward (userspace relay), workers: 1
#   gh-auto-tcp  the same, workers: auto (a primary and one worker per core)
#   haproxy-tcp  HAProxy mode tcp, nbthread at its default (the cores it may use)
#   gh-w1-mtls   Gatehouse access endpoint direct TLS listener (mTLS, CRL), workers: 1
#   gh-auto-mtls the same, workers: auto
#   haproxy-mtls HAProxy mode tcp, bind ... ssl verify required, with the same CA, CRL and cert
# The clients are one node process per contender (not the bottleneck: it opens CONCURRENCY
# sessions at a time and holds them all); TLS clients share one secure context and pass no
# session, so every session is a full handshake (no resumption).
# The soft descriptor limit is raised to the hard one; SESSIONS is 10000 where the hard limit
# leaves a relay of one process 2 descriptors per session plus 1000, else 5000. Loopback only.
#   bash bench/idle-sessions.sh     (SESSIONS=auto CONCURRENCY=64 SETTLE=3)
#   GH_NODE=/path/to/node GH_STORE=none   Gatehouse on another node (no SQLite store)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/procs.sh
source bench/procs.sh
GH_NODE=${GH_NODE:-node}
CONCURRENCY=${CONCURRENCY:-64}
SETTLE=${SETTLE:-3}
for bin in redis-server haproxy ss "$GH_NODE"; do
  command -v "$bin" >/dev/null || { echo "bench: $bin is missing; run bash scripts/install-test-deps.sh as root" >&2; exit 1; }
done
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard"
if [ "${SESSIONS:-auto}" = auto ]; then
  if [ "$hard" -ge $((2 * 10000 + 1000)) ]; then
    SESSIONS=10000
    why="the descriptor limit ($hard) allows 10000"
  else
    SESSIONS=5000
    why="the descriptor limit ($hard, hard) is under 2 x 10000 + 1000, too few for 10000 sessions in one relay process: 5000"
  fi
else
  why="SESSIONS=$SESSIONS given"
fi
[ "$hard" -ge $((2 * SESSIONS + 1000)) ] || { echo "bench: $SESSIONS sessions need a descriptor limit of $((2 * SESSIONS + 1000)); the hard limit is $hard" >&2; exit 1; }

[ -f dist/cli/main.js ] || npm run --silent build
work=$(mktemp -d "${TMPDIR:-/tmp}/gh-bench-idle-XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "bench: nothing on port $1" >&2; exit 1; }
# stop PID: SIGTERM (Gatehouse's primary stops its workers), wait for it to be gone
stop() { kill "$1" 2>/dev/null || true; for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; }

G="node bin/gatehouse.js pki --pki $work/pki"
$G init-pki >/dev/null
$G build-ca >/dev/null
$G build-server-full server --san IP:127.0.0.1 >/dev/null
$G build-client-full bench --group bench >/dev/null
$G gen-crl >/dev/null
cat "$work/pki/issued/server.crt" "$work/pki/private/server.key" >"$work/server.pem"

REDIS=$(port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --maxclients $((SESSIONS + 100)) >/dev/null &
pids+=($!)
wait_port "$REDIS"

cat >"$work/idle-client.mjs" <<'JS'
// Opens N sessions (CONCURRENCY at a time), each proven established by PING -> +PONG, prints
// "ready OK FAILED SECONDS" and holds them until SIGTERM.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
const [mode, port, n, concurrency, pki] = process.argv.slice(2);
const context =
  mode === 'tls'
    ? tls.createSecureContext({
        cert: fs.readFileSync(`${pki}/issued/bench.crt`),
        key: fs.readFileSync(`${pki}/private/bench.key`),
        ca: fs.readFileSync(`${pki}/ca.crt`),
      })
    : undefined;
const sockets = [];
let ok = 0;
let failed = 0;
let lost = 0;
let started = 0;
const errors = {};
function one() {
  return new Promise((resolve) => {
    // No `session`: nothing is resumed, each TLS session is a full handshake.
    const s =
      mode === 'tls'
        ? tls.connect({ host: '127.0.0.1', port: Number(port), secureContext: context })
        : net.connect(Number(port), '127.0.0.1');
    let established = false;
    let buf = '';
    s.once(mode === 'tls' ? 'secureConnect' : 'connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (!established && buf.includes('+PONG\r\n')) {
        established = true;
        ok++;
        resolve();
      }
    });
    s.on('error', (e) => {
      errors[e.code ?? e.message] = (errors[e.code ?? e.message] ?? 0) + 1;
    });
    s.on('close', () => {
      if (established) lost++;
      else {
        failed++;
        resolve();
      }
    });
    sockets.push(s);
  });
}
async function lane() {
  while (started < Number(n)) {
    started++;
    await one();
  }
}
const t0 = performance.now();
await Promise.all(Array.from({ length: Number(concurrency) }, lane));
console.log(`ready ${ok} ${failed} ${((performance.now() - t0) / 1000).toFixed(1)}`);
process.on('SIGTERM', () => {
  console.log(`lost ${lost} errors ${JSON.stringify(errors)}`);
  for (const s of sockets) s.destroy();
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
JS

gatehouse_config() { # WORKERS tcp|mtls PORT
  echo "workers: $1"
  if [ "$2" = tcp ]; then
    cat <<YAML
portForwards:
  bench:
    address: 127.0.0.1
    forwards:
      - { listen: "$3", target: "127.0.0.1:$REDIS" }
    # Every session comes from one address (and, for mTLS, one certificate): the default limits
    # (1000 per source and per certificate) would refuse the rest.
    limits: { maxConnections: 0, maxConnectionsPerSource: 0 }
YAML
  else
    cat <<YAML
pki: ./pki
accessEndpoints:
  bench:
    listen: "127.0.0.1:$(port)"
    serverCertificate: server
    connectionLog: false
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [bench] }
    directListeners:
      - { listen: "127.0.0.1:$3", target: "127.0.0.1:$REDIS" }
    limits: { maxConnections: 0, maxConnectionsPerSource: 0, maxSessionsPerCertificate: 0 }
YAML
  fi
  cat <<YAML
admin:
  enabled: false
audit:
  log: ./audit.jsonl
  store: ${GH_STORE:-./audit.db}
YAML
}
haproxy_config() { # tcp|mtls PORT
  cat <<CFG
global
  maxconn $((SESSIONS + 1000))
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend fe
CFG
  if [ "$1" = tcp ]; then
    echo "  bind 127.0.0.1:$2"
  else
    echo "  bind 127.0.0.1:$2 ssl crt $work/server.pem ca-file $work/pki/ca.crt crl-file $work/pki/crl.pem verify required"
  fi
  cat <<CFG
  default_backend redis
backend redis
  server redis 127.0.0.1:$REDIS
CFG
}

echo "bench: $(nproc) cores; $SESSIONS sessions per contender ($why); Gatehouse on node $("$GH_NODE" --version), audit store ${GH_STORE:-SQLite}; $(haproxy -v | head -1 | cut -d' ' -f1-3)"
echo "bench: clients: one node process per contender, $CONCURRENCY sessions opened at a time, TLS without resumption"
names=(gh-w1-tcp gh-auto-tcp haproxy-tcp gh-w1-mtls gh-auto-mtls haproxy-mtls)
declare -A BEFORE AFTER PROCS OPEN
for who in "${names[@]}"; do
  p=$(port)
  mode=${who##*-}
  dir="$work/$who"
  mkdir -p "$dir"
  ln -s ../pki "$dir/pki"
  case $who in
    gh-*)
      w=${who#gh-}; w=${w%%-*}; [ "$w" = w1 ] && w=1
      gatehouse_config "$w" "$mode" "$p" >"$dir/gatehouse.yaml"
      "$GH_NODE" bin/gatehouse.js serve -c "$dir/gatehouse.yaml" 2>"$dir/gatehouse.err" >/dev/null &
      ;;
    haproxy-*)
      haproxy_config "$mode" "$p" >"$dir/haproxy.cfg"
      haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
      ;;
  esac
  server=$!
  pids+=("$server")
  wait_port "$p"
  sleep 2
  BEFORE[$who]=$(rss_kb "$server")
  node "$work/idle-client.mjs" "$([ "$mode" = tcp ] && echo tcp || echo tls)" "$p" "$SESSIONS" "$CONCURRENCY" "$work/pki" >"$dir/client.out" 2>&1 &
  client=$!
  pids+=("$client")
  for _ in $(seq 1200); do grep -q '^ready' "$dir/client.out" && break; kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
  read -r _ ok failed secs < <(grep '^ready' "$dir/client.out" || echo "ready 0 $SESSIONS -")
  sleep "$SETTLE"
  AFTER[$who]=$(rss_kb "$server")
  PROCS[$who]=$(proc_summary "$server")
  est=$(ss -Htn state established "( sport = :$p )" | wc -l)
  OPEN[$who]="$ok ok, $failed failed, opened in ${secs}s, $est established at the server port after ${SETTLE}s"
  printf '  %-13s %s; %s\n' "$who" "${OPEN[$who]}" "${PROCS[$who]}" >&2
  case $who in gh-auto-*) proc_each "$server" >&2 ;; esac
  stop "$client"
  grep -h '^lost' "$dir/client.out" | sed "s/^/  $who client: /" >&2 || true
  stop "$server"
  if [ -f "$dir/gatehouse.err" ]; then cp "$dir/gatehouse.err" "$work/$who.err"; fi
done

printf '\nIdle sessions: %s per contender, each established and answered one PING; RSS summed over every process of the server\n' "$SESSIONS"
printf '%-13s %-27s %12s %12s %14s %10s\n' contender processes "RSS before" "RSS after" "per session" "vs haproxy"
for who in "${names[@]}"; do
  per=$(awk -v a="${AFTER[$who]}" -v b="${BEFORE[$who]}" -v n="$SESSIONS" 'BEGIN{printf "%.1f", (a - b) / n}')
  ha=haproxy-${who##*-}
  haper=$(awk -v a="${AFTER[$ha]}" -v b="${BEFORE[$ha]}" -v n="$SESSIONS" 'BEGIN{printf "%.1f", (a - b) / n}')
  printf '%-13s %-27s %9.1f MB %9.1f MB %11s KB %9.2fx\n' "$who" "${PROCS[$who]}" "$(echo "${BEFORE[$who]}/1024" | bc -l)" \
    "$(echo "${AFTER[$who]}/1024" | bc -l)" "$per" "$(awk -v a="$per" -v b="$haper" 'BEGIN{print (b > 0 ? a / b : 0)}')"
done
printf '\nSessions:\n'
for who in "${names[@]}"; do printf '  %-13s %s\n' "$who" "${OPEN[$who]}"; done
echo "RSS per session = (RSS after - RSS before) / sessions; it includes whatever the first connections initialise once."
shopt -s nullglob
errs=("$work"/gh-*.err)
if [ ${#errs[@]} -gt 0 ]; then log_problems "${errs[@]}"; fi
