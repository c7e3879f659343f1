//! What the read models hold per run and per workflow (a row of `runs` or `workflows`), and
//! the summaries queries return: typed rows (statuses as the engine's enums, times in µs since
//! the epoch). The API decides their JSON (names, RFC 3339 times); nothing here does.

use engine::definition::WorkflowStatus;
use engine::run::RunStatus;
use serde::{Deserialize, Serialize};

use crate::error::ReadModelError;

/// One run, as its events so far tell it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunRow {
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_version: u64,
    /// [`run_status_code`].
    pub status: u8,
    /// µs since the epoch: `recorded_at` of `RunStarted`.
    pub started_at: i64,
    /// `recorded_at` of the event that ended the run.
    pub completed_at: Option<i64>,
    /// The message of `RunFailed`.
    pub error: Option<String>,
    pub idempotency_key: Option<String>,
    /// ms since the epoch: when a sleeping run's timer is due, or a paused run's timeout
    /// (`fire_at_ms` of TimerScheduled and StepRetryScheduled, `timeout_at_ms` of
    /// RunPaused); `None` once the run moves on, and for a run paused without a timeout.
    pub wake_at: Option<i64>,
    /// The run has started a foreach or an agent step: several of its steps may be under
    /// way at once, so its status does not tell that it only waits (recovery reads it).
    pub concurrent: bool,
}

/// One workflow, as its events so far tell it. Deleted workflows keep their row (marked) but
/// leave every listing index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WorkflowRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// [`workflow_status_code`].
    pub status: u8,
    pub version: u64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
}

/// One trigger, as its `trigger-{id}` stream tells it (`triggers::instances::fold`). Deleted
/// triggers keep their row (marked) but leave every listing index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TriggerRow {
    pub trigger_id: String,
    pub slug: String,
    /// The spec's `type`: `schedule`, `webhook`, `polling`, `manual`.
    pub kind: String,
    pub workflow_id: String,
    pub connection_id: Option<String>,
    pub trigger_name: Option<String>,
    pub enabled: bool,
    pub deleted: bool,
    /// The journal position of the `TriggerUpserted` that created it: the listing order.
    pub created_position: u64,
    pub created_at: i64,
    /// `recorded_at` of the last upsert, status change or deletion.
    pub updated_at: i64,
    /// `TriggerFired` events so far.
    pub fired: u64,
}

/// A row in the form [`crate::ReadModels::dump`] shows it (postcard).
pub(crate) fn encode_row<T: Serialize>(row: &T) -> Vec<u8> {
    // Rows are plain strings and integers; postcard cannot fail on them.
    postcard::to_stdvec(row).unwrap_or_else(|error| unreachable!("postcard: {error}"))
}

/// Stored codes of run statuses: part of the read models' format (see `FORMAT_VERSION`).
pub(crate) fn run_status_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Pending => 1,
        RunStatus::Running => 2,
        RunStatus::Sleeping => 3,
        RunStatus::Paused => 4,
        RunStatus::Completed => 5,
        RunStatus::Failed => 6,
        RunStatus::Cancelled => 7,
        RunStatus::Corrupt => 8,
    }
}

pub(crate) fn run_status_of(code: u8) -> Option<RunStatus> {
    Some(match code {
        1 => RunStatus::Pending,
        2 => RunStatus::Running,
        3 => RunStatus::Sleeping,
        4 => RunStatus::Paused,
        5 => RunStatus::Completed,
        6 => RunStatus::Failed,
        7 => RunStatus::Cancelled,
        8 => RunStatus::Corrupt,
        _ => return None,
    })
}

pub(crate) fn workflow_status_code(status: WorkflowStatus) -> u8 {
    match status {
        WorkflowStatus::Draft => 1,
        WorkflowStatus::Active => 2,
        WorkflowStatus::Inactive => 3,
    }
}

fn workflow_status_of(code: u8) -> Option<WorkflowStatus> {
    Some(match code {
        1 => WorkflowStatus::Draft,
        2 => WorkflowStatus::Active,
        3 => WorkflowStatus::Inactive,
        _ => return None,
    })
}

fn workflow_status_name(code: u8) -> &'static str {
    match code {
        1 => "draft",
        2 => "active",
        3 => "inactive",
        _ => "unknown",
    }
}

/// A run status from its API name (`pending`, `running`, `sleeping`, `paused`, `completed`,
/// `failed`, `cancelled`, `corrupt`), as `engine::executor::status_name` writes it.
pub fn parse_run_status(name: &str) -> Option<RunStatus> {
    RunStatus::ALL
        .into_iter()
        .find(|s| engine::executor::status_name(*s) == name)
}

/// A workflow status from its API name (`draft`, `active`, `inactive`).
pub fn parse_workflow_status(name: &str) -> Option<WorkflowStatus> {
    [
        WorkflowStatus::Draft,
        WorkflowStatus::Active,
        WorkflowStatus::Inactive,
    ]
    .into_iter()
    .find(|s| workflow_status_name(workflow_status_code(*s)) == name)
}

/// A row's stored status code that no status has: the database was damaged (a rebuild
/// repairs it, `duro projections rebuild`).
fn unknown_code(what: &str, code: u8) -> ReadModelError {
    ReadModelError::Corrupt(format!("{what} status code {code} is unknown"))
}

/// A run in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_version: u64,
    pub status: RunStatus,
    /// µs since the epoch: when `RunStarted` was recorded.
    pub started_at_us: i64,
    /// When the event that ended the run was recorded.
    pub completed_at_us: Option<i64>,
    /// The failure's message, for a failed run.
    pub error: Option<String>,
    pub idempotency_key: Option<String>,
}

impl TryFrom<RunRow> for RunSummary {
    type Error = ReadModelError;

    /// `wake_at` and `concurrent` serve recovery (`UnfinishedRuns`), not listings.
    fn try_from(row: RunRow) -> Result<RunSummary, ReadModelError> {
        Ok(RunSummary {
            status: run_status_of(row.status).ok_or_else(|| unknown_code("run", row.status))?,
            started_at_us: row.started_at,
            completed_at_us: row.completed_at,
            run_id: row.run_id,
            workflow_id: row.workflow_id,
            workflow_version: row.workflow_version,
            error: row.error,
            idempotency_key: row.idempotency_key,
        })
    }
}

/// A workflow in a listing (its current spec's name and description).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowSummary {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub status: WorkflowStatus,
    /// The latest version (1 at creation; each change of steps or inputSchema adds one).
    pub version: u64,
    /// µs since the epoch.
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

impl TryFrom<WorkflowRow> for WorkflowSummary {
    type Error = ReadModelError;

    fn try_from(row: WorkflowRow) -> Result<WorkflowSummary, ReadModelError> {
        Ok(WorkflowSummary {
            status: workflow_status_of(row.status)
                .ok_or_else(|| unknown_code("workflow", row.status))?,
            created_at_us: row.created_at,
            updated_at_us: row.updated_at,
            id: row.id,
            name: row.name,
            description: row.description,
            version: row.version,
        })
    }
}

/// A trigger in a listing (the API loads the full trigger by `trigger_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerSummary {
    pub trigger_id: String,
    pub slug: String,
    /// `schedule`, `webhook`, `polling` or `manual`.
    pub kind: String,
    pub workflow_id: String,
    pub connection_id: Option<String>,
    pub trigger_name: Option<String>,
    pub enabled: bool,
    /// µs since the epoch.
    pub created_at_us: i64,
    pub updated_at_us: i64,
    /// Runs started by the trigger.
    pub fired: u64,
}

impl From<TriggerRow> for TriggerSummary {
    fn from(row: TriggerRow) -> TriggerSummary {
        TriggerSummary {
            created_at_us: row.created_at,
            updated_at_us: row.updated_at,
            trigger_id: row.trigger_id,
            slug: row.slug,
            kind: row.kind,
            workflow_id: row.workflow_id,
            connection_id: row.connection_id,
            trigger_name: row.trigger_name,
            enabled: row.enabled,
            fired: row.fired,
        }
    }
}

/// One page of a listing. `next_cursor` is absent on the last page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// An event the projection could not use, kept with its place in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedEvent {
    pub position: u64,
    pub stream: String,
    pub event_type: u16,
    pub reason: String,
}

/// Counts over the read models (`duro projections rebuild` prints them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub runs: u64,
    /// Workflows not deleted.
    pub workflows: u64,
    pub deleted_workflows: u64,
    /// Triggers not deleted.
    pub triggers: u64,
    /// Events skipped because they could not be decoded or did not fit (see `skipped`).
    pub skipped_events: u64,
    /// The position of the last journal event applied.
    pub checkpoint: u64,
}
