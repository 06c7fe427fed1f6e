//! The notification outbox: what workflows asked to tell whom, queued in
//! the same transaction as the run that asked.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::notification;
use crate::error::StoreError;
use crate::store::Store;
use crate::time;
use crate::txn::{Topic, WriteTxn};

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationStatus {
    /// Waiting for delivery.
    Queued,
}

impl NotificationStatus {
    /// Every status.
    pub const ALL: &'static [NotificationStatus] = &[NotificationStatus::Queued];

    /// The stable name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Queued => "queued",
        }
    }

    /// The status with this name.
    pub fn parse(name: &str) -> Option<NotificationStatus> {
        NotificationStatus::ALL.iter().copied().find(|s| s.as_str() == name)
    }
}

/// A notification to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The ticket.
    pub incident_id: Option<i64>,
    /// The run that proposed it.
    pub run_id: i64,
    /// Its workflow.
    pub workflow_id: String,
    /// Its step.
    pub step_id: String,
    /// `email`, `webhook`...
    pub channel: String,
    /// Usernames, `group:<name>` or addresses.
    pub recipients: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
}

/// A queued notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Outbox id.
    pub id: i64,
    /// What it says.
    pub notification: NewNotification,
    /// Where it stands.
    pub status: NotificationStatus,
    /// Queued at.
    pub created_at: DateTime<Utc>,
}

fn notification_from_row(row: notification::Model) -> Result<NotificationRecord, StoreError> {
    let recipients = serde_json::from_str(&row.recipients).map_err(|e| StoreError::corrupt("notifications.recipients", e))?;
    Ok(NotificationRecord {
        id: row.id,
        status: NotificationStatus::parse(&row.status).ok_or_else(|| StoreError::corrupt("notifications.status", &row.status))?,
        notification: NewNotification {
            incident_id: row.incident_id,
            run_id: row.run_id,
            workflow_id: row.workflow_id,
            step_id: row.step_id,
            channel: row.channel,
            recipients,
            subject: row.subject,
            body: row.body,
        },
        created_at: time::from_micros(row.created_at),
    })
}

impl WriteTxn {
    /// Queues notifications, with multi-row inserts.
    pub async fn insert_notifications(&self, notifications: Vec<NewNotification>) -> Result<(), StoreError> {
        if notifications.is_empty() {
            return Ok(());
        }
        let now = time::to_micros(time::now());
        let rows: Vec<notification::ActiveModel> = notifications
            .into_iter()
            .map(|n| notification::ActiveModel {
                id: sea_orm::ActiveValue::NotSet,
                incident_id: Set(n.incident_id),
                run_id: Set(n.run_id),
                workflow_id: Set(n.workflow_id),
                step_id: Set(n.step_id),
                channel: Set(n.channel),
                recipients: Set(serde_json::to_string(&n.recipients).unwrap_or_else(|_| "[]".into())),
                subject: Set(n.subject),
                body: Set(n.body),
                status: Set(NotificationStatus::Queued.as_str().into()),
                created_at: Set(now),
            })
            .collect();
        for chunk in crate::batch::shaped(&rows) {
            notification::Entity::insert_many(chunk.to_vec()).exec_without_returning(&self.txn).await?;
        }
        self.wrote(Topic::Notifications);
        Ok(())
    }
}

impl Store {
    /// Notifications, oldest first.
    pub async fn list_notifications(
        &self,
        incident_id: Option<i64>,
        status: Option<NotificationStatus>,
        after_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let mut q = notification::Entity::find().order_by_asc(notification::Column::Id).limit(limit.clamp(1, 1000));
        if let Some(i) = incident_id {
            q = q.filter(notification::Column::IncidentId.eq(i));
        }
        if let Some(s) = status {
            q = q.filter(notification::Column::Status.eq(s.as_str()));
        }
        if let Some(a) = after_id {
            q = q.filter(notification::Column::Id.gt(a));
        }
        q.all(&self.read).await?.into_iter().map(notification_from_row).collect()
    }
}
