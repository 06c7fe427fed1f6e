//! Links between tickets: written once from source to target, shown on
//! both, recorded in both histories in the same transaction.
//!
//! The rules of what may link to what are the domain's
//! ([`switchyard_domain::links`]); this module adds what needs the
//! database: both tickets exist (the error names the missing number), a
//! ticket has at most one parent, and a parent link does not close a loop
//! (the target's ancestors are walked inside the transaction).

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use switchyard_domain::DomainError;
use switchyard_domain::history::{EventKind, HistoryEntry, Visibility};
use switchyard_domain::incident::{IncidentNumber, Status};
use switchyard_domain::kind::Kind;
use switchyard_domain::links::{End, LinkType, check_link, check_no_cycle};

use crate::entity::{incident, ticket_link};
use crate::error::StoreError;
use crate::history::Actor;
use crate::store::Store;
use crate::time;
use crate::txn::WriteTxn;

/// How deep a parent chain may be walked (a guard; loops are refused on
/// write, so a real chain is short).
const MAX_DEPTH: usize = 100;

/// A link as one of its ends sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLink {
    /// What the link says, read from its source.
    pub link_type: LinkType,
    /// Which end the ticket holding this view is.
    pub end: End,
    /// The ticket at the other end.
    pub other: IncidentNumber,
    /// Its human number, with its kind's prefix.
    pub other_number: String,
    /// Its kind.
    pub other_kind: Kind,
}

impl TicketLink {
    /// "caused by PRB-000004", "parent of INC-000012".
    pub fn describe(&self) -> String {
        format!("{} {}", self.link_type.label(self.end), self.other_number)
    }
}

/// A link with the other ticket's title and status, for pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedTicket {
    /// The link.
    pub link: TicketLink,
    /// The other ticket's title.
    pub title: String,
    /// The other ticket's status.
    pub status: Status,
}

/// The kind of a ticket row, or the not-found error naming `number` as it
/// was written.
async fn kind_of(conn: &impl ConnectionTrait, number: IncidentNumber, written: &str) -> Result<Kind, StoreError> {
    let kind: Option<String> =
        incident::Entity::find_by_id(number.0).select_only().column(incident::Column::Kind).into_tuple().one(conn).await?;
    let kind = kind.ok_or_else(|| StoreError::not_found("ticket", written))?;
    kind.parse().map_err(|e| StoreError::corrupt("incidents.kind", e))
}

/// Every link touching the tickets `ids`, as each end sees it.
pub(crate) async fn links_of(conn: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, Vec<TicketLink>>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = ticket_link::Entity::find()
        .filter(
            Condition::any().add(ticket_link::Column::SourceId.is_in(ids.to_vec())).add(ticket_link::Column::TargetId.is_in(ids.to_vec())),
        )
        .order_by_asc(ticket_link::Column::Id)
        .all(conn)
        .await?;
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let mut others: Vec<i64> = rows.iter().flat_map(|r| [r.source_id, r.target_id]).collect();
    others.sort_unstable();
    others.dedup();
    let kinds: HashMap<i64, Kind> = incident::Entity::find()
        .select_only()
        .column(incident::Column::Id)
        .column(incident::Column::Kind)
        .filter(incident::Column::Id.is_in(others))
        .into_tuple::<(i64, String)>()
        .all(conn)
        .await?
        .into_iter()
        .map(|(id, k)| Ok((id, k.parse().map_err(|e| StoreError::corrupt("incidents.kind", e))?)))
        .collect::<Result<_, StoreError>>()?;
    let mut out: HashMap<i64, Vec<TicketLink>> = HashMap::new();
    let wanted: std::collections::HashSet<i64> = ids.iter().copied().collect();
    for r in rows {
        let link_type: LinkType = r.link_type.parse().map_err(|e| StoreError::corrupt("ticket_links.link_type", e))?;
        for (me, end, other) in [(r.source_id, End::Source, r.target_id), (r.target_id, End::Target, r.source_id)] {
            if !wanted.contains(&me) {
                continue;
            }
            let other_kind = kinds.get(&other).copied().unwrap_or_default();
            out.entry(me).or_default().push(TicketLink {
                link_type,
                end,
                other: IncidentNumber(other),
                other_number: other_kind.number(other),
                other_kind,
            });
        }
    }
    Ok(out)
}

/// The parent of `id`, its parent and so on.
async fn ancestors(conn: &impl ConnectionTrait, id: i64) -> Result<Vec<i64>, StoreError> {
    let mut chain = Vec::new();
    let mut at = id;
    while chain.len() < MAX_DEPTH {
        let parent: Option<i64> = ticket_link::Entity::find()
            .select_only()
            .column(ticket_link::Column::TargetId)
            .filter(ticket_link::Column::SourceId.eq(at))
            .filter(ticket_link::Column::LinkType.eq(LinkType::Parent.as_str()))
            .into_tuple()
            .one(conn)
            .await?;
        match parent {
            Some(p) if !chain.contains(&p) => {
                chain.push(p);
                at = p;
            }
            _ => break,
        }
    }
    Ok(chain)
}

/// The history entry for a link added or removed, from one end.
fn link_entry(kind: EventKind, link: &TicketLink) -> HistoryEntry {
    let value = json!({"type": link.link_type, "end": link.end.as_str(), "number": link.other_number});
    let (old_value, new_value) = if kind == EventKind::Unlinked { (Some(value), None) } else { (None, Some(value)) };
    let verb = if kind == EventKind::Unlinked { "Unlinked: " } else { "Linked: " };
    HistoryEntry {
        kind,
        field: Some("links".into()),
        old_value,
        new_value,
        body: Some(format!("{verb}{}", link.describe())),
        visibility: Visibility::Public,
    }
}

impl WriteTxn {
    /// Links `source` to `target` inside this transaction and records it
    /// in both histories. `written` are the numbers as the caller wrote
    /// them, for errors.
    pub async fn link_tickets(
        &self,
        source: IncidentNumber,
        link_type: LinkType,
        target: IncidentNumber,
        written: (&str, &str),
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let source_kind = kind_of(&**self, source, written.0).await?;
        let target_kind = kind_of(&**self, target, written.1).await?;
        check_link(link_type, source_kind, target_kind, source == target)?;
        if link_type == LinkType::Parent {
            if let Some(parent) = ancestors(&**self, source.0).await?.first() {
                return Err(DomainError::invalid(
                    "target",
                    "one_parent",
                    format!("{} is already a child of {}; unlink it first", source_kind.number(source.0), Kind::Incident.number(*parent)),
                )
                .into());
            }
            check_no_cycle(source.0, &ancestors(&**self, target.0).await?)?;
        }
        let now = time::now();
        let row = ticket_link::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            source_id: Set(source.0),
            target_id: Set(target.0),
            link_type: Set(link_type.as_str().to_owned()),
            created_at: Set(time::to_micros(now)),
            created_by: Set(actor.user_id),
        };
        ticket_link::Entity::insert(row).exec_without_returning(&**self).await.map_err(|e| {
            crate::error::unique_as_conflict(
                e,
                "target",
                &format!("{} is already `{link_type}` {}", source_kind.number(source.0), target_kind.number(target.0)),
            )
        })?;
        self.record_link(EventKind::Linked, (source, source_kind), link_type, (target, target_kind), actor, now).await
    }

    /// Removes a link; `false` when there was none.
    pub async fn unlink_tickets(
        &self,
        source: IncidentNumber,
        link_type: LinkType,
        target: IncidentNumber,
        written: (&str, &str),
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let source_kind = kind_of(&**self, source, written.0).await?;
        let target_kind = kind_of(&**self, target, written.1).await?;
        let gone = ticket_link::Entity::delete_many()
            .filter(ticket_link::Column::SourceId.eq(source.0))
            .filter(ticket_link::Column::TargetId.eq(target.0))
            .filter(ticket_link::Column::LinkType.eq(link_type.as_str()))
            .exec(&**self)
            .await?;
        if gone.rows_affected == 0 {
            return Ok(false);
        }
        self.record_link(EventKind::Unlinked, (source, source_kind), link_type, (target, target_kind), actor, time::now()).await?;
        Ok(true)
    }

    async fn record_link(
        &self,
        kind: EventKind,
        (source, source_kind): (IncidentNumber, Kind),
        link_type: LinkType,
        (target, target_kind): (IncidentNumber, Kind),
        actor: &Actor,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let from_source =
            TicketLink { link_type, end: End::Source, other: target, other_number: target_kind.number(target.0), other_kind: target_kind };
        let from_target =
            TicketLink { link_type, end: End::Target, other: source, other_number: source_kind.number(source.0), other_kind: source_kind };
        incident::Entity::update_many()
            .col_expr(incident::Column::UpdatedAt, Expr::value(time::to_micros(now)))
            .filter(incident::Column::Id.is_in([source.0, target.0]))
            .exec(&**self)
            .await?;
        self.append_events(now, [(actor, source, link_entry(kind, &from_source)), (actor, target, link_entry(kind, &from_target))]).await
    }
}

impl Store {
    /// Links two tickets (see [`WriteTxn::link_tickets`]) in its own
    /// transaction.
    pub async fn link_tickets(
        &self,
        source: IncidentNumber,
        link_type: LinkType,
        target: IncidentNumber,
        written: (&str, &str),
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let txn = self.begin().await?;
        txn.link_tickets(source, link_type, target, written, actor).await?;
        txn.commit().await
    }

    /// Removes a link in its own transaction; `false` when there was none.
    pub async fn unlink_tickets(
        &self,
        source: IncidentNumber,
        link_type: LinkType,
        target: IncidentNumber,
        written: (&str, &str),
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let txn = self.begin().await?;
        let gone = txn.unlink_tickets(source, link_type, target, written, actor).await?;
        txn.commit().await?;
        Ok(gone)
    }

    /// A ticket's links with the other tickets' titles and statuses.
    pub async fn linked_tickets(&self, number: IncidentNumber) -> Result<Vec<LinkedTicket>, StoreError> {
        let links = links_of(&self.read, &[number.0]).await?.remove(&number.0).unwrap_or_default();
        let ids: Vec<i64> = links.iter().map(|l| l.other.0).collect();
        let rows: HashMap<i64, (String, String)> = incident::Entity::find()
            .select_only()
            .column(incident::Column::Id)
            .column(incident::Column::Title)
            .column(incident::Column::Status)
            .filter(incident::Column::Id.is_in(ids))
            .into_tuple::<(i64, String, String)>()
            .all(&self.read)
            .await?
            .into_iter()
            .map(|(id, t, s)| (id, (t, s)))
            .collect();
        links
            .into_iter()
            .filter_map(|link| {
                let (title, status) = rows.get(&link.other.0)?.clone();
                Some(status.parse().map_err(|e| StoreError::corrupt("incidents.status", e)).map(|status| LinkedTicket {
                    link,
                    title,
                    status,
                }))
            })
            .collect()
    }

    /// The ids of the tickets linked to `number` (either end), optionally
    /// by one link type only: for list filters.
    pub(crate) async fn linked_ids(&self, number: IncidentNumber, link_type: Option<LinkType>) -> Result<Vec<i64>, StoreError> {
        let links = links_of(&self.read, &[number.0]).await?.remove(&number.0).unwrap_or_default();
        Ok(links.into_iter().filter(|l| link_type.is_none_or(|t| t == l.link_type)).map(|l| l.other.0).collect())
    }

    /// The children of a parent ticket (their ids).
    pub async fn children_of(&self, parent: IncidentNumber) -> Result<Vec<IncidentNumber>, StoreError> {
        let ids: Vec<i64> = ticket_link::Entity::find()
            .select_only()
            .column(ticket_link::Column::SourceId)
            .filter(ticket_link::Column::TargetId.eq(parent.0))
            .filter(ticket_link::Column::LinkType.eq(LinkType::Parent.as_str()))
            .order_by_asc(ticket_link::Column::SourceId)
            .into_tuple()
            .all(&self.read)
            .await?;
        Ok(ids.into_iter().map(IncidentNumber).collect())
    }
}
