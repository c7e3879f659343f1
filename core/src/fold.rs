//! Deciding in memory: the events that carry out a command needing nothing outside the
//! journal (a transform, a condition, a foreach's expansion, scheduling a timer, finishing the
//! run). The driver folds them one decision after another and records them in one append.

use serde_json::Value;

use crate::decide::{Command, Plan};
use crate::definition::{DelaySpec, Step, StepKind};
use crate::evaluate as steps;
use crate::events::{RunEvent, StepError};
use crate::run::RunState;
use crate::scope::{Items, RunContext};

/// Largest output a step completed in memory may record: one event's data, less room for the
/// rest of the event. Only a foreach's output (every item's last output) can come near it;
/// past it the foreach fails rather than the append being refused again and again.
const OUTPUT_BYTES_MAX: usize = crate::EVENT_DATA_BYTES_MAX - 64 * 1024;

pub struct Fold<'a> {
    steps: &'a [Step],
    plan: &'a Plan,
    items: &'a mut Items,
    /// The run's template context, extended with each workflow-level output as it is folded,
    /// so a run of K pure steps parses each output once, not K times.
    context: &'a mut RunContext,
    run_id: &'a str,
    input: &'a Value,
    now: i64,
}

impl<'a> Fold<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        steps: &'a [Step],
        plan: &'a Plan,
        items: &'a mut Items,
        context: &'a mut RunContext,
        run_id: &'a str,
        input: &'a Value,
        now: i64,
    ) -> Fold<'a> {
        Fold {
            steps,
            plan,
            items,
            context,
            run_id,
            input,
            now,
        }
    }

    /// The events that carry out `command` in `state` when it needs nothing outside the
    /// journal; None when it does (an HTTP call, a wait for a timer or a resume).
    pub fn journal_only(&mut self, state: &RunState, command: &Command) -> Option<Vec<RunEvent>> {
        let now = self.now;
        Some(match command {
            Command::ExecuteStep { step_id, attempt } => {
                let step = self.plan.find(self.steps, step_id)?;
                if !matches!(
                    step.kind,
                    StepKind::Transform { .. } | StepKind::Condition { .. }
                ) {
                    return None;
                }
                let context = self.context.of(self.run_id, self.input, state);
                let outcome = self
                    .items
                    .in_scope_planned(self.steps, self.plan, state, context, step_id, |context| {
                        steps::pure_outcome(step, context)
                    })
                    .and_then(|outcome| outcome.unwrap_or(Ok(Value::Null)));
                // No StepStarted: nothing outside the journal happens, so there is nothing to
                // announce before it, and the outcome is recorded in the same append anyway.
                vec![outcome_event(step_id, *attempt, outcome)]
            }
            Command::ExpandForeach { step_id } => {
                let foreach = self.plan.find(self.steps, step_id)?;
                let context = self.context.of(self.run_id, self.input, state);
                vec![match self.items.of(foreach, context) {
                    Ok(items) => RunEvent::ForeachStarted {
                        step_id: step_id.clone(),
                        // At most FOREACH_ITEMS_MAX, so it fits.
                        items: items.len() as u32,
                    },
                    Err(error) => RunEvent::StepFailed {
                        step_id: step_id.clone(),
                        attempt: 1,
                        error,
                    },
                }]
            }
            Command::ScheduleRetry {
                step_id,
                next_attempt,
                wait_ms,
            } => vec![RunEvent::StepRetryScheduled {
                step_id: step_id.clone(),
                next_attempt: *next_attempt,
                fire_at_ms: now.saturating_add(*wait_ms as i64),
            }],
            Command::StartDelay { step_id, delay } => {
                let context = self.context.of(self.run_id, self.input, state);
                let deadline = self
                    .items
                    .in_scope_planned(self.steps, self.plan, state, context, step_id, |context| {
                        delay_deadline(delay, now, context)
                    })
                    .and_then(|deadline| deadline);
                vec![match deadline {
                    Ok(fire_at_ms) => RunEvent::TimerScheduled {
                        step_id: step_id.clone(),
                        fire_at_ms,
                    },
                    Err(error) => RunEvent::StepFailed {
                        step_id: step_id.clone(),
                        attempt: 1,
                        error,
                    },
                }]
            }
            Command::AwaitTimer {
                step_id,
                fire_at_ms,
            } if *fire_at_ms <= now => {
                vec![RunEvent::TimerFired {
                    step_id: step_id.clone(),
                }]
            }
            Command::Pause {
                step_id,
                timeout_ms,
            } => vec![RunEvent::RunPaused {
                step_id: step_id.clone(),
                timeout_at_ms: timeout_ms.map(|t| now.saturating_add(t as i64)),
            }],
            Command::CompleteStep {
                step_id,
                output_json,
            } if output_json.len() > OUTPUT_BYTES_MAX => vec![RunEvent::StepFailed {
                step_id: step_id.clone(),
                attempt: 1,
                error: steps::failure(
                    "OUTPUT_TOO_LARGE",
                    format!(
                        "the step's output is {} bytes; one event holds at most {OUTPUT_BYTES_MAX}",
                        output_json.len()
                    ),
                    false,
                ),
            }],
            Command::CompleteStep {
                step_id,
                output_json,
            } => vec![RunEvent::StepCompleted {
                step_id: step_id.clone(),
                attempt: 1,
                output_json: output_json.clone(),
            }],
            Command::CompleteRun { output_json } => vec![RunEvent::RunCompleted {
                output_json: output_json.clone(),
            }],
            Command::FailRun { error } => vec![RunEvent::RunFailed {
                error: error.clone(),
            }],
            Command::AwaitTimer { .. } | Command::AwaitResume { .. } => return None,
        })
    }
}

/// The event recording how attempt `attempt` of `step_id` ended.
pub fn outcome_event(step_id: &str, attempt: u32, outcome: Result<Value, StepError>) -> RunEvent {
    match outcome {
        Ok(output) => RunEvent::StepCompleted {
            step_id: step_id.to_owned(),
            attempt,
            output_json: output.to_string(),
        },
        Err(error) => RunEvent::StepFailed {
            step_id: step_id.to_owned(),
            attempt,
            error,
        },
    }
}

/// When a delay step ends: `now + duration`, or its `until` time (a template yielding RFC 3339).
fn delay_deadline(delay: &DelaySpec, now: i64, context: &Value) -> Result<i64, StepError> {
    let bad = |message: String| StepError {
        code: Some("BAD_DELAY".into()),
        message,
        retryable: false,
    };
    match delay {
        DelaySpec::For { duration_ms } => Ok(now.saturating_add(*duration_ms as i64)),
        DelaySpec::Until { time } => {
            let rendered = time
                .render(context)
                .map_err(|e| bad(format!("config.until: {e}")))?;
            let Value::String(text) = rendered else {
                return Err(bad(format!(
                    "config.until must be an RFC 3339 time, not {rendered}"
                )));
            };
            chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| t.timestamp_millis())
                .map_err(|e| {
                    bad(format!(
                        "config.until {text:?} is not an RFC 3339 time: {e}"
                    ))
                })
        }
    }
}
