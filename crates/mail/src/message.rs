//! The message a notification becomes.
//!
//! Every mail about one ticket refers to the same thread root,
//! `<INC-000123.<domain>@switchyard>`, in `In-Reply-To` and `References`,
//! so mail clients thread them whatever order they arrive in, and a reply
//! to any of them names the ticket. Each mail has its own Message-ID,
//! `<n<id>.<domain>@switchyard>`, which is how intake recognises replies
//! to (and bounces of) our own mail.

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use crate::template::Rendered;

/// Who the mail is from and where replies go.
#[derive(Debug, Clone)]
pub struct Sender {
    /// `From`.
    pub from: Mailbox,
    /// `Reply-To`: the intake address, when there is one.
    pub reply_to: Option<Mailbox>,
    /// The domain our Message-IDs carry.
    pub domain: String,
}

/// A message to build.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The notification's outbox id.
    pub notification_id: i64,
    /// `INC-000123`, when it is about a ticket.
    pub number: Option<&'a str>,
    /// Recipient addresses.
    pub to: &'a [Mailbox],
    /// What it says.
    pub rendered: &'a Rendered,
}

/// Why a message could not be built.
#[derive(Debug, thiserror::Error)]
#[error("the message could not be built: {0}")]
pub struct BuildError(String);

/// The Message-ID of a notification (angle brackets included).
pub fn message_id(notification_id: i64, domain: &str) -> String {
    format!("<n{notification_id}.{domain}@switchyard>")
}

/// The thread root every mail about a ticket refers to.
pub fn thread_root(number: &str, domain: &str) -> String {
    format!("<{number}.{domain}@switchyard>")
}

/// Whether a Message-ID is one of ours for `domain` (a notification's or a
/// thread root): mail carrying it as its own Message-ID came from us.
pub fn is_ours(id: &str, domain: &str) -> bool {
    id.strip_suffix(&format!(".{domain}@switchyard>")).is_some_and(|head| head.starts_with('<'))
}

/// The notification a Message-ID of ours names (`<n42.<domain>@switchyard>` is 42).
pub fn notification_of(id: &str, domain: &str) -> Option<i64> {
    let head = id.strip_suffix(&format!(".{domain}@switchyard>"))?.strip_prefix("<n")?;
    head.parse().ok()
}

/// The ticket a thread root names (`<INC-000123.<domain>@switchyard>` is `INC-000123`).
pub fn ticket_of_thread_root<'a>(id: &'a str, domain: &str) -> Option<&'a str> {
    let head = id.strip_suffix(&format!(".{domain}@switchyard>"))?.strip_prefix('<')?;
    (!head.starts_with('n') && head.contains('-')).then_some(head)
}

/// The subject with the ticket number in brackets, once.
pub fn subject_with_number(subject: &str, number: Option<&str>) -> String {
    match number {
        Some(n) if !subject.contains(&format!("[{n}]")) => format!("[{n}] {subject}"),
        _ => subject.to_owned(),
    }
}

fn raw(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// Builds the message: text and HTML alternatives, our headers.
pub fn build(sender: &Sender, out: &Outgoing<'_>) -> Result<(Message, String), BuildError> {
    let id = message_id(out.notification_id, &sender.domain);
    let mut builder = Message::builder()
        .from(sender.from.clone())
        .subject(subject_with_number(&out.rendered.subject, out.number))
        .message_id(Some(id.clone()));
    for to in out.to {
        builder = builder.to(to.clone());
    }
    if let Some(r) = &sender.reply_to {
        builder = builder.reply_to(r.clone());
    }
    if let Some(n) = out.number {
        let root = thread_root(n, &sender.domain);
        builder = builder.in_reply_to(root.clone()).references(root);
    }
    // RFC 3834: we are a machine; auto-responders must not answer us.
    builder = builder.raw_header(raw("Auto-Submitted", "auto-generated".into())).raw_header(raw("X-Auto-Response-Suppress", "All".into()));
    let body = MultiPart::alternative()
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(out.rendered.text.clone()))
        .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(out.rendered.html.clone()));
    let message = builder.multipart(body).map_err(|e| BuildError(e.to_string()))?;
    Ok((message, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_carries_its_thread_and_our_headers() {
        let sender = Sender {
            from: "Service desk <desk@example.org>".parse().unwrap(),
            reply_to: Some("desk-in@example.org".parse().unwrap()),
            domain: "example.org".into(),
        };
        let rendered = Rendered { subject: "We got it".into(), text: "Hello".into(), html: "<p>Hello</p>".into() };
        let to = ["rita@example.org".parse().unwrap()];
        let (message, id) =
            build(&sender, &Outgoing { notification_id: 7, number: Some("INC-000042"), to: &to, rendered: &rendered }).unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert_eq!(id, "<n7.example.org@switchyard>");
        for header in [
            "Subject: [INC-000042] We got it",
            "Message-ID: <n7.example.org@switchyard>",
            "In-Reply-To: <INC-000042.example.org@switchyard>",
            "References: <INC-000042.example.org@switchyard>",
            "Auto-Submitted: auto-generated",
            "Reply-To: desk-in@example.org",
        ] {
            assert!(text.contains(header), "{header} in\n{text}");
        }
        assert!(text.contains("text/plain") && text.contains("text/html"));
        assert_eq!(subject_with_number("[INC-000042] Re: x", Some("INC-000042")), "[INC-000042] Re: x");
    }

    #[test]
    fn our_ids_are_recognised_and_read_back() {
        let d = "example.org";
        assert!(is_ours(&message_id(7, d), d) && is_ours(&thread_root("INC-000042", d), d));
        assert!(!is_ours("<n7.other.org@switchyard>", d) && !is_ours("<abc@mail.example.org>", d));
        assert_eq!(notification_of(&message_id(7, d), d), Some(7));
        assert_eq!(notification_of(&thread_root("INC-000042", d), d), None);
        assert_eq!(ticket_of_thread_root(&thread_root("INC-000042", d), d), Some("INC-000042"));
        assert_eq!(ticket_of_thread_root(&message_id(7, d), d), None);
    }
}
