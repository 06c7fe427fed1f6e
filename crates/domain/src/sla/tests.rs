//! Scenario and table tests of SLA policies and clocks.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::America::New_York;
use serde_json::json;

use super::*;

/// A local New York instant.
fn ny(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    let date = NaiveDate::from_ymd_opt(2026, 11, day).expect("a November date");
    New_York.from_local_datetime(&date.and_hms_opt(h, m, 0).expect("a time")).single().expect("unambiguous").with_timezone(&Utc)
}

fn minutes(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

/// The shipped calendars with policies written for a test.
fn config(policies: Value) -> SlaConfig {
    let (calendars, _) = SlaConfig::shipped_documents();
    SlaConfig::compile(&calendars, &policies).expect("the test policies are valid")
}

fn office_p1() -> SlaConfig {
    config(json!({"policies": [
        {"id": "p1", "name": "P1 office hours", "match": {"priorities": ["P1"]}, "calendar": "office-new-york",
         "targets": {"response": "1h", "resolution": "4h"}, "warnings": [75, 90]},
        {"id": "rest", "name": "Everything else", "calendar": "office-new-york", "targets": {"resolution": "40h"}}
    ]}))
}

const P1: SlaSubject<'static> = SlaSubject { priority: Priority::P1, category: None, service: None };

fn clock(clocks: &[SlaClock], target: SlaTarget) -> &SlaClock {
    clocks.iter().find(|c| c.target == target).expect("the clock exists")
}

/// Friday 17:55 in New York office hours (08:00-18:00): an agent takes it
/// at 17:58, it waits for the requester from 17:59 over the weekend until
/// Monday 09:00, and is resolved on Monday.
fn friday_history(resolved_at: DateTime<Utc>) -> SlaHistory {
    let mut h = SlaHistory::new(ny(27, 17, 55), Status::Assigned);
    h.responded(ny(27, 17, 58));
    h.status(ny(27, 17, 58), Status::InProgress, None);
    h.status(ny(27, 17, 59), Status::Pending, Some(PendingReason::AwaitingRequester));
    h.status(ny(30, 9, 0), Status::InProgress, None);
    h.status(resolved_at, Status::Resolved, None);
    h
}

#[test]
fn friday_evening_p1_pending_over_the_weekend_resolved_monday_is_met() {
    let config = office_p1();
    let history = friday_history(ny(30, 12, 0));
    let clocks = config.clocks(&P1, &history, ny(30, 15, 0));
    let response = clock(&clocks, SlaTarget::Response);
    assert_eq!(response.state, ClockState::Met);
    assert_eq!(response.elapsed, minutes(3));
    assert_eq!(response.remaining(), minutes(57));
    assert_eq!(response.stopped_at, Some(ny(27, 17, 58)));
    let resolution = clock(&clocks, SlaTarget::Resolution);
    // 17:55-17:59 on Friday, then 09:00-12:00 on Monday; Monday 08:00-09:00
    // was still pending and does not count.
    assert_eq!(resolution.state, ClockState::Met);
    assert_eq!(resolution.elapsed, minutes(4 + 180));
    assert_eq!(resolution.remaining(), minutes(56));
    assert_eq!(resolution.paused, ny(30, 9, 0) - ny(27, 17, 59));
    assert_eq!(resolution.stopped_at, Some(ny(30, 12, 0)));
    assert_eq!(resolution.breached_at, None);
    assert!(resolution.timers().is_empty(), "a stopped clock has no timers");
}

#[test]
fn friday_evening_p1_resolved_monday_afternoon_is_breached_at_the_exact_minute() {
    let config = office_p1();
    let clocks = config.clocks(&P1, &friday_history(ny(30, 13, 0)), ny(30, 15, 0));
    let resolution = clock(&clocks, SlaTarget::Resolution);
    assert_eq!(resolution.state, ClockState::Breached);
    assert_eq!(resolution.elapsed, minutes(4 + 240));
    assert_eq!(resolution.remaining(), minutes(-4));
    // 4 minutes on Friday, so the remaining 3h56m run out at 12:56 on Monday.
    assert_eq!(resolution.breached_at, Some(ny(30, 12, 56)));
}

#[test]
fn the_clock_is_paused_over_the_weekend_and_runs_with_timers_on_monday() {
    let config = office_p1();
    let history = friday_history(ny(30, 12, 0));
    let saturday = config.clocks(&P1, &history, ny(28, 12, 0));
    let resolution = clock(&saturday, SlaTarget::Resolution);
    assert_eq!(resolution.state, ClockState::Paused);
    assert_eq!(resolution.elapsed, minutes(4));
    assert_eq!(resolution.due_at, None);
    assert!(resolution.timers().is_empty(), "a paused clock has no timers");

    let monday = config.clocks(&P1, &history, ny(30, 10, 0));
    let resolution = clock(&monday, SlaTarget::Resolution);
    assert_eq!(resolution.state, ClockState::Running);
    assert_eq!(resolution.elapsed, minutes(64));
    assert_eq!(resolution.due_at, Some(ny(30, 12, 56)));
    let timers = resolution.timers();
    assert_eq!(
        timers.iter().map(|t| (t.percent, t.at)).collect::<Vec<_>>(),
        vec![(75, ny(30, 11, 56)), (90, ny(30, 12, 32)), (100, ny(30, 12, 56))]
    );
}

#[test]
fn created_after_hours_starts_counting_at_the_next_opening() {
    let config = office_p1();
    let history = SlaHistory::new(ny(27, 19, 0), Status::New);
    let clocks = config.clocks(&P1, &history, ny(28, 12, 0));
    let response = clock(&clocks, SlaTarget::Response);
    assert_eq!(response.state, ClockState::Running);
    assert_eq!(response.elapsed, TimeDelta::zero());
    assert_eq!(response.due_at, Some(ny(30, 9, 0)));
}

#[test]
fn retargeting_keeps_paused_time() {
    // The same history, first under P3 (8h resolution) and then, after the
    // priority went up, under P1 (4h): the pause is excluded in both, and
    // the new target is measured from creation.
    let config = config(json!({"policies": [
        {"id": "p1", "name": "P1", "match": {"priorities": ["P1"]}, "calendar": "24x7", "targets": {"resolution": "4h"}},
        {"id": "p3", "name": "P3", "match": {"priorities": ["P3"]}, "calendar": "24x7", "targets": {"resolution": "8h"}}
    ]}));
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
    let mut history = SlaHistory::new(t0, Status::Assigned);
    history.status(t0 + TimeDelta::hours(1), Status::Pending, Some(PendingReason::AwaitingVendor));
    history.status(t0 + TimeDelta::hours(6), Status::InProgress, None);
    let now = t0 + TimeDelta::hours(7);
    let p3 = SlaSubject { priority: Priority::P3, ..P1 };
    let before = clock(&config.clocks(&p3, &history, now), SlaTarget::Resolution).clone();
    let after = clock(&config.clocks(&P1, &history, now), SlaTarget::Resolution).clone();
    assert_eq!((before.policy.as_str(), after.policy.as_str()), ("p3", "p1"));
    assert_eq!(before.elapsed, TimeDelta::hours(2));
    assert_eq!(after.elapsed, TimeDelta::hours(2), "the 5 hours pending stay paused under the new target");
    assert_eq!(before.paused, TimeDelta::hours(5));
    assert_eq!(after.paused, TimeDelta::hours(5));
    assert_eq!(before.due_at, Some(now + TimeDelta::hours(6)));
    assert_eq!(after.due_at, Some(now + TimeDelta::hours(2)));
}

#[test]
fn reopening_resumes_the_resolution_clock_and_only_listed_reasons_pause() {
    let config = config(json!({"policies": [
        {"id": "all", "name": "All", "calendar": "24x7", "targets": {"response": "30m", "resolution": "4h"},
         "pause": {"reasons": ["awaiting_requester"]}}
    ]}));
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
    let h = |m: i64| t0 + TimeDelta::minutes(m);
    let mut history = SlaHistory::new(t0, Status::New);
    history.status(h(10), Status::Pending, Some(PendingReason::AwaitingVendor)); // counts: not a pausing reason
    history.status(h(70), Status::Pending, Some(PendingReason::AwaitingRequester)); // pauses
    history.status(h(130), Status::Resolved, None);
    history.status(h(190), Status::InProgress, None); // reopened
    let clocks = config.clocks(&SlaSubject { priority: Priority::P4, ..P1 }, &history, h(220));
    let resolution = clock(&clocks, SlaTarget::Resolution);
    assert_eq!(resolution.state, ClockState::Running);
    assert_eq!(resolution.elapsed, TimeDelta::minutes(70 + 30));
    assert_eq!(history.reopen_count(), 1);
    // Never responded before resolution: the response clock stopped then,
    // after 70 counted minutes, so it breached at 30.
    let response = clock(&clocks, SlaTarget::Response);
    assert_eq!(response.state, ClockState::Breached);
    assert_eq!(response.breached_at, Some(h(30)));
}

#[test]
fn cancelled_before_a_response_is_cancelled() {
    let config = SlaConfig::shipped();
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
    let mut history = SlaHistory::new(t0, Status::New);
    history.status(t0 + TimeDelta::minutes(5), Status::Cancelled, None);
    let clocks = config.clocks(&P1, &history, t0 + TimeDelta::hours(1));
    assert!(clocks.iter().all(|c| c.state == ClockState::Cancelled), "{clocks:?}");
}

#[test]
fn first_match_wins_in_order() {
    let config = config(json!({"policies": [
        {"id": "network-p1", "name": "Network P1", "match": {"priorities": ["P1"], "categories": ["network"]}, "calendar": "24x7", "targets": {"resolution": "2h"}},
        {"id": "erp", "name": "ERP", "match": {"services": ["erp"]}, "calendar": "office-berlin", "targets": {"resolution": "8h"}},
        {"id": "p1", "name": "P1", "match": {"priorities": ["P1"]}, "calendar": "24x7", "targets": {"resolution": "4h"}}
    ]}));
    let id = |priority, category, service| config.policy_for(&SlaSubject { priority, category, service }).map(|p| p.document.id.clone());
    assert_eq!(id(Priority::P1, Some("network"), Some("erp")).as_deref(), Some("network-p1"));
    assert_eq!(id(Priority::P1, Some("email"), Some("erp")).as_deref(), Some("erp"));
    assert_eq!(id(Priority::P1, None, None).as_deref(), Some("p1"));
    assert_eq!(id(Priority::P3, None, None), None);
}

#[test]
fn durations_parse_and_format() {
    for (text, seconds) in [("15m", 900), ("4h", 14_400), ("1h30m", 5_400), ("90s", 90), ("2h0m5s", 7_205)] {
        assert_eq!(parse_duration(text), Some(TimeDelta::seconds(seconds)), "{text}");
    }
    for bad in ["", "h", "4", "4 h", "30m1h", "1h1h", "-5m", "1d", "1234567890m"] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
    assert_eq!(format_duration(TimeDelta::seconds(5_400)), "1h30m");
    assert_eq!(format_duration(TimeDelta::zero()), "0s");
}

fn violations(calendars: Value, policies: Value) -> Vec<(String, String)> {
    let err = SlaConfig::compile(&calendars, &policies).expect_err("the documents are invalid");
    err.violations().iter().map(|v| (v.field.clone(), v.rule.clone())).collect()
}

#[test]
fn bad_policies_are_rejected_with_their_paths() {
    let (calendars, _) = SlaConfig::shipped_documents();
    let cases = [
        (json!({"policies": [{"id": "a", "name": "A", "calendar": "24x7", "targets": {}}]}), "policies[0].targets", "json_schema"),
        (
            json!({"policies": [{"id": "a", "name": "A", "calendar": "24x7", "targets": {"resolution": "4h"}, "colour": "red"}]}),
            "policies[0].colour",
            "unknown_field",
        ),
        (
            json!({"policies": [{"id": "a", "name": "A", "calendar": "mars", "targets": {"resolution": "4h"}}]}),
            "policies[0].calendar",
            "exists",
        ),
        (
            json!({"policies": [{"id": "a", "name": "A", "calendar": "24x7", "targets": {"resolution": "4 hours"}}]}),
            "policies[0].targets.resolution",
            "json_schema",
        ),
        (
            json!({"policies": [{"id": "a", "name": "A", "calendar": "24x7", "targets": {"resolution": "0m"}}]}),
            "policies[0].targets.resolution",
            "format",
        ),
        (
            json!({"policies": [{"id": "a", "name": "A", "calendar": "24x7", "targets": {"resolution": "4h"}, "warnings": [90, 75]}]}),
            "policies[0].warnings",
            "order",
        ),
        (
            json!({"policies": [
            {"id": "a", "name": "A", "calendar": "24x7", "targets": {"resolution": "4h"}},
            {"id": "a", "name": "B", "calendar": "24x7", "targets": {"resolution": "4h"}}]}),
            "policies[1].id",
            "unique",
        ),
        (json!({"policy": []}), "policy", "unknown_field"),
    ];
    for (policies, field, rule) in cases {
        let found = violations(calendars.clone(), policies.clone());
        assert!(found.iter().any(|(f, r)| f == field && r == rule), "{policies}: expected {field}/{rule}, got {found:?}");
    }
}

#[test]
fn bad_calendars_are_rejected_with_their_paths() {
    let (_, policies) = SlaConfig::shipped_documents();
    let (mut calendars, _) = SlaConfig::shipped_documents();
    calendars["calendars"][1]["time_zone"] = json!("Europe/Atlantis");
    calendars["calendars"][2]["hours"]["mon"] = json!(["09:00-12:00", "11:00-13:00"]);
    let found = violations(calendars, policies.clone());
    assert!(found.contains(&("calendars[1].time_zone".into(), "time_zone".into())), "{found:?}");
    assert!(found.contains(&("calendars[2].hours.mon[1]".into(), "overlap".into())), "{found:?}");

    // A calendar that a policy still uses cannot be removed.
    let (mut calendars, _) = SlaConfig::shipped_documents();
    calendars["calendars"].as_array_mut().unwrap().remove(1);
    let found = violations(calendars, policies);
    assert!(found.iter().any(|(f, r)| f.ends_with(".calendar") && r == "exists"), "{found:?}");
}

#[test]
fn the_shipped_documents_compile_and_round_trip() {
    let config = SlaConfig::shipped();
    let calendars = serde_json::to_value(config.calendar_documents()).unwrap();
    let policies = serde_json::to_value(config.policy_documents()).unwrap();
    assert_eq!(SlaConfig::compile(&calendars, &policies).unwrap(), config);
}

/// The one timer per clock: the next threshold to come, unless one it
/// passed was never recorded as fired (then that one, due at once); none
/// when everything passed is recorded.
#[test]
fn the_timer_to_set_never_loses_or_repeats_a_threshold() {
    let config = config(json!({"policies": [
        {"id": "fast", "name": "Fast", "calendar": "24x7", "targets": {"resolution": "100s"}, "warnings": [75, 90]}
    ]}));
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let subject = SlaSubject { priority: Priority::P3, category: None, service: None };
    let warnings = [75, 90];
    let fired = |percents: &[u8]| {
        percents.iter().map(|&percent| FiredThreshold { target: SlaTarget::Resolution, policy: "fast".into(), percent }).collect()
    };
    // (seconds since creation, recorded thresholds, expected timer: percent and seconds it is due at)
    type Case = (i64, &'static [u8], Option<(u8, i64)>);
    let cases: [Case; 7] = [
        (10, &[], Some((75, 75))),
        (80, &[75], Some((90, 90))),
        (80, &[], Some((75, 80))),          // passed, never recorded: at once
        (95, &[75], Some((90, 95))),        // the 90 % warning was missed
        (95, &[75, 90], Some((100, 100))),  // the breach is next
        (101, &[75, 90], Some((100, 101))), // recompute after the instant: the breach is not lost
        (101, &[75, 90, 100], None),        // all fired: nothing repeats
    ];
    for (at, recorded, expected) in cases {
        let mut history = SlaHistory::new(t0, Status::Assigned);
        history.fired = fired(recorded);
        let now = t0 + TimeDelta::seconds(at);
        let clocks = config.clocks(&subject, &history, now);
        let clock = clock(&clocks, SlaTarget::Resolution);
        let got = clock.timer_to_set(&warnings, &history, now).map(|t| (t.percent, (t.at - t0).num_seconds()));
        assert_eq!(got, expected, "at {at}s with {recorded:?} fired");
    }
    // A met clock needs no timer, whatever was missed.
    let mut history = SlaHistory::new(t0, Status::Assigned);
    history.status(t0 + TimeDelta::seconds(80), Status::Resolved, None);
    let now = t0 + TimeDelta::seconds(120);
    let clocks = config.clocks(&subject, &history, now);
    assert_eq!(clock(&clocks, SlaTarget::Resolution).timer_to_set(&warnings, &history, now), None);
}
