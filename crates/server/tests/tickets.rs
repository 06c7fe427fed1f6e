//! Kinds of ticket, links, watchers, templates with checklists and
//! conversion through the real router on real SQLite and PostgreSQL,
//! with the refusals the API promises (404 naming the number, 422 naming
//! the rule or the checklist item).

mod common;

use axum::http::{Method, StatusCode};
use serde_json::json;
use switchyard_server::{AppState, router};
use switchyard_store::both_backends;
use switchyard_store::testing::TestDatabase;

use common::{call, detail, setup};

both_backends!(kinds_links_and_watchers_through_the_api, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let (s, inc) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.rita), Some(json!({"title": "Mail bounces"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{inc}");
    assert_eq!((inc["number"].as_str(), inc["kind"].as_str()), (Some("INC-000001"), Some("incident")));
    let (s, prb) = call(
        &app,
        Method::POST,
        "/api/v1/incidents",
        Some(&t.agent),
        Some(json!({"title": "Relay drops TLS", "kind": "problem", "details": {"root_cause": "expired intermediate"}})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{prb}");
    assert_eq!(prb["number"], "PRB-000002");
    // Requesters do not log problems.
    let (s, _) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.rita), Some(json!({"title": "x", "kind": "problem"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Link: shown on both sides.
    let (s, links) = call(
        &app,
        Method::POST,
        "/api/v1/incidents/INC-000001/links",
        Some(&t.agent),
        Some(json!({"type": "caused_by", "target": "PRB-000002"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{links}");
    assert_eq!((links[0]["label"].as_str(), links[0]["number"].as_str()), (Some("caused by"), Some("PRB-000002")));
    let (_, from_problem) = call(&app, Method::GET, "/api/v1/incidents/PRB-000002/links", Some(&t.agent), None).await;
    assert_eq!((from_problem[0]["label"].as_str(), from_problem[0]["number"].as_str()), (Some("causes"), Some("INC-000001")));
    let (_, problem) = call(&app, Method::GET, "/api/v1/incidents/PRB-000002", Some(&t.agent), None).await;
    assert_eq!(problem["links"][0]["label"], "causes");
    let (_, list) = call(&app, Method::GET, "/api/v1/incidents?linked_to=PRB-000002", Some(&t.agent), None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, list) = call(&app, Method::GET, "/api/v1/incidents?kind=problem", Some(&t.agent), None).await;
    assert_eq!(list["items"][0]["number"], "PRB-000002");

    // A link to an unknown ticket answers 404 naming the number.
    let (s, e) = call(
        &app,
        Method::POST,
        "/api/v1/incidents/INC-000001/links",
        Some(&t.agent),
        Some(json!({"type": "caused_by", "target": "PRB-000777"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(e["error"]["message"].as_str().unwrap().contains("PRB-000777"), "{e}");
    // A wrong pairing is a 422 naming the rule; requesters cannot link.
    let (s, e) = call(
        &app,
        Method::POST,
        "/api/v1/incidents/PRB-000002/links",
        Some(&t.agent),
        Some(json!({"type": "parent", "target": "INC-000001"})),
    )
    .await;
    assert_eq!((s, detail(&e)), (StatusCode::UNPROCESSABLE_ENTITY, ("type".into(), "source_kind".into())));
    let (s, _) = call(
        &app,
        Method::POST,
        "/api/v1/incidents/INC-000001/links",
        Some(&t.rita),
        Some(json!({"type": "caused_by", "target": "PRB-000002"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(&app, Method::DELETE, "/api/v1/incidents/INC-000001/links/caused_by/PRB-000002", Some(&t.agent), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&app, Method::DELETE, "/api/v1/incidents/INC-000001/links/caused_by/PRB-000002", Some(&t.agent), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Watchers: the requester watches their own; an agent adds someone.
    let (s, w) = call(&app, Method::POST, "/api/v1/incidents/INC-000001/watchers", Some(&t.rita), Some(json!({}))).await;
    assert_eq!((s, w["watchers"].clone()), (StatusCode::OK, json!(["rita"])));
    let (s, _) = call(&app, Method::POST, "/api/v1/incidents/INC-000001/watchers", Some(&t.rita), Some(json!({"username": "otto"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, w) = call(&app, Method::POST, "/api/v1/incidents/INC-000001/watchers", Some(&t.agent), Some(json!({"username": "otto"}))).await;
    assert_eq!(w["watchers"], json!(["otto", "rita"]));
    let (_, inc) = call(&app, Method::GET, "/api/v1/incidents/INC-000001", Some(&t.agent), None).await;
    assert_eq!(inc["watchers"], json!(["otto", "rita"]));
});

both_backends!(templates_checklists_and_conversion_through_the_api, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let doc = json!({"templates": [{"name": "new-starter", "kind": "request", "title": "New starter", "category": "accounts",
        "checklist": [{"text": "create the account", "required": true}, {"text": "order a laptop"}]}]});
    let (s, e) = call(&app, Method::PUT, "/api/v1/templates", Some(&t.agent), Some(doc.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (s, _) = call(&app, Method::PUT, "/api/v1/templates", Some(&t.admin), Some(doc)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) =
        call(&app, Method::PUT, "/api/v1/templates", Some(&t.admin), Some(json!({"templates": [{"name": "a"}, {"name": "a"}]}))).await;
    assert_eq!((s, detail(&e)), (StatusCode::UNPROCESSABLE_ENTITY, ("/templates/1/name".into(), "unique".into())));

    let (s, req) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.rita), Some(json!({"template": "new-starter"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{req}");
    assert_eq!(
        (req["number"].as_str(), req["title"].as_str(), req["category"].as_str()),
        (Some("REQ-000001"), Some("New starter"), Some("accounts"))
    );
    assert_eq!(req["checklist"].as_array().unwrap().len(), 2);
    let (s, e) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.rita), Some(json!({"template": "nope"}))).await;
    assert_eq!((s, detail(&e)), (StatusCode::UNPROCESSABLE_ENTITY, ("template".into(), "exists".into())));

    // Resolving with the required item open: 422 naming it.
    let resolve = json!({"to": "resolved", "resolution_code": "solved_permanently", "resolution_notes": "done"});
    let (s, e) = call(&app, Method::POST, "/api/v1/incidents/REQ-000001/transitions", Some(&t.agent), Some(resolve.clone())).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(detail(&e), ("checklist/1".into(), "required_open".into()));
    assert!(e["error"]["details"][0]["message"].as_str().unwrap().contains("create the account"), "{e}");
    let (s, r) = call(&app, Method::PUT, "/api/v1/incidents/REQ-000001/checklist/1", Some(&t.agent), Some(json!({"done": true}))).await;
    assert_eq!((s, r["checklist"][0]["done_by"].as_str()), (StatusCode::OK, Some("alice")));
    let (s, r) =
        call(&app, Method::POST, "/api/v1/incidents/REQ-000001/checklist", Some(&t.agent), Some(json!({"text": "hand over"}))).await;
    assert_eq!((s, r["checklist"].as_array().unwrap().len()), (StatusCode::CREATED, 3));

    // Converting keeps the number's digits and the history.
    let (_, before) = call(&app, Method::GET, "/api/v1/incidents/REQ-000001/history", Some(&t.agent), None).await;
    let (s, inc) =
        call(&app, Method::POST, "/api/v1/incidents/REQ-000001/convert", Some(&t.agent), Some(json!({"kind": "incident"}))).await;
    assert_eq!((s, inc["number"].as_str()), (StatusCode::OK, Some("INC-000001")));
    let (_, after) = call(&app, Method::GET, "/api/v1/incidents/INC-000001/history", Some(&t.agent), None).await;
    assert_eq!(after.as_array().unwrap().len(), before.as_array().unwrap().len() + 1);
    let (s, e) = call(&app, Method::POST, "/api/v1/incidents/INC-000001/convert", Some(&t.agent), Some(json!({"kind": "change"}))).await;
    assert_eq!((s, detail(&e)), (StatusCode::UNPROCESSABLE_ENTITY, ("kind".into(), "conversion".into())));
    let (s, _) = call(&app, Method::POST, "/api/v1/incidents/INC-000001/convert", Some(&t.rita), Some(json!({"kind": "request"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, r) = call(&app, Method::POST, "/api/v1/incidents/INC-000001/transitions", Some(&t.agent), Some(resolve)).await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("resolved")));
});

both_backends!(known_errors_are_proposed_and_applied_through_the_api, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let ci = store
        .create_ci(switchyard_store::CiInput {
            class: switchyard_domain::cmdb::CiClass::Server,
            name: "print01".into(),
            status: None,
            owner_group: None,
            attributes: json!({}),
        })
        .await
        .unwrap();
    let (s, prb) = call(
        &app,
        Method::POST,
        "/api/v1/incidents",
        Some(&t.agent),
        Some(json!({"title": "Print spooler hangs", "kind": "problem", "affected_cis": [ci.id],
            "details": {"workaround": "restart the spooler service", "known_error": true}})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{prb}");
    let (_, inc) = call(
        &app,
        Method::POST,
        "/api/v1/incidents",
        Some(&t.agent),
        Some(json!({"title": "Cannot print", "requester": "rita", "affected_cis": [ci.id]})),
    )
    .await;
    let (_, other) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.rita), Some(json!({"title": "New keyboard please"}))).await;
    let path = |n: &serde_json::Value| format!("/api/v1/incidents/{}/known-errors", n["number"].as_str().unwrap());
    let (s, found) = call(&app, Method::GET, &path(&inc), Some(&t.rita), None).await;
    assert_eq!(s, StatusCode::OK, "{found}");
    assert_eq!((found[0]["number"].as_str(), found[0]["reasons"].clone()), (prb["number"].as_str(), json!(["ci"])));
    let (_, none) = call(&app, Method::GET, &path(&other), Some(&t.agent), None).await;
    assert_eq!(none, json!([]));
    // Applying links the incident and tells the requester the workaround.
    let apply = format!("{}/{}/apply", path(&inc), prb["number"].as_str().unwrap());
    let (s, applied) = call(&app, Method::POST, &apply, Some(&t.agent), None).await;
    assert_eq!(s, StatusCode::OK, "{applied}");
    assert_eq!(applied["links"][0]["label"], "caused by");
    let (_, history) =
        call(&app, Method::GET, &format!("/api/v1/incidents/{}/history", inc["number"].as_str().unwrap()), Some(&t.rita), None).await;
    assert!(
        history.as_array().unwrap().iter().any(|e| e["kind"] == "comment" && e["body"].as_str().unwrap().contains("restart the spooler"))
    );
    let wrong = format!("{}/{}/apply", path(&other), prb["number"].as_str().unwrap());
    let (s, e) = call(&app, Method::POST, &wrong, Some(&t.agent), None).await;
    assert_eq!((s, detail(&e)), (StatusCode::UNPROCESSABLE_ENTITY, ("problem".into(), "applies".into())));
});
