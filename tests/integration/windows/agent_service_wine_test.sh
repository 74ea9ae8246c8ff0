#!/usr/bin/env bash
# deskaudit-agent.exe as a Windows service under Wine: `install` (protected
# state directory with the enrollment token, the service registered without the
# token on its command line, started), the service starts the agent's `run` as
# a helper in the user's session, `sc stop` stops both, `sc start` again, then
# `uninstall` stops and deletes it. The helper has no server to enroll with (a
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
wine_xvfb
wine_boot
fail() { echo "FAIL: $*"; exit 1; }
probe() { wine "$probe_exe" "$@" 2>&1 | tr -d '\r' || true; }
agent() { wine "$exe" "$@" 2>&1 | tr -d '\r' || true; }
# Waits (up to 60 s) for the first line `probe ARGS...` prints to be $1.
wait_probe() {
  local want="$1"; shift
  for _ in $(seq 1 600); do [[ "$(probe "$@" | head -n1)" == "$want" ]] && return 0; sleep 0.1; done
  fail "probe $* never printed '$want' (last: $(probe "$@"))"
}
name=deskaudit-agent

# Wine ends its services when the last ordinary process exits: one stays.
wineserver -w
wine "$probe_exe" hold >"$work/hold.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do grep -q holding "$work/hold.log" && break; sleep 0.1; done
grep -q holding "$work/hold.log" || fail "the holding process did not start"

# A closed port: nothing listens on it.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
token="test-token-$RANDOM$RANDOM"
out="$(agent install --server "http://127.0.0.1:$port" --insecure-http --enroll-token "$token" --heartbeat-seconds 5)"
echo "$out"
q="$(probe query "$name")"
echo "$q"
grep -qx 'start=auto' <<<"$q" || fail "not installed as auto-start"
grep -q '^command=".*deskaudit-agent.exe" run --server http://127.0.0.1:' <<<"$q" || fail "wrong command line"
grep -q "$token" <<<"$q" && fail "the enrollment token is on the service's command line"
state_dir="$WINEPREFIX/drive_c/ProgramData/deskaudit"
[[ "$(tr -d '\r\n' <"$state_dir/enroll-token")" == "$token" ]] || fail "no enrollment token in $state_dir"

# install started it: the service and its helper run.
wait_probe "state=running" query "$name"
wait_probe 2 count deskaudit-agent.exe
wine sc stop "$name" >/dev/null 2>&1 || true
wait_probe 0 count deskaudit-agent.exe
[[ "$(probe query "$name" | head -1)" == state=stopped ]] || fail "not stopped: $(probe query "$name")"

wine sc start "$name" >/dev/null 2>&1 || true
wait_probe 2 count deskaudit-agent.exe
out="$(agent uninstall)"
echo "$out"
[[ "$(probe count deskaudit-agent.exe)" == 0 ]] || fail "agent processes left after uninstall"
grep -q '^error not_found' <<<"$(probe query "$name")" || fail "still installed after uninstall"
[[ -d "$state_dir" ]] || fail "uninstall removed the state directory"
echo PASS
