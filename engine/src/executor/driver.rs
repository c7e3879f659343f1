//! The driver of one run: fold, decide, carry out, record, until the run ends.
//!
//! Work that touches nothing outside the journal (a transform, scheduling a timer, finishing
//! the run) is decided and folded in memory and recorded together in one append, so a run of
//! pure steps costs one fdatasync, not two per step. Work that reaches the world (an HTTP
//! call) is preceded by its own durable `StepStarted`. Errors (a store hiccup, say) are
//! retried with backoff from a fresh read: the journal is the only state, so that is always
//! safe.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use super::{outputs_of, steps, Loaded, Runs, RunsError};
use crate::decide::{decide, Command};
use crate::definition::{find_step, DelaySpec, Step};
use crate::events::{RunEvent, StepError};
use crate::run::{evolve, StepState};
use crate::template::Template;

/// Longest pause between retries of a driver that keeps failing.
const DRIVER_BACKOFF_MS_MAX: u64 = 10_000;
/// Most events decided in memory before they are recorded.
const PENDING_EVENTS_MAX: usize = 256;

enum Progress {
    Continue,
    Ended,
}

/// What the driver remembers between turns.
struct Memory {
    loaded: Option<Loaded>,
    steps: Option<Arc<Vec<Step>>>,
    /// The stream may have changed behind the driver's back (it was woken, or lost a race).
    stale: bool,
}

pub(super) async fn drive(runs: Runs, run_id: String, wake: Arc<Notify>, loaded: Option<Loaded>) {
    let mut memory = Memory {
        stale: loaded.is_none(),
        loaded,
        steps: None,
    };
    let mut failures: u32 = 0;
    loop {
        match turn(&runs, &run_id, &wake, &mut memory).await {
            Ok(Progress::Continue) => failures = 0,
            Ok(Progress::Ended) => break,
            Err(error) => {
                memory.loaded = None;
                failures = failures.saturating_add(1);
                let backoff = (100u64 << failures.min(10)).min(DRIVER_BACKOFF_MS_MAX);
                tracing::warn!(%run_id, %error, backoff_ms = backoff, "run driver failed; retrying");
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
        }
    }
    runs.forget_driver(&run_id);
}

async fn turn(
    runs: &Runs,
    run_id: &str,
    wake: &Notify,
    memory: &mut Memory,
) -> Result<Progress, RunsError> {
    let loaded = match memory.loaded.take() {
        Some(mut loaded) => {
            if memory.stale {
                runs.refresh(run_id, &mut loaded).await?;
            }
            loaded
        }
        None => runs.load(run_id).await?,
    };
    memory.stale = false;
    let loaded = memory.loaded.insert(loaded);
    if loaded.state.status.is_none() || loaded.state.status().is_terminal() {
        return Ok(Progress::Ended);
    }
    if memory.steps.is_none() {
        let pinned = runs
            .steps_of(&loaded.state.workflow_id, loaded.state.workflow_version)
            .await?;
        memory.steps = Some(pinned);
    }
    let steps: &[Step] = memory
        .steps
        .as_deref()
        .map(Vec::as_slice)
        .unwrap_or_default();

    // Decide and fold in memory for as long as nothing outside the journal is touched.
    let now = runs.inner().clock.now_ms();
    let mut tentative = loaded.state.clone();
    // Built once per turn and extended with each output decided below, so a run of K pure
    // steps parses each output once, not K times.
    let mut context = steps::context(run_id, &loaded.input, &outputs_of(&tentative));
    let mut pending = Vec::new();
    let mut effect = None;
    while pending.len() < PENDING_EVENTS_MAX && !tentative.status().is_terminal() {
        let commands = decide(steps, &tentative);
        let Some(first) = commands.first() else { break };
        match journal_only(steps, &context, first, now) {
            Some(events) => {
                for event in events {
                    if let RunEvent::StepCompleted {
                        step_id,
                        output_json,
                        ..
                    } = &event
                    {
                        steps::add_output(&mut context, step_id, output_json);
                    }
                    tentative = evolve(tentative, &event);
                    pending.push(event);
                }
            }
            None => {
                effect = Some(commands);
                break;
            }
        }
    }
    if !pending.is_empty() {
        record(runs, run_id, loaded, &pending, &mut memory.stale).await?;
        return Ok(Progress::Continue);
    }
    match effect {
        Some(commands) => {
            touch_the_world(
                runs,
                run_id,
                wake,
                steps,
                loaded,
                &commands,
                &mut memory.stale,
            )
            .await?;
            Ok(Progress::Continue)
        }
        None => Ok(Progress::Ended),
    }
}

/// Appends `events` in one append; folds them in on success, marks the state stale if another
/// writer got there first.
async fn record(
    runs: &Runs,
    run_id: &str,
    loaded: &mut Loaded,
    events: &[RunEvent],
    stale: &mut bool,
) -> Result<bool, RunsError> {
    let recorded = runs.append_all(run_id, loaded.version, events).await?;
    if recorded {
        for event in events {
            loaded.apply(event);
        }
    } else {
        *stale = true;
    }
    Ok(recorded)
}

/// The events that carry out `command` when it needs nothing outside the journal; None when
/// it does (an HTTP call, a wait for a timer or a resume).
fn journal_only(
    steps: &[Step],
    context: &Value,
    command: &Command,
    now: i64,
) -> Option<Vec<RunEvent>> {
    Some(match command {
        Command::ExecuteStep { step_id, attempt } => {
            let step = find_step(steps, step_id)?;
            let outcome = match steps::pure_outcome(step, context)? {
                Ok(output) => RunEvent::StepCompleted {
                    step_id: step_id.clone(),
                    attempt: *attempt,
                    output_json: output.to_string(),
                },
                Err(error) => RunEvent::StepFailed {
                    step_id: step_id.clone(),
                    attempt: *attempt,
                    error,
                },
            };
            // No StepStarted: nothing outside the journal happens, so there is nothing to
            // announce before it, and the outcome is recorded in the same append anyway.
            vec![outcome]
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
            vec![match delay_deadline(delay, now, context) {
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

/// Carries out a command that reaches outside the journal.
async fn touch_the_world(
    runs: &Runs,
    run_id: &str,
    wake: &Notify,
    steps: &[Step],
    loaded: &mut Loaded,
    commands: &[Command],
    stale: &mut bool,
) -> Result<(), RunsError> {
    match commands.first() {
        Some(Command::ExecuteStep { step_id, attempt }) => {
            execute_step(runs, run_id, steps, loaded, step_id, *attempt, stale).await
        }
        Some(Command::AwaitTimer {
            step_id,
            fire_at_ms,
        }) => {
            if wait_until(runs, *fire_at_ms, wake).await {
                let fired = RunEvent::TimerFired {
                    step_id: step_id.clone(),
                };
                record(runs, run_id, loaded, &[fired], stale).await?;
            } else {
                *stale = true;
            }
            Ok(())
        }
        Some(Command::AwaitResume { .. }) => {
            // A resume or a cancel wakes the driver; the wait's timeout, if any, fires here.
            let timeout = commands.iter().find_map(|c| match c {
                Command::AwaitTimer {
                    step_id,
                    fire_at_ms,
                } => Some((step_id.clone(), *fire_at_ms)),
                _ => None,
            });
            match timeout {
                None => wake.notified().await,
                Some((step_id, fire_at_ms)) => {
                    if wait_until(runs, fire_at_ms, wake).await {
                        let fired = RunEvent::TimerFired { step_id };
                        record(runs, run_id, loaded, &[fired], stale).await?;
                        return Ok(());
                    }
                }
            }
            *stale = true;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Announces the attempt durably, then carries it out and records the outcome.
async fn execute_step(
    runs: &Runs,
    run_id: &str,
    steps: &[Step],
    loaded: &mut Loaded,
    step_id: &str,
    attempt: u32,
    stale: &mut bool,
) -> Result<(), RunsError> {
    let Some(step) = find_step(steps, step_id) else {
        return Err(RunsError::Corrupt(format!(
            "decide named unknown step {step_id}"
        )));
    };
    if loaded.state.step(step_id) != Some(&StepState::Running { attempt }) {
        let started = RunEvent::StepStarted {
            step_id: step_id.to_owned(),
            attempt,
        };
        if !record(runs, run_id, loaded, &[started], stale).await? {
            return Ok(());
        }
    }
    let context = steps::context(run_id, &loaded.input, &outputs_of(&loaded.state));
    let outcome = steps::execute(&runs.inner().http, step, attempt, run_id, &context).await;
    let event = match outcome {
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
    };
    record(runs, run_id, loaded, &[event], stale).await?;
    Ok(())
}

/// Sleeps until `fire_at_ms` on the executor's clock. False if woken first (a resume or a
/// cancel changed the run, so the caller decides again).
async fn wait_until(runs: &Runs, fire_at_ms: i64, wake: &Notify) -> bool {
    let left_ms = fire_at_ms.saturating_sub(runs.inner().clock.now_ms());
    if left_ms <= 0 {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(left_ms as u64)) => true,
        _ = wake.notified() => false,
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
            let rendered = Template::parse(time)
                .and_then(|t| t.render(context))
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
