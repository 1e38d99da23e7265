#!/bin/sh
# Install the Debian packages pathstats needs to build, run and test.
# Idempotent: installs only what is missing, runs apt-get update at most once.
set -eu

PKGS="build-essential cmake pkg-config perl libjson-pp-perl \
nginx nginx-dev libhiredis-dev libpq-dev libjansson-dev zlib1g-dev \
redis-server postgresql postgresql-15-hll prometheus wrk curl clang \
libclang-rt-14-dev valgrind"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
         | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    echo "pathstats: installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends $missing
    # Debian starts these services on install; the project runs its own.
    for svc in nginx redis-server postgresql prometheus; do
        if command -v systemctl >/dev/null 2>&1; then
            $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
        fi
    done
fi
