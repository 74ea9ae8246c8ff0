#!/usr/bin/env bash
# deskaudit-record stops on SIGINT when started the way run.sh starts it: as
# a background job of a non-interactive bash, which starts it with SIGINT
# ignored. (Its threads must all block the signal, or one of them takes it
# and drops it, and the recorder runs on.) Waits on the recorder's exit; the
# 60 s bound only turns a hang into a failure.
#   stop_test.sh PATH/TO/deskaudit-record
set -euo pipefail
recorder=$1
command -v Xvfb >/dev/null || { echo "no Xvfb: skipped"; exit 77; }
work=$(mktemp -d)
xvfb_pid=""
rec_pid=""
cleanup() {
  [[ -n "$rec_pid" ]] && kill -KILL "$rec_pid" 2>/dev/null || true
  [[ -n "$xvfb_pid" ]] && kill "$xvfb_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
display=""
for n in $(seq 400 499); do
  [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] && continue
  Xvfb ":$n" -screen 0 640x480x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 100); do [[ -e /tmp/.X11-unix/X$n ]] && { display=":$n"; break 2; }; sleep 0.1; done
  kill "$xvfb_pid" 2>/dev/null || true
done
[[ -n "$display" ]] || { echo "no free display"; exit 1; }
# What bash does to a background job when job control is off.
(trap '' INT; exec "$recorder" --display "$display" --out "$work/out" >"$work/log" 2>&1) &
rec_pid=$!
for _ in $(seq 600); do
  grep -q '^backend=' "$work/log" 2>/dev/null && break
  kill -0 "$rec_pid" 2>/dev/null || { cat "$work/log"; echo "the recorder exited early"; exit 1; }
  sleep 0.1
done
grep -q '^backend=' "$work/log" || { cat "$work/log"; echo "the recorder did not start"; exit 1; }
kill -INT "$rec_pid"
for _ in $(seq 600); do
  if ! kill -0 "$rec_pid" 2>/dev/null; then
    rc=0
    wait "$rec_pid" || rc=$?
    rec_pid=""
    grep -q '^elapsed_ms=' "$work/log" || { cat "$work/log"; echo "the recorder did not finish its recording"; exit 1; }
    echo "stopped on SIGINT (exit $rc)"
    exit "$rc"
  fi
  sleep 0.1
done
cat "$work/log"
echo "the recorder ignored SIGINT for 60 s"
exit 1
