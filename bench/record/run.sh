#!/usr/bin/env bash
# Recording benchmark: the scripted desktop session of
# ../shared/workload/desktop-session.sh (beside the project) on a 1920x1080x24 Xvfb, recorded by
#   agent      deskaudit-record --fps 5 (the Recorder the agent runs)
#   ultrafast  ffmpeg x11grab 5 fps, libx264 -preset ultrafast -crf 28
#   veryfast   ffmpeg x11grab 5 fps, libx264 -preset veryfast -crf 28
#   office     the agent on the session's office profile (~10 min of text work and idle)
#   windows    deskaudit-record.exe (the Windows agent's recorder, GDI capture) under
#              Wine on the same kind of display, the --profile session (opt-in:
#              not in the default runs; skipped with a message when the exe,
#              built by scripts/build-windows, or wine64 is missing)
#   beside     the agent and deskaudit-record.exe under Wine recording one and
#              the same --profile session on one display at once (issue 15's
#              comparison without the session-to-session spread; opt-in and
#              skipped as windows is)
# and an idle desktop (only `xclock -digital -update 1`) for the agent, and
#   audio      the session (--profile) with sound, on a PulseAudio server of its
#              own (null sink), recorded at once by the agent with sound, the
#              agent without, and ffmpeg x11grab + pulse (libx264 + libopus):
#              bytes per hour (total, sound alone, silence, speech/music), CPU,
#              and the audio/video offset of a 1 kHz tone against a bar drawn
#              with it (bench/record/avsync_main.cpp), every --audio-period-s
# Prints CPU, peak RSS, size, and per text checkpoint the OCR word recall
# (tesseract) and SSIM of the recorded frame against the screenshot.
# Figures only, no assertions. See README.md.
#
#   bench/record/run.sh [--build DIR] [--profile standard|quick] [--runs "agent ultrafast veryfast office idle audio windows beside"]
#                       [--windows-build DIR] [--idle-s 60] [--audio-period-s 30] [--audio-preset veryfast] [--work DIR] [--agent-args "..."] [--seed N]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="$here/../../build"
profile=standard
runs="agent ultrafast veryfast office idle"
seed=1
idle_s=60
audio_period_s=30
audio_preset=veryfast
work=""
agent_args=""
session="${DESKAUDIT_WORKLOAD:-$here/../../../shared/workload/desktop-session.sh}"  # the project's ../shared, as CI has it
windows_build="${DESKAUDIT_WINDOWS_BUILD:-$here/../../build-windows}"
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
    --audio-period-s) audio_period_s="$2"; shift 2 ;;
    --audio-preset) audio_preset="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --agent-args) agent_args="$2"; shift 2 ;;
    --session) session="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --windows-build) windows_build="$2"; shift 2 ;;
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
  for tool in pulseaudio pactl parec sox; do
    command -v "$tool" >/dev/null || { echo "missing $tool (the audio run)" >&2; exit 1; }
  done
fi
# The Windows row needs the cross-built recorder and Wine: without them it is
# left out with a message, and the other runs go on.
[[ -x "$session" ]] || { echo "the shared workload $session is missing (DESKAUDIT_WORKLOAD gives another)" >&2; exit 1; }
win_exe="$windows_build/bin/deskaudit-record.exe"
if [[ " $runs " == *" windows "* || " $runs " == *" beside "* ]]; then
  why=""
  if [[ ! -f "$win_exe" ]]; then
    why="$win_exe is not built (scripts/build-windows)"
  elif ! command -v wine >/dev/null || ! command -v wineserver >/dev/null ||
    ! dpkg-query -W -f='${Status}' wine64 2>/dev/null | grep -q "ok installed"; then
    why="wine64 is missing (apt-get install wine wine64)"
  fi
  if [[ -n "$why" ]]; then
    echo "skipping the windows and beside runs: $why" >&2
    runs="$(tr ' ' '\n' <<<"$runs" | { grep -vx 'windows\|beside' || true; } | xargs)"
    [[ -n "$runs" ]] || { echo "nothing else to run"; exit 0; }
  fi
fi
[[ -n "$work" ]] || work="$(mktemp -d /tmp/deskaudit-bench.XXXXXX)"
mkdir -p "$work"
# The session's user writes its marks below it: mktemp's 0700 would stop it
# at the door (traverse only; the marks directories are opened to it).
[[ -n "$session_user" ]] && chmod o+x "$work"
echo "work directory: $work"
hz=$(getconf CLK_TCK)

xvfb_pid=""
pulse_pid=""
rec_pid=""
extra_pids=()
wine_prefix=""
cleanup() {
  [[ -n "$rec_pid" ]] && kill "$rec_pid" 2>/dev/null || true
  [[ -n "$wine_prefix" ]] && { WINEPREFIX="$wine_prefix" wineserver -k 2>/dev/null || true; }
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
    agent|idle|office)
      # shellcheck disable=SC2086
      "$recorder" --display "$display" --fps 5 --out "$dir/segments" --events-uid "$(events_uid)" $agent_args \
        >"$dir/recorder.log" 2>&1 &
      rec_pid=$!
      for _ in $(seq 100); do
        grep -q '^media_start_epoch_ms=' "$dir/recorder.log" 2>/dev/null && break
        sleep 0.05
      done
      sed -n 's/^media_start_epoch_ms=//p' "$dir/recorder.log" | head -1 >"$dir/start_ms"
      ;;
    windows)
      # Wine maps the Unix root to drive Z:. The exe's console output ends
      # its lines with CR LF.
      # shellcheck disable=SC2086
      WINEPREFIX="$wine_prefix" WINEDEBUG=-all DISPLAY=$display wine "$win_exe" --display desktop --fps 5 --out "Z:${dir//\//\\}\\segments" $agent_args \
        >"$dir/recorder.log" 2>"$dir/recorder.err" &
      rec_pid=$!
      for _ in $(seq 1200); do  # Wine starts in seconds, longer on a loaded machine
        grep -q '^media_start_epoch_ms=' "$dir/recorder.log" 2>/dev/null && break
        kill -0 "$rec_pid" 2>/dev/null || { echo "deskaudit-record.exe exited:" >&2; cat "$dir/recorder.log" "$dir/recorder.err" >&2; exit 1; }
        sleep 0.1
      done
      sed -n 's/^media_start_epoch_ms=//p' "$dir/recorder.log" | tr -d '\r' | head -1 >"$dir/start_ms"
      [[ -s "$dir/start_ms" ]] || { echo "deskaudit-record.exe did not start recording" >&2; exit 1; }
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

# A Wine prefix of the run's own in DIR/prefix, made before the recording
# starts ($wine_prefix; drop_wine_prefix ends its wineserver and removes it).
make_wine_prefix() {
  wine_prefix="$1/prefix"
  WINEPREFIX="$wine_prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=$display wineboot -i \
    >"$1/wineboot.log" 2>&1 || { echo "wineboot failed:" >&2; cat "$1/wineboot.log" >&2; exit 1; }
}
drop_wine_prefix() {
  [[ -n "$wine_prefix" ]] || return 0
  WINEPREFIX="$wine_prefix" wineserver -k 2>/dev/null || true
  rm -rf "$wine_prefix"
  wine_prefix=""
}
# play_session DIR PROFILE: the workload on $display, its marks in DIR/marks,
# with the checkpoints' windows watched (their text is read there: analyse.py).
play_session() {
  local dir=$1
  "$here/watch-checkpoints.sh" "$display" "$dir/marks" >"$dir/watch.log" 2>&1 &
  extra_pids+=($!)
  as_session_user "$session" "$display" --profile "$2" --seed "$seed" --marks "$dir/marks/marks.jsonl" --snap \
    >"$dir/session.log" 2>&1
  kill "${extra_pids[-1]}" 2>/dev/null || true
  sleep 1
}

run_session() {
  local kind=$1 dir="$work/$1"
  rm -rf "$dir"
  mkdir -p "$dir/marks"
  [[ -n "$session_user" ]] && chmod 0777 "$dir/marks"
  start_xvfb
  echo "== $kind on $display ($(date +%T))"
  [[ "$kind" == windows ]] && make_wine_prefix "$dir"
  start_recorder "$kind" "$dir"
  local p=$profile
  [[ "$kind" == office ]] && p=office
  play_session "$dir" "$p"
  stop_recorder "$dir"
  drop_wine_prefix
  stop_xvfb
}

# The agent and the Windows recorder under Wine on one display at once, one
# session: $work/beside-agent and $work/beside-windows (the marks in both).
run_beside() {
  local da="$work/beside-agent" dw="$work/beside-windows" agent_rec win_rec
  rm -rf "$da" "$dw"
  mkdir -p "$da/marks" "$dw"
  [[ -n "$session_user" ]] && chmod 0777 "$da/marks"
  start_xvfb
  echo "== beside (agent and windows at once) on $display ($(date +%T))"
  make_wine_prefix "$dw"
  start_recorder windows "$dw"
  win_rec=$rec_pid
  start_recorder agent "$da"
  agent_rec=$rec_pid
  extra_pids+=("$win_rec")
  play_session "$da" "$profile"
  rec_pid=$agent_rec
  stop_recorder "$da"
  rec_pid=$win_rec
  stop_recorder "$dw"
  cp -r "$da/marks" "$dw/marks"
  drop_wine_prefix
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

# The audio run: the standard session recorded at once, on one display and one
# PulseAudio server (null sink), by
#   agent-av   deskaudit-record --pulse-server (the agent with the policy's sound on)
#   agent-v    deskaudit-record without sound (the video-only agent)
#   ffmpeg-av  ffmpeg -f x11grab -f pulse, libx264 -preset $audio_preset -crf 28, libopus 48 kb/s 20 ms
#   ffmpeg-a   ffmpeg -f pulse alone, libopus 48 kb/s (the share of ffmpeg's CPU that is sound)
# while deskaudit-avsync plays speech (espeak-ng) and music (sox) and, every
# --audio-period-s, 3 s of silence, a 1 kHz tone of 1 s with a marker bar
# drawn on screen (its length = ms of tone heard so far), 4 s of silence.
audio_ticks() {  # PID: CPU ticks of its da-audio thread
  local t
  for t in /proc/"$1"/task/*; do
    [[ "$(cat "$t/comm" 2>/dev/null)" == da-audio ]] && awk '{print $14 + $15}' "$t/stat" && return 0
  done
  echo 0
}

run_audio() {
  local dir="$work/audio"
  local avsync="$build/bin/deskaudit-avsync"
  [[ -x "$avsync" ]] || { echo "build deskaudit-avsync first (ninja deskaudit-avsync); looked in $avsync" >&2; exit 1; }
  rm -rf "$dir"
  mkdir -p "$dir/pulse/home" "$dir/pulse/run" "$dir/marks"
  [[ -n "$session_user" ]] && chmod 0777 "$dir/marks"
  chmod 700 "$dir/pulse/run"
  HOME="$dir/pulse/home" XDG_RUNTIME_DIR="$dir/pulse/run" XDG_CONFIG_HOME="$dir/pulse/home" \
    pulseaudio --daemonize=no -n --exit-idle-time=-1 --disable-shm=yes --log-target=stderr --log-level=error \
    -L "module-null-sink sink_name=benchsink rate=48000 channels=2" \
    -L "module-native-protocol-unix auth-anonymous=1 socket=$dir/pulse/native" -L module-always-sink \
    >"$dir/pulse.log" 2>&1 &
  pulse_pid=$!
  local server="unix:$dir/pulse/native"
  for _ in $(seq 100); do pactl -s "$server" info >/dev/null 2>&1 && break; sleep 0.1; done
  # The program between tones: speech (espeak-ng, when installed) and music
  # (sox: plucked notes, a different one on each side), 48 kHz stereo raw.
  local sound=(--music "$dir/music.raw")
  if command -v espeak-ng >/dev/null; then
    espeak-ng -w "$dir/speech.wav" "This session is recorded for audit. The quarterly figures are on the shared drive; \
please check the totals before Friday and send the corrected sheet to finance. Thank you." 2>/dev/null
    sox -D "$dir/speech.wav" -t raw -e signed -b 16 -r 48000 -c 2 "$dir/speech.raw" gain -n -3
    sound+=(--speech "$dir/speech.raw")
    echo speech >"$dir/sound"
  else
    echo music >"$dir/sound"
  fi
  sox -D -n -t raw -e signed -b 16 -r 48000 -c 2 "$dir/music.raw" synth 0.5 pluck C4 pluck E4 : synth 0.5 pluck A3 pluck C4 \
    : synth 0.5 pluck F3 pluck A3 : synth 0.5 pluck G3 pluck B3 repeat 3 gain -n -3

  start_xvfb
  echo "== audio: the $profile session with sound on $display, agent-av agent-v ffmpeg-av ffmpeg-a at once ($(date +%T))"
  local pids=() names=(agent-av agent-v ffmpeg-av ffmpeg-a) i
  for i in "${names[@]}"; do mkdir -p "$dir/$i"; done
  # shellcheck disable=SC2086
  "$recorder" --display "$display" --fps 5 --out "$dir/agent-av/segments" --pulse-server "$server" \
    --events-uid "$(events_uid)" $agent_args >"$dir/agent-av/recorder.log" 2>&1 &
  pids+=($!)
  # shellcheck disable=SC2086
  "$recorder" --display "$display" --fps 5 --out "$dir/agent-v/segments" --events-uid "$(events_uid)" $agent_args \
    >"$dir/agent-v/recorder.log" 2>&1 &
  pids+=($!)
  date +%s%3N >"$dir/ffmpeg-av/start_ms"
  ffmpeg -nostdin -loglevel error -thread_queue_size 64 -f x11grab -framerate 5 -video_size 1920x1080 -i "$display" \
    -thread_queue_size 64 -f pulse -server "$server" -name ffmpeg-av -i benchsink.monitor \
    -c:v libx264 -preset "$audio_preset" -crf 28 -pix_fmt yuv420p \
    -c:a libopus -b:a 48k -frame_duration 20 -application audio -y "$dir/ffmpeg-av/out.mp4" \
    >"$dir/ffmpeg-av/recorder.log" 2>&1 &
  pids+=($!)
  date +%s%3N >"$dir/ffmpeg-a/start_ms"
  ffmpeg -nostdin -loglevel error -thread_queue_size 64 -f pulse -server "$server" -name ffmpeg-a -i benchsink.monitor \
    -c:a libopus -b:a 48k -frame_duration 20 -application audio -y "$dir/ffmpeg-a/out.mka" \
    >"$dir/ffmpeg-a/recorder.log" 2>&1 &
  pids+=($!)
  # What the sink played, raw, as ground truth for the "silence" parts.
  parec -s "$server" -d benchsink.monitor --format=s16le --rate=48000 --channels=2 --raw >"$dir/monitor.raw" 2>/dev/null &
  local parec_pid=$!
  extra_pids+=("${pids[@]}" "$parec_pid")
  local t_start
  t_start=$(date +%s%3N)
  for i in 0 1; do
    for _ in $(seq 100); do
      grep -q '^media_start_epoch_ms=' "$dir/${names[$i]}/recorder.log" 2>/dev/null && break
      sleep 0.05
    done
    sed -n 's/^media_start_epoch_ms=//p' "$dir/${names[$i]}/recorder.log" | head -1 >"$dir/${names[$i]}/start_ms"
  done
  sleep 1
  # The desktop's side (X server, sound server, the sound and marker) before
  # the recorders when the machine is loaded: a starved marker would be
  # measured as the recorders' offset. Recorders keep the default priority.
  local prio=()
  if [[ $(id -u) -eq 0 ]]; then
    renice -n -10 -p "$xvfb_pid" "$pulse_pid" >/dev/null
    prio=(nice -n -10)
  fi
  "${prio[@]}" "$avsync" --display "$display" --server "$server" "${sound[@]}" --marks "$dir/marks/sound.jsonl" \
    --period-s "$audio_period_s" >"$dir/avsync.log" 2>&1 &
  local sync_pid=$!
  extra_pids+=("$sync_pid")
  # The session can fail (xdotool racing a window that closes): the figures
  # are then of a shorter session, and analyse.py says so.
  as_session_user "$session" "$display" --profile "$profile" --seed "$seed" --marks "$dir/marks/marks.jsonl" \
    >"$dir/session.log" 2>&1 || echo "the session failed (exit $?), see $dir/session.log" >&2
  sleep 1
  local t_end
  t_end=$(date +%s%3N)
  for i in 0 1 2 3; do
    echo "$(cpu_ticks "${pids[$i]}") $hz $t_start $t_end" >"$dir/${names[$i]}/cpu"
    hwm_kb "${pids[$i]}" >"$dir/${names[$i]}/hwm_kb"
  done
  audio_ticks "${pids[0]}" >"$dir/agent-av/audio_ticks"
  cat /proc/loadavg >"$dir/loadavg"
  for i in 0 1 2 3; do kill -INT "${pids[$i]}" 2>/dev/null || true; done
  for i in 0 1 2 3; do wait "${pids[$i]}" 2>/dev/null || true; done
  kill "$sync_pid" "$parec_pid" 2>/dev/null || true
  wait "$sync_pid" "$parec_pid" 2>/dev/null || true
  extra_pids=()
  kill "$pulse_pid" 2>/dev/null || true
  wait "$pulse_pid" 2>/dev/null || true
  pulse_pid=""
  stop_xvfb
}

for r in $runs; do
  case "$r" in
    agent|ultrafast|veryfast|office|windows) run_session "$r" ;;
    beside) run_beside ;;
    idle) run_idle ;;
    audio) run_audio ;;
    *) echo "unknown run $r" >&2; exit 2 ;;
  esac
done

echo "== analysing ($(date +%T))"
python3 "$here/analyse.py" "$work" $runs
