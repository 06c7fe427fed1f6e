# Shared by the scripts/bench-*.sh load scripts (source it, do not run it):
# settings from the environment, a scratch directory removed on exit, and
# start/stop of release servers on port 0.
#
# Sets: root, bin, token, pg_url, runs, seconds, work, url (after start).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bin="$root/target/release/switchyard"
token="bench-admin-token-0123456789"
pg_url="${SWITCHYARD_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
runs="${RUNS:-3}"
seconds="${SECONDS_PER_RUN:-10}"
work="$(mktemp -d)"
pids=()
bench_cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap bench_cleanup EXIT

# start NAME [env...]: starts a server on a data dir under $work and waits
# until its stdout has a line starting with $ready (default: the listen
# line); sets $url.
ready="${ready:-Switchyard listening on}"
start() {
    local name="$1"; shift
    env SWITCHYARD_ADMIN_TOKEN="$token" SWITCHYARD_LOG=warn "$@" "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/$name" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    for _ in $(seq 1 600); do
        if grep -q "^$ready" "$work/$name.out"; then
            url="$(sed -n 's/^Switchyard listening on //p' "$work/$name.out")"
            return 0
        fi
        sleep 0.1
    done
    echo "server $name did not start:" >&2; cat "$work/$name.err" >&2; exit 1
}
stop() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }
