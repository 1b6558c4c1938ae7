#!/usr/bin/env bash
# Command 2 of the README: install what is missing, build with warnings as
# errors, and run the whole test suite.
#   scripts/test.sh                 the normal suite (preset "ci")
#   scripts/test.sh --preset asan   the same under AddressSanitizer + UBSan
#   scripts/test.sh --preset tsan   under ThreadSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
preset=ci
if [[ ${1:-} == --preset ]]; then preset=$2; shift 2; fi
bash scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --preset "$preset" -j2 "$@"
