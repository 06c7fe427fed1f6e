//! The application layer: who may do what, and the use cases both the JSON
//! API and the web pages call. A handler of either surface only translates
//! HTTP into a use case and its answer back.

pub mod attachments;
pub mod guard;
pub mod incidents;
pub mod login;
pub mod tickets;
