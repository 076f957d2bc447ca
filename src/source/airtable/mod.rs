//! Airtable, the catalog's source of truth: a paced, retrying HTTP client (`client`, `limiter`),
//! the base schema and what each field type becomes (`schema`), config sections resolved to field
//! ids (`mapping`), cell typing (`cells`), the incremental sync of one table (`sync`) and of all
//! configured tables together (`tables`).

pub mod cells;
pub mod client;
pub mod limiter;
pub mod mapping;
pub mod schema;
pub mod sync;
pub mod tables;

pub use client::{AirtableClient, AirtableError, RetryPolicy};
pub use mapping::{Drift, TableMapping};
pub use schema::BaseSchema;
pub use sync::{sync_table, SyncOptions, TableReport};
pub use tables::{base_schemas, sync_tables};
