//! Real mail servers for the mail tests, started by the test and killed
//! when dropped: aiosmtpd (SMTP, keeping what it receives in a maildir;
//! `scripts/test.sh` installs it into `target/mail-venv`) and Dovecot (IMAP,
//! from Debian's `dovecot-imapd`, which `scripts/test.sh` installs), each
//! on a free port of 127.0.0.1 with its state in a temporary directory.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A real SMTP server, aiosmtpd (installed by `scripts/test.sh` into
/// `target/mail-venv`), keeping every message it receives in a maildir.
pub struct SmtpSink {
    child: std::process::Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/mail-venv/bin/python");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .spawn()
            .unwrap_or_else(|e| panic!("{} could not start aiosmtpd ({e}): run scripts/test.sh, which installs it", python.display()));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return SmtpSink { child, port, maildir };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not listen on {port}");
    }

    /// Every message received, as text.
    pub fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail/new");
        let Ok(entries) = std::fs::read_dir(new) else { return Vec::new() };
        entries.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect()
    }
}

/// Waits until `check` answers, polling every 100 ms for up to 15 s.
pub async fn poll_until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..150 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A real IMAP server: Dovecot, user `desk` with password `secret`, mail
/// as maildir in its own directory.
pub struct Dovecot {
    child: std::process::Child,
    /// Plain IMAP (what the tests deliver through).
    pub port: u16,
    /// IMAP over TLS, when started with [`Dovecot::start_tls`].
    pub tls_port: Option<u16>,
    dir: tempfile::TempDir,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // Dovecot forks; its children outlive a killed master, so the
        // whole process group goes.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

impl Dovecot {
    pub const USER: &str = "desk";
    pub const PASSWORD: &str = "secret";

    pub fn start() -> Dovecot {
        Self::launch(false)
    }

    /// Also serves IMAP over TLS (port 993 style) with a self-signed
    /// certificate for 127.0.0.1: [`Dovecot::ca_file`].
    pub fn start_tls() -> Dovecot {
        Self::launch(true)
    }

    /// The certificate a TLS client must trust.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn launch(tls: bool) -> Dovecot {
        // Short path: Dovecot's unix sockets live under it.
        let dir = tempfile::Builder::new().prefix("dc").tempdir_in("/tmp").unwrap();
        let root = dir.path();
        // The auth process runs as `dovecot` and must reach the passwd file.
        std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        // Mail processes run as nobody (Dovecot refuses uid 0).
        let chown = Command::new("chown").args(["nobody:nogroup"]).arg(root.join("mail")).status().unwrap();
        assert!(chown.success(), "chown the mail directory");
        std::fs::write(root.join("passwd"), format!("{}:{{PLAIN}}{}\n", Self::USER, Self::PASSWORD)).unwrap();
        if tls {
            let made = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
                // A server certificate, not a CA: rustls refuses a CA as the end entity.
                .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
                .arg(root.join("key.pem"))
                .arg("-out")
                .arg(root.join("cert.pem"))
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(made.success(), "openssl made the certificate");
        }
        for _ in 0..5 {
            let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let port = free();
            let tls_port = tls.then(free);
            std::fs::write(root.join("dovecot.conf"), config(root, port, tls_port)).unwrap();
            let mut child = Command::new("dovecot")
                .arg("-F")
                .arg("-c")
                .arg(root.join("dovecot.conf"))
                .stdin(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("could not start dovecot ({e}): run scripts/test.sh, which installs dovecot-imapd"));
            for _ in 0..100 {
                if let Some(status) = child.try_wait().unwrap() {
                    eprintln!("dovecot exited with {status} (port {port} taken?); trying another port");
                    break;
                }
                if greets(port) {
                    return Dovecot { child, port, tls_port, dir };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dovecot did not start; see {}", root.join("dovecot.log").display());
    }

    /// A logged-in IMAP session of `desk`, with `folder` selected.
    pub async fn session(&self, folder: &str) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap();
        let mut session = client.login(Self::USER, Self::PASSWORD).await.map_err(|(e, _)| e).unwrap();
        session.select(folder).await.unwrap();
        session
    }

    /// Delivers a message into the inbox, as the MTA would.
    pub async fn deliver(&self, raw: &str) {
        let mut session = self.session("INBOX").await;
        session.append("INBOX", None, None, raw.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes()).await.unwrap();
        session.logout().await.unwrap();
    }

    /// How many messages a folder holds (0 when it does not exist).
    pub async fn count(&self, folder: &str) -> usize {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap();
        let mut session = client.login(Self::USER, Self::PASSWORD).await.map_err(|(e, _)| e).unwrap();
        let n = match session.select(folder).await {
            Ok(mailbox) => mailbox.exists as usize,
            Err(_) => 0,
        };
        session.logout().await.unwrap();
        n
    }
}

fn greets(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"* OK"))
}

fn config(dir: &Path, port: u16, tls_port: Option<u16>) -> String {
    let d = dir.display();
    let (ssl, imaps) = match tls_port {
        Some(p) => (format!("ssl = yes\nssl_cert = <{d}/cert.pem\nssl_key = <{d}/key.pem"), format!("address = 127.0.0.1\n    port = {p}")),
        None => ("ssl = no".to_owned(), "port = 0".to_owned()),
    };
    format!(
        "protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = dovecot-test-{port}
log_path = {d}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%u
}}
mail_location = maildir:{d}/mail/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    {imaps}
  }}
}}
"
    )
}
