//! The HTTP API's types: every request and response body, the problem JSON and the
//! date-time format, as one crate that depends only on `weir-core`.
//!
//! The server writes responses from these types, the `weir` CLI reads them into the very
//! same types, and the web UI reads the same shapes; the OpenAPI document is derived from
//! them (`utoipa::ToSchema`), with Airflow's schema names. Roles, audit outcomes, task
//! kinds and states are enums here, never strings. Conversions from store records live in
//! the server, which is the only side that sees the store.

pub mod dag_sources;
pub mod pool_changes;
