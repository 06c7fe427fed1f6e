//! Business calendars: when the service desk works. A calendar lists local
//! working windows per weekday in an IANA time zone, plus holidays, and
//! answers the two questions SLA clocks ask: how much working time lies
//! between two instants ([`BusinessCalendar::business_time`]), and when a
//! given amount of working time will have elapsed
//! ([`BusinessCalendar::add_business_time`]). Windows are wall-clock times,
//! so a 09:00-17:00 window stays 09:00-17:00 across daylight saving changes;
//! a local time that does not exist (spring gap) means the instant the gap
//! ends, and one that exists twice (autumn fold) means its first occurrence.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::document::{check_schema, child, compile_schema};
use crate::error::{DomainError, Violations};

/// How far ahead, in days, [`BusinessCalendar::add_business_time`] looks
/// before it gives up; long enough for any SLA target on any sane calendar.
pub const HORIZON_DAYS: i64 = 3 * 366;

/// Longest holiday range, in days (both ends included).
const MAX_HOLIDAY_DAYS: i64 = 366;

/// Longest calendar or holiday name, in characters.
const MAX_NAME_CHARS: usize = 200;

const MINUTES_PER_DAY: u32 = 24 * 60;

/// A business calendar as admins write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarDocument {
    /// Stable identifier policies refer to, `^[a-z0-9][a-z0-9_-]{0,63}$`.
    pub id: String,
    /// Name for people, 1 to 200 characters.
    pub name: String,
    /// IANA time zone the working hours are local to, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Working windows per weekday.
    pub hours: WeekHours,
    /// Dates on which nothing counts.
    #[serde(default)]
    pub holidays: Vec<Holiday>,
}

/// Working windows per weekday, each `"HH:MM-HH:MM"` in local time; the end
/// may be `24:00`. A day without windows is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekHours {
    /// Monday.
    #[serde(default)]
    pub mon: Vec<String>,
    /// Tuesday.
    #[serde(default)]
    pub tue: Vec<String>,
    /// Wednesday.
    #[serde(default)]
    pub wed: Vec<String>,
    /// Thursday.
    #[serde(default)]
    pub thu: Vec<String>,
    /// Friday.
    #[serde(default)]
    pub fri: Vec<String>,
    /// Saturday.
    #[serde(default)]
    pub sat: Vec<String>,
    /// Sunday.
    #[serde(default)]
    pub sun: Vec<String>,
}

impl WeekHours {
    /// The days Monday first, with the key each has in the document.
    fn days(&self) -> [(&'static str, &[String]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// A closed local date, or an inclusive range of them: either `date`, or
/// `from` and `to`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    /// The single date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// First date of a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// Last date of a range, included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    /// Name for people, e.g. `Christmas Eve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A checked calendar, ready for time arithmetic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    id: String,
    name: String,
    tz: Tz,
    /// Per weekday, Monday first: sorted, disjoint, non-touching windows as
    /// minutes of the local day, `[start, end)`, end at most 1440.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
    /// Every minute counts, so instants can be subtracted directly.
    always_open: bool,
}

impl BusinessCalendar {
    /// Compiles and checks a document. `path` prefixes every violation's
    /// field, e.g. path `calendars[1]` gives `calendars[1].time_zone`,
    /// `calendars[1].hours.mon[0]` or `calendars[1].holidays[2].to`. Every
    /// violation is reported at once, as [`DomainError::Validation`].
    pub fn compile(doc: &CalendarDocument, path: &str) -> Result<BusinessCalendar, DomainError> {
        let mut v = Violations::default();
        let id_field = child(path, "id");
        v.check(!is_valid_id(&doc.id), &id_field, "pattern", || {
            format!("`{}` is not a valid id: use 1 to 64 of a-z, 0-9, `_` and `-`, starting with a letter or digit", doc.id)
        });
        let name_field = child(path, "name");
        if doc.name.trim().is_empty() {
            v.push(name_field, "required", "a calendar needs a name");
        } else {
            v.check(doc.name.chars().count() > MAX_NAME_CHARS, &name_field, "max_length", || {
                format!("a calendar name has at most {MAX_NAME_CHARS} characters")
            });
        }
        // UTC only stands in so the other checks can run; the violation makes the result an error anyway.
        let tz = doc.time_zone.parse::<Tz>().unwrap_or_else(|_| {
            v.push(
                child(path, "time_zone"),
                "time_zone",
                format!("`{}` is not a known IANA time zone; use a name such as Europe/Berlin or UTC", doc.time_zone),
            );
            Tz::UTC
        });

        let hours_field = child(path, "hours");
        let days = doc.hours.days();
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (slot, (key, entries)) in week.iter_mut().zip(days) {
            *slot = compile_day(&child(&hours_field, key), entries, &mut v);
        }
        // Only an empty week is reported here: a week whose windows are all malformed already says so per entry.
        if days.iter().all(|(_, entries)| entries.is_empty()) {
            v.push(hours_field, "required", "a calendar needs at least one working window");
        }

        let holidays_field = child(path, "holidays");
        let mut holidays = BTreeSet::new();
        for (i, holiday) in doc.holidays.iter().enumerate() {
            compile_holiday(&format!("{holidays_field}[{i}]"), holiday, &mut holidays, &mut v);
        }
        v.finish()?;

        let always_open = holidays.is_empty() && week.iter().all(|day| day.as_slice() == [(0, MINUTES_PER_DAY)]);
        Ok(BusinessCalendar { id: doc.id.clone(), name: doc.name.clone(), tz, week, holidays, always_open })
    }

    /// A 24x7 calendar in UTC (every minute counts), named `24x7` /
    /// "Around the clock".
    pub fn always_open() -> BusinessCalendar {
        BusinessCalendar {
            id: "24x7".to_owned(),
            name: "Around the clock".to_owned(),
            tz: Tz::UTC,
            week: std::array::from_fn(|_| vec![(0, MINUTES_PER_DAY)]),
            holidays: BTreeSet::new(),
            always_open: true,
        }
    }

    /// The calendar's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The calendar's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone the working hours are local to.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Whether `at` falls inside working hours (a window includes its start
    /// and excludes its end).
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        if self.always_open {
            return true;
        }
        let day = self.local_date(at);
        dates(day.pred_opt().unwrap_or(day), day.succ_opt().unwrap_or(day))
            .any(|date| self.windows_on(date).any(|(start, end)| start <= at && at < end))
    }

    /// Business (working) time between two instants; zero when `to <= from`.
    /// The cost grows with the number of local days between them.
    pub fn business_time(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        if to <= from {
            return TimeDelta::zero();
        }
        if self.always_open {
            return to - from;
        }
        let (first, last) = (self.local_date(from), self.local_date(to));
        // One day of slack on either side: around a fold at midnight an instant's local date can lag the windows it lies in.
        dates(first.pred_opt().unwrap_or(first), last.succ_opt().unwrap_or(last))
            .flat_map(|date| self.windows_on(date))
            .map(|(start, end)| (start.max(from), end.min(to)))
            .filter(|(start, end)| start < end)
            .fold(TimeDelta::zero(), |total, (start, end)| total + (end - start))
    }

    /// The instant at which `amount` of business time has elapsed after
    /// `from`: the earliest such instant, so it lies inside or at the end of
    /// a working window and never inside a closed period, except that a zero
    /// (or negative) amount gives `from` itself. `None` when the amount
    /// cannot be reached within [`HORIZON_DAYS`], e.g. on a calendar whose
    /// holidays close it for years.
    pub fn add_business_time(&self, from: DateTime<Utc>, amount: TimeDelta) -> Option<DateTime<Utc>> {
        if amount <= TimeDelta::zero() {
            return Some(from);
        }
        if self.always_open {
            return from.checked_add_signed(amount);
        }
        let day = self.local_date(from);
        let last = day.checked_add_days(chrono::Days::new(HORIZON_DAYS.unsigned_abs())).unwrap_or(NaiveDate::MAX);
        let mut remaining = amount;
        for (start, end) in dates(day.pred_opt().unwrap_or(day), last).flat_map(|date| self.windows_on(date)) {
            let start = start.max(from);
            if end <= start {
                continue;
            }
            let usable = end - start;
            if remaining <= usable {
                return start.checked_add_signed(remaining);
            }
            remaining -= usable;
        }
        None
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The working windows of one local date as UTC instants, in order.
    fn windows_on(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let windows: &[(u32, u32)] =
            if self.holidays.contains(&date) { &[] } else { &self.week[date.weekday().num_days_from_monday() as usize] };
        windows.iter().filter_map(move |&(start, end)| Some((self.instant(date, start)?, self.instant(date, end)?)))
    }

    /// The instant of a local date and minute of day (1440 is the next
    /// midnight). `None` only at the edges of chrono's range.
    fn instant(&self, date: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
        let (date, minute) = if minute >= MINUTES_PER_DAY { (date.succ_opt()?, 0) } else { (date, minute) };
        let local = date.and_hms_opt(minute / 60, minute % 60, 0)?;
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
            // The earliest occurrence keeps the mapping monotonic, so windows never overlap once in UTC.
            LocalResult::Ambiguous(first, second) => Some(first.min(second).with_timezone(&Utc)),
            LocalResult::None => Some(self.gap_end(&local)),
        }
    }

    /// The first instant after a local time that a DST gap skips.
    fn gap_end(&self, local: &NaiveDateTime) -> DateTime<Utc> {
        if let Some(end) = chrono_tz::GapInfo::new(local, &self.tz).and_then(|gap| gap.end) {
            return end.with_timezone(&Utc);
        }
        // Unreachable with real zone data (a gap always ends); reading the wall clock with the offset in force at the
        // same UTC reading at least gives a nearby instant.
        let offset = chrono::Offset::fix(&self.tz.offset_from_utc_datetime(local));
        let wall = local.and_utc();
        wall.checked_sub_signed(TimeDelta::seconds(i64::from(offset.local_minus_utc()))).unwrap_or(wall)
    }
}

/// Local dates from `first` to `last`, both included.
fn dates(first: NaiveDate, last: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    first.iter_days().take_while(move |date| *date <= last)
}

/// `parent.key`, or just `key` at the top.
fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (1..=64).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// Parses `HH:MM-HH:MM` into minutes of the day; the end may be `24:00`.
fn parse_window(text: &str) -> Option<(u32, u32)> {
    let (start, end) = text.split_once('-')?;
    let start = parse_clock(start).filter(|&m| m < MINUTES_PER_DAY)?;
    let end = parse_clock(end)?;
    Some((start, end))
}

/// Parses `HH:MM` (00:00 to 23:59, or exactly 24:00) into minutes.
fn parse_clock(text: &str) -> Option<u32> {
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return None;
    }
    let digit = |i: usize| bytes[i].is_ascii_digit().then(|| u32::from(bytes[i] - b'0'));
    let (hours, minutes) = (digit(0)? * 10 + digit(1)?, digit(3)? * 10 + digit(4)?);
    match (hours, minutes) {
        (0..=23, 0..=59) | (24, 0) => Some(hours * 60 + minutes),
        _ => None,
    }
}

/// Checks one day's windows and returns them sorted, with touching windows
/// merged.
fn compile_day(day_field: &str, entries: &[String], v: &mut Violations) -> Vec<(u32, u32)> {
    let mut windows = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("{day_field}[{i}]");
        match parse_window(entry) {
            None => v.push(field, "format", format!("`{entry}` is not a window like 09:00-17:00 (the end may be 24:00)")),
            Some((start, end)) if start >= end => v.push(field, "inverted", format!("`{entry}` ends before it starts")),
            Some((start, end)) => windows.push((start, end, i)),
        }
    }
    windows.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(windows.len());
    for (start, end, i) in windows {
        match merged.last_mut() {
            Some(last) if start < last.1 => {
                v.push(format!("{day_field}[{i}]"), "overlap", format!("`{}` overlaps another window of the same day", entries[i]));
                last.1 = last.1.max(end);
            }
            Some(last) if start == last.1 => last.1 = end,
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Checks one holiday and adds its dates.
fn compile_holiday(field: &str, holiday: &Holiday, dates_out: &mut BTreeSet<NaiveDate>, v: &mut Violations) {
    if let Some(name) = &holiday.name {
        v.check(name.chars().count() > MAX_NAME_CHARS, &child(field, "name"), "max_length", || {
            format!("a holiday name has at most {MAX_NAME_CHARS} characters")
        });
    }
    match (holiday.date, holiday.from, holiday.to) {
        (Some(date), None, None) => {
            dates_out.insert(date);
        }
        (None, Some(from), Some(to)) => {
            if to < from {
                v.push(child(field, "to"), "inverted", format!("the range ends on {to}, before it starts on {from}"));
            } else if (to - from).num_days() + 1 > MAX_HOLIDAY_DAYS {
                v.push(child(field, "to"), "range", format!("a holiday range spans at most {MAX_HOLIDAY_DAYS} days"));
            } else {
                dates_out.extend(dates(from, to));
            }
        }
        _ => v.push(field, "one_of", "a holiday has either a `date`, or both `from` and `to`"),
    }
}

/// The published JSON Schema (draft 2020-12) of one calendar document.
pub fn calendar_schema() -> &'static Value {
    &schema().0
}

fn schema() -> &'static (Value, jsonschema::Validator) {
    static SCHEMA: OnceLock<(Value, jsonschema::Validator)> = OnceLock::new();
    SCHEMA.get_or_init(|| compile_schema(include_str!("../schema/calendar.schema.json")))
}

/// Checks `value` against [`calendar_schema`], deserialises it and
/// compiles it. Every violation's field starts with `path`: schema errors
/// name the offending place (`calendars[0].hours.mon[1]`), unknown
/// properties get the rule `unknown_field` and name the property, missing
/// ones `required`, a holiday that is neither a date nor a range `one_of`,
/// and other schema failures `json_schema`.
pub fn parse_calendar(value: &Value, path: &str) -> Result<BusinessCalendar, DomainError> {
    check_schema(&schema().1, value, path, "a holiday has either a `date`, or both `from` and `to`")?;
    let doc: CalendarDocument =
        serde_json::from_value(value.clone()).map_err(|e| DomainError::invalid(path, "json_schema", e.to_string()))?;
    BusinessCalendar::compile(&doc, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use proptest::prelude::*;
    use serde_json::json;

    fn compile_json(value: Value) -> BusinessCalendar {
        let doc: CalendarDocument = serde_json::from_value(value).expect("test documents deserialise");
        BusinessCalendar::compile(&doc, "").expect("test documents compile")
    }

    fn berlin_doc() -> Value {
        json!({
            "id": "office-berlin",
            "name": "Office hours Europe/Berlin",
            "time_zone": "Europe/Berlin",
            "hours": {
                "mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "wed": ["09:00-17:00"], "thu": ["09:00-17:00"], "fri": ["09:00-17:00"]
            },
            "holidays": [
                { "from": "2026-12-24", "to": "2026-12-26", "name": "Christmas" },
                { "date": "2027-01-01", "name": "New Year" }
            ]
        })
    }

    fn new_york_doc() -> Value {
        json!({
            "id": "office-new-york",
            "name": "Office hours America/New_York",
            "time_zone": "America/New_York",
            "hours": {
                "mon": ["08:00-18:00"], "tue": ["08:00-18:00"], "wed": ["08:00-18:00"], "thu": ["08:00-18:00"], "fri": ["08:00-18:00"]
            }
        })
    }

    fn all_days(windows: &[&str]) -> Value {
        let day: Vec<&str> = windows.to_vec();
        json!({"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day})
    }

    fn daily_doc(zone: &str, windows: &[&str], holidays: Value) -> Value {
        json!({"id": "daily", "name": "Daily", "time_zone": zone, "hours": all_days(windows), "holidays": holidays})
    }

    /// A local wall-clock time that exists exactly once.
    fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("an unambiguous local time").with_timezone(&Utc)
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        local(Tz::UTC, y, m, d, h, min)
    }

    fn minutes(m: i64) -> TimeDelta {
        TimeDelta::minutes(m)
    }

    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const NEW_YORK: Tz = chrono_tz::America::New_York;

    #[test]
    fn berlin_office_hours() {
        let cal = compile_json(berlin_doc());
        let fri = local(BERLIN, 2026, 11, 27, 16, 55);
        assert_eq!(cal.business_time(fri, local(BERLIN, 2026, 11, 30, 9, 30)), minutes(35));
        assert_eq!(cal.add_business_time(fri, TimeDelta::hours(4)), Some(local(BERLIN, 2026, 11, 30, 12, 55)));
        // Exactly the rest of Friday ends at Friday's close, not at Monday's opening.
        assert_eq!(cal.add_business_time(fri, minutes(5)), Some(local(BERLIN, 2026, 11, 27, 17, 0)));
        assert_eq!(cal.add_business_time(fri, minutes(6)), Some(local(BERLIN, 2026, 11, 30, 9, 1)));
        // The weekend counts nothing.
        assert_eq!(cal.business_time(local(BERLIN, 2026, 11, 28, 0, 0), local(BERLIN, 2026, 11, 30, 0, 0)), TimeDelta::zero());
        assert_eq!(cal.business_time(local(BERLIN, 2026, 11, 30, 0, 0), local(BERLIN, 2026, 12, 7, 0, 0)), TimeDelta::hours(40));
        // Christmas Eve (Thursday) to Boxing Day are holidays, then the weekend.
        assert_eq!(
            cal.add_business_time(local(BERLIN, 2026, 12, 23, 16, 0), TimeDelta::hours(2)),
            Some(local(BERLIN, 2026, 12, 28, 10, 0))
        );
        assert_eq!(cal.business_time(local(BERLIN, 2026, 12, 24, 0, 0), local(BERLIN, 2026, 12, 28, 0, 0)), TimeDelta::zero());
        assert_eq!(cal.add_business_time(local(BERLIN, 2026, 12, 31, 17, 0), TimeDelta::hours(1)), Some(local(BERLIN, 2027, 1, 4, 10, 0)));
        assert!(!cal.is_open_at(local(BERLIN, 2026, 12, 24, 10, 0)));
        assert!(cal.is_open_at(local(BERLIN, 2026, 12, 23, 9, 0)));
        assert!(!cal.is_open_at(local(BERLIN, 2026, 12, 23, 17, 0)));
        assert!(!cal.is_open_at(local(BERLIN, 2026, 11, 28, 12, 0)));
        // In summer Berlin is UTC+2: 09:00 local is 07:00 UTC.
        assert!(cal.is_open_at(utc(2026, 7, 1, 7, 0)));
        assert!(!cal.is_open_at(utc(2026, 7, 1, 6, 59)));
        assert_eq!(cal.business_time(fri, fri), TimeDelta::zero());
        assert_eq!(cal.business_time(fri + minutes(1), fri), TimeDelta::zero());
        assert_eq!(cal.add_business_time(local(BERLIN, 2026, 11, 28, 3, 0), TimeDelta::zero()), Some(local(BERLIN, 2026, 11, 28, 3, 0)));
        assert_eq!((cal.id(), cal.name(), cal.time_zone()), ("office-berlin", "Office hours Europe/Berlin", BERLIN));
    }

    #[test]
    fn new_york_office_hours_across_spring_forward() {
        let cal = compile_json(new_york_doc());
        // DST starts on Sunday 2026-03-08: Friday 17:00 EST to Monday 09:00 EDT is two working hours.
        let fri = local(NEW_YORK, 2026, 3, 6, 17, 0);
        let mon = local(NEW_YORK, 2026, 3, 9, 9, 0);
        assert_eq!(cal.business_time(fri, mon), TimeDelta::hours(2));
        assert_eq!(mon - fri, TimeDelta::hours(63));
        assert_eq!(cal.add_business_time(local(NEW_YORK, 2026, 3, 6, 17, 30), TimeDelta::hours(1)), Some(utc(2026, 3, 9, 12, 30)));
        assert!(cal.is_open_at(utc(2026, 3, 9, 12, 0)));
        assert!(!cal.is_open_at(utc(2026, 3, 9, 11, 59)));
        assert!(cal.is_open_at(utc(2026, 3, 6, 13, 0)));
        assert!(!cal.is_open_at(utc(2026, 3, 6, 12, 59)));
        assert_eq!(cal.business_time(local(NEW_YORK, 2026, 11, 2, 0, 0), local(NEW_YORK, 2026, 11, 9, 0, 0)), TimeDelta::hours(50));
    }

    #[test]
    fn whole_days_follow_dst() {
        // A holiday far away keeps the calendar off the always-open fast path, so the window walk is what is tested.
        let walked = compile_json(daily_doc("Europe/Berlin", &["00:00-24:00"], json!([{"date": "2030-01-01"}])));
        let fast = compile_json(daily_doc("Europe/Berlin", &["00:00-24:00"], json!([])));
        assert!(!walked.always_open && fast.always_open);
        for cal in [&walked, &fast] {
            let day = |m, d| (local(BERLIN, 2026, m, d, 0, 0), local(BERLIN, 2026, m, d + 1, 0, 0));
            let (start, end) = day(3, 29);
            assert_eq!(cal.business_time(start, end), TimeDelta::hours(23));
            let (start, end) = day(10, 25);
            assert_eq!(cal.business_time(start, end), TimeDelta::hours(25));
            let (start, end) = day(10, 26);
            assert_eq!(cal.business_time(start, end), TimeDelta::hours(24));
            assert_eq!(
                cal.add_business_time(local(BERLIN, 2026, 3, 29, 0, 0), TimeDelta::hours(23)),
                Some(local(BERLIN, 2026, 3, 30, 0, 0))
            );
            assert!(cal.is_open_at(utc(2026, 3, 29, 1, 0)));
        }
    }

    #[test]
    fn early_windows_across_dst() {
        let cal = compile_json(daily_doc("Europe/Berlin", &["01:00-05:00"], json!([])));
        // Spring forward skips 02:00-03:00 local: 01:00 CET (00:00Z) to 05:00 CEST (03:00Z).
        assert_eq!(cal.business_time(utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 12, 0)), TimeDelta::hours(3));
        // Fall back repeats 02:00-03:00 local: 01:00 CEST (23:00Z) to 05:00 CET (04:00Z).
        assert_eq!(cal.business_time(utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 12, 0)), TimeDelta::hours(5));
        assert_eq!(cal.business_time(utc(2026, 10, 25, 12, 0), utc(2026, 10, 26, 12, 0)), TimeDelta::hours(4));
        // 01:30 CET plus an hour is 01:30Z, which reads 03:30 CEST.
        assert_eq!(cal.add_business_time(utc(2026, 3, 29, 0, 30), TimeDelta::hours(1)), Some(utc(2026, 3, 29, 1, 30)));
        assert_eq!(cal.add_business_time(utc(2026, 3, 29, 0, 30), TimeDelta::hours(3)), Some(utc(2026, 3, 29, 23, 30)));
        assert!(cal.is_open_at(utc(2026, 10, 25, 1, 30)));

        // A window inside the gap does not exist that day; inside the fold it covers both passes.
        let gap = compile_json(daily_doc("Europe/Berlin", &["02:00-03:00"], json!([])));
        assert_eq!(gap.business_time(utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 12, 0)), TimeDelta::zero());
        assert_eq!(gap.business_time(utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 12, 0)), TimeDelta::hours(2));
        assert_eq!(gap.business_time(utc(2026, 10, 25, 12, 0), utc(2026, 10, 26, 12, 0)), TimeDelta::hours(1));
        // A window that ends inside the fold ends at its first pass.
        let fold = compile_json(daily_doc("Europe/Berlin", &["02:00-02:30"], json!([])));
        assert_eq!(fold.business_time(utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 12, 0)), minutes(30));
        assert!(fold.is_open_at(utc(2026, 10, 25, 0, 15)));
        assert!(!fold.is_open_at(utc(2026, 10, 25, 1, 15)));
        // A window that starts in the gap starts when the gap ends.
        let late = compile_json(daily_doc("Europe/Berlin", &["02:30-04:00"], json!([])));
        assert_eq!(late.business_time(utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 12, 0)), TimeDelta::hours(1));
        assert_eq!(late.add_business_time(utc(2026, 3, 28, 12, 0), minutes(1)), Some(utc(2026, 3, 29, 1, 1)));
    }

    #[test]
    fn always_open_is_utc_and_fast() {
        let cal = BusinessCalendar::always_open();
        assert_eq!((cal.id(), cal.name(), cal.time_zone()), ("24x7", "Around the clock", Tz::UTC));
        let from = utc(2026, 3, 29, 0, 0) + TimeDelta::microseconds(7);
        assert_eq!(cal.business_time(from, from + TimeDelta::days(900)), TimeDelta::days(900));
        assert_eq!(cal.add_business_time(from, TimeDelta::days(5000)), Some(from + TimeDelta::days(5000)));
        assert!(cal.is_open_at(from));
        assert_eq!(compile_json(daily_doc("UTC", &["00:00-24:00"], json!([]))).week, cal.week);
        // Touching windows merge into a whole day, so this is always open too.
        assert!(compile_json(daily_doc("Asia/Kolkata", &["12:00-24:00", "00:00-12:00"], json!([]))).always_open);
    }

    #[test]
    fn closed_for_the_horizon_gives_none() {
        let cal = compile_json(json!({
            "id": "closed", "name": "Closed", "time_zone": "UTC", "hours": {"mon": ["09:00-10:00"]},
            "holidays": [{"from": "2026-01-01", "to": "2026-12-31"}, {"from": "2027-01-01", "to": "2027-12-31"},
                         {"from": "2028-01-01", "to": "2028-12-31"}, {"from": "2029-01-01", "to": "2029-12-31"}]
        }));
        assert_eq!(cal.add_business_time(utc(2026, 1, 1, 0, 0), minutes(1)), None);
        assert_eq!(cal.add_business_time(utc(2026, 1, 1, 0, 0), TimeDelta::zero()), Some(utc(2026, 1, 1, 0, 0)));
        assert_eq!(cal.add_business_time(utc(2029, 6, 1, 0, 0), minutes(1)), Some(utc(2030, 1, 7, 9, 1)));
    }

    #[test]
    fn sub_minute_precision() {
        let cal = compile_json(berlin_doc());
        let from = local(BERLIN, 2026, 11, 27, 16, 59) + TimeDelta::microseconds(59_999_999);
        assert_eq!(cal.business_time(from, local(BERLIN, 2026, 11, 30, 9, 0)), TimeDelta::microseconds(1));
        assert_eq!(
            cal.add_business_time(from, TimeDelta::microseconds(2)),
            Some(local(BERLIN, 2026, 11, 30, 9, 0) + TimeDelta::microseconds(1))
        );
    }

    fn rules(result: Result<BusinessCalendar, DomainError>) -> Vec<(String, String)> {
        let err = result.expect_err("the document is invalid");
        assert!(matches!(err, DomainError::Validation(_)), "{err:?}");
        err.violations().iter().map(|v| (v.field.clone(), v.rule.clone())).collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|(f, r)| ((*f).to_owned(), (*r).to_owned())).collect()
    }

    fn doc_with(edit: impl FnOnce(&mut CalendarDocument)) -> CalendarDocument {
        let mut doc: CalendarDocument = serde_json::from_value(berlin_doc()).expect("the Berlin document deserialises");
        edit(&mut doc);
        doc
    }

    fn check_rule(edit: impl FnOnce(&mut CalendarDocument), field: &str, rule: &str) {
        let doc = doc_with(edit);
        assert_eq!(rules(BusinessCalendar::compile(&doc, "calendars[1]")), pairs(&[(field, rule)]), "{doc:?}");
    }

    #[test]
    fn each_rule_names_its_field() {
        let p = "calendars[1]";
        check_rule(|d| d.id = "Office".into(), &format!("{p}.id"), "pattern");
        check_rule(|d| d.id = String::new(), &format!("{p}.id"), "pattern");
        check_rule(|d| d.id = "-office".into(), &format!("{p}.id"), "pattern");
        check_rule(|d| d.id = "a".repeat(65), &format!("{p}.id"), "pattern");
        check_rule(|d| d.name = String::new(), &format!("{p}.name"), "required");
        check_rule(|d| d.name = "  ".into(), &format!("{p}.name"), "required");
        check_rule(|d| d.name = "é".repeat(201), &format!("{p}.name"), "max_length");
        check_rule(|d| d.time_zone = "Europe/Atlantis".into(), &format!("{p}.time_zone"), "time_zone");
        check_rule(|d| d.time_zone = "europe/berlin".into(), &format!("{p}.time_zone"), "time_zone");
        for bad in
            ["9:00-17:00", "09:00-17", "09:00 - 17:00", "24:00-24:00", "09:60-10:00", "09:00-24:01", "25:00-26:00", "", "ab:cd-ef:gh"]
        {
            check_rule(|d| d.hours.mon = vec![bad.into()], &format!("{p}.hours.mon[0]"), "format");
        }
        check_rule(|d| d.hours.tue = vec!["09:00-12:00".into(), "17:00-09:00".into()], &format!("{p}.hours.tue[1]"), "inverted");
        check_rule(|d| d.hours.wed = vec!["10:00-10:00".into()], &format!("{p}.hours.wed[0]"), "inverted");
        check_rule(|d| d.hours.thu = vec!["13:00-17:00".into(), "09:00-13:30".into()], &format!("{p}.hours.thu[0]"), "overlap");
        check_rule(|d| d.hours.fri = vec!["09:00-12:00".into(), "09:00-12:00".into()], &format!("{p}.hours.fri[1]"), "overlap");
        check_rule(|d| d.hours = WeekHours::default(), &format!("{p}.hours"), "required");
        check_rule(|d| d.holidays = vec![Holiday::default()], &format!("{p}.holidays[0]"), "one_of");
        let day = NaiveDate::from_ymd_opt(2026, 5, 1);
        check_rule(|d| d.holidays[1].from = day, &format!("{p}.holidays[1]"), "one_of");
        check_rule(|d| d.holidays[0].to = None, &format!("{p}.holidays[0]"), "one_of");
        check_rule(|d| d.holidays[0].to = NaiveDate::from_ymd_opt(2026, 12, 1), &format!("{p}.holidays[0].to"), "inverted");
        check_rule(|d| d.holidays[0].to = NaiveDate::from_ymd_opt(2027, 12, 25), &format!("{p}.holidays[0].to"), "range");
        check_rule(|d| d.holidays[1].name = Some("x".repeat(201)), &format!("{p}.holidays[1].name"), "max_length");
    }

    #[test]
    fn valid_edges_compile() {
        let doc = doc_with(|d| {
            d.id = "0".into();
            d.name = "x".repeat(200);
            d.hours.mon = vec!["12:00-13:00".into(), "09:00-12:00".into(), "13:00-24:00".into(), "00:00-00:01".into()];
            d.hours.sat = vec!["23:59-24:00".into()];
            // Exactly 366 days, a leap year included.
            d.holidays = vec![Holiday {
                from: NaiveDate::from_ymd_opt(2028, 1, 1),
                to: NaiveDate::from_ymd_opt(2028, 12, 31),
                ..Holiday::default()
            }];
        });
        let cal = BusinessCalendar::compile(&doc, "").expect("edge values are valid");
        assert_eq!(cal.week[0], vec![(0, 1), (9 * 60, 1440)]);
        assert_eq!(cal.week[5], vec![(1439, 1440)]);
        assert_eq!(cal.holidays.len(), 366);
        assert!(BusinessCalendar::compile(&doc_with(|d| d.id = "a".repeat(64)), "").is_ok());
    }

    #[test]
    fn reports_every_violation_at_once() {
        let doc = CalendarDocument {
            id: "Bad Id".into(),
            name: String::new(),
            time_zone: "Mars/Olympus".into(),
            hours: WeekHours { mon: vec!["9-5".into()], sun: vec!["10:00-12:00".into(), "11:00-13:00".into()], ..WeekHours::default() },
            holidays: vec![
                Holiday { date: NaiveDate::from_ymd_opt(2026, 1, 1), from: NaiveDate::from_ymd_opt(2026, 1, 1), ..Holiday::default() },
                Holiday { from: NaiveDate::from_ymd_opt(2026, 1, 2), to: NaiveDate::from_ymd_opt(2026, 1, 1), ..Holiday::default() },
            ],
        };
        assert_eq!(
            rules(BusinessCalendar::compile(&doc, "calendars[3]")),
            pairs(&[
                ("calendars[3].id", "pattern"),
                ("calendars[3].name", "required"),
                ("calendars[3].time_zone", "time_zone"),
                ("calendars[3].hours.mon[0]", "format"),
                ("calendars[3].hours.sun[1]", "overlap"),
                ("calendars[3].holidays[0]", "one_of"),
                ("calendars[3].holidays[1].to", "inverted"),
            ])
        );
        // Without a path the fields start at the document.
        let err = BusinessCalendar::compile(&CalendarDocument { hours: WeekHours::default(), ..doc }, "").expect_err("invalid");
        assert!(err.violations().iter().any(|v| v.field == "hours" && v.rule == "required"), "{err:?}");
        assert!(err.violations().iter().any(|v| v.message.contains("Mars/Olympus")), "{err:?}");
    }

    fn examples() -> Vec<Value> {
        vec![
            berlin_doc(),
            new_york_doc(),
            json!({"id": "24x7", "name": "Around the clock", "time_zone": "UTC", "hours": all_days(&["00:00-24:00"])}),
            daily_doc("Australia/Sydney", &["07:30-12:00", "13:00-19:45"], json!([{"date": "2026-01-26", "name": "Australia Day"}])),
            json!({"id": "weekend_desk", "name": "Weekend desk", "time_zone": "Asia/Kolkata", "hours": {"sat": ["10:00-14:00"], "sun": []},
                   "holidays": []}),
        ]
    }

    #[test]
    fn schema_accepts_what_compile_accepts() {
        let validator = jsonschema::options().should_validate_formats(true).build(calendar_schema()).expect("the schema compiles");
        for example in examples() {
            assert!(validator.is_valid(&example), "{example}");
            let parsed = parse_calendar(&example, "calendars[0]").expect("the example parses");
            assert_eq!(parsed, compile_json(example.clone()));
            // Serialising the document gives back something the schema accepts and that compiles the same.
            let doc: CalendarDocument = serde_json::from_value(example).expect("deserialises");
            let round_trip = serde_json::to_value(&doc).expect("serialises");
            assert_eq!(parse_calendar(&round_trip, "").expect("round trip parses"), parsed);
        }
        assert_eq!(calendar_schema()["$schema"], "https://json-schema.org/draft/2020-12/schema");
    }

    fn parse_rules(value: Value) -> Vec<(String, String)> {
        rules(parse_calendar(&value, "calendars[2]"))
    }

    #[test]
    fn schema_rejects_unknown_fields() {
        let mut doc = berlin_doc();
        doc["colour"] = json!("blue");
        doc["hours"]["monday"] = json!(["09:00-17:00"]);
        doc["holidays"][1]["note"] = json!("closed");
        let mut found = parse_rules(doc);
        found.sort();
        assert_eq!(
            found,
            pairs(&[
                ("calendars[2].colour", "unknown_field"),
                ("calendars[2].holidays[1].note", "unknown_field"),
                ("calendars[2].hours.monday", "unknown_field")
            ])
        );
        let err = parse_calendar(&json!({"id": "x", "name": "x", "time_zone": "UTC", "hours": {"mon": ["09:00-10:00"]}, "a.b": 1}), "")
            .expect_err("unknown field");
        assert_eq!(err.violations()[0].field, "[\"a.b\"]");
        assert!(err.violations()[0].message.contains("a.b"));
    }

    #[test]
    fn schema_errors_name_their_place() {
        let mut doc = berlin_doc();
        doc["hours"]["tue"] = json!(["09:00-17:00", "9-5"]);
        doc["holidays"][0] = json!({"date": "2026-12-24", "from": "2026-12-24", "to": "2026-12-25"});
        doc["holidays"][1]["date"] = json!("2026-02-30");
        doc.as_object_mut().expect("an object").remove("time_zone");
        let mut found = parse_rules(doc);
        found.sort();
        assert_eq!(
            found,
            pairs(&[
                ("calendars[2].holidays[0]", "one_of"),
                ("calendars[2].holidays[1].date", "json_schema"),
                ("calendars[2].hours.tue[1]", "json_schema"),
                ("calendars[2].time_zone", "required"),
            ])
        );
        // What only compile can know is still reported, with the same paths.
        let mut doc = berlin_doc();
        doc["time_zone"] = json!("Europe/Nowhere");
        doc["hours"]["mon"] = json!(["12:00-13:00", "09:00-12:30"]);
        assert_eq!(parse_rules(doc), pairs(&[("calendars[2].time_zone", "time_zone"), ("calendars[2].hours.mon[0]", "overlap")]));
        assert_eq!(parse_rules(json!([])), pairs(&[("calendars[2]", "json_schema")]));
    }

    // Property tests: random calendars in the zones below, random instants in 2025-2028.

    const ZONES: [&str; 5] = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"];

    fn start_2025() -> DateTime<Utc> {
        utc(2025, 1, 1, 0, 0)
    }

    const SPAN_MICROS: i64 = 4 * 366 * 86_400_000_000;

    fn clock(minute: u32) -> String {
        format!("{:02}:{:02}", minute / 60, minute % 60)
    }

    /// A day's windows: none, the whole day, or up to five windows on a quarter-hour grid (sometimes touching).
    fn day_strategy() -> impl Strategy<Value = Vec<String>> {
        let grid = (prop::collection::btree_set(0u32..=96, 0..=6), any::<bool>()).prop_map(|(points, touching)| {
            let points: Vec<u32> = points.into_iter().map(|p| p * 15).collect();
            let windows: Vec<&[u32]> = if touching { points.windows(2).collect() } else { points.chunks_exact(2).collect() };
            // Reversed, so compile has to sort.
            windows.iter().rev().map(|w| format!("{}-{}", clock(w[0]), clock(w[1]))).collect()
        });
        prop_oneof![1 => Just(Vec::new()), 1 => Just(vec!["00:00-24:00".to_owned()]), 5 => grid]
    }

    fn holiday_strategy() -> impl Strategy<Value = Holiday> {
        (0u64..4 * 366, 0u64..10, any::<bool>()).prop_map(|(offset, len, single)| {
            let from = NaiveDate::from_ymd_opt(2025, 1, 1).and_then(|d| d.checked_add_days(chrono::Days::new(offset)));
            if single {
                Holiday { date: from, ..Holiday::default() }
            } else {
                Holiday {
                    from,
                    to: from.and_then(|d| d.checked_add_days(chrono::Days::new(len))),
                    name: Some("break".into()),
                    ..Holiday::default()
                }
            }
        })
    }

    fn calendar_strategy() -> impl Strategy<Value = (CalendarDocument, BusinessCalendar)> {
        let random = (
            prop::sample::select(ZONES.to_vec()),
            prop::collection::vec(day_strategy(), 7),
            prop::collection::vec(holiday_strategy(), 0..4),
        )
            .prop_map(|(zone, mut days, holidays)| {
                if days.iter().all(Vec::is_empty) {
                    days[0] = vec!["09:00-17:00".to_owned()];
                }
                let mut days = days.into_iter();
                let mut next = || days.next().unwrap_or_default();
                let hours = WeekHours { mon: next(), tue: next(), wed: next(), thu: next(), fri: next(), sat: next(), sun: next() };
                CalendarDocument { id: "random".into(), name: "Random".into(), time_zone: zone.into(), hours, holidays }
            });
        let open = prop::sample::select(ZONES.to_vec()).prop_map(|zone| {
            let day = || vec!["00:00-24:00".to_owned()];
            let hours = WeekHours { mon: day(), tue: day(), wed: day(), thu: day(), fri: day(), sat: day(), sun: day() };
            CalendarDocument { id: "open".into(), name: "Open".into(), time_zone: zone.into(), hours, holidays: Vec::new() }
        });
        prop_oneof![7 => random, 1 => open].prop_map(|doc| {
            let cal = BusinessCalendar::compile(&doc, "").expect("generated calendars are valid");
            (doc, cal)
        })
    }

    /// Instants anywhere in 2025-2028, to the microsecond or on a whole minute (where windows start and end).
    fn instant_strategy() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            (0..SPAN_MICROS).prop_map(|us| start_2025() + TimeDelta::microseconds(us)),
            (0..SPAN_MICROS / 60_000_000).prop_map(|m| start_2025() + TimeDelta::minutes(m)),
        ]
    }

    /// The UTC offset changes of each test zone in 2025-2028 (they all happen on a whole hour).
    fn transitions(tz: Tz) -> &'static [DateTime<Utc>] {
        static ALL: OnceLock<Vec<(Tz, Vec<DateTime<Utc>>)>> = OnceLock::new();
        let all = ALL.get_or_init(|| {
            let offset = |tz: Tz, at: DateTime<Utc>| chrono::Offset::fix(at.with_timezone(&tz).offset()).local_minus_utc();
            let hours = (0..4 * 366 * 24).map(|h| start_2025() + TimeDelta::hours(h));
            ZONES
                .iter()
                .map(|zone| {
                    let tz: Tz = zone.parse().expect("test zones exist");
                    let changes = hours.clone().filter(|at| offset(tz, *at - TimeDelta::hours(1)) != offset(tz, *at)).collect();
                    (tz, changes)
                })
                .collect()
        });
        all.iter().find(|(zone, _)| *zone == tz).map_or(&[], |(_, changes)| changes.as_slice())
    }

    /// A random calendar and an instant: anywhere, or (when its zone has DST) whole minutes from 36 hours before
    /// to 12 hours after one of its zone's offset changes, which uniform instants would rarely come near.
    fn calendar_and_instant() -> impl Strategy<Value = (CalendarDocument, BusinessCalendar, DateTime<Utc>)> {
        calendar_strategy().prop_flat_map(|(doc, cal)| {
            let changes = transitions(cal.tz);
            let near = if changes.is_empty() {
                instant_strategy().boxed()
            } else {
                (prop::sample::select(changes.to_vec()), -36 * 60..=12 * 60i64).prop_map(|(at, m)| at + TimeDelta::minutes(m)).boxed()
            };
            (Just(doc), Just(cal), prop_oneof![1 => instant_strategy().boxed(), 2 => near])
        })
    }

    /// Durations from a microsecond to two months, weighted toward the short ones SLAs use.
    fn delta_strategy() -> impl Strategy<Value = TimeDelta> {
        prop_oneof![
            (0i64..=2_000_000).prop_map(TimeDelta::microseconds),
            (0i64..=3_600_000_000).prop_map(TimeDelta::microseconds),
            (0i64..=3 * 86_400_000_000).prop_map(TimeDelta::microseconds),
            (0i64..=60 * 24 * 60).prop_map(TimeDelta::minutes),
        ]
    }

    /// An independent reading of the rules: the wall clock at `at` lies in a window of its local date. Only defined
    /// where the wall-clock reading is unambiguous (outside autumn folds).
    fn oracle_open(cal: &BusinessCalendar, at: DateTime<Utc>) -> Option<bool> {
        let wall = at.with_timezone(&cal.tz).naive_local();
        cal.tz.from_local_datetime(&wall).single()?;
        let date = wall.date();
        let minute = wall.hour() * 60 + wall.minute();
        let day = &cal.week[date.weekday().num_days_from_monday() as usize];
        Some(!cal.holidays.contains(&date) && day.iter().any(|&(start, end)| start <= minute && minute < end))
    }

    fn midnight(cal: &BusinessCalendar, date: NaiveDate) -> Option<DateTime<Utc>> {
        cal.tz.from_local_datetime(&date.and_hms_opt(0, 0, 0)?).earliest().map(|at| at.with_timezone(&Utc))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn business_time_is_additive_and_bounded(
            (_, cal, a) in calendar_and_instant(), ab in delta_strategy(), bc in delta_strategy(),
        ) {
            let (b, c) = (a + ab, a + ab + bc);
            let (first, second, whole) = (cal.business_time(a, b), cal.business_time(b, c), cal.business_time(a, c));
            prop_assert_eq!(first + second, whole);
            prop_assert!(TimeDelta::zero() <= first && first <= b - a);
            prop_assert!(whole <= c - a);
            prop_assert_eq!(cal.business_time(c, a), TimeDelta::zero());
            if cal.always_open {
                prop_assert_eq!(whole, c - a);
            }
        }

        #[test]
        fn add_is_the_minimal_inverse((_, cal, a) in calendar_and_instant(), d in delta_strategy()) {
            match cal.add_business_time(a, d) {
                Some(end) => {
                    prop_assert!(end >= a);
                    prop_assert_eq!(cal.business_time(a, end), d);
                    if cal.always_open {
                        prop_assert_eq!(end, a + d);
                    }
                    if d > TimeDelta::zero() {
                        let just_before = end - TimeDelta::microseconds(1);
                        prop_assert!(cal.business_time(a, just_before) < d);
                        // The last microsecond before the result was worked, so the result is not inside a closed period.
                        prop_assert!(cal.is_open_at(just_before));
                    } else {
                        prop_assert_eq!(end, a);
                    }
                }
                None => prop_assert!(cal.business_time(a, a + TimeDelta::days(HORIZON_DAYS - 2)) < d),
            }
        }

        #[test]
        fn business_time_matches_a_minute_by_minute_count((_, cal, a) in calendar_and_instant(), len in 0i64..=36 * 60) {
            // Whole minutes, so that each sampled minute is open or closed throughout.
            let a = a - TimeDelta::seconds(a.timestamp().rem_euclid(60)) - TimeDelta::nanoseconds(i64::from(a.timestamp_subsec_nanos()));
            let mut open = 0;
            for m in 0..len {
                match oracle_open(&cal, a + minutes(m)) {
                    Some(true) => open += 1,
                    Some(false) => {}
                    // A fold reads the same wall clock twice; the oracle cannot tell the passes apart.
                    None => return Ok(()),
                }
            }
            prop_assert_eq!(cal.business_time(a, a + minutes(len)), minutes(open));
        }

        #[test]
        fn closed_days_count_nothing((doc, cal, t) in calendar_and_instant(), offset in 0u64..4 * 366) {
            let date = NaiveDate::from_ymd_opt(2025, 1, 1).and_then(|d| d.checked_add_days(chrono::Days::new(offset)));
            let date = date.expect("dates in 2025-2028 exist");
            let closed = cal.holidays.contains(&date) || cal.week[date.weekday().num_days_from_monday() as usize].is_empty();
            if closed && let (Some(start), Some(end)) = (midnight(&cal, date), date.succ_opt().and_then(|next| midnight(&cal, next))) {
                prop_assert_eq!(cal.business_time(start, end), TimeDelta::zero());
                prop_assert!(!cal.is_open_at(start + (end - start) / 2));
            }
            for holiday in &doc.holidays {
                if let Some(day) = holiday.date.or(holiday.from) {
                    let noon = cal.tz.from_local_datetime(&day.and_hms_opt(12, 0, 0).expect("noon exists")).single();
                    prop_assert!(!noon.is_some_and(|at| cal.is_open_at(at.with_timezone(&Utc))));
                }
            }
            let tiny = cal.business_time(t, t + TimeDelta::microseconds(1));
            prop_assert_eq!(cal.is_open_at(t), tiny == TimeDelta::microseconds(1));
            prop_assert!(tiny == TimeDelta::zero() || tiny == TimeDelta::microseconds(1));
            if let Some(expected) = oracle_open(&cal, t) {
                prop_assert_eq!(cal.is_open_at(t), expected);
            }
        }
    }
}
