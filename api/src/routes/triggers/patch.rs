//! `PATCH /api/v1/triggers/{id}`: edits a trigger by its id with a partial body (Phinite's
//! "Edit: update type, frequency, or target flow"; the upsert edits by slug). The fields are
//! the upsert's; each one sent replaces the trigger's, except `config`, which is merged into
//! the current config as a JSON Merge Patch (RFC 7396: an object merges key by key, `null`
//! removes a key), so `{"config": {"recurrence": "daily"}}` changes the frequency alone. When
//! `type` changes, the merge starts from `{}`: the old type's config means nothing to the new
//! one. The result is checked exactly as an upsert is. Unknown fields are refused, each
//! named; nothing is written when the edit changes nothing.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde_json::{Map, Value};
use triggers::instances::{TriggerRecord, TriggerSpec};

use axum::http::StatusCode;
use utoipa::ToSchema;

use crate::body::JsonBody;
use crate::contract::triggers::{Trigger, TriggerResponse, MASKED_SECRET};
use crate::error::{ApiError, Detail, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, PayloadTooLarge, Unauthorized};
use crate::reply;
use crate::AppState;
use credentials::keys::KeyInfo;

// The fields a PATCH may send: the upsert's.
use super::UPSERT_FIELDS as FIELDS;

// A config read back and sent again carries the masked secret (`MASKED_SECRET`): it means
// "unchanged", never a new secret.

/// Edits a trigger by id: every field optional, each one sent replaces the trigger's, except
/// `config`, merged into the current config (JSON Merge Patch, RFC 7396; from `{}` when `type`
/// changes). The result is checked as an upsert is. Any other field is refused. Read by
/// [`TriggerPatch::parse`], which names every problem at once.
#[derive(Debug, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"type": "scheduler",
    "config": {"startTime": "2026-12-07T09:00:00", "recurrence": "daily", "timezone": "Europe/London"}}))]
pub(crate) struct TriggerPatch {
    #[serde(rename = "type")]
    #[schema(value_type = Option<crate::contract::triggers::TriggerKind>, nullable = false)]
    kind: Option<String>,
    #[schema(nullable = false)]
    workflow_id: Option<String>,
    /// Merged into the trigger's config: a key set to `null` is removed.
    #[schema(value_type = Option<Object>, nullable = false)]
    config: Option<Map<String, Value>>,
    /// `null` clears it.
    #[schema(value_type = Option<String>)]
    connection_id: Option<Option<String>>,
    #[schema(value_type = Option<Value>)]
    webhook_data: Option<Option<Value>>,
    #[schema(value_type = Option<String>)]
    provider_id: Option<Option<String>>,
    #[schema(value_type = Option<String>)]
    trigger_name: Option<Option<String>>,
    /// None: unchanged (also for `"status": null`, as in an upsert).
    #[serde(rename = "status")]
    #[schema(value_type = Option<crate::contract::triggers::TriggerStatusInput>)]
    enabled: Option<bool>,
}

impl TriggerPatch {
    /// Reads the body; every problem is named at once.
    fn parse(body: Value) -> Result<TriggerPatch, ApiError> {
        let Value::Object(fields) = body else {
            return Err(ApiError::invalid_field(&[], "must be a JSON object"));
        };
        let mut details = Vec::new();
        let mut patch = TriggerPatch::default();
        for (name, value) in fields {
            match name.as_str() {
                "type" => patch.kind = required_text(&name, value, &mut details),
                "workflowId" => patch.workflow_id = required_text(&name, value, &mut details),
                "config" => match value {
                    Value::Object(config) => patch.config = Some(config),
                    _ => details.push(Detail::new(
                        &["config"],
                        "must be an object, merged into the trigger's config",
                    )),
                },
                "connectionId" => patch.connection_id = optional_text(&name, value, &mut details),
                "providerId" => patch.provider_id = optional_text(&name, value, &mut details),
                "triggerName" => patch.trigger_name = optional_text(&name, value, &mut details),
                "webhookData" => patch.webhook_data = Some(Some(value).filter(|v| !v.is_null())),
                "status" if value.is_null() => {}
                "status" => match super::parse_status(&value, "status") {
                    Ok(enabled) => patch.enabled = Some(enabled),
                    Err(_) => details.push(Detail::new(
                        &["status"],
                        "must be \"enabled\" or \"disabled\"",
                    )),
                },
                _ => details.push(Detail::new(
                    &[name.as_str()],
                    format!(
                        "is not a field of a trigger; expected {}",
                        FIELDS.join(", ")
                    ),
                )),
            }
        }
        if details.is_empty() {
            return Ok(patch);
        }
        let names: Vec<String> = details.iter().map(|d| d.path.join(".")).collect();
        Err(ApiError::Validation {
            message: format!("invalid fields: {}", names.join(", ")),
            details,
        })
    }

    /// The spec this edit makes of `record`, as the client writes it (type by its name).
    fn apply(&self, record: &TriggerRecord) -> TriggerSpec {
        let mut spec = record.written_spec();
        let kind_changes = self.kind.as_ref().is_some_and(|kind| *kind != spec.kind);
        if let Some(kind) = &self.kind {
            spec.kind = kind.clone();
        }
        if let Some(workflow_id) = &self.workflow_id {
            spec.workflow_id = workflow_id.clone();
        }
        if kind_changes {
            spec.config = Value::Object(Map::new());
        }
        if let Some(config) = &self.config {
            let old_secret = record.spec.config.pointer("/signature/secret").cloned();
            if !spec.config.is_object() {
                spec.config = Value::Object(Map::new());
            }
            merge_patch(&mut spec.config, config);
            if let (Some(secret), Some(old)) =
                (spec.config.pointer_mut("/signature/secret"), old_secret)
            {
                if secret == MASKED_SECRET {
                    *secret = old;
                }
            }
        }
        if let Some(connection_id) = &self.connection_id {
            spec.connection_id = connection_id.clone();
        }
        if let Some(webhook_data) = &self.webhook_data {
            spec.webhook_data = webhook_data.clone();
        }
        if let Some(provider_id) = &self.provider_id {
            spec.provider_id = provider_id.clone();
        }
        if let Some(trigger_name) = &self.trigger_name {
            spec.trigger_name = trigger_name.clone();
        }
        spec
    }
}

fn required_text(name: &str, value: Value, details: &mut Vec<Detail>) -> Option<String> {
    match value {
        Value::String(text) => Some(text),
        _ => {
            details.push(Detail::new(&[name], "must be a string"));
            None
        }
    }
}

fn optional_text(name: &str, value: Value, details: &mut Vec<Detail>) -> Option<Option<String>> {
    match value {
        Value::String(text) => Some(Some(text)),
        Value::Null => Some(None),
        _ => {
            details.push(Detail::new(&[name], "must be a string or null"));
            None
        }
    }
}

/// RFC 7396 on an object target: each key of `patch` replaces the target's, `null` removes
/// it, and an object merges into an object.
fn merge_patch(target: &mut Value, patch: &Map<String, Value>) {
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                merge_patch(slot, inner);
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

/// Edit a trigger by id
///
/// Required scope: `triggers:write`. A partial body: each field sent replaces the trigger's,
/// except `config`, merged into the current config as a JSON Merge Patch (RFC 7396: `null`
/// removes a key; from `{}` when `type` changes), so `{"config": {"recurrence": "daily"}}`
/// changes a scheduler's frequency alone. The result is checked exactly as an upsert is; the
/// slug, id and webhook URL stay. A body that changes nothing writes nothing.
#[utoipa::path(
    patch,
    path = "/api/v1/triggers/{id}",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    request_body = TriggerPatch,
    responses(
        (status = 200, description = "The trigger as edited.", body = TriggerResponse),
        (status = 400, description = "VALIDATION_ERROR: a field that is not a trigger's, or of the wrong type (each named in `details`), or \"Trigger is invalid\" as for an upsert.", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "invalid fields: frequency",
                "details": [{"path": ["frequency"], "message": "is not a field of a trigger; expected type, workflowId, config, connectionId, status, webhookData, providerId, triggerName"}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\", or \"Workflow not found\" (`workflowId` names no workflow).", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the trigger kept changing under the edit; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let patch = TriggerPatch::parse(body)?;
    // As in an upsert, a new target flow must exist when it is named.
    if let Some(workflow_id) = &patch.workflow_id {
        state.runs.workflows().get(workflow_id).await?;
    }
    let trigger = state
        .triggers
        .update(&id, patch.enabled, Some(key.id.clone()), |record| {
            patch.apply(record)
        })
        .await?;
    state.trigger_runner.changed();
    Ok(reply::json(
        StatusCode::OK,
        &TriggerResponse::new(Trigger::of(&trigger, &headers)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_merges_objects_and_removes_nulls() {
        let mut target =
            json!({"cron": "0 9 * * *", "timezone": "UTC", "catchup": {"window": "1h"}});
        let patch = json!({"cron": null, "recurrence": "daily", "catchup": {"policy": "latest"}});
        merge_patch(&mut target, patch.as_object().expect("object"));
        assert_eq!(
            target,
            json!({"timezone": "UTC", "recurrence": "daily",
                   "catchup": {"window": "1h", "policy": "latest"}})
        );
    }

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let Err(ApiError::Validation { details, .. }) =
            TriggerPatch::parse(json!({"frequency": "daily", "type": 3, "status": "paused"}))
        else {
            panic!("refused");
        };
        let mut paths: Vec<String> = details.iter().map(|d| d.path.join(".")).collect();
        paths.sort();
        assert_eq!(paths, ["frequency", "status", "type"]);
    }
}
