//! Configuration items, relationships and the impact walk.

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use switchyard_domain::DomainError;
use switchyard_domain::cmdb::{CiClass, CiStatus, ConfigurationItem, Direction, ImpactWalk, RelationKind, Relationship, validate_ci};

use crate::entity::{ci, ci_relationship, group};
use crate::error::StoreError;
use crate::store::Store;
use crate::time;

/// A new configuration item.
#[derive(Debug, Clone)]
pub struct CiInput {
    /// Class.
    pub class: CiClass,
    /// Name.
    pub name: String,
    /// Status (default operational).
    pub status: Option<CiStatus>,
    /// Owning group's name.
    pub owner_group: Option<String>,
    /// Attributes object.
    pub attributes: serde_json::Value,
}

/// A partial edit of a configuration item.
#[derive(Debug, Clone, Default)]
pub struct CiPatch {
    /// New class.
    pub class: Option<CiClass>,
    /// New name.
    pub name: Option<String>,
    /// New status.
    pub status: Option<CiStatus>,
    /// New or cleared owner group.
    pub owner_group: Option<Option<String>>,
    /// Replacement attributes.
    pub attributes: Option<serde_json::Value>,
}

/// A stored relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationshipRecord {
    /// Id.
    pub id: i64,
    /// The relationship.
    pub relationship: Relationship,
}

/// One CI reached by an impact walk.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpactEntry {
    /// The CI.
    pub ci: ConfigurationItem,
    /// Hops from the start.
    pub depth: u32,
    /// Relationship kind it was reached through.
    pub via: RelationKind,
    /// The CI it was reached from.
    pub from_id: i64,
}

fn ci_from_row(row: ci::Model) -> Result<ConfigurationItem, StoreError> {
    Ok(ConfigurationItem {
        id: row.id,
        class: row.class.parse().map_err(|e| StoreError::corrupt("cis.class", e))?,
        status: row.status.parse().map_err(|e| StoreError::corrupt("cis.status", e))?,
        name: row.name,
        owner_group_id: row.owner_group_id,
        attributes: serde_json::from_str(&row.attributes).map_err(|e| StoreError::corrupt("cis.attributes", e))?,
    })
}

fn relationship_from_row(row: ci_relationship::Model) -> Result<RelationshipRecord, StoreError> {
    Ok(RelationshipRecord {
        id: row.id,
        relationship: Relationship {
            source_id: row.source_id,
            kind: row.kind.parse().map_err(|e| StoreError::corrupt("ci_relationships.kind", e))?,
            target_id: row.target_id,
        },
    })
}

impl Store {
    async fn group_id(&self, conn: &impl sea_orm::ConnectionTrait, field: &str, name: &str) -> Result<i64, StoreError> {
        group::Entity::find()
            .filter(group::Column::Name.eq(name))
            .one(conn)
            .await?
            .map(|g| g.id)
            .ok_or_else(|| StoreError::unknown(field, "group", name))
    }

    /// Creates a configuration item.
    pub async fn create_ci(&self, input: CiInput) -> Result<ConfigurationItem, StoreError> {
        validate_ci(&input.name, &input.attributes)?;
        let txn = self.begin().await?;
        let owner = match &input.owner_group {
            Some(g) => Some(self.group_id(&*txn, "owner_group", g).await?),
            None => None,
        };
        let now = time::to_micros(time::now());
        let row = ci::ActiveModel {
            class: Set(input.class.as_str().to_owned()),
            name: Set(input.name.trim().to_owned()),
            status: Set(input.status.unwrap_or(CiStatus::Operational).as_str().to_owned()),
            owner_group_id: Set(owner),
            attributes: Set(input.attributes.to_string()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        txn.commit().await?;
        ci_from_row(row)
    }

    /// A configuration item by id.
    pub async fn get_ci(&self, id: i64) -> Result<ConfigurationItem, StoreError> {
        ci_from_row(ci::Entity::find_by_id(id).one(&self.read).await?.ok_or_else(|| StoreError::not_found("ci", id))?)
    }

    /// Edits a configuration item.
    pub async fn update_ci(&self, id: i64, patch: CiPatch) -> Result<ConfigurationItem, StoreError> {
        let txn = self.begin().await?;
        let current = ci::Entity::find_by_id(id).one(&*txn).await?.ok_or_else(|| StoreError::not_found("ci", id))?;
        let current_attributes: serde_json::Value = serde_json::from_str(&current.attributes).unwrap_or_default();
        validate_ci(patch.name.as_deref().unwrap_or(&current.name), patch.attributes.as_ref().unwrap_or(&current_attributes))?;
        let mut row: ci::ActiveModel = current.into();
        if let Some(c) = patch.class {
            row.class = Set(c.as_str().to_owned());
        }
        if let Some(n) = patch.name {
            row.name = Set(n.trim().to_owned());
        }
        if let Some(s) = patch.status {
            row.status = Set(s.as_str().to_owned());
        }
        if let Some(o) = patch.owner_group {
            let id = match o {
                Some(g) => Some(self.group_id(&*txn, "owner_group", &g).await?),
                None => None,
            };
            row.owner_group_id = Set(id);
        }
        if let Some(a) = patch.attributes {
            row.attributes = Set(a.to_string());
        }
        row.updated_at = Set(time::to_micros(time::now()));
        let row = row.update(&*txn).await?;
        txn.commit().await?;
        ci_from_row(row)
    }

    /// Deletes a configuration item and its relationships. Refused while
    /// incidents still reference it (history must stay intact).
    pub async fn delete_ci(&self, id: i64) -> Result<(), StoreError> {
        let txn = self.begin().await?;
        match ci::Entity::delete_by_id(id).exec(&*txn).await {
            Ok(r) if r.rows_affected == 0 => return Err(StoreError::not_found("ci", id)),
            Ok(_) => {}
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))) => {
                return Err(StoreError::Conflict {
                    field: "id".into(),
                    message: format!("CI {id} is referenced by incidents; retire it instead"),
                });
            }
            Err(e) => return Err(e.into()),
        }
        txn.commit().await?;
        Ok(())
    }

    /// CIs of a class and/or whose name contains `name_contains` ignoring
    /// case (`%` and `_` match themselves), by id, at most `limit`: the
    /// `cmdb.find` of the plugin interface, which matches the same on SQLite
    /// and PostgreSQL.
    pub async fn find_cis(
        &self,
        class: Option<CiClass>,
        name_contains: Option<&str>,
        limit: u64,
    ) -> Result<Vec<ConfigurationItem>, StoreError> {
        let mut q = ci::Entity::find().order_by_asc(ci::Column::Id).limit(limit);
        if let Some(c) = class {
            q = q.filter(ci::Column::Class.eq(c.as_str()));
        }
        if let Some(n) = name_contains.filter(|n| !n.is_empty()) {
            let escaped = n.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            q = q.filter(Expr::expr(Func::lower(Expr::col(ci::Column::Name))).like(LikeExpr::new(format!("%{escaped}%")).escape('\\')));
        }
        q.all(&self.read).await?.into_iter().map(ci_from_row).collect()
    }

    /// CIs whose name is one of `names` (ignoring case), by id: how alert
    /// labels find the CI they are about.
    pub async fn cis_named(&self, names: &[String]) -> Result<Vec<ConfigurationItem>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
        let rows = ci::Entity::find()
            .filter(Expr::expr(Func::lower(Expr::col(ci::Column::Name))).is_in(lower))
            .order_by_asc(ci::Column::Id)
            .all(&self.read)
            .await?;
        rows.into_iter().map(ci_from_row).collect()
    }

    /// CIs whose attribute `attribute` is one of `values` (as text), by id.
    /// The attributes are a JSON document, so candidates are found by their
    /// text and checked as JSON.
    pub async fn cis_with_attribute(&self, attribute: &str, values: &[String]) -> Result<Vec<ConfigurationItem>, StoreError> {
        let mut out: Vec<ConfigurationItem> = Vec::new();
        for value in values {
            let needle = serde_json::Value::String(value.clone()).to_string();
            let escaped = needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let rows = ci::Entity::find()
                .filter(Expr::col(ci::Column::Attributes).like(LikeExpr::new(format!("%{escaped}%")).escape('\\')))
                .order_by_asc(ci::Column::Id)
                .limit(50)
                .all(&self.read)
                .await?;
            for row in rows {
                let item = ci_from_row(row)?;
                let matches = item.attributes.get(attribute).is_some_and(|v| match v {
                    serde_json::Value::String(s) => s == value,
                    other => *other == serde_json::from_str::<serde_json::Value>(value).unwrap_or(serde_json::Value::Null),
                });
                if matches && !out.iter().any(|c| c.id == item.id) {
                    out.push(item);
                }
            }
        }
        Ok(out)
    }

    /// CIs filtered by class and name fragment, ordered by id after `after`.
    pub async fn list_cis(
        &self,
        class: Option<CiClass>,
        name_contains: Option<&str>,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<ConfigurationItem>, StoreError> {
        let mut q = ci::Entity::find().order_by_asc(ci::Column::Id).limit(limit);
        if let Some(c) = class {
            q = q.filter(ci::Column::Class.eq(c.as_str()));
        }
        if let Some(n) = name_contains {
            q = q.filter(ci::Column::Name.contains(n));
        }
        if let Some(a) = after {
            q = q.filter(ci::Column::Id.gt(a));
        }
        q.all(&self.read).await?.into_iter().map(ci_from_row).collect()
    }

    /// Relates two CIs.
    pub async fn create_relationship(&self, relationship: Relationship) -> Result<RelationshipRecord, StoreError> {
        if relationship.source_id == relationship.target_id {
            return Err(DomainError::invalid("target_id", "distinct", "a CI cannot relate to itself").into());
        }
        let txn = self.begin().await?;
        for (field, id) in [("source_id", relationship.source_id), ("target_id", relationship.target_id)] {
            if ci::Entity::find_by_id(id).one(&*txn).await?.is_none() {
                return Err(StoreError::unknown(field, "CI", id));
            }
        }
        let row = ci_relationship::ActiveModel {
            source_id: Set(relationship.source_id),
            kind: Set(relationship.kind.as_str().to_owned()),
            target_id: Set(relationship.target_id),
            created_at: Set(time::to_micros(time::now())),
            ..Default::default()
        };
        let row = match row.insert(&*txn).await {
            Ok(r) => r,
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
                return Err(StoreError::Conflict { field: "kind".into(), message: "this relationship already exists".into() });
            }
            Err(e) => return Err(e.into()),
        };
        txn.commit().await?;
        relationship_from_row(row)
    }

    /// Removes a relationship.
    pub async fn delete_relationship(&self, id: i64) -> Result<(), StoreError> {
        let txn = self.begin().await?;
        if ci_relationship::Entity::delete_by_id(id).exec(&*txn).await?.rows_affected == 0 {
            return Err(StoreError::not_found("relationship", id));
        }
        txn.commit().await?;
        Ok(())
    }

    /// Every relationship touching a CI, either side.
    pub async fn list_relationships(&self, ci_id: i64) -> Result<Vec<RelationshipRecord>, StoreError> {
        self.get_ci(ci_id).await?;
        ci_relationship::Entity::find()
            .filter(Condition::any().add(ci_relationship::Column::SourceId.eq(ci_id)).add(ci_relationship::Column::TargetId.eq(ci_id)))
            .order_by_asc(ci_relationship::Column::Id)
            .all(&self.read)
            .await?
            .into_iter()
            .map(relationship_from_row)
            .collect()
    }

    /// Walks relationships from a CI: downstream answers "what is hit if
    /// this fails", upstream "what does this need". One indexed query per
    /// level.
    pub async fn walk(&self, ci_id: i64, direction: Direction, depth: u32) -> Result<Vec<ImpactEntry>, StoreError> {
        self.get_ci(ci_id).await?;
        let mut walk = ImpactWalk::new(ci_id, direction, depth);
        while !walk.frontier().is_empty() {
            let frontier = walk.frontier().to_vec();
            let column = match direction {
                Direction::Upstream => ci_relationship::Column::SourceId,
                Direction::Downstream => ci_relationship::Column::TargetId,
            };
            let edges: Vec<Relationship> = ci_relationship::Entity::find()
                .filter(column.is_in(frontier))
                .all(&self.read)
                .await?
                .into_iter()
                .map(|r| relationship_from_row(r).map(|r| r.relationship))
                .collect::<Result<_, _>>()?;
            walk.advance(&edges);
        }
        let reached = walk.finish();
        let ids: Vec<i64> = reached.iter().map(|r| r.ci_id).collect();
        let mut cis: std::collections::HashMap<i64, ConfigurationItem> = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            for row in ci::Entity::find().filter(ci::Column::Id.is_in(chunk.to_vec())).all(&self.read).await? {
                let c = ci_from_row(row)?;
                cis.insert(c.id, c);
            }
        }
        Ok(reached
            .into_iter()
            .filter_map(|r| cis.remove(&r.ci_id).map(|ci| ImpactEntry { ci, depth: r.depth, via: r.via, from_id: r.from_id }))
            .collect())
    }
}
