//! Group commit for incident creates.
//!
//! SQLite commits one transaction at a time and each durable commit costs an
//! fsync; PostgreSQL serialises number allocation on the counter row. Either
//! way, one create per transaction caps throughput at a few thousand per
//! second. The queue lets many concurrent requests share a transaction: one
//! writer task takes whatever has queued up (up to `batch_max`), writes it
//! in a single transaction, and only after the commit answers each request.
//! A request is therefore never acknowledged before it is durable, and under
//! light load a batch is just one request, so latency does not suffer.

use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::incidents::{CreateIncident, IncidentRecord};
use crate::store::Store;

type Reply = oneshot::Sender<Result<IncidentRecord, StoreError>>;

/// Handle to the writer task.
#[derive(Clone, Debug)]
pub(crate) struct CreateQueue {
    tx: mpsc::Sender<(CreateIncident, Reply)>,
}

impl CreateQueue {
    /// Spawns the writer task. `store` must not hold a queue itself.
    pub(crate) fn start(store: Store, batch_max: usize) -> Self {
        let (tx, mut rx) = mpsc::channel::<(CreateIncident, Reply)>(batch_max * 4);
        tokio::spawn(async move {
            let mut requests = Vec::with_capacity(batch_max);
            let mut replies = Vec::with_capacity(batch_max);
            loop {
                let mut batch = Vec::with_capacity(batch_max);
                if rx.recv_many(&mut batch, batch_max).await == 0 {
                    break;
                }
                for (request, reply) in batch {
                    requests.push(request);
                    replies.push(reply);
                }
                let results = store.create_batch(&requests).await;
                tracing::trace!(size = requests.len(), "create batch committed");
                for (reply, result) in replies.drain(..).zip(results) {
                    // The caller may have gone away (client disconnected);
                    // the incident exists either way.
                    let _ = reply.send(result);
                }
                requests.clear();
            }
        });
        Self { tx }
    }

    /// Queues one create and waits for its commit.
    pub(crate) async fn submit(&self, request: CreateIncident) -> Result<IncidentRecord, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((request, reply)).await.map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }
}
