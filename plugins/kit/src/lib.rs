//! Small helpers shared by the shipped Switchyard plugins: a safe
//! `{{placeholder}}` templater, recipient specifications, name checks,
//! time formatting, reading `cmdb-lookup`'s output from earlier steps, and
//! the odd config texts every plugin's tests feed it. Plain Rust with no WIT types, so every plugin can use it
//! whatever world it targets; it compiles natively for tests.

use std::collections::{BTreeMap, BTreeSet};

/// Parses a step config: it must be a JSON object (serde would otherwise
/// also accept an array for a struct) of the shape `T` describes.
pub fn parse_object<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Vec<String>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| vec![format!("config: {e}")])?;
    if !value.is_object() {
        return Err(vec!["config: must be a JSON object".to_string()]);
    }
    serde_json::from_value(value).map_err(|e| vec![format!("config: {e}")])
}

/// The `ci` and `service` objects of the latest earlier step output that
/// has either (normally `cmdb-lookup`'s). Give the outputs' JSON texts in
/// execution order; outputs that are not JSON objects are ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CmdbObjects {
    /// The CI object, if that output has one.
    pub ci: Option<serde_json::Value>,
    /// The service object, if that output has one.
    pub service: Option<serde_json::Value>,
}

impl CmdbObjects {
    /// Scans `outputs` from the latest back.
    pub fn latest<'a>(outputs: impl DoubleEndedIterator<Item = &'a str>) -> CmdbObjects {
        for text in outputs.rev() {
            let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text) else {
                continue;
            };
            let mut take = |key: &str| v.get_mut(key).filter(|o| o.is_object()).map(serde_json::Value::take);
            let (ci, service) = (take("ci"), take("service"));
            if ci.is_some() || service.is_some() {
                return CmdbObjects { ci, service };
            }
        }
        CmdbObjects::default()
    }

    /// A string attribute of the CI (`name`, `class`, `owner_group`...).
    pub fn ci_str(&self, key: &str) -> Option<String> {
        str_of(self.ci.as_ref(), key)
    }

    /// A string attribute of the service.
    pub fn service_str(&self, key: &str) -> Option<String> {
        str_of(self.service.as_ref(), key)
    }
}

fn str_of(object: Option<&serde_json::Value>, key: &str) -> Option<String> {
    object?.get(key)?.as_str().map(str::to_string)
}

/// Config texts a plugin must refuse cleanly, never panicking: empty,
/// not objects, absurd numbers, truncated JSON, 100,000 nested brackets and
/// a 20 KB string. Every plugin's tests run them.
pub fn odd_config_texts() -> Vec<String> {
    let mut v: Vec<String> =
        ["", "null", "[]", "{}", "1e999", "\"\u{0}\"", "{\"rules\": null}", "{\"a\":"].iter().map(|s| s.to_string()).collect();
    v.push("[".repeat(100_000));
    v.push(format!("{{\"x\": \"{}\"}}", "é".repeat(10_000)));
    v
}

/// True for a valid group name, username or skill: 1..=64 of `[a-z0-9._-]`,
/// starting with a letter or digit (the host's rule).
pub fn is_handle(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

/// A parsed template: literal text and `{{name}}` placeholders (spaces
/// inside the braces are allowed: `{{ name }}`). There is no logic, no
/// escaping and no recursion: values are inserted verbatim and never
/// re-expanded, so a ticket title containing `{{x}}` stays as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`, checking every placeholder against `known`. Errors
    /// name the problem: an unterminated `{{`, an empty or unknown
    /// placeholder.
    pub fn parse(text: &str, known: &[&str]) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| format!("unterminated `{{{{` in template `{}`", snippet(text)))?;
            let name = after[..close].trim();
            if name.is_empty() {
                return Err(format!("empty placeholder in template `{}`", snippet(text)));
            }
            if !known.contains(&name) {
                return Err(format!("unknown placeholder `{{{{{name}}}}}`; known: {}", known.join(", ")));
            }
            pieces.push(Piece::Var(name.to_string()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// Fills the template; a placeholder without a value renders empty.
    pub fn render(&self, vars: &BTreeMap<&str, String>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => {
                    if let Some(value) = vars.get(v.as_str()) {
                        out.push_str(value);
                    }
                }
            }
        }
        out
    }
}

fn snippet(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Makes a text fit a one-line subject: line breaks and tabs become spaces,
/// other control characters are dropped, and the result is trimmed.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\n' || c == '\r' || c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// Who a notification goes to, as written in a plugin config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientSpec {
    /// The ticket's requester.
    Requester,
    /// The ticket's assignee, if any.
    Assignee,
    /// The ticket's assignment group, as `group:<name>`.
    AssignmentGroup,
    /// Every watcher.
    Watchers,
    /// The owner group of the CI found by an earlier `cmdb-lookup` step.
    CiOwnerGroup,
    /// The owner group of the service found by an earlier `cmdb-lookup` step.
    ServiceOwnerGroup,
    /// The manager of the assignment group (only plugins that can read the
    /// directory resolve it).
    GroupManager,
    /// `user:<username>`.
    User(String),
    /// `group:<name>`.
    Group(String),
    /// An address for the channel: `address:<anything>`, or any text with `@`.
    Address(String),
}

/// The symbolic recipient names accepted by [`RecipientSpec::parse`].
pub const RECIPIENT_NAMES: [&str; 7] =
    ["requester", "assignee", "assignment_group", "watchers", "ci_owner_group", "service_owner_group", "group_manager"];

impl RecipientSpec {
    /// Parses one recipient entry of a config.
    pub fn parse(s: &str) -> Result<RecipientSpec, String> {
        let spec = match s {
            "requester" => RecipientSpec::Requester,
            "assignee" => RecipientSpec::Assignee,
            "assignment_group" => RecipientSpec::AssignmentGroup,
            "watchers" => RecipientSpec::Watchers,
            "ci_owner_group" => RecipientSpec::CiOwnerGroup,
            "service_owner_group" => RecipientSpec::ServiceOwnerGroup,
            "group_manager" => RecipientSpec::GroupManager,
            _ => {
                if let Some(u) = s.strip_prefix("user:") {
                    if !is_handle(u) {
                        return Err(format!("`{s}`: `{u}` is not a valid username"));
                    }
                    RecipientSpec::User(u.to_string())
                } else if let Some(g) = s.strip_prefix("group:") {
                    if !is_handle(g) {
                        return Err(format!("`{s}`: `{g}` is not a valid group name"));
                    }
                    RecipientSpec::Group(g.to_string())
                } else if let Some(a) = s.strip_prefix("address:") {
                    if a.trim().is_empty() || a.chars().any(char::is_whitespace) {
                        return Err(format!("`{s}`: the address is empty or has spaces"));
                    }
                    RecipientSpec::Address(a.to_string())
                } else if s.contains('@') && !s.chars().any(char::is_whitespace) {
                    RecipientSpec::Address(s.to_string())
                } else {
                    return Err(format!(
                        "`{s}` is not a recipient: use one of {}, or user:<name>, group:<name>, address:<addr>, or an email address",
                        RECIPIENT_NAMES.join(", ")
                    ));
                }
            }
        };
        Ok(spec)
    }
}

/// What recipient specifications resolve against.
#[derive(Debug, Clone, Default)]
pub struct RecipientContext<'a> {
    /// Requester username.
    pub requester: &'a str,
    /// Assignee username.
    pub assignee: Option<&'a str>,
    /// Assignment group name.
    pub assignment_group: Option<&'a str>,
    /// Watcher usernames.
    pub watchers: &'a [String],
    /// Owner group of the CI (from cmdb-lookup).
    pub ci_owner_group: Option<&'a str>,
    /// Owner group of the service (from cmdb-lookup).
    pub service_owner_group: Option<&'a str>,
    /// Manager of the assignment group (username), if known.
    pub group_manager: Option<&'a str>,
}

/// Resolves specs to the WIT's recipient strings (usernames, `group:<name>`
/// or addresses), dropping unknown ones and duplicates, keeping first-seen
/// order.
pub fn resolve_recipients(specs: &[RecipientSpec], cx: &RecipientContext<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut push = |r: String| {
        if !r.is_empty() && seen.insert(r.clone()) {
            out.push(r);
        }
    };
    let group = |g: &str| format!("group:{g}");
    for spec in specs {
        match spec {
            RecipientSpec::Requester => push(cx.requester.to_string()),
            RecipientSpec::Assignee => cx.assignee.into_iter().for_each(|a| push(a.to_string())),
            RecipientSpec::AssignmentGroup => cx.assignment_group.into_iter().for_each(|g| push(group(g))),
            RecipientSpec::Watchers => cx.watchers.iter().for_each(|w| push(w.clone())),
            RecipientSpec::CiOwnerGroup => cx.ci_owner_group.into_iter().for_each(|g| push(group(g))),
            RecipientSpec::ServiceOwnerGroup => cx.service_owner_group.into_iter().for_each(|g| push(group(g))),
            RecipientSpec::GroupManager => cx.group_manager.into_iter().for_each(|m| push(m.to_string())),
            RecipientSpec::User(u) => push(u.clone()),
            RecipientSpec::Group(g) => push(group(g)),
            RecipientSpec::Address(a) => push(a.clone()),
        }
    }
    out
}

/// Formats Unix epoch milliseconds as `YYYY-MM-DD HH:MM UTC`.
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", tod / 3600, (tod % 3600) / 60)
}

/// A duration in minutes as `1h 05m` / `45m`.
pub fn format_minutes(minutes: i64) -> String {
    if minutes >= 60 { format!("{}h {:02}m", minutes / 60, minutes % 60) } else { format!("{minutes}m") }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn templates() {
        let known = ["number", "title"];
        let t = Template::parse("[{{number}}] {{ title }}!", &known).unwrap();
        let vars = BTreeMap::from([("number", "INC-1".to_string()), ("title", "{{number}}".to_string())]);
        assert_eq!(t.render(&vars), "[INC-1] {{number}}!");
        assert_eq!(t.render(&BTreeMap::new()), "[] !");
        assert!(Template::parse("{{nope}}", &known).unwrap_err().contains("unknown placeholder `{{nope}}`"));
        assert!(Template::parse("{{title", &known).unwrap_err().contains("unterminated"));
        assert!(Template::parse("{{ }}", &known).unwrap_err().contains("empty"));
        assert_eq!(Template::parse("plain } { text", &known).unwrap().render(&vars), "plain } { text");
        assert_eq!(Template::parse("é{{title}}ü", &known).unwrap().render(&vars), "é{{number}}ü");
    }

    #[test]
    fn recipients() {
        let specs: Vec<RecipientSpec> = [
            "requester",
            "assignee",
            "assignment_group",
            "watchers",
            "user:alice",
            "group:noc",
            "ops@example.com",
            "address:https://hooks.example/x",
            "ci_owner_group",
            "group_manager",
        ]
        .iter()
        .map(|s| RecipientSpec::parse(s).unwrap())
        .collect();
        let watchers = vec!["bob".to_string(), "alice".to_string()];
        let cx = RecipientContext {
            requester: "alice",
            assignee: None,
            assignment_group: Some("noc"),
            watchers: &watchers,
            ci_owner_group: Some("dba"),
            ..RecipientContext::default()
        };
        assert_eq!(
            resolve_recipients(&specs, &cx),
            ["alice", "group:noc", "bob", "ops@example.com", "https://hooks.example/x", "group:dba"]
        );
        for bad in ["everyone", "user:Bad Name", "group:", "address:", "a b@c"] {
            assert!(RecipientSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_795_435_200_000), "2026-11-23 12:00 UTC");
        assert_eq!(format_utc(-60_000), "1969-12-31 23:59 UTC");
        assert_eq!(format_utc(951_782_400_000 + 59 * 60_000), "2000-02-29 00:59 UTC");
        assert_eq!(format_minutes(45), "45m");
        assert_eq!(format_minutes(125), "2h 05m");
        assert_eq!(one_line("a\r\nb\tc\u{7}"), "a  b c");
    }

    #[test]
    fn handles() {
        assert!(is_handle("l2-support"));
        assert!(!is_handle("-x"));
        assert!(!is_handle("Upper"));
        assert!(!is_handle(&"a".repeat(65)));
    }
}
