//! Admin settings stored as JSON documents: the priority matrix and the
//! custom field schema. Writers re-read them inside each transaction (two
//! small rows) and recompile only when they changed, so every node of a
//! cluster applies the current settings without a restart.

use std::sync::Arc;

use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, sea_query::OnConflict};
use switchyard_domain::custom_fields::CustomFieldSchema;
use switchyard_domain::priority::PriorityMatrix;

use crate::entity::setting;
use crate::error::StoreError;
use crate::store::Store;
use crate::time;

const PRIORITY_MATRIX: &str = "priority_matrix";
const CUSTOM_FIELD_SCHEMA: &str = "custom_field_schema";

/// Compiled settings with the `updated_at` they were compiled from.
#[derive(Default)]
pub(crate) struct SettingsCache {
    matrix: Option<(i64, Arc<PriorityMatrix>)>,
    custom: Option<(i64, Arc<CustomFieldSchema>)>,
    /// The SLA configuration with the `updated_at` of its two documents.
    pub(crate) sla: Option<((i64, i64), Arc<switchyard_domain::sla::SlaConfig>)>,
}

/// The settings every edit is checked against (see
/// [`switchyard_domain::edit::Rules`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The priority matrix in force.
    pub matrix: Arc<PriorityMatrix>,
    /// The custom field schema in force.
    pub custom_fields: Arc<CustomFieldSchema>,
}

impl Settings {
    /// As edit rules.
    pub fn rules(&self) -> switchyard_domain::edit::Rules<'_> {
        switchyard_domain::edit::Rules { matrix: &self.matrix, custom_fields: &self.custom_fields }
    }
}

impl Store {
    /// Current settings, read through `conn` (use the write transaction so
    /// a concurrent change is seen consistently).
    pub(crate) async fn settings(&self, conn: &impl ConnectionTrait) -> Result<Settings, StoreError> {
        let rows = setting::Entity::find().all(conn).await?;
        let row = |key: &str| rows.iter().find(|r| r.key == key);
        let mut cache = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let matrix = match (row(PRIORITY_MATRIX), &cache.matrix) {
            (None, _) => Arc::new(PriorityMatrix::default()),
            (Some(r), Some((at, m))) if *at == r.updated_at => m.clone(),
            (Some(r), _) => {
                let m: PriorityMatrix = serde_json::from_str(&r.value).map_err(|e| StoreError::corrupt("settings.priority_matrix", e))?;
                let m = Arc::new(m);
                cache.matrix = Some((r.updated_at, m.clone()));
                m
            }
        };
        let custom_fields = match (row(CUSTOM_FIELD_SCHEMA), &cache.custom) {
            (None, _) => Arc::new(CustomFieldSchema::permissive()),
            (Some(r), Some((at, s))) if *at == r.updated_at => s.clone(),
            (Some(r), _) => {
                let doc: serde_json::Value =
                    serde_json::from_str(&r.value).map_err(|e| StoreError::corrupt("settings.custom_field_schema", e))?;
                let s = Arc::new(CustomFieldSchema::new(doc).map_err(|e| StoreError::corrupt("settings.custom_field_schema", e))?);
                cache.custom = Some((r.updated_at, s.clone()));
                s
            }
        };
        Ok(Settings { matrix, custom_fields })
    }

    /// The settings edits are checked against, from the read pool (the
    /// engine reads them once per batch).
    pub async fn edit_settings(&self) -> Result<Settings, StoreError> {
        self.settings(&self.read).await
    }

    /// The priority matrix in force.
    pub async fn priority_matrix(&self) -> Result<PriorityMatrix, StoreError> {
        Ok((*self.settings(&self.read).await?.matrix).clone())
    }

    /// Replaces the priority matrix (validated: it must be monotonic).
    /// Existing incidents keep their priority until their impact or urgency
    /// changes.
    pub async fn set_priority_matrix(&self, matrix: &PriorityMatrix) -> Result<(), StoreError> {
        matrix.validate()?;
        let value = serde_json::to_string(matrix).map_err(|e| StoreError::corrupt("priority_matrix", e))?;
        self.put_setting(PRIORITY_MATRIX, value).await
    }

    /// The custom field JSON Schema in force.
    pub async fn custom_field_schema(&self) -> Result<serde_json::Value, StoreError> {
        Ok(self.settings(&self.read).await?.custom_fields.source().clone())
    }

    /// Replaces the custom field schema after compiling it. Existing
    /// incidents are not re-validated; their next edit is.
    pub async fn set_custom_field_schema(&self, schema: serde_json::Value) -> Result<(), StoreError> {
        CustomFieldSchema::new(schema.clone())?;
        self.put_setting(CUSTOM_FIELD_SCHEMA, schema.to_string()).await
    }

    async fn put_setting(&self, key: &str, value: String) -> Result<(), StoreError> {
        let txn = self.begin().await?;
        put_setting_in(&*txn, key, value).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Writes a setting inside a caller's transaction; its `updated_at` is
/// strictly increasing even when two edits land in the same microsecond.
pub(crate) async fn put_setting_in(txn: &impl ConnectionTrait, key: &str, value: String) -> Result<(), StoreError> {
    let existing = setting::Entity::find_by_id(key.to_owned()).one(txn).await?;
    let updated_at = time::to_micros(time::now()).max(existing.map_or(0, |r| r.updated_at + 1));
    let row = setting::ActiveModel { key: Set(key.to_owned()), value: Set(value), updated_at: Set(updated_at) };
    setting::Entity::insert(row)
        .on_conflict(
            OnConflict::column(setting::Column::Key).update_columns([setting::Column::Value, setting::Column::UpdatedAt]).to_owned(),
        )
        .exec(txn)
        .await?;
    Ok(())
}
