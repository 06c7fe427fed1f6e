//! `switchyard mail-gate`: the push path for an MTA. Postfix's `pipe`
//! transport (or an alias `|switchyard mail-gate ...`) runs it with one
//! message on standard input; it posts the message to a running server's
//! `/api/v1/mail/inbound` and exits with a code the MTA understands:
//! 0 when the server recorded the message (whatever came of it: opened,
//! commented, ignored or refused, each with its reason), 75 (`EX_TEMPFAIL`)
//! when the server could not be reached or failed, so the MTA queues the
//! message and tries again (the Message-ID keeps a retry from applying it
//! twice), 65 (`EX_DATAERR`) when the server refused the request itself.

use std::io::Read;
use std::time::Duration;

use clap::Args;

/// Options of `mail-gate`.
#[derive(Debug, Args)]
pub struct MailGateArgs {
    /// The server's address.
    #[arg(long, env = "SWITCHYARD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin API token.
    #[arg(long, env = "SWITCHYARD_MAIL_GATE_TOKEN", hide_env_values = true)]
    token: String,
    /// A name for the records this gate makes.
    #[arg(long, default_value = "mail-gate")]
    source: String,
    /// Seconds to wait for the server.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

/// `EX_TEMPFAIL` from sysexits.h: the MTA retries later.
const EX_TEMPFAIL: i32 = 75;
/// `EX_DATAERR` from sysexits.h: the MTA bounces the message.
const EX_DATAERR: i32 = 65;

/// Runs the gate; exits the process with the MTA's code on failure.
pub async fn run(args: MailGateArgs) -> anyhow::Result<()> {
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut raw) {
        eprintln!("mail-gate: reading the message from standard input: {e}");
        std::process::exit(EX_TEMPFAIL);
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(args.timeout_secs)).build()?;
    let url = format!("{}/api/v1/mail/inbound", args.url.trim_end_matches('/'));
    let response = client
        .post(&url)
        .query(&[("source", &args.source)])
        .bearer_auth(&args.token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mail-gate: {url}: {e}; the message stays with the MTA");
            std::process::exit(EX_TEMPFAIL);
        }
    };
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        let record: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        println!("{}: {}", record["outcome"].as_str().unwrap_or("recorded"), record["reason"].as_str().unwrap_or_default());
        return Ok(());
    }
    eprintln!("mail-gate: the server answered {status}: {body}");
    std::process::exit(if status.is_server_error() || status.as_u16() == 429 { EX_TEMPFAIL } else { EX_DATAERR });
}
