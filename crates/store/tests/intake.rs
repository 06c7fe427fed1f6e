//! Mail intake's records on real SQLite and PostgreSQL: what a message
//! does is written with its record or not at all, a Message-ID is applied
//! once, attachment content is stored once, a new requester gets a free
//! username, and users are found by address whatever its case.

use switchyard_domain::incident::{Channel, Level};
use switchyard_store::testing::TestDatabase;
use switchyard_store::{
    Actor, ActorKind, CreateIncident, InboundOutcome, MailAction, NewAttachment, NewInbound, NewRequester, Store, StoreError, UserInput,
    both_backends,
};

fn facts(message_id: &str) -> NewInbound {
    NewInbound {
        source: "test".into(),
        message_id: Some(message_id.into()),
        sender: Some("rita@example.org".into()),
        subject: "Printer".into(),
        size: 100,
        reason: "a test".into(),
    }
}

fn incident(requester: &str, title: &str) -> Box<CreateIncident> {
    Box::new(CreateIncident {
        kind: Default::default(),
        details: Default::default(),
        checklist: Vec::new(),
        title: title.into(),
        description: "by mail".into(),
        requester: requester.into(),
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
        actor: Actor { kind: ActorKind::Channel, user_id: None, name: "desk@example.org".into(), run_id: None },
    })
}

fn file(name: &str, bytes: &[u8]) -> NewAttachment {
    NewAttachment { filename: name.into(), content_type: "application/pdf".into(), bytes: bytes.to_vec(), inline: false }
}

async fn user(store: &Store, username: &str, email: &str) {
    let input = UserInput {
        username: username.into(),
        display_name: username.into(),
        email: Some(email.into()),
        role: None,
        password: None,
        on_shift: None,
        skills: Vec::new(),
    };
    store.create_user(input).await.unwrap();
}

both_backends!(a_message_that_cannot_be_applied_writes_nothing, |db: TestDatabase| async move {
    let store = db.store.clone();
    // A new requester and an incident the store refuses (an empty title):
    // neither the user nor the record nor the attachment is written.
    let open = MailAction::Open {
        incident: incident("", ""),
        new_requester: Some(NewRequester { address: "new@example.org".into(), display_name: "New".into() }),
    };
    let err = store.apply_mail(facts("<a@x>"), open, vec![file("a.pdf", b"%PDF-1")]).await.unwrap_err();
    assert!(matches!(err, StoreError::Domain(_)), "{err}");
    assert!(store.user_by_email("new@example.org").await.unwrap().is_none(), "the requester was rolled back");
    assert!(store.list_inbound(None, None, 50).await.unwrap().is_empty());
    assert!(store.inbound_by_message_id("<a@x>").await.unwrap().is_none());
});

both_backends!(a_message_id_is_applied_once, |db: TestDatabase| async move {
    let store = db.store.clone();
    user(&store, "rita", "rita@example.org").await;
    let open = || MailAction::Open { incident: incident("rita", "Printer"), new_requester: None };
    let (record, created) = store.apply_mail(facts("<once@x>"), open(), Vec::new()).await.unwrap();
    assert_eq!(record.outcome, InboundOutcome::Created);
    assert_eq!(record.incident_id, created.map(|c| c.incident.number.0));
    let again = store.apply_mail(facts("<once@x>"), open(), Vec::new()).await.unwrap_err();
    assert!(matches!(&again, StoreError::Conflict { field, .. } if field == "message_id"), "{again}");
    assert_eq!(store.list_inbound(None, None, 50).await.unwrap().len(), 1);
    let page = store.list_incidents(&Default::default()).await.unwrap();
    assert_eq!(page.items.len(), 1, "the second apply opened nothing");
    // Records without a Message-ID are all kept.
    for _ in 0..2 {
        let ignored = MailAction::Record { outcome: InboundOutcome::Failed, reply: None };
        store.apply_mail(NewInbound { message_id: None, ..facts("") }, ignored, Vec::new()).await.unwrap();
    }
    assert_eq!(store.list_inbound(Some(InboundOutcome::Failed), None, 50).await.unwrap().len(), 2);
});

both_backends!(attachments_are_stored_once_by_content_and_requesters_get_free_names, |db: TestDatabase| async move {
    let store = db.store.clone();
    user(&store, "rita", "Rita@Example.org").await;
    assert_eq!(store.user_by_email("rita@EXAMPLE.org").await.unwrap().map(|u| u.user.username), Some("rita".into()));
    // Another rita writes from elsewhere: she becomes rita-2.
    let open = MailAction::Open {
        incident: incident("", "Scanner"),
        new_requester: Some(NewRequester { address: "rita@other.example".into(), display_name: "Rita Other".into() }),
    };
    let files = vec![file("scan.pdf", b"%PDF-1.4 same"), file("copy.pdf", b"%PDF-1.4 same"), file("other.pdf", b"%PDF-1.4 other")];
    let (_, created) = store.apply_mail(facts("<files@x>"), open, files).await.unwrap();
    let created = created.unwrap();
    assert_eq!(created.requester, "rita-2");
    let new_user = store.user_by_email("rita@other.example").await.unwrap().unwrap();
    assert_eq!((new_user.user.display_name.as_str(), new_user.user.role.as_str()), ("Rita Other", "requester"));
    let listed = store.attachments_of(created.incident.number).await.unwrap();
    assert_eq!(listed.iter().map(|a| a.filename.as_str()).collect::<Vec<_>>(), ["scan.pdf", "copy.pdf", "other.pdf"]);
    assert_eq!(listed[0].sha256, listed[1].sha256, "same bytes, one key");
    assert_ne!(listed[0].sha256, listed[2].sha256);
    let (meta, bytes) = store.attachment(listed[1].id).await.unwrap();
    assert_eq!((meta.filename.as_str(), bytes.as_slice()), ("copy.pdf", b"%PDF-1.4 same".as_slice()));
    assert!(matches!(store.attachment(9999).await, Err(StoreError::NotFound { .. })));
});
