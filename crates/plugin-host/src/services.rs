//! The services behind the host interfaces, as traits the store implements
//! later, plus in-memory implementations used by tests and `plugin test`.
//!
//! The traits are `async` (via `async_trait`, so they stay object safe and
//! can sit behind `Arc<dyn _>`): the store is async sea-orm, and the engine
//! calls plugins with wasmtime's async support, so a host call such as
//! `directory.on-shift` simply awaits a database query on the same runtime.
//! While it awaits, the guest is suspended on its fiber and the executor
//! thread is free. Every method receives the plugin id so a persistent
//! implementation can scope data per plugin.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use crate::error::{PluginError, ServiceError};
use crate::model::{Agent, Ci, CiDirection, Group, RelatedCi, Ticket, TicketLink, TicketQuery};

/// Per-plugin key-value buckets (`kv` interface).
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// Reads a value; expired values read as absent.
    async fn get(&self, plugin: &str, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, ServiceError>;
    /// Writes a value, optionally expiring after `ttl`.
    async fn set(&self, plugin: &str, bucket: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), ServiceError>;
    /// Deletes a value (absent is not an error).
    async fn delete(&self, plugin: &str, bucket: &str, key: &str) -> Result<(), ServiceError>;
    /// Atomically adds `delta` to a decimal integer counter (missing counts
    /// as 0) and returns the new value.
    async fn increment(&self, plugin: &str, bucket: &str, key: &str, delta: i64) -> Result<i64, ServiceError>;
}

/// Read access to the CMDB (`cmdb` interface).
#[async_trait]
pub trait CmdbSource: Send + Sync + 'static {
    /// A CI by id.
    async fn get(&self, id: u64) -> Result<Option<Ci>, ServiceError>;
    /// CIs by class and/or name substring, at most `limit`.
    async fn find(&self, class: Option<&str>, name_contains: Option<&str>, limit: u32) -> Result<Vec<Ci>, ServiceError>;
    /// CIs related to `id`, walking `direction` up to `depth` hops.
    async fn related(&self, id: u64, direction: CiDirection, depth: u32) -> Result<Vec<RelatedCi>, ServiceError>;
}

/// Read access to incidents (`tickets` interface).
#[async_trait]
pub trait TicketSource: Send + Sync + 'static {
    /// An incident by number.
    async fn get(&self, number: &str) -> Result<Option<Ticket>, ServiceError>;
    /// Incidents matching a query.
    async fn search(&self, query: &TicketQuery) -> Result<Vec<Ticket>, ServiceError>;
    /// A ticket's links as it sees them; `None` when there is no such ticket.
    async fn links(&self, number: &str) -> Result<Option<Vec<TicketLink>>, ServiceError>;
}

/// Groups and agents (`directory` interface).
#[async_trait]
pub trait DirectorySource: Send + Sync + 'static {
    /// A group by name.
    async fn get_group(&self, name: &str) -> Result<Option<Group>, ServiceError>;
    /// Members of a group.
    async fn members(&self, group: &str) -> Result<Vec<Agent>, ServiceError>;
    /// Members of a group on shift now.
    async fn on_shift(&self, group: &str) -> Result<Vec<Agent>, ServiceError>;
    /// Who is on call on a schedule at `at_ms` (epoch milliseconds; now
    /// when absent).
    async fn on_call(&self, schedule: &str, at_ms: Option<i64>) -> Result<Option<String>, ServiceError>;
}

/// Secret values (`secrets` interface). The host checks the grant before
/// calling; implementations must never log values.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// A secret for this plugin by name.
    async fn get(&self, plugin: &str, name: &str) -> Result<Option<String>, ServiceError>;
}

/// The services a host hands to plugins. Cheap to clone.
#[derive(Clone)]
pub struct HostServices {
    /// kv buckets.
    pub kv: Arc<dyn KvStore>,
    /// CMDB.
    pub cmdb: Arc<dyn CmdbSource>,
    /// Incidents.
    pub tickets: Arc<dyn TicketSource>,
    /// Groups and agents.
    pub directory: Arc<dyn DirectorySource>,
    /// Secrets.
    pub secrets: Arc<dyn SecretStore>,
}

impl HostServices {
    /// In-memory services over a fixture set and a fresh in-memory kv.
    pub fn in_memory(fixtures: Fixtures) -> HostServices {
        let fixtures = Arc::new(fixtures);
        HostServices {
            kv: Arc::new(MemoryKv::default()),
            cmdb: fixtures.clone(),
            tickets: fixtures.clone(),
            directory: fixtures.clone(),
            secrets: fixtures,
        }
    }
}

impl Default for HostServices {
    fn default() -> Self {
        HostServices::in_memory(Fixtures::default())
    }
}

/// (plugin, bucket, key) -> (value, expiry).
type KvEntries = HashMap<(String, String, String), (Vec<u8>, Option<Instant>)>;

/// An in-memory [`KvStore`] with TTLs.
#[derive(Debug, Default)]
pub struct MemoryKv {
    entries: Mutex<KvEntries>,
}

impl MemoryKv {
    fn lock(&self) -> std::sync::MutexGuard<'_, KvEntries> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn kv_key(plugin: &str, bucket: &str, key: &str) -> (String, String, String) {
    (plugin.to_string(), bucket.to_string(), key.to_string())
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, plugin: &str, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        let mut entries = self.lock();
        let k = kv_key(plugin, bucket, key);
        match entries.get(&k) {
            Some((_, Some(expiry))) if *expiry <= Instant::now() => {
                entries.remove(&k);
                Ok(None)
            }
            Some((value, _)) => Ok(Some(value.clone())),
            None => Ok(None),
        }
    }

    async fn set(&self, plugin: &str, bucket: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), ServiceError> {
        let expiry = ttl.map(|t| Instant::now() + t);
        self.lock().insert(kv_key(plugin, bucket, key), (value, expiry));
        Ok(())
    }

    async fn delete(&self, plugin: &str, bucket: &str, key: &str) -> Result<(), ServiceError> {
        self.lock().remove(&kv_key(plugin, bucket, key));
        Ok(())
    }

    async fn increment(&self, plugin: &str, bucket: &str, key: &str, delta: i64) -> Result<i64, ServiceError> {
        let mut entries = self.lock();
        let entry = entries.entry(kv_key(plugin, bucket, key)).or_insert_with(|| (b"0".to_vec(), None));
        if entry.1.is_some_and(|expiry| expiry <= Instant::now()) {
            *entry = (b"0".to_vec(), None);
        }
        let current: i64 = std::str::from_utf8(&entry.0)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| ServiceError::new(format!("kv `{bucket}/{key}` does not hold an integer")))?;
        let next = current.checked_add(delta).ok_or_else(|| ServiceError::new(format!("kv `{bucket}/{key}` would overflow")))?;
        entry.0 = next.to_string().into_bytes();
        Ok(next)
    }
}

/// A CI relationship in a fixture file: `from` depends on `to`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureRelation {
    /// The dependent CI.
    pub from: u64,
    /// The CI it depends on.
    pub to: u64,
    /// Relationship kind, e.g. `depends-on`, `runs-on`.
    pub relation: String,
}

/// In-memory CMDB, tickets, directory and secrets, loaded from a JSON
/// fixture file (tests and `switchyard plugin test`).
///
/// ```json
/// { "cis": [{"id": 1, "class": "service", "name": "Email", "status": "operational"}],
///   "relations": [{"from": 1, "to": 2, "relation": "depends-on"}],
///   "tickets": [],
///   "groups": [{"name": "network", "display_name": "Network"}],
///   "agents": [{"username": "alice", "display_name": "Alice", "on_shift": true}],
///   "members": {"network": ["alice"]},
///   "secrets": {"api-token": "s3cret"} }
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// Configuration items.
    #[serde(default)]
    pub cis: Vec<Ci>,
    /// CI relationships.
    #[serde(default)]
    pub relations: Vec<FixtureRelation>,
    /// Incidents.
    #[serde(default)]
    pub tickets: Vec<Ticket>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Agents.
    #[serde(default)]
    pub agents: Vec<Agent>,
    /// Group name to member usernames.
    #[serde(default)]
    pub members: BTreeMap<String, Vec<String>>,
    /// Secret values by name (shared by all plugins; grants still apply).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Schedule name to the username on call (at any instant).
    #[serde(default)]
    pub on_call: BTreeMap<String, String>,
}

impl Fixtures {
    /// Loads a fixture file.
    pub fn from_file(path: &Path) -> Result<Fixtures, PluginError> {
        let text = std::fs::read_to_string(path).map_err(|e| PluginError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| PluginError::Fixture { path: path.to_path_buf(), message: e.to_string() })
    }

    fn agents_of(&self, group: &str) -> Vec<Agent> {
        let Some(names) = self.members.get(group) else {
            return Vec::new();
        };
        names.iter().filter_map(|n| self.agents.iter().find(|a| &a.username == n).cloned()).collect()
    }
}

#[async_trait]
impl CmdbSource for Fixtures {
    async fn get(&self, id: u64) -> Result<Option<Ci>, ServiceError> {
        Ok(self.cis.iter().find(|c| c.id == id).cloned())
    }

    async fn find(&self, class: Option<&str>, name_contains: Option<&str>, limit: u32) -> Result<Vec<Ci>, ServiceError> {
        let needle = name_contains.map(str::to_lowercase);
        Ok(self
            .cis
            .iter()
            .filter(|c| class.is_none_or(|k| c.class == k))
            .filter(|c| needle.as_ref().is_none_or(|n| c.name.to_lowercase().contains(n)))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn related(&self, id: u64, direction: CiDirection, depth: u32) -> Result<Vec<RelatedCi>, ServiceError> {
        let mut seen = HashSet::from([id]);
        let mut queue = VecDeque::from([(id, 0u32)]);
        let mut found = Vec::new();
        while let Some((current, d)) = queue.pop_front() {
            if d >= depth {
                continue;
            }
            for rel in &self.relations {
                let next = match direction {
                    CiDirection::Upstream if rel.from == current => rel.to,
                    CiDirection::Downstream if rel.to == current => rel.from,
                    _ => continue,
                };
                if !seen.insert(next) {
                    continue;
                }
                if let Some(ci) = self.cis.iter().find(|c| c.id == next) {
                    found.push(RelatedCi { ci: ci.clone(), relation: rel.relation.clone(), depth: d + 1 });
                }
                queue.push_back((next, d + 1));
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl TicketSource for Fixtures {
    async fn get(&self, number: &str) -> Result<Option<Ticket>, ServiceError> {
        Ok(self.tickets.iter().find(|t| t.number == number).cloned())
    }

    async fn search(&self, q: &TicketQuery) -> Result<Vec<Ticket>, ServiceError> {
        Ok(self
            .tickets
            .iter()
            .filter(|t| q.status.is_none_or(|s| t.status == s))
            .filter(|t| q.assignment_group.is_none() || t.assignment_group == q.assignment_group)
            .filter(|t| q.assignee.is_none() || t.assignee == q.assignee)
            .filter(|t| q.requester.as_ref().is_none_or(|r| &t.requester == r))
            .take(q.limit as usize)
            .cloned()
            .collect())
    }

    async fn links(&self, number: &str) -> Result<Option<Vec<TicketLink>>, ServiceError> {
        Ok(self.tickets.iter().find(|t| t.number == number).map(|t| t.links.clone()))
    }
}

#[async_trait]
impl DirectorySource for Fixtures {
    async fn get_group(&self, name: &str) -> Result<Option<Group>, ServiceError> {
        Ok(self.groups.iter().find(|g| g.name == name).cloned())
    }

    async fn members(&self, group: &str) -> Result<Vec<Agent>, ServiceError> {
        Ok(self.agents_of(group))
    }

    async fn on_shift(&self, group: &str) -> Result<Vec<Agent>, ServiceError> {
        Ok(self.agents_of(group).into_iter().filter(|a| a.on_shift).collect())
    }

    async fn on_call(&self, schedule: &str, _at_ms: Option<i64>) -> Result<Option<String>, ServiceError> {
        Ok(self.on_call.get(schedule).cloned())
    }
}

#[async_trait]
impl SecretStore for Fixtures {
    async fn get(&self, _plugin: &str, name: &str) -> Result<Option<String>, ServiceError> {
        Ok(self.secrets.get(name).cloned())
    }
}
