//! Helpers shared by the end-to-end tests: the real `switchyard` binary
//! started on port 0 with a fresh data directory.
#![allow(dead_code)]

pub mod mail;

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running server process, killed on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Everything printed before the server started listening.
    pub banner: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

pub fn start(data_dir: &Path, admin_token: Option<&str>) -> Server {
    start_with(data_dir, admin_token, &[])
}

pub fn start_with(data_dir: &Path, admin_token: Option<&str>, env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir).env("SWITCHYARD_LOG", "warn").stdout(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    match admin_token {
        Some(t) => command.env("SWITCHYARD_ADMIN_TOKEN", t),
        None => command.env_remove("SWITCHYARD_ADMIN_TOKEN"),
    };
    let mut child = command.spawn().expect("start switchyard");
    let mut lines: Lines<BufReader<ChildStdout>> = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.expect("read stdout");
        if let Some(url) = line.strip_prefix("Switchyard listening on ") {
            base = Some(url.trim().to_owned());
        }
        let done = line.starts_with("API description");
        banner.push(line);
        if done {
            break;
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base: base.expect("switchyard exited before listening"), banner }
}

/// POSTs JSON to `base` + `path` as `token` and returns the JSON answer.
pub async fn post_json(base: &str, path: &str, token: &str, body: &serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(token).json(body).send().await.unwrap();
    response.json().await.unwrap()
}
