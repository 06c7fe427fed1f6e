//! The alert parsers over payloads shaped as Alertmanager, Grafana and a
//! generic sender send them (`tests/payloads/`), and over bad input.

use std::path::PathBuf;

use serde_json::Value;
use switchyard_webhooks::alert::{self, labels_fingerprint};
use switchyard_webhooks::{Alert, AlertStatus, Mapping, PayloadError};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/payloads").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn mapping() -> Mapping {
    serde_json::from_str(
        r#"{
            "alerts": "items",
            "title": "alert.name",
            "description": "alert.details",
            "severity": "alert.level",
            "ci": "host.name",
            "fingerprint": "alert.id",
            "status": "state",
            "resolved_values": ["resolved", "ok", "closed"],
            "labels": {"service": "tags.service", "port": "tags.port"}
        }"#,
    )
    .unwrap()
}

/// What one alert is expected to be.
struct Want {
    /// Empty: a hash, checked apart.
    fingerprint: &'static str,
    status: AlertStatus,
    title: &'static str,
    description: &'static str,
    severity: Option<&'static str>,
    source_url: Option<&'static str>,
    starts_at: Option<&'static str>,
    ends_at: Option<&'static str>,
    label: (&'static str, &'static str),
}

fn check(file: &str, alerts: &[Alert], wants: &[Want]) {
    assert_eq!(alerts.len(), wants.len(), "{file}: number of alerts");
    for (i, (alert, want)) in alerts.iter().zip(wants).enumerate() {
        let at = format!("{file} alert {i}");
        if !want.fingerprint.is_empty() {
            assert_eq!(alert.fingerprint, want.fingerprint, "{at}: fingerprint");
        }
        assert_eq!(alert.status, want.status, "{at}: status");
        assert_eq!(alert.title, want.title, "{at}: title");
        assert_eq!(alert.description, want.description, "{at}: description");
        assert_eq!(alert.severity.as_deref(), want.severity, "{at}: severity");
        assert_eq!(alert.source_url.as_deref(), want.source_url, "{at}: source_url");
        assert_eq!(alert.starts_at.map(|t| t.to_rfc3339()).as_deref(), want.starts_at, "{at}: starts_at");
        assert_eq!(alert.ends_at.map(|t| t.to_rfc3339()).as_deref(), want.ends_at, "{at}: ends_at");
        assert_eq!(alert.labels.get(want.label.0).map(String::as_str), Some(want.label.1), "{at}: label {}", want.label.0);
    }
}

type Parser = fn(&[u8]) -> Result<Vec<Alert>, PayloadError>;

fn generic(body: &[u8]) -> Result<Vec<Alert>, PayloadError> {
    alert::parse_generic(&mapping(), body)
}

const LATENCY_URL: &str = "http://prometheus.example.org:9090/graph?g0.expr=histogram_quantile%280.99%2C+sum+by+%28instance%2C+le%29+%28rate%28http_request_duration_seconds_bucket%5B5m%5D%29%29%29+%3E+0.5&g0.tab=1";
const CRASH_URL: &str = "http://prometheus.example.org:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%7Breason%3D%22CrashLoopBackOff%22%7D%5B5m%5D%29+%3E%3D+1&g0.tab=1";

#[test]
fn fixtures_parse() {
    let table: Vec<(&str, Parser, Vec<Want>)> = vec![
        (
            "alertmanager-firing.json",
            alert::parse_alertmanager,
            vec![
                Want {
                    fingerprint: "5f1f4e2e3ad6a0b1",
                    status: AlertStatus::Firing,
                    title: "High request latency on api-1.example.org:8080",
                    description: "99th percentile latency on api-1.example.org:8080 has been above 500ms for 10 minutes (current value: 0.82s).",
                    severity: Some("critical"),
                    source_url: Some(LATENCY_URL),
                    starts_at: Some("2024-03-12T08:14:25.839+00:00"),
                    ends_at: None,
                    label: ("instance", "api-1.example.org:8080"),
                },
                Want {
                    fingerprint: "8c2a0c7d91b34e55",
                    status: AlertStatus::Firing,
                    title: "High request latency on api-2.example.org:8080",
                    description: "99th percentile latency on api-2.example.org:8080 has been above 500ms for 10 minutes (current value: 0.61s).",
                    severity: Some("critical"),
                    source_url: Some(LATENCY_URL),
                    starts_at: Some("2024-03-12T08:15:10.112+00:00"),
                    ends_at: None,
                    label: ("instance", "api-2.example.org:8080"),
                },
            ],
        ),
        (
            "alertmanager-resolved.json",
            alert::parse_alertmanager,
            vec![Want {
                fingerprint: "a3b5e1f0c2d49e77",
                status: AlertStatus::Resolved,
                // No summary: the alert name on the instance.
                title: "InstanceDown on db01.example.org:9100",
                description: "db01.example.org:9100 of job node has been down for more than 5 minutes.",
                severity: Some("page"),
                source_url: Some("http://prometheus.example.org:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"),
                starts_at: Some("2024-03-12T07:58:40.500+00:00"),
                ends_at: Some("2024-03-12T08:31:40.500+00:00"),
                label: ("job", "node"),
            }],
        ),
        (
            "alertmanager-grouped-mixed.json",
            alert::parse_alertmanager,
            vec![
                Want {
                    fingerprint: "0e6c4c0b6f3d2a19",
                    status: AlertStatus::Firing,
                    title: "Pod is crash looping.",
                    description: "Pod shop/checkout-7d9f8b6c5-x2x9q (checkout) is in waiting state (reason: \"CrashLoopBackOff\").",
                    severity: Some("warning"),
                    source_url: Some(CRASH_URL),
                    starts_at: Some("2024-03-12T09:02:11.404+00:00"),
                    ends_at: None,
                    label: ("pod", "checkout-7d9f8b6c5-x2x9q"),
                },
                Want {
                    fingerprint: "7b21d0f9aa4c5e03",
                    // The alert's own status wins over the group's `firing`.
                    status: AlertStatus::Resolved,
                    title: "KubePodCrashLooping on 10.42.3.17:8080",
                    description: "",
                    severity: Some("warning"),
                    source_url: Some(CRASH_URL),
                    starts_at: Some("2024-03-12T08:40:11.404+00:00"),
                    ends_at: Some("2024-03-12T09:05:11.404+00:00"),
                    label: ("pod", "cart-5c8d7f9b4-k7m2p"),
                },
            ],
        ),
        (
            "grafana-firing.json",
            alert::parse_grafana,
            vec![
                Want {
                    fingerprint: "c6eadffa33fcdf37",
                    status: AlertStatus::Firing,
                    title: "This alert was triggered for zone us-1",
                    description: "The system has high memory usage",
                    severity: None,
                    // The panel first.
                    source_url: Some("https://play.grafana.org/d/a8b3f23c?orgId=1&viewPanel=4"),
                    starts_at: Some("2021-10-12T07:51:03.157076+00:00"),
                    ends_at: None,
                    label: ("zone", "us-1"),
                },
                Want {
                    fingerprint: "bc97ff14869b13e3",
                    status: AlertStatus::Firing,
                    title: "This alert was triggered for zone eu-1",
                    description: "The system has high CPU usage",
                    severity: None,
                    // No panel: the dashboard.
                    source_url: Some("https://play.grafana.org/d/a8b3f23c?orgId=1"),
                    starts_at: Some("2021-10-12T07:56:03.157076+00:00"),
                    ends_at: None,
                    label: ("team", "blue"),
                },
            ],
        ),
        (
            "grafana-resolved.json",
            alert::parse_grafana,
            vec![Want {
                fingerprint: "2d7c1e0b4a9f6e38",
                status: AlertStatus::Resolved,
                title: "Less than 10% disk space left on db01:9100 /var",
                // No description: the summary.
                description: "Less than 10% disk space left on db01:9100 /var",
                severity: Some("warning"),
                // No panel, no dashboard: the rule.
                source_url: Some("https://grafana.example.org/alerting/grafana/fdk3lz9q1x/view?orgId=1"),
                starts_at: Some("2024-03-12T06:10:00+00:00"),
                ends_at: Some("2024-03-12T07:25:00+00:00"),
                label: ("grafana_folder", "Infrastructure"),
            }],
        ),
        (
            "generic.json",
            generic,
            vec![
                Want {
                    fingerprint: "chk-4711",
                    status: AlertStatus::Firing,
                    title: "Checkout page returns 503",
                    description: "3 of 3 probe locations got HTTP 503 from https://shop.example.org/checkout",
                    severity: Some("critical"),
                    source_url: None,
                    starts_at: None,
                    ends_at: None,
                    label: ("ci", "shop-web-01"),
                },
                Want {
                    // No id: the hash of the title and the CI (checked below).
                    fingerprint: "",
                    status: AlertStatus::Resolved,
                    title: "Certificate expires in 5 days",
                    description: "",
                    // A number, written out.
                    severity: Some("2"),
                    source_url: None,
                    starts_at: None,
                    ends_at: None,
                    label: ("port", "443"),
                },
            ],
        ),
    ];
    for (file, parse, wants) in table {
        let alerts = parse(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        if file == "generic.json" {
            assert_eq!(alerts[1].fingerprint.len(), 32);
            assert!(alerts[1].fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(alerts[1].labels.get("service").map(String::as_str), Some("mail"));
        }
        check(file, &alerts, &wants);
    }
}

#[test]
fn annotations_are_kept() {
    let alerts = alert::parse_alertmanager(&fixture("alertmanager-firing.json")).unwrap();
    assert_eq!(alerts[0].annotations["runbook_url"], "https://runbooks.example.org/HighRequestLatency");
    assert_eq!(alerts[0].labels.len(), 4);
}

/// The fixture as JSON, changed by `edit`, back to bytes.
fn edited(file: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture(file)).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn fallbacks() {
    // No fingerprint: the hash of the labels, the same for the same labels.
    let body = edited("alertmanager-firing.json", |v| {
        for alert in v["alerts"].as_array_mut().unwrap() {
            alert.as_object_mut().unwrap().remove("fingerprint");
        }
    });
    let alerts = alert::parse_alertmanager(&body).unwrap();
    assert_eq!(alerts[0].fingerprint, labels_fingerprint(&alerts[0].labels));
    assert_ne!(alerts[0].fingerprint, alerts[1].fingerprint);
    assert_eq!(alert::parse_alertmanager(&body).unwrap()[0].fingerprint, alerts[0].fingerprint);

    // An empty fingerprint counts as none.
    let body = edited("alertmanager-firing.json", |v| v["alerts"][0]["fingerprint"] = "".into());
    let alerts = alert::parse_alertmanager(&body).unwrap();
    assert_eq!(alerts[0].fingerprint, labels_fingerprint(&alerts[0].labels));

    // No summary, no instance: the alert name; no labels at all: the fingerprint.
    let body = edited("alertmanager-firing.json", |v| {
        let alert = &mut v["alerts"][0];
        alert["annotations"] = serde_json::json!({});
        alert["labels"].as_object_mut().unwrap().remove("instance");
        v["alerts"][1]["labels"] = serde_json::json!({});
        v["alerts"][1]["annotations"] = serde_json::json!({});
    });
    let alerts = alert::parse_alertmanager(&body).unwrap();
    assert_eq!(alerts[0].title, "HighRequestLatency");
    assert_eq!(alerts[0].description, "");
    assert_eq!(alerts[1].title, "Alert 8c2a0c7d91b34e55");
    assert_eq!(alerts[1].severity, None);

    // No status on the alert: the group's.
    let body = edited("alertmanager-resolved.json", |v| {
        v["alerts"][0].as_object_mut().unwrap().remove("status");
    });
    assert_eq!(alert::parse_alertmanager(&body).unwrap()[0].status, AlertStatus::Resolved);

    // The same fields through the generic mapping give the same hash.
    let a = generic(br#"{"items": [{"alert": {"name": "x"}, "host": {"name": "h"}}]}"#).unwrap();
    let b = generic(br#"{"items": [{"alert": {"name": "x", "level": "low"}, "host": {"name": "h"}, "state": "ok"}]}"#).unwrap();
    let c = generic(br#"{"items": [{"alert": {"name": "x"}, "host": {"name": "other"}}]}"#).unwrap();
    assert_eq!(a[0].fingerprint, b[0].fingerprint);
    assert_ne!(a[0].fingerprint, c[0].fingerprint);
}

#[test]
fn generic_without_an_alerts_path_is_one_alert() {
    let mapping: Mapping =
        serde_json::from_str(r#"{"title": "name", "ci": "host", "status": "state", "labels": {"k": "[\"a.b\"]"}}"#).unwrap();
    let alerts = alert::parse_generic(&mapping, br#"{"name": "Backup failed", "host": "nas-1", "state": "CLOSED", "a.b": true}"#).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].title, "Backup failed");
    assert_eq!(alerts[0].status, AlertStatus::Resolved);
    assert_eq!(alerts[0].labels["ci"], "nas-1");
    assert_eq!(alerts[0].labels["k"], "true");
    // The root as the list, and `$` as the title.
    let mapping = Mapping { alerts: Some("$".into()), title: "$".into(), ..Mapping::default() };
    let alerts = alert::parse_generic(&mapping, br#"["disk full", 42]"#).unwrap();
    assert_eq!(alerts.iter().map(|a| a.title.as_str()).collect::<Vec<_>>(), ["disk full", "42"]);
    let err = alert::parse_generic(&mapping, br#"["disk full", {"x": 1}]"#).unwrap_err();
    assert_eq!((err.field.as_str(), err.rule), ("[1]", "type"));
}

#[test]
fn bad_input_names_the_field() {
    let am = alert::parse_alertmanager as Parser;
    let gf = alert::parse_grafana as Parser;
    let gn = generic as Parser;
    let firing = |edit: fn(&mut Value)| edited("alertmanager-firing.json", edit);
    let table: Vec<(&str, Parser, Vec<u8>, &str, &str)> = vec![
        ("not JSON", am, b"version=4&alerts=".to_vec(), "body", "json"),
        ("not JSON (empty)", gf, Vec::new(), "body", "json"),
        ("not JSON (generic)", gn, b"{\"items\": [".to_vec(), "body", "json"),
        ("not an object", am, b"[1, 2]".to_vec(), "body", "type"),
        ("wrong version", am, firing(|v| v["version"] = "3".into()), "version", "version"),
        ("Grafana's version at Alertmanager", am, fixture("grafana-firing.json"), "version", "version"),
        ("Alertmanager's version at Grafana", gf, fixture("alertmanager-firing.json"), "version", "version"),
        ("version a number", am, firing(|v| v["version"] = 4.into()), "version", "type"),
        ("no version", am, firing(|v| drop(v.as_object_mut().unwrap().remove("version"))), "version", "required"),
        ("no alerts", am, firing(|v| drop(v.as_object_mut().unwrap().remove("alerts"))), "alerts", "required"),
        ("alerts not an array", am, firing(|v| v["alerts"] = serde_json::json!({"0": {}})), "alerts", "type"),
        ("alerts empty", am, firing(|v| v["alerts"] = serde_json::json!([])), "alerts", "empty"),
        ("an alert not an object", am, firing(|v| v["alerts"][1] = "firing".into()), "alerts[1]", "type"),
        ("a label not a string", am, firing(|v| v["alerts"][1]["labels"]["severity"] = 2.into()), "alerts[1].labels.severity", "type"),
        (
            "a dotted label not a string",
            am,
            firing(|v| v["alerts"][0]["labels"]["app.kubernetes.io/name"] = true.into()),
            "alerts[0].labels[\"app.kubernetes.io/name\"]",
            "type",
        ),
        ("labels not an object", am, firing(|v| v["alerts"][1]["labels"] = serde_json::json!(["a"])), "alerts[1].labels", "type"),
        (
            "an annotation not a string",
            gf,
            edited("grafana-firing.json", |v| v["alerts"][0]["annotations"]["summary"] = serde_json::json!({})),
            "alerts[0].annotations.summary",
            "type",
        ),
        ("status unknown", am, firing(|v| v["alerts"][0]["status"] = "pending".into()), "alerts[0].status", "format"),
        ("group status unknown", am, firing(|v| v["status"] = "pending".into()), "status", "format"),
        (
            "no status anywhere",
            am,
            firing(|v| {
                v.as_object_mut().unwrap().remove("status");
                v["alerts"][1].as_object_mut().unwrap().remove("status");
            }),
            "alerts[1].status",
            "required",
        ),
        ("startsAt not a time", am, firing(|v| v["alerts"][0]["startsAt"] = "yesterday".into()), "alerts[0].startsAt", "format"),
        ("endsAt a number", gf, edited("grafana-firing.json", |v| v["alerts"][1]["endsAt"] = 0.into()), "alerts[1].endsAt", "type"),
        ("generatorURL a number", am, firing(|v| v["alerts"][0]["generatorURL"] = 1.into()), "alerts[0].generatorURL", "type"),
        (
            "generic: a title missing",
            gn,
            edited("generic.json", |v| drop(v["items"][1]["alert"].as_object_mut().unwrap().remove("name"))),
            "items[1].alert.name",
            "required",
        ),
        (
            "generic: a title empty",
            gn,
            edited("generic.json", |v| v["items"][0]["alert"]["name"] = " ".into()),
            "items[0].alert.name",
            "empty",
        ),
        (
            "generic: a title an object",
            gn,
            edited("generic.json", |v| v["items"][0]["alert"]["name"] = serde_json::json!({"en": "x"})),
            "items[0].alert.name",
            "type",
        ),
        (
            "generic: a label an array",
            gn,
            edited("generic.json", |v| v["items"][1]["tags"]["service"] = serde_json::json!([1])),
            "items[1].tags.service",
            "type",
        ),
        ("generic: no items", gn, b"{}".to_vec(), "items", "required"),
        ("generic: items not an array", gn, b"{\"items\": {}}".to_vec(), "items", "type"),
        ("generic: items empty", gn, b"{\"items\": []}".to_vec(), "items", "empty"),
    ];
    for (case, parse, body, field, rule) in table {
        match parse(&body) {
            Ok(alerts) => panic!("{case}: accepted as {alerts:?}"),
            Err(err) => {
                assert_eq!((err.field.as_str(), err.rule), (field, rule), "{case}: {err}");
                assert!(!err.message.is_empty(), "{case}");
                assert!(err.to_string().starts_with(field), "{case}: {err}");
            }
        }
    }
}

#[test]
fn a_bad_mapping_is_refused_before_the_payload_is_read() {
    let mut mapping = mapping();
    mapping.fingerprint = Some("alert..id".into());
    let err = alert::parse_generic(&mapping, b"not even JSON").unwrap_err();
    assert_eq!((err.field.as_str(), err.rule), ("mapping.fingerprint", "format"));
    assert!(mapping.check().is_err());
    assert!(self::mapping().check().is_ok());
}
