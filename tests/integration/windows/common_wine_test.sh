#!/usr/bin/env bash
# common_test.exe (the Windows files of src/common: fs_windows.cpp,
# wakeup_windows.cpp, under the shared unit tests) under Wine.
#   tests/integration/windows/common_wine_test.sh [BUILD_WINDOWS_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")/../../.." && pwd)"
. "$here/tests/integration/windows/wine_env.sh"
wine_work_dir
wine_env_init "${1:-${DESKAUDIT_WINDOWS_BUILD:-$here/build-windows}}" common_test.exe
unset DISPLAY  # console programs: no X display is needed or touched
wine_boot
wine "$exe"
