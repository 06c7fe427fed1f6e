//! The HTTP API through the real router, on real SQLite and PostgreSQL.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use switchyard_server::{AppState, router};
use switchyard_store::both_backends;
use switchyard_store::testing::TestDatabase;
use tower::ServiceExt;

use common::{call, detail, raw, setup};

both_backends!(role_by_endpoint_matrix, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let (s, _) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.rita), Some(json!({"title": "My laptop"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, ci) = call(&app, Method::POST, "/api/v1/cis", Some(&t.admin), Some(json!({"class": "server", "name": "srv1"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let ci = ci["id"].as_i64().unwrap();
    let (_, group) = call(&app, Method::POST, "/api/v1/groups", Some(&t.admin), Some(json!({"name": "g0", "display_name": "G"}))).await;
    assert_eq!(group["name"], "g0");

    // (method, path, body, [anonymous, rita (owner), otto (other requester), alice (agent), ada (admin)])
    let mut n = 0;
    let mut unique = || {
        n += 1;
        n
    };
    type Row = (Method, String, Option<Value>, [u16; 5]);
    let rows: Vec<Box<dyn FnMut() -> Row>> = vec![
        Box::new(|| (Method::GET, "/api/v1/incidents/INC-000001".into(), None, [401, 200, 404, 200, 200])),
        Box::new(|| (Method::GET, "/api/v1/incidents".into(), None, [401, 200, 200, 200, 200])),
        Box::new(|| (Method::POST, "/api/v1/incidents".into(), Some(json!({"title": "t"})), [401, 201, 201, 201, 201])),
        Box::new(|| {
            (Method::POST, "/api/v1/incidents".into(), Some(json!({"title": "t", "assignment_group": "g0"})), [401, 403, 403, 201, 201])
        }),
        Box::new(|| {
            (Method::PATCH, "/api/v1/incidents/INC-000001".into(), Some(json!({"description": "more"})), [401, 403, 403, 200, 200])
        }),
        Box::new(|| (Method::POST, "/api/v1/incidents/INC-000001/comments".into(), Some(json!({"body": "hi"})), [401, 201, 404, 201, 201])),
        Box::new(|| {
            (Method::POST, "/api/v1/incidents/INC-000001/work-notes".into(), Some(json!({"body": "hi"})), [401, 403, 403, 201, 201])
        }),
        Box::new(|| (Method::GET, "/api/v1/incidents/INC-000001/history".into(), None, [401, 200, 404, 200, 200])),
        Box::new(move || (Method::GET, format!("/api/v1/cis/{ci}"), None, [401, 403, 403, 200, 200])),
        Box::new(move || (Method::GET, format!("/api/v1/cis/{ci}/impact"), None, [401, 403, 403, 200, 200])),
        Box::new(|| (Method::GET, "/api/v1/cis".into(), None, [401, 403, 403, 200, 200])),
        Box::new(|| (Method::POST, "/api/v1/cis".into(), Some(json!({"class": "server", "name": "x"})), [401, 403, 403, 403, 201])),
        Box::new(|| (Method::GET, "/api/v1/users".into(), None, [401, 403, 403, 403, 200])),
        Box::new(|| (Method::GET, "/api/v1/groups".into(), None, [401, 403, 403, 200, 200])),
        Box::new(|| (Method::GET, "/api/v1/groups/g0".into(), None, [401, 403, 403, 200, 200])),
        Box::new(|| (Method::PUT, "/api/v1/groups/g0/members/alice".into(), None, [401, 403, 403, 403, 200])),
        Box::new(|| (Method::POST, "/api/v1/users/alice/tokens".into(), Some(json!({"name": "ci"})), [401, 403, 403, 403, 201])),
        Box::new(|| (Method::GET, "/api/v1/users/alice/tokens".into(), None, [401, 403, 403, 403, 200])),
        Box::new(|| (Method::GET, "/api/v1/settings/priority-matrix".into(), None, [401, 403, 403, 200, 200])),
        Box::new(|| (Method::GET, "/api/v1/settings/custom-fields".into(), None, [401, 403, 403, 200, 200])),
        Box::new(|| (Method::PUT, "/api/v1/settings/custom-fields".into(), Some(json!({"type": "object"})), [401, 403, 403, 403, 200])),
        Box::new(|| (Method::GET, "/api/v1/me".into(), None, [401, 200, 200, 200, 200])),
    ];
    let callers = [None, Some(t.rita.as_str()), Some(t.otto.as_str()), Some(t.agent.as_str()), Some(t.admin.as_str())];
    let names = ["anonymous", "rita", "otto", "alice", "ada"];
    for mut row in rows {
        for (i, caller) in callers.iter().enumerate() {
            let (method, path, body, expected) = row();
            let (status, response) = call(&app, method.clone(), &path, *caller, body).await;
            assert_eq!(status.as_u16(), expected[i], "{method} {path} as {}: {response}", names[i]);
        }
    }
    // Users and groups created per admin call need unique names.
    for _ in 0..2 {
        let u = unique();
        let (s, _) =
            call(&app, Method::POST, "/api/v1/users", Some(&t.agent), Some(json!({"username": format!("u{u}"), "display_name": "U"})))
                .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) =
            call(&app, Method::POST, "/api/v1/users", Some(&t.admin), Some(json!({"username": format!("u{u}"), "display_name": "U"})))
                .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    // Otto's list holds only Otto's incidents; he cannot filter his way into Rita's.
    let (_, page) = call(&app, Method::GET, "/api/v1/incidents?requester=rita", Some(&t.otto), None).await;
    assert!(page["items"].as_array().unwrap().iter().all(|i| i["requester"] == "otto"), "{page}");
    // Requesters do not see work notes in the history.
    let (_, history) = call(&app, Method::GET, "/api/v1/incidents/INC-000001/history", Some(&t.rita), None).await;
    assert!(history.as_array().unwrap().iter().all(|e| e["kind"] != "work_note"));
    // A requester may cancel their own incident but not resolve it.
    let (s, _) = call(
        &app,
        Method::POST,
        "/api/v1/incidents/INC-000001/transitions",
        Some(&t.rita),
        Some(json!({"to": "resolved", "resolution_code": "duplicate", "resolution_notes": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &app,
        Method::POST,
        "/api/v1/incidents/INC-000001/transitions",
        Some(&t.rita),
        Some(json!({"to": "cancelled", "reason": "fixed itself"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Revoked tokens stop working at once on this node.
    let (_, tokens) = call(&app, Method::GET, "/api/v1/users/otto/tokens", Some(&t.admin), None).await;
    let id = tokens[0]["id"].as_i64().unwrap();
    assert!(tokens[0].get("token").is_none(), "secrets are never listed");
    assert_eq!(call(&app, Method::GET, "/api/v1/me", Some(&t.otto), None).await.0, StatusCode::OK);
    assert_eq!(call(&app, Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&t.admin), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, Method::GET, "/api/v1/me", Some(&t.otto), None).await.0, StatusCode::UNAUTHORIZED);
});

both_backends!(bad_input_is_refused_and_writes_nothing, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    call(&app, Method::POST, "/api/v1/groups", Some(&t.admin), Some(json!({"name": "desk", "display_name": "Desk"}))).await;
    call(
        &app,
        Method::PUT,
        "/api/v1/settings/custom-fields",
        Some(&t.admin),
        Some(json!({"type": "object", "properties": {"seats": {"type": "integer", "minimum": 1}}})),
    )
    .await;
    let (s, created) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.agent), Some(json!({"title": "base"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let events_before = store.events_after(0, 10_000).await.unwrap().len();

    let post = |body: Body, content_type: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/incidents")
            .header("authorization", format!("Bearer {}", t.agent))
            .header("content-type", content_type)
            .body(body)
            .unwrap()
    };
    // (body, status, code, field, rule)
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        (json!({"title": "x", "impact": "high"}), 422, "validation_failed", "impact", "type"),
        (json!({"title": "x", "impact": 4}), 422, "validation_failed", "impact", "type"),
        (json!({"title": "x", "colour": "red"}), 422, "validation_failed", "colour", "unknown_field"),
        (json!({"description": "no title"}), 422, "validation_failed", "title", "required"),
        (json!({"title": ""}), 422, "validation_failed", "title", "required"),
        (json!({"title": "x", "channel": "fax"}), 422, "validation_failed", "channel", "one_of"),
        (json!({"title": "x", "assignment_group": "nope"}), 422, "validation_failed", "assignment_group", "exists"),
        (json!({"title": "x", "assignment_group": "desk", "assignee": "rita"}), 422, "validation_failed", "assignee", "agent"),
        (json!({"title": "x", "affected_cis": [424242]}), 422, "validation_failed", "affected_cis[0]", "exists"),
        (json!({"title": "x", "custom_fields": {"seats": 0}}), 422, "validation_failed", "custom_fields/seats", "json_schema"),
        (
            json!({"title": "x", "priority_override": {"priority": "P0", "reason": "r"}}),
            422,
            "validation_failed",
            "priority_override.priority",
            "type",
        ),
    ];
    for (body, status, code, field, rule) in cases {
        let (s, response) = raw(&app, post(Body::from(body.to_string()), "application/json")).await;
        assert_eq!(s.as_u16(), status, "{body}: {response}");
        assert_eq!(response["error"]["code"], code, "{body}: {response}");
        assert_eq!(detail(&response), (field.to_owned(), rule.to_owned()), "{body}: {response}");
    }
    let (s, response) = raw(&app, post(Body::from("{\"title\": "), "application/json")).await;
    assert_eq!((s.as_u16(), response["error"]["code"].as_str()), (400, Some("malformed_json")));
    let (s, response) = raw(&app, post(Body::from("{\"title\": \"x\"} trailing"), "application/json")).await;
    assert_eq!((s.as_u16(), response["error"]["code"].as_str()), (400, Some("malformed_json")));
    let (s, response) = raw(&app, post(Body::from("title=x"), "application/x-www-form-urlencoded")).await;
    assert_eq!((s.as_u16(), response["error"]["code"].as_str()), (415, Some("unsupported_media_type")));
    let huge = json!({"title": "x", "description": "y".repeat(2 * 1024 * 1024)}).to_string();
    let (s, response) = raw(&app, post(Body::from(huge), "application/json")).await;
    assert_eq!((s.as_u16(), response["error"]["code"].as_str()), (413, Some("payload_too_large")));

    // Lifecycle errors.
    let number = created["number"].as_str().unwrap();
    let path = format!("/api/v1/incidents/{number}/transitions");
    let (s, r) = call(&app, Method::POST, &path, Some(&t.agent), Some(json!({"to": "closed"}))).await;
    assert_eq!((s.as_u16(), r["error"]["code"].as_str()), (409, Some("invalid_transition")), "{r}");
    let (s, r) = call(&app, Method::POST, &path, Some(&t.agent), Some(json!({"to": "pending"}))).await;
    assert_eq!((s.as_u16(), r["error"]["code"].as_str()), (422, Some("transition_precondition_failed")), "{r}");
    assert_eq!(detail(&r), ("pending_reason".into(), "required".into()));
    let (s, r) = call(&app, Method::POST, &path, Some(&t.agent), Some(json!({"to": "bogus"}))).await;
    assert_eq!((s.as_u16(), detail(&r).0.as_str()), (422, "to"));
    let (s, r) =
        call(&app, Method::PATCH, &format!("/api/v1/incidents/{number}"), Some(&t.agent), Some(json!({"assignee": "alice"}))).await;
    assert_eq!((s.as_u16(), detail(&r)), (422, ("assignee".into(), "requires_group".into())), "{r}");

    // Query errors.
    let (s, r) = call(&app, Method::GET, "/api/v1/incidents?status=open", Some(&t.agent), None).await;
    assert_eq!((s.as_u16(), detail(&r).0.as_str()), (422, "status"));
    let (s, r) = call(&app, Method::GET, "/api/v1/incidents?colour=red", Some(&t.agent), None).await;
    assert_eq!((s.as_u16(), detail(&r)), (422, ("colour".into(), "unknown_field".into())));
    let (s, r) = call(&app, Method::GET, "/api/v1/incidents?limit=100000", Some(&t.agent), None).await;
    assert_eq!((s.as_u16(), detail(&r).0.as_str()), (422, "limit"));
    let (s, _) = call(&app, Method::GET, "/api/v1/incidents/INC-999999", Some(&t.agent), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, r) = call(&app, Method::GET, "/api/v1/nope", Some(&t.agent), None).await;
    assert_eq!((s.as_u16(), r["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, r) = call(&app, Method::DELETE, "/api/v1/incidents", Some(&t.agent), None).await;
    assert_eq!((s.as_u16(), r["error"]["code"].as_str()), (405, Some("method_not_allowed")));

    // None of it wrote anything, and no number was burnt.
    assert_eq!(store.events_after(0, 10_000).await.unwrap().len(), events_before);
    let (_, next) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.agent), Some(json!({"title": "next"}))).await;
    assert_eq!(next["number"], "INC-000002");
});

both_backends!(pagination_and_login, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    store
        .update_user("alice", switchyard_store::UserPatch { password: Some("a long enough password".into()), ..Default::default() })
        .await
        .unwrap();
    let app = router(AppState::new(store.clone()));
    for i in 0..7 {
        call(&app, Method::POST, "/api/v1/incidents", Some(&t.agent), Some(json!({"title": format!("n{i}"), "urgency": 1 + i % 3}))).await;
    }
    let mut numbers = Vec::new();
    let mut url = "/api/v1/incidents?limit=3&sort=priority&order=asc".to_owned();
    loop {
        let (s, page) = call(&app, Method::GET, &url, Some(&t.agent), None).await;
        assert_eq!(s, StatusCode::OK);
        numbers.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (i["priority"].as_str().unwrap().to_owned(), i["number"].as_str().unwrap().to_owned())),
        );
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/incidents?limit=3&sort=priority&order=asc&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(numbers.len(), 7);
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(numbers, sorted);

    let (s, session) =
        call(&app, Method::POST, "/api/v1/auth/login", None, Some(json!({"username": "alice", "password": "a long enough password"})))
            .await;
    assert_eq!(s, StatusCode::OK);
    let (s, me) = call(&app, Method::GET, "/api/v1/me", session["token"].as_str(), None).await;
    assert_eq!((s, me["username"].as_str()), (StatusCode::OK, Some("alice")));
    let (s, r) =
        call(&app, Method::POST, "/api/v1/auth/login", None, Some(json!({"username": "alice", "password": "wrong password!"}))).await;
    assert_eq!((s.as_u16(), r["error"]["code"].as_str()), (401, Some("unauthenticated")));
});

#[tokio::test]
async fn openapi_covers_every_route() {
    let db = TestDatabase::sqlite().await;
    let app = router(AppState::new(db.store.clone()));
    let (s, doc) = call(&app, Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/v1/incidents", vec!["get", "post"]),
        ("/api/v1/incidents/{number}", vec!["get", "patch"]),
        ("/api/v1/incidents/{number}/transitions", vec!["post"]),
        ("/api/v1/incidents/{number}/comments", vec!["post"]),
        ("/api/v1/incidents/{number}/work-notes", vec!["post"]),
        ("/api/v1/incidents/{number}/history", vec!["get"]),
        ("/api/v1/cis", vec!["get", "post"]),
        ("/api/v1/cis/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/cis/{id}/relationships", vec!["get"]),
        ("/api/v1/cis/{id}/impact", vec!["get"]),
        ("/api/v1/relationships", vec!["post"]),
        ("/api/v1/relationships/{id}", vec!["delete"]),
        ("/api/v1/users", vec!["get", "post"]),
        ("/api/v1/users/{username}", vec!["get", "patch"]),
        ("/api/v1/users/{username}/tokens", vec!["get", "post"]),
        ("/api/v1/tokens/{id}", vec!["delete"]),
        ("/api/v1/groups", vec!["get", "post"]),
        ("/api/v1/groups/{name}", vec!["get", "patch"]),
        ("/api/v1/groups/{name}/members/{username}", vec!["put", "delete"]),
        ("/api/v1/settings/priority-matrix", vec!["get", "put"]),
        ("/api/v1/settings/custom-fields", vec!["get", "put"]),
        ("/api/v1/auth/login", vec!["post"]),
        ("/api/v1/me", vec!["get"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/api/v1/workflows", vec!["get", "post"]),
        ("/api/v1/workflows/validate", vec!["post"]),
        ("/api/v1/workflows/{id}", vec!["get"]),
        ("/api/v1/workflows/{id}/versions", vec!["get"]),
        ("/api/v1/workflows/{id}/versions/{version}", vec!["get"]),
        ("/api/v1/workflows/{id}/enable", vec!["post"]),
        ("/api/v1/workflows/{id}/disable", vec!["post"]),
        ("/api/v1/workflows/{id}/dry-run", vec!["post"]),
        ("/api/v1/workflows/{id}/run", vec!["post"]),
        ("/api/v1/runs", vec!["get"]),
        ("/api/v1/runs/{id}", vec!["get"]),
        ("/api/v1/notifications", vec!["get"]),
        ("/api/v1/notifications/{id}/retry", vec!["post"]),
        ("/api/v1/mail/inbound", vec!["get", "post"]),
        ("/api/v1/mail/templates", vec!["get"]),
        ("/api/v1/mail/templates/{name}", vec!["put", "delete"]),
        ("/api/v1/incidents/{number}/attachments", vec!["get"]),
        ("/api/v1/attachments/{id}", vec!["get"]),
        ("/api/v1/plugins", vec!["get"]),
        ("/api/v1/plugins/{id}/secrets", vec!["get"]),
        ("/api/v1/plugins/{id}/secrets/{name}", vec!["put", "delete"]),
        ("/api/v1/schemas/workflow.json", vec!["get"]),
        ("/api/v1/sla/calendars", vec!["get", "put"]),
        ("/api/v1/sla/policies", vec!["get", "put"]),
        ("/api/v1/incidents/{number}/sla", vec!["get"]),
        ("/api/v1/incidents/{number}/csat", vec!["post"]),
        ("/api/v1/reports/service", vec!["get"]),
        ("/api/v1/schemas/sla-calendar.json", vec!["get"]),
        ("/api/v1/schemas/sla-policies.json", vec!["get"]),
        ("/metrics", vec!["get"]),
        ("/api/v1/integrations", vec!["get", "post"]),
        ("/api/v1/integrations/{name}", vec!["get", "patch", "delete"]),
        ("/api/v1/integrations/{name}/token", vec!["post"]),
        ("/api/v1/integrations/{name}/alerts", vec!["get"]),
        ("/api/v1/alerts/{kind}", vec!["post"]),
        ("/api/v1/alerts/{kind}/{token}", vec!["post"]),
        ("/api/v1/chat/{name}", vec!["post"]),
        ("/api/v1/webhooks", vec!["get", "post"]),
        ("/api/v1/webhooks/{name}", vec!["get", "put", "delete"]),
        ("/api/v1/webhooks/{name}/rotate", vec!["post"]),
        ("/api/v1/webhooks/{name}/deliveries", vec!["get"]),
        ("/api/v1/webhooks/{name}/deliveries/{id}/replay", vec!["post"]),
        ("/api/v1/oncall/schedules", vec!["get"]),
        ("/api/v1/oncall/schedules/{name}", vec!["get", "put", "delete"]),
        ("/api/v1/oncall/schedules/{name}/on-call", vec!["get"]),
        ("/api/v1/oncall/schedules/{name}/timeline", vec!["get"]),
        ("/api/v1/oncall/policies", vec!["get"]),
        ("/api/v1/oncall/policies/{name}", vec!["get", "put", "delete"]),
        ("/api/v1/incidents/{number}/acknowledge", vec!["post"]),
        ("/api/v1/incidents/{number}/escalation", vec!["get"]),
        ("/api/v1/incidents/{number}/links", vec!["get", "post"]),
        ("/api/v1/incidents/{number}/links/{type}/{target}", vec!["delete"]),
        ("/api/v1/incidents/{number}/watchers", vec!["get", "post"]),
        ("/api/v1/incidents/{number}/watchers/{username}", vec!["delete"]),
        ("/api/v1/incidents/{number}/convert", vec!["post"]),
        ("/api/v1/incidents/{number}/checklist", vec!["post"]),
        ("/api/v1/incidents/{number}/checklist/{item}", vec!["put"]),
        ("/api/v1/templates", vec!["get", "put"]),
        ("/api/v1/incidents/{number}/known-errors", vec!["get"]),
        ("/api/v1/incidents/{number}/known-errors/{problem}/apply", vec!["post"]),
    ];
    for (path, methods) in &expected {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"));
        for m in methods {
            assert!(item.get(*m).is_some(), "{m} {path} missing");
        }
    }
    assert_eq!(paths.len(), expected.len(), "undocumented or unexpected paths: {:?}", paths.keys().collect::<Vec<_>>());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

both_backends!(sla_documents_reject_bad_input_and_change_nothing, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let (s, calendars) = call(&app, Method::GET, "/api/v1/sla/calendars", Some(&t.agent), None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, policies) = call(&app, Method::GET, "/api/v1/sla/policies", Some(&t.agent), None).await;
    assert_eq!(policies["policies"][0]["id"], "p1-critical");
    let berlin = |hours: Value, zone: &str| {
        json!({"calendars": [{"id": "24x7", "name": "Always", "time_zone": "UTC", "hours": {"mon": ["00:00-24:00"]}},
                             {"id": "office-berlin", "name": "Berlin", "time_zone": zone, "hours": hours}]})
    };
    let bad_calendars = [
        (berlin(json!({"mon": ["09:00-12:00", "11:00-13:00"]}), "Europe/Berlin"), "calendars[1].hours.mon[1]", "overlap"),
        (berlin(json!({"mon": ["17:00-09:00"]}), "Europe/Berlin"), "calendars[1].hours.mon[0]", "inverted"),
        (berlin(json!({"mon": ["09:00-17:00"]}), "Mars/Olympus"), "calendars[1].time_zone", "time_zone"),
        (berlin(json!({"mon": ["09:00-17:00"], "someday": []}), "Europe/Berlin"), "calendars[1].hours.someday", "unknown_field"),
        // office-new-york is still used by no policy, but office-berlin is.
        (
            json!({"calendars": [{"id": "24x7", "name": "Always", "time_zone": "UTC", "hours": {"mon": ["00:00-24:00"]}}]}),
            "policies[2].calendar",
            "exists",
        ),
    ];
    for (body, field, rule) in bad_calendars {
        let (s, r) = call(&app, Method::PUT, "/api/v1/sla/calendars", Some(&t.admin), Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {r}");
        let details: Vec<(String, String)> = r["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["field"].as_str().unwrap().to_owned(), d["rule"].as_str().unwrap().to_owned()))
            .collect();
        assert!(details.contains(&(field.to_owned(), rule.to_owned())), "{body}: expected {field}/{rule} in {details:?}");
    }
    let bad_policies = [
        (json!({"policies": [{"id": "x", "name": "X", "calendar": "24x7", "targets": {}}]}), "policies[0].targets", "json_schema"),
        (
            json!({"policies": [{"id": "x", "name": "X", "calendar": "24x7", "targets": {"resolution": "4h"}, "when": 1}]}),
            "policies[0].when",
            "unknown_field",
        ),
    ];
    for (body, field, rule) in bad_policies {
        let (s, r) = call(&app, Method::PUT, "/api/v1/sla/policies", Some(&t.admin), Some(body.clone())).await;
        assert_eq!((s, detail(&r)), (StatusCode::UNPROCESSABLE_ENTITY, (field.to_owned(), rule.to_owned())), "{body}: {r}");
    }
    let (s, _) = call(&app, Method::PUT, "/api/v1/sla/policies", Some(&t.agent), Some(policies.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Nothing was written.
    assert_eq!(call(&app, Method::GET, "/api/v1/sla/calendars", Some(&t.agent), None).await.1, calendars);
    assert_eq!(call(&app, Method::GET, "/api/v1/sla/policies", Some(&t.agent), None).await.1, policies);

    // A good change is stored and read back.
    let one = json!({"policies": [{"id": "all", "name": "All", "calendar": "24x7", "targets": {"resolution": "2h"}, "warnings": [80]}]});
    let (s, r) = call(&app, Method::PUT, "/api/v1/sla/policies", Some(&t.admin), Some(one)).await;
    assert_eq!((s, r["policies"][0]["id"].as_str()), (StatusCode::OK, Some("all")), "{r}");

    // The incident shows its clocks, computed now.
    let (_, created) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.rita), Some(json!({"title": "Printer on fire"}))).await;
    let number = created["number"].as_str().unwrap();
    let (s, incident) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}"), Some(&t.rita), None).await;
    assert_eq!(s, StatusCode::OK);
    let clock = &incident["sla"][0];
    assert_eq!(
        (clock["target"].as_str(), clock["state"].as_str(), clock["policy"].as_str()),
        (Some("resolution"), Some("running"), Some("all"))
    );
    assert_eq!(clock["target_seconds"], 7200);
    assert!(clock["remaining_seconds"].as_i64().unwrap() > 7000, "{clock}");
    assert_eq!(clock["next_warnings"][0]["percent"], 80);
    let (s, clocks) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}/sla"), Some(&t.agent), None).await;
    assert_eq!((s, clocks.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (s, _) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}/sla"), Some(&t.otto), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Satisfaction only once resolved; the report counts the new incident.
    let (s, r) = call(&app, Method::POST, &format!("/api/v1/incidents/{number}/csat"), Some(&t.rita), Some(json!({"score": 5}))).await;
    assert_eq!((s, detail(&r)), (StatusCode::UNPROCESSABLE_ENTITY, ("status".into(), "resolved".into())), "{r}");
    let (s, r) = call(&app, Method::POST, &format!("/api/v1/incidents/{number}/csat"), Some(&t.rita), Some(json!({"score": 9}))).await;
    assert_eq!((s, detail(&r)), (StatusCode::UNPROCESSABLE_ENTITY, ("score".into(), "range".into())), "{r}");
    let (s, report) = call(&app, Method::GET, "/api/v1/reports/service?priority=P5", Some(&t.agent), None).await;
    assert_eq!((s, report["opened"].as_u64()), (StatusCode::OK, Some(1)), "{report}");
    let (s, r) = call(&app, Method::GET, "/api/v1/reports/service?priority=P9", Some(&t.agent), None).await;
    assert_eq!((s, detail(&r).0), (StatusCode::UNPROCESSABLE_ENTITY, "priority".into()));
    let (s, _) = call(&app, Method::GET, "/api/v1/reports/service", Some(&t.rita), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Prometheus text with the request counters.
    let res = app.clone().oneshot(Request::builder().uri("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("switchyard_http_requests_total{method=\"PUT\",status=\"422\"}"), "{text}");
    assert!(text.contains("switchyard_sla_clocks"), "{text}");
});

async fn post_mail(app: &Router, token: &str, message: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/mail/inbound")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "message/rfc822")
        .body(Body::from(message))
        .unwrap();
    raw(app, req).await
}

both_backends!(bad_mail_gets_a_recorded_reason_and_opens_nothing, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    store
        .update_user("rita", switchyard_store::UserPatch { email: Some(Some("rita@example.org".into())), ..Default::default() })
        .await
        .unwrap();
    let app = router(AppState::new(store.clone()));
    // Only admins push mail.
    let (s, _) = post_mail(&app, &t.rita, b"From: rita@example.org\r\n\r\nhi".to_vec()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // 50 MB: read, refused by intake's 25 MiB limit, recorded as failed.
    let mut huge = b"From: rita@example.org\r\nSubject: huge\r\nMessage-ID: <huge@x>\r\n\r\n".to_vec();
    huge.resize(50 * 1024 * 1024, b'x');
    let (s, body) = post_mail(&app, &t.admin, huge).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "failed");
    assert!(body["reason"].as_str().unwrap().contains("is 52428800 bytes, over the limit of 26214400 bytes"), "{body}");
    // No From: refused, with the reason.
    let (_, body) = post_mail(&app, &t.admin, b"Subject: who\r\nMessage-ID: <nofrom@x>\r\n\r\nwho am I".to_vec()).await;
    assert_eq!((body["outcome"].as_str(), body["reason"].as_str()), (Some("refused"), Some("the message has no From address")));
    // Not a message at all.
    let (_, body) = post_mail(&app, &t.admin, Vec::new()).await;
    assert_eq!(body["outcome"], "failed", "{body}");
    // A reply naming rita's ticket from otto (a requester, not hers): his own incident.
    let (_, created) = call(&app, Method::POST, "/api/v1/incidents", Some(&t.rita), Some(json!({"title": "Mine"}))).await;
    let number = created["number"].as_str().unwrap().to_owned();
    store
        .update_user("otto", switchyard_store::UserPatch { email: Some(Some("otto@example.org".into())), ..Default::default() })
        .await
        .unwrap();
    let forged = format!("From: otto@example.org\r\nSubject: Re: [{number}] close it\r\nMessage-ID: <forged@x>\r\n\r\nclose");
    let (_, body) = post_mail(&app, &t.admin, forged.into_bytes()).await;
    assert_eq!(body["outcome"], "created", "{body}");
    assert_ne!(body["incident"].as_str(), Some(number.as_str()));
    let (_, history) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}/history"), Some(&t.agent), None).await;
    assert!(history.as_array().unwrap().iter().all(|e| e["kind"] != "comment"), "nothing was added to rita's ticket");
    // Every message is on record, newest first, filterable by outcome.
    let (_, failed) = call(&app, Method::GET, "/api/v1/mail/inbound?outcome=failed", Some(&t.admin), None).await;
    assert_eq!(failed.as_array().unwrap().len(), 2);
    let (s, body) = call(&app, Method::GET, "/api/v1/mail/inbound?outcome=lost", Some(&t.admin), None).await;
    assert_eq!((s, detail(&body)), (StatusCode::UNPROCESSABLE_ENTITY, ("outcome".into(), "one_of".into())));
    // Attachments follow the incident's rules: otto cannot list rita's.
    let (s, _) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}/attachments"), Some(&t.otto), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, list) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}/attachments"), Some(&t.rita), None).await;
    assert_eq!((s, list), (StatusCode::OK, json!([])));

    // A runaway sender: past the limit, mail is recorded as ignored and opens nothing.
    let settings = switchyard_engine::intake::IntakeSettings { rate_limit: 2, ..Default::default() };
    let limited = router(AppState::new(store.clone()).with_intake(switchyard_engine::intake::Intake::new(store.clone(), settings)));
    let mut outcomes = Vec::new();
    for i in 0..3 {
        let mail = format!("From: runaway@example.org\r\nSubject: loop {i}\r\nMessage-ID: <loop-{i}@x>\r\n\r\nagain");
        let (_, body) = post_mail(&limited, &t.admin, mail.into_bytes()).await;
        outcomes.push((body["outcome"].as_str().unwrap().to_owned(), body["reason"].as_str().unwrap().to_owned()));
    }
    assert_eq!(outcomes[0].0, "created");
    assert_eq!(outcomes[1].0, "created");
    assert_eq!(outcomes[2].0, "ignored");
    assert!(outcomes[2].1.starts_with("rate limit: 2 messages from runaway@example.org in 10 minutes"), "{outcomes:?}");
});
