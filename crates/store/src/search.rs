//! Full-text search over incidents' titles and descriptions: FTS5 on
//! SQLite (`incident_search`, kept in step by triggers), a weighted
//! `tsvector` with a GIN index on PostgreSQL (`incidents.search`, a
//! generated column). Both are written by the transaction that writes the
//! incident, so search never lags behind.
//!
//! A query is the words of the text (letters and digits; everything else
//! separates words), all required, each also matching as a prefix
//! (`connect` finds "connection"). Ranked results are BM25 on SQLite and
//! `ts_rank` (title weighted over description) on PostgreSQL, taken over
//! the newest [`RANK_WINDOW`] matches: a word that matches a large part of
//! the table is ranked among recent incidents, which keeps the cost of a
//! page bounded whatever the word.

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::error::StoreError;
use crate::store::Backend;

/// How many of the newest matches are ranked.
pub const RANK_WINDOW: u64 = 2000;

/// A parsed text query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextQuery {
    words: Vec<String>,
}

impl TextQuery {
    /// The words of `text`, lowercased, at most 16 of them; `None` when it
    /// has none (such a search matches nothing).
    pub(crate) fn parse(text: &str) -> Option<TextQuery> {
        let words: Vec<String> =
            text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).take(16).collect();
        (!words.is_empty()).then_some(TextQuery { words })
    }

    /// The FTS5 query: every word as a quoted prefix term.
    fn fts5(&self) -> String {
        self.words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" ")
    }

    /// The `to_tsquery('simple', ...)` text: every word as a prefix, all required.
    fn tsquery(&self) -> String {
        self.words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ")
    }

    /// A condition on `incidents.id` (or the row) for list filters.
    pub(crate) fn condition(&self, backend: Backend) -> SimpleExpr {
        match backend {
            Backend::Sqlite => {
                Expr::cust_with_values("incidents.id IN (SELECT rowid FROM incident_search WHERE incident_search MATCH ?)", [self.fts5()])
            }
            Backend::Postgres => Expr::cust_with_values("incidents.search @@ to_tsquery('simple', $1)", [self.tsquery()]),
        }
    }

    /// The ids of the best matches among the newest [`RANK_WINDOW`], best
    /// first, with their scores (higher is better).
    pub(crate) async fn ranked(&self, conn: &impl ConnectionTrait, backend: Backend) -> Result<Vec<(i64, f64)>, StoreError> {
        let stmt = match backend {
            Backend::Sqlite => Statement::from_sql_and_values(
                DbBackend::Sqlite,
                // bm25 is lower for better matches; title counts 3x.
                "SELECT id, -score FROM (SELECT rowid AS id, bm25(incident_search, 3.0, 1.0) AS score FROM incident_search \
                 WHERE incident_search MATCH ? ORDER BY rowid DESC LIMIT ?) ORDER BY score, id DESC",
                [self.fts5().into(), (RANK_WINDOW as i64).into()],
            ),
            Backend::Postgres => Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id, ts_rank(search, q)::float8 AS score FROM \
                 (SELECT id, search FROM incidents WHERE search @@ to_tsquery('simple', $1) ORDER BY id DESC LIMIT $2) m, \
                 to_tsquery('simple', $1) q ORDER BY score DESC, id DESC",
                [self.tsquery().into(), (RANK_WINDOW as i64).into()],
            ),
        };
        let rows = conn.query_all_raw(stmt).await?;
        rows.iter().map(|r| Ok((r.try_get_by_index::<i64>(0)?, r.try_get_by_index::<f64>(1)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_prefix_terms() {
        let q = TextQuery::parse("VPN   can't connect!").unwrap();
        assert_eq!(q.fts5(), "\"vpn\"* \"can\"* \"t\"* \"connect\"*");
        assert_eq!(q.tsquery(), "vpn:* & can:* & t:* & connect:*");
        assert_eq!(TextQuery::parse(" -- ?? "), None);
        // Quotes, operators and SQL never reach the query as syntax.
        let hostile = TextQuery::parse("\" OR 1=1; DROP TABLE incidents; NEAR(a b) *").unwrap();
        assert!(hostile.fts5().chars().all(|c| c.is_alphanumeric() || matches!(c, '"' | '*' | ' ')));
        assert_eq!(TextQuery::parse("Störung im Büro").unwrap().words, vec!["störung", "im", "büro"]);
    }
}
