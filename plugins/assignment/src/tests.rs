#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::HashMap;

use super::*;
use crate::bindings::switchyard::plugin::types::{Channel, Status, StepContext, Trigger};

fn ticket() -> Ticket {
    Ticket {
        number: "INC-000001".into(),
        title: "Switch down".into(),
        description: String::new(),
        requester: "alice".into(),
        channel: Channel::Portal,
        category: Some("network".into()),
        subcategory: None,
        service: None,
        affected_cis: vec![],
        impact: 2,
        urgency: 2,
        priority: 3,
        status: Status::New,
        pending_reason: None,
        assignment_group: Some("network-ops".into()),
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
            step_id: "assign".into(),
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

fn agent(name: &str, on_shift: bool, open: u32, skills: &[&str]) -> Agent {
    Agent {
        username: name.into(),
        display_name: name.to_uppercase(),
        email: None,
        on_shift,
        open_tickets: open,
        skills: skills.iter().map(|s| s.to_string()).collect(),
    }
}

#[derive(Default)]
struct Fake {
    groups: HashMap<String, Vec<Agent>>,
    counters: RefCell<HashMap<String, i64>>,
    fail: bool,
}

impl Fake {
    fn new() -> Fake {
        let mut groups = HashMap::new();
        groups.insert(
            "network-ops".to_string(),
            vec![
                agent("carol", true, 5, &["networking", "cisco"]),
                agent("bob", true, 2, &["networking"]),
                agent("dave", false, 0, &["networking", "cisco"]),
                agent("erin", true, 2, &["cisco", "Networking"]),
            ],
        );
        groups.insert("night".to_string(), vec![agent("zed", false, 0, &[])]);
        Fake { groups, ..Fake::default() }
    }
}

impl Host for Fake {
    fn members(&self, group: &str) -> Result<Vec<Agent>, String> {
        if self.fail {
            return Err("directory down".into());
        }
        Ok(self.groups.get(group).cloned().unwrap_or_default())
    }
    fn on_shift(&self, group: &str) -> Result<Vec<Agent>, String> {
        Ok(self.members(group)?.into_iter().filter(|a| a.on_shift).collect())
    }
    fn on_call(&self, schedule: &str) -> Result<Option<String>, String> {
        Ok(match schedule {
            "net-primary" => Some("bob".into()),
            "outsider" => Some("zed".into()),
            _ => None,
        })
    }
    fn increment(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, String> {
        assert_eq!(bucket, BUCKET);
        let mut c = self.counters.borrow_mut();
        let v = c.entry(key.to_string()).or_insert(0);
        *v += delta;
        Ok(*v)
    }
}

fn assignee(r: &StepResult) -> Option<String> {
    r.actions.iter().find_map(|a| match a {
        Action::AssignUser(u) => Some(u.clone()),
        _ => None,
    })
}

fn note(r: &StepResult) -> Option<String> {
    r.actions.iter().find_map(|a| match a {
        Action::AddWorkNote(n) => Some(n.clone()),
        _ => None,
    })
}

#[test]
fn least_loaded_ties_by_username() {
    let r = assign(&input(json!({"strategy": "least_loaded"}), Some(ticket()), vec![]), &Fake::new()).unwrap();
    // bob and erin both have 2; dave has 0 but is off shift.
    assert_eq!(assignee(&r).as_deref(), Some("bob"));
    let out: Value = serde_json::from_str(&r.output).unwrap();
    assert_eq!(out["candidates"], 3);
}

#[test]
fn least_loaded_includes_off_shift_when_asked() {
    let cfg = json!({"strategy": "least_loaded", "only_on_shift": false});
    let r = assign(&input(cfg, Some(ticket()), vec![]), &Fake::new()).unwrap();
    assert_eq!(assignee(&r).as_deref(), Some("dave"));
}

#[test]
fn round_robin_rotates_over_sorted_on_shift_members() {
    let host = Fake::new();
    let picks: Vec<String> = (0..5)
        .map(|_| {
            let r = assign(&input(json!({"strategy": "round_robin"}), Some(ticket()), vec![]), &host).unwrap();
            assignee(&r).unwrap()
        })
        .collect();
    assert_eq!(picks, ["bob", "carol", "erin", "bob", "carol"]);
}

#[test]
fn skills_then_least_loaded() {
    let cfg = json!({"strategy": "skills", "skills": {"Network": ["networking", "cisco"]}});
    let r = assign(&input(cfg, Some(ticket()), vec![]), &Fake::new()).unwrap();
    // carol (5) and erin (2, skills in other case) qualify; bob lacks cisco.
    assert_eq!(assignee(&r).as_deref(), Some("erin"));
}

#[test]
fn skills_nobody_qualifies_leaves_note() {
    let cfg = json!({"strategy": "skills", "skills": {"network": ["juniper"]}});
    let r = assign(&input(cfg, Some(ticket()), vec![]), &Fake::new()).unwrap();
    assert_eq!(assignee(&r), None);
    assert!(note(&r).unwrap().contains("juniper"));
}

#[test]
fn skills_unmapped_category_needs_nothing() {
    let cfg = json!({"strategy": "skills", "skills": {"hardware": ["soldering"]}});
    let r = assign(&input(cfg, Some(ticket()), vec![]), &Fake::new()).unwrap();
    assert_eq!(assignee(&r).as_deref(), Some("bob"));
}

#[test]
fn nobody_on_shift_leaves_unassigned_with_note() {
    let mut t = ticket();
    t.assignment_group = Some("night".into());
    let r = assign(&input(json!({"strategy": "round_robin"}), Some(t.clone()), vec![]), &Fake::new()).unwrap();
    assert_eq!(assignee(&r), None);
    assert!(note(&r).unwrap().contains("on shift"));
    t.assignment_group = Some("unknown".into());
    let cfg = json!({"strategy": "least_loaded", "only_on_shift": false});
    let r = assign(&input(cfg, Some(t), vec![]), &Fake::new()).unwrap();
    assert!(note(&r).unwrap().contains("no members"));
}

#[test]
fn group_from_previous_step_wins() {
    let mut t = ticket();
    t.assignment_group = None;
    t.assignee = Some("someone".into());
    let prev = vec![
        StepOutput { step_id: "x".into(), output: json!({"assignment_group": "elsewhere"}).to_string() },
        StepOutput { step_id: "route".into(), output: json!({"assignment_group": "network-ops"}).to_string() },
        StepOutput { step_id: "y".into(), output: json!({"assignment_group": null}).to_string() },
    ];
    let r = assign(&input(json!({"strategy": "least_loaded"}), Some(t), prev), &Fake::new()).unwrap();
    // The group changed in this run, so the old assignee is replaced.
    assert_eq!(assignee(&r).as_deref(), Some("bob"));
}

#[test]
fn keeps_existing_assignee_unless_reassign() {
    let mut t = ticket();
    t.assignee = Some("carol".into());
    let r = assign(&input(json!({"strategy": "least_loaded"}), Some(t.clone()), vec![]), &Fake::new()).unwrap();
    assert!(r.actions.is_empty());
    let cfg = json!({"strategy": "least_loaded", "reassign": true});
    let r = assign(&input(cfg, Some(t), vec![]), &Fake::new()).unwrap();
    assert_eq!(assignee(&r).as_deref(), Some("bob"));
}

#[test]
fn no_group_leaves_note() {
    let mut t = ticket();
    t.assignment_group = None;
    let r = assign(&input(json!({"strategy": "least_loaded"}), Some(t), vec![]), &Fake::new()).unwrap();
    assert!(note(&r).unwrap().contains("no assignment group"));
}

#[test]
fn directory_failure_is_retryable() {
    let host = Fake { fail: true, ..Fake::new() };
    let r = assign(&input(json!({"strategy": "least_loaded"}), Some(ticket()), vec![]), &host);
    assert!(matches!(r, Err(StepError::Retryable(_))));
}

#[test]
fn invalid_configs() {
    for cfg in [
        json!({}),
        json!({"strategy": "random"}),
        json!({"strategy": "skills"}),
        json!({"strategy": "skills", "skills": {"network": []}}),
        json!({"strategy": "skills", "skills": {"network": ["Bad Skill"]}}),
        json!({"strategy": "least_loaded", "colour": 1}),
    ] {
        assert!(parse_config(&cfg.to_string()).is_err(), "{cfg}");
        let r = assign(&input(cfg.clone(), Some(ticket()), vec![]), &Fake::new());
        assert!(matches!(r, Err(StepError::InvalidConfig(_))), "{cfg}");
    }
    let r = assign(&input(json!({"strategy": "least_loaded"}), None, vec![]), &Fake::new());
    assert!(matches!(r, Err(StepError::Fatal(_))));
}

#[test]
fn example_config_is_valid() {
    assert!(parse_config(include_str!("../example-config.json")).is_ok());
}

#[test]
fn odd_counter_values_do_not_panic() {
    struct Odd(i64);
    impl Host for Odd {
        fn members(&self, g: &str) -> Result<Vec<Agent>, String> {
            Fake::new().members(g)
        }
        fn on_shift(&self, g: &str) -> Result<Vec<Agent>, String> {
            Fake::new().on_shift(g)
        }
        fn increment(&self, _: &str, _: &str, _: i64) -> Result<i64, String> {
            Ok(self.0)
        }
        fn on_call(&self, _: &str) -> Result<Option<String>, String> {
            Ok(None)
        }
    }
    for v in [i64::MIN, -1, 0, i64::MAX] {
        let r = assign(&input(json!({"strategy": "round_robin"}), Some(ticket()), vec![]), &Odd(v)).unwrap();
        assert!(assignee(&r).is_some(), "{v}");
    }
}

#[test]
fn odd_inputs_never_panic() {
    for cfg in switchyard_plugin_kit::odd_config_texts() {
        let _ = parse_config(&cfg);
        let mut i = input(json!({"strategy": "least_loaded"}), Some(ticket()), vec![]);
        i.config = cfg;
        assert!(assign(&i, &Fake::new()).is_err());
    }
    let prev = vec![StepOutput { step_id: String::new(), output: "[".repeat(10_000) }];
    let mut t = ticket();
    t.category = Some(String::new());
    let cfg = json!({"strategy": "skills", "skills": {"x": ["y"]}});
    assert!(assign(&input(cfg, Some(t), prev), &Fake::new()).is_ok());
}

#[test]
fn on_call_assigns_whoever_is_on_call_when_a_member() {
    let cfg = |schedule: &str| json!({"strategy": "on_call", "schedule": schedule});
    let r = assign(&input(cfg("net-primary"), Some(ticket()), vec![]), &Fake::new()).unwrap();
    assert_eq!(assignee(&r).as_deref(), Some("bob"));
    let r = assign(&input(cfg("outsider"), Some(ticket()), vec![]), &Fake::new()).unwrap();
    assert_eq!(assignee(&r), None);
    assert!(r.output.contains("not a member of group network-ops"), "{}", r.output);
    let r = assign(&input(cfg("empty"), Some(ticket()), vec![]), &Fake::new()).unwrap();
    assert!(r.output.contains("nobody is on call on empty"), "{}", r.output);
    assert!(parse_config(r#"{"strategy": "on_call"}"#).unwrap_err()[0].starts_with("schedule:"));
}
