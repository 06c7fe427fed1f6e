//! The notification outbox: what workflows asked to tell whom, queued in
//! the same transaction as the run that asked, and where each delivery
//! stands: `queued -> sending -> sent`, or `failed` with the error and the
//! next attempt (exponential backoff), `dead` after [`MAX_ATTEMPTS`]. A
//! node claims notifications under a lease (`SKIP LOCKED` on PostgreSQL),
//! so several nodes never send the same one at once; a node that dies
//! mid-send leaves a lease that expires, and the notification is tried
//! again (delivery is at least once; the Message-ID stays the same, so a
//! mail client shows a repeat as one message).

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
    /// A node is delivering it (under a lease).
    Sending,
    /// Delivered.
    Sent,
    /// The last attempt failed; tried again at `next_attempt_at`.
    Failed,
    /// Given up on (a permanent refusal, or too many attempts); an admin may retry it.
    Dead,
}

impl NotificationStatus {
    /// Every status.
    pub const ALL: &'static [NotificationStatus] = &[
        NotificationStatus::Queued,
        NotificationStatus::Sending,
        NotificationStatus::Sent,
        NotificationStatus::Failed,
        NotificationStatus::Dead,
    ];

    /// The stable name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Queued => "queued",
            NotificationStatus::Sending => "sending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Failed => "failed",
            NotificationStatus::Dead => "dead",
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
    /// Body (for a webhook subscription's delivery, the JSON payload).
    pub body: String,
    /// The webhook subscription it is delivered to (`webhook` and `chat`
    /// channels), when it was queued for one.
    pub subscription_id: Option<i64>,
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
    /// Delivery attempts ended so far.
    pub attempts: i32,
    /// When a failed one is tried again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// The Message-ID it was sent with (for webhooks, the `webhook-id`).
    pub message_id: Option<String>,
    /// The notification this one delivers again (a replay).
    pub replay_of: Option<i64>,
}

/// Attempts before a notification is dead.
pub const MAX_ATTEMPTS: i32 = 8;

/// The wait before the first retry of a failed delivery.
pub const RETRY_BASE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long after its `attempts`-th failure a notification is tried again:
/// 30 s, doubling, at most an hour.
pub fn retry_delay(attempts: i32) -> chrono::TimeDelta {
    retry_delay_from(RETRY_BASE, attempts)
}

/// [`retry_delay`] from another first wait: `base`, doubling, at most an
/// hour.
pub fn retry_delay_from(base: std::time::Duration, attempts: i32) -> chrono::TimeDelta {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    let micros = i64::try_from(base.as_micros()).unwrap_or(i64::MAX >> 9);
    chrono::TimeDelta::microseconds((micros << exp).min(3_600_000_000))
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Delivered with this Message-ID.
    Sent {
        /// The Message-ID.
        message_id: String,
    },
    /// Not delivered.
    Failed {
        /// Why.
        error: String,
        /// Retrying cannot help (a permanent refusal, no address).
        permanent: bool,
    },
}

pub(crate) fn notification_from_row(row: notification::Model) -> Result<NotificationRecord, StoreError> {
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
            subscription_id: row.subscription_id,
        },
        created_at: time::from_micros(row.created_at),
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at.map(time::from_micros),
        last_error: row.last_error,
        sent_at: row.sent_at.map(time::from_micros),
        message_id: row.message_id,
        replay_of: row.replay_of,
    })
}

/// The row of a notification as it is queued.
pub(crate) fn queued_row(n: NewNotification, now: i64) -> notification::ActiveModel {
    notification::ActiveModel {
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
        attempts: Set(0),
        next_attempt_at: Set(None),
        lease_owner: Set(None),
        lease_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        message_id: Set(None),
        subscription_id: Set(n.subscription_id),
        replay_of: Set(None),
    }
}

impl WriteTxn {
    /// Queues one notification and returns its id.
    pub async fn insert_notification(&self, n: NewNotification) -> Result<i64, StoreError> {
        let row = sea_orm::ActiveModelTrait::insert(queued_row(n, time::to_micros(time::now())), &**self).await?;
        self.wrote(Topic::Notifications);
        Ok(row.id)
    }

    /// Queues notifications, with multi-row inserts.
    pub async fn insert_notifications(&self, notifications: Vec<NewNotification>) -> Result<(), StoreError> {
        if notifications.is_empty() {
            return Ok(());
        }
        let now = time::to_micros(time::now());
        let rows: Vec<notification::ActiveModel> = notifications.into_iter().map(|n| queued_row(n, now)).collect();
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

    /// Claims up to `limit` notifications due for delivery for `owner`
    /// until `lease` from now: queued ones, failed ones whose next attempt
    /// is due, and ones whose sender's lease expired. Oldest first.
    pub async fn claim_notifications(
        &self,
        owner: &str,
        lease: std::time::Duration,
        limit: u64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        self.claim_notifications_of(owner, lease, limit, &[]).await
    }

    /// [`Store::claim_notifications`] of some channels only (all when
    /// `channels` is empty): each delivery worker claims what it delivers.
    pub async fn claim_notifications_of(
        &self,
        owner: &str,
        lease: std::time::Duration,
        limit: u64,
        channels: &[&str],
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
        use sea_orm::{Condition, ConnectionTrait};
        let now = time::to_micros(time::now());
        let until = now + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
        let due = Condition::any()
            .add(notification::Column::Status.eq(NotificationStatus::Queued.as_str()))
            .add(
                Condition::all()
                    .add(notification::Column::Status.eq(NotificationStatus::Failed.as_str()))
                    .add(notification::Column::NextAttemptAt.lte(now)),
            )
            .add(
                Condition::all()
                    .add(notification::Column::Status.eq(NotificationStatus::Sending.as_str()))
                    .add(notification::Column::LeaseUntil.lt(now)),
            );
        let mut due = Condition::all().add(due);
        if !channels.is_empty() {
            due = due.add(notification::Column::Channel.is_in(channels.iter().copied()));
        }
        let mut pick = Query::select();
        pick.column(notification::Column::Id)
            .from(notification::Entity)
            .cond_where(due)
            .order_by(notification::Column::Id, sea_orm::Order::Asc)
            .limit(limit);
        if self.backend == crate::store::Backend::Postgres {
            pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let claim = Query::update()
            .table(notification::Entity)
            .value(notification::Column::Status, NotificationStatus::Sending.as_str())
            .value(notification::Column::LeaseOwner, owner)
            .value(notification::Column::LeaseUntil, until)
            .and_where(Expr::col(notification::Column::Id).in_subquery(pick))
            .returning_all()
            .to_owned();
        let txn = self.begin().await?;
        let stmt = txn.get_database_backend().build(&claim);
        let rows = notification::Entity::find().from_raw_sql(stmt).all(&*txn).await?;
        txn.commit().await?;
        let mut out: Vec<NotificationRecord> = rows.into_iter().map(notification_from_row).collect::<Result<_, _>>()?;
        out.sort_by_key(|n| n.id);
        Ok(out)
    }

    /// Hands back the notifications `owner` holds (a node starting again
    /// after a crash, or stopping): they are queued at once instead of
    /// waiting for their lease to expire. A mail that was accepted by the
    /// SMTP server before the crash is sent again, with the same Message-ID.
    pub async fn release_notifications(&self, owner: &str) -> Result<u64, StoreError> {
        use sea_orm::sea_query::Expr;
        let txn = self.begin().await?;
        let result = notification::Entity::update_many()
            .col_expr(notification::Column::Status, Expr::value(NotificationStatus::Queued.as_str()))
            .col_expr(notification::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(notification::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(notification::Column::Status.eq(NotificationStatus::Sending.as_str()))
            .filter(notification::Column::LeaseOwner.eq(owner))
            .exec(&*txn)
            .await?;
        if result.rows_affected > 0 {
            txn.wrote(Topic::Notifications);
        }
        txn.commit().await?;
        Ok(result.rows_affected)
    }

    /// Records how an attempt ended, if `owner` still holds the lease
    /// (otherwise another node took it over and its outcome counts).
    /// Returns the new status.
    pub async fn finish_notification(
        &self,
        id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
    ) -> Result<Option<NotificationStatus>, StoreError> {
        let mut statuses = self.finish_notifications(owner, std::slice::from_ref(&(id, outcome.clone()))).await?;
        Ok(statuses.pop().flatten())
    }

    /// Records how a batch of attempts ended, in one transaction; each
    /// outcome counts only where `owner` still holds the lease. Returns the
    /// new status of each (`None` where another node took it over).
    pub async fn finish_notifications(
        &self,
        owner: &str,
        outcomes: &[(i64, DeliveryOutcome)],
    ) -> Result<Vec<Option<NotificationStatus>>, StoreError> {
        self.finish_notifications_with(owner, outcomes, RETRY_BASE).await
    }

    /// [`Store::finish_notifications`] with another first retry wait
    /// (`retry_base`, doubling, at most an hour).
    pub async fn finish_notifications_with(
        &self,
        owner: &str,
        outcomes: &[(i64, DeliveryOutcome)],
        retry_base: std::time::Duration,
    ) -> Result<Vec<Option<NotificationStatus>>, StoreError> {
        let txn = self.begin().await?;
        let now = time::now();
        let mut statuses = Vec::with_capacity(outcomes.len());
        for (id, outcome) in outcomes {
            let Some(row) = notification::Entity::find_by_id(*id).one(&*txn).await? else {
                return Err(StoreError::not_found("notification", id));
            };
            if row.status != NotificationStatus::Sending.as_str() || row.lease_owner.as_deref() != Some(owner) {
                statuses.push(None);
                continue;
            }
            let attempts = row.attempts + 1;
            let mut active: notification::ActiveModel = row.into();
            active.attempts = Set(attempts);
            active.lease_owner = Set(None);
            active.lease_until = Set(None);
            let status = match outcome {
                DeliveryOutcome::Sent { message_id } => {
                    active.sent_at = Set(Some(time::to_micros(now)));
                    active.message_id = Set(Some(message_id.clone()));
                    active.last_error = Set(None);
                    active.next_attempt_at = Set(None);
                    NotificationStatus::Sent
                }
                DeliveryOutcome::Failed { error, permanent } => {
                    active.last_error = Set(Some(error.chars().take(2000).collect()));
                    if *permanent || attempts >= MAX_ATTEMPTS {
                        active.next_attempt_at = Set(None);
                        NotificationStatus::Dead
                    } else {
                        active.next_attempt_at = Set(Some(time::to_micros(now + retry_delay_from(retry_base, attempts))));
                        NotificationStatus::Failed
                    }
                }
            };
            active.status = Set(status.as_str().into());
            sea_orm::ActiveModelTrait::update(active, &*txn).await?;
            statuses.push(Some(status));
        }
        txn.commit().await?;
        Ok(statuses)
    }

    /// Queues a dead (or failed) notification again, now, with its attempts kept.
    pub async fn retry_notification(&self, id: i64) -> Result<NotificationRecord, StoreError> {
        let txn = self.begin().await?;
        let Some(row) = notification::Entity::find_by_id(id).one(&*txn).await? else {
            return Err(StoreError::not_found("notification", id));
        };
        if ![NotificationStatus::Dead.as_str(), NotificationStatus::Failed.as_str()].contains(&row.status.as_str()) {
            return Err(StoreError::Conflict {
                field: "status".into(),
                message: format!("only a dead or failed notification can be retried; this one is {}", row.status),
            });
        }
        let mut active: notification::ActiveModel = row.into();
        active.status = Set(NotificationStatus::Queued.as_str().into());
        active.next_attempt_at = Set(None);
        let row = sea_orm::ActiveModelTrait::update(active, &*txn).await?;
        txn.wrote(Topic::Notifications);
        txn.commit().await?;
        notification_from_row(row)
    }

    /// The notification sent with `message_id`, if any (intake uses it to
    /// recognise replies to and bounces of our own mail).
    pub async fn notification_by_message_id(&self, message_id: &str) -> Result<Option<NotificationRecord>, StoreError> {
        notification::Entity::find()
            .filter(notification::Column::MessageId.eq(message_id))
            .one(&self.read)
            .await?
            .map(notification_from_row)
            .transpose()
    }
}
