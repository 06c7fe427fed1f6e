//! The Switchyard plugin host: it owns the wasmtime engine (pooling
//! allocator, epoch interruption, precompiled-component cache), the
//! `bindgen!` of the `switchyard:plugin@0.1.0` WIT contract, plugin
//! manifests (`plugin.toml`), capability grants and limits, the host side
//! of every plugin interface (log, kv, http allow-list, cmdb, tickets,
//! directory, secrets), config validation against each plugin's JSON
//! Schema, a hot-reloading registry of installed plugins, and the
//! integrator tools behind `switchyard plugin inspect` / `plugin test`.
//!
//! It must not depend on the store, the server or sea-orm: the data behind
//! the host interfaces comes through the async traits in [`services`]
//! ([`KvStore`], [`CmdbSource`], [`TicketSource`], [`DirectorySource`],
//! [`SecretStore`]), which the store implements later. The traits are async
//! because the store is async sea-orm; plugins run with wasmtime's async
//! support (`call_async` on a fiber), so a host call awaits the database
//! directly and a waiting guest does not block an executor thread.
//!
//! Running a step: [`PluginHost::load`] reads a manifest, compiles the
//! component (or loads it precompiled), refuses it if it imports anything
//! beyond its grants or does not implement the contract, and returns an
//! `Arc<`[`Plugin`]`>` holding an `InstancePre`. [`Plugin::run`] creates a
//! fresh `Store` per step with the plugin's memory cap and deadline (epoch
//! interruption for guest compute plus an outer timeout covering host
//! calls), runs `run`, and validates the result (action count, output
//! size, JSON) before handing back a host-side [`StepResult`]. The guest's
//! memory cap also bounds what lifting a hostile result can allocate on
//! the host before those checks run.
//!
//! One `unsafe` call exists: `Component::deserialize` for precompiled
//! artifacts the host itself wrote to its cache directory (see
//! `engine::deserialize_cached`). The crate therefore denies rather than
//! forbids `unsafe_code`.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod bindings;
mod engine;
mod error;
mod manifest;
pub mod model;
#[doc(hidden)]
pub mod raw;
mod registry;
mod schema;
pub mod services;
mod state;
pub mod tools;

pub use engine::{CONTRACT_PACKAGE, CONTRACT_VERSION, CompiledComponent, HostConfig, Plugin, PluginHost, StepOutcome};
pub use error::{PluginError, ServiceError};
pub use manifest::{Capabilities, Interface, Limits, Manifest, PluginKind, RequestedLimits, WorldName};
pub use model::{Action, StepError, StepInput, StepResult, Ticket, Trigger};
pub use registry::Registry;
pub use schema::ConfigSchema;
pub use services::{CmdbSource, DirectorySource, Fixtures, HostServices, KvStore, MemoryKv, SecretStore, TicketSource};
pub use state::check_http_url;
