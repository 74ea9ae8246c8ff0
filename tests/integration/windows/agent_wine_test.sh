#!/usr/bin/env bash
# The Windows agent (deskaudit-agent.exe) under Wine against a real server:
# it enrolls with a token, records the desktop of its session (an Xvfb
# display on which X clients run the shared workload, quick profile), uploads
# signed segments and, stopped with Ctrl+C, finishes the recording. The
# recording must pass the Linux agent's checks: complete, its media as long as
# the session within 6 s, and the OCR of both checkpoints' windows in their
# frames equal to that of the screenshots taken then. Then the agent is killed (SIGKILL) in
# the middle of a second session and started again: the recording is
# uploaded as interrupted and lost at most the fragment in progress.
# `session status` reaches the recording agent through its control pipe.
# The server speaks https with a certificate of a private CA (wine_pki) and
# the agent trusts it through --ca-file; an agent given another CA never
# enrolls (the token in the request body never reaches the server), and a CA
# file without a certificate stops the agent with an error naming it.
# The first recording's activity events come from the Windows sources: its
# start (session.connect) and a Windows program of the session that ran 6 s
# during the workload (app.start at its start, app.exit at its end).
# The policy records sound: the agent records the monitor of a PulseAudio
# null sink of the test's own (Wine's winepulse; Wine 8 has no loopback, so
# --sound-device names the monitor, a recording device), and a tone the
# server plays into the sink during the workload is in the recording's Opus
# track at its place within 0.5 s.
#   tests/integration/windows/agent_wine_test.sh SERVER_BIN [BUILD_WINDOWS_DIR]
# Exit 77 (ctest: skipped) when the exe is not built (scripts/build-windows)
# or wine64 is absent; with CI set, a missing wine64 fails.
set -euo pipefail
here="$(cd "$(dirname "$0")/../../.." && pwd)"
server_bin="${1:?usage: agent_wine_test.sh SERVER_BIN [BUILD_WINDOWS_DIR]}"
. "$here/tests/integration/windows/wine_env.sh"
wine_work_dir
wine_env_init "${2:-${DESKAUDIT_WINDOWS_BUILD:-$here/build-windows}}" deskaudit-agent.exe
workload="${DESKAUDIT_WORKLOAD:-$here/../shared/workload/desktop-session.sh}"
[[ -x "$workload" ]] || workload="/work/shared/workload/desktop-session.sh"
[[ -x "$workload" ]] || { [[ -n "${CI:-}" ]] && { echo "the shared workload is missing"; exit 1; }; skip "the shared workload (shared/workload/desktop-session.sh) is missing (set DESKAUDIT_WORKLOAD)"; }
for tool in Xvfb curl jq ffprobe ffmpeg tesseract python3 openbox xwininfo pulseaudio pactl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is missing (scripts/install-deps)"; exit 1; }
done
fail() { echo "FAIL: $*"; for f in "$work"/*.log "$work"/*.err; do [[ -f "$f" ]] && { echo "--- $f"; tail -n 40 "$f"; }; done; exit 1; }

# A display of our own with a window manager (the workload's windows).
exec 3>"$work/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
exec 3>&-
for _ in $(seq 1 300); do [[ -s "$work/display" ]] && break; sleep 0.1; done
[[ -s "$work/display" ]] || fail "Xvfb did not start"
export DISPLAY=":$(head -n1 "$work/display")"
openbox >"$work/openbox.log" 2>&1 &
pids+=($!)
echo "display $DISPLAY, prefix $WINEPREFIX"
wine_pulse
wine_boot
wine_pki

# The server: embedded SQLite and a local directory, a port of its own, https
# with a certificate of the test's CA.
mkdir -p "$work/data"
DESKAUDIT_ADMIN_PASSWORD=wine-test-password-1 "$server_bin" --listen 127.0.0.1:0 --data-dir "$work/data" \
  --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" \
  --log-level warn >"$work/server.log" 2>"$work/server.err" &
pids+=($!)
for _ in $(seq 1 600); do grep -q 'deskaudit console: ' "$work/server.log" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/.*deskaudit console: \(http[^ ]*\)\/$/\1/p' "$work/server.log" | head -n1)"
[[ "$url" == https://* ]] || fail "the server did not start with https"
api() {  # api METHOD PATH [JSON]
  curl -sS -f --cacert "$pki/ca.pem" -X "$1" -H "Authorization: Bearer ${token:-}" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "$url$2"
}
token="$(api POST /api/v1/auth/login '{"username":"admin","password":"wine-test-password-1"}' | jq -r .token)"
policy="$(api POST /api/v1/policies '{"name":"wine","recording":{"mode":"session","fps":5,"audio":true}}' | jq -r .id)"
pool="$(api POST /api/v1/pools '{"name":"wine-pool"}' | jq -r .id)"
api PUT "/api/v1/policies/$policy/assignments/pools/$pool" >/dev/null
enroll="$(api POST /api/v1/enrollment-tokens "{\"pool_id\":\"$pool\"}" | jq -r .token)"
[[ -n "$enroll" && "$enroll" != null ]] || fail "no enrollment token"

winpath() { printf 'Z:%s' "${1//\//\\}"; }
state="$(winpath "$work/state")"
agent_pid=""
start_agent() {  # start_agent LOG [ARGS...]
  local log="$1"; shift
  wine "$exe" run --state-dir "$state" --heartbeat-seconds 1 --shutdown-timeout 60 --ca-file "$(winpath "$pki/ca.pem")" \
    --sound-device "Monitor of deskaudit-test-sink" "$@" \
    >"$work/$log.log" 2>"$work/$log.err" &
  agent_pid=$!
  pids+=($agent_pid)
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local n=$(($1 * 10)) what="$2"; shift 2
  for _ in $(seq 1 "$n"); do
    "$@" && return 0
    [[ -z "$agent_pid" ]] || kill -0 "$agent_pid" 2>/dev/null || fail "the agent exited while waiting for $what"
    sleep 0.1
  done
  fail "timed out waiting for $what"
}
recordings() { api GET "/api/v1/recordings?computer_id=$computer" | jq -c '.items'; }
finished() {  # finished N: at least N recordings are finished (not "recording")
  local r
  r="$(recordings)"
  [[ "$(jq "[.[] | select(.status != \"recording\")] | length" <<<"$r")" -ge "$1" ]]
}

detail() { api GET "/api/v1/recordings/$1"; }

# 0. A private CA through --ca-file (WinHTTP cannot take a file: the client
# verifies the server's certificate against it, ca_trust_windows.hpp).
# A file without a certificate stops the agent, naming it.
status=0
echo "not a certificate" >"$work/not-a-ca.pem"
wine "$exe" run --server "$url" --ca-file "$(winpath "$work/not-a-ca.pem")" --enroll-token "$enroll" \
  --state-dir "$(winpath "$work/state-bad-ca")" >"$work/bad-ca.out" 2>"$work/bad-ca.err" || status=$?
[[ $status -ne 0 ]] && grep -q 'cannot use the CA file .*not-a-ca.pem' "$work/bad-ca.out" "$work/bad-ca.err" ||
  fail "a CA file without a certificate was not refused (exit $status)"
# Another CA: the server is not trusted, and enrollment stops at once, saying
# why; the enrollment (its token is in the request body) never reaches the
# server.
status=0
wine "$exe" run --server "$url" --ca-file "$(winpath "$pki/other-ca.pem")" --enroll-token "$enroll" \
  --state-dir "$(winpath "$work/state-other-ca")" >"$work/other-ca.log" 2>"$work/other-ca.err" || status=$?
[[ $status -ne 0 ]] && grep -q 'could not be verified against the CA file.*not signed by a CA of the CA file' \
  "$work/other-ca.log" "$work/other-ca.err" || fail "an agent given another CA did not refuse the server (exit $status)"
[[ "$(api GET /api/v1/computers | jq '.items | length')" == 0 ]] ||
  fail "an agent that did not trust the server enrolled"

# 1. Enrollment and a whole session: the workload runs while the agent
# records; the session ends with Windows' end of session (wineboot -e: the
# WM_ENDSESSION every application of the session gets), which closes the
# recording as complete before Wine ends the processes.
start_agent agent1 --server "$url" --enroll-token "$enroll"
wait_for 120 "the recording to start" grep -q 'recording started' "$work/agent1.log" "$work/agent1.err"
computer="$(api GET /api/v1/computers | jq -r '.items[0].id')"
[[ -n "$computer" && "$computer" != null ]] || fail "no enrolled computer"
# The heartbeat reports the capture: GDI, and why not DXGI Desktop
# Duplication (tried first; Wine 8 has none).
capture_reported() {
  api GET "/api/v1/computers/$computer" | jq -e '.agent.capture | .backend == "gdi" and
    (.fallback_reason // "" | test("^DXGI Desktop Duplication not available \\(DuplicateOutput failed: E_NOTIMPL"))' >/dev/null
}
wait_for 60 "the heartbeat's capture report (gdi, DXGI's failure)" capture_reported
# The control pipe: `session status` from another process reaches the
# running agent (control_socket_windows.cpp); connect is refused, the agent
# follows its desktop's session.
wine "$exe" session status --state-dir "$state" >"$work/status.json" 2>"$work/status.err" ||
  fail "session status failed: $(cat "$work/status.err")"
tr -d '\r' <"$work/status.json"
jq -e '.ok == true and .recording == true and (.session.username | type == "string")' "$work/status.json" >/dev/null ||
  fail "session status does not report the recording session"
# Sound flows from the sink's monitor (the session's audio state).
sound_recording() {
  wine "$exe" session status --state-dir "$state" >"$work/status.json" 2>"$work/status.err" &&
    jq -e '.audio.recording == true and (.audio.source | test("^recording device .Monitor of deskaudit-test-sink. \\(48000 Hz, 2 ch, float32\\)$"))' \
      "$work/status.json" >/dev/null
}
wait_for 30 "the session's sound to be recorded" sound_recording
status=0
wine "$exe" session connect --user mallory --state-dir "$state" >"$work/connect.json" 2>"$work/connect.err" || status=$?
[[ $status -ne 0 ]] && grep -q "connect/disconnect are not accepted" "$work/connect.err" ||
  fail "session connect was not refused (exit $status): $(cat "$work/connect.err")"
mkdir -p "$work/marks"
# Where the checkpoints' windows are: their text is read there (check_recording.py).
"$here/bench/record/watch-checkpoints.sh" "$DISPLAY" "$work/marks" >"$work/watch.log" 2>&1 &
watch_pid=$!
pids+=($watch_pid)
# A Windows program of the session (no window) that lives 6 s, during the workload.
probe="$(dirname "$exe")/agent_windows_probe.exe"
[[ -f "$probe" ]] || fail "$probe is missing (scripts/build-windows builds it with the tests)"
(
  sleep 5
  date +%s%3N >"$work/probe-start"
  wine "$probe" hold >"$work/probe.log" 2>&1 &
  probe_pid=$!
  sleep 6
  date +%s%3N >"$work/probe-end"
  kill "$probe_pid"
  wait "$probe_pid" 2>/dev/null || true
) &
prober_pid=$!
pids+=($prober_pid)
# A 440 Hz tone of 3 s, rendered by the sound server itself (module-sine: no
# client's buffering delays or chops it) into the sink, during the workload.
(
  sleep 13
  date +%s%3N >"$work/tone-start"
  tone_module="$(pactl load-module module-sine sink="$pulse_sink" frequency=440)"
  sleep 3
  pactl unload-module "$tone_module"
  date +%s%3N >"$work/tone-end"
) &
toner_pid=$!
pids+=($toner_pid)
"$workload" "$DISPLAY" --profile quick --marks "$work/marks/marks.jsonl" --seed 7 --snap >"$work/workload.log" 2>&1 ||
  fail "the workload failed"
wait "$prober_pid" || true
wait "$toner_pid" || fail "the tone could not be played"
kill "$watch_pid" 2>/dev/null || true
wineboot -e >"$work/end-session.log" 2>&1 || true
grep -q 'recording ended .*status=complete' "$work/agent1.err" "$work/agent1.log" ||
  fail "the end of the session did not close the recording as complete"
wait "$agent_pid" 2>/dev/null || true
agent_pid=""

# 2. Started again (enrolled now: no token), the agent uploads the rest of the
# first recording and records the (new) session; SIGKILL in its middle while
# a clock keeps the screen changing (a large analog one: its second hand
# changes ~30 macroblocks a second, a change the recorder codes at once, as the
# Linux agent's kill test moves a large window; a small digital clock's tick
# is a small change, grouped by the recorder for up to 4 s, which would count
# as lost here though nothing the screen showed was).
start_agent agent2
wait_for 120 "the first recording to be finished on the server" finished 1
rec1="$(recordings | jq -c 'sort_by(.start_time) | .[0]')"
id1="$(jq -r .id <<<"$rec1")"
api GET "/api/v1/recordings/$id1/download" >"$work/rec1.mp4" || fail "no download of $id1"
python3 "$here/tests/integration/windows/check_recording.py" session "$(detail "$id1")" "$work/rec1.mp4" "$work/marks" ||
  fail "the recording does not pass the checks"
python3 "$here/tests/integration/windows/check_recording.py" audio "$(detail "$id1")" "$work/rec1.mp4" \
  "$(cat "$work/tone-start")" "$(cat "$work/tone-end")" || fail "the recording's sound does not pass the checks"
api GET "/api/v1/recordings/$id1/events?limit=1000" >"$work/events1.json" || fail "no events of $id1"
jq -c '.items[] | {t_ms, time, type, process, title, pid}' "$work/events1.json"
jq -e '.items[0].type == "session.connect"' "$work/events1.json" >/dev/null ||
  fail "the recording's first event is not session.connect"
# The probe's start and exit, each within 2 s of when it was started and
# killed (the wall clock of the event: the recording's start + t_ms).
probe_event() {  # probe_event TYPE EPOCH_MS
  jq -e --arg type "$1" --argjson at "$2" '[.items[] | select(.type == $type and .process == "agent_windows_probe.exe")
    | (.time | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) * 1000 + (.time | capture("\\.(?<ms>[0-9]+)Z$").ms | tonumber)
    | select(. >= $at - 2000 and . <= $at + 2000)] | length == 1' "$work/events1.json" >/dev/null
}
echo "probe started at $(cat "$work/probe-start"), killed at $(cat "$work/probe-end") (epoch ms)"
probe_event app.start "$(cat "$work/probe-start")" || fail "no app.start of the probe at its start"
probe_event app.exit "$(cat "$work/probe-end")" || fail "no app.exit of the probe at its end"

wait_for 120 "the second recording to start" grep -q 'recording started' "$work/agent2.log" "$work/agent2.err"
xclock -update 1 -geometry 700x700+300+50 >/dev/null 2>&1 &
xclock_pid=$!
pids+=($xclock_pid)
part_size() { stat -c %s "$(ls "$work"/state/spool/r*/seg-*.mp4.part 2>/dev/null | head -n1)" 2>/dev/null || echo 0; }
wait_for 60 "the second recording's open segment" bash -c "ls '$work'/state/spool/r*/seg-*.mp4.part >/dev/null 2>&1"
size0=$(part_size)
grown() { [[ $(part_size) -gt $size0 ]]; }
wait_for 60 "fragments of the second recording on disk" grown
sleep 8  # a session in full swing (not a wait for a condition: the kill may come at any moment)
kill -KILL "$agent_pid"
killed_at=$(date +%s%3N)
wait "$agent_pid" 2>/dev/null || true
agent_pid=""
kill "$xclock_pid" 2>/dev/null || true
start_agent agent3
wait_for 120 "the killed recording to be finished on the server" finished 2
kill -INT "$agent_pid"
wait "$agent_pid" || true
agent_pid=""
id2="$(recordings | jq -r "[.[] | select(.id != \"$id1\")] | sort_by(.start_time) | .[0].id")"
python3 "$here/tests/integration/windows/check_recording.py" killed "$(detail "$id2")" "$killed_at" ||
  fail "the killed recording lost more than the fragment in progress"
echo "PASS"
