#!/bin/bash
# Builds ngx_http_pathstats_module.so against Debian's nginx-dev tree with
# the exact flags Debian's nginx was built with, so that /usr/sbin/nginx
# loads it.  The tree is copied into the build directory: nginx's configure
# writes a Makefile into its working directory, and the system tree stays
# untouched.
#
#   scripts/build-module.sh <repo> <build dir> [extra CFLAGS] [extra LDFLAGS]
set -euo pipefail

repo=$(cd "$1" && pwd)
build=$(mkdir -p "$2" && cd "$2" && pwd)
extra_cflags=${3:-}
extra_ldflags=${4:-}
src=/usr/share/nginx/src
tree="$build/nginx-src"
objs="$build/nginx"

if [ ! -f "$src/conf_flags" ]; then
    echo "build-module: $src/conf_flags not found; install nginx-dev" >&2
    exit 1
fi

# shellcheck disable=SC1091
. "$src/conf_flags"

# configure again when the flags, the addon scripts or the set of the
# dashboard's files change (config lists them as dependencies)
stamp="$objs/.pathstats-configured"
want="$(printf '%s\n' "${NGX_CONF_FLAGS[@]}" "$repo" "$extra_cflags" \
        "$extra_ldflags" "$(ls "$repo/dashboard")" | md5sum | cut -d' ' -f1)"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] \
   || [ "$repo/config" -nt "$stamp" ] || [ "$repo/config.make" -nt "$stamp" ]
then
    rm -rf "$tree" "$objs"
    mkdir -p "$tree"
    cp -a "$src/." "$tree/"
    (
        cd "$tree"
        ./configure "${NGX_CONF_FLAGS[@]}" \
            --with-cc-opt="-g -O2 -fPIC $extra_cflags" \
            --with-ld-opt="$extra_ldflags" \
            --add-dynamic-module="$repo" \
            --builddir="$objs" > "$build/nginx-configure.log" 2>&1
    ) || { tail -30 "$build/nginx-configure.log" >&2; exit 1; }
    echo "$want" > "$stamp"
fi

env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$tree" -f "$objs/Makefile" modules >&2
cp "$objs/ngx_http_pathstats_module.so" "$build/ngx_http_pathstats_module.so"
