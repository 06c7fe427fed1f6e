#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::bindings::switchyard::plugin::types::StepContext;
use serde_json::Value;

fn ticket() -> Ticket {
    Ticket {
        number: "INC-000042".into(),
        title: "Mail is slow".into(),
        description: "Outlook hangs".into(),
        requester: "alice".into(),
        channel: Channel::Email,
        category: Some("email".into()),
        subcategory: None,
        service: Some(42),
        affected_cis: vec![7],
        impact: 2,
        urgency: 2,
        priority: 2,
        status: Status::Assigned,
        pending_reason: None,
        assignment_group: Some("messaging".into()),
        assignee: Some("bob".into()),
        escalation_level: 0,
        watchers: vec!["carol".into(), "alice".into()],
        created_at: 1_795_435_200_000,
        updated_at: 1_795_435_200_000,
        custom_fields: "{}".into(),
    }
}

fn input(config: &Value, trigger: Trigger, ticket: Option<Ticket>) -> StepInput {
    StepInput {
        context: StepContext {
            workflow_id: "wf".into(),
            workflow_version: 1,
            run_id: "run-1".into(),
            step_id: "notify".into(),
            attempt: 1,
            deadline: 0,
            now: 1_795_435_200_000 + 90 * 60_000,
        },
        trigger,
        ticket,
        config: config.to_string(),
        previous: vec![StepOutput {
            step_id: "cmdb".into(),
            output: json!({"ci": {"id": 7, "name": "exch-01", "class": "server", "owner_group": "windows"},
                           "service": {"id": 42, "name": "Email", "owner_group": "messaging"}})
            .to_string(),
        }],
    }
}

fn config() -> Value {
    json!({
        "rules": [
            {"name": "ack", "on": ["created"], "recipients": ["requester"],
             "subject": "[{{number}}] received: {{title}}", "body": "Hello {{requester}}, we got it. Priority {{priority}}."},
            {"name": "assigned", "on": ["assigned"], "recipients": ["assignee", "assignment_group"],
             "subject": "{{number}} assigned to {{ assignee }}", "body": "Group {{assignment_group}}"},
            {"name": "status", "on": ["updated"], "fields": ["status"], "recipients": ["requester", "watchers"],
             "subject": "{{number}} is now {{status}}", "body": "{{changed_fields}}"},
            {"name": "resolved", "on": ["resolved"], "recipients": ["requester"], "channel": "webhook",
             "subject": "{{number}} resolved", "body": "."},
            {"name": "breach", "on": ["sla_warning", "sla_breached"], "max_priority": 2,
             "recipients": ["assignment_group", "ci_owner_group", "service_owner_group", "group:major-incident", "oncall@example.com"],
             "subject": "SLA {{event}}: {{number}} ({{sla_target}} {{sla_percent}}%)",
             "body": "Due {{sla_due_at}}; CI {{ci_name}} ({{ci_class}}), service {{service_name}}; now {{now}}"},
            {"name": "unassigned-only", "on": ["created"], "statuses": ["new"], "recipients": ["group:dispatch"],
             "subject": "new {{number}}", "body": ""}
        ]
    })
}

fn notes(r: &StepResult) -> Vec<&Notification> {
    r.actions
        .iter()
        .map(|a| match a {
            Action::Notify(n) => n,
            other => panic!("unexpected action {other:?}"),
        })
        .collect()
}

fn sla(breached: bool) -> Trigger {
    let e = SlaEvent { target: SlaTarget::Resolution, percent: if breached { 100 } else { 75 }, due_at: 1_795_442_400_000 };
    if breached { Trigger::SlaBreached(e) } else { Trigger::SlaWarning(e) }
}

#[test]
fn table() {
    // (trigger, ticket edit, expected [(rule subject, recipients)])
    type Case = (Trigger, fn(&mut Ticket), Vec<(&'static str, Vec<&'static str>)>);
    let cases: Vec<Case> = vec![
        (Trigger::TicketCreated, |_| {}, vec![("[INC-000042] received: Mail is slow", vec!["alice"])]),
        (
            Trigger::TicketCreated,
            |t| t.status = Status::New,
            vec![("[INC-000042] received: Mail is slow", vec!["alice"]), ("new INC-000042", vec!["group:dispatch"])],
        ),
        (Trigger::TicketUpdated(vec!["assignee".into()]), |_| {}, vec![("INC-000042 assigned to bob", vec!["bob", "group:messaging"])]),
        // Nobody to tell: the rule is skipped.
        (
            Trigger::TicketUpdated(vec!["assignee".into()]),
            |t| {
                t.assignee = None;
                t.assignment_group = None;
            },
            vec![],
        ),
        (
            Trigger::TicketUpdated(vec!["status".into()]),
            |t| t.status = Status::InProgress,
            vec![("INC-000042 is now in progress", vec!["alice", "carol"])],
        ),
        (
            Trigger::TicketUpdated(vec!["status".into(), "resolution_code".into()]),
            |t| t.status = Status::Resolved,
            vec![("INC-000042 is now resolved", vec!["alice", "carol"]), ("INC-000042 resolved", vec!["alice"])],
        ),
        (Trigger::TicketUpdated(vec!["title".into()]), |_| {}, vec![]),
        (
            sla(false),
            |_| {},
            vec![(
                "SLA sla_warning: INC-000042 (resolution 75%)",
                vec!["group:messaging", "group:windows", "group:major-incident", "oncall@example.com"],
            )],
        ),
        (sla(true), |t| t.priority = 3, vec![]),
        (Trigger::Manual("bob".into()), |_| {}, vec![]),
    ];
    for (i, (trigger, edit, expected)) in cases.into_iter().enumerate() {
        let mut t = ticket();
        edit(&mut t);
        let r = notify(&input(&config(), trigger, Some(t))).unwrap();
        let got: Vec<(String, Vec<String>)> = notes(&r).iter().map(|n| (n.subject.clone(), n.recipients.clone())).collect();
        let want: Vec<(String, Vec<String>)> =
            expected.into_iter().map(|(s, r)| (s.to_string(), r.into_iter().map(String::from).collect())).collect();
        assert_eq!(got, want, "case {i}");
    }
}

#[test]
fn bodies_and_channels() {
    let r = notify(&input(&config(), sla(false), Some(ticket()))).unwrap();
    let n = notes(&r)[0];
    assert_eq!(n.channel, "email");
    assert_eq!(n.body, "Due 2026-11-23 14:00 UTC; CI exch-01 (server), service Email; now 2026-11-23 13:30 UTC");
    let mut t = ticket();
    t.status = Status::Resolved;
    let r = notify(&input(&config(), Trigger::TicketUpdated(vec!["status".into()]), Some(t))).unwrap();
    assert_eq!(notes(&r)[1].channel, "webhook");
}

#[test]
fn subject_is_one_line_and_values_are_not_expanded() {
    let cfg =
        json!({"rules": [{"name": "a", "on": ["created"], "recipients": ["requester"], "subject": "{{title}}", "body": "{{title}}"}]});
    let mut t = ticket();
    t.title = "Bcc: evil@x\r\nline {{number}}".into();
    let r = notify(&input(&cfg, Trigger::TicketCreated, Some(t))).unwrap();
    let n = notes(&r)[0];
    assert_eq!(n.subject, "Bcc: evil@x  line {{number}}");
    assert_eq!(n.body, "Bcc: evil@x\r\nline {{number}}");
}

#[test]
fn no_ticket_still_sends_to_explicit_recipients() {
    let cfg = json!({"rules": [{"name": "cron", "on": ["cron"], "recipients": ["requester", "group:noc"], "subject": "tick {{number}}", "body": "{{now}}"}]});
    let trigger = Trigger::Cron(crate::bindings::switchyard::plugin::types::CronTick { schedule: "0 * * * *".into(), scheduled_at: 0 });
    let r = notify(&input(&cfg, trigger, None)).unwrap();
    let n = notes(&r)[0];
    assert_eq!(n.recipients, vec!["group:noc".to_string()]);
    assert_eq!(n.subject, "tick");
}

#[test]
fn invalid_configs() {
    let rule = |extra: Value| {
        let mut r = json!({"name": "a", "on": ["created"], "recipients": ["requester"], "subject": "s", "body": "b"});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        json!({"rules": [r]})
    };
    for cfg in [
        json!({"rules": []}),
        json!({}),
        rule(json!({"on": ["deleted"]})),
        rule(json!({"on": []})),
        rule(json!({"subject": "{{secret}}"})),
        rule(json!({"body": "{{title"})),
        rule(json!({"subject": " "})),
        rule(json!({"recipients": ["everyone"]})),
        rule(json!({"recipients": []})),
        rule(json!({"recipients": ["group_manager"]})),
        rule(json!({"fields": ["status"]})),
        rule(json!({"statuses": ["open"]})),
        rule(json!({"max_priority": 9})),
        rule(json!({"channel": "Email Now"})),
        rule(json!({"colour": "red"})),
    ] {
        let errors = parse_config(&cfg.to_string());
        assert!(errors.is_err(), "{cfg}");
        let r = notify(&input(&cfg, Trigger::TicketCreated, Some(ticket())));
        assert!(matches!(r, Err(StepError::InvalidConfig(_))), "{cfg}");
    }
    assert!(parse_config(&config().to_string()).is_ok());
}

#[test]
fn example_config_is_valid() {
    assert!(parse_config(include_str!("../example-config.json")).is_ok());
}

#[test]
fn odd_inputs_never_panic() {
    for cfg in switchyard_plugin_kit::odd_config_texts() {
        let _ = parse_config(&cfg);
        let mut i = input(&json!({}), Trigger::TicketCreated, Some(ticket()));
        i.config = cfg;
        assert!(notify(&i).is_err());
    }
    let mut t = ticket();
    t.created_at = i64::MIN;
    t.updated_at = i64::MAX;
    t.priority = 0;
    t.title = "{{".repeat(1000);
    let mut i = input(&config(), Trigger::TicketUpdated(vec![String::new(); 3]), Some(t));
    i.context.now = i64::MIN;
    i.previous.push(StepOutput { step_id: String::new(), output: "[".repeat(10_000) });
    assert!(notify(&i).is_ok());
}
