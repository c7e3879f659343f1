//! Workflow definitions: what users write (`WorkflowSpec`, the seed's JSON shape) and the
//! checked form the state machine runs (`Step`). Checking lists every problem with its path,
//! so a user fixes a definition in one round trip.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::duration::DurationMs;
use crate::foreach::{ItemStepId, FOREACH_CONCURRENCY_DEFAULT, FOREACH_CONCURRENCY_MAX};
use crate::providers::{self, Catalog};
use crate::retry::{RetryPolicy, RetrySpec};
use crate::template::{self, TemplateText, TemplateValue};

/// Most steps in one workflow (and sub-steps in one foreach). A decision picks a run up after
/// the step that completed last (`run::Progress`, `decide::Plan`), so a step of a 2,000-step
/// run costs what a step of a 20-step run does; the bound keeps a definition (one journal
/// event, one request body) small, and checking one stays quick.
pub const STEPS_MAX: usize = 2_000;
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
    /// Seed 002's knowledge collections of an agent workflow: kept and shown as given; the
    /// engine does not read them (retrieval is not built).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_collections: Option<Value>,
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
    /// The connection an action step uses (an id or a template); see `ActionStep`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
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
    Transform { mapping: TemplateValue },
    /// An outbound HTTP request; `config` holds method, url, headers, body (templates).
    /// `connection` (an id or a template) adds that connection's credentials header.
    Http {
        config: TemplateValue,
        connection: Option<TemplateText>,
    },
    /// A durable sleep.
    Delay(DelaySpec),
    /// Pauses the run until it is resumed with a payload (the step's output), or times out.
    Wait {
        timeout_ms: Option<u64>,
        on_timeout: OnTimeout,
    },
    /// Runs `then_steps` or `else_steps`; its output records the branch taken.
    Condition {
        test: ConditionTest,
        then_steps: Vec<Step>,
        else_steps: Vec<Step>,
    },
    /// Runs `steps` once per element of the array `items` renders to, up to `concurrency`
    /// items at once; its output is the array of each item's last output, in item order.
    Foreach {
        items: TemplateText,
        concurrency: u32,
        steps: Vec<Step>,
    },
    /// A provider action from the catalog (`stripe.createInvoice`).
    Action(ActionStep),
    /// An email sent over SMTP.
    Email(Box<EmailStep>),
    /// A child run of another workflow; completes with the child's output.
    Workflow(WorkflowStep),
    /// An LLM agent with tools (`crate::agent`).
    Agent(Box<crate::agent::AgentStep>),
}

/// A `workflow` step (a sub-workflow): `{"type": "workflow", "config": {"workflowId",
/// "version"?, "input"?}}`.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowStep {
    pub workflow_id: String,
    /// The child's workflow version; its current one when absent.
    pub version: Option<u64>,
    /// The child's input (templates); `{}` when absent.
    pub input: TemplateValue,
}

/// An `email` step (seed 001's shape): `{"type": "email", "config": {"action": "send", "to",
/// "cc"?, "bcc"?, "from"?, "replyTo"?, "subject", "body": {"html"?, "text"?}}, "connection"?}`.
/// Every string is a template; in `body.html` inserted values are HTML-escaped unless the
/// expression ends with `| raw`.
#[derive(Clone, Debug, PartialEq)]
pub struct EmailStep {
    /// An address, a comma-separated list, or an array of them (templates).
    pub to: TemplateValue,
    pub cc: Option<TemplateValue>,
    pub bcc: Option<TemplateValue>,
    pub from: Option<TemplateText>,
    pub reply_to: Option<TemplateText>,
    pub subject: TemplateText,
    pub html: Option<TemplateText>,
    pub text: Option<TemplateText>,
    /// An `smtp` connection (id or template); else the run's or workflow's smtp connection,
    /// the only one, or the server's default SMTP settings.
    pub connection: Option<TemplateText>,
}

/// The keys an email step's config may have.
const EMAIL_KEYS: [&str; 8] = [
    "action", "to", "cc", "bcc", "from", "replyTo", "subject", "body",
];

/// An `action` step: `{"type": "action", "action": "stripe.createInvoice", "config": {params},
/// "connection"?}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionStep {
    /// `provider.action`, found in the catalog when the definition was checked.
    pub action: String,
    /// The provider part of `action`.
    pub provider: String,
    /// The params: templates, rendered at each attempt, then checked against the action's
    /// schema before any request.
    pub params: TemplateValue,
    /// A connection id or a template yielding one; else the connection is resolved (the
    /// run's, the workflow's `connections[provider]`, the provider's only one).
    pub connection: Option<TemplateText>,
}

/// What a condition step tests.
#[derive(Clone, Debug, PartialEq)]
pub enum ConditionTest {
    /// `"if": "{{...}}"`: true unless the value is null, false, 0, "" or empty.
    Truthy { value: TemplateValue },
    /// `"left"`, `"operator"`, `"right"` (templates on either side).
    Compare {
        left: TemplateValue,
        operator: Operator,
        right: TemplateValue,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    Contains,
    Exists,
}

const OPERATORS: [(&str, Operator); 8] = [
    ("equals", Operator::Equals),
    ("notEquals", Operator::NotEquals),
    ("greaterThan", Operator::GreaterThan),
    ("greaterThanOrEqual", Operator::GreaterThanOrEqual),
    ("lessThan", Operator::LessThan),
    ("lessThanOrEqual", Operator::LessThanOrEqual),
    ("contains", Operator::Contains),
    ("exists", Operator::Exists),
];

#[derive(Clone, Debug, PartialEq)]
pub enum DelaySpec {
    For {
        duration_ms: u64,
    },
    /// An RFC 3339 time, or a template yielding one; resolved by the executor.
    Until {
        time: TemplateText,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnTimeout {
    Fail,
    Continue,
}

const STEP_TYPES: &str =
    "transform, http, action, email, workflow, agent, delay, wait, condition, foreach";

/// The step ids around the steps being checked.
#[derive(Clone)]
struct Scope {
    /// The providers action steps may name.
    catalog: Arc<Catalog>,
    /// Steps whose output a template here may read: those that run before, in document
    /// order (a foreach's sub-steps only inside their own item).
    readable: Vec<String>,
    /// Every id used so far anywhere in the workflow: ids must be unique across it, sub-steps
    /// included, so a composite journal id names one step.
    taken: Vec<String>,
    /// Inside a foreach, where only some step types may run.
    in_foreach: bool,
}

impl WorkflowSpec {
    /// Checks the definition against the built-in providers; see `check_with`.
    pub fn check(&self) -> Result<Vec<Step>, Vec<Problem>> {
        self.check_with(&Catalog::shared_builtin())
    }

    /// Checks the definition and returns its steps, or every problem found. Action steps are
    /// looked up in `catalog`.
    pub fn check_with(&self, catalog: &Arc<Catalog>) -> Result<Vec<Step>, Vec<Problem>> {
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
        if let Some(trigger) = &self.trigger {
            check_trigger(trigger, &mut problems);
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
        let mut scope = Scope {
            catalog: catalog.clone(),
            readable: Vec::new(),
            taken: Vec::new(),
            in_foreach: false,
        };
        let steps = check_steps(
            &self.steps,
            &["steps".to_string()],
            &mut scope,
            &mut problems,
        );
        if problems.is_empty() {
            Ok(steps)
        } else {
            Err(problems)
        }
    }
}

/// The trigger types a definition's `trigger.type` may name (seed 001).
pub const TRIGGER_TYPES: [&str; 5] = ["api", "schedule", "webhook", "manual", "polling"];

/// `trigger` is informative (triggers are their own resources), but its type must be one
/// the seed names, so a typo is caught when the definition is stored.
fn check_trigger(trigger: &Value, problems: &mut Vec<Problem>) {
    match trigger {
        Value::Null => {}
        Value::Object(map) => match map.get("type") {
            None => problems.push(problem(
                &["trigger", "type"],
                &format!("a trigger needs a type: {}", TRIGGER_TYPES.join(", ")),
            )),
            Some(Value::String(kind)) if TRIGGER_TYPES.contains(&kind.as_str()) => {}
            Some(other) => problems.push(problem(
                &["trigger", "type"],
                &format!(
                    "unknown trigger type {other}; expected one of {}",
                    TRIGGER_TYPES.join(", ")
                ),
            )),
        },
        _ => problems.push(problem(
            &["trigger"],
            "must be an object such as {\"type\": \"api\"}",
        )),
    }
}

/// Checks a list of steps (the workflow's, a branch's or a foreach's sub-steps) in `scope`,
/// adding their ids to it.
fn check_steps(
    specs: &[StepSpec],
    base: &[String],
    scope: &mut Scope,
    problems: &mut Vec<Problem>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let at = |rest: &[&str]| -> Vec<String> {
            base.iter()
                .cloned()
                .chain([index.to_string()])
                .chain(rest.iter().map(|s| s.to_string()))
                .collect()
        };
        let taken: Vec<&str> = scope.taken.iter().map(String::as_str).collect();
        check_step_id(spec, &taken, &at, problems);
        let readable: Vec<&str> = scope.readable.iter().map(String::as_str).collect();
        let own_templates = templates_of(spec);
        check_templates(spec, &own_templates, &readable, &at, problems);
        scope.taken.push(spec.id.clone());
        scope.readable.push(spec.id.clone());
        if let Some(step) = check_step(spec, &at, scope, problems) {
            steps.push(step);
        }
    }
    steps
}

/// The part of a step's config that holds its own templates (a condition's branches and a
/// foreach's sub-steps hold other steps, checked as steps).
fn templates_of(spec: &StepSpec) -> Value {
    let nested: &[&str] = match spec.kind.as_str() {
        "condition" => &["then", "else"],
        "foreach" => &["steps"],
        _ => return spec.config.clone(),
    };
    let mut own = spec.config.clone();
    if let Value::Object(map) = &mut own {
        for key in nested {
            map.remove(*key);
        }
    }
    own
}

/// The step with `id` anywhere in `steps`, branches included. A composite id
/// (`"each[3].charge"`) finds the sub-step (`charge` of foreach `each`).
pub fn find_step<'a>(steps: &'a [Step], id: &str) -> Option<&'a Step> {
    match ItemStepId::parse(id) {
        Some(item) => {
            let StepKind::Foreach { steps: subs, .. } = &find_plain(steps, item.foreach_id)?.kind
            else {
                return None;
            };
            find_plain(subs, item.sub_id)
        }
        None => find_plain(steps, id),
    }
}

/// The step with the plain id `id` in `steps` or their branches (not inside a foreach).
fn find_plain<'a>(steps: &'a [Step], id: &str) -> Option<&'a Step> {
    steps.iter().find_map(|step| {
        if step.id == id {
            return Some(step);
        }
        match &step.kind {
            StepKind::Condition {
                then_steps,
                else_steps,
                ..
            } => find_plain(then_steps, id).or_else(|| find_plain(else_steps, id)),
            _ => None,
        }
    })
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
    config: &Value,
    readable: &[&str],
    at: &dyn Fn(&[&str]) -> Vec<String>,
    problems: &mut Vec<Problem>,
) {
    let (errors, references) = template::check_value(config);
    for error in errors {
        let mut path = at(&["config"]);
        path.extend(error.path.iter().cloned());
        problems.push(Problem {
            path,
            message: error.error.to_string(),
        });
    }
    for (field, step_id, position) in references {
        if readable.contains(&step_id.as_str()) {
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
    scope: &mut Scope,
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
    let kind = match spec.kind.as_str() {
        "condition" => check_condition(&spec.config, at, scope, problems),
        "foreach" if scope.in_foreach => {
            problems.push(Problem {
                path: at(&["type"]),
                message: "a foreach inside a foreach is not supported".into(),
            });
            None
        }
        "foreach" => check_foreach(spec, at, scope, problems),
        "wait" if scope.in_foreach => {
            problems.push(Problem {
                path: at(&["type"]),
                message:
                    "wait steps are not supported inside foreach (a resume names one paused step)"
                        .into(),
            });
            None
        }
        "action" => check_action(spec, at, &scope.catalog, problems),
        "email" => check_email(spec, at, problems),
        "workflow" => check_workflow_step(spec, at, problems),
        "agent" if scope.in_foreach => {
            problems.push(problem_at(
                at(&["type"]),
                "agent steps are not supported inside foreach",
            ));
            None
        }
        "agent" => {
            let catalog = scope.catalog.clone();
            let params = move |action: &str| {
                catalog
                    .action(action)
                    .map(|found| found.action.params.clone())
            };
            crate::agent::check(&spec.config, at, &params, problems)
                .map(|agent| StepKind::Agent(Box::new(agent)))
        }
        _ => check_kind(spec, at, problems),
    };
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
                mapping: mapping.clone().into(),
            }),
            None => fail(
                at(&["config", "mapping"]),
                "a transform step needs a mapping".into(),
            ),
        },
        "http" => match config.get("url").and_then(Value::as_str) {
            Some(_) => Some(StepKind::Http {
                config: config.clone().into(),
                connection: spec.connection.clone().map(Into::into),
            }),
            None => fail(
                at(&["config", "url"]),
                "an http step needs a url (a string)".into(),
            ),
        },
        "delay" => check_delay(config, at, problems),
        "wait" => check_wait(config, at, problems),
        other => fail(
            at(&["type"]),
            format!("unknown step type {other:?}; expected one of {STEP_TYPES}"),
        ),
    }
}

fn check_action(
    spec: &StepSpec,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    catalog: &Catalog,
    problems: &mut Vec<Problem>,
) -> Option<StepKind> {
    let before = problems.len();
    let params = match &spec.config {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => spec.config.clone(),
        _ => {
            problems.push(problem_at(
                at(&["config"]),
                "must be an object (the action's params)",
            ));
            return None;
        }
    };
    if let Some(connection) = &spec.connection {
        if let Err(error) = template::Template::parse(connection) {
            problems.push(problem_at(at(&["connection"]), &error.to_string()));
        }
    }
    let Some(action) = spec.action.as_deref() else {
        problems.push(problem_at(
            at(&["action"]),
            "an action step needs an action (provider.action, such as stripe.createInvoice)",
        ));
        return None;
    };
    match catalog.action(action) {
        Err(message) => problems.push(problem_at(at(&["action"]), &message)),
        Ok(found) => {
            for p in providers::static_param_problems(&found, &params) {
                let mut path = at(&["config"]);
                path.extend(p.path);
                problems.push(Problem {
                    path,
                    message: p.message,
                });
            }
        }
    }
    if problems.len() != before {
        return None;
    }
    let provider = action.split_once('.').map_or(action, |(p, _)| p);
    Some(StepKind::Action(ActionStep {
        action: action.to_owned(),
        provider: provider.to_owned(),
        params: params.into(),
        connection: spec.connection.clone().map(Into::into),
    }))
}

fn check_email(
    spec: &StepSpec,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<StepKind> {
    let before = problems.len();
    let empty = serde_json::Map::new();
    let config = match &spec.config {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => {
            problems.push(problem_at(at(&["config"]), "must be an object"));
            return None;
        }
    };
    for key in config.keys() {
        if !EMAIL_KEYS.contains(&key.as_str()) {
            problems.push(problem_at(
                at(&["config", key]),
                &format!(
                    "unknown field; an email step takes {}",
                    EMAIL_KEYS.join(", ")
                ),
            ));
        }
    }
    match config.get("action") {
        None => {}
        Some(Value::String(action)) if action == "send" => {}
        Some(_) => problems.push(problem_at(
            at(&["config", "action"]),
            "the only email action is \"send\"",
        )),
    }
    let addresses =
        |field: &str, required: bool, problems: &mut Vec<Problem>| match config.get(field) {
            None | Some(Value::Null) if required => {
                problems.push(problem_at(
                    at(&["config", field]),
                    "an email needs to: an address, a comma-separated list or an array of them",
                ));
                None
            }
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.trim().is_empty() => {
                problems.push(problem_at(at(&["config", field]), "must not be empty"));
                None
            }
            Some(value @ Value::String(_)) => Some(value.clone()),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                Some(Value::Array(items.clone()))
            }
            Some(_) => {
                problems.push(problem_at(
                    at(&["config", field]),
                    "must be an address, a comma-separated list or an array of them",
                ));
                None
            }
        };
    let to = addresses("to", true, problems);
    let cc = addresses("cc", false, problems);
    let bcc = addresses("bcc", false, problems);
    let text_field = |field: &str, problems: &mut Vec<Problem>| match config.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            problems.push(problem_at(at(&["config", field]), "must be a string"));
            None
        }
    };
    let from = text_field("from", problems);
    let reply_to = text_field("replyTo", problems);
    let subject = text_field("subject", problems);
    if subject.is_none() && !matches!(config.get("subject"), Some(Value::String(_))) {
        problems.push(problem_at(
            at(&["config", "subject"]),
            "an email needs a subject",
        ));
    }
    let (mut html, mut text) = (None, None);
    match config.get("body") {
        Some(Value::Object(body)) => {
            for key in body.keys() {
                if key != "html" && key != "text" {
                    problems.push(problem_at(
                        at(&["config", "body", key]),
                        "unknown field; body takes html and text",
                    ));
                }
            }
            for (key, slot) in [("html", &mut html), ("text", &mut text)] {
                match body.get(key) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(value)) => *slot = Some(value.clone()),
                    Some(_) => {
                        problems.push(problem_at(at(&["config", "body", key]), "must be a string"))
                    }
                }
            }
            if html.is_none() && text.is_none() {
                problems.push(problem_at(
                    at(&["config", "body"]),
                    "an email needs body.html or body.text",
                ));
            }
        }
        _ => problems.push(problem_at(
            at(&["config", "body"]),
            "an email needs a body: {\"html\": ...} and/or {\"text\": ...}",
        )),
    }
    if let Some(connection) = &spec.connection {
        if let Err(error) = template::Template::parse(connection) {
            problems.push(problem_at(at(&["connection"]), &error.to_string()));
        }
    }
    if problems.len() != before {
        return None;
    }
    Some(StepKind::Email(Box::new(EmailStep {
        to: to?.into(),
        cc: cc.map(Into::into),
        bcc: bcc.map(Into::into),
        from: from.map(Into::into),
        reply_to: reply_to.map(Into::into),
        subject: subject?.into(),
        html: html.map(Into::into),
        text: text.map(Into::into),
        connection: spec.connection.clone().map(Into::into),
    })))
}

fn check_workflow_step(
    spec: &StepSpec,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<StepKind> {
    let before = problems.len();
    let Value::Object(config) = &spec.config else {
        problems.push(problem_at(
            at(&["config"]),
            "a workflow step needs a config with workflowId",
        ));
        return None;
    };
    for key in config.keys() {
        if !["workflowId", "version", "input"].contains(&key.as_str()) {
            problems.push(problem_at(
                at(&["config", key]),
                "unknown field; a workflow step takes workflowId, version and input",
            ));
        }
    }
    let workflow_id = match config.get("workflowId") {
        Some(Value::String(id)) if !id.trim().is_empty() && !id.contains("{{") => Some(id.clone()),
        _ => {
            problems.push(problem_at(
                at(&["config", "workflowId"]),
                "a workflow step needs workflowId: the id of the workflow to run (not a template)",
            ));
            None
        }
    };
    let version = match config.get("version") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64().filter(|v| *v >= 1) {
            Some(version) => Some(version),
            None => {
                problems.push(problem_at(
                    at(&["config", "version"]),
                    "must be a workflow version: a whole number from 1",
                ));
                None
            }
        },
    };
    if problems.len() != before {
        return None;
    }
    Some(StepKind::Workflow(WorkflowStep {
        workflow_id: workflow_id?,
        version,
        input: config
            .get("input")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()))
            .into(),
    }))
}

fn problem_at(path: Vec<String>, message: &str) -> Problem {
    Problem {
        path,
        message: message.to_owned(),
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
        (None, Some(Value::String(time))) => Some(StepKind::Delay(DelaySpec::Until {
            time: time.clone().into(),
        })),
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

fn check_condition(
    config: &Value,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    scope: &mut Scope,
    problems: &mut Vec<Problem>,
) -> Option<StepKind> {
    let test = match (config.get("if"), config.get("operator")) {
        (Some(value), None) => Some(ConditionTest::Truthy {
            value: value.clone().into(),
        }),
        (None, Some(Value::String(name))) => match OPERATORS.iter().find(|(n, _)| n == name) {
            Some((_, operator)) => Some(ConditionTest::Compare {
                left: config.get("left").cloned().unwrap_or(Value::Null).into(),
                operator: *operator,
                right: config.get("right").cloned().unwrap_or(Value::Null).into(),
            }),
            None => {
                let names: Vec<&str> = OPERATORS.iter().map(|(n, _)| *n).collect();
                problems.push(Problem {
                    path: at(&["config", "operator"]),
                    message: format!(
                        "unknown operator {name:?}; expected one of {}",
                        names.join(", ")
                    ),
                });
                None
            }
        },
        _ => {
            problems.push(Problem {
                path: at(&["config"]),
                message: "a condition step needs either \"if\" (a template) or \"left\", \"operator\" and \"right\"".into(),
            });
            None
        }
    };
    let mut branch = |name: &str| -> Vec<Step> {
        let specs = step_specs(config.get(name), &at(&["config", name]), problems);
        check_steps(&specs, &at(&["config", name]), scope, problems)
    };
    let then_steps = branch("then");
    let else_steps = branch("else");
    Some(StepKind::Condition {
        test: test?,
        then_steps,
        else_steps,
    })
}

/// A list of steps nested in a config (a branch, a foreach's sub-steps); empty when missing.
fn step_specs(
    value: Option<&Value>,
    path: &[String],
    problems: &mut Vec<Problem>,
) -> Vec<StepSpec> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => match serde_json::from_value(value.clone()) {
            Ok(specs) => specs,
            Err(error) => {
                problems.push(Problem {
                    path: path.to_vec(),
                    message: format!("must be a list of steps: {error}"),
                });
                Vec::new()
            }
        },
    }
}

/// `{"items": "{{...}}", "concurrency": n, "steps": [...]}`. Sub-steps may read the steps
/// before the foreach and the earlier sub-steps of their own item (plus `item` and `index`);
/// nothing after the foreach may read a sub-step, whose output exists once per item.
fn check_foreach(
    spec: &StepSpec,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    scope: &mut Scope,
    problems: &mut Vec<Problem>,
) -> Option<StepKind> {
    let config = &spec.config;
    if !config.is_object() {
        problems.push(Problem {
            path: at(&["config"]),
            message: "must be an object with items and steps".into(),
        });
        return None;
    }
    let items = match config.get("items") {
        Some(Value::String(items)) => Some(items.clone()),
        _ => {
            problems.push(Problem {
                path: at(&["config", "items"]),
                message: "a foreach step needs items: a template yielding an array, like \"{{input.items}}\"".into(),
            });
            None
        }
    };
    let concurrency = match config.get("concurrency") {
        None | Some(Value::Null) => FOREACH_CONCURRENCY_DEFAULT,
        Some(value) => match value.as_u64() {
            Some(n @ 1..) if n <= u64::from(FOREACH_CONCURRENCY_MAX) => n as u32,
            _ => {
                problems.push(Problem {
                    path: at(&["config", "concurrency"]),
                    message: format!(
                        "must be an integer from 1 to {FOREACH_CONCURRENCY_MAX}, not {value}"
                    ),
                });
                FOREACH_CONCURRENCY_DEFAULT
            }
        },
    };
    let path = at(&["config", "steps"]);
    let unparsed = problems.len();
    let specs = step_specs(config.get("steps"), &path, problems);
    // A list that did not parse has its own problem already.
    if specs.is_empty() && problems.len() == unparsed {
        problems.push(Problem {
            path: path.clone(),
            message: "a foreach step needs at least one sub-step".into(),
        });
    }
    if specs.len() > STEPS_MAX {
        problems.push(Problem {
            path: path.clone(),
            message: format!("at most {STEPS_MAX} sub-steps are allowed"),
        });
    }
    // The foreach's own output is not readable inside it: it is not finished yet.
    let mut readable = scope.readable.clone();
    readable.retain(|id| *id != spec.id);
    let mut inner = Scope {
        catalog: scope.catalog.clone(),
        readable,
        taken: std::mem::take(&mut scope.taken),
        in_foreach: true,
    };
    let steps = check_steps(&specs, &path, &mut inner, problems);
    scope.taken = inner.taken;
    Some(StepKind::Foreach {
        items: items?.into(),
        concurrency,
        steps,
    })
}
