//! Mail intake: what an inbound message does.
//!
//! [`Intake::receive`] parses a raw message, decides, and applies the
//! decision with its record in one store transaction
//! ([`Store::apply_mail`]). In order:
//!
//! 1. a message whose Message-ID was handled before is not applied again;
//! 2. our own mail coming back, bounces, auto-replies and bulk mail never
//!    open, reopen or comment on a ticket; a bounce of one of our
//!    notifications fails that notification;
//! 3. a sender over the rate limit is ignored;
//! 4. a reply (a Message-ID of ours in `In-Reply-To`/`References`, else the
//!    number in the subject) from the ticket's requester or an agent becomes
//!    a public comment, quotes and signature cut, the original kept as
//!    `original.eml`; a reply to a resolved ticket reopens it (a setting); a
//!    reply from anyone else is filed as a new incident, never as a comment
//!    on someone else's ticket;
//! 5. anything else opens an incident (channel `email`) for the sender;
//!    an unknown sender becomes a requester, or is refused with a reply.
//!
//! Every message handled leaves a record with its outcome and reason. Only
//! a failure of the store itself is an error (the caller keeps the message
//! and tries again); everything about the message is an outcome.

use std::time::Duration;

use switchyard_domain::edit::Edit;
use switchyard_domain::incident::{Channel, IncidentNumber, Level, Status};
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_mail::inbound::{self, InboundMail, Limits, Noise};
use switchyard_mail::message::{is_ours, notification_of, ticket_of_thread_root};
use switchyard_store::{
    Actor, CreateIncident, InboundOutcome, InboundRecord, IncidentRecord, MailAction, NewAttachment, NewInbound, NewNotification,
    NewRequester, Store, StoreError, UserRecord, Visibility,
};

use crate::EngineError;

/// What to do with mail from an address no user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSenders {
    /// Create a requester for them and open the incident.
    Create,
    /// Open nothing; reply that they are not known here.
    Refuse,
}

impl std::str::FromStr for UnknownSenders {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "create" => Ok(UnknownSenders::Create),
            "refuse" => Ok(UnknownSenders::Refuse),
            other => Err(format!("`{other}` is not create or refuse")),
        }
    }
}

/// How intake behaves.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// The address people write to: the channel the `inbound_channel`
    /// trigger sees, and never a sender we answer.
    pub address: String,
    /// The domain of our Message-IDs (see `switchyard_mail::message`).
    pub domain: String,
    /// Mail from unknown addresses.
    pub unknown_senders: UnknownSenders,
    /// Whether a requester's reply reopens their resolved incident.
    pub reopen_on_reply: bool,
    /// Most messages handled per sender in [`IntakeSettings::rate_window`].
    pub rate_limit: u64,
    /// The rate limit's window.
    pub rate_window: Duration,
    /// Size limits.
    pub limits: Limits,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        IntakeSettings {
            address: "servicedesk@localhost".into(),
            domain: "localhost".into(),
            unknown_senders: UnknownSenders::Create,
            reopen_on_reply: true,
            rate_limit: 30,
            rate_window: Duration::from_secs(600),
            limits: Limits::default(),
        }
    }
}

/// What became of a message.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its record.
    pub record: InboundRecord,
    /// The incident it opened or updated.
    pub incident: Option<IncidentRecord>,
    /// It had been handled before; nothing was applied now.
    pub duplicate: bool,
}

/// Mail intake over a store.
#[derive(Debug, Clone)]
pub struct Intake {
    store: Store,
    settings: IntakeSettings,
}

/// A decision before it is applied.
struct Decision {
    action: MailAction,
    reason: String,
    attachments: Vec<NewAttachment>,
}

impl Decision {
    fn record(outcome: InboundOutcome, reason: impl Into<String>) -> Self {
        Decision { action: MailAction::Record { outcome, reply: None }, reason: reason.into(), attachments: Vec::new() }
    }
}

impl Intake {
    /// Intake with these settings.
    pub fn new(store: Store, settings: IntakeSettings) -> Self {
        Intake { store, settings }
    }

    /// The settings.
    pub fn settings(&self) -> &IntakeSettings {
        &self.settings
    }

    /// Handles one raw message from `source` (`imap:...`, `mail-gate`, `api`).
    pub async fn receive(&self, raw: &[u8], source: &str) -> Result<Received, EngineError> {
        let mail = match inbound::parse(raw, &self.settings.limits) {
            Ok(mail) => mail,
            Err(e) => {
                let facts = NewInbound {
                    source: source.to_owned(),
                    message_id: None,
                    sender: None,
                    subject: String::new(),
                    size: raw.len() as i64,
                    reason: e.to_string(),
                };
                let (record, _) =
                    self.store.apply_mail(facts, MailAction::Record { outcome: InboundOutcome::Failed, reply: None }, Vec::new()).await?;
                return Ok(Received { record, incident: None, duplicate: false });
            }
        };
        if let Some(id) = &mail.message_id
            && let Some(previous) = self.store.inbound_by_message_id(id).await?
        {
            return Ok(Received { record: previous, incident: None, duplicate: true });
        }
        let decision = self.decide(&mail, raw).await?;
        let facts = NewInbound {
            source: source.to_owned(),
            message_id: mail.message_id.clone(),
            sender: mail.from.as_ref().map(|f| f.address.clone()),
            subject: mail.subject.clone(),
            size: mail.size as i64,
            reason: decision.reason.clone(),
        };
        match self.store.apply_mail(facts.clone(), decision.action, decision.attachments).await {
            Ok((record, incident)) => Ok(Received { record, incident, duplicate: false }),
            // Another node (or an earlier try) handled it meanwhile.
            Err(StoreError::Conflict { field, .. }) if field == "message_id" => {
                let id = mail.message_id.as_deref().unwrap_or_default();
                let previous = self.store.inbound_by_message_id(id).await?.ok_or_else(|| EngineError::Invalid {
                    field: "message_id".into(),
                    message: format!("{id} conflicted but has no record"),
                })?;
                Ok(Received { record: previous, incident: None, duplicate: true })
            }
            // The message cannot be applied as decided (a field the store
            // refuses): record why, change nothing else.
            Err(e @ (StoreError::Domain(_) | StoreError::NotFound { .. } | StoreError::Conflict { .. })) => {
                let facts = NewInbound { reason: format!("{}; not applied: {e}", facts.reason), ..facts };
                let (record, _) =
                    self.store.apply_mail(facts, MailAction::Record { outcome: InboundOutcome::Failed, reply: None }, Vec::new()).await?;
                Ok(Received { record, incident: None, duplicate: false })
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn decide(&self, mail: &InboundMail, raw: &[u8]) -> Result<Decision, EngineError> {
        let domain = &self.settings.domain;
        if let Some(id) = &mail.message_id
            && is_ours(id, domain)
        {
            return Ok(Decision::record(InboundOutcome::Ignored, format!("our own message came back ({id})")));
        }
        if let Some(bounce) = &mail.bounce {
            return self.bounce(bounce).await;
        }
        if let Some(noise) = &mail.noise {
            let reason = match noise {
                Noise::AutoReply(why) => format!("an auto-reply ({why})"),
                Noise::Bulk(why) => format!("bulk or list mail ({why})"),
            };
            return Ok(Decision::record(InboundOutcome::Ignored, reason));
        }
        let Some(from) = &mail.from else {
            return Ok(Decision::record(InboundOutcome::Refused, "the message has no From address"));
        };
        if from.address.eq_ignore_ascii_case(&self.settings.address) {
            return Ok(Decision::record(InboundOutcome::Ignored, format!("sent from our own address {}", from.address)));
        }
        let since = chrono::Utc::now() - chrono::TimeDelta::from_std(self.settings.rate_window).unwrap_or_default();
        let recent = self.store.count_inbound_from(&from.address, since).await?;
        if recent >= self.settings.rate_limit {
            let minutes = self.settings.rate_window.as_secs() / 60;
            return Ok(Decision::record(
                InboundOutcome::Ignored,
                format!("rate limit: {recent} messages from {} in {minutes} minutes (limit {})", from.address, self.settings.rate_limit),
            ));
        }
        let sender = self.store.user_by_email(&from.address).await?;
        if let Some(u) = &sender
            && !u.user.active
        {
            return Ok(Decision::record(InboundOutcome::Refused, format!("the account of {} is deactivated", from.address)));
        }
        let mut attachments: Vec<NewAttachment> = mail
            .attachments
            .iter()
            .map(|a| NewAttachment {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                bytes: a.bytes.clone(),
                inline: a.inline,
            })
            .collect();
        let mut note = String::new();
        if let Some(ticket) = self.ticket_of(mail).await? {
            let number = ticket.incident.number;
            match &sender {
                Some(u) if u.user.username == ticket.requester || u.user.role.is_agent() => {
                    if matches!(ticket.incident.status, Status::Closed | Status::Cancelled) {
                        note = format!("a reply to {number}, which is {}: filed as a new incident", ticket.incident.status.as_str());
                    } else {
                        attachments.push(NewAttachment {
                            filename: "original.eml".into(),
                            content_type: "message/rfc822".into(),
                            bytes: raw.to_vec(),
                            inline: false,
                        });
                        return Ok(self.comment(mail, u, &ticket, attachments));
                    }
                }
                _ => {
                    note = format!(
                        "a reply to {number} from {}, who is neither its requester nor an agent: filed as a new incident",
                        from.address
                    );
                }
            }
        }
        let new_requester = match (&sender, self.settings.unknown_senders) {
            (Some(_), _) => None,
            (None, UnknownSenders::Create) => Some(NewRequester {
                address: from.address.clone(),
                display_name: from.name.clone().unwrap_or_else(|| from.address.clone()),
            }),
            (None, UnknownSenders::Refuse) => return Ok(self.refuse(mail, &from.address)),
        };
        let title = if mail.subject.trim().is_empty() { "(no subject)".to_owned() } else { mail.subject.chars().take(200).collect() };
        let description = with_skipped(mail.text.trim().to_owned(), mail);
        let incident = CreateIncident {
            kind: Default::default(),
            details: Default::default(),
            checklist: Vec::new(),
            title,
            description,
            requester: sender.as_ref().map(|u| u.user.username.clone()).unwrap_or_default(),
            channel: Channel::Email,
            category: None,
            subcategory: None,
            service_id: None,
            affected_ci_ids: Vec::new(),
            impact: Level::LOW,
            urgency: Level::LOW,
            priority_override: None,
            assignment_group: None,
            assignee: None,
            custom_fields: serde_json::json!({}),
            actor: self.actor(sender.as_ref()),
        };
        let reason = match (&new_requester, note.is_empty()) {
            (Some(r), true) => format!("a new incident from {}, a new requester", r.address),
            (Some(r), false) => format!("{note}; {} is a new requester", r.address),
            (None, true) => format!("a new incident from {}", from.address),
            (None, false) => note,
        };
        Ok(Decision { action: MailAction::Open { incident: Box::new(incident), new_requester }, reason, attachments })
    }

    /// The channel actor: the user who wrote, through our address.
    fn actor(&self, sender: Option<&UserRecord>) -> Actor {
        Actor::channel(&self.settings.address, sender.map(|u| (u.user.id, u.user.username.as_str())))
    }

    async fn bounce(&self, bounce: &inbound::Bounce) -> Result<Decision, EngineError> {
        let Some(original) = &bounce.original_message_id else {
            return Ok(Decision::record(InboundOutcome::Ignored, format!("a bounce that names no message ({})", bounce.summary())));
        };
        let notification = match notification_of(original, &self.settings.domain) {
            Some(_) => self.store.notification_by_message_id(original).await?,
            None => None,
        };
        let Some(notification) = notification else {
            return Ok(Decision::record(InboundOutcome::Ignored, format!("a bounce of {original}, which we did not send")));
        };
        if !bounce.is_permanent() {
            let reason = format!("delivery of notification {} is delayed ({}); it stays as it is", notification.id, bounce.summary());
            return Ok(Decision::record(InboundOutcome::Ignored, reason));
        }
        let error = format!("bounced: {}", bounce.summary());
        Ok(Decision {
            action: MailAction::Bounce { notification_id: notification.id, error: error.clone() },
            reason: format!("notification {} {error}", notification.id),
            attachments: Vec::new(),
        })
    }

    /// The ticket a reply names: a Message-ID of ours in its thread, else
    /// the number in its subject.
    async fn ticket_of(&self, mail: &InboundMail) -> Result<Option<IncidentRecord>, EngineError> {
        let domain = &self.settings.domain;
        let mut number: Option<IncidentNumber> = None;
        for id in &mail.thread_ids {
            if notification_of(id, domain).is_some()
                && let Some(n) = self.store.notification_by_message_id(id).await?
                && let Some(incident) = n.notification.incident_id
            {
                number = Some(IncidentNumber(incident));
                break;
            }
            if let Some(n) = ticket_of_thread_root(id, domain).and_then(|n| n.parse().ok()) {
                number = Some(n);
                break;
            }
        }
        if number.is_none() {
            number = inbound::number_in_subject(&mail.subject, &["INC"]).and_then(|n| n.parse().ok());
        }
        let Some(number) = number else { return Ok(None) };
        match self.store.get_incident(number).await {
            Ok(r) => Ok(Some(r)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn comment(&self, mail: &InboundMail, sender: &UserRecord, ticket: &IncidentRecord, attachments: Vec<NewAttachment>) -> Decision {
        if sender.user.role.is_agent() && ticket.incident.status.is_open() && is_acknowledgement(&inbound::reply_text(&mail.text)) {
            let number = ticket.incident.number;
            return Decision {
                action: MailAction::Acknowledge { number, actor: self.actor(Some(sender)) },
                reason: format!("an acknowledgement by {} of {number}", sender.user.username),
                attachments,
            };
        }
        let mut body = inbound::reply_text(&mail.text);
        if body.is_empty() {
            body = "(the reply has no text)".into();
        }
        let body = with_skipped(body, mail);
        let number = ticket.incident.number;
        let is_requester = sender.user.username == ticket.requester;
        let reopen = self.settings.reopen_on_reply && is_requester && ticket.incident.status == Status::Resolved;
        let mut edit = Edit::note(body, Visibility::Public);
        let (outcome, reason) = if reopen {
            let to = if ticket.incident.assignee_id.is_some() { Status::InProgress } else { Status::Assigned };
            edit.transitions.push(TransitionRequest {
                to: Some(to),
                reason: Some("the requester replied by email".into()),
                ..TransitionRequest::default()
            });
            (InboundOutcome::Reopened, format!("a reply by {} reopened {number}", sender.user.username))
        } else {
            (InboundOutcome::Commented, format!("a reply by {} on {number}", sender.user.username))
        };
        Decision {
            action: MailAction::Update { number, edit: Box::new(edit), actor: self.actor(Some(sender)), outcome },
            reason,
            attachments,
        }
    }

    fn refuse(&self, mail: &InboundMail, address: &str) -> Decision {
        let reply = NewNotification {
            incident_id: None,
            run_id: 0,
            workflow_id: "intake".into(),
            step_id: "unknown-sender".into(),
            channel: "email".into(),
            recipients: vec![address.to_owned()],
            subject: format!("Re: {}", mail.subject),
            body: format!(
                "Your message to {} was not accepted: {address} is not known to this service desk. \
                 Please use the portal, or ask the service desk to add your address.",
                self.settings.address
            ),
            subscription_id: None,
        };
        Decision {
            action: MailAction::Record { outcome: InboundOutcome::Refused, reply: Some(reply) },
            reason: format!("{address} is not a known user and unknown senders are refused; a reply was queued"),
            attachments: Vec::new(),
        }
    }
}

/// The text with a line for each attachment that was not kept, so nobody
/// wonders where it went.
fn with_skipped(mut text: String, mail: &InboundMail) -> String {
    for skipped in &mail.skipped_attachments {
        text.push_str(&format!("\n\n[attachment not kept: {skipped}]"));
    }
    text
}

/// Whether a reply's text is an acknowledgement: its first word is `ack`,
/// `acknowledge` or `acknowledged` (any case, punctuation ignored), as an
/// agent answers a page from a phone.
fn is_acknowledgement(text: &str) -> bool {
    let first = text.split_whitespace().next().unwrap_or_default();
    let word: String = first.chars().filter(|c| c.is_alphabetic()).collect::<String>().to_lowercase();
    matches!(word.as_str(), "ack" | "acknowledge" | "acknowledged")
}

#[cfg(test)]
mod acknowledgement_tests {
    #[test]
    fn replies_that_acknowledge() {
        for (text, ack) in [
            ("ack", true),
            ("ACK!", true),
            ("Acknowledged, on my way", true),
            ("acknowledge", true),
            ("ok", false),
            ("back soon", false),
            ("", false),
            ("I ack", false),
        ] {
            assert_eq!(super::is_acknowledgement(text), ack, "{text}");
        }
    }
}
