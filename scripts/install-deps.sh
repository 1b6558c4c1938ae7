#!/usr/bin/env bash
# Installs the Debian packages pipekit needs to build and test, and only the
# ones that are missing. Safe to run again. Needs root or sudo for apt-get.
#   install-deps.sh            what the Linux build and tests need
#   install-deps.sh windows    and the mingw-w64 cross compiler and Wine
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev googletest
  libcli11-dev libfmt-dev nlohmann-json3-dev
  python3 procps libssl-dev
  libuv1-dev  # bench/ only: the libuv baseline of bench_communicate
)
if [[ ${1:-} == windows ]]; then
  packages+=(g++-mingw-w64-x86-64-posix wine wine64)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
