//! Runs: the run request, what starting one answers, a run as its journal tells it, its
//! events, listing items, resume, cancel, rerun and replay.

use duro_core::ids::{ConnectionId, RunId, StepId, WorkflowId};
use engine::events::{RunError, StepError};
use engine::executor::{status_name, Against, RunView, StepView};
use engine::inspect::{Replay as EngineReplay, StepReport};
use engine::run::{ChildLink, RunLink as EngineRunLink};
use journal::RecordedEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::envelope::{page_envelope, success_envelope};
use super::workflows::WorkflowDefinition;
use crate::reply::{camel_case, event_data, time};

/// A run's status; `completed`, `failed` and `cancelled` are terminal. `corrupt`: an event of
/// its journal cannot be decoded, and the run is quarantined (shown, never driven).
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(
    dead_code,
    reason = "the schema of the run statuses that handlers send as text"
)]
pub enum RunStatus {
    Pending,
    Running,
    Sleeping,
    Paused,
    Completed,
    Failed,
    Cancelled,
    Corrupt,
}

/// A step's status in a run.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(
    dead_code,
    reason = "the schema of the step statuses that handlers send as text"
)]
pub enum StepStatus {
    Running,
    Failed,
    Retrying,
    Sleeping,
    Paused,
    TimedOut,
    Completed,
}

/// The body of a run request (seed 001); every field optional, an empty body is `{}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "input": {"customerId": "cus_xxx", "items": [{"productId": "p1", "quantity": 2, "price": 1999}]},
    "idempotencyKey": "order-1234"
}))]
pub struct RunRequest {
    /// A JSON object, validated against the workflow's `inputSchema` (defaults applied).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    #[serde(default)]
    pub connection_id: Option<ConnectionId>,
    /// 1 to 255 bytes. A key seen in the last 24 hours answers 200 with that first run
    /// instead of starting another. The `Idempotency-Key` header is read when the body has
    /// none.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A run just started (or found by its idempotency key).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "runId": "run_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "status": "pending",
    "workflowId": "wf_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "workflowVersion": 1
}))]
pub struct RunStarted {
    pub run_id: RunId,
    /// `pending` for a new run; the run's current status for an idempotent repeat.
    #[schema(value_type = RunStatus)]
    pub status: String,
    pub workflow_id: WorkflowId,
    pub workflow_version: u64,
}

/// What starting a run answers: the started run, or with `?wait` the run itself.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RunStart {
    Started(RunStarted),
    Run(Box<Run>),
}

impl RunStart {
    /// The id of the run started (or found).
    pub fn run_id(&self) -> &str {
        match self {
            RunStart::Started(started) => started.run_id.as_str(),
            RunStart::Run(run) => run.run_id.as_str(),
        }
    }
}

/// Why a whole run failed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunFailure {
    #[schema(required = true)]
    pub step_id: Option<StepId>,
    #[schema(required = true)]
    pub code: Option<String>,
    pub message: String,
}

impl From<&RunError> for RunFailure {
    fn from(error: &RunError) -> RunFailure {
        let RunError {
            step_id,
            code,
            message,
        } = error;
        RunFailure {
            step_id: step_id.clone().map(Into::into),
            code: code.clone(),
            message: message.clone(),
        }
    }
}

/// Why a step attempt failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepFailure {
    /// An HTTP status, `TIMEOUT`, `TEMPLATE_ERROR`, ...
    #[schema(required = true)]
    pub code: Option<String>,
    pub message: String,
    /// Whether the failure was judged worth retrying.
    pub retryable: bool,
}

impl From<&StepError> for StepFailure {
    fn from(error: &StepError) -> StepFailure {
        let StepError {
            code,
            message,
            retryable,
        } = error;
        StepFailure {
            code: code.clone(),
            message: message.clone(),
            retryable: *retryable,
        }
    }
}

/// A step of a run as its journal tells it. A foreach's items follow it with composite ids
/// (`each[3].charge`); an agent's model and tool calls with `agent.m1`, `agent.t1.{callId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStep {
    pub id: StepId,
    #[schema(value_type = StepStatus)]
    pub status: String,
    pub attempts: u32,
    #[schema(value_type = Value, required = true)]
    pub output: Option<Value>,
    #[schema(required = true)]
    pub error: Option<StepFailure>,
    /// When the journal first mentions the step: RFC 3339, UTC, milliseconds.
    #[schema(required = true, format = DateTime)]
    pub started_at: Option<String>,
    /// When the step completed.
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
    /// Completed with the parent run's output (this run is a rerun from a later step).
    pub reused: bool,
}

impl From<&StepView> for RunStep {
    fn from(step: &StepView) -> RunStep {
        RunStep {
            id: step.id.clone().into(),
            status: step.status.to_owned(),
            attempts: step.attempts,
            output: step.output.clone(),
            error: step.error.as_ref().map(StepFailure::from),
            started_at: step.started_at_us.map(time),
            completed_at: step.completed_at_us.map(time),
            reused: step.reused,
        }
    }
}

/// One end of a rerun link.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunLink {
    pub run_id: RunId,
    /// The step the rerun started from.
    pub from_step: String,
}

impl From<&EngineRunLink> for RunLink {
    fn from(link: &EngineRunLink) -> RunLink {
        RunLink {
            run_id: link.run_id.clone().into(),
            from_step: link.from_step.clone(),
        }
    }
}

/// One end of a sub-workflow link: the other run and the workflow step.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildRunLink {
    pub run_id: RunId,
    pub step_id: StepId,
}

impl From<&ChildLink> for ChildRunLink {
    fn from(link: &ChildLink) -> ChildRunLink {
        ChildRunLink {
            run_id: link.run_id.clone().into(),
            step_id: link.step_id.clone().into(),
        }
    }
}

/// A run's parent: the run it reruns (`{runId, fromStep}`), or the run whose workflow step
/// started it (`{runId, stepId}`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RunParent {
    Rerun(RunLink),
    Caller(ChildRunLink),
}

/// What a paused agent waits for: `{"type": "input", "question", "stepId"}` (ask_user) or
/// `{"type": "approval", "tool", "arguments", "stepId"}` (a tool in `requireApproval`).
#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "the schema of `waitingFor`; a test reads the engine's into it"
)]
pub enum WaitingFor {
    Input {
        #[schema(value_type = Value)]
        question: Value,
        #[serde(rename = "stepId")]
        step_id: String,
    },
    Approval {
        tool: String,
        #[schema(value_type = Value)]
        arguments: Value,
        #[serde(rename = "stepId")]
        step_id: String,
    },
}

/// Tokens of every model call of the run's agent steps, summed.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "the schema of `usage`; a test reads the engine's into it"
)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A run, as its journal tells it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    #[schema(example = "run_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f")]
    pub id: RunId,
    /// The same as `id`.
    pub run_id: RunId,
    #[schema(value_type = RunStatus)]
    pub status: String,
    pub workflow_id: WorkflowId,
    /// The workflow version the run is pinned to.
    pub workflow_version: u64,
    /// The input after validation, defaults applied.
    #[schema(value_type = Value)]
    pub input: Value,
    #[schema(value_type = Value, required = true)]
    pub output: Option<Value>,
    #[schema(required = true)]
    pub error: Option<RunFailure>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(required = true, format = DateTime, example = "2024-01-15T10:00:00.000Z")]
    pub started_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
    /// In the order they began.
    pub steps: Vec<RunStep>,
    #[schema(required = true)]
    pub parent: Option<RunParent>,
    /// Reruns of this run, oldest first.
    pub reruns: Vec<RunLink>,
    /// The child runs of its workflow steps, in order.
    pub children: Vec<ChildRunLink>,
    /// Set while a paused agent waits for an answer or an approval.
    #[schema(value_type = Option<WaitingFor>, required = true)]
    pub waiting_for: Option<Value>,
    /// Summed over the run's model calls; `null` without any.
    #[schema(value_type = Option<Usage>, required = true)]
    pub usage: Option<Value>,
}

impl From<&RunView> for Run {
    fn from(run: &RunView) -> Run {
        let parent = match (&run.parent, &run.called_by) {
            (Some(link), _) => Some(RunParent::Rerun(link.into())),
            (None, Some(caller)) => Some(RunParent::Caller(caller.into())),
            (None, None) => None,
        };
        Run {
            id: run.run_id.clone().into(),
            run_id: run.run_id.clone().into(),
            status: status_name(run.status).to_owned(),
            workflow_id: run.workflow_id.clone().into(),
            workflow_version: run.workflow_version,
            input: run.input.clone(),
            output: run.output.clone(),
            error: run.error.as_ref().map(RunFailure::from),
            started_at: run.started_at_us.map(time),
            completed_at: run.completed_at_us.map(time),
            steps: run.steps.iter().map(RunStep::from).collect(),
            parent,
            reruns: run.reruns.iter().map(RunLink::from).collect(),
            children: run.children.iter().map(ChildRunLink::from).collect(),
            waiting_for: run.waiting_for.clone(),
            usage: run.usage.clone(),
        }
    }
}

/// A run in a listing: no input, output or steps (get the run for those).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The same as `runId`.
    pub id: RunId,
    pub run_id: RunId,
    pub workflow_id: WorkflowId,
    pub workflow_version: u64,
    #[schema(value_type = RunStatus)]
    pub status: String,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
    /// The failure's message, for a failed run.
    #[schema(required = true)]
    pub error: Option<String>,
    #[schema(required = true)]
    pub idempotency_key: Option<String>,
}

impl From<readmodels::RunSummary> for RunSummary {
    fn from(summary: readmodels::RunSummary) -> RunSummary {
        let readmodels::RunSummary {
            run_id,
            workflow_id,
            workflow_version,
            status,
            started_at_us,
            completed_at_us,
            error,
            idempotency_key,
        } = summary;
        RunSummary {
            id: run_id.clone().into(),
            run_id: run_id.into(),
            workflow_id: workflow_id.into(),
            workflow_version,
            status: engine::executor::status_name(status).to_owned(),
            started_at: crate::reply::time(started_at_us),
            completed_at: completed_at_us.map(crate::reply::time),
            error,
            idempotency_key,
        }
    }
}

/// One event of a run's journal.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunEvent {
    /// The event's number in the run's stream, from 1.
    pub seq: u64,
    /// The event's position in the whole journal.
    pub position: u64,
    /// The event's name: RunStarted, StepStarted, StepCompleted, ... (`Unknown(tag)` for one
    /// that cannot be decoded).
    #[serde(rename = "type")]
    #[schema(example = "StepCompleted")]
    pub kind: String,
    /// When the event was recorded: RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The event's fields in camelCase, JSON carried as text shown as JSON.
    #[schema(value_type = Object, example = json!({"stepId": "calc", "attempt": 1, "output": {"total": 3}}))]
    pub data: Value,
}

impl From<&RecordedEvent> for RunEvent {
    fn from(recorded: &RecordedEvent) -> RunEvent {
        let (kind, data) =
            match engine::events::RunEvent::decode(recorded.event_type, &recorded.data) {
                Ok(event) => (event.name().to_owned(), event_data(&event)),
                Err(error) => (
                    format!("Unknown({})", recorded.event_type.0),
                    serde_json::json!({ "error": error.to_string() }),
                ),
            };
        RunEvent {
            seq: recorded.seq.0,
            position: recorded.position.0,
            kind,
            timestamp: time(recorded.recorded_at.as_micros()),
            data,
        }
    }
}

/// The `data` of a model text delta on a run's event stream (`event: delta`, no id).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamDelta {
    /// The model call's sub-step, `{agent}.m{n}`.
    pub step_id: StepId,
    pub text: String,
}

/// Resumes a paused run.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ResumeBody {
    /// Becomes the waiting step's output; `null` when absent.
    #[serde(default)]
    #[schema(value_type = Value)]
    pub payload: Value,
}

/// Cancels a run that has not ended.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CancelBody {
    /// Recorded in the run's journal; "cancelled through the API" when absent.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The body of `POST /api/v1/runs/{id}/rerun`. No other field is accepted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RerunBody {
    /// A top-level step of the chosen version: it and the steps after it run again; the
    /// steps before it reuse the parent's journaled outputs.
    pub from_step: String,
    /// The rerun's input (an object); the parent's input when absent.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// The workflow version to run; the current one when absent.
    #[serde(default)]
    pub version: Option<u64>,
}

/// What a rerun answers without `?wait`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RerunStarted {
    pub run_id: RunId,
    /// `pending`.
    #[schema(value_type = RunStatus)]
    pub status: String,
    pub workflow_id: WorkflowId,
    pub workflow_version: u64,
    pub parent: RunLink,
}

/// What `POST /api/v1/runs/{id}/rerun` answers: the started rerun, or with `?wait` the run.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RerunStart {
    Started(RerunStarted),
    Run(Box<Run>),
}

/// The body of `POST /api/v1/runs/{id}/replay`: what to check the history against, one of
/// the two or neither. No other field is accepted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// A stored version of the run's workflow.
    #[serde(default)]
    pub version: Option<u64>,
    /// A workflow definition that is not stored (as for `POST /api/v1/workflows`).
    #[serde(default)]
    #[schema(value_type = Option<WorkflowDefinition>)]
    pub definition: Option<Value>,
}

/// What a replay was checked against.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayAgainst {
    /// The stored version; `null` for a definition that is not stored.
    #[schema(required = true)]
    pub workflow_version: Option<u64>,
    /// `version` or `definition`.
    #[schema(example = "version")]
    pub source: String,
}

impl ReplayAgainst {
    pub fn of(against: &Against) -> Option<ReplayAgainst> {
        match against {
            Against::Nothing => None,
            Against::Version(version) => Some(ReplayAgainst {
                workflow_version: Some(*version),
                source: "version".to_owned(),
            }),
            Against::Steps(_) => Some(ReplayAgainst {
                workflow_version: None,
                source: "definition".to_owned(),
            }),
        }
    }
}

/// One event of a replay's timeline, with the run's status and its step's state after it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub seq: u64,
    #[schema(format = DateTime)]
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(required = true)]
    pub step_id: Option<StepId>,
    #[schema(value_type = Object)]
    pub data: Value,
    /// The run's status after the event.
    #[schema(value_type = RunStatus)]
    pub status: String,
    /// The event's step's state after it, in camelCase; `null` for run events.
    #[schema(value_type = Option<Object>, required = true)]
    pub step_state: Option<Value>,
}

/// A step of a replay: as in a run, with its input.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayStep {
    pub id: StepId,
    #[schema(value_type = StepStatus)]
    pub status: String,
    pub attempts: u32,
    /// An HTTP step's rendered request (headers naming authorization, token, secret, key or
    /// cookie masked), a foreach's item count; `null` for steps whose input is their config.
    #[schema(value_type = Value, required = true)]
    pub input: Option<Value>,
    #[schema(value_type = Value, required = true)]
    pub output: Option<Value>,
    #[schema(required = true)]
    pub error: Option<StepFailure>,
    #[schema(required = true, format = DateTime)]
    pub started_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
    pub reused: bool,
}

impl From<&StepReport> for ReplayStep {
    fn from(report: &StepReport) -> ReplayStep {
        let RunStep {
            id,
            status,
            attempts,
            output,
            error,
            started_at,
            completed_at,
            reused,
        } = RunStep::from(&report.view);
        ReplayStep {
            id,
            status,
            attempts,
            input: report.input.clone(),
            output,
            error,
            started_at,
            completed_at,
            reused,
        }
    }
}

/// Where the replayed run stopped, and why, in words.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stopped {
    #[schema(value_type = RunStatus)]
    pub status: String,
    #[schema(required = true)]
    pub step_id: Option<StepId>,
    pub reason: String,
}

/// The first event another definition would not have written.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Divergence {
    pub seq: u64,
    /// `command` (it would do something else next), `output` (a transform or condition
    /// computes something else) or `request` (an HTTP step would send something else).
    pub kind: String,
    /// The recorded event's name.
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(required = true)]
    pub step_id: Option<StepId>,
    /// The recorded event, in words.
    pub recorded: String,
    /// What the other definition would do instead, in words.
    pub expected: Vec<String>,
    pub message: String,
}

/// A run's journal replayed: every event with the status after it, each step with its
/// input, where the run stopped and why, and the divergence from another definition.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    pub run_id: RunId,
    pub workflow_id: WorkflowId,
    pub workflow_version: u64,
    #[schema(value_type = RunStatus)]
    pub status: String,
    /// The run this one reruns, when it is a rerun.
    #[schema(required = true)]
    pub parent: Option<RunLink>,
    pub reruns: Vec<RunLink>,
    pub timeline: Vec<TimelineEntry>,
    pub steps: Vec<ReplayStep>,
    pub stopped: Stopped,
    /// Events that did not fit the state (should be empty).
    pub anomalies: Vec<String>,
    /// Set when checked against another definition.
    #[schema(required = true)]
    pub against: Option<ReplayAgainst>,
    /// `null` when the history replays identically (or was checked against nothing).
    #[schema(required = true)]
    pub divergence: Option<Divergence>,
}

impl Replay {
    pub fn of(replay: &EngineReplay, against: Option<ReplayAgainst>) -> Replay {
        let state = &replay.state;
        let timeline = replay
            .entries
            .iter()
            .map(|entry| TimelineEntry {
                seq: entry.seq,
                timestamp: time(entry.recorded_at_us),
                kind: entry.event.name().to_owned(),
                step_id: (entry.event.step_id().map(str::to_owned)).map(Into::into),
                data: event_data(&entry.event),
                status: status_name(entry.status).to_owned(),
                step_state: entry.step_state.as_ref().map(|s| {
                    serde_json::to_value(s)
                        .map(camel_case)
                        .unwrap_or(Value::Null)
                }),
            })
            .collect();
        Replay {
            run_id: state.run_id.clone().into(),
            workflow_id: state.workflow_id.clone().into(),
            workflow_version: state.workflow_version,
            status: status_name(state.status()).to_owned(),
            parent: state.parent.as_ref().map(RunLink::from),
            reruns: state.reruns.iter().map(RunLink::from).collect(),
            timeline,
            steps: replay.steps.iter().map(ReplayStep::from).collect(),
            stopped: Stopped {
                status: status_name(replay.stopped.status).to_owned(),
                step_id: replay.stopped.step_id.clone().map(Into::into),
                reason: replay.stopped.reason.clone(),
            },
            anomalies: state.anomalies.clone(),
            against,
            divergence: replay.divergence.as_ref().map(|d| Divergence {
                seq: d.seq,
                kind: d.kind.as_str().to_owned(),
                event_type: d.event.to_owned(),
                step_id: d.step_id.clone().map(Into::into),
                recorded: d.recorded.clone(),
                expected: d.expected.clone(),
                message: d.message.clone(),
            }),
        }
    }
}

success_envelope!(
    /// A run just started, or with `?wait` the run.
    RunStartResponse,
    RunStart
);
success_envelope!(RunResponse, Run);
success_envelope!(RerunResponse, RerunStart);
success_envelope!(ReplayResponse, Replay);
success_envelope!(
    /// The run's journal, in order.
    RunEventsResponse,
    Vec<RunEvent>
);
page_envelope!(
    /// A page of runs, newest first.
    RunListResponse,
    RunSummary
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_s_usage_and_waiting_for_read_as_their_schemas_say() {
        let usage = engine::agent::usage_json(12, 34);
        let read: Usage = serde_json::from_value(usage).expect("usage");
        assert_eq!((read.input_tokens, read.output_tokens), (12, 34));
        let question =
            serde_json::json!({"type": "input", "question": "which?", "stepId": "a.t1.c1"});
        assert!(serde_json::from_value::<WaitingFor>(question).is_ok());
        let approval = serde_json::json!({"type": "approval", "tool": "refund",
            "arguments": {"amount": 5}, "stepId": "a.t1.c2"});
        assert!(serde_json::from_value::<WaitingFor>(approval).is_ok());
    }
}
