#!/usr/bin/env bash
# Reproduces the mail numbers in BENCHMARKS.md, on SQLite and PostgreSQL:
#
# - delivery: 10,000 notifications queued into the database of a running
#   server (shipped plugins and workflows) whose delivery worker sends them
#   to a local aiosmtpd writing a maildir; the rate is counted from the
#   first to the last `sent_at` the server records (the drain time);
# - inbound: generated mail (multipart text + HTML, quoted-printable, each
#   from one of 500 senders, who become requesters) posted to
#   /api/v1/mail/inbound by 8 clients: parsed, decided and applied
#   (incident, requester, record) per second, while the shipped workflow
#   routes, assigns and queues acknowledgements for what it opens.
#
#   scripts/bench-mail.sh
#
# Env: RUNS (default 3), COUNT (notifications, default 10000),
# MESSAGES (inbound, default 2000).
set -euo pipefail
count="${COUNT:-10000}"
messages="${MESSAGES:-2000}"
# shellcheck source=lib/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench-common.sh"
[[ -x "$bin" ]] || cargo build --release --locked -p switchyard >&2
if [[ ! -x target/mail-venv/bin/python ]] || ! target/mail-venv/bin/python -c "import aiosmtpd" 2>/dev/null; then
    python3 -m venv target/mail-venv
    target/mail-venv/bin/pip install -q "aiosmtpd==1.4.6"
fi
smtp_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
target/mail-venv/bin/python -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$work/maildir" &
pids+=($!)
sleep 1
mail_env=(SWITCHYARD_SMTP_HOST=127.0.0.1 SWITCHYARD_SMTP_PORT="$smtp_port" SWITCHYARD_SMTP_SECURITY=none
          SWITCHYARD_MAIL_FROM="Service desk <desk@example.org>" SWITCHYARD_MAIL_RATE_LIMIT=100000)

for run in $(seq 1 "$runs"); do
    # SQLite
    start "sqlite-$run" "${mail_env[@]}"
    "$bin" bench delivery --count "$count" --database-url "sqlite://$work/sqlite-$run/switchyard.db?mode=rw" | sed 's/^{/{"database":"sqlite",/'
    "$bin" bench mail-in --url "$url" --token "$token" --messages "$messages" | sed 's/^{/{"database":"sqlite",/'
    stop
    # PostgreSQL, a fresh schema per run
    schema="bench_mail_$$_$run"
    start "pg-$run" "${mail_env[@]}" SWITCHYARD_DATABASE_URL="$pg_url" SWITCHYARD_DATABASE_SCHEMA="$schema"
    "$bin" bench delivery --count "$count" --database-url "$pg_url" --database-schema "$schema" | sed 's/^{/{"database":"postgres",/'
    "$bin" bench mail-in --url "$url" --token "$token" --messages "$messages" | sed 's/^{/{"database":"postgres",/'
    stop
    psql -q "$pg_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
done
