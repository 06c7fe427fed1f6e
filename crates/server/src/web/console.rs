//! The agent console: queues with filters, counts and live refresh, and the
//! incident page where an agent works a ticket.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Duration, Utc};
use serde::Deserialize;
use switchyard_domain::changes::PriorityOverride;
use switchyard_domain::cmdb::Direction;
use switchyard_domain::incident::{IncidentNumber, Level, PendingReason, Priority, ResolutionCode, Status};
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_store::{IncidentFilter, IncidentRecord, IncidentUpdate, RunFilter, SavedFilter, StoredClock};

use super::session::CsrfForm;
use super::view::{self, Badge, EventView, FormErrors, IncidentView, Layout};
use super::{Web, WebError, form_outcome, render};
use crate::app::guard::Agent;
use crate::app::{attachments, incidents};
use crate::error::{ApiError, ApiResult};
use crate::routes::incidents::ListQuery;
use crate::state::AppState;

/// The console routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(queue_page))
        .route("/console/counts", get(queue_counts))
        .route("/console/filters", post(save_filter))
        .route("/console/filters/delete", post(delete_filter))
        .route("/console/agents", get(agent_options))
        .route("/console/incidents/{number}", get(incident_page))
        .route("/console/incidents/{number}/edit", post(edit))
        .route("/console/incidents/{number}/priority", post(set_priority))
        .route("/console/incidents/{number}/assignment", post(assign))
        .route("/console/incidents/{number}/transition", post(transition))
        .route("/console/incidents/{number}/notes", post(add_note))
        .route("/console/incidents/{number}/acknowledge", post(acknowledge))
}

/// Counts on queue tabs stop here ("1000+").
const COUNT_CAP: u64 = 1000;
/// A running clock due within this is "at risk".
const AT_RISK_MINUTES: i64 = 60;

/// The console's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Mine,
    Unassigned,
    Open,
    Sla,
    All,
}

impl Queue {
    const TABS: [Queue; 5] = [Queue::Mine, Queue::Unassigned, Queue::Open, Queue::Sla, Queue::All];

    fn parse(s: Option<&str>) -> ApiResult<Queue> {
        Ok(match s.unwrap_or("mine") {
            "mine" => Queue::Mine,
            "unassigned" => Queue::Unassigned,
            "open" => Queue::Open,
            "sla" => Queue::Sla,
            "all" => Queue::All,
            other => return Err(ApiError::field("queue", "one_of", format!("`{other}` is not one of mine, unassigned, open, sla, all"))),
        })
    }

    fn id(self) -> &'static str {
        match self {
            Queue::Mine => "mine",
            Queue::Unassigned => "unassigned",
            Queue::Open => "open",
            Queue::Sla => "sla",
            Queue::All => "all",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Queue::Mine => "My work",
            Queue::Unassigned => "My groups, unassigned",
            Queue::Open => "All open",
            Queue::Sla => "SLA breached or at risk",
            Queue::All => "Everything",
        }
    }

    /// The queue's own conditions over the person's filter.
    fn apply(self, mut f: IncidentFilter, username: &str, groups: &[String]) -> IncidentFilter {
        let open = || Status::ALL.iter().copied().filter(|s| s.is_open()).collect::<Vec<_>>();
        match self {
            Queue::Mine => {
                f.assignee = Some(username.to_owned());
                if f.status.is_empty() {
                    f.status = open();
                }
            }
            Queue::Unassigned => {
                // No group at all matches nothing, rather than everything.
                f.assignment_groups = if groups.is_empty() { vec![String::new()] } else { groups.to_vec() };
                f.unassigned = true;
                if f.status.is_empty() {
                    f.status = open();
                }
            }
            Queue::Open | Queue::Sla => {
                if f.status.is_empty() {
                    f.status = open();
                }
                if self == Queue::Sla {
                    f.sla_due_before = Some(Utc::now() + Duration::minutes(AT_RISK_MINUTES));
                }
            }
            Queue::All => {}
        }
        f
    }
}

/// A queue tab.
struct Tab {
    id: &'static str,
    label: &'static str,
    /// Filled in by the counts fragment, so the page never waits for them.
    count: Option<String>,
    current: bool,
}

fn tabs(current: Queue) -> Vec<Tab> {
    Queue::TABS.iter().map(|&t| Tab { id: t.id(), label: t.label(), count: None, current: t == current }).collect()
}

/// A row of the queue table.
struct Row {
    i: IncidentView,
    sla: Option<Badge>,
}

/// A sortable column header.
struct SortLink {
    label: &'static str,
    href: String,
    /// `ascending`, `descending` or `none` (for `aria-sort`).
    aria: &'static str,
}

/// The filter form's current values.
#[derive(Default)]
struct FilterValues {
    status: String,
    priority: String,
    assignment_group: String,
    assignee: String,
    category: String,
    service: String,
    ci: String,
    created_from: String,
    created_to: String,
    q: String,
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    l: Layout,
    queue: &'static str,
    queue_label: &'static str,
    tabs: Vec<Tab>,
    counts_href: Option<String>,
    rows: Vec<Row>,
    sorts: Vec<SortLink>,
    next_href: Option<String>,
    first_href: Option<String>,
    refresh_href: String,
    filters: FilterValues,
    filter_query: String,
    filtered: bool,
    saved: Vec<SavedFilter>,
    statuses: Vec<(&'static str, &'static str)>,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "console/queue.html", block = "tabs")]
struct QueueTabs {
    tabs: Vec<Tab>,
    counts_href: Option<String>,
}

/// `GET /console/counts?queue=&<filters>`: the queue tabs with how many
/// incidents each holds under the current filters (at most "1000+"),
/// loaded after the page so the page never waits for them.
async fn queue_counts(State(state): State<AppState>, agent: Agent<Web>, RawQuery(raw): RawQuery) -> Result<Response, WebError> {
    let me = agent.principal();
    let (queue, pairs) = split_query(raw.as_deref());
    let current = Queue::parse(queue.as_deref())?;
    let user = state.store.get_user(&me.username).await?;
    let base = list_query(&pairs).and_then(ListQuery::into_filter).unwrap_or_default();
    let mut all = tabs(current);
    for (tab, queue) in all.iter_mut().zip(Queue::TABS) {
        let n = incidents::count(&state, me, queue.apply(base.clone(), &me.username, &user.groups), COUNT_CAP).await?;
        tab.count = Some(if n >= COUNT_CAP { format!("{COUNT_CAP}+") } else { n.to_string() });
    }
    Ok(render(&QueueTabs { tabs: all, counts_href: None }))
}

#[derive(Template)]
#[template(path = "console/queue.html", block = "rows")]
struct QueueRows {
    rows: Vec<Row>,
    next_href: Option<String>,
    first_href: Option<String>,
}

/// Splits the console's query string: `queue` and the list parameters,
/// dropping empty values (a filter form sends every field).
fn split_query(raw: Option<&str>) -> (Option<String>, Vec<(String, String)>) {
    let mut queue = None;
    let mut rest = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if v.trim().is_empty() {
            continue;
        }
        match k.as_ref() {
            "queue" => queue = Some(v.into_owned()),
            _ => rest.push((k.into_owned(), v.into_owned())),
        }
    }
    (queue, rest)
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn list_query(pairs: &[(String, String)]) -> ApiResult<ListQuery> {
    let query = encode(pairs);
    crate::extract::parse_query(&query)
}

fn href(queue: Queue, pairs: &[(String, String)]) -> String {
    let mut all = vec![("queue".to_owned(), queue.id().to_owned())];
    all.extend(pairs.iter().cloned());
    format!("/console?{}", encode(&all))
}

fn with(pairs: &[(String, String)], key: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != key).cloned().collect();
    if let Some(v) = value {
        out.push((key.to_owned(), v.to_owned()));
    }
    out
}

/// The incident number a search text names, if it is one: `INC-000042`,
/// `inc-42` or plain digits.
fn number_in(text: &str) -> Option<IncidentNumber> {
    let t = text.trim();
    let digits = t.get(..4).filter(|p| p.eq_ignore_ascii_case("inc-")).map_or(t, |_| &t[4..]);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().filter(|n| *n > 0).map(IncidentNumber)
}

/// Rows with their SLA badges (one query for every row's clocks).
async fn rows_of(state: &AppState, items: &[IncidentRecord]) -> ApiResult<Vec<Row>> {
    let numbers: Vec<_> = items.iter().map(|r| r.incident.number).collect();
    let clocks = state.store.stored_clocks_of(&numbers).await?;
    let now = Utc::now();
    Ok(items
        .iter()
        .map(|r| {
            let mine: Vec<&StoredClock> = clocks.iter().filter(|c| c.number == r.incident.number).collect();
            Row { i: IncidentView::from(r), sla: view::sla_badge(&mine, now) }
        })
        .collect())
}

/// `GET /console`: a queue. With `HX-Request` (the live refresh), only its rows.
async fn queue_page(
    State(state): State<AppState>,
    agent: Agent<Web>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let me = agent.principal();
    let (queue, pairs) = split_query(raw.as_deref());
    let queue = Queue::parse(queue.as_deref())?;
    // The search box takes a number too: `INC-000042`, `inc-42` or `42` opens it.
    if let Some((_, q)) = pairs.iter().find(|(k, _)| k == "q")
        && let Some(number) = number_in(q)
        && incidents::visible(&state, me, &number.to_string()).await.is_ok()
    {
        return Ok(Redirect::to(&format!("/console/incidents/{number}")).into_response());
    }
    let user = state.store.get_user(&me.username).await?;
    let saved = state.store.saved_filters(me.user_id).await?;
    let mut errors = FormErrors::default();
    let (filter, pairs) = match list_query(&pairs).and_then(ListQuery::into_filter) {
        Ok(f) => (f, pairs),
        Err(e) => {
            // A broken filter is shown next to its field; the queue shows unfiltered.
            errors = FormErrors::of("filter", &e);
            (ListQuery::default().into_filter()?, Vec::new())
        }
    };
    let filter = queue.apply(filter, &me.username, &user.groups);
    let page = incidents::list(&state, me, filter.clone()).await?;
    let rows = rows_of(&state, &page.items).await?;
    let paging: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != "cursor").cloned().collect();
    let next_href = page.next_cursor.as_deref().map(|c| href(queue, &with(&paging, "cursor", Some(c))));
    let first_href = pairs.iter().any(|(k, _)| k == "cursor").then(|| href(queue, &paging));
    if headers.contains_key("hx-request") {
        return Ok(render(&QueueRows { rows, next_href, first_href }));
    }
    let current_sort = pairs.iter().find(|(k, _)| k == "sort").map(|(_, v)| v.as_str()).unwrap_or("number");
    let current_order = pairs.iter().find(|(k, _)| k == "order").map(|(_, v)| v.as_str()).unwrap_or("desc");
    let sorts = [("Number", "number"), ("Priority", "priority"), ("Created", "created_at"), ("Updated", "updated_at")]
        .into_iter()
        .map(|(label, field)| {
            let active = current_sort == field;
            let order = if active && current_order == "desc" { "asc" } else { "desc" };
            let aria = match (active, current_order) {
                (false, _) => "none",
                (true, "asc") => "ascending",
                (true, _) => "descending",
            };
            SortLink { label, href: href(queue, &with(&with(&paging, "sort", Some(field)), "order", Some(order))), aria }
        })
        .collect();
    let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    let filters = FilterValues {
        status: value("status"),
        priority: value("priority"),
        assignment_group: value("assignment_group"),
        assignee: value("assignee"),
        category: value("category"),
        service: value("service"),
        ci: value("ci"),
        created_from: value("created_from"),
        created_to: value("created_to"),
        q: value("q"),
    };
    let mut l = Layout::signed_in(me, &headers, "console", queue.label());
    l.search = filters.q.clone();
    let refresh_href = href(queue, &pairs);
    let filter_query = encode(&with(&paging, "queue", Some(queue.id())));
    let counts_href = Some(format!("/console/counts?{filter_query}"));
    let statuses = Status::ALL.iter().map(|s| (s.as_str(), view::status_label(*s))).collect();
    Ok(render(&QueuePage {
        l,
        queue: queue.id(),
        queue_label: queue.label(),
        tabs: tabs(queue),
        counts_href,
        rows,
        sorts,
        next_href,
        first_href,
        refresh_href,
        filters,
        filter_query,
        filtered: !paging.is_empty() || !errors.details.is_empty(),
        saved,
        statuses,
        errors,
    }))
}

#[derive(Debug, Deserialize)]
struct SaveFilterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
}

/// `POST /console/filters`: keeps the current filter under a name.
async fn save_filter(
    State(state): State<AppState>,
    agent: Agent<Web>,
    CsrfForm(form): CsrfForm<SaveFilterForm>,
) -> Result<Response, WebError> {
    let me = agent.principal();
    // The filter must be one the list accepts, checked by the same rules.
    let (_, pairs) = split_query(Some(&form.query));
    list_query(&pairs)?.into_filter()?;
    state.store.save_filter(me.user_id, SavedFilter { name: form.name.trim().to_owned(), query: form.query.clone() }).await?;
    Ok(Redirect::to(&format!("/console?{}", form.query)).into_response())
}

#[derive(Debug, Deserialize)]
struct DeleteFilterForm {
    name: String,
}

/// `POST /console/filters/delete`.
async fn delete_filter(
    State(state): State<AppState>,
    agent: Agent<Web>,
    CsrfForm(form): CsrfForm<DeleteFilterForm>,
) -> Result<Response, WebError> {
    state.store.delete_saved_filter(agent.principal().user_id, &form.name).await?;
    Ok(Redirect::to("/console").into_response())
}

#[derive(Debug, Deserialize)]
struct AgentsQuery {
    assignment_group: Option<String>,
    selected: Option<String>,
}

#[derive(Template)]
#[template(path = "console/incident.html", block = "agent_options")]
struct AgentOptions {
    members: Vec<String>,
    selected: String,
}

/// `GET /console/agents?assignment_group=`: the agent options of a group (htmx swaps
/// them in when the group select changes).
async fn agent_options(
    State(state): State<AppState>,
    _agent: Agent<Web>,
    axum::extract::Query(q): axum::extract::Query<AgentsQuery>,
) -> Result<Response, WebError> {
    let members = match q.assignment_group.as_deref().filter(|g| !g.is_empty()) {
        Some(g) => state.store.get_group(g).await?.members,
        None => Vec::new(),
    };
    Ok(render(&AgentOptions { members, selected: q.selected.unwrap_or_default() }))
}

/// A transition form: the target and what it asks for.
struct TransitionForm {
    to: &'static str,
    label: &'static str,
    needs_pending_reason: bool,
    needs_resolution: bool,
    needs_reason: bool,
}

/// An SLA clock for display.
struct ClockView {
    target: String,
    policy: String,
    state: String,
    remaining: String,
    due: String,
    percent: i64,
}

/// A CI and what depends on it.
struct CiView {
    id: i64,
    name: String,
    class: String,
    services: usize,
    users: i64,
    dependents: Vec<String>,
}

/// A workflow run on the ticket.
struct RunView {
    id: i64,
    workflow: String,
    status: String,
    error: String,
    created: String,
    steps: Vec<StepView>,
}

struct StepView {
    id: String,
    plugin: String,
    status: String,
    duration: String,
    output: String,
    actions: String,
    error: String,
}

#[derive(Template)]
#[template(path = "console/incident.html")]
struct IncidentPage {
    l: Layout,
    i: IncidentView,
    events: Vec<EventView>,
    transitions: Vec<TransitionForm>,
    clocks: Vec<ClockView>,
    cis: Vec<CiView>,
    runs: Vec<RunView>,
    groups: Vec<(String, String)>,
    members: Vec<String>,
    selected: String,
    pending_reasons: Vec<(&'static str, &'static str)>,
    resolution_codes: Vec<(&'static str, String)>,
    priorities: Vec<&'static str>,
    attachments: Vec<view::AttachmentView>,
    /// Paging: where the escalation stands, in words (empty: not paged).
    paging: String,
    /// Whether the acknowledge button is offered.
    can_acknowledge: bool,
    errors: FormErrors,
}

fn pretty(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Array(a) if a.is_empty() => String::new(),
        v => serde_json::to_string_pretty(v).unwrap_or_default(),
    }
}

async fn incident_view(
    state: &AppState,
    agent: &Agent<Web>,
    headers: &HeaderMap,
    number: &str,
    errors: FormErrors,
) -> ApiResult<IncidentPage> {
    let me = agent.principal();
    let record = incidents::visible(state, me, number).await?;
    let events = incidents::history(state, me, number).await?;
    let i = IncidentView::from(&record);
    let transitions = incidents::transitions_for(me, record.incident.status)
        .into_iter()
        .map(|to| TransitionForm {
            to: to.as_str(),
            label: view::transition_label(record.incident.status, to),
            needs_pending_reason: to == Status::Pending,
            needs_resolution: to == Status::Resolved,
            needs_reason: to == Status::Cancelled || (record.incident.status == Status::Resolved && to != Status::Closed),
        })
        .collect();
    let clocks = crate::routes::sla::clocks_of(state, record.incident.number)
        .await?
        .into_iter()
        .map(|c| ClockView {
            percent: if c.target_seconds > 0 { (c.elapsed_seconds * 100 / c.target_seconds).clamp(0, 100) } else { 0 },
            remaining: match c.state.as_str() {
                "met" => format!("met after {} (business time)", view::span(c.elapsed_seconds)),
                "cancelled" => "no longer counted".to_owned(),
                _ if c.remaining_seconds < 0 => format!("{} over (business time)", view::span(c.remaining_seconds)),
                _ => format!("{} left (business time)", view::span(c.remaining_seconds)),
            },
            due: c.due_at.map(view::when).unwrap_or_default(),
            target: c.target,
            policy: c.policy,
            state: c.state,
        })
        .collect();
    let mut cis = Vec::new();
    let ci_ids: Vec<i64> = record.incident.service_id.into_iter().chain(record.incident.affected_ci_ids.iter().copied()).collect();
    for id in ci_ids.into_iter().take(5) {
        let Ok(ci) = state.store.get_ci(id).await else { continue };
        let impact = crate::routes::cmdb::impact_of(state, id, Direction::Downstream, 3).await?;
        cis.push(CiView {
            id,
            name: ci.name,
            class: ci.class.as_str().to_owned(),
            services: impact.services,
            users: impact.users,
            dependents: impact.items.iter().take(10).map(|e| e.ci.name.clone()).collect(),
        });
    }
    let run_records =
        state.store.list_runs(&RunFilter { incident_id: Some(record.incident.number.0), limit: 10, ..Default::default() }).await?;
    let mut runs = Vec::new();
    for r in run_records {
        let steps = state
            .store
            .run_steps(r.id)
            .await?
            .into_iter()
            .map(|s| StepView {
                id: s.step_id,
                plugin: format!("{}@{}", s.plugin_id, s.plugin_version),
                status: s.status.as_str().to_owned(),
                duration: format!("{} µs", s.duration_us),
                output: s.output.as_ref().map(pretty).unwrap_or_default(),
                actions: pretty(&s.actions),
                error: s.error.unwrap_or_default(),
            })
            .collect();
        runs.push(RunView {
            id: r.id,
            workflow: format!("{}@{}", r.workflow_id, r.workflow_version),
            status: r.status.as_str().to_owned(),
            error: r.error.unwrap_or_default(),
            created: view::when(r.created_at),
            steps,
        });
    }
    let groups = state.store.list_groups(None, 500).await?.into_iter().map(|g| (g.name, g.display_name)).collect();
    let members = match &record.assignment_group {
        Some(g) => state.store.get_group(g).await?.members,
        None => Vec::new(),
    };
    let escalation = state.store.escalation(record.incident.number).await?;
    let since = escalation.as_ref().map(|e| e.started_at);
    let acknowledged = events
        .iter()
        .rev()
        .find(|e| e.kind == switchyard_domain::history::EventKind::Acknowledged && since.is_none_or(|s| e.created_at >= s));
    let paging = match (&escalation, acknowledged) {
        (_, Some(ack)) => format!("Acknowledged by {} at {}", ack.actor.name, view::when(ack.created_at)),
        (Some(e), None) => match e.status {
            switchyard_store::EscalationStatus::Active => format!("Paging: level {} of escalation policy {}", e.level + 1, e.policy),
            switchyard_store::EscalationStatus::Exhausted => {
                format!("Every level of escalation policy {} was paged; nobody acknowledged", e.policy)
            }
            _ => format!("Paging under {} stopped", e.policy),
        },
        (None, None) => String::new(),
    };
    let can_acknowledge = record.incident.status.is_open() && acknowledged.is_none();
    let l = Layout::signed_in(me, headers, "console", format!("{} {}", i.number, i.title));
    Ok(IncidentPage {
        paging,
        can_acknowledge,
        l,
        selected: i.assignee.clone(),
        i,
        events: events.iter().map(EventView::from).collect(),
        transitions,
        clocks,
        cis,
        runs,
        groups,
        members,
        pending_reasons: PendingReason::ALL.iter().map(|p| (p.as_str(), view::pending_label(*p))).collect(),
        resolution_codes: ResolutionCode::ALL.iter().map(|c| (c.as_str(), view::resolution_label(*c))).collect(),
        priorities: ["P1", "P2", "P3", "P4", "P5"].to_vec(),
        attachments: attachments::of_incident(state, me, number).await?.iter().map(view::AttachmentView::from).collect(),
        errors,
    })
}

/// `GET /console/incidents/{number}`; `HX-Request` gets only the timeline.
async fn incident_page(
    State(state): State<AppState>,
    agent: Agent<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    let page = incident_view(&state, &agent, &headers, &number, FormErrors::default()).await?;
    if headers.contains_key("hx-request") {
        return Ok(render(&Timeline { events: page.events }));
    }
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "console/incident.html", block = "timeline")]
struct Timeline {
    events: Vec<EventView>,
}

/// After a form: back to the incident page, or the page again with the
/// form's errors next to its fields.
async fn after(
    state: &AppState,
    agent: &Agent<Web>,
    headers: &HeaderMap,
    number: &str,
    form: &str,
    result: ApiResult<()>,
) -> Result<Response, WebError> {
    let done = result.map(|()| format!("/console/incidents/{number}"));
    form_outcome(done, form, async |errors| incident_view(state, agent, headers, number, errors).await).await
}

/// Applies an edit a form asked for (or shows why it could not be read).
async fn update_from_form(
    state: &AppState,
    agent: &Agent<Web>,
    headers: &HeaderMap,
    number: &str,
    form: &str,
    update: ApiResult<IncidentUpdate>,
) -> Result<Response, WebError> {
    let result = match update {
        Ok(update) => incidents::update(state, agent.principal(), number, update).await.map(drop),
        Err(e) => Err(e),
    };
    after(state, agent, headers, number, form, result).await
}

fn blank(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn level(field: &str, s: Option<String>) -> ApiResult<Option<Level>> {
    blank(s)
        .map(|v| v.parse::<u8>().ok().and_then(Level::new).ok_or_else(|| ApiError::field(field, "range", "must be 1, 2 or 3")))
        .transpose()
}

#[derive(Debug, Deserialize)]
struct EditForm {
    title: Option<String>,
    description: Option<String>,
    category: Option<String>,
    subcategory: Option<String>,
    impact: Option<String>,
    urgency: Option<String>,
    version: Option<i64>,
}

/// `POST .../edit`: title, description, category, impact and urgency.
async fn edit(
    State(state): State<AppState>,
    agent: Agent<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
    CsrfForm(f): CsrfForm<EditForm>,
) -> Result<Response, WebError> {
    let update = (|| {
        Ok(IncidentUpdate {
            title: f.title.map(|t| t.trim().to_owned()),
            description: f.description,
            category: Some(blank(f.category)),
            subcategory: Some(blank(f.subcategory)),
            impact: level("impact", f.impact)?,
            urgency: level("urgency", f.urgency)?,
            expected_version: f.version,
            ..Default::default()
        })
    })();
    update_from_form(&state, &agent, &headers, &number, "edit", update).await
}

#[derive(Debug, Deserialize)]
struct PriorityForm {
    priority: Option<String>,
    reason: Option<String>,
}

/// `POST .../priority`: an override with its reason, or back to the matrix
/// (an empty priority).
async fn set_priority(
    State(state): State<AppState>,
    agent: Agent<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
    CsrfForm(f): CsrfForm<PriorityForm>,
) -> Result<Response, WebError> {
    let update = match blank(f.priority) {
        None => Ok(IncidentUpdate { priority_override: Some(None), ..Default::default() }),
        Some(p) => p.parse::<Priority>().map_err(|e| ApiError::one_of("priority", &e)).map(|priority| IncidentUpdate {
            priority_override: Some(Some(PriorityOverride { priority, reason: f.reason.unwrap_or_default().trim().to_owned() })),
            ..Default::default()
        }),
    };
    update_from_form(&state, &agent, &headers, &number, "priority", update).await
}

#[derive(Debug, Deserialize)]
struct AssignForm {
    assignment_group: Option<String>,
    assignee: Option<String>,
}

/// `POST .../assignment`: group and agent. An agent who is not in the
/// chosen group is refused by the store's rule, with its field.
async fn assign(
    State(state): State<AppState>,
    agent: Agent<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
    CsrfForm(f): CsrfForm<AssignForm>,
) -> Result<Response, WebError> {
    let update =
        IncidentUpdate { assignment_group: Some(blank(f.assignment_group)), assignee: Some(blank(f.assignee)), ..Default::default() };
    update_from_form(&state, &agent, &headers, &number, "assignment", Ok(update)).await
}

/// A status change as a form sends it.
#[derive(Debug, Deserialize)]
pub(super) struct TransitionFormBody {
    pub(super) to: String,
    pub(super) pending_reason: Option<String>,
    pub(super) resolution_code: Option<String>,
    pub(super) resolution_notes: Option<String>,
    pub(super) reason: Option<String>,
}

impl TransitionFormBody {
    /// The lifecycle request, with parse errors naming the field.
    pub(super) fn request(self) -> ApiResult<TransitionRequest> {
        let to: Status = self.to.parse().map_err(|e| ApiError::one_of("to", &e))?;
        let pending_reason =
            blank(self.pending_reason).map(|p| p.parse().map_err(|e| ApiError::one_of("pending_reason", &e))).transpose()?;
        let resolution_code =
            blank(self.resolution_code).map(|c| c.parse().map_err(|e| ApiError::one_of("resolution_code", &e))).transpose()?;
        // A form sends its fields empty; only what the target takes is kept,
        // so an empty field elsewhere is not "not applicable".
        Ok(TransitionRequest {
            to: Some(to),
            pending_reason,
            resolution_code,
            resolution_notes: if to == Status::Resolved {
                Some(self.resolution_notes.unwrap_or_default())
            } else {
                blank(self.resolution_notes)
            },
            reason: blank(self.reason),
        })
    }
}

/// `POST .../transition`.
async fn transition(
    State(state): State<AppState>,
    agent: Agent<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
    CsrfForm(f): CsrfForm<TransitionFormBody>,
) -> Result<Response, WebError> {
    let form = format!("transition-{}", f.to);
    let result = async { incidents::transition(&state, agent.principal(), &number, f.request()?).await.map(drop) }.await;
    after(&state, &agent, &headers, &number, &form, result).await
}

#[derive(Debug, Deserialize)]
struct NoteForm {
    #[serde(default)]
    body: String,
    /// `comment` (the requester sees it) or `work_note` (internal).
    kind: String,
}

/// The acknowledge form carries only its token.
#[derive(Debug, Deserialize)]
struct AcknowledgeForm {}

/// `POST .../acknowledge`: the agent takes the page.
async fn acknowledge(
    State(state): State<AppState>,
    agent: Agent<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
    CsrfForm(AcknowledgeForm {}): CsrfForm<AcknowledgeForm>,
) -> Result<Response, WebError> {
    let result = incidents::acknowledge(&state, agent.principal(), &number).await.map(drop);
    after(&state, &agent, &headers, &number, "acknowledge", result).await
}

/// `POST .../notes`: a public comment or an internal work note.
async fn add_note(
    State(state): State<AppState>,
    agent: Agent<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
    CsrfForm(f): CsrfForm<NoteForm>,
) -> Result<Response, WebError> {
    let result = match f.kind.as_str() {
        "comment" => incidents::comment(&state, agent.principal(), &number, &f.body).await.map(drop),
        "work_note" => incidents::work_note(&state, agent.principal(), &number, &f.body).await.map(drop),
        other => Err(ApiError::field("kind", "one_of", format!("`{other}` is not one of comment, work_note"))),
    };
    after(&state, &agent, &headers, &number, "note", result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_for_a_number_names_the_incident() {
        for (text, want) in
            [("INC-000042", Some(42)), ("inc-42", Some(42)), (" 42 ", Some(42)), ("vpn", None), ("INC-", None), ("0", None), ("42a", None)]
        {
            assert_eq!(number_in(text).map(|n| n.0), want, "{text}");
        }
    }
}
