//! The one outbox loop.
//!
//! Every reader of a persisted log (the dispatcher and the SLA tracker read
//! the event log, each from its own position) runs in this loop: take the
//! next batch at once while there is work; when there is none, do the
//! reader's idle chores, then wait for a wake-up (a commit that wrote the
//! reader's topic, in this process or, on PostgreSQL, on any node through
//! `LISTEN/NOTIFY`), with a poll as the fallback, and let entries gather
//! for the reader's chosen moment; back off after errors; stop on
//! shutdown.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_store::Topic;
use tokio::sync::watch;

use crate::{EngineError, Inner};

/// Longest wait after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A reader of a persisted log.
#[async_trait]
pub(crate) trait OutboxReader: Send + Sync + 'static {
    /// Its name, for logs.
    fn name(&self) -> &'static str;

    /// The commits it waits for.
    fn topic(&self) -> Topic;

    /// Handles the next batch after its position; returns how many entries
    /// it consumed (0: the log holds nothing new).
    async fn next_batch(&self, inner: &Inner) -> Result<usize, EngineError>;

    /// How long to let entries gather after a wake-up before reading them
    /// (a reader whose work per entry repeats for entries about the same
    /// thing, like the SLA tracker's recompute of one incident, reads
    /// bigger, cheaper batches this way).
    fn gather(&self) -> Duration {
        Duration::ZERO
    }

    /// Periodic work when the log is drained.
    async fn idle(&self, _inner: &Inner) -> Result<(), EngineError> {
        Ok(())
    }
}

/// Runs `reader` until the engine stops.
pub(crate) async fn run(inner: Arc<Inner>, reader: impl OutboxReader, mut stopped: watch::Receiver<bool>) {
    let wake = inner.store.subscribe(reader.topic());
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stopped.borrow() {
            return;
        }
        match reader.next_batch(&inner).await {
            Ok(0) => {
                backoff = Duration::from_millis(100);
                if let Err(e) = reader.idle(&inner).await {
                    tracing::error!(reader = reader.name(), error = %e, "idle work failed; retrying later");
                }
            }
            Ok(_) => {
                backoff = Duration::from_millis(100);
                continue;
            }
            Err(e) => {
                tracing::error!(reader = reader.name(), error = %e, backoff_ms = backoff.as_millis() as u64, "reading the log failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped.changed() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(inner.config.poll) => {}
            _ = stopped.changed() => {}
        }
        let gather = reader.gather();
        if !gather.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(gather) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}
