//! Replay debugging: a run's journal folded event by event into a timeline a person can read
//! (`timeline`), and checked against another definition of its workflow for the first point
//! where that definition would have decided differently (`divergence`).
//!
//! Pure, like `run` and `decide`: the journal in, a report out; no clock, no I/O. The same
//! code serves the server (`GET /api/v1/runs/{id}/replay`) and the offline
//! `duro replay --journal FILE`.

mod divergence;
mod timeline;

pub use divergence::{describe_command, describe_event, Divergence, DivergenceKind};
pub use timeline::{Entry, Stopped};

use std::collections::HashMap;

use serde_json::Value;

use crate::definition::Step;
use crate::events::RunEvent;
use crate::executor::StepView;
use crate::run::RunState;

/// One event of a run's stream, as replay needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEvent {
    pub seq: u64,
    pub recorded_at_us: i64,
    pub event: RunEvent,
}

/// A step as the replay shows it: its final state, and what it was given.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    pub view: StepView,
    /// What the step was given when it started: an HTTP step's rendered request (secret
    /// headers masked), a foreach's item count; None for steps whose input is their config.
    pub input: Option<Value>,
}

/// Everything replay has to say about one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    /// Each event with the run's status and the step's state after it.
    pub entries: Vec<Entry>,
    /// The state after the last event.
    pub state: RunState,
    pub steps: Vec<StepReport>,
    pub stopped: Stopped,
    /// Set when replayed against another definition and it would have decided differently.
    pub divergence: Option<Divergence>,
}

/// Replays `events` (a run's whole stream, in seq order) under `steps`, the definition the
/// run was started with; with `against`, also checks that definition against the history.
pub fn replay_run(events: &[JournalEvent], steps: &[Step], against: Option<&[Step]>) -> Replay {
    let (entries, state, inputs, loaded) = timeline::fold(events, steps);
    let stopped = timeline::stopped(&state, events);
    let steps_report = timeline::step_reports(&loaded, inputs);
    let divergence = against.and_then(|candidate| divergence::find(events, steps, candidate));
    Replay {
        entries,
        state,
        steps: steps_report,
        stopped,
        divergence,
    }
}

/// Step inputs by journal step id.
type Inputs = HashMap<String, Value>;
