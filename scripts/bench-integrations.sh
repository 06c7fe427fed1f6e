#!/usr/bin/env bash
# Reproduces the integration numbers in BENCHMARKS.md, on SQLite and
# PostgreSQL, against release servers with the shipped plugins and
# workflows:
#
# - alerts: 100,000 firing alerts over 50 fingerprints, posted as
#   Alertmanager payloads of 10 alerts by 8 clients; dedup on, so exactly
#   50 incidents must come of them (the command fails otherwise); and once
#   with one alert per payload;
# - webhooks: 10,000 deliveries queued in the server's database for a
#   subscription to a receiver the bench command runs on 127.0.0.1, which
#   verifies every Standard Webhooks signature; the rate is counted from
#   the first to the last `sent_at` the server records.
#
#   scripts/bench-integrations.sh
#
# Env: RUNS (default 3), ALERTS (default 100000), COUNT (webhooks, default 10000).
set -euo pipefail
alerts="${ALERTS:-100000}"
count="${COUNT:-10000}"
# shellcheck source=lib/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench-common.sh"
[[ -x "$bin" ]] || cargo build --release --locked -p switchyard >&2
for run in $(seq 1 "$runs"); do
    start "sqlite-$run"
    "$bin" bench alerts --url "$url" --token "$token" --alerts "$alerts" | sed 's/^{/{"database":"sqlite",/'
    [[ "$run" == 1 ]] && "$bin" bench alerts --url "$url" --token "$token" --alerts 20000 --per-post 1 | sed 's/^{/{"database":"sqlite",/'
    "$bin" bench webhooks --count "$count" --database-url "sqlite://$work/sqlite-$run/switchyard.db?mode=rw" | sed 's/^{/{"database":"sqlite",/'
    stop
    schema="bench_hooks_$$_$run"
    start "pg-$run" SWITCHYARD_DATABASE_URL="$pg_url" SWITCHYARD_DATABASE_SCHEMA="$schema"
    "$bin" bench alerts --url "$url" --token "$token" --alerts "$alerts" | sed 's/^{/{"database":"postgres",/'
    "$bin" bench webhooks --count "$count" --database-url "$pg_url" --database-schema "$schema" | sed 's/^{/{"database":"postgres",/'
    stop
    psql -q "$pg_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
done
