//! Known errors: open problems published with a workaround
//! (`details.known_error`), matched to an incident by what they share
//! ([`switchyard_domain::known_errors::score`]).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use switchyard_domain::incident::{IncidentNumber, Status};
use switchyard_domain::kind::Kind;
use switchyard_domain::known_errors::{MatchFacts, Reason, score};

use crate::entity::incident;
use crate::error::StoreError;
use crate::incidents::load_incidents;
use crate::store::Store;

/// Most known errors considered (open problems published as known errors
/// are few; the newest are kept).
const MAX_CANDIDATES: u64 = 1_000;

/// A known error that applies to an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownErrorMatch {
    /// The problem.
    pub problem: IncidentNumber,
    /// Its number, `PRB-000004`.
    pub number: String,
    /// Its title.
    pub title: String,
    /// The workaround it publishes.
    pub workaround: String,
    /// How strongly it matches.
    pub score: u32,
    /// Why.
    pub reasons: Vec<Reason>,
}

impl KnownErrorMatch {
    /// The proposal as a sentence: "known error PRB-000004 applies: ...".
    pub fn proposal(&self) -> String {
        format!("Known error {} ({}) applies: workaround: {}", self.number, self.title, self.workaround)
    }
}

impl Store {
    /// The known errors that apply to a ticket, best first.
    pub async fn known_errors_for(&self, number: IncidentNumber) -> Result<Vec<KnownErrorMatch>, StoreError> {
        let ticket = self.get_incident(number).await?;
        let ids: Vec<i64> = incident::Entity::find()
            .select_only()
            .column(incident::Column::Id)
            .filter(incident::Column::Kind.eq(Kind::Problem.as_str()))
            .filter(incident::Column::Status.is_not_in([Status::Closed.as_str(), Status::Cancelled.as_str()]))
            .filter(incident::Column::Id.ne(number.0))
            .order_by_desc(incident::Column::Id)
            .limit(MAX_CANDIDATES)
            .into_tuple()
            .all(&self.read)
            .await?;
        let candidates = load_incidents(&self.read, &ids.into_iter().map(IncidentNumber).collect::<Vec<_>>()).await?;
        let i = &ticket.incident;
        let text = format!("{} {}", i.title, i.description);
        let facts = MatchFacts { cis: &i.affected_ci_ids, service: i.service_id, category: i.category.as_deref(), text: &text };
        let mut found: Vec<KnownErrorMatch> = candidates
            .iter()
            .filter(|p| p.incident.details.get("known_error").and_then(serde_json::Value::as_bool) == Some(true))
            .filter_map(|p| {
                let k = &p.incident;
                let workaround = k.details.get("workaround").and_then(serde_json::Value::as_str).unwrap_or("").to_owned();
                let known_text = format!("{} {} {workaround}", k.title, k.description);
                let known =
                    MatchFacts { cis: &k.affected_ci_ids, service: k.service_id, category: k.category.as_deref(), text: &known_text };
                let (score, reasons) = score(&facts, &known)?;
                Some(KnownErrorMatch { problem: k.number, number: k.display_number(), title: k.title.clone(), workaround, score, reasons })
            })
            .collect();
        found.sort_by(|a, b| b.score.cmp(&a.score).then(a.problem.cmp(&b.problem)));
        Ok(found)
    }
}
