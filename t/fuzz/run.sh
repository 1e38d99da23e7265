#!/bin/bash
# Builds one of the libFuzzer targets with ASan and UBSan and runs it for
# a bounded time on a seed corpus of valid inputs:
#
#   t/fuzz/run.sh [seconds] [target]     (default 20, snapshot)
#
# Targets: snapshot (snapshot_fuzz.c: the admin handler's snapshot
# reader, seeds from gen_seed.c) and zone (zone_fuzz.c: the zone header
# validator nginx and the aggregator share, seeds from gen_zone_seed.c).
#
# Environment: FUZZ_DIR keeps the build and the corpus there (default: a
# temporary directory, removed afterwards), CLANG (default clang, then
# clang-14).  Exit 0 when the run found nothing, 77 when clang or its
# fuzzer runtime is missing, 2 for an unknown target, otherwise
# libFuzzer's exit status (the reproducers are copied to
# /tmp/pathstats-fuzz-crash-*).
set -euo pipefail

seconds=${1:-20}
target=${2:-snapshot}

case "$target" in
    snapshot) seed_gen=gen_seed; max_len=65536 ;;
    zone)     seed_gen=gen_zone_seed; max_len=4112 ;;
    *)        echo "fuzz: unknown target $target" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

cc=${CLANG:-}
if [ -z "$cc" ]; then
    for c in clang clang-14; do
        if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
    done
fi
if [ -z "$cc" ]; then
    echo "fuzz: clang not found" >&2
    exit 77
fi

if [ -n "${FUZZ_DIR:-}" ]; then
    dir=$FUZZ_DIR
    mkdir -p "$dir"
else
    dir=$(mktemp -d /tmp/pathstats-fuzz-XXXXXX)
    trap 'rm -rf "$dir"' EXIT
fi

# the runtime check: a trivial fuzzer must link
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)'\
' { (void) d; (void) n; return 0; }\n' > "$dir/probe.c"
if ! "$cc" -fsanitize=fuzzer -o "$dir/probe" "$dir/probe.c" 2>/dev/null
then
    echo "fuzz: $cc cannot link -fsanitize=fuzzer (libclang-rt missing?)" >&2
    exit 77
fi

"$cc" -g -O1 -Wall -Wextra -Werror -I"$repo/include" \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -o "$dir/${target}_fuzz" "$here/${target}_fuzz.c"

"$cc" -O1 -Wall -Wextra -Werror -I"$repo/include" \
    -o "$dir/$seed_gen" "$here/$seed_gen.c"

mkdir -p "$dir/corpus-$target" "$dir/seeds-$target"
"$dir/$seed_gen" "$dir/seeds-$target"

cd "$dir"
rc=0
"./${target}_fuzz" -max_total_time="$seconds" -max_len="$max_len" \
    -print_final_stats=1 -timeout=10 "corpus-$target" "seeds-$target" \
    || rc=$?

if [ "$rc" -ne 0 ]; then
    # keep the reproducers: the temporary directory goes away
    keep=$(mktemp -d /tmp/pathstats-fuzz-crash-XXXXXX)
    cp -- crash-* leak-* timeout-* oom-* "$keep"/ 2>/dev/null || true
    echo "fuzz: failed ($rc); reproducers in $keep" \
         "(run: ${target}_fuzz FILE, built by this script)" >&2
fi

exit "$rc"
