//! Inbound mail: a raw RFC 5322 message parsed with mail-parser into what
//! intake decides on (sender, subject, threading ids, the text, the
//! attachments) and classified: a person's mail, an auto-reply or bulk mail
//! (never answered, never a ticket), or a bounce (a delivery status report
//! about one of our messages).
//!
//! MIME is mail-parser's: multipart at any depth, quoted-printable and
//! base64, RFC 2047 encoded words, charsets (ISO-8859-*, Windows-125x and
//! the multi-byte ones through encoding_rs), HTML-only mail turned into
//! text. This module adds the limits, the classification and the reply
//! text (quotes and signatures cut off).

use std::borrow::Cow;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// How much of a message intake accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole raw message.
    pub max_message_bytes: usize,
    /// One attachment (larger ones are listed as not kept).
    pub max_attachment_bytes: usize,
    /// Attachments kept per message.
    pub max_attachments: usize,
    /// Characters of body text kept.
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_message_bytes: 25 << 20, max_attachment_bytes: 10 << 20, max_attachments: 20, max_text_chars: 100_000 }
    }
}

/// Why a message could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Over [`Limits::max_message_bytes`].
    #[error("the message is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a message: no header could be read.
    #[error("not an RFC 5322 message: no header could be read")]
    Unreadable,
}

/// Who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The address, lowercased.
    pub address: String,
    /// The display name, when given.
    pub name: Option<String>,
}

/// A file that came with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name given (or one made up from the part's position).
    pub filename: String,
    /// The type the content is, by its bytes when they tell, else as declared.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Shown in the body (an inline image) rather than attached.
    pub inline: bool,
}

/// Mail no person wrote to us: it never opens, reopens or comments on a
/// ticket and never gets an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Noise {
    /// An auto-responder (out of office, "we got your mail"); the reason
    /// names the header that said so.
    AutoReply(String),
    /// Bulk or list mail.
    Bulk(String),
}

/// A delivery status notification (RFC 3464) about a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the message it is about, from the returned
    /// message or its headers.
    pub original_message_id: Option<String>,
    /// The recipient that failed.
    pub recipient: Option<String>,
    /// `failed`, `delayed`...
    pub action: Option<String>,
    /// The status code, `5.1.1`.
    pub status: Option<String>,
    /// What the remote server said.
    pub diagnostic: Option<String>,
}

impl Bounce {
    /// Whether delivery failed for good (not merely delayed).
    pub fn is_permanent(&self) -> bool {
        let failed = self.action.as_deref().is_none_or(|a| a.eq_ignore_ascii_case("failed"));
        failed && self.status.as_deref().is_none_or(|s| s.starts_with('5'))
    }

    /// One line for the record.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.status {
            parts.push(s.clone());
        }
        if let Some(r) = &self.recipient {
            parts.push(format!("for {r}"));
        }
        if let Some(d) = &self.diagnostic {
            parts.push(d.clone());
        }
        if parts.is_empty() { "no delivery status given".to_owned() } else { parts.join(" ") }
    }
}

/// A parsed inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// Its Message-ID, with angle brackets, when it has one.
    pub message_id: Option<String>,
    /// `From` (or `Sender` when there is no `From`).
    pub from: Option<From>,
    /// `To` and `Cc` addresses, lowercased.
    pub recipients: Vec<String>,
    /// The subject, decoded; empty when missing.
    pub subject: String,
    /// `In-Reply-To` then `References`, with angle brackets, nearest first.
    pub thread_ids: Vec<String>,
    /// The body as text (HTML-only mail converted), within the limit.
    pub text: String,
    /// Attachments kept.
    pub attachments: Vec<Attachment>,
    /// Attachments not kept, each with its reason.
    pub skipped_attachments: Vec<String>,
    /// Set when no person wrote it.
    pub noise: Option<Noise>,
    /// Set for a delivery status report.
    pub bounce: Option<Bounce>,
    /// The size of the raw message.
    pub size: usize,
}

/// Parses and classifies a raw message.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<InboundMail, ParseError> {
    if raw.len() > limits.max_message_bytes {
        return Err(ParseError::TooLarge { size: raw.len(), limit: limits.max_message_bytes });
    }
    let message = MessageParser::default().parse(raw).ok_or(ParseError::Unreadable)?;
    if message.headers().is_empty() {
        return Err(ParseError::Unreadable);
    }
    let from = message.from().or_else(|| message.sender()).and_then(|a| a.first()).and_then(|a| {
        let address = a.address()?.trim().to_lowercase();
        address.contains('@').then(|| From { address, name: a.name().map(str::to_owned).filter(|n| !n.trim().is_empty()) })
    });
    let recipients = message
        .to()
        .into_iter()
        .chain(message.cc())
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address().map(|x| x.trim().to_lowercase()))
        .collect();
    let mut thread_ids: Vec<String> = Vec::new();
    for value in [message.in_reply_to(), message.references()] {
        let ids: Vec<&str> = match value.as_text_list() {
            Some(list) => list.iter().map(|s| s.as_ref()).collect(),
            None => value.as_text().into_iter().collect(),
        };
        // References lists the oldest first: the nearest is the last.
        for id in ids.into_iter().rev() {
            let id = bracketed(id);
            if !thread_ids.contains(&id) {
                thread_ids.push(id);
            }
        }
    }
    let bounce = bounce_of(&message);
    let noise = if bounce.is_some() { None } else { noise_of(&message) };
    let mut text: String = message.body_text(0).map(Cow::into_owned).unwrap_or_default();
    if text.chars().count() > limits.max_text_chars {
        text = text.chars().take(limits.max_text_chars).collect();
        text.push_str("\n[... the rest of the message was cut at the size limit]");
    }
    let (attachments, skipped_attachments) = attachments_of(&message, limits);
    Ok(InboundMail {
        message_id: message.message_id().map(bracketed),
        from,
        recipients,
        subject: message.subject().unwrap_or_default().trim().to_owned(),
        thread_ids,
        text: text.replace("\r\n", "\n"),
        attachments,
        skipped_attachments,
        noise,
        bounce,
        size: raw.len(),
    })
}

fn bracketed(id: &str) -> String {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    format!("<{id}>")
}

fn header_text<'a>(message: &'a Message<'_>, name: &'static str) -> Option<&'a str> {
    message.header_raw(name).map(str::trim)
}

/// RFC 3834 and the headers auto-responders and list servers actually send.
fn noise_of(message: &Message<'_>) -> Option<Noise> {
    if let Some(v) = header_text(message, "Auto-Submitted")
        && !v.eq_ignore_ascii_case("no")
    {
        return Some(Noise::AutoReply(format!("Auto-Submitted: {v}")));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Response-Suppress"] {
        if let Some(v) = header_text(message, name) {
            return Some(Noise::AutoReply(format!("{name}: {v}")));
        }
    }
    if let Some(v) = header_text(message, "Precedence") {
        let p = v.to_ascii_lowercase();
        if ["bulk", "junk", "list", "auto_reply"].contains(&p.as_str()) {
            return Some(Noise::Bulk(format!("Precedence: {v}")));
        }
    }
    if let Some(v) = header_text(message, "List-Id") {
        return Some(Noise::Bulk(format!("List-Id: {v}")));
    }
    None
}

/// A `multipart/report; report-type=delivery-status` message (a bounce
/// in another shape is not recognised as one).
fn bounce_of(message: &Message<'_>) -> Option<Bounce> {
    let root = message.root_part().content_type()?;
    let is_report = root.ctype().eq_ignore_ascii_case("multipart")
        && root.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && root.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    if !is_report {
        return None;
    }
    let mut bounce = Bounce { original_message_id: None, recipient: None, action: None, status: None, diagnostic: None };
    for part in &message.parts {
        let Some(ct) = part.content_type() else { continue };
        let sub = ct.subtype().unwrap_or_default().to_ascii_lowercase();
        match (ct.ctype().to_ascii_lowercase().as_str(), sub.as_str()) {
            ("message", "delivery-status") | ("message", "global-delivery-status") => {
                let body = String::from_utf8_lossy(part.contents()).into_owned();
                for (name, value) in status_fields(&body) {
                    let value = value.trim().to_owned();
                    match name.to_ascii_lowercase().as_str() {
                        "final-recipient" | "original-recipient" if bounce.recipient.is_none() => {
                            bounce.recipient = Some(value.rsplit(';').next().unwrap_or(&value).trim().to_owned())
                        }
                        "action" => bounce.action = Some(value.to_ascii_lowercase()),
                        "status" => bounce.status = Some(value),
                        "diagnostic-code" => bounce.diagnostic = Some(value.rsplit(';').next().unwrap_or(&value).trim().to_owned()),
                        _ => {}
                    }
                }
            }
            ("message", "rfc822") | ("message", "global") => {
                if let PartType::Message(m) = &part.body {
                    bounce.original_message_id = bounce.original_message_id.or(m.message_id().map(bracketed));
                }
            }
            ("text", "rfc822-headers") | ("message", "rfc822-headers") => {
                let headers = String::from_utf8_lossy(part.contents()).into_owned();
                if let Some((_, v)) = status_fields(&headers).into_iter().find(|(n, _)| n.eq_ignore_ascii_case("message-id")) {
                    bounce.original_message_id = bounce.original_message_id.or(Some(bracketed(&v)));
                }
            }
            _ => {}
        }
    }
    Some(bounce)
}

/// `Name: value` fields (continuation lines folded in), in every block.
fn status_fields(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

fn attachments_of(message: &Message<'_>, limits: &Limits) -> (Vec<Attachment>, Vec<String>) {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for (i, part) in message.attachments().enumerate() {
        let bytes: Cow<'_, [u8]> = match &part.body {
            // A forwarded or returned message is kept whole, as sent.
            PartType::Message(m) => Cow::Borrowed(m.raw_message()),
            _ => Cow::Borrowed(part.contents()),
        };
        let declared = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_ascii_lowercase();
        let filename = part
            .attachment_name()
            .map(sanitise_filename)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("attachment-{}{}", i + 1, if declared == "message/rfc822" { ".eml" } else { "" }));
        if bytes.len() > limits.max_attachment_bytes {
            skipped.push(format!("{filename} ({} bytes) is over the limit of {} bytes", bytes.len(), limits.max_attachment_bytes));
            continue;
        }
        if kept.len() >= limits.max_attachments {
            skipped.push(format!("{filename}: more than {} attachments", limits.max_attachments));
            continue;
        }
        let content_type = infer::get(&bytes).map(|t| t.mime_type().to_owned()).unwrap_or(declared);
        let inline = part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
        kept.push(Attachment { filename, content_type, bytes: bytes.into_owned(), inline });
    }
    (kept, skipped)
}

/// A file name without directories or control characters.
fn sanitise_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars().filter(|c| !c.is_control()).collect::<String>().trim().trim_start_matches('.').chars().take(200).collect()
}

/// The new text of a reply: what the person wrote above the quoted
/// message, without their signature. When cutting leaves nothing, the
/// whole text is kept.
pub fn reply_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_end();
        let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
        let attribution = (t.starts_with("On ") && (t.ends_with("wrote:") || next.ends_with("wrote:")))
            || (t.starts_with("Am ") && t.ends_with(':') && t.contains("schrieb"))
            || (t.starts_with("Le ") && t.ends_with(':') && t.contains("a écrit"));
        let outlook_header = t.starts_with("From:")
            && lines[i + 1..].iter().take(4).any(|l| l.starts_with("Sent:") || l.starts_with("Date:"))
            && lines[..i].iter().any(|l| !l.trim().is_empty());
        let separator = t == "-- "
            || t == "--"
            || (t.starts_with("-----") && t.to_ascii_lowercase().contains("original message"))
            || (t.len() >= 10 && t.chars().all(|c| c == '_'))
            || t.starts_with("Sent from my ");
        if attribution || outlook_header || separator || t.starts_with('>') {
            end = i;
            break;
        }
    }
    let kept: Vec<&str> = lines[..end].to_vec();
    let reply = kept.join("\n").trim().to_owned();
    if reply.is_empty() { text.trim().to_owned() } else { reply }
}

/// The ticket number a subject names: `[INC-000123]`, or `INC-000123`
/// alone. Only the given prefixes count.
pub fn number_in_subject(subject: &str, prefixes: &[&str]) -> Option<String> {
    let upper = subject.to_ascii_uppercase();
    for prefix in prefixes {
        let tag = format!("{prefix}-");
        let mut from = 0;
        while let Some(pos) = upper[from..].find(&tag) {
            let start = from + pos;
            let digits: String = upper[start + tag.len()..].chars().take_while(char::is_ascii_digit).collect();
            let boundary_before = upper[..start].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric());
            if !digits.is_empty() && boundary_before {
                return Some(format!("{prefix}-{digits}"));
            }
            from = start + tag.len();
        }
    }
    None
}
