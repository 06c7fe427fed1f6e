//! Escalations: one row per paged incident (its policy, where it stands,
//! the last level paged, who acknowledged it and when). Pages and the
//! acknowledgement are history entries (`paged`, `acknowledged`) written
//! in the same transaction; the next level waits in a timer of kind
//! [`ESCALATION_TIMER`], removed when the incident is acknowledged.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use switchyard_domain::history::{EventKind, HistoryEntry, Visibility};
use switchyard_domain::incident::IncidentNumber;

use crate::entity::{escalation, timer};
use crate::error::StoreError;
use crate::history::Actor;
use crate::incidents::load_incidents;
use crate::store::Store;
use crate::time;
use crate::txn::WriteTxn;

/// The timer kind of an escalation's next level.
pub const ESCALATION_TIMER: &str = "escalation";

/// Where an escalation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscalationStatus {
    /// Paging; the next level is due unless someone acknowledges.
    Active,
    /// Someone acknowledged: no more pages.
    Acknowledged,
    /// Every level was paged and nobody acknowledged.
    Exhausted,
    /// The incident was resolved or closed before anyone acknowledged.
    Stopped,
}

impl EscalationStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationStatus::Active => "active",
            EscalationStatus::Acknowledged => "acknowledged",
            EscalationStatus::Exhausted => "exhausted",
            EscalationStatus::Stopped => "stopped",
        }
    }

    /// The status with this name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Active, Self::Acknowledged, Self::Exhausted, Self::Stopped].into_iter().find(|s| s.as_str() == name)
    }
}

/// An incident's escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRecord {
    /// The incident.
    pub incident_id: i64,
    /// The policy's name.
    pub policy: String,
    /// Where it stands.
    pub status: EscalationStatus,
    /// When paging started.
    pub started_at: DateTime<Utc>,
    /// The pass through the levels (0, then repeats).
    pub pass: i32,
    /// The last level paged (index).
    pub level: i32,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged (user id).
    pub acknowledged_by: Option<i64>,
}

fn from_row(row: escalation::Model) -> Result<EscalationRecord, StoreError> {
    Ok(EscalationRecord {
        status: EscalationStatus::parse(&row.status).ok_or_else(|| StoreError::corrupt("escalations.status", &row.status))?,
        incident_id: row.incident_id,
        policy: row.policy,
        started_at: time::from_micros(row.started_at),
        pass: row.pass,
        level: row.level,
        acknowledged_at: row.acknowledged_at.map(time::from_micros),
        acknowledged_by: row.acknowledged_by,
    })
}

impl WriteTxn {
    /// The incident's escalation, read in this transaction.
    pub async fn escalation(&self, number: IncidentNumber) -> Result<Option<EscalationRecord>, StoreError> {
        escalation::Entity::find_by_id(number.0).one(&self.txn).await?.map(from_row).transpose()
    }

    /// Starts (or restarts, when the last one ended) the escalation of an
    /// incident under `policy`; `false` when one is active already.
    pub async fn start_escalation(&self, number: IncidentNumber, policy: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let existing = escalation::Entity::find_by_id(number.0).one(&self.txn).await?;
        if existing.as_ref().is_some_and(|e| e.status == EscalationStatus::Active.as_str()) {
            return Ok(false);
        }
        let row = escalation::ActiveModel {
            incident_id: Set(number.0),
            policy: Set(policy.to_owned()),
            status: Set(EscalationStatus::Active.as_str().into()),
            started_at: Set(time::to_micros(at)),
            pass: Set(0),
            level: Set(-1),
            acknowledged_at: Set(None),
            acknowledged_by: Set(None),
            updated_at: Set(time::to_micros(at)),
        };
        if existing.is_some() {
            row.update(&self.txn).await?;
        } else {
            row.insert(&self.txn).await?;
        }
        Ok(true)
    }

    /// Records that a level was paged: the escalation's progress and one
    /// `paged` history entry per person (internal), with what was sent.
    pub async fn record_page(
        &self,
        number: IncidentNumber,
        pass: i32,
        level: i32,
        paged: &[(String, String)],
        status: EscalationStatus,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = time::now();
        escalation::Entity::update_many()
            .col_expr(escalation::Column::Pass, pass.into())
            .col_expr(escalation::Column::Level, level.into())
            .col_expr(escalation::Column::Status, status.as_str().into())
            .col_expr(escalation::Column::UpdatedAt, time::to_micros(now).into())
            .filter(escalation::Column::IncidentId.eq(number.0))
            .exec(&self.txn)
            .await?;
        let entries = paged.iter().map(|(user, via)| {
            let entry = HistoryEntry {
                kind: EventKind::Paged,
                field: None,
                old_value: None,
                new_value: Some(json!({"user": user, "via": via, "level": level + 1, "pass": pass})),
                body: Some(format!("Paged {user} via {via} (level {})", level + 1)),
                visibility: Visibility::Internal,
            };
            (actor, number, entry)
        });
        self.append_events(now, entries.collect::<Vec<_>>()).await
    }

    /// Ends an escalation without an acknowledgement (exhausted, stopped).
    pub async fn end_escalation(&self, number: IncidentNumber, status: EscalationStatus) -> Result<(), StoreError> {
        escalation::Entity::update_many()
            .col_expr(escalation::Column::Status, status.as_str().into())
            .col_expr(escalation::Column::UpdatedAt, time::to_micros(time::now()).into())
            .filter(escalation::Column::IncidentId.eq(number.0))
            .exec(&self.txn)
            .await?;
        Ok(())
    }
}

impl WriteTxn {
    /// Whether the incident was acknowledged after the event `seq`.
    pub async fn acknowledged_after(&self, number: IncidentNumber, seq: i64) -> Result<bool, StoreError> {
        let row = crate::entity::incident_event::Entity::find()
            .filter(crate::entity::incident_event::Column::IncidentId.eq(number.0))
            .filter(crate::entity::incident_event::Column::Kind.eq(EventKind::Acknowledged.as_str()))
            .filter(crate::entity::incident_event::Column::Seq.gt(seq))
            .one(&self.txn)
            .await?;
        Ok(row.is_some())
    }
}

impl Store {
    /// An incident's escalation.
    pub async fn escalation(&self, number: IncidentNumber) -> Result<Option<EscalationRecord>, StoreError> {
        escalation::Entity::find_by_id(number.0).one(&self.read).await?.map(from_row).transpose()
    }

    /// Escalations in a status, newest first.
    pub async fn list_escalations(&self, status: Option<EscalationStatus>, limit: u64) -> Result<Vec<EscalationRecord>, StoreError> {
        let mut q = escalation::Entity::find().order_by_desc(escalation::Column::StartedAt).limit(limit);
        if let Some(s) = status {
            q = q.filter(escalation::Column::Status.eq(s.as_str()));
        }
        q.all(&self.read).await?.into_iter().map(from_row).collect()
    }

    /// A person acknowledges an open incident: one `acknowledged` history
    /// entry, the escalation (if any) stops and its pending level is
    /// removed, all in one transaction. A second acknowledgement of the same
    /// escalation (or, without one, of the incident) is a conflict and
    /// writes nothing; after a reopen restarted paging, it can be
    /// acknowledged again.
    ///
    /// Locks in the order the scheduler's firing of a level takes them
    /// (the incident row first, serialising acknowledgements, then the
    /// timers, then the escalation), so the two never deadlock.
    pub async fn acknowledge(&self, number: IncidentNumber, actor: &Actor) -> Result<Option<EscalationRecord>, StoreError> {
        let txn = self.begin().await?;
        let after = txn.acknowledge(number, actor).await?;
        txn.commit().await?;
        Ok(after)
    }
}

impl WriteTxn {
    /// [`Store::acknowledge`] inside this transaction (mail intake
    /// acknowledges with the message's record); a refusal writes nothing.
    pub async fn acknowledge(&self, number: IncidentNumber, actor: &Actor) -> Result<Option<EscalationRecord>, StoreError> {
        let txn = self;
        crate::entity::incident::Entity::find_by_id(number.0)
            .lock_exclusive()
            .one(&**txn)
            .await?
            .ok_or_else(|| StoreError::not_found("incident", number))?;
        let incident = load_incidents(&**txn, &[number]).await?.pop().ok_or_else(|| StoreError::not_found("incident", number))?;
        if !incident.incident.status.is_open() {
            return Err(StoreError::Conflict {
                field: "status".into(),
                message: format!("{number} is {}; only an open incident can be acknowledged", incident.incident.status),
            });
        }
        let existing = txn.escalation(number).await?;
        // An acknowledgement counts for the escalation it ended; without
        // one, for the incident.
        let since = existing.as_ref().map_or(0, |e| time::to_micros(e.started_at));
        let already = crate::entity::incident_event::Entity::find()
            .filter(crate::entity::incident_event::Column::IncidentId.eq(number.0))
            .filter(crate::entity::incident_event::Column::Kind.eq(EventKind::Acknowledged.as_str()))
            .filter(crate::entity::incident_event::Column::CreatedAt.gte(since))
            .one(&**txn)
            .await?;
        if let Some(e) = already {
            return Err(StoreError::Conflict {
                field: "acknowledged".into(),
                message: format!("{number} was acknowledged by {} already", e.actor_name),
            });
        }
        let now = time::now();
        if existing.as_ref().is_some_and(|e| e.status == EscalationStatus::Active) {
            timer::Entity::delete_many()
                .filter(timer::Column::IncidentId.eq(number.0))
                .filter(timer::Column::Kind.eq(ESCALATION_TIMER))
                .exec(&**txn)
                .await?;
            escalation::Entity::update_many()
                .col_expr(escalation::Column::Status, EscalationStatus::Acknowledged.as_str().into())
                .col_expr(escalation::Column::AcknowledgedAt, Some(time::to_micros(now)).into())
                .col_expr(escalation::Column::AcknowledgedBy, actor.user_id.into())
                .col_expr(escalation::Column::UpdatedAt, time::to_micros(now).into())
                .filter(escalation::Column::IncidentId.eq(number.0))
                .exec(&**txn)
                .await?;
        }
        let entry = HistoryEntry {
            kind: EventKind::Acknowledged,
            field: None,
            old_value: None,
            new_value: existing.as_ref().map(|e| json!({"policy": e.policy, "level": e.level + 1})),
            body: Some(format!("Acknowledged by {}", actor.name)),
            visibility: Visibility::Public,
        };
        txn.append_events(now, [(actor, number, entry)]).await?;
        txn.escalation(number).await
    }
}
