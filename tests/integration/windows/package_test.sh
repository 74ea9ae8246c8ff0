#!/usr/bin/env bash
# The administrators' package (scripts/build-windows): the zip holds
# deskaudit-agent.exe (stripped) and README-windows.txt (CRLF line ends); the
# packed exe runs under Wine and its --help lists install and uninstall.
#   tests/integration/windows/package_test.sh [BUILD_WINDOWS_DIR]
# Exit 77 (ctest: skipped) when the zip is not built or wine64 is absent.
set -euo pipefail
here="$(cd "$(dirname "$0")/../../.." && pwd)"
. "$here/tests/integration/windows/wine_env.sh"
wine_work_dir
build="${1:-${DESKAUDIT_WINDOWS_BUILD:-$here/build-windows}}"
zip="$build/deskaudit-agent-windows.zip"
[[ -f "$zip" ]] || skip "$zip is not built: run scripts/build-windows"
wine_env_init "$build" deskaudit-agent.exe
unset DISPLAY
fail() { echo "FAIL: $*"; exit 1; }
(cd "$work" && unzip -q "$zip")
dir="$work/deskaudit-agent-windows"
[[ "$(cd "$dir" && ls | sort | tr '\n' ' ')" == "README-windows.txt deskaudit-agent.exe " ]] ||
  fail "unexpected files: $(ls "$dir")"
grep -q $'\r$' "$dir/README-windows.txt" || fail "README-windows.txt has no CRLF line ends"
for section in Install Uninstall "Where data lives" "Not yet supported"; do
  grep -q "^$section" "$dir/README-windows.txt" || fail "README-windows.txt has no '$section' section"
done
x86_64-w64-mingw32-objdump -h "$dir/deskaudit-agent.exe" | grep -q debug_info && fail "the packed exe is not stripped"
wine_boot
help="$(wine "$dir/deskaudit-agent.exe" --help 2>&1 | tr -d '\r')"
grep -q '^  install' <<<"$help" || fail "--help lists no install: $help"
grep -q '^  uninstall' <<<"$help" || fail "--help lists no uninstall: $help"
echo PASS
