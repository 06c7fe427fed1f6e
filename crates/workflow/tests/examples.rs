//! The example documents parse, round-trip, and validate against a catalog.

mod common;

use common::{FakeCatalog, example, example_documents};
use serde_json::json;
use switchyard_workflow::{Condition, Format, OnFailure, Trigger, TriggerEvent, parse, parse_and_validate, validate};

#[test]
fn default_incident_parses() {
    let doc = parse(&example("default-incident.yaml"), Format::Yaml).unwrap();
    assert_eq!(doc.id, "default-incident");
    assert_eq!(doc.version, 1);
    assert!(doc.enabled);
    assert!(matches!(doc.triggers.as_slice(), [Trigger::TicketCreated(_)]));
    let plugins: Vec<&str> = doc.steps.iter().map(|s| s.plugin.as_str()).collect();
    assert_eq!(plugins, ["cmdb-lookup", "routing", "assignment", "notification"]);
    let lookup = &doc.steps[0];
    assert_eq!(lookup.version.to_string(), "^0.1");
    assert_eq!(lookup.retry.max_attempts, 3);
    assert_eq!(lookup.retry.initial_backoff_ms, 500);
    assert_eq!(lookup.retry.max_backoff_ms, 60_000, "unset retry fields take their defaults");
    assert_eq!(lookup.timeout_ms, Some(2000));
    assert_eq!(lookup.on_failure, OnFailure::Continue);
    assert_eq!(lookup.config["impact"]["high"]["users"], 1000);
    assert_eq!(doc.steps[1].on_failure, OnFailure::Goto("notify".into()));
    assert_eq!(doc.steps[3].on_failure, OnFailure::Stop);
    assert_eq!(doc.steps[3].config["rules"][0]["on"], json!(["created"]));
    assert!(doc.steps[3].config["rules"][0]["body"].as_str().unwrap().starts_with("Hello {{requester}},\n\n"));
    let when = doc.steps[2].when.as_ref().unwrap();
    assert!(matches!(&when.conditions()[1], Condition::Expr(e) if e.expr.source().contains("VPN")));

    assert!(doc.matches(&TriggerEvent::Created));
    assert!(!doc.matches(&TriggerEvent::Manual));
    let ticket = json!({"number": "INC-000042", "title": "VPN down", "status": "new", "channel": "portal",
                        "priority": 2, "service": 7});
    assert_eq!(doc.conditions_hold(&ticket), Ok(true));
    assert_eq!(doc.steps[0].applies_to(&ticket), Ok(true));
    assert_eq!(doc.steps[1].applies_to(&ticket), Ok(true));
    assert_eq!(doc.steps[2].applies_to(&ticket), Ok(true));
    let alert = json!({"status": "new", "channel": "alert"});
    assert_eq!(doc.conditions_hold(&alert), Ok(false));
    assert_eq!(doc.steps[0].applies_to(&alert), Ok(false), "no CI and no service: nothing to look up");
}

#[test]
fn every_example_parses_and_round_trips() {
    for (path, format, text) in example_documents() {
        let doc = parse(&text, format).unwrap_or_else(|p| panic!("{}:\n{p}", path.display()));
        // Serialized back, as JSON and as a pretty JSON text, it parses to the same document.
        let value = serde_json::to_value(&doc).unwrap();
        let again = parse(&serde_json::to_string_pretty(&value).unwrap(), Format::Json).unwrap();
        assert_eq!(again, doc, "{}", path.display());
        let sniffed = Format::sniff(&text);
        assert_eq!(sniffed, format, "{}", path.display());
    }
}

#[test]
fn json_and_yaml_agree() {
    let yaml = parse(&example("pending-reminder.json"), Format::Yaml).unwrap();
    let json = parse(&example("pending-reminder.json"), Format::Json).unwrap();
    assert_eq!(yaml, json);
    let cron: Vec<_> = json.cron_triggers().collect();
    assert_eq!(cron.len(), 1);
    assert_eq!(cron[0].0, 0);
    assert_eq!(cron[0].1.timezone(), chrono_tz::Europe::Berlin);
    assert_eq!(cron[0].1.tickets().unwrap().limit, 500);
    assert!(!json.enabled);
}

#[test]
fn examples_validate_against_the_catalog() {
    let catalog = FakeCatalog::new();
    for (path, format, text) in example_documents() {
        let doc = parse_and_validate(&text, format, &catalog).unwrap_or_else(|p| panic!("{}:\n{p}", path.display()));
        validate(&doc, &catalog).unwrap();
    }
}

#[test]
fn catalog_problems_carry_paths_and_lines() {
    let text = "\
id: catalog
name: Catalog problems
version: 1
triggers:
  - manual: {}
steps:
  - id: a
    plugin: no-such-plugin
  - id: b
    plugin: notification
    version: \"^0.3\"
  - id: c
    plugin: routing
    config:
      rules:
        - { name: x, group: dba }
        - { name: y, group: nowhere }
  - id: d
    plugin: assignment
    config: { strategy: dice }
";
    let problems = parse_and_validate(text, Format::Yaml, &FakeCatalog::new()).unwrap_err();
    let found: Vec<(&str, &str, Option<usize>)> = problems.0.iter().map(|p| (p.path.as_str(), p.rule.as_str(), p.line)).collect();
    assert_eq!(
        found,
        [
            ("steps[0].plugin", "plugin", Some(8)),
            ("steps[1].version", "version", Some(11)),
            ("steps[2].config.rules[1].group", "config", Some(17)),
            ("steps[3].config.strategy", "config", Some(20)),
        ]
    );
    assert!(problems.0[1].message.contains("0.1.0, 0.2.1"), "{}", problems.0[1].message);
    assert!(problems.to_string().contains("steps[2].config.rules[1].group (line 17): unknown group `nowhere`"));

    // validate() reports the same paths, without lines.
    let doc = switchyard_workflow::parse(text, Format::Yaml).unwrap();
    let problems = validate(&doc, &FakeCatalog::new()).unwrap_err();
    assert_eq!(problems.0.len(), 4);
    assert!(problems.0.iter().all(|p| p.line.is_none()));
}

#[test]
fn validate_repeats_the_semantic_checks() {
    let mut doc = parse(&example("mail-intake.yaml"), Format::Yaml).unwrap();
    doc.steps[2].id = "route".into();
    let problems = validate(&doc, &FakeCatalog::new()).unwrap_err();
    assert!(problems.find("steps[2].id", "unique").is_some(), "{problems}");
    assert!(problems.find("steps[0].on_failure.goto", "goto").is_some(), "{problems}");
}
