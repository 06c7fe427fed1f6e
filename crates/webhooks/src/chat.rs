//! Chat: requests from Slack and Mattermost verified and parsed into a
//! [`ChatRequest`], the request's text read as a [`Command`], and the
//! messages we post to their incoming-webhook URLs.
//!
//! - Slack signs each request: [`verify_slack`] checks
//!   `X-Slack-Signature` against `X-Slack-Request-Timestamp` and the body.
//!   Slash commands arrive form-encoded ([`parse_slack_command`]); the
//!   Events API sends JSON ([`parse_slack_event`]).
//! - Mattermost sends a shared token instead (in the body, and for slash
//!   commands also as `Authorization: Token <t>`): [`verify_token`],
//!   [`authorization_token`]. Outgoing webhooks and slash commands are
//!   read by [`parse_mattermost`], form-encoded or JSON.
//! - [`slack_message`] and [`mattermost_message`] build the JSON bodies
//!   posted back.

use std::collections::BTreeMap;

use hmac::Mac;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::alert::{PayloadError, kind, parse_json_object, scalar_string};
use crate::signing::{HmacSha256, SignatureError, check_timestamp, parse_timestamp};

/// How far Slack's request timestamp may be from now, in seconds.
pub const SLACK_TOLERANCE_SECS: i64 = 300;

/// Checks a Slack request: `signature_header` (`X-Slack-Signature`) must
/// be `v0=` + hex(HMAC-SHA256(signing secret, `v0:{timestamp}:{body}`)),
/// compared in constant time, and `timestamp_header`
/// (`X-Slack-Request-Timestamp`) within five minutes of `now`.
pub fn verify_slack(
    signing_secret: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    if signing_secret.is_empty() {
        return Err(SignatureError::InvalidSecret("the Slack signing secret is empty".to_owned()));
    }
    let timestamp = timestamp_header.trim();
    check_timestamp(parse_timestamp(timestamp)?, now, SLACK_TOLERANCE_SECS)?;
    let signature = signature_header.trim();
    if signature.is_empty() {
        return Err(SignatureError::Missing("signature (X-Slack-Signature)"));
    }
    let hex_digest =
        signature.strip_prefix("v0=").ok_or_else(|| SignatureError::Malformed("a Slack signature starts with v0=".to_owned()))?;
    let digest = hex::decode(hex_digest).map_err(|e| SignatureError::Malformed(format!("the part after v0= is not hex: {e}")))?;
    let mut mac = HmacSha256::new_from_slice(signing_secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&digest).map_err(|_| SignatureError::Mismatch)
}

/// Compares a received token with the configured one in constant time
/// (their hashes are compared, so neither the content nor the length
/// shows in the timing). An empty configured token accepts nothing.
pub fn verify_token(expected: &str, given: &str) -> Result<(), SignatureError> {
    if expected.is_empty() {
        return Err(SignatureError::InvalidSecret("the expected token is empty".to_owned()));
    }
    if given.is_empty() {
        return Err(SignatureError::Missing("token"));
    }
    let (a, b) = (Sha256::digest(expected.as_bytes()), Sha256::digest(given.as_bytes()));
    if bool::from(a.as_slice().ct_eq(b.as_slice())) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// The token of an `Authorization: Token <t>` header (as Mattermost slash
/// commands send it); the scheme is matched ignoring case.
pub fn authorization_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("token") && !token.is_empty()).then_some(token)
}

/// A chat request, whichever chat it came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatRequest {
    /// The user's name (for the Slack Events API, which gives none, the
    /// user id).
    pub user_name: String,
    /// The user's id in the chat.
    pub user_id: String,
    /// The channel's id, to answer in.
    pub channel_id: Option<String>,
    /// The channel's name.
    pub channel_name: Option<String>,
    /// What the user wrote (for Mattermost outgoing webhooks without the
    /// trigger word, for Slack mentions without the leading mention),
    /// trimmed.
    pub text: String,
    /// The slash command (`/incident`), for slash commands.
    pub command: Option<String>,
    /// Where to post the answer, when the chat gives one.
    pub response_url: Option<String>,
    /// The team (workspace): its domain, else its id.
    pub team: Option<String>,
}

/// Fields of a request as strings.
type Fields = BTreeMap<String, String>;

/// Form-encoded fields; the first of repeated names counts.
fn form_fields(body: &[u8]) -> Result<Fields, PayloadError> {
    if std::str::from_utf8(body).is_err() {
        return Err(PayloadError::new("body", "format", "the form is not UTF-8"));
    }
    let mut fields = Fields::new();
    for (name, value) in form_urlencoded::parse(body) {
        fields.entry(name.into_owned()).or_insert_with(|| value.into_owned());
    }
    Ok(fields)
}

/// A JSON object's scalar fields as strings (numbers and booleans written
/// out, null absent); objects and arrays are refused.
fn json_fields(body: &[u8]) -> Result<Fields, PayloadError> {
    let mut fields = Fields::new();
    for (name, value) in parse_json_object(body)? {
        // Mattermost sends file_ids as a string; anything nested is not ours.
        match scalar_string(&value) {
            Ok(Some(text)) => {
                fields.insert(name, text);
            }
            Ok(None) => {}
            Err(()) if is_ours(&name) => {
                return Err(PayloadError::new(name, "type", format!("is {}, not a string", kind(&value))));
            }
            Err(()) => {}
        }
    }
    Ok(fields)
}

fn is_ours(name: &str) -> bool {
    matches!(
        name,
        "token"
            | "team_id"
            | "team_domain"
            | "channel_id"
            | "channel_name"
            | "user_id"
            | "user_name"
            | "text"
            | "trigger_word"
            | "command"
            | "response_url"
    )
}

fn non_empty(fields: &Fields, name: &str) -> Option<String> {
    fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The request common to Slack and Mattermost form fields.
fn request_of(fields: &Fields) -> Result<ChatRequest, PayloadError> {
    let user_id = non_empty(fields, "user_id").ok_or_else(|| PayloadError::new("user_id", "required", "is missing"))?;
    Ok(ChatRequest {
        user_name: non_empty(fields, "user_name").unwrap_or_else(|| user_id.clone()),
        user_id,
        channel_id: non_empty(fields, "channel_id"),
        channel_name: non_empty(fields, "channel_name"),
        text: fields.get("text").map(|t| t.trim().to_owned()).unwrap_or_default(),
        command: non_empty(fields, "command"),
        response_url: non_empty(fields, "response_url"),
        team: non_empty(fields, "team_domain").or_else(|| non_empty(fields, "team_id")),
    })
}

/// Parses a Slack slash command (`application/x-www-form-urlencoded`:
/// `team_id`, `team_domain`, `channel_id`, `channel_name`, `user_id`,
/// `user_name`, `command`, `text`, `response_url`, `trigger_id`...).
/// `command` and `user_id` are required; a missing `user_name` (Slack
/// calls it deprecated) is the user id.
pub fn parse_slack_command(body: &[u8]) -> Result<ChatRequest, PayloadError> {
    let fields = form_fields(body)?;
    let request = request_of(&fields)?;
    if request.command.is_none() {
        return Err(PayloadError::new("command", "required", "is missing"));
    }
    Ok(request)
}

/// Parses a Mattermost outgoing webhook or slash command, form-encoded or
/// JSON by `content_type`, into the request and the token it carries
/// (check it with [`verify_token`]).
///
/// Outgoing webhooks send `token`, `team_id`, `team_domain`,
/// `channel_id`, `channel_name`, `user_id`, `user_name`, `text`,
/// `trigger_word`...; the trigger word is taken off the front of the
/// text. Slash commands add `command` and `response_url`. `user_id` is
/// required.
pub fn parse_mattermost(body: &[u8], content_type: &str) -> Result<(ChatRequest, Option<String>), PayloadError> {
    let media_type = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let fields = match media_type.as_str() {
        "application/x-www-form-urlencoded" => form_fields(body)?,
        "application/json" => json_fields(body)?,
        _ => {
            return Err(PayloadError::new(
                "content_type",
                "format",
                format!("is {content_type:?}; application/x-www-form-urlencoded or application/json are read"),
            ));
        }
    };
    let mut request = request_of(&fields)?;
    if let Some(trigger) = non_empty(&fields, "trigger_word") {
        request.text = strip_prefix_ignore_case(&request.text, &trigger).map(|rest| rest.trim().to_owned()).unwrap_or(request.text);
    }
    Ok((request, non_empty(&fields, "token")))
}

/// `text` without `prefix` at its start (ASCII case ignored).
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// What a Slack Events API request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackEvent {
    /// Slack checking the endpoint when it is configured: answer with the
    /// challenge.
    UrlVerification {
        /// The value to send back.
        challenge: String,
    },
    /// A person mentioned the app (`app_mention`) or wrote to it
    /// (`message`).
    Message(ChatRequest),
    /// Anything else: bot messages (ours included), edits, joins, other
    /// event types. Acknowledge and drop.
    Ignored,
}

/// Parses a Slack Events API request: `url_verification`, or an
/// `event_callback` with an `app_mention` or `message` event.
///
/// Messages from bots (`bot_id` set) and messages with a `subtype` (edits,
/// deletions, joins; but not `thread_broadcast` and `file_share`, which
/// people write) are [`SlackEvent::Ignored`]. A leading `<@U…>` mention
/// is taken off the text. Events carry no user or channel names: the
/// request has the user id as its name and no channel name.
pub fn parse_slack_event(body: &[u8]) -> Result<SlackEvent, PayloadError> {
    let root = parse_json_object(body)?;
    let string = |object: &serde_json::Map<String, Value>, name: &str, path: &str| -> Result<Option<String>, PayloadError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(PayloadError::new(path, "type", format!("is {}, not a string", kind(other)))),
        }
    };
    let kind_of = string(&root, "type", "type")?.ok_or_else(|| PayloadError::new("type", "required", "is missing"))?;
    match kind_of.as_str() {
        "url_verification" => {
            let challenge = string(&root, "challenge", "challenge")?.filter(|c| !c.is_empty());
            let challenge = challenge.ok_or_else(|| PayloadError::new("challenge", "required", "is missing"))?;
            Ok(SlackEvent::UrlVerification { challenge })
        }
        "event_callback" => {
            let event = match root.get("event") {
                None | Some(Value::Null) => return Err(PayloadError::new("event", "required", "is missing")),
                Some(Value::Object(event)) => event,
                Some(other) => return Err(PayloadError::new("event", "type", format!("is {}, not an object", kind(other)))),
            };
            let event_type =
                string(event, "type", "event.type")?.ok_or_else(|| PayloadError::new("event.type", "required", "is missing"))?;
            if event_type != "app_mention" && event_type != "message" {
                return Ok(SlackEvent::Ignored);
            }
            if event.get("bot_id").is_some_and(|b| !b.is_null()) {
                return Ok(SlackEvent::Ignored);
            }
            if let Some(subtype) = string(event, "subtype", "event.subtype")?
                && subtype != "thread_broadcast"
                && subtype != "file_share"
            {
                return Ok(SlackEvent::Ignored);
            }
            let user_id = string(event, "user", "event.user")?
                .filter(|u| !u.is_empty())
                .ok_or_else(|| PayloadError::new("event.user", "required", "is missing"))?;
            let text = string(event, "text", "event.text")?.unwrap_or_default();
            let team = string(&root, "team_id", "team_id")?.or(string(event, "team", "event.team")?).filter(|t| !t.is_empty());
            Ok(SlackEvent::Message(ChatRequest {
                user_name: user_id.clone(),
                user_id,
                channel_id: string(event, "channel", "event.channel")?.filter(|c| !c.is_empty()),
                channel_name: None,
                text: strip_leading_mention(&text).trim().to_owned(),
                command: None,
                response_url: None,
                team,
            }))
        }
        _ => Ok(SlackEvent::Ignored),
    }
}

/// `text` without a leading `<@U123>` (or `<@U123|name>`) mention.
fn strip_leading_mention(text: &str) -> &str {
    let trimmed = text.trim_start();
    match trimmed.strip_prefix("<@").and_then(|rest| rest.split_once('>')) {
        Some((_, rest)) => rest,
        None => text,
    }
}

/// What a chat message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open an incident with this text.
    Open {
        /// What the user wrote.
        text: String,
    },
    /// Comment on an incident.
    Comment {
        /// Its number, `INC-000123`.
        number: String,
        /// The comment (may be empty).
        text: String,
    },
    /// Show what can be asked.
    Help,
}

/// Reads a message: empty, `help` or `?` is [`Command::Help`]; a message
/// starting with an incident number (`INC-123`, ignoring case, optionally
/// `#INC-123`, `[INC-123]` or `(INC-123)`, then a space, `:` or the end)
/// is a [`Command::Comment`] on it, the number written `INC-` + at least
/// six digits (`INC-000123`); anything else is [`Command::Open`].
pub fn parse_command(text: &str) -> Command {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("help") || text == "?" {
        return Command::Help;
    }
    match leading_number(text) {
        Some((number, rest)) => Command::Comment { number, text: rest.to_owned() },
        None => Command::Open { text: text.to_owned() },
    }
}

/// The incident number at the start of `text`, normalised, and the text
/// after it.
fn leading_number(text: &str) -> Option<(String, &str)> {
    let (rest, close) = match text.as_bytes().first()? {
        b'[' => (&text[1..], Some(']')),
        b'(' => (&text[1..], Some(')')),
        _ => (text, None),
    };
    let rest = rest.strip_prefix('#').unwrap_or(rest);
    let rest = strip_prefix_ignore_case(rest, "INC-")?;
    let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits_len == 0 {
        return None;
    }
    let (digits, mut rest) = rest.split_at(digits_len);
    if let Some(close) = close {
        rest = rest.strip_prefix(close)?;
    }
    match rest.chars().next() {
        None => {}
        Some(c) if c.is_whitespace() || matches!(c, ':' | ',' | ';' | '.') => {}
        Some(_) => return None,
    }
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | ',' | ';' | '.')).trim_end();
    Some((format!("INC-{digits:0>6}"), rest))
}

/// Slack's escaping of its control characters `&`, `<`, `>`.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The URL of a `<url|label>` link: escaped, and without the characters
/// that would end it.
fn slack_escape_url(url: &str) -> String {
    slack_escape(url).replace('|', "%7C").replace(' ', "%20")
}

/// How many characters a section block's text may have.
const SLACK_SECTION_MAX_CHARS: usize = 3000;

/// A message for a Slack incoming webhook: `text` (escaped) with an
/// optional `<url|label>` link on a line of its own, as the notification
/// `text` and as one mrkdwn section block (cut to Slack's 3000
/// characters, the link kept).
pub fn slack_message(text: &str, link: Option<(&str, &str)>) -> Value {
    let escaped = slack_escape(text);
    let link = link.map(|(label, url)| format!("<{}|{}>", slack_escape_url(url), slack_escape(label)));
    let join = |text: &str| match &link {
        Some(link) if text.is_empty() => link.clone(),
        Some(link) => format!("{text}\n{link}"),
        None => text.to_owned(),
    };
    let full = join(&escaped);
    if full.is_empty() {
        return json!({ "text": full });
    }
    let section = if full.chars().count() <= SLACK_SECTION_MAX_CHARS {
        full.clone()
    } else {
        let link_chars = link.as_ref().map_or(0, |l| l.chars().count() + 1);
        let budget = SLACK_SECTION_MAX_CHARS.saturating_sub(link_chars + 1);
        let mut cut: String = escaped.chars().take(budget).collect();
        // Do not leave half an entity (`&am`) at the end.
        if let Some(amp) = cut.rfind('&')
            && !cut[amp..].contains(';')
        {
            cut.truncate(amp);
        }
        cut.push('…');
        let section = join(&cut);
        // A link longer than the block is cut too.
        if section.chars().count() > SLACK_SECTION_MAX_CHARS { section.chars().take(SLACK_SECTION_MAX_CHARS).collect() } else { section }
    };
    json!({
        "text": full,
        "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": section } }],
    })
}

/// A message for a Mattermost incoming webhook: `text` with an optional
/// `[label](url)` link on a line of its own, posted as `Switchyard`.
pub fn mattermost_message(text: &str, link: Option<(&str, &str)>) -> Value {
    let mut body = text.to_owned();
    if let Some((label, url)) = link {
        let label = label.replace('\\', "\\\\").replace('[', "\\[").replace(']', "\\]");
        let url = url.replace(' ', "%20").replace('(', "%28").replace(')', "%29").replace('<', "%3C").replace('>', "%3E");
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(&format!("[{label}]({url})"));
    }
    json!({ "text": body, "username": "Switchyard" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const SLACK_NOW: i64 = 1_531_420_618;

    #[test]
    fn slack_documented_example() {
        assert_eq!(verify_slack(SLACK_SECRET, SLACK_TS, SLACK_SIGNATURE, SLACK_BODY.as_bytes(), SLACK_NOW + 60), Ok(()));
        let request = parse_slack_command(SLACK_BODY.as_bytes()).unwrap();
        assert_eq!(
            request,
            ChatRequest {
                user_name: "roadrunner".into(),
                user_id: "U2CERLKJA".into(),
                channel_id: Some("G8PSS9T3V".into()),
                channel_name: Some("foobar".into()),
                text: String::new(),
                command: Some("/webhook-collect".into()),
                response_url: Some("https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN".into()),
                team: Some("testteamnow".into()),
            }
        );
    }

    #[test]
    fn slack_refusals() {
        let body = SLACK_BODY.as_bytes();
        let tampered = SLACK_BODY.replace("roadrunner", "coyote");
        assert_eq!(verify_slack(SLACK_SECRET, SLACK_TS, SLACK_SIGNATURE, tampered.as_bytes(), SLACK_NOW), Err(SignatureError::Mismatch));
        assert_eq!(verify_slack("other", SLACK_TS, SLACK_SIGNATURE, body, SLACK_NOW), Err(SignatureError::Mismatch));
        assert_eq!(verify_slack(SLACK_SECRET, "1531420619", SLACK_SIGNATURE, body, SLACK_NOW), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_slack(SLACK_SECRET, SLACK_TS, SLACK_SIGNATURE, body, SLACK_NOW + 301),
            Err(SignatureError::TooOld { age: 301, tolerance: 300 })
        );
        assert_eq!(
            verify_slack(SLACK_SECRET, SLACK_TS, SLACK_SIGNATURE, body, SLACK_NOW - 301),
            Err(SignatureError::TooNew { ahead: 301, tolerance: 300 })
        );
        assert!(matches!(verify_slack(SLACK_SECRET, SLACK_TS, &SLACK_SIGNATURE[3..], body, SLACK_NOW), Err(SignatureError::Malformed(_))));
        assert!(matches!(verify_slack(SLACK_SECRET, SLACK_TS, "v0=zz", body, SLACK_NOW), Err(SignatureError::Malformed(_))));
        assert_eq!(verify_slack(SLACK_SECRET, SLACK_TS, "v0=abcd", body, SLACK_NOW), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_slack(SLACK_SECRET, SLACK_TS, "", body, SLACK_NOW),
            Err(SignatureError::Missing("signature (X-Slack-Signature)"))
        );
        assert!(matches!(verify_slack(SLACK_SECRET, "soon", SLACK_SIGNATURE, body, SLACK_NOW), Err(SignatureError::InvalidTimestamp(_))));
        assert!(matches!(verify_slack("", SLACK_TS, SLACK_SIGNATURE, body, SLACK_NOW), Err(SignatureError::InvalidSecret(_))));
        // Upper-case hex is the same digest.
        let upper = format!("v0={}", SLACK_SIGNATURE[3..].to_ascii_uppercase());
        assert_eq!(verify_slack(SLACK_SECRET, SLACK_TS, &upper, body, SLACK_NOW), Ok(()));
    }

    #[test]
    fn tokens() {
        assert_eq!(verify_token("abc123", "abc123"), Ok(()));
        assert_eq!(verify_token("abc123", "abc124"), Err(SignatureError::Mismatch));
        assert_eq!(verify_token("abc123", "abc1234"), Err(SignatureError::Mismatch));
        assert_eq!(verify_token("abc123", ""), Err(SignatureError::Missing("token")));
        assert!(matches!(verify_token("", ""), Err(SignatureError::InvalidSecret(_))));
        assert_eq!(authorization_token("Token xr3j5x3p4pfk7ggz5"), Some("xr3j5x3p4pfk7ggz5"));
        assert_eq!(authorization_token("token  abc "), Some("abc"));
        assert_eq!(authorization_token("Bearer abc"), None);
        assert_eq!(authorization_token("Token"), None);
        assert_eq!(authorization_token("Token "), None);
    }

    #[test]
    fn slack_command_needs_a_command_and_a_user() {
        let err = parse_slack_command(b"user_id=U1&text=hi").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("command", "required"));
        let err = parse_slack_command(b"command=%2Fincident&text=hi").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("user_id", "required"));
        let err = parse_slack_command(b"\xff\xfe").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("body", "format"));
        let request = parse_slack_command(b"command=%2Fincident&user_id=U1&text=+printer+jammed+&team_id=T1").unwrap();
        assert_eq!((request.user_name.as_str(), request.text.as_str(), request.team.as_deref()), ("U1", "printer jammed", Some("T1")));
    }

    #[test]
    fn mattermost_outgoing_webhook_form_and_json() {
        let form = b"channel_id=hawos4dqtby53pd64o4a4cmeoo&channel_name=town-square&team_domain=someteam&team_id=kwoknj9nwpypzgzy78wkw516qe&post_id=axdygg1957njfe5pu38saikdho&text=some+text+here&timestamp=1445532266&token=zmigewsanbbsdf59xnmduzypjc&trigger_word=some&user_id=rnina9994bde8mua79zqcg5hmo&user_name=somename";
        let (request, token) = parse_mattermost(form, "application/x-www-form-urlencoded").unwrap();
        assert_eq!(token.as_deref(), Some("zmigewsanbbsdf59xnmduzypjc"));
        assert_eq!(request.text, "text here");
        assert_eq!(request.user_name, "somename");
        assert_eq!(request.channel_name.as_deref(), Some("town-square"));
        assert_eq!(request.team.as_deref(), Some("someteam"));
        assert_eq!(request.command, None);

        let json = br##"{"token":"zmigewsanbbsdf59xnmduzypjc","team_id":"kwoknj9nwpypzgzy78wkw516qe","team_domain":"someteam","channel_id":"hawos4dqtby53pd64o4a4cmeoo","channel_name":"town-square","timestamp":1445532266,"user_id":"rnina9994bde8mua79zqcg5hmo","user_name":"somename","post_id":"axdygg1957njfe5pu38saikdho","text":"#incident INC-42 fixed now","trigger_word":"#incident","file_ids":""}"##;
        let (request, token) = parse_mattermost(json, "application/json; charset=utf-8").unwrap();
        assert_eq!(token.as_deref(), Some("zmigewsanbbsdf59xnmduzypjc"));
        assert_eq!(request.text, "INC-42 fixed now");
        assert_eq!(parse_command(&request.text), Command::Comment { number: "INC-000042".into(), text: "fixed now".into() });
    }

    #[test]
    fn mattermost_slash_command_and_refusals() {
        let form = b"channel_id=c1&channel_name=town-square&command=%2Fincident&response_url=https%3A%2F%2Fchat.example%2Fhooks%2Fcommands%2Fx&team_domain=ops&team_id=t1&text=help&token=tok&trigger_id=tr&user_id=u1&user_name=rita";
        let (request, token) = parse_mattermost(form, "application/x-www-form-urlencoded").unwrap();
        assert_eq!(request.command.as_deref(), Some("/incident"));
        assert_eq!(request.response_url.as_deref(), Some("https://chat.example/hooks/commands/x"));
        assert_eq!(token.as_deref(), Some("tok"));
        assert_eq!(parse_command(&request.text), Command::Help);

        let err = parse_mattermost(form, "text/plain").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("content_type", "format"));
        let err = parse_mattermost(b"{\"user_id\": \"u\", \"text\": [1]}", "application/json").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("text", "type"));
        let err = parse_mattermost(b"[1]", "application/json").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("body", "type"));
        let err = parse_mattermost(b"{", "application/json").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("body", "json"));
        let err = parse_mattermost(b"{}", "application/json").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("user_id", "required"));
        // A trigger word that is not at the start stays.
        let (request, _) =
            parse_mattermost(b"user_id=u&text=see+incident&trigger_word=incident", "application/x-www-form-urlencoded").unwrap();
        assert_eq!(request.text, "see incident");
    }

    #[test]
    fn slack_events() {
        let verification = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        assert_eq!(
            parse_slack_event(verification).unwrap(),
            SlackEvent::UrlVerification { challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into() }
        );
        let mention = br#"{"token":"ZZZZZZWSxiZZZ2yIvs3peJ","team_id":"T061EG9R6","api_app_id":"A0MDYCDME","event":{"type":"app_mention","user":"U061F7AUR","text":"<@U0LAN0Z89> INC-7 is it everything a river should be?","ts":"1515449522.000016","channel":"C0LAN2Q65","event_ts":"1515449522000016"},"type":"event_callback","event_id":"Ev0LAN670R","event_time":1515449522,"authed_users":["U0LAN0Z89"]}"#;
        let SlackEvent::Message(request) = parse_slack_event(mention).unwrap() else { panic!("a message") };
        assert_eq!(request.user_id, "U061F7AUR");
        assert_eq!(request.channel_id.as_deref(), Some("C0LAN2Q65"));
        assert_eq!(request.team.as_deref(), Some("T061EG9R6"));
        assert_eq!(request.text, "INC-7 is it everything a river should be?");

        let message = br#"{"type":"event_callback","team_id":"T1","event":{"type":"message","channel":"D024BE91L","user":"U2147483697","text":"printer jammed","ts":"1355517523.000005","channel_type":"im"}}"#;
        let SlackEvent::Message(request) = parse_slack_event(message).unwrap() else { panic!("a message") };
        assert_eq!(parse_command(&request.text), Command::Open { text: "printer jammed".into() });

        let bot =
            br#"{"type":"event_callback","event":{"type":"message","subtype":"bot_message","bot_id":"B1","text":"done","channel":"C1"}}"#;
        assert_eq!(parse_slack_event(bot).unwrap(), SlackEvent::Ignored);
        let bot_no_subtype = br#"{"type":"event_callback","event":{"type":"message","bot_id":"B1","user":"U1","text":"done"}}"#;
        assert_eq!(parse_slack_event(bot_no_subtype).unwrap(), SlackEvent::Ignored);
        let edit = br#"{"type":"event_callback","event":{"type":"message","subtype":"message_changed","channel":"C1"}}"#;
        assert_eq!(parse_slack_event(edit).unwrap(), SlackEvent::Ignored);
        let reaction = br#"{"type":"event_callback","event":{"type":"reaction_added","user":"U1"}}"#;
        assert_eq!(parse_slack_event(reaction).unwrap(), SlackEvent::Ignored);
        assert_eq!(parse_slack_event(br#"{"type":"app_rate_limited"}"#).unwrap(), SlackEvent::Ignored);

        for (body, field, rule) in [
            (&b"nope"[..], "body", "json"),
            (b"{}", "type", "required"),
            (b"{\"type\": 1}", "type", "type"),
            (b"{\"type\": \"url_verification\"}", "challenge", "required"),
            (b"{\"type\": \"event_callback\"}", "event", "required"),
            (b"{\"type\": \"event_callback\", \"event\": []}", "event", "type"),
            (b"{\"type\": \"event_callback\", \"event\": {\"type\": \"message\"}}", "event.user", "required"),
            (b"{\"type\": \"event_callback\", \"event\": {\"type\": \"message\", \"user\": \"U\", \"text\": 5}}", "event.text", "type"),
        ] {
            let err = parse_slack_event(body).unwrap_err();
            assert_eq!((err.field.as_str(), err.rule), (field, rule), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn commands() {
        let open = |t: &str| Command::Open { text: t.to_owned() };
        let comment = |n: &str, t: &str| Command::Comment { number: n.to_owned(), text: t.to_owned() };
        let cases = [
            ("printer on floor 3 is jammed", open("printer on floor 3 is jammed")),
            ("  printer on floor 3 is jammed \n", open("printer on floor 3 is jammed")),
            ("INC-000123 it works again", comment("INC-000123", "it works again")),
            ("INC-123 it works again", comment("INC-000123", "it works again")),
            ("inc-123 it works again", comment("INC-000123", "it works again")),
            ("#INC-123 it works again", comment("INC-000123", "it works again")),
            ("[INC-123] it works again", comment("INC-000123", "it works again")),
            ("[#inc-123] it works again", comment("INC-000123", "it works again")),
            ("(INC-123) it works again", comment("INC-000123", "it works again")),
            ("INC-123: it works again", comment("INC-000123", "it works again")),
            ("INC-1234567 bigger numbers stay", comment("INC-1234567", "bigger numbers stay")),
            ("INC-42", comment("INC-000042", "")),
            ("INC-42\nline two", comment("INC-000042", "line two")),
            ("INC-", open("INC-")),
            ("INC-12abc broken", open("INC-12abc broken")),
            ("[INC-12 not closed", open("[INC-12 not closed")),
            ("INC 12 no dash", open("INC 12 no dash")),
            ("see INC-123 later", open("see INC-123 later")),
            ("", Command::Help),
            ("   ", Command::Help),
            ("help", Command::Help),
            ("HELP", Command::Help),
            ("?", Command::Help),
            ("help me, the printer is jammed", open("help me, the printer is jammed")),
            ("ÉINC-1 unicode first", open("ÉINC-1 unicode first")),
        ];
        for (text, want) in cases {
            assert_eq!(parse_command(text), want, "{text:?}");
        }
    }

    #[test]
    fn slack_message_format() {
        let message = slack_message("Disk <full> & slow", Some(("INC-000123", "https://desk.example/incidents/1?a=1&b=2")));
        let want = "Disk &lt;full&gt; &amp; slow\n<https://desk.example/incidents/1?a=1&amp;b=2|INC-000123>";
        assert_eq!(message, json!({ "text": want, "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": want } }] }));
        assert_eq!(slack_message("plain", None)["text"], "plain");
        assert_eq!(slack_message("", None), json!({ "text": "" }));
        assert_eq!(slack_message("x", Some(("a|b", "https://e.example/a|b c")))["text"], "x\n<https://e.example/a%7Cb%20c|a|b>");
        // Long text is cut in the block, not in the notification text; the link stays.
        let long = "&".repeat(2000);
        let message = slack_message(&long, Some(("open", "https://e.example")));
        let section = message["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(section.chars().count() <= SLACK_SECTION_MAX_CHARS);
        assert!(section.ends_with("…\n<https://e.example|open>"), "{}", &section[section.len() - 40..]);
        assert!(section.trim_end_matches(|c| c != '…').trim_end_matches('…').ends_with("&amp;"));
        assert_eq!(message["text"].as_str().unwrap().matches("&amp;").count(), 2000);
    }

    #[test]
    fn mattermost_message_format() {
        assert_eq!(
            mattermost_message("Disk full", Some(("INC-000123 [prod]", "https://desk.example/incidents/(1)"))),
            json!({ "text": "Disk full\n[INC-000123 \\[prod\\]](https://desk.example/incidents/%281%29)", "username": "Switchyard" })
        );
        assert_eq!(mattermost_message("hi", None), json!({ "text": "hi", "username": "Switchyard" }));
    }
}
