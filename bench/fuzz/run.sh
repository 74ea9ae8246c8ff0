#!/usr/bin/env bash
# Builds every fuzz target of tests/fuzz with clang, libFuzzer, ASan and UBSan,
# runs each for SECONDS, and prints per target: executions, exec/s, new corpus
# entries and crashes. Exits 1 when any target crashed.
#   bench/fuzz/run.sh SECONDS [TARGET...]      (targets: box segment init policy_body json_fields events_doc)
# Environment: DESKAUDIT_FUZZ_BUILD (default build-fuzz/), DESKAUDIT_FUZZ_CXX
# (default: the newest clang++-N on PATH that libstdc++'s <expected> works with).
# Each target starts from tests/fuzz/corpus/<t> and regressions/<t> and keeps
# what it finds in $build/corpus/<t> (not committed); a crash leaves its input
# in $build/crashes/<t>/: fix the bug, then copy the input to
# tests/fuzz/regressions/<t>/ so CI replays it (ctest -R fuzz_replay).
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
usage() { echo "usage: bench/fuzz/run.sh SECONDS [TARGET...]" >&2; exit 2; }
[[ $# -ge 1 && "$1" =~ ^[0-9]+$ && "$1" -gt 0 ]] || usage
seconds="$1"; shift
all=(box segment init policy_body json_fields events_doc)
targets=("$@"); ((${#targets[@]})) || targets=("${all[@]}")
for t in "${targets[@]}"; do [[ " ${all[*]} " == *" $t "* ]] || { echo "unknown target: $t" >&2; usage; }; done
build="${DESKAUDIT_FUZZ_BUILD:-$here/build-fuzz}"

# Debian 12's clang-14 cannot compile libstdc++-12's <expected> (it needs
# __cpp_concepts >= 202002L); clang 19 can. scripts/install-deps --fuzz installs it.
cxx="${DESKAUDIT_FUZZ_CXX:-}"
if [[ -z "$cxx" ]]; then
  for v in 21 20 19; do command -v "clang++-$v" >/dev/null && { cxx="clang++-$v"; break; }; done
fi
[[ -n "$cxx" ]] || { echo "no clang++ >= 19 found: run scripts/install-deps --fuzz" >&2; exit 2; }
cc="${cxx/clang++/clang}"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_CXX_COMPILER="$cxx" -DDESKAUDIT_FUZZ=ON -DDESKAUDIT_TESTS=OFF -DDESKAUDIT_BENCH=OFF "${launcher[@]}" >/dev/null
ninja -C "$build" "${targets[@]/#/fuzz_}" >/dev/null

# Leaks are not what these parsers can get wrong (no manual memory); the
# libraries' one-time allocations would drown the report.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
rows=()
failed=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t" crashes="$build/crashes/$t" log="$build/logs/$t.log"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  before=$(find "$crashes" -type f | wc -l)
  echo "fuzz: $t for ${seconds}s (log $log)" >&2
  set +e
  "$build/bin/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$crashes/" "$corpus" "$here/tests/fuzz/corpus/$t" "$here/tests/fuzz/regressions/$t" >"$log" 2>&1
  rc=$?
  set -e
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  found=$(( $(find "$crashes" -type f | wc -l) - before ))
  ((rc == 0 || found > 0)) || found=1  # died without leaving an input: still a failure
  ((found == 0)) || failed=1
  rows+=("$(printf '%-12s %12s %8s %8s %8s' "$t" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" \
    "$(stat new_units_added)" "$found")")
done
printf '%-12s %12s %8s %8s %8s\n' target executions exec/s new crashes
printf '%s\n' "${rows[@]}"
if ((failed)); then
  echo "crash inputs are in $build/crashes/<target>/ (logs in $build/logs/)" >&2
  exit 1
fi
