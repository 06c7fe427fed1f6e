//! The notification outbox's delivery states on real SQLite and
//! PostgreSQL: claims under a lease never overlap, outcomes move a
//! notification to sent, failed (with a backoff) or dead, an expired lease
//! is taken over, and only dead or failed ones can be retried.

use std::time::Duration;

use switchyard_store::testing::TestDatabase;
use switchyard_store::{DeliveryOutcome, MAX_ATTEMPTS, NewNotification, NotificationStatus, Store, both_backends, retry_delay};

async fn queue(store: &Store, n: usize) {
    let txn = store.begin().await.unwrap();
    let notes = (0..n)
        .map(|i| NewNotification {
            incident_id: None,
            run_id: 1,
            workflow_id: "wf".into(),
            step_id: "notify".into(),
            channel: "email".into(),
            recipients: vec![format!("user{i}")],
            subject: format!("n{i}"),
            body: "b".into(),
            subscription_id: None,
        })
        .collect();
    txn.insert_notifications(notes).await.unwrap();
    txn.commit().await.unwrap();
}

fn failed(permanent: bool) -> DeliveryOutcome {
    DeliveryOutcome::Failed { error: "451 try later".into(), permanent }
}

both_backends!(claims_never_overlap_and_outcomes_move_the_state, |db: TestDatabase| async move {
    let store = db.store.clone();
    queue(&store, 20).await;
    let lease = Duration::from_secs(60);
    // Two nodes claiming at once get disjoint sets that cover everything.
    let (a, b) = tokio::join!(store.claim_notifications("node-a", lease, 12), store.claim_notifications("node-b", lease, 12));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut ids: Vec<i64> = a.iter().chain(&b).map(|n| n.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), a.len() + b.len(), "no notification claimed twice");
    assert_eq!(ids.len(), 20);
    assert!(a.iter().chain(&b).all(|n| n.status == NotificationStatus::Sending));
    assert!(store.claim_notifications("node-c", lease, 50).await.unwrap().is_empty(), "nothing left while leased");

    // Outcomes: only the lease holder's counts.
    let first = a[0].id;
    assert_eq!(store.finish_notification(first, "node-b", &DeliveryOutcome::Sent { message_id: "<x>".into() }).await.unwrap(), None);
    let sent = store.finish_notification(first, "node-a", &DeliveryOutcome::Sent { message_id: "<n1@x>".into() }).await.unwrap();
    assert_eq!(sent, Some(NotificationStatus::Sent));
    assert_eq!(store.notification_by_message_id("<n1@x>").await.unwrap().map(|n| n.id), Some(first));
    let second = a[1].id;
    assert_eq!(store.finish_notification(second, "node-a", &failed(false)).await.unwrap(), Some(NotificationStatus::Failed));
    let third = a[2].id;
    assert_eq!(store.finish_notification(third, "node-a", &failed(true)).await.unwrap(), Some(NotificationStatus::Dead));
    let failed_rows = store.list_notifications(None, Some(NotificationStatus::Failed), None, 50).await.unwrap();
    let f = failed_rows.iter().find(|n| n.id == second).unwrap();
    assert_eq!((f.attempts, f.last_error.as_deref()), (1, Some("451 try later")));
    let wait = f.next_attempt_at.unwrap() - chrono::Utc::now();
    assert!(wait > chrono::TimeDelta::seconds(25) && wait <= retry_delay(1), "retried after the backoff: {wait}");
    // Not due yet: not claimed again.
    assert!(store.claim_notifications("node-c", lease, 50).await.unwrap().iter().all(|n| n.id != second));

    // Retry: a dead one goes back to the queue; a sent one cannot.
    assert_eq!(store.retry_notification(third).await.unwrap().status, NotificationStatus::Queued);
    assert!(store.retry_notification(first).await.is_err());
    let again = store.claim_notifications("node-c", lease, 50).await.unwrap();
    assert_eq!(again.iter().map(|n| n.id).collect::<Vec<_>>(), vec![third]);
    assert!(store.claim_notifications("node-d", lease, 50).await.unwrap().is_empty(), "everything is leased or done");

    // Each failure waits longer, at most an hour; MAX_ATTEMPTS failures make it dead.
    let expiring = b[0].id;
    for attempt in 1..=MAX_ATTEMPTS {
        let status = store.finish_notification(expiring, "node-b", &failed(false)).await.unwrap();
        let want = if attempt < MAX_ATTEMPTS { NotificationStatus::Failed } else { NotificationStatus::Dead };
        assert_eq!(status, Some(want), "attempt {attempt}");
        assert!(retry_delay(attempt) <= chrono::TimeDelta::hours(1) && retry_delay(attempt) >= retry_delay(attempt.max(2) - 1));
        if attempt < MAX_ATTEMPTS {
            // Make it due and take it again as node-b.
            store.retry_notification(expiring).await.unwrap();
            let got = store.claim_notifications("node-b", lease, 50).await.unwrap();
            assert_eq!(got.iter().map(|n| n.id).collect::<Vec<_>>(), vec![expiring]);
            assert_eq!(got[0].attempts, attempt);
        }
    }
});

both_backends!(a_dead_sender_lease_expires_and_another_node_sends, |db: TestDatabase| async move {
    let store = db.store.clone();
    queue(&store, 3).await;
    let claimed = store.claim_notifications("crashed", Duration::from_millis(50), 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let taken = store.claim_notifications("survivor", Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(taken.len(), 3, "expired leases are taken over");
    // The crashed node's late outcome no longer counts.
    assert_eq!(
        store.finish_notification(taken[0].id, "crashed", &DeliveryOutcome::Sent { message_id: "<late>".into() }).await.unwrap(),
        None
    );
    assert_eq!(
        store.finish_notification(taken[0].id, "survivor", &DeliveryOutcome::Sent { message_id: "<ok>".into() }).await.unwrap(),
        Some(NotificationStatus::Sent)
    );
});
