#!/usr/bin/env bash
# Installs the web UI's front-end packages (web/package.json, pinned by
# web/package-lock.json) from the npm registry into web/node_modules, where
# the server crate's build embeds them into the binary. Nothing is fetched
# at run time, and no third-party code lives in the repository.
#
#   scripts/build-web.sh
#
# Idempotent and quick when nothing changed. Installs Node.js and npm from
# Debian's packages when they are missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
web="$root/web"
log() { echo "build-web: $*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
    log "installing nodejs and npm (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
stamp="$web/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$web/package-lock.json" -nt "$stamp" ]]; then
    log "npm ci"
    (cd "$web" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
log "done: $(cd "$web/node_modules" && ls -d */ | tr -d / | tr '\n' ' ')"
