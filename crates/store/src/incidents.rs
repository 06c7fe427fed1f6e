//! Incidents: logging them (through the group-commit queue), reading and
//! listing them, and every human change to one. Changes go through
//! [`switchyard_domain::edit::apply`], the one function that decides what an
//! edit does; this module loads what it needs, writes the result guarded by
//! the incident's version, and appends its history entries in the same
//! transaction.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use sea_orm::Condition;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use switchyard_domain::changes::{self, NewIncident, PriorityOverride};
use switchyard_domain::checklist::ChecklistItem;
pub use switchyard_domain::edit::IncidentUpdate;
use switchyard_domain::edit::{self, Edit, References, Wanted};
use switchyard_domain::history::{EventKind, HistoryEntry, Visibility};
use switchyard_domain::incident::{Channel, Incident, IncidentNumber, Level, Priority, Status};
use switchyard_domain::kind::Kind;
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_domain::{DomainError, Violations};

use crate::entity::{group, incident, incident_ci, incident_event, sla_clock, user};
use crate::error::StoreError;
use crate::history::{Actor, EventRecord, event_from_row};
use crate::links::TicketLink;
use crate::references;
use crate::search::TextQuery;
use crate::store::{Store, allocate};
use crate::time;
use crate::txn::WriteTxn;

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
    /// What kind of ticket (default: incident).
    pub kind: Kind,
    /// Kind-specific details (`null`: none).
    pub details: Value,
    /// Processing steps.
    pub checklist: Vec<ChecklistItem>,
    /// Who logs it.
    pub actor: Actor,
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
    /// Usernames of its watchers, sorted.
    pub watchers: Vec<String>,
    /// Its links to other tickets, as it sees them.
    pub links: Vec<TicketLink>,
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
    /// Best text match first (with a text filter; see [`crate::search`]).
    Relevance,
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
    /// Any of these kinds (none: every kind).
    pub kind: Vec<Kind>,
    /// Only tickets linked to this one (either end).
    pub linked_to: Option<IncidentNumber>,
    /// Any of these statuses.
    pub status: Vec<Status>,
    /// Any of these priorities.
    pub priority: Vec<Priority>,
    /// Assignment group name.
    pub assignment_group: Option<String>,
    /// Assignee username.
    pub assignee: Option<String>,
    /// Any of these assignment groups (names; unknown names match nothing).
    pub assignment_groups: Vec<String>,
    /// Only incidents without an assignee.
    pub unassigned: bool,
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
    /// Only incidents with an SLA clock breached, or running and due
    /// before this instant (the "at risk" queue).
    pub sla_due_before: Option<DateTime<Utc>>,
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
        kind: parse("incidents.kind", &row.kind)?,
        details: serde_json::from_str(&row.details).map_err(|e| StoreError::corrupt("incidents.details", e))?,
        checklist: serde_json::from_str(&row.checklist).map_err(|e| StoreError::corrupt("incidents.checklist", e))?,
    })
}

pub(crate) fn incident_to_row(i: &Incident) -> incident::ActiveModel {
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
        kind: Set(i.kind.as_str().to_owned()),
        details: Set(if i.details.is_null() { "{}".to_owned() } else { i.details.to_string() }),
        checklist: Set(serde_json::to_string(&i.checklist).unwrap_or_else(|_| "[]".to_owned())),
    }
}

/// The names of the open statuses (those that still need work: backlog,
/// agent load, SLA recomputes).
pub(crate) fn open_statuses() -> Vec<&'static str> {
    Status::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str()).collect()
}

/// Names of the users and groups referenced by some incidents, looked up
/// in two queries.
#[derive(Default)]
struct Names {
    users: HashMap<i64, String>,
    groups: HashMap<i64, String>,
    watchers: HashMap<i64, Vec<String>>,
    links: HashMap<i64, Vec<TicketLink>>,
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
        let ids: Vec<i64> = incidents.iter().map(|i| i.number.0).collect();
        names.watchers = crate::watchers::watchers_of(conn, &ids).await?;
        names.links = crate::links::links_of(conn, &ids).await?;
        Ok(names)
    }

    fn record(&mut self, incident: Incident) -> IncidentRecord {
        IncidentRecord {
            requester: self.users.get(&incident.requester_id).cloned().unwrap_or_default(),
            assignment_group: incident.assignment_group_id.and_then(|g| self.groups.get(&g).cloned()),
            assignee: incident.assignee_id.and_then(|u| self.users.get(&u).cloned()),
            watchers: self.watchers.remove(&incident.number.0).unwrap_or_default(),
            links: self.links.remove(&incident.number.0).unwrap_or_default(),
            incident,
        }
    }
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
        let txn = self.begin().await?;
        let results = self.create_in(&txn, requests).await?;
        txn.commit().await?;
        Ok(results)
    }

    /// Creates incidents inside a caller's transaction: each request that
    /// fails validation gets its error, the others are written.
    pub(crate) async fn create_in(
        &self,
        txn: &WriteTxn,
        requests: &[CreateIncident],
    ) -> Result<Vec<Result<IncidentRecord, StoreError>>, StoreError> {
        let settings = self.settings(&**txn).await?;
        let mut wanted = Wanted::default();
        for r in requests {
            wanted.usernames.insert(r.requester.clone());
            wanted.usernames.extend(r.assignee.clone());
            wanted.group_names.extend(r.assignment_group.clone());
            wanted.ci_ids.extend(r.service_id.into_iter().chain(r.affected_ci_ids.iter().copied()));
        }
        let refs = references::load(&**txn, &wanted).await?;
        let now = time::now();
        // Validate everything first; numbers are taken only for the good ones.
        let mut validated: Vec<Result<Incident, StoreError>> = Vec::with_capacity(requests.len());
        for r in requests {
            validated.push(self.validate_new(r, &refs, &settings, now));
        }
        let good = validated.iter().filter(|v| v.is_ok()).count() as i64;
        if good > 0 {
            let mut number = allocate(txn, "incident", good).await?;
            for incident in validated.iter_mut().flatten() {
                incident.number = IncidentNumber(number);
                number += 1;
            }
            let ok: Vec<&Incident> = validated.iter().flatten().collect();
            let rows: Vec<incident::ActiveModel> = ok.iter().map(|i| incident_to_row(i)).collect();
            for chunk in crate::batch::shaped(&rows) {
                incident::Entity::insert_many(chunk.to_vec()).exec_without_returning(&**txn).await?;
            }
            let links: Vec<incident_ci::ActiveModel> = ok
                .iter()
                .flat_map(|i| i.affected_ci_ids.iter().map(|c| incident_ci::ActiveModel { incident_id: Set(i.number.0), ci_id: Set(*c) }))
                .collect();
            for chunk in crate::batch::shaped(&links) {
                incident_ci::Entity::insert_many(chunk.to_vec()).exec_without_returning(&**txn).await?;
            }
            let created = requests.iter().zip(&validated).filter_map(|(request, incident)| {
                let incident = incident.as_ref().ok()?;
                let entry = HistoryEntry {
                    kind: EventKind::Created,
                    field: None,
                    old_value: None,
                    new_value: Some(json!({
                        "kind": incident.kind, "title": incident.title, "status": incident.status, "priority": incident.priority,
                        "impact": incident.impact, "urgency": incident.urgency, "channel": incident.channel,
                        "category": incident.category, "assignment_group": request.assignment_group, "assignee": request.assignee,
                    })),
                    body: None,
                    visibility: Visibility::Public,
                };
                Some((&request.actor, incident.number, entry))
            });
            txn.append_events(now, created).await?;
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
                    watchers: Vec::new(),
                    links: Vec::new(),
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
            kind: r.kind,
            details: r.details.clone(),
            checklist: r.checklist.clone(),
        };
        Ok(changes::create(new, IncidentNumber(0), &settings.matrix, now)?)
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
        let expected = update.expected_version;
        self.edit_incident(number, Edit::update(update), expected, actor).await
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
        self.edit_incident(number, Edit::transition(request.clone()), None, actor).await
    }

    /// Adds a comment (public: the requester sees it) or a work note
    /// (internal: agents only); returns the history entry written.
    pub async fn add_note(
        &self,
        number: IncidentNumber,
        body: &str,
        visibility: Visibility,
        actor: &Actor,
    ) -> Result<EventRecord, StoreError> {
        self.edit_incident(number, Edit::note(body, visibility), None, actor).await?;
        let row = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(number.0))
            .filter(incident_event::Column::ActorName.eq(actor.name.as_str()))
            .order_by_desc(incident_event::Column::Seq)
            .one(&self.write)
            .await?
            .ok_or_else(|| StoreError::corrupt("incident_events", "the note just written is missing"))?;
        event_from_row(row)
    }

    /// Changes a ticket by a closure that edits it in memory and answers
    /// the history entries to record (none: nothing is written), in one
    /// transaction guarded by the ticket's version. For changes outside
    /// [`edit::apply`]'s field edits: kind, checklist.
    pub(crate) async fn change_ticket(
        &self,
        number: IncidentNumber,
        actor: &Actor,
        change: impl FnOnce(&mut Incident) -> Result<Vec<HistoryEntry>, DomainError>,
    ) -> Result<IncidentRecord, StoreError> {
        let txn = self.begin().await?;
        let current = load_incident(&*txn, number).await?;
        let mut next = current.clone();
        let entries = change(&mut next)?;
        if !entries.is_empty() {
            next.updated_at = time::now();
            next.version = current.version + 1;
            txn.write_edited(current.version, &next, true, false).await?;
            txn.append_events(next.updated_at, entries.into_iter().map(|e| (actor, number, e))).await?;
        }
        let record = load_incidents(&*txn, &[number]).await?.pop().ok_or_else(|| StoreError::not_found("incident", number))?;
        txn.commit().await?;
        Ok(record)
    }

    /// Applies one edit in its own transaction.
    async fn edit_incident(
        &self,
        number: IncidentNumber,
        edit: Edit,
        expected_version: Option<i64>,
        actor: &Actor,
    ) -> Result<IncidentRecord, StoreError> {
        let txn = self.begin().await?;
        let record = txn.edit_incident(number, &edit, expected_version, actor).await?;
        txn.commit().await?;
        Ok(record)
    }
}

impl WriteTxn {
    /// Applies `edit` to an incident inside this transaction: loads the
    /// incident, the references the edit names and the settings, decides
    /// with [`edit::apply`], then writes the incident (guarded by its
    /// version) and the history entries. An edit that changes nothing
    /// writes nothing; any refusal writes nothing.
    pub async fn edit_incident(
        &self,
        number: IncidentNumber,
        edit: &Edit,
        expected_version: Option<i64>,
        actor: &Actor,
    ) -> Result<IncidentRecord, StoreError> {
        let current = load_incident(&self.txn, number).await?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(StoreError::Conflict {
                field: "version".into(),
                message: format!("{number} is at version {}, not {expected}; reload and retry", current.version),
            });
        }
        let mut refs = references::load(&self.txn, &References::wanted(&current, edit)).await?;
        let settings = self.store.settings(&self.txn).await?;
        let edited = edit::apply(&current, edit, &mut refs, settings.rules(), time::now())?;
        let mut record = IncidentRecord::named(&refs, edited.incident.clone());
        record.watchers = crate::watchers::watchers_of(&self.txn, &[number.0]).await?.remove(&number.0).unwrap_or_default();
        record.links = crate::links::links_of(&self.txn, &[number.0]).await?.remove(&number.0).unwrap_or_default();
        if edited.entries.is_empty() {
            return Ok(record);
        }
        self.write_edited(current.version, &edited.incident, edited.fields_changed, edited.cis_changed).await?;
        self.append_events(edited.incident.updated_at, edited.entries.into_iter().map(|e| (actor, number, e))).await?;
        Ok(record)
    }

    /// Writes an incident as an edit left it, guarded by the version the
    /// edit started from so a concurrent writer on another node cannot be
    /// silently overwritten. A note alone only touches `updated_at`.
    pub(crate) async fn write_edited(
        &self,
        base_version: i64,
        next: &Incident,
        fields_changed: bool,
        cis_changed: bool,
    ) -> Result<(), StoreError> {
        if !fields_changed {
            incident::Entity::update_many()
                .col_expr(incident::Column::UpdatedAt, Expr::value(time::to_micros(next.updated_at)))
                .filter(incident::Column::Id.eq(next.number.0))
                .exec(&self.txn)
                .await?;
            return Ok(());
        }
        let res = incident::Entity::update_many()
            .set(incident_to_row(next))
            .filter(incident::Column::Id.eq(next.number.0))
            .filter(incident::Column::Version.eq(base_version))
            .exec(&self.txn)
            .await?;
        if res.rows_affected != 1 {
            return Err(StoreError::Conflict { field: "version".into(), message: format!("{} changed concurrently; retry", next.number) });
        }
        if cis_changed {
            incident_ci::Entity::delete_many().filter(incident_ci::Column::IncidentId.eq(next.number.0)).exec(&self.txn).await?;
            let links: Vec<incident_ci::ActiveModel> =
                next.affected_ci_ids.iter().map(|c| incident_ci::ActiveModel { incident_id: Set(next.number.0), ci_id: Set(*c) }).collect();
            if !links.is_empty() {
                incident_ci::Entity::insert_many(links).exec_without_returning(&self.txn).await?;
            }
        }
        Ok(())
    }

    /// Incidents by number with their CIs and names, read inside this
    /// transaction.
    pub async fn incidents(&self, numbers: &[IncidentNumber]) -> Result<Vec<IncidentRecord>, StoreError> {
        load_incidents(&self.txn, numbers).await
    }
}

impl IncidentRecord {
    /// The record of an incident, named from `refs` (which an applied edit
    /// taught the names of everything the incident refers to), without
    /// watchers or links (an edit does not change them; the caller keeps
    /// the ones it had).
    pub fn named(refs: &References, incident: Incident) -> IncidentRecord {
        IncidentRecord {
            requester: refs.user_names.get(&incident.requester_id).cloned().unwrap_or_default(),
            assignment_group: incident.assignment_group_id.and_then(|g| refs.group_names.get(&g).cloned()),
            assignee: incident.assignee_id.and_then(|u| refs.user_names.get(&u).cloned()),
            watchers: Vec::new(),
            links: Vec::new(),
            incident,
        }
    }

    /// The ticket's own number with its kind's prefix (`REQ-000045`).
    pub fn number(&self) -> String {
        self.incident.display_number()
    }
}

async fn load_incident(conn: &impl ConnectionTrait, number: IncidentNumber) -> Result<Incident, StoreError> {
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

/// Incidents by number with their CIs and names, in one query per table;
/// missing numbers are left out.
pub(crate) async fn load_incidents(conn: &impl ConnectionTrait, numbers: &[IncidentNumber]) -> Result<Vec<IncidentRecord>, StoreError> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = numbers.iter().map(|n| n.0).collect();
    let rows = incident::Entity::find().filter(incident::Column::Id.is_in(ids)).order_by_asc(incident::Column::Id).all(conn).await?;
    records_from_rows(conn, rows).await
}

/// Rows to records: their CIs and names in one query per table, in the
/// rows' order.
async fn records_from_rows(conn: &impl ConnectionTrait, rows: Vec<incident::Model>) -> Result<Vec<IncidentRecord>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
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
    let mut names = Names::load(conn, &incidents.iter().collect::<Vec<_>>()).await?;
    Ok(incidents.into_iter().map(|i| names.record(i)).collect())
}

impl Store {
    /// An incident by number.
    pub async fn get_incident(&self, number: IncidentNumber) -> Result<IncidentRecord, StoreError> {
        let incident = load_incident(&self.read, number).await?;
        let mut names = Names::load(&self.read, &[&incident]).await?;
        Ok(names.record(incident))
    }

    /// Incidents by number from the read pool, in one query per table.
    pub async fn incidents(&self, numbers: &[IncidentNumber]) -> Result<Vec<IncidentRecord>, StoreError> {
        load_incidents(&self.read, numbers).await
    }

    /// How many incidents match `filter` (its sort and paging aside),
    /// counting at most `cap` of them: a bounded cost at any table size.
    pub async fn count_incidents(&self, filter: &IncidentFilter, cap: u64) -> Result<u64, StoreError> {
        let mut q = self.filtered(filter).await?;
        if let Some(text) = &filter.text {
            let Some(query) = TextQuery::parse(text) else { return Ok(0) };
            q = q.filter(query.condition(self.backend));
        }
        let capped = sea_orm::QueryTrait::into_query(q.select_only().column(incident::Column::Id).limit(cap));
        let count = sea_orm::sea_query::Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from_subquery(capped, sea_orm::sea_query::Alias::new("capped"))
            .to_owned();
        let row = self.read.query_one(&count).await?;
        let n: i64 = match row {
            Some(row) => row.try_get_by_index(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The incidents matching every filter of `filter` but the text.
    async fn filtered(&self, filter: &IncidentFilter) -> Result<sea_orm::Select<incident::Entity>, StoreError> {
        let mut q = incident::Entity::find();
        if !filter.kind.is_empty() {
            q = q.filter(incident::Column::Kind.is_in(filter.kind.iter().map(|k| k.as_str())));
        }
        if let Some(other) = filter.linked_to {
            q = q.filter(incident::Column::Id.is_in(self.linked_ids(other, None).await?));
        }
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
        if !filter.assignment_groups.is_empty() {
            let mut ids = Vec::with_capacity(filter.assignment_groups.len());
            for g in &filter.assignment_groups {
                ids.push(self.group_row(&self.read, g).await.map(|g| g.id).unwrap_or(-1));
            }
            q = q.filter(incident::Column::AssignmentGroupId.is_in(ids));
        }
        if filter.unassigned {
            q = q.filter(incident::Column::AssigneeId.is_null());
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
        if let Some(before) = filter.sla_due_before {
            let at_risk = sea_orm::sea_query::Query::select()
                .column(sla_clock::Column::IncidentId)
                .from(sla_clock::Entity)
                .cond_where(Condition::any().add(sla_clock::Column::State.eq("breached")).add(
                    Condition::all().add(sla_clock::Column::State.eq("running")).add(sla_clock::Column::DueAt.lt(time::to_micros(before))),
                ))
                .to_owned();
            q = q.filter(incident::Column::Id.in_subquery(at_risk));
        }
        Ok(q)
    }

    /// Lists incidents with filters, sorted, one keyset page at a time.
    pub async fn list_incidents(&self, filter: &IncidentFilter) -> Result<IncidentPage, StoreError> {
        let mut q = self.filtered(filter).await?;
        let mut ranked: Option<Vec<(i64, f64)>> = None;
        if let Some(text) = &filter.text {
            let Some(query) = TextQuery::parse(text) else {
                return Ok(IncidentPage { items: Vec::new(), next_cursor: None });
            };
            if filter.sort == SortField::Relevance {
                let best = query.ranked(&self.read, self.backend).await?;
                q = q.filter(incident::Column::Id.is_in(best.iter().map(|(id, _)| *id)));
                ranked = Some(best);
            } else {
                q = q.filter(query.condition(self.backend));
            }
        }
        if let Some(best) = ranked {
            return self.relevance_page(q, best, filter).await;
        }
        let sort_column = match filter.sort {
            SortField::Number | SortField::Relevance => None,
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
                    SortField::Number | SortField::Relevance => r.id,
                    SortField::CreatedAt => r.created_at,
                    SortField::UpdatedAt => r.updated_at,
                    SortField::Priority => i64::from(r.priority),
                };
                encode_cursor(value, r.id)
            })
        } else {
            None
        };
        Ok(IncidentPage { items: records_from_rows(&self.read, rows).await?, next_cursor })
    }

    /// One page of a text search in relevance order: the filters narrow
    /// the ranked candidates, the cursor is the offset into them.
    async fn relevance_page(
        &self,
        q: sea_orm::Select<incident::Entity>,
        best: Vec<(i64, f64)>,
        filter: &IncidentFilter,
    ) -> Result<IncidentPage, StoreError> {
        let matching: HashSet<i64> =
            q.select_only().column(incident::Column::Id).into_tuple::<i64>().all(&self.read).await?.into_iter().collect();
        let offset = match &filter.cursor {
            Some(c) => usize::try_from(decode_cursor(c)?.0).unwrap_or(0),
            None => 0,
        };
        let limit = filter.limit.clamp(1, 500) as usize;
        let ordered: Vec<IncidentNumber> = best.iter().filter(|(id, _)| matching.contains(id)).map(|(id, _)| IncidentNumber(*id)).collect();
        let page: Vec<IncidentNumber> = ordered.iter().skip(offset).take(limit).copied().collect();
        let next_cursor = (ordered.len() > offset + limit).then(|| encode_cursor((offset + limit) as i64, 0));
        Ok(IncidentPage { items: self.records_in_order(&page).await?, next_cursor })
    }

    /// Records of `numbers`, in that order.
    async fn records_in_order(&self, numbers: &[IncidentNumber]) -> Result<Vec<IncidentRecord>, StoreError> {
        let mut by_id: HashMap<i64, IncidentRecord> =
            load_incidents(&self.read, numbers).await?.into_iter().map(|r| (r.incident.number.0, r)).collect();
        Ok(numbers.iter().filter_map(|n| by_id.remove(&n.0)).collect())
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
