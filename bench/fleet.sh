#!/usr/bin/env bash
# A fleet behind a balancer: redis-benchmark (SET/GET, -c 50) through HAProxy (mode tcp, its
# default nbthread) to Gatehouse port forwards, in one run, to see what each part of the fleet
# costs and how replicas scale. Contenders, every Gatehouse with `workers: 1`:
#   ha-direct   HAProxy straight to redis-server (the balancer's own cost, the ceiling)
#   one         HAProxy -> one Gatehouse, no PROXY header, audit to a SQLite file
#   one-proxy   the same with send-proxy-v2 / `proxyProtocol: v2` (the cost of the header)
#   one-pg      one-proxy with `fleet:` (audit events, sessions and port maps in PostgreSQL)
#   three-pg    HAProxy round-robin over three such replicas (one PostgreSQL)
# Two loads: -P 16 on kept connections (the relay), and -k 0 with -P 1 (a new connection, so a
# new session with its accepted/dialed/closed audit events, for every request: the admission and
# audit path). Each figure is the median of ROUNDS runs in rotating order; ratios against `one`.
# PostgreSQL is Debian's, started in a temp dir as the postgres user on its own port (never the
# system service). Loopback only.
#   bash bench/fleet.sh        (ROUNDS=3 N16=1000000 NK0=20000 by default)
set -euo pipefail
[ -n "${BENCH_TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck source=bench/procs.sh
source bench/procs.sh
NK0=${NK0:-20000}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
for bin in redis-server redis-benchmark haproxy node "$PGBIN/initdb"; do
  command -v "$bin" >/dev/null || [ -x "$bin" ] || { echo "bench: $bin is missing; run bash scripts/install-test-deps.sh as root" >&2; exit 1; }
done
id postgres >/dev/null 2>&1 || { echo "bench: no postgres user; install Debian's postgresql" >&2; exit 1; }

# PostgreSQL of this run: initdb as postgres in the work dir, its own port, a password for gatehouse.
chmod 755 "$work"
PG=$(port)
mkdir "$work/pg" && chown postgres "$work/pg"
echo "bench: starting PostgreSQL ($PGBIN) on 127.0.0.1:$PG"
su postgres -s /bin/sh -c "$PGBIN/initdb -D $work/pg/data -A trust -U postgres >/dev/null"
su postgres -s /bin/sh -c "$PGBIN/postgres -D $work/pg/data -p $PG -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off >$work/pg/log 2>&1" &
pids+=($!)
wait_port "$PG"
for _ in $(seq 100); do
  su postgres -s /bin/sh -c "psql -h 127.0.0.1 -p $PG -U postgres -c 'select 1'" >/dev/null 2>&1 && break
  sleep 0.1
done
su postgres -s /bin/sh -c "psql -h 127.0.0.1 -p $PG -U postgres -q -c \"CREATE ROLE gatehouse LOGIN PASSWORD 'bench'\" -c 'CREATE DATABASE gatehouse OWNER gatehouse'"
echo bench >"$work/pg.pass"
chmod 600 "$work/pg.pass"

REDIS=$(port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=($!)
wait_port "$REDIS"

root=$(pwd)
# gatehouse DIR LISTEN HEALTH PROXY(yes|no) FLEET(REPLICA|no): start one Gatehouse; its pid in GHPID
gatehouse() {
  local dir=$1
  mkdir -p "$dir"
  {
    echo "workers: 1"
    echo "portForwards:"
    echo "  bench:"
    echo "    address: 127.0.0.1"
    if [ "$4" = yes ]; then
      echo "    proxyProtocol: v2"
      echo "    trustedProxies: [127.0.0.1/32]"
    fi
    echo "    forwards:"
    echo "      - { listen: \"$2\", target: \"127.0.0.1:$REDIS\" }"
    echo "admin:"
    echo "  enabled: false"
    echo "health:"
    echo "  listen: \"127.0.0.1:$3\""
    echo "audit:"
    echo "  log: ./audit.jsonl"
    echo "  store: ./audit.db"
    if [ "$5" != no ]; then
      echo "fleet:"
      echo "  postgres: \"postgres://gatehouse@127.0.0.1:$PG/gatehouse\""
      echo "  passwordFile: $work/pg.pass"
      echo "  replicaId: $5"
    fi
  } >"$dir/gatehouse.yaml"
  (cd "$dir" && exec node "$root/bin/gatehouse.js" serve -c gatehouse.yaml >gatehouse.log 2>&1) &
  GHPID=$!
}
wait_ready() { for _ in $(seq 200); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "bench: Gatehouse on health port $1 never ready" >&2; tail -5 "$work"/*/gatehouse.log >&2; exit 1; }

# haproxy_cfg LISTEN PROXY(yes|no) SERVER... -> a HAProxy config balancing over the servers
haproxy_cfg() {
  local listen=$1 proxy=$2
  shift 2
  printf 'global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1m\n  timeout server 1m\n'
  printf 'frontend fe\n  bind 127.0.0.1:%s\n  default_backend be\nbackend be\n  balance roundrobin\n' "$listen"
  local i=0
  for s in "$@"; do
    i=$((i + 1))
    printf '  server s%d %s%s\n' "$i" "$s" "$([ "$proxy" = yes ] && echo ' send-proxy-v2')"
  done
}

declare -A FRONT
start_haproxy() { # NAME PROXY SERVER...
  local name=$1
  shift
  FRONT[$name]=$(port)
  haproxy_cfg "${FRONT[$name]}" "$@" >"$work/haproxy-$name.cfg"
  haproxy -f "$work/haproxy-$name.cfg" -db >/dev/null 2>&1 &
  pids+=($!)
  wait_port "${FRONT[$name]}"
}

declare -A GHPIDS
add_gh() { # NAME REPLICA_DIR PROXY FLEET -> its listen address in ADDR
  local l h
  l=$(port)
  h=$(port)
  gatehouse "$work/$2" "$l" "$h" "$3" "$4"
  pids+=("$GHPID")
  GHPIDS[$1]="${GHPIDS[$1]:-} $GHPID"
  wait_ready "$h"
  ADDR="127.0.0.1:$l"
}

start_haproxy ha-direct no "127.0.0.1:$REDIS"
add_gh one one no no && start_haproxy one no "$ADDR"
add_gh one-proxy one-proxy yes no && start_haproxy one-proxy yes "$ADDR"
add_gh one-pg one-pg yes one-pg && start_haproxy one-pg yes "$ADDR"
add_gh three-pg r1 yes r1 && r1=$ADDR
add_gh three-pg r2 yes r2 && r2=$ADDR
add_gh three-pg r3 yes r3 && r3=$ADDR
start_haproxy three-pg yes "$r1" "$r2" "$r3"

names=(ha-direct one one-proxy one-pg three-pg)
echo "bench: $(nproc) cores; $(haproxy -v | head -1 | cut -d' ' -f1-3) at its default nbthread; node $(node --version); PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')"
echo "bench: ROUNDS=$ROUNDS; -P 16: $N16 requests, -k 0 -P 1: $NK0 requests, -c 50, SET and GET"
declare -A P16S P16G K0S K0G
for round in $(seq "$ROUNDS"); do
  n=${#names[@]}
  for k in $(seq 0 $((n - 1))); do
    who=${names[$(((k + round - 1) % n))]}
    read -r s g <<<"$(rps "${FRONT[$who]}" 16 "$N16")"
    P16S[$who]+="$s "; P16G[$who]+="$g "
    read -r s g <<<"$(redis-benchmark -h 127.0.0.1 -p "${FRONT[$who]}" -t set,get -c 50 -P 1 -k 0 -n "$NK0" -r 100000 --csv 2>/dev/null |
      awk -F'"' '$2=="SET"{s=$4} $2=="GET"{g=$4} END{print s, g}')"
    K0S[$who]+="$s "; K0G[$who]+="$g "
    echo "  round $round $who: -P16 SET $(echo "${P16S[$who]}" | awk '{print $NF}') -k0 SET $s GET $g"
  done
done
med() { tr ' ' '\n' | grep . | median; }
printf '\n%-10s %12s %12s %12s %12s %10s %10s\n' contender "P16 SET" "P16 GET" "k0 SET" "k0 GET" "P16 vs one" "k0 vs one"
base16=$(echo "${P16S[one]} ${P16G[one]}" | med)
basek0=$(echo "${K0S[one]} ${K0G[one]}" | med)
for who in "${names[@]}"; do
  a=$(echo "${P16S[$who]}" | med); b=$(echo "${P16G[$who]}" | med)
  c=$(echo "${K0S[$who]}" | med); d=$(echo "${K0G[$who]}" | med)
  r16=$(echo "$a $b $base16" | awk '{printf "%.2fx", ($1+$2)/2/$3}')
  rk0=$(echo "$c $d $basek0" | awk '{printf "%.2fx", ($1+$2)/2/$3}')
  printf '%-10s %12s %12s %12s %12s %10s %10s\n' "$who" "$a" "$b" "$c" "$d" "$r16" "$rk0"
done
echo
echo "one-proxy vs one: the PROXY v2 header; one-pg vs one-proxy: the PostgreSQL audit sink and"
echo "session directory; three-pg vs one-pg: replicas on $(nproc) cores (each replica is one process)."
echo "Gatehouse processes at the end:"
for who in one one-proxy one-pg three-pg; do
  echo "  $who"
  for p in ${GHPIDS[$who]}; do proc_each "$p"; done
done
rows=$(su postgres -s /bin/sh -c "psql -h 127.0.0.1 -p $PG -U postgres -d gatehouse -tA -c 'select count(*) from gatehouse_events'" 2>/dev/null || echo '?')
echo "audit events in PostgreSQL at the end: $rows"
log_problems "$work"/*/gatehouse.log
