//! The driver of one run: fold, decide, carry out the first command, record its outcome,
//! repeat until the run ends. Errors (a store hiccup, say) are retried with backoff; the
//! journal is the only state, so retrying is always safe.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use super::steps;
use super::{Loaded, Runs, RunsError};
use crate::decide::{decide, Command};
use crate::definition::{DelaySpec, Step};
use crate::events::{RunEvent, StepError};
use crate::run::StepState;
use crate::template::Template;

/// Longest pause between retries of a driver that keeps failing.
const DRIVER_BACKOFF_MS_MAX: u64 = 10_000;

enum Progress {
    Continue,
    Ended,
}

pub(super) async fn drive(runs: Runs, run_id: String, wake: Arc<Notify>) {
    let mut steps: Option<Vec<Step>> = None;
    let mut failures: u32 = 0;
    loop {
        match step_once(&runs, &run_id, &wake, &mut steps).await {
            Ok(Progress::Continue) => failures = 0,
            Ok(Progress::Ended) => break,
            Err(error) => {
                failures = failures.saturating_add(1);
                let backoff = (100u64 << failures.min(10)).min(DRIVER_BACKOFF_MS_MAX);
                tracing::warn!(%run_id, %error, backoff_ms = backoff, "run driver failed; retrying");
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
        }
    }
    runs.forget_driver(&run_id);
}

async fn step_once(
    runs: &Runs,
    run_id: &str,
    wake: &Notify,
    steps: &mut Option<Vec<Step>>,
) -> Result<Progress, RunsError> {
    let loaded = runs.load(run_id).await?;
    if loaded.state.status.is_none() || loaded.state.status().is_terminal() {
        return Ok(Progress::Ended);
    }
    if steps.is_none() {
        let pinned = runs
            .inner()
            .workflows
            .steps_of(&loaded.state.workflow_id, loaded.state.workflow_version)
            .await?;
        *steps = Some(pinned);
    }
    let steps = steps.as_deref().unwrap_or_default();
    let commands = decide(steps, &loaded.state);
    let Some(first) = commands.first() else {
        return Ok(Progress::Ended);
    };
    carry_out(runs, run_id, wake, steps, &loaded, first, &commands).await?;
    Ok(Progress::Continue)
}

async fn carry_out(
    runs: &Runs,
    run_id: &str,
    wake: &Notify,
    steps: &[Step],
    loaded: &Loaded,
    command: &Command,
    all: &[Command],
) -> Result<(), RunsError> {
    let now = runs.inner().clock.now_ms();
    let version = loaded.version;
    let event = match command {
        Command::ExecuteStep { step_id, attempt } => {
            return execute_step(runs, run_id, steps, loaded, step_id, *attempt).await;
        }
        Command::ScheduleRetry {
            step_id,
            next_attempt,
            wait_ms,
        } => RunEvent::StepRetryScheduled {
            step_id: step_id.clone(),
            next_attempt: *next_attempt,
            fire_at_ms: now.saturating_add(*wait_ms as i64),
        },
        Command::StartDelay { step_id, delay } => {
            match delay_deadline(delay, now, run_id, loaded) {
                Ok(fire_at_ms) => RunEvent::TimerScheduled {
                    step_id: step_id.clone(),
                    fire_at_ms,
                },
                Err(error) => RunEvent::StepFailed {
                    step_id: step_id.clone(),
                    attempt: 1,
                    error,
                },
            }
        }
        Command::AwaitTimer {
            step_id,
            fire_at_ms,
        } => {
            if !wait_until(runs, *fire_at_ms, wake).await {
                return Ok(());
            }
            RunEvent::TimerFired {
                step_id: step_id.clone(),
            }
        }
        Command::Pause {
            step_id,
            timeout_ms,
        } => RunEvent::RunPaused {
            step_id: step_id.clone(),
            timeout_at_ms: timeout_ms.map(|t| now.saturating_add(t as i64)),
        },
        Command::AwaitResume { .. } => {
            // A resume (or a cancel) wakes the driver; the wait's timeout, if any, fires here.
            let timeout = all.iter().find_map(|c| match c {
                Command::AwaitTimer {
                    step_id,
                    fire_at_ms,
                } => Some((step_id.clone(), *fire_at_ms)),
                _ => None,
            });
            match timeout {
                None => {
                    wake.notified().await;
                    return Ok(());
                }
                Some((step_id, fire_at_ms)) => {
                    if !wait_until(runs, fire_at_ms, wake).await {
                        return Ok(());
                    }
                    RunEvent::TimerFired { step_id }
                }
            }
        }
        Command::CompleteStep {
            step_id,
            output_json,
        } => RunEvent::StepCompleted {
            step_id: step_id.clone(),
            attempt: 1,
            output_json: output_json.clone(),
        },
        Command::CompleteRun { output_json } => RunEvent::RunCompleted {
            output_json: output_json.clone(),
        },
        Command::FailRun { error } => RunEvent::RunFailed {
            error: error.clone(),
        },
    };
    runs.append(run_id, version, &event).await?;
    Ok(())
}

/// Announces the attempt (durably), then carries it out and records the outcome.
async fn execute_step(
    runs: &Runs,
    run_id: &str,
    steps: &[Step],
    loaded: &Loaded,
    step_id: &str,
    attempt: u32,
) -> Result<(), RunsError> {
    let Some(step) = steps.iter().find(|s| s.id == step_id) else {
        return Err(RunsError::Corrupt(format!(
            "decide named unknown step {step_id}"
        )));
    };
    let mut version = loaded.version;
    if loaded.state.step(step_id) != Some(&StepState::Running { attempt }) {
        let started = RunEvent::StepStarted {
            step_id: step_id.to_owned(),
            attempt,
        };
        if !runs.append(run_id, version, &started).await? {
            return Ok(());
        }
        version += 1;
    }
    let context = steps::context(run_id, &loaded.input, &loaded.outputs);
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
    runs.append(run_id, version, &event).await?;
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
fn delay_deadline(
    delay: &DelaySpec,
    now: i64,
    run_id: &str,
    loaded: &Loaded,
) -> Result<i64, StepError> {
    let bad = |message: String| StepError {
        code: Some("BAD_DELAY".into()),
        message,
        retryable: false,
    };
    match delay {
        DelaySpec::For { duration_ms } => Ok(now.saturating_add(*duration_ms as i64)),
        DelaySpec::Until { time } => {
            let context = steps::context(run_id, &loaded.input, &loaded.outputs);
            let rendered = Template::parse(time)
                .and_then(|t| t.render(&context))
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
