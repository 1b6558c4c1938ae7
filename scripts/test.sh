#!/usr/bin/env bash
# Command 2 of the README: install what is missing, build with warnings as
# errors, and run the whole test suite.
#   scripts/test.sh                 the normal suite (preset "ci")
#   scripts/test.sh --preset asan   the same under AddressSanitizer + UBSan
#   scripts/test.sh --preset tsan   under ThreadSanitizer
#   scripts/test.sh --preset windows  cross-built with mingw-w64, run under Wine
set -euo pipefail
cd "$(dirname "$0")/.."
preset=ci
if [[ ${1:-} == --preset ]]; then preset=$2; shift 2; fi
if [[ $preset == windows ]]; then
  bash scripts/install-deps.sh windows
  # A fresh, quiet Wine prefix. Its services start first with stdio on
  # /dev/null: started by the first test instead, they would inherit (and
  # hold open) that test's pipes, and every test would wait for them.
  WINEPREFIX=$(mktemp -d "${TMPDIR:-/tmp}/pipekit-wine.XXXXXX")
  export WINEPREFIX WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
  trap 'wineserver -k >/dev/null 2>&1 || true; rm -rf "$WINEPREFIX"' EXIT
  wineboot -i </dev/null >/dev/null 2>&1
  wineserver -w
  wineserver -p </dev/null >/dev/null 2>&1
  # Wine starts its desktop process lazily (a pseudo console's host does when
  # it gets input); started by a test it would hold that test's pipes open.
  wine explorer.exe /desktop </dev/null >/dev/null 2>&1 &
  # A crash prints one line instead of starting the winedbg debugger.
  wine reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' /v Debugger /t REG_SZ /d "" /f \
    </dev/null >/dev/null 2>&1
else
  bash scripts/install-deps.sh
fi
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
retry=()
if [[ $preset == windows ]]; then
  # Wine itself sometimes fails to start a process (about 1 in 400 spawns
  # here: "failed to map the shared user data", CreateProcess then reports
  # an internal error). A test that fails is run once more; a real failure
  # fails twice. ctest lists every failed attempt in its output.
  retry=(--repeat until-pass:2)
fi
ctest --preset "$preset" -j2 "${retry[@]}" "$@"
