#!/usr/bin/env bash
# Runs Switchyard on an embedded SQLite file under ./switchyard-data with the
# shipped plugins and the web UI built, printing where to open it and how
# to log in (the first start creates `admin` and prints its password).
# Extra arguments go to `switchyard serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/build-plugins.sh
bash scripts/build-web.sh
exec cargo run --release --locked --bin switchyard -- serve "$@"
