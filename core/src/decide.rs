//! `decide`: given a run's steps and its folded state, what should happen next. Pure: the
//! same state always gives the same commands, so a run recovered after a crash is told to do
//! exactly what it was doing. The executor carries the commands out and records their
//! outcomes as events; it also skips work already under way (a command repeats until its
//! outcome is recorded).

use std::fmt::Write;

use crate::definition::{DelaySpec, OnTimeout, Step, StepKind};
use crate::events::RunError;
use crate::foreach::item_step_id;
use crate::retry::splitmix64;
use crate::run::{RunState, StepState};

mod cursor;
mod plan;

pub use plan::Plan;

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Record `StepStarted` (unless the state already shows this attempt running), then
    /// carry the step out and record `StepCompleted` or `StepFailed`.
    ExecuteStep { step_id: String, attempt: u32 },
    /// Record `StepRetryScheduled` for `next_attempt`, firing `wait_ms` from now.
    ScheduleRetry {
        step_id: String,
        next_attempt: u32,
        wait_ms: u64,
    },
    /// Record `TimerScheduled` for a delay step.
    StartDelay { step_id: String, delay: DelaySpec },
    /// Keep a durable timer that records `TimerFired` at `fire_at_ms` (at once if past).
    AwaitTimer { step_id: String, fire_at_ms: i64 },
    /// Record `RunPaused` for a wait step, with its timeout from now if it has one.
    Pause {
        step_id: String,
        timeout_ms: Option<u64>,
    },
    /// Nothing to do but wait for `RunResumed` (from outside the engine).
    AwaitResume { step_id: String },
    /// Record `StepCompleted` with this output (a delay that elapsed, a wait that was
    /// resumed or that timed out and continues).
    CompleteStep {
        step_id: String,
        output_json: String,
    },
    /// Record `RunCompleted`.
    CompleteRun { output_json: String },
    /// Record `RunFailed`.
    FailRun { error: RunError },
    /// Render a foreach step's items and record `ForeachStarted` with their count (or
    /// `StepFailed` when they are not an array of at most `FOREACH_ITEMS_MAX` elements).
    ExpandForeach { step_id: String },
}

/// The commands that move the run on. Steps run one after another, in definition order; a
/// condition's chosen branch runs in its place. A foreach's items run side by side, up to its
/// concurrency: then there is one command (or, for a wait, a pair) per item in flight, each
/// about a different step, and the executor may carry them out in any order.
pub fn decide(steps: &[Step], state: &RunState) -> Vec<Command> {
    decide_planned(steps, &Plan::new(steps), state)
}

/// `decide` with the definition laid out already (`Plan::new(steps)`): the executor lays it
/// out once per run. Each sequence is picked up where its progress says it stands
/// (`cursor`), so a decision costs the same whatever the run's length and the size of its
/// foreach; when progress cannot be trusted it walks every step (`decide_by_walking`).
pub fn decide_planned(steps: &[Step], plan: &Plan, state: &RunState) -> Vec<Command> {
    decide_from_progress(steps, plan, state).unwrap_or_else(|| decide_by_walking(steps, state))
}

/// `decide` from the run's progress alone; None when progress cannot place the run (it is
/// irregular, or names a step the plan does not have) and only walking can tell.
pub fn decide_from_progress(steps: &[Step], plan: &Plan, state: &RunState) -> Option<Vec<Command>> {
    if state.status.is_none() || state.status().is_terminal() {
        return Some(Vec::new());
    }
    if state.progress.irregular() {
        return None;
    }
    cursor::walk_workflow(plan, steps, state).map(finish)
}

/// What `decide` means: every step walked from the first, every item of a foreach looked at,
/// on every decision (O(steps + items) each). Kept as the reference the fast path is tested
/// against, and used when a run's progress cannot be trusted.
pub fn decide_by_walking(steps: &[Step], state: &RunState) -> Vec<Command> {
    if state.status.is_none() || state.status().is_terminal() {
        return Vec::new();
    }
    finish(walk(steps, state, ""))
}

fn finish(walked: Walk<'_>) -> Vec<Command> {
    match walked {
        Walk::Pending(commands) => commands,
        Walk::Done(last_output) => vec![Command::CompleteRun {
            output_json: last_output.unwrap_or("null").to_owned(),
        }],
    }
}

enum Walk<'s> {
    /// Something in these steps is not finished: what to do about it.
    Pending(Vec<Command>),
    /// All finished; the output of the last step that ran (borrowed: a foreach walks every
    /// finished item on every decision, and copying their outputs each time would dominate).
    Done(Option<&'s str>),
}

/// Walks `steps`, whose journal ids are `prefix` + their ids (`prefix` is empty at the top,
/// `"each[3]."` inside item 3 of foreach `each`).
fn walk<'s>(steps: &[Step], state: &'s RunState, prefix: &str) -> Walk<'s> {
    let mut last = None;
    let mut step_id = String::new();
    for step in steps {
        step_id.clear();
        step_id.push_str(prefix);
        step_id.push_str(&step.id);
        match state.step(&step_id) {
            Some(StepState::Completed { output_json, .. }) => {
                last = Some(output_json.as_str());
                if let StepKind::Condition {
                    then_steps,
                    else_steps,
                    ..
                } = &step.kind
                {
                    let branch = if took_then(output_json) {
                        then_steps
                    } else {
                        else_steps
                    };
                    match walk(branch, state, prefix) {
                        Walk::Pending(commands) => return Walk::Pending(commands),
                        Walk::Done(Some(output)) => last = Some(output),
                        Walk::Done(None) => {}
                    }
                }
            }
            current => return Walk::Pending(decide_step(step, step_id, current, state)),
        }
    }
    Walk::Done(last)
}

/// Whether a condition's recorded output says it took its `then` branch.
pub fn took_then(output_json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(output_json)
        .ok()
        .and_then(|output| output.get("branch")?.as_str().map(|b| b == "then"))
        .unwrap_or(false)
}

pub(crate) fn decide_step(
    step: &Step,
    step_id: String,
    current: Option<&StepState>,
    state: &RunState,
) -> Vec<Command> {
    if let (StepKind::Agent(agent), None) = (&step.kind, current) {
        return crate::agent::decide(step, agent, &step_id, state);
    }
    match current {
        None => vec![first_command(step, step_id)],
        Some(StepState::Running { attempt }) => vec![Command::ExecuteStep {
            step_id,
            attempt: *attempt,
        }],
        Some(StepState::AttemptFailed { attempt, error }) => {
            if step
                .retry
                .retries(*attempt, error.retryable, error.code.as_deref())
            {
                let seed = step_seed(&state.run_id, &step_id);
                vec![Command::ScheduleRetry {
                    step_id,
                    next_attempt: attempt + 1,
                    wait_ms: step.retry.wait_ms(*attempt, seed),
                }]
            } else {
                vec![Command::FailRun {
                    error: RunError {
                        step_id: Some(step_id),
                        code: error.code.clone(),
                        message: error.message.clone(),
                    },
                }]
            }
        }
        Some(StepState::RetryWaiting { fire_at_ms, .. })
        | Some(StepState::Sleeping { fire_at_ms }) => {
            vec![Command::AwaitTimer {
                step_id,
                fire_at_ms: *fire_at_ms,
            }]
        }
        Some(StepState::RetryDue { next_attempt }) => vec![Command::ExecuteStep {
            step_id,
            attempt: *next_attempt,
        }],
        Some(StepState::Paused { timeout_at_ms }) => {
            let mut commands = vec![Command::AwaitResume {
                step_id: step_id.clone(),
            }];
            if let Some(fire_at_ms) = timeout_at_ms {
                commands.push(Command::AwaitTimer {
                    step_id,
                    fire_at_ms: *fire_at_ms,
                });
            }
            commands
        }
        Some(StepState::TimedOut) => timed_out(step, step_id),
        // Every step ends with its own StepCompleted, also those that waited.
        Some(StepState::Elapsed { fire_at_ms }) => vec![Command::CompleteStep {
            step_id,
            output_json: format!("{{\"sleptUntilMs\":{fire_at_ms}}}"),
        }],
        Some(StepState::Resumed { payload_json }) => vec![Command::CompleteStep {
            step_id,
            output_json: payload_json.clone(),
        }],
        Some(StepState::Iterating { items }) => match &step.kind {
            StepKind::Foreach {
                concurrency, steps, ..
            } => iterate(&step_id, *items, *concurrency, steps, state),
            _ => vec![Command::FailRun {
                error: RunError {
                    step_id: Some(step_id.clone()),
                    code: Some("INTERNAL".into()),
                    message: format!("step {step_id} is recorded as a foreach but is not one"),
                },
            }],
        },
        Some(StepState::Completed { .. }) => Vec::new(),
    }
}

/// The commands of a foreach's items. Items start in index order, and at most `concurrency`
/// are started and unfinished at once; so started items are always a prefix of the indices.
/// The first item that must fail the run fails it at once (its siblings are abandoned, as a
/// failed `Promise.all` abandons its other promises). When every item is done, the foreach
/// completes with the array of each item's last output.
fn iterate(
    step_id: &str,
    items: u32,
    concurrency: u32,
    steps: &[Step],
    state: &RunState,
) -> Vec<Command> {
    let mut outputs = Vec::new();
    let mut commands = Vec::new();
    let mut in_flight = 0u32;
    let mut prefix = String::new();
    for index in 0..items as usize {
        prefix.clear();
        // Writing to a String cannot fail.
        let _ = write!(prefix, "{step_id}[{index}].");
        match walk(steps, state, &prefix) {
            Walk::Done(last) => outputs.push(last.unwrap_or("null")),
            Walk::Pending(item_commands) => {
                let started = steps.first().is_some_and(|first| {
                    state
                        .step(&item_step_id(step_id, index, &first.id))
                        .is_some()
                });
                if !started && in_flight >= concurrency {
                    break;
                }
                in_flight += 1;
                if let Some(fail) = item_commands
                    .iter()
                    .find(|c| matches!(c, Command::FailRun { .. }))
                {
                    return vec![fail.clone()];
                }
                commands.extend(item_commands);
            }
        }
    }
    if !commands.is_empty() || outputs.len() < items as usize {
        return commands;
    }
    vec![Command::CompleteStep {
        step_id: step_id.to_owned(),
        output_json: format!("[{}]", outputs.join(",")),
    }]
}

fn first_command(step: &Step, step_id: String) -> Command {
    match &step.kind {
        StepKind::Transform { .. }
        | StepKind::Http { .. }
        | StepKind::Action(_)
        | StepKind::Email(_)
        | StepKind::Workflow(_)
        | StepKind::Condition { .. } => Command::ExecuteStep {
            step_id,
            attempt: 1,
        },
        StepKind::Delay(delay) => Command::StartDelay {
            step_id,
            delay: delay.clone(),
        },
        StepKind::Wait { timeout_ms, .. } => Command::Pause {
            step_id,
            timeout_ms: *timeout_ms,
        },
        StepKind::Foreach { .. } => Command::ExpandForeach { step_id },
        // Decided by `agent::decide` before it gets here; its first model call otherwise.
        StepKind::Agent(_) => Command::ExecuteStep {
            step_id: crate::agent::model_call_id(&step_id, 1),
            attempt: 1,
        },
    }
}

fn timed_out(step: &Step, step_id: String) -> Vec<Command> {
    let on_timeout = match &step.kind {
        StepKind::Wait { on_timeout, .. } => *on_timeout,
        _ => OnTimeout::Fail,
    };
    match on_timeout {
        OnTimeout::Continue => vec![Command::CompleteStep {
            step_id,
            output_json: "null".into(),
        }],
        OnTimeout::Fail => vec![Command::FailRun {
            error: RunError {
                message: format!("step {step_id} was not resumed before its timeout"),
                step_id: Some(step_id),
                code: Some("WAIT_TIMEOUT".into()),
            },
        }],
    }
}

/// The seed of a step's retry jitter: fixed by the run and the step, so replay agrees.
pub fn step_seed(run_id: &str, step_id: &str) -> u64 {
    run_id
        .bytes()
        .chain([0u8])
        .chain(step_id.bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            splitmix64(hash ^ u64::from(byte))
        })
}
