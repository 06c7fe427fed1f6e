//! Webhook signing as [Standard Webhooks](https://www.standardwebhooks.com)
//! specifies it, for the webhooks we send and any we receive signed that
//! way.
//!
//! A message is sent with three headers: `webhook-id` (the message id,
//! the same on every retry), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`: space-separated `v1,<base64 signature>` entries,
//! each the HMAC-SHA256 of `{id}.{timestamp}.{body}` under one secret (two
//! while a secret is being rotated). Secrets are written `whsec_` followed
//! by the base64 of the key.
//!
//! [`SignatureError`] is also what the chat request checks
//! ([`crate::chat`]) refuse with.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Standard base64, padding optional when read, written padded.
const BASE64: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

/// Why a signature (or token) was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The secret checked against cannot be used (empty, not
    /// `whsec_<base64>`, a key of the wrong size): a configuration error.
    #[error("the secret cannot be used: {0}")]
    InvalidSecret(String),
    /// The request lacks what is checked (the signature, the message id,
    /// the token).
    #[error("no {0} was given")]
    Missing(&'static str),
    /// The signature header cannot be read.
    #[error("the signature header cannot be read: {0}")]
    Malformed(String),
    /// The timestamp is not a number of Unix seconds.
    #[error("the timestamp {0:?} is not a number of Unix seconds")]
    InvalidTimestamp(String),
    /// The timestamp is further in the past than the tolerance: a replay,
    /// or a message held back too long.
    #[error("the timestamp is {age} s old, more than the {tolerance} s allowed")]
    TooOld {
        /// Seconds between the timestamp and now.
        age: i64,
        /// Seconds allowed.
        tolerance: i64,
    },
    /// The timestamp is further in the future than the tolerance.
    #[error("the timestamp is {ahead} s in the future, more than the {tolerance} s allowed")]
    TooNew {
        /// Seconds between now and the timestamp.
        ahead: i64,
        /// Seconds allowed.
        tolerance: i64,
    },
    /// No signature (or token) matches.
    #[error("the signature does not match")]
    Mismatch,
}

/// A signing secret: the key, shown as `whsec_<base64>`.
///
/// Its `Debug` form hides the key; `Display` gives it whole (that is how
/// it is shown once to whoever configures the receiving end).
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
}

impl Secret {
    /// How a secret is written: `whsec_` then the base64 of the key.
    pub const PREFIX: &'static str = "whsec_";
    /// The smallest key accepted, in bytes (the spec's lower bound).
    pub const MIN_KEY_BYTES: usize = 24;
    /// The largest key accepted, in bytes (the spec's upper bound).
    pub const MAX_KEY_BYTES: usize = 64;

    /// Reads `whsec_<base64>` (padding optional; spaces around ignored);
    /// the key must be 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<Secret, SignatureError> {
        let encoded = text
            .trim()
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| SignatureError::InvalidSecret(format!("a secret starts with {:?}", Self::PREFIX)))?;
        let key = BASE64
            .decode(encoded)
            .map_err(|e| SignatureError::InvalidSecret(format!("the part after {:?} is not base64: {e}", Self::PREFIX)))?;
        if !(Self::MIN_KEY_BYTES..=Self::MAX_KEY_BYTES).contains(&key.len()) {
            return Err(SignatureError::InvalidSecret(format!(
                "the key is {} bytes; {} to {} are accepted",
                key.len(),
                Self::MIN_KEY_BYTES,
                Self::MAX_KEY_BYTES
            )));
        }
        Ok(Secret { key })
    }

    /// A new secret made of `random_bytes`, which the caller draws from a
    /// cryptographically secure generator (this crate does no I/O).
    pub fn generate(random_bytes: [u8; 32]) -> Secret {
        Secret { key: random_bytes.to_vec() }
    }

    /// The HMAC of `{msg_id}.{timestamp}.` + body, not yet finalised.
    fn mac(&self, msg_id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl FromStr for Secret {
    type Err = SignatureError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Secret::parse(text)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, BASE64.encode(&self.key))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}<{} bytes hidden>)", Self::PREFIX, self.key.len())
    }
}

/// The `webhook-signature` header value for a message: `v1,<base64>` for
/// each secret, space-separated (empty for no secret).
pub fn sign(secrets: &[&Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    secrets
        .iter()
        .map(|secret| format!("v1,{}", BASE64.encode(secret.mac(msg_id, &timestamp, body).finalize().into_bytes())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads a timestamp header: Unix seconds, digits only.
pub(crate) fn parse_timestamp(text: &str) -> Result<i64, SignatureError> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::InvalidTimestamp(text.to_owned()));
    }
    digits.parse().map_err(|_| SignatureError::InvalidTimestamp(text.to_owned()))
}

/// Refuses a timestamp more than `tolerance` seconds away from `now`.
pub(crate) fn check_timestamp(timestamp: i64, now: i64, tolerance: i64) -> Result<(), SignatureError> {
    let tolerance = tolerance.max(0);
    let age = now.saturating_sub(timestamp);
    if age > tolerance {
        Err(SignatureError::TooOld { age, tolerance })
    } else if age < -tolerance {
        Err(SignatureError::TooNew { ahead: age.saturating_neg(), tolerance })
    } else {
        Ok(())
    }
}

/// Checks a received message's `webhook-signature` against `secret`: some
/// `v1` entry must match (compared in constant time; entries of other
/// versions are skipped), and the `webhook-timestamp` must be within
/// `tolerance_secs` of `now` (the spec suggests 300) either way.
///
/// `timestamp` is the header as received: the signature covers its text.
pub fn verify(
    secret: &Secret,
    msg_id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    if msg_id.is_empty() {
        return Err(SignatureError::Missing("message id (webhook-id)"));
    }
    let timestamp = timestamp.trim();
    check_timestamp(parse_timestamp(timestamp)?, now, tolerance_secs)?;
    if signature_header.trim().is_empty() {
        return Err(SignatureError::Missing("signature (webhook-signature)"));
    }
    let mac = secret.mac(msg_id, timestamp, body);
    let mut seen_v1 = false;
    let mut matched = false;
    for entry in signature_header.split_ascii_whitespace() {
        let Some(("v1", signature)) = entry.split_once(',') else { continue };
        seen_v1 = true;
        if let Ok(signature) = BASE64.decode(signature) {
            // `verify_slice` compares in constant time.
            matched |= mac.clone().verify_slice(&signature).is_ok();
        }
    }
    match (seen_v1, matched) {
        (_, true) => Ok(()),
        (false, false) => Err(SignatureError::Malformed("no v1,<signature> entry".to_owned())),
        (true, false) => Err(SignatureError::Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    // The test vector of the Standard Webhooks libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn official_test_vector() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(sign(&[&secret], MSG_ID, TIMESTAMP, BODY), SIGNATURE);
        assert_eq!(verify(&secret, MSG_ID, "1614265330", SIGNATURE, BODY, TIMESTAMP + 10, 300), Ok(()));
    }

    #[test]
    fn secret_round_trips_and_hides_its_key() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(secret.to_string(), SECRET);
        assert!(!format!("{secret:?}").contains("MfKQ"));
        let generated = Secret::generate([7; 32]);
        assert_eq!(Secret::parse(&generated.to_string()).unwrap().key, vec![7; 32]);
        assert!(generated.to_string().starts_with("whsec_"));
    }

    #[test]
    fn bad_secrets_are_refused() {
        for text in
            ["", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!", "whsec_AAAA", &format!("whsec_{}", "A".repeat(100))]
        {
            assert!(matches!(Secret::parse(text), Err(SignatureError::InvalidSecret(_))), "{text:?}");
        }
    }

    #[test]
    fn several_secrets_during_a_rotation() {
        let old = Secret::parse(SECRET).unwrap();
        let new = Secret::generate([1; 32]);
        let header = sign(&[&new, &old], MSG_ID, TIMESTAMP, BODY);
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.ends_with(SIGNATURE));
        for secret in [&old, &new] {
            assert_eq!(verify(secret, MSG_ID, "1614265330", &header, BODY, TIMESTAMP, 300), Ok(()));
        }
        let other = Secret::generate([2; 32]);
        assert_eq!(verify(&other, MSG_ID, "1614265330", &header, BODY, TIMESTAMP, 300), Err(SignatureError::Mismatch));
        assert_eq!(sign(&[], MSG_ID, TIMESTAMP, BODY), "");
    }

    #[test]
    fn tampering_is_caught() {
        let secret = Secret::parse(SECRET).unwrap();
        let ts = "1614265330";
        let now = TIMESTAMP;
        assert_eq!(verify(&secret, MSG_ID, ts, SIGNATURE, br#"{"test": 2432232315}"#, now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(&secret, "msg_other", ts, SIGNATURE, BODY, now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(&secret, MSG_ID, "1614265331", SIGNATURE, BODY, now, 300), Err(SignatureError::Mismatch));
        let flipped = SIGNATURE.replace("g0hM", "g0hN");
        assert_eq!(verify(&secret, MSG_ID, ts, &flipped, BODY, now, 300), Err(SignatureError::Mismatch));
        // Other versions and junk entries are skipped, not trusted.
        assert_eq!(
            verify(&secret, MSG_ID, ts, "v1a,xyz v2,abc", BODY, now, 300),
            Err(SignatureError::Malformed("no v1,<signature> entry".into()))
        );
        assert_eq!(verify(&secret, MSG_ID, ts, &format!("v1a,xyz v1,!!! {SIGNATURE}"), BODY, now, 300), Ok(()));
        assert_eq!(verify(&secret, MSG_ID, ts, "v1,", BODY, now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(&secret, MSG_ID, ts, " ", BODY, now, 300), Err(SignatureError::Missing("signature (webhook-signature)")));
        assert_eq!(verify(&secret, "", ts, SIGNATURE, BODY, now, 300), Err(SignatureError::Missing("message id (webhook-id)")));
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_refused() {
        let secret = Secret::parse(SECRET).unwrap();
        let ts = "1614265330";
        assert_eq!(verify(&secret, MSG_ID, ts, SIGNATURE, BODY, TIMESTAMP + 300, 300), Ok(()));
        assert_eq!(verify(&secret, MSG_ID, ts, SIGNATURE, BODY, TIMESTAMP - 300, 300), Ok(()));
        assert_eq!(
            verify(&secret, MSG_ID, ts, SIGNATURE, BODY, TIMESTAMP + 301, 300),
            Err(SignatureError::TooOld { age: 301, tolerance: 300 })
        );
        assert_eq!(
            verify(&secret, MSG_ID, ts, SIGNATURE, BODY, TIMESTAMP - 301, 300),
            Err(SignatureError::TooNew { ahead: 301, tolerance: 300 })
        );
        for bad in ["", "abc", "-1614265330", "+1614265330", "1614265330.5", "99999999999999999999"] {
            assert_eq!(
                verify(&secret, MSG_ID, bad, SIGNATURE, BODY, TIMESTAMP, 300),
                Err(SignatureError::InvalidTimestamp(bad.to_owned())),
                "{bad:?}"
            );
        }
        // Extremes do not overflow.
        assert!(check_timestamp(i64::MAX, i64::MIN, 300).is_err());
        assert!(check_timestamp(i64::MIN, i64::MAX, 300).is_err());
        assert!(check_timestamp(i64::MIN, i64::MAX, i64::MAX).is_ok());
        assert!(check_timestamp(0, 0, -5).is_ok());
    }

    proptest! {
        #[test]
        fn sign_then_verify(
            key in proptest::array::uniform32(any::<u8>()),
            msg_id in "[a-zA-Z0-9_]{1,40}",
            timestamp in 0i64..4_000_000_000,
            skew in -300i64..=300,
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let secret = Secret::generate(key);
            let header = sign(&[&secret], &msg_id, timestamp, &body);
            prop_assert_eq!(verify(&secret, &msg_id, &timestamp.to_string(), &header, &body, timestamp + skew, 300), Ok(()));
        }

        #[test]
        fn a_changed_body_fails(
            key in proptest::array::uniform32(any::<u8>()),
            body in proptest::collection::vec(any::<u8>(), 1..256),
            index in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let secret = Secret::generate(key);
            let header = sign(&[&secret], "msg_1", 1_000, &body);
            let mut tampered = body.clone();
            let i = index.index(tampered.len());
            tampered[i] ^= flip;
            prop_assert_eq!(verify(&secret, "msg_1", "1000", &header, &tampered, 1_000, 300), Err(SignatureError::Mismatch));
        }
    }
}
