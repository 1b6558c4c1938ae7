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
# the first failure. Also checks the installed tree holds the license and, when
# the build has the CLI, the `pipekit` command.
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
prefix="$tmp/prefix"

step "install $build_dir into $prefix"
cmake --install "$build_dir" --prefix "$prefix"

step "installed files"
license="$prefix/share/doc/pipekit/LICENSE"
[[ -f "$license" ]] || fail "no LICENSE in $prefix/share/doc/pipekit"
cmp -s "$license" "$src_dir/LICENSE" || fail "$license differs from the source tree's LICENSE"
if [[ $(cache_value PIPEKIT_BUILD_CLI) == ON ]]; then
  [[ -x "$prefix/bin/pipekit" ]] || fail "the build has the CLI, but bin/pipekit is not installed"
  "$prefix/bin/pipekit" --version | grep -qF "$pipekit_version" || fail "the installed pipekit --version"
fi

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

# The consumer chooses the standard (C++20 or later, as the README says).
# shellcheck disable=SC2046  # the flags are meant to split into words
"$cxx" -std=c++20 -o "$tmp/pkg-config-consumer" "$consumer_src/main.cpp" $(pkg-config --cflags --libs pipekit)

step "run the pkg-config consumer"
"$tmp/pkg-config-consumer" || fail "the pkg-config consumer failed"

# A consumer that asks for a later standard keeps it: nothing in pipekit.pc
# may lower it (main.cpp static_asserts). GCC 11+ says c++23, older ones c++2b.
std23=-std=c++23
echo 'int main() {}' | "$cxx" "$std23" -x c++ -fsyntax-only - 2>/dev/null || std23=-std=c++2b
step "pkg-config build with $std23 placed before the .pc's flags"
# shellcheck disable=SC2046
"$cxx" "$std23" -DPIPEKIT_CONSUMER_EXPECT_CXX23 -o "$tmp/pkg-config-consumer-23" "$consumer_src/main.cpp" \
       $(pkg-config --cflags --libs pipekit)
"$tmp/pkg-config-consumer-23" || fail "the C++23 pkg-config consumer failed"

echo "consumer test passed"
