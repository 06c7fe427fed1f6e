//! The IMAP mailbox intake reads: connect (TLS, STARTTLS or plain), log
//! in, list what waits in the folder, fetch it whole without marking it
//! seen, and move each message to a folder once handled (`Processed`, or
//! `Failed` for mail that could not be processed). Nothing is ever
//! deleted. Between rounds the mailbox is watched with IDLE when the server
//! offers it, polled otherwise.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::Session;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

pub use crate::Security;

/// Where the mailbox is.
#[derive(Clone)]
pub struct ImapConfig {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub security: Security,
    /// Login.
    pub username: String,
    /// Password (never logged).
    pub password: String,
    /// The folder read (`INBOX`).
    pub folder: String,
    /// Where handled mail goes.
    pub processed_folder: String,
    /// Where mail that could not be processed goes.
    pub failed_folder: String,
    /// How long one IDLE waits before it is renewed (servers drop it after 30 minutes).
    pub idle_timeout: Duration,
    /// How often to look when the server has no IDLE.
    pub poll: Duration,
    /// Connect and command timeout.
    pub timeout: Duration,
    /// A PEM file of CA certificates trusted besides the system's (an
    /// internal CA, a self-signed server).
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

impl ImapConfig {
    /// `imap:<user>@<host>/<folder>`: how records name this source.
    pub fn source(&self) -> String {
        format!("imap:{}@{}/{}", self.username, self.host, self.folder)
    }
}

/// Why talking to the mailbox failed.
#[derive(Debug, thiserror::Error)]
#[error("IMAP {what}: {message}")]
pub struct ImapError {
    what: &'static str,
    message: String,
}

fn err(what: &'static str) -> impl FnOnce(String) -> ImapError {
    move |message| ImapError { what, message }
}

/// The connection: plain or TLS.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

async fn tls(host: &str, ca_file: Option<&std::path::Path>, tcp: TcpStream) -> Result<Stream, ImapError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| err("ca_file")(format!("{}: {e}", path.display())))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| err("ca_file")(format!("{}: {e}", path.display())))?;
            roots.add(cert).map_err(|e| err("ca_file")(format!("{}: {e}", path.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| err("tls")(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| err("tls")(e.to_string()))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| err("tls")(e.to_string()))?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// A message waiting in the folder.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its UID in the folder.
    pub uid: u32,
    /// The whole message.
    pub raw: Vec<u8>,
}

/// A logged-in session on the folder.
pub struct Mailbox {
    session: Session<Stream>,
    config: ImapConfig,
    can_idle: bool,
    can_move: bool,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").field("config", &self.config).field("idle", &self.can_idle).finish_non_exhaustive()
    }
}

async fn within<T>(limit: Duration, what: &'static str, f: impl Future<Output = Result<T, ImapError>>) -> Result<T, ImapError> {
    tokio::time::timeout(limit, f).await.map_err(|_| err(what)(format!("no answer within {} s", limit.as_secs())))?
}

impl Mailbox {
    /// Connects, logs in, makes sure the folders exist and selects the folder.
    pub async fn connect(config: &ImapConfig) -> Result<Mailbox, ImapError> {
        within(config.timeout, "connect", Self::open(config)).await
    }

    async fn open(config: &ImapConfig) -> Result<Mailbox, ImapError> {
        let tcp = TcpStream::connect((config.host.as_str(), config.port)).await.map_err(|e| err("connect")(e.to_string()))?;
        let stream = match config.security {
            Security::Tls => tls(&config.host, config.ca_file.as_deref(), tcp).await?,
            Security::None => Stream::Plain(tcp),
            Security::Starttls => {
                let mut client = async_imap::Client::new(Stream::Plain(tcp));
                client.read_response().await.map_err(|e| err("greeting")(e.to_string()))?;
                client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| err("starttls")(e.to_string()))?;
                match client.into_inner() {
                    Stream::Plain(tcp) => tls(&config.host, config.ca_file.as_deref(), tcp).await?,
                    tls @ Stream::Tls(_) => tls,
                }
            }
        };
        let mut client = async_imap::Client::new(stream);
        if config.security != Security::Starttls {
            client.read_response().await.map_err(|e| err("greeting")(e.to_string()))?;
        }
        let mut session = client.login(&config.username, &config.password).await.map_err(|(e, _)| err("login")(e.to_string()))?;
        let caps = session.capabilities().await.map_err(|e| err("capability")(e.to_string()))?;
        let (can_idle, can_move) = (caps.has_str("IDLE"), caps.has_str("MOVE"));
        for folder in [&config.processed_folder, &config.failed_folder] {
            // Already there is fine; a real problem shows when mail is moved.
            let _ = session.create(folder).await;
        }
        session.select(&config.folder).await.map_err(|e| err("select")(e.to_string()))?;
        Ok(Mailbox { session, config: config.clone(), can_idle, can_move })
    }

    /// Whether the server offers IDLE.
    pub fn can_idle(&self) -> bool {
        self.can_idle
    }

    /// Up to `max` messages waiting in the folder, oldest first, fetched
    /// whole without marking them seen.
    pub async fn waiting(&mut self, max: usize) -> Result<Vec<Fetched>, ImapError> {
        let limit = self.config.timeout;
        within(limit, "fetch", async {
            let mut uids: Vec<u32> = self.session.uid_search("ALL").await.map_err(|e| err("search")(e.to_string()))?.into_iter().collect();
            uids.sort_unstable();
            uids.truncate(max);
            if uids.is_empty() {
                return Ok(Vec::new());
            }
            let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let fetches: Vec<_> = self
                .session
                .uid_fetch(&set, "(UID BODY.PEEK[])")
                .await
                .map_err(|e| err("fetch")(e.to_string()))?
                .try_collect()
                .await
                .map_err(|e| err("fetch")(e.to_string()))?;
            let mut out: Vec<Fetched> = fetches.iter().filter_map(|f| Some(Fetched { uid: f.uid?, raw: f.body()?.to_vec() })).collect();
            out.sort_by_key(|f| f.uid);
            Ok(out)
        })
        .await
    }

    /// Moves a handled message to the processed folder.
    pub async fn processed(&mut self, uid: u32) -> Result<(), ImapError> {
        let folder = self.config.processed_folder.clone();
        self.move_to(uid, &folder).await
    }

    /// Moves a message that could not be processed to the failed folder.
    pub async fn failed(&mut self, uid: u32) -> Result<(), ImapError> {
        let folder = self.config.failed_folder.clone();
        self.move_to(uid, &folder).await
    }

    async fn move_to(&mut self, uid: u32, folder: &str) -> Result<(), ImapError> {
        let limit = self.config.timeout;
        let uid = uid.to_string();
        within(limit, "move", async {
            if self.can_move {
                return self.session.uid_mv(&uid, folder).await.map_err(|e| err("move")(e.to_string()));
            }
            // Without MOVE: copy, then flag and expunge the original (the
            // copy exists first, so nothing is lost in between).
            self.session.uid_copy(&uid, folder).await.map_err(|e| err("copy")(e.to_string()))?;
            let flag = self.session.uid_store(&uid, "+FLAGS.SILENT (\\Deleted)").await.map_err(|e| err("store")(e.to_string()))?;
            flag.try_collect::<Vec<_>>().await.map_err(|e| err("store")(e.to_string()))?;
            let expunge = self.session.uid_expunge(&uid).await.map_err(|e| err("expunge")(e.to_string()))?;
            expunge.try_collect::<Vec<_>>().await.map_err(|e| err("expunge")(e.to_string()))?;
            Ok(())
        })
        .await
    }

    /// Waits until new mail may be there: IDLE up to the renewal time when
    /// the server has it, otherwise the poll interval.
    pub async fn wait(self) -> Result<Mailbox, ImapError> {
        if !self.can_idle {
            tokio::time::sleep(self.config.poll).await;
            return Ok(self);
        }
        let Mailbox { session, config, can_idle, can_move } = self;
        let mut idle = session.idle();
        within(config.timeout, "idle", async { idle.init().await.map_err(|e| err("idle")(e.to_string())) }).await?;
        let (wait, _stop) = idle.wait_with_timeout(config.idle_timeout);
        wait.await.map_err(|e| err("idle")(e.to_string()))?;
        let session = within(config.timeout, "idle", async { idle.done().await.map_err(|e| err("idle")(e.to_string())) }).await?;
        Ok(Mailbox { session, config, can_idle, can_move })
    }

    /// Logs out.
    pub async fn logout(mut self) {
        let _ = self.session.logout().await;
    }
}
