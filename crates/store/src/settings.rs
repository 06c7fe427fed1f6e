//! Admin settings stored as JSON documents: the priority matrix and the
//! custom field schema. Writers re-read them inside each transaction (two
//! small rows) and recompile only when they changed, so every node of a
//! cluster applies the current settings without a restart.

use std::sync::Arc;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::OnConflict};
use switchyard_domain::Violations;
use switchyard_domain::custom_fields::CustomFieldSchema;
use switchyard_domain::priority::PriorityMatrix;

use crate::entity::setting;
use crate::error::StoreError;
use crate::store::Store;
use crate::time;

const PRIORITY_MATRIX: &str = "priority_matrix";
const CUSTOM_FIELD_SCHEMA: &str = "custom_field_schema";
const CATEGORIES: &str = "categories";

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

    pub(crate) async fn put_setting(&self, key: &str, value: String) -> Result<(), StoreError> {
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

/// One category people may pick when they log an incident.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// The value stored on incidents (`network`), what routing rules match.
    pub id: String,
    /// What people read (`Network and connectivity`).
    pub label: String,
}

/// The categories offered before an admin sets any: the ones the shipped
/// routing rules know, and a catch-all.
pub fn default_categories() -> Vec<Category> {
    [
        ("network", "Network and connectivity"),
        ("hardware", "Hardware (laptop, printer, phone)"),
        ("software", "Software and applications"),
        ("database", "Databases"),
        ("access", "Accounts and access"),
        ("other", "Something else"),
    ]
    .into_iter()
    .map(|(id, label)| Category { id: id.into(), label: label.into() })
    .collect()
}

/// A named set of list filters a person keeps (the console's saved
/// filters): the query string of `/api/v1/incidents`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedFilter {
    /// Its name (1..60 characters, unique per person).
    pub name: String,
    /// The filter parameters, URL-encoded (`status=new&priority=P1`).
    pub query: String,
}

/// Most saved filters per person.
pub const MAX_SAVED_FILTERS: usize = 30;

fn saved_filters_key(user_id: i64) -> String {
    format!("saved_filters:{user_id}")
}

impl Store {
    /// The categories offered when logging an incident.
    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        match setting::Entity::find_by_id(CATEGORIES.to_owned()).one(&self.read).await? {
            Some(r) => serde_json::from_str(&r.value).map_err(|e| StoreError::corrupt("settings.categories", e)),
            None => Ok(default_categories()),
        }
    }

    /// Replaces the categories: 1..100 of them, ids unique labels.
    pub async fn set_categories(&self, categories: &[Category]) -> Result<(), StoreError> {
        let mut v = switchyard_domain::Violations::default();
        v.check(categories.is_empty() || categories.len() > 100, "categories", "range", || "give 1 to 100 categories".into());
        for (i, c) in categories.iter().enumerate() {
            switchyard_domain::incident::check_label(&mut v, &format!("categories/{i}/id"), Some(&c.id));
            switchyard_domain::incident::check_text(&mut v, &format!("categories/{i}/label"), &c.label, 100, true);
            v.check(categories[..i].iter().any(|o| o.id == c.id), &format!("categories/{i}/id"), "unique", || {
                format!("`{}` is listed twice", c.id)
            });
        }
        v.finish()?;
        let value = serde_json::to_string(categories).map_err(|e| StoreError::corrupt("categories", e))?;
        self.put_setting(CATEGORIES, value).await
    }

    /// A person's saved filters, in the order they saved them.
    pub async fn saved_filters(&self, user_id: i64) -> Result<Vec<SavedFilter>, StoreError> {
        match setting::Entity::find_by_id(saved_filters_key(user_id)).one(&self.read).await? {
            Some(r) => serde_json::from_str(&r.value).map_err(|e| StoreError::corrupt("settings.saved_filters", e)),
            None => Ok(Vec::new()),
        }
    }

    /// Saves (or replaces, by name) one of a person's filters.
    pub async fn save_filter(&self, user_id: i64, filter: SavedFilter) -> Result<Vec<SavedFilter>, StoreError> {
        let mut v = switchyard_domain::Violations::default();
        switchyard_domain::incident::check_text(&mut v, "name", &filter.name, 60, true);
        switchyard_domain::incident::check_text(&mut v, "query", &filter.query, 2000, false);
        v.finish()?;
        let mut filters = self.saved_filters(user_id).await?;
        match filters.iter_mut().find(|f| f.name == filter.name) {
            Some(existing) => existing.query = filter.query,
            None => {
                let mut v = switchyard_domain::Violations::default();
                v.check(filters.len() >= MAX_SAVED_FILTERS, "name", "range", || format!("keep at most {MAX_SAVED_FILTERS} saved filters"));
                v.finish()?;
                filters.push(filter);
            }
        }
        let value = serde_json::to_string(&filters).map_err(|e| StoreError::corrupt("saved_filters", e))?;
        self.put_setting(&saved_filters_key(user_id), value).await?;
        Ok(filters)
    }

    /// Deletes one of a person's saved filters by name.
    pub async fn delete_saved_filter(&self, user_id: i64, name: &str) -> Result<Vec<SavedFilter>, StoreError> {
        let mut filters = self.saved_filters(user_id).await?;
        let before = filters.len();
        filters.retain(|f| f.name != name);
        if filters.len() == before {
            return Err(StoreError::not_found("saved filter", name));
        }
        let value = serde_json::to_string(&filters).map_err(|e| StoreError::corrupt("saved_filters", e))?;
        self.put_setting(&saved_filters_key(user_id), value).await?;
        Ok(filters)
    }
}

/// Kinds of named admin documents kept as settings rows `<prefix><name>`
/// (each checked by its owner before it is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamedDocument {
    /// Mail templates: `mail_template:<name>`.
    MailTemplate,
    /// On-call schedules: `oncall_schedule:<name>`.
    OnCallSchedule,
    /// Escalation policies: `escalation_policy:<name>`.
    EscalationPolicy,
}

impl NamedDocument {
    fn prefix(self) -> &'static str {
        match self {
            NamedDocument::MailTemplate => "mail_template:",
            NamedDocument::OnCallSchedule => "oncall_schedule:",
            NamedDocument::EscalationPolicy => "escalation_policy:",
        }
    }
}

impl Store {
    /// The documents of a kind an admin stored, by name.
    pub async fn named_documents(&self, kind: NamedDocument) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let prefix = kind.prefix();
        let rows = setting::Entity::find()
            .filter(setting::Column::Key.starts_with(prefix))
            .order_by_asc(setting::Column::Key)
            .all(&self.read)
            .await?;
        rows.into_iter()
            .map(|r| {
                let name = r.key[prefix.len()..].to_owned();
                let doc = serde_json::from_str(&r.value).map_err(|e| StoreError::corrupt("settings.named_document", e))?;
                Ok((name, doc))
            })
            .collect()
    }

    /// One stored document of a kind.
    pub async fn named_document(&self, kind: NamedDocument, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let row = setting::Entity::find_by_id(format!("{}{name}", kind.prefix())).one(&self.read).await?;
        row.map(|r| serde_json::from_str(&r.value).map_err(|e| StoreError::corrupt("settings.named_document", e))).transpose()
    }

    /// Stores a document of a kind under `name` (1 to 130 of a-z, 0-9,
    /// `.`, `_` and `-`).
    pub async fn put_named_document(&self, kind: NamedDocument, name: &str, document: &serde_json::Value) -> Result<(), StoreError> {
        let mut v = Violations::default();
        let ok = !name.is_empty()
            && name.len() <= 130
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
        v.check(!ok, "name", "pattern", || format!("`{name}` must be 1 to 130 of a-z, 0-9, '.', '_' and '-'"));
        v.finish()?;
        self.put_setting(&format!("{}{name}", kind.prefix()), document.to_string()).await
    }

    /// Removes a stored document; whether there was one.
    pub async fn delete_named_document(&self, kind: NamedDocument, name: &str) -> Result<bool, StoreError> {
        let txn = self.begin().await?;
        let result = setting::Entity::delete_by_id(format!("{}{name}", kind.prefix())).exec(&*txn).await?;
        txn.commit().await?;
        Ok(result.rows_affected > 0)
    }

    /// The mail templates an admin stored, by name, as the documents they
    /// stored (the mail crate checks them before they are stored).
    pub async fn mail_templates(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        self.named_documents(NamedDocument::MailTemplate).await
    }

    /// Stores a mail template under `name` (`default`, or `<workflow>.<step>`).
    pub async fn put_mail_template(&self, name: &str, document: &serde_json::Value) -> Result<(), StoreError> {
        self.put_named_document(NamedDocument::MailTemplate, name, document).await
    }

    /// Removes a stored mail template; whether there was one.
    pub async fn delete_mail_template(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_named_document(NamedDocument::MailTemplate, name).await
    }
}
