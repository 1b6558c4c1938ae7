#!/usr/bin/env bash
# Builds the benchmark programs and runs them all, then prints the
# pipekit / raw-baseline ratio table (bench/ratios.py).
#
#   bench/run_benchmarks.sh [build-dir]        # default: build/release
#
# The build dir is configured (Release, Ninja, PIPEKIT_BUILD_BENCH=ON) if it
# does not exist yet. Console output goes to stdout; JSON results go to
# <build-dir>/bench-results/*.json.
#
# Environment:
#   PIPEKIT_BENCH_JOBS         parallel build jobs (default 2)
#   PIPEKIT_BENCH_REPETITIONS  repetitions of every benchmark (default 5); the
#                              ratios use the median, and repetitions of
#                              different benchmarks are randomly interleaved so
#                              that a burst of load from elsewhere does not
#                              land on one side of a pair only.
# Takes about 3 minutes on a 2-vCPU VM (plus the build).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-build/release}
[[ $build == /* ]] || build="$root/$build"
jobs=${PIPEKIT_BENCH_JOBS:-2}
reps=${PIPEKIT_BENCH_REPETITIONS:-5}

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPEKIT_BUILD_BENCH=ON
elif grep -q '^PIPEKIT_BUILD_BENCH:BOOL=OFF' "$build/CMakeCache.txt"; then
  cmake "$build" -DPIPEKIT_BUILD_BENCH=ON
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [[ $build_type != Release ]]; then
  echo "warning: $build is a '${build_type:-no type}' build; benchmark a Release build" >&2
fi
cmake --build "$build" --target pipekit_benchmarks -j "$jobs"

results="$build/bench-results"
mkdir -p "$results"
rm -f "$results"/*.json

run() {
  local program=$1 json=$2
  shift 2
  echo
  echo "=== $program $*"
  "$build/bench/$program" --benchmark_format=console \
    --benchmark_out="$results/$json" --benchmark_out_format=json \
    --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
    --benchmark_display_aggregates_only=true "$@"
}

run bench_pipe pipe.json
# Two processes: once the 1 GiB is held it stays, and it must not be held
# while the plain spawn benchmarks run.
run bench_spawn spawn.json --benchmark_filter='^BM_spawn/'
run bench_spawn spawn_1GiB.json --benchmark_filter='^BM_spawn_1GiB/'
run bench_communicate communicate.json
# Channels: pipekit and raw in one program, Python's multiprocessing.Pipe in
# another (same names, implementation "python"), and the 2 GiB + 1 one-shots
# (2-4 GiB of memory each) once, in their own process.
run bench_channel channel.json --benchmark_filter='^BM_channel_(small|batch|large|roundtrip)/'
echo
echo "=== bench/channel_python.py"
python3 "$here/channel_python.py" --repetitions "$reps" --out "$results/channel_python.json"
reps=1 run bench_channel channel_crossing.json --benchmark_filter='^BM_channel_crossing/'

echo
python3 "$here/ratios.py" "$results"/{pipe,spawn,spawn_1GiB,communicate,channel,channel_python,channel_crossing}.json
