//! Service reports over a time range: volumes, backlog by age, mean time
//! to assign and to resolve, SLA compliance per target, reopen rate and
//! satisfaction. Each figure is one aggregate query over indexed columns
//! (creation time, resolution time, the SLA clocks' decision times).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, QueryResult, Statement};
use switchyard_domain::incident::Priority;
use switchyard_domain::sla::SlaTarget;

use crate::error::StoreError;
use crate::incidents::open_statuses;
use crate::store::{Backend, Store};
use crate::time;

/// Which incidents a report covers, besides its time range.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive); the backlog is measured at this instant.
    pub to: DateTime<Utc>,
    /// Assignment group name.
    pub group: Option<String>,
    /// Assignee username.
    pub agent: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Service CI id.
    pub service_id: Option<i64>,
}

/// Compliance with one SLA target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCompliance {
    /// The target.
    pub target: SlaTarget,
    /// Clocks met in the range (stopped within their target).
    pub met: u64,
    /// Clocks that breached in the range.
    pub breached: u64,
}

impl TargetCompliance {
    /// Met as a share of decided clocks, in percent.
    pub fn percent(&self) -> Option<f64> {
        let decided = self.met + self.breached;
        (decided > 0).then(|| self.met as f64 * 100.0 / decided as f64)
    }
}

/// A service report.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceReport {
    /// Incidents created in the range.
    pub opened: u64,
    /// Incidents resolved in the range.
    pub resolved: u64,
    /// Incidents open now that were created before the end of the range,
    /// by age at the end of the range: (bucket, count).
    pub backlog: Vec<(&'static str, u64)>,
    /// Mean time from creation to first assignment (group or agent) of the
    /// incidents created in the range, seconds.
    pub mtta_seconds: Option<f64>,
    /// Mean wall time from creation to resolution of the incidents resolved
    /// in the range, seconds.
    pub mttr_seconds: Option<f64>,
    /// The same in business time (pauses excluded, on each incident's SLA
    /// calendar), seconds.
    pub mttr_business_seconds: Option<f64>,
    /// SLA compliance per target.
    pub compliance: Vec<TargetCompliance>,
    /// Share of the incidents resolved in the range that were reopened at
    /// least once, percent.
    pub reopen_rate: Option<f64>,
    /// Mean satisfaction score (1..5) of the incidents resolved in the range.
    pub csat_average: Option<f64>,
    /// How many of them were rated.
    pub csat_responses: u64,
}

/// Backlog age buckets: label and upper bound in days (exclusive).
const BACKLOG_BUCKETS: [(&str, Option<i64>); 5] =
    [("under_1d", Some(1)), ("1d_3d", Some(3)), ("3d_7d", Some(7)), ("7d_30d", Some(30)), ("over_30d", None)];
const DAY_US: i64 = 86_400_000_000;

/// A statement with placeholders in the backend's style.
struct Sql {
    backend: Backend,
    text: String,
    values: Vec<sea_orm::Value>,
}

impl Sql {
    fn new(backend: Backend) -> Self {
        Self { backend, text: String::new(), values: Vec::new() }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: impl Into<sea_orm::Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            Backend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            Backend::Sqlite => self.text.push('?'),
        }
        self
    }

    /// The filters on the incident alias `i`.
    fn filters(&mut self, f: &ReportFilter) -> &mut Self {
        if let Some(group) = &f.group {
            self.push(" AND i.assignment_group_id = (SELECT id FROM groups WHERE name = ").bind(group.clone()).push(")");
        }
        if let Some(agent) = &f.agent {
            self.push(" AND i.assignee_id = (SELECT id FROM users WHERE username = ").bind(agent.clone()).push(")");
        }
        if let Some(category) = &f.category {
            self.push(" AND i.category = ").bind(category.clone());
        }
        if let Some(priority) = f.priority {
            self.push(" AND i.priority = ").bind(i16::from(priority.get()));
        }
        if let Some(service) = f.service_id {
            self.push(" AND i.service_id = ").bind(service);
        }
        self
    }

    fn range(&mut self, column: &str, f: &ReportFilter) -> &mut Self {
        self.push(&format!("{column} >= ")).bind(time::to_micros(f.from)).push(&format!(" AND {column} < ")).bind(time::to_micros(f.to))
    }

    fn statement(&self) -> Statement {
        let backend = match self.backend {
            Backend::Sqlite => sea_orm::DbBackend::Sqlite,
            Backend::Postgres => sea_orm::DbBackend::Postgres,
        };
        Statement::from_sql_and_values(backend, self.text.clone(), self.values.clone())
    }
}

fn int(row: &QueryResult, i: usize) -> u64 {
    row.try_get_by_index::<Option<i64>>(i).ok().flatten().unwrap_or(0).max(0) as u64
}

fn float(row: &QueryResult, i: usize) -> Option<f64> {
    row.try_get_by_index::<Option<f64>>(i).ok().flatten()
}

impl Store {
    async fn report_row(&self, sql: &Sql) -> Result<QueryResult, StoreError> {
        self.read.query_one_raw(sql.statement()).await?.ok_or_else(|| StoreError::corrupt("report", "an aggregate returned no row"))
    }

    /// Computes a service report.
    pub async fn service_report(&self, f: &ReportFilter) -> Result<ServiceReport, StoreError> {
        let mut opened = Sql::new(self.backend);
        opened
            .push("SELECT COUNT(*), CAST(AVG(s.first_assigned_at - i.created_at) AS DOUBLE PRECISION) FROM incidents i ")
            .push("LEFT JOIN incident_service_facts s ON s.incident_id = i.id WHERE ")
            .range("i.created_at", f)
            .filters(f);
        let opened = self.report_row(&opened).await?;

        let mut resolved = Sql::new(self.backend);
        resolved
            .push("SELECT COUNT(*), CAST(AVG(i.resolved_at - i.created_at) AS DOUBLE PRECISION), ")
            .push("CAST(AVG(s.resolution_business_us) AS DOUBLE PRECISION), ")
            .push("SUM(CASE WHEN s.reopen_count > 0 THEN 1 ELSE 0 END), CAST(AVG(c.score) AS DOUBLE PRECISION), COUNT(c.score) ")
            .push("FROM incidents i LEFT JOIN incident_service_facts s ON s.incident_id = i.id ")
            .push("LEFT JOIN incident_csat c ON c.incident_id = i.id WHERE ")
            .range("i.resolved_at", f)
            .filters(f);
        let resolved = self.report_row(&resolved).await?;

        let mut backlog = Sql::new(self.backend);
        backlog.push("SELECT ");
        let to = time::to_micros(f.to);
        let mut lower = 0;
        for (i, (_, upper)) in BACKLOG_BUCKETS.iter().enumerate() {
            if i > 0 {
                backlog.push(", ");
            }
            backlog.push("COALESCE(SUM(CASE WHEN ").bind(to).push(&format!(" - i.created_at >= {}", lower * DAY_US));
            if let Some(upper) = upper {
                backlog.push(" AND ").bind(to).push(&format!(" - i.created_at < {}", upper * DAY_US));
                lower = *upper;
            }
            backlog.push(" THEN 1 ELSE 0 END), 0)");
        }
        let open: Vec<String> = open_statuses().iter().map(|s| format!("'{s}'")).collect();
        backlog.push(&format!(" FROM incidents i WHERE i.status IN ({}) AND i.created_at < ", open.join(", "))).bind(to).filters(f);
        let backlog_row = self.report_row(&backlog).await?;

        let mut compliance = Sql::new(self.backend);
        compliance
            .push("SELECT k.target, SUM(CASE WHEN k.state = 'met' AND ")
            .range("k.stopped_at", f)
            .push(" THEN 1 ELSE 0 END), SUM(CASE WHEN ")
            .range("k.breached_at", f)
            .push(" THEN 1 ELSE 0 END) FROM sla_clocks k JOIN incidents i ON i.id = k.incident_id WHERE ((")
            .range("k.stopped_at", f)
            .push(") OR (")
            .range("k.breached_at", f)
            .push("))")
            .filters(f)
            .push(" GROUP BY k.target ORDER BY k.target DESC");
        let mut targets = Vec::new();
        for row in self.read.query_all_raw(compliance.statement()).await? {
            let target: String = row.try_get_by_index(0)?;
            let target = target.parse().map_err(|e| StoreError::corrupt("sla_clocks.target", e))?;
            targets.push(TargetCompliance { target, met: int(&row, 1), breached: int(&row, 2) });
        }

        let resolved_count = int(&resolved, 0);
        let seconds = |us: Option<f64>| us.map(|us| us / 1e6);
        Ok(ServiceReport {
            opened: int(&opened, 0),
            resolved: resolved_count,
            backlog: BACKLOG_BUCKETS.iter().enumerate().map(|(i, (label, _))| (*label, int(&backlog_row, i))).collect(),
            mtta_seconds: seconds(float(&opened, 1)),
            mttr_seconds: seconds(float(&resolved, 1)),
            mttr_business_seconds: seconds(float(&resolved, 2)),
            compliance: targets,
            reopen_rate: (resolved_count > 0).then(|| int(&resolved, 3) as f64 * 100.0 / resolved_count as f64),
            csat_average: float(&resolved, 4),
            csat_responses: int(&resolved, 5),
        })
    }
}
