#!/bin/bash
# Builds the Debian packages of debian/ for this machine's nginx:
#
#   libnginx-mod-http-pathstats   the module, enabled through
#                                 /etc/nginx/modules-enabled (dh_nginx)
#   pathstats-aggregator          the daemon as a systemd service
#   pathstats                     both of the same version
#
#   scripts/build-packages.sh [OUTDIR]     # default ./dist
#   sudo apt-get install ./dist/*.deb
#   scripts/build-packages.sh --export DIR # only copy the source to DIR
#
# Installs the build dependencies of debian/control when some are missing
# (apt-get build-dep), copies the source tree (what git tracks, and new
# files it does not ignore) into a scratch directory and runs
# dpkg-buildpackage -us -uc -b there, so the checkout stays as it is.
# OUTDIR gets the three .deb files (the previous build's are removed),
# the .changes and .buildinfo, and the debug symbols in OUTDIR/dbgsym/;
# lintian, when installed, checks them and fails the build on a warning.
# Safe to run again.
#
# Environment: DEB_BUILD_OPTIONS as usual (parallel=2 unless set;
# nocheck skips the build-time checks); PS_DEB_LINTIAN=0 skips lintian.
set -euo pipefail

say() { printf 'build-packages: %s\n' "$*"; }

# The source: a git checkout's tracked and unignored files (no build
# directories, node_modules or local state), else the tree without those.
export_source() {
    mkdir -p "$1"
    if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$PWD" ]; then
        git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' f; do
                  if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
              done \
            | tar --null --no-recursion -T - -cf - | tar -xf - -C "$1"
    else
        tar --exclude=./.git --exclude=./build --exclude='./build-*' \
            --exclude=./dist --exclude=./node_modules \
            --exclude=./.pathstats -cf - . | tar -xf - -C "$1"
    fi
}

if [ "${1:-}" = --export ]; then
    dest=$(mkdir -p "$2" && cd "$2" && pwd)
    cd "$(dirname "$0")/.."
    export_source "$dest"
    exit 0
fi

out=${1:-dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
# other engineers' apt runs may hold the lock: wait for it politely
apt_get() {
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 \
        "$@"
}

if ! command -v dpkg-checkbuilddeps >/dev/null \
   || ! dpkg-checkbuilddeps >/dev/null 2>&1
then
    say "installing the build dependencies of debian/control"
    apt_get update -qq
    if ! command -v dpkg-checkbuilddeps >/dev/null; then
        apt_get install -y -qq --no-install-recommends dpkg-dev
    fi
    apt_get build-dep -y -qq --no-install-recommends ./
fi

version=$(dpkg-parsechangelog -S Version)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pathstats-deb.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
src="$scratch/pathstats-$version"
mkdir "$src"

export_source "$src"

case " ${DEB_BUILD_OPTIONS:-} " in
    *" parallel="*) ;;
    *) DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=2"
       export DEB_BUILD_OPTIONS ;;
esac

say "building pathstats $version in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b) > "$scratch/build.log" 2>&1 || {
    tail -40 "$scratch/build.log" >&2
    say "dpkg-buildpackage failed (the log's end is above)"
    exit 1
}

changes=$(ls "$scratch"/pathstats_*.changes)
if [ "${PS_DEB_LINTIAN:-1}" != 0 ] && command -v lintian >/dev/null; then
    say "lintian"
    lintian --fail-on error,warning "$changes"
fi

rm -f "$out"/libnginx-mod-http-pathstats_*.deb \
      "$out"/pathstats-aggregator_*.deb "$out"/pathstats_*.deb \
      "$out"/pathstats_*.changes "$out"/pathstats_*.buildinfo
rm -rf "$out/dbgsym"
if ls "$scratch"/*-dbgsym_*.deb >/dev/null 2>&1; then
    mkdir -p "$out/dbgsym"
    mv "$scratch"/*-dbgsym_*.deb "$out/dbgsym/"
fi
mv "$scratch"/*.deb "$scratch"/*.changes "$scratch"/*.buildinfo \
   "$scratch/build.log" "$out/"

say "built in $out:"
(cd "$out" && ls -1 ./*.deb | sed 's/^/  /')
say "install with: sudo apt-get install $out/*.deb"
