//! Delivery over SMTP with lettre: plain (local relays), STARTTLS or TLS,
//! optional authentication, timeouts and a pool of connections.

use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

pub use crate::Security;

/// SMTP settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub security: Security,
    /// User name, when the server wants authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Password (never logged).
    #[serde(default)]
    pub password: Option<String>,
    /// Seconds a command may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Connections kept open.
    #[serde(default = "default_pool")]
    pub pool_size: u32,
}

fn default_timeout() -> u64 {
    30
}

fn default_pool() -> u32 {
    4
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The server refused for good (a 5xx): retrying will not help.
    pub permanent: bool,
    /// What happened.
    pub message: String,
}

/// A pooled SMTP client.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Mailer {
    /// A client for `config` (no connection is made yet).
    pub fn new(config: &SmtpConfig) -> Result<Mailer, SendError> {
        let fail = |e: lettre::transport::smtp::Error| SendError { permanent: true, message: format!("SMTP settings: {e}") };
        let tls = || TlsParameters::new(config.host.clone()).map_err(fail);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host).port(config.port);
        builder = match config.security {
            Security::None => builder.tls(Tls::None),
            Security::Starttls => builder.tls(Tls::Required(tls()?)),
            Security::Tls => builder.tls(Tls::Wrapper(tls()?)),
        };
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let transport = builder
            .timeout(Some(Duration::from_secs(config.timeout_secs.max(1))))
            .pool_config(PoolConfig::new().max_size(config.pool_size.max(1)))
            .build();
        Ok(Mailer { transport })
    }

    /// Sends one message.
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(SendError { permanent: e.is_permanent(), message: e.to_string() }),
        }
    }
}
