//! Incidents and their event history.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use switchyard_domain::changes::{self, FieldChange, IncidentPatch, NewIncident, PriorityOverride};
use switchyard_domain::cmdb::CiClass;
use switchyard_domain::incident::{Channel, Incident, IncidentNumber, Level, Priority, Status, TEXT_MAX, check_text};
use switchyard_domain::lifecycle::{LifecycleFacts, ResolutionChange, TransitionRequest, check_transition};
use switchyard_domain::{DomainError, Violations};

use crate::directory::{Principal, require_agent};
use crate::entity::{ci, group, group_member, incident, incident_ci, incident_event, user};
use crate::error::StoreError;
use crate::store::{Store, allocate};
use crate::time;

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A signed-in user.
    User,
    /// Switchyard itself (bootstrap, maintenance).
    System,
    /// A workflow run (name carries workflow, version, step and plugin).
    Workflow,
    /// An intake channel (email, alert...).
    Channel,
}

impl ActorKind {
    fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::System => "system",
            ActorKind::Workflow => "workflow",
            ActorKind::Channel => "channel",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "user" => ActorKind::User,
            "system" => ActorKind::System,
            "workflow" => ActorKind::Workflow,
            "channel" => ActorKind::Channel,
            other => return Err(StoreError::corrupt("incident_events.actor_kind", other)),
        })
    }
}

/// The actor recorded on an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Kind of actor.
    pub kind: ActorKind,
    /// The user, for user actors.
    pub user_id: Option<i64>,
    /// Username, or a description for non-user actors.
    pub name: String,
    /// The workflow run, for workflow actors.
    pub run_id: Option<i64>,
}

impl Actor {
    /// A signed-in user.
    pub fn user(principal: &Principal) -> Self {
        Self { kind: ActorKind::User, user_id: Some(principal.user_id), name: principal.username.clone(), run_id: None }
    }

    /// Switchyard itself.
    pub fn system() -> Self {
        Self { kind: ActorKind::System, user_id: None, name: "switchyard".into(), run_id: None }
    }

    /// A step of a workflow run; `name` describes workflow, version, step
    /// and plugin for the history.
    pub fn workflow(run_id: i64, name: String) -> Self {
        Self { kind: ActorKind::Workflow, user_id: None, name, run_id: Some(run_id) }
    }
}

/// Who may read an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Requesters see it too.
    Public,
    /// Agents only (work notes).
    Internal,
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }
}

/// A request to log an incident, references by name.
#[derive(Debug, Clone)]
pub struct CreateIncident {
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Requester's username.
    pub requester: String,
    /// Channel.
    pub channel: Channel,
    /// Category.
    pub category: Option<String>,
    /// Subcategory.
    pub subcategory: Option<String>,
    /// Service CI id (a CI of class `service`).
    pub service_id: Option<i64>,
    /// Affected CI ids.
    pub affected_ci_ids: Vec<i64>,
    /// Impact.
    pub impact: Level,
    /// Urgency.
    pub urgency: Level,
    /// Manual priority.
    pub priority_override: Option<PriorityOverride>,
    /// Assignment group name.
    pub assignment_group: Option<String>,
    /// Assignee username.
    pub assignee: Option<String>,
    /// Custom fields.
    pub custom_fields: Value,
    /// Who logs it.
    pub actor: Actor,
}

/// A partial edit, references by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentUpdate {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New or cleared category.
    pub category: Option<Option<String>>,
    /// New or cleared subcategory.
    pub subcategory: Option<Option<String>>,
    /// New or cleared service.
    pub service_id: Option<Option<i64>>,
    /// Replacement affected CIs.
    pub affected_ci_ids: Option<Vec<i64>>,
    /// New impact.
    pub impact: Option<Level>,
    /// New urgency.
    pub urgency: Option<Level>,
    /// Set or clear a manual priority.
    pub priority_override: Option<Option<PriorityOverride>>,
    /// New or cleared group (name).
    pub assignment_group: Option<Option<String>>,
    /// New or cleared assignee (username).
    pub assignee: Option<Option<String>>,
    /// New escalation level.
    pub escalation_level: Option<u8>,
    /// Replacement custom fields.
    pub custom_fields: Option<Value>,
    /// Refuse the edit unless the incident is still at this version.
    pub expected_version: Option<i64>,
}

/// An incident with its references resolved to names.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    /// The incident.
    pub incident: Incident,
    /// Requester's username.
    pub requester: String,
    /// Assignment group name.
    pub assignment_group: Option<String>,
    /// Assignee username.
    pub assignee: Option<String>,
}

/// One entry of an incident's history.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// Global, gap-free sequence number.
    pub seq: i64,
    /// The incident.
    pub number: IncidentNumber,
    /// `created`, `field_changed`, `status_changed`, `comment`, `work_note`.
    pub kind: String,
    /// Who.
    pub actor: Actor,
    /// Which field, for changes.
    pub field: Option<String>,
    /// Value before.
    pub old_value: Option<Value>,
    /// Value after.
    pub new_value: Option<Value>,
    /// Text: comment, note, or the reason for a change.
    pub body: Option<String>,
    /// Who may read it.
    pub visibility: Visibility,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// What a list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    /// Incident number (creation order).
    #[default]
    Number,
    /// Creation time.
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// Priority, then number.
    Priority,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Smallest first.
    Asc,
    /// Largest first.
    #[default]
    Desc,
}

/// Filters for listing incidents. Every filter is backed by an index.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Any of these statuses.
    pub status: Vec<Status>,
    /// Any of these priorities.
    pub priority: Vec<Priority>,
    /// Assignment group name.
    pub assignment_group: Option<String>,
    /// Assignee username.
    pub assignee: Option<String>,
    /// Requester username.
    pub requester: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Service CI id.
    pub service_id: Option<i64>,
    /// Affected CI id.
    pub ci_id: Option<i64>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Updated at or after.
    pub updated_from: Option<DateTime<Utc>>,
    /// Updated before.
    pub updated_to: Option<DateTime<Utc>>,
    /// Case-insensitive text in title or description.
    pub text: Option<String>,
    /// Sort field.
    pub sort: SortField,
    /// Sort order.
    pub order: SortOrder,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: u64,
}

/// One page of incidents.
#[derive(Debug, Clone)]
pub struct IncidentPage {
    /// The incidents.
    pub items: Vec<IncidentRecord>,
    /// Cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

fn parse<T: std::str::FromStr>(what: &'static str, s: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| StoreError::corrupt(what, e))
}

fn level(what: &'static str, v: i16) -> Result<Level, StoreError> {
    u8::try_from(v).ok().and_then(Level::new).ok_or_else(|| StoreError::corrupt(what, v))
}

fn incident_from_row(row: &incident::Model, cis: Vec<i64>) -> Result<Incident, StoreError> {
    Ok(Incident {
        number: IncidentNumber(row.id),
        title: row.title.clone(),
        description: row.description.clone(),
        requester_id: row.requester_id,
        channel: parse("incidents.channel", &row.channel)?,
        category: row.category.clone(),
        subcategory: row.subcategory.clone(),
        service_id: row.service_id,
        affected_ci_ids: cis,
        impact: level("incidents.impact", row.impact)?,
        urgency: level("incidents.urgency", row.urgency)?,
        priority: u8::try_from(row.priority)
            .ok()
            .and_then(Priority::new)
            .ok_or_else(|| StoreError::corrupt("incidents.priority", row.priority))?,
        priority_override_reason: row.priority_override_reason.clone(),
        status: parse("incidents.status", &row.status)?,
        pending_reason: row.pending_reason.as_deref().map(|s| parse("incidents.pending_reason", s)).transpose()?,
        assignment_group_id: row.assignment_group_id,
        assignee_id: row.assignee_id,
        escalation_level: u8::try_from(row.escalation_level).unwrap_or(0),
        resolution_code: row.resolution_code.as_deref().map(|s| parse("incidents.resolution_code", s)).transpose()?,
        resolution_notes: row.resolution_notes.clone(),
        custom_fields: serde_json::from_str(&row.custom_fields).map_err(|e| StoreError::corrupt("incidents.custom_fields", e))?,
        created_at: time::from_micros(row.created_at),
        updated_at: time::from_micros(row.updated_at),
        resolved_at: row.resolved_at.map(time::from_micros),
        closed_at: row.closed_at.map(time::from_micros),
        version: row.version,
    })
}

fn incident_to_row(i: &Incident) -> incident::ActiveModel {
    incident::ActiveModel {
        id: Set(i.number.0),
        title: Set(i.title.clone()),
        description: Set(i.description.clone()),
        requester_id: Set(i.requester_id),
        channel: Set(i.channel.as_str().to_owned()),
        category: Set(i.category.clone()),
        subcategory: Set(i.subcategory.clone()),
        service_id: Set(i.service_id),
        impact: Set(i16::from(i.impact.get())),
        urgency: Set(i16::from(i.urgency.get())),
        priority: Set(i16::from(i.priority.get())),
        priority_override_reason: Set(i.priority_override_reason.clone()),
        status: Set(i.status.as_str().to_owned()),
        pending_reason: Set(i.pending_reason.map(|r| r.as_str().to_owned())),
        assignment_group_id: Set(i.assignment_group_id),
        assignee_id: Set(i.assignee_id),
        escalation_level: Set(i16::from(i.escalation_level)),
        resolution_code: Set(i.resolution_code.map(|r| r.as_str().to_owned())),
        resolution_notes: Set(i.resolution_notes.clone()),
        custom_fields: Set(i.custom_fields.to_string()),
        created_at: Set(time::to_micros(i.created_at)),
        updated_at: Set(time::to_micros(i.updated_at)),
        resolved_at: Set(i.resolved_at.map(time::to_micros)),
        closed_at: Set(i.closed_at.map(time::to_micros)),
        version: Set(i.version),
    }
}

/// The names of the open statuses (those that still need work: backlog,
/// agent load, SLA recomputes).
pub(crate) fn open_statuses() -> Vec<&'static str> {
    Status::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str()).collect()
}

/// An event about to be written; `seq` is assigned at insert.
pub(crate) struct PendingEvent {
    pub(crate) incident_id: i64,
    pub(crate) kind: &'static str,
    pub(crate) field: Option<String>,
    pub(crate) old_value: Option<Value>,
    pub(crate) new_value: Option<Value>,
    pub(crate) body: Option<String>,
    pub(crate) visibility: Visibility,
}

impl PendingEvent {
    pub(crate) fn change(incident_id: i64, change: FieldChange) -> Self {
        let kind = if change.field == "status" { "status_changed" } else { "field_changed" };
        Self {
            incident_id,
            kind,
            field: Some(change.field),
            old_value: Some(change.old),
            new_value: Some(change.new),
            body: None,
            visibility: Visibility::Public,
        }
    }
}

/// Most rows in one multi-row INSERT: 1,000 rows of at most 25 columns stay
/// under SQLite's limit of 32,766 bound parameters (PostgreSQL allows 65,535).
const INSERT_CHUNK: usize = 1000;

/// Appends events with consecutive sequence numbers taken in this
/// transaction: one counter update and one multi-row insert per chunk,
/// however many events (and actors) there are.
pub(crate) async fn append_events<'a>(
    txn: &DatabaseTransaction,
    at: i64,
    events: impl IntoIterator<Item = (&'a Actor, PendingEvent)>,
) -> Result<(), StoreError> {
    let events: Vec<(&Actor, PendingEvent)> = events.into_iter().collect();
    if events.is_empty() {
        return Ok(());
    }
    let first = allocate(txn, "event", events.len() as i64).await?;
    let rows: Vec<incident_event::ActiveModel> = events
        .into_iter()
        .enumerate()
        .map(|(i, (actor, e))| incident_event::ActiveModel {
            seq: Set(first + i as i64),
            incident_id: Set(e.incident_id),
            kind: Set(e.kind.to_owned()),
            actor_kind: Set(actor.kind.as_str().to_owned()),
            actor_user_id: Set(actor.user_id),
            actor_name: Set(actor.name.clone()),
            field: Set(e.field),
            old_value: Set(e.old_value.map(|v| v.to_string())),
            new_value: Set(e.new_value.map(|v| v.to_string())),
            body: Set(e.body),
            visibility: Set(e.visibility.as_str().to_owned()),
            created_at: Set(at),
            actor_run_id: Set(actor.run_id),
        })
        .collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        incident_event::Entity::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// Names of the users and groups referenced by some incidents, looked up
/// in two queries.
#[derive(Default)]
struct Names {
    users: HashMap<i64, String>,
    groups: HashMap<i64, String>,
}

impl Names {
    async fn load(conn: &impl ConnectionTrait, incidents: &[&Incident]) -> Result<Self, StoreError> {
        let user_ids: HashSet<i64> = incidents.iter().flat_map(|i| [Some(i.requester_id), i.assignee_id]).flatten().collect();
        let group_ids: HashSet<i64> = incidents.iter().filter_map(|i| i.assignment_group_id).collect();
        let mut names = Self::default();
        if !user_ids.is_empty() {
            for u in user::Entity::find().filter(user::Column::Id.is_in(user_ids)).all(conn).await? {
                names.users.insert(u.id, u.username);
            }
        }
        if !group_ids.is_empty() {
            for g in group::Entity::find().filter(group::Column::Id.is_in(group_ids)).all(conn).await? {
                names.groups.insert(g.id, g.name);
            }
        }
        Ok(names)
    }

    fn record(&self, incident: Incident) -> IncidentRecord {
        IncidentRecord {
            requester: self.users.get(&incident.requester_id).cloned().unwrap_or_default(),
            assignment_group: incident.assignment_group_id.and_then(|g| self.groups.get(&g).cloned()),
            assignee: incident.assignee_id.and_then(|u| self.users.get(&u).cloned()),
            incident,
        }
    }

    /// Rewrites id-valued changes of references into names for the history.
    fn name_change(&self, mut change: FieldChange) -> FieldChange {
        let map = |v: &Value, table: &HashMap<i64, String>| v.as_i64().and_then(|id| table.get(&id)).map_or(Value::Null, |n| json!(n));
        match change.field.as_str() {
            "assignment_group" => {
                change.old = map(&change.old, &self.groups);
                change.new = map(&change.new, &self.groups);
            }
            "assignee" => {
                change.old = map(&change.old, &self.users);
                change.new = map(&change.new, &self.users);
            }
            _ => {}
        }
        change
    }
}

/// References of one create or update, resolved in bulk.
#[derive(Default)]
struct References {
    users: HashMap<String, user::Model>,
    groups: HashMap<String, group::Model>,
    cis: HashMap<i64, ci::Model>,
    members: HashSet<(i64, i64)>,
}

impl References {
    async fn load(
        conn: &impl ConnectionTrait,
        usernames: HashSet<String>,
        group_names: HashSet<String>,
        ci_ids: HashSet<i64>,
    ) -> Result<Self, StoreError> {
        let mut r = Self::default();
        if !usernames.is_empty() {
            for u in user::Entity::find().filter(user::Column::Username.is_in(usernames)).all(conn).await? {
                r.users.insert(u.username.clone(), u);
            }
        }
        if !group_names.is_empty() {
            for g in group::Entity::find().filter(group::Column::Name.is_in(group_names)).all(conn).await? {
                r.groups.insert(g.name.clone(), g);
            }
        }
        if !ci_ids.is_empty() {
            for c in ci::Entity::find().filter(ci::Column::Id.is_in(ci_ids)).all(conn).await? {
                r.cis.insert(c.id, c);
            }
        }
        if !r.groups.is_empty() && !r.users.is_empty() {
            let gids: Vec<i64> = r.groups.values().map(|g| g.id).collect();
            let uids: Vec<i64> = r.users.values().map(|u| u.id).collect();
            for m in group_member::Entity::find()
                .filter(group_member::Column::GroupId.is_in(gids))
                .filter(group_member::Column::UserId.is_in(uids))
                .all(conn)
                .await?
            {
                r.members.insert((m.group_id, m.user_id));
            }
        }
        Ok(r)
    }

    fn user(&self, field: &str, name: &str) -> Result<&user::Model, StoreError> {
        self.users.get(name).ok_or_else(|| StoreError::unknown(field, "user", name))
    }

    fn group(&self, field: &str, name: &str) -> Result<i64, StoreError> {
        self.groups.get(name).map(|g| g.id).ok_or_else(|| StoreError::unknown(field, "group", name))
    }

    fn check_cis(&self, v: &mut Violations, service_id: Option<i64>, affected: &[i64]) {
        if let Some(id) = service_id {
            match self.cis.get(&id) {
                None => v.push("service", "exists", format!("CI {id} does not exist")),
                Some(c) if c.class != CiClass::Service.as_str() => {
                    v.push("service", "class", format!("CI {id} is a {}, not a service", c.class))
                }
                Some(_) => {}
            }
        }
        for (i, id) in affected.iter().enumerate() {
            v.check(!self.cis.contains_key(id), &format!("affected_cis[{i}]"), "exists", || format!("CI {id} does not exist"));
        }
    }

    /// The assignee's id after checking they are an active agent in the group.
    fn assignee(&self, name: &str, group_id: Option<i64>) -> Result<i64, StoreError> {
        let u = self.user("assignee", name)?;
        require_agent("assignee", u)?;
        if let Some(g) = group_id
            && !self.members.contains(&(g, u.id))
        {
            return Err(DomainError::invalid("assignee", "member", format!("`{name}` is not a member of the assignment group")).into());
        }
        Ok(u.id)
    }
}

fn into_result<T>(v: Violations, value: T) -> Result<T, StoreError> {
    v.finish().map(|()| value).map_err(StoreError::from)
}

impl Store {
    /// Logs an incident. Goes through the group-commit queue: the call
    /// returns once the transaction holding it has committed.
    pub async fn create_incident(&self, request: CreateIncident) -> Result<IncidentRecord, StoreError> {
        self.creates.as_ref().ok_or(StoreError::ShuttingDown)?.submit(request).await
    }

    /// Writes a batch of creates in one transaction. A request that fails
    /// validation gets its own error and does not affect the others; if the
    /// transaction itself fails, each request is retried alone so one bad
    /// request cannot sink its neighbours.
    pub(crate) async fn create_batch(&self, requests: &[CreateIncident]) -> Vec<Result<IncidentRecord, StoreError>> {
        match self.try_create_batch(requests).await {
            Ok(results) => results,
            Err(e) if requests.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!(error = %e, size = requests.len(), "batched create failed; retrying one by one");
                let mut results = Vec::with_capacity(requests.len());
                for r in requests {
                    let one = self.try_create_batch(std::slice::from_ref(r)).await;
                    results.push(one.and_then(|mut v| v.pop().unwrap_or(Err(StoreError::ShuttingDown))));
                }
                results
            }
        }
    }

    async fn try_create_batch(&self, requests: &[CreateIncident]) -> Result<Vec<Result<IncidentRecord, StoreError>>, StoreError> {
        let txn = self.begin_write().await?;
        let settings = self.settings(&txn).await?;
        let refs = References::load(
            &txn,
            requests.iter().flat_map(|r| std::iter::once(r.requester.clone()).chain(r.assignee.clone())).collect(),
            requests.iter().filter_map(|r| r.assignment_group.clone()).collect(),
            requests.iter().flat_map(|r| r.service_id.into_iter().chain(r.affected_ci_ids.iter().copied())).collect(),
        )
        .await?;
        let now = time::now();
        // Validate everything first; numbers are taken only for the good ones.
        let mut validated: Vec<Result<Incident, StoreError>> = Vec::with_capacity(requests.len());
        for r in requests {
            validated.push(self.validate_new(r, &refs, &settings, now));
        }
        let good = validated.iter().filter(|v| v.is_ok()).count() as i64;
        if good > 0 {
            let mut number = allocate(&txn, "incident", good).await?;
            for incident in validated.iter_mut().flatten() {
                incident.number = IncidentNumber(number);
                number += 1;
            }
            let ok: Vec<&Incident> = validated.iter().flatten().collect();
            let rows: Vec<incident::ActiveModel> = ok.iter().map(|i| incident_to_row(i)).collect();
            for chunk in rows.chunks(INSERT_CHUNK) {
                incident::Entity::insert_many(chunk.to_vec()).exec_without_returning(&txn).await?;
            }
            let links: Vec<incident_ci::ActiveModel> = ok
                .iter()
                .flat_map(|i| i.affected_ci_ids.iter().map(|c| incident_ci::ActiveModel { incident_id: Set(i.number.0), ci_id: Set(*c) }))
                .collect();
            for chunk in links.chunks(INSERT_CHUNK) {
                incident_ci::Entity::insert_many(chunk.to_vec()).exec_without_returning(&txn).await?;
            }
            let created = requests.iter().zip(&validated).filter_map(|(request, incident)| {
                let incident = incident.as_ref().ok()?;
                let event = PendingEvent {
                    incident_id: incident.number.0,
                    kind: "created",
                    field: None,
                    old_value: None,
                    new_value: Some(json!({
                        "title": incident.title, "status": incident.status, "priority": incident.priority,
                        "impact": incident.impact, "urgency": incident.urgency, "channel": incident.channel,
                        "category": incident.category, "assignment_group": request.assignment_group, "assignee": request.assignee,
                    })),
                    body: None,
                    visibility: Visibility::Public,
                };
                Some((&request.actor, event))
            });
            append_events(&txn, time::to_micros(now), created).await?;
        }
        txn.commit().await?;
        if good > 0 {
            self.events_written.notify_readers();
        }
        Ok(requests
            .iter()
            .zip(validated)
            .map(|(r, v)| {
                v.map(|incident| IncidentRecord {
                    incident,
                    requester: r.requester.clone(),
                    assignment_group: r.assignment_group.clone(),
                    assignee: r.assignee.clone(),
                })
            })
            .collect())
    }

    fn validate_new(
        &self,
        r: &CreateIncident,
        refs: &References,
        settings: &crate::settings::Settings,
        now: DateTime<Utc>,
    ) -> Result<Incident, StoreError> {
        let requester = refs.user("requester", &r.requester)?;
        if !requester.active {
            return Err(DomainError::invalid("requester", "active", format!("`{}` is deactivated", r.requester)).into());
        }
        let group_id = r.assignment_group.as_deref().map(|g| refs.group("assignment_group", g)).transpose()?;
        let assignee_id = r.assignee.as_deref().map(|a| refs.assignee(a, group_id)).transpose()?;
        let mut v = Violations::default();
        refs.check_cis(&mut v, r.service_id, &r.affected_ci_ids);
        v.absorb(settings.custom_fields.validate(&r.custom_fields));
        v.finish()?;
        let new = NewIncident {
            title: r.title.clone(),
            description: r.description.clone(),
            requester_id: requester.id,
            channel: r.channel,
            category: r.category.clone(),
            subcategory: r.subcategory.clone(),
            service_id: r.service_id,
            affected_ci_ids: r.affected_ci_ids.clone(),
            impact: r.impact,
            urgency: r.urgency,
            priority_override: r.priority_override.clone(),
            assignment_group_id: group_id,
            assignee_id,
            custom_fields: r.custom_fields.clone(),
        };
        Ok(changes::create(new, IncidentNumber(0), &settings.matrix, now)?)
    }

    async fn load_incident(&self, conn: &impl ConnectionTrait, number: IncidentNumber) -> Result<Incident, StoreError> {
        let row = incident::Entity::find_by_id(number.0).one(conn).await?.ok_or_else(|| StoreError::not_found("incident", number))?;
        let cis = incident_ci::Entity::find()
            .filter(incident_ci::Column::IncidentId.eq(number.0))
            .order_by_asc(incident_ci::Column::CiId)
            .all(conn)
            .await?
            .into_iter()
            .map(|c| c.ci_id)
            .collect();
        incident_from_row(&row, cis)
    }

    /// Incidents by number with their CIs and names, in one query per
    /// table; missing numbers are left out.
    pub(crate) async fn load_incidents(
        &self,
        conn: &impl ConnectionTrait,
        numbers: &[IncidentNumber],
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = numbers.iter().map(|n| n.0).collect();
        let rows =
            incident::Entity::find().filter(incident::Column::Id.is_in(ids.clone())).order_by_asc(incident::Column::Id).all(conn).await?;
        let mut cis: HashMap<i64, Vec<i64>> = HashMap::new();
        for link in incident_ci::Entity::find()
            .filter(incident_ci::Column::IncidentId.is_in(ids))
            .order_by_asc(incident_ci::Column::CiId)
            .all(conn)
            .await?
        {
            cis.entry(link.incident_id).or_default().push(link.ci_id);
        }
        let incidents: Vec<Incident> =
            rows.iter().map(|r| incident_from_row(r, cis.remove(&r.id).unwrap_or_default())).collect::<Result<_, _>>()?;
        let names = Names::load(conn, &incidents.iter().collect::<Vec<_>>()).await?;
        Ok(incidents.into_iter().map(|i| names.record(i)).collect())
    }

    async fn record(&self, conn: &impl ConnectionTrait, incident: Incident) -> Result<IncidentRecord, StoreError> {
        let names = Names::load(conn, &[&incident]).await?;
        Ok(names.record(incident))
    }

    /// An incident by number.
    pub async fn get_incident(&self, number: IncidentNumber) -> Result<IncidentRecord, StoreError> {
        let incident = self.load_incident(&self.read, number).await?;
        self.record(&self.read, incident).await
    }

    /// Edits fields. Writes one `field_changed` event per changed field (and
    /// `status_changed` when assignment moves a new incident to assigned) in
    /// the same transaction. An edit that changes nothing writes nothing.
    pub async fn update_incident(
        &self,
        number: IncidentNumber,
        update: IncidentUpdate,
        actor: &Actor,
    ) -> Result<IncidentRecord, StoreError> {
        let txn = self.begin_write().await?;
        match self.update_in(&txn, number, update, actor).await? {
            Some(record) => {
                txn.commit().await?;
                self.events_written.notify_readers();
                Ok(record)
            }
            None => {
                drop(txn);
                self.get_incident(number).await
            }
        }
    }

    /// [`Store::update_incident`] inside a caller's transaction; `None`
    /// when the edit changes nothing (and nothing was written).
    pub(crate) async fn update_in(
        &self,
        txn: &DatabaseTransaction,
        number: IncidentNumber,
        update: IncidentUpdate,
        actor: &Actor,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        let current = self.load_incident(txn, number).await?;
        if let Some(expected) = update.expected_version
            && expected != current.version
        {
            return Err(StoreError::Conflict {
                field: "version".into(),
                message: format!("{number} is at version {}, not {expected}; reload and retry", current.version),
            });
        }
        let refs = References::load(
            txn,
            update.assignee.clone().flatten().into_iter().collect(),
            update.assignment_group.clone().flatten().into_iter().collect(),
            update.service_id.flatten().into_iter().chain(update.affected_ci_ids.clone().unwrap_or_default()).collect(),
        )
        .await?;
        let group_id = match &update.assignment_group {
            Some(Some(g)) => Some(Some(refs.group("assignment_group", g)?)),
            Some(None) => Some(None),
            None => None,
        };
        let effective_group = group_id.unwrap_or(current.assignment_group_id);
        // An assignee alone joins the incident's current group: load that
        // membership too (the bulk load only covers groups named here).
        let mut refs = refs;
        if let (Some(Some(name)), None, Some(g)) = (&update.assignee, &update.assignment_group, current.assignment_group_id)
            && let Some(u) = refs.users.get(name)
            && group_member::Entity::find()
                .filter(group_member::Column::GroupId.eq(g))
                .filter(group_member::Column::UserId.eq(u.id))
                .one(txn)
                .await?
                .is_some()
        {
            refs.members.insert((g, u.id));
        }
        let assignee_id = match &update.assignee {
            Some(Some(a)) => Some(Some(refs.assignee(a, effective_group)?)),
            Some(None) => Some(None),
            None => None,
        };
        // A kept assignee must belong to a newly chosen group: that is
        // enforced by the domain clearing the assignee on a group change.
        let mut v = Violations::default();
        refs.check_cis(&mut v, update.service_id.flatten(), update.affected_ci_ids.as_deref().unwrap_or(&[]));
        let settings = self.settings(txn).await?;
        if let Some(custom) = &update.custom_fields {
            v.absorb(settings.custom_fields.validate(custom));
        }
        into_result(v, ())?;
        let patch = IncidentPatch {
            title: update.title,
            description: update.description,
            category: update.category,
            subcategory: update.subcategory,
            service_id: update.service_id,
            affected_ci_ids: update.affected_ci_ids,
            impact: update.impact,
            urgency: update.urgency,
            priority_override: update.priority_override,
            assignment_group_id: group_id,
            assignee_id,
            escalation_level: update.escalation_level,
            custom_fields: update.custom_fields,
        };
        let (next, field_changes) = changes::apply_patch(&current, &patch, &settings.matrix, time::now())?;
        if field_changes.is_empty() {
            return Ok(None);
        }
        self.write_incident(txn, &current, &next, field_changes.iter().any(|c| c.field == "affected_cis")).await?;
        let names = Names::load(txn, &[&current, &next]).await?;
        let events: Vec<PendingEvent> = field_changes.into_iter().map(|c| PendingEvent::change(number.0, names.name_change(c))).collect();
        append_events(txn, time::to_micros(next.updated_at), events.into_iter().map(|e| (actor, e))).await?;
        Ok(Some(names.record(next)))
    }

    /// Writes a changed incident, guarded by its version so a concurrent
    /// writer on another node cannot be silently overwritten.
    async fn write_incident(
        &self,
        txn: &DatabaseTransaction,
        current: &Incident,
        next: &Incident,
        cis_changed: bool,
    ) -> Result<(), StoreError> {
        let res = incident::Entity::update_many()
            .set(incident_to_row(next))
            .filter(incident::Column::Id.eq(current.number.0))
            .filter(incident::Column::Version.eq(current.version))
            .exec(txn)
            .await?;
        if res.rows_affected != 1 {
            return Err(StoreError::Conflict {
                field: "version".into(),
                message: format!("{} changed concurrently; retry", current.number),
            });
        }
        if cis_changed {
            incident_ci::Entity::delete_many().filter(incident_ci::Column::IncidentId.eq(current.number.0)).exec(txn).await?;
            let links: Vec<incident_ci::ActiveModel> =
                next.affected_ci_ids.iter().map(|c| incident_ci::ActiveModel { incident_id: Set(next.number.0), ci_id: Set(*c) }).collect();
            if !links.is_empty() {
                incident_ci::Entity::insert_many(links).exec_without_returning(txn).await?;
            }
        }
        Ok(())
    }

    /// Moves an incident through its lifecycle (see
    /// [`switchyard_domain::lifecycle`]). Records `status_changed` with the
    /// reason, plus changes to the pending reason and resolution fields.
    pub async fn transition_incident(
        &self,
        number: IncidentNumber,
        request: &TransitionRequest,
        actor: &Actor,
    ) -> Result<IncidentRecord, StoreError> {
        let txn = self.begin_write().await?;
        let record = self.transition_in(&txn, number, request, actor).await?;
        txn.commit().await?;
        self.events_written.notify_readers();
        Ok(record)
    }

    /// [`Store::transition_incident`] inside a caller's transaction.
    pub(crate) async fn transition_in(
        &self,
        txn: &DatabaseTransaction,
        number: IncidentNumber,
        request: &TransitionRequest,
        actor: &Actor,
    ) -> Result<IncidentRecord, StoreError> {
        let current = self.load_incident(txn, number).await?;
        let facts = LifecycleFacts {
            status: current.status,
            has_group: current.assignment_group_id.is_some(),
            has_assignee: current.assignee_id.is_some(),
        };
        let effect = check_transition(facts, request)?;
        let now = time::now();
        let mut next = current.clone();
        next.status = effect.status;
        next.pending_reason = effect.pending_reason;
        match effect.resolution {
            ResolutionChange::Keep => {}
            ResolutionChange::Set { code, notes } => {
                next.resolution_code = Some(code);
                next.resolution_notes = Some(notes);
                next.resolved_at = Some(now);
            }
            ResolutionChange::Clear => {
                next.resolution_code = None;
                next.resolution_notes = None;
                next.resolved_at = None;
            }
        }
        if effect.status == Status::Closed {
            next.closed_at = Some(now);
        }
        next.updated_at = now;
        next.version = current.version + 1;
        self.write_incident(txn, &current, &next, false).await?;

        let mut events = vec![PendingEvent {
            incident_id: number.0,
            kind: "status_changed",
            field: Some("status".into()),
            old_value: Some(json!(current.status)),
            new_value: Some(json!(next.status)),
            body: request.reason.clone(),
            visibility: Visibility::Public,
        }];
        let extra = [
            ("pending_reason", json!(current.pending_reason), json!(next.pending_reason)),
            ("resolution_code", json!(current.resolution_code), json!(next.resolution_code)),
            ("resolution_notes", json!(current.resolution_notes), json!(next.resolution_notes)),
        ];
        for (field, old, new) in extra {
            if old != new {
                events.push(PendingEvent::change(number.0, FieldChange { field: field.into(), old, new }));
            }
        }
        append_events(txn, time::to_micros(now), events.into_iter().map(|e| (actor, e))).await?;
        self.record(txn, next).await
    }

    /// Adds a comment (public: the requester sees it) or a work note
    /// (internal: agents only).
    pub async fn add_note(
        &self,
        number: IncidentNumber,
        body: &str,
        visibility: Visibility,
        actor: &Actor,
    ) -> Result<EventRecord, StoreError> {
        let txn = self.begin_write().await?;
        let event = self.note_in(&txn, number, body, visibility, actor).await?;
        txn.commit().await?;
        self.events_written.notify_readers();
        Ok(event)
    }

    /// [`Store::add_note`] inside a caller's transaction.
    pub(crate) async fn note_in(
        &self,
        txn: &DatabaseTransaction,
        number: IncidentNumber,
        body: &str,
        visibility: Visibility,
        actor: &Actor,
    ) -> Result<EventRecord, StoreError> {
        let mut v = Violations::default();
        check_text(&mut v, "body", body, TEXT_MAX, true);
        v.finish()?;
        let now = time::to_micros(time::now());
        let res = incident::Entity::update_many()
            .col_expr(incident::Column::UpdatedAt, Expr::value(now))
            .filter(incident::Column::Id.eq(number.0))
            .exec(txn)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::not_found("incident", number));
        }
        let kind = match visibility {
            Visibility::Public => "comment",
            Visibility::Internal => "work_note",
        };
        let event = PendingEvent {
            incident_id: number.0,
            kind,
            field: None,
            old_value: None,
            new_value: None,
            body: Some(body.to_owned()),
            visibility,
        };
        append_events(txn, now, [(actor, event)]).await?;
        let row = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(number.0))
            .order_by_desc(incident_event::Column::Seq)
            .one(txn)
            .await?
            .ok_or_else(|| StoreError::corrupt("incident_events", "the note just written is missing"))?;
        event_from_row(row)
    }

    /// An incident's history, oldest first; `include_internal` adds work
    /// notes (agents only).
    pub async fn history(&self, number: IncidentNumber, include_internal: bool) -> Result<Vec<EventRecord>, StoreError> {
        if incident::Entity::find_by_id(number.0).one(&self.read).await?.is_none() {
            return Err(StoreError::not_found("incident", number));
        }
        let mut q = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(number.0))
            .order_by_asc(incident_event::Column::Seq);
        if !include_internal {
            q = q.filter(incident_event::Column::Visibility.eq(Visibility::Public.as_str()));
        }
        q.all(&self.read).await?.into_iter().map(event_from_row).collect()
    }

    /// Events after a sequence number, in order: the outbox the workflow
    /// engine reads.
    pub async fn events_after(&self, seq: i64, limit: u64) -> Result<Vec<EventRecord>, StoreError> {
        incident_event::Entity::find()
            .filter(incident_event::Column::Seq.gt(seq))
            .order_by_asc(incident_event::Column::Seq)
            .limit(limit)
            .all(&self.read)
            .await?
            .into_iter()
            .map(event_from_row)
            .collect()
    }

    /// Lists incidents with filters, sorted, one keyset page at a time.
    pub async fn list_incidents(&self, filter: &IncidentFilter) -> Result<IncidentPage, StoreError> {
        let mut q = incident::Entity::find();
        if !filter.status.is_empty() {
            q = q.filter(incident::Column::Status.is_in(filter.status.iter().map(|s| s.as_str())));
        }
        if !filter.priority.is_empty() {
            q = q.filter(incident::Column::Priority.is_in(filter.priority.iter().map(|p| i16::from(p.get()))));
        }
        // Unknown names match nothing rather than erroring: a filter is a question.
        if let Some(g) = &filter.assignment_group {
            let id = self.group_row(&self.read, g).await.map(|g| g.id).unwrap_or(-1);
            q = q.filter(incident::Column::AssignmentGroupId.eq(id));
        }
        if let Some(a) = &filter.assignee {
            let id = self.user_row(&self.read, a).await.map(|u| u.id).unwrap_or(-1);
            q = q.filter(incident::Column::AssigneeId.eq(id));
        }
        if let Some(r) = &filter.requester {
            let id = self.user_row(&self.read, r).await.map(|u| u.id).unwrap_or(-1);
            q = q.filter(incident::Column::RequesterId.eq(id));
        }
        if let Some(c) = &filter.category {
            q = q.filter(incident::Column::Category.eq(c.as_str()));
        }
        if let Some(s) = filter.service_id {
            q = q.filter(incident::Column::ServiceId.eq(s));
        }
        if let Some(ci_id) = filter.ci_id {
            let ids: Vec<i64> = incident_ci::Entity::find()
                .filter(incident_ci::Column::CiId.eq(ci_id))
                .all(&self.read)
                .await?
                .into_iter()
                .map(|l| l.incident_id)
                .collect();
            q = q.filter(incident::Column::Id.is_in(ids));
        }
        if let Some(t) = filter.created_from {
            q = q.filter(incident::Column::CreatedAt.gte(time::to_micros(t)));
        }
        if let Some(t) = filter.created_to {
            q = q.filter(incident::Column::CreatedAt.lt(time::to_micros(t)));
        }
        if let Some(t) = filter.updated_from {
            q = q.filter(incident::Column::UpdatedAt.gte(time::to_micros(t)));
        }
        if let Some(t) = filter.updated_to {
            q = q.filter(incident::Column::UpdatedAt.lt(time::to_micros(t)));
        }
        if let Some(text) = &filter.text {
            let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = format!("%{escaped}%");
            q = q.filter(
                Condition::any()
                    .add(
                        Expr::expr(Func::lower(Expr::col(incident::Column::Title)))
                            .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\')),
                    )
                    .add(
                        Expr::expr(Func::lower(Expr::col(incident::Column::Description)))
                            .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')),
                    ),
            );
        }
        let sort_column = match filter.sort {
            SortField::Number => None,
            SortField::CreatedAt => Some(incident::Column::CreatedAt),
            SortField::UpdatedAt => Some(incident::Column::UpdatedAt),
            SortField::Priority => Some(incident::Column::Priority),
        };
        if let Some(cursor) = &filter.cursor {
            let (value, id) = decode_cursor(cursor)?;
            let after = filter.order == SortOrder::Asc;
            let id_cmp = if after { incident::Column::Id.gt(id) } else { incident::Column::Id.lt(id) };
            q = match sort_column {
                None => q.filter(id_cmp),
                Some(col) => {
                    let beyond = if after { col.gt(value) } else { col.lt(value) };
                    q.filter(Condition::any().add(beyond).add(Condition::all().add(col.eq(value)).add(id_cmp)))
                }
            };
        }
        let order = match filter.order {
            SortOrder::Asc => sea_orm::Order::Asc,
            SortOrder::Desc => sea_orm::Order::Desc,
        };
        if let Some(col) = sort_column {
            q = q.order_by(col, order.clone());
        }
        q = q.order_by(incident::Column::Id, order);
        let limit = filter.limit.clamp(1, 500);
        let mut rows = q.limit(limit + 1).all(&self.read).await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| {
                let value = match filter.sort {
                    SortField::Number => r.id,
                    SortField::CreatedAt => r.created_at,
                    SortField::UpdatedAt => r.updated_at,
                    SortField::Priority => i64::from(r.priority),
                };
                encode_cursor(value, r.id)
            })
        } else {
            None
        };
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut cis: HashMap<i64, Vec<i64>> = HashMap::new();
        if !ids.is_empty() {
            for link in incident_ci::Entity::find()
                .filter(incident_ci::Column::IncidentId.is_in(ids))
                .order_by_asc(incident_ci::Column::CiId)
                .all(&self.read)
                .await?
            {
                cis.entry(link.incident_id).or_default().push(link.ci_id);
            }
        }
        let incidents: Vec<Incident> =
            rows.iter().map(|r| incident_from_row(r, cis.remove(&r.id).unwrap_or_default())).collect::<Result<_, _>>()?;
        let names = Names::load(&self.read, &incidents.iter().collect::<Vec<_>>()).await?;
        Ok(IncidentPage { items: incidents.into_iter().map(|i| names.record(i)).collect(), next_cursor })
    }
}

fn encode_cursor(value: i64, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{value}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64), StoreError> {
    let bad = || StoreError::Domain(DomainError::invalid("cursor", "format", "the cursor is not one this server issued"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (v, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((v.parse().map_err(|_| bad())?, id.parse().map_err(|_| bad())?))
}

pub(crate) fn event_from_row(row: incident_event::Model) -> Result<EventRecord, StoreError> {
    let json =
        |s: Option<String>| s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::corrupt("incident_events.value", e))).transpose();
    Ok(EventRecord {
        seq: row.seq,
        number: IncidentNumber(row.incident_id),
        kind: row.kind,
        actor: Actor {
            kind: ActorKind::parse(&row.actor_kind)?,
            user_id: row.actor_user_id,
            name: row.actor_name,
            run_id: row.actor_run_id,
        },
        field: row.field,
        old_value: json(row.old_value)?,
        new_value: json(row.new_value)?,
        body: row.body,
        visibility: if row.visibility == "internal" { Visibility::Internal } else { Visibility::Public },
        created_at: time::from_micros(row.created_at),
    })
}
