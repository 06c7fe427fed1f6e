//! Configuration items, their typed relationships, and the impact walk.
//!
//! A relationship `source --kind--> target` reads "source depends on /
//! runs on / connects to target". *Upstream* of a CI is what it depends on
//! (following edges forward); *downstream* is what depends on it
//! (following edges backward). Impact analysis walks downstream: if a
//! database fails, every application running on it and every service
//! depending on those applications is hit.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Violations};
use crate::incident::{check_text, named_enum};

named_enum! {
    /// What kind of thing a configuration item is.
    CiClass {
        /// A business service users consume.
        Service = "service",
        /// An application or software system.
        Application = "application",
        /// A physical or virtual server.
        Server = "server",
        /// A database instance.
        Database = "database",
        /// A network device or segment.
        Network = "network",
        /// Storage.
        Storage = "storage",
        /// A workstation or other end-user device.
        Workstation = "workstation",
        /// Anything else.
        Other = "other",
    }
}

named_enum! {
    /// Operational status of a configuration item.
    CiStatus {
        /// Serving.
        Operational = "operational",
        /// Serving with reduced capacity.
        Degraded = "degraded",
        /// Under maintenance.
        Maintenance = "maintenance",
        /// Not serving.
        Down = "down",
        /// Decommissioned (kept for history).
        Retired = "retired",
    }
}

named_enum! {
    /// How two configuration items relate. Read as "source KIND target".
    RelationKind {
        /// The source needs the target to work.
        DependsOn = "depends_on",
        /// The source is hosted on the target.
        RunsOn = "runs_on",
        /// The source is networked to the target.
        ConnectedTo = "connected_to",
        /// The source uses the target's data or API.
        Uses = "uses",
        /// The source is a part of the target.
        PartOf = "part_of",
    }
}

named_enum! {
    /// Which way to walk relationships.
    Direction {
        /// What the CI depends on.
        Upstream = "upstream",
        /// What depends on the CI.
        Downstream = "downstream",
    }
}

/// A configuration item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigurationItem {
    /// Primary key.
    pub id: i64,
    /// Kind of item.
    pub class: CiClass,
    /// Display name.
    pub name: String,
    /// Operational status.
    pub status: CiStatus,
    /// The group that owns and supports it.
    pub owner_group_id: Option<i64>,
    /// Free-form attributes (a JSON object), e.g. `{"users": 1200}`.
    pub attributes: serde_json::Value,
}

/// Checks the editable fields of a CI.
pub fn validate_ci(name: &str, attributes: &serde_json::Value) -> Result<(), DomainError> {
    let mut v = Violations::default();
    check_text(&mut v, "name", name, 200, true);
    v.check(!attributes.is_object(), "attributes", "type", || "must be a JSON object".into());
    v.finish()
}

/// A directed relationship between two CIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Relationship {
    /// The dependent side.
    pub source_id: i64,
    /// How they relate.
    pub kind: RelationKind,
    /// The side depended upon.
    pub target_id: i64,
}

/// A CI reached by a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    /// The CI reached.
    pub ci_id: i64,
    /// Hops from the start, 1 for a direct neighbour.
    pub depth: u32,
    /// The relationship through which it was first reached.
    pub via: RelationKind,
    /// The CI it was reached from.
    pub from_id: i64,
}

/// Breadth-first walk over relationships, fed one level at a time so the
/// caller can fetch each level's edges with one indexed query.
///
/// Each CI is reported once, at its shortest distance; cycles end the walk
/// instead of looping.
#[derive(Debug)]
pub struct ImpactWalk {
    direction: Direction,
    max_depth: u32,
    depth: u32,
    seen: HashSet<i64>,
    frontier: Vec<i64>,
    reached: Vec<Reached>,
}

/// Deepest walk the API allows.
pub const MAX_WALK_DEPTH: u32 = 10;

impl ImpactWalk {
    /// Starts a walk from `start` in `direction`, up to `max_depth` hops
    /// (capped at [`MAX_WALK_DEPTH`]).
    pub fn new(start: i64, direction: Direction, max_depth: u32) -> Self {
        Self {
            direction,
            max_depth: max_depth.min(MAX_WALK_DEPTH),
            depth: 0,
            seen: HashSet::from([start]),
            frontier: vec![start],
            reached: Vec::new(),
        }
    }

    /// The direction of the walk.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The CIs whose edges the next level needs; empty when the walk is done.
    pub fn frontier(&self) -> &[i64] {
        if self.depth >= self.max_depth { &[] } else { &self.frontier }
    }

    /// Feeds the edges touching the frontier (upstream: edges whose source is
    /// in the frontier; downstream: edges whose target is). Other edges are
    /// ignored, so a caller may pass a superset.
    pub fn advance(&mut self, edges: &[Relationship]) {
        if self.frontier().is_empty() {
            return;
        }
        self.depth += 1;
        let frontier: HashSet<i64> = self.frontier.drain(..).collect();
        let mut next = Vec::new();
        let mut sorted: Vec<&Relationship> = edges.iter().collect();
        sorted.sort_by_key(|e| (e.source_id, e.target_id, e.kind));
        for edge in sorted {
            let (from, to) = match self.direction {
                Direction::Upstream => (edge.source_id, edge.target_id),
                Direction::Downstream => (edge.target_id, edge.source_id),
            };
            if frontier.contains(&from) && self.seen.insert(to) {
                self.reached.push(Reached { ci_id: to, depth: self.depth, via: edge.kind, from_id: from });
                next.push(to);
            }
        }
        self.frontier = next;
    }

    /// Everything reached so far, by depth then discovery order.
    pub fn finish(self) -> Vec<Reached> {
        self.reached
    }
}

/// Runs a whole walk over an in-memory edge list (tests, fixtures, small
/// graphs).
pub fn walk(start: i64, direction: Direction, max_depth: u32, edges: &[Relationship]) -> Vec<Reached> {
    let mut by_end: HashMap<i64, Vec<Relationship>> = HashMap::new();
    for e in edges {
        let key = match direction {
            Direction::Upstream => e.source_id,
            Direction::Downstream => e.target_id,
        };
        by_end.entry(key).or_default().push(*e);
    }
    let mut w = ImpactWalk::new(start, direction, max_depth);
    while !w.frontier().is_empty() {
        let level: Vec<Relationship> = w.frontier().iter().flat_map(|id| by_end.get(id).cloned().unwrap_or_default()).collect();
        w.advance(&level);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use RelationKind::*;
    use proptest::prelude::*;

    fn rel(s: i64, kind: RelationKind, t: i64) -> Relationship {
        Relationship { source_id: s, kind, target_id: t }
    }

    /// 1 email service depends_on 2 mail app; 2 runs_on 3 server and 4 db;
    /// 4 runs_on 3; 5 crm service depends_on 4.
    fn graph() -> Vec<Relationship> {
        vec![rel(1, DependsOn, 2), rel(2, RunsOn, 3), rel(2, DependsOn, 4), rel(4, RunsOn, 3), rel(5, DependsOn, 4)]
    }

    #[test]
    fn downstream_of_the_server_is_everything_that_needs_it() {
        let got: Vec<(i64, u32)> = walk(3, Direction::Downstream, 5, &graph()).iter().map(|r| (r.ci_id, r.depth)).collect();
        assert_eq!(got, vec![(2, 1), (4, 1), (1, 2), (5, 2)]);
    }

    #[test]
    fn upstream_of_a_service_is_what_it_needs_and_depth_limits() {
        let got: Vec<i64> = walk(1, Direction::Upstream, 1, &graph()).iter().map(|r| r.ci_id).collect();
        assert_eq!(got, vec![2]);
        let got: Vec<i64> = walk(1, Direction::Upstream, 9, &graph()).iter().map(|r| r.ci_id).collect();
        assert_eq!(got, vec![2, 3, 4]);
    }

    #[test]
    fn cycles_terminate() {
        let edges = vec![rel(1, ConnectedTo, 2), rel(2, ConnectedTo, 1)];
        assert_eq!(walk(1, Direction::Upstream, 10, &edges).len(), 1);
    }

    proptest! {
        /// Every CI is reported once, never the start, at depth within the
        /// limit, and each report is backed by a real edge from a CI one
        /// level closer.
        #[test]
        fn walks_are_shortest_unique_and_bounded(
            edges in proptest::collection::vec((0i64..12, 0i64..12), 0..40),
            start in 0i64..12, depth in 0u32..6, down in any::<bool>()
        ) {
            let edges: Vec<Relationship> = edges.into_iter().map(|(s, t)| rel(s, DependsOn, t)).collect();
            let direction = if down { Direction::Downstream } else { Direction::Upstream };
            let reached = walk(start, direction, depth, &edges);
            let mut ids = HashSet::new();
            let mut depth_of = HashMap::from([(start, 0u32)]);
            for r in &reached {
                prop_assert!(r.ci_id != start);
                prop_assert!(ids.insert(r.ci_id));
                prop_assert!(r.depth >= 1 && r.depth <= depth);
                prop_assert_eq!(depth_of.get(&r.from_id).copied(), Some(r.depth - 1));
                let backed = edges.iter().any(|e| match direction {
                    Direction::Upstream => e.source_id == r.from_id && e.target_id == r.ci_id,
                    Direction::Downstream => e.target_id == r.from_id && e.source_id == r.ci_id,
                });
                prop_assert!(backed);
                depth_of.insert(r.ci_id, r.depth);
            }
        }
    }
}
