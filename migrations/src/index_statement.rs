//! The index statement every migration builds the same way.

use sea_orm_migration::prelude::*;

/// `CREATE INDEX name ON table (columns...)`.
pub(crate) fn index(table: &str, name: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table.to_owned());
    for column in columns {
        index.col(String::from(*column));
    }
    index.to_owned()
}
