//! A run's state, and `evolve`: the fold of its events. No logic lives here beyond recording
//! what the events say (the decisions are in `decide`); no clock, no randomness, no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{RunError, RunEvent, StepError};

mod progress;

pub use progress::{Completion, ItemsProgress, Progress};

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Pending,
    Running,
    /// Waiting on a durable timer (a delay or a retry's backoff).
    Sleeping,
    /// Waiting to be resumed (a wait step).
    Paused,
    Completed,
    Failed,
    Cancelled,
    /// An event of the run's stream cannot be decoded: the run is quarantined (never driven,
    /// resumed or cancelled) while every other run goes on. Only a reader sets it, never the
    /// fold: no event leads here, and restoring the journal from a backup leads out.
    Corrupt,
}

impl RunStatus {
    /// Every status, in the order runs usually pass through them.
    pub const ALL: [RunStatus; 8] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Sleeping,
        RunStatus::Paused,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Corrupt,
    ];
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    /// The one list of legal status changes, checked on every fold.
    pub fn can_transition_to(self, next: RunStatus) -> bool {
        use RunStatus::*;
        match (self, next) {
            (a, b) if a == b => true,
            (Pending, Running | Sleeping | Paused | Completed | Failed | Cancelled) => true,
            (Running, Sleeping | Paused | Completed | Failed | Cancelled) => true,
            (Sleeping, Running | Paused | Completed | Failed | Cancelled) => true,
            (Paused, Running | Sleeping | Completed | Failed | Cancelled) => true,
            _ => false,
        }
    }
}

/// Where one step stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum StepState {
    /// `attempt` was started (and may be in flight, or lost in a crash).
    Running {
        attempt: u32,
    },
    /// `attempt` failed; whether it is retried is decided next.
    AttemptFailed {
        attempt: u32,
        error: StepError,
    },
    /// Attempt `next_attempt` waits for its backoff timer.
    RetryWaiting {
        next_attempt: u32,
        fire_at_ms: i64,
    },
    /// The retry timer fired: attempt `next_attempt` is due.
    RetryDue {
        next_attempt: u32,
    },
    /// A delay step sleeps.
    Sleeping {
        fire_at_ms: i64,
    },
    /// A wait step holds the run.
    Paused {
        timeout_at_ms: Option<i64>,
    },
    /// A wait step's timeout fired.
    TimedOut,
    /// A delay step's timer fired; its `StepCompleted` comes next.
    Elapsed {
        fire_at_ms: i64,
    },
    /// A wait step was resumed with this payload; its `StepCompleted` comes next.
    Resumed {
        payload_json: String,
    },
    Completed {
        output_json: String,
        attempts: u32,
    },
    /// A foreach step runs over `items` items (their sub-steps are steps of their own).
    Iterating {
        items: u32,
    },
}

/// Everything known about a run, folded from its events.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_version: u64,
    pub input_json: String,
    pub status: Option<RunStatus>,
    pub steps: BTreeMap<String, StepState>,
    pub output_json: Option<String>,
    pub error: Option<RunError>,
    /// Events folded so far: the stream version this state reflects.
    pub events: u64,
    /// Events that did not fit the state (a bug or a foreign writer); kept, never dropped.
    pub anomalies: Vec<String>,
    /// The connection the run was started with.
    pub connection_id: Option<String>,
    /// The run this one reruns, and from which step.
    pub parent: Option<RunLink>,
    /// Reruns of this run, in the order they were started.
    pub reruns: Vec<RunLink>,
    /// The recorded responses (JSON text) of the steps' requests, by step id: entry `i` is
    /// request `i + 1`'s body ("null" for one skipped by its `when`). An action of several
    /// requests resumes after the last one here.
    pub requests: BTreeMap<String, Vec<String>>,
    /// The runs this one started from its workflow steps, in order.
    pub children: Vec<ChildLink>,
    /// The run whose workflow step started this one.
    pub called_by: Option<ChildLink>,
    /// The payload of each step's last resume (an agent's approval keeps its arguments here
    /// after the step has moved on to running).
    pub resumed: BTreeMap<String, String>,
    /// Where each sequence of steps stands (derived from the events above, kept as they are
    /// folded), so `decide` need not walk every step of the run on every decision.
    #[serde(skip)]
    pub progress: Progress,
}

/// A parent run's workflow step and the child run it started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildLink {
    /// The other run: the child (in `children`) or the parent (in `called_by`).
    pub run_id: String,
    pub step_id: String,
}

/// One end of a rerun's link: the other run, and the step the rerun started from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLink {
    pub run_id: String,
    pub from_step: String,
}

impl RunState {
    pub fn status(&self) -> RunStatus {
        self.status.unwrap_or(RunStatus::Pending)
    }

    pub fn step(&self, step_id: &str) -> Option<&StepState> {
        self.steps.get(step_id)
    }

    fn set_status(&mut self, next: RunStatus) {
        let current = self.status();
        if self.status.is_some() && !current.can_transition_to(next) {
            self.anomalies
                .push(format!("illegal status change {current:?} -> {next:?}"));
            return;
        }
        self.status = Some(next);
    }

    /// Every change of a step's state goes through here, so `progress` sees them all.
    fn set_step(&mut self, step_id: &str, state: StepState) {
        let completed = match &state {
            StepState::Completed { output_json, .. } => Some(output_json.as_str()),
            _ => None,
        };
        self.progress
            .record(step_id, self.steps.get(step_id), completed);
        self.steps.insert(step_id.to_owned(), state);
    }
}

/// Folds one event into the state. Replaying a run is `events.fold(RunState::default(), evolve)`.
pub fn evolve(mut state: RunState, event: &RunEvent) -> RunState {
    state.events += 1;
    if let RunEvent::RunRerun {
        child_run_id,
        from_step,
    } = event
    {
        state.reruns.push(RunLink {
            run_id: child_run_id.clone(),
            from_step: from_step.clone(),
        });
        return state;
    }
    if state.status().is_terminal() {
        state
            .anomalies
            .push(format!("{} after the run ended", event.name()));
        return state;
    }
    match event {
        RunEvent::RunStarted {
            run_id,
            workflow_id,
            workflow_version,
            input_json,
            connection_id,
            ..
        } => {
            state.connection_id = connection_id.clone();
            state.run_id = run_id.clone();
            state.workflow_id = workflow_id.clone();
            state.workflow_version = *workflow_version;
            state.input_json = input_json.clone();
            state.status = Some(RunStatus::Pending);
        }
        RunEvent::StepStarted { step_id, attempt } => {
            state.set_step(step_id, StepState::Running { attempt: *attempt });
            state.set_status(RunStatus::Running);
        }
        RunEvent::StepCompleted {
            step_id,
            attempt,
            output_json,
        } => {
            state.set_step(
                step_id,
                StepState::Completed {
                    output_json: output_json.clone(),
                    attempts: *attempt,
                },
            );
            state.set_status(RunStatus::Running);
        }
        RunEvent::StepFailed {
            step_id,
            attempt,
            error,
        } => {
            state.set_step(
                step_id,
                StepState::AttemptFailed {
                    attempt: *attempt,
                    error: error.clone(),
                },
            );
        }
        RunEvent::StepRetryScheduled {
            step_id,
            next_attempt,
            fire_at_ms,
        } => {
            state.set_step(
                step_id,
                StepState::RetryWaiting {
                    next_attempt: *next_attempt,
                    fire_at_ms: *fire_at_ms,
                },
            );
            state.set_status(RunStatus::Sleeping);
        }
        RunEvent::TimerScheduled {
            step_id,
            fire_at_ms,
        } => {
            state.set_step(
                step_id,
                StepState::Sleeping {
                    fire_at_ms: *fire_at_ms,
                },
            );
            state.set_status(RunStatus::Sleeping);
        }
        RunEvent::TimerFired { step_id } => timer_fired(&mut state, step_id),
        RunEvent::RunPaused {
            step_id,
            timeout_at_ms,
        } => {
            state.set_step(
                step_id,
                StepState::Paused {
                    timeout_at_ms: *timeout_at_ms,
                },
            );
            state.set_status(RunStatus::Paused);
        }
        RunEvent::RunResumed {
            step_id,
            payload_json,
        } => {
            state.resumed.insert(step_id.clone(), payload_json.clone());
            state.set_step(
                step_id,
                StepState::Resumed {
                    payload_json: payload_json.clone(),
                },
            );
            state.set_status(RunStatus::Running);
        }
        RunEvent::RunCancelled { .. } => state.set_status(RunStatus::Cancelled),
        RunEvent::RunCompleted { output_json } => {
            state.output_json = Some(output_json.clone());
            state.set_status(RunStatus::Completed);
        }
        RunEvent::RunFailed { error } => {
            state.error = Some(error.clone());
            state.set_status(RunStatus::Failed);
        }
        RunEvent::ForeachStarted { step_id, items } => {
            state.set_step(step_id, StepState::Iterating { items: *items });
            state.set_status(RunStatus::Running);
        }
        RunEvent::RunForked {
            parent_run_id,
            from_step,
        } => {
            state.parent = Some(RunLink {
                run_id: parent_run_id.clone(),
                from_step: from_step.clone(),
            });
        }
        // The run stays pending: nothing has been carried out in it yet.
        RunEvent::StepReused {
            step_id,
            attempts,
            output_json,
        } => state.set_step(
            step_id,
            StepState::Completed {
                output_json: output_json.clone(),
                attempts: *attempts,
            },
        ),
        RunEvent::StepRequestCompleted {
            step_id,
            attempt,
            request,
            output_json,
        } => {
            let recorded = state.requests.get(step_id).map_or(0, Vec::len);
            let running = state.step(step_id) == Some(&StepState::Running { attempt: *attempt });
            // Requests are recorded in order, by the attempt that sent them; requests skipped
            // by their `when` in between are not sent and read as null.
            if !running || *request as usize <= recorded {
                state.anomalies.push(format!(
                    "StepRequestCompleted {request} for step {step_id} (attempt {attempt}) \
                     with {recorded} recorded, in state {:?}",
                    state.step(step_id)
                ));
            } else {
                let responses = state.requests.entry(step_id.clone()).or_default();
                responses.resize(*request as usize - 1, "null".to_owned());
                responses.push(output_json.clone());
            }
        }
        RunEvent::ChildRunStarted {
            step_id,
            child_run_id,
            ..
        } => state.children.push(ChildLink {
            run_id: child_run_id.clone(),
            step_id: step_id.clone(),
        }),
        RunEvent::RunCalledBy {
            parent_run_id,
            step_id,
        } => {
            state.called_by = Some(ChildLink {
                run_id: parent_run_id.clone(),
                step_id: step_id.clone(),
            })
        }
        // Handled before the terminal check above.
        RunEvent::RunRerun { .. } => {}
    }
    state
}

/// A timer means what the step it belongs to is waiting for.
fn timer_fired(state: &mut RunState, step_id: &str) {
    let next = match state.steps.get(step_id) {
        Some(StepState::RetryWaiting { next_attempt, .. }) => StepState::RetryDue {
            next_attempt: *next_attempt,
        },
        Some(StepState::Sleeping { fire_at_ms }) => StepState::Elapsed {
            fire_at_ms: *fire_at_ms,
        },
        Some(StepState::Paused { .. }) => StepState::TimedOut,
        other => {
            state
                .anomalies
                .push(format!("TimerFired for step {step_id} in state {other:?}"));
            return;
        }
    };
    state.set_step(step_id, next);
    state.set_status(RunStatus::Running);
}

/// Replays a whole history.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> RunState {
    events.into_iter().fold(RunState::default(), evolve)
}
