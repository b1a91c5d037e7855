# Shared by the redis-benchmark scripts in bench/: sourced, not run.
# Sets ROUNDS, N16, N1 defaults, a work dir cleaned up on exit with every process in $pids, and
# helpers to find ports, wait for them, measure SET/GET rps and take medians.
ROUNDS=${ROUNDS:-3}
N16=${N16:-1000000}
N1=${N1:-200000}
[ -f dist/cli/main.js ] || npm run --silent build
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "bench: nothing on port $1" >&2; exit 1; }

# rps PORT PIPELINE REQUESTS -> "SET_RPS GET_RPS"
rps() {
  redis-benchmark -h 127.0.0.1 -p "$1" -t set,get -c 50 -P "$2" -n "$3" -r 100000 --csv 2>/dev/null |
    awk -F'"' '$2=="SET"{s=$4} $2=="GET"{g=$4} END{print s, g}'
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
