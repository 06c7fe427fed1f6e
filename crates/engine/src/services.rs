//! Store-backed implementations of the plugin host interfaces.
//!
//! [`StoreServices`] implements every trait of
//! [`switchyard_plugin_host::services`] on top of the record store, and
//! [`host_services`] bundles it as the [`HostServices`] handed to the plugin
//! host. The semantics follow the in-memory
//! [`Fixtures`](switchyard_plugin_host::Fixtures), so a plugin behaves the
//! same under `switchyard plugin test` and in production:
//!
//! - unknown things read as absent: a CI, incident or group that does not
//!   exist is `None` (or an empty list), and so is an unparseable incident
//!   number, an id out of range or an unknown CI class;
//! - CI names match ignoring case, as in the fixtures;
//! - a `limit` of 0 returns nothing; ticket searches return at most
//!   [`MAX_TICKET_SEARCH`] incidents, CI searches at most [`MAX_CI_FIND`];
//! - relationship kinds use the contract's spelling (`depends-on`,
//!   `runs-on`), not the database's (`depends_on`).
//!
//! Store failures become a [`ServiceError`] carrying the store's message
//! for validation problems; database failures are logged here and the
//! plugin only learns that the store failed, never SQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_domain::cmdb::{CiClass, ConfigurationItem, Direction};
use switchyard_domain::incident::IncidentNumber;
use switchyard_plugin_host::model::{Agent, Ci, CiDirection, Group, RelatedCi, Ticket, TicketQuery};
use switchyard_plugin_host::{CmdbSource, DirectorySource, HostServices, KvStore, SecretStore, ServiceError, TicketSource};
use switchyard_store::{AgentLoad, IncidentFilter, IncidentRecord, KvKey, Store, StoreError};

use crate::kv::KvJournal;
use crate::snapshot::DirectorySnapshot;

/// Most incidents a ticket search returns.
pub const MAX_TICKET_SEARCH: u32 = 100;
/// Most CIs a CMDB find returns.
pub const MAX_CI_FIND: u32 = 500;

/// The plugin host interfaces backed by the record store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreServices {
    store: Store,
}

impl StoreServices {
    /// Services reading and writing `store`.
    pub fn new(store: Store) -> Self {
        StoreServices { store }
    }
}

/// The five host services (kv, CMDB, tickets, directory, secrets), all
/// backed by `store`.
pub fn host_services(store: Store) -> HostServices {
    let services = Arc::new(StoreServices::new(store));
    HostServices { kv: services.clone(), cmdb: services.clone(), tickets: services.clone(), directory: services.clone(), secrets: services }
}

/// Turns a store error into what a plugin may see. Validation and lookup
/// problems keep their message; database and data problems are logged with
/// their details and reported without them.
fn service_error(operation: &'static str) -> impl FnOnce(StoreError) -> ServiceError {
    move |error| match error {
        StoreError::Database(_) | StoreError::Corrupt { .. } => {
            tracing::error!(operation, %error, "the record store failed during a plugin host call");
            ServiceError::new(format!("{operation}: the record store failed (see the server log)"))
        }
        StoreError::ShuttingDown => ServiceError::new(format!("{operation}: the record store is shutting down")),
        other => ServiceError::new(format!("{operation}: {other}")),
    }
}

/// `Ok(None)` for a not-found error, the error otherwise.
fn absent_if_not_found<T>(result: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Store ids are positive, so they always fit.
fn id_to_u64(id: i64) -> u64 {
    u64::try_from(id).unwrap_or_default()
}

/// An incident as plugins see it (the `ticket` record of the contract).
/// Numbers are formatted (`INC-000123`), references are names, instants
/// are Unix epoch milliseconds.
pub fn ticket_from_record(record: &IncidentRecord) -> Ticket {
    let incident = &record.incident;
    Ticket {
        number: incident.display_number(),
        title: incident.title.clone(),
        description: incident.description.clone(),
        requester: record.requester.clone(),
        channel: incident.channel,
        category: incident.category.clone(),
        subcategory: incident.subcategory.clone(),
        service: incident.service_id.map(id_to_u64),
        affected_cis: incident.affected_ci_ids.iter().copied().map(id_to_u64).collect(),
        impact: incident.impact.get(),
        urgency: incident.urgency.get(),
        priority: incident.priority.get(),
        status: incident.status,
        pending_reason: incident.pending_reason.map(|r| r.as_str().to_owned()),
        assignment_group: record.assignment_group.clone(),
        assignee: record.assignee.clone(),
        escalation_level: incident.escalation_level,
        watchers: record.watchers.clone(),
        created_at: incident.created_at.timestamp_millis(),
        updated_at: incident.updated_at.timestamp_millis(),
        custom_fields: incident.custom_fields.clone(),
        kind: incident.kind.as_str().to_owned(),
        links: record.links.iter().map(link_to_model).collect(),
    }
}

/// A link as plugins and conditions see it.
pub fn link_to_model(link: &switchyard_store::TicketLink) -> switchyard_plugin_host::model::TicketLink {
    switchyard_plugin_host::model::TicketLink {
        link_type: link.link_type.as_str().to_owned(),
        end: link.end.as_str().to_owned(),
        number: link.other_number.clone(),
        kind: link.other_kind.as_str().to_owned(),
    }
}

/// A CI as plugins see it, with its owner group's name from `groups`.
fn ci_to_model(item: ConfigurationItem, groups: &HashMap<i64, String>) -> Ci {
    Ci {
        id: id_to_u64(item.id),
        class: item.class.as_str().to_owned(),
        name: item.name,
        status: item.status.as_str().to_owned(),
        owner_group: item.owner_group_id.and_then(|id| groups.get(&id).cloned()),
        attributes: item.attributes,
    }
}

fn agent_to_model(load: AgentLoad) -> Agent {
    Agent {
        username: load.username,
        display_name: load.display_name,
        email: load.email,
        on_shift: load.on_shift,
        open_tickets: u32::try_from(load.open_tickets).unwrap_or(u32::MAX),
        skills: load.skills,
    }
}

impl StoreServices {
    /// Converts CIs, resolving every owner group name with one query.
    async fn cis_to_model(&self, items: Vec<ConfigurationItem>) -> Result<Vec<Ci>, StoreError> {
        let owners: Vec<i64> = items.iter().filter_map(|c| c.owner_group_id).collect();
        let groups = if owners.is_empty() { HashMap::new() } else { self.store.group_names(&owners).await? };
        Ok(items.into_iter().map(|c| ci_to_model(c, &groups)).collect())
    }

    async fn agents(&self, group: &str) -> Result<Vec<AgentLoad>, ServiceError> {
        let agents = match scope() {
            Some(s) => {
                s.turn.take(&s.snapshot).await;
                s.snapshot.group_agents(group).await
            }
            None => match self.store.group_agents(group).await {
                Ok(Some(agents)) => crate::pager::follow_schedule(&self.store, group, agents).await.map(Some),
                other => other,
            },
        };
        Ok(agents.map_err(service_error("directory"))?.unwrap_or_default())
    }
}

tokio::task_local! {
    /// Set while the step runner runs a step: kv calls go to the run's
    /// journal and directory calls to the batch's snapshot.
    pub(crate) static STEP_SCOPE: Arc<StepScope>;
}

/// What a step's host calls see (see [`STEP_SCOPE`]).
#[derive(Debug)]
pub(crate) struct StepScope {
    /// The run's kv writes.
    pub(crate) journal: Arc<KvJournal>,
    /// The batch's directory.
    pub(crate) snapshot: Arc<DirectorySnapshot>,
    /// The step's hold on the directory turn (see [`crate::snapshot`]).
    pub(crate) turn: crate::snapshot::DirectoryTurn,
}

fn scope() -> Option<Arc<StepScope>> {
    STEP_SCOPE.try_with(|s| s.clone()).ok()
}

fn kv_key(plugin: &str, bucket: &str, key: &str) -> KvKey {
    KvKey { plugin: plugin.to_owned(), bucket: bucket.to_owned(), key: key.to_owned() }
}

#[async_trait]
impl KvStore for StoreServices {
    // Inside a step (see `STEP_SCOPE`) writes go to the run's journal and
    // commit with the run; outside one (tools, tests) they go straight to
    // the store.
    async fn get(&self, plugin: &str, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        match scope() {
            Some(s) => s.journal.get(&self.store, &kv_key(plugin, bucket, key)).await,
            None => self.store.kv_get(plugin, bucket, key).await.map_err(service_error("kv get")),
        }
    }

    async fn set(&self, plugin: &str, bucket: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), ServiceError> {
        match scope() {
            Some(s) => s.journal.set(kv_key(plugin, bucket, key), value, ttl).await,
            None => self.store.kv_set(plugin, bucket, key, value, ttl).await.map_err(service_error("kv set")),
        }
    }

    async fn delete(&self, plugin: &str, bucket: &str, key: &str) -> Result<(), ServiceError> {
        match scope() {
            Some(s) => s.journal.delete(kv_key(plugin, bucket, key)).await,
            None => self.store.kv_delete(plugin, bucket, key).await.map_err(service_error("kv delete")),
        }
    }

    async fn increment(&self, plugin: &str, bucket: &str, key: &str, delta: i64) -> Result<i64, ServiceError> {
        match scope() {
            Some(s) => s.journal.increment(&self.store, kv_key(plugin, bucket, key), delta).await,
            None => self.store.kv_increment(plugin, bucket, key, delta).await.map_err(service_error("kv increment")),
        }
    }
}

#[async_trait]
impl CmdbSource for StoreServices {
    async fn get(&self, id: u64) -> Result<Option<Ci>, ServiceError> {
        let Ok(id) = i64::try_from(id) else { return Ok(None) };
        let result: Result<Option<Ci>, StoreError> = async {
            let Some(item) = absent_if_not_found(self.store.get_ci(id).await)? else { return Ok(None) };
            Ok(self.cis_to_model(vec![item]).await?.pop())
        }
        .await;
        result.map_err(service_error("cmdb get"))
    }

    async fn find(&self, class: Option<&str>, name_contains: Option<&str>, limit: u32) -> Result<Vec<Ci>, ServiceError> {
        let class = match class {
            Some(c) => match c.parse::<CiClass>() {
                Ok(c) => Some(c),
                // A filter is a question: an unknown class matches nothing.
                Err(_) => return Ok(Vec::new()),
            },
            None => None,
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let result: Result<Vec<Ci>, StoreError> = async {
            let items = self.store.find_cis(class, name_contains, u64::from(limit.min(MAX_CI_FIND))).await?;
            self.cis_to_model(items).await
        }
        .await;
        result.map_err(service_error("cmdb find"))
    }

    async fn related(&self, id: u64, direction: CiDirection, depth: u32) -> Result<Vec<RelatedCi>, ServiceError> {
        let Ok(id) = i64::try_from(id) else { return Ok(Vec::new()) };
        let direction = match direction {
            CiDirection::Upstream => Direction::Upstream,
            CiDirection::Downstream => Direction::Downstream,
        };
        let result: Result<Vec<RelatedCi>, StoreError> = async {
            let Some(entries) = absent_if_not_found(self.store.walk(id, direction, depth).await)? else { return Ok(Vec::new()) };
            let owners: Vec<i64> = entries.iter().filter_map(|e| e.ci.owner_group_id).collect();
            let groups = if owners.is_empty() { HashMap::new() } else { self.store.group_names(&owners).await? };
            Ok(entries
                .into_iter()
                .map(|e| RelatedCi { relation: e.via.as_str().replace('_', "-"), depth: e.depth, ci: ci_to_model(e.ci, &groups) })
                .collect())
        }
        .await;
        result.map_err(service_error("cmdb related"))
    }
}

#[async_trait]
impl TicketSource for StoreServices {
    async fn get(&self, number: &str) -> Result<Option<Ticket>, ServiceError> {
        let Ok(number) = number.parse::<IncidentNumber>() else { return Ok(None) };
        let record = absent_if_not_found(self.store.get_incident(number).await).map_err(service_error("tickets get"))?;
        Ok(record.as_ref().map(ticket_from_record))
    }

    async fn links(&self, number: &str) -> Result<Option<Vec<switchyard_plugin_host::model::TicketLink>>, ServiceError> {
        let Ok(number) = number.parse::<IncidentNumber>() else { return Ok(None) };
        let record = absent_if_not_found(self.store.get_incident(number).await).map_err(service_error("tickets links"))?;
        Ok(record.map(|r| r.links.iter().map(link_to_model).collect()))
    }

    async fn search(&self, query: &TicketQuery) -> Result<Vec<Ticket>, ServiceError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let filter = IncidentFilter {
            status: query.status.into_iter().collect(),
            assignment_group: query.assignment_group.clone(),
            assignee: query.assignee.clone(),
            requester: query.requester.clone(),
            limit: u64::from(query.limit.min(MAX_TICKET_SEARCH)),
            ..IncidentFilter::default()
        };
        let page = self.store.list_incidents(&filter).await.map_err(service_error("tickets search"))?;
        Ok(page.items.iter().map(ticket_from_record).collect())
    }
}

#[async_trait]
impl DirectorySource for StoreServices {
    async fn get_group(&self, name: &str) -> Result<Option<Group>, ServiceError> {
        let record = match scope() {
            Some(s) => s.snapshot.group(name).await,
            None => absent_if_not_found(self.store.get_group(name).await),
        }
        .map_err(service_error("directory get-group"))?;
        Ok(record.map(|r| Group { name: r.group.name, display_name: r.group.display_name, email: r.group.email, manager: r.manager }))
    }

    async fn members(&self, group: &str) -> Result<Vec<Agent>, ServiceError> {
        Ok(self.agents(group).await?.into_iter().map(agent_to_model).collect())
    }

    async fn on_shift(&self, group: &str) -> Result<Vec<Agent>, ServiceError> {
        Ok(self.agents(group).await?.into_iter().filter(|a| a.on_shift).map(agent_to_model).collect())
    }

    async fn on_call(&self, schedule: &str, at_ms: Option<i64>) -> Result<Option<String>, ServiceError> {
        let at = match at_ms {
            Some(ms) => chrono::DateTime::from_timestamp_millis(ms).ok_or_else(|| ServiceError(format!("`at` {ms} is not an instant")))?,
            None => chrono::Utc::now(),
        };
        crate::pager::on_call(&self.store, schedule, at).await.map_err(service_error("directory on-call"))
    }
}

#[async_trait]
impl SecretStore for StoreServices {
    async fn get(&self, plugin: &str, name: &str) -> Result<Option<String>, ServiceError> {
        self.store.secret(plugin, name).await.map_err(service_error("secrets get"))
    }
}
