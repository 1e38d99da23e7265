#!/bin/bash
# The README's test command: installs what is missing, builds everything
# into ./build and runs the whole test suite (C unit tests and the
# integration tests, which start their own nginx, Redis and PostgreSQL in
# throwaway directories on free loopback ports).  Idempotent.
#
#   scripts/test.sh                  # everything
#   scripts/test.sh t/recorder-*.t   # some test files
#   PS_SANITIZE=1 scripts/test.sh    # the same against an ASan + UBSan
#                                    # build in ./build-asan
#
# With PS_SANITIZE=1 the aggregator, the unit tests and the module are
# built with -fsanitize=address,undefined (cmake -DPATHSTATS_SANITIZE=ON);
# the harness preloads libasan into nginx and fails a test on any report
# (t/lib/PathStats/Test.pm, check_error_logs).  The default file list
# then leaves out what a sanitizer build adds nothing to: the snapshot
# and zone fuzzers (each is an ASan + UBSan build of its own) and
# t/unit-valgrind.t (valgrind cannot run ASan binaries).
#
# Environment: PS_PROVE_JOBS (parallel test files, default 1), PS_KEEP=1
# (keep each test's directory), PS_VERBOSE=1, PS_SANITIZE=1,
# PS_VALGRIND=1 (t/unit-valgrind.t: the unit tests under valgrind).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD

sh scripts/install-deps.sh

if [ "${PS_SANITIZE:-0}" = 1 ]; then
    export PS_SANITIZE=1
    build=build-asan
    cmake -S . -B "$build" -DPATHSTATS_SANITIZE=ON
else
    build=build
    cmake -S . -B "$build"
fi
cmake --build "$build" -j"$(nproc)"

export PS_BUILD_DIR="$repo/$build"
if [ "$#" -eq 0 ]; then
    if [ "${PS_SANITIZE:-0}" = 1 ]; then
        set -- $(ls t/*.t | grep -v -e '^t/snapshot-fuzz\.t$' \
                                    -e '^t/zone-fuzz\.t$' \
                                    -e '^t/unit-valgrind\.t$')
    else
        set -- -r t/
    fi
fi
exec prove -I t/lib -j"${PS_PROVE_JOBS:-1}" "$@"
