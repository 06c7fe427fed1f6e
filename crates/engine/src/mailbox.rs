//! The IMAP intake loop: read what waits in the mailbox, hand each message
//! to [`Intake`], move it to the processed folder (or the failed folder
//! when it could not be processed), then wait with IDLE (or a poll) for
//! more.
//!
//! A message is moved only after its outcome is committed. A node that
//! stops in between leaves it in the inbox; it is fetched again and, its
//! Message-ID being recorded, not applied twice. When the store fails the
//! message stays in the inbox and the loop reconnects after a pause.

use std::time::Duration;

use switchyard_mail::imap::{ImapConfig, Mailbox};
use switchyard_store::InboundOutcome;

use crate::intake::Intake;

/// Messages fetched per round.
const ROUND: usize = 50;

/// Runs the loop until the task is dropped.
pub async fn watch(intake: Intake, config: ImapConfig) {
    let source = config.source();
    let mut pause = Duration::from_secs(1);
    loop {
        match Mailbox::connect(&config).await {
            Ok(mailbox) => {
                tracing::info!(%source, idle = mailbox.can_idle(), "mailbox connected");
                pause = Duration::from_secs(1);
                if let Err(e) = rounds(&intake, mailbox, &source).await {
                    tracing::warn!(%source, error = %e, "mailbox intake stopped; reconnecting");
                }
            }
            Err(e) => tracing::warn!(%source, error = %e, retry_in_secs = pause.as_secs(), "mailbox connection failed"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(60));
    }
}

async fn rounds(intake: &Intake, mut mailbox: Mailbox, source: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    loop {
        let waiting = mailbox.waiting(ROUND).await?;
        let full = waiting.len() == ROUND;
        for message in waiting {
            let received = intake.receive(&message.raw, source).await?;
            let record = &received.record;
            tracing::info!(
                %source, uid = message.uid, outcome = record.outcome.as_str(), reason = %record.mail.reason,
                incident = ?record.incident_id, duplicate = received.duplicate, "mail handled"
            );
            if record.outcome == InboundOutcome::Failed {
                mailbox.failed(message.uid).await?;
            } else {
                mailbox.processed(message.uid).await?;
            }
        }
        if !full {
            mailbox = mailbox.wait().await?;
        }
    }
}
