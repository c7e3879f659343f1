//! `decide`: given a run's steps and its folded state, what should happen next. Pure: the
//! same state always gives the same commands, so a run recovered after a crash is told to do
//! exactly what it was doing. The executor carries the commands out and records their
//! outcomes as events; it also skips work already under way (a command repeats until its
//! outcome is recorded).

use crate::definition::{DelaySpec, OnTimeout, Step, StepKind};
use crate::events::RunError;
use crate::retry::splitmix64;
use crate::run::{RunState, StepState};

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
}

/// The commands that move the run on. Steps run one after another, in definition order; a
/// condition's chosen branch runs in its place.
pub fn decide(steps: &[Step], state: &RunState) -> Vec<Command> {
    if state.status.is_none() || state.status().is_terminal() {
        return Vec::new();
    }
    match walk(steps, state) {
        Walk::Pending(commands) => commands,
        Walk::Done(last_output) => vec![Command::CompleteRun {
            output_json: last_output.unwrap_or_else(|| "null".into()),
        }],
    }
}

enum Walk {
    /// Something in these steps is not finished: what to do about it.
    Pending(Vec<Command>),
    /// All finished; the output of the last step that ran.
    Done(Option<String>),
}

fn walk(steps: &[Step], state: &RunState) -> Walk {
    let mut last = None;
    for step in steps {
        match state.step(&step.id) {
            Some(StepState::Completed { output_json, .. }) => {
                last = Some(output_json.clone());
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
                    match walk(branch, state) {
                        Walk::Pending(commands) => return Walk::Pending(commands),
                        Walk::Done(Some(output)) => last = Some(output),
                        Walk::Done(None) => {}
                    }
                }
            }
            current => return Walk::Pending(decide_step(step, current, state)),
        }
    }
    Walk::Done(last)
}

/// Whether a condition's recorded output says it took its `then` branch.
fn took_then(output_json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(output_json)
        .ok()
        .and_then(|output| output.get("branch")?.as_str().map(|b| b == "then"))
        .unwrap_or(false)
}

fn decide_step(step: &Step, current: Option<&StepState>, state: &RunState) -> Vec<Command> {
    let step_id = step.id.clone();
    match current {
        None => vec![first_command(step)],
        Some(StepState::Running { attempt }) => vec![Command::ExecuteStep {
            step_id,
            attempt: *attempt,
        }],
        Some(StepState::AttemptFailed { attempt, error }) => {
            if step
                .retry
                .retries(*attempt, error.retryable, error.code.as_deref())
            {
                let seed = step_seed(&state.run_id, &step.id);
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
        Some(StepState::TimedOut) => timed_out(step),
        // Every step ends with its own StepCompleted, also those that waited.
        Some(StepState::Elapsed { fire_at_ms }) => vec![Command::CompleteStep {
            step_id,
            output_json: format!("{{\"sleptUntilMs\":{fire_at_ms}}}"),
        }],
        Some(StepState::Resumed { payload_json }) => vec![Command::CompleteStep {
            step_id,
            output_json: payload_json.clone(),
        }],
        Some(StepState::Completed { .. }) => Vec::new(),
    }
}

fn first_command(step: &Step) -> Command {
    let step_id = step.id.clone();
    match &step.kind {
        StepKind::Transform { .. } | StepKind::Http { .. } | StepKind::Condition { .. } => {
            Command::ExecuteStep {
                step_id,
                attempt: 1,
            }
        }
        StepKind::Delay(delay) => Command::StartDelay {
            step_id,
            delay: delay.clone(),
        },
        StepKind::Wait { timeout_ms, .. } => Command::Pause {
            step_id,
            timeout_ms: *timeout_ms,
        },
    }
}

fn timed_out(step: &Step) -> Vec<Command> {
    let on_timeout = match &step.kind {
        StepKind::Wait { on_timeout, .. } => *on_timeout,
        _ => OnTimeout::Fail,
    };
    match on_timeout {
        OnTimeout::Continue => vec![Command::CompleteStep {
            step_id: step.id.clone(),
            output_json: "null".into(),
        }],
        OnTimeout::Fail => vec![Command::FailRun {
            error: RunError {
                step_id: Some(step.id.clone()),
                code: Some("WAIT_TIMEOUT".into()),
                message: format!("step {} was not resumed before its timeout", step.id),
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
