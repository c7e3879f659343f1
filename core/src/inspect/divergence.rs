//! Would another definition have written this journal? Each event the engine decided is
//! checked against what `decide` says under the candidate definition in the state just
//! before it, as Temporal's replayer checks a worker's commands against a history. Events
//! that come from outside (a resume, a cancel, a timer firing when due) are checked only
//! for being expected at all.
//!
//! Beyond the commands, the candidate's steps must compute the same thing: a transform or a
//! condition must give the output the run's own definition gives in that state, and an HTTP
//! step must render the same request. The first event that fails any check is the
//! divergence; the same definition never diverges from a journal it wrote.

use serde_json::Value;

use super::{Context, JournalEvent};
use crate::decide::{decide_planned, Command, Plan};
use crate::definition::{find_step, Step, StepKind};
use crate::evaluate as step_exec;
use crate::events::RunEvent;
use crate::run::{evolve, RunState, StepState};
use crate::scope::Items;

/// What kind of difference was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DivergenceKind {
    /// The candidate would have done something else next.
    Command,
    /// A transform or condition computes a different output.
    Output,
    /// An HTTP step would send a different request.
    Request,
}

impl DivergenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DivergenceKind::Command => "command",
            DivergenceKind::Output => "output",
            DivergenceKind::Request => "request",
        }
    }
}

/// The first point where the candidate definition would have decided differently.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    pub seq: u64,
    pub kind: DivergenceKind,
    /// The event's name.
    pub event: &'static str,
    pub step_id: Option<String>,
    /// The event as recorded, in words.
    pub recorded: String,
    /// What the candidate would do instead, in words.
    pub expected: Vec<String>,
    pub message: String,
}

/// The first divergence of `candidate` from the journal `events` written under `original`.
pub(super) fn find(
    events: &[JournalEvent],
    original: &[Step],
    candidate: &[Step],
) -> Option<Divergence> {
    let mut state = RunState::default();
    let mut context = Context::default();
    let mut original_items = Items::default();
    let mut candidate_items = Items::default();
    // Laid out once: `decide` would lay the candidate out again for every event.
    let plan = Plan::new(candidate);
    for journal_event in events {
        let event = &journal_event.event;
        if state.status.is_some() && !state.status().is_terminal() {
            let commands = decide_planned(candidate, &plan, &state);
            let found = check(
                event,
                &commands,
                &state,
                Pair {
                    original,
                    candidate,
                    original_items: &mut original_items,
                    candidate_items: &mut candidate_items,
                    context: &mut context.value,
                },
            );
            if let Some((kind, message)) = found {
                return Some(Divergence {
                    seq: journal_event.seq,
                    kind,
                    event: event.name(),
                    step_id: event.step_id().map(str::to_owned),
                    recorded: describe_event(event),
                    expected: commands.iter().map(describe_command).collect(),
                    message,
                });
            }
        }
        state = evolve(state, event);
        context.note(event);
    }
    None
}

/// Both definitions, with their rendered foreach items.
struct Pair<'a> {
    original: &'a [Step],
    candidate: &'a [Step],
    original_items: &'a mut Items,
    candidate_items: &'a mut Items,
    /// The run's template context in the state being checked.
    context: &'a mut Value,
}

/// Why `event` could not have been written under the candidate, if it could not.
fn check(
    event: &RunEvent,
    commands: &[Command],
    state: &RunState,
    pair: Pair<'_>,
) -> Option<(DivergenceKind, String)> {
    let execute = |step: &str, attempt: Option<u32>| {
        commands.iter().any(|c| match c {
            Command::ExecuteStep {
                step_id,
                attempt: a,
            } => step_id == step && attempt.is_none_or(|want| want == *a),
            _ => false,
        })
    };
    let has = |matches: &dyn Fn(&Command) -> bool| commands.iter().any(matches);
    let expected = |what: &str| {
        Some((
            DivergenceKind::Command,
            if commands.is_empty() {
                format!("the journal records {what}, but the new definition would end the run here")
            } else {
                format!(
                    "the journal records {what}, but the new definition would {}",
                    commands
                        .iter()
                        .map(describe_command)
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            },
        ))
    };
    match event {
        RunEvent::RunStarted { .. }
        | RunEvent::RunForked { .. }
        | RunEvent::StepReused { .. }
        | RunEvent::RunRerun { .. }
        | RunEvent::StepRequestCompleted { .. }
        | RunEvent::ChildRunStarted { .. }
        | RunEvent::RunCalledBy { .. }
        | RunEvent::RunCancelled { .. } => None,
        RunEvent::StepStarted { step_id, attempt } => {
            if !execute(step_id, Some(*attempt)) {
                return expected(&format!("step {step_id} attempt {attempt} starting"));
            }
            compare_requests(step_id, state, pair)
        }
        RunEvent::StepCompleted { step_id, .. } | RunEvent::StepFailed { step_id, .. } => {
            let completes = has(&|c| {
                matches!(c, Command::CompleteStep { step_id: s, .. }
                    | Command::ExpandForeach { step_id: s }
                    | Command::StartDelay { step_id: s, .. } if s == step_id)
            });
            if !execute(step_id, None) && !completes {
                return expected(&format!("an outcome of step {step_id}"));
            }
            if let Some(Command::CompleteStep { output_json, .. }) = commands
                .iter()
                .find(|c| matches!(c, Command::CompleteStep { step_id: s, .. } if s == step_id))
            {
                if let RunEvent::StepCompleted {
                    output_json: recorded,
                    ..
                } = event
                {
                    if !same_json(recorded, output_json) {
                        return Some((
                            DivergenceKind::Output,
                            format!(
                                "step {step_id} would complete with {output_json}, but the journal has {recorded}"
                            ),
                        ));
                    }
                }
            }
            // An attempt that was started (an HTTP call) ends with what the world answered:
            // nothing to recompute. A pure step's outcome is computed again under both.
            if matches!(state.step(step_id), Some(StepState::Running { .. })) {
                return None;
            }
            compare_outputs(step_id, state, pair)
        }
        RunEvent::StepRetryScheduled {
            step_id,
            next_attempt,
            ..
        } => (!has(&|c| {
            matches!(c, Command::ScheduleRetry { step_id: s, next_attempt: n, .. }
                if s == step_id && n == next_attempt)
        }))
        .then(|| {
            expected(&format!(
                "a retry of step {step_id} (attempt {next_attempt})"
            ))
        })
        .flatten(),
        RunEvent::TimerScheduled { step_id, .. } => {
            (!has(&|c| matches!(c, Command::StartDelay { step_id: s, .. } if s == step_id)))
                .then(|| expected(&format!("a delay at step {step_id}")))
                .flatten()
        }
        RunEvent::TimerFired { step_id } => {
            (!has(&|c| matches!(c, Command::AwaitTimer { step_id: s, .. } if s == step_id)))
                .then(|| expected(&format!("the timer of step {step_id} firing")))
                .flatten()
        }
        RunEvent::RunPaused { step_id, .. } => {
            (!has(&|c| matches!(c, Command::Pause { step_id: s, .. } if s == step_id)))
                .then(|| expected(&format!("a pause at step {step_id}")))
                .flatten()
        }
        RunEvent::RunResumed { step_id, .. } => {
            (!has(&|c| matches!(c, Command::AwaitResume { step_id: s } if s == step_id)))
                .then(|| expected(&format!("a resume of step {step_id}")))
                .flatten()
        }
        RunEvent::ForeachStarted { step_id, .. } => {
            (!has(&|c| matches!(c, Command::ExpandForeach { step_id: s } if s == step_id)))
                .then(|| expected(&format!("foreach {step_id} expanding its items")))
                .flatten()
        }
        RunEvent::RunCompleted { output_json } => {
            let Some(Command::CompleteRun { output_json: would }) = commands
                .iter()
                .find(|c| matches!(c, Command::CompleteRun { .. }))
            else {
                return expected("the run completing");
            };
            (!same_json(output_json, would)).then(|| {
                (
                    DivergenceKind::Output,
                    format!(
                        "the run would complete with {would}, but the journal has {output_json}"
                    ),
                )
            })
        }
        RunEvent::RunFailed { error } => {
            (!has(&|c| matches!(c, Command::FailRun { error: e } if e.step_id == error.step_id)))
                .then(|| expected("the run failing"))
                .flatten()
        }
    }
}

/// The step's pure outcome under both definitions, when it is a transform or a condition
/// in the candidate.
fn compare_outputs(
    step_id: &str,
    state: &RunState,
    pair: Pair<'_>,
) -> Option<(DivergenceKind, String)> {
    let candidate_step = find_step(pair.candidate, step_id)?;
    if !matches!(
        candidate_step.kind,
        StepKind::Transform { .. } | StepKind::Condition { .. }
    ) {
        return None;
    }
    let render = |steps: &[Step], items: &mut Items, context: &mut Value| {
        let step = find_step(steps, step_id)?;
        items
            .in_scope(steps, state, context, step_id, |context| {
                step_exec::pure_outcome(step, context)
            })
            .ok()?
            .map(|outcome| outcome.map_err(|e| e.message))
    };
    let before = render(pair.original, pair.original_items, pair.context);
    let after = render(pair.candidate, pair.candidate_items, pair.context);
    if before == after {
        return None;
    }
    let show = |o: &Option<Result<Value, String>>| match o {
        Some(Ok(value)) => value.to_string(),
        Some(Err(message)) => format!("an error ({message})"),
        None => "nothing (it is not a transform or condition there)".into(),
    };
    Some((
        DivergenceKind::Output,
        format!(
            "step {step_id} computes {} under the new definition, but {} under the run's",
            show(&after),
            show(&before)
        ),
    ))
}

/// The request an HTTP step renders under both definitions.
fn compare_requests(
    step_id: &str,
    state: &RunState,
    pair: Pair<'_>,
) -> Option<(DivergenceKind, String)> {
    let render = |steps: &[Step], items: &mut Items, context: &mut Value| {
        let step = find_step(steps, step_id)?;
        items
            .in_scope(steps, state, context, step_id, |context| {
                step_exec::rendered_config(step, context)
            })
            .ok()?
    };
    let model = |steps: &[Step], context: &Value| {
        crate::model_call::model_request_json(steps, state, context, step_id)
    };
    let (before, after) = if crate::agent::parse_sub_step(step_id).is_some() {
        // An agent's model call: the request it would send (system prompt, messages, tools).
        (
            model(pair.original, pair.context),
            model(pair.candidate, pair.context),
        )
    } else {
        (
            render(pair.original, pair.original_items, pair.context),
            render(pair.candidate, pair.candidate_items, pair.context),
        )
    };
    if before == after {
        return None;
    }
    let changed = match (&before, &after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .filter(|k| b.get(*k) != a.get(*k))
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
        _ => "its config".into(),
    };
    Some((
        DivergenceKind::Request,
        format!("step {step_id} would send a different request under the new definition (changed: {changed})"),
    ))
}

fn same_json(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// A command in words.
pub fn describe_command(command: &Command) -> String {
    match command {
        Command::ExecuteStep { step_id, attempt } => {
            format!("execute step {step_id} (attempt {attempt})")
        }
        Command::ScheduleRetry {
            step_id,
            next_attempt,
            ..
        } => format!("schedule a retry of step {step_id} (attempt {next_attempt})"),
        Command::StartDelay { step_id, .. } => format!("start the delay of step {step_id}"),
        Command::AwaitTimer { step_id, .. } => format!("wait for the timer of step {step_id}"),
        Command::Pause { step_id, .. } => format!("pause at step {step_id}"),
        Command::AwaitResume { step_id } => format!("wait for a resume of step {step_id}"),
        Command::CompleteStep { step_id, .. } => format!("complete step {step_id}"),
        Command::CompleteRun { .. } => "complete the run".into(),
        Command::FailRun { error } => match &error.step_id {
            Some(step_id) => format!("fail the run at step {step_id}"),
            None => "fail the run".into(),
        },
        Command::ExpandForeach { step_id } => format!("expand the items of foreach {step_id}"),
    }
}

/// An event in words.
pub fn describe_event(event: &RunEvent) -> String {
    match event {
        RunEvent::StepStarted { step_id, attempt }
        | RunEvent::StepCompleted {
            step_id, attempt, ..
        }
        | RunEvent::StepFailed {
            step_id, attempt, ..
        } => format!("{} {step_id} (attempt {attempt})", event.name()),
        RunEvent::StepRetryScheduled {
            step_id,
            next_attempt,
            ..
        } => format!("{} {step_id} (attempt {next_attempt})", event.name()),
        RunEvent::RunFailed { error } => match &error.step_id {
            Some(step_id) => format!("RunFailed at step {step_id}: {}", error.message),
            None => format!("RunFailed: {}", error.message),
        },
        other => match other.step_id() {
            Some(step_id) => format!("{} {step_id}", other.name()),
            None => other.name().to_owned(),
        },
    }
}
