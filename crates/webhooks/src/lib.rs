//! Switchyard's HTTP integrations, as pure Rust (no I/O): monitoring alert
//! payloads turned into typed alerts, outbound webhook signing (Standard
//! Webhooks), chat requests verified and parsed, chat message formats.
//!
//! - [`alert`]: [`Alert`]s from Prometheus Alertmanager, Grafana and
//!   generic JSON read through a [`Mapping`]; refusals are
//!   [`PayloadError`]s naming a field and a rule.
//! - [`signing`]: Standard Webhooks signatures: [`Secret`]s
//!   (`whsec_...`), [`signing::sign`], [`signing::verify`]; refusals are
//!   [`SignatureError`]s.
//! - [`chat`]: Slack and Mattermost requests verified (signature, token)
//!   and parsed into [`ChatRequest`]s and [`Command`]s; Slack Events API
//!   [`SlackEvent`]s; the messages posted to incoming webhooks.
//!
//! The HTTP server reads the request and the clock and hands the bytes,
//! headers and the current time here; nothing in this crate waits, reads
//! or panics on input, so every parser can be fed arbitrary bytes.

pub mod alert;
pub mod chat;
pub mod signing;

pub use alert::{Alert, AlertStatus, Mapping, PayloadError};
pub use chat::{ChatRequest, Command, SlackEvent};
pub use signing::{Secret, SignatureError};

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn mapping() -> Mapping {
        serde_json::from_str(
            r#"{"alerts": "items", "title": "alert.name", "description": "alert.details", "severity": "alert.level",
                "ci": "host.name", "fingerprint": "alert.id", "status": "state", "labels": {"service": "tags.service"},
                "starts_at": "at", "source_url": "links[0]"}"#,
        )
        .unwrap()
    }

    /// Feeds `body` to every parser; none may panic.
    fn every_parser(body: &[u8], text: &str) {
        let _ = alert::parse_alertmanager(body);
        let _ = alert::parse_grafana(body);
        let _ = alert::parse_generic(&mapping(), body);
        let _ = alert::parse_generic(&Mapping::default(), body);
        let _ = alert::parse_generic(&Mapping { alerts: Some("$".into()), title: "$".into(), ..Mapping::default() }, body);
        let _ = chat::parse_slack_command(body);
        let _ = chat::parse_mattermost(body, "application/x-www-form-urlencoded");
        let _ = chat::parse_mattermost(body, "application/json");
        let _ = chat::parse_mattermost(body, text);
        let _ = chat::parse_slack_event(body);
        let _ = chat::parse_command(text);
        let _ = chat::verify_slack("secret", text, text, body, 0);
        let _ = chat::verify_token(text, "token");
        let _ = chat::authorization_token(text);
        let _ = chat::slack_message(text, Some((text, text)));
        let _ = chat::mattermost_message(text, Some((text, text)));
        let _ = Secret::parse(text);
        let secret = Secret::generate([3; 32]);
        let _ = signing::verify(&secret, text, text, text, body, 0, 300);
        let _ = serde_json::from_slice::<Mapping>(body).map(|m| {
            let _ = m.check();
            alert::parse_generic(&m, body)
        });
        let _ = Mapping { title: text.to_owned(), ..Mapping::default() }.check();
    }

    /// Arbitrary JSON, with the keys the parsers look for more likely than
    /// chance would make them.
    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("version".to_owned()),
            Just("alerts".to_owned()),
            Just("status".to_owned()),
            Just("labels".to_owned()),
            Just("annotations".to_owned()),
            Just("startsAt".to_owned()),
            Just("fingerprint".to_owned()),
            Just("type".to_owned()),
            Just("event".to_owned()),
            Just("user".to_owned()),
            Just("items".to_owned()),
            Just("alert".to_owned()),
            Just("name".to_owned()),
            "[a-z.\\[\\]\"]{0,6}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop_oneof![
                Just("4".to_owned()),
                Just("1".to_owned()),
                Just("firing".to_owned()),
                Just("resolved".to_owned()),
                Just("event_callback".to_owned()),
                Just("message".to_owned()),
                Just("0001-01-01T00:00:00Z".to_owned()),
                Just("2024-01-01T00:00:00+01:00".to_owned()),
                ".{0,12}",
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let text = String::from_utf8_lossy(&body).into_owned();
            every_parser(&body, &text);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            every_parser(text.as_bytes(), &text);
        }

        #[test]
        fn arbitrary_json_never_panics(value in json_value()) {
            let body = serde_json::to_vec(&value).unwrap();
            every_parser(&body, &String::from_utf8_lossy(&body));
            // Also as the payload under the usual keys.
            for wrapper in [
                serde_json::json!({"version": "4", "alerts": [value.clone()]}),
                serde_json::json!({"version": "1", "status": "firing", "alerts": [value.clone(), value.clone()]}),
                serde_json::json!({"items": [{"alert": value.clone()}]}),
                serde_json::json!({"type": "event_callback", "event": value.clone()}),
            ] {
                every_parser(&serde_json::to_vec(&wrapper).unwrap(), "");
            }
        }
    }
}
