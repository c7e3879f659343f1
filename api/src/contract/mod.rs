//! The contracts of the canonical `/api/v1` routes: every request and response body as a Rust
//! type. Responses derive `Serialize`, requests `Deserialize`, both `utoipa::ToSchema`; the
//! handlers in `routes/` build these types and serialize them, and deserialize (or check)
//! request bodies into them, so the OpenAPI document (`openapi`), generated from the same
//! types, says what the code does.
//!
//! - `envelope`: `{"success": true, "data"}`, list pages and their `pagination`. The error
//!   envelope is `error::ErrorEnvelope`.
//! - One module per resource: `workflows`, `runs`, `triggers`, `keys`, `connections`,
//!   `providers`, `operations`.
//!
//! Free-form user JSON (inputs, outputs, configs, schemas) stays `serde_json::Value`,
//! documented as an object or as any value. The engine's types stay free of OpenAPI: each
//! contract type converts from (or into) the engine's with an exhaustive destructuring, so a
//! field added on either side does not compile until the contract says what to do with it.
//!
//! Nothing here knows a status code: `#[utoipa::path]` on each handler names its statuses.

pub mod connections;
pub mod envelope;
pub mod keys;
pub mod operations;
pub mod providers;
pub mod runs;
pub mod triggers;
pub mod workflows;

pub use envelope::Pagination;
