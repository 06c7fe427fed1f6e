//! The event log: every incident's history, in one append-only table that
//! the workflow engine also reads as its outbox.
//!
//! `seq` comes from the `event` counter, taken in the transaction that
//! writes the events and as late in it as possible (just before commit):
//! the counter row's lock is what orders events by commit across nodes, so
//! holding it briefly is what keeps concurrent writers from queueing on it.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use switchyard_domain::history::{EventKind, HistoryEntry, Visibility};
use switchyard_domain::incident::IncidentNumber;

use crate::entity::{incident, incident_event};
use crate::error::StoreError;
use crate::store::{Store, allocate};
use crate::time;
use crate::txn::{Topic, WriteTxn};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A signed-in user.
    User,
    /// Switchyard itself (bootstrap, maintenance, SLA tracking).
    System,
    /// A workflow run (name carries workflow, version, step and plugin).
    Workflow,
    /// An intake channel (email, alert...).
    Channel,
}

impl ActorKind {
    pub(crate) fn as_str(self) -> &'static str {
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
    pub fn user(principal: &crate::directory::Principal) -> Self {
        Self { kind: ActorKind::User, user_id: Some(principal.user_id), name: principal.username.clone(), run_id: None }
    }

    /// Switchyard itself.
    pub fn system() -> Self {
        Self::named_system("switchyard")
    }

    /// Switchyard itself under a more specific name (`switchyard (sla)`).
    pub fn named_system(name: &str) -> Self {
        Self { kind: ActorKind::System, user_id: None, name: name.to_owned(), run_id: None }
    }

    /// A step of a workflow run; `name` describes workflow, version, step
    /// and plugin for the history.
    pub fn workflow(run_id: i64, name: String) -> Self {
        Self { kind: ActorKind::Workflow, user_id: None, name, run_id: Some(run_id) }
    }

    /// Someone writing through an intake channel (a mailbox address): the
    /// history reads `rita via servicedesk@example.org`.
    pub fn channel(channel: &str, user: Option<(i64, &str)>) -> Self {
        let name = match user {
            Some((_, username)) => format!("{username}{CHANNEL_VIA}{channel}"),
            None => channel.to_owned(),
        };
        Self { kind: ActorKind::Channel, user_id: user.map(|(id, _)| id), name, run_id: None }
    }

    /// The channel a channel actor came through (what `inbound_channel`
    /// triggers list); `None` for other actors.
    pub fn channel_name(&self) -> Option<&str> {
        (self.kind == ActorKind::Channel).then(|| self.name.rsplit_once(CHANNEL_VIA).map_or(self.name.as_str(), |(_, c)| c))
    }
}

/// Between the person and the channel in a channel actor's name.
const CHANNEL_VIA: &str = " via ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_actor_names_the_person_and_keeps_the_channel() {
        let a = Actor::channel("desk@example.org", Some((7, "rita")));
        assert_eq!((a.name.as_str(), a.user_id, a.channel_name()), ("rita via desk@example.org", Some(7), Some("desk@example.org")));
        assert_eq!(Actor::channel("desk@example.org", None).channel_name(), Some("desk@example.org"));
        assert_eq!(Actor::system().channel_name(), None);
    }
}

/// One entry of an incident's history.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// Global, gap-free sequence number.
    pub seq: i64,
    /// The incident.
    pub number: IncidentNumber,
    /// What it records.
    pub kind: EventKind,
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

impl WriteTxn {
    /// Appends history entries with consecutive sequence numbers: one
    /// counter update and one multi-row insert per chunk, however many
    /// entries, incidents and actors there are. Call it last in the
    /// transaction, so the counter's lock is held only for the commit.
    pub(crate) async fn append_events<'a>(
        &self,
        at: DateTime<Utc>,
        entries: impl IntoIterator<Item = (&'a Actor, IncidentNumber, HistoryEntry)>,
    ) -> Result<(), StoreError> {
        let entries: Vec<(&Actor, IncidentNumber, HistoryEntry)> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(());
        }
        let at = time::to_micros(at);
        let first = allocate(self, "event", entries.len() as i64).await?;
        let rows: Vec<incident_event::ActiveModel> = entries
            .into_iter()
            .enumerate()
            .map(|(i, (actor, number, e))| incident_event::ActiveModel {
                seq: Set(first + i as i64),
                incident_id: Set(number.0),
                kind: Set(e.kind.as_str().to_owned()),
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
        for chunk in crate::batch::shaped(&rows) {
            incident_event::Entity::insert_many(chunk.to_vec()).exec_without_returning(&self.txn).await?;
        }
        self.wrote(Topic::Events);
        Ok(())
    }

    /// Events after `seq` in order, read inside this transaction (a reader
    /// of the log holds its position's lock meanwhile).
    pub async fn events_after(&self, seq: i64, limit: u64) -> Result<Vec<EventRecord>, StoreError> {
        events_after(&self.txn, seq, limit).await
    }
}

async fn events_after(conn: &impl sea_orm::ConnectionTrait, seq: i64, limit: u64) -> Result<Vec<EventRecord>, StoreError> {
    incident_event::Entity::find()
        .filter(incident_event::Column::Seq.gt(seq))
        .order_by_asc(incident_event::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(event_from_row)
        .collect()
}

impl Store {
    /// An incident's history, oldest first; `include_internal` adds work
    /// notes and SLA entries (agents only).
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
        events_after(&self.read, seq, limit).await
    }
}

pub(crate) fn event_from_row(row: incident_event::Model) -> Result<EventRecord, StoreError> {
    let json =
        |s: Option<String>| s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::corrupt("incident_events.value", e))).transpose();
    Ok(EventRecord {
        seq: row.seq,
        number: IncidentNumber(row.incident_id),
        kind: row.kind.parse().map_err(|e| StoreError::corrupt("incident_events.kind", e))?,
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
        visibility: row.visibility.parse().map_err(|e| StoreError::corrupt("incident_events.visibility", e))?,
        created_at: time::from_micros(row.created_at),
    })
}
