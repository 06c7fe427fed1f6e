#!/usr/bin/env bash
# SLA benchmarks on SQLite (release build): for each size in $SIZES, a
# fresh database with that many open incidents, then `switchyard bench
# sla`: clocks recomputed per second (pure, and with the database: read
# histories, compute, replace clocks/facts/timers, 500 per transaction)
# and the timer sweep with 100 due timers among all those open incidents.
#
#   scripts/bench-sla.sh                 SIZES="10000 1000000"
#   SIZES=100000 REPEAT=7 scripts/bench-sla.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench-common.sh"
sizes="${SIZES:-10000 1000000}"
repeat="${REPEAT:-5}"
[[ -x "$bin" ]] || cargo build --release -p switchyard >&2
for n in $sizes; do
    start "sla-$n"   # creates the admin user on the empty database
    stop
    SWITCHYARD_LOG=warn "$bin" bench seed --data-dir "$work/sla-$n" --count "$n" >&2
    SWITCHYARD_LOG=warn "$bin" bench sla --data-dir "$work/sla-$n" --recompute 20000 --due 100 --repeat "$repeat"
done
