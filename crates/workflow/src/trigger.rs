//! Triggers: what starts a run, and matching them against ticket events and
//! the clock.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
pub use switchyard_domain::sla::SlaTarget;

use crate::document::WorkflowDocument;

/// One trigger. In documents it is a single-key map naming its kind, for
/// example `{ticket_created: {}}` or `{cron: {schedule: "0 0 * * * *"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A ticket was created.
    TicketCreated(NoOptions),
    /// A ticket was updated.
    TicketUpdated(UpdateTrigger),
    /// An SLA target reached its warning threshold.
    SlaWarning(SlaTrigger),
    /// An SLA target was breached.
    SlaBreached(SlaTrigger),
    /// A schedule.
    Cron(CronTrigger),
    /// Started by hand.
    Manual(NoOptions),
    /// A message arrived on an inbound channel.
    InboundChannel(ChannelTrigger),
}

impl Trigger {
    /// The kind's name as written in documents.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::TicketCreated(_) => "ticket_created",
            Trigger::TicketUpdated(_) => "ticket_updated",
            Trigger::SlaWarning(_) => "sla_warning",
            Trigger::SlaBreached(_) => "sla_breached",
            Trigger::Cron(_) => "cron",
            Trigger::Manual(_) => "manual",
            Trigger::InboundChannel(_) => "inbound_channel",
        }
    }

    /// Whether this trigger fires for `event`. Cron triggers never match
    /// events: see [`CronTrigger::due_between`].
    pub fn matches(&self, event: &TriggerEvent<'_>) -> bool {
        match (self, event) {
            (Trigger::TicketCreated(_), TriggerEvent::Created) | (Trigger::Manual(_), TriggerEvent::Manual) => true,
            (Trigger::TicketUpdated(t), TriggerEvent::Updated { fields, status_from, status_to }) => {
                (t.fields.is_empty() || fields.iter().any(|f| t.fields.contains(f)))
                    && listed(&t.status_from, *status_from)
                    && listed(&t.status_to, *status_to)
            }
            (Trigger::SlaWarning(t), TriggerEvent::SlaWarning { target })
            | (Trigger::SlaBreached(t), TriggerEvent::SlaBreached { target }) => {
                t.targets.is_empty() || t.targets.iter().any(|x| x.as_str() == *target)
            }
            (Trigger::InboundChannel(t), TriggerEvent::InboundChannel { channel }) => {
                t.channels.is_empty() || t.channels.iter().any(|c| c.eq_ignore_ascii_case(channel))
            }
            _ => false,
        }
    }
}

/// An empty list accepts anything; otherwise the value must be present and listed.
fn listed(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
}

/// The options of a trigger that takes none: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// Options of `ticket_updated`; every list left empty accepts anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTrigger {
    /// Fire only when one of these fields changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Fire only when the status changed from one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_from: Vec<String>,
    /// Fire only when the status changed to one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_to: Vec<String>,
}

/// Options of `sla_warning` and `sla_breached`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTrigger {
    /// The targets that fire the trigger; empty means both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<SlaTarget>,
}

/// Options of `inbound_channel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelTrigger {
    /// The channels that fire the trigger (case-insensitive); empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
}

/// The tickets a cron trigger runs the workflow for, once each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// Only tickets in one of these statuses; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    /// Only tickets not updated for at least this many minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<u32>,
    /// At most this many tickets per firing (1..=10000, default 500).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    500
}

/// A cron trigger as written: the schedule and the time zone are checked
/// when it becomes a [`CronTrigger`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronSpec {
    /// The cron expression (5, 6 or 7 fields).
    pub schedule: String,
    /// IANA time zone name (default `UTC`).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// When present, one run per matching ticket; when absent, one run
    /// without a ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tickets: Option<TicketQuery>,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

/// A checked cron trigger, with its schedule parsed once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "CronSpec", into = "CronSpec")]
pub struct CronTrigger {
    spec: CronSpec,
    // Boxed: a parsed schedule is large, and every trigger is sized like the largest kind.
    schedule: Box<cron::Schedule>,
    timezone: Tz,
}

impl PartialEq for CronTrigger {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl TryFrom<CronSpec> for CronTrigger {
    type Error = String;

    fn try_from(spec: CronSpec) -> Result<Self, String> {
        let schedule = Box::new(parse_schedule(&spec.schedule)?);
        let timezone = parse_timezone(&spec.timezone)?;
        Ok(Self { spec, schedule, timezone })
    }
}

impl From<CronTrigger> for CronSpec {
    fn from(trigger: CronTrigger) -> Self {
        trigger.spec
    }
}

/// Parses a cron expression: 6 or 7 fields with seconds first
/// (`sec min hour day-of-month month day-of-week [year]`), or the standard 5
/// fields (which then fire at second 0). Day-of-week numbers are read as in
/// Unix cron, 0 or 7 being Sunday and 1 Monday (the `cron` crate itself
/// counts 1 = Sunday); names (`MON-FRI`) work too.
pub fn parse_schedule(expression: &str) -> Result<cron::Schedule, String> {
    let mut fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() == 5 {
        fields.insert(0, "0");
    }
    if !(6..=7).contains(&fields.len()) {
        return Err(format!(
            "`{expression}` has {} fields; a schedule has 5 (minute hour day month weekday), or 6 or 7 with seconds first",
            fields.len()
        ));
    }
    let weekdays = unix_weekdays(fields[5]).map_err(|e| format!("`{expression}`: {e}"))?;
    let mut normalized: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    normalized[5] = weekdays;
    cron::Schedule::from_str(&normalized.join(" ")).map_err(|e| {
        // The crate's message ends with its finding, after a drawing of the
        // (normalized) expression.
        let text = e.to_string();
        let finding = text.lines().map(str::trim).rfind(|l| !l.is_empty() && !l.starts_with('^')).unwrap_or_default();
        let finding = finding.rsplit_once('^').map_or(finding, |(_, f)| f.trim());
        format!("`{expression}` is not a valid cron expression: {finding}")
    })
}

/// Rewrites Unix day-of-week numbers (0 or 7 = Sunday) into the `cron`
/// crate's (1 = Sunday).
fn unix_weekdays(field: &str) -> Result<String, String> {
    fn day(n: &str) -> Option<u8> {
        n.parse::<u8>().ok().filter(|d| *d <= 7)
    }
    let mut out = Vec::new();
    for element in field.split(',') {
        let (base, step) = match element.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (element, None),
        };
        let suffix = step.map(|s| format!("/{s}")).unwrap_or_default();
        let converted = if let Some(d) = day(base) {
            format!("{}{suffix}", if d == 7 { 1 } else { d + 1 })
        } else if let Some((a, b)) = base.split_once('-').and_then(|(a, b)| Some((day(a)?, day(b)?))) {
            match (a, b) {
                (0, 7) => format!("1-7{suffix}"),
                (a, 7) if a > 0 && step.is_none() => format!("{}-7,1", a + 1),
                (a, 7) if a > 0 => {
                    return Err(format!("write the weekday range `{base}` with names (for example FRI-SAT,SUN)"));
                }
                (a, b) if a <= b => format!("{}-{}{suffix}", a + 1, b + 1),
                _ => return Err(format!("the weekday range `{base}` runs backwards")),
            }
        } else {
            element.to_owned()
        };
        out.push(converted);
    }
    Ok(out.join(","))
}

/// Parses an IANA time zone name.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| format!("`{name}` is not an IANA time zone name (for example Europe/Berlin or UTC)"))
}

impl CronTrigger {
    /// Checks and builds a trigger.
    pub fn new(spec: CronSpec) -> Result<Self, String> {
        Self::try_from(spec)
    }

    /// The trigger as written.
    pub fn spec(&self) -> &CronSpec {
        &self.spec
    }

    /// The cron expression as written.
    pub fn schedule(&self) -> &str {
        &self.spec.schedule
    }

    /// The time zone the schedule is read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The ticket query, when the workflow runs once per ticket.
    pub fn tickets(&self) -> Option<&TicketQuery> {
        self.spec.tickets.as_ref()
    }

    /// The first firing strictly after `after`, reading the schedule in the
    /// trigger's time zone.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&after.with_timezone(&self.timezone)).next().map(|t| t.with_timezone(&Utc))
    }

    /// The firings in `(from_exclusive, to_inclusive]`, oldest first, at most
    /// `max` of them.
    pub fn due_between(&self, from_exclusive: DateTime<Utc>, to_inclusive: DateTime<Utc>, max: usize) -> Vec<DateTime<Utc>> {
        if to_inclusive <= from_exclusive {
            return Vec::new();
        }
        self.schedule
            .after(&from_exclusive.with_timezone(&self.timezone))
            .map(|t| t.with_timezone(&Utc))
            .take_while(|t| *t <= to_inclusive)
            .take(max)
            .collect()
    }
}

/// A ticket event, matched against triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerEvent<'a> {
    /// A ticket was created.
    Created,
    /// A ticket was updated.
    Updated {
        /// The fields that changed.
        fields: &'a [String],
        /// The old status, when the status changed.
        status_from: Option<&'a str>,
        /// The new status, when the status changed.
        status_to: Option<&'a str>,
    },
    /// An SLA target reached its warning threshold.
    SlaWarning {
        /// `response` or `resolution`.
        target: &'a str,
    },
    /// An SLA target was breached.
    SlaBreached {
        /// `response` or `resolution`.
        target: &'a str,
    },
    /// Started by hand.
    Manual,
    /// A message arrived on an inbound channel.
    InboundChannel {
        /// The channel, for example a mailbox address.
        channel: &'a str,
    },
}

impl WorkflowDocument {
    /// Whether any trigger fires for `event`. It does not look at `enabled`.
    pub fn matches(&self, event: &TriggerEvent<'_>) -> bool {
        self.triggers.iter().any(|t| t.matches(event))
    }

    /// The cron triggers with their index in `triggers`.
    pub fn cron_triggers(&self) -> impl Iterator<Item = (usize, &CronTrigger)> {
        self.triggers.iter().enumerate().filter_map(|(i, t)| match t {
            Trigger::Cron(c) => Some((i, c)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cron(schedule: &str, timezone: &str) -> CronTrigger {
        CronTrigger::new(CronSpec { schedule: schedule.into(), timezone: timezone.into(), tickets: None }).unwrap()
    }

    #[test]
    fn five_field_schedules_fire_at_second_zero() {
        let t = cron("*/15 * * * *", "UTC");
        let after = Utc.with_ymd_and_hms(2026, 1, 1, 10, 7, 30).unwrap();
        assert_eq!(t.next_after(after), Some(Utc.with_ymd_and_hms(2026, 1, 1, 10, 15, 0).unwrap()));
    }

    #[test]
    fn schedules_are_read_in_their_time_zone() {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        let t = cron("0 0 9 * * *", "Europe/Berlin");
        let winter = Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap();
        assert_eq!(t.next_after(winter), Some(Utc.with_ymd_and_hms(2026, 1, 10, 8, 0, 0).unwrap()));
        let summer = Utc.with_ymd_and_hms(2026, 7, 10, 0, 0, 0).unwrap();
        assert_eq!(t.next_after(summer), Some(Utc.with_ymd_and_hms(2026, 7, 10, 7, 0, 0).unwrap()));
    }

    #[test]
    fn weekday_numbers_are_unix_style() {
        // 2026-01-05 is a Monday.
        let weekdays = cron("0 9 * * 1-5", "UTC");
        let saturday = Utc.with_ymd_and_hms(2026, 1, 3, 12, 0, 0).unwrap();
        assert_eq!(weekdays.next_after(saturday), Some(Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()));
        let sunday = cron("0 0 9 * * 0", "UTC");
        assert_eq!(sunday.next_after(saturday), Some(Utc.with_ymd_and_hms(2026, 1, 4, 9, 0, 0).unwrap()));
        let sunday7 = cron("0 0 9 * * 7", "UTC");
        assert_eq!(sunday7.next_after(saturday), sunday.next_after(saturday));
        let weekend = cron("0 0 9 * * 6-7", "UTC");
        assert_eq!(weekend.due_between(saturday, saturday + chrono::Duration::days(7), 10).len(), 2);
        let named = cron("0 0 9 * * MON-FRI", "UTC");
        assert_eq!(named.next_after(saturday), weekdays.next_after(saturday));
        assert!(parse_schedule("0 0 9 * * 5-1").is_err());
    }

    #[test]
    fn next_after_is_strict() {
        let t = cron("0 0 * * * *", "UTC");
        let on_the_hour = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
        assert_eq!(t.next_after(on_the_hour), Some(Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).unwrap()));
    }

    #[test]
    fn due_between_is_half_open_and_bounded() {
        let t = cron("0 */15 * * * *", "UTC");
        let from = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).unwrap();
        let due = t.due_between(from, to, 100);
        assert_eq!(due.len(), 4);
        assert_eq!(due[0], Utc.with_ymd_and_hms(2026, 1, 1, 10, 15, 0).unwrap());
        assert_eq!(due[3], to);
        assert_eq!(t.due_between(from, to, 2).len(), 2);
        assert!(t.due_between(to, from, 10).is_empty());
    }

    #[test]
    fn bad_schedules_and_zones() {
        assert!(parse_schedule("* * *").unwrap_err().contains("3 fields"));
        assert!(parse_schedule("0 61 * * * *").is_err());
        assert!(parse_timezone("Mars/Olympus").is_err());
        assert!(parse_timezone("America/New_York").is_ok());
    }

    #[test]
    fn update_matching() {
        let t = Trigger::TicketUpdated(UpdateTrigger {
            fields: vec!["status".into(), "priority".into()],
            status_from: vec![],
            status_to: vec!["resolved".into()],
        });
        let changed = ["status".to_owned()];
        let to_resolved = TriggerEvent::Updated { fields: &changed, status_from: Some("new"), status_to: Some("resolved") };
        assert!(t.matches(&to_resolved));
        let to_pending = TriggerEvent::Updated { fields: &changed, status_from: Some("new"), status_to: Some("pending") };
        assert!(!t.matches(&to_pending));
        let title = ["title".to_owned()];
        let no_status = TriggerEvent::Updated { fields: &title, status_from: None, status_to: None };
        assert!(!t.matches(&no_status));
        let any = Trigger::TicketUpdated(UpdateTrigger::default());
        assert!(any.matches(&no_status));
        assert!(!any.matches(&TriggerEvent::Created));
    }

    #[test]
    fn sla_and_channel_matching() {
        let both = Trigger::SlaWarning(SlaTrigger::default());
        assert!(both.matches(&TriggerEvent::SlaWarning { target: "response" }));
        assert!(!both.matches(&TriggerEvent::SlaBreached { target: "response" }));
        let resolution = Trigger::SlaBreached(SlaTrigger { targets: vec![SlaTarget::Resolution] });
        assert!(resolution.matches(&TriggerEvent::SlaBreached { target: "resolution" }));
        assert!(!resolution.matches(&TriggerEvent::SlaBreached { target: "response" }));
        let mail = Trigger::InboundChannel(ChannelTrigger { channels: vec!["support@example.com".into()] });
        assert!(mail.matches(&TriggerEvent::InboundChannel { channel: "Support@Example.com" }));
        assert!(!mail.matches(&TriggerEvent::InboundChannel { channel: "sales@example.com" }));
        assert!(Trigger::Manual(NoOptions {}).matches(&TriggerEvent::Manual));
    }
}
