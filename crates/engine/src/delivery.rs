//! The delivery worker: a reader of the notifications outbox in the one
//! outbox loop. It claims due notifications under a lease, resolves their
//! recipients (usernames, `group:<name>` to the members, `watchers` to the
//! ticket's watchers, plain addresses), renders the template with the
//! ticket (the one an admin stored for the notification's
//! `<workflow>.<step>`, else their `default`, else the built-in one), sends
//! the mail and records the outcome (`sent`, or `failed` with a retry, or
//! `dead`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use switchyard_domain::incident::IncidentNumber;
use switchyard_mail::Mailbox;
use switchyard_mail::message::{Outgoing, Sender, build};
use switchyard_mail::smtp::Mailer;
use switchyard_mail::template::{TemplateDocument, default_template};
use switchyard_store::{DeliveryOutcome, NotificationRecord, Store, Topic};

use crate::outbox::OutboxReader;
use crate::{EngineError, Inner};

/// Notifications claimed per batch (sent concurrently over the SMTP pool,
/// their outcomes recorded in one commit). It bounds what a node that dies
/// mid-batch sends twice.
const BATCH: u64 = 64;
/// How long a claim lasts before another node may take the notification over.
const LEASE: Duration = Duration::from_secs(120);

/// Where and how mail goes out.
#[derive(Clone)]
pub struct MailSettings {
    /// The SMTP client.
    pub mailer: Mailer,
    /// From, Reply-To and the Message-ID domain.
    pub sender: Sender,
    /// The address people open Switchyard at (links in the mail).
    pub public_url: String,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings").field("from", &self.sender.from.to_string()).field("public_url", &self.public_url).finish()
    }
}

/// The delivery reader.
pub(crate) struct Delivery {
    pub(crate) settings: Arc<MailSettings>,
}

#[async_trait]
impl OutboxReader for Delivery {
    fn name(&self) -> &'static str {
        "delivery"
    }

    fn topic(&self) -> Topic {
        Topic::Notifications
    }

    async fn next_batch(&self, inner: &Inner) -> Result<usize, EngineError> {
        let claimed = inner.store.claim_notifications_of(&inner.config.node, LEASE, BATCH, &["email"]).await?;
        let n = claimed.len();
        if n == 0 {
            return Ok(0);
        }
        let templates = Arc::new(Templates::load(&inner.store).await?);
        let sends = claimed.into_iter().map(|notification| {
            let store = inner.store.clone();
            let settings = self.settings.clone();
            let templates = templates.clone();
            async move {
                let outcome = deliver(&store, &settings, &templates, &notification).await;
                if let DeliveryOutcome::Failed { error, .. } = &outcome {
                    tracing::warn!(notification = notification.id, %error, "delivery failed");
                }
                (notification.id, outcome)
            }
        });
        // One commit records the whole batch's outcomes.
        let outcomes = futures::future::join_all(sends).await;
        inner.store.finish_notifications_with(&inner.config.node, &outcomes, inner.config.retry_base).await?;
        Ok(n)
    }
}

/// The templates admins stored, read once per batch.
struct Templates(HashMap<String, TemplateDocument>);

impl Templates {
    async fn load(store: &Store) -> Result<Templates, EngineError> {
        let mut map = HashMap::new();
        for (name, doc) in store.mail_templates().await? {
            match serde_json::from_value::<TemplateDocument>(doc) {
                Ok(t) => {
                    map.insert(name, t);
                }
                Err(e) => {
                    tracing::warn!(template = %name, error = %e, "a stored mail template does not read; the next one in line is used")
                }
            }
        }
        Ok(Templates(map))
    }

    /// The template of a notification: `<workflow>.<step>`, else `default`,
    /// else the built-in one.
    fn for_notification(&self, n: &NotificationRecord) -> std::borrow::Cow<'_, TemplateDocument> {
        let own = format!("{}.{}", n.notification.workflow_id, n.notification.step_id);
        match self.0.get(&own).or_else(|| self.0.get("default")) {
            Some(t) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(default_template()),
        }
    }
}

fn failed(error: impl Into<String>, permanent: bool) -> DeliveryOutcome {
    DeliveryOutcome::Failed { error: error.into(), permanent }
}

/// One recipient of a notification, as written.
#[derive(Debug, PartialEq, Eq)]
enum Recipient<'a> {
    /// A username or a plain address.
    Name(&'a str),
    /// `group:<name>`: the group's members.
    Group(&'a str),
}

/// The recipients as written, with `watchers` replaced by the ticket's
/// watchers.
fn expand<'a>(recipients: &'a [String], watchers: &'a [String]) -> Vec<Recipient<'a>> {
    recipients
        .iter()
        .flat_map(|r| match (r.as_str(), r.strip_prefix("group:")) {
            ("watchers", _) => watchers.iter().map(|w| Recipient::Name(w)).collect(),
            (_, Some(group)) => vec![Recipient::Group(group)],
            (name, None) => vec![Recipient::Name(name)],
        })
        .collect()
}

/// The addresses of a notification's recipients: usernames, plain
/// addresses, `group:<name>` (its members) and `watchers` (the ticket's).
async fn addresses(store: &Store, recipients: &[String], watchers: &[String]) -> Result<Vec<Mailbox>, EngineError> {
    let mut names = Vec::new();
    for r in expand(recipients, watchers) {
        match r {
            Recipient::Group(group) => match store.get_group(group).await {
                Ok(g) => names.extend(g.members),
                Err(switchyard_store::StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            },
            Recipient::Name(name) => names.push(name.to_owned()),
        }
    }
    let mut out: Vec<Mailbox> = Vec::new();
    for name in names {
        let address = if name.contains('@') {
            Some(name)
        } else {
            match store.get_user(&name).await {
                Ok(u) if u.user.active => u.user.email,
                Ok(_) | Err(switchyard_store::StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            }
        };
        if let Some(mailbox) = address.and_then(|a| a.parse::<Mailbox>().ok())
            && !out.iter().any(|m| m.email == mailbox.email)
        {
            out.push(mailbox);
        }
    }
    Ok(out)
}

async fn deliver(store: &Store, settings: &MailSettings, templates: &Templates, n: &NotificationRecord) -> DeliveryOutcome {
    let ticket = match n.notification.incident_id {
        Some(id) => match store.get_incident(IncidentNumber(id)).await {
            Ok(r) => Some(r),
            Err(e) => return failed(format!("reading the ticket: {e}"), false),
        },
        None => None,
    };
    let watchers = ticket.as_ref().map(|t| t.watchers.as_slice()).unwrap_or_default();
    let to = match addresses(store, &n.notification.recipients, watchers).await {
        Ok(to) if to.is_empty() => return failed("no recipient has an email address", true),
        Ok(to) => to,
        Err(e) => return failed(format!("resolving recipients: {e}"), false),
    };
    let number = ticket.as_ref().map(|t| t.number());
    let base = settings.public_url.trim_end_matches('/');
    let context = json!({
        "subject": n.notification.subject,
        "body": n.notification.body,
        "ticket": ticket.as_ref().map(|t| json!({
            "number": t.number(),
            "title": t.incident.title,
            "status": t.incident.status.as_str(),
            "priority": t.incident.priority.to_string(),
            "requester": t.requester,
            "assignment_group": t.assignment_group,
            "assignee": t.assignee,
        })),
        "links": number.as_ref().map(|n| json!({
            "portal": format!("{base}/portal/incidents/{n}"),
            "console": format!("{base}/console/incidents/{n}"),
        })),
    });
    let rendered = match templates.for_notification(n).render(&context) {
        Ok(r) => r,
        Err(e) => return failed(format!("template: {e}"), true),
    };
    let (message, message_id) =
        match build(&settings.sender, &Outgoing { notification_id: n.id, number: number.as_deref(), to: &to, rendered: &rendered }) {
            Ok(m) => m,
            Err(e) => return failed(e.to_string(), true),
        };
    match settings.mailer.send(message).await {
        Ok(()) => DeliveryOutcome::Sent { message_id },
        Err(e) => failed(e.message, e.permanent),
    }
}

#[cfg(test)]
mod tests {
    use super::{Recipient, expand};

    #[test]
    fn watchers_expand_to_the_tickets_watchers() {
        let recipients = vec!["watchers".to_owned(), "group:dba".to_owned(), "rita".to_owned(), "ops@example.com".to_owned()];
        let watchers = vec!["bob".to_owned(), "carol".to_owned()];
        assert_eq!(
            expand(&recipients, &watchers),
            vec![
                Recipient::Name("bob"),
                Recipient::Name("carol"),
                Recipient::Group("dba"),
                Recipient::Name("rita"),
                Recipient::Name("ops@example.com")
            ]
        );
        assert_eq!(expand(&recipients[..1], &[]), vec![], "a ticket without watchers adds no one");
    }
}
