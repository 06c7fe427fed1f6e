//! The published JSON Schema describes the documents the serde types and
//! `parse` accept: every example validates, and bad documents are refused by
//! all of them alike.

mod common;

use common::example_documents;
use serde_json::{Value, json};
use switchyard_workflow::{Format, WORKFLOW_SCHEMA, WorkflowDocument, parse, workflow_schema};

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&workflow_schema()).unwrap()
}

fn schema_errors(doc: &Value) -> Vec<String> {
    validator().iter_errors(doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn minimal() -> Value {
    json!({
        "id": "wf",
        "name": "W",
        "version": 1,
        "triggers": [{"ticket_created": {}}],
        "steps": [{"id": "a", "plugin": "routing"}]
    })
}

/// `minimal()` with a change made by `edit`.
fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut doc = minimal();
    edit(&mut doc);
    doc
}

#[test]
fn the_schema_is_well_formed() {
    let schema: Value = serde_json::from_str(WORKFLOW_SCHEMA).unwrap();
    assert_eq!(schema["$id"], "urn:switchyard:workflow");
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(jsonschema::meta::is_valid(&schema));
    // Every object schema closes its properties, and every property says what
    // it is. A step's config is the plugin's business: its own schema closes it.
    fn walk(node: &Value, path: &str, failures: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    let is_shape_branch = properties.values().all(Value::is_boolean);
                    if !is_shape_branch {
                        if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                            failures.push(format!("{path}: additionalProperties is not false"));
                        }
                        for (name, property) in properties {
                            if property.is_object() && !property.get("description").is_some_and(Value::is_string) {
                                failures.push(format!("{path}/properties/{name}: no description"));
                            }
                        }
                    }
                }
                if map.get("type") == Some(&json!("object")) && !map.contains_key("properties") && path != "/$defs/step/properties/config" {
                    failures.push(format!("{path}: an object without properties"));
                }
                for (key, child) in map {
                    // Conditional constraints are not object schemas of their own.
                    if !["if", "then", "else", "not"].contains(&key.as_str()) {
                        walk(child, &format!("{path}/{key}"), failures);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}/{i}"), failures);
                }
            }
            _ => {}
        }
    }
    let mut failures = Vec::new();
    walk(&schema, "", &mut failures);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_example_validates_against_the_schema() {
    for (path, format, text) in example_documents() {
        let doc = parse(&text, format).unwrap();
        let value: Value = match format {
            Format::Json => serde_json::from_str(&text).unwrap(),
            // The serialized document stands for the YAML text; it is the same data.
            Format::Yaml => serde_json::to_value(&doc).unwrap(),
        };
        assert_eq!(schema_errors(&value), Vec::<String>::new(), "{}", path.display());
        // The serialized form is schema-valid too, defaults filled in.
        assert_eq!(schema_errors(&serde_json::to_value(&doc).unwrap()), Vec::<String>::new(), "{}", path.display());
    }
}

fn good_documents() -> Vec<(&'static str, Value)> {
    vec![
        ("minimal", minimal()),
        (
            "every trigger kind",
            edited(|d| {
                d["triggers"] = json!([
                    {"ticket_created": {}},
                    {"ticket_updated": {}},
                    {"ticket_updated": {"fields": ["status", "custom_fields.region"], "status_from": ["new"], "status_to": ["resolved"]}},
                    {"sla_warning": {}},
                    {"sla_breached": {"targets": ["response", "resolution"]}},
                    {"cron": {"schedule": "0 9 * * 1-5"}},
                    {"cron": {"schedule": "0 */15 * * * *", "timezone": "Europe/Berlin", "tickets": {}}},
                    {"manual": {}},
                    {"inbound_channel": {"channels": ["support@example.com"]}}
                ])
            }),
        ),
        (
            "every condition shape",
            edited(|d| {
                d["conditions"] = json!({"any": [
                    {"field": "assignee", "op": "eq", "value": null},
                    {"field": "watchers", "op": "contains", "value": "rita"},
                    {"field": "custom_fields.vip", "op": "exists"},
                    {"all": [{"expr": "ticket.impact <= 2"}, {"any": [{"field": "priority", "op": "in", "value": [1, 2]}]}]}
                ]})
            }),
        ),
        (
            "every step option",
            edited(|d| {
                d["steps"] = json!([
                    {"id": "a", "plugin": "routing", "version": "^0.1", "config": {"rules": []},
                     "when": {"all": [{"field": "status", "op": "ne", "value": "closed"}]},
                     "retry": {"max_attempts": 20, "initial_backoff_ms": 0, "multiplier": 1, "max_backoff_ms": 0},
                     "timeout_ms": 60000, "on_failure": {"goto": "c"}},
                    {"id": "b", "plugin": "assignment", "on_failure": "continue"},
                    {"id": "c", "plugin": "notification", "on_failure": "stop"}
                ])
            }),
        ),
        (
            // JSON Schema counts 2.0 as an integer, and parse follows it.
            "integral floats count as integers",
            edited(|d| {
                d["version"] = json!(2.0);
                d["steps"][0]["retry"] = json!({"max_attempts": 3.0, "multiplier": 2});
            }),
        ),
        (
            "optional top-level fields",
            edited(|d| {
                d["description"] = json!("text");
                d["enabled"] = json!(false);
            }),
        ),
    ]
}

#[test]
fn good_documents_are_accepted_by_all() {
    for (name, doc) in good_documents() {
        assert_eq!(schema_errors(&doc), Vec::<String>::new(), "schema refused {name}");
        if !name.starts_with("integral floats") {
            serde_json::from_value::<WorkflowDocument>(doc.clone()).unwrap_or_else(|e| panic!("serde refused {name}: {e}"));
        }
        parse(&doc.to_string(), Format::Json).unwrap_or_else(|p| panic!("parse refused {name}:\n{p}"));
    }
}

/// Bad documents, and whether the serde types alone (without the semantic
/// checks of `parse`) refuse them: ranges, patterns, list lengths and
/// value/op pairings are checks on values, not on the shape.
fn bad_documents() -> Vec<(&'static str, Value, bool)> {
    vec![
        ("unknown top-level key", edited(|d| d["colour"] = json!("red")), true),
        ("unknown step key", edited(|d| d["steps"][0]["retries"] = json!(3)), true),
        ("unknown retry key", edited(|d| d["steps"][0]["retry"] = json!({"jitter": true})), true),
        ("unknown trigger kind", edited(|d| d["triggers"][0] = json!({"ticket_deleted": {}})), true),
        ("options on ticket_created", edited(|d| d["triggers"][0] = json!({"ticket_created": {"fields": []}})), true),
        ("two kinds in one trigger", edited(|d| d["triggers"][0] = json!({"ticket_created": {}, "manual": {}})), true),
        ("trigger that is a string", edited(|d| d["triggers"][0] = json!("ticket_created")), true),
        ("cron without schedule", edited(|d| d["triggers"][0] = json!({"cron": {"timezone": "UTC"}})), true),
        ("unknown SLA target", edited(|d| d["triggers"][0] = json!({"sla_warning": {"targets": ["reply"]}})), true),
        (
            "unknown key in a condition",
            edited(|d| d["conditions"] = json!({"all": [{"field": "status", "op": "eq", "value": 1, "not": true}]})),
            true,
        ),
        ("unknown op", edited(|d| d["conditions"] = json!({"all": [{"field": "status", "op": "like", "value": "x"}]})), true),
        ("condition of two shapes", edited(|d| d["conditions"] = json!({"all": [{"expr": "true", "all": [{"expr": "true"}]}]})), true),
        ("group with all and any", edited(|d| d["conditions"] = json!({"all": [{"expr": "true"}], "any": [{"expr": "true"}]})), true),
        ("bad on_failure", edited(|d| d["steps"][0]["on_failure"] = json!("abort")), true),
        ("goto that is a number", edited(|d| d["steps"][0]["on_failure"] = json!({"goto": 1})), true),
        ("config that is a list", edited(|d| d["steps"][0]["config"] = json!([])), false),
        ("missing plugin", edited(|d| d["steps"][0] = json!({"id": "a"})), true),
        ("missing name", edited(|d| d.as_object_mut().unwrap().remove("name").map(drop).unwrap()), true),
        ("version that is a string", edited(|d| d["version"] = json!("1")), true),
        ("negative timeout", edited(|d| d["steps"][0]["timeout_ms"] = json!(-1)), true),
        ("version 0", edited(|d| d["version"] = json!(0)), false),
        ("retry out of range", edited(|d| d["steps"][0]["retry"] = json!({"max_attempts": 21})), false),
        ("timeout out of range", edited(|d| d["steps"][0]["timeout_ms"] = json!(60001)), false),
        ("empty steps", edited(|d| d["steps"] = json!([])), false),
        ("empty triggers", edited(|d| d["triggers"] = json!([])), false),
        ("bad workflow id", edited(|d| d["id"] = json!("Not An Id")), false),
        ("bad step id", edited(|d| d["steps"][0]["id"] = json!("-a")), false),
        ("unknown condition field", edited(|d| d["conditions"] = json!({"any": [{"field": "prio", "op": "exists"}]})), false),
        ("in without a list", edited(|d| d["conditions"] = json!({"any": [{"field": "status", "op": "in", "value": "new"}]})), false),
        ("exists with a value", edited(|d| d["conditions"] = json!({"any": [{"field": "status", "op": "exists", "value": 1}]})), false),
        ("eq without a value", edited(|d| d["conditions"] = json!({"any": [{"field": "status", "op": "eq"}]})), false),
        ("empty group", edited(|d| d["conditions"] = json!({"any": []})), false),
    ]
}

#[test]
fn bad_documents_are_refused_by_all() {
    let mut failures = Vec::new();
    for (name, doc, serde_refuses) in bad_documents() {
        if schema_errors(&doc).is_empty() {
            failures.push(format!("{name}: the schema accepts it"));
        }
        if parse(&doc.to_string(), Format::Json).is_ok() {
            failures.push(format!("{name}: parse accepts it"));
        }
        let serde = serde_json::from_value::<WorkflowDocument>(doc.clone());
        if serde.is_ok() == serde_refuses {
            failures.push(format!("{name}: serde {}", if serde_refuses { "accepts it" } else { "refuses it" }));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn problems_in_pretty_json_point_at_their_line() {
    for (name, doc, _) in bad_documents() {
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let problems = parse(&text, Format::Json).unwrap_err();
        assert!(!problems.0.is_empty(), "{name}");
        for p in &problems.0 {
            let line = p.line.unwrap_or_else(|| panic!("{name}: {p} has no line"));
            let shown = text.lines().nth(line - 1).unwrap();
            let last_key = (!p.path.ends_with(']')).then(|| p.path.rsplit('.').next().unwrap());
            let ok = match (p.rule.as_str(), last_key) {
                // A missing key: the line where its object starts.
                ("required", _) => shown.contains('{') || shown.contains('['),
                (_, Some(key)) => shown.contains(&format!("\"{key}\"")),
                (_, None) => shown.trim_start().starts_with(['{', '"']),
            };
            assert!(ok, "{name}: {p} points at `{shown}`");
        }
    }
}
