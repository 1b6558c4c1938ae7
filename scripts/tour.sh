#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build pipekit (release),
# and run `pipekit tour`, which shows each kind of pipe on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target pipekit_cli
exec build/release/cli/pipekit tour "$@"
