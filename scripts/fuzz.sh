#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz and runs each one.
#   scripts/fuzz.sh short            ~10 s per target (ctest test fuzz_short, label fuzz)
#   scripts/fuzz.sh long             5 min per target (make fuzz)
#   scripts/fuzz.sh run TARGET [S]   one target for S seconds (default 60)
# Env: FUZZ_SECONDS overrides the per-target time, OTASWARM_FUZZ_BUILD the build dir,
#      FUZZ_JOBS the build parallelism (default 2: the machines are small).
# New interesting inputs go to build-fuzz/corpus/<target> (the checked-in seeds stay
# read-only); crashers to build-fuzz/artifacts/. Exit status 1 when any target failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${OTASWARM_FUZZ_BUILD:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-2}
mode=${1:-short}
only=""
case "$mode" in
  short) secs=${FUZZ_SECONDS:-10} ;;
  long) secs=${FUZZ_SECONDS:-300} ;;
  run)
    only=${2:?usage: fuzz.sh run TARGET [SECONDS]}
    secs=${3:-${FUZZ_SECONDS:-60}}
    ;;
  *) echo "usage: $0 short|long|run TARGET [SECONDS]" >&2; exit 2 ;;
esac

cxx=$(command -v clang++ || command -v clang++-14 || true)
if [[ -z "$cxx" ]]; then
  echo "fuzz.sh: clang++ not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi

t0=$(date +%s)
# Coverage + ASan for everything in this tree, so libraries linked whole (rendezvous) are
# instrumented too. UBSan only on the parser targets (tests/fuzz): clang 14 fails on the
# rendezvous coroutines with UBSan ("Cannot represent a difference across sections").
flags="-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer"
mkdir -p "$build"
# -O1 without debug info: libFuzzer's usual level and a quicker build; tests/fuzz adds line
# tables to the parser targets.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1" \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DOTASWARM_FUZZ=ON -DCMAKE_CXX_FLAGS="$flags" >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  exit 2
}
mapfile -t targets <"$build/fuzz_targets.txt"
if [[ -n "$only" ]]; then targets=("$only"); fi
cmake --build "$build" -j "$jobs" --target $(printf 'fuzz_%s ' "${targets[@]}") >"$build/build.log" 2>&1 || {
  tail -50 "$build/build.log" >&2
  exit 2
}
t_built=$(date +%s)
echo "fuzz.sh: built ${#targets[@]} targets in $((t_built - t0)) s; ${secs} s each"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/artifacts" "$build/logs"
# Targets that need a file (config) write it here; memory-backed when available.
tmp=$(mktemp -d "$([[ -d /dev/shm && -w /dev/shm ]] && echo /dev/shm || echo "$build")/otaswarm-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=()
printf '%-16s %10s %10s %8s %s\n' target execs exec/s corpus result
for t in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$t"
  work="$build/corpus/$t"
  mkdir -p "$work" "$seeds"
  log="$build/logs/$t.log"
  set +e
  (cd "$build" && TMPDIR="$tmp" "$build/bin/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "$work" "$seeds") >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (rc $rc, log $log)"
    failed+=("$t")
  fi
  printf '%-16s %10s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
  if [[ $rc -ne 0 ]]; then
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|#[0-9]+ 0x' "$log" | head -40 >&2 || tail -40 "$log" >&2
  fi
done
echo "fuzz.sh: total $(( $(date +%s) - t0 )) s"
if ((${#failed[@]})); then
  echo "fuzz.sh: failing targets: ${failed[*]} (reproduce: $build/bin/fuzz_<target> <artifact>;" \
    "then add the artifact to tests/fuzz/regressions/<target>/)" >&2
  exit 1
fi
