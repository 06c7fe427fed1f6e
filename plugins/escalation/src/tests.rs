#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

use super::*;
use crate::bindings::switchyard::plugin::types::{Channel, StepContext};

const T0: i64 = 1_795_435_200_000;
const MIN: i64 = 60_000;

fn ticket() -> Ticket {
    Ticket {
        number: "INC-000007".into(),
        title: "Payroll down".into(),
        description: String::new(),
        requester: "alice".into(),
        channel: Channel::Phone,
        category: None,
        subcategory: None,
        service: None,
        affected_cis: vec![],
        impact: 1,
        urgency: 1,
        priority: 1,
        status: Status::InProgress,
        pending_reason: None,
        assignment_group: Some("service-desk".into()),
        assignee: Some("bob".into()),
        escalation_level: 0,
        watchers: vec![],
        created_at: T0,
        updated_at: T0,
        custom_fields: "{}".into(),
    }
}

fn input(config: &Value, trigger: Trigger, ticket: Option<Ticket>, minutes: i64) -> StepInput {
    StepInput {
        context: StepContext {
            workflow_id: "wf".into(),
            workflow_version: 1,
            run_id: "run-1".into(),
            step_id: "escalate".into(),
            attempt: 1,
            deadline: 0,
            now: T0 + minutes * MIN,
        },
        trigger,
        ticket,
        config: config.to_string(),
        previous: vec![],
    }
}

fn config() -> Value {
    json!({
        "ladders": {
            "P1": [
                {"level": 1, "after_minutes": 15, "on_sla": "warning", "group": "l2-support", "notify": ["assignment_group"]},
                {"level": 2, "after_minutes": 30, "on_sla": "breached", "notify": ["group_manager", "group:major-incident"]}
            ],
            "P3": [
                {"level": 1, "after_minutes": 240, "notify": ["assignee", "assignee"]}
            ]
        },
        "raise_priority": true
    })
}

struct Fake;

impl Host for Fake {
    fn get_group(&self, name: &str) -> Result<Option<Group>, String> {
        Ok(match name {
            "l2-support" => Some(Group { name: name.into(), display_name: "L2".into(), email: None, manager: Some("mia".into()) }),
            "service-desk" => Some(Group { name: name.into(), display_name: "SD".into(), email: None, manager: None }),
            "broken" => return Err("db locked".into()),
            _ => None,
        })
    }
}

fn cron() -> Trigger {
    Trigger::Cron(crate::bindings::switchyard::plugin::types::CronTick { schedule: "*/5 * * * *".into(), scheduled_at: 0 })
}

fn sla(breached: bool) -> Trigger {
    let e = SlaEvent { target: SlaTarget::Resolution, percent: if breached { 100 } else { 80 }, due_at: T0 };
    if breached { Trigger::SlaBreached(e) } else { Trigger::SlaWarning(e) }
}

/// A short description of the actions: `E<level>:<group>`, `P<prio>`,
/// `N<recipients>`.
fn summary(r: &StepResult) -> Vec<String> {
    r.actions
        .iter()
        .map(|a| match a {
            Action::Escalate(e) => format!("E{}:{}", e.level, e.group.clone().unwrap_or_default()),
            Action::SetPriority(p) => format!("P{}", p.priority),
            Action::Notify(n) => format!("N{}", n.recipients.join(",")),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn table() {
    // (trigger, minutes since creation, ticket edit, expected summary)
    type Case = (Trigger, i64, fn(&mut Ticket), Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (cron(), 10, |_| {}, vec![]),
        (cron(), 15, |_| {}, vec!["E1:l2-support", "Ngroup:l2-support"]),
        (cron(), 29, |t| t.escalation_level = 1, vec![]),
        // Level 2 has no group: the manager of the ticket's group (none for service-desk).
        (cron(), 31, |t| t.escalation_level = 1, vec!["E2:", "Ngroup:major-incident"]),
        (
            cron(),
            31,
            |t| {
                t.escalation_level = 1;
                t.assignment_group = Some("l2-support".into());
            },
            vec!["E2:", "Nmia,group:major-incident"],
        ),
        // Skipping straight to the highest due level.
        (cron(), 45, |_| {}, vec!["E2:", "Ngroup:major-incident"]),
        (cron(), 45, |t| t.escalation_level = 2, vec![]),
        (cron(), 45, |t| t.escalation_level = 5, vec![]),
        // SLA events make levels due early.
        (sla(false), 1, |_| {}, vec!["E1:l2-support", "Ngroup:l2-support"]),
        (sla(true), 1, |_| {}, vec!["E2:", "Ngroup:major-incident"]),
        (sla(false), 1, |t| t.escalation_level = 1, vec![]),
        // raise_priority: P3 -> P2; recipients deduplicated.
        (cron(), 240, |t| t.priority = 3, vec!["E1:", "P2", "Nbob"]),
        (
            cron(),
            240,
            |t| {
                t.priority = 3;
                t.assignee = None;
            },
            vec!["E1:", "P2"],
        ),
        // No ladder for P4; closed and pending tickets are left alone.
        (cron(), 9999, |t| t.priority = 4, vec![]),
        (cron(), 9999, |t| t.status = Status::Resolved, vec![]),
        (cron(), 9999, |t| t.status = Status::Pending, vec![]),
        // Clock skew: created in the future.
        (cron(), -60, |_| {}, vec![]),
    ];
    for (i, (trigger, minutes, edit, expected)) in cases.into_iter().enumerate() {
        let mut t = ticket();
        edit(&mut t);
        let r = escalate(&input(&config(), trigger, Some(t), minutes), &Fake).unwrap();
        assert_eq!(summary(&r), expected, "case {i}");
        let out: Value = serde_json::from_str(&r.output).unwrap();
        assert_eq!(out["escalated"], !expected.is_empty(), "case {i}");
    }
}

#[test]
fn p1_is_not_raised_and_messages_are_filled() {
    let r = escalate(&input(&config(), cron(), Some(ticket()), 20), &Fake).unwrap();
    let Some(Action::Notify(n)) = r.actions.last() else { panic!("no notify") };
    assert_eq!(n.subject, "[INC-000007] escalated to level 1: Payroll down");
    assert!(n.body.contains("handed over to l2-support"), "{}", n.body);
    assert!(n.body.contains("P1 incident open for 20m (level 1 is due after 15m)"), "{}", n.body);
    assert!(!r.actions.iter().any(|a| matches!(a, Action::SetPriority(_))));
    let out: Value = serde_json::from_str(&r.output).unwrap();
    assert_eq!(out["assignment_group"], "l2-support");
}

#[test]
fn pending_included_when_asked() {
    let mut cfg = config();
    cfg["include_pending"] = json!(true);
    let mut t = ticket();
    t.status = Status::Pending;
    let r = escalate(&input(&cfg, cron(), Some(t), 20), &Fake).unwrap();
    assert_eq!(summary(&r)[0], "E1:l2-support");
}

#[test]
fn no_ticket_is_quiet() {
    let r = escalate(&input(&config(), cron(), None, 20), &Fake).unwrap();
    assert!(r.actions.is_empty());
}

#[test]
fn directory_failure_is_retryable() {
    let mut t = ticket();
    t.escalation_level = 1;
    t.assignment_group = Some("broken".into());
    let r = escalate(&input(&config(), cron(), Some(t), 40), &Fake);
    assert!(matches!(r, Err(StepError::Retryable(_))));
}

#[test]
fn invalid_configs() {
    for cfg in [
        json!({}),
        json!({"ladders": {}}),
        json!({"ladders": {"P6": [{"level": 1, "after_minutes": 1}]}}),
        json!({"ladders": {"P1": []}}),
        json!({"ladders": {"P1": [{"level": 0, "after_minutes": 1}]}}),
        json!({"ladders": {"P1": [{"level": 1}]}}),
        json!({"ladders": {"P1": [{"level": 2, "after_minutes": 1}, {"level": 1, "after_minutes": 5}]}}),
        json!({"ladders": {"P1": [{"level": 1, "after_minutes": 10}, {"level": 2, "after_minutes": 5}]}}),
        json!({"ladders": {"P1": [{"level": 1, "after_minutes": 1, "group": "L2"}]}}),
        json!({"ladders": {"P1": [{"level": 1, "after_minutes": 1, "notify": ["boss"]}]}}),
        json!({"ladders": {"P1": [{"level": 1, "on_sla": "late"}]}}),
        json!({"ladders": {"P1": [{"level": 1, "after_minutes": 1}]}, "subject": "{{nope}}"}),
        json!({"ladders": {"P1": [{"level": 1, "after_minutes": 1}]}, "channel": ""}),
        json!({"ladders": {"P1": [{"level": 1, "after_minutes": 1}]}, "extra": 1}),
        json!({"ladders": {"P1": [{"level": 300, "after_minutes": 1}]}}),
        json!({"ladders": {"P1": [{"level": 1, "after_minutes": -1}]}}),
    ] {
        assert!(parse_config(&cfg.to_string()).is_err(), "{cfg}");
        let r = escalate(&input(&cfg, cron(), Some(ticket()), 0), &Fake);
        assert!(matches!(r, Err(StepError::InvalidConfig(_))), "{cfg}");
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
        let mut i = input(&json!({}), cron(), Some(ticket()), 0);
        i.config = cfg;
        assert!(escalate(&i, &Fake).is_err());
    }
    for (created, now, prio, level) in [(i64::MIN, i64::MAX, 1u8, 0u8), (i64::MAX, i64::MIN, 0, 255), (0, 0, 255, 254)] {
        let mut t = ticket();
        t.created_at = created;
        t.priority = prio;
        t.escalation_level = level;
        let mut i = input(&config(), sla(true), Some(t), 0);
        i.context.now = now;
        assert!(escalate(&i, &Fake).is_ok());
    }
}
