//! Alerts: what monitoring sends us, as one typed [`Alert`] per alert.
//!
//! Three parsers:
//!
//! - [`parse_alertmanager`]: the Prometheus Alertmanager webhook
//!   (`webhook_config`), payload version `4`;
//! - [`parse_grafana`]: Grafana's unified alerting webhook contact point,
//!   the same shape with Grafana's additions, version `1`;
//! - [`parse_generic`]: any JSON, read through a [`Mapping`] of paths an
//!   admin configures for the endpoint.
//!
//! A notification groups alerts; each alert of the group becomes its own
//! [`Alert`], with its own status (a group that is `firing` can hold alerts
//! that are already resolved). Refusals are [`PayloadError`]s naming the
//! field (`alerts[2].labels.severity`) and the rule it broke (`type`).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Whether an alert is going on or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The condition holds: something is wrong.
    Firing,
    /// The condition no longer holds.
    Resolved,
}

impl AlertStatus {
    /// `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl std::fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert, whatever sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// What identifies the alert across notifications: the sender's
    /// fingerprint when it gives one, else a hash (32 hex digits) of what
    /// identifies it (its labels; for generic payloads the title and CI).
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// One line saying what is wrong; never empty.
    pub title: String,
    /// More about it; may be empty.
    pub description: String,
    /// The sender's severity, as given (`critical`, `warning`...).
    pub severity: Option<String>,
    /// The alert's labels (for generic payloads the mapped labels, and the
    /// configuration item under `ci`).
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ended (or, for a firing Alertmanager alert, when it will be
    /// taken as ended unless renewed).
    pub ends_at: Option<DateTime<Utc>>,
    /// Where to look at it (the rule, the dashboard panel).
    pub source_url: Option<String>,
}

/// Why a payload was refused: which field broke which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} ({rule})")]
pub struct PayloadError {
    /// The field: a path into the payload (`alerts[2].labels`,
    /// `items[3].alert.name`), `body` for the payload as a whole, or the
    /// name of a setting (`mapping.title`).
    pub field: String,
    /// Stable name of the rule: `json` (not JSON at all), `required`,
    /// `type`, `version`, `format`, `empty`.
    pub rule: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl PayloadError {
    /// A violation of `rule` on `field`.
    pub fn new(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        PayloadError { field: field.into(), rule, message: message.into() }
    }

    fn required(field: impl Into<String>) -> Self {
        PayloadError::new(field, "required", "is missing")
    }

    fn wrong_type(field: impl Into<String>, wanted: &str, got: &Value) -> Self {
        PayloadError::new(field, "type", format!("is {}, not {wanted}", kind(got)))
    }
}

/// Parses the body as JSON (rule `json` on `body` when it is not).
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, PayloadError> {
    serde_json::from_slice(body).map_err(|e| PayloadError::new("body", "json", format!("the body is not JSON: {e}")))
}

/// The body as a JSON object.
pub(crate) fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, PayloadError> {
    match parse_json(body)? {
        Value::Object(map) => Ok(map),
        other => Err(PayloadError::wrong_type("body", "an object", &other)),
    }
}

/// What a JSON value is, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A scalar as a string: strings as they are, numbers and booleans
/// written out; `None` for null; `Err` for arrays and objects.
pub(crate) fn scalar_string(value: &Value) -> Result<Option<String>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) | Value::Object(_) => Err(()),
    }
}

/// `parent.key`, or `parent["key"]` when the key would not read back as one
/// plain key.
pub(crate) fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty() && key != "$" && !key.contains(['.', '[', ']', '"', '\\']) && key.trim() == key;
    if plain {
        if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
    } else {
        let escaped = key.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{parent}[\"{escaped}\"]")
    }
}

/// Hex of the first 16 bytes of the SHA-256 of `bytes`.
fn short_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..16])
}

/// The fingerprint of an alert that came without one: a hash of its labels
/// (sorted by name).
pub fn labels_fingerprint(labels: &BTreeMap<String, String>) -> String {
    // JSON of the sorted map: unambiguous whatever the labels hold.
    short_hash(serde_json::to_string(labels).unwrap_or_default().as_bytes())
}

// ---------------------------------------------------------------------------
// Alertmanager and Grafana

/// How Alertmanager-shaped payloads differ.
struct Dialect {
    sender: &'static str,
    version: &'static str,
    /// Per-alert fields for [`Alert::source_url`], first non-empty wins.
    source_fields: &'static [&'static str],
}

const ALERTMANAGER: Dialect = Dialect { sender: "Alertmanager", version: "4", source_fields: &["generatorURL"] };
const GRAFANA: Dialect = Dialect { sender: "Grafana", version: "1", source_fields: &["panelURL", "dashboardURL", "generatorURL"] };

/// Parses a Prometheus Alertmanager webhook notification (payload version
/// `4`) into its alerts, one [`Alert`] each.
///
/// Each alert's own `status` wins over the group's. The fingerprint is
/// the alert's `fingerprint` when given, else [`labels_fingerprint`]. The
/// title is the `summary` annotation, else the `alertname` label (with
/// ` on <instance>` when there is an `instance` label), else
/// `Alert <fingerprint>`; the description the `description` annotation,
/// else the summary. `startsAt`/`endsAt` of `0001-01-01T00:00:00Z` (Go's
/// zero time) mean unset. The source URL is `generatorURL`.
pub fn parse_alertmanager(body: &[u8]) -> Result<Vec<Alert>, PayloadError> {
    parse_group(body, &ALERTMANAGER)
}

/// Parses a Grafana (unified alerting) webhook notification, version `1`:
/// Alertmanager's shape with Grafana's additions (`orgId`, `title`,
/// `state`, `message`; per alert `values`, `valueString`, `dashboardURL`,
/// `panelURL`, `silenceURL`, `imageURL`).
///
/// Alerts are read as by [`parse_alertmanager`], except that the source
/// URL is `panelURL`, else `dashboardURL`, else `generatorURL`.
pub fn parse_grafana(body: &[u8]) -> Result<Vec<Alert>, PayloadError> {
    parse_group(body, &GRAFANA)
}

fn parse_group(body: &[u8], dialect: &Dialect) -> Result<Vec<Alert>, PayloadError> {
    let root = parse_json_object(body)?;
    match root.get("version") {
        None | Some(Value::Null) => return Err(PayloadError::required("version")),
        Some(Value::String(v)) if v == dialect.version => {}
        Some(Value::String(v)) => {
            return Err(PayloadError::new(
                "version",
                "version",
                format!("is {v:?}; {} webhook payloads of version {:?} are read", dialect.sender, dialect.version),
            ));
        }
        Some(other) => return Err(PayloadError::wrong_type("version", "a string", other)),
    }
    let group_status = status_field(&root, "status", "")?;
    let alerts = match root.get("alerts") {
        None | Some(Value::Null) => return Err(PayloadError::required("alerts")),
        Some(Value::Array(alerts)) => alerts,
        Some(other) => return Err(PayloadError::wrong_type("alerts", "an array", other)),
    };
    if alerts.is_empty() {
        return Err(PayloadError::new("alerts", "empty", "holds no alert"));
    }
    alerts.iter().enumerate().map(|(i, alert)| group_alert(alert, &format!("alerts[{i}]"), group_status, dialect)).collect()
}

fn group_alert(value: &Value, path: &str, group_status: Option<AlertStatus>, dialect: &Dialect) -> Result<Alert, PayloadError> {
    let Value::Object(alert) = value else {
        return Err(PayloadError::wrong_type(path, "an object", value));
    };
    let status = match status_field(alert, "status", path)? {
        Some(status) => status,
        None => group_status.ok_or_else(|| PayloadError::required(key_path(path, "status")))?,
    };
    let labels = string_map(alert, "labels", path)?;
    let annotations = string_map(alert, "annotations", path)?;
    let starts_at = time_field(alert, "startsAt", path)?;
    let ends_at = time_field(alert, "endsAt", path)?;
    let mut source_url = None;
    for field in dialect.source_fields {
        if let Some(url) = string_field(alert, field, path)?.filter(|u| !u.trim().is_empty()) {
            source_url = Some(url);
            break;
        }
    }
    let fingerprint =
        string_field(alert, "fingerprint", path)?.filter(|f| !f.trim().is_empty()).unwrap_or_else(|| labels_fingerprint(&labels));
    let non_empty = |map: &BTreeMap<String, String>, key: &str| map.get(key).filter(|v| !v.trim().is_empty()).cloned();
    let summary = non_empty(&annotations, "summary");
    let title = match (&summary, non_empty(&labels, "alertname")) {
        (Some(summary), _) => summary.clone(),
        (None, Some(name)) => match non_empty(&labels, "instance") {
            Some(instance) => format!("{name} on {instance}"),
            None => name,
        },
        (None, None) => format!("Alert {fingerprint}"),
    };
    let description = non_empty(&annotations, "description").or(summary).unwrap_or_default();
    let severity = non_empty(&labels, "severity");
    Ok(Alert { fingerprint, status, title, description, severity, labels, annotations, starts_at, ends_at, source_url })
}

/// An optional string field (null counts as absent).
fn string_field(object: &Map<String, Value>, key: &str, parent: &str) -> Result<Option<String>, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(PayloadError::wrong_type(key_path(parent, key), "a string", other)),
    }
}

fn status_field(object: &Map<String, Value>, key: &str, parent: &str) -> Result<Option<AlertStatus>, PayloadError> {
    let Some(status) = string_field(object, key, parent)? else { return Ok(None) };
    match status.trim().to_ascii_lowercase().as_str() {
        "firing" => Ok(Some(AlertStatus::Firing)),
        "resolved" => Ok(Some(AlertStatus::Resolved)),
        _ => Err(PayloadError::new(key_path(parent, key), "format", format!("is {status:?}, not \"firing\" or \"resolved\""))),
    }
}

/// An object of strings (labels, annotations); absent or null is empty.
fn string_map(object: &Map<String, Value>, key: &str, parent: &str) -> Result<BTreeMap<String, String>, PayloadError> {
    let path = key_path(parent, key);
    match object.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(PayloadError::wrong_type(key_path(&path, k), "a string", other)),
            })
            .collect(),
        Some(other) => Err(PayloadError::wrong_type(path, "an object of strings", other)),
    }
}

/// An RFC 3339 time; absent, null, empty or Go's zero time (year 1) is
/// unset.
fn time_field(object: &Map<String, Value>, key: &str, parent: &str) -> Result<Option<DateTime<Utc>>, PayloadError> {
    let Some(text) = string_field(object, key, parent)? else { return Ok(None) };
    parse_time(&text).map_err(|message| PayloadError::new(key_path(parent, key), "format", message))
}

fn parse_time(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let time = DateTime::parse_from_rfc3339(text).map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))?.with_timezone(&Utc);
    Ok((time.year() > 1).then_some(time))
}

// ---------------------------------------------------------------------------
// Generic JSON

fn default_resolved_values() -> Vec<String> {
    ["resolved", "ok", "closed"].map(str::to_owned).to_vec()
}

/// Where a generic JSON endpoint finds an alert's parts in its payload.
///
/// Each value is a path: dot-separated keys with `[n]` array indexes
/// (`items[0].name`), `["a.b"]` for a key holding dots or brackets
/// (`labels["app.kubernetes.io/name"]`), `$` alone for the value itself;
/// a leading `$.` is allowed. Paths other than [`Mapping::alerts`] are
/// read from each alert.
///
/// ```json
/// { "alerts": "items", "title": "alert.name", "description": "alert.details",
///   "severity": "alert.level", "ci": "host.name", "fingerprint": "alert.id",
///   "status": "state", "resolved_values": ["resolved", "ok", "closed"],
///   "labels": { "service": "tags.service" } }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The array of alerts; absent: the body is one alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<String>,
    /// The title (required in every alert).
    pub title: String,
    /// The description; absent: empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The configuration item (host, service) the alert is about; goes to
    /// the label `ci`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<String>,
    /// The fingerprint; absent (or missing in an alert): a hash of the
    /// title and the CI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The status; the alert is resolved when it is one of
    /// [`Mapping::resolved_values`], firing otherwise (and when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Status values that mean resolved, compared ignoring case;
    /// default `resolved`, `ok`, `closed`.
    #[serde(default = "default_resolved_values")]
    pub resolved_values: Vec<String>,
    /// Labels: label name to path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The link to the alert at the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// When it started: an RFC 3339 time, or a number of Unix seconds
    /// (milliseconds when over 10^11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// When it ended, as [`Mapping::starts_at`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
}

impl Default for Mapping {
    /// The body is one alert with its title under `title`.
    fn default() -> Self {
        Mapping {
            alerts: None,
            title: "title".to_owned(),
            description: None,
            severity: None,
            ci: None,
            fingerprint: None,
            status: None,
            resolved_values: default_resolved_values(),
            labels: BTreeMap::new(),
            source_url: None,
            starts_at: None,
            ends_at: None,
        }
    }
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

type Path = Vec<Segment>;

/// A [`Mapping`] with its paths parsed.
struct Compiled {
    alerts: Option<Path>,
    title: Path,
    description: Option<Path>,
    severity: Option<Path>,
    ci: Option<Path>,
    fingerprint: Option<Path>,
    status: Option<Path>,
    labels: Vec<(String, Path)>,
    source_url: Option<Path>,
    starts_at: Option<Path>,
    ends_at: Option<Path>,
}

impl Mapping {
    /// Checks every path's syntax; errors name the setting
    /// (`mapping.title`, `mapping.labels.service`) with rule `format`, or
    /// `empty` for a label with no name.
    pub fn check(&self) -> Result<(), PayloadError> {
        self.compile().map(|_| ())
    }

    fn compile(&self) -> Result<Compiled, PayloadError> {
        let one = |name: &str, path: &str| {
            parse_path(path).map_err(|message| PayloadError::new(format!("mapping.{name}"), "format", format!("{path:?}: {message}")))
        };
        let opt = |name: &str, path: &Option<String>| path.as_deref().map(|p| one(name, p)).transpose();
        let mut labels = Vec::with_capacity(self.labels.len());
        for (name, path) in &self.labels {
            let field = key_path("mapping.labels", name);
            if name.trim().is_empty() {
                return Err(PayloadError::new(field, "empty", "a label needs a name"));
            }
            let path = parse_path(path).map_err(|message| PayloadError::new(field, "format", format!("{path:?}: {message}")))?;
            labels.push((name.clone(), path));
        }
        Ok(Compiled {
            alerts: opt("alerts", &self.alerts)?,
            title: one("title", &self.title)?,
            description: opt("description", &self.description)?,
            severity: opt("severity", &self.severity)?,
            ci: opt("ci", &self.ci)?,
            fingerprint: opt("fingerprint", &self.fingerprint)?,
            status: opt("status", &self.status)?,
            labels,
            source_url: opt("source_url", &self.source_url)?,
            starts_at: opt("starts_at", &self.starts_at)?,
            ends_at: opt("ends_at", &self.ends_at)?,
        })
    }
}

/// Parses a path (see [`Mapping`]); the message says what is wrong.
fn parse_path(text: &str) -> Result<Path, String> {
    if text.is_empty() {
        return Err("the path is empty ($ is the value itself)".to_owned());
    }
    if text.trim() != text {
        return Err("the path has spaces at its ends".to_owned());
    }
    // `$` alone, `$.a`, `$[0]`: the root. (`$a` is a key.)
    let (rest, mut after_dot) = if text == "$" {
        return Ok(Vec::new());
    } else if let Some(rest) = text.strip_prefix("$.") {
        (rest, true)
    } else if text.starts_with("$[") {
        (&text[1..], false)
    } else {
        (text, false)
    };
    let mut chars = rest.chars().peekable();
    let mut path = Vec::new();
    loop {
        match chars.peek() {
            Some('[') if after_dot => return Err("a [ follows a dot: write a[0] or a[\"b\"], not a.[0]".to_owned()),
            Some('[') => {
                chars.next();
                path.push(bracket_segment(&mut chars)?);
            }
            Some('.') if path.is_empty() && !after_dot => return Err("the path starts with a dot".to_owned()),
            Some('.') | None => return Err("a key is empty".to_owned()),
            Some(']') => return Err("a ] with no [".to_owned()),
            Some(_) => {
                let mut key = String::new();
                while let Some(&c) = chars.peek() {
                    match c {
                        '.' | '[' => break,
                        ']' => return Err("a ] with no [".to_owned()),
                        c => key.push(c),
                    }
                    chars.next();
                }
                path.push(Segment::Key(key));
            }
        }
        match chars.peek() {
            None => return Ok(path),
            Some('.') => {
                chars.next();
                after_dot = true;
            }
            Some('[') => after_dot = false,
            Some(c) => return Err(format!("{c:?} after ]: a dot or [ is expected")),
        }
    }
}

/// `[n]` or `["key"]`, the `[` read.
fn bracket_segment(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Segment, String> {
    if chars.peek() == Some(&'"') {
        chars.next();
        let mut key = String::new();
        loop {
            match chars.next() {
                None => return Err("a quoted key is not closed".to_owned()),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some(c @ ('"' | '\\')) => key.push(c),
                    _ => return Err("in a quoted key, \\ escapes only \" and \\".to_owned()),
                },
                Some(c) => key.push(c),
            }
        }
        if chars.next() != Some(']') {
            return Err("a quoted key is not followed by ]".to_owned());
        }
        return Ok(Segment::Key(key));
    }
    let mut digits = String::new();
    loop {
        match chars.next() {
            None => return Err("a [ is not closed".to_owned()),
            Some(']') => break,
            Some(c) if c.is_ascii_digit() => digits.push(c),
            Some(c) => return Err(format!("{c:?} in an index: an index is digits, a key in brackets is quoted")),
        }
    }
    if digits.is_empty() {
        return Err("an index is empty".to_owned());
    }
    digits.parse().map(Segment::Index).map_err(|_| format!("the index {digits} is too large"))
}

/// The value at `path`, if there is one.
fn lookup<'a>(value: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, segment| match segment {
        Segment::Key(key) => v.as_object()?.get(key),
        Segment::Index(i) => v.as_array()?.get(*i),
    })
}

/// The path written out after `prefix` (the alert's place in the body).
fn display_path(prefix: &str, path: &[Segment]) -> String {
    let mut out = prefix.to_owned();
    for segment in path {
        out = match segment {
            Segment::Key(key) => key_path(&out, key),
            Segment::Index(i) => format!("{out}[{i}]"),
        };
    }
    if out.is_empty() { "$".to_owned() } else { out }
}

/// Parses a JSON payload through `mapping`, into one alert per element of
/// [`Mapping::alerts`] (or one alert, the body, when it is absent).
///
/// Strings are wanted everywhere: numbers and booleans are written out,
/// null counts as absent, objects and arrays are refused (rule `type`).
/// A missing title is refused naming its place in the payload
/// (`items[3].alert.name`, rule `required`). The mapping is checked
/// first ([`Mapping::check`]).
pub fn parse_generic(mapping: &Mapping, body: &[u8]) -> Result<Vec<Alert>, PayloadError> {
    let compiled = mapping.compile()?;
    let root = parse_json(body)?;
    let items: Vec<(String, &Value)> = match &compiled.alerts {
        None => vec![(String::new(), &root)],
        Some(path) => {
            let name = display_path("", path);
            let list = match lookup(&root, path) {
                None | Some(Value::Null) => return Err(PayloadError::required(name)),
                Some(Value::Array(list)) => list,
                Some(other) => return Err(PayloadError::wrong_type(name, "an array", other)),
            };
            if list.is_empty() {
                return Err(PayloadError::new(name, "empty", "holds no alert"));
            }
            let prefix = if path.is_empty() { String::new() } else { name };
            list.iter().enumerate().map(|(i, item)| (format!("{prefix}[{i}]"), item)).collect()
        }
    };
    items.into_iter().map(|(prefix, item)| generic_alert(mapping, &compiled, &prefix, item)).collect()
}

fn generic_alert(mapping: &Mapping, compiled: &Compiled, prefix: &str, item: &Value) -> Result<Alert, PayloadError> {
    let get = |path: &Option<Path>| -> Result<Option<String>, PayloadError> {
        match path {
            None => Ok(None),
            Some(path) => mapped_string(item, prefix, path),
        }
    };
    let title =
        mapped_string(item, prefix, &compiled.title)?.ok_or_else(|| PayloadError::required(display_path(prefix, &compiled.title)))?;
    let title = title.trim().to_owned();
    if title.is_empty() {
        return Err(PayloadError::new(display_path(prefix, &compiled.title), "empty", "the title is empty"));
    }
    let description = get(&compiled.description)?.unwrap_or_default();
    let severity = get(&compiled.severity)?.filter(|s| !s.trim().is_empty());
    let ci = get(&compiled.ci)?.filter(|s| !s.trim().is_empty());
    let mut labels = BTreeMap::new();
    for (name, path) in &compiled.labels {
        if let Some(value) = mapped_string(item, prefix, path)? {
            labels.insert(name.clone(), value);
        }
    }
    if let Some(ci) = &ci {
        labels.insert("ci".to_owned(), ci.clone());
    }
    let status = match get(&compiled.status)? {
        Some(s) if mapping.resolved_values.iter().any(|r| r.trim().eq_ignore_ascii_case(s.trim())) => AlertStatus::Resolved,
        _ => AlertStatus::Firing,
    };
    let fingerprint = match get(&compiled.fingerprint)?.filter(|f| !f.trim().is_empty()) {
        Some(f) => f,
        None => short_hash(serde_json::to_string(&(&title, &ci)).unwrap_or_default().as_bytes()),
    };
    let source_url = get(&compiled.source_url)?.filter(|u| !u.trim().is_empty());
    let starts_at = mapped_time(item, prefix, &compiled.starts_at)?;
    let ends_at = mapped_time(item, prefix, &compiled.ends_at)?;
    Ok(Alert { fingerprint, status, title, description, severity, labels, annotations: BTreeMap::new(), starts_at, ends_at, source_url })
}

/// The scalar at `path` as a string.
fn mapped_string(item: &Value, prefix: &str, path: &[Segment]) -> Result<Option<String>, PayloadError> {
    match lookup(item, path) {
        None => Ok(None),
        Some(value) => {
            scalar_string(value).map_err(|()| PayloadError::wrong_type(display_path(prefix, path), "a string, number or boolean", value))
        }
    }
}

fn mapped_time(item: &Value, prefix: &str, path: &Option<Path>) -> Result<Option<DateTime<Utc>>, PayloadError> {
    let Some(path) = path else { return Ok(None) };
    let field = || display_path(prefix, path);
    match lookup(item, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => parse_time(text).map_err(|message| PayloadError::new(field(), "format", message)),
        Some(Value::Number(n)) => {
            let Some(mut secs) = n.as_f64() else { return Err(PayloadError::new(field(), "format", "is not a time")) };
            if secs.abs() > 1e11 {
                secs /= 1000.0;
            }
            let whole = secs.floor();
            let nanos = ((secs - whole) * 1e9) as u32;
            // `as` saturates; out-of-range times are refused below.
            DateTime::from_timestamp(whole as i64, nanos.min(999_999_999))
                .map(Some)
                .ok_or_else(|| PayloadError::new(field(), "format", format!("{n} is not a Unix time in range")))
        }
        Some(other) => Err(PayloadError::wrong_type(field(), "a time (RFC 3339 text or Unix seconds)", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(path: &str) -> Result<Path, String> {
        parse_path(path)
    }

    fn k(s: &str) -> Segment {
        Segment::Key(s.to_owned())
    }

    #[test]
    fn paths_parse() {
        let cases: Vec<(&str, Path)> = vec![
            ("$", vec![]),
            ("a", vec![k("a")]),
            ("a.b.c", vec![k("a"), k("b"), k("c")]),
            ("items[0].name", vec![k("items"), Segment::Index(0), k("name")]),
            ("a[1][2]", vec![k("a"), Segment::Index(1), Segment::Index(2)]),
            ("[3]", vec![Segment::Index(3)]),
            ("$[3].x", vec![Segment::Index(3), k("x")]),
            ("$.a.b", vec![k("a"), k("b")]),
            ("$a", vec![k("$a")]),
            ("labels[\"app.kubernetes.io/name\"]", vec![k("labels"), k("app.kubernetes.io/name")]),
            ("[\"a.b\"].c", vec![k("a.b"), k("c")]),
            ("a[\"q\\\"uote\"]", vec![k("a"), k("q\"uote")]),
            ("my key.x", vec![k("my key"), k("x")]),
        ];
        for (text, want) in cases {
            assert_eq!(keys(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        for text in [
            "",
            " a",
            "a ",
            ".a",
            "a.",
            "a..b",
            "a.[0]",
            "a[",
            "a[]",
            "a[x]",
            "a[0",
            "a]",
            "a[0]b",
            "a[\"b",
            "a[\"b\"",
            "$.",
            "a[99999999999999999999999]",
        ] {
            assert!(keys(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn paths_display_as_they_parse() {
        for text in ["a", "items[3].alert.name", "labels[\"a.b\"]", "[0].x", "a[\"$\"]", "a[\"q\\\"uote\"]"] {
            let path = keys(text).unwrap();
            assert_eq!(display_path("", &path), text);
            assert_eq!(keys(&display_path("", &path)).unwrap(), path);
        }
        assert_eq!(display_path("", &[]), "$");
        assert_eq!(display_path("items[2]", &[]), "items[2]");
    }

    #[test]
    fn lookup_follows_keys_and_indexes() {
        let v: Value = serde_json::json!({"a": {"b": [10, {"c": "x"}]}, "d.e": 1});
        assert_eq!(lookup(&v, &keys("a.b[1].c").unwrap()), Some(&Value::from("x")));
        assert_eq!(lookup(&v, &keys("a.b[0]").unwrap()), Some(&Value::from(10)));
        assert_eq!(lookup(&v, &keys("[\"d.e\"]").unwrap()), Some(&Value::from(1)));
        assert_eq!(lookup(&v, &keys("a.b[2]").unwrap()), None);
        assert_eq!(lookup(&v, &keys("a.b.c").unwrap()), None);
        assert_eq!(lookup(&v, &keys("$").unwrap()), Some(&v));
    }

    #[test]
    fn mapping_check_names_the_setting() {
        let mapping = Mapping { title: "a..b".into(), ..Mapping::default() };
        let err = mapping.check().unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("mapping.title", "format"));
        let mut mapping = Mapping::default();
        mapping.labels.insert("service".into(), "tags[".into());
        let err = mapping.check().unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("mapping.labels.service", "format"));
        let mapping = Mapping { alerts: Some(String::new()), ..Mapping::default() };
        assert_eq!(mapping.check().unwrap_err().field, "mapping.alerts");
        assert!(Mapping::default().check().is_ok());
    }

    #[test]
    fn mapping_refuses_unknown_settings() {
        let err = serde_json::from_str::<Mapping>(r#"{"title": "t", "titel": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("titel"), "{err}");
        let m: Mapping = serde_json::from_str(r#"{"title": "t"}"#).unwrap();
        assert_eq!(m.resolved_values, ["resolved", "ok", "closed"]);
    }

    #[test]
    fn generic_times_read_text_and_numbers() {
        let mapping = Mapping { starts_at: Some("s".into()), ends_at: Some("e".into()), ..Mapping::default() };
        let body = br#"{"title": "t", "s": 1700000000, "e": 1700000000500}"#;
        let alert = &parse_generic(&mapping, body).unwrap()[0];
        assert_eq!(alert.starts_at.unwrap().timestamp(), 1_700_000_000);
        assert_eq!(alert.ends_at.unwrap().timestamp_millis(), 1_700_000_000_500);
        let body = br#"{"title": "t", "s": "2024-05-01T10:00:00+02:00"}"#;
        assert_eq!(parse_generic(&mapping, body).unwrap()[0].starts_at.unwrap().to_rfc3339(), "2024-05-01T08:00:00+00:00");
        let err = parse_generic(&mapping, br#"{"title": "t", "s": "yesterday"}"#).unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("s", "format"));
        let err = parse_generic(&mapping, br#"{"title": "t", "s": 1e300}"#).unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("s", "format"));
    }

    #[test]
    fn labels_fingerprint_is_stable_and_order_free() {
        let a: BTreeMap<String, String> = [("b", "2"), ("a", "1")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        let b: BTreeMap<String, String> = [("a", "1"), ("b", "2")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        assert_eq!(labels_fingerprint(&a), labels_fingerprint(&b));
        assert_eq!(labels_fingerprint(&a).len(), 32);
        let c: BTreeMap<String, String> = [("a", "1"), ("b", "3")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        assert_ne!(labels_fingerprint(&a), labels_fingerprint(&c));
    }
}
