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
# A throw-away PKI made with openssl (P-256 keys, as tests/common/test_pki.hpp)
# in $work/pki: ca.pem signed server.pem (DNS:localhost, IP:127.0.0.1),
# wrong-name.pem (DNS:other.example) and client-only.pem (localhost, but for
# client authentication only) and the intermediate CA intermediate.pem, which
# signed via-intermediate.pem (localhost; the file holds the leaf and the
# intermediate, as a server sends them); other-ca.pem signed nothing we serve.
#   wine_pki -> $pki (the directory)
wine_pki() {
  command -v openssl >/dev/null 2>&1 || { echo "openssl is missing (scripts/install-deps)"; exit 1; }
  pki="$work/pki"
  mkdir -p "$pki"
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  local ca
  for ca in ca other-ca; do
    openssl req -x509 "${key[@]}" -keyout "$pki/$ca.key" -out "$pki/$ca.pem" -days 2 -subj "/CN=deskaudit-test-$ca" \
      2>/dev/null || { echo "openssl could not make $ca"; exit 1; }
  done
  local name san usage
  for name in server wrong-name client-only; do
    san="DNS:localhost,IP:127.0.0.1"
    usage=serverAuth
    [[ $name == wrong-name ]] && san="DNS:other.example"
    [[ $name == client-only ]] && usage=clientAuth
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=%s\n' \
      "$san" "$usage" >"$pki/$name.ext"
    openssl req "${key[@]}" -keyout "$pki/$name.key" -out "$pki/$name.csr" -subj "/CN=${san%%,*}" 2>/dev/null &&
      openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
        -out "$pki/$name.pem" -days 2 -extfile "$pki/$name.ext" 2>/dev/null ||
      { echo "openssl could not make $name"; exit 1; }
  done
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$pki/intermediate.ext"
  openssl req "${key[@]}" -keyout "$pki/intermediate.key" -out "$pki/intermediate.csr" \
    -subj /CN=deskaudit-test-intermediate 2>/dev/null &&
    openssl x509 -req -in "$pki/intermediate.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
      -out "$pki/intermediate.pem" -days 2 -extfile "$pki/intermediate.ext" 2>/dev/null &&
    openssl req "${key[@]}" -keyout "$pki/via-intermediate.key" -out "$pki/via-intermediate.csr" -subj /CN=localhost \
      2>/dev/null &&
    openssl x509 -req -in "$pki/via-intermediate.csr" -CA "$pki/intermediate.pem" -CAkey "$pki/intermediate.key" \
      -CAcreateserial -out "$pki/via-intermediate.leaf" -days 2 -extfile "$pki/server.ext" 2>/dev/null ||
    { echo "openssl could not make the intermediate CA"; exit 1; }
  cat "$pki/via-intermediate.leaf" "$pki/intermediate.pem" >"$pki/via-intermediate.pem"
}
# https servers (tls_server.py) for the Windows client's CA-file tests
# (tests/unit/client/http_winhttp_test.cpp), one per certificate of wine_pki,
# all logging what they receive to one file. Exports, as Windows paths where
# they are files: DESKAUDIT_TEST_TLS_CA, DESKAUDIT_TEST_TLS_OTHER_CA,
# DESKAUDIT_TEST_TLS_INTERMEDIATE_CA, DESKAUDIT_TEST_TLS_LOG and
# DESKAUDIT_TEST_TLS_{SERVER,WRONG_NAME,CLIENT_ONLY,VIA_INTERMEDIATE}_PORT.
wine_tls() {
  wine_pki
  local name var
  for name in server wrong-name client-only via-intermediate; do
    python3 "$here/tests/integration/windows/tls_server.py" "$pki/$name.pem" "$pki/$name.key" "$pki/$name.port" \
      "$work/tls-requests.log" >"$work/tls-$name.log" 2>&1 &
    pids+=($!)
  done
  for name in server wrong-name client-only via-intermediate; do
    for _ in $(seq 1 100); do [[ -s "$pki/$name.port" ]] && break; sleep 0.1; done
    [[ -s "$pki/$name.port" ]] || { echo "tls_server.py ($name) did not start"; cat "$work/tls-$name.log"; exit 1; }
    var="DESKAUDIT_TEST_TLS_$(echo "$name" | tr 'a-z-' 'A-Z_')_PORT"
    export "$var=$(cat "$pki/$name.port")"
  done
  touch "$work/tls-requests.log"
  DESKAUDIT_TEST_TLS_CA="$(winepath -w "$pki/ca.pem" 2>/dev/null)"
  DESKAUDIT_TEST_TLS_OTHER_CA="$(winepath -w "$pki/other-ca.pem" 2>/dev/null)"
  DESKAUDIT_TEST_TLS_INTERMEDIATE_CA="$(winepath -w "$pki/intermediate.pem" 2>/dev/null)"
  DESKAUDIT_TEST_TLS_LOG="$(winepath -w "$work/tls-requests.log" 2>/dev/null)"
  export DESKAUDIT_TEST_TLS_CA DESKAUDIT_TEST_TLS_OTHER_CA DESKAUDIT_TEST_TLS_INTERMEDIATE_CA DESKAUDIT_TEST_TLS_LOG
}
