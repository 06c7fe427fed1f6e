#!/usr/bin/env bash
# The whole Switchyard test suite, set-up included. `.ci/run` calls exactly this.
#
# 1. set-up: the wasm32-wasip2 target, the plugins (scripts/build-plugins.sh,
#    which also installs componentize-py), the web UI's npm packages
#    (scripts/build-web.sh), Debian's chromium and chromium-driver for the
#    browser tests, aiosmtpd (pinned, from PyPI, in target/mail-venv) for
#    the mail delivery tests, Debian's dovecot-imapd for the mail intake
#    tests (each test starts its own instance; the package's own service is
#    left alone), and PostgreSQL started if it is installed but down;
# 2. cargo fmt --check and cargo clippy -D warnings on both workspaces
#    (the server workspace and the guest plugins workspace);
# 3. rustdoc with warnings denied;
# 4. every test: domain, store and API on SQLite and PostgreSQL (required
#    when CI=true), plugin host with real components, end-to-end on the real
#    binary, the web UI in headless Chromium, plugin logic natively.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n==> %s\n' "$*"; }

step "set-up: toolchain components"
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

step "set-up: PostgreSQL"
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
        sleep 2
    fi
fi
if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    echo "PostgreSQL is reachable on 127.0.0.1:5432"
else
    echo "PostgreSQL is NOT reachable: its tests will be skipped (and fail under CI=true)"
fi

step "set-up: plugins (wasm32-wasip2 components)"
bash scripts/build-plugins.sh

step "set-up: web UI packages (npm)"
bash scripts/build-web.sh

step "set-up: aiosmtpd (the SMTP server the mail tests deliver to)"
if [[ ! -x target/mail-venv/bin/python ]] || ! target/mail-venv/bin/python -c "import aiosmtpd" 2>/dev/null; then
    python3 -m venv target/mail-venv
    target/mail-venv/bin/pip install -q "aiosmtpd==1.4.6"
fi
target/mail-venv/bin/python -m aiosmtpd --version

step "set-up: Chromium and ChromeDriver (browser tests), Dovecot (IMAP for the mail intake tests)"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v dovecot >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver dovecot-imapd >/dev/null
fi
dovecot --version
chromium --version 2>/dev/null | head -n1
chromedriver --version | head -n1

step "format"
cargo fmt --all --check
(cd plugins && cargo fmt --all --check)

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd plugins && cargo clippy --workspace --all-targets --target wasm32-wasip2 --locked -- -D warnings)

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

# Test output is also collected to print one total at the end.
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
status=0

step "tests: plugins (native, plugin logic; Python routing logic)"
(cd plugins && cargo test --workspace --locked) 2>&1 | tee -a "$results" || status=1
(cd plugins/routing-py && python3 -m unittest 2>&1) | tee -a "$results" || status=1

step "tests: server workspace"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee -a "$results" || status=1

# cargo's "test result: ok. N passed; M failed" lines and unittest's "Ran N tests".
passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$results" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '[0-9]+ failed;' "$results" | awk '{s+=$1} END {print s+0}')
python_ran=$(grep -oE '^Ran [0-9]+ tests?' "$results" | awk '{s+=$2} END {print s+0}')
if grep -qE '^FAILED \(' "$results"; then failed=$((failed + 1)); status=1; fi
echo
echo "summary: $((passed + python_ran)) passed, $failed failed"
exit "$status"
