//! The trigger-type catalog: each kind of trigger with the JSON Schema of its `config`.
//! Upserts validate a trigger's config against its type's schema (the same validator and
//! problem paths as run input), so a bad config is refused before anything is stored.

use engine::definition::Problem;
use serde::Serialize;
use serde_json::{json, Value};

/// One kind of trigger.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerType {
    /// `schedule`, `webhook`, `polling`, `manual`, or Phinite's `scheduler` and `api`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub config_schema: Value,
}

pub fn catalog() -> Vec<TriggerType> {
    vec![
        TriggerType {
            kind: "schedule",
            name: "Schedule",
            description: "Runs the workflow on a cron expression or an interval, in a time zone.",
            config_schema: json!({
                "type": "object",
                "properties": {
                    "cron": { "type": "string", "description": "5 fields (minute hour day month weekday), 6 with seconds first, or @hourly, @daily, @weekly" },
                    "interval": { "type": "string", "description": "a duration like 15m or 2h30m" },
                    "timezone": { "type": "string", "default": "UTC", "description": "an IANA time zone" },
                    "overlap": { "enum": ["skip", "buffer_one", "allow_all"], "default": "skip" },
                    "catchup": { "description": "{window, policy: all | latest}, a policy, or false" },
                    "jitter": { "type": "string" },
                    "startTime": { "type": "string", "description": "no tick before it: a local date and time in the timezone (2026-12-07T09:00:00) or an RFC 3339 instant; intervals and recurrences count from it" },
                    "recurrence": { "description": "instead of cron or interval: hourly, daily, weekly (from startTime) or {\"cron\": \"...\"}" }
                },
                "oneOf": [ { "required": ["cron"] }, { "required": ["interval"] }, { "required": ["recurrence"] } ]
            }),
        },
        TriggerType {
            kind: "webhook",
            name: "Webhook",
            description: "Runs the workflow once per accepted delivery to the trigger's unguessable URL, with the body and selected headers as input.",
            config_schema: json!({
                "type": "object",
                "properties": {
                    "signature": {
                        "type": "object",
                        "properties": {
                            "scheme": { "enum": ["standard", "stripe", "github", "slack", "typeform", "hmac-sha256"] },
                            "secret": { "type": "string", "minLength": 1 }
                        },
                        "required": ["scheme", "secret"]
                    }
                }
            }),
        },
        TriggerType {
            kind: "polling",
            name: "Polling",
            description: "Fetches a URL on an interval and runs the workflow once per new item.",
            config_schema: json!({
                "type": "object",
                "properties": {
                    "url": { "type": "string", "minLength": 1 },
                    "interval": { "type": "string", "default": "5m" },
                    "itemsPointer": { "type": "string", "default": "" },
                    "idField": { "type": "string", "default": "id" },
                    "timestampField": { "type": "string", "description": "items newer than the cursor's last_processed_event_timestamp run; RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC) or Unix seconds" },
                    "polling_frequency": { "type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 100, "description": "StackAI's poll interval in milliseconds (a number or its digits); replaces interval" }
                },
                "required": ["url"]
            }),
        },
        TriggerType {
            kind: "manual",
            name: "Manual",
            description: "Runs the workflow only when fired (run now).",
            config_schema: json!({ "type": "object" }),
        },
        // Phinite (seed 003) names its two trigger kinds `scheduler` and `api`.
        TriggerType {
            kind: "scheduler",
            name: "Scheduler",
            description: "Runs the workflow at a start time, then hourly, daily, weekly or on a cron expression, in a time zone (a schedule in Phinite's terms).",
            config_schema: json!({
                "type": "object",
                "properties": {
                    "startTime": { "type": "string", "description": "the first run: a local date and time in the timezone (2026-12-07T09:00:00) or an RFC 3339 instant" },
                    "recurrence": { "description": "hourly, daily, weekly (counted from startTime) or {\"cron\": \"...\"}" },
                    "timezone": { "type": "string", "default": "UTC", "description": "an IANA time zone" },
                    "overlap": { "enum": ["skip", "buffer_one", "allow_all"], "default": "skip" },
                    "catchup": { "description": "{window, policy: all | latest}, a policy, or false" },
                    "jitter": { "type": "string" }
                },
                "required": ["startTime", "recurrence"]
            }),
        },
        TriggerType {
            kind: "api",
            name: "API",
            description: "Runs the workflow when its URL (apiUrl: POST /api/v1/triggers/{id}/invoke) is called with an API key holding workflows:execute; the body is the run's input.",
            config_schema: json!({ "type": "object" }),
        },
    ]
}

/// The type a trigger of `kind` runs as: a `scheduler` is a `schedule` (one engine, one
/// runner); every other kind is itself. The name the client used is kept for display.
pub fn runs_as(kind: &str) -> &str {
    match kind {
        "scheduler" => "schedule",
        other => other,
    }
}

pub fn find(kind: &str) -> Option<TriggerType> {
    catalog().into_iter().find(|t| t.kind == kind)
}

/// The config with the schema's defaults applied, or every problem with its path from the
/// trigger's root (`["config", "url"]`).
pub fn check_config(kind: &str, config: Value) -> Result<Value, Vec<Problem>> {
    let Some(trigger_type) = find(kind) else {
        let known: Vec<&str> = catalog().iter().map(|t| t.kind).collect();
        return Err(vec![Problem {
            path: vec!["type".into()],
            message: format!(
                "unknown trigger type {kind:?}; known types: {}",
                known.join(", ")
            ),
        }]);
    };
    let config = if config.is_null() { json!({}) } else { config };
    engine::input::prepare(Some(&trigger_type.config_schema), config).map_err(|problems| {
        problems
            .into_iter()
            .map(|mut problem| {
                problem.path.insert(0, "config".into());
                problem
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_checked_against_their_type() {
        let checked = check_config("polling", json!({"url": "http://x"})).expect("valid");
        assert_eq!(checked["idField"], "id", "defaults applied");
        let problems = check_config("polling", json!({})).expect_err("url missing");
        assert_eq!(problems[0].path, vec!["config", "url"]);
        let problems = check_config("carrier-pigeon", json!({})).expect_err("unknown");
        assert!(problems[0]
            .message
            .contains("schedule, webhook, polling, manual"));
        let problems = check_config(
            "webhook",
            json!({"signature": {"scheme": "md5", "secret": "s"}}),
        )
        .expect_err("unknown scheme");
        assert_eq!(problems[0].path, vec!["config", "signature", "scheme"]);
        assert!(check_config("schedule", json!({"timezone": "UTC"})).is_err());
        assert!(check_config("manual", Value::Null).is_ok());
        let problems = check_config("scheduler", json!({"recurrence": "hourly"}))
            .expect_err("start time missing");
        assert_eq!(problems[0].path, vec!["config", "startTime"]);
        assert_eq!(runs_as("scheduler"), "schedule");
        assert_eq!(runs_as("api"), "api");
    }
}
