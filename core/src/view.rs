//! A run as readers see it, folded from its journal: `Loaded` (the state with the journal's
//! times of each step, or where the journal became unreadable) and `RunView`/`StepView`
//! (what the API, the CLI and replay show). Pure: the times come from the recorded events.

use std::collections::HashMap;

use serde_json::Value;

use crate::events::{RunError, RunEvent, StepError};
use crate::run::{evolve, RunLink, RunState, RunStatus, StepState};

/// A step as a run's reader sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepView {
    pub id: String,
    pub status: &'static str,
    pub attempts: u32,
    pub output: Option<Value>,
    pub error: Option<StepError>,
    /// When the journal first mentions the step, and when it completed (µs since the epoch).
    pub started_at_us: Option<i64>,
    pub completed_at_us: Option<i64>,
    /// Completed with its parent run's output when this run was rerun from a later step.
    pub reused: bool,
}

/// When a step's events were recorded: the first one, and its `StepCompleted`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepTimes {
    /// Seq of the step's first event: steps are shown in the order they began.
    pub first_seq: u64,
    pub first_us: i64,
    pub completed_us: Option<i64>,
    pub reused: bool,
}

/// A run as its journal tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunView {
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_version: u64,
    pub status: RunStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<RunError>,
    pub steps: Vec<StepView>,
    pub started_at_us: Option<i64>,
    pub completed_at_us: Option<i64>,
    /// The run this one reruns (and from which step), if it is a rerun.
    pub parent: Option<RunLink>,
    /// The reruns of this run, oldest first.
    pub reruns: Vec<RunLink>,
    /// The child runs its workflow steps started, in order.
    pub children: Vec<crate::run::ChildLink>,
    /// The run whose workflow step started this one.
    pub called_by: Option<crate::run::ChildLink>,
    /// What a paused agent waits for: `{"type": "input", "question"}` or `{"type":
    /// "approval", "tool", "arguments"}` (with the paused step's `stepId`).
    pub waiting_for: Option<Value>,
    /// Tokens of every model call of the run's agent steps, summed: `{"inputTokens",
    /// "outputTokens"}`; None when it made none.
    pub usage: Option<Value>,
}

/// The first event of a run's stream that cannot be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// Its position in the run's stream (from 1).
    pub seq: u64,
    pub reason: String,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event {} of its journal cannot be decoded: {}",
            self.seq, self.reason
        )
    }
}

/// A run folded from its stream, with what the driver needs besides the state.
pub struct Loaded {
    pub state: RunState,
    /// The stream version the state reflects.
    pub version: u64,
    pub input: Value,
    pub started_at_us: Option<i64>,
    pub ended_at_us: Option<i64>,
    /// Journal times of each step, for readers (the state machine never sees them).
    pub step_times: HashMap<String, StepTimes>,
    /// Set when an event cannot be decoded; `state` then holds the events before it.
    pub corrupt: Option<Corruption>,
}

impl Loaded {
    pub fn empty() -> Loaded {
        Loaded {
            state: RunState::default(),
            version: 0,
            input: Value::Null,
            started_at_us: None,
            ended_at_us: None,
            step_times: HashMap::new(),
            corrupt: None,
        }
    }

    /// Folds one event read from the stream at `seq`, recorded at `at_us`, noting the times
    /// readers are shown.
    pub fn fold_recorded(&mut self, seq: u64, at_us: i64, event: &RunEvent) {
        self.started_at_us.get_or_insert(at_us);
        if let Some(step_id) = event.step_id() {
            let times = self
                .step_times
                .entry(step_id.to_owned())
                .or_insert(StepTimes {
                    first_seq: seq,
                    first_us: at_us,
                    completed_us: None,
                    reused: false,
                });
            match event {
                RunEvent::StepCompleted { .. } => times.completed_us = Some(at_us),
                RunEvent::StepReused { .. } => {
                    times.completed_us = Some(at_us);
                    times.reused = true;
                }
                _ => {}
            }
        }
        self.apply(event);
        if self.state.status().is_terminal() && self.ended_at_us.is_none() {
            self.ended_at_us = Some(at_us);
        }
    }

    /// Folds one event that is now in the stream at the next seq.
    pub fn apply(&mut self, event: &RunEvent) {
        self.state = evolve(std::mem::take(&mut self.state), event);
        self.version += 1;
    }
}

/// Outputs of a state's completed workflow-level steps, for templates. An item's sub-steps
/// are left out: inside its item `steps.<subId>` names them (see `scope`), and nothing
/// outside reads them.
pub fn outputs_of(state: &RunState) -> Vec<(String, Value)> {
    state
        .steps
        .iter()
        .filter(|(id, _)| !crate::foreach::is_item_step(id))
        .filter_map(|(id, s)| match s {
            StepState::Completed { output_json, .. } => Some((id.clone(), parse_json(output_json))),
            _ => None,
        })
        .collect()
}

pub fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Pending => "pending",
        RunStatus::Running => "running",
        RunStatus::Sleeping => "sleeping",
        RunStatus::Paused => "paused",
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Corrupt => "corrupt",
    }
}

/// The reader's view of a run folded without the store (replay).
pub fn view_of(loaded: &Loaded) -> RunView {
    view(Loaded {
        state: loaded.state.clone(),
        version: loaded.version,
        input: loaded.input.clone(),
        started_at_us: loaded.started_at_us,
        ended_at_us: loaded.ended_at_us,
        step_times: loaded.step_times.clone(),
        corrupt: loaded.corrupt.clone(),
    })
}

pub fn view(loaded: Loaded) -> RunView {
    let state = loaded.state;
    let first_seq = |id: &str| loaded.step_times.get(id).map_or(u64::MAX, |t| t.first_seq);
    let mut steps: Vec<((u64, usize, u64), StepView)> = state
        .steps
        .iter()
        .map(|(id, step)| {
            let times = loaded.step_times.get(id).copied();
            let mut view = step_view(id, step);
            view.started_at_us = times.map(|t| t.first_us);
            view.completed_at_us = times.and_then(|t| t.completed_us);
            view.reused = times.is_some_and(|t| t.reused);
            // Steps in the order they began; a foreach's items right after it, by index,
            // each item's sub-steps in the order they began.
            let key = match crate::foreach::ItemStepId::parse(id) {
                Some(item) => (first_seq(item.foreach_id), item.index + 1, first_seq(id)),
                None => (first_seq(id), 0, 0),
            };
            (key, view)
        })
        .collect();
    steps.sort_by(|(a_key, a), (b_key, b)| (a_key, &a.id).cmp(&(b_key, &b.id)));
    let steps = steps.into_iter().map(|(_, view)| view).collect();
    // A corrupt run shows what could be read, with why it stopped there as its error.
    let (status, error) = match &loaded.corrupt {
        Some(corruption) => (
            RunStatus::Corrupt,
            Some(RunError {
                step_id: None,
                code: Some("CORRUPT_EVENT".to_owned()),
                message: corruption.to_string(),
            }),
        ),
        None => (state.status(), state.error.clone()),
    };
    RunView {
        run_id: state.run_id.clone(),
        workflow_id: state.workflow_id.clone(),
        workflow_version: state.workflow_version,
        status,
        input: loaded.input,
        output: state.output_json.as_deref().map(parse_json),
        error,
        steps,
        started_at_us: loaded.started_at_us,
        completed_at_us: loaded.ended_at_us,
        parent: state.parent.clone(),
        reruns: state.reruns.clone(),
        children: state.children.clone(),
        called_by: state.called_by.clone(),
        waiting_for: waiting_for(&state),
        usage: usage(&state),
    }
}

/// The tokens of the run's recorded model calls.
fn usage(state: &RunState) -> Option<Value> {
    let mut total: Option<(u64, u64)> = None;
    for (id, step) in &state.steps {
        let (Some(crate::agent::SubStep::Model { .. }), StepState::Completed { output_json, .. }) =
            (crate::agent::parse_sub_step(id), step)
        else {
            continue;
        };
        if let Some(reply) = crate::agent::reply_of(output_json) {
            let (input, output) = total.get_or_insert((0, 0));
            *input += reply.usage.input_tokens;
            *output += reply.usage.output_tokens;
        }
    }
    total.map(|(input, output)| crate::agent::usage_json(input, output))
}

/// The first paused agent tool call's question or approval request.
fn waiting_for(state: &RunState) -> Option<Value> {
    if state.status() != RunStatus::Paused {
        return None;
    }
    state.steps.iter().find_map(|(id, step)| match step {
        StepState::Paused { .. } => crate::agent::waiting_for(id, state).map(|mut waiting| {
            waiting["stepId"] = Value::String(id.clone());
            waiting
        }),
        _ => None,
    })
}

pub fn step_view(id: &str, step: &StepState) -> StepView {
    let (status, attempts, output, error) = match step {
        StepState::Running { attempt } => ("running", *attempt, None, None),
        StepState::AttemptFailed { attempt, error } => {
            ("failed", *attempt, None, Some(error.clone()))
        }
        StepState::RetryWaiting { next_attempt, .. } | StepState::RetryDue { next_attempt } => {
            ("retrying", next_attempt - 1, None, None)
        }
        StepState::Sleeping { .. } => ("sleeping", 1, None, None),
        StepState::Paused { .. } => ("paused", 1, None, None),
        StepState::TimedOut => ("timed_out", 1, None, None),
        StepState::Elapsed { .. } | StepState::Resumed { .. } => ("running", 1, None, None),
        StepState::Iterating { .. } => ("running", 1, None, None),
        StepState::Completed {
            output_json,
            attempts,
        } => ("completed", *attempts, Some(parse_json(output_json)), None),
    };
    StepView {
        started_at_us: None,
        completed_at_us: None,
        reused: false,
        id: id.to_owned(),
        status,
        attempts,
        output,
        error,
    }
}
