//! Durable timers (found by their indexed due time, taken by deleting the
//! row in the transaction that acts on it) and cron marks (when each cron
//! trigger last fired).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;

use crate::entity::{cron_mark, timer};
use crate::error::{StoreError, stored_json};
use crate::store::Store;
use crate::time;
use crate::txn::{Topic, WriteTxn};

/// A timer to set.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTimer {
    /// What fires (`sla_warning`, `sla_breached`...).
    pub kind: String,
    /// When.
    pub due_at: DateTime<Utc>,
    /// The run it wakes.
    pub run_id: Option<i64>,
    /// The ticket it concerns.
    pub incident_id: Option<i64>,
    /// Anything else (JSON).
    pub payload: Value,
}

/// A set timer.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerRecord {
    /// Timer id.
    pub id: i64,
    /// The timer.
    pub timer: NewTimer,
}

pub(crate) fn timer_from_row(row: timer::Model) -> Result<TimerRecord, StoreError> {
    Ok(TimerRecord {
        id: row.id,
        timer: NewTimer {
            payload: stored_json("timers.payload", &row.payload)?,
            kind: row.kind,
            due_at: time::from_micros(row.due_at),
            run_id: row.run_id,
            incident_id: row.incident_id,
        },
    })
}

impl WriteTxn {
    /// Sets a timer.
    pub async fn insert_timer(&self, timer: NewTimer) -> Result<i64, StoreError> {
        let row = timer::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            kind: Set(timer.kind),
            due_at: Set(time::to_micros(timer.due_at)),
            run_id: Set(timer.run_id),
            incident_id: Set(timer.incident_id),
            payload: Set(timer.payload.to_string()),
            created_at: Set(time::to_micros(time::now())),
        };
        let id = timer::Entity::insert(row).exec(&self.txn).await?.last_insert_id;
        self.wrote(Topic::Timers);
        Ok(id)
    }

    /// Removes a timer; `false` if another node already did (so it fires
    /// once).
    pub async fn take_timer(&self, id: i64) -> Result<bool, StoreError> {
        Ok(timer::Entity::delete_by_id(id).exec(&self.txn).await?.rows_affected == 1)
    }

    /// When a cron trigger last fired.
    pub async fn cron_mark(&self, workflow_id: &str, trigger: i32) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(cron_mark::Entity::find_by_id((workflow_id.to_owned(), trigger))
            .one(&self.txn)
            .await?
            .map(|m| time::from_micros(m.last_fired_at)))
    }

    /// Records a cron firing.
    pub async fn set_cron_mark(&self, workflow_id: &str, trigger: i32, at: DateTime<Utc>) -> Result<(), StoreError> {
        let row = cron_mark::ActiveModel {
            workflow_id: Set(workflow_id.to_owned()),
            trigger_index: Set(trigger),
            last_fired_at: Set(time::to_micros(at)),
        };
        cron_mark::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([cron_mark::Column::WorkflowId, cron_mark::Column::TriggerIndex])
                    .update_column(cron_mark::Column::LastFiredAt)
                    .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Timers due at `now`, earliest first.
    pub async fn due_timers(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<TimerRecord>, StoreError> {
        timer::Entity::find()
            .filter(timer::Column::DueAt.lte(time::to_micros(now)))
            .order_by_asc(timer::Column::DueAt)
            .order_by_asc(timer::Column::Id)
            .limit(limit)
            .all(&self.read)
            .await?
            .into_iter()
            .map(timer_from_row)
            .collect()
    }
}
