#!/usr/bin/env bash
# Where the workload's checkpoint windows are on the screen, for reading
# their text there and nowhere else: tesseract reading a whole screen joins
# the lines of windows that sit side by side (the dragged shell beside the
# second checkpoint's terminal), and how it joins them swings with pixel
# noise, so its recall of the same still text went from 0.69 to 0.97 between
# two recordings of one session while the screenshot's stayed 0.79.
#   watch-checkpoints.sh DISPLAY DIR [NAME ...]   (default: checkpoint-a checkpoint-b)
# Runs until killed. While a window titled NAME exists, DIR/NAME.geometry
# holds its client area as "X Y WIDTH HEIGHT" (absolute, from xwininfo),
# rewritten each 0.2 s, so after the window has gone it holds where it last
# was. Used by bench/record/run.sh and tests/integration/windows.
set -uo pipefail
display="${1:?usage: watch-checkpoints.sh DISPLAY DIR [NAME ...]}"
dir="${2:?usage: watch-checkpoints.sh DISPLAY DIR [NAME ...]}"
shift 2
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(checkpoint-a checkpoint-b)
command -v xwininfo >/dev/null || { echo "watch-checkpoints.sh: xwininfo is missing (x11-utils)" >&2; exit 1; }
mkdir -p "$dir"
while :; do
  for name in "${names[@]}"; do
    info="$(DISPLAY="$display" xwininfo -name "$name" 2>/dev/null)" || continue
    geometry="$(awk -F: '/Absolute upper-left X/ {x=$2} /Absolute upper-left Y/ {y=$2}
      /^ *Width:/ {w=$2} /^ *Height:/ {h=$2} /Map State: IsViewable/ {v=1}
      END {if (v && w > 0 && h > 0) printf "%d %d %d %d\n", x, y, w, h}' <<<"$info")"
    [[ -n "$geometry" ]] || continue
    printf '%s\n' "$geometry" >"$dir/$name.geometry.tmp" && mv -f "$dir/$name.geometry.tmp" "$dir/$name.geometry"
  done
  sleep 0.2
done
