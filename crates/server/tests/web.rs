//! The web pages through the real router, on real SQLite and PostgreSQL:
//! who may open which page, escaping, CSRF, form errors that write
//! nothing, sign-in (throttled), expiry, sign-out and the security headers.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use switchyard_domain::directory::Role;
use switchyard_server::{AppState, router};
use switchyard_store::testing::TestDatabase;
use switchyard_store::{IncidentFilter, Store, UserInput, both_backends};
use tower::ServiceExt;

struct Sessions {
    rita: String,
    otto: String,
    alice: String,
    admin_api: String,
}

async fn setup(store: &Store) -> Sessions {
    let mut tokens = Vec::new();
    for (name, role) in [("rita", Role::Requester), ("otto", Role::Requester), ("alice", Role::Agent), ("ada", Role::Admin)] {
        store
            .create_user(UserInput {
                username: name.into(),
                display_name: name.into(),
                role: Some(role),
                password: Some(format!("{name}-password-1")),
                ..Default::default()
            })
            .await
            .unwrap();
        tokens.push(store.create_token(name, "web session", None).await.unwrap().1);
    }
    let mut t = tokens.into_iter();
    Sessions { rita: t.next().unwrap(), otto: t.next().unwrap(), alice: t.next().unwrap(), admin_api: t.next().unwrap() }
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The first form token on the page.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a csrf field") + 19;
        self.body[at..].split('"').next().unwrap().to_owned()
    }

    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned()))
    }
}

async fn send(app: &Router, req: Request<Body>) -> Page {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Page { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn get(app: &Router, path: &str, cookie: Option<&str>) -> Page {
    let mut req = Request::builder().uri(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Page {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut req = Request::builder().method(Method::POST).uri(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    send(app, req.body(Body::from(body)).unwrap()).await
}

fn session(token: &str) -> String {
    format!("sy_session={token}")
}

async fn api(app: &Router, method: Method, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let page = send(app, req).await;
    (page.status, serde_json::from_str(&page.body).unwrap_or(Value::Null))
}

async fn count(store: &Store) -> usize {
    store.list_incidents(&IncidentFilter { limit: 500, ..Default::default() }).await.unwrap().items.len()
}

both_backends!(pages_by_role, |db: TestDatabase| async move {
    let store = db.store.clone();
    let s = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let (status, _) = api(&app, Method::POST, "/api/v1/incidents", &s.rita, json!({"title": "Rita's laptop"})).await;
    assert_eq!(status, StatusCode::CREATED);

    // (path, [anonymous, rita (owner), otto (another requester), alice (agent)]); 303 to the login page for anonymous.
    let rows: [(&str, [u16; 4]); 8] = [
        ("/", [303, 303, 303, 303]),
        ("/console", [303, 403, 403, 200]),
        ("/console?queue=sla", [303, 403, 403, 200]),
        ("/console/incidents/INC-000001", [303, 403, 403, 200]),
        ("/portal", [303, 200, 200, 200]),
        ("/portal/new", [303, 200, 200, 200]),
        ("/portal/incidents/INC-000001", [303, 200, 404, 200]),
        ("/portal/incidents/INC-000999", [303, 404, 404, 404]),
    ];
    for (path, expected) in rows {
        for (who, want) in [None, Some(&s.rita), Some(&s.otto), Some(&s.alice)].into_iter().zip(expected) {
            let page = get(&app, path, who.map(|t| session(t)).as_deref()).await;
            assert_eq!(page.status.as_u16(), want, "{path} as {who:?}: {}", page.body);
            if who.is_none() {
                let next: String = form_urlencoded::Serializer::new(String::new()).append_pair("next", path).finish();
                assert_eq!(page.location(), format!("/login?{next}"), "{path} keeps its target");
            }
            if want == 200 || want == 403 || want == 404 {
                assert!(page.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}: HTML");
            }
        }
    }
    // The search box opens a number directly; text searches the queue.
    assert_eq!(get(&app, "/console?queue=all&q=inc-1", Some(&session(&s.alice))).await.location(), "/console/incidents/INC-000001");
    let found = get(&app, "/console?queue=all&q=laptop", Some(&session(&s.alice))).await;
    assert!(found.body.contains("Rita&#39;s laptop") || found.body.contains("Rita&#x27;s laptop"), "{}", found.body);
    let none = get(&app, "/console?queue=all&q=printer", Some(&session(&s.alice))).await;
    assert!(none.body.contains("Nothing in this queue."));
    // A bad filter shows its error next to the field with the API's rule.
    let bad = get(&app, "/console?queue=all&priority=P9", Some(&session(&s.alice))).await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.body.contains("id=\"filter-priority-error\"") && bad.body.contains("(one_of)"), "{}", bad.body);
    // The tab counts come in a fragment of their own (htmx loads it after the page).
    let page = get(&app, "/console?queue=all", Some(&session(&s.alice))).await;
    assert!(page.body.contains("hx-get=\"/console/counts?queue=all\""), "the page asks for its counts");
    let counts = get(&app, "/console/counts?queue=all", Some(&session(&s.alice))).await;
    assert_eq!(counts.status, StatusCode::OK);
    assert!(counts.body.contains("Everything <span class=\"count\">1</span>") && !counts.body.contains("hx-get"), "{}", counts.body);
    assert_eq!(get(&app, "/console/counts?queue=all", Some(&session(&s.rita))).await.status, StatusCode::FORBIDDEN);
    // The live refresh gets the rows only.
    let req = Request::builder()
        .uri("/console?queue=all")
        .header(header::COOKIE, session(&s.alice))
        .header("hx-request", "true")
        .body(Body::empty())
        .unwrap();
    let rows = send(&app, req).await;
    assert!(rows.body.trim_start().starts_with("<tr>") && !rows.body.contains("<html"), "{}", rows.body);
    assert_eq!(get(&app, "/", Some(&session(&s.rita))).await.location(), "/portal");
    assert_eq!(get(&app, "/", Some(&session(&s.alice))).await.location(), "/console");
    // The API keeps answering JSON, and unknown pages are HTML 404s.
    let page = get(&app, "/api/v1/nope", None).await;
    assert_eq!((page.status, page.headers[header::CONTENT_TYPE].to_str().unwrap()), (StatusCode::NOT_FOUND, "application/json"));
    let page = get(&app, "/nope", None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("<h1"), "an HTML page");
    // A session cookie is not a bearer token: the API still wants Authorization.
    assert_eq!(get(&app, "/api/v1/me", Some(&session(&s.alice))).await.status, StatusCode::UNAUTHORIZED);
    let _ = s.admin_api;
});

both_backends!(user_text_is_escaped_and_work_notes_stay_internal, |db: TestDatabase| async move {
    let store = db.store.clone();
    let s = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let (_, inc) = api(
        &app,
        Method::POST,
        "/api/v1/incidents",
        &s.rita,
        json!({"title": "<script>alert(1)</script>", "description": "<img src=x onerror=alert(2)>"}),
    )
    .await;
    let number = inc["number"].as_str().unwrap().to_owned();
    api(&app, Method::POST, &format!("/api/v1/incidents/{number}/work-notes"), &s.alice, json!({"body": "secret-note <b>x</b>"})).await;
    api(&app, Method::POST, &format!("/api/v1/incidents/{number}/comments"), &s.alice, json!({"body": "public-reply"})).await;

    for (path, cookie) in [
        ("/console?queue=all".to_owned(), session(&s.alice)),
        (format!("/console/incidents/{number}"), session(&s.alice)),
        (format!("/portal/incidents/{number}"), session(&s.rita)),
        ("/portal".to_owned(), session(&s.rita)),
    ] {
        let page = get(&app, &path, Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains("<script>alert(1)"), "{path} renders the title as text");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains("<img src=x"), "{path}");
    }
    let agent = get(&app, &format!("/console/incidents/{number}"), Some(&session(&s.alice))).await;
    assert!(agent.body.contains("secret-note") && agent.body.contains("Internal"), "agents see work notes, marked");
    let requester = get(&app, &format!("/portal/incidents/{number}"), Some(&session(&s.rita))).await;
    assert!(!requester.body.contains("secret-note"), "a requester never sees a work note");
    assert!(requester.body.contains("public-reply"));
});

both_backends!(forms_need_their_token_and_errors_write_nothing, |db: TestDatabase| async move {
    let store = db.store.clone();
    let s = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let rita = session(&s.rita);
    let page = get(&app, "/portal/new", Some(&rita)).await;
    let csrf = page.csrf();

    // No token, a wrong token, another session's token: refused, nothing written.
    let alice_csrf = get(&app, "/portal/new", Some(&session(&s.alice))).await.csrf();
    for token in [None, Some("0000"), Some(alice_csrf.as_str())] {
        let mut form = vec![("title", "Printer on fire")];
        if let Some(t) = token {
            form.push(("csrf", t));
        }
        let res = post(&app, "/portal/new", Some(&rita), &form).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "token {token:?}");
    }
    assert_eq!(count(&store).await, 0);

    // A broken form: the error next to its field, the same rule as the API, nothing written.
    let res = post(&app, "/portal/new", Some(&rita), &[("csrf", &csrf), ("title", "  "), ("description", "kept text")]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("id=\"new-title-error\""), "{}", res.body);
    assert!(res.body.contains("(required)"), "the API's rule name");
    assert!(res.body.contains("kept text"), "what was typed is kept");
    let (_, api_error) = api(&app, Method::POST, "/api/v1/incidents", &s.rita, json!({"title": "  "})).await;
    assert_eq!(api_error["error"]["details"][0]["field"], "title");
    assert_eq!(api_error["error"]["details"][0]["rule"], "required");
    let res = post(&app, "/portal/new", Some(&rita), &[("csrf", &csrf), ("title", "Printer"), ("category", "made-up")]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("id=\"new-category-error\""));
    assert_eq!(count(&store).await, 0);

    // The right token works.
    let res = post(&app, "/portal/new", Some(&rita), &[("csrf", &csrf), ("title", "Printer on fire"), ("category", "hardware")]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/portal/incidents/INC-000001");
    let record = store.list_incidents(&IncidentFilter { limit: 5, ..Default::default() }).await.unwrap().items.remove(0);
    assert_eq!((record.incident.channel.as_str(), record.incident.category.as_deref()), ("portal", Some("hardware")));

    // The agent works it from the console: a transition without what it needs shows the rule next to the field.
    let alice = session(&s.alice);
    let page = get(&app, "/console/incidents/INC-000001", Some(&alice)).await;
    let csrf = page.csrf();
    let res =
        post(&app, "/console/incidents/INC-000001/transition", Some(&alice), &[("csrf", &csrf), ("to", "pending"), ("pending_reason", "")])
            .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("id=\"transition-pending-pending_reason-error\""), "{}", res.body);
    assert_eq!(store.get_incident(record.incident.number).await.unwrap().incident.status.as_str(), "new");
    let res = post(
        &app,
        "/console/incidents/INC-000001/transition",
        Some(&alice),
        &[("csrf", &csrf), ("to", "pending"), ("pending_reason", "awaiting_vendor")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(store.get_incident(record.incident.number).await.unwrap().incident.status.as_str(), "pending");
});

both_backends!(sign_in_throttle_expiry_and_sign_out, |db: TestDatabase| async move {
    let store = db.store.clone();
    let s = setup(&store).await;
    let app = router(AppState::new(store.clone()));

    // The login page sets its own form token cookie; a post without it is refused.
    let page = get(&app, "/login?next=/console", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let login_cookie = format!("sy_login={}", page.set_cookie("sy_login").expect("login token cookie"));
    let csrf = page.csrf();
    let res = post(&app, "/login", None, &[("csrf", &csrf), ("username", "alice"), ("password", "alice-password-1")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // Right password: a session cookie (HttpOnly, SameSite) and back to where the person was going.
    let res = post(
        &app,
        "/login",
        Some(&login_cookie),
        &[("csrf", &csrf), ("username", "alice"), ("password", "alice-password-1"), ("next", "/console")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/console");
    let raw = res
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sy_session="))
        .unwrap();
    assert!(raw.contains("HttpOnly") && raw.contains("SameSite=Lax") && raw.contains("Max-Age=43200"), "{raw}");
    assert!(!raw.contains("Secure"), "plain HTTP: not Secure");
    let token = res.set_cookie("sy_session").unwrap();
    assert_eq!(get(&app, "/console", Some(&session(&token))).await.status, StatusCode::OK);
    // An open redirect is not followed.
    let res = post(
        &app,
        "/login",
        Some(&login_cookie),
        &[("csrf", &csrf), ("username", "rita"), ("password", "rita-password-1"), ("next", "//evil.example/")],
    )
    .await;
    assert_eq!(res.location(), "/portal");

    // Behind an HTTPS proxy the cookie is Secure.
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf", csrf.as_str()), ("username", "otto"), ("password", "otto-password-1")])
        .finish();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &login_cookie)
        .header("x-forwarded-proto", "https")
        .body(Body::from(body))
        .unwrap();
    let res = send(&app, req).await;
    assert!(
        res.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("sy_session=") && c.to_str().unwrap().contains("Secure"))
    );

    // Wrong passwords: 401 with the message on the form, then 429 after five.
    for _ in 0..5 {
        let res = post(&app, "/login", Some(&login_cookie), &[("csrf", &csrf), ("username", "rita"), ("password", "nope")]).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert!(res.body.contains("wrong password"));
    }
    let res = post(&app, "/login", Some(&login_cookie), &[("csrf", &csrf), ("username", "rita"), ("password", "rita-password-1")]).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    // The API's login shares the throttle.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"username": "rita", "password": "rita-password-1"}).to_string()))
        .unwrap();
    assert_eq!(send(&app, req).await.status, StatusCode::TOO_MANY_REQUESTS);

    // An expired session goes to the login page and keeps the target.
    let (_, expired) = store.create_token("alice", "web session", Some(chrono::Utc::now() - chrono::Duration::minutes(1))).await.unwrap();
    let res = get(&app, "/console/incidents/INC-000007?tab=x", Some(&session(&expired))).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/login?next=%2Fconsole%2Fincidents%2FINC-000007%3Ftab%3Dx");
    // A form posted on an expired session comes back to the page it was on.
    let res =
        post(&app, "/console/incidents/INC-000007/notes", Some(&session(&expired)), &[("csrf", "x"), ("body", "hi"), ("kind", "comment")])
            .await;
    assert_eq!(res.location(), "/login?next=%2Fconsole%2Fincidents%2FINC-000007");

    // Sign out ends the session at once, and needs its form token.
    let alice = session(&token);
    let res = post(&app, "/logout", Some(&alice), &[]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let csrf = get(&app, "/console", Some(&alice)).await.csrf();
    let res = post(&app, "/logout", Some(&alice), &[("csrf", &csrf)]).await;
    assert_eq!((res.status, res.location()), (StatusCode::SEE_OTHER, "/login"));
    assert_eq!(get(&app, "/console", Some(&alice)).await.status, StatusCode::SEE_OTHER);
    let _ = (s.rita, s.otto, s.alice, s.admin_api);
});

both_backends!(security_headers_and_assets, |db: TestDatabase| async move {
    let store = db.store.clone();
    let s = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    for path in ["/login", "/console", "/healthz"] {
        let page = get(&app, path, Some(&session(&s.alice))).await;
        let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(page.headers[header::REFERRER_POLICY], "same-origin");
    }
    // Every asset a page links is served under a content-hashed name, cached for good,
    // and the first load stays under 200 KB.
    let page = get(&app, "/console", Some(&session(&s.alice))).await;
    assert!(!page.body.contains("<script>") && !page.body.contains(" style="), "no inline script or style");
    let mut total = page.body.len();
    for chunk in page.body.split("\"/assets/").skip(1) {
        let name = chunk.split('"').next().unwrap();
        assert!(name.rsplit('.').nth(1).is_some_and(|h| h.len() == 10), "hashed name {name}");
        let asset = get(&app, &format!("/assets/{name}"), None).await;
        assert_eq!(asset.status, StatusCode::OK, "{name}");
        assert_eq!(asset.headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        total += asset.body.len();
    }
    assert!(total < 200 * 1024, "first load {total} bytes");
    assert_eq!(get(&app, "/assets/app.0000000000.css", None).await.status, StatusCode::NOT_FOUND);
});

both_backends!(attachments_are_listed_on_the_incident_and_served_by_its_rules, |db: TestDatabase| async move {
    let store = db.store.clone();
    let s = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let (_, created) = api(&app, Method::POST, "/api/v1/incidents", &s.rita, serde_json::json!({"title": "Scanner"})).await;
    let number: switchyard_domain::incident::IncidentNumber = created["number"].as_str().unwrap().parse().unwrap();
    let txn = store.begin().await.unwrap();
    let file = switchyard_store::NewAttachment {
        filename: "<scan>.pdf".into(),
        content_type: "application/pdf".into(),
        bytes: b"%PDF-1.4 scan".to_vec(),
        inline: false,
    };
    let stored = txn.insert_attachments(number, None, vec![file]).await.unwrap();
    txn.commit().await.unwrap();
    let href = format!("/attachments/{}", stored[0].id);
    for (page, cookie) in
        [(format!("/console/incidents/{number}"), session(&s.alice)), (format!("/portal/incidents/{number}"), session(&s.rita))]
    {
        let p = get(&app, &page, Some(&cookie)).await;
        assert_eq!(p.status, StatusCode::OK, "{page}");
        assert!(p.body.contains(&format!("<a href=\"{href}\" download>&#60;scan&#62;.pdf</a>")), "{page}: {}", p.body);
        assert!(p.body.contains("application/pdf, 13 B"), "{page}");
    }
    let file = get(&app, &href, Some(&session(&s.rita))).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, "%PDF-1.4 scan");
    assert_eq!(file.headers[header::CONTENT_DISPOSITION], "attachment; filename=\"<scan>.pdf\"");
    // Another requester: not found, as the incident itself.
    assert_eq!(get(&app, &href, Some(&session(&s.otto))).await.status, StatusCode::NOT_FOUND);
    // Not signed in: to the sign-in page.
    assert_eq!(get(&app, &href, None).await.status, StatusCode::SEE_OTHER);
});

both_backends!(the_console_acknowledges_once_with_its_token, |db: TestDatabase| async move {
    let store = db.store.clone();
    let s = setup(&store).await;
    let app = router(AppState::new(store.clone()));
    let (status, created) = api(
        &app,
        Method::POST,
        "/api/v1/incidents",
        &s.admin_api,
        serde_json::json!({"title": "Core switch down", "description": "all floors"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let number = created["number"].as_str().unwrap().to_owned();
    let path = format!("/console/incidents/{number}");
    let alice = session(&s.alice);
    let page = get(&app, &path, Some(&alice)).await;
    assert!(page.body.contains(&format!("action=\"{path}/acknowledge\"")), "the button is offered");
    // Without the form's token: refused, nothing recorded.
    let res = post(&app, &format!("{path}/acknowledge"), Some(&alice), &[("csrf", "0000")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let incident: switchyard_domain::incident::IncidentNumber = number.parse().unwrap();
    let acknowledged = |store: Store| async move {
        let history = store.history(incident, true).await.unwrap();
        history.iter().filter(|e| e.kind == switchyard_domain::history::EventKind::Acknowledged).count()
    };
    assert_eq!(acknowledged(store.clone()).await, 0);
    let res = post(&app, &format!("{path}/acknowledge"), Some(&alice), &[("csrf", &page.csrf())]).await;
    assert_eq!((res.status, res.location()), (StatusCode::SEE_OTHER, path.as_str()));
    assert_eq!(acknowledged(store.clone()).await, 1);
    let page = get(&app, &path, Some(&alice)).await;
    assert!(page.body.contains("Acknowledged by alice"), "{}", page.body);
    assert!(!page.body.contains(&format!("action=\"{path}/acknowledge\"")), "offered once");
    // A requester cannot.
    let rita = session(&s.rita);
    let csrf = get(&app, "/portal", Some(&rita)).await.csrf();
    let res = post(&app, &format!("{path}/acknowledge"), Some(&rita), &[("csrf", &csrf)]).await;
    assert_ne!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(acknowledged(store.clone()).await, 1);
});
