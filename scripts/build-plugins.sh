#!/usr/bin/env bash
# Builds the Switchyard plugins as WebAssembly components: the whole guest
# workspace in plugins/ (shipped plugins and the host's test plugins under
# plugins/testing/, into plugins/target/wasm32-wasip2/release/) and the
# Python plugin, then assembles plugins/dist/<id>/ (plugin.toml,
# config.schema.json, <id>.wasm) for each shipped plugin.
#
#   scripts/build-plugins.sh            build everything
#   scripts/build-plugins.sh --no-python skip the Python plugin (routing-py)
#
# Idempotent and quick when nothing changed: cargo is incremental, and the
# Python component is rebuilt only when one of its inputs is newer than it.
# It installs what it needs itself: the wasm32-wasip2 Rust target (rustup)
# and componentize-py (pinned) in a project-local venv at plugins/.venv.
set -euo pipefail

COMPONENTIZE_PY_VERSION="0.25.1"
RUST_PLUGINS=(routing assignment notification escalation cmdb-lookup)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
plugins="$root/plugins"
dist="$plugins/dist"
target="$plugins/target/wasm32-wasip2/release"
python=1
for arg in "$@"; do
    case "$arg" in
        --no-python) python=0 ;;
        -h | --help)
            sed -n '2,14p' "$0"
            exit 0
            ;;
        *)
            echo "build-plugins: unknown argument $arg" >&2
            exit 2
            ;;
    esac
done

log() { echo "build-plugins: $*" >&2; }

# Copies $1 to $2 only when the content differs, so timestamps (and anything
# keyed on them) stay put when nothing changed.
install_file() {
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2.tmp.$$"
        mv -f "$2.tmp.$$" "$2"
    fi
}

assemble() { # id source-dir wasm-file
    local id="$1" src="$2" wasm="$3"
    mkdir -p "$dist/$id"
    install_file "$src/plugin.toml" "$dist/$id/plugin.toml"
    install_file "$src/config.schema.json" "$dist/$id/config.schema.json"
    install_file "$wasm" "$dist/$id/$id.wasm"
}

# --- Rust plugins ----------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    log "adding the wasm32-wasip2 target"
    rustup target add wasm32-wasip2
fi
# The whole guest workspace: the shipped plugins and the test plugins under
# plugins/testing/ that the host's tests load from plugins/target.
log "cargo build --release --target wasm32-wasip2 --workspace (plugins/)"
(cd "$plugins" && cargo build --release --target wasm32-wasip2 --workspace)
for p in "${RUST_PLUGINS[@]}"; do
    assemble "$p" "$plugins/$p" "$target/${p//-/_}.wasm"
done

# --- Python plugin -----------------------------------------------------------
if [[ "$python" == 1 ]]; then
    venv="$plugins/.venv"
    cpy="$venv/bin/componentize-py"
    if [[ ! -x "$cpy" ]] || [[ "$("$cpy" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
        log "installing componentize-py $COMPONENTIZE_PY_VERSION into $venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "componentize-py==$COMPONENTIZE_PY_VERSION"
    fi
    src="$plugins/routing-py"
    out="$plugins/target/routing-py/routing-py.wasm"
    mkdir -p "$(dirname "$out")"
    stale=0
    if [[ ! -f "$out" ]]; then
        stale=1
    else
        # Rebuild when the WIT, the Python sources or the tool are newer.
        while IFS= read -r -d '' f; do
            if [[ "$f" -nt "$out" ]]; then stale=1; break; fi
        done < <(find "$src" "$plugins/wit" "$cpy" -maxdepth 1 \( -name '*.py' -o -name '*.wit' -o -name componentize-py \) -print0)
    fi
    if [[ "$stale" == 1 ]]; then
        log "componentize-py: routing-py (takes ~20 s)"
        # Run from the plugin folder so the app's modules are found first;
        # VIRTUAL_ENV unset so the venv's site-packages is not bundled.
        (cd "$src" && env -u VIRTUAL_ENV "$cpy" --quiet -d "$plugins/wit" -w pure-step \
            componentize app -p "$src" -o "$out.tmp")
        mv -f "$out.tmp" "$out"
    else
        log "routing-py is up to date"
    fi
    assemble routing-py "$src" "$out"
fi

log "done: $(cd "$dist" && ls -d -- */ | tr -d / | tr '\n' ' ')"
