//! Workflow definitions: what users write (`WorkflowSpec`, the seed's JSON shape) and the
//! checked form the state machine runs (`Step`). Checking lists every problem with its path,
//! so a user fixes a definition in one round trip.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::duration::DurationMs;
use crate::retry::{RetryPolicy, RetrySpec};
use crate::template;

/// Most steps in one workflow.
pub const STEPS_MAX: usize = 200;
/// Longest step id, in bytes.
pub const STEP_ID_BYTES_MAX: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowStatus {
    Draft,
    Active,
    Inactive,
}

/// A workflow as users write it (seed 001's shape, plus seed 002's agent fields, which are
/// accepted and stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkflowStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Value>,
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
}

/// A step as users write it: `{"id", "type", "name", "config", "retry", "timeout"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepSpec {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub config: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Seed 001's `action` steps name the integration action here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// One thing wrong with a definition. `path` leads to it from the definition's root, as the
/// API's VALIDATION_ERROR details show it: `["steps", "2", "config", "duration"]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: Vec<String>,
    pub message: String,
}

/// A checked step, ready for the state machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    pub retry: RetryPolicy,
    pub timeout_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    /// Renders `mapping` (an object of templates); the result is the step's output.
    Transform { mapping: Value },
    /// An outbound HTTP request; `config` holds method, url, headers, body (templates).
    Http { config: Value },
    /// A durable sleep.
    Delay(DelaySpec),
    /// Pauses the run until it is resumed with a payload (the step's output), or times out.
    Wait {
        timeout_ms: Option<u64>,
        on_timeout: OnTimeout,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum DelaySpec {
    For {
        duration_ms: u64,
    },
    /// An RFC 3339 time, or a template yielding one; resolved by the executor.
    Until {
        time: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnTimeout {
    Fail,
    Continue,
}

const STEP_TYPES: &str = "transform, http, delay, wait";

impl WorkflowSpec {
    /// Checks the definition and returns its steps, or every problem found.
    pub fn check(&self) -> Result<Vec<Step>, Vec<Problem>> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(problem(&["name"], "must not be empty"));
        }
        if let Some(schema) = &self.input_schema {
            if !schema.is_object() {
                problems.push(problem(&["inputSchema"], "must be a JSON Schema object"));
            } else if let Err(message) = crate::input::check_schema(schema) {
                problems.push(problem(
                    &["inputSchema"],
                    &format!("not a valid JSON Schema: {message}"),
                ));
            }
        }
        if self.steps.is_empty() {
            problems.push(problem(&["steps"], "a workflow needs at least one step"));
        }
        if self.steps.len() > STEPS_MAX {
            problems.push(problem(
                &["steps"],
                &format!("at most {STEPS_MAX} steps are allowed"),
            ));
        }
        let mut steps = Vec::new();
        for (index, spec) in self.steps.iter().enumerate() {
            let at = |rest: &[&str]| -> Vec<String> {
                ["steps".to_string(), index.to_string()]
                    .into_iter()
                    .chain(rest.iter().map(|s| s.to_string()))
                    .collect()
            };
            let earlier: Vec<&str> = self.steps[..index].iter().map(|s| s.id.as_str()).collect();
            check_step_id(spec, &earlier, &at, &mut problems);
            check_templates(spec, &earlier, &at, &mut problems);
            if let Some(step) = check_step(spec, &at, &mut problems) {
                steps.push(step);
            }
        }
        if problems.is_empty() {
            Ok(steps)
        } else {
            Err(problems)
        }
    }
}

fn problem(path: &[&str], message: &str) -> Problem {
    Problem {
        path: path.iter().map(|s| s.to_string()).collect(),
        message: message.to_string(),
    }
}

fn check_step_id(
    spec: &StepSpec,
    earlier: &[&str],
    at: &dyn Fn(&[&str]) -> Vec<String>,
    problems: &mut Vec<Problem>,
) {
    let id = spec.id.as_str();
    let well_formed = !id.is_empty()
        && id.len() <= STEP_ID_BYTES_MAX
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !well_formed {
        problems.push(Problem {
            path: at(&["id"]),
            message: format!(
                "step id {id:?} must be 1 to {STEP_ID_BYTES_MAX} letters, digits, '-' or '_'"
            ),
        });
    }
    if earlier.contains(&id) {
        problems.push(Problem {
            path: at(&["id"]),
            message: format!("duplicate step id {id:?}"),
        });
    }
}

/// Every string in the config must be a valid template, and may only read the outputs of
/// steps that run before this one.
fn check_templates(
    spec: &StepSpec,
    earlier: &[&str],
    at: &dyn Fn(&[&str]) -> Vec<String>,
    problems: &mut Vec<Problem>,
) {
    let (errors, references) = template::check_value(&spec.config);
    for error in errors {
        let mut path = at(&["config"]);
        path.extend(error.path.iter().cloned());
        problems.push(Problem {
            path,
            message: error.error.to_string(),
        });
    }
    for (field, step_id, position) in references {
        if earlier.contains(&step_id.as_str()) {
            continue;
        }
        let mut path = at(&["config"]);
        path.extend(field);
        let message = if step_id == spec.id {
            format!(
                "the template reads this step's own output (steps.{step_id}) at byte {position}"
            )
        } else {
            format!("the template reads steps.{step_id}, which is not an earlier step (at byte {position})")
        };
        problems.push(Problem { path, message });
    }
}

fn check_step(
    spec: &StepSpec,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<Step> {
    let before = problems.len();
    let retry = match spec.retry.as_ref().map(RetrySpec::check) {
        None => RetryPolicy::default(),
        Some(Ok(policy)) => policy,
        Some(Err(retry_problems)) => {
            for p in retry_problems {
                problems.push(Problem {
                    path: at(&["retry", p.field]),
                    message: p.message,
                });
            }
            RetryPolicy::default()
        }
    };
    let timeout_ms = spec
        .timeout
        .as_deref()
        .and_then(|text| duration_at(text, at(&["timeout"]), problems));
    let kind = check_kind(spec, at, problems);
    if problems.len() != before {
        return None;
    }
    Some(Step {
        id: spec.id.clone(),
        kind: kind?,
        retry,
        timeout_ms,
    })
}

fn duration_at(text: &str, path: Vec<String>, problems: &mut Vec<Problem>) -> Option<u64> {
    match DurationMs::parse(text) {
        Ok(duration) => Some(duration.0),
        Err(error) => {
            problems.push(Problem {
                path,
                message: error.to_string(),
            });
            None
        }
    }
}

fn check_kind(
    spec: &StepSpec,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<StepKind> {
    let config = &spec.config;
    let mut fail = |path: Vec<String>, message: String| {
        problems.push(Problem { path, message });
        None
    };
    if !(config.is_object() || config.is_null()) {
        return fail(at(&["config"]), "must be an object".into());
    }
    match spec.kind.as_str() {
        "transform" => match config.get("mapping") {
            Some(mapping) => Some(StepKind::Transform {
                mapping: mapping.clone(),
            }),
            None => fail(
                at(&["config", "mapping"]),
                "a transform step needs a mapping".into(),
            ),
        },
        "http" => match config.get("url").and_then(Value::as_str) {
            Some(_) => Some(StepKind::Http {
                config: config.clone(),
            }),
            None => fail(
                at(&["config", "url"]),
                "an http step needs a url (a string)".into(),
            ),
        },
        "delay" => check_delay(config, at, problems),
        "wait" => check_wait(config, at, problems),
        "action" | "email" => fail(
            at(&["type"]),
            format!(
                "{} steps are not supported yet; call the service with an http step",
                spec.kind
            ),
        ),
        "condition" | "foreach" => fail(
            at(&["type"]),
            format!("{} steps are not supported yet", spec.kind),
        ),
        other => fail(
            at(&["type"]),
            format!("unknown step type {other:?}; expected one of {STEP_TYPES}"),
        ),
    }
}

fn check_delay(
    config: &Value,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<StepKind> {
    match (config.get("duration"), config.get("until")) {
        (Some(Value::String(text)), None) => {
            duration_at(text, at(&["config", "duration"]), problems)
                .map(|duration_ms| StepKind::Delay(DelaySpec::For { duration_ms }))
        }
        (None, Some(Value::String(time))) => {
            Some(StepKind::Delay(DelaySpec::Until { time: time.clone() }))
        }
        _ => {
            problems.push(Problem {
                path: at(&["config"]),
                message: "a delay step needs either duration (like \"30s\") or until (an RFC 3339 time or a template)".into(),
            });
            None
        }
    }
}

fn check_wait(
    config: &Value,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<StepKind> {
    let timeout_ms = match config.get("timeout") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(duration_at(text, at(&["config", "timeout"]), problems)?),
        Some(_) => {
            problems.push(Problem {
                path: at(&["config", "timeout"]),
                message: "must be a duration like \"1h\"".into(),
            });
            return None;
        }
    };
    let on_timeout = match config.get("onTimeout").and_then(Value::as_str) {
        None | Some("fail") => OnTimeout::Fail,
        Some("continue") => OnTimeout::Continue,
        Some(other) => {
            problems.push(Problem {
                path: at(&["config", "onTimeout"]),
                message: format!("must be \"fail\" or \"continue\", not {other:?}"),
            });
            return None;
        }
    };
    Some(StepKind::Wait {
        timeout_ms,
        on_timeout,
    })
}
