# shellcheck shell=bash disable=SC2034  # sets variables for the scripts that source it
# Shared by the run_*_test.sh scripts of tests/consumer (sourced, not run).
#
# Expects SRC_DIR and BUILD_DIR as $1 and $2 (BUILD_DIR: an already
# configured pipekit build, whose compiler, build type and PIPEKIT_WERROR the
# scripts reuse) and sets src_dir, build_dir, consumer_src, cxx, build_type,
# werror, pipekit_version and tmp (a fresh directory removed on exit).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SRC_DIR BUILD_DIR" >&2
  exit 2
fi
src_dir=$(cd "$1" && pwd)
build_dir=$(cd "$2" && pwd)
consumer_src="$src_dir/tests/consumer"

step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

cache="$build_dir/CMakeCache.txt"
[[ -f "$cache" ]] || fail "$build_dir is not a CMake build directory"
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$cache"; }
# The compiler the library was built with, so that every consumer links
# against the same standard library.
cxx=$(cache_value CMAKE_CXX_COMPILER)
cxx=${cxx:-c++}
build_type=$(cache_value CMAKE_BUILD_TYPE)
werror=$(cache_value PIPEKIT_WERROR)
werror=${werror:-OFF}
sanitize=$(cache_value PIPEKIT_SANITIZE)
[[ -z "$sanitize" ]] || fail "built with PIPEKIT_SANITIZE=$sanitize: a consumer would need -fsanitize too"
pipekit_version=$(sed -n 's/^project(pipekit VERSION \([0-9.]*\).*/\1/p' "$src_dir/CMakeLists.txt")
[[ -n "$pipekit_version" ]] || fail "no project(pipekit VERSION ...) in $src_dir/CMakeLists.txt"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipekit-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
