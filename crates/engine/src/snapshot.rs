//! A batch's view of the directory.
//!
//! Every run of a batch asks the same things: the members and on-shift
//! agents of a few groups (plugins, through the `directory` interface) and
//! the users, groups and CIs the runs' edits name (the runner, to apply
//! them). The snapshot reads each once per batch and shares it, and it
//! counts the assignments the batch's runs make as they make them, so a
//! least-loaded pick later in the batch sees the tickets handed out
//! earlier in it (without that, a burst for one group would all go to the
//! same agent).
//!
//! Reading agents' load and acting on it must not interleave between runs
//! (two steps reading the same load would pick the same agent), so a step
//! that reads members or on-shift agents takes the batch's *directory
//! turn* and holds it until its actions are applied ([`DirectoryTurn`]).
//! Steps that do not read the directory never wait for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchyard_domain::edit::{References, Wanted};
use switchyard_store::{AgentLoad, GroupRecord, Store, StoreError};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct DirectorySnapshot {
    store: Store,
    agents: tokio::sync::Mutex<HashMap<String, Option<Vec<AgentLoad>>>>,
    groups: tokio::sync::Mutex<HashMap<String, Option<GroupRecord>>>,
    /// Open tickets handed to (positive) or taken from (negative) each
    /// agent by this batch's runs so far.
    assigned: Mutex<HashMap<String, i64>>,
    references: tokio::sync::Mutex<(References, Wanted)>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// One step's hold on the batch's directory turn: taken at the step's
/// first read of agents' load, given back when the step has ended.
#[derive(Debug, Default)]
pub(crate) struct DirectoryTurn {
    held: tokio::sync::Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>,
}

impl DirectoryTurn {
    /// Takes the turn unless this step holds it already.
    pub(crate) async fn take(&self, snapshot: &DirectorySnapshot) {
        let mut held = self.held.lock().await;
        if held.is_none() {
            *held = Some(snapshot.turn.clone().lock_owned().await);
        }
    }

    /// Gives the turn back (the step's actions are applied).
    pub(crate) async fn give_back(&self) {
        self.held.lock().await.take();
    }
}

impl DirectorySnapshot {
    pub(crate) fn new(store: Store) -> Self {
        DirectorySnapshot {
            store,
            agents: Default::default(),
            groups: Default::default(),
            assigned: Default::default(),
            references: Default::default(),
            turn: Arc::default(),
        }
    }

    /// A group's active agents with their open-ticket load as of now in
    /// this batch; `None` when the group does not exist.
    pub(crate) async fn group_agents(&self, group: &str) -> Result<Option<Vec<AgentLoad>>, StoreError> {
        let loaded = {
            let mut agents = self.agents.lock().await;
            match agents.get(group) {
                Some(a) => a.clone(),
                None => {
                    let a = match self.store.group_agents(group).await? {
                        Some(agents) => Some(crate::pager::follow_schedule(&self.store, group, agents).await?),
                        None => None,
                    };
                    agents.insert(group.to_owned(), a.clone());
                    a
                }
            }
        };
        let assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
        Ok(loaded.map(|agents| {
            agents
                .into_iter()
                .map(|mut a| {
                    let delta = assigned.get(&a.username).copied().unwrap_or(0);
                    a.open_tickets = a.open_tickets.saturating_add_signed(delta);
                    a
                })
                .collect()
        }))
    }

    /// A group by name, `None` when it does not exist.
    pub(crate) async fn group(&self, name: &str) -> Result<Option<GroupRecord>, StoreError> {
        let mut groups = self.groups.lock().await;
        if let Some(g) = groups.get(name) {
            return Ok(g.clone());
        }
        let g = match self.store.get_group(name).await {
            Ok(g) => Some(g),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        groups.insert(name.to_owned(), g.clone());
        Ok(g)
    }

    /// Counts a change of assignee a run of the batch made.
    pub(crate) fn reassigned(&self, from: Option<&str>, to: Option<&str>) {
        if from == to {
            return;
        }
        let mut assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(from) = from {
            *assigned.entry(from.to_owned()).or_default() -= 1;
        }
        if let Some(to) = to {
            *assigned.entry(to.to_owned()).or_default() += 1;
        }
    }

    /// What `wanted` names, loading only what this batch has not looked up
    /// yet.
    pub(crate) async fn references(&self, wanted: &Wanted) -> Result<References, StoreError> {
        let mut guard = self.references.lock().await;
        let (refs, known) = &mut *guard;
        let missing = wanted.minus(known);
        if !missing.is_empty() {
            refs.merge(self.store.references(&missing).await?);
            known.extend(missing);
        }
        Ok(refs.clone())
    }
}
