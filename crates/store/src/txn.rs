//! The one write transaction type, and the wake-ups its commit sends.
//!
//! Every write in the store goes through a [`WriteTxn`]: the store's own
//! methods open one and commit it, and the engine composes several writes
//! in one (a batch of runs, a dispatch). Methods that write into a caller's
//! transaction are methods *of* `WriteTxn` (`txn.insert_runs(..)`,
//! `txn.lock_position(..)`), so none can be called outside one; methods of
//! [`Store`] always open and commit their own.
//!
//! A write marks what it wrote ([`Topic`]): events, runs, timers or
//! notifications. [`WriteTxn::commit`] then wakes the readers of those
//! topics in this process and, on PostgreSQL, on every other node
//! (`pg_notify` inside the transaction, delivered at commit; each node's
//! listener turns it into the same local wake-ups). Nothing has to
//! remember to notify anyone.

use std::ops::Deref;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};

use crate::error::StoreError;
use crate::store::{Backend, Store};

/// What a commit wrote, for the readers that wait on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// History events (the dispatcher, the SLA tracker).
    Events,
    /// Runs that are due (the executor).
    Runs,
    /// Timers (the scheduler).
    Timers,
    /// Notifications to deliver (the delivery worker).
    Notifications,
}

impl Topic {
    const ALL: [Topic; 4] = [Topic::Events, Topic::Runs, Topic::Timers, Topic::Notifications];

    fn bit(self) -> u8 {
        match self {
            Topic::Events => 1,
            Topic::Runs => 2,
            Topic::Timers => 4,
            Topic::Notifications => 8,
        }
    }

    fn index(self) -> usize {
        match self {
            Topic::Events => 0,
            Topic::Runs => 1,
            Topic::Timers => 2,
            Topic::Notifications => 3,
        }
    }
}

/// The readers waiting on each topic in this process. Each reader has its
/// own [`tokio::sync::Notify`], so a wake-up meant for one is never taken
/// by another.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    readers: [Mutex<Vec<Arc<tokio::sync::Notify>>>; 4],
}

impl Signals {
    /// Wakes every reader of the topics in `bits` (a reader that is not
    /// waiting keeps the wake-up for its next wait).
    pub(crate) fn wake(&self, bits: u8) {
        for topic in Topic::ALL {
            if bits & topic.bit() != 0 {
                for reader in self.readers[topic.index()].lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    reader.notify_one();
                }
            }
        }
    }

    /// A new reader of `topic`.
    pub(crate) fn subscribe(&self, topic: Topic) -> Arc<tokio::sync::Notify> {
        let reader = Arc::new(tokio::sync::Notify::new());
        self.readers[topic.index()].lock().unwrap_or_else(|e| e.into_inner()).push(reader.clone());
        reader
    }
}

/// The PostgreSQL channel Switchyard nodes notify each other on. The
/// payload is `<schema>|<topic bits>`, so servers in other schemas of the
/// same database (tests) ignore each other.
pub(crate) const PG_CHANNEL: &str = "switchyard_wake";

/// Parses a notification payload into topic bits, if it is for `schema`.
pub(crate) fn parse_payload(payload: &str, schema: &str) -> Option<u8> {
    let (s, bits) = payload.rsplit_once('|')?;
    (s == schema).then(|| bits.parse().ok()).flatten()
}

/// A write transaction. Dropping it without [`WriteTxn::commit`] rolls
/// everything back.
pub struct WriteTxn {
    pub(crate) txn: DatabaseTransaction,
    pub(crate) store: Store,
    /// Topic bits written, shared with savepoints.
    written: Arc<AtomicU8>,
    savepoint: bool,
    /// Who began it and when it was asked for and granted (the write lock
    /// is the scarce resource: the timings are logged at `trace`).
    caller: &'static std::panic::Location<'static>,
    asked: std::time::Instant,
    granted: std::time::Instant,
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl std::fmt::Debug for WriteTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn").field("savepoint", &self.savepoint).finish_non_exhaustive()
    }
}

impl WriteTxn {
    pub(crate) fn new(
        txn: DatabaseTransaction,
        store: Store,
        caller: &'static std::panic::Location<'static>,
        asked: std::time::Instant,
    ) -> Self {
        WriteTxn { txn, store, written: Arc::default(), savepoint: false, caller, asked, granted: std::time::Instant::now() }
    }

    /// Records that this transaction wrote to `topic`.
    pub(crate) fn wrote(&self, topic: Topic) {
        self.written.fetch_or(topic.bit(), Ordering::Relaxed);
    }

    /// The database this transaction runs on.
    pub fn backend(&self) -> Backend {
        self.store.backend
    }

    /// Commits, then wakes the readers of what it wrote. A savepoint's
    /// commit releases it; the wake-ups wait for the outer commit.
    pub async fn commit(self) -> Result<(), StoreError> {
        let bits = self.written.load(Ordering::Relaxed);
        if self.savepoint {
            self.txn.commit().await?;
            return Ok(());
        }
        if bits != 0 && self.store.backend == Backend::Postgres {
            let payload = format!("{}|{bits}", self.store.schema_name());
            let stmt = Statement::from_sql_and_values(DbBackend::Postgres, "SELECT pg_notify($1, $2)", [PG_CHANNEL.into(), payload.into()]);
            self.txn.execute_raw(stmt).await?;
        }
        self.txn.commit().await?;
        self.store.signals.wake(bits);
        tracing::trace!(
            caller = %self.caller,
            waited_us = (self.granted - self.asked).as_micros() as u64,
            held_us = self.granted.elapsed().as_micros() as u64,
            "write transaction committed"
        );
        Ok(())
    }

    /// A nested transaction (a savepoint): rolling it back undoes only what
    /// was written through it.
    pub async fn savepoint(&self) -> Result<WriteTxn, StoreError> {
        Ok(WriteTxn {
            txn: self.txn.begin().await?,
            store: self.store.clone(),
            written: self.written.clone(),
            savepoint: true,
            caller: self.caller,
            asked: self.asked,
            granted: self.granted,
        })
    }

    /// Rolls back (the same as dropping it, but waits for the database).
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.txn.rollback().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_per_schema() {
        assert_eq!(parse_payload("public|3", "public"), Some(3));
        assert_eq!(parse_payload("t_1|8", "t_1"), Some(8));
        assert_eq!(parse_payload("other|3", "public"), None);
        assert_eq!(parse_payload("public|x", "public"), None);
        assert_eq!(parse_payload("garbage", "public"), None);
    }
}
