//! A deliberately hostile Switchyard plugin used by the plugin-host tests.
//!
//! The step config's `mode` picks the misbehaviour: `normal`, `loop`,
//! `memory`, `recursion`, `actions`, `output`, `http`, `secret`, `kv`,
//! `directory`, `cmdb`, `tickets`, `logs`, `stdout`, `fatal`.

#![allow(missing_docs)]

mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "full-step" });
}

use bindings::switchyard::plugin::types::*;
use bindings::switchyard::plugin::{cmdb, directory, http, kv, log, secrets, tickets};
use serde_json::{Value, json};
use std::hint::black_box;

struct Component;

fn config(input: &str) -> Result<Value, StepError> {
    serde_json::from_str(input).map_err(|e| StepError::InvalidConfig(e.to_string()))
}

fn recurse(depth: u64, pad: [u64; 16]) -> u64 {
    let pad = black_box(pad);
    if black_box(depth) == u64::MAX {
        return pad[0];
    }
    recurse(depth + 1, pad).wrapping_add(pad[(depth % 16) as usize])
}

fn ok(actions: Vec<Action>, output: Value) -> Result<StepResult, StepError> {
    Ok(StepResult { actions, output: output.to_string(), next_step: None })
}

impl bindings::Guest for Component {
    fn validate_config(config: Json) -> Result<(), Vec<String>> {
        let value: Value = serde_json::from_str(&config).map_err(|e| vec![e.to_string()])?;
        if value.get("reject").and_then(Value::as_bool) == Some(true) {
            return Err(vec!["reject: the plugin refuses this config".into(), "second problem".into()]);
        }
        Ok(())
    }

    fn run(input: StepInput) -> Result<StepResult, StepError> {
        let config = config(&input.config)?;
        let mode = config.get("mode").and_then(Value::as_str).unwrap_or("normal");
        let count = config.get("count").and_then(Value::as_u64);
        match mode {
            "normal" => {
                log::log(log::Level::Info, "normal step");
                let number = input.ticket.as_ref().map(|t| t.number.clone()).unwrap_or_default();
                ok(vec![Action::AssignGroup("network".into())], json!({ "ticket": number }))
            }
            "loop" => {
                let mut i: u64 = 0;
                loop {
                    i = black_box(i.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                loop {
                    hog.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "recursion" => ok(vec![], json!(recurse(0, [7; 16]))),
            "actions" => {
                let n = count.unwrap_or(1_000_000);
                let actions = (0..n).map(Action::LinkCi).collect();
                ok(actions, json!({}))
            }
            "output" => {
                let n = count.unwrap_or(100 * 1024 * 1024) as usize;
                let mut out = String::with_capacity(n + 2);
                out.push('"');
                out.extend(std::iter::repeat_n('a', n));
                out.push('"');
                Ok(StepResult { actions: vec![], output: out, next_step: None })
            }
            "bad-json" => Ok(StepResult { actions: vec![], output: "{not json".into(), next_step: None }),
            "http" => {
                let url = config.get("url").and_then(Value::as_str).unwrap_or("http://example.com/");
                let request = http::Request {
                    method: "GET".into(),
                    url: url.into(),
                    headers: vec![http::Header { name: "x-test".into(), value: "1".into() }],
                    body: None,
                };
                match http::send(&request) {
                    Ok(response) => ok(vec![], json!({ "status": response.status, "body": String::from_utf8_lossy(&response.body) })),
                    Err(e) => Err(StepError::Retryable(e)),
                }
            }
            "secret" => {
                let name = config.get("name").and_then(Value::as_str).unwrap_or("api-token");
                match secrets::get(name) {
                    Ok(Some(value)) => ok(vec![], json!({ "length": value.len() })),
                    Ok(None) => ok(vec![], json!({ "missing": true })),
                    Err(e) => Err(StepError::Fatal(e)),
                }
            }
            "kv" => {
                let bucket = config.get("bucket").and_then(Value::as_str).unwrap_or("round-robin");
                let n = kv::increment(bucket, "counter", 1).map_err(StepError::Fatal)?;
                kv::set(bucket, "last", n.to_string().as_bytes(), Some(60)).map_err(StepError::Fatal)?;
                let last = kv::get(bucket, "last").map_err(StepError::Fatal)?;
                let last = last.map(|v| String::from_utf8_lossy(&v).into_owned());
                ok(vec![], json!({ "count": n, "last": last }))
            }
            "directory" => {
                let group = config.get("group").and_then(Value::as_str).unwrap_or("network");
                let agents = directory::on_shift(group).map_err(StepError::Retryable)?;
                let best = agents.iter().min_by_key(|a| a.open_tickets);
                match best {
                    Some(agent) => ok(vec![Action::AssignUser(agent.username.clone())], json!({})),
                    None => ok(vec![], json!({ "nobody": true })),
                }
            }
            "cmdb" => {
                let ci = cmdb::get(1).map_err(StepError::Retryable)?;
                let related = cmdb::related(1, cmdb::Direction::Upstream, 2).map_err(StepError::Retryable)?;
                ok(vec![], json!({ "name": ci.map(|c| c.name), "related": related.iter().map(|r| r.ci.name.clone()).collect::<Vec<_>>() }))
            }
            "tickets" => {
                let found = tickets::search(&tickets::Query {
                    status: None,
                    assignment_group: Some("network".into()),
                    assignee: None,
                    requester: None,
                    limit: 10,
                })
                .map_err(StepError::Retryable)?;
                ok(vec![], json!({ "found": found.iter().map(|t| t.number.clone()).collect::<Vec<_>>() }))
            }
            "logs" => {
                let line = "x".repeat(1024);
                for _ in 0..count.unwrap_or(10_000) {
                    log::log(log::Level::Debug, &line);
                }
                ok(vec![], json!({}))
            }
            "stdout" => {
                println!("hello from stdout");
                eprintln!("hello from stderr");
                let line = "y".repeat(1024);
                for _ in 0..count.unwrap_or(0) {
                    println!("{line}");
                }
                ok(vec![], json!({}))
            }
            "fatal" => Err(StepError::Fatal("the plugin gave up".into())),
            other => Err(StepError::InvalidConfig(format!("unknown mode {other}"))),
        }
    }
}

bindings::export!(Component with_types_in bindings);
