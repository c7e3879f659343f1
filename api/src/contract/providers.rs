//! The provider catalog (`/api/v1/providers`): each provider with its actions' param
//! schemas, never how their requests are built.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::envelope::{page_envelope, success_envelope};

/// An action of a provider, as a step names it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAction {
    /// `{provider}.{action}`, as an action step's `action`.
    #[schema(example = "stripe.createInvoice")]
    pub id: String,
    /// The action's own id.
    pub name: String,
    pub description: String,
    pub endpoints: Vec<String>,
    /// The JSON Schema of the step's `params`.
    #[schema(value_type = Object)]
    pub params: Value,
    /// How many requests one call of the action sends.
    pub requests: u64,
}

/// A provider of the catalog (built-in, or a file of `DURO_PROVIDERS_DIR`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    #[schema(example = "stripe")]
    pub id: String,
    pub name: String,
    pub description: String,
    pub base_url: String,
    /// The connection kinds its actions accept.
    pub connection_kinds: Vec<String>,
    pub connection_required: bool,
    pub actions: Vec<ProviderAction>,
}

impl From<&engine::providers::Provider> for Provider {
    fn from(provider: &engine::providers::Provider) -> Provider {
        let actions = provider
            .actions
            .iter()
            .map(|action| ProviderAction {
                id: format!("{}.{}", provider.id, action.id),
                name: action.id.clone(),
                description: action.description.clone(),
                endpoints: action.endpoints.clone(),
                params: action.params.clone(),
                requests: action.requests.len() as u64,
            })
            .collect();
        Provider {
            id: provider.id.clone(),
            name: provider.name.clone(),
            description: provider.description.clone(),
            base_url: provider.base_url.clone(),
            connection_kinds: provider.connection_kinds.clone(),
            connection_required: provider.connection_required,
            actions,
        }
    }
}

success_envelope!(ProviderResponse, Provider);
page_envelope!(
    /// Every provider, in one page.
    ProviderListResponse,
    Provider
);
