#!/usr/bin/env bash
# Runs fleet_bench against a fresh embedded deskaudit-server on loopback.
#   bench/fleet/run.sh [targets|quick|-- fleet_bench flags...]
# targets: the three scenarios of the server-core issue (3,000 keep-alive
# agents + 5 auditors for 3 minutes; 2,000 slow clients with auditors; a
# burst of 500 uploads). quick: a one-minute smoke run. Anything else is
# passed to fleet_bench (see fleet_bench --help).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${FLEET_BENCH_BIN:-$root/build/bin/fleet_bench}"
[[ -x "$bin" ]] || { echo "fleet_bench not built: ninja -C build fleet_bench" >&2; exit 2; }
# 3,000+ sockets on each side of loopback.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < 8192 )); then ulimit -n 8192 2>/dev/null || echo "warning: open-files limit $(ulimit -n)" >&2; fi
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
case "${1:-targets}" in
  targets)
    "$bin" --agents 3000 --auditors 5 --duration 180
    "$bin" --agents 100 --auditors 5 --slow 2000 --duration 60 --upload-interval 20
    "$bin" --agents 0 --auditors 0 --burst 500
    ;;
  quick)
    "$bin" --agents 300 --auditors 5 --duration 60 --heartbeat 5 --upload-interval 20
    ;;
  --) shift; "$bin" "$@" ;;
  *) "$bin" "$@" ;;
esac
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
