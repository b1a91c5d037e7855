# shellcheck shell=bash
# What a server costs, read from /proc over all of its processes: sourced by the bench scripts,
# not run. A server is the process a script started and every descendant of it (Gatehouse's
# primary and its workers, Squid's coordinator and kids); threads count within their process.

# proc_tree PID -> PID and every live descendant, one per line
proc_tree() {
  local c
  echo "$1"
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do proc_tree "$c"; done
}
# cpu_ticks PID -> utime + stime, in clock ticks, summed over PID's tree
cpu_ticks() {
  local p
  for p in $(proc_tree "$1"); do
    sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || true
  done | awk '{t += $12 + $13} END {print t + 0}'
}
# rss_kb PID -> VmRSS in kB, summed over PID's tree
rss_kb() {
  local p
  for p in $(proc_tree "$1"); do
    awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true
  done | awk '{t += $1} END {print t + 0}'
}
# proc_summary PID -> "N processes, M threads"
proc_summary() {
  local p n=0 t=0
  for p in $(proc_tree "$1"); do
    n=$((n + 1))
    t=$((t + $(find "/proc/$p/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)))
  done
  echo "$n processes, $t threads"
}
# proc_each PID -> one line per process of PID's tree: pid, Gatehouse worker slot, command line,
# CPU seconds so far, VmRSS
proc_each() {
  local p slot
  for p in $(proc_tree "$1"); do
    [ -r "/proc/$p/stat" ] || continue
    slot=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | sed -n 's/^GATEHOUSE_WORKER_SLOT=/worker w/p')
    printf '    pid %-8s %-10s %-50.50s CPU %8.2f s  RSS %7.1f MB\n' "$p" "${slot:--}" "$(tr '\0' ' ' <"/proc/$p/cmdline")" \
      "$(sed 's/.*) //' "/proc/$p/stat" | awk -v hz="$CLK_TCK" '{print ($12 + $13) / hz}')" \
      "$(awk '/^VmRSS:/ {print $2 / 1024}' "/proc/$p/status")"
  done
}
CLK_TCK=$(getconf CLK_TCK)
# log_problems FILE... -> Gatehouse's warn, error and fatal lines (pino levels 40, 50, 60), less
# the config warning every bench config earns (no security groups: any source is admitted)
log_problems() {
  local lines
  lines=$(grep -h -e '"level":[456]0' "$@" | grep -v -e 'has no security groups' -e 'has neither security groups' || true)
  [ -z "$lines" ] && return 0
  printf '\nGatehouse logged warnings or errors (%s lines; the first 20):\n' "$(echo "$lines" | wc -l)"
  echo "$lines" | head -20
}
