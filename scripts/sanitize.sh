#!/usr/bin/env bash
# ASan + UBSan build of the unit tests in build-asan, then runs them (ctest label unit).
# Called from .ci/run after `make test`. Builds only the unit-test executables and what
# they link, not the servers or the load generator.
# Env: OTASWARM_ASAN_BUILD (build dir), SANITIZE_JOBS (default: nproc).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${OTASWARM_ASAN_BUILD:-$root/build-asan}
jobs=${SANITIZE_JOBS:-$(nproc)}
t0=$(date +%s)

mkdir -p "$build"
# -O1 -g1: fast enough to compile on small machines, line numbers in sanitizer reports.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DOTASWARM_SANITIZE=ON >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  exit 2
}

# gtest_discover_tests leaves one "<target>[N]_include.cmake" per test executable.
mapfile -t targets < <(find "$build/tests" -name '*_include.cmake' -printf '%f\n' | sed 's/\[[0-9]*\]_include\.cmake$//' | sort -u)
mapfile -t -O "${#targets[@]}" targets < <(cmake --build "$build" --target help | sed -n 's/^\.\.\. \(fuzz_replay_[A-Za-z0-9_]*\)$/\1/p')
if ((${#targets[@]} == 0)); then
  echo "sanitize.sh: no unit-test targets found" >&2
  exit 2
fi
cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$build/build.log" 2>&1 || {
  grep -E 'error|Error' "$build/build.log" | head -40 >&2
  exit 2
}
t_built=$(date +%s)
echo "sanitize.sh: built ${#targets[@]} unit-test executables with ASan+UBSan in $((t_built - t0)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# ctest's summary stays the last line, as after `make test`.
cd "$build" && exec ctest -L unit -j "$jobs" --output-on-failure
