//! Evaluating what a step computes without touching the outside world: the run's template
//! context, a transform's output, a condition's branch, an HTTP step's rendered config.
//! The executor carries out the rest; replay inspection uses the same functions, so a replay
//! computes exactly what the driver did.

use serde_json::{json, Map, Value};

use crate::definition::{ConditionTest, Operator, Step, StepKind};
use crate::events::StepError;
use crate::template::{TemplateText, TemplateValue};

/// The template context of a run: `{"input", "steps": {id: {"output"}}, "run": {"id"}}`.
pub fn context(run_id: &str, input: &Value, outputs: &[(String, Value)]) -> Value {
    let steps: Map<String, Value> = outputs
        .iter()
        .map(|(id, output)| (id.clone(), json!({ "output": output })))
        .collect();
    json!({ "input": input, "steps": steps, "run": { "id": run_id } })
}

/// Adds a step's output (JSON text) to a context made by `context`.
pub fn add_output(context: &mut Value, step_id: &str, output_json: &str) {
    let output = serde_json::from_str(output_json).unwrap_or(Value::Null);
    if let Some(Value::Object(steps)) = context.get_mut("steps") {
        steps.insert(step_id.to_owned(), json!({ "output": output }));
    }
}

pub fn failure(code: &str, message: impl Into<String>, retryable: bool) -> StepError {
    StepError {
        code: Some(code.to_owned()),
        message: message.into(),
        retryable,
    }
}

/// The outcome of a step that touches nothing outside the journal (a transform, a
/// condition); None for the others.
pub fn pure_outcome(step: &Step, context: &Value) -> Option<Result<Value, StepError>> {
    match &step.kind {
        StepKind::Transform { mapping } => Some(
            mapping
                .render(context)
                .map_err(|e| failure("TEMPLATE_ERROR", format!("config.mapping.{e}"), false)),
        ),
        StepKind::Condition { test, .. } => Some(evaluate(test, context).map(|result| {
            let branch = if result { "then" } else { "else" };
            json!({ "branch": branch, "result": result })
        })),
        _ => None,
    }
}

fn evaluate(test: &ConditionTest, context: &Value) -> Result<bool, StepError> {
    let render = |field: &str, value: &TemplateValue| {
        value
            .render(context)
            .map_err(|e| failure("TEMPLATE_ERROR", format!("config.{field}: {e}"), false))
    };
    match test {
        ConditionTest::Truthy { value } => Ok(truthy(&render("if", value)?)),
        ConditionTest::Compare {
            left,
            operator,
            right,
        } => {
            let (left, right) = (render("left", left)?, render("right", right)?);
            Ok(compare(&left, *operator, &right))
        }
    }
}

/// False for null, false, 0, "" and empty arrays and objects.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn compare(left: &Value, operator: Operator, right: &Value) -> bool {
    let numbers = left.as_f64().zip(right.as_f64());
    match operator {
        Operator::Equals => numbers.map_or(left == right, |(l, r)| l == r),
        Operator::NotEquals => !numbers.map_or(left == right, |(l, r)| l == r),
        Operator::GreaterThan => numbers.is_some_and(|(l, r)| l > r),
        Operator::GreaterThanOrEqual => numbers.is_some_and(|(l, r)| l >= r),
        Operator::LessThan => numbers.is_some_and(|(l, r)| l < r),
        Operator::LessThanOrEqual => numbers.is_some_and(|(l, r)| l <= r),
        Operator::Contains => match (left, right) {
            (Value::String(l), Value::String(r)) => l.contains(r.as_str()),
            (Value::Array(items), needle) => items.contains(needle),
            (Value::Object(map), Value::String(key)) => map.contains_key(key),
            _ => false,
        },
        Operator::Exists => !left.is_null(),
    }
}

/// An HTTP step's config rendered against `context` (what an attempt would send); None for
/// other steps or when it does not render.
pub fn rendered_config(step: &Step, context: &Value) -> Option<Value> {
    let StepKind::Http { config, .. } = &step.kind else {
        return None;
    };
    config.render(context).ok()
}

/// A step's `connection`, rendered: None when absent or empty.
pub fn render_connection(
    source: Option<&TemplateText>,
    context: &serde_json::Value,
) -> Result<Option<String>, StepError> {
    let Some(source) = source else {
        return Ok(None);
    };
    source
        .render(context)
        .map(|value| match value {
            serde_json::Value::String(id) => Some(id).filter(|id| !id.is_empty()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        })
        .map_err(|e| failure("TEMPLATE_ERROR", format!("connection: {e}"), false))
}
