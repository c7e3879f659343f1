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

use crate::body::JsonBody;
use crate::error::{ApiError, Detail};
use crate::reply;
use crate::AppState;
use credentials::keys::KeyInfo;

// The fields a PATCH may send: the upsert's.
use super::UPSERT_FIELDS as FIELDS;

/// What a webhook signature's secret shows as (`super::trigger_json`). A config read back and
/// sent again carries it: it means "unchanged", never a new secret.
const MASKED_SECRET: &str = "********";

/// A checked PATCH body. For the optional fields, `Some(None)` clears the field.
#[derive(Debug, Default)]
struct TriggerPatch {
    kind: Option<String>,
    workflow_id: Option<String>,
    config: Option<Map<String, Value>>,
    connection_id: Option<Option<String>>,
    webhook_data: Option<Option<Value>>,
    provider_id: Option<Option<String>>,
    trigger_name: Option<Option<String>>,
    /// None: unchanged (also for `"status": null`, as in an upsert).
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

/// `PATCH /api/v1/triggers/{id}` (see the module): 200 with the trigger; 404 for an unknown
/// trigger or workflow; 400 naming each bad field.
pub(super) async fn edit(
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
    Ok(reply::ok(super::trigger_json(&trigger, &headers)))
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
