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
what="${1:-all}"
clients="${CLIENTS:-32}"
rate="${RATE:-500}"
ready="Active workflows" # the engine has installed the plugins
# shellcheck source=lib/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench-common.sh"

bash scripts/build-plugins.sh --no-python >&2
cargo build --release --locked -p switchyard >&2
export SWITCHYARD_PLUGINS_DIR="$root/plugins/dist" SWITCHYARD_WORKFLOWS_DIR="$root/workflows"

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
trap 'drop_schemas; bench_cleanup' EXIT

case "$what" in
    sqlite) bench sqlite ;;
    postgres) bench postgres SWITCHYARD_DATABASE_URL="$pg_url" ;;
    all) bench sqlite; bench postgres SWITCHYARD_DATABASE_URL="$pg_url" ;;
    *) echo "usage: $0 [sqlite|postgres|all]" >&2; exit 2 ;;
esac
