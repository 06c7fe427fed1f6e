//! Per-step store data and the host side of the WIT imports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::switchyard::plugin::{cmdb, directory, http, kv, log, secrets, tickets, types};
use crate::manifest::{Capabilities, Interface, Limits};
use crate::model::{LogLevel, LogRecord};
use crate::services::HostServices;

/// Captured stdout or stderr: keeps the first `capacity` bytes and silently
/// drops the rest, so a chatty guest is cut off rather than failing (a Rust
/// guest panics when a print fails).
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    buffer: Arc<std::sync::Mutex<Vec<u8>>>,
    capacity: usize,
}

impl CapturedOutput {
    fn new(capacity: usize) -> CapturedOutput {
        CapturedOutput { buffer: Arc::default(), capacity }
    }

    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.capacity.saturating_sub(buffer.len());
        buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Everything captured so far.
    pub(crate) fn contents(&self) -> Vec<u8> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        self.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Identity of the plugin a store runs, for logs and kv scoping.
#[derive(Debug, Clone)]
pub(crate) struct PluginIdentity {
    pub id: Arc<str>,
    pub version: Arc<str>,
}

/// Caps guest linear memory; remembers whether the cap was hit so the
/// engine can report a memory error rather than a bare trap.
pub(crate) struct MemoryLimiter {
    pub limit_bytes: usize,
    pub hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            self.hit = true;
            // An error (rather than `Ok(false)`) traps at the grow itself,
            // so the guest cannot carry on with a failed allocation.
            return Err(wasmtime::format_err!("memory limit of {} bytes exceeded", self.limit_bytes));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The data of one step's `Store`.
pub(crate) struct StepState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub identity: PluginIdentity,
    pub grants: Arc<Capabilities>,
    pub limits: Limits,
    pub services: HostServices,
    pub http_client: reqwest::Client,
    pub deadline: Instant,
    pub limiter: MemoryLimiter,
    pub logs: Vec<LogRecord>,
    pub log_bytes: u64,
    pub logs_truncated: bool,
    pub http_calls: u64,
    pub stdout: CapturedOutput,
    pub stderr: CapturedOutput,
}

impl StepState {
    pub(crate) fn new(
        identity: PluginIdentity,
        grants: Arc<Capabilities>,
        limits: Limits,
        services: HostServices,
        http_client: reqwest::Client,
        deadline: Instant,
    ) -> StepState {
        let pipe_capacity = usize::try_from(limits.max_log_bytes).unwrap_or(usize::MAX);
        let stdout = CapturedOutput::new(pipe_capacity);
        let stderr = CapturedOutput::new(pipe_capacity);
        // No args, env, preopened dirs or network: the guest gets nothing
        // beyond clocks and randomness. Output is captured into its log.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limit_bytes = usize::try_from(limits.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        StepState {
            wasi,
            table: ResourceTable::new(),
            identity,
            grants,
            limits,
            services,
            http_client,
            deadline,
            limiter: MemoryLimiter { limit_bytes, hit: false },
            logs: Vec::new(),
            log_bytes: 0,
            logs_truncated: false,
            http_calls: 0,
            stdout,
            stderr,
        }
    }

    /// Records a log line (subject to the log budget) and forwards it to `tracing`.
    pub(crate) fn record_log(&mut self, level: LogLevel, message: String) {
        let size = message.len() as u64;
        if self.log_bytes.saturating_add(size) > self.limits.max_log_bytes {
            if !self.logs_truncated {
                tracing::warn!(plugin = %self.identity.id, limit = self.limits.max_log_bytes, "plugin log budget exhausted; further lines dropped");
            }
            self.logs_truncated = true;
            return;
        }
        self.log_bytes += size;
        let id = &*self.identity.id;
        let version = &*self.identity.version;
        match level {
            LogLevel::Trace => {
                tracing::trace!(target: "switchyard::plugin", plugin = id, plugin_version = version, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "switchyard::plugin", plugin = id, plugin_version = version, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "switchyard::plugin", plugin = id, plugin_version = version, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "switchyard::plugin", plugin = id, plugin_version = version, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "switchyard::plugin", plugin = id, plugin_version = version, "{message}")
            }
        }
        self.logs.push(LogRecord { level, message });
    }

    /// Moves captured stdout/stderr into the log (stdout as info, stderr as warn).
    pub(crate) fn drain_stdio(&mut self) {
        for (pipe, level) in [(self.stdout.clone(), LogLevel::Info), (self.stderr.clone(), LogLevel::Warn)] {
            let bytes = pipe.contents();
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.is_empty()) {
                self.record_log(level, line.to_string());
            }
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn check_bucket(&self, bucket: &str) -> Result<(), String> {
        if self.grants.kv_buckets.contains(bucket) { Ok(()) } else { Err(format!("kv bucket `{bucket}` is not granted to this plugin")) }
    }
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for StepState {}

impl log::Host for StepState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.record_log(level, message);
        Ok(())
    }
}

impl kv::Host for StepState {
    async fn get(&mut self, bucket: String, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, String>> {
        if let Err(e) = self.check_bucket(&bucket) {
            return Ok(Err(e));
        }
        Ok(self.services.kv.get(&self.identity.id, &bucket, &key).await.map_err(|e| e.0))
    }

    async fn set(&mut self, bucket: String, key: String, value: Vec<u8>, ttl_seconds: Option<u32>) -> wasmtime::Result<Result<(), String>> {
        if let Err(e) = self.check_bucket(&bucket) {
            return Ok(Err(e));
        }
        if value.len() as u64 > self.limits.max_kv_value_bytes {
            return Ok(Err(format!("kv value of {} bytes exceeds the limit of {} bytes", value.len(), self.limits.max_kv_value_bytes)));
        }
        let ttl = ttl_seconds.map(|s| Duration::from_secs(u64::from(s)));
        Ok(self.services.kv.set(&self.identity.id, &bucket, &key, value, ttl).await.map_err(|e| e.0))
    }

    async fn delete(&mut self, bucket: String, key: String) -> wasmtime::Result<Result<(), String>> {
        if let Err(e) = self.check_bucket(&bucket) {
            return Ok(Err(e));
        }
        Ok(self.services.kv.delete(&self.identity.id, &bucket, &key).await.map_err(|e| e.0))
    }

    async fn increment(&mut self, bucket: String, key: String, delta: i64) -> wasmtime::Result<Result<i64, String>> {
        if let Err(e) = self.check_bucket(&bucket) {
            return Ok(Err(e));
        }
        Ok(self.services.kv.increment(&self.identity.id, &bucket, &key, delta).await.map_err(|e| e.0))
    }
}

/// Checks a URL against the allow-list; returns the parsed URL.
///
/// An entry `host` allows any port on that host; `host:port` only that port.
pub fn check_http_url(url: &str, allowed: &std::collections::BTreeSet<String>) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL `{url}`: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("URL scheme `{}` is not allowed (http or https only)", parsed.scheme()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("URLs with credentials are not allowed; use a header and a secret".into());
    }
    let host = parsed.host_str().ok_or_else(|| format!("URL `{url}` has no host"))?.to_ascii_lowercase();
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let with_port = parsed.port_or_known_default().map(|p| format!("{host}:{p}"));
    let ok = allowed.iter().any(|entry| {
        let entry = entry.trim_start_matches('[').replace("]:", ":").trim_end_matches(']').to_string();
        entry == host || Some(&entry) == with_port.as_ref()
    });
    if ok { Ok(parsed) } else { Err(format!("host `{host}` is not in this plugin's http allow-list")) }
}

impl StepState {
    async fn http_send(&mut self, request: http::Request) -> Result<http::Response, String> {
        // The allow-list and call budget are checked before anything touches
        // the network: a denied request never opens a connection.
        let url = check_http_url(&request.url, &self.grants.http_hosts)?;
        if self.http_calls >= self.limits.max_http_calls {
            return Err(format!("http call limit of {} per step reached", self.limits.max_http_calls));
        }
        self.http_calls += 1;
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("invalid HTTP method `{}`", request.method))?;
        let mut builder = self.http_client.request(method, url).timeout(self.remaining());
        for header in &request.headers {
            builder = builder.header(header.name.as_str(), header.value.as_str());
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.map_err(|e| format!("http request failed: {e}"))?;
        let limit = self.limits.max_http_response_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(format!("http response body exceeds the limit of {limit} bytes"));
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| http::Header {
                name: name.as_str().to_string(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("http response failed: {e}"))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(format!("http response body exceeds the limit of {limit} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(http::Response { status, headers, body })
    }
}

impl http::Host for StepState {
    async fn send(&mut self, request: http::Request) -> wasmtime::Result<Result<http::Response, String>> {
        let url = request.url.clone();
        let result = self.http_send(request).await;
        if let Err(e) = &result {
            tracing::info!(plugin = %self.identity.id, url = %url, error = %e, "plugin http call refused or failed");
        }
        Ok(result)
    }
}

impl cmdb::Host for StepState {
    async fn get(&mut self, id: u64) -> wasmtime::Result<Result<Option<cmdb::Ci>, String>> {
        Ok(self.services.cmdb.get(id).await.map(|c| c.map(Into::into)).map_err(|e| e.0))
    }

    async fn find(
        &mut self,
        class: Option<String>,
        name_contains: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<cmdb::Ci>, String>> {
        let limit = limit.min(1_000);
        Ok(self
            .services
            .cmdb
            .find(class.as_deref(), name_contains.as_deref(), limit)
            .await
            .map(|cis| cis.into_iter().map(Into::into).collect())
            .map_err(|e| e.0))
    }

    async fn related(&mut self, id: u64, direction: cmdb::Direction, depth: u32) -> wasmtime::Result<Result<Vec<cmdb::RelatedCi>, String>> {
        let depth = depth.min(10);
        Ok(self
            .services
            .cmdb
            .related(id, direction.into(), depth)
            .await
            .map(|cis| cis.into_iter().map(Into::into).collect())
            .map_err(|e| e.0))
    }
}

impl tickets::Host for StepState {
    async fn get(&mut self, number: String) -> wasmtime::Result<Result<Option<types::Ticket>, String>> {
        Ok(self.services.tickets.get(&number).await.map(|t| t.as_ref().map(Into::into)).map_err(|e| e.0))
    }

    async fn search(&mut self, query: tickets::Query) -> wasmtime::Result<Result<Vec<types::Ticket>, String>> {
        let mut query: crate::model::TicketQuery = query.into();
        query.limit = query.limit.min(1_000);
        Ok(self.services.tickets.search(&query).await.map(|ts| ts.iter().map(Into::into).collect()).map_err(|e| e.0))
    }

    async fn links(&mut self, number: String) -> wasmtime::Result<Result<Vec<tickets::Link>, String>> {
        Ok(match self.services.tickets.links(&number).await {
            Ok(Some(links)) => Ok(links.iter().map(Into::into).collect()),
            Ok(None) => Err(format!("there is no ticket {number}")),
            Err(e) => Err(e.0),
        })
    }
}

impl directory::Host for StepState {
    async fn get_group(&mut self, name: String) -> wasmtime::Result<Result<Option<directory::Group>, String>> {
        Ok(self.services.directory.get_group(&name).await.map(|g| g.map(Into::into)).map_err(|e| e.0))
    }

    async fn members(&mut self, group: String) -> wasmtime::Result<Result<Vec<directory::Agent>, String>> {
        Ok(self.services.directory.members(&group).await.map(|a| a.into_iter().map(Into::into).collect()).map_err(|e| e.0))
    }

    async fn on_shift(&mut self, group: String) -> wasmtime::Result<Result<Vec<directory::Agent>, String>> {
        Ok(self.services.directory.on_shift(&group).await.map(|a| a.into_iter().map(Into::into).collect()).map_err(|e| e.0))
    }

    async fn on_call(&mut self, schedule: String, at: Option<i64>) -> wasmtime::Result<Result<Option<String>, String>> {
        Ok(self.services.directory.on_call(&schedule, at).await.map_err(|e| e.0))
    }
}

impl secrets::Host for StepState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<Option<String>, String>> {
        if !self.grants.allows(Interface::Secrets) || !self.grants.secrets.contains(&name) {
            tracing::warn!(plugin = %self.identity.id, secret = %name, "plugin asked for a secret it was not granted");
            return Ok(Err(format!("secret `{name}` is not granted to this plugin")));
        }
        // The value is never logged; only the name is.
        Ok(self.services.secrets.get(&self.identity.id, &name).await.map_err(|e| e.0))
    }
}
