#!/bin/sh
# Install the Debian packages pathstats needs to build, run and test, and
# to build its own packages (debhelper, dpkg-dev, lintian: t/packages.t).
# Idempotent: installs only what is missing, runs apt-get update at most once.
set -eu

PKGS="build-essential cmake pkg-config perl libjson-pp-perl \
nginx nginx-dev libhiredis-dev libpq-dev libjansson-dev zlib1g-dev libssl-dev \
libcurl4-openssl-dev redis-server postgresql postgresql-15-hll prometheus \
logrotate wrk curl clang libclang-rt-14-dev valgrind chromium \
fonts-dejavu-core debhelper dpkg-dev lintian"

# Node.js and npm drive Chromium in the dashboard tests; a node that is
# there already (with its npm) is used as it is
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1
then
    PKGS="$PKGS nodejs npm"
fi

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

# puppeteer-core for the dashboard tests, exactly as package-lock.json
# pins it, into ./node_modules; it drives Debian's /usr/bin/chromium and
# downloads no browser.  Skipped when the lock file's packages are there.
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] \
   || ! cmp -s package-lock.json node_modules/.pathstats-lock
then
    PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefer-offline --no-audit --no-fund \
        --ignore-scripts --loglevel=error
    cp package-lock.json node_modules/.pathstats-lock
fi

