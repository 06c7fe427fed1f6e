#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use super::*;
use crate::bindings::switchyard::plugin::types::{Channel, Status, StepContext, Trigger};

fn ticket() -> Ticket {
    Ticket {
        number: "INC-000001".into(),
        title: "Server down".into(),
        description: String::new(),
        requester: "alice".into(),
        channel: Channel::Alert,
        category: None,
        subcategory: None,
        service: None,
        affected_cis: vec![1],
        impact: 3,
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

fn input(config: Value, ticket: Option<Ticket>) -> StepInput {
    StepInput {
        context: StepContext {
            workflow_id: "wf".into(),
            workflow_version: 1,
            run_id: "run-1".into(),
            step_id: "cmdb".into(),
            attempt: 1,
            deadline: 0,
            now: 0,
        },
        trigger: Trigger::TicketCreated,
        ticket,
        config: config.to_string(),
        previous: vec![],
    }
}

fn ci(id: u64, class: &str, owner: Option<&str>, attributes: Value) -> Ci {
    Ci {
        id,
        class: class.into(),
        name: format!("ci-{id}"),
        status: "live".into(),
        owner_group: owner.map(str::to_string),
        attributes: attributes.to_string(),
    }
}

/// server 1 <-runs-on- app 2 <-depends-on- service 42 (900 users)
/// server 1 <-depends-on- service 43 (600 users)
/// server 5: nothing depends on it. 9: missing. 50 is a service on its own.
struct Fake {
    cis: HashMap<u64, Ci>,
    downstream: HashMap<u64, Vec<(u64, u32)>>,
    fail: bool,
}

impl Fake {
    fn new() -> Fake {
        let cis = [
            ci(1, "server", Some("unix-ops"), json!({})),
            ci(2, "application", Some("app-team"), json!({})),
            ci(42, "service", Some("payroll-apps"), json!({"users": 900})),
            ci(43, "service", None, json!({"users": 600.7})),
            ci(5, "server", None, json!({})),
            ci(50, "Service", Some("svc"), json!({"users": "many"})),
            ci(60, "server", None, json!("not an object")),
        ]
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
        let downstream = HashMap::from([(1, vec![(42, 2), (2, 1), (43, 1)]), (2, vec![(42, 1)]), (60, vec![(42, 1), (42, 2)])]);
        Fake { cis, downstream, fail: false }
    }
}

impl Host for Fake {
    fn get(&self, id: u64) -> Result<Option<Ci>, String> {
        if self.fail {
            return Err("db locked".into());
        }
        Ok(self.cis.get(&id).cloned())
    }
    fn related(&self, id: u64, direction: Direction, depth: u32) -> Result<Vec<RelatedCi>, String> {
        assert!(matches!(direction, Direction::Downstream));
        Ok(self
            .downstream
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|(_, d)| *d <= depth)
            .map(|(cid, d)| RelatedCi { ci: self.cis[cid].clone(), relation: "depends-on".into(), depth: *d })
            .collect())
    }
}

fn fields(r: &StepResult) -> Vec<(String, String)> {
    r.actions
        .iter()
        .filter_map(|a| match a {
            Action::SetField(f) => Some((f.field.clone(), f.value.clone())),
            _ => None,
        })
        .collect()
}

fn group(r: &StepResult) -> Option<String> {
    r.actions.iter().find_map(|a| match a {
        Action::AssignGroup(g) => Some(g.clone()),
        _ => None,
    })
}

fn out(r: &StepResult) -> Value {
    serde_json::from_str(&r.output).unwrap()
}

#[test]
fn server_finds_nearest_service_and_impact() {
    let cfg = json!({"impact": {"high": {"services": 3, "users": 1500}, "medium": {"services": 2}}});
    let r = lookup(&input(cfg, Some(ticket())), &Fake::new()).unwrap();
    // Service 43 is at depth 1, 42 at depth 2. 900 + 600 = 1500 users -> high.
    assert_eq!(fields(&r), vec![("service".into(), "43".into()), ("impact".into(), "1".into())]);
    let o = out(&r);
    assert_eq!(o["ci"]["class"], "server");
    assert_eq!(o["service"]["id"], 43);
    assert_eq!(o["impact"]["services"], 2);
    assert_eq!(o["impact"]["users"], 1500);
    assert_eq!(o["impact"]["service_ids"], json!([43, 42]));
    assert_eq!(o["impact"]["raised"], true);
    assert!(o["assignment_group"].is_null());
}

#[test]
fn impact_table() {
    // (thresholds, ticket impact, expected impact field or none)
    let cases = [
        (json!({"medium": {"services": 2}}), 3, Some("2")),
        (json!({"medium": {"services": 2}}), 2, None),
        (json!({"medium": {"services": 2}}), 1, None), // never lowered
        (json!({"high": {"users": 1501}, "medium": {"users": 1500}}), 3, Some("2")),
        (json!({"high": {"users": 1501}}), 3, None),
        (json!({}), 3, None),
    ];
    for (thresholds, impact, expected) in cases {
        let mut t = ticket();
        t.impact = impact;
        let r = lookup(&input(json!({"impact": thresholds, "set_service": false}), Some(t)), &Fake::new()).unwrap();
        let got: Vec<String> = fields(&r).into_iter().filter(|(f, _)| f == "impact").map(|(_, v)| v).collect();
        assert_eq!(got, expected.into_iter().map(String::from).collect::<Vec<_>>(), "{thresholds} {impact}");
    }
}

#[test]
fn service_ci_is_its_own_service() {
    let mut t = ticket();
    t.affected_cis = vec![];
    t.service = Some(50);
    let r = lookup(&input(json!({"impact": {"high": {"services": 1}}}), Some(t)), &Fake::new()).unwrap();
    // Service already set on the ticket: no set-field service; class compares case-insensitively.
    assert_eq!(fields(&r), vec![("impact".into(), "1".into())]);
    assert_eq!(out(&r)["impact"]["users"], 0);
}

#[test]
fn keeps_ticket_service_unless_overwrite() {
    let mut t = ticket();
    t.service = Some(42);
    let r = lookup(&input(json!({}), Some(t.clone())), &Fake::new()).unwrap();
    assert!(fields(&r).is_empty());
    assert_eq!(out(&r)["service"]["id"], 42);
    let r = lookup(&input(json!({"overwrite_service": true}), Some(t)), &Fake::new()).unwrap();
    assert_eq!(fields(&r), vec![("service".into(), "43".into())]);
}

#[test]
fn owner_group_assignment() {
    let cfg = json!({"assign_owner_group": true});
    let r = lookup(&input(cfg.clone(), Some(ticket())), &Fake::new()).unwrap();
    assert_eq!(group(&r).as_deref(), Some("unix-ops"));
    assert_eq!(out(&r)["assignment_group"], "unix-ops");
    // Ticket already has a group: left alone unless overwrite_group.
    let mut t = ticket();
    t.assignment_group = Some("desk".into());
    let r = lookup(&input(cfg, Some(t.clone())), &Fake::new()).unwrap();
    assert_eq!(group(&r), None);
    let r = lookup(&input(json!({"assign_owner_group": true, "overwrite_group": true}), Some(t)), &Fake::new()).unwrap();
    assert_eq!(group(&r).as_deref(), Some("unix-ops"));
    // CI without owner: the service's owner group.
    let mut t = ticket();
    t.affected_cis = vec![2];
    let r = lookup(&input(json!({"assign_owner_group": true}), Some(t)), &Fake::new()).unwrap();
    assert_eq!(group(&r).as_deref(), Some("app-team"));
    let mut t = ticket();
    t.affected_cis = vec![5];
    let r = lookup(&input(json!({"assign_owner_group": true}), Some(t)), &Fake::new()).unwrap();
    assert_eq!(group(&r), None);
}

#[test]
fn depth_limits_the_walk() {
    let r = lookup(&input(json!({"max_depth": 1}), Some(ticket())), &Fake::new()).unwrap();
    assert_eq!(out(&r)["impact"]["service_ids"], json!([43]));
}

#[test]
fn duplicates_and_bad_attributes_are_tolerated() {
    let mut t = ticket();
    t.affected_cis = vec![60];
    let r = lookup(&input(json!({}), Some(t)), &Fake::new()).unwrap();
    assert_eq!(out(&r)["impact"]["service_ids"], json!([42]));
    assert_eq!(out(&r)["ci"]["attributes"], "not an object");
}

#[test]
fn no_ci_or_missing_ci_is_not_an_error() {
    let mut t = ticket();
    t.affected_cis = vec![];
    let r = lookup(&input(json!({}), Some(t)), &Fake::new()).unwrap();
    assert!(r.actions.is_empty());
    assert!(out(&r)["ci"].is_null());
    let mut t = ticket();
    t.affected_cis = vec![9];
    let r = lookup(&input(json!({}), Some(t)), &Fake::new()).unwrap();
    assert!(out(&r)["note"].as_str().unwrap().contains("not found"));
}

#[test]
fn errors() {
    let host = Fake { fail: true, ..Fake::new() };
    assert!(matches!(lookup(&input(json!({}), Some(ticket())), &host), Err(StepError::Retryable(_))));
    assert!(matches!(lookup(&input(json!({}), None), &Fake::new()), Err(StepError::Fatal(_))));
    for cfg in [
        json!({"max_depth": 0}),
        json!({"max_depth": 11}),
        json!({"impact": {"high": {}}}),
        json!({"impact": {"low": {"users": 1}}}),
        json!({"service_class": ""}),
        json!({"extra": true}),
        json!("text"),
    ] {
        assert!(parse_config(&cfg.to_string()).is_err(), "{cfg}");
        assert!(matches!(lookup(&input(cfg, Some(ticket())), &Fake::new()), Err(StepError::InvalidConfig(_))));
    }
}

#[test]
fn example_config_is_valid() {
    assert!(parse_config(include_str!("../example-config.json")).is_ok());
}

#[test]
fn odd_inputs_never_panic() {
    for cfg in switchyard_plugin_kit::odd_config_texts() {
        let _ = parse_config(&cfg);
        let mut i = input(json!({}), Some(ticket()));
        // `{}` is a valid config here (every field has a default).
        let valid = cfg == "{}";
        i.config = cfg;
        assert_eq!(lookup(&i, &Fake::new()).is_ok(), valid, "{:.40}", i.config);
    }
    let mut host = Fake::new();
    host.cis.insert(70, ci(70, "service", None, json!({"users": 1e300})));
    host.cis.insert(71, ci(71, "service", None, json!({"users": u64::MAX})));
    host.cis.insert(72, ci(72, "server", None, json!({})));
    host.downstream.insert(72, vec![(70, 1), (71, 1), (72, 1)]);
    let mut t = ticket();
    t.affected_cis = vec![72, 1];
    t.impact = 0;
    let r = lookup(&input(json!({"impact": {"high": {"users": 1}}}), Some(t)), &host).unwrap();
    assert_eq!(out(&r)["impact"]["users"], u64::MAX);
}
