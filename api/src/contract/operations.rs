//! Liveness and readiness answers.

use serde::Serialize;
use utoipa::ToSchema;

use super::envelope::success_envelope;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: String,
    /// The journal's last committed position.
    pub journal_position: u64,
}

success_envelope!(HealthResponse, Health);
success_envelope!(ReadyResponse, Ready);
