#!/usr/bin/env bash
# deskaudit-agent.exe as a Windows service under Wine: `install` (protected
# state directory with the enrollment token, the service registered without the
# token on its command line, started), the service starts the agent's `run` as
# a helper in the user's session, `sc stop` stops both, `sc start` again, then
# `uninstall` stops and deletes it (and the Event Log source install
# registered). The helper has no server to enroll with (a
# closed port): it keeps retrying, which is all this test needs; recording and
# uploading against a real server is windows_agent_wine's part.
#   tests/integration/windows/agent_service_wine_test.sh [BUILD_WINDOWS_DIR]
# Exit 77 (ctest: skipped) when the exe is not built or wine64 is absent.
set -euo pipefail
here="$(cd "$(dirname "$0")/../../.." && pwd)"
. "$here/tests/integration/windows/wine_env.sh"
wine_work_dir
build="${1:-${DESKAUDIT_WINDOWS_BUILD:-$here/build-windows}}"
wine_env_init "$build" agent_windows_probe.exe
probe_exe="$exe"
wine_env_init "$build" deskaudit-agent.exe
# Each step is printed with the seconds since the start, so a slow or stuck
# step is named in ctest's output.
step() { echo "[${SECONDS}s] $*"; }
wine_xvfb
step "wineboot"
wine_boot
name=deskaudit-agent
state_dir="$WINEPREFIX/drive_c/ProgramData/deskaudit"
logs="$state_dir/logs"
# A failure prints the Wine processes and the service's state.
fail() {
  echo "FAIL: $*"
  echo "--- processes"
  ps -eo pid,etime,stat,args | grep -i '[.]exe' || true
  echo "--- service query"
  timeout 30 wine "$probe_exe" query "$name" 2>&1 | tr -d '\r' || true
  for f in agent-service agent-session; do
    echo "--- $f.log (last 30 lines)"
    tail -n 30 "$logs/$f.log" 2>/dev/null | tr -d '\r' || true
  done
  exit 1
}
# Every Wine command is bounded, and so is every wait (by the clock, not by a
# number of tries: one probe under Wine on a loaded machine takes a second or
# more), so a hang fails here with the state above instead of at ctest's limit.
probe() { timeout 60 wine "$probe_exe" "$@" 2>&1 | tr -d '\r' || true; }
# The agent's output goes through a file, not a pipe: `install` starts the
# service, and under Wine a process it starts can keep the pipe's write end
# (seen: $(wine deskaudit-agent.exe install | tr) waited forever for an end of
# file after install had exited, 1 run in 6).
agent() {
  timeout 150 wine "$exe" "$@" >"$work/agent-$1.log" 2>&1 || true
  tr -d '\r' <"$work/agent-$1.log"
}
sc() { timeout 60 wine sc "$@" >/dev/null 2>&1 || true; }
# Waits (up to $3 s) for a line matching $1 in the file $2; fails (1) if none came.
wait_line() {
  local deadline=$((SECONDS + $3))
  until grep -q "$1" "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
# Waits (up to 90 s) for the first line `probe ARGS...` prints to be $1.
wait_probe() {
  local want="$1"; shift
  local deadline=$((SECONDS + 90)) last=""
  while ((SECONDS < deadline)); do
    last="$(probe "$@" | head -n1)"
    [[ "$last" == "$want" ]] && return 0
    sleep 0.2
  done
  fail "probe $* never printed '$want' within 90 s (last: $last)"
}

# Wine ends its services when the last ordinary process exits: one stays.
step "waiting for wineboot's processes to end"
timeout 120 wineserver -w || fail "wineboot's processes did not end within 120 s"
wine "$probe_exe" hold >"$work/hold.log" 2>&1 &
pids+=($!)
wait_line holding "$work/hold.log" 60 || fail "the holding process did not start"

# A closed port: nothing listens on it.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
token="test-token-$RANDOM$RANDOM"
# The CA file of --ca-file: checked at install (a file without a certificate
# installs nothing), then copied into the protected state directory, and the
# service reads the copy (no file a user could swap).
wine_pki
winpath() { printf 'Z:%s' "${1//\//\\}"; }
echo "not a certificate" >"$work/not-a-ca.pem"
step "install with a CA file that holds no certificate"
out="$(agent install --server "https://127.0.0.1:$port" --ca-file "$(winpath "$work/not-a-ca.pem")" \
  --enroll-token "$token")"
echo "$out"
grep -q -- '--ca-file: cannot use the CA file .*not-a-ca.pem' <<<"$out" ||
  fail "a CA file without a certificate was not refused at install"
grep -q '^error not_found' <<<"$(probe query "$name")" || fail "installed with a CA file that holds no certificate"
step "install"
out="$(agent install --server "http://127.0.0.1:$port" --insecure-http --enroll-token "$token" --heartbeat-seconds 5 \
  --ca-file "$(winpath "$pki/ca.pem")")"
echo "$out"
q="$(probe query "$name")"
echo "$q"
grep -qx 'start=auto' <<<"$q" || fail "not installed as auto-start"
grep -q '^command=".*deskaudit-agent.exe" run --server http://127.0.0.1:' <<<"$q" || fail "wrong command line"
grep -q "$token" <<<"$q" && fail "the enrollment token is on the service's command line"
[[ "$(tr -d '\r\n' <"$state_dir/enroll-token")" == "$token" ]] || fail "no enrollment token in $state_dir"
grep -qi -- '--ca-file C:\\ProgramData\\deskaudit\\server-ca.pem$' <<<"$q" ||
  fail "the service does not read the state directory's copy of the CA file"
grep -q 'pki' <<<"$q" && fail "the service's command line names the CA file install was given"
cmp -s "$pki/ca.pem" "$state_dir/server-ca.pem" || fail "no copy of the CA file in $state_dir"
# The Event Log source, with the exe as its message file (event_log.hpp).
event_source='HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\deskaudit-agent'
wine reg query "$event_source" /v EventMessageFile 2>/dev/null | tr -d '\r' >"$work/event-source.txt" || true
cat "$work/event-source.txt"
grep -qi 'EventMessageFile.*REG_EXPAND_SZ.*deskaudit-agent\.exe$' "$work/event-source.txt" ||
  fail "the Event Log source is not registered with the exe as its message file"

# install started it: the service and its helper run.
step "waiting for the service and its helper"
wait_probe "state=running" query "$name"
wait_probe 2 count deskaudit-agent.exe
# Both log to files in the state directory (they have no console): the
# service that it runs, the helper that it cannot reach the server.
wait_line 'enrollment: .*retrying in' "$logs/agent-session.log" 60 || fail "the helper's log has no enrollment retry"
grep -q 'deskaudit-agent service running' "$logs/agent-service.log" || fail "no service log in $logs"
grep -q "session helper [0-9]* started in session" "$logs/agent-service.log" || fail "the service log names no helper"
step "sc stop"
sc stop "$name"
wait_probe 0 count deskaudit-agent.exe
[[ "$(probe query "$name" | head -1)" == state=stopped ]] || fail "not stopped: $(probe query "$name")"

step "sc start"
sc start "$name"
wait_probe 2 count deskaudit-agent.exe
step "uninstall"
out="$(agent uninstall)"
echo "$out"
[[ "$(probe count deskaudit-agent.exe)" == 0 ]] || fail "agent processes left after uninstall"
grep -q '^error not_found' <<<"$(probe query "$name")" || fail "still installed after uninstall"
[[ -d "$state_dir" ]] || fail "uninstall removed the state directory"
wine reg query "$event_source" >/dev/null 2>&1 && fail "the Event Log source is still registered after uninstall"
grep -q 'session helper [0-9]* stopped' "$logs/agent-service.log" || fail "the service log has no helper stop"
step PASS
