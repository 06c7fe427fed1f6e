//! Outbound webhook subscriptions: where other systems want to hear what
//! happened (a URL, the events, an optional filter, the format), with the
//! signing secret and, during a rotation, the previous one until the
//! overlap ends. Their deliveries are notifications (channel `webhook`, or
//! `chat` for Slack and Mattermost incoming webhooks) that name the
//! subscription, so the delivery log of a subscription is a list of
//! notifications, and a replay is a new notification that names the one
//! it repeats.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use switchyard_domain::DomainError;

use crate::entity::{notification, webhook_subscription};
use crate::error::{StoreError, stored_json};
use crate::notifications::{NotificationRecord, NotificationStatus, notification_from_row};
use crate::store::Store;
use crate::time;
use crate::txn::Topic;

/// A subscription as stored (its secrets only through
/// [`Store::subscription_secrets`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Where deliveries are posted.
    pub url: String,
    /// `standard` (Standard Webhooks, signed JSON), `slack` or `mattermost`
    /// (their incoming-webhook message formats).
    pub format: String,
    /// The event types it wants (`ticket.created`...).
    pub events: Vec<String>,
    /// A condition on the ticket (the workflow condition language).
    pub filter: Option<Value>,
    /// Until when the previous secret still signs, during a rotation.
    pub previous_until: Option<DateTime<Utc>>,
    /// How long a receiver may take.
    pub timeout_ms: i32,
    /// Whether it receives anything.
    pub enabled: bool,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Changed at.
    pub updated_at: DateTime<Utc>,
}

/// A subscription to create or replace.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubscription {
    /// Unique name.
    pub name: String,
    /// URL.
    pub url: String,
    /// Format.
    pub format: String,
    /// Event types.
    pub events: Vec<String>,
    /// Filter.
    pub filter: Option<Value>,
    /// Timeout.
    pub timeout_ms: i32,
    /// Enabled.
    pub enabled: bool,
}

fn subscription_from_row(row: webhook_subscription::Model) -> Result<SubscriptionRecord, StoreError> {
    let events: Vec<String> = serde_json::from_str(&row.events).map_err(|e| StoreError::corrupt("webhook_subscriptions.events", e))?;
    Ok(SubscriptionRecord {
        filter: row.filter.as_deref().map(|f| stored_json("webhook_subscriptions.filter", f)).transpose()?,
        id: row.id,
        name: row.name,
        url: row.url,
        format: row.format,
        events,
        previous_until: row.previous_until.map(time::from_micros),
        timeout_ms: row.timeout_ms,
        enabled: row.enabled,
        created_at: time::from_micros(row.created_at),
        updated_at: time::from_micros(row.updated_at),
    })
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty() && name.len() <= 100 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(DomainError::invalid("name", "format", "1 to 100 letters, digits, `-` or `_`").into()) }
}

async fn find_row(conn: &impl sea_orm::ConnectionTrait, name: &str) -> Result<webhook_subscription::Model, StoreError> {
    webhook_subscription::Entity::find()
        .filter(webhook_subscription::Column::Name.eq(name))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("webhook subscription", name))
}

impl Store {
    /// Creates a subscription signed with `secret`.
    pub async fn create_subscription(&self, new: NewSubscription, secret: &str) -> Result<SubscriptionRecord, StoreError> {
        check_name(&new.name)?;
        let now = time::to_micros(time::now());
        let txn = self.begin().await?;
        if webhook_subscription::Entity::find().filter(webhook_subscription::Column::Name.eq(&new.name)).one(&*txn).await?.is_some() {
            return Err(StoreError::Conflict { field: "name".into(), message: format!("webhook subscription `{}` exists", new.name) });
        }
        let row = webhook_subscription::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            name: Set(new.name),
            url: Set(new.url),
            format: Set(new.format),
            events: Set(serde_json::to_string(&new.events).unwrap_or_else(|_| "[]".into())),
            filter: Set(new.filter.map(|f| f.to_string())),
            secret: Set(secret.to_owned()),
            previous_secret: Set(None),
            previous_until: Set(None),
            timeout_ms: Set(new.timeout_ms),
            enabled: Set(new.enabled),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&*txn)
        .await
        .map_err(|e| crate::error::unique_as_conflict(e, "name", "a webhook subscription of this name exists"))?;
        txn.commit().await?;
        subscription_from_row(row)
    }

    /// Replaces a subscription's settings (not its secret).
    pub async fn update_subscription(&self, name: &str, new: NewSubscription) -> Result<SubscriptionRecord, StoreError> {
        let txn = self.begin().await?;
        let mut active: webhook_subscription::ActiveModel = find_row(&*txn, name).await?.into();
        active.url = Set(new.url);
        active.format = Set(new.format);
        active.events = Set(serde_json::to_string(&new.events).unwrap_or_else(|_| "[]".into()));
        active.filter = Set(new.filter.map(|f| f.to_string()));
        active.timeout_ms = Set(new.timeout_ms);
        active.enabled = Set(new.enabled);
        active.updated_at = Set(time::to_micros(time::now()));
        let row = active.update(&*txn).await?;
        txn.commit().await?;
        subscription_from_row(row)
    }

    /// Signs with `secret` from now on; the current secret keeps signing
    /// too until `overlap_until`, so receivers can switch without a gap.
    pub async fn rotate_subscription_secret(
        &self,
        name: &str,
        secret: &str,
        overlap_until: DateTime<Utc>,
    ) -> Result<SubscriptionRecord, StoreError> {
        let txn = self.begin().await?;
        let row = find_row(&*txn, name).await?;
        let previous = row.secret.clone();
        let mut active: webhook_subscription::ActiveModel = row.into();
        active.previous_secret = Set(Some(previous));
        active.previous_until = Set(Some(time::to_micros(overlap_until)));
        active.secret = Set(secret.to_owned());
        active.updated_at = Set(time::to_micros(time::now()));
        let row = active.update(&*txn).await?;
        txn.commit().await?;
        subscription_from_row(row)
    }

    /// Deletes a subscription (its delivery log stays).
    pub async fn delete_subscription(&self, name: &str) -> Result<(), StoreError> {
        let txn = self.begin().await?;
        let row = find_row(&*txn, name).await?;
        webhook_subscription::Entity::delete_by_id(row.id).exec(&*txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Every subscription, by name.
    pub async fn list_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let rows = webhook_subscription::Entity::find().order_by_asc(webhook_subscription::Column::Name).all(&self.read).await?;
        rows.into_iter().map(subscription_from_row).collect()
    }

    /// One subscription by name.
    pub async fn subscription(&self, name: &str) -> Result<SubscriptionRecord, StoreError> {
        subscription_from_row(find_row(&self.read, name).await?)
    }

    /// One subscription by id, with the secrets that sign its deliveries
    /// now: the current one, and the previous one while the overlap lasts.
    pub async fn subscription_secrets(&self, id: i64) -> Result<(SubscriptionRecord, Vec<String>), StoreError> {
        let row = webhook_subscription::Entity::find_by_id(id)
            .one(&self.read)
            .await?
            .ok_or_else(|| StoreError::not_found("webhook subscription", id))?;
        let now = time::to_micros(time::now());
        let mut secrets = vec![row.secret.clone()];
        if let (Some(previous), Some(until)) = (&row.previous_secret, row.previous_until)
            && until > now
        {
            secrets.push(previous.clone());
        }
        Ok((subscription_from_row(row)?, secrets))
    }

    /// A subscription's deliveries, newest first, before an id.
    pub async fn subscription_deliveries(
        &self,
        subscription_id: i64,
        status: Option<NotificationStatus>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let mut q = notification::Entity::find()
            .filter(notification::Column::SubscriptionId.eq(subscription_id))
            .order_by_desc(notification::Column::Id)
            .limit(limit.clamp(1, 500));
        if let Some(s) = status {
            q = q.filter(notification::Column::Status.eq(s.as_str()));
        }
        if let Some(b) = before {
            q = q.filter(notification::Column::Id.lt(b));
        }
        q.all(&self.read).await?.into_iter().map(notification_from_row).collect()
    }

    /// Queues a delivery again as a new notification with the same payload
    /// and `webhook-id` (receivers deduplicate on it); returns the new one.
    pub async fn replay_delivery(&self, subscription_id: i64, notification_id: i64) -> Result<NotificationRecord, StoreError> {
        let txn = self.begin().await?;
        let original = notification::Entity::find_by_id(notification_id)
            .filter(notification::Column::SubscriptionId.eq(subscription_id))
            .one(&*txn)
            .await?
            .ok_or_else(|| StoreError::not_found("delivery", notification_id))?;
        let now = time::to_micros(time::now());
        let row = notification::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            incident_id: Set(original.incident_id),
            run_id: Set(original.run_id),
            workflow_id: Set(original.workflow_id),
            step_id: Set(original.step_id),
            channel: Set(original.channel),
            recipients: Set(original.recipients),
            subject: Set(original.subject),
            body: Set(original.body),
            status: Set(NotificationStatus::Queued.as_str().into()),
            created_at: Set(now),
            attempts: Set(0),
            next_attempt_at: Set(None),
            lease_owner: Set(None),
            lease_until: Set(None),
            last_error: Set(None),
            sent_at: Set(None),
            message_id: Set(None),
            subscription_id: Set(original.subscription_id),
            replay_of: Set(Some(original.replay_of.unwrap_or(original.id))),
        }
        .insert(&*txn)
        .await?;
        txn.wrote(Topic::Notifications);
        txn.commit().await?;
        notification_from_row(row)
    }
}
