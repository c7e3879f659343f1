//! The template context of one step: the run's context for a workflow-level step; for an item's
//! sub-step the same context with `item`, `index` and the outputs of the item's earlier
//! sub-steps (as `steps.<subId>.output`) laid over it.
//!
//! A foreach's items are rendered from its `items` template, never stored: the template reads
//! only the input and steps before the foreach, whose outputs never change once recorded, so
//! every render gives the array that `ForeachStarted` counted. They are rendered once per
//! driver and kept here.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::decide::Plan;
use crate::definition::{find_step, Step, StepKind};
use crate::events::StepError;
use crate::foreach::{item_step_id, ItemStepId, FOREACH_ITEMS_MAX};
use crate::run::{RunState, StepState};

/// The rendered items of the foreach steps of one run, by foreach id.
#[derive(Default)]
pub struct Items {
    rendered: HashMap<String, Arc<Vec<Value>>>,
}

fn failure(code: &str, message: String) -> StepError {
    StepError {
        code: Some(code.to_owned()),
        message,
        retryable: false,
    }
}

impl Items {
    /// The items of `foreach` rendered against the run's `context`: an array of at most
    /// `FOREACH_ITEMS_MAX` elements, or why not (never worth retrying: the same journal
    /// renders the same way).
    pub fn of(&mut self, foreach: &Step, context: &Value) -> Result<Arc<Vec<Value>>, StepError> {
        if let Some(items) = self.rendered.get(&foreach.id) {
            return Ok(items.clone());
        }
        let StepKind::Foreach { items, .. } = &foreach.kind else {
            return Err(failure(
                "INTERNAL",
                format!("step {} is not a foreach", foreach.id),
            ));
        };
        let rendered = items
            .render(context)
            .map_err(|e| failure("TEMPLATE_ERROR", format!("config.items: {e}")))?;
        let Value::Array(items) = rendered else {
            return Err(failure(
                "ITEMS_NOT_ARRAY",
                format!(
                    "config.items must render to an array, but it rendered to {}",
                    kind_of(&rendered)
                ),
            ));
        };
        if items.len() > FOREACH_ITEMS_MAX {
            return Err(failure(
                "TOO_MANY_ITEMS",
                format!(
                    "config.items rendered to {} items; a foreach runs over at most {FOREACH_ITEMS_MAX}",
                    items.len()
                ),
            ));
        }
        let items = Arc::new(items);
        self.rendered.insert(foreach.id.clone(), items.clone());
        Ok(items)
    }

    /// Calls `f` with the template context of `step_id`: `context` itself for a
    /// workflow-level step, `context` with the item's scope laid over it (and taken off again
    /// afterwards) for an item's sub-step.
    pub fn in_scope<R>(
        &mut self,
        steps: &[Step],
        state: &RunState,
        context: &mut Value,
        step_id: &str,
        f: impl FnOnce(&Value) -> R,
    ) -> Result<R, StepError> {
        self.in_scope_of(|id| find_step(steps, id), state, context, step_id, f)
    }

    /// `in_scope`, finding the foreach in the run's plan rather than by walking its steps.
    pub fn in_scope_planned<R>(
        &mut self,
        steps: &[Step],
        plan: &Plan,
        state: &RunState,
        context: &mut Value,
        step_id: &str,
        f: impl FnOnce(&Value) -> R,
    ) -> Result<R, StepError> {
        self.in_scope_of(|id| plan.find(steps, id), state, context, step_id, f)
    }

    fn in_scope_of<'s, R>(
        &mut self,
        find: impl FnOnce(&str) -> Option<&'s Step>,
        state: &RunState,
        context: &mut Value,
        step_id: &str,
        f: impl FnOnce(&Value) -> R,
    ) -> Result<R, StepError> {
        let Some(id) = ItemStepId::parse(step_id) else {
            return Ok(f(context));
        };
        let foreach = find(id.foreach_id).ok_or_else(|| {
            failure(
                "INTERNAL",
                format!("no foreach step {} for {step_id}", id.foreach_id),
            )
        })?;
        let items = self.of(foreach, context)?;
        let item = items.get(id.index).cloned().ok_or_else(|| {
            failure(
                "ITEMS_CHANGED",
                format!(
                    "item {} of {} no longer exists: config.items renders {} items now",
                    id.index,
                    id.foreach_id,
                    items.len()
                ),
            )
        })?;
        let mut overlay = vec![
            ("item".to_owned(), item),
            ("index".to_owned(), json!(id.index)),
        ];
        let mut outputs = Vec::new();
        if let StepKind::Foreach { steps: subs, .. } = &foreach.kind {
            sub_outputs(subs, state, id.foreach_id, id.index, &mut outputs);
        }
        Ok(with_overlay(context, &mut overlay, &mut outputs, f))
    }
}

/// The run's template context (its id, input, and the outputs of its workflow-level steps),
/// kept by the driver from turn to turn and extended by the steps completed since, rather than
/// rebuilt from every output of the run on every turn.
#[derive(Default)]
pub struct RunContext {
    value: Option<Value>,
    /// How many of `state.progress.completed()` the value holds.
    holds: usize,
}

impl RunContext {
    /// The context of `state`. Valid as long as the states it is asked for only grow (the
    /// driver's, event by event); `forget` it when the state is read again from scratch.
    pub fn of(&mut self, run_id: &str, input: &Value, state: &RunState) -> &mut Value {
        let completed = state.progress.completed();
        let fresh = state.progress.irregular() || self.holds > completed.len();
        match &mut self.value {
            Some(value) if !fresh => {
                for step_id in &completed[self.holds..] {
                    if let Some(StepState::Completed { output_json, .. }) = state.step(step_id) {
                        crate::evaluate::add_output(value, step_id, output_json);
                    }
                }
            }
            _ => {
                let outputs = crate::view::outputs_of(state);
                self.value = Some(crate::evaluate::context(run_id, input, &outputs));
            }
        }
        self.holds = completed.len();
        self.value.get_or_insert(Value::Null)
    }

    pub fn forget(&mut self) {
        self.value = None;
        self.holds = 0;
    }
}

/// The recorded outputs of item `index`'s sub-steps (branches included), keyed by sub id.
fn sub_outputs(
    subs: &[Step],
    state: &RunState,
    foreach_id: &str,
    index: usize,
    into: &mut Vec<(String, Value)>,
) {
    for sub in subs {
        let journal_id = item_step_id(foreach_id, index, &sub.id);
        if let Some(StepState::Completed { output_json, .. }) = state.step(&journal_id) {
            let output = serde_json::from_str(output_json).unwrap_or(Value::Null);
            into.push((sub.id.clone(), json!({ "output": output })));
        }
        if let StepKind::Condition {
            then_steps,
            else_steps,
            ..
        } = &sub.kind
        {
            sub_outputs(then_steps, state, foreach_id, index, into);
            sub_outputs(else_steps, state, foreach_id, index, into);
        }
    }
}

/// Lays `root` entries over the context's top level and `steps` entries over its `steps`,
/// calls `f`, then puts back exactly what was there, so one context serves every item
/// without a copy per item.
fn with_overlay<R>(
    context: &mut Value,
    root: &mut Vec<(String, Value)>,
    steps: &mut Vec<(String, Value)>,
    f: impl FnOnce(&Value) -> R,
) -> R {
    let Value::Object(map) = context else {
        return f(context);
    };
    let saved_root = swap_in(map, root);
    let saved_steps = match map.get_mut("steps") {
        Some(Value::Object(step_map)) => swap_in(step_map, steps),
        _ => Vec::new(),
    };
    let result = f(context);
    if let Value::Object(map) = context {
        if let Some(Value::Object(step_map)) = map.get_mut("steps") {
            restore(step_map, saved_steps);
        }
        restore(map, saved_root);
    }
    result
}

/// Inserts every entry, returning what each key held before.
fn swap_in(
    map: &mut Map<String, Value>,
    entries: &mut Vec<(String, Value)>,
) -> Vec<(String, Option<Value>)> {
    entries
        .drain(..)
        .map(|(key, value)| {
            let old = map.insert(key.clone(), value);
            (key, old)
        })
        .collect()
}

fn restore(map: &mut Map<String, Value>, saved: Vec<(String, Option<Value>)>) {
    for (key, old) in saved.into_iter().rev() {
        match old {
            Some(value) => map.insert(key, value),
            None => map.remove(&key),
        };
    }
}

fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => {
            let excerpt: String = s.chars().take(60).collect();
            format!("a string ({excerpt:?})")
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
