#!/bin/bash
# The README's test command: installs what is missing, builds everything
# into ./build and runs the whole test suite (C unit tests and the
# integration tests, which start their own nginx, Redis and PostgreSQL in
# throwaway directories on free loopback ports).  Idempotent.
#
#   scripts/test.sh                  # everything
#   scripts/test.sh t/recorder-*.t   # some test files
#
# Environment: PS_PROVE_JOBS (parallel test files, default 1), PS_KEEP=1
# (keep each test's directory), PS_VERBOSE=1.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD

sh scripts/install-deps.sh

cmake -S . -B build
cmake --build build -j"$(nproc)"

export PS_BUILD_DIR="$repo/build"
if [ "$#" -eq 0 ]; then
    set -- -r t/
fi
exec prove -I t/lib -j"${PS_PROVE_JOBS:-1}" "$@"
