//! Mail, both ways: notifications out, requesters' mail in.
//!
//! - [`template`]: notification templates in minijinja, each a subject, a
//!   text part and an HTML part (the HTML part autoescaped), checked when
//!   they are stored so a broken one is refused with its line;
//! - [`message`]: the message a notification becomes: its own Message-ID,
//!   `In-Reply-To`/`References` chaining the mails of one ticket, the
//!   ticket number in the subject, `Auto-Submitted: auto-generated`,
//!   Reply-To the intake address;
//! - [`smtp`]: delivery over SMTP with lettre (STARTTLS or TLS,
//!   authentication, timeouts, a connection pool);
//! - [`inbound`]: a raw message parsed (mail-parser) and classified: a
//!   person's mail, an auto-reply or bulk mail, or a bounce of ours; the
//!   reply text without quotes and signatures;
//! - [`imap`]: the IMAP mailbox intake reads (TLS, login, IDLE, messages
//!   moved to a folder once handled).
//!
//! It knows nothing of the store or the engine: the engine's delivery
//! worker resolves recipients and the ticket, and calls these.

pub mod imap;
pub mod inbound;
pub mod message;
pub mod smtp;
pub mod template;

pub use lettre::message::Mailbox;

/// How a connection to a mail server (SMTP or IMAP) is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// No TLS (a server on localhost, tests).
    None,
    /// Plain, upgraded with STARTTLS (required).
    Starttls,
    /// TLS from the first byte (SMTP 465, IMAP 993).
    Tls,
}

impl std::str::FromStr for Security {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Security::None),
            "starttls" => Ok(Security::Starttls),
            "tls" => Ok(Security::Tls),
            other => Err(format!("`{other}` is not one of starttls, tls, none")),
        }
    }
}
