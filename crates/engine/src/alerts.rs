//! Alert intake: a monitoring system's payload (Alertmanager, Grafana, or
//! any JSON through an integration's mapping) becomes typed alerts
//! (`switchyard_webhooks::alert`), each alert an [`AlertInput`] with the
//! incident it would open (title, description with its labels, impact and
//! urgency from the integration's severity map, the CI its labels name,
//! channel `alert`), and the store applies them with dedup by fingerprint
//! in one transaction ([`Store::apply_alerts`]), queueing `alert.received`
//! deliveries for webhook subscriptions in the same transaction.
//!
//! Events carry the channel actor `alert:<integration>`, so workflows with
//! an `inbound_channel` trigger listing it route alerts like any other
//! intake.

use std::collections::BTreeMap;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_domain::cmdb::{CiClass, ConfigurationItem};
use switchyard_domain::incident::{Channel, Level};
use switchyard_domain::{DomainError, Violation};
use switchyard_store::{
    Actor, AlertInput, AlertRules, AppliedAlert, CreateIncident, IncidentRecord, IntegrationRecord, NewNotification, Store, StoreError,
};
use switchyard_webhooks::alert::{Alert, AlertStatus, Mapping, PayloadError, parse_alertmanager, parse_generic, parse_grafana};

use crate::webhooks::{EventType, Subscriptions, ticket_json};

/// Most alerts one payload may carry (each is locked and applied in the
/// payload's one transaction).
pub const MAX_ALERTS_PER_PAYLOAD: usize = 1000;

/// The kinds of alert integrations.
pub const ALERT_KINDS: &[&str] = &["alertmanager", "grafana", "generic"];

/// Impact and urgency for a severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    /// Impact (1 high .. 3 low).
    pub impact: Level,
    /// Urgency (1 high .. 3 low).
    pub urgency: Level,
}

/// What a resolved alert does to its incident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnResolve {
    /// Resolve the incident (unless a person has taken it over).
    #[default]
    Resolve,
    /// Only add a note.
    Note,
}

/// An alert integration's settings document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// The user alert incidents are logged for (a monitoring account).
    pub requester: String,
    /// Impact and urgency per severity label value (`critical`, `warning`...).
    #[serde(default = "default_severities")]
    pub severity: BTreeMap<String, Levels>,
    /// Impact and urgency of an alert whose severity is not in the map.
    #[serde(default = "default_levels")]
    pub default_levels: Levels,
    /// What a resolved alert does.
    #[serde(default)]
    pub on_resolve: OnResolve,
    /// Firing again this many minutes after resolving reopens the incident.
    #[serde(default = "default_flap")]
    pub flap_window_minutes: u32,
    /// Labels naming the CI, tried in order (`ci` is what a generic
    /// mapping's `ci` path fills).
    #[serde(default = "default_ci_labels")]
    pub ci_labels: Vec<String>,
    /// Match label values against this CI attribute instead of CI names.
    #[serde(default)]
    pub ci_attribute: Option<String>,
    /// Category of the incidents.
    #[serde(default)]
    pub category: Option<String>,
    /// Group the incidents are assigned to (workflows may route instead).
    #[serde(default)]
    pub assignment_group: Option<String>,
    /// The generic endpoint's mapping (required for `generic`).
    #[serde(default)]
    pub mapping: Option<Mapping>,
}

fn default_severities() -> BTreeMap<String, Levels> {
    let l = |impact: Level, urgency: Level| Levels { impact, urgency };
    let (h, m, lo) = (Level::HIGH, Level::MEDIUM, Level::LOW);
    BTreeMap::from([
        ("critical".to_owned(), l(h, h)),
        ("error".to_owned(), l(m, h)),
        ("high".to_owned(), l(m, h)),
        ("warning".to_owned(), l(m, m)),
        ("info".to_owned(), l(lo, lo)),
    ])
}

fn default_levels() -> Levels {
    Levels { impact: Level::MEDIUM, urgency: Level::MEDIUM }
}

fn default_flap() -> u32 {
    30
}

fn default_ci_labels() -> Vec<String> {
    ["ci", "service", "instance", "job"].map(String::from).to_vec()
}

/// Checks an alert integration's settings for `kind`; violations are named
/// `settings.<field>`.
pub fn check_settings(kind: &str, settings: &Value) -> Result<AlertSettings, DomainError> {
    let parsed: AlertSettings = serde_json::from_value(settings.clone())
        .map_err(|e| DomainError::Validation(vec![Violation::new("settings", "json_schema", e.to_string())]))?;
    let mut violations = Vec::new();
    if parsed.requester.trim().is_empty() {
        violations.push(Violation::new("settings.requester", "required", "the user alert incidents are logged for"));
    }
    match (&parsed.mapping, kind) {
        (None, "generic") => violations.push(Violation::new("settings.mapping", "required", "a generic integration needs a mapping")),
        (Some(_), "alertmanager" | "grafana") => {
            violations.push(Violation::new("settings.mapping", "not_allowed", format!("a {kind} integration has a fixed payload")))
        }
        (Some(m), _) => {
            if let Err(e) = m.check() {
                violations.push(Violation::new(format!("settings.{}", e.field), e.rule, e.message));
            }
        }
        (None, _) => {}
    }
    if !ALERT_KINDS.contains(&kind) {
        violations.push(Violation::new("kind", "one_of", format!("`{kind}` is not an alert integration kind")));
    }
    if violations.is_empty() { Ok(parsed) } else { Err(DomainError::Validation(violations)) }
}

/// Why a payload was not applied.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The payload is malformed (names the field).
    #[error("{0}")]
    Payload(PayloadError),
    /// The integration's stored settings no longer read.
    #[error("the integration's settings are invalid: {0}")]
    Settings(DomainError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The alert intake use case.
#[derive(Clone)]
pub struct AlertIntake {
    store: Store,
    subscriptions: Subscriptions,
}

impl AlertIntake {
    /// Intake over a store.
    pub fn new(store: Store) -> Self {
        let subscriptions = Subscriptions::new(store.clone());
        AlertIntake { store, subscriptions }
    }

    /// Parses a payload for `integration` and applies its alerts.
    pub async fn receive(&self, integration: &IntegrationRecord, body: &[u8]) -> Result<Vec<AppliedAlert>, AlertError> {
        let settings = check_settings(&integration.kind, &integration.settings).map_err(AlertError::Settings)?;
        let alerts = match integration.kind.as_str() {
            "alertmanager" => parse_alertmanager(body),
            "grafana" => parse_grafana(body),
            _ => parse_generic(settings.mapping.as_ref().unwrap_or(&Mapping::default()), body),
        }
        .map_err(AlertError::Payload)?;
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        if alerts.len() > MAX_ALERTS_PER_PAYLOAD {
            return Err(AlertError::Payload(PayloadError::new(
                "alerts",
                "range",
                format!("{} alerts in one payload; at most {MAX_ALERTS_PER_PAYLOAD}", alerts.len()),
            )));
        }
        let cis = self.cis_for(&settings, &alerts).await?;
        let channel = format!("alert:{}", integration.name);
        let actor = Actor::channel(&channel, None);
        let inputs: Vec<AlertInput> = alerts.iter().map(|a| input_for(a, &settings, &cis, &actor)).collect();
        let rules = AlertRules {
            resolve: settings.on_resolve == OnResolve::Resolve,
            flap_window: Duration::minutes(i64::from(settings.flap_window_minutes)),
        };
        let subscribers = self.subscriptions.wanting(EventType::AlertReceived).await?;
        let name = integration.name.clone();
        let notify = move |input: &AlertInput, applied: &AppliedAlert, incident: Option<&IncidentRecord>| -> Vec<NewNotification> {
            if subscribers.is_empty() {
                return Vec::new();
            }
            let number = applied.incident.map(|n| n.to_string());
            let summary = format!(
                "Alert {} ({}) from {name}: {}{}",
                if input.firing { "firing" } else { "resolved" },
                applied.outcome.as_str(),
                input.title,
                number.as_ref().map(|n| format!(" -> {n}")).unwrap_or_default()
            );
            let ticket = incident.map(ticket_json);
            let data = json!({
                "summary": summary,
                "ticket": ticket,
                "integration": name,
                "alert": {"fingerprint": input.fingerprint, "status": if input.firing { "firing" } else { "resolved" },
                          "title": input.title, "severity": input.severity, "labels": input.labels},
                "outcome": applied.outcome.as_str(),
                "incident": number,
                "occurrences": applied.occurrences,
            });
            subscribers.deliveries(EventType::AlertReceived, applied.incident.map(|n| n.0), ticket.as_ref(), data)
        };
        Ok(self.store.apply_alerts(integration.id, &actor, &inputs, &rules, &notify).await?)
    }

    /// The CIs the alerts' labels name, by the lowercased value that names them.
    async fn cis_for(&self, settings: &AlertSettings, alerts: &[Alert]) -> Result<BTreeMap<String, ConfigurationItem>, StoreError> {
        let mut values: Vec<String> = alerts
            .iter()
            .flat_map(|a| settings.ci_labels.iter().filter_map(|l| a.labels.get(l).cloned()))
            .filter(|v| !v.is_empty())
            .collect();
        values.sort();
        values.dedup();
        let found = match &settings.ci_attribute {
            Some(attribute) => self.store.cis_with_attribute(attribute, &values).await?,
            None => self.store.cis_named(&values).await?,
        };
        let mut out = BTreeMap::new();
        for ci in found {
            let key = match &settings.ci_attribute {
                Some(attribute) => match ci.attributes.get(attribute) {
                    Some(Value::String(s)) => s.to_lowercase(),
                    Some(other) => other.to_string().to_lowercase(),
                    None => continue,
                },
                None => ci.name.to_lowercase(),
            };
            out.entry(key).or_insert(ci);
        }
        Ok(out)
    }
}

/// The store's input for one alert: the incident it would open.
fn input_for(alert: &Alert, settings: &AlertSettings, cis: &BTreeMap<String, ConfigurationItem>, actor: &Actor) -> AlertInput {
    let levels = alert.severity.as_ref().and_then(|s| settings.severity.get(&s.to_lowercase())).copied().unwrap_or(settings.default_levels);
    // The first CI label whose value names a CI; the others stay labels.
    let ci = settings.ci_labels.iter().filter_map(|l| alert.labels.get(l)).find_map(|v| cis.get(&v.to_lowercase()));
    let (service_id, affected) = match ci {
        Some(c) if c.class == CiClass::Service => (Some(c.id), Vec::new()),
        Some(c) => (None, vec![c.id]),
        None => (None, Vec::new()),
    };
    let mut description = String::new();
    if !alert.description.is_empty() {
        description.push_str(&alert.description);
        description.push_str("\n\n");
    }
    if let Some(sev) = &alert.severity {
        description.push_str(&format!("Severity: {sev}\n"));
    }
    if !alert.labels.is_empty() {
        description.push_str("Labels:\n");
        for (k, v) in &alert.labels {
            description.push_str(&format!("  {k} = {v}\n"));
        }
    }
    if let Some(url) = &alert.source_url {
        description.push_str(&format!("Source: {url}\n"));
    }
    if ci.is_none() && settings.ci_labels.iter().any(|l| alert.labels.contains_key(l)) {
        description.push_str("No CI matches these labels; they are kept as labels.\n");
    }
    description.push_str(&format!("Fingerprint: {}\n", alert.fingerprint));
    let title: String = alert.title.chars().take(200).collect();
    AlertInput {
        fingerprint: alert.fingerprint.chars().take(200).collect(),
        firing: alert.status == AlertStatus::Firing,
        title: title.clone(),
        severity: alert.severity.as_ref().map(|s| s.chars().take(64).collect()),
        labels: serde_json::to_value(&alert.labels).unwrap_or(Value::Null),
        incident: CreateIncident {
            kind: Default::default(),
            details: Default::default(),
            checklist: Vec::new(),
            title: if title.trim().is_empty() { format!("Alert {}", alert.fingerprint) } else { title },
            description: description.chars().take(20_000).collect(),
            requester: settings.requester.clone(),
            channel: Channel::Alert,
            category: settings.category.clone(),
            subcategory: None,
            service_id,
            affected_ci_ids: affected,
            impact: levels.impact,
            urgency: levels.urgency,
            priority_override: None,
            assignment_group: settings.assignment_group.clone(),
            assignee: None,
            custom_fields: json!({}),
            actor: actor.clone(),
        },
    }
}
