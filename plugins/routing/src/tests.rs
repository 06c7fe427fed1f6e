#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::bindings::switchyard::plugin::types::{Status, StepContext, Trigger};
use serde_json::Value;

fn ticket() -> Ticket {
    Ticket {
        number: "INC-000001".into(),
        title: "VPN is down".into(),
        description: "Cannot connect from home since this morning".into(),
        requester: "alice".into(),
        channel: Channel::Portal,
        category: Some("Network".into()),
        subcategory: None,
        service: None,
        affected_cis: vec![],
        impact: 2,
        urgency: 2,
        priority: 3,
        status: Status::New,
        pending_reason: None,
        assignment_group: None,
        assignee: None,
        escalation_level: 0,
        watchers: vec![],
        created_at: 0,
        updated_at: 0,
        custom_fields: "{}".into(),
    }
}

fn input(config: Value, ticket: Option<Ticket>, previous: Vec<StepOutput>) -> StepInput {
    StepInput {
        context: StepContext {
            workflow_id: "wf".into(),
            workflow_version: 1,
            run_id: "run-1".into(),
            step_id: "route".into(),
            attempt: 1,
            deadline: 0,
            now: 0,
        },
        trigger: Trigger::TicketCreated,
        ticket,
        config: config.to_string(),
        previous,
    }
}

fn config() -> Value {
    json!({
        "rules": [
            {"name": "p1-alerts", "group": "noc", "match": {"channel": ["alert"], "max_priority": 1}},
            {"name": "db", "group": "dba", "match": {"ci_class": ["database"]}},
            {"name": "payroll", "group": "payroll-apps", "match": {"service": [42]}},
            {"name": "vpn", "group": "network-ops", "match": {"category": ["network"], "keywords": ["vpn", "wifi"]}},
            {"name": "hw-laptop", "group": "desk-side", "match": {"category": ["hardware"], "subcategory": ["laptop"], "priority": [3, 4, 5]}}
        ],
        "default_group": "service-desk",
        "work_note": true
    })
}

fn groups(r: &StepResult) -> Vec<String> {
    r.actions
        .iter()
        .filter_map(|a| match a {
            Action::AssignGroup(g) => Some(g.clone()),
            _ => None,
        })
        .collect()
}

fn cmdb_output(ci_class: &str, service_id: u64) -> StepOutput {
    StepOutput {
        step_id: "cmdb".into(),
        output: json!({"ci": {"id": 7, "class": ci_class}, "service": {"id": service_id, "class": "service"}, "impact": {}}).to_string(),
    }
}

#[test]
fn table() {
    type Case = (&'static str, fn(&mut Ticket), Vec<StepOutput>, &'static str, Option<&'static str>);
    let cases: Vec<Case> = vec![
        ("keyword+category", |_| {}, vec![], "network-ops", Some("vpn")),
        ("keyword case-insensitive", |t| t.title = "WiFi flaky".into(), vec![], "network-ops", Some("vpn")),
        (
            "keyword needs word boundary",
            |t| {
                t.title = "wifis".into();
                t.description = "openvpnx".into();
            },
            vec![],
            "service-desk",
            None,
        ),
        ("category case-insensitive", |t| t.category = Some("NETWORK".into()), vec![], "network-ops", Some("vpn")),
        (
            "p1 alert first",
            |t| {
                t.channel = Channel::Alert;
                t.priority = 1;
            },
            vec![],
            "noc",
            Some("p1-alerts"),
        ),
        (
            "p2 alert not p1 rule",
            |t| {
                t.channel = Channel::Alert;
                t.priority = 2;
            },
            vec![],
            "network-ops",
            Some("vpn"),
        ),
        ("ci class from cmdb output", |t| t.category = None, vec![cmdb_output("database", 1)], "dba", Some("db")),
        (
            "service from ticket",
            |t| {
                t.category = None;
                t.service = Some(42);
            },
            vec![],
            "payroll-apps",
            Some("payroll"),
        ),
        ("service from cmdb output", |t| t.category = None, vec![cmdb_output("server", 42)], "payroll-apps", Some("payroll")),
        (
            "all criteria must match",
            |t| {
                t.category = Some("hardware".into());
                t.subcategory = Some("laptop".into());
                t.priority = 2;
            },
            vec![],
            "service-desk",
            None,
        ),
        (
            "all criteria match",
            |t| {
                t.category = Some("hardware".into());
                t.subcategory = Some("Laptop".into());
                t.priority = 4;
            },
            vec![],
            "desk-side",
            Some("hw-laptop"),
        ),
        ("default", |t| t.category = None, vec![], "service-desk", None),
    ];
    for (name, edit, previous, group, rule) in cases {
        let mut t = ticket();
        edit(&mut t);
        let r = route(&input(config(), Some(t), previous)).unwrap();
        assert_eq!(groups(&r), vec![group.to_string()], "{name}");
        let out: Value = serde_json::from_str(&r.output).unwrap();
        assert_eq!(out["assignment_group"], group, "{name}");
        assert_eq!(out["matched_rule"].as_str(), rule, "{name}");
        assert_eq!(out["default"], rule.is_none(), "{name}");
        assert!(matches!(r.actions.get(1), Some(Action::AddWorkNote(_))), "{name}");
    }
}

/// The cases shared with routing-py (`testdata/cases.json`).
#[test]
fn shared_cases() {
    let data: Value = serde_json::from_str(include_str!("../testdata/cases.json")).unwrap();
    let base = &data["base_ticket"];
    for case in data["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut fields = base.clone();
        for (k, v) in case["ticket"].as_object().unwrap() {
            fields[k] = v.clone();
        }
        let mut t = ticket();
        t.title = fields["title"].as_str().unwrap().into();
        t.description = fields["description"].as_str().unwrap().into();
        t.channel = match fields["channel"].as_str().unwrap() {
            "portal" => Channel::Portal,
            "email" => Channel::Email,
            "api" => Channel::Api,
            "alert" => Channel::Alert,
            "phone" => Channel::Phone,
            "chat" => Channel::Chat,
            other => panic!("channel {other}"),
        };
        t.category = fields["category"].as_str().map(String::from);
        t.subcategory = fields["subcategory"].as_str().map(String::from);
        t.service = fields["service"].as_u64();
        t.priority = u8::try_from(fields["priority"].as_u64().unwrap()).unwrap();
        // A JSON string stands for raw output text; anything else is serialised.
        let previous = case["previous"]
            .as_array()
            .map(|p| {
                p.iter()
                    .map(|o| StepOutput { step_id: "earlier".into(), output: o.as_str().map_or_else(|| o.to_string(), String::from) })
                    .collect()
            })
            .unwrap_or_default();
        let r = route(&input(data["config"].clone(), Some(t), previous)).unwrap();
        let out: Value = serde_json::from_str(&r.output).unwrap();
        assert_eq!(out["assignment_group"], case["group"], "{name}");
        assert_eq!(out["matched_rule"], case["rule"], "{name}");
        assert_eq!(groups(&r), vec![case["group"].as_str().unwrap().to_string()], "{name}");
    }
}

#[test]
fn no_default_no_match_proposes_nothing() {
    let cfg = json!({"rules": [{"name": "x", "group": "g", "match": {"category": ["none"]}}]});
    let r = route(&input(cfg, Some(ticket()), vec![])).unwrap();
    assert!(r.actions.is_empty());
    let out: Value = serde_json::from_str(&r.output).unwrap();
    assert!(out["assignment_group"].is_null());
}

#[test]
fn work_note_off_by_default() {
    let cfg = json!({"default_group": "desk"});
    let r = route(&input(cfg, Some(ticket()), vec![])).unwrap();
    assert_eq!(r.actions.len(), 1);
}

#[test]
fn empty_match_is_catch_all() {
    let cfg = json!({"rules": [{"name": "all", "group": "desk"}]});
    let r = route(&input(cfg, Some(ticket()), vec![])).unwrap();
    assert_eq!(groups(&r), vec!["desk".to_string()]);
}

#[test]
fn categorised_tickets_route_by_category_and_uncategorised_by_keywords() {
    let cfg = json!({
        "rules": [
            {"name": "network", "group": "network-ops", "match": {"category": ["network"]}},
            {"name": "network-keywords", "group": "network-ops", "match": {"uncategorised": true, "keywords": ["vpn"]}}
        ],
        "default_group": "service-desk"
    });
    let with = |category: Option<&str>, title: &str| Ticket {
        category: category.map(Into::into),
        title: title.into(),
        description: String::new(),
        ..ticket()
    };
    // (category, title, group)
    let table = [
        (Some("network"), "network issue", "network-ops"),
        (Some("network"), "printer on fire", "network-ops"),
        (None, "VPN is down", "network-ops"),
        (Some("hardware"), "VPN is down", "service-desk"),
        (None, "printer on fire", "service-desk"),
        (Some("  "), "vpn", "network-ops"),
    ];
    for (category, title, group) in table {
        let r = route(&input(cfg.clone(), Some(with(category, title)), vec![])).unwrap();
        assert_eq!(groups(&r), vec![group.to_string()], "{category:?} / {title}");
    }
    let contradiction = json!({"rules": [{"name": "a", "group": "g", "match": {"category": ["x"], "uncategorised": true}}]});
    assert!(check_config(&contradiction.to_string()).unwrap_err().iter().any(|e| e.contains("uncategorised")));
}

#[test]
fn invalid_configs() {
    let bad = [
        json!({}),
        json!({"rules": []}),
        json!({"rules": [{"name": "a", "group": "Bad Group"}]}),
        json!({"rules": [{"name": "a", "group": "g", "match": {"channel": ["fax"]}}]}),
        json!({"rules": [{"name": "a", "group": "g", "match": {"priority": [0]}}]}),
        json!({"rules": [{"name": "a", "group": "g", "match": {"keywords": []}}]}),
        json!({"rules": [{"name": "a", "group": "g", "match": {"colour": ["red"]}}]}),
        json!({"rules": [{"name": "a", "group": "g"}, {"name": "a", "group": "h"}]}),
        json!({"default_group": "x", "extra": 1}),
        json!([1, 2]),
    ];
    for cfg in bad {
        assert!(check_config(&cfg.to_string()).is_err(), "{cfg}");
        let r = route(&input(cfg.clone(), Some(ticket()), vec![]));
        assert!(matches!(r, Err(StepError::InvalidConfig(_))), "{cfg}");
    }
    assert!(check_config("not json").is_err());
    assert!(check_config(&config().to_string()).is_ok());
}

#[test]
fn example_config_is_valid() {
    let text = include_str!("../example-config.json");
    assert_eq!(check_config(text), Ok(()));
}

#[test]
fn missing_ticket_is_fatal() {
    let r = route(&input(config(), None, vec![]));
    assert!(matches!(r, Err(StepError::Fatal(_))));
}

#[test]
fn garbage_previous_outputs_are_ignored() {
    let prev = vec![
        StepOutput { step_id: "a".into(), output: "not json".into() },
        StepOutput { step_id: "b".into(), output: json!({"ci": 5}).to_string() },
    ];
    let mut t = ticket();
    t.category = None;
    let r = route(&input(config(), Some(t), prev)).unwrap();
    assert_eq!(groups(&r), vec!["service-desk".to_string()]);
}

#[test]
fn contains_word_handles_unicode() {
    assert!(contains_word("café vpn", "vpn"));
    assert!(!contains_word("éévpné", "vpn"));
    assert!(contains_word("ok: can't login", "can't login"));
    assert!(!contains_word("x", ""));
}

#[test]
fn odd_inputs_never_panic() {
    for cfg in switchyard_plugin_kit::odd_config_texts() {
        let _ = check_config(&cfg);
        let mut i = input(json!({}), Some(ticket()), vec![]);
        i.config = cfg;
        assert!(route(&i).is_err());
    }
    for (p, title) in [(0u8, ""), (255, "\u{0}{{"), (6, "é")] {
        let mut t = ticket();
        t.priority = p;
        t.title = title.repeat(1000);
        t.created_at = i64::MIN;
        let prev = vec![StepOutput { step_id: String::new(), output: "[".repeat(10_000) }];
        assert!(route(&input(config(), Some(t), prev)).is_ok());
    }
}
