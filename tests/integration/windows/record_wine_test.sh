#!/usr/bin/env bash
# The Windows recorder (deskaudit-record.exe; DXGI is tried and the fallback to
# GDI reported, as Wine has no Desktop Duplication) under Wine on an
# Xvfb display: what X clients draw on that display is recorded into fMP4
# segment files that the host's ffprobe accepts and whose pictures are what
# was on screen (a root colour set before the start, another set during the
# recording).
#   tests/integration/windows/record_wine_test.sh [BUILD_WINDOWS_DIR]
# Exit 77 (ctest: skipped) when the exe is not built (scripts/build-windows)
# or wine64 is absent; with CI set, a missing wine64 fails.
set -euo pipefail
here="$(cd "$(dirname "$0")/../../.." && pwd)"
. "$here/tests/integration/windows/wine_env.sh"
wine_work_dir
wine_env_init "${1:-${DESKAUDIT_WINDOWS_BUILD:-$here/build-windows}}" deskaudit-record.exe
for tool in Xvfb display ffprobe ffmpeg; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is missing (scripts/install-deps)"; exit 1; }
done

wine_xvfb
echo "display $DISPLAY, prefix $WINEPREFIX"
# The root window's colour (ImageMagick; it exits 1 after setting it: the
# pictures checked at the end are the proof).
set_root() { display -window root -size 8x8 "xc:$1" >/dev/null 2>&1 || true; }
wine_boot

set_root '#d02020'
mkdir -p "$work/out"
# Wine maps the Unix root to drive Z:.
wine "$exe" --display desktop --out "Z:${work//\//\\}\\out" --fps 5 --seconds 600 >"$work/record.log" 2>"$work/record.err" &
rec=$!
pids+=($rec)

# Positive signals only: the first frame, then a fragment written after the change.
wait_for() {  # wait_for DESCRIPTION COMMAND...; up to 120 s
  local what="$1"; shift
  for _ in $(seq 1 1200); do
    "$@" && return 0
    kill -0 "$rec" 2>/dev/null || { echo "the recorder exited while waiting for $what"; cat "$work/record.log" "$work/record.err"; exit 1; }
    sleep 0.1
  done
  echo "timed out waiting for $what"; cat "$work/record.log" "$work/record.err"; exit 1
}
wait_for "the first frame" grep -q '^media_start_epoch_ms=' "$work/record.log"
grep -q '^backend=gdi size=1280x800' "$work/record.log" || { echo "unexpected capture:"; cat "$work/record.log"; exit 1; }
# DXGI Desktop Duplication is tried first; Wine 8 has none, so GDI is used and
# the reason is reported (and logged).
grep -q '^capture_fallback=DXGI Desktop Duplication not available (.*failed: .*); GDI is used' "$work/record.log" ||
  { echo "no DXGI fallback reason reported:"; cat "$work/record.log"; exit 1; }
cat "$work/record.log" "$work/record.err" | grep -q 'capture: DXGI Desktop Duplication not available' ||
  { echo "the fallback was not logged:"; cat "$work/record.log" "$work/record.err"; exit 1; }
grep '^capture_fallback=' "$work/record.log" | tr -d '\r'
part="$work/out/seg-000000.mp4.part"
size_before=$(stat -c %s "$part")
set_root '#2040e0'
# A change is on disk within still_flush_ms (1 s) as a new fragment.
grown() { [[ $(stat -c %s "$part" 2>/dev/null || echo 0) -gt $size_before ]]; }
wait_for "a fragment with the new colour" grown
# Ctrl+C for a console program: Wine passes SIGINT on as CTRL_C_EVENT.
kill -INT "$rec"
status=0
wait "$rec" || status=$?
[[ $status -eq 0 ]] || { echo "the recorder exited with $status"; cat "$work/record.log" "$work/record.err"; exit 1; }
grep -q '^segment seq=0 ' "$work/record.log" || { echo "no closed segment reported"; cat "$work/record.log"; exit 1; }
seg="$work/out/seg-000000.mp4"
[[ -f "$seg" ]] || { echo "no $seg"; ls -l "$work/out"; exit 1; }

probe="$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height -of csv=p=0 "$seg")"
[[ "$probe" == "h264,1280,800" ]] || { echo "ffprobe says '$probe'"; exit 1; }
ffmpeg -v error -i "$seg" -f null - || { echo "ffmpeg cannot decode $seg"; exit 1; }

# The mean colour of the first and of the last picture.
colour() {  # colour first|last -> "R G B": the first or last picture scaled to one pixel
  local frames=()
  [[ "$1" == first ]] && frames=(-frames:v 1)
  ffmpeg -v error -i "$seg" "${frames[@]}" -vf scale=1:1:flags=area -f rawvideo -pix_fmt rgb24 - | tail -c 3 |
    od -An -tu1 | xargs
}
close() {  # close "R G B" R G B: each channel within 24
  read -r r g b <<<"$1"
  (( ${r}-$2 < 24 && $2-${r} < 24 && ${g}-$3 < 24 && $3-${g} < 24 && ${b}-$4 < 24 && $4-${b} < 24 ))
}
first="$(colour first)"
last="$(colour last)"
echo "first picture $first, last picture $last"
close "$first" 208 32 32 || { echo "the first picture is not the red root ($first)"; exit 1; }
close "$last" 32 64 224 || { echo "the last picture is not the blue root ($last)"; exit 1; }
echo "PASS: $(grep '^segment' "$work/record.log")"
