#!/usr/bin/env bash
# Checks a shared libpipekit (-DBUILD_SHARED_LIBS=ON, ELF platforms):
#
#   run_shared_library_test.sh SRC_DIR BUILD_DIR
#
# SRC_DIR is configured and built once more as a shared library with the CLI
# (which uses only the public API, so it also shows the exports cover it) and
# installed into a fresh prefix. Then:
#   - the library's SONAME is libpipekit.so.<SOVERSION> (MAJOR.MINOR while
#     the major version is 0, as minor versions break the ABI until 1.0;
#     MAJOR from 1.0 on), with the libpipekit.so.<SOVERSION> and libpipekit.so
#     links installed;
#   - it exports only the public API: no pipekit::detail symbol, every
#     exported pipekit:: name is declared in include/pipekit/, and nothing
#     else but the weak copies of standard-library templates any object
#     file using them carries;
#   - tests/consumer (find_package) and main.cpp (pkg-config) link against
#     it dynamically and run; main.cpp catches a pipekit::spawn_error thrown
#     inside the library;
#   - the installed `pipekit` command runs from the prefix without
#     LD_LIBRARY_PATH (its RUNPATH finds the library).
# BUILD_DIR is only read for the compiler, build type and PIPEKIT_WERROR.
# Exits non-zero on the first failure.
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

major=${pipekit_version%%.*}
minor=${pipekit_version#*.}
minor=${minor%%.*}
if [[ $major == 0 ]]; then soversion="$major.$minor"; else soversion="$major"; fi
soname="libpipekit.so.$soversion"

shared_build="$tmp/shared-build"
prefix="$tmp/prefix"
step "configure and build $src_dir as a shared library"
cmake -S "$src_dir" -B "$shared_build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE="$build_type" \
      -DPIPEKIT_WERROR="$werror" -DBUILD_SHARED_LIBS=ON -DPIPEKIT_BUILD_CLI=ON -DPIPEKIT_BUILD_TESTS=OFF \
      -DPIPEKIT_BUILD_BENCH=OFF
cmake --build "$shared_build" -j2
cmake --install "$shared_build" --prefix "$prefix"

lib=$(find "$prefix" -name "libpipekit.so.$pipekit_version" -type f -print -quit)
[[ -n "$lib" ]] || fail "no libpipekit.so.$pipekit_version under $prefix"
libdir=$(dirname "$lib")
[[ -L "$libdir/$soname" && -L "$libdir/libpipekit.so" ]] || fail "$libdir lacks the $soname and libpipekit.so links"

step "SONAME of $lib"
got_soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ "$got_soname" == "$soname" ]] || fail "SONAME is '$got_soname', expected '$soname'"

step "exported symbols of $lib"
# "TYPE NAME" for each defined dynamic symbol, demangled, without the
# prefixes the C++ ABI puts before a class's type information and vtable.
exported=$(nm -D --defined-only -C "$lib" | sed -E 's/^[0-9a-f]+ //' |
           sed -E 's/^(.) (typeinfo name for |typeinfo for |vtable for |VTT for |(non-)?virtual thunk to )/\1 /' | sort -u)
[[ -n "$exported" ]] || fail "the library exports nothing"
detail=""
outside=""
std_instances=0
public=0
names=()
while read -r type name; do
  if [[ "$name" == *pipekit::detail::* ]]; then
    detail+="$name"$'\n'
  elif [[ "$name" == pipekit::* ]]; then
    public=$((public + 1))
    # The namespace-level name and, for a member, the member's name.
    read -r -a words <<<"$(sed -E 's/^pipekit::([A-Za-z_][A-Za-z0-9_]*)(::~?([A-Za-z_][A-Za-z0-9_]*))?.*/\1 \3/' <<<"$name")"
    names+=("${words[@]}")
  elif [[ "$type" == [WVu] && ( "$name" == *std::* || "$name" == __gnu_cxx::* ) ]]; then
    # A weak copy of a standard-library template (std::unordered_map<int,
    # ...>::find, std::nullopt): every object file using it carries one, and
    # the default visibility comes from libstdc++'s own headers.
    std_instances=$((std_instances + 1))
  else
    outside+="$type $name"$'\n'
  fi
done <<<"$exported"
[[ -z "$detail" ]] || fail "exported pipekit::detail symbols:"$'\n'"$detail"
[[ -z "$outside" ]] || fail "exported symbols that are neither pipekit's nor standard-library templates:"$'\n'"$outside"
undeclared=""
for name in $(printf '%s\n' "${names[@]}" | sort -u); do
  [[ "$name" == operator ]] && continue
  grep -qw -- "$name" "$src_dir"/include/pipekit/*.hpp || undeclared+="$name "
done
[[ -z "$undeclared" ]] || fail "exported names that no header in include/pipekit declares: $undeclared"
echo "$public pipekit symbols exported, all declared in include/pipekit; $std_instances standard-library template copies"

step "find_package consumer against the shared library"
cmake -S "$consumer_src" -B "$tmp/cmake-build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
cmake --build "$tmp/cmake-build" -j1
readelf -d "$tmp/cmake-build/pipekit_consumer" | grep -qF "Shared library: [$soname]" ||
  fail "the find_package consumer does not link $soname dynamically"
"$tmp/cmake-build/pipekit_consumer" || fail "the find_package consumer failed"

step "pkg-config consumer against the shared library"
pc_file=$(find "$prefix" -name pipekit.pc -print -quit)
[[ -n "$pc_file" ]] || fail "no pipekit.pc under $prefix"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc_file")
# shellcheck disable=SC2046  # the flags are meant to split into words
"$cxx" -std=c++20 -o "$tmp/pkg-config-consumer" "$consumer_src/main.cpp" $(pkg-config --cflags --libs pipekit)
readelf -d "$tmp/pkg-config-consumer" | grep -qF "Shared library: [$soname]" ||
  fail "the pkg-config consumer does not link $soname dynamically"
LD_LIBRARY_PATH="$libdir" "$tmp/pkg-config-consumer" || fail "the pkg-config consumer failed"

step "the installed pipekit command"
readelf -d "$prefix/bin/pipekit" | grep -qF "Shared library: [$soname]" ||
  fail "the installed pipekit command does not link $soname dynamically"
version_line=$(env -u LD_LIBRARY_PATH "$prefix/bin/pipekit" --version) || fail "the installed pipekit command failed"
[[ "$version_line" == *"$pipekit_version"* ]] || fail "pipekit --version printed '$version_line'"

echo "shared library test passed"
