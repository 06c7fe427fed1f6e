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
# A server compiles every plugin (Cranelift; seconds for the Python one)
# into its data directory's cache the first time it starts; each run copies
# one warmed cache in, so runs measure a server that restarts, not one that
# compiles (whose allocator keeps the compiler's memory for a while).
warm_cache() {
    [[ -d "$work/plugin-cache" ]] && return 0
    env SWITCHYARD_ADMIN_TOKEN="$token" SWITCHYARD_LOG=warn "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/warm" >"$work/warm.out" 2>"$work/warm.err" &
    local pid=$!
    for _ in $(seq 1 1200); do grep -q "^Active workflows" "$work/warm.out" && break; sleep 0.1; done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    cp -r "$work/warm/plugin-cache" "$work/plugin-cache"
}
start() {
    local name="$1"; shift
    warm_cache
    mkdir -p "$work/$name" && cp -r "$work/plugin-cache" "$work/$name/plugin-cache"
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
