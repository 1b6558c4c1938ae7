#!/usr/bin/env bash
# Checks that an installed pipekit can be used from outside the source tree,
# both ways a user would: CMake find_package(pipekit) and pkg-config.
#
#   run_consumer_test.sh SRC_DIR BUILD_DIR
#
# BUILD_DIR must hold an already-built pipekit. It is installed into a fresh
# temporary prefix; tests/consumer is then configured, built and run against
# that prefix, and the same main.cpp is compiled with `pkg-config --cflags
# --libs pipekit` and run. Everything is removed afterwards. Exits non-zero on
# the first failure.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SRC_DIR BUILD_DIR" >&2
  exit 2
fi
src_dir=$(cd "$1" && pwd)
build_dir=$(cd "$2" && pwd)
consumer_src="$src_dir/tests/consumer"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipekit-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# Use the compiler the library was built with, so the consumer links against
# the same standard library.
cache="$build_dir/CMakeCache.txt"
[[ -f "$cache" ]] || fail "$build_dir is not a CMake build directory"
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$cache")
cxx=${cxx:-c++}
sanitize=$(sed -n 's/^PIPEKIT_SANITIZE:[A-Z]*=//p' "$cache")
[[ -z "$sanitize" ]] || fail "built with PIPEKIT_SANITIZE=$sanitize: a consumer would need -fsanitize too"

step "install $build_dir into $prefix"
cmake --install "$build_dir" --prefix "$prefix"

# --- CMake: find_package(pipekit) ---------------------------------------------
step "configure and build tests/consumer with find_package(pipekit)"
# The package registry is off so that only the fresh prefix can satisfy
# find_package(); pipekit_DIR is checked below as well.
cmake -S "$consumer_src" -B "$tmp/cmake-build" -G Ninja \
      -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
      -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
found_dir=$(sed -n 's/^pipekit_DIR:[A-Z]*=//p' "$tmp/cmake-build/CMakeCache.txt")
[[ "$found_dir" == "$prefix"/* ]] || fail "find_package(pipekit) used $found_dir, not the fresh install in $prefix"
cmake --build "$tmp/cmake-build" -j1

step "run the find_package consumer"
"$tmp/cmake-build/pipekit_consumer" || fail "the find_package consumer failed"

# --- pkg-config ------------------------------------------------------------------
# GNUInstallDirs may put the library under lib, lib64 or lib/<multiarch>: look
# for the .pc file rather than guess.
pc_file=$(find "$prefix" -name pipekit.pc -print -quit)
[[ -n "$pc_file" ]] || fail "no pipekit.pc under $prefix"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc_file")
step "pkg-config build with $pc_file"

# The .pc file must describe this prefix, not the prefix given at configure time.
pc_includedir=$(pkg-config --variable=includedir pipekit)
pc_libdir=$(pkg-config --variable=libdir pipekit)
[[ "$(cd "$pc_includedir" 2>/dev/null && pwd)" == "$prefix"/* ]] ||
  fail "pipekit.pc: includedir=$pc_includedir is not inside the install prefix $prefix"
[[ "$(cd "$pc_libdir" 2>/dev/null && pwd)" == "$prefix"/* ]] ||
  fail "pipekit.pc: libdir=$pc_libdir is not inside the install prefix $prefix"

# shellcheck disable=SC2046  # the flags are meant to split into words
"$cxx" -o "$tmp/pkg-config-consumer" "$consumer_src/main.cpp" $(pkg-config --cflags --libs pipekit)

step "run the pkg-config consumer"
"$tmp/pkg-config-consumer" || fail "the pkg-config consumer failed"

echo "consumer test passed"
