//! Loading what edits name ([`References`]) from the database: users and
//! groups by name and by id, the memberships between them, and CI classes.
//! A few queries whatever the number of edits, so a batch of edits loads
//! its references once. Memberships are every membership of the loaded
//! groups.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use switchyard_domain::cmdb::CiClass;
use switchyard_domain::edit::{References, UserRef, Wanted};

use crate::entity::{ci, group, group_member, user};
use crate::error::StoreError;
use crate::store::Store;

/// Loads `wanted` through `conn` (inside a write transaction, so what is
/// checked is what the write sees).
pub(crate) async fn load(conn: &impl ConnectionTrait, wanted: &Wanted) -> Result<References, StoreError> {
    let mut r = References::default();
    let add_user = |r: &mut References, u: user::Model| -> Result<(), StoreError> {
        let role = u.role.parse().map_err(|e| StoreError::corrupt("users.role", e))?;
        r.user_names.insert(u.id, u.username.clone());
        r.users.insert(u.username, UserRef { id: u.id, role, active: u.active });
        Ok(())
    };
    if !wanted.usernames.is_empty() || !wanted.user_ids.is_empty() {
        let by = sea_orm::Condition::any()
            .add(user::Column::Username.is_in(wanted.usernames.iter().cloned()))
            .add(user::Column::Id.is_in(wanted.user_ids.iter().copied()));
        for u in user::Entity::find().filter(by).all(conn).await? {
            add_user(&mut r, u)?;
        }
    }
    if !wanted.group_names.is_empty() || !wanted.group_ids.is_empty() {
        let by = sea_orm::Condition::any()
            .add(group::Column::Name.is_in(wanted.group_names.iter().cloned()))
            .add(group::Column::Id.is_in(wanted.group_ids.iter().copied()));
        let rows: Vec<(i64, String)> =
            group::Entity::find().select_only().columns([group::Column::Id, group::Column::Name]).filter(by).into_tuple().all(conn).await?;
        for (id, name) in rows {
            r.group_names.insert(id, name.clone());
            r.groups.insert(name, id);
        }
    }
    if !wanted.ci_ids.is_empty() {
        let rows: Vec<(i64, String)> = ci::Entity::find()
            .select_only()
            .columns([ci::Column::Id, ci::Column::Class])
            .filter(ci::Column::Id.is_in(wanted.ci_ids.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        for (id, class) in rows {
            let class: CiClass = class.parse().map_err(|e| StoreError::corrupt("cis.class", e))?;
            r.cis.insert(id, class);
        }
    }
    // Every membership of the loaded groups (groups are small), so a user
    // loaded later can be checked against a group loaded now.
    if !r.groups.is_empty() {
        let gids: Vec<i64> = r.groups.values().copied().collect();
        let rows: Vec<(i64, i64)> = group_member::Entity::find()
            .select_only()
            .columns([group_member::Column::GroupId, group_member::Column::UserId])
            .filter(group_member::Column::GroupId.is_in(gids))
            .into_tuple()
            .all(conn)
            .await?;
        r.members.extend(rows);
    }
    Ok(r)
}

impl Store {
    /// What `wanted` names, read from the read pool (the engine's per-batch
    /// directory snapshot; writes re-check inside their transaction).
    pub async fn references(&self, wanted: &Wanted) -> Result<References, StoreError> {
        load(&self.read, wanted).await
    }
}
