#!/usr/bin/env bash
# Reproduces the workflow-engine numbers in BENCHMARKS.md: incidents fully
# processed per second (created -> cmdb-lookup -> routed -> assigned ->
# notifications queued, by the shipped default workflow and plugins) and
# create->assigned latency, on SQLite and PostgreSQL, at full load and at a
# fixed lower rate.
#
#   scripts/bench-workflow.sh [sqlite|postgres|all]
#
# Env: RUNS (default 3), SECONDS_PER_RUN (10), CLIENTS (32), RATE (the fixed
# rate for the latency runs, default 500/s).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
what="${1:-all}"
bin="$root/target/release/switchyard"
token="bench-admin-token-0123456789"
pg_url="${SWITCHYARD_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
runs="${RUNS:-3}"
seconds="${SECONDS_PER_RUN:-10}"
clients="${CLIENTS:-32}"
rate="${RATE:-500}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

bash scripts/build-plugins.sh --no-python >&2
cargo build --release --locked -p switchyard >&2
export SWITCHYARD_PLUGINS_DIR="$root/plugins/dist" SWITCHYARD_WORKFLOWS_DIR="$root/workflows"

start() { # NAME [env...]: starts a server, sets $url
    local name="$1"; shift
    env SWITCHYARD_ADMIN_TOKEN="$token" SWITCHYARD_LOG=warn "$@" "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/$name" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    for _ in $(seq 1 600); do
        if grep -q '^Active workflows' "$work/$name.out"; then
            url="$(sed -n 's/^Switchyard listening on //p' "$work/$name.out")"
            return 0
        fi
        sleep 0.1
    done
    echo "server $name did not start:" >&2; cat "$work/$name.err" >&2; exit 1
}
stop() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

seed_agents() { # agents on shift in every starter group
    local i=0
    for group in service-desk network-ops desk-side dba; do
        for n in 1 2 3; do
            i=$((i + 1))
            curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
                -d "{\"username\": \"agent$i\", \"display_name\": \"Agent $i\", \"role\": \"agent\", \"on_shift\": true}" "$url/api/v1/users" >/dev/null
            curl -sf -X PUT -H "Authorization: Bearer $token" "$url/api/v1/groups/$group/members/agent$i" >/dev/null
        done
    done
}

bench() { # LABEL [env...]
    local label="$1"; shift
    for run in $(seq 1 "$runs"); do
        local env=("$@")
        # Each PostgreSQL run gets a fresh schema (dropped on exit).
        [[ "$label" == postgres ]] && env+=(SWITCHYARD_DATABASE_SCHEMA="bench_wf_$$_$run") && schemas+=("bench_wf_$$_$run")
        start "$label-$run" "${env[@]}"
        seed_agents
        echo "{\"backend\": \"$label\", \"run\": $run, \"load\": \"full\", \"result\": $(env "${env[@]}" "$bin" bench workflow --data-dir "$work/$label-$run" --url "$url" --token "$token" --clients "$clients" --seconds "$seconds")}"
        echo "{\"backend\": \"$label\", \"run\": $run, \"load\": \"$rate/s\", \"result\": $(env "${env[@]}" "$bin" bench workflow --data-dir "$work/$label-$run" --url "$url" --token "$token" --clients "$clients" --seconds "$seconds" --rate "$rate")}"
        stop
    done
}

schemas=()
drop_schemas() { for s in "${schemas[@]}"; do psql "$pg_url" -qc "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done; }
trap 'drop_schemas; cleanup' EXIT

case "$what" in
    sqlite) bench sqlite ;;
    postgres) bench postgres SWITCHYARD_DATABASE_URL="$pg_url" ;;
    all) bench sqlite; bench postgres SWITCHYARD_DATABASE_URL="$pg_url" ;;
    *) echo "usage: $0 [sqlite|postgres|all]" >&2; exit 2 ;;
esac
