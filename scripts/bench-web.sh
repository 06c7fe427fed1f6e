#!/usr/bin/env bash
# Reproduces the web UI numbers in BENCHMARKS.md: console and portal pages
# served through HTTP as a signed-in agent, p50/p99 and HTML size, at 100k
# and 1M incidents (SQLite), plus the size of a first load with its assets
# and the API list queries (category sorted by date, text search) at the
# same sizes.
#
#   scripts/bench-web.sh
#
# Env: REQUESTS (per page, default 500).
set -euo pipefail
requests="${REQUESTS:-500}"
export SWITCHYARD_ADMIN_PASSWORD="bench-admin-password-1"
# shellcheck source=lib/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench-common.sh"
bash scripts/build-web.sh >&2
cargo build --release --locked -p switchyard >&2

pages_at() { # data dir name, count to add
    local name="$1" add="$2"
    SWITCHYARD_ADMIN_TOKEN="$token" "$bin" bench seed --data-dir "$work/$name" --count "$add" >&2
    start "$name"
    local newest
    newest="$(curl -s -H "Authorization: Bearer $token" "$url/api/v1/incidents?limit=1" | grep -o '"number":"INC-[0-9]*"' | head -n1 | cut -d'"' -f4)"
    SWITCHYARD_BENCH_PASSWORD="$SWITCHYARD_ADMIN_PASSWORD" "$bin" bench pages --url "$url" --requests "$requests" \
        --path "/console?queue=open" --path "/console?queue=all" --path "/console?queue=mine" --path "/console?queue=sla" \
        --path "/console?queue=all&priority=P1&sort=updated_at" --path "/console?queue=all&q=vpn" \
        --path "/console/counts?queue=open" --path "/console/incidents/$newest" --path "/portal" --path "/portal/new"
    # The list queries the engine v2 issue names, through the API at this size.
    for query in "category=network&sort=created_at&limit=50" "status=new&priority=P3&limit=50" "q=vpn%20berlin&limit=50" "q=outlook&limit=50" "q=printer%20jammed&limit=50"; do
        "$bin" bench list --url "$url" --token "$token" --query "$query" --requests 1000
    done
    # First load of the console: the HTML and every asset it links, uncompressed.
    local cookie html total
    cookie="sy_session=$(curl -s -H 'Content-Type: application/json' -d "{\"username\":\"admin\",\"password\":\"$SWITCHYARD_ADMIN_PASSWORD\"}" "$url/api/v1/auth/login" | sed 's/.*"token":"\([^"]*\)".*/\1/')"
    html="$(curl -s -H "Cookie: $cookie" "$url/console?queue=open")"
    total=${#html}
    for asset in $(grep -o '/assets/[^"]*' <<<"$html" | sort -u); do
        total=$((total + $(curl -s "$url$asset" | wc -c)))
    done
    echo "{\"first_load_bytes\": $total, \"incidents\": \"$newest\"}"
    stop
}

# The admin user must exist before seeding: start once to bootstrap.
start web; stop
pages_at web 100000
pages_at web 900000
