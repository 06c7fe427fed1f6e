//! Mail intake's records: every inbound message handled, with what came of
//! it, written in the same transaction as what it did (the incident it
//! opened, the comment it added, the notification a bounce failed), and the
//! files that came with it, stored once by content.
//!
//! The Message-ID is unique in `inbound_mail`: a message fetched twice (a
//! node that died before moving it out of the inbox, two nodes polling one
//! mailbox) is applied once; the second apply is a conflict on
//! `message_id`, and nothing of it is written.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use switchyard_domain::directory::Role;
use switchyard_domain::edit::Edit;
use switchyard_domain::incident::IncidentNumber;

use crate::directory::{UserRecord, sha256_hex};
use crate::entity::{attachment, blob, inbound_mail, notification, user};
use crate::error::StoreError;
use crate::history::Actor;
use crate::incidents::{CreateIncident, IncidentRecord};
use crate::notifications::{NewNotification, NotificationStatus};
use crate::store::Store;
use crate::time;
use crate::txn::WriteTxn;

/// What came of an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboundOutcome {
    /// It opened an incident.
    Created,
    /// It became a comment on an incident.
    Commented,
    /// It became a comment and reopened the resolved incident.
    Reopened,
    /// An agent's reply acknowledged the incident (stopping its paging).
    Acknowledged,
    /// It was a bounce of one of our notifications, now failed.
    Bounced,
    /// Nobody wrote it to us (auto-reply, list mail, our own mail, a
    /// bounce of nothing we sent) or the sender is over the rate limit.
    Ignored,
    /// A person wrote it, but it may not open or update a ticket (an
    /// unknown sender when they are refused, no sender).
    Refused,
    /// It could not be read or applied; kept for an admin.
    Failed,
}

impl InboundOutcome {
    /// Every outcome.
    pub const ALL: &'static [InboundOutcome] = &[
        InboundOutcome::Created,
        InboundOutcome::Commented,
        InboundOutcome::Reopened,
        InboundOutcome::Acknowledged,
        InboundOutcome::Bounced,
        InboundOutcome::Ignored,
        InboundOutcome::Refused,
        InboundOutcome::Failed,
    ];

    /// The stable name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            InboundOutcome::Created => "created",
            InboundOutcome::Commented => "commented",
            InboundOutcome::Reopened => "reopened",
            InboundOutcome::Acknowledged => "acknowledged",
            InboundOutcome::Bounced => "bounced",
            InboundOutcome::Ignored => "ignored",
            InboundOutcome::Refused => "refused",
            InboundOutcome::Failed => "failed",
        }
    }

    /// The outcome with this name.
    pub fn parse(name: &str) -> Option<InboundOutcome> {
        InboundOutcome::ALL.iter().copied().find(|o| o.as_str() == name)
    }
}

/// The facts of an inbound message, recorded whatever came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInbound {
    /// Where it came from: `imap:<user>@<host>/<folder>`, `mail-gate`, `api`.
    pub source: String,
    /// Its Message-ID (angle brackets included).
    pub message_id: Option<String>,
    /// The sender's address.
    pub sender: Option<String>,
    /// The subject.
    pub subject: String,
    /// Size of the raw message.
    pub size: i64,
    /// Why it came out as it did, in words.
    pub reason: String,
}

/// A handled inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// Record id.
    pub id: i64,
    /// When it was handled.
    pub received_at: DateTime<Utc>,
    /// The facts.
    pub mail: NewInbound,
    /// What came of it.
    pub outcome: InboundOutcome,
    /// The incident it opened or updated.
    pub incident_id: Option<i64>,
    /// The notification it answered (a bounce) or the reply it queued.
    pub notification_id: Option<i64>,
}

/// A file to attach to the incident the mail opened or updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    /// File name.
    pub filename: String,
    /// Content type (sniffed).
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Shown inline in the mail.
    pub inline: bool,
}

/// A stored attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    /// Attachment id.
    pub id: i64,
    /// Its incident.
    pub incident_id: i64,
    /// The inbound message it came with.
    pub inbound_id: Option<i64>,
    /// File name.
    pub filename: String,
    /// Content type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the content, hex: its key in the blob store.
    pub sha256: String,
    /// Shown inline in the mail.
    pub inline: bool,
    /// Stored at.
    pub created_at: DateTime<Utc>,
}

/// A requester to create for an unknown sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequester {
    /// Their address.
    pub address: String,
    /// Their name, from the mail.
    pub display_name: String,
}

/// What an inbound message does, decided by intake and applied here in one
/// transaction with its record.
#[derive(Debug, Clone)]
pub enum MailAction {
    /// Open an incident; with `new_requester`, create that requester first
    /// and log the incident for them (the request's `requester` is replaced).
    Open {
        /// The incident.
        incident: Box<CreateIncident>,
        /// A requester to create.
        new_requester: Option<NewRequester>,
    },
    /// Comment on an incident (and reopen it, when the edit says so).
    Update {
        /// The incident.
        number: IncidentNumber,
        /// The comment and any reopening.
        edit: Box<Edit>,
        /// Who.
        actor: Actor,
        /// [`InboundOutcome::Commented`] or [`InboundOutcome::Reopened`].
        outcome: InboundOutcome,
    },
    /// An agent's "ack" reply: acknowledge the incident (an incident
    /// acknowledged already is only recorded, as ignored).
    Acknowledge {
        /// The incident.
        number: IncidentNumber,
        /// Who.
        actor: Actor,
    },
    /// A bounce: the notification failed for good.
    Bounce {
        /// The notification it returns.
        notification_id: i64,
        /// What the remote server said.
        error: String,
    },
    /// Only record it (ignored, refused, failed), queueing a reply to the
    /// sender when there is one.
    Record {
        /// What came of it.
        outcome: InboundOutcome,
        /// A reply (a refusal) to queue.
        reply: Option<NewNotification>,
    },
}

fn record_from_row(row: inbound_mail::Model) -> Result<InboundRecord, StoreError> {
    Ok(InboundRecord {
        id: row.id,
        received_at: time::from_micros(row.received_at),
        outcome: InboundOutcome::parse(&row.outcome).ok_or_else(|| StoreError::corrupt("inbound_mail.outcome", &row.outcome))?,
        incident_id: row.incident_id,
        notification_id: row.notification_id,
        mail: NewInbound {
            source: row.source,
            message_id: row.message_id,
            sender: row.sender,
            subject: row.subject,
            size: row.size,
            reason: row.reason,
        },
    })
}

fn attachment_from_row(row: attachment::Model) -> AttachmentRecord {
    AttachmentRecord {
        id: row.id,
        incident_id: row.incident_id,
        inbound_id: row.inbound_id,
        filename: row.filename,
        content_type: row.content_type,
        size: row.size,
        sha256: row.sha256,
        inline: row.inline,
        created_at: time::from_micros(row.created_at),
    }
}

/// A username for a new requester, from their address: the local part as
/// a handle, then with a number when that is taken.
fn username_candidates(address: &str) -> Vec<String> {
    let local = address.split('@').next().unwrap_or_default().to_ascii_lowercase();
    let mut handle: String =
        local.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).take(56).collect();
    handle = handle.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned();
    if handle.is_empty() {
        handle = "requester".into();
    }
    std::iter::once(handle.clone()).chain((2..=50).map(|n| format!("{handle}-{n}"))).collect()
}

impl Store {
    /// The active or inactive user with this address (case-insensitive).
    pub async fn user_by_email(&self, address: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = user::Entity::find()
            .filter(Expr::expr(Func::lower(Expr::col(user::Column::Email))).eq(address.to_lowercase()))
            .order_by_asc(user::Column::Id)
            .one(&self.read)
            .await?;
        match row {
            Some(u) => Ok(Some(self.get_user(&u.username).await?)),
            None => Ok(None),
        }
    }

    /// The record of the message with this Message-ID, when it was handled.
    pub async fn inbound_by_message_id(&self, message_id: &str) -> Result<Option<InboundRecord>, StoreError> {
        let row = inbound_mail::Entity::find().filter(inbound_mail::Column::MessageId.eq(message_id)).one(&self.read).await?;
        row.map(record_from_row).transpose()
    }

    /// How many messages from `sender` were handled since `since`.
    pub async fn count_inbound_from(&self, sender: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(inbound_mail::Entity::find()
            .filter(inbound_mail::Column::Sender.eq(sender))
            .filter(inbound_mail::Column::ReceivedAt.gte(time::to_micros(since)))
            .count(&self.read)
            .await?)
    }

    /// Handled messages, newest first, optionally one outcome, before an id.
    pub async fn list_inbound(
        &self,
        outcome: Option<InboundOutcome>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<InboundRecord>, StoreError> {
        let mut query = inbound_mail::Entity::find().order_by_desc(inbound_mail::Column::Id).limit(limit);
        if let Some(o) = outcome {
            query = query.filter(inbound_mail::Column::Outcome.eq(o.as_str()));
        }
        if let Some(b) = before {
            query = query.filter(inbound_mail::Column::Id.lt(b));
        }
        query.all(&self.read).await?.into_iter().map(record_from_row).collect()
    }

    /// An incident's attachments, oldest first.
    pub async fn attachments_of(&self, number: IncidentNumber) -> Result<Vec<AttachmentRecord>, StoreError> {
        let rows = attachment::Entity::find()
            .filter(attachment::Column::IncidentId.eq(number.0))
            .order_by_asc(attachment::Column::Id)
            .all(&self.read)
            .await?;
        Ok(rows.into_iter().map(attachment_from_row).collect())
    }

    /// One attachment with its content.
    pub async fn attachment(&self, id: i64) -> Result<(AttachmentRecord, Vec<u8>), StoreError> {
        let row = attachment::Entity::find_by_id(id).one(&self.read).await?.ok_or_else(|| StoreError::not_found("attachment", id))?;
        let content = blob::Entity::find_by_id(row.sha256.clone())
            .one(&self.read)
            .await?
            .ok_or_else(|| StoreError::corrupt("blobs", format!("the content of attachment {id} is missing")))?;
        Ok((attachment_from_row(row), content.content))
    }

    /// Applies what intake decided for a message and records it, in one
    /// transaction: all of it is written or none. A message whose
    /// Message-ID was handled before is a conflict on `message_id`.
    pub async fn apply_mail(
        &self,
        mail: NewInbound,
        action: MailAction,
        attachments: Vec<NewAttachment>,
    ) -> Result<(InboundRecord, Option<IncidentRecord>), StoreError> {
        let txn = self.begin().await?;
        let (outcome, incident, notification_id) = match action {
            MailAction::Open { mut incident, new_requester } => {
                if let Some(requester) = new_requester {
                    incident.requester = create_requester(&txn, &requester).await?;
                }
                let created = self.create_in(&txn, std::slice::from_ref(&*incident)).await?.pop();
                let record = created.ok_or_else(|| StoreError::corrupt("incidents", "a create returned nothing"))??;
                (InboundOutcome::Created, Some(record), None)
            }
            MailAction::Update { number, edit, actor, outcome } => {
                let record = txn.edit_incident(number, edit.as_ref(), None, &actor).await?;
                (outcome, Some(record), None)
            }
            MailAction::Acknowledge { number, actor } => {
                let outcome = match txn.acknowledge(number, &actor).await {
                    Ok(_) => InboundOutcome::Acknowledged,
                    Err(StoreError::Conflict { .. }) => InboundOutcome::Ignored,
                    Err(e) => return Err(e),
                };
                (outcome, txn.incidents(&[number]).await?.pop(), None)
            }
            MailAction::Bounce { notification_id, error } => {
                txn.fail_notification_for_good(notification_id, &error).await?;
                (InboundOutcome::Bounced, None, Some(notification_id))
            }
            MailAction::Record { outcome, reply } => {
                let id = match reply {
                    Some(reply) => Some(txn.insert_notification(reply).await?),
                    None => None,
                };
                (outcome, None, id)
            }
        };
        let now = time::to_micros(time::now());
        let row = inbound_mail::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            received_at: Set(now),
            source: Set(mail.source.clone()),
            message_id: Set(mail.message_id.clone()),
            sender: Set(mail.sender.clone()),
            subject: Set(mail.subject.chars().take(2000).collect()),
            size: Set(mail.size),
            outcome: Set(outcome.as_str().to_owned()),
            reason: Set(mail.reason.clone()),
            incident_id: Set(incident.as_ref().map(|r| r.incident.number.0)),
            notification_id: Set(notification_id),
        };
        let inserted = match row.insert(&*txn).await {
            Ok(r) => r,
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
                txn.rollback().await?;
                return Err(StoreError::Conflict {
                    field: "message_id".into(),
                    message: format!("the message {} was handled before", mail.message_id.unwrap_or_default()),
                });
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(record) = &incident {
            txn.insert_attachments(record.incident.number, Some(inserted.id), attachments).await?;
        }
        txn.commit().await?;
        Ok((record_from_row(inserted)?, incident))
    }
}

async fn create_requester(txn: &WriteTxn, requester: &NewRequester) -> Result<String, StoreError> {
    let candidates = username_candidates(&requester.address);
    let taken: Vec<String> = user::Entity::find()
        .filter(user::Column::Username.is_in(candidates.clone()))
        .all(&**txn)
        .await?
        .into_iter()
        .map(|u| u.username)
        .collect();
    let username = candidates
        .into_iter()
        .find(|c| !taken.contains(c))
        .ok_or_else(|| StoreError::Conflict { field: "username".into(), message: format!("no free username for {}", requester.address) })?;
    let display_name = if requester.display_name.trim().is_empty() { requester.address.clone() } else { requester.display_name.clone() };
    switchyard_domain::directory::validate_user(&username, &display_name, Some(&requester.address), &[])?;
    let now = time::to_micros(time::now());
    user::ActiveModel {
        username: Set(username.clone()),
        display_name: Set(display_name.trim().chars().take(200).collect()),
        email: Set(Some(requester.address.clone())),
        role: Set(Role::Requester.as_str().to_owned()),
        active: Set(true),
        on_shift: Set(false),
        skills: Set("[]".into()),
        password_hash: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&**txn)
    .await?;
    Ok(username)
}

impl WriteTxn {
    /// Stores files for an incident: each content once (by SHA-256), one
    /// attachment row per file.
    pub async fn insert_attachments(
        &self,
        number: IncidentNumber,
        inbound_id: Option<i64>,
        attachments: Vec<NewAttachment>,
    ) -> Result<Vec<AttachmentRecord>, StoreError> {
        let now = time::to_micros(time::now());
        let mut out = Vec::with_capacity(attachments.len());
        for a in attachments {
            let sha256 = sha256_hex(&a.bytes);
            let size = a.bytes.len() as i64;
            let content = blob::ActiveModel { sha256: Set(sha256.clone()), size: Set(size), content: Set(a.bytes), created_at: Set(now) };
            blob::Entity::insert(content)
                .on_conflict(OnConflict::column(blob::Column::Sha256).do_nothing().to_owned())
                .exec_without_returning(&**self)
                .await?;
            let row = attachment::ActiveModel {
                id: sea_orm::ActiveValue::NotSet,
                incident_id: Set(number.0),
                inbound_id: Set(inbound_id),
                filename: Set(a.filename.chars().take(255).collect()),
                content_type: Set(a.content_type.chars().take(128).collect()),
                size: Set(size),
                sha256: Set(sha256),
                inline: Set(a.inline),
                created_at: Set(now),
            }
            .insert(&**self)
            .await?;
            out.push(attachment_from_row(row));
        }
        Ok(out)
    }

    /// A notification failed for good after it was sent (a bounce): `dead`
    /// with the reason, whatever its state was.
    pub async fn fail_notification_for_good(&self, id: i64, error: &str) -> Result<(), StoreError> {
        let result = notification::Entity::update_many()
            .col_expr(notification::Column::Status, Expr::value(NotificationStatus::Dead.as_str()))
            .col_expr(notification::Column::LastError, Expr::value(error.to_owned()))
            .col_expr(notification::Column::NextAttemptAt, Expr::value(Option::<i64>::None))
            .col_expr(notification::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(notification::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(notification::Column::Id.eq(id))
            .exec(&**self)
            .await?;
        if result.rows_affected == 0 {
            return Err(StoreError::not_found("notification", id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_come_from_the_local_part_then_numbered() {
        assert_eq!(username_candidates("Rita.R@Example.org")[..2], ["rita.r", "rita.r-2"]);
        assert_eq!(username_candidates("a+b@x.org")[0], "a-b");
        assert_eq!(username_candidates("+++@x.org")[0], "requester");
        assert!(username_candidates(&format!("{}@x.org", "a".repeat(100))).iter().all(|u| u.len() <= 64));
    }
}
