//! Workflow definitions: every published version of every workflow
//! document, and which workflows are enabled.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

use crate::entity::{workflow, workflow_version};
use crate::error::{StoreError, stored_json};
use crate::store::Store;
use crate::time;

/// A workflow as listed: its latest version and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowSummary {
    /// Workflow id.
    pub id: String,
    /// Display name (of the latest version).
    pub name: String,
    /// Whether new runs start.
    pub enabled: bool,
    /// The version new runs use.
    pub latest_version: i32,
    /// Last publish or enable/disable.
    pub updated_at: DateTime<Utc>,
}

/// One published version of a workflow document.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowVersion {
    /// Workflow id.
    pub workflow_id: String,
    /// Version number.
    pub version: i32,
    /// The parsed document, as JSON.
    pub document: Value,
    /// The text as published (YAML or JSON).
    pub source: String,
    /// `yaml` or `json`.
    pub format: String,
    /// Who published it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A version to publish.
#[derive(Debug, Clone)]
pub struct PublishWorkflow {
    /// Workflow id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Must be greater than the latest published version.
    pub version: i32,
    /// Whether the workflow runs after publishing.
    pub enabled: bool,
    /// The parsed document, as JSON.
    pub document: Value,
    /// The text as submitted.
    pub source: String,
    /// `yaml` or `json`.
    pub format: String,
    /// Who publishes.
    pub created_by: String,
}

fn version_from_row(row: workflow_version::Model) -> Result<WorkflowVersion, StoreError> {
    Ok(WorkflowVersion {
        document: stored_json("workflow_versions.document", &row.document)?,
        workflow_id: row.workflow_id,
        version: row.version,
        source: row.source,
        format: row.format,
        created_by: row.created_by,
        created_at: time::from_micros(row.created_at),
    })
}

fn summary_from_row(row: workflow::Model) -> WorkflowSummary {
    WorkflowSummary {
        id: row.id,
        name: row.name,
        enabled: row.enabled,
        latest_version: row.latest_version,
        updated_at: time::from_micros(row.updated_at),
    }
}

impl Store {
    /// Publishes a new version; the first publish creates the workflow.
    pub async fn publish_workflow(&self, p: PublishWorkflow) -> Result<WorkflowVersion, StoreError> {
        let txn = self.begin().await?;
        let existing = workflow::Entity::find_by_id(p.id.clone()).one(&*txn).await?;
        if let Some(w) = &existing
            && p.version <= w.latest_version
        {
            return Err(StoreError::Conflict {
                field: "version".into(),
                message: format!(
                    "workflow `{}` is at version {}; publish version {} or higher",
                    p.id,
                    w.latest_version,
                    w.latest_version + 1
                ),
            });
        }
        let now = time::to_micros(time::now());
        let row = workflow_version::ActiveModel {
            workflow_id: Set(p.id.clone()),
            version: Set(p.version),
            document: Set(p.document.to_string()),
            source: Set(p.source),
            format: Set(p.format),
            created_by: Set(p.created_by),
            created_at: Set(now),
        };
        workflow_version::Entity::insert(row).exec_without_returning(&*txn).await?;
        let summary = workflow::ActiveModel {
            id: Set(p.id.clone()),
            name: Set(p.name),
            enabled: Set(p.enabled),
            latest_version: Set(p.version),
            updated_at: Set(now),
        };
        workflow::Entity::insert(summary)
            .on_conflict(
                OnConflict::column(workflow::Column::Id)
                    .update_columns([
                        workflow::Column::Name,
                        workflow::Column::Enabled,
                        workflow::Column::LatestVersion,
                        workflow::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&*txn)
            .await?;
        let version = self.workflow_version_in(&*txn, &p.id, p.version).await?;
        txn.commit().await?;
        Ok(version)
    }

    /// Turns a workflow on or off (runs in flight finish either way).
    pub async fn set_workflow_enabled(&self, id: &str, enabled: bool) -> Result<WorkflowSummary, StoreError> {
        let txn = self.begin().await?;
        let res = workflow::Entity::update_many()
            .col_expr(workflow::Column::Enabled, Expr::value(enabled))
            .col_expr(workflow::Column::UpdatedAt, Expr::value(time::to_micros(time::now())))
            .filter(workflow::Column::Id.eq(id))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        if res.rows_affected == 0 {
            return Err(StoreError::not_found("workflow", id));
        }
        self.get_workflow(id).await
    }

    /// A workflow by id.
    pub async fn get_workflow(&self, id: &str) -> Result<WorkflowSummary, StoreError> {
        let row =
            workflow::Entity::find_by_id(id.to_owned()).one(&self.write).await?.ok_or_else(|| StoreError::not_found("workflow", id))?;
        Ok(summary_from_row(row))
    }

    /// Every workflow, by id.
    pub async fn list_workflows(&self) -> Result<Vec<WorkflowSummary>, StoreError> {
        Ok(workflow::Entity::find().order_by_asc(workflow::Column::Id).all(&self.read).await?.into_iter().map(summary_from_row).collect())
    }

    /// Every version of a workflow, oldest first.
    pub async fn workflow_versions(&self, id: &str) -> Result<Vec<WorkflowVersion>, StoreError> {
        let rows = workflow_version::Entity::find()
            .filter(workflow_version::Column::WorkflowId.eq(id))
            .order_by_asc(workflow_version::Column::Version)
            .all(&self.read)
            .await?;
        if rows.is_empty() {
            return Err(StoreError::not_found("workflow", id));
        }
        rows.into_iter().map(version_from_row).collect()
    }

    /// One version of a workflow.
    pub async fn workflow_version(&self, id: &str, version: i32) -> Result<WorkflowVersion, StoreError> {
        self.workflow_version_in(&self.read, id, version).await
    }

    async fn workflow_version_in(&self, conn: &impl ConnectionTrait, id: &str, version: i32) -> Result<WorkflowVersion, StoreError> {
        let row = workflow_version::Entity::find_by_id((id.to_owned(), version))
            .one(conn)
            .await?
            .ok_or_else(|| StoreError::not_found("workflow version", format!("{id}@{version}")))?;
        version_from_row(row)
    }

    /// The latest version of every enabled workflow: what new events run.
    pub async fn active_workflows(&self) -> Result<Vec<WorkflowVersion>, StoreError> {
        let enabled = workflow::Entity::find().filter(workflow::Column::Enabled.eq(true)).all(&self.write).await?;
        let mut out = Vec::with_capacity(enabled.len());
        for w in enabled {
            out.push(self.workflow_version_in(&self.write, &w.id, w.latest_version).await?);
        }
        Ok(out)
    }
}
