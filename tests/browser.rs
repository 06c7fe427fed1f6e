//! The web UI in a real browser: Debian's headless Chromium driven over
//! WebDriver (chromedriver, fantoccini) against the real binary on port 0.
//! Each page a test visits is saved as a PNG under
//! `target/browser-screenshots/`, and a failing test saves the page it
//! failed on as `<test>-failure.png`.

mod support;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Server, post_json, start_with};

/// A chromedriver process and one browser session, both ended on drop.
struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
    shots: PathBuf,
    test: &'static str,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver runs in a process group of its own: ending the group
        // also ends the Chromium processes it started, even after a panic.
        let _ = Command::new("kill").args(["-KILL", &format!("-{}", self.driver.id())]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    async fn open(test: &'static str, javascript: bool) -> Browser {
        let port = free_port();
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: `scripts/test.sh` installs Debian's chromium and chromium-driver");
        let profile = tempfile::tempdir().unwrap();
        let mut options = json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", profile.path().display()), "--window-size=1280,1000"],
        });
        if let Ok(binary) = std::env::var("CHROMIUM") {
            options["binary"] = json!(binary);
        }
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
                Ok(client) => {
                    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
                    std::fs::create_dir_all(&shots).unwrap();
                    return Browser { driver, client, _profile: profile, shots, test };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start a Chromium session: {last:?}");
    }

    async fn shot(&self, name: &str) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        std::fs::write(self.shots.join(format!("{name}.png")), png)?;
        Ok(())
    }

    async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client.goto(url).await?;
        Ok(())
    }

    async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.client.find(Locator::Css(css)).await.with_context(|| format!("no {css}"))?;
        el.clear().await?;
        el.send_keys(text).await?;
        Ok(())
    }

    async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.client.find(Locator::Css(css)).await.with_context(|| format!("no {css}"))?.click().await?;
        Ok(())
    }

    /// Clicks something that loads a new page (a submit button, a link) and
    /// waits until the old page is gone (works with JavaScript off too).
    async fn submit(&self, css: &str) -> anyhow::Result<()> {
        let old = self.client.find(Locator::Css("html")).await?;
        self.click(css).await?;
        for _ in 0..200 {
            if old.tag_name().await.is_err() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("no new page after clicking {css}")
    }

    /// The texts of every element matching `css`.
    async fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for el in self.client.find_all(Locator::Css(css)).await? {
            out.push(el.text().await?);
        }
        Ok(out)
    }

    async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        self.client.find(Locator::Css(css)).await.with_context(|| format!("no {css}"))?.select_by_value(value).await?;
        Ok(())
    }

    async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.client.find(Locator::Css(css)).await.with_context(|| format!("no {css}"))?.text().await?)
    }

    async fn path(&self) -> anyhow::Result<String> {
        let url = self.client.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    async fn sign_in(&self, base: &str, username: &str, password: &str) -> anyhow::Result<()> {
        self.goto(&format!("{base}/")).await?;
        ensure!(self.path().await?.starts_with("/login"), "signed-out visitors go to the login page");
        self.fill("#username", username).await?;
        self.fill("#password", password).await?;
        self.submit("form[action='/login'] button[type=submit]").await?;
        Ok(())
    }

    /// Runs a test's steps; on failure saves the page it failed on.
    async fn run(self, steps: impl AsyncFnOnce(&Browser) -> anyhow::Result<()>) {
        let result = steps(&self).await;
        if let Err(e) = result {
            let _ = self.shot(&format!("{}-failure", self.test)).await;
            let source = self.client.source().await.unwrap_or_default();
            let _ = self.client.clone().close().await;
            panic!("{}: {e:#}\n(screenshot: target/browser-screenshots/{}-failure.png)\npage:\n{source}", self.test, self.test);
        }
        let _ = self.client.clone().close().await;
    }
}

/// A server with the shipped plugins and workflows, an agent and two
/// requesters with passwords, and one incident logged by rita.
async fn server() -> (Server, tempfile::TempDir) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let plugins = root.join("plugins/dist");
    let workflows = root.join("workflows");
    let server = start_with(
        dir.path(),
        Some(ADMIN_TOKEN),
        &[
            ("SWITCHYARD_PLUGINS_DIR", plugins.to_str().unwrap()),
            ("SWITCHYARD_WORKFLOWS_DIR", workflows.to_str().unwrap()),
            ("SWITCHYARD_ADMIN_PASSWORD", "admin-password-1"),
        ],
    );
    let http = reqwest::Client::new();
    let base = &server.base;
    for (user, role) in [("alice", "agent"), ("rita", "requester"), ("otto", "requester")] {
        let body = json!({"username": user, "display_name": user, "role": role, "password": format!("{user}-password-1"), "on_shift": true, "email": format!("{user}@example.org")});
        let r = http.post(format!("{base}/api/v1/users")).bearer_auth(ADMIN_TOKEN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let r = http.put(format!("{base}/api/v1/groups/service-desk/members/alice")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    (server, dir)
}

async fn api_login(base: &str, user: &str) -> String {
    let body = json!({"username": user, "password": format!("{user}-password-1")});
    let v: Value = reqwest::Client::new().post(format!("{base}/api/v1/auth/login")).json(&body).send().await.unwrap().json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_agent_picks_a_ticket_from_the_queue_and_works_it_to_resolved() {
    let (server, _dir) = server().await;
    let base = server.base.clone();
    let rita = api_login(&base, "rita").await;
    let http = reqwest::Client::new();
    // A few more tickets so the queue looks like a working day.
    for (title, category, impact, urgency) in [
        ("Wi-Fi on floor 3 keeps dropping", "network", 2, 1),
        ("Printer in room 204 jams", "hardware", 3, 3),
        ("Orders database is slow since 8:00", "database", 1, 2),
        ("Cannot open shared calendar", "software", 3, 2),
    ] {
        let body = json!({"title": title, "category": category, "impact": impact, "urgency": urgency, "description": "Reported by phone."});
        post_json(&base, "/api/v1/incidents", &rita, &body).await;
    }
    // The one the agent works arrives by mail, with a screenshot attached.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
    let mail = format!(
        "From: Rita <rita@example.org>\r\nTo: servicedesk@localhost\r\nSubject: Payroll app shows a blank page\r\n\
         Message-ID: <payroll-1@mail.example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nSince 9:00, in Firefox and Edge.\r\n\
         --b\r\nContent-Type: image/png; name=\"blank-page.png\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"blank-page.png\"\r\n\r\n{png}\r\n--b--\r\n"
    );
    let record: Value =
        http.post(format!("{base}/api/v1/mail/inbound")).bearer_auth(ADMIN_TOKEN).body(mail).send().await.unwrap().json().await.unwrap();
    assert_eq!(record["outcome"], "created", "{record}");
    let number = record["incident"].as_str().unwrap().to_owned();

    Browser::open("agent", true)
        .await
        .run(async |b: &Browser| {
            b.sign_in(&base, "alice", "alice-password-1").await?;
            ensure!(b.path().await?.starts_with("/console"), "an agent lands on the console");
            b.goto(&format!("{base}/console?queue=open")).await?;
            // The tab counts arrive after the page (htmx).
            b.client.wait().at_most(Duration::from_secs(5)).for_element(Locator::Css("nav.tabs .count")).await?;
            b.shot("console-queue").await?;
            // Pick the ticket from the queue.
            b.submit(&format!("a.rowlink[href='/console/incidents/{number}']")).await?;
            ensure!(b.path().await? == format!("/console/incidents/{number}"));
            ensure!(b.text("h1").await?.contains("Payroll app shows a blank page"));
            let files = b.text("ul.files").await?;
            ensure!(files.contains("blank-page.png") && files.contains("image/png"), "the mail's attachment is listed: {files}");
            b.client.execute("document.getElementById('files-title').scrollIntoView()", vec![]).await?;
            b.shot("console-incident-attachments").await?;
            // Take the page: acknowledged, recorded, offered no more.
            b.submit("form[action$='/acknowledge'] button[type=submit]").await?;
            let paging = b.text("p.paging").await?;
            ensure!(paging.contains("Acknowledged by alice"), "acknowledged: {paging}");
            b.client.execute("document.getElementById('paging-title').scrollIntoView()", vec![]).await?;
            b.shot("console-incident-acknowledged").await?;
            // Assign it to me: the agent list follows the group (htmx).
            b.select("#assign-group", "service-desk").await?;
            b.client.wait().at_most(Duration::from_secs(5)).for_element(Locator::Css("#assign-agent option[value='alice']")).await?;
            b.select("#assign-agent", "alice").await?;
            b.submit("form[action$='/assignment'] button[type=submit]").await?;
            ensure!(b.text("dl.fields").await?.contains("alice"), "assigned to alice");
            // A work note and a comment, visibly different.
            b.fill("#note-body", "Checked the app server: the worker pool is exhausted.").await?;
            b.submit("button[value=work_note]").await?;
            b.fill("#note-body", "We are looking into it.").await?;
            b.submit("button[value=comment]").await?;
            let internal = b.texts("li.event.internal").await?;
            ensure!(
                internal.iter().any(|t| t.contains("worker pool") && t.contains("Internal")),
                "work note marked internal: {internal:?}"
            );
            let public = b.texts("li.event.note:not(.internal)").await?;
            ensure!(public.iter().any(|t| t.contains("looking into it")), "the comment is public: {public:?}");
            // Start work, then resolve: resolving asks for a code and notes.
            b.submit("form.transition:has(input[value=in_progress]) button[type=submit]").await?;
            ensure!(b.text(".incident-head .status").await? == "In progress");
            b.click("form.transition:has(input[value=resolved]) button[type=submit]").await?;
            // The browser's own required-field check stops an empty resolve; without it the server's rule shows.
            ensure!(b.text(".incident-head .status").await? == "In progress", "an empty resolve changes nothing");
            b.select("#transition-resolved-code", "solved_workaround").await?;
            b.fill("#transition-resolved-notes", "Restarted the worker pool; raised its size.").await?;
            b.submit("form.transition:has(input[value=resolved]) button[type=submit]").await?;
            ensure!(b.text(".incident-head .status").await? == "Resolved");
            b.shot("console-incident").await?;
            // The portal lists the same file for the requester's view.
            b.goto(&format!("{base}/portal/incidents/{number}")).await?;
            ensure!(b.text("ul.files").await?.contains("blank-page.png"), "the portal lists the attachment");
            b.client.execute("document.getElementById('files-title').scrollIntoView()", vec![]).await?;
            b.shot("portal-incident-attachments").await?;
            // Keyboard: `/` focuses the search box.
            b.goto(&format!("{base}/console?queue=all")).await?;
            b.client.active_element().await?.send_keys("/").await?;
            let focused = b.client.execute("return document.activeElement.id", vec![]).await?;
            ensure!(focused == json!("site-search"), "`/` focuses search, got {focused}");
            Ok(())
        })
        .await;
    let got: Value =
        http.get(format!("{base}/api/v1/incidents/{number}")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!((got["status"].as_str(), got["assignee"].as_str()), (Some("resolved"), Some("alice")));
}

#[tokio::test]
async fn a_requester_reports_replies_and_confirms_the_resolution_with_javascript_off() {
    let (server, _dir) = server().await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let alice = api_login(&base, "alice").await;
    let browser = Browser::open("requester", false).await;
    browser
        .run(async |b: &Browser| {
            b.sign_in(&base, "rita", "rita-password-1").await?;
            ensure!(b.path().await? == "/portal", "a requester lands on the portal");
            b.submit("a.button.primary[href='/portal/new']").await?;
            b.shot("portal-new").await?;
            // Nothing typed: the error shows next to the field, nothing is written.
            b.submit("form[action='/portal/new'] button[type=submit]").await?;
            ensure!(b.text("#new-title-error").await?.contains("required"));
            b.fill("#new-title-input", "VPN drops every few minutes").await?;
            b.fill("#new-desc", "On the home Wi-Fi, since yesterday.").await?;
            b.select("#new-cat", "network").await?;
            b.submit("form[action='/portal/new'] button[type=submit]").await?;
            let path = b.path().await?;
            ensure!(path.starts_with("/portal/incidents/INC-"), "on the new incident: {path}");
            let number = path.rsplit('/').next().unwrap().to_owned();
            b.fill("#reply-body", "It also happens on the office network.").await?;
            b.submit("form[action$='/reply'] button[type=submit]").await?;
            ensure!(b.text("ol.timeline").await?.contains("also happens on the office network"));

            // The service desk resolves it (and leaves a work note the requester must not see).
            let call = |path: String, body: Value| {
                http.post(format!("{base}/api/v1/incidents/{number}/{path}")).bearer_auth(&alice).json(&body).send()
            };
            call("work-notes".into(), json!({"body": "internal: vendor ticket 4711"})).await?;
            let r = call(
                "transitions".into(),
                json!({"to": "resolved", "resolution_code": "solved_permanently", "resolution_notes": "Replaced the VPN concentrator's certificate."}),
            )
            .await?;
            ensure!(r.status().is_success(), "{}", r.text().await?);

            b.goto(&format!("{base}/portal/incidents/{number}")).await?;
            ensure!(b.text("#resolution-title").await?.contains("fixed"));
            ensure!(b.text("section.highlight").await?.contains("Solved permanently"));
            ensure!(!b.client.source().await?.contains("vendor ticket 4711"), "a requester never sees a work note");
            b.shot("portal-resolved").await?;
            b.submit("form[action$='/transition']:has(input[value=closed]) button[type=submit]").await?;
            ensure!(b.text(".incident-head .status").await? == "Closed");
            b.click("input[name=score][value='5']").await?;
            b.fill("#rate-comment", "Quick and clear.").await?;
            b.submit("form[action$='/rating'] button[type=submit]").await?;
            ensure!(b.client.find(Locator::Css("#rate-title")).await.is_err(), "rated once, the form goes");
            b.goto(&format!("{base}/portal")).await?;
            b.shot("portal-list").await?;
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn forms_without_their_token_are_refused_and_others_incidents_are_not_found() {
    let (server, _dir) = server().await;
    let base = server.base.clone();
    let rita = api_login(&base, "rita").await;
    let alice = api_login(&base, "alice").await;
    let http = reqwest::Client::new();
    let created = post_json(&base, "/api/v1/incidents", &rita, &json!({"title": "Rita's printer"})).await;
    let number = created["number"].as_str().unwrap().to_owned();
    post_json(&base, &format!("/api/v1/incidents/{number}/work-notes"), &alice, &json!({"body": "secret toner budget"})).await;

    Browser::open("security", true)
        .await
        .run(async |b: &Browser| {
            b.sign_in(&base, "otto", "otto-password-1").await?;
            b.goto(&format!("{base}/portal/incidents/{number}")).await?;
            ensure!(b.text("h1").await? == "Not found", "another requester's incident is not found");
            ensure!(!b.client.source().await?.contains("secret toner"));
            b.shot("portal-not-found").await?;
            // A form whose token was removed is refused and writes nothing.
            b.goto(&format!("{base}/portal/new")).await?;
            b.client.execute("document.querySelector(\"form[action='/portal/new'] input[name=csrf]\").remove()", vec![]).await?;
            b.fill("#new-title-input", "Forged").await?;
            b.submit("form[action='/portal/new'] button[type=submit]").await?;
            ensure!(b.text("h1").await? == "Not allowed", "refused without its token");
            // At 360 px the portal still works (no horizontal scrolling).
            b.client.set_window_size(360, 800).await?;
            b.goto(&format!("{base}/portal/new")).await?;
            let wide = b.client.execute("return document.documentElement.scrollWidth", vec![]).await?;
            ensure!(wide.as_i64().unwrap_or(9999) <= 360, "no horizontal scroll at 360 px: {wide}");
            b.shot("portal-new-360").await?;
            Ok(())
        })
        .await;
    let list: Value = http.get(format!("{base}/api/v1/incidents")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "the forged form wrote nothing");
}
