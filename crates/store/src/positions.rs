//! Outbox positions: how far each reader of a log (the dispatcher, the SLA
//! tracker, ...) has got. A reader locks its row for the transaction in
//! which it reads the next entries and moves past them, so on PostgreSQL a
//! second node's reader waits, then reads the advanced value.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};

use crate::error::StoreError;
use crate::store::Store;
use crate::txn::WriteTxn;

const TABLE: &str = "engine_positions";

fn missing(name: &str) -> StoreError {
    StoreError::corrupt("engine_positions", format!("position `{name}` is missing"))
}

impl WriteTxn {
    /// Reads a named position, locking its row until commit.
    pub async fn lock_position(&self, name: &str) -> Result<i64, StoreError> {
        let stmt = Query::update()
            .table(TABLE)
            .value("value", Expr::col("value"))
            .and_where(Expr::col("name").eq(name))
            .returning_col("value")
            .to_owned();
        let row = self.txn.query_one(&stmt).await?.ok_or_else(|| missing(name))?;
        Ok(row.try_get("", "value")?)
    }

    /// Moves a named position.
    pub async fn set_position(&self, name: &str, value: i64) -> Result<(), StoreError> {
        let stmt = Query::update().table(TABLE).value("value", value).and_where(Expr::col("name").eq(name)).to_owned();
        self.txn.execute(&stmt).await?;
        Ok(())
    }
}

impl Store {
    /// A named position, without locking.
    pub async fn position(&self, name: &str) -> Result<i64, StoreError> {
        let stmt = Query::select().column("value").from(TABLE).and_where(Expr::col("name").eq(name)).to_owned();
        let row = self.read.query_one(&stmt).await?.ok_or_else(|| missing(name))?;
        Ok(row.try_get("", "value")?)
    }
}
