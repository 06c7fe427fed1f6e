#!/usr/bin/env bash
# Reproduces the mail numbers in BENCHMARKS.md, on SQLite and PostgreSQL:
#
# - delivery: 10,000 notifications queued into the database of a running
#   server (shipped plugins and workflows) whose delivery worker sends them
#   to a local SMTP server: Postfix's `smtp-sink` (Debian's postfix
#   package; C, writes each message to a file) and, once, aiosmtpd (Python,
#   a maildir; it saturates one core first); the rate is counted from the
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
if ! command -v smtp-sink >/dev/null && [[ ! -x /usr/sbin/smtp-sink ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postfix >/dev/null
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sink_port="$(free_port)"
# smtp-sink drops to nobody: it must reach its dump directory.
chmod 755 "$work" && mkdir -p "$work/sink" && chmod 777 "$work/sink"
/usr/sbin/smtp-sink -u nobody -d "$work/sink/" "127.0.0.1:$sink_port" 256 &
pids+=($!)
aio_port="$(free_port)"
target/mail-venv/bin/python -m aiosmtpd -n -l "127.0.0.1:$aio_port" -c aiosmtpd.handlers.Mailbox "$work/maildir" &
pids+=($!)
sleep 1
mail_env() { # SMTP port
    echo SWITCHYARD_SMTP_HOST=127.0.0.1 SWITCHYARD_SMTP_PORT="$1" SWITCHYARD_SMTP_SECURITY=none \
         "SWITCHYARD_MAIL_FROM=desk@example.org" SWITCHYARD_MAIL_RATE_LIMIT=100000
}
# shellcheck disable=SC2046
start "aiosmtpd" $(mail_env "$aio_port")
"$bin" bench delivery --count "$count" --database-url "sqlite://$work/aiosmtpd/switchyard.db?mode=rw" | sed 's/^{/{"database":"sqlite","smtp":"aiosmtpd",/'
stop

for run in $(seq 1 "$runs"); do
    # SQLite
    # shellcheck disable=SC2046
    start "sqlite-$run" $(mail_env "$sink_port")
    "$bin" bench delivery --count "$count" --database-url "sqlite://$work/sqlite-$run/switchyard.db?mode=rw" | sed 's/^{/{"database":"sqlite","smtp":"smtp-sink",/'
    "$bin" bench mail-in --url "$url" --token "$token" --messages "$messages" | sed 's/^{/{"database":"sqlite",/'
    stop
    # PostgreSQL, a fresh schema per run
    schema="bench_mail_$$_$run"
    # shellcheck disable=SC2046
    start "pg-$run" $(mail_env "$sink_port") SWITCHYARD_DATABASE_URL="$pg_url" SWITCHYARD_DATABASE_SCHEMA="$schema"
    "$bin" bench delivery --count "$count" --database-url "$pg_url" --database-schema "$schema" | sed 's/^{/{"database":"postgres","smtp":"smtp-sink",/'
    "$bin" bench mail-in --url "$url" --token "$token" --messages "$messages" | sed 's/^{/{"database":"postgres",/'
    stop
    psql -q "$pg_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
done
