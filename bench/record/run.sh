#!/usr/bin/env bash
# Recording benchmark: the scripted desktop session of
# /work/shared/workload/desktop-session.sh on a 1920x1080x24 Xvfb, recorded by
#   agent      deskaudit-record --fps 5 (the Recorder the agent runs)
#   ultrafast  ffmpeg x11grab 5 fps, libx264 -preset ultrafast -crf 28
#   veryfast   ffmpeg x11grab 5 fps, libx264 -preset veryfast -crf 28
#   office     the agent on the session's office profile (~10 min of text work and idle)
# and an idle desktop (only `xclock -digital -update 1`) for the agent, and
#   audio      the agent with sound on that idle desktop (a PulseAudio server of
#              its own with a null sink): --audio-s of silence, then --audio-s
#              of speech (espeak-ng) and music (sox) played with paplay
# (bytes per hour of the sound track for silence and for sound, CPU of the
# audio thread, beside the video's figures of the same run).
# Prints CPU, peak RSS, size, and per text checkpoint the OCR word recall
# (tesseract) and SSIM of the recorded frame against the screenshot.
# Figures only, no assertions. See README.md.
#
#   bench/record/run.sh [--build DIR] [--profile standard|quick] [--runs "agent ultrafast veryfast office idle"]
#                       [--idle-s 60] [--audio-s 60] [--work DIR] [--agent-args "..."] [--seed N]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="$here/../../build"
profile=standard
runs="agent ultrafast veryfast office idle"
seed=1
idle_s=60
audio_s=60
work=""
agent_args=""
session=/work/shared/workload/desktop-session.sh
# The session's user, whose processes give the agent's app start/exit events:
# as root, the session runs as nobody, so this machine's other root processes
# (builds, services) do not count as the session's applications.
session_user=""
[[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null && session_user=nobody
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --idle-s) idle_s="$2"; shift 2 ;;
    --audio-s) audio_s="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --agent-args) agent_args="$2"; shift 2 ;;
    --session) session="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --session-user) session_user="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
recorder="$build/bin/deskaudit-record"
[[ -x "$recorder" ]] || { echo "build deskaudit-record first (cmake -DDESKAUDIT_BENCH=ON; ninja deskaudit-record); looked in $recorder" >&2; exit 1; }
for tool in Xvfb ffmpeg ffprobe tesseract xclock import python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if [[ " $runs " == *" audio "* ]]; then
  for tool in pulseaudio pactl paplay sox; do
    command -v "$tool" >/dev/null || { echo "missing $tool (the audio run)" >&2; exit 1; }
  done
fi
[[ -n "$work" ]] || work="$(mktemp -d /tmp/deskaudit-bench.XXXXXX)"
mkdir -p "$work"
echo "work directory: $work"
hz=$(getconf CLK_TCK)

xvfb_pid=""
pulse_pid=""
rec_pid=""
extra_pids=()
cleanup() {
  [[ -n "$rec_pid" ]] && kill "$rec_pid" 2>/dev/null || true
  for p in "${extra_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "$pulse_pid" ]] && kill "$pulse_pid" 2>/dev/null || true
  [[ -n "$xvfb_pid" ]] && kill "$xvfb_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

start_xvfb() {
  local n
  for n in $(seq 150 250); do
    [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] && continue
    Xvfb ":$n" -screen 0 1920x1080x24 -nolisten tcp -noreset >/dev/null 2>&1 &
    xvfb_pid=$!
    for _ in $(seq 50); do
      [[ -e /tmp/.X11-unix/X$n ]] && { display=":$n"; sleep 0.3; start_wm; return 0; }
      sleep 0.1
    done
    kill "$xvfb_pid" 2>/dev/null || true
  done
  echo "no free display" >&2
  exit 1
}
# A window manager that sets _NET_ACTIVE_WINDOW (the agent's window events),
# for every recorder alike.
wm_pid=""
start_wm() {
  command -v openbox >/dev/null || { echo "no openbox: no window events" >&2; return 0; }
  DISPLAY=$display openbox --sm-disable >/dev/null 2>&1 &
  wm_pid=$!
  for _ in $(seq 50); do
    xprop -display "$display" -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q 'window id' && return 0
    sleep 0.1
  done
}
stop_xvfb() {
  [[ -n "$wm_pid" ]] && { kill "$wm_pid" 2>/dev/null || true; wait "$wm_pid" 2>/dev/null || true; wm_pid=""; }
  kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true; xvfb_pid=""
}
as_session_user() {
  if [[ -n "$session_user" ]]; then
    setpriv --reuid="$session_user" --regid="$(id -g "$session_user")" --clear-groups env HOME=/tmp "$@"
  else
    "$@"
  fi
}
events_uid() { [[ -n "$session_user" ]] && id -u "$session_user" || id -u; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# start_recorder KIND DIR: sets rec_pid; writes DIR/start_ms (wall clock of media time 0)
start_recorder() {
  local kind=$1 dir=$2
  mkdir -p "$dir"
  case "$kind" in
    agent|idle|office|audio)
      local sound=()
      [[ "$kind" == audio ]] && sound=(--pulse-server "unix:$dir/pulse/native")
      # shellcheck disable=SC2086
      "$recorder" --display "$display" --fps 5 --out "$dir/segments" "${sound[@]}" --events-uid "$(events_uid)" $agent_args \
        >"$dir/recorder.log" 2>&1 &
      rec_pid=$!
      for _ in $(seq 100); do
        grep -q '^media_start_epoch_ms=' "$dir/recorder.log" 2>/dev/null && break
        sleep 0.05
      done
      sed -n 's/^media_start_epoch_ms=//p' "$dir/recorder.log" | head -1 >"$dir/start_ms"
      ;;
    ultrafast|veryfast)
      date +%s%3N >"$dir/start_ms"
      ffmpeg -nostdin -loglevel error -f x11grab -framerate 5 -video_size 1920x1080 -i "$display" \
        -c:v libx264 -preset "$kind" -crf 28 -pix_fmt yuv420p -y "$dir/out.mp4" >"$dir/recorder.log" 2>&1 &
      rec_pid=$!
      ;;
  esac
  sleep 1
}

# stop_recorder DIR: records CPU seconds and peak RSS before stopping.
stop_recorder() {
  local dir=$1
  echo "$(cpu_ticks "$rec_pid") $hz" >"$dir/cpu"
  hwm_kb "$rec_pid" >"$dir/hwm_kb"
  cut -d' ' -f1-3 /proc/loadavg >"$dir/load"  # printed beside the CPU figures: the machine's other load moves them
  kill -INT "$rec_pid"
  wait "$rec_pid" 2>/dev/null || true
  rec_pid=""
}

run_session() {
  local kind=$1 dir="$work/$1"
  rm -rf "$dir"
  mkdir -p "$dir/marks"
  [[ -n "$session_user" ]] && chmod 0777 "$dir/marks"
  start_xvfb
  echo "== $kind on $display ($(date +%T))"
  start_recorder "$kind" "$dir"
  local p=$profile
  [[ "$kind" == office ]] && p=office
  as_session_user "$session" "$display" --profile "$p" --seed "$seed" --marks "$dir/marks/marks.jsonl" --snap \
    >"$dir/session.log" 2>&1
  sleep 1
  stop_recorder "$dir"
  stop_xvfb
}

run_idle() {
  local dir="$work/idle"
  rm -rf "$dir"
  mkdir -p "$dir"
  start_xvfb
  echo "== idle agent on $display for ${idle_s}s ($(date +%T))"
  DISPLAY=$display as_session_user xclock -digital -update 1 -geometry 260x40-10+10 &
  extra_pids+=($!)
  sleep 1
  start_recorder idle "$dir"
  local t0 c0
  t0=$(date +%s%3N)
  c0=$(cpu_ticks "$rec_pid")
  sleep "$idle_s"
  echo "$c0 $(date +%s%3N) $t0" >"$dir/idle_window"
  stop_recorder "$dir"
  kill "${extra_pids[-1]}" 2>/dev/null || true
  stop_xvfb
}

# The audio thread's CPU ticks (it is named da-audio), and the whole process's.
audio_ticks() {
  local t
  for t in /proc/"$rec_pid"/task/*; do
    [[ "$(cat "$t/comm" 2>/dev/null)" == da-audio ]] && awk '{print $14 + $15}' "$t/stat" && return 0
  done
  echo 0
}

run_audio() {
  local dir="$work/audio"
  rm -rf "$dir"
  mkdir -p "$dir/pulse/home" "$dir/pulse/run"
  chmod 700 "$dir/pulse/run"
  start_xvfb
  echo "== audio: agent with sound on $display, ${audio_s}s silence + ${audio_s}s speech and music ($(date +%T))"
  HOME="$dir/pulse/home" XDG_RUNTIME_DIR="$dir/pulse/run" XDG_CONFIG_HOME="$dir/pulse/home" \
    pulseaudio --daemonize=no -n --exit-idle-time=-1 --disable-shm=yes --log-target=stderr --log-level=error \
    -L "module-null-sink sink_name=benchsink rate=48000 channels=2" \
    -L "module-native-protocol-unix auth-anonymous=1 socket=$dir/pulse/native" -L module-always-sink \
    >"$dir/pulse.log" 2>&1 &
  pulse_pid=$!
  local server="unix:$dir/pulse/native"
  for _ in $(seq 100); do pactl -s "$server" info >/dev/null 2>&1 && break; sleep 0.1; done
  # The sound: speech (espeak-ng, when installed) and music (sox: plucked
  # notes, a different one on each side), as 48 kHz stereo files.
  if command -v espeak-ng >/dev/null; then
    espeak-ng -w "$dir/speech.wav" "This session is recorded for audit. The quarterly figures are on the shared drive; \
please check the totals before Friday and send the corrected sheet to finance. Thank you." 2>/dev/null
    sox "$dir/speech.wav" -r 48000 -c 2 "$dir/speech48.wav"
  fi
  sox -n -r 48000 -c 2 "$dir/music.wav" synth 0.5 pluck C4 pluck E4 : synth 0.5 pluck A3 pluck C4 \
    : synth 0.5 pluck F3 pluck A3 : synth 0.5 pluck G3 pluck B3 repeat 3 gain -6
  DISPLAY=$display xclock -digital -update 1 -geometry 260x40-10+10 &
  extra_pids+=($!)
  sleep 1
  start_recorder audio "$dir"
  sleep 2  # connected, sound flowing
  local t0 a0 p0 t1 a1 p1 t2 a2 p2
  t0=$(date +%s%3N); a0=$(audio_ticks); p0=$(cpu_ticks "$rec_pid")
  sleep "$audio_s"
  t1=$(date +%s%3N); a1=$(audio_ticks); p1=$(cpu_ticks "$rec_pid")
  local until=$(( t1 + audio_s * 1000 ))
  while (( $(date +%s%3N) < until )); do
    [[ -f "$dir/speech48.wav" ]] && paplay --server="$server" "$dir/speech48.wav"
    paplay --server="$server" "$dir/music.wav"
  done
  t2=$(date +%s%3N); a2=$(audio_ticks); p2=$(cpu_ticks "$rec_pid")
  sed -n 's/^media_start_epoch_ms=//p' "$dir/recorder.log" | head -1 >"$dir/start_ms"
  echo "$t0 $t1 $t2 $a0 $a1 $a2 $p0 $p1 $p2 $hz" >"$dir/phases"
  [[ -f "$dir/speech48.wav" ]] && echo speech >"$dir/sound" || echo music >"$dir/sound"
  cat /proc/loadavg >"$dir/loadavg"
  stop_recorder "$dir"
  kill "${extra_pids[-1]}" 2>/dev/null || true
  kill "$pulse_pid" 2>/dev/null || true
  wait "$pulse_pid" 2>/dev/null || true
  pulse_pid=""
  stop_xvfb
}

for r in $runs; do
  case "$r" in
    agent|ultrafast|veryfast|office) run_session "$r" ;;
    idle) run_idle ;;
    audio) run_audio ;;
    *) echo "unknown run $r" >&2; exit 2 ;;
  esac
done

echo "== analysing ($(date +%T))"
python3 "$here/analyse.py" "$work" $runs
