//! Checks that the web UI's npm packages are installed before the crate
//! embeds them (`include_bytes!` in `src/web/assets.rs`), with a message
//! that says how to install them instead of a bare "file not found".

use std::path::Path;

/// Every file the binary embeds from `web/node_modules`.
const VENDORED: &[&str] = &["htmx.org/dist/htmx.min.js"];

fn main() {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/node_modules");
    for file in VENDORED {
        let path = modules.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        assert!(
            path.is_file(),
            "{} is missing: run `scripts/build-web.sh` (it installs the web UI's npm packages from web/package-lock.json)",
            path.display()
        );
    }
}
