//! `/metrics`: Prometheus text exposition of this node's counters (HTTP
//! requests by method and status, workflow runs and steps, SLA clocks
//! recomputed, warnings and breaches fired, timer lag) and of the SLA
//! clocks stored per state.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The metrics route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(prometheus))
}

/// Requests served, by (method, status). The key is the request's own
/// method (no allocation for the standard ones), so counting costs one
/// short lock per request.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<HashMap<(Method, u16), u64>>,
}

impl HttpMetrics {
    fn record(&self, method: Method, status: u16) {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()).entry((method, status)).or_default() += 1;
    }

    /// The counts, sorted for stable output.
    fn snapshot(&self) -> Vec<((Method, u16), u64)> {
        let mut counts: Vec<_> = self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, n)| (k.clone(), *n)).collect();
        counts.sort_by(|((m1, s1), _), ((m2, s2), _)| (m1.as_str(), s1).cmp(&(m2.as_str(), s2)));
        counts
    }
}

/// Middleware counting every response.
pub async fn count_request(metrics: Arc<HttpMetrics>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    metrics.record(method, response.status().as_u16());
    response
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
}

/// Prometheus metrics (text format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn prometheus(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    out.push_str("# HELP switchyard_http_requests_total HTTP requests served.\n# TYPE switchyard_http_requests_total counter\n");
    for ((method, status), n) in state.http.snapshot() {
        let _ = writeln!(out, "switchyard_http_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}");
    }
    if let Some(engine) = &state.engine {
        for (name, help, value) in engine.metrics().counters() {
            counter(&mut out, name, help, value);
        }
    }
    match state.store.sla_clock_counts().await {
        Ok(counts) => {
            out.push_str("# HELP switchyard_sla_clocks SLA clocks stored, by state.\n# TYPE switchyard_sla_clocks gauge\n");
            for (s, n) in counts {
                let _ = writeln!(out, "switchyard_sla_clocks{{state=\"{s}\"}} {n}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading SLA clock counts for /metrics failed"),
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
