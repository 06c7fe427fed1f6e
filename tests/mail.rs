//! Mail end to end, through the real binary and real mail servers:
//! notifications delivered to aiosmtpd (threading headers, retries, a
//! server that is down), and intake from a Dovecot mailbox (a mail opens an
//! incident, the reply to the acknowledgement becomes a comment, an
//! auto-reply changes nothing, a bounce fails its notification) and
//! through `switchyard mail-gate`.

use std::path::Path;

use serde_json::{Value, json};

mod support;

use support::mail::{Dovecot, SmtpSink, poll_until};
use support::{ADMIN_TOKEN, start_with};

/// The first notification of a ticket in `status`, waiting for one.
async fn first_notification(http: &reqwest::Client, base: &str, number: &str, status: &str) -> Value {
    poll_until(&format!("a {status} notification on {number}"), async || {
        let url = format!("{base}/api/v1/notifications?ticket={number}&status={status}");
        let list: Value = http.get(url).bearer_auth(ADMIN_TOKEN).send().await.ok()?.json().await.ok()?;
        list.as_array()?.first().cloned()
    })
    .await
}

#[tokio::test]
async fn notifications_are_delivered_by_smtp_threaded_and_retried_when_the_server_is_down() {
    let sink = SmtpSink::start();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plugins = root.join("plugins/dist");
    let workflows = root.join("workflows");
    let dir = tempfile::tempdir().unwrap();
    let port = sink.port.to_string();
    let server = start_with(
        dir.path(),
        Some(ADMIN_TOKEN),
        &[
            ("SWITCHYARD_PLUGINS_DIR", plugins.to_str().unwrap()),
            ("SWITCHYARD_WORKFLOWS_DIR", workflows.to_str().unwrap()),
            ("SWITCHYARD_SMTP_HOST", "127.0.0.1"),
            ("SWITCHYARD_SMTP_PORT", &port),
            ("SWITCHYARD_SMTP_SECURITY", "none"),
            ("SWITCHYARD_MAIL_FROM", "Service desk <desk@example.org>"),
            ("SWITCHYARD_MAIL_REPLY_TO", "desk-in@example.org"),
            ("SWITCHYARD_PUBLIC_URL", "https://desk.example.org"),
        ],
    );
    let base = server.base.clone();
    let http = reqwest::Client::new();
    for (user, role, email) in
        [("alice", "agent", Some("alice@example.org")), ("rita", "requester", Some("rita@example.org")), ("nomail", "requester", None)]
    {
        let body = json!({"username": user, "display_name": user, "role": role, "email": email, "on_shift": true});
        let r = http.post(format!("{base}/api/v1/users")).bearer_auth(ADMIN_TOKEN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    http.put(format!("{base}/api/v1/groups/service-desk/members/alice")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    // `admin` is on shift in service-desk too; take it off so alice is assigned.
    http.patch(format!("{base}/api/v1/users/admin")).bearer_auth(ADMIN_TOKEN).json(&json!({"on_shift": false})).send().await.unwrap();
    // An admin's template: a broken one is refused with its part, line and
    // column; the good one replaces the built-in default.
    let broken = json!({"subject": "{{ subject }}", "text": "{{ body }}", "html": "<p>ok</p>\n<p>{{ body </p>"});
    let r = http.put(format!("{base}/api/v1/mail/templates/default")).bearer_auth(ADMIN_TOKEN).json(&broken).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let error: Value = r.json().await.unwrap();
    let detail = &error["error"]["details"][0];
    assert_eq!(detail["field"], "html", "{error}");
    assert!(detail["message"].as_str().unwrap().starts_with("line 2, column 13: "), "{error}");
    let listed: Value =
        http.get(format!("{base}/api/v1/mail/templates")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!((listed[0]["name"].as_str(), listed[0]["built_in"].as_bool()), (Some("default"), Some(true)), "nothing was stored");
    let template = json!({
        "subject": "{{ subject }}",
        "text": "{{ body }}\n-- \nThe Example desk, {{ ticket.number }}: {{ links.portal }}\n",
        "html": "<p>{{ body }}</p><p>The Example desk, <a href=\"{{ links.portal }}\">{{ ticket.number }}</a></p>",
    });
    let r = http.put(format!("{base}/api/v1/mail/templates/default")).bearer_auth(ADMIN_TOKEN).json(&template).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Nothing in it routes elsewhere: it goes to service-desk, where alice is the one agent on shift.
    let incident = json!({"title": "Payroll app is blank", "requester": "rita", "description": "It shows <b>nothing</b>."});
    let created: Value =
        http.post(format!("{base}/api/v1/incidents")).bearer_auth(ADMIN_TOKEN).json(&incident).send().await.unwrap().json().await.unwrap();
    let number = created["number"].as_str().unwrap().to_owned();

    // The shipped workflow queues two notifications (requester, assignee); both go out.
    let sent = poll_until("two notifications sent", async || {
        let list: Value = http
            .get(format!("{base}/api/v1/notifications?ticket={number}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let items = list.as_array()?.clone();
        (items.len() == 2 && items.iter().all(|n| n["status"] == "sent")).then_some(items)
    })
    .await;
    let messages = poll_until("two messages in the mailbox", async || {
        let m = sink.messages();
        (m.len() == 2).then_some(m)
    })
    .await;
    let root_id = format!("<{number}.example.org@switchyard>");
    for n in &sent {
        let id = n["message_id"].as_str().unwrap();
        let mail =
            messages.iter().find(|m| m.contains(&format!("Message-ID: {id}"))).unwrap_or_else(|| panic!("{id} delivered: {messages:?}"));
        for header in [
            format!("Subject: [{number}]"),
            format!("In-Reply-To: {root_id}"),
            format!("References: {root_id}"),
            "Auto-Submitted: auto-generated".to_owned(),
            "Reply-To: desk-in@example.org".to_owned(),
            "<desk@example.org>".to_owned(),
        ] {
            assert!(mail.contains(&header), "{header} in\n{mail}");
        }
        // The text part, decoded (quoted-printable wraps long lines).
        let text = switchyard_mail::inbound::parse(mail.as_bytes(), &Default::default()).unwrap().text;
        assert!(text.contains(&format!("https://desk.example.org/portal/incidents/{number}")), "a link to the portal in\n{text}");
        assert!(text.contains(&format!("The Example desk, {number}")), "the admin's template: {text}");
        assert_eq!(n["attempts"], 1);
    }
    assert!(messages.iter().any(|m| m.contains("To: rita@example.org")) && messages.iter().any(|m| m.contains("To: alice@example.org")));

    // Someone without an address: dead at once, with the reason; an admin may retry it.
    let incident = json!({"title": "No mail for me", "requester": "nomail"});
    let created: Value =
        http.post(format!("{base}/api/v1/incidents")).bearer_auth(ADMIN_TOKEN).json(&incident).send().await.unwrap().json().await.unwrap();
    let number = created["number"].as_str().unwrap().to_owned();
    let dead = first_notification(&http, &base, &number, "dead").await;
    assert_eq!(dead["last_error"], "no recipient has an email address");
    let id = dead["id"].as_i64().unwrap();
    let r = http.post(format!("{base}/api/v1/notifications/{id}/retry")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.post(format!("{base}/api/v1/notifications/{}/retry", sent[0]["id"])).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 409, "a sent notification is not retried");

    // The SMTP server goes away: the next notification fails, is kept, and waits for its retry.
    drop(sink);
    let incident = json!({"title": "While the relay is down", "requester": "rita"});
    let created: Value =
        http.post(format!("{base}/api/v1/incidents")).bearer_auth(ADMIN_TOKEN).json(&incident).send().await.unwrap().json().await.unwrap();
    let number = created["number"].as_str().unwrap().to_owned();
    let failed = first_notification(&http, &base, &number, "failed").await;
    assert_eq!(failed["attempts"], 1);
    assert!(failed["next_attempt_at"].is_string() && failed["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{failed}");
}

/// The environment of a server with the shipped plugins and workflows,
/// delivery to `sink` and intake from `imap` when given.
fn mail_env(sink: Option<&SmtpSink>, imap: Option<&Dovecot>) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut env: Vec<(String, String)> = vec![
        ("SWITCHYARD_PLUGINS_DIR".into(), root.join("plugins/dist").display().to_string()),
        ("SWITCHYARD_WORKFLOWS_DIR".into(), root.join("workflows").display().to_string()),
        ("SWITCHYARD_MAIL_FROM".into(), "Service desk <desk@example.org>".into()),
        ("SWITCHYARD_MAIL_REPLY_TO".into(), "desk-in@example.org".into()),
        ("SWITCHYARD_PUBLIC_URL".into(), "https://desk.example.org".into()),
    ];
    if let Some(sink) = sink {
        env.push(("SWITCHYARD_SMTP_HOST".into(), "127.0.0.1".into()));
        env.push(("SWITCHYARD_SMTP_PORT".into(), sink.port.to_string()));
        env.push(("SWITCHYARD_SMTP_SECURITY".into(), "none".into()));
    }
    if let Some(imap) = imap {
        for (k, v) in [
            ("SWITCHYARD_IMAP_HOST", "127.0.0.1".to_owned()),
            ("SWITCHYARD_IMAP_PORT", imap.port.to_string()),
            ("SWITCHYARD_IMAP_SECURITY", "none".into()),
            ("SWITCHYARD_IMAP_USERNAME", Dovecot::USER.into()),
            ("SWITCHYARD_IMAP_PASSWORD", Dovecot::PASSWORD.into()),
            ("SWITCHYARD_IMAP_IDLE_SECS", "2".into()),
        ] {
            env.push((k.into(), v));
        }
    }
    env
}

fn start_mail_server(dir: &Path, env: &[(String, String)], extra: &[(&str, &str)]) -> support::Server {
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    start_with(dir, Some(ADMIN_TOKEN), &all)
}

/// The users of the mail tests: rita (a requester), alice (the one agent
/// on shift in service-desk).
async fn add_users(base: &str) {
    let http = reqwest::Client::new();
    for (user, role, email) in [("alice", "agent", "alice@example.org"), ("rita", "requester", "Rita@Example.org")] {
        let body = json!({"username": user, "display_name": user, "role": role, "email": email, "on_shift": true});
        let r = http.post(format!("{base}/api/v1/users")).bearer_auth(ADMIN_TOKEN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    http.put(format!("{base}/api/v1/groups/service-desk/members/alice")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    http.patch(format!("{base}/api/v1/users/admin")).bearer_auth(ADMIN_TOKEN).json(&json!({"on_shift": false})).send().await.unwrap();
}

/// A fresh server with delivery to `sink`, intake from `imap` and the test users.
async fn mail_server(dir: &Path, sink: &SmtpSink, imap: &Dovecot, extra: &[(&str, &str)]) -> support::Server {
    let server = start_mail_server(dir, &mail_env(Some(sink), Some(imap)), extra);
    add_users(&server.base).await;
    server
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    http.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap()
}

/// The inbound records, newest first.
async fn inbound(http: &reqwest::Client, base: &str) -> Vec<Value> {
    get(http, format!("{base}/api/v1/mail/inbound?limit=500")).await.as_array().unwrap().clone()
}

/// Waits for the record of the message with this Message-ID.
async fn record_of(http: &reqwest::Client, base: &str, message_id: &str) -> Value {
    poll_until(&format!("the record of {message_id}"), async || {
        inbound(http, base).await.into_iter().find(|r| r["message_id"] == message_id)
    })
    .await
}

/// A header's value in a raw message.
fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[tokio::test]
async fn mail_opens_an_incident_the_reply_comments_an_auto_reply_is_ignored_and_a_bounce_fails_its_notification() {
    let sink = SmtpSink::start();
    let imap = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let server = mail_server(dir.path(), &sink, &imap, &[("SWITCHYARD_MAIL_MAX_MESSAGE_BYTES", "200000")]).await;
    let base = server.base.clone();
    let http = reqwest::Client::new();

    // 1. A new mail from a known requester, with an attachment, opens an incident.
    let pdf = "JVBERi0xLjQKMSAwIG9iajw8Pj5lbmRvYmoKdHJhaWxlcjw8Pj4KJSVFT0YK"; // %PDF-1.4 ...
    imap.deliver(&format!(
        "From: Rita <rita@example.org>\nTo: desk-in@example.org\nSubject: Payroll app shows a blank page\n\
         Message-ID: <first@mail.example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain; charset=utf-8\n\nBlank page, error E-42.\n\
         --b\nContent-Type: application/octet-stream; name=\"jam.pdf\"\nContent-Transfer-Encoding: base64\n\
         Content-Disposition: attachment; filename=\"jam.pdf\"\n\n{pdf}\n--b--\n"
    ))
    .await;
    let record = record_of(&http, &base, "<first@mail.example.org>").await;
    assert_eq!(record["outcome"], "created", "{record}");
    assert_eq!(record["source"], format!("imap:desk@127.0.0.1/INBOX"));
    let number = record["incident"].as_str().unwrap().to_owned();
    let incident = get(&http, format!("{base}/api/v1/incidents/{number}")).await;
    assert_eq!((incident["channel"].as_str(), incident["requester"].as_str()), (Some("email"), Some("rita")));
    assert_eq!(incident["title"], "Payroll app shows a blank page");
    assert!(incident["description"].as_str().unwrap().contains("error E-42"));
    let attachments = get(&http, format!("{base}/api/v1/incidents/{number}/attachments")).await;
    assert_eq!(attachments[0]["filename"], "jam.pdf");
    assert_eq!(attachments[0]["content_type"], "application/pdf", "sniffed from the bytes, not the declared octet-stream");
    let file = http.get(format!("{base}{}", attachments[0]["url"].as_str().unwrap())).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(file.headers()["content-disposition"], "attachment; filename=\"jam.pdf\"");
    assert!(file.bytes().await.unwrap().starts_with(b"%PDF-1.4"));

    // 2. The shipped workflow acknowledges it to rita; the mail arrives at the SMTP server.
    let ack = poll_until("the acknowledgement in the SMTP mailbox", async || {
        sink.messages().into_iter().find(|m| m.contains("To: Rita@Example.org") && m.contains(&format!("[{number}]")))
    })
    .await;
    let ack_id = header(&ack, "Message-ID").unwrap().to_owned();
    let ack_subject = header(&ack, "Subject").unwrap().to_owned();
    let ack_references = header(&ack, "References").unwrap().to_owned();

    // 3. Rita's reply to that very message lands as a comment on the same incident, quote cut.
    imap.deliver(&format!(
        "From: Rita <rita@example.org>\nTo: desk-in@example.org\nSubject: Re: {ack_subject}\nMessage-ID: <reply-1@mail.example.org>\n\
         In-Reply-To: {ack_id}\nReferences: {ack_references} {ack_id}\nContent-Type: text/plain\n\n\
         It goes blank again after every login.\n\nOn Thu, 3 Dec 2026, Service desk <desk@example.org> wrote:\n> Hello rita,\n> your incident\n"
    ))
    .await;
    let record = record_of(&http, &base, "<reply-1@mail.example.org>").await;
    assert_eq!((record["outcome"].as_str(), record["incident"].as_str()), (Some("commented"), Some(number.as_str())), "{record}");
    let history = get(&http, format!("{base}/api/v1/incidents/{number}/history")).await;
    let comment = history.as_array().unwrap().iter().find(|e| e["kind"] == "comment").expect("a comment");
    assert_eq!(comment["body"], "It goes blank again after every login.");
    assert_eq!(comment["visibility"], "public");
    assert_eq!((comment["actor_kind"].as_str(), comment["actor"].as_str()), (Some("channel"), Some("rita via desk-in@example.org")));
    let attachments = get(&http, format!("{base}/api/v1/incidents/{number}/attachments")).await;
    assert!(attachments.as_array().unwrap().iter().any(|a| a["filename"] == "original.eml" && a["content_type"] == "message/rfc822"));
    let events_before = history.as_array().unwrap().len();
    let notifications_before = get(&http, format!("{base}/api/v1/notifications?ticket={number}")).await.as_array().unwrap().len();

    // 4. Her out-of-office answer to the acknowledgement changes nothing and is recorded as ignored.
    imap.deliver(&format!(
        "From: Rita <rita@example.org>\nTo: desk-in@example.org\nSubject: Automatic reply: {ack_subject}\n\
         Message-ID: <oof-1@mail.example.org>\nIn-Reply-To: {ack_id}\nAuto-Submitted: auto-replied\n\nI am away until Monday.\n"
    ))
    .await;
    let record = record_of(&http, &base, "<oof-1@mail.example.org>").await;
    assert_eq!(record["outcome"], "ignored");
    assert!(record["reason"].as_str().unwrap().contains("auto-reply (Auto-Submitted: auto-replied)"), "{record}");
    assert!(record["incident"].is_null());
    let history = get(&http, format!("{base}/api/v1/incidents/{number}/history")).await;
    assert_eq!(history.as_array().unwrap().len(), events_before, "no history entry");
    let notifications = get(&http, format!("{base}/api/v1/notifications?ticket={number}")).await;
    assert_eq!(notifications.as_array().unwrap().len(), notifications_before, "no notification");

    // 5. A DSN for the mail to alice (the assignee) marks that notification failed for good.
    let to_alice = poll_until("the assignee's notification sent", async || {
        let list = get(&http, format!("{base}/api/v1/notifications?ticket={number}&status=sent")).await;
        list.as_array()?.iter().find(|n| n["recipients"].to_string().contains("service-desk")).cloned()
    })
    .await;
    let alice_id = to_alice["message_id"].as_str().unwrap();
    imap.deliver(&format!(
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\nTo: desk@example.org\nSubject: Undelivered Mail Returned to Sender\n\
         Message-ID: <dsn-1@mx.example.org>\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\n\n\
         --r\nContent-Type: text/plain\n\nYour message could not be delivered.\n\
         --r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n\
         Final-Recipient: rfc822; alice@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n\
         --r\nContent-Type: text/rfc822-headers\n\nFrom: Service desk <desk@example.org>\nMessage-ID: {alice_id}\nSubject: x\n\n--r--\n"
    ))
    .await;
    let record = record_of(&http, &base, "<dsn-1@mx.example.org>").await;
    assert_eq!(record["outcome"], "bounced", "{record}");
    let bounced = get(&http, format!("{base}/api/v1/notifications?ticket={number}&status=dead")).await;
    let bounced = bounced.as_array().unwrap().iter().find(|n| n["id"] == to_alice["id"]).expect("the notification is dead").clone();
    assert!(bounced["last_error"].as_str().unwrap().starts_with("bounced: 5.1.1 for alice@example.org"), "{bounced}");

    // 6. Resolved, then the requester writes again (subject only, no thread headers): it reopens.
    let resolve = json!({"to": "resolved", "resolution_code": "solved_permanently", "resolution_notes": "Cleared the cache."});
    let r =
        http.post(format!("{base}/api/v1/incidents/{number}/transitions")).bearer_auth(ADMIN_TOKEN).json(&resolve).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    imap.deliver(&format!(
        "From: rita@example.org\nTo: desk-in@example.org\nSubject: RE: [{number}] still blank\nMessage-ID: <reply-2@mail.example.org>\n\n\
         No, it is not fixed.\n"
    ))
    .await;
    let record = record_of(&http, &base, "<reply-2@mail.example.org>").await;
    assert_eq!(record["outcome"], "reopened", "{record}");
    let incident = get(&http, format!("{base}/api/v1/incidents/{number}")).await;
    assert!(["in_progress", "assigned"].contains(&incident["status"].as_str().unwrap()), "{incident}");

    // 7. Someone else "replies" to rita's ticket: a new incident for them, never a comment on hers.
    imap.deliver(&format!(
        "From: Mallory <mallory@elsewhere.example>\nTo: desk-in@example.org\nSubject: Re: [{number}] close this\n\
         Message-ID: <forged@elsewhere.example>\nIn-Reply-To: {ack_id}\n\nPlease close it.\n"
    ))
    .await;
    let record = record_of(&http, &base, "<forged@elsewhere.example>").await;
    assert_eq!(record["outcome"], "created", "{record}");
    assert_ne!(record["incident"], number.as_str());
    assert!(record["reason"].as_str().unwrap().contains("neither its requester nor an agent"), "{record}");
    let other = get(&http, format!("{base}/api/v1/incidents/{}", record["incident"].as_str().unwrap())).await;
    assert_eq!(other["requester"], "mallory", "the unknown sender became a requester");
    let history = get(&http, format!("{base}/api/v1/incidents/{number}/history")).await;
    assert!(!history.to_string().contains("Please close it."));

    // 8. A message over the size limit is kept in the Failed folder and reported.
    imap.deliver(&format!(
        "From: rita@example.org\nTo: desk-in@example.org\nSubject: huge\nMessage-ID: <huge@mail.example.org>\n\n{}\n",
        "x".repeat(250_000)
    ))
    .await;
    let failed =
        poll_until("the oversized message recorded", async || inbound(&http, &base).await.into_iter().find(|r| r["outcome"] == "failed"))
            .await;
    assert!(failed["reason"].as_str().unwrap().contains("over the limit of 200000 bytes"), "{failed}");

    // Every message left the inbox: handled ones in Processed, the failed one in Failed.
    poll_until("the inbox emptied", async || (imap.count("INBOX").await == 0).then_some(())).await;
    assert_eq!(imap.count("Processed").await, 6);
    assert_eq!(imap.count("Failed").await, 1);
    drop(server);
}

#[tokio::test]
async fn mail_gate_posts_a_message_from_stdin_applies_it_once_and_asks_the_mta_to_retry_when_the_server_is_down() {
    use std::io::Write;
    let sink = SmtpSink::start();
    let imap = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let server = mail_server(dir.path(), &sink, &imap, &[("SWITCHYARD_MAIL_UNKNOWN_SENDERS", "refuse")]).await;
    let base = server.base.clone();
    let gate = |raw: &str, url: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["mail-gate", "--url", url, "--token", ADMIN_TOKEN])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(raw.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // A workflow that listens to the intake address: mail fires it (the
    // `inbound_channel` trigger), an incident logged through the API does not.
    let http = reqwest::Client::new();
    let doc = "id: mail-triage\nname: Mail triage\nversion: 1\ntriggers:\n  - inbound_channel: { channels: [desk-in@example.org] }\n\
               steps:\n  - id: route\n    plugin: routing\n    config: { rules: [], default_group: network-ops, work_note: true }\n";
    let r = http.post(format!("{base}/api/v1/workflows")).bearer_auth(ADMIN_TOKEN).json(&json!({"source": doc})).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let api_made = support::post_json(&base, "/api/v1/incidents", ADMIN_TOKEN, &json!({"title": "by API", "requester": "rita"})).await;
    let mail = "From: rita@example.org\r\nTo: desk-in@example.org\r\nSubject: VPN drops\r\nMessage-ID: <gate-1@mail.example.org>\r\n\r\nEvery hour.\r\n";
    let (code, out) = gate(mail, &base);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("created: a new incident from rita@example.org"), "{out}");
    let runs = poll_until("the mail-triage run", async || {
        let runs = get(&http, format!("{base}/api/v1/runs?workflow=mail-triage")).await;
        let runs = runs.as_array()?.clone();
        runs.iter().any(|r| r["status"] == "succeeded").then_some(runs)
    })
    .await;
    assert_eq!(runs.len(), 1, "only the mail fired it: {runs:?}");
    assert_ne!(runs[0]["ticket"], api_made["number"]);
    assert!(runs[0]["trigger"].to_string().contains("desk-in@example.org"), "{}", runs[0]["trigger"]);
    // The MTA delivers it again (it did not see our answer): applied once.
    let (code, _) = gate(mail, &base);
    assert_eq!(code, Some(0));
    let records = inbound(&http, &base).await;
    assert_eq!(records.iter().filter(|r| r["message_id"] == "<gate-1@mail.example.org>").count(), 1);
    let page = get(&http, format!("{base}/api/v1/incidents")).await;
    let by_mail: Vec<&Value> = page["items"].as_array().unwrap().iter().filter(|i| i["channel"] == "email").collect();
    assert_eq!(by_mail.len(), 1, "{page}");

    // Unknown senders are refused here: nothing opened, a reply queued to them.
    let stranger = "From: someone@elsewhere.example\r\nSubject: hello\r\nMessage-ID: <gate-2@elsewhere.example>\r\n\r\nHi\r\n";
    let (code, out) = gate(stranger, &base);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("refused: someone@elsewhere.example is not a known user"), "{out}");
    poll_until("the refusal delivered", async || {
        sink.messages().into_iter().find(|m| m.contains("To: someone@elsewhere.example") && m.contains("not known to this service desk"))
    })
    .await;

    // No From at all: refused with the reason; nothing opened.
    let (code, out) = gate("Subject: anonymous\r\nMessage-ID: <gate-3@x.example>\r\n\r\nwho?\r\n", &base);
    assert_eq!((code, out.trim()), (Some(0), "refused: the message has no From address"));

    drop(server);
    let (code, _) = gate(mail, &base);
    assert_eq!(code, Some(75), "EX_TEMPFAIL: the MTA keeps the message and retries");
}

/// Every notification, oldest first.
async fn all_notifications(http: &reqwest::Client, base: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let page = get(http, format!("{base}/api/v1/notifications?limit=500{after}")).await;
        let page = page.as_array().unwrap().clone();
        let Some(last) = page.last() else { return all };
        after = format!("&after={}", last["id"]);
        all.extend(page);
    }
}

#[tokio::test]
async fn a_node_killed_in_a_burst_of_deliveries_loses_none_and_resends_at_most_what_it_had_in_flight() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    // Queue the burst with no SMTP server configured: 150 incidents, two notifications each.
    let quiet = start_mail_server(dir.path(), &mail_env(None, None), &[]);
    let base = quiet.base.clone();
    add_users(&base).await;
    for i in 0..150 {
        let r = http
            .post(format!("{base}/api/v1/incidents"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"title": format!("Payroll batch {i} failed"), "requester": "rita"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let total = poll_until("300 notifications queued", async || {
        let all = all_notifications(&http, &base).await;
        (all.len() == 300 && all.iter().all(|n| n["status"] == "queued")).then_some(all.len())
    })
    .await;
    drop(quiet);

    // Deliver, and SIGKILL the node in the middle of the burst.
    let env = mail_env(Some(&sink), None);
    let mut sending = start_mail_server(dir.path(), &env, &[]);
    let at_kill = poll_until("deliveries under way", async || {
        let n = sink.messages().len();
        (n >= 40).then_some(n)
    })
    .await;
    sending.child.kill().unwrap();
    sending.child.wait().unwrap();
    assert!(at_kill < total, "the node died mid-burst ({at_kill} of {total} delivered)");

    // Started again, it hands its leases back and finishes.
    let again = start_mail_server(dir.path(), &env, &[]);
    let base = again.base.clone();
    let sent = poll_until("every notification sent", async || {
        let all = all_notifications(&http, &base).await;
        all.iter().all(|n| n["status"] == "sent").then_some(all)
    })
    .await;
    let mut copies = std::collections::HashMap::<String, usize>::new();
    for m in sink.messages() {
        let id = m.lines().find_map(|l| l.strip_prefix("Message-ID: ")).expect("a Message-ID").trim().to_owned();
        *copies.entry(id).or_default() += 1;
    }
    for n in &sent {
        let id = n["message_id"].as_str().unwrap();
        assert!(copies.contains_key(id), "notification {} ({id}) reached the mailbox", n["id"]);
    }
    assert_eq!(copies.len(), total, "one Message-ID per notification, none lost, none extra");
    let repeated: usize = copies.values().map(|c| c - 1).sum();
    // Only what the killed node had claimed (one batch of 64) can have gone out twice.
    assert!(repeated <= 64, "{repeated} repeats");
    eprintln!("killed after {at_kill} of {total} deliveries; {repeated} sent twice (same Message-ID)");
}

#[tokio::test]
async fn the_mailbox_is_read_over_tls_trusting_the_configured_ca() {
    let sink = SmtpSink::start();
    let imap = Dovecot::start_tls();
    let dir = tempfile::tempdir().unwrap();
    let mut env = mail_env(Some(&sink), Some(&imap));
    env.retain(|(k, _)| k != "SWITCHYARD_IMAP_SECURITY" && k != "SWITCHYARD_IMAP_PORT");
    let ca = imap.ca_file().display().to_string();
    let tls_port = imap.tls_port.unwrap().to_string();
    let server = start_mail_server(
        dir.path(),
        &env,
        &[("SWITCHYARD_IMAP_SECURITY", "tls"), ("SWITCHYARD_IMAP_PORT", &tls_port), ("SWITCHYARD_IMAP_CA_FILE", &ca)],
    );
    add_users(&server.base).await;
    imap.deliver("From: rita@example.org\nTo: desk-in@example.org\nSubject: Over TLS\nMessage-ID: <tls-1@mail.example.org>\n\nHello.\n")
        .await;
    let http = reqwest::Client::new();
    let record = record_of(&http, &server.base, "<tls-1@mail.example.org>").await;
    assert_eq!(record["outcome"], "created", "{record}");
    poll_until("the message moved", async || (imap.count("Processed").await == 1).then_some(())).await;
}
