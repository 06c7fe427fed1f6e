//! Plugin data: `kv` buckets, secrets, and agent load for the directory interface.
//!
//! - `kv` values live in `plugin_kv`, keyed by plugin, bucket and key, with
//!   an optional expiry (micros). Expired rows read as absent and are
//!   removed by [`Store::kv_purge_expired`]. Counters are decimal text, so a
//!   plugin can `get` what it `increment`s.
//! - Secrets live in `plugin_secrets`, set by administrators and read by the
//!   plugin host after it checked the grant. Listing never returns values,
//!   and nothing here logs them.
//! - [`Store::group_agents`] answers the `directory` interface: a group's
//!   active agents with their open incident counts.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use switchyard_domain::directory::Role;
use switchyard_domain::{DomainError, Violations};

use crate::entity::{group, group_member, incident, plugin_kv, plugin_secret, user};
use crate::error::StoreError;
use crate::incidents::open_statuses;
use crate::store::Store;
use crate::time;

/// Longest plugin id (the `plugin` columns).
const PLUGIN_MAX: usize = 64;
/// Longest kv bucket name.
const BUCKET_MAX: usize = 64;
/// Longest kv key.
const KEY_MAX: usize = 255;
/// Longest secret name.
const SECRET_NAME_MAX: usize = 128;
/// Largest secret value, in bytes.
const SECRET_VALUE_MAX: usize = 64 * 1024;

/// A group member who can take work, with their current load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLoad {
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Email address.
    pub email: Option<String>,
    /// Whether the agent is on shift.
    pub on_shift: bool,
    /// Skills.
    pub skills: Vec<String>,
    /// Incidents assigned to the agent that are still open (new, assigned,
    /// in progress or pending), in any group.
    pub open_tickets: u64,
}

/// Checks the coordinates of a kv entry against the column sizes.
fn check_kv(plugin: &str, bucket: &str, key: &str) -> Result<(), DomainError> {
    let mut v = Violations::default();
    for (field, value, max) in [("plugin", plugin, PLUGIN_MAX), ("bucket", bucket, BUCKET_MAX), ("key", key, KEY_MAX)] {
        let len = value.chars().count();
        v.check(len > max, field, "max_length", || format!("is {len} characters long; the limit is {max}"));
    }
    v.check(plugin.is_empty(), "plugin", "required", || "must not be empty".into());
    v.finish()
}

/// Checks an identifier made of `[a-z0-9._-]`, 1 to `max` characters.
fn check_name(v: &mut Violations, field: &str, value: &str, max: usize) {
    v.check(value.is_empty() || value.len() > max, field, "length", || format!("must be 1 to {max} characters"));
    let ok = value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    v.check(!value.is_empty() && !ok, field, "pattern", || format!("`{value}` must use only a-z, 0-9, '.', '_' and '-'"));
}

fn check_secret_key(plugin: &str, name: &str) -> Result<(), DomainError> {
    let mut v = Violations::default();
    check_name(&mut v, "plugin", plugin, PLUGIN_MAX);
    check_name(&mut v, "name", name, SECRET_NAME_MAX);
    v.finish()
}

/// Microseconds of a TTL, saturating.
fn ttl_micros(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX)
}

/// Rows whose expiry has not passed at `now` (micros).
fn live(now: i64) -> Condition {
    Condition::any().add(plugin_kv::Column::ExpiresAt.is_null()).add(plugin_kv::Column::ExpiresAt.gt(now))
}

impl Store {
    /// A kv value; an expired value reads as absent.
    pub async fn kv_get(&self, plugin: &str, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_kv(plugin, bucket, key)?;
        let now = time::to_micros(time::now());
        let row =
            plugin_kv::Entity::find_by_id((plugin.to_owned(), bucket.to_owned(), key.to_owned())).filter(live(now)).one(&self.read).await?;
        Ok(row.map(|r| r.value))
    }

    /// Writes a kv value (insert or replace), expiring after `ttl` if given.
    pub async fn kv_set(&self, plugin: &str, bucket: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), StoreError> {
        check_kv(plugin, bucket, key)?;
        let now = time::to_micros(time::now());
        let row = plugin_kv::ActiveModel {
            plugin: Set(plugin.to_owned()),
            bucket: Set(bucket.to_owned()),
            key: Set(key.to_owned()),
            value: Set(value),
            expires_at: Set(ttl.map(|t| now.saturating_add(ttl_micros(t)))),
        };
        let upsert = OnConflict::columns([plugin_kv::Column::Plugin, plugin_kv::Column::Bucket, plugin_kv::Column::Key])
            .update_columns([plugin_kv::Column::Value, plugin_kv::Column::ExpiresAt])
            .to_owned();
        let txn = self.begin().await?;
        plugin_kv::Entity::insert(row).on_conflict(upsert).exec_without_returning(&*txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes a kv value; absent is not an error.
    pub async fn kv_delete(&self, plugin: &str, bucket: &str, key: &str) -> Result<(), StoreError> {
        check_kv(plugin, bucket, key)?;
        let txn = self.begin().await?;
        plugin_kv::Entity::delete_by_id((plugin.to_owned(), bucket.to_owned(), key.to_owned())).exec(&*txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Atomically adds `delta` to a decimal integer counter and returns the
    /// new value. A missing or expired counter counts as 0 (and the result
    /// does not expire); a live counter keeps its expiry.
    ///
    /// It runs in one write transaction: on SQLite `BEGIN IMMEDIATE` takes
    /// the database write lock up front; on PostgreSQL the row is created if
    /// missing (`ON CONFLICT DO NOTHING` waits for a concurrent creator) and
    /// then locked with `SELECT ... FOR UPDATE`. So concurrent callers, in
    /// this process or another, never lose an increment.
    pub async fn kv_increment(&self, plugin: &str, bucket: &str, key: &str, delta: i64) -> Result<i64, StoreError> {
        check_kv(plugin, bucket, key)?;
        let id = (plugin.to_owned(), bucket.to_owned(), key.to_owned());
        let txn = self.begin().await?;
        let now = time::to_micros(time::now());
        let seed = plugin_kv::ActiveModel {
            plugin: Set(id.0.clone()),
            bucket: Set(id.1.clone()),
            key: Set(id.2.clone()),
            value: Set(b"0".to_vec()),
            expires_at: Set(None),
        };
        plugin_kv::Entity::insert(seed).on_conflict_do_nothing().exec_without_returning(&*txn).await?;
        let row = plugin_kv::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&*txn)
            .await?
            .ok_or_else(|| StoreError::corrupt("plugin_kv", format!("counter `{bucket}/{key}` vanished inside its transaction")))?;
        let (current, expires_at) = if row.expires_at.is_some_and(|e| e <= now) {
            (0, None)
        } else {
            let current = std::str::from_utf8(&row.value)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| DomainError::invalid("value", "integer", format!("kv `{bucket}/{key}` does not hold a decimal integer")))?;
            (current, row.expires_at)
        };
        let next = current.checked_add(delta).ok_or_else(|| {
            DomainError::invalid("delta", "overflow", format!("adding {delta} to kv `{bucket}/{key}` ({current}) would overflow"))
        })?;
        let mut row: plugin_kv::ActiveModel = row.into();
        row.value = Set(next.to_string().into_bytes());
        row.expires_at = Set(expires_at);
        row.update(&*txn).await?;
        txn.commit().await?;
        Ok(next)
    }

    /// Deletes every kv value expired at `now`; returns how many.
    pub async fn kv_purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let txn = self.begin().await?;
        let res = plugin_kv::Entity::delete_many().filter(plugin_kv::Column::ExpiresAt.lte(time::to_micros(now))).exec(&*txn).await?;
        txn.commit().await?;
        Ok(res.rows_affected)
    }

    /// Sets (creates or replaces) a plugin's secret. Plugin and name are
    /// `[a-z0-9._-]`, at most 64 and 128 characters.
    pub async fn set_secret(&self, plugin: &str, name: &str, value: &str) -> Result<(), StoreError> {
        let mut v = Violations::default();
        v.absorb(check_secret_key(plugin, name));
        v.check(value.len() > SECRET_VALUE_MAX, "value", "max_length", || format!("must be at most {SECRET_VALUE_MAX} bytes"));
        v.finish()?;
        let row = plugin_secret::ActiveModel {
            plugin: Set(plugin.to_owned()),
            name: Set(name.to_owned()),
            value: Set(value.to_owned()),
            updated_at: Set(time::to_micros(time::now())),
        };
        let upsert = OnConflict::columns([plugin_secret::Column::Plugin, plugin_secret::Column::Name])
            .update_columns([plugin_secret::Column::Value, plugin_secret::Column::UpdatedAt])
            .to_owned();
        let txn = self.begin().await?;
        plugin_secret::Entity::insert(row).on_conflict(upsert).exec_without_returning(&*txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes a plugin's secret; `false` when there was none.
    pub async fn delete_secret(&self, plugin: &str, name: &str) -> Result<bool, StoreError> {
        check_secret_key(plugin, name)?;
        let txn = self.begin().await?;
        let res = plugin_secret::Entity::delete_by_id((plugin.to_owned(), name.to_owned())).exec(&*txn).await?;
        txn.commit().await?;
        Ok(res.rows_affected > 0)
    }

    /// A plugin's secret value. The caller checks grants and must not log it.
    pub async fn secret(&self, plugin: &str, name: &str) -> Result<Option<String>, StoreError> {
        check_secret_key(plugin, name)?;
        let row = plugin_secret::Entity::find_by_id((plugin.to_owned(), name.to_owned())).one(&self.read).await?;
        Ok(row.map(|r| r.value))
    }

    /// `(plugin, name, updated_at)` of every secret, or of one plugin's,
    /// ordered by plugin then name. Values are never read.
    pub async fn list_secret_names(&self, plugin: Option<&str>) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError> {
        let mut q = plugin_secret::Entity::find()
            .select_only()
            .columns([plugin_secret::Column::Plugin, plugin_secret::Column::Name, plugin_secret::Column::UpdatedAt])
            .order_by_asc(plugin_secret::Column::Plugin)
            .order_by_asc(plugin_secret::Column::Name);
        if let Some(p) = plugin {
            q = q.filter(plugin_secret::Column::Plugin.eq(p));
        }
        let rows: Vec<(String, String, i64)> = q.into_tuple().all(&self.read).await?;
        Ok(rows.into_iter().map(|(p, n, at)| (p, n, time::from_micros(at))).collect())
    }

    /// The active agents (role agent or admin) of a group, by username, each
    /// with the number of open incidents assigned to them; `None` when the
    /// group does not exist. Three queries whatever the group's size: the
    /// group, its agents, and one grouped count of their open incidents.
    pub async fn group_agents(&self, group_name: &str) -> Result<Option<Vec<AgentLoad>>, StoreError> {
        let Some(g) = group::Entity::find().filter(group::Column::Name.eq(group_name)).one(&self.read).await? else {
            return Ok(None);
        };
        let agent_roles: Vec<&str> = Role::ALL.iter().filter(|r| r.is_agent()).map(|r| r.as_str()).collect();
        let members = Query::select()
            .column(group_member::Column::UserId)
            .from(group_member::Entity)
            .and_where(Expr::col(group_member::Column::GroupId).eq(g.id))
            .to_owned();
        let users = user::Entity::find()
            .filter(user::Column::Id.in_subquery(members))
            .filter(user::Column::Active.eq(true))
            .filter(user::Column::Role.is_in(agent_roles))
            .order_by_asc(user::Column::Username)
            .all(&self.read)
            .await?;
        let mut load: HashMap<i64, i64> = HashMap::new();
        if !users.is_empty() {
            let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
            let counts: Vec<(Option<i64>, i64)> = incident::Entity::find()
                .select_only()
                .column(incident::Column::AssigneeId)
                .column_as(Expr::col(incident::Column::Id).count(), "open")
                .filter(incident::Column::AssigneeId.is_in(ids))
                .filter(incident::Column::Status.is_in(open_statuses()))
                .group_by(incident::Column::AssigneeId)
                .into_tuple()
                .all(&self.read)
                .await?;
            load.extend(counts.into_iter().filter_map(|(id, n)| id.map(|id| (id, n))));
        }
        users
            .into_iter()
            .map(|u| {
                let open_tickets = load.get(&u.id).copied().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
                let skills = serde_json::from_str(&u.skills).map_err(|e| StoreError::corrupt("users.skills", e))?;
                Ok(AgentLoad {
                    username: u.username,
                    display_name: u.display_name,
                    email: u.email,
                    on_shift: u.on_shift,
                    skills,
                    open_tickets,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
            .map(Some)
    }

    /// Names of groups by id, in bulk (ids that do not exist are left out).
    pub async fn group_names(&self, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut names = HashMap::with_capacity(ids.len());
        for chunk in crate::batch::shaped(&ids) {
            let rows: Vec<(i64, String)> = group::Entity::find()
                .select_only()
                .columns([group::Column::Id, group::Column::Name])
                .filter(group::Column::Id.is_in(chunk.to_vec()))
                .into_tuple()
                .all(&self.read)
                .await?;
            names.extend(rows);
        }
        Ok(names)
    }
}

/// Where a kv value lives: plugin, bucket and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KvKey {
    /// Plugin id.
    pub plugin: String,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
}

impl std::fmt::Display for KvKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{}", self.plugin, self.bucket, self.key)
    }
}

/// One kv write a run made, applied when the run commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOp {
    /// Insert or replace, expiring after the TTL if given.
    Set {
        /// Where.
        key: KvKey,
        /// The value.
        value: Vec<u8>,
        /// Expiry.
        ttl: Option<Duration>,
    },
    /// Remove.
    Delete {
        /// Where.
        key: KvKey,
    },
    /// An increment whose result the run already handed to its plugin:
    /// it commits only if the stored counter plus `delta` is `result`
    /// (otherwise someone else's increment came first, and the run must
    /// run again to see the real value).
    Increment {
        /// Where.
        key: KvKey,
        /// How much was added.
        delta: i64,
        /// The value the plugin saw.
        result: i64,
    },
}

impl KvOp {
    /// Where it writes.
    pub fn key(&self) -> &KvKey {
        match self {
            KvOp::Set { key, .. } | KvOp::Delete { key } | KvOp::Increment { key, .. } => key,
        }
    }
}

/// A live kv value and its expiry (micros), as a batch commit sees it.
pub(crate) type KvValue = Option<(Vec<u8>, Option<i64>)>;

/// The value of a counter (absent or expired: 0 without expiry).
fn counter(value: &KvValue) -> Result<(i64, Option<i64>), String> {
    match value {
        None => Ok((0, None)),
        Some((bytes, expires)) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(|n| (n, *expires))
            .ok_or_else(|| "does not hold a decimal integer".to_owned()),
    }
}

/// Applies one run's kv ops to `view` (the batch's values so far) at
/// `now`; on a conflict returns the key and leaves `view` as it was.
pub(crate) fn apply_kv_ops(view: &mut HashMap<KvKey, KvValue>, ops: &[KvOp], now: i64) -> Result<(), KvKey> {
    let mut next = view.clone();
    for op in ops {
        match op {
            KvOp::Set { key, value, ttl } => {
                next.insert(key.clone(), Some((value.clone(), ttl.map(|t| now.saturating_add(ttl_micros(t))))));
            }
            KvOp::Delete { key } => {
                next.insert(key.clone(), None);
            }
            KvOp::Increment { key, delta, result } => {
                let slot = next.entry(key.clone()).or_insert(None);
                match counter(slot) {
                    Ok((current, expires)) if current.checked_add(*delta) == Some(*result) => {
                        *slot = Some((result.to_string().into_bytes(), expires));
                    }
                    _ => return Err(key.clone()),
                }
            }
        }
    }
    *view = next;
    Ok(())
}

impl crate::txn::WriteTxn {
    /// The live values of `keys`, locked until commit (PostgreSQL; on
    /// SQLite the transaction holds the database's write lock). Expired
    /// values read as absent.
    pub(crate) async fn lock_kv(&self, keys: &[KvKey], now: i64) -> Result<HashMap<KvKey, KvValue>, StoreError> {
        let mut values: HashMap<KvKey, KvValue> = keys.iter().map(|k| (k.clone(), None)).collect();
        let mut sorted = keys.to_vec();
        sorted.sort();
        sorted.dedup();
        for chunk in crate::batch::shaped(&sorted) {
            let mut any = Condition::any();
            for k in chunk {
                any = any.add(
                    Condition::all()
                        .add(plugin_kv::Column::Plugin.eq(k.plugin.as_str()))
                        .add(plugin_kv::Column::Bucket.eq(k.bucket.as_str()))
                        .add(plugin_kv::Column::Key.eq(k.key.as_str())),
                );
            }
            let rows = plugin_kv::Entity::find()
                .filter(any)
                .order_by_asc(plugin_kv::Column::Plugin)
                .order_by_asc(plugin_kv::Column::Bucket)
                .order_by_asc(plugin_kv::Column::Key)
                .lock_exclusive()
                .all(&self.txn)
                .await?;
            for r in rows {
                let live = r.expires_at.is_none_or(|e| e > now);
                let key = KvKey { plugin: r.plugin, bucket: r.bucket, key: r.key };
                values.insert(key, live.then_some((r.value, r.expires_at)));
            }
        }
        Ok(values)
    }

    /// Writes the final values of a batch: upserts in multi-row inserts,
    /// one delete per removed key.
    pub(crate) async fn write_kv(&self, values: HashMap<KvKey, KvValue>) -> Result<(), StoreError> {
        let mut upserts = Vec::new();
        for (k, v) in values {
            match v {
                Some((value, expires_at)) => upserts.push(plugin_kv::ActiveModel {
                    plugin: Set(k.plugin),
                    bucket: Set(k.bucket),
                    key: Set(k.key),
                    value: Set(value),
                    expires_at: Set(expires_at),
                }),
                None => {
                    plugin_kv::Entity::delete_by_id((k.plugin, k.bucket, k.key)).exec(&self.txn).await?;
                }
            }
        }
        let upsert = OnConflict::columns([plugin_kv::Column::Plugin, plugin_kv::Column::Bucket, plugin_kv::Column::Key])
            .update_columns([plugin_kv::Column::Value, plugin_kv::Column::ExpiresAt])
            .to_owned();
        for chunk in crate::batch::shaped(&upserts) {
            plugin_kv::Entity::insert_many(chunk.to_vec()).on_conflict(upsert.clone()).exec_without_returning(&self.txn).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> KvKey {
        KvKey { plugin: "p".into(), bucket: "b".into(), key: k.into() }
    }

    #[test]
    fn increments_commit_only_in_the_order_they_were_handed_out() {
        let mut view = HashMap::new();
        view.insert(key("n"), Some((b"4".to_vec(), None)));
        let inc = |result| KvOp::Increment { key: key("n"), delta: 1, result };
        assert_eq!(apply_kv_ops(&mut view, &[inc(6)], 0), Err(key("n")), "6 cannot follow 4");
        assert_eq!(apply_kv_ops(&mut view, &[inc(5)], 0), Ok(()));
        assert_eq!(apply_kv_ops(&mut view, &[inc(6)], 0), Ok(()));
        assert_eq!(view[&key("n")], Some((b"6".to_vec(), None)));
        // A failed run leaves the view as it was, even after a partial match.
        let two = [KvOp::Set { key: key("s"), value: b"x".to_vec(), ttl: None }, inc(9)];
        assert_eq!(apply_kv_ops(&mut view, &two, 0), Err(key("n")));
        assert!(!view.contains_key(&key("s")));
        // Absent counts as 0; set and delete are last-writer-wins.
        let fresh = [KvOp::Increment { key: key("m"), delta: 3, result: 3 }, KvOp::Delete { key: key("n") }];
        assert_eq!(apply_kv_ops(&mut view, &fresh, 0), Ok(()));
        assert_eq!(view[&key("n")], None);
        let text = [KvOp::Set { key: key("t"), value: b"abc".to_vec(), ttl: None }, KvOp::Increment { key: key("t"), delta: 1, result: 1 }];
        assert!(apply_kv_ops(&mut view, &text, 0).is_err(), "a non-integer cannot be incremented");
    }
}
