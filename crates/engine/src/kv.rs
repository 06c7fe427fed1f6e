//! Exactly-once `kv` for workflow runs.
//!
//! A run's kv writes are kept in its [`KvJournal`] and committed with the
//! run (see [`switchyard_store::RunCommit::kv`]), so a crash loses them
//! together with the rest of the run, and a replay cannot repeat them.
//! Reads see the run's own writes first, then the store.
//!
//! Increments must hand the plugin a value at once (a round-robin counter
//! picks the next agent with it). This node hands values out in order
//! from [`KvReservations`]: per counter it remembers the value the last
//! increment reached, so concurrent runs on this node get consecutive
//! values without touching the database. The value is verified when the
//! run commits: the stored counter plus the run's delta must be exactly
//! what the run was given (the store checks it under the row's lock).
//! When it is not (another node incremented the same counter, or a run
//! holding an earlier value was discarded), the run is refused with a
//! conflict and runs again, and this node reloads the counter. So every
//! committed increment saw the value the counter really reached: with `k`
//! agents in a round robin, `N` committed runs assign exactly `N/k` each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_plugin_host::{KvStore, MemoryKv, ServiceError};
use switchyard_store::{KvKey, KvOp, Store};

/// Per counter: the value the last reservation reached, and how many
/// reservations are not yet committed or given back.
#[derive(Debug, Default)]
struct Counter {
    next: Option<i64>,
    in_flight: u32,
}

/// The counters this node hands out increments from (see the module docs).
#[derive(Debug)]
pub(crate) struct KvReservations {
    store: Store,
    counters: Mutex<HashMap<KvKey, Arc<tokio::sync::Mutex<Counter>>>>,
    /// Orders reservations across counters, so a batch commits runs in the
    /// order their increments were handed out.
    sequence: AtomicU64,
}

fn parse_counter(key: &KvKey, value: Option<Vec<u8>>) -> Result<i64, ServiceError> {
    match value {
        None => Ok(0),
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| ServiceError::new(format!("kv increment: `{}/{}` does not hold a decimal integer", key.bucket, key.key))),
    }
}

impl KvReservations {
    pub(crate) fn new(store: Store) -> Self {
        KvReservations { store, counters: Mutex::default(), sequence: AtomicU64::new(1) }
    }

    fn counter(&self, key: &KvKey) -> Arc<tokio::sync::Mutex<Counter>> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_default().clone()
    }

    /// Hands out the next value of a counter; returns it and its place in
    /// the node's order of reservations.
    async fn reserve(&self, key: &KvKey, delta: i64) -> Result<(i64, u64), ServiceError> {
        let counter = self.counter(key);
        let mut c = counter.lock().await;
        let base = match c.next {
            Some(v) => v,
            None => {
                let stored = self
                    .store
                    .kv_get(&key.plugin, &key.bucket, &key.key)
                    .await
                    .map_err(|e| ServiceError::new(format!("kv increment: {e}")))?;
                parse_counter(key, stored)?
            }
        };
        let result = base.checked_add(delta).ok_or_else(|| {
            ServiceError::new(format!("kv increment: adding {delta} to `{}/{}` ({base}) would overflow", key.bucket, key.key))
        })?;
        c.next = Some(result);
        c.in_flight += 1;
        Ok((result, self.sequence.fetch_add(1, Ordering::Relaxed)))
    }

    /// Ends a reservation: committed (`kept`), given back, or refused. A
    /// value given back that was the last one handed out is simply taken
    /// back; otherwise the counter is reloaded once nothing is in flight,
    /// or at once after a conflict.
    pub(crate) async fn settle(&self, key: &KvKey, delta: i64, result: i64, outcome: Settled) {
        let counter = self.counter(key);
        let mut c = counter.lock().await;
        c.in_flight = c.in_flight.saturating_sub(1);
        match outcome {
            Settled::Kept => {}
            Settled::GivenBack if c.next == Some(result) => c.next = Some(result - delta),
            Settled::GivenBack | Settled::Conflict => c.next = None,
        }
        // Nothing of ours in flight: the database is the truth again (and
        // may hold other nodes' increments).
        if c.in_flight == 0 {
            c.next = None;
        }
    }
}

/// How a reservation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Committed with its run.
    Kept,
    /// Not committed: the step failed or the run is run again.
    GivenBack,
    /// Refused by the commit: someone else's increment came first.
    Conflict,
}

/// How a run's kv calls are served.
#[derive(Debug, Clone)]
pub(crate) enum KvMode {
    /// A real run: writes are journaled and committed with the run.
    Run(Arc<KvReservations>),
    /// A dry-run: writes go to a throw-away overlay shared by the dry-run's
    /// tickets; increments start from the stored value.
    Overlay(Arc<MemoryKv>),
}

/// One run's kv writes since its last commit.
#[derive(Debug)]
pub(crate) struct KvJournal {
    mode: KvMode,
    state: Mutex<JournalState>,
}

#[derive(Debug, Default)]
struct JournalState {
    ops: Vec<KvOp>,
    /// Reservation order of each increment in `ops` (same index).
    sequences: Vec<Option<u64>>,
    /// Where the current step's writes start.
    step_start: usize,
}

impl KvJournal {
    pub(crate) fn new(mode: KvMode) -> Self {
        KvJournal { mode, state: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JournalState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value the run's own writes left, if it wrote `key`.
    fn own(&self, key: &KvKey) -> Option<Option<Vec<u8>>> {
        self.lock().ops.iter().rev().find(|op| op.key() == key).map(|op| match op {
            KvOp::Set { value, .. } => Some(value.clone()),
            KvOp::Delete { .. } => None,
            KvOp::Increment { result, .. } => Some(result.to_string().into_bytes()),
        })
    }

    pub(crate) async fn get(&self, store: &Store, key: &KvKey) -> Result<Option<Vec<u8>>, ServiceError> {
        if let KvMode::Overlay(overlay) = &self.mode
            && let Some(value) = overlay.get(&key.plugin, &key.bucket, &key.key).await?
        {
            return Ok(Some(value));
        }
        if let Some(own) = self.own(key) {
            return Ok(own);
        }
        store.kv_get(&key.plugin, &key.bucket, &key.key).await.map_err(|e| ServiceError::new(format!("kv get: {e}")))
    }

    pub(crate) async fn set(&self, key: KvKey, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), ServiceError> {
        if let KvMode::Overlay(overlay) = &self.mode {
            return overlay.set(&key.plugin, &key.bucket, &key.key, value, ttl).await;
        }
        let mut s = self.lock();
        s.ops.push(KvOp::Set { key, value, ttl });
        s.sequences.push(None);
        Ok(())
    }

    pub(crate) async fn delete(&self, key: KvKey) -> Result<(), ServiceError> {
        if let KvMode::Overlay(overlay) = &self.mode {
            return overlay.delete(&key.plugin, &key.bucket, &key.key).await;
        }
        let mut s = self.lock();
        s.ops.push(KvOp::Delete { key });
        s.sequences.push(None);
        Ok(())
    }

    pub(crate) async fn increment(&self, store: &Store, key: KvKey, delta: i64) -> Result<i64, ServiceError> {
        match &self.mode {
            KvMode::Overlay(overlay) => {
                if overlay.get(&key.plugin, &key.bucket, &key.key).await?.is_none() {
                    let base =
                        store.kv_get(&key.plugin, &key.bucket, &key.key).await.map_err(|e| ServiceError::new(format!("kv get: {e}")))?;
                    overlay.set(&key.plugin, &key.bucket, &key.key, base.unwrap_or_else(|| b"0".to_vec()), None).await?;
                }
                overlay.increment(&key.plugin, &key.bucket, &key.key, delta).await
            }
            KvMode::Run(reservations) => {
                let (result, sequence) = reservations.reserve(&key, delta).await?;
                let mut s = self.lock();
                s.ops.push(KvOp::Increment { key, delta, result });
                s.sequences.push(Some(sequence));
                Ok(result)
            }
        }
    }

    /// The current step succeeded: its writes belong to the run.
    pub(crate) fn keep_step(&self) {
        let mut s = self.lock();
        s.step_start = s.ops.len();
    }

    /// The current step failed: its writes are dropped and its reserved
    /// increments given back.
    pub(crate) async fn drop_step(&self) {
        let dropped: Vec<(KvOp, Option<u64>)> = {
            let mut s = self.lock();
            let start = s.step_start;
            let ops = s.ops.split_off(start);
            let sequences = s.sequences.split_off(start);
            ops.into_iter().zip(sequences).collect()
        };
        self.settle(dropped, Settled::GivenBack).await;
    }

    /// Where this run's first reserved increment falls in the node's order
    /// (`u64::MAX` without any).
    pub(crate) fn first_reservation(&self) -> u64 {
        self.lock().sequences.iter().flatten().copied().min().unwrap_or(u64::MAX)
    }

    /// The writes to commit.
    pub(crate) fn ops(&self) -> Vec<KvOp> {
        self.lock().ops.clone()
    }

    /// Ends every reservation of the run (after its commit, or when it is
    /// run again) and empties the journal.
    pub(crate) async fn finish(&self, outcome: Settled) {
        let all: Vec<(KvOp, Option<u64>)> = {
            let mut s = self.lock();
            s.step_start = 0;
            let ops = std::mem::take(&mut s.ops);
            let sequences = std::mem::take(&mut s.sequences);
            ops.into_iter().zip(sequences).collect()
        };
        self.settle(all, outcome).await;
    }

    async fn settle(&self, ops: Vec<(KvOp, Option<u64>)>, outcome: Settled) {
        let KvMode::Run(reservations) = &self.mode else { return };
        for (op, sequence) in ops {
            if let (KvOp::Increment { key, delta, result }, Some(_)) = (op, sequence) {
                reservations.settle(&key, delta, result, outcome).await;
            }
        }
    }
}
