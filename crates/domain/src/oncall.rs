//! On-call schedules and escalation policies, as PagerDuty and Grafana
//! OnCall users know them.
//!
//! A [`Schedule`] is compiled from a [`ScheduleDocument`]: layers of
//! participants taking turns, each optionally restricted to local weekly
//! windows, stacked so that a later layer wins wherever it is active, with
//! overrides on top of every layer. Daily and weekly rotations hand off at
//! the same local wall time, so a 09:00 hand-off stays 09:00 across daylight
//! saving changes; as in [`crate::calendar`], a wall time that a spring gap
//! skips means the instant the gap ends, and one that an autumn fold repeats
//! means its first occurrence. Hourly rotations count absolute hours.
//! [`Schedule::on_call`] says who is on call at an instant (and since and
//! until when), [`Schedule::timeline`] renders the final schedule over a
//! range. Both work out the shift in force directly, so a layer that
//! started years ago costs no more than one that started yesterday.
//!
//! An [`EscalationPolicy`] (from an [`EscalationPolicyDocument`]) says which
//! incidents it covers and whom to notify how many minutes after an
//! incident started; [`EscalationPolicy::due_levels`] and
//! [`EscalationPolicy::next_due`] turn that into instants, so the engine can
//! keep one timer per incident and stop when someone acknowledges.
//!
//! Everything here is pure: no clock is read and nothing is stored.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::directory::check_handle;
use crate::document::child;
use crate::error::{DomainError, Violation, Violations};
use crate::incident::{Priority, check_text};

/// Longest schedule, layer, policy, group or service name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// Largest `every` of a rotation: long enough for any real rotation, small
/// enough that hand-off arithmetic never leaves chrono's range.
pub const MAX_ROTATION_EVERY: u32 = 1000;

/// Latest an escalation level may be due after the incident started, and
/// the longest pause before a policy repeats, in minutes (one week).
pub const MAX_ESCALATION_MINUTES: u32 = 7 * 24 * 60;

/// Most repeats of an escalation policy.
pub const MAX_REPEATS: u32 = 100;

const MINUTES_PER_DAY: u32 = 24 * 60;

/// Restriction day keys, Monday first.
const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// How many local days the restriction searches look through; every
/// restricted layer has a window every week, so two weeks always suffice.
const SEARCH_DAYS: usize = 16;

// ---------------------------------------------------------------------------
// Schedule documents
// ---------------------------------------------------------------------------

/// An on-call schedule as admins write it (JSON or YAML):
///
/// ```json
/// { "name": "sre-primary", "time_zone": "Europe/Berlin",
///   "layers": [ { "name": "weekly", "participants": ["alice", "bob", "carol"],
///                 "start": "2026-01-05T09:00",
///                 "rotation": { "every": 1, "unit": "weeks" },
///                 "restrictions": [ { "days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00" } ] } ],
///   "overrides": [ { "user": "dave", "start": "2026-03-29T00:00:00Z", "end": "2026-03-30T00:00:00Z" } ] }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDocument {
    /// Name escalation policies refer to, 1 to 200 characters.
    pub name: String,
    /// IANA time zone that layer starts and restrictions are local to.
    pub time_zone: String,
    /// Rotation layers, lowest precedence first: where several are active,
    /// the last one wins.
    pub layers: Vec<LayerDocument>,
    /// One-off replacements, above every layer: where several cover an
    /// instant, the last one wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideDocument>,
}

/// One rotation layer: participants take turns, shift k belonging to
/// `participants[k % n]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerDocument {
    /// Name, unique within the schedule.
    pub name: String,
    /// Usernames in turn order; one may appear more than once.
    pub participants: Vec<String>,
    /// Local wall time of the first hand-off, `YYYY-MM-DDTHH:MM` (seconds
    /// optional). Before it the layer covers no one.
    pub start: String,
    /// How long each shift lasts.
    pub rotation: RotationDocument,
    /// Local weekly windows the layer is limited to; none means all the
    /// time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<RestrictionDocument>,
}

/// The length of a layer's shifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationDocument {
    /// How many units one shift lasts, 1 to [`MAX_ROTATION_EVERY`].
    pub every: u32,
    /// The unit.
    pub unit: RotationUnit,
}

/// The unit of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RotationUnit {
    /// Absolute hours: a DST change makes no shift longer or shorter.
    Hours,
    /// Local days: hand-offs at the start's wall time, every `every` dates.
    Days,
    /// Local weeks: hand-offs at the start's wall time, every `7 * every`
    /// dates.
    Weeks,
}

impl RotationUnit {
    /// The name used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationUnit::Hours => "hours",
            RotationUnit::Days => "days",
            RotationUnit::Weeks => "weeks",
        }
    }
}

/// A local weekly window: on each of `days`, from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictionDocument {
    /// Day keys: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
    pub days: Vec<String>,
    /// Local start, `HH:MM`.
    pub from: String,
    /// Local end, `HH:MM` after `from`; `24:00` is the end of the day.
    pub to: String,
}

/// Someone on call instead of the layers, for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideDocument {
    /// Username of who is on call.
    pub user: String,
    /// First instant covered (RFC 3339).
    pub start: DateTime<Utc>,
    /// First instant no longer covered, after `start`.
    pub end: DateTime<Utc>,
}

// ---------------------------------------------------------------------------
// Compiled schedules
// ---------------------------------------------------------------------------

/// A checked schedule, ready to say who is on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    name: String,
    tz: Tz,
    layers: Vec<Layer>,
    overrides: Vec<Override>,
}

/// Who is on call at an instant, and for how long the final schedule stays
/// that way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCall {
    /// Username.
    pub user: String,
    /// The layer that put them there; `None` for an override.
    pub layer: Option<String>,
    /// Start of the [`Schedule::timeline`] segment the instant lies in.
    pub since: DateTime<Utc>,
    /// End of that segment; `None` when the schedule never changes again.
    pub until: Option<DateTime<Utc>>,
}

/// One segment of a rendered schedule, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    /// Username; `None` when no one is on call.
    pub user: Option<String>,
    /// The layer in force; `None` for an override or when no one is on
    /// call.
    pub layer: Option<String>,
    /// First instant.
    pub start: DateTime<Utc>,
    /// First instant after.
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotation {
    /// Shift length in absolute hours.
    Hours(i64),
    /// Shift length in local dates.
    Days(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Layer {
    name: String,
    participants: Vec<String>,
    tz: Tz,
    start_date: NaiveDate,
    start_time: NaiveTime,
    /// The first hand-off.
    start: DateTime<Utc>,
    rotation: Rotation,
    /// Every participant is the same user, so hand-offs change nothing.
    single: bool,
    /// Per weekday, Monday first: sorted, disjoint windows as minutes of the
    /// local day, `[from, to)`, `to` at most 1440. `None` when unrestricted.
    windows: Option<[Vec<(u32, u32)>; 7]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Override {
    user: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// A stretch of one layer: `user` on call over `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    user: &'a str,
}

/// A stretch of the final schedule before merging.
#[derive(Debug, Clone, Copy)]
struct Stretch<'a> {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    user: Option<&'a str>,
    layer: Option<&'a str>,
}

impl Schedule {
    /// Checks a document, reporting every violation at once as
    /// [`DomainError::Validation`] with fields such as
    /// `layers[0].participants`, `layers[1].rotation.every` or
    /// `overrides[2].end`.
    pub fn from_document(doc: &ScheduleDocument) -> Result<Schedule, DomainError> {
        Self::compile(doc, "")
    }

    /// [`Schedule::from_document`] with every violation's field prefixed by
    /// `path`, e.g. `schedules[3].time_zone`.
    pub fn compile(doc: &ScheduleDocument, path: &str) -> Result<Schedule, DomainError> {
        let mut v = Violations::default();
        check_text(&mut v, &child(path, "name"), &doc.name, MAX_NAME_CHARS, true);
        let tz = parse_zone(&doc.time_zone, &child(path, "time_zone"), &mut v);
        let layers_field = child(path, "layers");
        v.check(doc.layers.is_empty(), &layers_field, "required", || "a schedule needs at least one layer".into());
        let mut names = HashSet::new();
        let mut layers = Vec::with_capacity(doc.layers.len());
        for (i, layer) in doc.layers.iter().enumerate() {
            let field = format!("{layers_field}[{i}]");
            let name = layer.name.trim();
            if !name.is_empty() && !names.insert(name) {
                v.push(child(&field, "name"), "unique", format!("an earlier layer is already called `{name}`"));
            }
            layers.extend(compile_layer(&field, layer, tz, &mut v));
        }
        let overrides_field = child(path, "overrides");
        let mut overrides = Vec::with_capacity(doc.overrides.len());
        for (i, o) in doc.overrides.iter().enumerate() {
            let field = format!("{overrides_field}[{i}]");
            check_handle(&mut v, &child(&field, "user"), &o.user);
            v.check(o.end <= o.start, &child(&field, "end"), "order", || {
                format!("the override ends at {}, which is not after its start at {}", o.end.to_rfc3339(), o.start.to_rfc3339())
            });
            overrides.push(Override { user: o.user.clone(), start: o.start, end: o.end });
        }
        v.finish()?;
        Ok(Schedule { name: doc.name.clone(), tz, layers, overrides })
    }

    /// Deserialises `value` as a [`ScheduleDocument`] and compiles it. A
    /// document serde cannot read is reported where it broke, as precisely
    /// as serde says: unknown fields with the rule `unknown_field` and
    /// missing ones `required` (both naming the field, e.g.
    /// `layers[0].rotation.colour`), an unknown unit `one_of`, a wrong JSON
    /// type `type`, anything else (such as a malformed override instant)
    /// `format` on the enclosing object.
    pub fn parse_json(value: &Value) -> Result<Schedule, DomainError> {
        let doc: ScheduleDocument = deserialize(value, &SCHEDULE_SHAPE)?;
        Self::from_document(&doc)
    }

    /// The schedule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone layer starts and restrictions are local to.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The layer names, lowest precedence first.
    pub fn layer_names(&self) -> Vec<&str> {
        self.layers.iter().map(|layer| layer.name.as_str()).collect()
    }

    /// Every username the schedule mentions (participants and overrides),
    /// e.g. to check them against the directory.
    pub fn users(&self) -> BTreeSet<&str> {
        let participants = self.layers.iter().flat_map(|layer| layer.participants.iter());
        participants.chain(self.overrides.iter().map(|o| &o.user)).map(String::as_str).collect()
    }

    /// Who is on call at `at` under the final schedule (the last override
    /// covering `at`, else the last layer active at `at`), or `None` when no
    /// one is. `since` and `until` are the bounds of the
    /// [`Schedule::timeline`] segment containing `at`.
    pub fn on_call(&self, at: DateTime<Utc>) -> Option<OnCall> {
        let (user, layer) = self.winner_at(at)?;
        Some(OnCall {
            user: user.to_owned(),
            layer: layer.map(str::to_owned),
            since: self.run_start(at, user, layer),
            until: self.run_end(at, user, layer),
        })
    }

    /// The final schedule over `[from, to)`: contiguous, non-overlapping
    /// segments covering exactly that range, in order, adjacent ones merged
    /// when both user and layer are the same (so two adjacent overrides for
    /// the same user are one segment). Empty when `to <= from`. The cost
    /// grows with the number of segments, not with how long ago the layers
    /// started.
    pub fn timeline(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
        if to <= from {
            return Vec::new();
        }
        let mut stretches = Vec::new();
        // Top down: each layer is rendered only where overrides and later layers leave it visible.
        let mut gaps = self.override_stretches(from, to, &mut stretches);
        for layer in self.layers.iter().rev() {
            if gaps.is_empty() {
                break;
            }
            let mut remaining = Vec::new();
            for &(gap_start, gap_end) in &gaps {
                let mut cursor = gap_start;
                for piece in layer.pieces(gap_start, gap_end) {
                    if cursor < piece.start {
                        remaining.push((cursor, piece.start));
                    }
                    stretches.push(Stretch { start: piece.start, end: piece.end, user: Some(piece.user), layer: Some(&layer.name) });
                    cursor = piece.end;
                }
                if cursor < gap_end {
                    remaining.push((cursor, gap_end));
                }
            }
            gaps = remaining;
        }
        stretches.extend(gaps.into_iter().map(|(start, end)| Stretch { start, end, user: None, layer: None }));
        stretches.sort_by_key(|stretch| stretch.start);
        merge(stretches)
    }

    /// One layer alone over `[from, to)`: where it is active, who is on
    /// call, adjacent stretches of the same participant merged; where it is
    /// not active there is no entry. Empty for an unknown index.
    pub fn layer_shifts(&self, layer: usize, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
        let Some(layer) = self.layers.get(layer) else {
            return Vec::new();
        };
        let stretches = layer.pieces(from, to).into_iter().map(|piece| Stretch {
            start: piece.start,
            end: piece.end,
            user: Some(piece.user),
            layer: Some(&layer.name),
        });
        merge(stretches)
    }

    /// Override stretches inside `[from, to)` (the last covering override
    /// wins) go to `out`; the uncovered intervals are returned, in order.
    fn override_stretches<'a>(
        &'a self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        out: &mut Vec<Stretch<'a>>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let clipped: Vec<(&Override, DateTime<Utc>, DateTime<Utc>)> =
            self.overrides.iter().map(|o| (o, o.start.max(from), o.end.min(to))).filter(|(_, start, end)| start < end).collect();
        let mut points: Vec<DateTime<Utc>> = clipped.iter().flat_map(|&(_, start, end)| [start, end]).chain([from, to]).collect();
        points.sort_unstable();
        points.dedup();
        let mut gaps: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for pair in points.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            match clipped.iter().rev().find(|&&(_, s, e)| s <= start && start < e) {
                Some(&(o, _, _)) => out.push(Stretch { start, end, user: Some(&o.user), layer: None }),
                None => match gaps.last_mut() {
                    Some(last) if last.1 == start => last.1 = end,
                    _ => gaps.push((start, end)),
                },
            }
        }
        gaps
    }

    /// The user and layer (`None` for an override) in force at `at`.
    fn winner_at(&self, at: DateTime<Utc>) -> Option<(&str, Option<&str>)> {
        if let Some(o) = self.overrides.iter().rev().find(|o| o.start <= at && at < o.end) {
            return Some((&o.user, None));
        }
        self.layers.iter().rev().find_map(|layer| Some((layer.user_at(at)?, Some(layer.name.as_str()))))
    }

    fn top_override(&self, at: DateTime<Utc>) -> Option<usize> {
        self.overrides.iter().rposition(|o| o.start <= at && at < o.end)
    }

    fn top_layer(&self, at: DateTime<Utc>) -> Option<usize> {
        self.layers.iter().rposition(|layer| layer.user_at(at).is_some())
    }

    /// The first instant after `t` at which the final schedule might change,
    /// looking only at what can matter given who wins at `t`: lower layers
    /// cannot change anything while a higher layer or an override wins.
    /// `None` when nothing can ever change after `t`.
    fn next_boundary(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Some(i) = self.top_override(t) {
            // Only its end, or a later override starting, can unseat it.
            let later = self.overrides[i + 1..].iter().map(|o| o.start).filter(|start| *start > t);
            return Some(later.fold(self.overrides[i].end, Ord::min));
        }
        let top = self.top_layer(t);
        let above = top.map_or(0, |i| i + 1);
        let starts = self.overrides.iter().map(|o| o.start).filter(|start| *start > t);
        let activations = self.layers[above..].iter().filter_map(|layer| layer.next_active(t));
        let own = top.and_then(|i| self.layers[i].piece_end(t));
        starts.chain(activations).chain(own).min()
    }

    /// The earliest instant `s <= t` such that whoever wins at `t` wins
    /// throughout `[s, t]`, looking only at what can matter. Only for an
    /// instant at which someone is on call.
    fn prev_boundary(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if let Some(i) = self.top_override(t) {
            // Just before a later override's end, that override won instead.
            let later = self.overrides[i + 1..].iter().map(|o| o.end).filter(|end| *end <= t);
            return later.fold(self.overrides[i].start, Ord::max);
        }
        let top = self.top_layer(t);
        let above = top.map_or(0, |i| i + 1);
        let ends = self.overrides.iter().map(|o| o.end).filter(|end| *end <= t);
        let deactivations = self.layers[above..].iter().filter_map(|layer| layer.prev_active_end(t));
        let own = top.map(|i| self.layers[i].piece_start(t));
        ends.chain(deactivations).chain(own).max().unwrap_or(t)
    }

    /// Where the segment containing `at` (whose winner is `user`/`layer`)
    /// starts: steps back over boundaries that change nothing.
    fn run_start(&self, at: DateTime<Utc>, user: &str, layer: Option<&str>) -> DateTime<Utc> {
        let mut t = at;
        loop {
            // Never later than `t`, so every step goes back.
            let start = self.prev_boundary(t).min(t);
            let Some(before) = start.checked_sub_signed(TimeDelta::nanoseconds(1)) else {
                return start;
            };
            match self.winner_at(before) {
                Some((u, l)) if u == user && l == layer => t = before,
                _ => return start,
            }
        }
    }

    /// Where the segment containing `at` ends, `None` if never.
    fn run_end(&self, at: DateTime<Utc>, user: &str, layer: Option<&str>) -> Option<DateTime<Utc>> {
        let mut t = at;
        loop {
            // Always after `t`, so every step goes forward.
            let next = self.next_boundary(t).filter(|next| *next > t)?;
            match self.winner_at(next) {
                Some((u, l)) if u == user && l == layer => t = next,
                _ => return Some(next),
            }
        }
    }
}

/// Sorted, disjoint, contiguous-or-not stretches into shifts, adjacent
/// equal ones merged.
fn merge<'a>(stretches: impl IntoIterator<Item = Stretch<'a>>) -> Vec<Shift> {
    let mut out: Vec<Shift> = Vec::new();
    for s in stretches {
        match out.last_mut() {
            Some(last) if last.end == s.start && last.user.as_deref() == s.user && last.layer.as_deref() == s.layer => last.end = s.end,
            _ => out.push(Shift { user: s.user.map(str::to_owned), layer: s.layer.map(str::to_owned), start: s.start, end: s.end }),
        }
    }
    out
}

impl Layer {
    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    fn participant(&self, k: u64) -> &str {
        let n = self.participants.len() as u64;
        &self.participants[(k % n) as usize]
    }

    /// The instant shift `k` starts; `None` beyond chrono's range.
    fn handoff(&self, k: u64) -> Option<DateTime<Utc>> {
        match self.rotation {
            Rotation::Hours(hours) => {
                let seconds = i64::try_from(k).ok()?.checked_mul(hours * 3600)?;
                self.start.checked_add_signed(TimeDelta::try_seconds(seconds)?)
            }
            Rotation::Days(step) => {
                let date = self.start_date.checked_add_days(Days::new(k.checked_mul(step)?))?;
                Some(resolve(self.tz, date.and_time(self.start_time)))
            }
        }
    }

    /// The shift in force at `at` (the number of hand-offs at or before it,
    /// less one), or `None` before the layer starts. Computed from the
    /// elapsed hours or local dates, then corrected by the at most one or
    /// two shifts a DST change can move it.
    fn shift_index(&self, at: DateTime<Utc>) -> Option<u64> {
        if at < self.start {
            return None;
        }
        let estimate = match self.rotation {
            Rotation::Hours(hours) => (at - self.start).num_seconds() / (hours * 3600),
            Rotation::Days(step) => {
                let days = self.local_date(at).signed_duration_since(self.start_date).num_days();
                days.div_euclid(i64::try_from(step).unwrap_or(i64::MAX))
            }
        };
        let mut k = u64::try_from(estimate).unwrap_or(0);
        while k > 0 && self.handoff(k).is_none_or(|handoff| handoff > at) {
            k -= 1;
        }
        while self.handoff(k + 1).is_some_and(|handoff| handoff <= at) {
            k += 1;
        }
        Some(k)
    }

    /// Who this layer puts on call at `at`, if it is active.
    fn user_at(&self, at: DateTime<Utc>) -> Option<&str> {
        let k = self.shift_index(at)?;
        (self.windows.is_none() || self.window_at(at).is_some()).then(|| self.participant(k))
    }

    /// The restriction windows of one local date as instants, in order,
    /// empty ones (swallowed by a DST gap) left out.
    fn windows_on(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let windows: &[(u32, u32)] = self.windows.as_ref().map_or(&[], |week| &week[date.weekday().num_days_from_monday() as usize]);
        windows
            .iter()
            .filter_map(move |&(from, to)| Some((local_instant(self.tz, date, from)?, local_instant(self.tz, date, to)?)))
            .filter(|(start, end)| start < end)
    }

    /// The restriction window containing `at`.
    fn window_at(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let day = self.local_date(at);
        // One day of slack either side, as in the calendar: around a fold an instant's date can lag its window.
        [day.pred_opt(), Some(day), day.succ_opt()]
            .into_iter()
            .flatten()
            .find_map(|date| self.windows_on(date).find(|&(start, end)| start <= at && at < end))
    }

    /// The first instant after `t` at which the layer is active, when it is
    /// not active at `t`.
    fn next_active(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let lo = t.max(self.start);
        if self.windows.is_none() {
            return (lo > t).then_some(lo);
        }
        let day = self.local_date(lo);
        let first = day.pred_opt().unwrap_or(day);
        first
            .iter_days()
            .take(SEARCH_DAYS)
            .find_map(|date| self.windows_on(date).find(|&(_, end)| end > lo).map(|(start, _)| start.max(lo)))
            .filter(|at| *at > t)
    }

    /// The latest instant `e <= t` just before which the layer was active,
    /// when it is not active at `t`.
    fn prev_active_end(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if t <= self.start || self.windows.is_none() {
            // Unrestricted and inactive means not started yet.
            return None;
        }
        let day = self.local_date(t);
        let last = day.succ_opt().unwrap_or(day);
        for back in 0..SEARCH_DAYS as u64 {
            let Some(date) = last.checked_sub_days(Days::new(back)) else { break };
            let windows: Vec<_> = self.windows_on(date).collect();
            if let Some(&(_, end)) = windows.iter().rev().find(|&&(_, end)| end <= t) {
                return (end > self.start).then_some(end);
            }
        }
        None
    }

    /// Start of the stretch (one shift within one window) the active layer
    /// is in at `t`.
    fn piece_start(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let mut start = match self.shift_index(t) {
            Some(k) if !self.single => self.handoff(k).unwrap_or(self.start),
            _ => self.start,
        };
        if let Some((window_start, _)) = self.window_at(t) {
            start = start.max(window_start);
        }
        start
    }

    /// End of the stretch the active layer is in at `t`; `None` for a
    /// single-user layer without restrictions, which never ends.
    fn piece_end(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut end = match self.shift_index(t) {
            Some(k) if !self.single => self.handoff(k + 1),
            _ => None,
        };
        if let Some((_, window_end)) = self.window_at(t) {
            end = Some(end.map_or(window_end, |end| end.min(window_end)));
        }
        end
    }

    /// Where the layer is active inside `[from, to)`, in order: each shift
    /// cut to the restriction windows.
    fn pieces(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Piece<'_>> {
        let lo = from.max(self.start);
        if lo >= to {
            return Vec::new();
        }
        let shifts = self.shifts(lo, to);
        if self.windows.is_none() {
            return shifts;
        }
        let windows = self.windows_between(lo, to);
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < shifts.len() && j < windows.len() {
            let (shift, (window_start, window_end)) = (shifts[i], windows[j]);
            let (start, end) = (shift.start.max(window_start), shift.end.min(window_end));
            if start < end {
                out.push(Piece { start, end, user: shift.user });
            }
            if shift.end <= window_end {
                i += 1;
            } else {
                j += 1;
            }
        }
        out
    }

    /// The shifts over `[lo, to)`, `lo` at or after the layer's start.
    fn shifts(&self, lo: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Piece<'_>> {
        if self.single {
            return vec![Piece { start: lo, end: to, user: &self.participants[0] }];
        }
        let mut out = Vec::new();
        let mut k = self.shift_index(lo).unwrap_or(0);
        let mut start = lo;
        loop {
            let next = self.handoff(k + 1);
            let end = next.map_or(to, |next| next.min(to));
            if start < end {
                out.push(Piece { start, end, user: self.participant(k) });
            }
            match next {
                Some(next) if next < to => {
                    start = start.max(next);
                    k += 1;
                }
                _ => return out,
            }
        }
    }

    /// The restriction windows over `[lo, hi)`, clipped, touching ones
    /// joined.
    fn windows_between(&self, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let (first, last) = (self.local_date(lo), self.local_date(hi));
        let (first, last) = (first.pred_opt().unwrap_or(first), last.succ_opt().unwrap_or(last));
        let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for date in first.iter_days().take_while(|date| *date <= last) {
            for (start, end) in self.windows_on(date) {
                let (start, end) = (start.max(lo), end.min(hi));
                if start >= end {
                    continue;
                }
                match out.last_mut() {
                    Some(previous) if start <= previous.1 => previous.1 = previous.1.max(end),
                    _ => out.push((start, end)),
                }
            }
        }
        out
    }
}

fn compile_layer(field: &str, doc: &LayerDocument, tz: Tz, v: &mut Violations) -> Option<Layer> {
    let before = v.len();
    check_text(v, &child(field, "name"), &doc.name, MAX_NAME_CHARS, true);
    let participants_field = child(field, "participants");
    v.check(doc.participants.is_empty(), &participants_field, "required", || "a layer needs at least one participant".into());
    for (j, user) in doc.participants.iter().enumerate() {
        check_handle(v, &format!("{participants_field}[{j}]"), user);
    }
    let start = parse_local(&doc.start);
    v.check(start.is_none(), &child(field, "start"), "format", || {
        format!("`{}` is not a local date and time like 2026-01-05T09:00", doc.start)
    });
    let (every, unit) = (doc.rotation.every, doc.rotation.unit);
    v.check(!(1..=MAX_ROTATION_EVERY).contains(&every), &child(&child(field, "rotation"), "every"), "range", || {
        format!("a shift lasts 1 to {MAX_ROTATION_EVERY} {}", unit.as_str())
    });
    let windows = compile_restrictions(&child(field, "restrictions"), &doc.restrictions, v);
    let start = start?;
    if v.len() > before {
        return None;
    }
    let rotation = match unit {
        RotationUnit::Hours => Rotation::Hours(i64::from(every)),
        RotationUnit::Days => Rotation::Days(u64::from(every)),
        RotationUnit::Weeks => Rotation::Days(7 * u64::from(every)),
    };
    Some(Layer {
        name: doc.name.clone(),
        participants: doc.participants.clone(),
        tz,
        start_date: start.date(),
        start_time: start.time(),
        start: resolve(tz, start),
        rotation,
        single: doc.participants.windows(2).all(|pair| pair[0] == pair[1]),
        windows,
    })
}

/// Checks restrictions and returns the weekly windows, `None` when they do
/// not restrict anything (none given, or every day whole).
fn compile_restrictions(field: &str, docs: &[RestrictionDocument], v: &mut Violations) -> Option<[Vec<(u32, u32)>; 7]> {
    if docs.is_empty() {
        return None;
    }
    let mut week: [Vec<(u32, u32)>; 7] = Default::default();
    for (k, restriction) in docs.iter().enumerate() {
        let field = format!("{field}[{k}]");
        let days_field = child(&field, "days");
        v.check(restriction.days.is_empty(), &days_field, "required", || "a restriction applies to at least one day".into());
        let mut days = Vec::new();
        for (m, day) in restriction.days.iter().enumerate() {
            match DAY_KEYS.iter().position(|key| key == day) {
                Some(index) => days.push(index),
                None => v.push(format!("{days_field}[{m}]"), "format", format!("`{day}` is not one of {}", DAY_KEYS.join(", "))),
            }
        }
        let from = parse_clock(&restriction.from).filter(|&minute| minute < MINUTES_PER_DAY);
        v.check(from.is_none(), &child(&field, "from"), "format", || format!("`{}` is not a time like 09:00", restriction.from));
        let to = parse_clock(&restriction.to);
        v.check(to.is_none(), &child(&field, "to"), "format", || format!("`{}` is not a time like 17:00 (or 24:00)", restriction.to));
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                v.push(
                    child(&field, "to"),
                    "order",
                    format!("the window ends at {}, which is not after its start at {}", restriction.to, restriction.from),
                );
            }
            for &day in &days {
                week[day].push((from, to));
            }
        }
    }
    for day in &mut week {
        day.retain(|(from, to)| from < to);
        day.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(day.len());
        for &(from, to) in day.iter() {
            match merged.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => merged.push((from, to)),
            }
        }
        *day = merged;
    }
    if week.iter().all(|day| day.as_slice() == [(0, MINUTES_PER_DAY)]) { None } else { Some(week) }
}

fn parse_zone(text: &str, field: &str, v: &mut Violations) -> Tz {
    // UTC only stands in so the other checks can run; the violation makes the result an error anyway.
    text.parse::<Tz>().unwrap_or_else(|_| {
        v.push(field, "time_zone", format!("`{text}` is not a known IANA time zone; use a name such as Europe/Berlin or UTC"));
        Tz::UTC
    })
}

/// Parses `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS`.
fn parse_local(text: &str) -> Option<NaiveDateTime> {
    let format = match text.len() {
        16 => "%Y-%m-%dT%H:%M",
        19 => "%Y-%m-%dT%H:%M:%S",
        _ => return None,
    };
    // chrono reads second 60 as a leap second, which no wall clock shows.
    NaiveDateTime::parse_from_str(text, format).ok().filter(|at| at.nanosecond() < 1_000_000_000)
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

/// The instant of a local date and minute of day (1440 is the next
/// midnight). `None` only at the edges of chrono's range.
fn local_instant(tz: Tz, date: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
    let (date, minute) = if minute >= MINUTES_PER_DAY { (date.succ_opt()?, 0) } else { (date, minute) };
    Some(resolve(tz, date.and_time(NaiveTime::from_hms_opt(minute / 60, minute % 60, 0)?)))
}

/// A local wall time as an instant: its first occurrence in a fold, the
/// end of the gap when a spring gap skips it.
fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        // The earliest occurrence keeps the mapping monotonic, so hand-offs never run backwards.
        LocalResult::Ambiguous(first, second) => first.min(second).with_timezone(&Utc),
        LocalResult::None => gap_end(tz, &local),
    }
}

/// The first instant after a local time that a DST gap skips.
fn gap_end(tz: Tz, local: &NaiveDateTime) -> DateTime<Utc> {
    if let Some(end) = chrono_tz::GapInfo::new(local, &tz).and_then(|gap| gap.end) {
        return end.with_timezone(&Utc);
    }
    // Unreachable with real zone data (a gap always ends); reading the wall clock with the offset in force at the
    // same UTC reading at least gives a nearby instant.
    let offset = chrono::Offset::fix(&tz.offset_from_utc_datetime(local));
    let wall = local.and_utc();
    wall.checked_sub_signed(TimeDelta::seconds(i64::from(offset.local_minus_utc()))).unwrap_or(wall)
}

// ---------------------------------------------------------------------------
// Reading documents with serde, naming where they broke
// ---------------------------------------------------------------------------

/// Which parts of a document serde reads as their own type, so that an
/// error can be pinned to the innermost part that fails on its own.
struct Shape {
    fits: fn(&Value) -> Result<(), serde_json::Error>,
    parts: &'static [(&'static str, Inner)],
}

#[derive(Clone, Copy)]
enum Inner {
    One(&'static Shape),
    Each(&'static Shape),
}

fn fits<T: DeserializeOwned>(value: &Value) -> Result<(), serde_json::Error> {
    T::deserialize(value).map(drop)
}

static ROTATION_SHAPE: Shape = Shape { fits: fits::<RotationDocument>, parts: &[] };
static RESTRICTION_SHAPE: Shape = Shape { fits: fits::<RestrictionDocument>, parts: &[] };
static LAYER_SHAPE: Shape = Shape {
    fits: fits::<LayerDocument>,
    parts: &[("rotation", Inner::One(&ROTATION_SHAPE)), ("restrictions", Inner::Each(&RESTRICTION_SHAPE))],
};
static OVERRIDE_SHAPE: Shape = Shape { fits: fits::<OverrideDocument>, parts: &[] };
static SCHEDULE_SHAPE: Shape =
    Shape { fits: fits::<ScheduleDocument>, parts: &[("layers", Inner::Each(&LAYER_SHAPE)), ("overrides", Inner::Each(&OVERRIDE_SHAPE))] };
static NOTIFY_SHAPE: Shape = Shape { fits: fits::<NotifyDocument>, parts: &[] };
static LEVEL_SHAPE: Shape = Shape { fits: fits::<EscalationLevelDocument>, parts: &[("notify", Inner::Each(&NOTIFY_SHAPE))] };
static POLICY_SHAPE: Shape = Shape { fits: fits::<EscalationPolicyDocument>, parts: &[("levels", Inner::Each(&LEVEL_SHAPE))] };

fn deserialize<T: DeserializeOwned>(value: &Value, shape: &Shape) -> Result<T, DomainError> {
    T::deserialize(value).map_err(|_| {
        let mut out = Vec::new();
        locate(shape, value, "", &mut out);
        DomainError::Validation(out)
    })
}

/// Reports why `value` does not fit `shape`: the failures of the parts
/// that fail on their own, then what is still wrong with the rest (checked
/// with those parts left out), or else its own failure.
fn locate(shape: &Shape, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let Err(error) = (shape.fits)(value) else { return };
    let before = out.len();
    let mut rest = value.clone();
    let mut removed = Vec::new();
    for &(key, inner) in shape.parts {
        let Some(part) = value.get(key) else { continue };
        let field = child(path, key);
        match inner {
            Inner::One(shape) => {
                let found = out.len();
                locate(shape, part, &field, out);
                if out.len() > found
                    && let Some(object) = rest.as_object_mut()
                {
                    object.remove(key);
                    removed.push(field);
                }
            }
            Inner::Each(shape) => {
                let Some(items) = part.as_array() else { continue };
                let mut fine = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let found = out.len();
                    locate(shape, item, &format!("{field}[{i}]"), out);
                    if out.len() == found {
                        fine.push(item.clone());
                    }
                }
                if let Some(object) = rest.as_object_mut() {
                    object.insert(key.to_owned(), Value::Array(fine));
                }
            }
        }
    }
    if out.len() == before {
        out.push(serde_violation(path, &error));
    } else if let Err(error) = (shape.fits)(&rest) {
        // A part left out is missing now, but that was reported already.
        let violation = serde_violation(path, &error);
        if !(violation.rule == "required" && removed.contains(&violation.field)) {
            out.push(violation);
        }
    }
}

fn serde_violation(path: &str, error: &serde_json::Error) -> Violation {
    let message = error.to_string();
    let named = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
        rest.split_once('`').map(|(name, _)| child(path, name))
    };
    if let Some(field) = named("unknown field ") {
        return Violation::new(field, "unknown_field", message);
    }
    if let Some(field) = named("missing field ") {
        return Violation::new(field, "required", message);
    }
    let rule = if message.starts_with("unknown variant") {
        "one_of"
    } else if message.starts_with("invalid type") || message.starts_with("invalid length") {
        "type"
    } else {
        "format"
    };
    Violation::new(path, rule, message)
}

// ---------------------------------------------------------------------------
// Escalation policies
// ---------------------------------------------------------------------------

/// An escalation policy as admins write it (JSON or YAML):
///
/// ```json
/// { "name": "sre", "groups": ["Network"], "services": ["payments"], "priorities": ["P1", "P2"],
///   "levels": [ { "after_minutes": 0,  "notify": [ { "schedule": "sre-primary" } ] },
///               { "after_minutes": 5,  "notify": [ { "schedule": "sre-secondary" } ] },
///               { "after_minutes": 15, "notify": [ { "manager": true }, { "user": "erin" } ] } ],
///   "repeat": 1, "repeat_after_minutes": 15 }
/// ```
///
/// Pass `p` (0 to `repeat`) of level `i` is due `p * (last after_minutes +
/// repeat_after_minutes) + after_minutes[i]` minutes after the incident
/// started: a repeat begins `repeat_after_minutes` after the last level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicyDocument {
    /// Name for people, 1 to 200 characters.
    pub name: String,
    /// Assignment group names the policy applies to (compared ignoring
    /// ASCII case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Service CI names the policy applies to (compared ignoring ASCII
    /// case). At least one group or service is needed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Priorities it applies to, e.g. `P1`; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priorities: Option<Vec<String>>,
    /// Whom to notify when, the first at 0 minutes, then strictly later.
    pub levels: Vec<EscalationLevelDocument>,
    /// How many times the whole list repeats after the last level, 0 to
    /// [`MAX_REPEATS`].
    #[serde(default)]
    pub repeat: u32,
    /// Minutes from the last level to the first level of the next pass, 1
    /// to [`MAX_ESCALATION_MINUTES`]; by default the last level's
    /// `after_minutes` (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_after_minutes: Option<u32>,
}

/// One level of an escalation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationLevelDocument {
    /// Minutes after the incident started (within a pass).
    pub after_minutes: u32,
    /// Who is notified, at least one target.
    pub notify: Vec<NotifyDocument>,
}

/// A notification target: exactly one of `schedule`, `user` or
/// `manager: true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyDocument {
    /// Whoever is on call on the schedule of that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// That user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The assignment group's manager (must be `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<bool>,
}

/// A checked notification target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotifyTarget {
    /// Whoever is on call on the named schedule.
    Schedule(String),
    /// A user, by username.
    User(String),
    /// The manager of the incident's assignment group.
    Manager,
}

/// A checked escalation level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationLevel {
    /// Minutes after the incident started (within a pass).
    pub after_minutes: u32,
    /// Who is notified.
    pub notify: Vec<NotifyTarget>,
}

/// A checked escalation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationPolicy {
    name: String,
    groups: Vec<String>,
    services: Vec<String>,
    priorities: Option<Vec<Priority>>,
    levels: Vec<EscalationLevel>,
    repeat: u32,
    repeat_after_minutes: u32,
}

impl EscalationPolicy {
    /// Checks a document, reporting every violation at once as
    /// [`DomainError::Validation`] with fields such as `levels[1].after_minutes`
    /// or `levels[2].notify[0]`.
    pub fn from_document(doc: &EscalationPolicyDocument) -> Result<EscalationPolicy, DomainError> {
        Self::compile(doc, "")
    }

    /// [`EscalationPolicy::from_document`] with every violation's field
    /// prefixed by `path`, e.g. `policies[0].levels`.
    pub fn compile(doc: &EscalationPolicyDocument, path: &str) -> Result<EscalationPolicy, DomainError> {
        let mut v = Violations::default();
        check_text(&mut v, &child(path, "name"), &doc.name, MAX_NAME_CHARS, true);
        v.check(doc.groups.is_empty() && doc.services.is_empty(), &child(path, "groups"), "required", || {
            "a policy applies to at least one assignment group or service".into()
        });
        for (key, names) in [("groups", &doc.groups), ("services", &doc.services)] {
            let field = child(path, key);
            for (i, name) in names.iter().enumerate() {
                check_text(&mut v, &format!("{field}[{i}]"), name, MAX_NAME_CHARS, true);
            }
        }
        let priorities = doc.priorities.as_ref().map(|list| {
            let field = child(path, "priorities");
            v.check(list.is_empty(), &field, "required", || "list at least one priority, or leave `priorities` out to cover all".into());
            let mut parsed = Vec::with_capacity(list.len());
            for (i, text) in list.iter().enumerate() {
                match text.parse::<Priority>() {
                    Ok(priority) => parsed.push(priority),
                    Err(_) => v.push(format!("{field}[{i}]"), "one_of", format!("`{text}` is not one of P1, P2, P3, P4, P5")),
                }
            }
            parsed
        });

        let levels_field = child(path, "levels");
        v.check(doc.levels.is_empty(), &levels_field, "required", || "a policy needs at least one level".into());
        let mut levels = Vec::with_capacity(doc.levels.len());
        let mut latest: Option<u32> = None;
        for (i, level) in doc.levels.iter().enumerate() {
            let field = format!("{levels_field}[{i}]");
            let after_field = child(&field, "after_minutes");
            let after = level.after_minutes;
            match latest {
                None if after != 0 => v.push(&after_field, "order", "the first level is due at 0 minutes, when the incident starts"),
                Some(previous) if after <= previous => {
                    v.push(&after_field, "order", format!("must be later than the {previous} minutes of an earlier level"));
                }
                _ => {}
            }
            v.check(after > MAX_ESCALATION_MINUTES, &after_field, "range", || {
                format!("a level is due at most {MAX_ESCALATION_MINUTES} minutes after the start")
            });
            latest = Some(latest.map_or(after, |previous| previous.max(after)));
            levels.push(EscalationLevel { after_minutes: after, notify: compile_targets(&child(&field, "notify"), &level.notify, &mut v) });
        }
        v.check(doc.repeat > MAX_REPEATS, &child(path, "repeat"), "range", || format!("a policy repeats at most {MAX_REPEATS} times"));
        if let Some(minutes) = doc.repeat_after_minutes {
            v.check(!(1..=MAX_ESCALATION_MINUTES).contains(&minutes), &child(path, "repeat_after_minutes"), "range", || {
                format!("a repeat starts 1 to {MAX_ESCALATION_MINUTES} minutes after the last level")
            });
        }
        v.finish()?;
        let last = levels.last().map_or(0, |level| level.after_minutes);
        Ok(EscalationPolicy {
            name: doc.name.clone(),
            groups: doc.groups.clone(),
            services: doc.services.clone(),
            priorities,
            levels,
            repeat: doc.repeat,
            repeat_after_minutes: doc.repeat_after_minutes.unwrap_or(last.max(1)),
        })
    }

    /// Deserialises `value` as an [`EscalationPolicyDocument`] and compiles
    /// it, reporting serde failures as [`Schedule::parse_json`] does (e.g.
    /// `levels[0].notify[1].team` / `unknown_field`).
    pub fn parse_json(value: &Value) -> Result<EscalationPolicy, DomainError> {
        let doc: EscalationPolicyDocument = deserialize(value, &POLICY_SHAPE)?;
        Self::from_document(&doc)
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The assignment groups it applies to.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// The services it applies to.
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// The priorities it applies to; `None` means all.
    pub fn priorities(&self) -> Option<&[Priority]> {
        self.priorities.as_deref()
    }

    /// The levels, in order.
    pub fn levels(&self) -> &[EscalationLevel] {
        &self.levels
    }

    /// How many times the list repeats after the last level.
    pub fn repeat(&self) -> u32 {
        self.repeat
    }

    /// Minutes from the last level of a pass to the first of the next.
    pub fn repeat_after_minutes(&self) -> u32 {
        self.repeat_after_minutes
    }

    /// Every schedule name the policy notifies, e.g. to check they exist.
    pub fn schedules(&self) -> BTreeSet<&str> {
        let targets = self.levels.iter().flat_map(|level| level.notify.iter());
        targets
            .filter_map(|target| match target {
                NotifyTarget::Schedule(name) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Whether the policy covers an incident: its assignment group is one of
    /// the policy's groups or one of its services is one of the policy's
    /// services (names compared ignoring ASCII case), and its priority
    /// (`P1`..`P5`) is one of the policy's priorities, if it lists any.
    pub fn applies_to(&self, group: Option<&str>, services: &[&str], priority: &str) -> bool {
        let named = |names: &[String], name: &str| names.iter().any(|n| n.trim().eq_ignore_ascii_case(name.trim()));
        let matches = group.is_some_and(|group| named(&self.groups, group)) || services.iter().any(|s| named(&self.services, s));
        let priority_ok = match &self.priorities {
            None => true,
            Some(list) => priority.trim().parse::<Priority>().is_ok_and(|p| list.contains(&p)),
        };
        matches && priority_ok
    }

    /// Minutes from one pass to the next.
    fn period_minutes(&self) -> i64 {
        let last = self.levels.last().map_or(0, |level| level.after_minutes);
        i64::from(last) + i64::from(self.repeat_after_minutes)
    }

    /// When level `level` of pass `pass` is due.
    fn due(&self, started: DateTime<Utc>, pass: u32, level: usize) -> Option<DateTime<Utc>> {
        let minutes = i64::from(pass) * self.period_minutes() + i64::from(self.levels[level].after_minutes);
        started.checked_add_signed(TimeDelta::try_minutes(minutes)?)
    }

    /// Every `(pass, level index, due instant)` due at or before `now` for
    /// an incident that started at `started`, in order (passes 0 to
    /// `repeat`); empty before `started`.
    pub fn due_levels(&self, started: DateTime<Utc>, now: DateTime<Utc>) -> Vec<(u32, usize, DateTime<Utc>)> {
        let mut out = Vec::new();
        for pass in 0..=self.repeat {
            for level in 0..self.levels.len() {
                match self.due(started, pass, level) {
                    Some(due) if due <= now => out.push((pass, level, due)),
                    _ => return out,
                }
            }
        }
        out
    }

    /// The first `(pass, level index, due instant)` due strictly after
    /// `after`, or `None` when the policy is exhausted. Chaining it from
    /// just before `started` yields exactly what
    /// [`EscalationPolicy::due_levels`] lists, one timer at a time.
    pub fn next_due(&self, started: DateTime<Utc>, after: DateTime<Utc>) -> Option<(u32, usize, DateTime<Utc>)> {
        // Every pass before this one is entirely due by `after`.
        let elapsed = after.signed_duration_since(started).num_minutes().max(0);
        let first = u32::try_from(elapsed / self.period_minutes().max(1)).unwrap_or(u32::MAX).min(self.repeat);
        (first..=self.repeat)
            .flat_map(|pass| (0..self.levels.len()).map(move |level| (pass, level)))
            .find_map(|(pass, level)| self.due(started, pass, level).filter(|due| *due > after).map(|due| (pass, level, due)))
    }
}

fn compile_targets(field: &str, docs: &[NotifyDocument], v: &mut Violations) -> Vec<NotifyTarget> {
    v.check(docs.is_empty(), field, "required", || "a level notifies at least one target".into());
    let mut targets = Vec::with_capacity(docs.len());
    for (j, doc) in docs.iter().enumerate() {
        let target_field = format!("{field}[{j}]");
        match (&doc.schedule, &doc.user, doc.manager) {
            (Some(schedule), None, None) => {
                check_text(v, &child(&target_field, "schedule"), schedule, MAX_NAME_CHARS, true);
                targets.push(NotifyTarget::Schedule(schedule.clone()));
            }
            (None, Some(user), None) => {
                check_handle(v, &child(&target_field, "user"), user);
                targets.push(NotifyTarget::User(user.clone()));
            }
            (None, None, Some(true)) => targets.push(NotifyTarget::Manager),
            _ => v.push(target_field, "one_of", "a target is exactly one of `schedule`, `user` or `manager: true`"),
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::OnceLock;

    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const NEW_YORK: Tz = chrono_tz::America::New_York;

    /// A local wall-clock time that exists exactly once.
    fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("an unambiguous local time").with_timezone(&Utc)
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        local(Tz::UTC, y, m, d, h, min)
    }

    fn wall(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&tz).naive_local()
    }

    fn schedule(value: Value) -> Schedule {
        Schedule::parse_json(&value).expect("test schedules are valid")
    }

    fn layer(name: &str, people: &[&str], start: &str, every: u32, unit: &str) -> Value {
        json!({"name": name, "participants": people, "start": start, "rotation": {"every": every, "unit": unit}})
    }

    fn berlin_weekly() -> Value {
        json!({"name": "sre-primary", "time_zone": "Europe/Berlin",
               "layers": [layer("weekly", &["alice", "bob", "carol"], "2026-01-05T09:00", 1, "weeks")]})
    }

    fn shift(user: Option<&str>, layer: Option<&str>, start: DateTime<Utc>, end: DateTime<Utc>) -> Shift {
        Shift { user: user.map(str::to_owned), layer: layer.map(str::to_owned), start, end }
    }

    fn on(user: &str, layer: Option<&str>, since: DateTime<Utc>, until: Option<DateTime<Utc>>) -> Option<OnCall> {
        Some(OnCall { user: user.to_owned(), layer: layer.map(str::to_owned), since, until })
    }

    #[test]
    fn berlin_weekly_rotation_keeps_nine_o_clock_across_dst() {
        let s = schedule(berlin_weekly());
        let w = Some("weekly");
        // Monday 2026-03-23 is week 11 (carol); DST starts on Sunday 2026-03-29; Monday 2026-03-30 is week 12 (alice).
        let (before, after) = (local(BERLIN, 2026, 3, 23, 9, 0), local(BERLIN, 2026, 3, 30, 9, 0));
        assert_eq!((before, after), (utc(2026, 3, 23, 8, 0), utc(2026, 3, 30, 7, 0)));
        assert_eq!(after - before, TimeDelta::hours(167));
        assert_eq!(s.on_call(after - TimeDelta::nanoseconds(1)), on("carol", w, before, Some(after)));
        assert_eq!(s.on_call(after), on("alice", w, after, Some(utc(2026, 4, 6, 7, 0))));
        assert_eq!(
            s.timeline(utc(2026, 3, 22, 0, 0), utc(2026, 4, 7, 0, 0)),
            vec![
                shift(Some("bob"), w, utc(2026, 3, 22, 0, 0), before),
                shift(Some("carol"), w, before, after),
                shift(Some("alice"), w, after, utc(2026, 4, 6, 7, 0)),
                shift(Some("bob"), w, utc(2026, 4, 6, 7, 0), utc(2026, 4, 7, 0, 0)),
            ]
        );
        // DST ends on Sunday 2026-10-25: week 41 (carol) runs 169 hours, into week 42 (alice) at 09:00 CET.
        let (before, after) = (local(BERLIN, 2026, 10, 19, 9, 0), local(BERLIN, 2026, 10, 26, 9, 0));
        assert_eq!((before, after), (utc(2026, 10, 19, 7, 0), utc(2026, 10, 26, 8, 0)));
        assert_eq!(s.on_call(utc(2026, 10, 25, 1, 30)), on("carol", w, before, Some(after)));
        assert_eq!(s.on_call(after).map(|o| o.user), Some("alice".to_owned()));
        for shift in s.timeline(utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)).iter().skip(1) {
            let start = shift.start.with_timezone(&BERLIN);
            assert_eq!((start.weekday(), start.hour(), start.minute()), (chrono::Weekday::Mon, 9, 0), "{shift:?}");
        }
        // Nobody before the first hand-off.
        assert_eq!(s.on_call(local(BERLIN, 2026, 1, 5, 8, 59)), None);
        assert_eq!(s.on_call(local(BERLIN, 2026, 1, 5, 9, 0)).map(|o| o.since), Some(local(BERLIN, 2026, 1, 5, 9, 0)));
        assert_eq!(
            s.timeline(utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 12, 0)),
            vec![
                shift(None, None, utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 8, 0)),
                shift(Some("alice"), w, utc(2026, 1, 5, 8, 0), utc(2026, 1, 5, 12, 0))
            ]
        );
        assert!(s.timeline(after, after).is_empty());
        assert_eq!((s.name(), s.time_zone(), s.layer_names()), ("sre-primary", BERLIN, vec!["weekly"]));
    }

    #[test]
    fn berlin_daily_hand_off_in_the_gap_and_the_fold() {
        let s = schedule(json!({"name": "night", "time_zone": "Europe/Berlin",
                                "layers": [layer("daily", &["alice", "bob"], "2026-03-27T02:30", 1, "days")]}));
        let handoffs: Vec<DateTime<Utc>> =
            s.layer_shifts(0, utc(2026, 3, 27, 0, 0), utc(2026, 3, 31, 0, 0)).iter().map(|s| s.start).collect();
        // 02:30 CET, 02:30 CET, then the gap (the first valid instant after is 03:00 CEST), then 02:30 CEST.
        assert_eq!(handoffs, vec![utc(2026, 3, 27, 1, 30), utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]);
        // 02:30 happens twice on 2026-10-25; the hand-off is at the first, 02:30 CEST.
        let fold = s.layer_shifts(0, utc(2026, 10, 24, 12, 0), utc(2026, 10, 26, 12, 0));
        assert_eq!(
            fold.iter().map(|s| s.start).collect::<Vec<_>>(),
            vec![utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
        );
        assert_eq!(fold[1].end - fold[1].start, TimeDelta::hours(25));
    }

    #[test]
    fn new_york_daily_hand_off_in_the_spring_gap_lands_at_three() {
        let s = schedule(json!({"name": "ny", "time_zone": "America/New_York",
                                "layers": [layer("daily", &["alice", "bob"], "2026-03-01T02:30", 1, "days")]}));
        let d = Some("daily");
        // 2026-03-08 is day 7 (bob); 02:30 does not exist that day, so bob starts at 03:00 EDT.
        let handoff = NEW_YORK.with_ymd_and_hms(2026, 3, 8, 3, 0, 0).single().expect("exists").with_timezone(&Utc);
        assert_eq!(handoff, utc(2026, 3, 8, 7, 0));
        assert_eq!(s.on_call(handoff - TimeDelta::minutes(1)), on("alice", d, utc(2026, 3, 7, 7, 30), Some(handoff)));
        assert_eq!(s.on_call(handoff), on("bob", d, handoff, Some(utc(2026, 3, 9, 6, 30))));
        assert_eq!(wall(NEW_YORK, utc(2026, 3, 9, 6, 30)).time(), NaiveTime::from_hms_opt(2, 30, 0).expect("valid"));
        assert_eq!(handoff - utc(2026, 3, 7, 7, 30), TimeDelta::minutes(23 * 60 + 30));
    }

    #[test]
    fn follow_the_sun_with_restrictions() {
        let weekdays = json!(["mon", "tue", "wed", "thu", "fri"]);
        let mut emea = layer("emea", &["anna"], "2026-03-02T00:00", 1, "weeks");
        emea["restrictions"] = json!([{"days": weekdays, "from": "07:00", "to": "15:00"}]);
        let mut amer = layer("amer", &["carl", "dana"], "2026-03-02T00:00", 1, "weeks");
        amer["restrictions"] = json!([{"days": weekdays, "from": "15:00", "to": "23:00"}]);
        let s = schedule(json!({"name": "sun", "time_zone": "UTC",
                                "layers": [layer("apac", &["mei", "raj"], "2026-03-02T00:00", 1, "days"), emea, amer]}));
        let (apac, emea, amer) = (Some("apac"), Some("emea"), Some("amer"));
        let monday = |h| utc(2026, 3, 2, h, 0);
        assert_eq!(
            s.timeline(monday(0), utc(2026, 3, 3, 12, 0)),
            vec![
                shift(Some("mei"), apac, monday(0), monday(7)),
                shift(Some("anna"), emea, monday(7), monday(15)),
                shift(Some("carl"), amer, monday(15), monday(23)),
                shift(Some("mei"), apac, monday(23), utc(2026, 3, 3, 0, 0)),
                shift(Some("raj"), apac, utc(2026, 3, 3, 0, 0), utc(2026, 3, 3, 7, 0)),
                shift(Some("anna"), emea, utc(2026, 3, 3, 7, 0), utc(2026, 3, 3, 12, 0)),
            ]
        );
        assert_eq!(s.on_call(utc(2026, 3, 6, 16, 0)), on("carl", amer, utc(2026, 3, 6, 15, 0), Some(utc(2026, 3, 6, 23, 0))));
        // Saturday is apac all day (day 5, raj); the next week amer is dana's.
        assert_eq!(s.on_call(utc(2026, 3, 7, 12, 0)), on("raj", apac, utc(2026, 3, 7, 0, 0), Some(utc(2026, 3, 8, 0, 0))));
        assert_eq!(s.on_call(utc(2026, 3, 9, 20, 0)).map(|o| o.user), Some("dana".to_owned()));
        // Anna's restricted layer alone: one stretch per weekday.
        let anna = s.layer_shifts(1, monday(0), utc(2026, 3, 9, 0, 0));
        assert_eq!(anna.len(), 5);
        assert!(anna.iter().all(|s| s.end - s.start == TimeDelta::hours(8) && s.start.hour() == 7));
        assert!(s.layer_shifts(3, monday(0), monday(1)).is_empty());
    }

    #[test]
    fn restrictions_follow_local_time() {
        let mut day = layer("day", &["alice"], "2026-03-01T00:00", 1, "weeks");
        day["restrictions"] = json!([{"days": ["sun"], "from": "01:00", "to": "05:00"}, {"days": ["sun"], "from": "20:00", "to": "24:00"}]);
        let s = schedule(json!({"name": "r", "time_zone": "Europe/Berlin", "layers": [day]}));
        let shifts = s.layer_shifts(0, utc(2026, 3, 28, 0, 0), utc(2026, 3, 31, 0, 0));
        // Sunday 2026-03-29: 01:00 CET to 05:00 CEST is three hours; 20:00 to 24:00 CEST is four.
        assert_eq!(
            shifts.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(),
            vec![(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 3, 0)), (utc(2026, 3, 29, 18, 0), utc(2026, 3, 29, 22, 0))]
        );
        assert_eq!(s.on_call(utc(2026, 3, 29, 19, 0)), on("alice", Some("day"), utc(2026, 3, 29, 18, 0), Some(utc(2026, 3, 29, 22, 0))));
        assert_eq!(s.on_call(utc(2026, 3, 29, 12, 0)), None);
    }

    #[test]
    fn overrides_win_and_the_last_one_most() {
        let mut doc = berlin_weekly();
        doc["overrides"] = json!([
            {"user": "dave", "start": "2026-03-29T00:00:00Z", "end": "2026-03-30T00:00:00Z"},
            {"user": "erin", "start": "2026-03-29T06:00:00+02:00", "end": "2026-03-29T08:00:00Z"},
        ]);
        let s = schedule(doc);
        let w = Some("weekly");
        assert_eq!(
            s.timeline(utc(2026, 3, 28, 0, 0), utc(2026, 3, 31, 0, 0)),
            vec![
                shift(Some("carol"), w, utc(2026, 3, 28, 0, 0), utc(2026, 3, 29, 0, 0)),
                shift(Some("dave"), None, utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 4, 0)),
                shift(Some("erin"), None, utc(2026, 3, 29, 4, 0), utc(2026, 3, 29, 8, 0)),
                shift(Some("dave"), None, utc(2026, 3, 29, 8, 0), utc(2026, 3, 30, 0, 0)),
                shift(Some("carol"), w, utc(2026, 3, 30, 0, 0), utc(2026, 3, 30, 7, 0)),
                shift(Some("alice"), w, utc(2026, 3, 30, 7, 0), utc(2026, 3, 31, 0, 0)),
            ]
        );
        assert_eq!(s.on_call(utc(2026, 3, 29, 12, 0)), on("dave", None, utc(2026, 3, 29, 8, 0), Some(utc(2026, 3, 30, 0, 0))));
        assert_eq!(s.on_call(utc(2026, 3, 28, 12, 0)), on("carol", w, utc(2026, 3, 23, 8, 0), Some(utc(2026, 3, 29, 0, 0))));
        assert_eq!(s.on_call(utc(2026, 3, 30, 0, 0)), on("carol", w, utc(2026, 3, 30, 0, 0), Some(utc(2026, 3, 30, 7, 0))));
        assert_eq!(s.users(), BTreeSet::from(["alice", "bob", "carol", "dave", "erin"]));

        // Adjacent overrides for the same user are one segment.
        let mut doc = berlin_weekly();
        doc["overrides"] = json!([
            {"user": "dave", "start": "2026-03-29T00:00:00Z", "end": "2026-03-29T12:00:00Z"},
            {"user": "dave", "start": "2026-03-29T12:00:00Z", "end": "2026-03-30T00:00:00Z"},
        ]);
        let s = schedule(doc);
        assert_eq!(s.on_call(utc(2026, 3, 29, 1, 0)), on("dave", None, utc(2026, 3, 29, 0, 0), Some(utc(2026, 3, 30, 0, 0))));
    }

    #[test]
    fn runs_that_never_end_and_layers_from_long_ago() {
        let s = schedule(json!({"name": "solo", "time_zone": "Asia/Kolkata",
                                "layers": [layer("me", &["alice", "alice"], "2001-01-01T09:00", 1, "hours")]}));
        let since = local(chrono_tz::Asia::Kolkata, 2001, 1, 1, 9, 0);
        assert_eq!(s.on_call(utc(2026, 6, 1, 0, 0)), on("alice", Some("me"), since, None));
        // A later layer starting in the future ends the run when it starts.
        let s = schedule(json!({"name": "solo", "time_zone": "UTC", "layers": [
            layer("me", &["alice"], "2001-01-01T00:00", 1, "weeks"), layer("next", &["bob", "carol"], "2999-01-01T00:00", 3, "hours")]}));
        assert_eq!(s.on_call(utc(2026, 6, 1, 0, 0)), on("alice", Some("me"), utc(2001, 1, 1, 0, 0), Some(utc(2999, 1, 1, 0, 0))));
        assert_eq!(s.on_call(utc(2999, 1, 1, 4, 0)), on("carol", Some("next"), utc(2999, 1, 1, 3, 0), Some(utc(2999, 1, 1, 6, 0))));

        // Shift k is computed, not walked to: a rotation running since 1990 answers for 2026 directly.
        let s = schedule(json!({"name": "old", "time_zone": "America/New_York", "layers": [
            layer("hourly", &["a1", "b2", "c3", "d4", "e5"], "1990-01-01T00:00", 1, "hours"),
            layer("daily", &["x1", "y2", "z3"], "1990-01-01T09:00", 2, "days")]}));
        let start = local(NEW_YORK, 1990, 1, 1, 0, 0);
        let at = utc(2026, 3, 8, 7, 30);
        let k = (at - start).num_hours();
        let hourly = s.layer_shifts(0, at, at + TimeDelta::hours(1));
        assert_eq!(hourly[0].user.as_deref(), Some(["a1", "b2", "c3", "d4", "e5"][(k % 5) as usize]));
        let days = (NaiveDate::from_ymd_opt(2026, 3, 8).expect("valid") - NaiveDate::from_ymd_opt(1990, 1, 1).expect("valid")).num_days();
        // 03:30 EDT, so 2026-03-08's hand-off (if it is one) has happened.
        let k = days / 2;
        assert_eq!(s.on_call(at).map(|o| o.user), Some(["x1", "y2", "z3"][(k % 3) as usize].to_owned()));
    }

    fn rules(result: Result<impl std::fmt::Debug, DomainError>) -> Vec<(String, String)> {
        let err = result.expect_err("the document is invalid");
        assert!(matches!(err, DomainError::Validation(_)), "{err:?}");
        err.violations().iter().map(|v| (v.field.clone(), v.rule.clone())).collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|(f, r)| ((*f).to_owned(), (*r).to_owned())).collect()
    }

    fn example_schedule() -> ScheduleDocument {
        let mut doc = berlin_weekly();
        doc["layers"][0]["restrictions"] = json!([{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}]);
        doc["overrides"] = json!([{"user": "dave", "start": "2026-03-29T00:00:00Z", "end": "2026-03-30T00:00:00Z"}]);
        serde_json::from_value(doc).expect("the example deserialises")
    }

    fn check_schedule(edit: impl FnOnce(&mut ScheduleDocument), expected: &[(&str, &str)]) {
        let mut doc = example_schedule();
        edit(&mut doc);
        assert_eq!(rules(Schedule::from_document(&doc)), pairs(expected), "{doc:?}");
    }

    #[test]
    fn schedule_rules_name_their_field() {
        assert!(Schedule::from_document(&example_schedule()).is_ok());
        check_schedule(|d| d.name = " ".into(), &[("name", "required")]);
        check_schedule(|d| d.time_zone = "Europe/Atlantis".into(), &[("time_zone", "time_zone")]);
        check_schedule(|d| d.layers.clear(), &[("layers", "required")]);
        check_schedule(|d| d.layers[0].participants.clear(), &[("layers[0].participants", "required")]);
        check_schedule(|d| d.layers[0].participants[1] = "Bob".into(), &[("layers[0].participants[1]", "pattern")]);
        check_schedule(|d| d.layers[0].name = String::new(), &[("layers[0].name", "required")]);
        for bad in ["2026-01-05 09:00", "2026-01-05T9:00", "2026-02-30T09:00", "2026-01-05T24:00", "2026-01-05T09:00:60", "2026-01-05", ""]
        {
            check_schedule(|d| d.layers[0].start = bad.into(), &[("layers[0].start", "format")]);
        }
        check_schedule(
            |d| {
                let mut second = d.layers[0].clone();
                second.name = "other".into();
                second.rotation.every = 0;
                d.layers.push(second);
            },
            &[("layers[1].rotation.every", "range")],
        );
        check_schedule(|d| d.layers[0].rotation.every = MAX_ROTATION_EVERY + 1, &[("layers[0].rotation.every", "range")]);
        check_schedule(|d| d.layers.push(d.layers[0].clone()), &[("layers[1].name", "unique")]);
        fn r(d: &mut ScheduleDocument) -> &mut RestrictionDocument {
            &mut d.layers[0].restrictions[0]
        }
        check_schedule(|d| r(d).to = "09:00".into(), &[("layers[0].restrictions[0].to", "order")]);
        check_schedule(|d| r(d).to = "24:01".into(), &[("layers[0].restrictions[0].to", "format")]);
        check_schedule(|d| r(d).from = "24:00".into(), &[("layers[0].restrictions[0].from", "format")]);
        check_schedule(|d| r(d).days = vec![], &[("layers[0].restrictions[0].days", "required")]);
        check_schedule(|d| r(d).days[1] = "Tuesday".into(), &[("layers[0].restrictions[0].days[1]", "format")]);
        check_schedule(|d| d.overrides[0].end = d.overrides[0].start, &[("overrides[0].end", "order")]);
        check_schedule(|d| d.overrides[0].user = String::new(), &[("overrides[0].user", "length")]);
        // Valid edges.
        let mut doc = example_schedule();
        doc.layers[0].restrictions[0].to = "24:00".into();
        doc.layers[0].start = "2026-01-05T09:00:30".into();
        doc.layers[0].rotation = RotationDocument { every: MAX_ROTATION_EVERY, unit: RotationUnit::Hours };
        assert!(Schedule::from_document(&doc).is_ok());
        // A restriction covering the whole week restricts nothing.
        doc.layers[0].restrictions[0] =
            RestrictionDocument { days: DAY_KEYS.map(str::to_owned).to_vec(), from: "00:00".into(), to: "24:00".into() };
        assert_eq!(Schedule::from_document(&doc).expect("valid").layers[0].windows, None);
    }

    #[test]
    fn schedule_reports_every_violation_at_once() {
        let mut doc = example_schedule();
        doc.time_zone = "Mars/Olympus".into();
        doc.layers[0].participants.clear();
        doc.layers[0].start = "soon".into();
        doc.layers[0].restrictions[0].to = "08:00".into();
        let mut second = doc.layers[0].clone();
        second.rotation.every = 0;
        second.participants = vec!["erin".into()];
        second.start = "2026-01-05T09:00".into();
        second.restrictions.clear();
        doc.layers.push(second);
        doc.overrides = vec![doc.overrides[0].clone(), doc.overrides[0].clone(), doc.overrides[0].clone()];
        doc.overrides[2].end = doc.overrides[2].start - TimeDelta::hours(1);
        assert_eq!(
            rules(Schedule::compile(&doc, "schedules[4]")),
            pairs(&[
                ("schedules[4].time_zone", "time_zone"),
                ("schedules[4].layers[0].participants", "required"),
                ("schedules[4].layers[0].start", "format"),
                ("schedules[4].layers[0].restrictions[0].to", "order"),
                ("schedules[4].layers[1].name", "unique"),
                ("schedules[4].layers[1].rotation.every", "range"),
                ("schedules[4].overrides[2].end", "order"),
            ])
        );
    }

    #[test]
    fn parse_json_names_what_serde_could_not_read() {
        let parse = |edit: fn(&mut Value)| {
            let mut doc = serde_json::to_value(example_schedule()).expect("serialises");
            edit(&mut doc);
            rules(Schedule::parse_json(&doc))
        };
        assert_eq!(parse(|d| d["colour"] = json!("blue")), pairs(&[("colour", "unknown_field")]));
        assert_eq!(parse(|d| d["layers"][0]["rotation"]["colour"] = json!(1)), pairs(&[("layers[0].rotation.colour", "unknown_field")]));
        assert_eq!(parse(|d| d["layers"][0]["rotation"]["unit"] = json!("months")), pairs(&[("layers[0].rotation", "one_of")]));
        assert_eq!(parse(|d| d["layers"][0]["rotation"]["every"] = json!(-1)), pairs(&[("layers[0].rotation", "format")]));
        assert_eq!(
            parse(|d| {
                d["layers"][0].as_object_mut().expect("an object").remove("start");
                d["layers"][0]["restrictions"][0]["days"] = json!("mon");
            }),
            pairs(&[("layers[0].restrictions[0]", "type"), ("layers[0].start", "required")])
        );
        assert_eq!(parse(|d| d["overrides"][0]["end"] = json!("tomorrow")), pairs(&[("overrides[0]", "format")]));
        assert_eq!(
            parse(|d| {
                d["layers"][0]["rotation"] = json!({"every": 1});
                d["colour"] = json!("blue");
            }),
            pairs(&[("layers[0].rotation.unit", "required"), ("colour", "unknown_field")])
        );
        assert_eq!(parse(|d| d["name"] = json!(7)), pairs(&[("", "type")]));
        assert_eq!(rules(Schedule::parse_json(&json!([]))), pairs(&[("", "type")]));
        // What only compiling can know is still reported.
        assert_eq!(parse(|d| d["time_zone"] = json!("Nowhere")), pairs(&[("time_zone", "time_zone")]));
        // Documents round-trip through serde.
        let doc = example_schedule();
        let value = serde_json::to_value(&doc).expect("serialises");
        assert_eq!(Schedule::parse_json(&value).expect("valid"), Schedule::from_document(&doc).expect("valid"));
    }

    // Escalation policies.

    fn example_policy() -> Value {
        json!({ "name": "sre", "groups": ["Network"], "services": ["payments"], "priorities": ["P1", "P2"],
                "levels": [ { "after_minutes": 0, "notify": [ { "schedule": "sre-primary" } ] },
                            { "after_minutes": 5, "notify": [ { "schedule": "sre-secondary" } ] },
                            { "after_minutes": 15, "notify": [ { "manager": true }, { "user": "erin" } ] } ],
                "repeat": 0 })
    }

    fn policy(edit: impl FnOnce(&mut Value)) -> EscalationPolicy {
        let mut doc = example_policy();
        edit(&mut doc);
        EscalationPolicy::parse_json(&doc).expect("test policies are valid")
    }

    #[test]
    fn due_levels_and_next_due() {
        let p = policy(|_| {});
        let t0 = utc(2026, 3, 29, 1, 0);
        let m = |minutes| t0 + TimeDelta::minutes(minutes);
        assert_eq!(p.due_levels(t0, t0 - TimeDelta::seconds(1)), vec![]);
        assert_eq!(p.due_levels(t0, t0), vec![(0, 0, t0)]);
        assert_eq!(p.due_levels(t0, m(14)), vec![(0, 0, t0), (0, 1, m(5))]);
        assert_eq!(p.due_levels(t0, m(600)), vec![(0, 0, t0), (0, 1, m(5)), (0, 2, m(15))]);
        assert_eq!(p.next_due(t0, t0 - TimeDelta::nanoseconds(1)), Some((0, 0, t0)));
        assert_eq!(p.next_due(t0, t0), Some((0, 1, m(5))));
        assert_eq!(p.next_due(t0, m(5)), Some((0, 2, m(15))));
        assert_eq!(p.next_due(t0, m(15)), None);
        assert_eq!(p.repeat_after_minutes(), 15);
        assert_eq!(p.levels()[2].notify, vec![NotifyTarget::Manager, NotifyTarget::User("erin".into())]);
        assert_eq!(p.schedules(), BTreeSet::from(["sre-primary", "sre-secondary"]));

        // Two repeats, by default 15 minutes after the last level: passes every 30 minutes.
        let p = policy(|d| d["repeat"] = json!(2));
        assert_eq!(
            p.due_levels(t0, m(1000)).iter().map(|&(pass, level, due)| (pass, level, (due - t0).num_minutes())).collect::<Vec<_>>(),
            vec![(0, 0, 0), (0, 1, 5), (0, 2, 15), (1, 0, 30), (1, 1, 35), (1, 2, 45), (2, 0, 60), (2, 1, 65), (2, 2, 75)]
        );
        assert_eq!(p.next_due(t0, m(44)), Some((1, 2, m(45))));
        assert_eq!(p.next_due(t0, m(75)), None);
        let p = policy(|d| {
            d["repeat"] = json!(1);
            d["repeat_after_minutes"] = json!(1);
        });
        assert_eq!(p.next_due(t0, m(15)), Some((1, 0, m(16))));
        // A single level repeats every minute at least.
        let p = policy(|d| {
            d["levels"] = json!([{"after_minutes": 0, "notify": [{"user": "erin"}]}]);
            d["repeat"] = json!(3);
        });
        assert_eq!(p.repeat_after_minutes(), 1);
        assert_eq!(p.due_levels(t0, m(2)), vec![(0, 0, t0), (1, 0, m(1)), (2, 0, m(2))]);
    }

    #[test]
    fn applies_to_groups_services_and_priorities() {
        let p = policy(|_| {});
        assert!(p.applies_to(Some("Network"), &[], "P1"));
        assert!(p.applies_to(Some("network"), &[], "P2"));
        assert!(p.applies_to(None, &["db", "Payments"], "P1"));
        assert!(!p.applies_to(Some("Network"), &[], "P3"));
        assert!(!p.applies_to(Some("Database"), &["db"], "P1"));
        assert!(!p.applies_to(None, &[], "P1"));
        assert!(!p.applies_to(Some("Network"), &[], "urgent"));
        let all = policy(|d| {
            d.as_object_mut().expect("an object").remove("priorities");
            d["groups"] = json!([]);
        });
        assert!(all.applies_to(None, &["payments"], "P5"));
        assert!(!all.applies_to(Some("Network"), &[], "P1"));
        assert_eq!((all.name(), all.groups(), all.services(), all.priorities()), ("sre", &[][..], &["payments".to_owned()][..], None));
        assert_eq!(p.priorities(), Some(&[Priority::P1, Priority::P2][..]));
    }

    fn policy_rules(edit: impl FnOnce(&mut Value)) -> Vec<(String, String)> {
        let mut doc = example_policy();
        edit(&mut doc);
        rules(EscalationPolicy::parse_json(&doc))
    }

    #[test]
    fn policy_rules_name_their_field() {
        assert_eq!(policy_rules(|d| d["name"] = json!("")), pairs(&[("name", "required")]));
        assert_eq!(
            policy_rules(|d| {
                d["groups"] = json!([]);
                d["services"] = json!([]);
            }),
            pairs(&[("groups", "required")])
        );
        assert_eq!(policy_rules(|d| d["services"] = json!(["ok", " "])), pairs(&[("services[1]", "required")]));
        assert_eq!(policy_rules(|d| d["priorities"] = json!([])), pairs(&[("priorities", "required")]));
        assert_eq!(policy_rules(|d| d["priorities"] = json!(["P1", "P9"])), pairs(&[("priorities[1]", "one_of")]));
        assert_eq!(policy_rules(|d| d["levels"] = json!([])), pairs(&[("levels", "required")]));
        assert_eq!(policy_rules(|d| d["levels"][0]["after_minutes"] = json!(1)), pairs(&[("levels[0].after_minutes", "order")]));
        assert_eq!(policy_rules(|d| d["levels"][2]["after_minutes"] = json!(5)), pairs(&[("levels[2].after_minutes", "order")]));
        assert_eq!(
            policy_rules(|d| d["levels"][2]["after_minutes"] = json!(MAX_ESCALATION_MINUTES + 1)),
            pairs(&[("levels[2].after_minutes", "range")])
        );
        assert_eq!(policy_rules(|d| d["levels"][1]["notify"] = json!([])), pairs(&[("levels[1].notify", "required")]));
        assert_eq!(policy_rules(|d| d["levels"][2]["notify"][1] = json!({})), pairs(&[("levels[2].notify[1]", "one_of")]));
        assert_eq!(
            policy_rules(|d| d["levels"][2]["notify"][1] = json!({"user": "erin", "schedule": "x"})),
            pairs(&[("levels[2].notify[1]", "one_of")])
        );
        assert_eq!(policy_rules(|d| d["levels"][2]["notify"][0] = json!({"manager": false})), pairs(&[("levels[2].notify[0]", "one_of")]));
        assert_eq!(
            policy_rules(|d| d["levels"][2]["notify"][1] = json!({"user": "Erin"})),
            pairs(&[("levels[2].notify[1].user", "pattern")])
        );
        assert_eq!(
            policy_rules(|d| d["levels"][0]["notify"][0] = json!({"schedule": ""})),
            pairs(&[("levels[0].notify[0].schedule", "required")])
        );
        assert_eq!(policy_rules(|d| d["repeat"] = json!(MAX_REPEATS + 1)), pairs(&[("repeat", "range")]));
        assert_eq!(policy_rules(|d| d["repeat_after_minutes"] = json!(0)), pairs(&[("repeat_after_minutes", "range")]));
        assert_eq!(
            policy_rules(|d| d["levels"][1]["notify"][0]["team"] = json!("x")),
            pairs(&[("levels[1].notify[0].team", "unknown_field")])
        );
        assert_eq!(policy_rules(|d| d["levels"][1]["after"] = json!(3)), pairs(&[("levels[1].after", "unknown_field")]));
        // All at once, under a path.
        let mut doc: EscalationPolicyDocument = serde_json::from_value(example_policy()).expect("deserialises");
        doc.levels[0].after_minutes = 3;
        doc.levels[1].after_minutes = 2;
        doc.levels[2].notify.push(NotifyDocument::default());
        doc.priorities = Some(vec!["p1".into()]);
        assert_eq!(
            rules(EscalationPolicy::compile(&doc, "policies[1]")),
            pairs(&[
                ("policies[1].priorities[0]", "one_of"),
                ("policies[1].levels[0].after_minutes", "order"),
                ("policies[1].levels[1].after_minutes", "order"),
                ("policies[1].levels[2].notify[2]", "one_of"),
            ])
        );
    }

    // Property tests: random layers in the zones below, around their DST changes in 2025-2028.

    const ZONES: [&str; 5] = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"];
    const PEOPLE: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

    fn start_2025() -> DateTime<Utc> {
        utc(2025, 1, 1, 0, 0)
    }

    /// The UTC offset changes of each test zone in 2025-2028 (on a whole or half hour).
    fn transitions(tz: Tz) -> &'static [DateTime<Utc>] {
        static ALL: OnceLock<Vec<(Tz, Vec<DateTime<Utc>>)>> = OnceLock::new();
        let all = ALL.get_or_init(|| {
            let offset = |tz: Tz, at: DateTime<Utc>| chrono::Offset::fix(at.with_timezone(&tz).offset()).local_minus_utc();
            ZONES
                .iter()
                .map(|zone| {
                    let tz: Tz = zone.parse().expect("test zones exist");
                    let changes = (0..4 * 366 * 24)
                        .map(|h| start_2025() + TimeDelta::hours(h))
                        .filter(|at| offset(tz, *at - TimeDelta::hours(1)) != offset(tz, *at))
                        .map(|at| {
                            let half = at - TimeDelta::minutes(30);
                            if offset(tz, half) == offset(tz, at) { half } else { at }
                        })
                        .collect();
                    (tz, changes)
                })
                .collect()
        });
        all.iter().find(|(zone, _)| *zone == tz).map_or(&[], |(_, changes)| changes.as_slice())
    }

    /// An independent reading of the hand-off rule: the wall time itself, its first occurrence in a fold, or in a
    /// gap the first whole minute after it that exists.
    fn oracle_instant(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
        let mut candidate = wall;
        loop {
            if let Some(at) = tz.from_local_datetime(&candidate).earliest() {
                return at.with_timezone(&Utc);
            }
            candidate += TimeDelta::minutes(1);
        }
    }

    /// Shift k's start by the oracle: `every` absolute hours, or `k * step` local dates at the start's wall time.
    fn oracle_handoff(tz: Tz, doc: &LayerDocument, k: u64) -> DateTime<Utc> {
        let start = parse_local(&doc.start).expect("generated starts parse");
        let every = u64::from(doc.rotation.every);
        match doc.rotation.unit {
            RotationUnit::Hours => oracle_instant(tz, start) + TimeDelta::hours((k * every) as i64),
            RotationUnit::Days => oracle_instant(tz, start + TimeDelta::days((k * every) as i64)),
            RotationUnit::Weeks => oracle_instant(tz, start + TimeDelta::days((k * every * 7) as i64)),
        }
    }

    fn clock(minute: u32) -> String {
        format!("{:02}:{:02}", minute / 60, minute % 60)
    }

    /// Weekly windows on a half-hour grid, often around the DST hours.
    fn restriction_strategy() -> impl Strategy<Value = RestrictionDocument> {
        let minute = prop_oneof![(0u32..48).prop_map(|h| h * 30), (2u32..=7).prop_map(|h| h * 30)];
        (prop::collection::btree_set(0usize..7, 1..=7), minute, 1u32..=48).prop_map(|(days, from, len)| RestrictionDocument {
            days: days.into_iter().map(|d| DAY_KEYS[d].to_owned()).collect(),
            from: clock(from),
            to: clock((from + len * 30).min(MINUTES_PER_DAY)),
        })
    }

    fn rotation_strategy() -> impl Strategy<Value = RotationDocument> {
        prop_oneof![
            (1u32..=3).prop_map(|every| RotationDocument { every, unit: RotationUnit::Days }),
            (1u32..=2).prop_map(|every| RotationDocument { every, unit: RotationUnit::Weeks }),
            prop::sample::select(vec![1u32, 2, 5, 8, 12, 24, 36]).prop_map(|every| RotationDocument { every, unit: RotationUnit::Hours }),
        ]
    }

    /// A layer starting up to `days_before` days before `near` (local date), at a quarter-hour often inside the DST
    /// hours, so that hand-offs land on the transition days.
    fn layer_strategy(tz: Tz, near: DateTime<Utc>, days_before: u64, restricted: bool) -> impl Strategy<Value = LayerDocument> {
        let minute = prop_oneof![(0u32..96).prop_map(|q| q * 15), (4u32..=13).prop_map(|q| q * 15)];
        let back = prop_oneof![0..=days_before, (0..=days_before / 7).prop_map(|w| w * 7)];
        let restrictions = if restricted { prop::collection::vec(restriction_strategy(), 0..=2).boxed() } else { Just(vec![]).boxed() };
        (prop::collection::vec(prop::sample::select(PEOPLE.to_vec()), 1..=4), back, minute, rotation_strategy(), restrictions).prop_map(
            move |(people, back, minute, rotation, restrictions)| {
                let date = near.with_timezone(&tz).date_naive() - Days::new(back);
                LayerDocument {
                    name: String::new(),
                    participants: people.into_iter().map(str::to_owned).collect(),
                    start: format!("{date}T{}", clock(minute)),
                    rotation,
                    restrictions,
                }
            },
        )
    }

    /// A zone and an instant: one of its offset changes give or take a day and a half, or anywhere in 2025-2028.
    fn zone_and_instant() -> impl Strategy<Value = (Tz, DateTime<Utc>)> {
        prop::sample::select(ZONES.to_vec()).prop_flat_map(|zone| {
            let tz: Tz = zone.parse().expect("test zones exist");
            let changes = transitions(tz);
            let anywhere = (0i64..4 * 365 * 24 * 60).prop_map(|m| start_2025() + TimeDelta::minutes(m)).boxed();
            let near = if changes.is_empty() {
                anywhere.clone()
            } else {
                (prop::sample::select(changes.to_vec()), -36 * 60..=36 * 60i64).prop_map(|(at, m)| at + TimeDelta::minutes(m)).boxed()
            };
            (Just(tz), prop_oneof![1 => anywhere, 3 => near])
        })
    }

    fn one_layer(tz: Tz, mut layer: LayerDocument) -> Schedule {
        layer.name = "only".into();
        let doc = ScheduleDocument { name: "p".into(), time_zone: tz.name().into(), layers: vec![layer], overrides: vec![] };
        Schedule::from_document(&doc).expect("generated schedules are valid")
    }

    fn schedule_strategy() -> impl Strategy<Value = (ScheduleDocument, DateTime<Utc>)> {
        zone_and_instant().prop_flat_map(|(tz, at)| {
            let layers = prop::collection::vec(layer_strategy(tz, at, 60, true), 1..=3);
            let overrides = prop::collection::vec(
                (prop::sample::select(PEOPLE.to_vec()), -3 * 24 * 60..=10 * 24 * 60i64, 1..=3 * 24 * 60i64).prop_map(
                    move |(user, m, len)| {
                        let start = at + TimeDelta::minutes(m);
                        OverrideDocument { user: user.into(), start, end: start + TimeDelta::minutes(len) }
                    },
                ),
                0..=3,
            );
            (layers, overrides).prop_map(move |(mut layers, overrides)| {
                for (i, layer) in layers.iter_mut().enumerate() {
                    layer.name = format!("l{i}");
                }
                (ScheduleDocument { name: "random".into(), time_zone: tz.name().into(), layers, overrides }, at)
            })
        })
    }

    /// Instants inside a shift to compare against point queries: both ends and a few in between.
    fn samples(shift: &Shift) -> Vec<DateTime<Utc>> {
        let len = shift.end - shift.start;
        let mut out = vec![shift.start, shift.end - TimeDelta::nanoseconds(1), shift.start + len / 2];
        out.extend([1, 3, 7].map(|i| shift.start + len * i / 11));
        out
    }

    fn who(on_call: Option<OnCall>) -> (Option<String>, Option<String>) {
        on_call.map_or((None, None), |o| (Some(o.user), o.layer))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn day_and_week_hand_offs_keep_their_wall_time(
            (tz, layer) in zone_and_instant().prop_flat_map(|(tz, at)| (Just(tz), layer_strategy(tz, at, 400, false))),
        ) {
            prop_assume!(layer.rotation.unit != RotationUnit::Hours);
            let start = parse_local(&layer.start).expect("generated starts parse");
            let step = u64::from(layer.rotation.every) * if layer.rotation.unit == RotationUnit::Weeks { 7 } else { 1 };
            let s = one_layer(tz, layer.clone());
            let compiled = &s.layers[0];
            let mut ks: Vec<u64> = transitions(tz).iter().filter_map(|at| compiled.shift_index(*at)).collect();
            ks.extend([0, 1, 2]);
            for k in ks.into_iter().flat_map(|k| k.saturating_sub(1)..=k + 1) {
                let handoff = compiled.handoff(k).expect("in range");
                let expected = start + TimeDelta::days((k * step) as i64);
                prop_assert_eq!(handoff, oracle_instant(tz, expected));
                let shown = wall(tz, handoff);
                match tz.from_local_datetime(&expected) {
                    LocalResult::None => {
                        // In a gap: the first valid time after, the same day, less than an hour later.
                        prop_assert!(shown > expected && shown - expected <= TimeDelta::hours(1), "{} shows {}", expected, shown);
                        prop_assert!(wall(tz, handoff - TimeDelta::seconds(1)) < expected);
                    }
                    other => {
                        prop_assert_eq!(shown, expected);
                        prop_assert_eq!(Some(handoff), other.earliest().map(|at| at.with_timezone(&Utc)));
                    }
                }
                prop_assert!(compiled.handoff(k + 1).expect("in range") > handoff);
                prop_assert_eq!(compiled.shift_index(handoff), Some(k));
                prop_assert_eq!(compiled.shift_index(handoff - TimeDelta::nanoseconds(1)), k.checked_sub(1));
            }
        }

        #[test]
        fn on_call_matches_a_walk_of_hand_offs(
            (tz, at, layer) in zone_and_instant().prop_flat_map(|(tz, at)| (Just(tz), Just(at), layer_strategy(tz, at, 150, false))),
        ) {
            let s = one_layer(tz, layer.clone());
            // Count the hand-offs at or before `at`, walking from the start.
            let mut count = 0u64;
            while oracle_handoff(tz, &layer, count) <= at {
                count += 1;
            }
            let on_call = s.on_call(at);
            if count == 0 {
                prop_assert_eq!(on_call, None);
            } else {
                let k = count - 1;
                let on_call = on_call.expect("someone is on call after the start");
                prop_assert_eq!(&on_call.user, &layer.participants[(k % layer.participants.len() as u64) as usize]);
                prop_assert_eq!(on_call.layer.as_deref(), Some("only"));
                prop_assert!(on_call.since <= at && on_call.until.is_none_or(|until| at < until));
                // The segment is a whole number of shifts, and starts and ends at hand-offs.
                prop_assert!((0..=k).any(|j| oracle_handoff(tz, &layer, j) == on_call.since));
                if let Some(until) = on_call.until {
                    prop_assert!((k + 1..k + 6).any(|j| oracle_handoff(tz, &layer, j) == until));
                } else {
                    prop_assert!(layer.participants.iter().all(|p| *p == layer.participants[0]));
                }
            }
        }

        #[test]
        fn timeline_covers_the_range_and_agrees_with_on_call(
            (doc, at) in schedule_strategy(), len in 1i64..=10 * 24 * 60,
        ) {
            let s = Schedule::from_document(&doc).expect("generated schedules are valid");
            let (from, to) = (at, at + TimeDelta::minutes(len));
            let timeline = s.timeline(from, to);
            prop_assert_eq!(timeline.first().map(|s| s.start), Some(from));
            prop_assert_eq!(timeline.last().map(|s| s.end), Some(to));
            for pair in timeline.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start);
                prop_assert!((&pair[0].user, &pair[0].layer) != (&pair[1].user, &pair[1].layer), "not merged: {:?}", pair);
            }
            for shift in &timeline {
                prop_assert!(shift.start < shift.end);
                prop_assert_eq!(shift.user.is_none(), shift.layer.is_none() && !s.overrides.iter().any(|o| o.start <= shift.start && shift.start < o.end));
                for t in samples(shift) {
                    let on_call = s.on_call(t);
                    prop_assert_eq!(who(on_call.clone()), (shift.user.clone(), shift.layer.clone()), "at {}", t);
                    if let Some(on_call) = on_call {
                        prop_assert!(on_call.since <= t && on_call.until.is_none_or(|until| t < until));
                        if shift.start > from {
                            prop_assert_eq!(on_call.since, shift.start);
                        } else {
                            prop_assert!(on_call.since <= from);
                        }
                        if shift.end < to {
                            prop_assert_eq!(on_call.until, Some(shift.end));
                        } else {
                            prop_assert!(on_call.until.is_none_or(|until| until >= to));
                        }
                    }
                }
            }
            // Rendering a sub-range gives the same segments, cut to it.
            let mid = from + (to - from) / 3;
            let cut: Vec<Shift> = timeline
                .iter()
                .filter(|shift| shift.end > mid)
                .map(|shift| Shift { start: shift.start.max(mid), ..shift.clone() })
                .collect();
            prop_assert_eq!(s.timeline(mid, to), cut);
        }

        #[test]
        fn an_override_wins_its_window_and_changes_nothing_else(
            (doc, at) in schedule_strategy(), user in prop::sample::select(PEOPLE.to_vec()),
            offset in -12 * 60i64..=48 * 60, len in 1i64..=3 * 24 * 60,
        ) {
            let base = Schedule::from_document(&doc).expect("generated schedules are valid");
            let start = at + TimeDelta::minutes(offset);
            let end = start + TimeDelta::minutes(len);
            let mut with = doc.clone();
            with.overrides.push(OverrideDocument { user: user.into(), start, end });
            let with = Schedule::from_document(&with).expect("still valid");
            let (from, to) = (start - TimeDelta::days(2), end + TimeDelta::days(2));
            for shift in with.timeline(from, to) {
                // A segment reaching into the window is the override's (it may extend past it when it merges with
                // an adjacent override for the same user).
                if shift.start < end && start < shift.end {
                    prop_assert_eq!((shift.user.as_deref(), shift.layer.as_deref()), (Some(user), None), "{:?}", shift);
                }
            }
            let mut points: Vec<DateTime<Utc>> = base.timeline(from, to).iter().flat_map(samples).collect();
            points.extend([start, end - TimeDelta::nanoseconds(1), end, start - TimeDelta::nanoseconds(1)]);
            for t in points {
                if start <= t && t < end {
                    prop_assert_eq!(who(with.on_call(t)), (Some(user.to_owned()), None));
                } else {
                    prop_assert_eq!(who(with.on_call(t)), who(base.on_call(t)), "at {}", t);
                }
            }
        }

        #[test]
        fn hourly_shifts_last_exactly_every_hours(
            (tz, at) in zone_and_instant(), every in prop::sample::select(vec![1u32, 2, 3, 5, 8, 12, 24, 36]),
            minute in 0u32..96, back in 0i64..=30 * 24,
        ) {
            let start = wall(tz, at - TimeDelta::hours(back));
            let start = format!("{}T{}", start.date(), clock(minute * 15));
            let layer = LayerDocument {
                name: String::new(),
                participants: vec!["alice".into(), "bob".into(), "carol".into()],
                start,
                rotation: RotationDocument { every, unit: RotationUnit::Hours },
                restrictions: vec![],
            };
            let s = one_layer(tz, layer);
            let length = TimeDelta::hours(i64::from(every));
            let compiled = &s.layers[0];
            let (from, to) = (at - TimeDelta::hours(48), at + TimeDelta::hours(48));
            let shifts = s.layer_shifts(0, from, to);
            for shift in &shifts {
                let first = shift.start == from.max(compiled.start);
                if !first && shift.end != to {
                    prop_assert_eq!(shift.end - shift.start, length);
                }
                if !first {
                    prop_assert_eq!((shift.start - compiled.start).num_seconds() % length.num_seconds(), 0);
                }
            }
            if let Some(k) = compiled.shift_index(at) {
                let handoff = compiled.handoff(k).expect("in range");
                prop_assert_eq!(compiled.handoff(k + 1).expect("in range") - handoff, length);
                prop_assert_eq!(handoff - compiled.start, length * i32::try_from(k).expect("small"));
            }
        }

        #[test]
        fn next_due_chains_reproduce_due_levels(
            gaps in prop::collection::vec(1u32..=30, 0..5), repeat in 0u32..=3, repeat_after in prop::option::of(1u32..=60),
            started in (0i64..4 * 365 * 24 * 60).prop_map(|m| start_2025() + TimeDelta::minutes(m)),
            now in -10i64..=600, probe in -10i64..=600,
        ) {
            let mut after = 0;
            let mut levels = vec![json!({"after_minutes": 0, "notify": [{"user": "erin"}]})];
            for gap in gaps {
                after += gap;
                levels.push(json!({"after_minutes": after, "notify": [{"schedule": "sre"}]}));
            }
            let mut doc = json!({"name": "p", "services": ["payments"], "levels": levels, "repeat": repeat});
            if let Some(minutes) = repeat_after {
                doc["repeat_after_minutes"] = json!(minutes);
            }
            let p = EscalationPolicy::parse_json(&doc).expect("generated policies are valid");
            let mut chain = Vec::new();
            let mut cursor = started - TimeDelta::nanoseconds(1);
            while let Some(next) = p.next_due(started, cursor) {
                prop_assert!(next.2 > cursor);
                chain.push(next);
                cursor = next.2;
            }
            prop_assert_eq!(chain.len(), (repeat as usize + 1) * p.levels().len());
            prop_assert_eq!(&p.due_levels(started, DateTime::<Utc>::MAX_UTC), &chain);
            let now = started + TimeDelta::minutes(now);
            let due: Vec<_> = chain.iter().copied().take_while(|entry| entry.2 <= now).collect();
            prop_assert_eq!(p.due_levels(started, now), due);
            let probe = started + TimeDelta::minutes(probe) + TimeDelta::seconds(30);
            prop_assert_eq!(p.next_due(started, probe), chain.iter().copied().find(|entry| entry.2 > probe));
            for (i, &(pass, level, due)) in chain.iter().enumerate() {
                prop_assert_eq!((pass as usize, level), (i / p.levels().len(), i % p.levels().len()));
                let pass_start = started + TimeDelta::minutes(i64::from(pass) * p.period_minutes());
                prop_assert_eq!(due, pass_start + TimeDelta::minutes(i64::from(p.levels()[level].after_minutes)));
            }
        }
    }
}
