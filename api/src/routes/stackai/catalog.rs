//! StackAI's provider trigger catalog (`GET /providers/{provider_id}/triggers[/{trigger_id}]`)
//! and what a `provider_id` + `trigger_id` pair makes. Two sources:
//!
//! - Duro's generic trigger types (`schedule`, `webhook`, `polling`, `manual`) are providers
//!   of one trigger each, whose id is the type; their config schemas stay with the type
//!   catalog (`triggers::catalog`), the one place that checks them. `scheduled` and `cron`
//!   name `schedule`. A generic provider's `trigger_id` is free: it names the instance.
//! - Provider triggers (`stripe`'s `on_customer_created`, ...) are the `triggers` of the
//!   provider files (built in, or `DURO_PROVIDERS_DIR`), so a new one needs no rebuild.

use engine::providers::trigger::ProviderTrigger;
use serde_json::{json, Value};
use triggers::catalog::TriggerType;

use super::fastapi::StackError;
use crate::error::ApiError;
use crate::AppState;

/// What a `provider_id` (+ `trigger_id`) names.
pub enum Source {
    Generic(TriggerType),
    Provider(Box<ProviderTrigger>),
}

impl Source {
    /// The Duro trigger type an instance is.
    pub fn kind(&self) -> &str {
        match self {
            Source::Generic(t) => t.kind,
            Source::Provider(p) => &p.kind,
        }
    }
}

/// The generic type a provider id names, if it names one (any case).
pub fn generic(provider_id: &str) -> Option<TriggerType> {
    let kind = match provider_id.to_ascii_lowercase().as_str() {
        "schedule" | "scheduled" | "cron" => "schedule",
        "webhook" => "webhook",
        "polling" => "polling",
        "manual" => "manual",
        _ => return None,
    };
    triggers::catalog::find(kind)
}

/// The provider triggers of `provider_id` in the provider files; None for an unknown
/// provider or one without triggers.
fn provider_entries(state: &AppState, provider_id: &str) -> Option<Vec<ProviderTrigger>> {
    let catalog = state.runs.catalog();
    let provider = catalog.provider(provider_id)?;
    (!provider.triggers.is_empty()).then(|| provider.triggers.clone())
}

/// Every provider id that has triggers, for messages.
fn known_providers(state: &AppState) -> String {
    let mut known: Vec<String> = ["schedule", "webhook", "polling", "manual"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    known.extend(
        state
            .runs
            .catalog()
            .providers()
            .filter(|p| !p.triggers.is_empty())
            .map(|p| p.id.clone()),
    );
    known.join(", ")
}

/// What a create body's `provider_id` and `trigger_id` name, or a 422 at the field at fault.
pub fn resolve(
    state: &AppState,
    provider_id: &str,
    trigger_id: &str,
) -> Result<Source, StackError> {
    if let Some(generic) = generic(provider_id) {
        return Ok(Source::Generic(generic));
    }
    let Some(entries) = provider_entries(state, provider_id) else {
        return Err(StackError::invalid(
            &["body", "provider_id"],
            format!(
                "unknown provider {provider_id:?}; providers with triggers: {}",
                known_providers(state)
            ),
            "value_error",
        ));
    };
    match entries.into_iter().find(|t| t.id == trigger_id) {
        Some(entry) => Ok(Source::Provider(Box::new(entry))),
        None => Err(StackError::invalid(
            &["body", "trigger_id"],
            format!(
                "{provider_id} has no trigger {trigger_id:?}; its triggers: {}",
                provider_trigger_ids(state, provider_id)
            ),
            "value_error",
        )),
    }
}

fn provider_trigger_ids(state: &AppState, provider_id: &str) -> String {
    provider_entries(state, provider_id)
        .unwrap_or_default()
        .iter()
        .map(|t| t.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A generic type as StackAI's catalog shows it.
fn generic_json(provider_id: &str, trigger_type: &TriggerType) -> Value {
    let kind = trigger_type.kind;
    json!({
        "trigger_type": kind,
        "provider_id": provider_id,
        "trigger_id": kind,
        "trigger_name": trigger_type.name,
        "description": trigger_type.description,
        "instructions": null,
        "icon": kind,
        "tags": [],
        "version": "1.0.0",
        "webhook_requires_verification": false,
        "can_get_test_samples": matches!(kind, "webhook" | "polling"),
        "trigger_config_schema": trigger_type.config_schema,
        "signature_scheme": null,
        "events": [],
    })
}

/// A provider trigger as StackAI's catalog shows it, with Duro's additions: its config
/// schema, signature scheme and events.
fn provider_json(provider_id: &str, entry: &ProviderTrigger) -> Value {
    json!({
        "trigger_type": entry.kind,
        "provider_id": provider_id,
        "trigger_id": entry.id,
        "trigger_name": entry.name,
        "description": entry.description,
        "instructions": entry.instructions,
        "icon": entry.icon.clone().unwrap_or_else(|| provider_id.to_owned()),
        "tags": entry.tags,
        "version": entry.version,
        "webhook_requires_verification": entry.webhook_requires_verification,
        "can_get_test_samples": entry.can_get_test_samples,
        "trigger_config_schema": entry.config_schema,
        "signature_scheme": entry.signature,
        "events": entry.events,
    })
}

fn not_found(what: String) -> StackError {
    StackError::Api(ApiError::NotFound(what))
}

/// Every trigger of `provider_id`, in StackAI's shape.
pub fn list(state: &AppState, provider_id: &str) -> Result<Vec<Value>, StackError> {
    if let Some(generic) = generic(provider_id) {
        return Ok(vec![generic_json(provider_id, &generic)]);
    }
    match provider_entries(state, provider_id) {
        Some(entries) => Ok(entries
            .iter()
            .map(|entry| provider_json(provider_id, entry))
            .collect()),
        None => Err(not_found(format!("Provider {provider_id} not found"))),
    }
}

/// One trigger of `provider_id`, in StackAI's shape.
pub fn one(state: &AppState, provider_id: &str, trigger_id: &str) -> Result<Value, StackError> {
    list(state, provider_id)?
        .into_iter()
        .find(|entry| entry["trigger_id"] == trigger_id)
        .ok_or_else(|| {
            not_found(format!(
                "Trigger {trigger_id} of provider {provider_id} not found"
            ))
        })
}
