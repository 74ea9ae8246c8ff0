#!/usr/bin/env bash
# Offline encoder comparison on the office workload's screens, deterministic:
# screenshots (a 1920x1080 Xvfb with openbox and xclock) of a terminal being
# typed into and of 12 pages of `less` over the workload's long file, the
# xterm settings of ../shared/workload/desktop-session.sh, are coded with
# the recorder's encoder (deskaudit-encode-frames) as the recorder codes them
# (keyframe, then careful "fresh" frames of the changed macroblocks), once
# per variant; each decoded page and typing picture is read by tesseract
# against the screenshot's reading (word recall, analyse.py's) and compared
# by SSIM. Prints bytes per fresh page, per typed line, per keyframe. Figures
# only, no assertions. See README.md ("Encoder settings offline").
#
#   bench/record/encode_frames.sh [--build DIR] [--work DIR] [VARIANT...]
# A VARIANT is NAME=ARGS, ARGS being deskaudit-encode-frames options, e.g.
#   'umh48=--careful-params me=umh:merange=48:trellis=2' 'aqs2=--x264-params aq-strength=2.0'
# "default" (the encoder's defaults) is always run first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$here/../../build"
work=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) break ;;
  esac
done
tool="$build/bin/deskaudit-encode-frames"
[[ -x "$tool" ]] || { echo "build deskaudit-encode-frames first (cmake -DDESKAUDIT_BENCH=ON); looked in $tool" >&2; exit 1; }
for t in Xvfb openbox xterm xdotool xclock import ffmpeg tesseract python3; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done
[[ -n "$work" ]] || work="$(mktemp -d /tmp/deskaudit-encode-frames.XXXXXX)"
mkdir -p "$work/frames" "$work/yuv"
echo "work directory: $work"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
display=""
for n in $(seq 260 300); do
  [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] && continue
  Xvfb ":$n" -screen 0 1920x1080x24 -nolisten tcp -noreset >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do [[ -e /tmp/.X11-unix/X$n ]] && { display=":$n"; break 2; }; sleep 0.1; done
done
[[ -n "$display" ]] || { echo "no free display" >&2; exit 1; }
export DISPLAY=$display
openbox --sm-disable >/dev/null 2>&1 & pids+=($!)
sleep 1
xclock -digital -update 1 -geometry 260x40-10+10 & pids+=($!)
words=(audit policy session record upload bucket retention window cursor
  keyboard report invoice payroll customer ledger export archive access
  review console player progress segment storage network desktop office
  manager finance contract server budget quarter release approve reject)
salad() { # the workload's word salad
  local s=$1 lines=$2 per=$3 i j line
  for ((i = 0; i < lines; i++)); do
    line=""
    for ((j = 0; j < per; j++)); do
      s=$(((s * 1103515245 + 12345) % 2147483648))
      line+="${words[$((s / 65536 % ${#words[@]}))]} "
    done
    echo "${line% }"
  done
}
term() { # term NAME GEOMETRY [command...]
  local name=$1 geom=$2; shift 2
  xterm -name "$name" -title "$name" -geometry "$geom" -fa 'DejaVu Sans Mono' -fs 12 -bg white -fg black +sb "$@" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 50); do xdotool search --name "^$name\$" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "window $name did not appear" >&2; exit 1
}
salad 13 4000 10 >"$work/long.txt"
term shell 100x30+40+60
sleep 1
w=$(xdotool search --name '^shell$' | head -1)
import -window root "$work/frames/t00.png"
for n in $(seq 1 12); do
  xdotool type --window "$w" --delay 5 "echo $(salad "$n" 1 4)"
  xdotool key --window "$w" Return
  sleep 0.3
  import -window root "$(printf '%s/frames/t%02d.png' "$work" "$n")"
done
term pager 120x45+100+40 -e less "$work/long.txt"
sleep 1
pw=$(xdotool search --name '^pager$' | head -1)
import -window root "$work/frames/p00.png"
for n in $(seq 1 12); do
  xdotool key --window "$pw" space
  sleep 0.4
  import -window root "$(printf '%s/frames/p%02d.png' "$work" "$n")"
done
cleanup; pids=()
for f in "$work"/frames/*.png; do
  ffmpeg -nostdin -v error -y -i "$f" -pix_fmt yuv420p -f rawvideo "$work/yuv/$(basename "$f" .png).yuv"
done
# Plans: pages (a keyframe, 12 fresh pages), typing (a keyframe, 12 typed lines),
# keyframe (6 pages, then the 6th again as a keyframe, then 2 more pages).
{ echo "yuv/p00.yuv key"; for n in $(seq -w 1 12); do echo "yuv/p$n.yuv fresh"; done; } >"$work/plan-pages"
{ echo "yuv/t00.yuv key"; for n in $(seq -w 1 12); do echo "yuv/t$n.yuv fresh"; done; } >"$work/plan-typing"
{ echo "yuv/p00.yuv key"; for n in 01 02 03 04 05 06; do echo "yuv/p$n.yuv fresh"; done
  echo "yuv/p06.yuv key"; echo "yuv/p07.yuv fresh"; echo "yuv/p08.yuv fresh"; } >"$work/plan-keyframe"
python3 "$here/encode_frames.py" "$tool" "$work" "default=" "$@"
