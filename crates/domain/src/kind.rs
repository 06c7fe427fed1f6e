//! Record kinds: incidents, service requests, problems and changes share
//! one ticket core (number, history, lifecycle, workflows, SLA, links) and
//! differ in their number prefix and in a small set of kind-specific
//! details, checked here.
//!
//! Every kind draws its number from the same gap-free sequence, so the
//! digits identify a ticket on their own and the prefix names its kind:
//! `INC-000123` converted to a request becomes `REQ-000123`, with its
//! history intact, and a link written before the conversion still finds it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{DomainError, Violations};
use crate::incident::{LABEL_MAX, TEXT_MAX, check_text, named_enum};

named_enum! {
    /// What kind of record a ticket is.
    #[derive(Default)]
    Kind {
        /// Something broke: restore service (ITIL incident management).
        #[default]
        Incident = "incident",
        /// Someone wants something standard (a service request).
        Request = "request",
        /// The cause behind one or more incidents.
        Problem = "problem",
        /// A planned change to a service or CI.
        Change = "change",
    }
}

impl Kind {
    /// The number prefix: `INC-`, `REQ-`, `PRB-`, `CHG-`.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Incident => "INC-",
            Kind::Request => "REQ-",
            Kind::Problem => "PRB-",
            Kind::Change => "CHG-",
        }
    }

    /// The human number of the ticket with this id, e.g. `REQ-000042`.
    pub fn number(self, id: i64) -> String {
        format!("{}{id:06}", self.prefix())
    }

    /// The kind a number's prefix names, and the rest of the number.
    pub fn split_number(s: &str) -> Option<(Kind, &str)> {
        Kind::ALL.iter().find_map(|k| s.strip_prefix(k.prefix()).map(|rest| (*k, rest)))
    }

    /// A label for people: "incident", "service request"...
    pub fn label(self) -> &'static str {
        match self {
            Kind::Incident => "incident",
            Kind::Request => "service request",
            Kind::Problem => "problem",
            Kind::Change => "change",
        }
    }
}

/// Whether a ticket of kind `from` may be converted to `to`: a misfiled
/// incident becomes a request and back. Problems and changes are planned
/// records with their own details and are not converted.
pub fn check_conversion(from: Kind, to: Kind) -> Result<(), DomainError> {
    if from == to {
        return Err(DomainError::invalid("kind", "unchanged", format!("the ticket is already a {}", to.label())));
    }
    match (from, to) {
        (Kind::Incident, Kind::Request) | (Kind::Request, Kind::Incident) => Ok(()),
        _ => Err(DomainError::invalid(
            "kind",
            "conversion",
            format!("a {} cannot be converted to a {}: only incidents and requests convert into each other", from.label(), to.label()),
        )),
    }
}

named_enum! {
    /// How risky a change is.
    ChangeRisk {
        /// Routine, well understood.
        Low = "low",
        /// Some chance of disruption.
        Medium = "medium",
        /// Likely disruption or hard to roll back.
        High = "high",
    }
}

/// The details each kind accepts, with the rule for each value.
enum Rule {
    /// Free text up to this many characters.
    Text(usize),
    /// A change risk name.
    Risk,
    /// An RFC 3339 instant.
    Instant,
    /// `true` or `false`.
    Flag,
    /// A JSON object (form answers).
    Object,
}

fn rules(kind: Kind) -> &'static [(&'static str, Rule)] {
    match kind {
        Kind::Incident => &[],
        Kind::Request => &[("catalog_item", Rule::Text(LABEL_MAX)), ("answers", Rule::Object)],
        Kind::Problem => &[("root_cause", Rule::Text(TEXT_MAX)), ("workaround", Rule::Text(TEXT_MAX)), ("known_error", Rule::Flag)],
        Kind::Change => &[
            ("justification", Rule::Text(TEXT_MAX)),
            ("risk", Rule::Risk),
            ("planned_start", Rule::Instant),
            ("planned_end", Rule::Instant),
            ("implementation_plan", Rule::Text(TEXT_MAX)),
            ("backout_plan", Rule::Text(TEXT_MAX)),
        ],
    }
}

/// Checks a ticket's kind-specific details (`null` is an empty object) and
/// returns them without nulls. Every violation names `details.<key>`.
pub fn check_details(kind: Kind, details: &Value) -> Result<Value, DomainError> {
    let empty = Map::new();
    let map = match details {
        Value::Null => &empty,
        Value::Object(m) => m,
        _ => return Err(DomainError::invalid("details", "type", "must be a JSON object")),
    };
    let rules = rules(kind);
    let mut v = Violations::default();
    let mut out = Map::new();
    for (key, value) in map {
        let field = format!("details.{key}");
        let Some((_, rule)) = rules.iter().find(|(name, _)| name == key) else {
            let known: Vec<&str> = rules.iter().map(|(n, _)| *n).collect();
            let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
            v.push(field, "unknown", format!("a {} has no detail `{key}` (known: {known})", kind.label()));
            continue;
        };
        if value.is_null() {
            continue;
        }
        match rule {
            Rule::Text(max) => match value.as_str() {
                Some(s) => check_text(&mut v, &field, s, *max, false),
                None => v.push(field, "type", "must be a string"),
            },
            Rule::Risk => {
                if value.as_str().and_then(|s| s.parse::<ChangeRisk>().ok()).is_none() {
                    v.push(field, "one_of", "must be one of: low, medium, high");
                }
            }
            Rule::Instant => {
                if value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).is_none() {
                    v.push(field, "format", "must be an RFC 3339 instant like 2026-12-08T22:00:00Z");
                }
            }
            Rule::Flag => v.check(!value.is_boolean(), &field, "type", || "must be true or false".into()),
            Rule::Object => v.check(!value.is_object(), &field, "type", || "must be a JSON object".into()),
        }
        out.insert(key.clone(), value.clone());
    }
    if let (Some(start), Some(end)) = (instant(&out, "planned_start"), instant(&out, "planned_end")) {
        v.check(end <= start, "details.planned_end", "after_start", || "must be after details.planned_start".into());
    }
    if out.get("known_error").and_then(Value::as_bool) == Some(true) {
        let workaround = out.get("workaround").and_then(Value::as_str).unwrap_or("");
        v.check(workaround.trim().is_empty(), "details.workaround", "required", || {
            "a problem published as a known error needs a workaround".into()
        });
    }
    v.finish()?;
    Ok(Value::Object(out))
}

fn instant(details: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    details.get(key)?.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

/// The details that a conversion keeps: those the new kind knows.
pub fn details_for(kind: Kind, details: &Value) -> Value {
    let rules = rules(kind);
    match details {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(k, _)| rules.iter().any(|(n, _)| n == k)).map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        _ => Value::Object(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_carry_the_kind_prefix() {
        assert_eq!(Kind::Incident.number(123), "INC-000123");
        assert_eq!(Kind::Request.number(7), "REQ-000007");
        assert_eq!(Kind::Problem.number(1_234_567), "PRB-1234567");
        assert_eq!(Kind::split_number("CHG-000001"), Some((Kind::Change, "000001")));
        assert_eq!(Kind::split_number("XYZ-000001"), None);
    }

    #[test]
    fn conversions() {
        assert!(check_conversion(Kind::Incident, Kind::Request).is_ok());
        assert!(check_conversion(Kind::Request, Kind::Incident).is_ok());
        for (from, to, rule) in [
            (Kind::Incident, Kind::Incident, "unchanged"),
            (Kind::Incident, Kind::Problem, "conversion"),
            (Kind::Change, Kind::Incident, "conversion"),
        ] {
            let e = check_conversion(from, to).unwrap_err();
            assert_eq!(e.violations()[0].rule, rule);
        }
    }

    #[test]
    fn details_are_checked_per_kind() {
        let table: Vec<(Kind, Value, Result<Value, &str>)> = vec![
            (Kind::Incident, Value::Null, Ok(json!({}))),
            (Kind::Incident, json!({"risk": "low"}), Err("details.risk/unknown")),
            (
                Kind::Change,
                json!({"risk": "low", "planned_start": "2026-12-08T22:00:00Z", "planned_end": "2026-12-08T23:00:00Z"}),
                Ok(json!({"risk": "low", "planned_start": "2026-12-08T22:00:00Z", "planned_end": "2026-12-08T23:00:00Z"})),
            ),
            (Kind::Change, json!({"risk": "extreme"}), Err("details.risk/one_of")),
            (
                Kind::Change,
                json!({"planned_start": "2026-12-08T22:00:00Z", "planned_end": "2026-12-08T21:00:00Z"}),
                Err("details.planned_end/after_start"),
            ),
            (Kind::Change, json!({"planned_start": "tomorrow"}), Err("details.planned_start/format")),
            (Kind::Problem, json!({"known_error": true}), Err("details.workaround/required")),
            (
                Kind::Problem,
                json!({"known_error": true, "workaround": "restart the spooler", "root_cause": null}),
                Ok(json!({"known_error": true, "workaround": "restart the spooler"})),
            ),
            (Kind::Problem, json!({"known_error": "yes"}), Err("details.known_error/type")),
            (
                Kind::Request,
                json!({"catalog_item": "laptop", "answers": {"model": "x1"}}),
                Ok(json!({"catalog_item": "laptop", "answers": {"model": "x1"}})),
            ),
            (Kind::Request, json!([1]), Err("details/type")),
        ];
        for (kind, details, want) in table {
            let got = check_details(kind, &details).map_err(|e| {
                let v = &e.violations()[0];
                format!("{}/{}", v.field, v.rule)
            });
            assert_eq!(got, want.map_err(str::to_owned), "{kind} {details}");
        }
    }

    #[test]
    fn conversion_keeps_known_details_only() {
        let d = json!({"catalog_item": "laptop", "answers": {}});
        assert_eq!(details_for(Kind::Incident, &d), json!({}));
        assert_eq!(details_for(Kind::Request, &d), d);
    }
}
