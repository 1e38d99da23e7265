#!/bin/bash
# Regenerates docs/dashboard.png, the README's picture of the dashboard:
# starts the local stack (scripts/run.sh, same ports and variables),
# sends it a minute of sample traffic, waits until the trends hold it,
# and has headless Chromium (t/lib/browser.mjs) take the page with a
# path's drill-down open.  Stops the stack afterwards unless KEEP=1.
#
#   scripts/dashboard-screenshot.sh [OUT.png]
set -euo pipefail

cd "$(dirname "$0")/.."
out=${1:-docs/dashboard.png}
port=${PS_HTTP_PORT:-8080}
base="http://127.0.0.1:$port"
admin="$base/pathstats/"

./scripts/run.sh >/dev/null
[ "${KEEP:-0}" = 1 ] || trap './scripts/stop.sh >/dev/null 2>&1 || true' EXIT

# sample traffic: users by id (one template), lists, a redirect, errors,
# misses and a slow trickle of failures, from a few parallel clients
hit() { curl -s -o /dev/null "$base$1" || true; }
for round in $(seq 1 30); do
    for i in $(seq 1 $((round % 7 + 3))); do hit "/api/users/$((RANDOM % 500))"; done &
    for i in $(seq 1 4); do hit /api/users; done &
    hit /
    hit /old
    [ $((round % 3)) = 0 ] && hit /broken
    [ $((round % 2)) = 0 ] && hit "/nope/$((RANDOM % 5))"
    [ $((round % 10)) = 0 ] && hit "/static/app.$round.js"
    wait
    sleep 0.2
done

# the trends are refreshed every minute: wait for this traffic in them
for _ in $(seq 1 75); do
    if curl -s "${admin}api/trends?range=24h" | grep -q '"requests":[1-9]'; then
        break
    fi
    sleep 1
done

profile=$(mktemp -d)
trap 'rm -rf "$profile"; [ "${KEEP:-0}" = 1 ] || ./scripts/stop.sh >/dev/null 2>&1 || true' EXIT
mkdir -p "$(dirname "$out")"
drill='?dhost=localhost&dmethod=GET&dpath=%2Fapi%2Fusers%2F%7Bid%7D'
{
    printf '{"cmd":"goto","url":"%s%s"}\n' "$admin" "$drill"
    printf '{"cmd":"wait","js":"document.querySelector(%s)","timeout":20000}\n' \
        "'#drill-chart .totals, #drill-note:not([hidden])'"
    printf '{"cmd":"wait","js":"Number(document.body.dataset.cycles) >= 2"}\n'
    printf '{"cmd":"screenshot","file":"%s"}\n' "$PWD/$out"
    printf '{"cmd":"quit"}\n'
} | node t/lib/browser.mjs "$admin" "$profile" 1280 900 \
  | grep -q '"error"' && { echo "screenshot failed" >&2; exit 1; }
echo "wrote $out"
