//! The driver of one run: fold, decide, carry out, record, until the run ends.
//!
//! Work that touches nothing outside the journal (a transform, scheduling a timer, finishing
//! the run) is decided and folded in memory (`fold`) and recorded together in one append, so
//! a run of pure steps costs one fdatasync, not two per step. Work that reaches the world (an
//! HTTP call) is preceded by its durable `StepStarted`; the `StepStarted`s of every attempt
//! `decide` asks for at once (a foreach's items) share one append, then the calls run side by
//! side (`in_flight`) and each outcome is appended as it arrives, expecting the stream version
//! the driver last read. Errors (a store hiccup, say) are retried with backoff from a fresh
//! read: the journal is the only state, so that is always safe.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::action::{ActionCall, Reached};
use super::fold::{outcome_event, Fold};
use super::in_flight::{Finished, InFlight};
use super::scope::{Items, RunContext};
use super::{steps, Loaded, Runs, RunsError, RUN_EVENTS_MAX};
use crate::decide::{decide_planned, Command, Plan};
use crate::definition::{Step, StepKind};
use crate::events::{RunError, RunEvent};
use crate::run::{evolve, StepState};

/// Longest pause between retries of a driver that keeps failing.
const DRIVER_BACKOFF_MS_MAX: u64 = 10_000;
/// Most events decided in memory before they are recorded.
const PENDING_EVENTS_MAX: usize = 256;
/// Most times an attempt's outcome is appended again after losing a race to another writer
/// (a resume or a cancel). Past that the attempt is left running and carried out again, as
/// after a crash.
const OUTCOME_APPENDS_MAX: u32 = 8;

enum Progress {
    Continue,
    Ended,
    /// The run waits for a resume and nothing else (no timer, no attempt under way): the
    /// driver stops, and `resume` or `cancel` start a new one (`Runs::park_driver`). Waiting
    /// then holds no task and no state in memory, only the run's record.
    Parked,
    /// The run waits for a timer due at this time (ms since the epoch) at least
    /// `SLEEP_AFTER_MS` off, and maybe a resume, with no attempt under way: the driver stops
    /// and the sleepers' queue starts a new one when the timer is due.
    Asleep(i64),
}

/// What a new driver starts from.
pub(super) enum Seed {
    /// Nothing: it reads the run from the journal.
    Journal,
    /// The run as it stands in the journal (just read, or just written by the caller).
    Current(Loaded),
    /// The state the run's last driver left (`hot_runs`): the journal may hold more.
    Behind(Loaded),
}

/// What the driver remembers between turns.
struct Memory {
    loaded: Option<Loaded>,
    /// The pinned version's steps, and their plan (laid out once for the run).
    steps: Option<(Arc<Vec<Step>>, Arc<Plan>)>,
    /// The run's template context, kept in step with `loaded`.
    context: RunContext,
    /// The stream may have changed behind the driver's back (it was woken, or lost a race).
    stale: bool,
    /// Items of the run's foreach steps, rendered once.
    items: Items,
    /// HTTP attempts being carried out; aborted when the driver stops.
    in_flight: InFlight,
}

pub(super) async fn drive(runs: Runs, run_id: String, wake: Arc<Notify>, seed: Seed) {
    let (loaded, stale) = match seed {
        Seed::Journal => (None, true),
        Seed::Current(loaded) => (Some(loaded), false),
        Seed::Behind(cached) => (runs.hot_seed(&run_id, cached).await, true),
    };
    let mut memory = Memory {
        stale,
        loaded,
        steps: None,
        context: RunContext::default(),
        items: Items::default(),
        in_flight: InFlight::default(),
    };
    let mut failures: u32 = 0;
    let mut parked_at = None;
    let mut wake_at_ms = None;
    // With several nodes, only the holder of the run's lease drives it: another node's
    // driver is asked to look instead (a resume this node recorded, say).
    loop {
        match runs.inner().leases.acquire(&run_id).await {
            Ok(true) => break,
            Ok(false) => {
                runs.inner().leases.poke(&run_id).await;
                runs.drop_driver(&run_id);
                return;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let backoff = (100u64 << failures.min(10)).min(DRIVER_BACKOFF_MS_MAX);
                tracing::warn!(%run_id, %error, backoff_ms = backoff, "cannot claim a run's lease; retrying");
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
        }
    }
    failures = 0;
    let mut lease_lost = false;
    loop {
        match turn(&runs, &run_id, &wake, &mut memory).await {
            Ok(Progress::Continue) => failures = 0,
            Ok(Progress::Ended) => break,
            Ok(Progress::Parked) => {
                parked_at = memory.loaded.as_ref().map(|loaded| loaded.version);
                break;
            }
            Ok(Progress::Asleep(due)) => {
                parked_at = memory.loaded.as_ref().map(|loaded| loaded.version);
                wake_at_ms = Some(due);
                break;
            }
            // Another node drives it now: stop without a word to waiters here (they watch
            // the journal instead).
            Err(RunsError::LeaseLost(_)) => {
                lease_lost = true;
                break;
            }
            // Reading it again would fail again: the run is quarantined, not retried.
            Err(RunsError::RunCorrupt { run_id, corruption }) => {
                super::quarantined(&run_id, &corruption);
                memory.loaded = None;
                break;
            }
            Err(error) => {
                memory.loaded = None;
                failures = failures.saturating_add(1);
                let backoff = (100u64 << failures.min(10)).min(DRIVER_BACKOFF_MS_MAX);
                tracing::warn!(%run_id, %error, backoff_ms = backoff, "run driver failed; retrying");
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
        }
    }
    let mut ended = false;
    if let Some(loaded) = &memory.loaded {
        let status = loaded.state.status();
        // A lease of a run that never started (its creating append did not land) ends too.
        ended = status.is_terminal() || loaded.state.status.is_none();
        if status.is_terminal() {
            metrics::counter!(
                "duro_runs_ended_total",
                "workflow" => loaded.state.workflow_id.clone(),
                "status" => super::status_name(status),
            )
            .increment(1);
        }
    }
    // Dropping `memory` aborts attempts still in flight: the run has ended without them (or
    // another node carries them out again).
    let loaded = memory.loaded.take();
    drop(memory);
    let leases = &runs.inner().leases;
    match parked_at {
        _ if lease_lost => runs.drop_driver(&run_id),
        Some(version) => {
            // Freed before the driver goes: a resume on another node can then claim it.
            leases.release(&run_id, wake_at_ms).await;
            runs.park_driver(&run_id, version, wake_at_ms, loaded).await
        }
        None => {
            if ended {
                // Usually gone with the run's last append already (appended by this driver).
                leases.finish(&run_id).await;
            } else {
                // Quarantined, or waiting on what only another run's end wakes (a child):
                // free, for whichever node learns of it.
                leases.release(&run_id, None).await;
            }
            runs.forget_driver(&run_id)
        }
    }
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
        None => {
            memory.context.forget();
            runs.load(run_id).await?
        }
    };
    memory.stale = false;
    let loaded = memory.loaded.insert(loaded);
    if loaded.state.status.is_none() || loaded.state.status().is_terminal() {
        return Ok(Progress::Ended);
    }
    let (steps, plan) = match &memory.steps {
        Some(pinned) => pinned.clone(),
        None => {
            let planned = runs
                .planned_steps_of(&loaded.state.workflow_id, loaded.state.workflow_version)
                .await?;
            memory.steps.insert(planned).clone()
        }
    };

    let mut pure = Pure {
        steps: &steps,
        plan: &plan,
        items: &mut memory.items,
        context: &mut memory.context,
    };
    let (pending, commands) = fold_in_memory(runs, run_id, loaded, &mut pure);
    if !pending.is_empty() {
        // The state already holds these events (folded in place, not copied); if they are
        // not recorded it is read again from the journal.
        if let Some(failure) = too_long(loaded.version, &pending) {
            let version = loaded.version;
            memory.loaded = None;
            runs.append_all(run_id, version, std::slice::from_ref(&failure))
                .await?;
            return Ok(Progress::Continue);
        }
        match runs.append_all(run_id, loaded.version, &pending).await {
            Ok(true) => loaded.version += pending.len() as u64,
            recorded => {
                memory.loaded = None;
                recorded?;
            }
        }
        return Ok(Progress::Continue);
    }
    if commands.is_empty() {
        return Ok(Progress::Ended);
    }
    let awaits_only_a_resume = commands
        .iter()
        .all(|command| matches!(command, Command::AwaitResume { .. }));
    if awaits_only_a_resume && memory.in_flight.is_empty() && !memory.stale {
        return Ok(Progress::Parked);
    }
    if let Some(due) = far_timer(runs, &commands) {
        if memory.in_flight.is_empty() && !memory.stale {
            return Ok(Progress::Asleep(due));
        }
    }
    let started = start_attempts(
        runs,
        run_id,
        loaded,
        &mut pure,
        &mut memory.in_flight,
        &commands,
        &mut memory.stale,
    )
    .await?;
    if !started {
        return Ok(Progress::Continue);
    }
    let timer = commands
        .iter()
        .filter_map(|c| match c {
            Command::AwaitTimer {
                step_id,
                fire_at_ms,
            } => Some((step_id, *fire_at_ms)),
            _ => None,
        })
        .min_by_key(|(_, fire_at_ms)| *fire_at_ms);
    let left_ms = timer.map_or(0, |(_, fire_at_ms)| {
        fire_at_ms
            .saturating_sub(runs.inner().clock.now_ms())
            .max(0) as u64
    });
    let in_flight = &mut memory.in_flight;
    tokio::select! {
        finished = in_flight.next(), if !in_flight.is_empty() => {
            record_outcome(runs, run_id, loaded, finished, &mut memory.stale).await?;
        }
        _ = tokio::time::sleep(Duration::from_millis(left_ms)), if timer.is_some() => {
            if let Some((step_id, _)) = timer {
                let fired = RunEvent::TimerFired { step_id: step_id.clone() };
                record(runs, run_id, loaded, &[fired], &mut memory.stale).await?;
            }
        }
        // A resume or a cancel changed the run: decide again from a fresh read.
        _ = wake.notified() => memory.stale = true,
    }
    Ok(Progress::Continue)
}

/// When the run only waits (for timers, and maybe a resume) and its earliest timer is at
/// least `SLEEP_AFTER_MS` off: that timer's due time.
fn far_timer(runs: &Runs, commands: &[Command]) -> Option<i64> {
    let mut earliest: Option<i64> = None;
    for command in commands {
        match command {
            Command::AwaitTimer { fire_at_ms, .. } => {
                earliest = Some(earliest.map_or(*fire_at_ms, |e| e.min(*fire_at_ms)));
            }
            Command::AwaitResume { .. } => {}
            _ => return None,
        }
    }
    let due = earliest?;
    let now = runs.inner().clock.now_ms();
    (due.saturating_sub(now) >= super::sleepers::SLEEP_AFTER_MS).then_some(due)
}

/// What deciding and folding in memory works with.
struct Pure<'a> {
    steps: &'a [Step],
    plan: &'a Plan,
    items: &'a mut Items,
    context: &'a mut RunContext,
}

/// Decides and folds in memory for as long as nothing outside the journal is touched. Returns
/// the events to record, and (when there are none) the commands that remain, which all reach
/// outside the journal or wait. The events are folded into `loaded.state` in place (its
/// `version` is left as it was): copying the state once per turn would cost O(run) a turn.
fn fold_in_memory(
    runs: &Runs,
    run_id: &str,
    loaded: &mut Loaded,
    pure: &mut Pure<'_>,
) -> (Vec<RunEvent>, Vec<Command>) {
    let now = runs.inner().clock.now_ms();
    let Loaded { state, input, .. } = loaded;
    let mut fold = Fold::new(
        pure.steps,
        pure.plan,
        pure.items,
        pure.context,
        run_id,
        input,
        now,
    );
    let mut pending = Vec::new();
    loop {
        if pending.len() >= PENDING_EVENTS_MAX || state.status().is_terminal() {
            return (pending, Vec::new());
        }
        let commands = decide_planned(pure.steps, pure.plan, state);
        // Commands decided together concern different steps (a foreach's items), so each
        // can be carried out from the same state.
        let mut batch = Vec::new();
        for command in &commands {
            if let Some(events) = fold.journal_only(state, command) {
                batch.extend(events);
            }
        }
        if batch.is_empty() {
            let remaining = if pending.is_empty() {
                commands
            } else {
                Vec::new()
            };
            return (pending, remaining);
        }
        for event in batch {
            *state = evolve(std::mem::take(state), &event);
            pending.push(event);
        }
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
    if let Some(failure) = too_long(loaded.version, events) {
        if runs.append(run_id, loaded.version, &failure).await? {
            loaded.apply(&failure);
        } else {
            *stale = true;
        }
        return Ok(false);
    }
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

/// The run's failure, when appending `events` after `version` would leave no room for it
/// within `RUN_EVENTS_MAX`, the most of a run's journal that is read back: a run that long
/// ends cleanly instead of being decided, after a restart, from a journal cut short.
fn too_long(version: u64, events: &[RunEvent]) -> Option<RunEvent> {
    if (version as usize).saturating_add(events.len()) < RUN_EVENTS_MAX {
        return None;
    }
    Some(RunEvent::RunFailed {
        error: RunError {
            step_id: None,
            code: Some("RUN_TOO_LONG".into()),
            message: format!(
                "the run reached {version} events; a run's journal holds at most \
                 {RUN_EVENTS_MAX}, so it cannot record {} more",
                events.len()
            ),
        },
    })
}

/// Starts every HTTP attempt `commands` ask for that is not already in flight: announces them
/// in one durable append, then sends each on its own task. False if another writer got to the
/// stream first (nothing was sent).
async fn start_attempts(
    runs: &Runs,
    run_id: &str,
    loaded: &mut Loaded,
    pure: &mut Pure<'_>,
    in_flight: &mut InFlight,
    commands: &[Command],
    stale: &mut bool,
) -> Result<bool, RunsError> {
    let steps = pure.steps;
    let plan = pure.plan;
    let items = &mut *pure.items;
    let context = pure.context.of(run_id, &loaded.input, &loaded.state);
    let mut announce = Vec::new();
    let mut attempts = Vec::new();
    for command in commands {
        let Command::ExecuteStep { step_id, attempt } = command else {
            continue;
        };
        if in_flight.contains(step_id) {
            continue;
        }
        let effect = if let Some(sub) = crate::agent::parse_sub_step(step_id) {
            agent_effect(runs, steps, &loaded.state, context, step_id, *attempt, sub)?
        } else {
            let Some(step) = plan.find(steps, step_id) else {
                return Err(RunsError::Corrupt(format!(
                    "decide named unknown step {step_id}"
                )));
            };
            // An item whose scope cannot be built fails its attempt like a bad template does.
            if let StepKind::Action(action) = &step.kind {
                let rendered = items.in_scope_planned(
                    steps,
                    plan,
                    &loaded.state,
                    context,
                    step_id,
                    |context| render_action(action, context),
                );
                let (params, connection) = match rendered {
                    Ok(rendered) => rendered,
                    Err(error) => (Err(error.clone()), Err(error)),
                };
                let responses = loaded
                    .state
                    .requests
                    .get(step_id.as_str())
                    .map(|recorded| {
                        recorded
                            .iter()
                            .map(|text| super::parse_json(text))
                            .collect()
                    })
                    .unwrap_or_default();
                Effect::Action(Box::new(ActionCall {
                    run_id: run_id.to_owned(),
                    step_id: step_id.clone(),
                    step: action.clone(),
                    params,
                    connection,
                    run_connection: loaded.state.connection_id.clone(),
                    workflow_id: loaded.state.workflow_id.clone(),
                    workflow_version: loaded.state.workflow_version,
                    responses,
                    timeout_ms: step.timeout_ms,
                }))
            } else if let StepKind::Workflow(child) = &step.kind {
                let input = items
                    .in_scope_planned(steps, plan, &loaded.state, context, step_id, |context| {
                        child.input.render(context).map_err(|e| {
                            steps::failure("TEMPLATE_ERROR", format!("config.input.{e}"), false)
                        })
                    })
                    .and_then(|rendered| rendered);
                Effect::Workflow(Box::new(super::children::ChildCall {
                    parent_run_id: run_id.to_owned(),
                    step_id: step_id.clone(),
                    child_run_id: super::children::child_run_id(run_id, step_id, *attempt),
                    step: child.clone(),
                    input,
                    connection_id: loaded.state.connection_id.clone(),
                }))
            } else if let StepKind::Email(email) = &step.kind {
                let rendered = items.in_scope_planned(
                    steps,
                    plan,
                    &loaded.state,
                    context,
                    step_id,
                    |context| {
                        (
                            super::email::render(email, context),
                            duro_core::evaluate::render_connection(
                                email.connection.as_ref(),
                                context,
                            ),
                        )
                    },
                );
                let (email, connection) = match rendered {
                    Ok(rendered) => rendered,
                    Err(error) => (Err(error.clone()), Err(error)),
                };
                Effect::Email(Box::new(super::email::EmailCall {
                    run_id: run_id.to_owned(),
                    step_id: step_id.clone(),
                    email,
                    connection,
                    run_connection: loaded.state.connection_id.clone(),
                    workflow_id: loaded.state.workflow_id.clone(),
                    workflow_version: loaded.state.workflow_version,
                    timeout_ms: step.timeout_ms,
                }))
            } else {
                match items.in_scope_planned(
                    steps,
                    plan,
                    &loaded.state,
                    context,
                    step_id,
                    |context| steps::request(step, step_id, *attempt, run_id, context),
                ) {
                    Ok(Some(request)) => Effect::Http(Ok(request)),
                    Ok(None) => {
                        return Err(RunsError::Corrupt(format!(
                            "step {step_id} is not one to call out for"
                        )))
                    }
                    Err(error) => Effect::Http(Err(error)),
                }
            }
        };
        if loaded.state.step(step_id) != Some(&StepState::Running { attempt: *attempt }) {
            announce.push(RunEvent::StepStarted {
                step_id: step_id.clone(),
                attempt: *attempt,
            });
            if let Effect::Workflow(call) = &effect {
                announce.push(RunEvent::ChildRunStarted {
                    step_id: step_id.clone(),
                    attempt: *attempt,
                    child_run_id: call.child_run_id.clone(),
                });
            }
        }
        attempts.push((step_id.clone(), *attempt, effect));
    }
    if !announce.is_empty() && !record(runs, run_id, loaded, &announce, stale).await? {
        return Ok(false);
    }
    for (step_id, attempt, effect) in attempts {
        let runs = runs.clone();
        in_flight.spawn(step_id, attempt, async move {
            let began = std::time::Instant::now();
            let (kind, reached) = match effect {
                Effect::Http(request) => {
                    let outcome = match request {
                        Ok(request) => steps::perform(&runs, request).await,
                        Err(error) => Err(error),
                    };
                    ("http", Reached::Done(outcome))
                }
                Effect::Action(call) => ("action", super::action::perform(runs, *call).await),
                Effect::Email(call) => (
                    "email",
                    Reached::Done(super::email::perform(runs, *call).await),
                ),
                Effect::Workflow(call) => (
                    "workflow",
                    Reached::Done(super::children::perform(runs, *call).await),
                ),
                Effect::Model(call) => (
                    "model",
                    Reached::Done(super::agent_calls::perform_model_call(&runs, *call).await),
                ),
            };
            let result = match &reached {
                Reached::Done(Err(_)) => "error",
                _ => "ok",
            };
            metrics::histogram!("duro_step_duration_seconds", "type" => kind, "outcome" => result)
                .record(began.elapsed().as_secs_f64());
            reached
        });
    }
    Ok(true)
}

/// What an attempt reaches out with.
enum Effect {
    Http(Result<steps::Request, crate::events::StepError>),
    Action(Box<ActionCall>),
    Email(Box<super::email::EmailCall>),
    Workflow(Box<super::children::ChildCall>),
    Model(Box<super::agent_calls::ModelCall>),
}

/// The effect of an agent's sub-step: a model call, or a tool call carried out as an action
/// or an HTTP request.
fn agent_effect(
    runs: &Runs,
    steps: &[Step],
    state: &crate::run::RunState,
    context: &serde_json::Value,
    step_id: &str,
    attempt: u32,
    sub: crate::agent::SubStep<'_>,
) -> Result<Effect, RunsError> {
    use crate::agent::SubStep;
    let agent_id = match sub {
        SubStep::Model { agent, .. } | SubStep::Tool { agent, .. } => agent,
    };
    let Some(Step {
        kind: StepKind::Agent(agent),
        timeout_ms,
        ..
    }) = crate::definition::find_step(steps, agent_id)
    else {
        return Err(RunsError::Corrupt(format!(
            "decide named {step_id}, but {agent_id} is not an agent step"
        )));
    };
    use super::agent_calls::{model_call, tool_effect, ToolEffect};
    Ok(match sub {
        SubStep::Model { turn, .. } => Effect::Model(Box::new(model_call(
            agent,
            agent_id,
            turn,
            *timeout_ms,
            state,
            context,
        ))),
        SubStep::Tool { turn, .. } => {
            match tool_effect(runs, agent, step_id, turn, attempt, *timeout_ms, state) {
                Ok(ToolEffect::Action(call)) => Effect::Action(call),
                Ok(ToolEffect::Http(request)) => Effect::Http(request),
                Ok(ToolEffect::Workflow(call)) => Effect::Workflow(call),
                Err(message) => Effect::Http(Err(steps::failure("INTERNAL", message, false))),
            }
        }
    })
}

/// An action step's params and connection, rendered against the run.
type RenderedAction = (
    Result<serde_json::Value, crate::events::StepError>,
    Result<Option<String>, crate::events::StepError>,
);

fn render_action(
    action: &crate::definition::ActionStep,
    context: &serde_json::Value,
) -> RenderedAction {
    let params = action
        .params
        .render(context)
        .map_err(|e| steps::failure("TEMPLATE_ERROR", format!("config.{e}"), false));
    (
        params,
        duro_core::evaluate::render_connection(action.connection.as_ref(), context),
    )
}

/// Records how an attempt ended, unless the run has moved on without it (it was cancelled, or
/// failed because of another item). A race lost to a resume or a cancel is retried from a
/// fresh read.
async fn record_outcome(
    runs: &Runs,
    run_id: &str,
    loaded: &mut Loaded,
    finished: Finished,
    stale: &mut bool,
) -> Result<(), RunsError> {
    let Finished {
        step_id,
        attempt,
        result,
    } = finished;
    let event = match result {
        Reached::Done(outcome) => outcome_event(&step_id, attempt, outcome),
        Reached::Request { request, output } => RunEvent::StepRequestCompleted {
            step_id: step_id.clone(),
            attempt,
            request,
            output_json: output.to_string(),
        },
    };
    for _ in 0..OUTCOME_APPENDS_MAX {
        if *stale {
            runs.refresh(run_id, loaded).await?;
            *stale = false;
        }
        let running = loaded.state.step(&step_id) == Some(&StepState::Running { attempt });
        if !running || loaded.state.status().is_terminal() {
            return Ok(());
        }
        if record(runs, run_id, loaded, std::slice::from_ref(&event), stale).await? {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_fails_rather_than_outgrow_what_is_read_back() {
        let event = |n: usize| {
            (0..n)
                .map(|_| RunEvent::TimerFired {
                    step_id: "s".into(),
                })
                .collect::<Vec<_>>()
        };
        let max = RUN_EVENTS_MAX as u64;
        assert_eq!(too_long(max - 2, &event(1)), None);
        let Some(RunEvent::RunFailed { error }) = too_long(max - 1, &event(1)) else {
            panic!("the last event left is the failure's");
        };
        assert_eq!(error.code.as_deref(), Some("RUN_TOO_LONG"));
        assert!(too_long(max - 100, &event(100)).is_some());
        assert_eq!(too_long(0, &event(256)), None);
    }
}
