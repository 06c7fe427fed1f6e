//! Watchers: users who follow a ticket. They appear in the ticket
//! snapshot plugins and conditions see, notifications can name them all
//! (the recipient `watchers`), and every change to the list is a
//! `field_changed` entry on `watchers` in the same transaction.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use switchyard_domain::changes::FieldChange;
use switchyard_domain::history::HistoryEntry;
use switchyard_domain::incident::IncidentNumber;

use crate::entity::{incident, ticket_watcher, user};
use crate::error::StoreError;
use crate::history::Actor;
use crate::store::Store;
use crate::time;

/// Most watchers on one ticket.
pub const MAX_WATCHERS: usize = 100;

/// The watchers' usernames of the tickets `ids`, each list sorted.
pub(crate) async fn watchers_of(conn: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = ticket_watcher::Entity::find()
        .filter(ticket_watcher::Column::IncidentId.is_in(ids.to_vec()))
        .order_by_asc(ticket_watcher::Column::IncidentId)
        .all(conn)
        .await?;
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let user_ids: Vec<i64> = rows.iter().map(|r| r.user_id).collect();
    let names: HashMap<i64, String> =
        user::Entity::find().filter(user::Column::Id.is_in(user_ids)).all(conn).await?.into_iter().map(|u| (u.id, u.username)).collect();
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for r in rows {
        if let Some(name) = names.get(&r.user_id) {
            out.entry(r.incident_id).or_default().push(name.clone());
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    Ok(out)
}

impl Store {
    /// Adds (`watch = true`) or removes a watcher; answers the watchers
    /// after. A change that changes nothing writes nothing.
    pub async fn set_watching(
        &self,
        number: IncidentNumber,
        username: &str,
        watch: bool,
        actor: &Actor,
    ) -> Result<Vec<String>, StoreError> {
        let txn = self.begin().await?;
        if incident::Entity::find_by_id(number.0).one(&*txn).await?.is_none() {
            return Err(StoreError::not_found("incident", number));
        }
        let who = self.user_row(&*txn, username).await?;
        let before = watchers_of(&*txn, &[number.0]).await?.remove(&number.0).unwrap_or_default();
        let already = before.iter().any(|w| w == username);
        if already == watch {
            return Ok(before);
        }
        if watch {
            if before.len() >= MAX_WATCHERS {
                return Err(switchyard_domain::DomainError::invalid(
                    "watchers",
                    "max_items",
                    format!("{number} has {MAX_WATCHERS} watchers, the most a ticket may have"),
                )
                .into());
            }
            let row = ticket_watcher::ActiveModel {
                incident_id: Set(number.0),
                user_id: Set(who.id),
                created_at: Set(time::to_micros(time::now())),
            };
            ticket_watcher::Entity::insert(row).exec_without_returning(&*txn).await?;
        } else {
            ticket_watcher::Entity::delete_many()
                .filter(ticket_watcher::Column::IncidentId.eq(number.0))
                .filter(ticket_watcher::Column::UserId.eq(who.id))
                .exec(&*txn)
                .await?;
        }
        let mut after: Vec<String> = before.iter().filter(|w| *w != username).cloned().collect();
        if watch {
            after.push(username.to_owned());
            after.sort();
        }
        let now = time::now();
        incident::Entity::update_many()
            .col_expr(incident::Column::UpdatedAt, Expr::value(time::to_micros(now)))
            .filter(incident::Column::Id.eq(number.0))
            .exec(&*txn)
            .await?;
        let entry = HistoryEntry::change(FieldChange { field: "watchers".into(), old: json!(before), new: json!(after) });
        txn.append_events(now, [(actor, number, entry)]).await?;
        txn.commit().await?;
        Ok(after)
    }

    /// The watchers of one ticket.
    pub async fn watchers(&self, number: IncidentNumber) -> Result<Vec<String>, StoreError> {
        Ok(watchers_of(&self.read, &[number.0]).await?.remove(&number.0).unwrap_or_default())
    }
}
