//! Integrations through the real router on real SQLite and PostgreSQL:
//! alerts in the payload shapes Alertmanager, Grafana and a generic sender
//! post; tokens that are wrong or missing; malformed payloads named by
//! field; chat slash commands with valid and forged signatures; webhook
//! subscriptions, on-call schedules and escalation policies refused with
//! the path of what is wrong; acknowledgement.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchyard_server::{AppState, router};
use switchyard_store::testing::TestDatabase;
use switchyard_store::{CiInput, both_backends};

use common::{call, detail, raw, setup};

fn payload(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../webhooks/tests/payloads").join(name)).unwrap()
}

/// A firing fixture as its sender posts it once the alerts resolve.
fn resolved(name: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&payload(name)).unwrap();
    body["status"] = json!("resolved");
    for a in body["alerts"].as_array_mut().unwrap() {
        a["status"] = json!("resolved");
        a["endsAt"] = json!("2024-03-12T09:14:25.839Z");
    }
    body.to_string().into_bytes()
}

async fn post_bytes(app: &axum::Router, path: &str, bearer: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(Method::POST).uri(path).header("content-type", "application/json");
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    raw(app, req.body(Body::from(body)).unwrap()).await
}

async fn integration(app: &axum::Router, admin: &str, body: Value) -> String {
    let (s, r) = call(app, Method::POST, "/api/v1/integrations", Some(admin), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r["token"].as_str().unwrap().to_owned()
}

fn outcomes(r: &Value) -> Vec<(String, String)> {
    r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["outcome"].as_str().unwrap().to_owned(), a["incident"].as_str().unwrap_or("").to_owned()))
        .collect()
}

both_backends!(alerts_in_real_payload_shapes_open_dedup_and_resolve, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let ci = store
        .create_ci(CiInput {
            name: "api-1.example.org:8080".into(),
            class: "server".parse().unwrap(),
            status: None,
            owner_group: None,
            attributes: json!({}),
        })
        .await
        .unwrap();
    let token = integration(&app, &t.admin, json!({"name": "prometheus", "kind": "alertmanager", "settings": {"requester": "rita"}})).await;
    // Two grouped alerts: two incidents, with the URL token.
    let (s, r) = post_bytes(&app, &format!("/api/v1/alerts/alertmanager/{token}"), None, payload("alertmanager-firing.json")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let first = outcomes(&r);
    assert_eq!(first.iter().map(|o| o.0.as_str()).collect::<Vec<_>>(), ["opened", "opened"]);
    // The same again, with the bearer token: both attach.
    let (_, r) = post_bytes(&app, "/api/v1/alerts/alertmanager", Some(&token), payload("alertmanager-firing.json")).await;
    assert_eq!(outcomes(&r).iter().map(|o| o.0.as_str()).collect::<Vec<_>>(), ["attached", "attached"]);
    assert_eq!(r["alerts"][0]["occurrences"], 2);
    // The incident: channel alert, critical -> P1, the CI its instance label names.
    let (_, incident) = call(&app, Method::GET, &format!("/api/v1/incidents/{}", first[0].1), Some(&t.agent), None).await;
    assert_eq!((incident["channel"].as_str(), incident["priority"].as_str()), (Some("alert"), Some("P1")), "{incident}");
    assert_eq!(incident["affected_cis"], json!([ci.id]));
    let (_, other) = call(&app, Method::GET, &format!("/api/v1/incidents/{}", first[1].1), Some(&t.agent), None).await;
    assert!(other["description"].as_str().unwrap().contains("No CI matches these labels"), "an unknown CI label is kept as a label");
    // A group with one firing and one resolved alert of other fingerprints:
    // the firing one opens, the resolve of nothing open is ignored.
    let (_, r) = post_bytes(&app, "/api/v1/alerts/alertmanager", Some(&token), payload("alertmanager-grouped-mixed.json")).await;
    let mixed = outcomes(&r);
    assert_eq!(mixed.iter().map(|o| o.0.as_str()).collect::<Vec<_>>(), ["opened", "ignored"], "{mixed:?}");
    // The first group resolved.
    let (_, r) = post_bytes(&app, "/api/v1/alerts/alertmanager", Some(&token), resolved("alertmanager-firing.json")).await;
    assert_eq!(outcomes(&r).iter().map(|o| o.0.as_str()).collect::<Vec<_>>(), ["resolved", "resolved"], "{r}");
    let (_, r) = post_bytes(&app, "/api/v1/alerts/alertmanager", Some(&token), payload("alertmanager-resolved.json")).await;
    assert_eq!(outcomes(&r).iter().map(|o| o.0.as_str()).collect::<Vec<_>>(), ["ignored"], "{r}");
    for (_, number) in &first {
        let (_, i) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}"), Some(&t.agent), None).await;
        assert_eq!(i["status"], "resolved", "{number}");
    }
    let (_, alerts) = call(&app, Method::GET, "/api/v1/integrations/prometheus/alerts", Some(&t.admin), None).await;
    let statuses: Vec<(&str, &str)> =
        alerts.as_array().unwrap().iter().map(|a| (a["fingerprint"].as_str().unwrap(), a["status"].as_str().unwrap())).collect();
    assert_eq!(statuses.len(), 3, "a resolve of nothing open leaves no record: {alerts}");
    for fp in ["5f1f4e2e3ad6a0b1", "8c2a0c7d91b34e55"] {
        assert!(statuses.contains(&(fp, "resolved")), "{fp}: {alerts}");
    }

    // Grafana: fires and resolves.
    let grafana =
        integration(&app, &t.admin, json!({"name": "grafana", "kind": "grafana", "settings": {"requester": "rita", "on_resolve": "note"}}))
            .await;
    let (s, r) = post_bytes(&app, &format!("/api/v1/alerts/grafana/{grafana}"), None, payload("grafana-firing.json")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let opened = outcomes(&r);
    assert!(opened.iter().all(|o| o.0 == "opened"), "{opened:?}");
    let (_, r) = post_bytes(&app, &format!("/api/v1/alerts/grafana/{grafana}"), None, resolved("grafana-firing.json")).await;
    assert!(outcomes(&r).iter().all(|o| o.0 == "noted"), "a note-only integration notes: {r}");
    let (s, _) = post_bytes(&app, &format!("/api/v1/alerts/grafana/{grafana}"), None, payload("grafana-resolved.json")).await;
    assert_eq!(s, StatusCode::OK);

    // Generic JSON through a mapping.
    let mapping = json!({"alerts": "items", "title": "alert.name", "description": "alert.details", "severity": "alert.level",
                         "ci": "host.name", "fingerprint": "alert.id", "status": "state", "resolved_values": ["ok", "resolved"],
                         "labels": {"service": "tags.service"}});
    let generic =
        integration(&app, &t.admin, json!({"name": "uptime", "kind": "generic", "settings": {"requester": "rita", "mapping": mapping}}))
            .await;
    let (s, r) = post_bytes(&app, "/api/v1/alerts/generic", Some(&generic), payload("generic.json")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let generic_outcomes = outcomes(&r);
    assert_eq!(generic_outcomes[0].0, "opened");
    assert_eq!(generic_outcomes[1].0, "ignored", "the second item is OK: a resolve of nothing open");
    let (_, i) = call(&app, Method::GET, &format!("/api/v1/incidents/{}", generic_outcomes[0].1), Some(&t.agent), None).await;
    assert_eq!(i["title"], "Checkout page returns 503");
});

both_backends!(bad_tokens_and_payloads_write_nothing, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let token = integration(&app, &t.admin, json!({"name": "prometheus", "kind": "alertmanager", "settings": {"requester": "rita"}})).await;
    let body = payload("alertmanager-firing.json");
    for (path, bearer) in [
        ("/api/v1/alerts/alertmanager/syi_wrong".to_owned(), None),
        ("/api/v1/alerts/alertmanager".to_owned(), None),
        ("/api/v1/alerts/alertmanager".to_owned(), Some(t.admin.as_str())),
    ] {
        let (s, r) = post_bytes(&app, &path, bearer, body.clone()).await;
        assert_eq!((s, r["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")), "{path}: {r}");
    }
    let (s, r) = post_bytes(&app, &format!("/api/v1/alerts/grafana/{token}"), None, body.clone()).await;
    assert_eq!((s, detail(&r).0.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "kind"), "{r}");
    let (s, r) = post_bytes(&app, &format!("/api/v1/alerts/alertmanager/{token}"), None, b"{not json".to_vec()).await;
    assert_eq!((s, r["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")), "{r}");
    let bad = json!({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": 7}}]});
    let (s, r) = post_bytes(&app, &format!("/api/v1/alerts/alertmanager/{token}"), None, bad.to_string().into_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert!(detail(&r).0.starts_with("alerts[0].labels"), "{r}");
    let (s, r) = post_bytes(
        &app,
        &format!("/api/v1/alerts/alertmanager/{token}"),
        None,
        json!({"version": "3", "alerts": []}).to_string().into_bytes(),
    )
    .await;
    assert_eq!((s, detail(&r)), (StatusCode::UNPROCESSABLE_ENTITY, ("version".to_owned(), "version".to_owned())), "{r}");
    assert!(store.list_incidents(&Default::default()).await.unwrap().items.is_empty(), "nothing was written");
    // Settings are checked on create and change.
    for (body, field, rule) in [
        (json!({"name": "x", "kind": "alertmanager", "settings": {}}), "settings", "json_schema"),
        (json!({"name": "x", "kind": "generic", "settings": {"requester": "rita"}}), "settings.mapping", "required"),
        (json!({"name": "x", "kind": "pagerduty", "settings": {"requester": "rita"}}), "kind", "one_of"),
        (json!({"name": "x", "kind": "slack", "settings": {"requester": "rita"}}), "secret", "required"),
        (json!({"name": "x y", "kind": "grafana", "settings": {"requester": "rita"}}), "name", "format"),
    ] {
        let (s, r) = call(&app, Method::POST, "/api/v1/integrations", Some(&t.admin), Some(body.clone())).await;
        assert_eq!((s, detail(&r)), (StatusCode::UNPROCESSABLE_ENTITY, (field.to_owned(), rule.to_owned())), "{body}: {r}");
    }
    let (s, _) = call(&app, Method::GET, "/api/v1/integrations", Some(&t.agent), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A disabled integration's token stops working; a rotated one too.
    let (s, _) = call(&app, Method::PATCH, "/api/v1/integrations/prometheus", Some(&t.admin), Some(json!({"enabled": false}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = post_bytes(&app, "/api/v1/alerts/alertmanager", Some(&token), body.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    call(&app, Method::PATCH, "/api/v1/integrations/prometheus", Some(&t.admin), Some(json!({"enabled": true}))).await;
    let (_, rotated) = call(&app, Method::POST, "/api/v1/integrations/prometheus/token", Some(&t.admin), None).await;
    let (s, _) = post_bytes(&app, "/api/v1/alerts/alertmanager", Some(&token), body.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the old token is gone");
    let (s, _) = post_bytes(&app, "/api/v1/alerts/alertmanager", Some(rotated["token"].as_str().unwrap()), body).await;
    assert_eq!(s, StatusCode::OK);
});

fn slack_signature(secret: &str, ts: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

async fn slack(app: &axum::Router, body: &str, signature: &str, ts: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/chat/slack-desk")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap();
    raw(app, req).await
}

both_backends!(chat_commands_act_only_when_signed, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    integration(
        &app,
        &t.admin,
        json!({"name": "slack-desk", "kind": "slack", "settings": {"requester": "rita", "map_users_by_name": true}, "secret": secret}),
    )
    .await;
    let ts = chrono::Utc::now().timestamp().to_string();
    let open = "token=x&team_id=T1&channel_id=C1&channel_name=it-help&user_id=U1&user_name=alice&command=%2Fincident&text=printer+on+floor+3+is+jammed";
    // A forged signature does nothing.
    let (s, r) = slack(&app, open, &slack_signature("not-the-secret", &ts, open), &ts).await;
    assert_eq!((s, r["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")), "{r}");
    let (s, _) = slack(&app, open, &slack_signature(secret, "1531420618", open), "1531420618").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "an old timestamp is a replay");
    assert!(store.list_incidents(&Default::default()).await.unwrap().items.is_empty());
    // Signed: opens an incident for alice (a Switchyard user), channel chat.
    let (s, r) = slack(&app, open, &slack_signature(secret, &ts, open), &ts).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let text = r["text"].as_str().unwrap();
    assert!(text.starts_with("Opened INC-"), "{text}");
    let number = text.split_whitespace().nth(1).unwrap().trim_end_matches(':').to_owned();
    let (_, incident) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}"), Some(&t.agent), None).await;
    assert_eq!(
        (incident["channel"].as_str(), incident["title"].as_str(), incident["requester"].as_str()),
        (Some("chat"), Some("printer on floor 3 is jammed"), Some("alice"))
    );
    // A comment on it.
    let comment = format!("token=x&channel_name=it-help&user_id=U1&user_name=alice&command=%2Fincident&text={number}+it+works+again");
    let (_, r) = slack(&app, &comment, &slack_signature(secret, &ts, &comment), &ts).await;
    assert_eq!(r["text"], format!("Added your comment to {number}."));
    let (_, history) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}/history"), Some(&t.agent), None).await;
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].as_str(), last["body"].as_str(), last["actor"].as_str()),
        (Some("comment"), Some("it works again"), Some("alice via chat:slack-desk")),
        "{last}"
    );
    // Mattermost: the token in the body.
    integration(&app, &t.admin, json!({"name": "mm", "kind": "mattermost", "settings": {"requester": "rita"}, "secret": "mm-token"})).await;
    let mm = |token: &str| {
        format!("token={token}&user_id=u9&user_name=nobody-known&channel_name=ops&trigger_word=%23incident&text=%23incident+VPN+is+down")
    };
    let req = |body: String| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/chat/mm")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let (s, _) = raw(&app, req(mm("forged"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, r) = raw(&app, req(mm("mm-token"))).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["text"].as_str().unwrap().starts_with("Opened INC-"), "{r}");
    let filter = switchyard_store::IncidentFilter { limit: 50, ..Default::default() };
    let all = store.list_incidents(&filter).await.unwrap().items;
    assert_eq!(all.len(), 2, "{all:?}");
});

both_backends!(subscriptions_schedules_and_policies_refuse_bad_documents, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let good = json!({"name": "ops", "url": "https://hooks.example.org/in", "events": ["ticket.created", "alert.received"]});
    let (s, r) = call(&app, Method::POST, "/api/v1/webhooks", Some(&t.admin), Some(good.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert!(r["secret"].as_str().unwrap().starts_with("whsec_"));
    for (patch, field, rule) in [
        (json!({"name": "b", "url": "ftp://x", "events": ["ticket.created"]}), "url", "format"),
        (json!({"name": "b", "url": "https://x", "events": ["ticket.exploded"]}), "events[0]", "one_of"),
        (json!({"name": "b", "url": "https://x", "events": []}), "events", "required"),
        (json!({"name": "b", "url": "https://x", "events": ["ticket.created"], "format": "teams"}), "format", "one_of"),
        (json!({"name": "b", "url": "https://x", "events": ["ticket.created"], "filter": {"some": []}}), "filter", "condition"),
        (json!({"name": "b", "url": "https://x", "events": ["ticket.created"], "timeout_ms": 5}), "timeout_ms", "range"),
    ] {
        let (s, r) = call(&app, Method::POST, "/api/v1/webhooks", Some(&t.admin), Some(patch.clone())).await;
        assert_eq!((s, detail(&r)), (StatusCode::UNPROCESSABLE_ENTITY, (field.to_owned(), rule.to_owned())), "{patch}: {r}");
    }
    let (s, _) = call(&app, Method::POST, "/api/v1/webhooks", Some(&t.admin), Some(good)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, r) = call(&app, Method::POST, "/api/v1/webhooks/ops/rotate", Some(&t.admin), Some(json!({"overlap_hours": 2}))).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["previous_secret_until"].is_string());
    let (s, _) = call(&app, Method::POST, "/api/v1/webhooks/ops/deliveries/999/replay", Some(&t.admin), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, log) = call(&app, Method::GET, "/api/v1/webhooks/ops/deliveries", Some(&t.admin), None).await;
    assert_eq!((s, log), (StatusCode::OK, json!([])));

    // Schedules: every problem by path, nothing stored.
    let bad = json!({"time_zone": "Mars/Olympus", "layers": [{"name": "w", "participants": [], "start": "2026-01-05T09:00", "rotation": {"every": 0, "unit": "weeks"}}]});
    let (s, r) = call(&app, Method::PUT, "/api/v1/oncall/schedules/sre", Some(&t.admin), Some(bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    let fields: Vec<&str> = r["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    for f in ["time_zone", "layers[0].participants", "layers[0].rotation.every"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    let (s, _) = call(&app, Method::GET, "/api/v1/oncall/schedules/sre", Some(&t.agent), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was stored");
    let schedule = json!({"time_zone": "Europe/Berlin", "layers": [
        {"name": "weekly", "participants": ["alice", "ada"], "start": "2026-01-05T09:00", "rotation": {"every": 1, "unit": "weeks"}}],
        "overrides": [{"user": "ada", "start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"}]});
    let (s, r) = call(&app, Method::PUT, "/api/v1/oncall/schedules/sre", Some(&t.admin), Some(schedule)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, who) = call(&app, Method::GET, "/api/v1/oncall/schedules/sre/on-call?at=2026-01-06T12:00:00Z", Some(&t.agent), None).await;
    assert_eq!((who["user"].as_str(), who["layer"].as_str()), (Some("alice"), Some("weekly")), "{who}");
    let (_, who) = call(&app, Method::GET, "/api/v1/oncall/schedules/sre/on-call?at=2026-03-10T12:00:00Z", Some(&t.agent), None).await;
    assert_eq!((who["user"].as_str(), who["layer"].as_str()), (Some("ada"), None), "an override: {who}");
    let (s, r) = call(&app, Method::GET, "/api/v1/oncall/schedules/sre/on-call?at=yesterday", Some(&t.agent), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    let (_, shifts) = call(
        &app,
        Method::GET,
        "/api/v1/oncall/schedules/sre/timeline?from=2026-01-05T08:00:00Z&to=2026-01-19T08:00:00Z",
        Some(&t.agent),
        None,
    )
    .await;
    let users: Vec<&str> = shifts.as_array().unwrap().iter().map(|s| s["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["alice", "ada"], "{shifts}");
    let (s, _) = call(&app, Method::GET, "/api/v1/oncall/schedules", Some(&t.rita), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Policies: the domain's rules and `via`.
    let bad = json!({"groups": ["sre"], "via": ["sms"], "levels": [{"after_minutes": 5, "notify": [{"schedule": "sre", "user": "ada"}]}]});
    let (s, r) = call(&app, Method::PUT, "/api/v1/oncall/policies/sre", Some(&t.admin), Some(bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    let fields: Vec<(String, String)> = r["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["field"].as_str().unwrap().into(), d["rule"].as_str().unwrap().into()))
        .collect();
    for f in [("via[0]", "one_of"), ("levels[0].after_minutes", "order"), ("levels[0].notify[0]", "one_of")] {
        assert!(fields.contains(&(f.0.into(), f.1.into())), "{f:?} in {fields:?}");
    }
    let policy = json!({"groups": ["sre"], "levels": [{"after_minutes": 0, "notify": [{"schedule": "sre"}]}]});
    let (s, r) = call(&app, Method::PUT, "/api/v1/oncall/policies/sre", Some(&t.admin), Some(policy)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r) = call(&app, Method::PUT, "/api/v1/oncall/policies/other", Some(&t.admin), Some(json!({"name": "sre"}))).await;
    assert_eq!((s, detail(&r).0.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "name"));

    // Acknowledge: once, by an agent.
    let (_, created) =
        call(&app, Method::POST, "/api/v1/incidents", Some(&t.rita), Some(json!({"title": "Printer", "description": "jammed"}))).await;
    let number = created["number"].as_str().unwrap().to_owned();
    let (s, _) = call(&app, Method::POST, &format!("/api/v1/incidents/{number}/acknowledge"), Some(&t.rita), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, r) = call(&app, Method::POST, &format!("/api/v1/incidents/{number}/acknowledge"), Some(&t.agent), None).await;
    assert_eq!((s, r["acknowledged_by"].as_str()), (StatusCode::OK, Some("alice")), "{r}");
    let (s, _) = call(&app, Method::POST, &format!("/api/v1/incidents/{number}/acknowledge"), Some(&t.agent), None).await;
    assert_eq!(s, StatusCode::CONFLICT);
});

both_backends!(an_agent_acknowledges_by_replying_ack, |db: TestDatabase| async move {
    let store = db.store.clone();
    let t = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let (_, me) = call(&app, Method::PATCH, "/api/v1/users/alice", Some(&t.admin), Some(json!({"email": "alice@example.org"}))).await;
    assert_eq!(me["email"], "alice@example.org", "{me}");
    let (_, created) = call(
        &app,
        Method::POST,
        "/api/v1/incidents",
        Some(&t.rita),
        Some(json!({"title": "Core switch down", "description": "all floors"})),
    )
    .await;
    let number = created["number"].as_str().unwrap().to_owned();
    let mail = |id: &str, body: &str| {
        format!(
            "From: Alice <alice@example.org>\r\nTo: desk@example.org\r\nSubject: Re: [{number}] Core switch down\r\n\
             Message-ID: <{id}@example.org>\r\n\r\n{body}\r\n\r\nOn Fri, the service desk wrote:\r\n> You are paged.\r\n"
        )
    };
    let post = |message: String| {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/mail/inbound")
            .header("authorization", format!("Bearer {}", t.admin))
            .header("content-type", "message/rfc822")
            .body(Body::from(message))
            .unwrap();
        raw(&app, req)
    };
    let (s, r) = post(mail("ack-1", "ACK, on my way")).await;
    assert_eq!((s, r["outcome"].as_str()), (StatusCode::OK, Some("acknowledged")), "{r}");
    let (s, r) = post(mail("ack-2", "ack")).await;
    assert_eq!((s, r["outcome"].as_str()), (StatusCode::OK, Some("ignored")), "a second acknowledgement changes nothing: {r}");
    let (_, history) = call(&app, Method::GET, &format!("/api/v1/incidents/{number}/history"), Some(&t.agent), None).await;
    let acks: Vec<&Value> = history.as_array().unwrap().iter().filter(|e| e["kind"] == "acknowledged").collect();
    assert_eq!(acks.len(), 1, "{history}");
    assert_eq!(acks[0]["actor"], "alice via servicedesk@localhost", "{}", acks[0]);
    // Any other reply is still a comment.
    let (_, r) = post(mail("ack-3", "Back online after the reboot.")).await;
    assert_eq!(r["outcome"], "commented", "{r}");
});
