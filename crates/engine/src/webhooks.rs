//! Outbound webhooks: what other systems hear.
//!
//! - The publisher, a reader of the event log in the one outbox loop with
//!   its own position (`webhooks`), turns each change (the events of one
//!   incident, actor and instant) into event types (`ticket.created`,
//!   `ticket.updated`, `ticket.resolved`, `ticket.closed`, `sla.warning`,
//!   `sla.breached`, `incident.paged`, `incident.acknowledged`) and queues
//!   one delivery per subscription that wants the type and whose filter
//!   (the workflow condition language, on the ticket) holds, in the
//!   transaction that moves its position. Alert intake queues
//!   `alert.received` itself, in the alert's transaction.
//! - The delivery worker, a reader of the notifications outbox, claims
//!   notifications of channels `webhook` and `chat` under a lease, posts
//!   them concurrently (each with its subscription's timeout, so a receiver
//!   that hangs is cut off and never holds up the others' sends), signs
//!   Standard Webhooks deliveries (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature` with every current secret, two during a
//!   rotation's overlap) and records the outcomes in one commit: a failure
//!   is retried with exponential backoff, like mail. Plugins' `notify` on
//!   channel `webhook` or `chat` names subscriptions as recipients and goes
//!   the same way.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use switchyard_domain::history::EventKind;
use switchyard_domain::incident::IncidentNumber;
use switchyard_store::{DeliveryOutcome, EventRecord, NewNotification, NotificationRecord, Store, StoreError, SubscriptionRecord, Topic};
use switchyard_webhooks::chat::{mattermost_message, slack_message};
use switchyard_webhooks::signing::{Secret, sign};
use switchyard_workflow::condition::ConditionGroup;

use crate::outbox::OutboxReader;
use crate::services::ticket_from_record;
use crate::{EngineError, Inner};

/// The event types a subscription can want.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// An incident was logged.
    TicketCreated,
    /// Fields, status or comments changed (other than resolving or closing).
    TicketUpdated,
    /// It was resolved.
    TicketResolved,
    /// It was closed.
    TicketClosed,
    /// An SLA warning threshold passed.
    SlaWarning,
    /// An SLA target was breached.
    SlaBreached,
    /// A monitoring alert arrived.
    AlertReceived,
    /// Someone was paged.
    IncidentPaged,
    /// Someone acknowledged.
    IncidentAcknowledged,
}

impl EventType {
    /// Every type.
    pub const ALL: &'static [EventType] = &[
        EventType::TicketCreated,
        EventType::TicketUpdated,
        EventType::TicketResolved,
        EventType::TicketClosed,
        EventType::SlaWarning,
        EventType::SlaBreached,
        EventType::AlertReceived,
        EventType::IncidentPaged,
        EventType::IncidentAcknowledged,
    ];

    /// Its name in payloads and subscriptions.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TicketCreated => "ticket.created",
            EventType::TicketUpdated => "ticket.updated",
            EventType::TicketResolved => "ticket.resolved",
            EventType::TicketClosed => "ticket.closed",
            EventType::SlaWarning => "sla.warning",
            EventType::SlaBreached => "sla.breached",
            EventType::AlertReceived => "alert.received",
            EventType::IncidentPaged => "incident.paged",
            EventType::IncidentAcknowledged => "incident.acknowledged",
        }
    }

    /// The type with this name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|t| t.as_str() == name)
    }

    /// What a change (its events, oldest first) means to subscribers.
    pub fn of_change(events: &[&EventRecord]) -> Option<EventType> {
        let first = events.first()?;
        let status_to = events.iter().rev().find(|e| e.kind == EventKind::StatusChanged).and_then(|e| e.new_value.as_ref()?.as_str());
        Some(match first.kind {
            EventKind::Created => EventType::TicketCreated,
            EventKind::SlaWarning => EventType::SlaWarning,
            EventKind::SlaBreached => EventType::SlaBreached,
            EventKind::Paged => EventType::IncidentPaged,
            EventKind::Acknowledged => EventType::IncidentAcknowledged,
            EventKind::WorkNote if events.iter().all(|e| e.kind == EventKind::WorkNote) => return None,
            _ => match status_to {
                Some("resolved") => EventType::TicketResolved,
                Some("closed") => EventType::TicketClosed,
                _ => EventType::TicketUpdated,
            },
        })
    }
}

/// The formats of a subscription: how a delivery's body looks.
pub const FORMATS: &[&str] = &["standard", "slack", "mattermost"];

/// The channel of a subscription's deliveries.
pub fn channel_of(format: &str) -> &'static str {
    if format == "standard" { "webhook" } else { "chat" }
}

/// Reads subscriptions for the code that queues deliveries.
#[derive(Clone)]
pub struct Subscriptions {
    store: Store,
}

impl Subscriptions {
    /// Over a store.
    pub fn new(store: Store) -> Self {
        Subscriptions { store }
    }

    /// The enabled subscriptions that want `event`.
    pub async fn wanting(&self, event: EventType) -> Result<Subscribers, StoreError> {
        let all = self.store.list_subscriptions().await?;
        Ok(Subscribers::of(all.into_iter().filter(|s| s.events.iter().any(|e| e == event.as_str())).collect()))
    }

    /// Every enabled subscription.
    pub async fn all(&self) -> Result<Subscribers, StoreError> {
        Ok(Subscribers::of(self.store.list_subscriptions().await?))
    }
}

/// Enabled subscriptions with their filters read.
#[derive(Clone, Default)]
pub struct Subscribers(Arc<Vec<(SubscriptionRecord, Option<ConditionGroup>)>>);

impl Subscribers {
    fn of(list: Vec<SubscriptionRecord>) -> Self {
        let list = list
            .into_iter()
            .filter(|s| s.enabled)
            .filter_map(|s| {
                let filter = match &s.filter {
                    Some(f) => match serde_json::from_value::<ConditionGroup>(f.clone()) {
                        Ok(g) => Some(g),
                        Err(e) => {
                            tracing::warn!(subscription = %s.name, error = %e, "a subscription's filter does not read; it receives nothing");
                            return None;
                        }
                    },
                    None => None,
                };
                Some((s, filter))
            })
            .collect();
        Subscribers(Arc::new(list))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One delivery per subscription that wants `event` and whose filter
    /// holds on `ticket` (a filter is not applied when there is no ticket).
    pub fn deliveries(&self, event: EventType, incident_id: Option<i64>, ticket: Option<&Value>, data: Value) -> Vec<NewNotification> {
        let body = json!({"type": event.as_str(), "timestamp": Utc::now().to_rfc3339(), "data": data}).to_string();
        self.0
            .iter()
            .filter(|(s, _)| s.events.iter().any(|e| e == event.as_str()))
            .filter(|(s, filter)| match (filter, ticket) {
                (Some(f), Some(t)) => f.evaluate(t).unwrap_or_else(|e| {
                    tracing::warn!(subscription = %s.name, error = %e, "a subscription's filter failed to evaluate; not delivering");
                    false
                }),
                _ => true,
            })
            .map(|(s, _)| NewNotification {
                incident_id,
                run_id: 0,
                workflow_id: "webhooks".into(),
                step_id: event.as_str().into(),
                channel: channel_of(&s.format).into(),
                recipients: vec![s.name.clone()],
                subject: event.as_str().into(),
                body: body.clone(),
                subscription_id: Some(s.id),
            })
            .collect()
    }
}

/// A ticket's part of a payload: the plugin contract's ticket record.
pub(crate) fn ticket_json(record: &switchyard_store::IncidentRecord) -> Value {
    serde_json::to_value(ticket_from_record(record)).unwrap_or(Value::Null)
}

/// One line about a ticket, for chat formats and summaries.
fn ticket_line(event: EventType, ticket: &Value) -> String {
    let s = |k: &str| ticket.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let priority = ticket.get("priority").and_then(Value::as_u64).map(|p| format!(" (P{p})")).unwrap_or_default();
    let what = match event {
        EventType::TicketCreated => "opened",
        EventType::TicketUpdated => "updated",
        EventType::TicketResolved => "resolved",
        EventType::TicketClosed => "closed",
        EventType::SlaWarning => "SLA warning",
        EventType::SlaBreached => "SLA breached",
        EventType::AlertReceived => "alert",
        EventType::IncidentPaged => "paged",
        EventType::IncidentAcknowledged => "acknowledged",
    };
    format!("{} {what}: {}{priority}", s("number"), s("title"))
}

/// The webhook publisher (event log reader).
pub(crate) struct Publisher {
    pub(crate) public_url: String,
}

const POSITION: &str = "webhooks";

#[async_trait]
impl OutboxReader for Publisher {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn topic(&self) -> Topic {
        Topic::Events
    }

    async fn next_batch(&self, inner: &Inner) -> Result<usize, EngineError> {
        let store = &inner.store;
        let position = store.position(POSITION).await?;
        let events = store.events_after(position, inner.config.dispatch_batch).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let subscribers = Subscriptions::new(store.clone()).all().await?;
        let mut notifications = Vec::new();
        if !subscribers.is_empty() {
            // The events of one change: same incident, actor and instant.
            let mut changes: Vec<Vec<&EventRecord>> = Vec::new();
            for e in &events {
                match changes.last_mut() {
                    Some(c)
                        if c[0].number == e.number
                            && c[0].created_at == e.created_at
                            && c[0].actor.name == e.actor.name
                            && !matches!(e.kind, EventKind::Created | EventKind::Paged | EventKind::Acknowledged) =>
                    {
                        c.push(e)
                    }
                    _ => changes.push(vec![e]),
                }
            }
            let mut numbers: Vec<IncidentNumber> = changes.iter().map(|c| c[0].number).collect();
            numbers.sort();
            numbers.dedup();
            let tickets: std::collections::HashMap<IncidentNumber, switchyard_store::IncidentRecord> =
                store.incidents(&numbers).await?.into_iter().map(|r| (r.incident.number, r)).collect();
            let base = self.public_url.trim_end_matches('/');
            for change in &changes {
                let Some(event) = EventType::of_change(change) else { continue };
                let Some(record) = tickets.get(&change[0].number) else { continue };
                let ticket = ticket_json(record);
                let number = record.number();
                let changes: Vec<Value> = change
                    .iter()
                    .filter(|e| e.visibility == switchyard_store::Visibility::Public || !matches!(e.kind, EventKind::WorkNote))
                    .map(|e| {
                        json!({"kind": e.kind.as_str(), "field": e.field, "old": e.old_value, "new": e.new_value,
                               "body": if e.kind == EventKind::Comment || e.kind == EventKind::Paged { e.body.clone() } else { None }})
                    })
                    .collect();
                let data = json!({
                    "summary": ticket_line(event, &ticket),
                    "link": format!("{base}/console/incidents/{number}"),
                    "ticket": ticket.clone(),
                    "actor": change[0].actor.name,
                    "changes": changes,
                });
                notifications.extend(subscribers.deliveries(event, Some(record.incident.number.0), Some(&ticket), data));
            }
        }
        let txn = store.begin().await?;
        if txn.lock_position(POSITION).await? != position {
            // Another node published this stretch meanwhile.
            txn.rollback().await?;
            return Ok(events.len());
        }
        txn.insert_notifications(notifications).await?;
        txn.set_position(POSITION, last).await?;
        txn.commit().await?;
        Ok(events.len())
    }
}

/// Notifications claimed per batch of webhook deliveries.
const BATCH: u64 = 64;
/// How long a claim lasts before another node may take it over.
const LEASE: Duration = Duration::from_secs(120);

/// The webhook and chat delivery reader.
pub(crate) struct WebhookDelivery {
    pub(crate) client: reqwest::Client,
}

impl WebhookDelivery {
    pub(crate) fn new() -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("Switchyard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(16)
            .build()
            .unwrap_or_default();
        WebhookDelivery { client }
    }
}

#[async_trait]
impl OutboxReader for WebhookDelivery {
    fn name(&self) -> &'static str {
        "webhook-delivery"
    }

    fn topic(&self) -> Topic {
        Topic::Notifications
    }

    async fn next_batch(&self, inner: &Inner) -> Result<usize, EngineError> {
        let claimed = inner.store.claim_notifications_of(&inner.config.node, LEASE, BATCH, &["webhook", "chat"]).await?;
        let n = claimed.len();
        if n == 0 {
            return Ok(0);
        }
        let sends = claimed.into_iter().map(|notification| {
            let store = inner.store.clone();
            let client = self.client.clone();
            async move {
                let outcome = post(&store, &client, &notification).await;
                if let DeliveryOutcome::Failed { error, .. } = &outcome {
                    tracing::warn!(notification = notification.id, %error, "webhook delivery failed");
                }
                (notification.id, outcome)
            }
        });
        let outcomes = futures::future::join_all(sends).await;
        inner.store.finish_notifications_with(&inner.config.node, &outcomes, inner.config.retry_base).await?;
        Ok(n)
    }
}

fn failed(error: impl Into<String>, permanent: bool) -> DeliveryOutcome {
    DeliveryOutcome::Failed { error: error.into(), permanent }
}

/// The subscription a notification goes to: the one it names, else the
/// one its first recipient names (a plugin's `notify`).
async fn subscription_of(store: &Store, n: &NotificationRecord) -> Result<Option<(SubscriptionRecord, Vec<String>)>, StoreError> {
    let id = match n.notification.subscription_id {
        Some(id) => id,
        None => match n.notification.recipients.first() {
            Some(name) => match store.subscription(name).await {
                Ok(s) => s.id,
                Err(StoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            },
            None => return Ok(None),
        },
    };
    match store.subscription_secrets(id).await {
        Ok(found) => Ok(Some(found)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The body posted for a notification: a subscription's payload as queued,
/// or, for a plugin's notification, a `notification` payload built now;
/// then the format's own shape for chat.
async fn body_for(store: &Store, n: &NotificationRecord, format: &str) -> Result<Value, String> {
    let payload: Value = if n.notification.subscription_id.is_some() {
        serde_json::from_str(&n.notification.body).map_err(|e| format!("the queued payload does not read: {e}"))?
    } else {
        let ticket = match n.notification.incident_id {
            Some(id) => Some(store.get_incident(IncidentNumber(id)).await.map_err(|e| format!("reading the ticket: {e}"))?),
            None => None,
        };
        json!({"type": "notification", "timestamp": Utc::now().to_rfc3339(), "data": {
            "summary": n.notification.subject,
            "subject": n.notification.subject,
            "body": n.notification.body,
            "workflow": n.notification.workflow_id,
            "step": n.notification.step_id,
            "ticket": ticket.as_ref().map(ticket_json),
        }})
    };
    let data = &payload["data"];
    let summary = data["summary"].as_str().unwrap_or_default();
    let text = match data.get("body").and_then(Value::as_str) {
        Some(body) if !body.is_empty() => format!("{summary}\n{body}"),
        _ => summary.to_owned(),
    };
    let link = data.get("link").and_then(Value::as_str).map(|url| ("Open in Switchyard", url));
    Ok(match format {
        "slack" => slack_message(&text, link),
        "mattermost" => mattermost_message(&text, link),
        _ => payload,
    })
}

/// Posts one delivery.
async fn post(store: &Store, client: &reqwest::Client, n: &NotificationRecord) -> DeliveryOutcome {
    let (subscription, secrets) = match subscription_of(store, n).await {
        Ok(Some(found)) => found,
        Ok(None) => return failed("no such webhook subscription", true),
        Err(e) => return failed(format!("reading the subscription: {e}"), false),
    };
    if !subscription.enabled {
        return failed(format!("subscription `{}` is disabled", subscription.name), true);
    }
    let body = match body_for(store, n, &subscription.format).await {
        Ok(b) => b.to_string(),
        Err(e) => return failed(e, true),
    };
    let msg_id = format!("msg_{}", n.replay_of.unwrap_or(n.id));
    let timeout = Duration::from_millis(u64::try_from(subscription.timeout_ms.max(100)).unwrap_or(10_000));
    let mut request = client.post(&subscription.url).timeout(timeout).header("content-type", "application/json");
    if subscription.format == "standard" {
        let parsed: Vec<Secret> = secrets.iter().filter_map(|s| Secret::parse(s).ok()).collect();
        if parsed.is_empty() {
            return failed("the subscription's secret does not read", true);
        }
        let timestamp = Utc::now().timestamp();
        let refs: Vec<&Secret> = parsed.iter().collect();
        request = request
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign(&refs, &msg_id, timestamp, body.as_bytes()));
    }
    match request.body(body).send().await {
        Ok(response) if response.status().is_success() => DeliveryOutcome::Sent { message_id: msg_id },
        Ok(response) => {
            let status = response.status();
            let text: String = response.text().await.unwrap_or_default().chars().take(200).collect();
            // 410 Gone: the receiver says it will never take deliveries again.
            failed(format!("HTTP {status}: {text}"), status == reqwest::StatusCode::GONE)
        }
        Err(e) if e.is_timeout() => failed(format!("no answer within {} ms", timeout.as_millis()), false),
        // Without the URL: an incoming-webhook URL is itself a credential.
        Err(e) => failed(format!("sending: {}", e.without_url()), false),
    }
}
