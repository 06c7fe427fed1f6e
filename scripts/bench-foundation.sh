#!/usr/bin/env bash
# Reproduces the foundation numbers in BENCHMARKS.md: incident creates per
# second over HTTP (SQLite and PostgreSQL, N concurrent clients) and the
# latency of a filtered list page of 50 at 100k and 1M incidents.
#
#   scripts/bench-foundation.sh [creates|list|all]
#
# Everything runs on this machine over loopback; each run is bounded in time.
set -euo pipefail
what="${1:-all}"
# shellcheck source=lib/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench-common.sh"

cargo build --release --locked -p switchyard >&2

creates() { # backend label, env...
    local label="$1"; shift
    start "creates-$label" "$@"
    for clients in 16 64 256; do
        for run in $(seq 1 "$runs"); do
            echo "{\"backend\": \"$label\", \"run\": $run, \"result\": $("$bin" bench creates --url "$url" --token "$token" --clients "$clients" --seconds "$seconds")}"
        done
    done
    stop
}

list_at() { # data dir name, count to add
    local name="$1" add="$2"
    SWITCHYARD_ADMIN_TOKEN="$token" "$bin" bench seed --data-dir "$work/$name" --count "$add" >&2
    start "$name"
    local total
    total="$(curl -s -H "Authorization: Bearer $token" "$url/api/v1/incidents?limit=1" | grep -o '"number":"INC-[0-9]*"' | head -n1)"
    for query in "status=new&priority=P3&limit=50" "category=network&sort=created_at&limit=50" "priority=P1&order=asc&limit=50" \
        "q=vpn%20berlin&limit=50" "q=printer%20jammed&limit=50" "q=outlook&limit=50" "q=slow&limit=50" "q=outlook%20crashing%20update&limit=50"; do
        echo "{\"newest\": \"$total\", \"result\": $("$bin" bench list --url "$url" --token "$token" --query "$query" --requests 2000)}"
    done
    stop
}

if [[ "$what" == creates || "$what" == all ]]; then
    creates sqlite
    schema="bench_$(date +%s)"
    creates postgres SWITCHYARD_DATABASE_URL="$pg_url" SWITCHYARD_DATABASE_SCHEMA="$schema"
fi
if [[ "$what" == list || "$what" == all ]]; then
    # The admin user must exist before seeding: start once to bootstrap.
    start list; stop
    list_at list 100000
    list_at list 900000
fi
