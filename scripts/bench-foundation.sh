#!/usr/bin/env bash
# Reproduces the foundation numbers in BENCHMARKS.md: incident creates per
# second over HTTP (SQLite and PostgreSQL, N concurrent clients) and the
# latency of a filtered list page of 50 at 100k and 1M incidents.
#
#   scripts/bench-foundation.sh [creates|list|all]
#
# Everything runs on this machine over loopback; each run is bounded in time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
what="${1:-all}"
bin="$root/target/release/switchyard"
token="bench-admin-token-0123456789"
pg_url="${SWITCHYARD_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
runs="${RUNS:-3}"
seconds="${SECONDS_PER_RUN:-10}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --locked -p switchyard >&2

# start NAME [env...]: starts a server, sets $url.
start() {
    local name="$1"; shift
    env SWITCHYARD_ADMIN_TOKEN="$token" SWITCHYARD_LOG=warn "$@" "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/$name" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    for _ in $(seq 1 100); do
        url="$(sed -n 's/^Switchyard listening on //p' "$work/$name.out")"
        [[ -n "$url" ]] && return 0
        sleep 0.1
    done
    echo "server $name did not start:" >&2; cat "$work/$name.err" >&2; exit 1
}
stop() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

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
    for query in "status=new&priority=P3&limit=50" "category=network&sort=created_at&limit=50" "priority=P1&order=asc&limit=50"; do
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
