# Sourced by the Wine tests here: finds the cross-built exe, skips (exit 77)
# without it or without wine64 (with CI set, a missing wine64 fails), and
# makes a fresh Wine prefix in a work directory of the test's own.
#   wine_work_dir                      -> $work (a new directory) and $pids; on exit
#                                         the processes in $pids are killed, the
#                                         prefix's wineserver ended, $work removed
#                                         (kept when KEEP_WORK is set)
#   wine_env_init BUILD_DIR EXE_NAME   -> sets $exe, exports WINEPREFIX and friends
wine_work_dir() {
  work="$(mktemp -d /tmp/deskaudit-wine-XXXXXX)"
  pids=()
  trap wine_cleanup EXIT
}
wine_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  WINEPREFIX="$work/prefix" wineserver -k 2>/dev/null || true
  if [[ -n "${KEEP_WORK:-}" ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
skip() { echo "SKIPPED: $*"; exit 77; }
wine_env_init() {
  exe="$1/bin/$2"
  [[ -f "$exe" ]] || skip "$exe is not built: run scripts/build-windows"
  # Debian: /usr/bin/wine (package wine) runs 64-bit programs with wine64.
  if ! command -v wine >/dev/null 2>&1 || ! dpkg-query -W -f='${Status}' wine64 2>/dev/null | grep -q "ok installed"; then
    [[ -n "${CI:-}" ]] && { echo "wine64 is missing (apt-get install wine wine64)"; exit 1; }
    skip "wine64 is missing: apt-get install wine wine64 (scripts/build-windows installs them)"
  fi
  export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
}
wine_boot() {
  wineboot -i >"$work/wineboot.log" 2>&1 || { echo "wineboot failed"; cat "$work/wineboot.log"; exit 1; }
}
# An Xvfb display of our own (Xvfb picks a free number and writes it to fd 3):
# exports DISPLAY and adds the server to $pids (which the caller kills).
wine_xvfb() {
  command -v Xvfb >/dev/null 2>&1 || { echo "Xvfb is missing (scripts/install-deps)"; exit 1; }
  exec 3>"$work/display"
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
  pids+=($!)
  exec 3>&-
  for _ in $(seq 1 300); do [[ -s "$work/display" ]] && break; sleep 0.1; done
  [[ -s "$work/display" ]] || { echo "Xvfb did not start"; cat "$work/xvfb.log"; exit 1; }
  export DISPLAY=":$(head -n1 "$work/display")"
}
# A PulseAudio server of our own for Wine's sound (winepulse): a null sink
# described as "deskaudit-test-sink" (Wine lists it as a playback device of
# that name and its monitor as the recording device "Monitor of
# deskaudit-test-sink"), the default; exports PULSE_SERVER (winepulse is
# libpulse) and $pulse_sink (for pactl). Needs the Debian package pulseaudio.
wine_pulse() {
  command -v pulseaudio >/dev/null 2>&1 || { echo "pulseaudio is missing (scripts/install-deps)"; exit 1; }
  mkdir -p "$work/pulse/home" "$work/pulse/run"
  chmod 700 "$work/pulse/run"
  HOME="$work/pulse/home" XDG_RUNTIME_DIR="$work/pulse/run" XDG_CONFIG_HOME="$work/pulse/home" \
    pulseaudio --daemonize=no -n --exit-idle-time=-1 --disable-shm=yes --log-target=stderr --log-level=error \
    -L "module-null-sink sink_name=testsink rate=48000 channels=2 sink_properties=device.description=deskaudit-test-sink" \
    -L "module-native-protocol-unix auth-anonymous=1 socket=$work/pulse/native" \
    -L module-always-sink </dev/null >"$work/pulse.log" 2>&1 &
  pids+=($!)
  export PULSE_SERVER="unix:$work/pulse/native"
  pulse_sink=testsink
  for _ in $(seq 1 100); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
  pactl info >/dev/null 2>&1 || { echo "pulseaudio did not start"; cat "$work/pulse.log"; exit 1; }
  pactl set-default-sink "$pulse_sink"
}
