#!/usr/bin/env bash
# agent_windows_test.exe (src/agent/windows: sessions, service helpers, the
# protected ProgramData directory, the per-session helper launch, the notice
# box, the activity sources, the sound capture) under Wine on an Xvfb display
# of its own (the notice is a real window) with a PulseAudio server of its own
# (WasapiCaptureTest plays to its sink and records its monitor) and https
# servers of its own (WinHttpCaFileTest: the HTTP client with a private CA).
#   tests/integration/windows/agent_windows_wine_test.sh [BUILD_WINDOWS_DIR [GTEST_ARGS...]]
# Exit 77 (ctest: skipped) when the exe is not built or wine64 is absent.
set -euo pipefail
here="$(cd "$(dirname "$0")/../../.." && pwd)"
. "$here/tests/integration/windows/wine_env.sh"
wine_work_dir
wine_env_init "${1:-${DESKAUDIT_WINDOWS_BUILD:-$here/build-windows}}" agent_windows_test.exe
wine_xvfb
wine_pulse
export DESKAUDIT_TEST_SOUND=1
wine_boot
wine_tls
wine "$exe" "${@:2}"
