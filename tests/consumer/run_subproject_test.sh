#!/usr/bin/env bash
# Checks that pipekit works as a subproject (tests/consumer/subproject):
#
#   run_subproject_test.sh SRC_DIR BUILD_DIR
#
# 1. add_subdirectory(SRC_DIR): pipekit defines only its library (the
#    subproject's CMakeLists fails the configure otherwise), the consumer
#    builds and runs, and installing the consumer installs only the
#    consumer's own program (PIPEKIT_INSTALL is off for a subproject).
# 2. FetchContent of the same tree: the same target check at configure time,
#    once as it is and once with -DPIPEKIT_INSTALL=ON (pipekit's install and
#    export rules must then generate without errors).
# BUILD_DIR is only read for the compiler, build type and PIPEKIT_WERROR.
# Exits non-zero on the first failure.
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

configure() {  # BINARY_DIR ARGS...
  local dir=$1
  shift
  cmake -S "$consumer_src/subproject" -B "$dir" -G Ninja \
        -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE="$build_type" -DPIPEKIT_WERROR="$werror" "$@"
}

step "add_subdirectory: configure and build"
configure "$tmp/sub" -DPIPEKIT_SOURCE_DIR="$src_dir"
cmake --build "$tmp/sub" -j2

step "add_subdirectory: run the consumer"
"$tmp/sub/pipekit_consumer" || fail "the add_subdirectory consumer failed"

step "add_subdirectory: install the consumer"
cmake --install "$tmp/sub" --prefix "$tmp/prefix"
installed=$(cd "$tmp/prefix" && find . -type f -o -type l | sort)
[[ "$installed" == "./bin/pipekit_consumer" ]] ||
  fail "installing the consumer must install only bin/pipekit_consumer; it installed:"$'\n'"$installed"

step "FetchContent: configure"
configure "$tmp/fetch" -DFETCHCONTENT_SOURCE_DIR_PIPEKIT="$src_dir" -DPIPEKIT_CONSUMER_VIA=FetchContent

step "FetchContent with PIPEKIT_INSTALL=ON: configure"
configure "$tmp/fetch-install" -DFETCHCONTENT_SOURCE_DIR_PIPEKIT="$src_dir" -DPIPEKIT_CONSUMER_VIA=FetchContent \
          -DPIPEKIT_INSTALL=ON
grep -q 'pipekit-targets' "$tmp/fetch-install/_deps/pipekit-build/cmake_install.cmake" ||
  fail "with PIPEKIT_INSTALL=ON the subproject has no install rules for its CMake package"

echo "subproject test passed"
