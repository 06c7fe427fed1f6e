//! Schema migrations for the Switchyard record store.
//!
//! Each migration is a sea-orm-migration step written with the portable
//! schema builder, so the same code creates the schema on SQLite and on
//! PostgreSQL. Migrations are ordered by name, applied automatically by
//! `switchyard serve` and explicitly by `switchyard migrate`, and each one
//! can be rolled back by its `down`.
//!
//! Conventions: timestamps are `BIGINT` microseconds since the Unix epoch
//! (sortable, identical on both databases); JSON documents are `TEXT`
//! written and read by the store; every list filter of the API has an
//! index that ends in the primary key so keyset pagination stays indexed.

pub use sea_orm_migration::prelude::*;

mod index_statement;
mod m20261123_000001_foundation;
mod m20261123_000002_workflows;
mod m20261201_000003_sla;
mod m20261203_000004_engine_v2;
mod m20261203_000005_delivery;
mod m20261204_000006_intake;
mod m20261204_000007_integrations;
mod m20261208_000008_tickets;

/// Runs Switchyard's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261123_000002_workflows::Migration),
            Box::new(m20261201_000003_sla::Migration),
            Box::new(m20261203_000004_engine_v2::Migration),
            Box::new(m20261203_000005_delivery::Migration),
            Box::new(m20261204_000006_intake::Migration),
            Box::new(m20261204_000007_integrations::Migration),
            Box::new(m20261208_000008_tickets::Migration),
        ]
    }
}
