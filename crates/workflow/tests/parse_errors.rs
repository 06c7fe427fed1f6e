//! Every bad document is refused with the exact path, rule and (where
//! given) line of each problem.

use switchyard_workflow::{Format, Problems, parse};

const BASE: &str = "\
id: wf
name: W
version: 1
triggers:
  - ticket_created: {}
steps:
  - id: a
    plugin: routing
";

/// The base document with `extra` appended (at line 9).
fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn problems(text: &str, format: Format) -> Problems {
    match parse(text, format) {
        Ok(doc) => panic!("accepted:\n{text}\nas {doc:?}"),
        Err(problems) => problems,
    }
}

/// (name, document, expected problems as (path, rule, line)).
type Case = (&'static str, String, Vec<(&'static str, &'static str, Option<usize>)>);

fn yaml_cases() -> Vec<Case> {
    let steps = |body: &str| format!("id: wf\nname: W\nversion: 1\ntriggers:\n  - ticket_created: {{}}\nsteps:\n{body}");
    let trigger = |body: &str| format!("id: wf\nname: W\nversion: 1\ntriggers:\n  - {body}\nsteps:\n  - id: a\n    plugin: routing\n");
    vec![
        // Unknown keys at several depths.
        ("unknown top-level key", with("colour: red\n"), vec![("colour", "unknown_field", Some(9))]),
        (
            "unknown step key",
            steps("  - id: a\n    plugin: routing\n    retries: 3\n"),
            vec![("steps[0].retries", "unknown_field", Some(9))],
        ),
        (
            "unknown retry key",
            steps("  - id: a\n    plugin: routing\n    retry: { max_attempts: 2, jitter: true }\n"),
            vec![("steps[0].retry.jitter", "unknown_field", Some(9))],
        ),
        ("unknown trigger kind", trigger("ticket_deleted: {}"), vec![("triggers[0].ticket_deleted", "unknown_field", Some(5))]),
        (
            "unknown cron key",
            trigger("cron: { schedule: \"0 * * * * *\", every: hour }"),
            vec![("triggers[0].cron.every", "unknown_field", Some(5))],
        ),
        (
            "options on a trigger without options",
            trigger("ticket_created: { fields: [status] }"),
            vec![("triggers[0].ticket_created.fields", "unknown_field", Some(5))],
        ),
        (
            "unknown key in a nested condition",
            with("conditions:\n  all:\n    - any:\n        - { field: status, op: eq, value: new, negate: true }\n"),
            vec![("conditions.all[0].any[0].negate", "unknown_field", Some(12))],
        ),
        // Cron and time zones.
        ("bad cron", trigger("cron: { schedule: \"0 61 * * * *\" }"), vec![("triggers[0].cron.schedule", "cron", Some(5))]),
        ("cron with 3 fields", trigger("cron: { schedule: \"* * *\" }"), vec![("triggers[0].cron.schedule", "cron", Some(5))]),
        (
            "bad timezone",
            trigger("cron:\n      schedule: \"0 0 * * * *\"\n      timezone: Europe/Atlantis"),
            vec![("triggers[0].cron.timezone", "timezone", Some(7))],
        ),
        // Conditions.
        (
            "unknown condition field",
            with("conditions:\n  all:\n    - { field: prio, op: eq, value: 1 }\n"),
            vec![("conditions.all[0].field", "field", Some(11))],
        ),
        (
            "unknown field in a step's when",
            steps("  - id: a\n    plugin: routing\n    when:\n      any:\n        - { field: custom_fields, op: exists }\n"),
            vec![("steps[0].when.any[0].field", "field", Some(11))],
        ),
        (
            "unknown field in ticket_updated",
            trigger("ticket_updated: { fields: [status, colour] }"),
            vec![("triggers[0].ticket_updated.fields[1]", "field", Some(5))],
        ),
        ("bad CEL", with("conditions:\n  all:\n    - expr: \"ticket.impact == (1\"\n"), vec![("conditions.all[0].expr", "expr", Some(11))]),
        (
            "CEL with an unknown variable",
            with("conditions:\n  all:\n    - expr: \"incident.impact == 1\"\n"),
            vec![("conditions.all[0].expr", "expr", Some(11))],
        ),
        (
            "unknown op",
            with("conditions:\n  any:\n    - { field: status, op: like, value: new }\n"),
            vec![("conditions.any[0].op", "enum", Some(11))],
        ),
        (
            "in needs a list",
            with("conditions:\n  any:\n    - { field: status, op: in, value: new }\n"),
            vec![("conditions.any[0].value", "type", Some(11))],
        ),
        (
            "exists takes no value",
            with("conditions:\n  any:\n    - { field: assignee, op: exists, value: true }\n"),
            vec![("conditions.any[0].value", "not_allowed", Some(11))],
        ),
        (
            "eq needs a value",
            with("conditions:\n  any:\n    - { field: status, op: eq }\n"),
            vec![("conditions.any[0].value", "required", Some(11))],
        ),
        (
            "a condition of two shapes",
            with("conditions:\n  any:\n    - { field: status, op: eq, value: new, all: [{ expr: \"true\" }] }\n"),
            vec![("conditions.any[0]", "one_of", Some(11))],
        ),
        ("an empty group", with("conditions:\n  all: []\n"), vec![("conditions.all", "required", Some(10))]),
        (
            "a group with all and any",
            with("conditions:\n  all: [{ expr: \"true\" }]\n  any: [{ expr: \"true\" }]\n"),
            vec![("conditions", "one_of", Some(9))],
        ),
        // Steps.
        (
            "duplicate step ids",
            steps("  - id: a\n    plugin: routing\n  - id: b\n    plugin: routing\n  - id: a\n    plugin: notification\n"),
            vec![("steps[2].id", "unique", Some(11))],
        ),
        (
            "goto a missing step",
            steps("  - id: a\n    plugin: routing\n    on_failure: { goto: nowhere }\n"),
            vec![("steps[0].on_failure.goto", "goto", Some(9))],
        ),
        (
            "goto backwards",
            steps("  - id: a\n    plugin: routing\n  - id: b\n    plugin: routing\n    on_failure:\n      goto: a\n"),
            vec![("steps[1].on_failure.goto", "cycle", Some(12))],
        ),
        (
            "goto itself",
            steps("  - id: a\n    plugin: routing\n    on_failure: { goto: a }\n"),
            vec![("steps[0].on_failure.goto", "cycle", Some(9))],
        ),
        (
            "bad on_failure",
            steps("  - id: a\n    plugin: routing\n    on_failure: abort\n"),
            vec![("steps[0].on_failure", "one_of", Some(9))],
        ),
        (
            "goto of the wrong type",
            steps("  - id: a\n    plugin: routing\n    on_failure: { goto: 5 }\n"),
            vec![("steps[0].on_failure.goto", "type", Some(9))],
        ),
        (
            "bad version requirement",
            steps("  - id: a\n    plugin: routing\n    version: \"~>1.0\"\n"),
            vec![("steps[0].version", "version", Some(9))],
        ),
        (
            "retry out of range",
            steps(
                "  - id: a\n    plugin: routing\n    retry: { max_attempts: 21 }\n  - id: b\n    plugin: routing\n    retry:\n      max_attempts: 0\n      multiplier: 0.5\n",
            ),
            vec![
                ("steps[0].retry.max_attempts", "range", Some(9)),
                ("steps[1].retry.max_attempts", "range", Some(13)),
                ("steps[1].retry.multiplier", "range", Some(14)),
            ],
        ),
        (
            "timeout out of range",
            steps("  - id: a\n    plugin: routing\n    timeout_ms: 60001\n"),
            vec![("steps[0].timeout_ms", "range", Some(9))],
        ),
        (
            "config must be an object",
            steps("  - id: a\n    plugin: routing\n    config: [1]\n"),
            vec![("steps[0].config", "type", Some(9))],
        ),
        ("bad step id", steps("  - id: Step One\n    plugin: routing\n"), vec![("steps[0].id", "pattern", Some(7))]),
        ("missing plugin", steps("  - id: a\n"), vec![("steps[0].plugin", "required", Some(7))]),
        ("empty steps", "id: wf\nname: W\nversion: 1\ntriggers:\n  - manual: {}\nsteps: []\n".into(), vec![("steps", "required", Some(6))]),
        ("missing steps", "id: wf\nname: W\nversion: 1\ntriggers:\n  - manual: {}\n".into(), vec![("steps", "required", Some(1))]),
        // The document itself.
        (
            "empty triggers",
            "id: wf\nname: W\nversion: 1\ntriggers: []\nsteps:\n  - { id: a, plugin: routing }\n".into(),
            vec![("triggers", "required", Some(4))],
        ),
        ("empty trigger", trigger("{}"), vec![("triggers[0]", "required", Some(5))]),
        ("two kinds in one trigger", trigger("{ ticket_created: {}, manual: {} }"), vec![("triggers[0]", "one_of", Some(5))]),
        ("bad workflow id", BASE.replace("id: wf", "id: Wf_1"), vec![("id", "pattern", Some(1))]),
        ("version 0", BASE.replace("version: 1", "version: 0"), vec![("version", "range", Some(3))]),
        ("version of the wrong type", BASE.replace("version: 1", "version: one"), vec![("version", "type", Some(3))]),
        ("duplicate key", with("name: Again\n"), vec![("name", "unique", Some(9))]),
        ("not an object", "- just\n- a list\n".into(), vec![("", "type", Some(1))]),
        // Syntax.
        ("YAML syntax error", with("conditions:\n  all: [ { field: status\n"), vec![("", "syntax", Some(11))]),
        ("YAML bad indentation", with("notes:\n    a: 1\n   b: 2\n"), vec![("", "syntax", Some(11))]),
    ]
}

#[test]
fn yaml_problems() {
    let mut failures = Vec::new();
    for (name, text, expected) in yaml_cases() {
        let found = problems(&text, Format::Yaml);
        let got: Vec<(&str, &str, Option<usize>)> = found.0.iter().map(|p| (p.path.as_str(), p.rule.as_str(), p.line)).collect();
        if got != expected {
            failures.push(format!("{name}:\n  expected {expected:?}\n  got      {got:?}\n  {}", found.to_string().replace('\n', "\n  ")));
        }
        for p in &found.0 {
            assert!(!p.message.is_empty(), "{name}: empty message");
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), yaml_cases().len(), failures.join("\n"));
}

#[test]
fn json_syntax_errors_carry_the_line() {
    let text = "{\n  \"id\": \"wf\",\n  \"name\": \"W\",,\n  \"version\": 1\n}";
    let found = problems(text, Format::Json);
    assert_eq!(found.0.len(), 1);
    assert_eq!((found.0[0].path.as_str(), found.0[0].rule.as_str(), found.0[0].line), ("", "syntax", Some(3)));
    assert!(found.0[0].message.contains("column"), "{}", found.0[0].message);
    let truncated = "{\n  \"id\": \"wf\",\n  \"steps\": [\n";
    let found = problems(truncated, Format::Json);
    assert_eq!(found.0[0].rule, "syntax");
    assert_eq!(found.0[0].line, Some(4), "the end of the text");
}

#[test]
fn json_problems_carry_lines() {
    let text = r#"{
  "id": "wf",
  "name": "W",
  "version": 1,
  "triggers": [{ "cron": { "schedule": "0 0 * * * *", "timezone": "Nowhere/Town" } }],
  "steps": [
    { "id": "a", "plugin": "routing" },
    {
      "id": "a",
      "plugin": "routing",
      "extra": true
    }
  ]
}"#;
    let found = problems(text, Format::Json);
    let got: Vec<(&str, &str, Option<usize>)> = found.0.iter().map(|p| (p.path.as_str(), p.rule.as_str(), p.line)).collect();
    assert_eq!(
        got,
        [
            ("triggers[0].cron.timezone", "timezone", Some(5)),
            ("steps[1].id", "unique", Some(9)),
            ("steps[1].extra", "unknown_field", Some(11)),
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "\
id: wf
name: W
version: 1
colour: red
triggers:
  - cron: { schedule: \"every day\", timezone: \"Mars/Base\" }
conditions:
  all:
    - { field: prio, op: eq, value: 1 }
    - { expr: \"ticket.(\" }
steps:
  - id: a
    plugin: routing
    version: \"not a version\"
    on_failure: { goto: z }
  - id: a
    plugin: routing
    retry: { max_attempts: 50 }
";
    let found = problems(text, Format::Yaml);
    let got: Vec<(&str, &str, Option<usize>)> = found.0.iter().map(|p| (p.path.as_str(), p.rule.as_str(), p.line)).collect();
    assert_eq!(
        got,
        [
            ("colour", "unknown_field", Some(4)),
            ("triggers[0].cron.schedule", "cron", Some(6)),
            ("triggers[0].cron.timezone", "timezone", Some(6)),
            ("conditions.all[0].field", "field", Some(9)),
            ("conditions.all[1].expr", "expr", Some(10)),
            ("steps[0].version", "version", Some(14)),
            ("steps[0].on_failure.goto", "goto", Some(15)),
            ("steps[1].id", "unique", Some(16)),
            ("steps[1].retry.max_attempts", "range", Some(18)),
        ]
    );
    let shown = found.to_string();
    assert_eq!(shown.lines().count(), 9);
    assert!(shown.starts_with("colour (line 4): unknown field `colour`; expected one of: "), "{shown}");
}

#[test]
fn messages_say_what_is_wrong() {
    let found = problems(&with("colour: red\n"), Format::Yaml);
    assert!(
        found.0[0].message.contains("expected one of: conditions, description, enabled, id, name, steps, triggers, version"),
        "{}",
        found.0[0].message
    );
    let found = problems(&BASE.replace("plugin: routing", "plugin: routing\n    version: \"1.0.x.y\""), Format::Yaml);
    assert!(found.0[0].message.contains("not a semver requirement"), "{}", found.0[0].message);
}
