#!/usr/bin/env bash
# Runs fleet_bench (and ingest_bench for ingest throughput) against fresh
# deskaudit-server processes on loopback.
#   bench/fleet/run.sh [targets|quick|replicas|slow|ingest|all|-- fleet_bench flags...]
# targets: the three scenarios of the server-core issue on the embedded
# defaults (3,000 keep-alive agents + 5 auditors for 3 minutes; 2,000 slow
# clients with auditors; a burst of 500 uploads). quick: a one-minute smoke
# run. replicas: 3,000 agents + 5 auditors for 3 minutes, then a burst of 500,
# against two replicas on PostgreSQL + S3. slow: the slow-client scenario with
# the 5 slowest requests of each type. ingest: 50 agents x 4 segments of
# 32 MiB against the server and the object store alone (local directory and
# s3rver), three rounds alternating, with the median ratio of each pair; then,
# when DESKAUDIT_TEST_RGW_ENDPOINT is set, 50 x 1 x 8 MiB against Ceph RGW
# (it keeps objects in RAM). all: ingest, slow, replicas, targets. replicas
# and ingest need DESKAUDIT_TEST_POSTGRES_URL and DESKAUDIT_TEST_S3_ENDPOINT
# (scripts/pg-test-server start, scripts/s3-test-server start); without them
# ingest runs the local-disk half only. Anything else is passed to
# fleet_bench (see fleet_bench --help).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${FLEET_BENCH_BIN:-$root/build/bin/fleet_bench}"
ingest="${INGEST_BENCH_BIN:-$root/build/bin/ingest_bench}"
[[ -x "$bin" ]] || { echo "fleet_bench not built: ninja -C build fleet_bench ingest_bench deskaudit-server" >&2; exit 2; }
# 3,000+ sockets on each side of loopback.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < 8192 )); then ulimit -n 8192 2>/dev/null || echo "warning: open-files limit $(ulimit -n)" >&2; fi
echo "machine: $(nproc) cores; $(date -u +%FT%TZ); load before: $(cut -d' ' -f1-3 /proc/loadavg)"

need_services() {
  if [[ -z "${DESKAUDIT_TEST_POSTGRES_URL:-}" || -z "${DESKAUDIT_TEST_S3_ENDPOINT:-}" ]]; then
    echo "run.sh $1: set DESKAUDIT_TEST_POSTGRES_URL and DESKAUDIT_TEST_S3_ENDPOINT" \
      "(scripts/pg-test-server start, scripts/s3-test-server start)" >&2
    exit 2
  fi
}
targets() {
  "$bin" --agents 3000 --auditors 5 --duration 180
  slow
  "$bin" --agents 0 --auditors 0 --burst 500
}
# With a control run of the same agents and auditors without slow clients
# (on a shared machine the tail comes and goes with the load of others).
slow() {
  "$bin" --agents 100 --auditors 5 --slow 2000 --duration 60 --upload-interval 20 --slowest
  "$bin" --agents 100 --auditors 5 --slow 0 --duration 60 --upload-interval 20 --slowest
}
replicas() {
  need_services replicas
  "$bin" --replicas 2 --agents 3000 --auditors 5 --duration 180 --burst 500
}
ingest_run() {
  [[ -x "$ingest" ]] || { echo "ingest_bench not built: ninja -C build ingest_bench" >&2; exit 2; }
  "$ingest" --agents 50 --segments-per-agent 4 --segment-mib 32 --s3-replicas 1 --rounds 3
  if [[ -n "${DESKAUDIT_TEST_RGW_ENDPOINT:-}" && -n "${DESKAUDIT_TEST_POSTGRES_URL:-}" ]]; then
    "$ingest" --only rgw-server rgw-alone --agents 50 --segments-per-agent 1 --segment-mib 8 --s3-replicas 1 --rounds 3
  fi
}

case "${1:-targets}" in
  targets) targets ;;
  quick) "$bin" --agents 300 --auditors 5 --duration 60 --heartbeat 5 --upload-interval 20 ;;
  replicas) replicas ;;
  slow) slow ;;
  ingest) ingest_run ;;
  all)
    ingest_run
    echo
    slow
    echo
    replicas
    echo
    targets
    ;;
  --) shift; "$bin" "$@" ;;
  *) "$bin" "$@" ;;
esac
echo "$(date -u +%FT%TZ); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
