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
use crate::run::RunState;
use crate::view::StepView;

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
    let (entries, inputs, loaded) = timeline::fold(events, steps);
    let stopped = timeline::stopped(&loaded.state, events);
    let steps_report = timeline::step_reports(&loaded, inputs);
    let state = loaded.state;
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

/// The run's template context (`executor::steps::context`), kept up to date event by event
/// as the driver's `Fold` keeps it, so that replaying a run of N steps parses each output once
/// rather than once per later step. An item's sub-step outputs are laid over it per item by
/// `scope`, never kept in it.
#[derive(Default)]
struct Context {
    value: Value,
}

impl Context {
    /// Notes an event after it was folded.
    fn note(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted {
                run_id, input_json, ..
            } => {
                let input = crate::view::parse_json(input_json);
                self.value = crate::evaluate::context(run_id, &input, &[]);
            }
            RunEvent::StepCompleted {
                step_id,
                output_json,
                ..
            }
            | RunEvent::StepReused {
                step_id,
                output_json,
                ..
            } if !crate::foreach::is_item_step(step_id) => {
                crate::evaluate::add_output(&mut self.value, step_id, output_json);
            }
            _ => {}
        }
    }
}
