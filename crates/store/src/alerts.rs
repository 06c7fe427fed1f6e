//! Integrations (monitoring and chat systems that talk to Switchyard, each
//! with its own secret token, stored as a SHA-256) and the alerts they
//! send, deduplicated by fingerprint.
//!
//! `alerts` holds one row per (integration, fingerprint): the incident it
//! feeds, whether it is firing, how often it fired, first and last seen.
//! [`Store::apply_alerts`] applies a payload's alerts in one transaction:
//! on PostgreSQL it first takes a transaction-scoped advisory lock per
//! fingerprint (in a fixed order), on SQLite the single writer serialises
//! the same way, so a storm of concurrent posts for one fingerprint opens
//! exactly one incident. A repeat only counts (no history entry); a state
//! change (opened, firing again, resolved, reopened within the flap
//! window) is one history entry.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use switchyard_domain::edit::Edit;
use switchyard_domain::incident::{IncidentNumber, ResolutionCode, Status};
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_domain::{DomainError, history::Visibility};

use crate::directory::{hash_token, sha256_hex};
use crate::entity::{alert, incident_event, integration};
use crate::error::{StoreError, stored_json};
use crate::history::Actor;
use crate::incidents::{CreateIncident, IncidentRecord, load_incidents};
use crate::notifications::{NewNotification, queued_row};
use crate::store::{Backend, Store};
use crate::time;
use crate::txn::{Topic, WriteTxn};

/// An integration as stored (never its token or secret).
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationRecord {
    /// Id.
    pub id: i64,
    /// Unique name (`prometheus`, `slack-desk`).
    pub name: String,
    /// `alertmanager`, `grafana`, `generic`, `slack` or `mattermost`.
    pub kind: String,
    /// Its settings document (checked by the engine before it is stored).
    pub settings: Value,
    /// Whether it is accepted.
    pub enabled: bool,
    /// Whether a signing secret is set.
    pub has_secret: bool,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Changed at.
    pub updated_at: DateTime<Utc>,
}

/// An integration to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIntegration {
    /// Unique name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Settings.
    pub settings: Value,
    /// A signing secret the other system gave us (Slack's signing secret,
    /// Mattermost's token), kept as given because verifying needs it.
    pub secret: Option<String>,
}

fn integration_from_row(row: integration::Model) -> Result<IntegrationRecord, StoreError> {
    Ok(IntegrationRecord {
        settings: stored_json("integrations.settings", &row.settings)?,
        id: row.id,
        name: row.name,
        kind: row.kind,
        enabled: row.enabled,
        has_secret: row.secret.is_some(),
        created_at: time::from_micros(row.created_at),
        updated_at: time::from_micros(row.updated_at),
    })
}

/// A new secret token for an integration: 256 random bits.
fn new_integration_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("syi_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn check_integration_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty() && name.len() <= 100 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(DomainError::invalid("name", "format", "1 to 100 letters, digits, `-` or `_`").into()) }
}

impl Store {
    /// Creates an integration; returns it with its secret token (shown once).
    pub async fn create_integration(&self, new: NewIntegration) -> Result<(IntegrationRecord, String), StoreError> {
        check_integration_name(&new.name)?;
        let token = new_integration_token();
        let now = time::to_micros(time::now());
        let txn = self.begin().await?;
        if integration::Entity::find().filter(integration::Column::Name.eq(&new.name)).one(&*txn).await?.is_some() {
            return Err(StoreError::Conflict { field: "name".into(), message: format!("integration `{}` exists", new.name) });
        }
        let row = integration::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            name: Set(new.name),
            kind: Set(new.kind),
            token_sha256: Set(hash_token(&token)),
            secret: Set(new.secret),
            settings: Set(new.settings.to_string()),
            enabled: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&*txn)
        .await
        .map_err(|e| crate::error::unique_as_conflict(e, "name", "an integration of this name exists"))?;
        txn.commit().await?;
        Ok((integration_from_row(row)?, token))
    }

    /// Integrations by name.
    pub async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        let rows = integration::Entity::find().order_by_asc(integration::Column::Name).all(&self.read).await?;
        rows.into_iter().map(integration_from_row).collect()
    }

    /// One integration by name.
    pub async fn integration(&self, name: &str) -> Result<IntegrationRecord, StoreError> {
        let row = integration::Entity::find()
            .filter(integration::Column::Name.eq(name))
            .one(&self.read)
            .await?
            .ok_or_else(|| StoreError::not_found("integration", name))?;
        integration_from_row(row)
    }

    /// An enabled integration and its signing secret, by name (chat
    /// requests are verified with the secret, not a URL token).
    pub async fn integration_with_secret(&self, name: &str) -> Result<Option<(IntegrationRecord, Option<String>)>, StoreError> {
        let row = integration::Entity::find()
            .filter(integration::Column::Name.eq(name))
            .filter(integration::Column::Enabled.eq(true))
            .one(&self.read)
            .await?;
        match row {
            Some(row) => {
                let secret = row.secret.clone();
                Ok(Some((integration_from_row(row)?, secret)))
            }
            None => Ok(None),
        }
    }

    /// The enabled integration whose token this is.
    pub async fn integration_by_token(&self, token: &str) -> Result<Option<IntegrationRecord>, StoreError> {
        let row = integration::Entity::find()
            .filter(integration::Column::TokenSha256.eq(hash_token(token)))
            .filter(integration::Column::Enabled.eq(true))
            .one(&self.read)
            .await?;
        row.map(integration_from_row).transpose()
    }

    /// Changes an integration's settings, secret or enabled flag.
    pub async fn update_integration(
        &self,
        name: &str,
        settings: Option<Value>,
        secret: Option<Option<String>>,
        enabled: Option<bool>,
    ) -> Result<IntegrationRecord, StoreError> {
        let txn = self.begin().await?;
        let row = integration::Entity::find()
            .filter(integration::Column::Name.eq(name))
            .one(&*txn)
            .await?
            .ok_or_else(|| StoreError::not_found("integration", name))?;
        let mut active: integration::ActiveModel = row.into();
        if let Some(s) = settings {
            active.settings = Set(s.to_string());
        }
        if let Some(s) = secret {
            active.secret = Set(s);
        }
        if let Some(e) = enabled {
            active.enabled = Set(e);
        }
        active.updated_at = Set(time::to_micros(time::now()));
        let row = active.update(&*txn).await?;
        txn.commit().await?;
        integration_from_row(row)
    }

    /// Gives an integration a new token (the old one stops working); returns it.
    pub async fn rotate_integration_token(&self, name: &str) -> Result<String, StoreError> {
        let token = new_integration_token();
        let txn = self.begin().await?;
        let res = integration::Entity::update_many()
            .col_expr(integration::Column::TokenSha256, sea_orm::sea_query::Expr::value(hash_token(&token)))
            .col_expr(integration::Column::UpdatedAt, sea_orm::sea_query::Expr::value(time::to_micros(time::now())))
            .filter(integration::Column::Name.eq(name))
            .exec(&*txn)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::not_found("integration", name));
        }
        txn.commit().await?;
        Ok(token)
    }

    /// Deletes an integration (its alerts' incidents stay).
    pub async fn delete_integration(&self, name: &str) -> Result<(), StoreError> {
        let txn = self.begin().await?;
        let Some(row) = integration::Entity::find().filter(integration::Column::Name.eq(name)).one(&*txn).await? else {
            return Err(StoreError::not_found("integration", name));
        };
        alert::Entity::delete_many().filter(alert::Column::IntegrationId.eq(row.id)).exec(&*txn).await?;
        integration::Entity::delete_by_id(row.id).exec(&*txn).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// One alert of a payload, with what to open if it needs a new incident.
#[derive(Debug, Clone)]
pub struct AlertInput {
    /// Its fingerprint (dedup key within the integration).
    pub fingerprint: String,
    /// Firing (or resolved).
    pub firing: bool,
    /// Its title.
    pub title: String,
    /// Its severity as the monitoring system named it.
    pub severity: Option<String>,
    /// Its labels (a JSON object).
    pub labels: Value,
    /// The incident to open when this alert needs one.
    pub incident: CreateIncident,
}

/// How an integration treats its alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRules {
    /// A resolved alert resolves its incident (else it only adds a note).
    pub resolve: bool,
    /// Firing again this soon after resolving reopens the incident.
    pub flap_window: Duration,
}

/// What came of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertOutcome {
    /// It opened an incident.
    Opened,
    /// A repeat of an open incident's alert (counted).
    Attached,
    /// It fired again within the flap window and reopened its incident.
    Reopened,
    /// It resolved, and resolved its incident.
    Resolved,
    /// It resolved; the incident stays open with a note (taken over by a
    /// person, or the integration only notes).
    Noted,
    /// Nothing to do (a resolve of nothing open, a repeated resolve).
    Ignored,
}

impl AlertOutcome {
    /// The stable name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertOutcome::Opened => "opened",
            AlertOutcome::Attached => "attached",
            AlertOutcome::Reopened => "reopened",
            AlertOutcome::Resolved => "resolved",
            AlertOutcome::Noted => "noted",
            AlertOutcome::Ignored => "ignored",
        }
    }
}

/// One alert applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedAlert {
    /// Its fingerprint.
    pub fingerprint: String,
    /// What came of it.
    pub outcome: AlertOutcome,
    /// The incident it feeds.
    pub incident: Option<IncidentNumber>,
    /// Times it fired while this incident was its incident.
    pub occurrences: i64,
}

/// The dedup record of one fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// Id.
    pub id: i64,
    /// Its integration.
    pub integration_id: i64,
    /// Fingerprint.
    pub fingerprint: String,
    /// The incident it feeds (the latest one).
    pub incident_id: i64,
    /// `firing` or `resolved`.
    pub status: String,
    /// Times it fired for this incident.
    pub occurrences: i64,
    /// First seen (for this incident).
    pub first_seen: DateTime<Utc>,
    /// Last seen.
    pub last_seen: DateTime<Utc>,
    /// When it last resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Option<String>,
    /// Labels.
    pub labels: Value,
}

fn alert_from_row(row: alert::Model) -> Result<AlertRecord, StoreError> {
    Ok(AlertRecord {
        labels: stored_json("alerts.labels", &row.labels)?,
        id: row.id,
        integration_id: row.integration_id,
        fingerprint: row.fingerprint,
        incident_id: row.incident_id,
        status: row.status,
        occurrences: row.occurrences,
        first_seen: time::from_micros(row.first_seen),
        last_seen: time::from_micros(row.last_seen),
        resolved_at: row.resolved_at.map(time::from_micros),
        title: row.title,
        severity: row.severity,
    })
}

const FIRING: &str = "firing";
const RESOLVED: &str = "resolved";

/// The PostgreSQL advisory lock key of a fingerprint.
fn lock_key(integration_id: i64, fingerprint: &str) -> i64 {
    let hex = sha256_hex(format!("alert:{integration_id}:{fingerprint}").as_bytes());
    i64::from_str_radix(&hex[..15], 16).unwrap_or(0)
}

/// What queues an applied alert's deliveries: given the alert, what came
/// of it and its incident as it now is.
pub type AlertDeliveries = dyn Fn(&AlertInput, &AppliedAlert, Option<&IncidentRecord>) -> Vec<NewNotification> + Send + Sync;

/// Whether a database error means "try the whole payload again".
fn retryable(message: &str) -> bool {
    message.contains("ux_alerts_fingerprint") || message.contains("deadlock detected") || message.contains("40P01")
}

/// What to do with one alert, given its fingerprint's record and incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Open,
    Attach { refired: bool },
    Reopen(Status),
    Resolve,
    Note { taken_over: bool },
    Ignore,
}

/// What the decision needs of an incident: its status, whether it has an
/// assignee, whether it has a group.
type IncidentFacts = (Status, bool, bool);

fn facts(record: &IncidentRecord) -> IncidentFacts {
    (record.incident.status, record.incident.assignee_id.is_some(), record.incident.assignment_group_id.is_some())
}

/// The pure decision: the alert, its fingerprint's row (status and when it
/// resolved), its incident's facts, whether a person took the incident
/// over, the rules, now.
fn decide(
    firing: bool,
    row: Option<(&str, Option<i64>)>,
    incident: Option<IncidentFacts>,
    taken_over: bool,
    rules: &AlertRules,
    now: i64,
) -> Decision {
    let (Some((row_status, resolved_at)), Some((status, has_assignee, has_group))) = (row, incident) else {
        return if firing { Decision::Open } else { Decision::Ignore };
    };
    if firing {
        if status.is_open() {
            return Decision::Attach { refired: row_status == RESOLVED };
        }
        let within = resolved_at.is_some_and(|r| now - r <= rules.flap_window.num_microseconds().unwrap_or(i64::MAX));
        if status == Status::Resolved && within {
            if has_assignee {
                return Decision::Reopen(Status::InProgress);
            }
            if has_group {
                return Decision::Reopen(Status::Assigned);
            }
        }
        return Decision::Open;
    }
    if row_status == RESOLVED || !status.is_open() {
        return Decision::Ignore;
    }
    if rules.resolve && !taken_over { Decision::Resolve } else { Decision::Note { taken_over } }
}

impl Store {
    /// Applies a payload's alerts for `integration_id` in one transaction
    /// (see the module doc); `notify` queues deliveries (webhook
    /// subscriptions to `alert.received`) in the same transaction, given
    /// each applied alert and its incident as it now is. Retried when a concurrent writer on another
    /// node created the same fingerprint first.
    pub async fn apply_alerts(
        &self,
        integration_id: i64,
        actor: &Actor,
        inputs: &[AlertInput],
        rules: &AlertRules,
        notify: &AlertDeliveries,
    ) -> Result<Vec<AppliedAlert>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_apply_alerts(integration_id, actor, inputs, rules, notify).await {
                // A concurrent writer created the fingerprint first (another
                // node without the lock yet), PostgreSQL broke a deadlock with
                // an edit of one of the incidents, or a person changed one of
                // them meanwhile: nothing was written; apply again.
                Err(StoreError::Database(e)) if attempt < 5 && retryable(&e.to_string()) => {
                    tracing::debug!(error = %e, "applying the alerts again");
                }
                Err(StoreError::Conflict { field, .. }) if attempt < 5 && field == "version" => {
                    tracing::debug!("an incident changed while its alerts were applied; applying again");
                }
                other => return other,
            }
        }
    }

    async fn try_apply_alerts(
        &self,
        integration_id: i64,
        actor: &Actor,
        inputs: &[AlertInput],
        rules: &AlertRules,
        notify: &AlertDeliveries,
    ) -> Result<Vec<AppliedAlert>, StoreError> {
        let txn = self.begin().await?;
        let mut fingerprints: Vec<&str> = inputs.iter().map(|i| i.fingerprint.as_str()).collect();
        fingerprints.sort_unstable();
        fingerprints.dedup();
        if self.backend == Backend::Postgres {
            for fp in &fingerprints {
                let stmt = sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock($1)",
                    [lock_key(integration_id, fp).into()],
                );
                txn.execute_raw(stmt).await?;
            }
        }
        let mut rows: std::collections::HashMap<String, alert::Model> = std::collections::HashMap::new();
        for chunk in fingerprints.chunks(500) {
            for row in alert::Entity::find()
                .filter(alert::Column::IntegrationId.eq(integration_id))
                .filter(alert::Column::Fingerprint.is_in(chunk.iter().copied()))
                .all(&*txn)
                .await?
            {
                rows.insert(row.fingerprint.clone(), row);
            }
        }
        let numbers: Vec<IncidentNumber> = rows.values().map(|r| IncidentNumber(r.incident_id)).collect();
        let mut incidents: std::collections::HashMap<i64, IncidentRecord> =
            load_incidents(&*txn, &numbers).await?.into_iter().map(|r| (r.incident.number.0, r)).collect();
        let now = time::to_micros(time::now());
        let mut applied = Vec::with_capacity(inputs.len());
        let mut notifications = Vec::new();
        let mut dirty: std::collections::HashSet<String> = std::collections::HashSet::new();
        for input in inputs {
            let row = rows.get(&input.fingerprint);
            let incident = row.and_then(|r| incidents.get(&r.incident_id));
            let taken_over = match (input.firing, incident) {
                (false, Some(i)) if i.incident.status.is_open() => taken_over(&txn, i.incident.number).await?,
                _ => false,
            };
            let decision =
                decide(input.firing, row.map(|r| (r.status.as_str(), r.resolved_at)), incident.map(facts), taken_over, rules, now);
            let (outcome, number) = match decision {
                Decision::Open => {
                    let created = self.create_in(&txn, std::slice::from_ref(&input.incident)).await?.pop();
                    let record = created.ok_or_else(|| StoreError::corrupt("incidents", "a create returned nothing"))??;
                    let number = record.incident.number;
                    incidents.insert(number.0, record);
                    match rows.get_mut(&input.fingerprint) {
                        Some(r) => {
                            r.incident_id = number.0;
                            r.occurrences = 1;
                            r.first_seen = now;
                            r.resolved_at = None;
                        }
                        None => {
                            let fresh = alert::ActiveModel {
                                id: sea_orm::ActiveValue::NotSet,
                                integration_id: Set(integration_id),
                                fingerprint: Set(input.fingerprint.clone()),
                                incident_id: Set(number.0),
                                status: Set(FIRING.into()),
                                occurrences: Set(1),
                                first_seen: Set(now),
                                last_seen: Set(now),
                                resolved_at: Set(None),
                                title: Set(input.title.clone()),
                                severity: Set(input.severity.clone()),
                                labels: Set(input.labels.to_string()),
                            }
                            .insert(&*txn)
                            .await?;
                            rows.insert(input.fingerprint.clone(), fresh);
                        }
                    }
                    (AlertOutcome::Opened, Some(number))
                }
                Decision::Attach { refired } => {
                    let number = IncidentNumber(row.map_or(0, |r| r.incident_id));
                    if refired {
                        let note = format!("The alert is firing again: {}", input.title);
                        let record = txn.edit_incident(number, &Edit::note(note, Visibility::Internal), None, actor).await?;
                        incidents.insert(number.0, record);
                    }
                    let r = rows.get_mut(&input.fingerprint).expect("attach has a row");
                    r.occurrences += 1;
                    r.resolved_at = None;
                    (AlertOutcome::Attached, Some(number))
                }
                Decision::Reopen(to) => {
                    let number = IncidentNumber(row.map_or(0, |r| r.incident_id));
                    let edit = Edit::transition(TransitionRequest {
                        to: Some(to),
                        reason: Some(format!("The alert fired again within the flap window: {}", input.title)),
                        ..Default::default()
                    });
                    let record = txn.edit_incident(number, &edit, None, actor).await?;
                    incidents.insert(number.0, record);
                    let r = rows.get_mut(&input.fingerprint).expect("reopen has a row");
                    r.occurrences += 1;
                    r.resolved_at = None;
                    (AlertOutcome::Reopened, Some(number))
                }
                Decision::Resolve | Decision::Note { .. } => {
                    let number = IncidentNumber(row.map_or(0, |r| r.incident_id));
                    let edit = match decision {
                        Decision::Resolve => Edit::transition(TransitionRequest {
                            to: Some(Status::Resolved),
                            resolution_code: Some(ResolutionCode::SolvedPermanently),
                            resolution_notes: Some(format!("The monitoring system reports the alert resolved: {}", input.title)),
                            ..Default::default()
                        }),
                        Decision::Note { taken_over: true } => Edit::note(
                            format!("The alert resolved: {}. The incident stays open: a person has taken it over.", input.title),
                            Visibility::Internal,
                        ),
                        _ => Edit::note(format!("The alert resolved: {}.", input.title), Visibility::Internal),
                    };
                    let record = txn.edit_incident(number, &edit, None, actor).await?;
                    incidents.insert(number.0, record);
                    let r = rows.get_mut(&input.fingerprint).expect("resolve has a row");
                    r.resolved_at = Some(now);
                    let outcome = if decision == Decision::Resolve { AlertOutcome::Resolved } else { AlertOutcome::Noted };
                    (outcome, Some(number))
                }
                Decision::Ignore => (AlertOutcome::Ignored, row.map(|r| IncidentNumber(r.incident_id))),
            };
            if let Some(r) = rows.get_mut(&input.fingerprint) {
                r.status = if input.firing { FIRING.into() } else { RESOLVED.into() };
                r.last_seen = now;
                r.title = input.title.clone();
                r.severity = input.severity.clone();
                r.labels = input.labels.to_string();
                dirty.insert(input.fingerprint.clone());
            }
            let done = AppliedAlert {
                fingerprint: input.fingerprint.clone(),
                outcome,
                incident: number,
                occurrences: rows.get(&input.fingerprint).map_or(0, |r| r.occurrences),
            };
            notifications.extend(notify(input, &done, number.and_then(|n| incidents.get(&n.0))));
            applied.push(done);
        }
        for fp in dirty {
            let r = rows.get(&fp).expect("dirty rows exist");
            alert::Entity::update_many()
                .col_expr(alert::Column::IncidentId, r.incident_id.into())
                .col_expr(alert::Column::Status, r.status.clone().into())
                .col_expr(alert::Column::Occurrences, r.occurrences.into())
                .col_expr(alert::Column::FirstSeen, r.first_seen.into())
                .col_expr(alert::Column::LastSeen, r.last_seen.into())
                .col_expr(alert::Column::ResolvedAt, r.resolved_at.into())
                .col_expr(alert::Column::Title, r.title.clone().into())
                .col_expr(alert::Column::Severity, r.severity.clone().into())
                .col_expr(alert::Column::Labels, r.labels.clone().into())
                .filter(alert::Column::Id.eq(r.id))
                .exec(&*txn)
                .await?;
        }
        if !notifications.is_empty() {
            let rows: Vec<_> = notifications.into_iter().map(|n| queued_row(n, now)).collect();
            for chunk in crate::batch::shaped(&rows) {
                crate::entity::notification::Entity::insert_many(chunk.to_vec()).exec_without_returning(&*txn).await?;
            }
            txn.wrote(Topic::Notifications);
        }
        txn.commit().await?;
        Ok(applied)
    }

    /// The alerts feeding an incident.
    pub async fn alerts_of(&self, number: IncidentNumber) -> Result<Vec<AlertRecord>, StoreError> {
        let rows =
            alert::Entity::find().filter(alert::Column::IncidentId.eq(number.0)).order_by_asc(alert::Column::Id).all(&self.read).await?;
        rows.into_iter().map(alert_from_row).collect()
    }

    /// An integration's alerts, most recently seen first.
    pub async fn list_alerts(&self, integration_id: i64, limit: u64) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = alert::Entity::find()
            .filter(alert::Column::IntegrationId.eq(integration_id))
            .order_by_desc(alert::Column::LastSeen)
            .limit(limit)
            .all(&self.read)
            .await?;
        rows.into_iter().map(alert_from_row).collect()
    }
}

/// Whether a person worked the incident (any change or note by a user),
/// so the monitoring system no longer resolves it on its own.
async fn taken_over(txn: &WriteTxn, number: IncidentNumber) -> Result<bool, StoreError> {
    let row = incident_event::Entity::find()
        .filter(incident_event::Column::IncidentId.eq(number.0))
        .filter(incident_event::Column::ActorKind.eq("user"))
        .filter(incident_event::Column::Kind.ne("acknowledged"))
        .limit(1)
        .one(&**txn)
        .await?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let rules = AlertRules { resolve: true, flap_window: Duration::minutes(10) };
        let now = 1_000_000_000_000;
        let minute = 60_000_000;
        let open = (Status::InProgress, true, true);
        let resolved = (Status::Resolved, true, true);
        let resolved_unassigned = (Status::Resolved, false, true);
        let resolved_nobody = (Status::Resolved, false, false);
        let closed = (Status::Closed, true, true);
        type Case<'a> = (bool, Option<(&'a str, Option<i64>)>, Option<IncidentFacts>, bool, Decision);
        let cases: Vec<Case<'_>> = vec![
            (true, None, None, false, Decision::Open),
            (false, None, None, false, Decision::Ignore),
            (true, Some((FIRING, None)), Some(open), false, Decision::Attach { refired: false }),
            (true, Some((RESOLVED, Some(now - minute))), Some(open), false, Decision::Attach { refired: true }),
            (true, Some((RESOLVED, Some(now - minute))), Some(resolved), false, Decision::Reopen(Status::InProgress)),
            (true, Some((RESOLVED, Some(now - minute))), Some(resolved_unassigned), false, Decision::Reopen(Status::Assigned)),
            (true, Some((RESOLVED, Some(now - minute))), Some(resolved_nobody), false, Decision::Open),
            (true, Some((RESOLVED, Some(now - 11 * minute))), Some(resolved), false, Decision::Open),
            (true, Some((RESOLVED, Some(now - minute))), Some(closed), false, Decision::Open),
            (false, Some((FIRING, None)), Some(open), false, Decision::Resolve),
            (false, Some((FIRING, None)), Some(open), true, Decision::Note { taken_over: true }),
            (false, Some((RESOLVED, Some(now))), Some(open), false, Decision::Ignore),
            (false, Some((FIRING, None)), Some(resolved), false, Decision::Ignore),
        ];
        for (firing, row, incident, taken, expected) in cases {
            assert_eq!(decide(firing, row, incident, taken, &rules, now), expected, "{firing} {row:?} {incident:?} {taken}");
        }
        let note_only = AlertRules { resolve: false, ..rules };
        assert_eq!(decide(false, Some((FIRING, None)), Some(open), false, &note_only, now), Decision::Note { taken_over: false });
    }
}
