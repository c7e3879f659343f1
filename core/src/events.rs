//! The facts of a run, in the past tense, as they are stored in its `run-{id}` stream.
//!
//! `RunEvent` is the domain type; its bytes are `wire`'s frozen shapes, one per type tag and
//! version, which `encode` and `decode` go through (the rules: `crate::wire`). postcard
//! cannot carry `serde_json::Value` (it is not self-describing), so user JSON (input,
//! outputs, payloads) travels as JSON text. The journal stores each event's type tag in the
//! record header: `RunEvent::tag` gives the tag an event is written with today, and tags are
//! part of the journal format, never reused or renumbered.

use serde::{Deserialize, Serialize};

pub mod wire;

pub use crate::wire::EventDecodeError;

/// Why a step attempt failed, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepError {
    /// A machine-readable code (an HTTP status, "TIMEOUT", "TEMPLATE_ERROR", ...).
    pub code: Option<String>,
    pub message: String,
    /// Whether the executor judged the failure worth retrying (network errors, 5xx, 429).
    pub retryable: bool,
}

/// Why a whole run failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    pub step_id: Option<String>,
    pub code: Option<String>,
    pub message: String,
}

/// The facts of a run. Its order and shape are free to change: the bytes are `wire`'s.
/// `Serialize` serves the API's JSON of an event (`api::reply`), never the journal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RunEvent {
    RunStarted {
        run_id: String,
        workflow_id: String,
        workflow_version: u64,
        input_json: String,
        idempotency_key: Option<String>,
        connection_id: Option<String>,
    },
    /// The executor is about to carry out `attempt` of a step; durable before the side effect.
    StepStarted {
        step_id: String,
        attempt: u32,
    },
    StepCompleted {
        step_id: String,
        attempt: u32,
        output_json: String,
    },
    StepFailed {
        step_id: String,
        attempt: u32,
        error: StepError,
    },
    /// The step will get attempt `next_attempt` once the timer at `fire_at_ms` fires.
    StepRetryScheduled {
        step_id: String,
        next_attempt: u32,
        fire_at_ms: i64,
    },
    /// A delay step sleeps until `fire_at_ms`.
    TimerScheduled {
        step_id: String,
        fire_at_ms: i64,
    },
    /// The timer of `step_id` (a delay, a retry wait or a wait timeout) fired.
    TimerFired {
        step_id: String,
    },
    /// A wait step paused the run until resumed, or until `timeout_at_ms`.
    RunPaused {
        step_id: String,
        timeout_at_ms: Option<i64>,
    },
    RunResumed {
        step_id: String,
        payload_json: String,
    },
    RunCancelled {
        reason: String,
    },
    RunCompleted {
        output_json: String,
    },
    RunFailed {
        error: RunError,
    },
    /// A foreach step's items rendered to an array of `items` elements; its item `i` runs
    /// its sub-steps under the ids `"{step_id}[{i}].{subId}"`. Only the count is recorded:
    /// the items are rendered again from the same recorded input and outputs when needed.
    ForeachStarted {
        step_id: String,
        items: u32,
    },
    /// This run is a rerun of `parent_run_id` from `from_step`: recorded right after its
    /// `RunStarted`, in the same append, before the `StepReused`s it starts with.
    RunForked {
        parent_run_id: String,
        from_step: String,
    },
    /// A step before the rerun's `from_step`, completed with its parent's journaled output
    /// and not carried out again.
    StepReused {
        step_id: String,
        attempts: u32,
        output_json: String,
    },
    /// A rerun of this run, `child_run_id`, was started from `from_step`. The one event a run
    /// may get after it ended: it records a link, not a change of the run.
    RunRerun {
        child_run_id: String,
        from_step: String,
    },
    /// Request `request` (counted from 1) of an action of several requests answered with
    /// `output_json` (its response body). Recorded before the next request is sent, so a
    /// crash or a retry continues after it and never sends it again.
    StepRequestCompleted {
        step_id: String,
        attempt: u32,
        request: u32,
        output_json: String,
    },
    /// Attempt `attempt` of workflow step `step_id` runs the child run `child_run_id`
    /// (derived from this run, the step and the attempt, so a crash never starts two).
    /// Recorded with the attempt's `StepStarted`, before the child is started.
    ChildRunStarted {
        step_id: String,
        attempt: u32,
        child_run_id: String,
    },
    /// This run is the child of `parent_run_id`'s workflow step `step_id`: recorded right
    /// after its `RunStarted`, in the same append.
    RunCalledBy {
        parent_run_id: String,
        step_id: String,
    },
}

impl RunEvent {
    /// The journal's type tag this event is written with: its latest version's in
    /// `wire::RUN_EVENTS`. Part of the journal format: never renumber.
    pub fn tag(&self) -> u16 {
        match self {
            RunEvent::RunStarted { .. } => 100,
            RunEvent::StepStarted { .. } => 101,
            RunEvent::StepCompleted { .. } => 102,
            RunEvent::StepFailed { .. } => 103,
            RunEvent::StepRetryScheduled { .. } => 104,
            RunEvent::TimerScheduled { .. } => 105,
            RunEvent::TimerFired { .. } => 106,
            RunEvent::RunPaused { .. } => 107,
            RunEvent::RunResumed { .. } => 108,
            RunEvent::RunCancelled { .. } => 109,
            RunEvent::RunCompleted { .. } => 110,
            RunEvent::RunFailed { .. } => 111,
            RunEvent::ForeachStarted { .. } => 112,
            RunEvent::RunForked { .. } => 113,
            RunEvent::StepReused { .. } => 114,
            RunEvent::RunRerun { .. } => 115,
            RunEvent::StepRequestCompleted { .. } => 116,
            RunEvent::ChildRunStarted { .. } => 117,
            RunEvent::RunCalledBy { .. } => 118,
        }
    }

    /// The event's name as the API shows it.
    pub fn name(&self) -> &'static str {
        match self {
            RunEvent::RunStarted { .. } => "RunStarted",
            RunEvent::StepStarted { .. } => "StepStarted",
            RunEvent::StepCompleted { .. } => "StepCompleted",
            RunEvent::StepFailed { .. } => "StepFailed",
            RunEvent::StepRetryScheduled { .. } => "StepRetryScheduled",
            RunEvent::TimerScheduled { .. } => "TimerScheduled",
            RunEvent::TimerFired { .. } => "TimerFired",
            RunEvent::RunPaused { .. } => "RunPaused",
            RunEvent::RunResumed { .. } => "RunResumed",
            RunEvent::RunCancelled { .. } => "RunCancelled",
            RunEvent::RunCompleted { .. } => "RunCompleted",
            RunEvent::RunFailed { .. } => "RunFailed",
            RunEvent::ForeachStarted { .. } => "ForeachStarted",
            RunEvent::RunForked { .. } => "RunForked",
            RunEvent::StepReused { .. } => "StepReused",
            RunEvent::RunRerun { .. } => "RunRerun",
            RunEvent::StepRequestCompleted { .. } => "StepRequestCompleted",
            RunEvent::ChildRunStarted { .. } => "ChildRunStarted",
            RunEvent::RunCalledBy { .. } => "RunCalledBy",
        }
    }

    /// The step an event is about, if it is about one.
    pub fn step_id(&self) -> Option<&str> {
        match self {
            RunEvent::StepStarted { step_id, .. }
            | RunEvent::StepCompleted { step_id, .. }
            | RunEvent::StepFailed { step_id, .. }
            | RunEvent::StepRetryScheduled { step_id, .. }
            | RunEvent::TimerScheduled { step_id, .. }
            | RunEvent::TimerFired { step_id }
            | RunEvent::RunPaused { step_id, .. }
            | RunEvent::RunResumed { step_id, .. }
            | RunEvent::ForeachStarted { step_id, .. }
            | RunEvent::StepReused { step_id, .. }
            | RunEvent::StepRequestCompleted { step_id, .. }
            | RunEvent::ChildRunStarted { step_id, .. } => Some(step_id),
            RunEvent::RunStarted { .. }
            | RunEvent::RunForked { .. }
            | RunEvent::RunRerun { .. }
            | RunEvent::RunCalledBy { .. }
            | RunEvent::RunCancelled { .. }
            | RunEvent::RunCompleted { .. }
            | RunEvent::RunFailed { .. } => None,
        }
    }

    /// The payload this event is written with (its latest wire version).
    pub fn encode(&self) -> Vec<u8> {
        wire::encode(self)
    }

    /// Decodes an event read from the journal by its tag (upcasting an old version); the
    /// payload must be that tag's shape.
    pub fn decode(tag: impl Into<u16>, data: &[u8]) -> Result<RunEvent, EventDecodeError> {
        wire::RUN_EVENTS.decode(tag, data)
    }
}
