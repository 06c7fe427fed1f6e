//! Users, groups, memberships, API tokens and password login.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};
use switchyard_domain::Violations;
use switchyard_domain::directory::{Group, Role, User, validate_group, validate_user};

use crate::entity::{api_token, group, group_member, user};
use crate::error::StoreError;
use crate::store::Store;
use crate::time;

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user.
    pub user: User,
    /// Names of the groups the user belongs to.
    pub groups: Vec<String>,
}

/// A new user.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    /// Unique login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Email address.
    pub email: Option<String>,
    /// Role.
    pub role: Option<Role>,
    /// Password for interactive login (optional: API-only accounts have none).
    pub password: Option<String>,
    /// Whether the agent is on shift.
    pub on_shift: Option<bool>,
    /// Skills.
    pub skills: Vec<String>,
}

/// A partial edit of a user.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New or cleared email.
    pub email: Option<Option<String>>,
    /// New role.
    pub role: Option<Role>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// On or off shift.
    pub on_shift: Option<bool>,
    /// Replacement skills.
    pub skills: Option<Vec<String>>,
    /// New password.
    pub password: Option<String>,
}

/// A group as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// The group.
    pub group: Group,
    /// The manager's username.
    pub manager: Option<String>,
    /// Members' usernames, sorted.
    pub members: Vec<String>,
}

/// A new group.
#[derive(Debug, Clone, Default)]
pub struct GroupInput {
    /// Unique name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Group mailbox.
    pub email: Option<String>,
    /// Manager's username.
    pub manager: Option<String>,
}

/// A partial edit of a group.
#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New or cleared mailbox.
    pub email: Option<Option<String>>,
    /// New or cleared manager (username).
    pub manager: Option<Option<String>>,
}

/// An API token's metadata (the secret itself is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Id.
    pub id: i64,
    /// Owner's username.
    pub username: String,
    /// What it is for.
    pub name: String,
    /// First characters of the token, to recognise it.
    pub prefix: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User id.
    pub user_id: i64,
    /// Username.
    pub username: String,
    /// Role.
    pub role: Role,
}

/// The stored form of an API token: hex SHA-256. Tokens are 256 random
/// bits, so a fast hash is enough (no dictionary to attack).
pub fn hash_token(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// Hex SHA-256 of some bytes (token hashes, attachment keys).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("sy_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

const PASSWORD_MIN: usize = 10;

fn check_password(v: &mut Violations, password: Option<&str>) {
    if let Some(p) = password {
        v.check(p.chars().count() < PASSWORD_MIN, "password", "min_length", || format!("must be at least {PASSWORD_MIN} characters"));
        v.check(p.len() > 1024, "password", "max_length", || "must be at most 1024 bytes".into());
    }
}

async fn hash_password(password: String) -> Result<String, StoreError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::corrupt("password salt", e))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::corrupt("password hash", e))
    })
    .await
    .map_err(|e| StoreError::corrupt("password hash task", e))?
}

fn role_of(s: &str) -> Result<Role, StoreError> {
    s.parse().map_err(|e| StoreError::corrupt("users.role", e))
}

pub(crate) fn user_from_row(row: user::Model) -> Result<User, StoreError> {
    Ok(User {
        id: row.id,
        role: role_of(&row.role)?,
        skills: serde_json::from_str(&row.skills).map_err(|e| StoreError::corrupt("users.skills", e))?,
        username: row.username,
        display_name: row.display_name,
        email: row.email,
        active: row.active,
        on_shift: row.on_shift,
    })
}

fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

impl Store {
    /// Number of users (zero means a fresh database).
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        Ok(user::Entity::find().count(&self.read).await?)
    }

    /// Creates a user.
    pub async fn create_user(&self, input: UserInput) -> Result<UserRecord, StoreError> {
        validate_user(&input.username, &input.display_name, input.email.as_deref(), &input.skills)?;
        let mut v = Violations::default();
        check_password(&mut v, input.password.as_deref());
        v.finish()?;
        let password_hash = match input.password {
            Some(p) => Some(hash_password(p).await?),
            None => None,
        };
        let now = time::to_micros(time::now());
        let row = user::ActiveModel {
            username: Set(input.username.clone()),
            display_name: Set(input.display_name.trim().to_owned()),
            email: Set(input.email),
            role: Set(input.role.unwrap_or(Role::Requester).as_str().to_owned()),
            active: Set(true),
            on_shift: Set(input.on_shift.unwrap_or(true)),
            skills: Set(serde_json::to_string(&input.skills).unwrap_or_else(|_| "[]".into())),
            password_hash: Set(password_hash),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let txn = self.begin().await?;
        match row.insert(&*txn).await {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict { field: "username".into(), message: format!("username `{}` is taken", input.username) });
            }
            Err(e) => return Err(e.into()),
        }
        txn.commit().await?;
        self.get_user(&input.username).await
    }

    /// Edits a user.
    pub async fn update_user(&self, username: &str, patch: UserPatch) -> Result<UserRecord, StoreError> {
        let current = self.user_row(&self.read, username).await?;
        let mut v = Violations::default();
        v.absorb(validate_user(
            username,
            patch.display_name.as_deref().unwrap_or(&current.display_name),
            patch.email.as_ref().map_or(current.email.as_deref(), |e| e.as_deref()),
            patch.skills.as_deref().unwrap_or(&[]),
        ));
        check_password(&mut v, patch.password.as_deref());
        v.finish()?;
        let password_hash = match patch.password {
            Some(p) => Some(hash_password(p).await?),
            None => None,
        };
        let mut row: user::ActiveModel = current.into();
        if let Some(d) = patch.display_name {
            row.display_name = Set(d.trim().to_owned());
        }
        if let Some(e) = patch.email {
            row.email = Set(e);
        }
        if let Some(r) = patch.role {
            row.role = Set(r.as_str().to_owned());
        }
        if let Some(a) = patch.active {
            row.active = Set(a);
        }
        if let Some(s) = patch.on_shift {
            row.on_shift = Set(s);
        }
        if let Some(s) = patch.skills {
            row.skills = Set(serde_json::to_string(&s).unwrap_or_else(|_| "[]".into()));
        }
        if let Some(h) = password_hash {
            row.password_hash = Set(Some(h));
        }
        row.updated_at = Set(time::to_micros(time::now()));
        let txn = self.begin().await?;
        row.update(&*txn).await?;
        txn.commit().await?;
        self.get_user(username).await
    }

    pub(crate) async fn user_row(&self, conn: &impl ConnectionTrait, username: &str) -> Result<user::Model, StoreError> {
        user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(conn)
            .await?
            .ok_or_else(|| StoreError::not_found("user", username))
    }

    /// A user by username.
    pub async fn get_user(&self, username: &str) -> Result<UserRecord, StoreError> {
        let row = self.user_row(&self.read, username).await?;
        let id = row.id;
        let user = user_from_row(row)?;
        let group_ids: Vec<i64> = group_member::Entity::find()
            .filter(group_member::Column::UserId.eq(id))
            .all(&self.read)
            .await?
            .into_iter()
            .map(|m| m.group_id)
            .collect();
        let groups = group::Entity::find()
            .filter(group::Column::Id.is_in(group_ids))
            .order_by_asc(group::Column::Name)
            .all(&self.read)
            .await?
            .into_iter()
            .map(|g| g.name)
            .collect();
        Ok(UserRecord { user, groups })
    }

    /// Users ordered by username, after `after` (keyset), at most `limit`.
    pub async fn list_users(&self, role: Option<Role>, after: Option<&str>, limit: u64) -> Result<Vec<User>, StoreError> {
        let mut q = user::Entity::find().order_by_asc(user::Column::Username).limit(limit);
        if let Some(role) = role {
            q = q.filter(user::Column::Role.eq(role.as_str()));
        }
        if let Some(after) = after {
            q = q.filter(user::Column::Username.gt(after));
        }
        q.all(&self.read).await?.into_iter().map(user_from_row).collect()
    }

    /// Creates a group.
    pub async fn create_group(&self, input: GroupInput) -> Result<GroupRecord, StoreError> {
        validate_group(&input.name, &input.display_name, input.email.as_deref())?;
        let txn = self.begin().await?;
        let manager_id = match &input.manager {
            Some(m) => Some(self.user_row(&*txn, m).await.map_err(|_| StoreError::unknown("manager", "user", m))?.id),
            None => None,
        };
        let now = time::to_micros(time::now());
        let row = group::ActiveModel {
            name: Set(input.name.clone()),
            display_name: Set(input.display_name.trim().to_owned()),
            email: Set(input.email),
            manager_id: Set(manager_id),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        match row.insert(&*txn).await {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict { field: "name".into(), message: format!("group `{}` already exists", input.name) });
            }
            Err(e) => return Err(e.into()),
        }
        txn.commit().await?;
        self.get_group(&input.name).await
    }

    /// Edits a group.
    pub async fn update_group(&self, name: &str, patch: GroupPatch) -> Result<GroupRecord, StoreError> {
        let txn = self.begin().await?;
        let current = self.group_row(&*txn, name).await?;
        validate_group(
            name,
            patch.display_name.as_deref().unwrap_or(&current.display_name),
            patch.email.as_ref().map_or(current.email.as_deref(), |e| e.as_deref()),
        )?;
        let mut row: group::ActiveModel = current.into();
        if let Some(d) = patch.display_name {
            row.display_name = Set(d.trim().to_owned());
        }
        if let Some(e) = patch.email {
            row.email = Set(e);
        }
        if let Some(m) = patch.manager {
            let id = match m {
                Some(m) => Some(self.user_row(&*txn, &m).await.map_err(|_| StoreError::unknown("manager", "user", &m))?.id),
                None => None,
            };
            row.manager_id = Set(id);
        }
        row.updated_at = Set(time::to_micros(time::now()));
        row.update(&*txn).await?;
        txn.commit().await?;
        self.get_group(name).await
    }

    pub(crate) async fn group_row(&self, conn: &impl ConnectionTrait, name: &str) -> Result<group::Model, StoreError> {
        group::Entity::find().filter(group::Column::Name.eq(name)).one(conn).await?.ok_or_else(|| StoreError::not_found("group", name))
    }

    /// A group by name, with its manager and members.
    pub async fn get_group(&self, name: &str) -> Result<GroupRecord, StoreError> {
        let row = self.group_row(&self.read, name).await?;
        let member_ids: Vec<i64> = group_member::Entity::find()
            .filter(group_member::Column::GroupId.eq(row.id))
            .all(&self.read)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        let members = user::Entity::find()
            .filter(user::Column::Id.is_in(member_ids))
            .order_by_asc(user::Column::Username)
            .all(&self.read)
            .await?
            .into_iter()
            .map(|u| u.username)
            .collect();
        let manager = match row.manager_id {
            Some(id) => user::Entity::find_by_id(id).one(&self.read).await?.map(|u| u.username),
            None => None,
        };
        Ok(GroupRecord {
            group: Group { id: row.id, name: row.name, display_name: row.display_name, email: row.email, manager_id: row.manager_id },
            manager,
            members,
        })
    }

    /// Groups ordered by name, after `after`, at most `limit`.
    pub async fn list_groups(&self, after: Option<&str>, limit: u64) -> Result<Vec<Group>, StoreError> {
        let mut q = group::Entity::find().order_by_asc(group::Column::Name).limit(limit);
        if let Some(after) = after {
            q = q.filter(group::Column::Name.gt(after));
        }
        Ok(q.all(&self.read)
            .await?
            .into_iter()
            .map(|g| Group { id: g.id, name: g.name, display_name: g.display_name, email: g.email, manager_id: g.manager_id })
            .collect())
    }

    /// Adds a user to a group (idempotent).
    pub async fn add_member(&self, group_name: &str, username: &str) -> Result<GroupRecord, StoreError> {
        let txn = self.begin().await?;
        let g = self.group_row(&*txn, group_name).await?;
        let u = self.user_row(&*txn, username).await.map_err(|_| StoreError::unknown("username", "user", username))?;
        let exists = group_member::Entity::find_by_id((g.id, u.id)).one(&*txn).await?.is_some();
        if !exists {
            group_member::ActiveModel { group_id: Set(g.id), user_id: Set(u.id) }.insert(&*txn).await?;
        }
        txn.commit().await?;
        self.get_group(group_name).await
    }

    /// Removes a user from a group.
    pub async fn remove_member(&self, group_name: &str, username: &str) -> Result<GroupRecord, StoreError> {
        let txn = self.begin().await?;
        let g = self.group_row(&*txn, group_name).await?;
        let u = self.user_row(&*txn, username).await?;
        let res = group_member::Entity::delete_by_id((g.id, u.id)).exec(&*txn).await?;
        if res.rows_affected == 0 {
            return Err(StoreError::not_found("membership", format!("{username} in {group_name}")));
        }
        txn.commit().await?;
        self.get_group(group_name).await
    }

    /// Issues an API token for a user; returns its record and the secret,
    /// which is stored only as a hash.
    pub async fn create_token(
        &self,
        username: &str,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(TokenRecord, String), StoreError> {
        let mut v = Violations::default();
        switchyard_domain::incident::check_text(&mut v, "name", name, 100, true);
        v.finish()?;
        self.insert_token(username, name, expires_at, new_token()).await
    }

    /// Stores a token whose secret the caller chose (the bootstrap admin
    /// token from `SWITCHYARD_ADMIN_TOKEN`).
    pub async fn insert_token(
        &self,
        username: &str,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
        secret: String,
    ) -> Result<(TokenRecord, String), StoreError> {
        let txn = self.begin().await?;
        let u = self.user_row(&*txn, username).await?;
        let row = api_token::ActiveModel {
            user_id: Set(u.id),
            name: Set(name.to_owned()),
            token_hash: Set(hash_token(&secret)),
            prefix: Set(secret.chars().take(10).collect()),
            created_at: Set(time::to_micros(time::now())),
            expires_at: Set(expires_at.map(time::to_micros)),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        txn.commit().await?;
        Ok((token_record(row, u.username), secret))
    }

    /// A user's tokens, newest first.
    pub async fn list_tokens(&self, username: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let u = self.user_row(&self.read, username).await?;
        let rows = api_token::Entity::find()
            .filter(api_token::Column::UserId.eq(u.id))
            .order_by_desc(api_token::Column::Id)
            .all(&self.read)
            .await?;
        Ok(rows.into_iter().map(|r| token_record(r, u.username.clone())).collect())
    }

    /// Revokes a token by id; returns the hash so callers can drop caches.
    pub async fn revoke_token(&self, id: i64) -> Result<String, StoreError> {
        let txn = self.begin().await?;
        let row = api_token::Entity::find_by_id(id).one(&*txn).await?.ok_or_else(|| StoreError::not_found("token", id))?;
        let hash = row.token_hash.clone();
        if row.revoked_at.is_none() {
            let mut row: api_token::ActiveModel = row.into();
            row.revoked_at = Set(Some(time::to_micros(time::now())));
            row.update(&*txn).await?;
        }
        txn.commit().await?;
        Ok(hash)
    }

    /// Revokes a token given its secret (signing out); returns its hash
    /// when there was such a token, so callers can drop caches.
    pub async fn revoke_token_secret(&self, secret: &str) -> Result<Option<String>, StoreError> {
        let hash = hash_token(secret);
        let txn = self.begin().await?;
        let res = api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(time::to_micros(time::now())))
            .filter(api_token::Column::TokenHash.eq(hash.as_str()))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok((res.rows_affected > 0).then_some(hash))
    }

    /// The principal behind a bearer token, if it is valid, unexpired,
    /// unrevoked and its user active.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let Some(t) = api_token::Entity::find().filter(api_token::Column::TokenHash.eq(hash_token(token))).one(&self.read).await? else {
            return Ok(None);
        };
        let now = time::to_micros(time::now());
        if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        let Some(u) = user::Entity::find_by_id(t.user_id).one(&self.read).await? else { return Ok(None) };
        if !u.active {
            return Ok(None);
        }
        Ok(Some(Principal { user_id: u.id, username: u.username, role: role_of(&u.role)? }))
    }

    /// Checks a password. Unknown users cost the same time as wrong
    /// passwords, so usernames cannot be probed by timing.
    pub async fn verify_password(&self, username: &str, password: &str) -> Result<Option<Principal>, StoreError> {
        let row = user::Entity::find().filter(user::Column::Username.eq(username)).one(&self.read).await?;
        let stored = row.as_ref().and_then(|u| u.password_hash.clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            // A fixed hash to verify against when there is none, to spend the same time.
            const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c3dpdGNoeWFyZHNhbHQ$0E3wLE1kyCJB2S+Xx4hCsdxs7qBJyoF0OcpBBI+ZhVs";
            let hash = stored.unwrap_or_else(|| DUMMY.to_owned());
            PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        })
        .await
        .map_err(|e| StoreError::corrupt("password check", e))?;
        match row {
            Some(u) if ok && u.active && u.password_hash.is_some() => {
                Ok(Some(Principal { user_id: u.id, username: u.username, role: role_of(&u.role)? }))
            }
            _ => Ok(None),
        }
    }
}

fn token_record(row: api_token::Model, username: String) -> TokenRecord {
    TokenRecord {
        id: row.id,
        username,
        name: row.name,
        prefix: row.prefix,
        created_at: time::from_micros(row.created_at),
        expires_at: row.expires_at.map(time::from_micros),
        revoked_at: row.revoked_at.map(time::from_micros),
    }
}
