//! Service levels in the store: the calendars and policies documents, what
//! the SLA tracker reads of each incident (its history as an
//! [`SlaHistory`]) and writes back (its clocks, service facts and SLA
//! timers, replaced together), the SLA events written when a timer fires,
//! and customer satisfaction answers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use switchyard_domain::changes::FieldChange;
use switchyard_domain::history::{EventKind, HistoryEntry, Visibility};
use switchyard_domain::incident::{IncidentNumber, PendingReason, Priority, Status, TEXT_MAX, check_text};
use switchyard_domain::sla::{ClockState, FiredThreshold, PlannedTimer, SlaClock, SlaConfig, SlaHistory, SlaSubject, SlaTarget};
use switchyard_domain::{DomainError, Violations};

use crate::entity::{ci, incident, incident_csat, incident_event, incident_service_fact, setting, sla_clock, timer};
use crate::error::StoreError;
use crate::history::Actor;
use crate::incidents::open_statuses;
use crate::settings::put_setting_in;
use crate::store::Store;
use crate::time;
use crate::txn::{Topic, WriteTxn};

const SLA_CALENDARS: &str = "sla_calendars";
const SLA_POLICIES: &str = "sla_policies";
/// Timer kinds the SLA tracker owns.
pub const SLA_TIMER_KINDS: [&str; 2] = ["sla_warning", "sla_breached"];

/// The SLA configuration in force.
#[derive(Debug, Clone)]
pub struct SlaSettings {
    /// Calendars and policies, compiled.
    pub config: Arc<SlaConfig>,
    /// Changes whenever either document changes (0 for the shipped ones).
    pub stamp: i64,
    /// Whether an admin set the documents (false: the shipped ones).
    pub customised: bool,
}

/// What the SLA tracker needs of one incident.
#[derive(Debug, Clone)]
pub struct SlaInput {
    /// The incident.
    pub number: IncidentNumber,
    /// Effective priority.
    pub priority: Priority,
    /// Category.
    pub category: Option<String>,
    /// Service CI name.
    pub service: Option<String>,
    /// Current status.
    pub status: Status,
    /// When it was (last) resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Its status history and first response.
    pub history: SlaHistory,
    /// First time a group or an agent was assigned.
    pub first_assigned_at: Option<DateTime<Utc>>,
}

impl SlaInput {
    /// The facts that choose the policy.
    pub fn subject(&self) -> SlaSubject<'_> {
        SlaSubject { priority: self.priority, category: self.category.as_deref(), service: self.service.as_deref() }
    }
}

/// What the SLA tracker computed for one incident.
#[derive(Debug, Clone)]
pub struct SlaOutcome {
    /// The incident.
    pub number: IncidentNumber,
    /// Its clocks (replace the stored ones).
    pub clocks: Vec<SlaClock>,
    /// The timer each clock needs ([`SlaClock::timer_to_set`]): they
    /// replace the incident's future SLA timers.
    pub timers: Vec<(String, PlannedTimer)>,
    /// First assignment.
    pub first_assigned_at: Option<DateTime<Utc>>,
    /// First response.
    pub responded_at: Option<DateTime<Utc>>,
    /// Times reopened.
    pub reopen_count: u32,
    /// Business time from creation to the last resolution, on its
    /// policy's calendar, when resolved.
    pub resolution_business: Option<TimeDelta>,
}

/// A stored clock, as of when the tracker computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClock {
    /// The incident.
    pub number: IncidentNumber,
    /// Target.
    pub target: SlaTarget,
    /// Policy id.
    pub policy: String,
    /// State when computed.
    pub state: ClockState,
    /// Due instant, while running.
    pub due_at: Option<DateTime<Utc>>,
    /// Breach instant.
    pub breached_at: Option<DateTime<Utc>>,
    /// Stop instant.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Business time elapsed when computed.
    pub elapsed: TimeDelta,
    /// The target, in business time.
    pub duration: TimeDelta,
}

fn parse_json(text: &Option<String>) -> Value {
    text.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null)
}

/// Rebuilds what the clocks need from an incident's events (oldest first).
fn history_from_events(row: &incident::Model, events: &[incident_event::Model]) -> (SlaHistory, Option<DateTime<Utc>>) {
    let created_at = time::from_micros(row.created_at);
    let mut history = SlaHistory::new(created_at, Status::New);
    let mut first_assigned = None;
    let mut acknowledged = None;
    let (mut status, mut reason): (Status, Option<PendingReason>) = (Status::New, None);
    for e in events {
        let at = time::from_micros(e.created_at);
        let new = parse_json(&e.new_value);
        let set = |v: &Value| !v.is_null();
        match (e.kind.as_str(), e.field.as_deref()) {
            ("created", _) => {
                status = new.get("status").and_then(Value::as_str).and_then(|s| s.parse().ok()).unwrap_or(Status::New);
                history = SlaHistory::new(at, status);
                if new.get("assignment_group").is_some_and(set) || new.get("assignee").is_some_and(set) {
                    first_assigned.get_or_insert(at);
                }
                if new.get("assignee").is_some_and(set) {
                    history.responded(at);
                }
            }
            ("status_changed", _) => {
                if let Some(s) = new.as_str().and_then(|s| s.parse().ok()) {
                    status = s;
                    if status != Status::Pending {
                        reason = None;
                    }
                    if status == Status::InProgress {
                        history.responded(at);
                    }
                }
            }
            ("field_changed", Some("pending_reason")) => reason = new.as_str().and_then(|s| s.parse().ok()),
            ("field_changed", Some("assignment_group")) if set(&new) => {
                first_assigned.get_or_insert(at);
            }
            ("field_changed", Some("assignee")) if set(&new) => {
                first_assigned.get_or_insert(at);
                history.responded(at);
            }
            ("comment", _) if e.actor_kind == "user" && e.actor_user_id.is_some_and(|u| u != row.requester_id) => history.responded(at),
            // MTTA counts from the acknowledgement when there is one.
            ("acknowledged", _) => acknowledged = acknowledged.or(Some(at)),
            ("sla_warning" | "sla_breached", _) => history.fired.extend(fired_threshold(&new)),
            _ => {}
        }
        history.status(at, status, reason);
    }
    (history, acknowledged.or(first_assigned))
}

/// The threshold an `sla_warning` / `sla_breached` entry recorded (its
/// payload, as [`WriteTxn::record_sla_event`] was given it).
fn fired_threshold(payload: &Value) -> Option<FiredThreshold> {
    Some(FiredThreshold {
        target: payload.get("target")?.as_str()?.parse().ok()?,
        policy: payload.get("policy").and_then(Value::as_str).unwrap_or_default().to_owned(),
        percent: u8::try_from(payload.get("percent")?.as_u64()?).ok()?,
    })
}

fn clock_row(number: IncidentNumber, clock: &SlaClock, now: i64) -> sla_clock::ActiveModel {
    let micros = |d: TimeDelta| d.num_microseconds().unwrap_or(i64::MAX);
    sla_clock::ActiveModel {
        incident_id: Set(number.0),
        target: Set(clock.target.as_str().to_owned()),
        policy_id: Set(clock.policy.clone()),
        calendar_id: Set(clock.calendar.clone()),
        state: Set(clock.state.as_str().to_owned()),
        started_at: Set(time::to_micros(clock.started_at)),
        duration_us: Set(micros(clock.duration)),
        elapsed_us: Set(micros(clock.elapsed)),
        paused_us: Set(micros(clock.paused)),
        due_at: Set(clock.due_at.map(time::to_micros)),
        breached_at: Set(clock.breached_at.map(time::to_micros)),
        stopped_at: Set(clock.stopped_at.map(time::to_micros)),
        computed_at: Set(now),
    }
}

impl Store {
    async fn load_sla_settings(&self, conn: &impl ConnectionTrait) -> Result<SlaSettings, StoreError> {
        let rows = setting::Entity::find().filter(setting::Column::Key.is_in([SLA_CALENDARS, SLA_POLICIES])).all(conn).await?;
        let row = |key: &str| rows.iter().find(|r| r.key == key);
        let stamps = (row(SLA_CALENDARS).map_or(0, |r| r.updated_at), row(SLA_POLICIES).map_or(0, |r| r.updated_at));
        let stamp = std::cmp::max(stamps.0, stamps.1);
        let customised = stamp != 0;
        if let Some((at, config)) = &self.settings.lock().unwrap_or_else(|e| e.into_inner()).sla
            && *at == stamps
        {
            return Ok(SlaSettings { config: config.clone(), stamp, customised });
        }
        let (shipped_calendars, shipped_policies) = SlaConfig::shipped_documents();
        let document = |key: &str, shipped: Value| -> Result<Value, StoreError> {
            match row(key) {
                Some(r) => serde_json::from_str(&r.value).map_err(|e| StoreError::corrupt("settings.sla", e)),
                None => Ok(shipped),
            }
        };
        let config = SlaConfig::compile(&document(SLA_CALENDARS, shipped_calendars)?, &document(SLA_POLICIES, shipped_policies)?)
            .map_err(|e| StoreError::corrupt("settings.sla", e))?;
        let config = Arc::new(config);
        self.settings.lock().unwrap_or_else(|e| e.into_inner()).sla = Some((stamps, config.clone()));
        Ok(SlaSettings { config, stamp, customised })
    }

    /// The SLA configuration in force (the shipped one until an admin sets
    /// calendars or policies).
    pub async fn sla_settings(&self) -> Result<SlaSettings, StoreError> {
        self.load_sla_settings(&self.read).await
    }

    /// Replaces the calendars document. It is checked together with the
    /// policies in force (a calendar a policy uses cannot be removed);
    /// nothing is written when anything is wrong.
    pub async fn set_sla_calendars(&self, calendars: Value) -> Result<SlaSettings, StoreError> {
        self.set_sla_document(SLA_CALENDARS, calendars).await
    }

    /// Replaces the policies document, checked against the calendars in
    /// force; nothing is written when anything is wrong.
    pub async fn set_sla_policies(&self, policies: Value) -> Result<SlaSettings, StoreError> {
        self.set_sla_document(SLA_POLICIES, policies).await
    }

    async fn set_sla_document(&self, key: &str, value: Value) -> Result<SlaSettings, StoreError> {
        let txn = self.begin().await?;
        let current = self.load_sla_settings(&*txn).await?;
        let calendars = serde_json::to_value(current.config.calendar_documents()).map_err(|e| StoreError::corrupt("sla", e))?;
        let policies = serde_json::to_value(current.config.policy_documents()).map_err(|e| StoreError::corrupt("sla", e))?;
        let (calendars, policies) = if key == SLA_CALENDARS { (value, policies) } else { (calendars, value) };
        let config = SlaConfig::compile(&calendars, &policies)?;
        // Store the normalised documents, so what is read back is what runs.
        let normalised = if key == SLA_CALENDARS {
            serde_json::to_value(config.calendar_documents())
        } else {
            serde_json::to_value(config.policy_documents())
        }
        .map_err(|e| StoreError::corrupt("sla", e))?;
        put_setting_in(&*txn, key, normalised.to_string()).await?;
        let settings = self.load_sla_settings(&*txn).await?;
        txn.commit().await?;
        Ok(settings)
    }

    /// What the SLA tracker needs of these incidents (see
    /// [`WriteTxn::sla_inputs`]), from the read pool (for showing clocks).
    pub async fn sla_inputs(&self, numbers: &[IncidentNumber]) -> Result<Vec<SlaInput>, StoreError> {
        self.load_sla_inputs(&self.read, numbers).await
    }

    async fn load_sla_inputs(&self, conn: &impl ConnectionTrait, numbers: &[IncidentNumber]) -> Result<Vec<SlaInput>, StoreError> {
        let mut inputs = Vec::with_capacity(numbers.len());
        for chunk in crate::batch::shaped(numbers) {
            let ids: Vec<i64> = chunk.iter().map(|n| n.0).collect();
            let rows = incident::Entity::find().filter(incident::Column::Id.is_in(ids.clone())).all(conn).await?;
            let events = incident_event::Entity::find()
                .filter(incident_event::Column::IncidentId.is_in(ids))
                .order_by_asc(incident_event::Column::IncidentId)
                .order_by_asc(incident_event::Column::Seq)
                .all(conn)
                .await?;
            let mut by_incident: HashMap<i64, Vec<incident_event::Model>> = HashMap::new();
            for e in events {
                by_incident.entry(e.incident_id).or_default().push(e);
            }
            let service_ids: HashSet<i64> = rows.iter().filter_map(|r| r.service_id).collect();
            let services: HashMap<i64, String> = if service_ids.is_empty() {
                HashMap::new()
            } else {
                ci::Entity::find().filter(ci::Column::Id.is_in(service_ids)).all(conn).await?.into_iter().map(|c| (c.id, c.name)).collect()
            };
            for row in rows {
                let (history, first_assigned_at) = history_from_events(&row, by_incident.get(&row.id).map_or(&[][..], Vec::as_slice));
                inputs.push(SlaInput {
                    number: IncidentNumber(row.id),
                    priority: u8::try_from(row.priority)
                        .ok()
                        .and_then(Priority::new)
                        .ok_or_else(|| StoreError::corrupt("incidents.priority", row.priority))?,
                    category: row.category.clone(),
                    service: row.service_id.and_then(|id| services.get(&id).cloned()),
                    status: row.status.parse().map_err(|e| StoreError::corrupt("incidents.status", e))?,
                    resolved_at: row.resolved_at.map(time::from_micros),
                    history,
                    first_assigned_at,
                });
            }
        }
        Ok(inputs)
    }

    /// The stored clocks of an incident (as the tracker last computed them).
    pub async fn stored_clocks(&self, number: IncidentNumber) -> Result<Vec<StoredClock>, StoreError> {
        self.stored_clocks_of(&[number]).await
    }

    /// The stored clocks of several incidents, in one query, by incident
    /// then target.
    pub async fn stored_clocks_of(&self, numbers: &[IncidentNumber]) -> Result<Vec<StoredClock>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sla_clock::Entity::find()
            .filter(sla_clock::Column::IncidentId.is_in(numbers.iter().map(|n| n.0)))
            .order_by_asc(sla_clock::Column::IncidentId)
            .order_by_asc(sla_clock::Column::Target)
            .all(&self.read)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredClock {
                    number: IncidentNumber(r.incident_id),
                    target: r.target.parse().map_err(|e| StoreError::corrupt("sla_clocks.target", e))?,
                    policy: r.policy_id,
                    state: r.state.parse().map_err(|e| StoreError::corrupt("sla_clocks.state", e))?,
                    due_at: r.due_at.map(time::from_micros),
                    breached_at: r.breached_at.map(time::from_micros),
                    stopped_at: r.stopped_at.map(time::from_micros),
                    elapsed: TimeDelta::microseconds(r.elapsed_us),
                    duration: TimeDelta::microseconds(r.duration_us),
                })
            })
            .collect()
    }

    /// Open incidents (not resolved, closed or cancelled) after `after`,
    /// by number: the tracker recomputes them when the policies change.
    pub async fn open_incident_numbers(&self, after: i64, limit: u64) -> Result<Vec<IncidentNumber>, StoreError> {
        let ids: Vec<i64> = incident::Entity::find()
            .select_only()
            .column(incident::Column::Id)
            .filter(incident::Column::Status.is_in(open_statuses()))
            .filter(incident::Column::Id.gt(after))
            .order_by_asc(incident::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.read)
            .await?;
        Ok(ids.into_iter().map(IncidentNumber).collect())
    }

    /// How many incidents are open.
    pub async fn count_open_incidents(&self) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(incident::Entity::find().filter(incident::Column::Status.is_in(open_statuses())).count(&self.read).await?)
    }

    /// How many stored clocks are in each state: (state, count).
    pub async fn sla_clock_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sla_clock::Entity::find()
            .select_only()
            .column(sla_clock::Column::State)
            .column_as(Expr::col(sla_clock::Column::State).count(), "n")
            .group_by(sla_clock::Column::State)
            .into_tuple()
            .all(&self.read)
            .await?)
    }

    /// The earliest timer's due time, if any (one index lookup).
    pub async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<Option<i64>> = timer::Entity::find()
            .select_only()
            .column_as(Expr::from(Func::min(Expr::col(timer::Column::DueAt))), "due")
            .into_tuple()
            .one(&self.read)
            .await?;
        Ok(due.flatten().map(time::from_micros))
    }

    /// Records the requester's satisfaction with a resolved or closed
    /// incident: a score from 1 to 5 and an optional comment, once. It
    /// appears in the history as a change of the field `csat`.
    pub async fn rate_incident(&self, number: IncidentNumber, score: u8, comment: Option<String>, actor: &Actor) -> Result<(), StoreError> {
        let mut v = Violations::default();
        v.check(!(1..=5).contains(&score), "score", "range", || "must be between 1 and 5".into());
        if let Some(comment) = &comment {
            check_text(&mut v, "comment", comment, TEXT_MAX, false);
        }
        v.finish()?;
        let txn = self.begin().await?;
        let row = incident::Entity::find_by_id(number.0).one(&*txn).await?.ok_or_else(|| StoreError::not_found("incident", number))?;
        let status: Status = row.status.parse().map_err(|e| StoreError::corrupt("incidents.status", e))?;
        if !matches!(status, Status::Resolved | Status::Closed) {
            return Err(DomainError::invalid(
                "status",
                "resolved",
                format!("only a resolved or closed incident can be rated; it is {status}"),
            )
            .into());
        }
        if incident_csat::Entity::find_by_id(number.0).one(&*txn).await?.is_some() {
            return Err(StoreError::Conflict { field: "score".into(), message: format!("{number} was already rated") });
        }
        let now = time::to_micros(time::now());
        incident_csat::Entity::insert(incident_csat::ActiveModel {
            incident_id: Set(number.0),
            score: Set(i16::from(score)),
            comment: Set(comment.clone()),
            user_id: Set(actor.user_id.unwrap_or(0)),
            created_at: Set(now),
        })
        .exec_without_returning(&*txn)
        .await?;
        let rated = FieldChange { field: "csat".into(), old: Value::Null, new: json!(score) };
        let entry = HistoryEntry { body: comment, ..HistoryEntry::change(rated) };
        txn.append_events(time::from_micros(now), [(actor, number, entry)]).await?;
        txn.commit().await?;
        Ok(())
    }
}

impl WriteTxn {
    /// Replaces what is stored about these incidents' service levels: their
    /// clocks, their service facts and their future SLA timers (one per
    /// running clock, for its next threshold).
    pub async fn replace_sla(&self, outcomes: &[SlaOutcome]) -> Result<(), StoreError> {
        let now = time::to_micros(time::now());
        for chunk in crate::batch::shaped(outcomes) {
            let ids: Vec<i64> = chunk.iter().map(|o| o.number.0).collect();
            sla_clock::Entity::delete_many().filter(sla_clock::Column::IncidentId.is_in(ids.clone())).exec(&self.txn).await?;
            incident_service_fact::Entity::delete_many()
                .filter(incident_service_fact::Column::IncidentId.is_in(ids.clone()))
                .exec(&self.txn)
                .await?;
            // Timers already due stay for the scheduler, which checks them
            // against the clock when it fires them: a recompute that runs
            // between a timer's instant and its firing (or before the
            // scheduler after a restart) must not lose the warning.
            timer::Entity::delete_many()
                .filter(timer::Column::IncidentId.is_in(ids))
                .filter(timer::Column::Kind.is_in(SLA_TIMER_KINDS))
                .filter(timer::Column::DueAt.gt(now))
                .exec(&self.txn)
                .await?;
            let clocks: Vec<sla_clock::ActiveModel> =
                chunk.iter().flat_map(|o| o.clocks.iter().map(|c| clock_row(o.number, c, now))).collect();
            if !clocks.is_empty() {
                sla_clock::Entity::insert_many(clocks).exec_without_returning(&self.txn).await?;
            }
            let facts: Vec<incident_service_fact::ActiveModel> = chunk
                .iter()
                .map(|o| incident_service_fact::ActiveModel {
                    incident_id: Set(o.number.0),
                    first_assigned_at: Set(o.first_assigned_at.map(time::to_micros)),
                    responded_at: Set(o.responded_at.map(time::to_micros)),
                    reopen_count: Set(o.reopen_count as i32),
                    resolution_business_us: Set(o.resolution_business.and_then(|d| d.num_microseconds())),
                    computed_at: Set(now),
                })
                .collect();
            incident_service_fact::Entity::insert_many(facts).exec_without_returning(&self.txn).await?;
            let timers: Vec<timer::ActiveModel> = chunk
                .iter()
                .flat_map(|o| {
                    o.timers.iter().map(move |(policy, t)| timer::ActiveModel {
                        id: sea_orm::ActiveValue::NotSet,
                        kind: Set(if t.percent >= 100 { "sla_breached" } else { "sla_warning" }.to_owned()),
                        due_at: Set(time::to_micros(t.at)),
                        run_id: Set(None),
                        incident_id: Set(Some(o.number.0)),
                        payload: Set(json!({"target": t.target, "percent": t.percent, "policy": policy}).to_string()),
                        created_at: Set(now),
                    })
                })
                .collect();
            for timers in crate::batch::shaped(&timers) {
                timer::Entity::insert_many(timers.to_vec()).exec_without_returning(&self.txn).await?;
            }
        }
        self.wrote(Topic::Timers);
        Ok(())
    }

    /// Appends an SLA event (`sla_warning` or `sla_breached`) to an
    /// incident's history, as Switchyard, visible to agents.
    pub async fn record_sla_event(&self, number: IncidentNumber, kind: &str, payload: &Value, text: String) -> Result<(), StoreError> {
        let kind = match kind {
            "sla_warning" => EventKind::SlaWarning,
            "sla_breached" => EventKind::SlaBreached,
            other => return Err(StoreError::corrupt("timers.kind", other)),
        };
        let actor = Actor::named_system("switchyard (sla)");
        let entry = HistoryEntry {
            kind,
            field: None,
            old_value: None,
            new_value: Some(payload.clone()),
            body: Some(text),
            visibility: Visibility::Internal,
        };
        self.append_events(time::now(), [(&actor, number, entry)]).await
    }

    /// The SLA configuration in force, read inside this transaction.
    pub async fn sla_settings(&self) -> Result<SlaSettings, StoreError> {
        self.store.load_sla_settings(&self.txn).await
    }

    /// What the SLA tracker needs of these incidents, read inside this
    /// transaction: the incident rows, their whole histories and their
    /// service names, in three queries per chunk. Unknown numbers are
    /// skipped.
    pub async fn sla_inputs(&self, numbers: &[IncidentNumber]) -> Result<Vec<SlaInput>, StoreError> {
        self.store.load_sla_inputs(&self.txn, numbers).await
    }
}
