//! Workflow definitions in the journal: each workflow is a `workflow-{id}` stream of
//! `WorkflowEvent`s, so restoring the journal restores every definition and every version.
//! A change to the steps or the input schema makes a new version; every version stays
//! readable, and a run pins the version it started with.

use std::sync::Arc;

use journal::{EventStore, EventType, ExpectedVersion, NewEvent, Seq, StoreError, StreamName};

use crate::definition::{Problem, Step, WorkflowSpec, WorkflowStatus};
use crate::providers::Catalog;
use crate::wire::EventDecodeError;

pub mod wire;

/// Most events read back from one workflow's stream (versions and status changes).
const WORKFLOW_EVENTS_MAX: usize = 100_000;

/// The facts of a workflow's stream: the domain type, whose bytes are `wire`'s.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkflowEvent {
    /// The first version. The spec travels as JSON text (postcard cannot carry JSON values).
    WorkflowCreated {
        workflow_id: String,
        spec_json: String,
    },
    /// A later edit; `new_version` when the steps or the input schema changed.
    WorkflowUpdated {
        spec_json: String,
        new_version: bool,
    },
    WorkflowStatusChanged {
        status: WorkflowStatus,
    },
    WorkflowDeleted,
}

impl WorkflowEvent {
    /// The journal type tag this event is written with (its latest version's in
    /// `wire::WORKFLOW_EVENTS`). Part of the format: never renumber.
    pub fn tag(&self) -> EventType {
        EventType(match self {
            WorkflowEvent::WorkflowCreated { .. } => 200,
            WorkflowEvent::WorkflowUpdated { .. } => 201,
            WorkflowEvent::WorkflowStatusChanged { .. } => 202,
            WorkflowEvent::WorkflowDeleted => 203,
        })
    }

    /// The payload this event is written with (its latest wire version).
    pub fn encode(&self) -> Vec<u8> {
        wire::encode(self)
    }

    /// Decodes an event read from the journal by its tag.
    pub fn decode(tag: EventType, data: &[u8]) -> Result<WorkflowEvent, EventDecodeError> {
        wire::WORKFLOW_EVENTS.decode(tag, data)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("workflow {0} not found")]
    NotFound(String),
    #[error("workflow {workflow_id} has no version {version}")]
    NoSuchVersion { workflow_id: String, version: u64 },
    #[error("the workflow definition is invalid")]
    Invalid(Vec<Problem>),
    #[error("workflow {0} was changed by someone else at the same time; try again")]
    Conflict(String),
    #[error("stored workflow event is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A workflow as its stream tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowRecord {
    pub id: String,
    pub status: WorkflowStatus,
    pub deleted: bool,
    /// Spec of each version, oldest first: `versions[v - 1]` is version `v`.
    pub versions: Vec<WorkflowSpec>,
    /// The latest spec (edits that did not make a new version show here).
    pub current: WorkflowSpec,
    /// Stream version, for optimistic concurrency on the next change.
    pub stream_version: u64,
    /// When the workflow was created and last changed (journal time, microseconds).
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

impl WorkflowRecord {
    pub fn version(&self) -> u64 {
        self.versions.len() as u64
    }
}

pub fn stream_of(workflow_id: &str) -> Result<StreamName, WorkflowError> {
    StreamName::new(format!("workflow-{workflow_id}"))
        .map_err(|_| WorkflowError::NotFound(workflow_id.to_owned()))
}

/// Reads and writes workflow streams.
#[derive(Clone)]
pub struct Workflows {
    store: Arc<dyn EventStore>,
    /// The providers action steps are checked against.
    catalog: Arc<Catalog>,
}

impl Workflows {
    /// Definitions checked against the built-in providers.
    pub fn new(store: Arc<dyn EventStore>) -> Workflows {
        Workflows::with_catalog(store, Catalog::shared_builtin())
    }

    pub fn with_catalog(store: Arc<dyn EventStore>, catalog: Arc<Catalog>) -> Workflows {
        Workflows { store, catalog }
    }

    /// Checks a definition as `create` and `update` do.
    pub fn check(&self, spec: &WorkflowSpec) -> Result<Vec<Step>, Vec<Problem>> {
        spec.check_with(&self.catalog)
    }

    /// Checks `spec` and records it as version 1 of a new workflow `workflow_id`.
    pub async fn create(
        &self,
        workflow_id: &str,
        spec: &WorkflowSpec,
    ) -> Result<WorkflowRecord, WorkflowError> {
        spec.check_with(&self.catalog)
            .map_err(WorkflowError::Invalid)?;
        let event = WorkflowEvent::WorkflowCreated {
            workflow_id: workflow_id.to_owned(),
            spec_json: to_json(spec),
        };
        self.append(workflow_id, ExpectedVersion::NoStream, event)
            .await?;
        self.get(workflow_id).await
    }

    /// Records an edit; a new version when the steps or the input schema changed.
    pub async fn update(
        &self,
        workflow_id: &str,
        spec: &WorkflowSpec,
    ) -> Result<WorkflowRecord, WorkflowError> {
        spec.check_with(&self.catalog)
            .map_err(WorkflowError::Invalid)?;
        self.change(workflow_id, |record| WorkflowEvent::WorkflowUpdated {
            spec_json: to_json(spec),
            new_version: record.current.steps != spec.steps
                || record.current.input_schema != spec.input_schema,
        })
        .await
    }

    pub async fn set_status(
        &self,
        workflow_id: &str,
        status: WorkflowStatus,
    ) -> Result<WorkflowRecord, WorkflowError> {
        self.change(workflow_id, |_| WorkflowEvent::WorkflowStatusChanged {
            status,
        })
        .await
    }

    /// Deletes the workflow: it can no longer be read or run; its runs stay readable.
    pub async fn delete(&self, workflow_id: &str) -> Result<(), WorkflowError> {
        let record = self.get(workflow_id).await?;
        self.append(
            workflow_id,
            ExpectedVersion::Exact(record.stream_version),
            WorkflowEvent::WorkflowDeleted,
        )
        .await
    }

    /// Appends the event `make` derives from the current record, expecting the record's
    /// stream version (a concurrent change makes this one fail with `Conflict`).
    async fn change(
        &self,
        workflow_id: &str,
        make: impl FnOnce(&WorkflowRecord) -> WorkflowEvent,
    ) -> Result<WorkflowRecord, WorkflowError> {
        let record = self.get(workflow_id).await?;
        let event = make(&record);
        self.append(
            workflow_id,
            ExpectedVersion::Exact(record.stream_version),
            event,
        )
        .await?;
        self.get(workflow_id).await
    }

    /// The workflow as its stream tells it; `NotFound` if it never existed or was deleted.
    pub async fn get(&self, workflow_id: &str) -> Result<WorkflowRecord, WorkflowError> {
        let stream = stream_of(workflow_id)?;
        let events = self
            .store
            .read_stream(&stream, Seq(1), WORKFLOW_EVENTS_MAX)
            .await?;
        let mut record: Option<WorkflowRecord> = None;
        for recorded in &events {
            let event =
                WorkflowEvent::decode(recorded.event_type, &recorded.data).map_err(|e| {
                    WorkflowError::Corrupt(format!("{stream} seq {}: {e}", recorded.seq.0))
                })?;
            record = fold(
                record,
                event,
                recorded.seq.0,
                recorded.recorded_at.as_micros(),
            )?;
        }
        match record {
            Some(record) if !record.deleted => Ok(record),
            _ => Err(WorkflowError::NotFound(workflow_id.to_owned())),
        }
    }

    /// The checked steps of one version, as a run pinned to it executes them.
    pub async fn steps_of(
        &self,
        workflow_id: &str,
        version: u64,
    ) -> Result<Vec<Step>, WorkflowError> {
        let record = self.get(workflow_id).await?;
        let spec = version
            .checked_sub(1)
            .and_then(|i| record.versions.get(i as usize))
            .ok_or_else(|| WorkflowError::NoSuchVersion {
                workflow_id: workflow_id.to_owned(),
                version,
            })?;
        spec.check_with(&self.catalog)
            .map_err(WorkflowError::Invalid)
    }

    async fn append(
        &self,
        workflow_id: &str,
        expected: ExpectedVersion,
        event: WorkflowEvent,
    ) -> Result<(), WorkflowError> {
        let stream = stream_of(workflow_id)?;
        match self
            .store
            .append(
                &stream,
                expected,
                vec![NewEvent::new(event.tag(), event.encode())],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => {
                Err(WorkflowError::Conflict(workflow_id.to_owned()))
            }
            Err(other) => Err(other.into()),
        }
    }
}

fn to_json(spec: &WorkflowSpec) -> String {
    // A WorkflowSpec is plain data; serde_json cannot fail on it.
    serde_json::to_string(spec).unwrap_or_else(|e| unreachable!("serializing a WorkflowSpec: {e}"))
}

fn parse_spec(spec_json: &str) -> Result<WorkflowSpec, WorkflowError> {
    serde_json::from_str(spec_json).map_err(|e| WorkflowError::Corrupt(e.to_string()))
}

fn fold(
    record: Option<WorkflowRecord>,
    event: WorkflowEvent,
    seq: u64,
    at_us: i64,
) -> Result<Option<WorkflowRecord>, WorkflowError> {
    Ok(match (record, event) {
        (
            None,
            WorkflowEvent::WorkflowCreated {
                workflow_id,
                spec_json,
            },
        ) => {
            let spec = parse_spec(&spec_json)?;
            Some(WorkflowRecord {
                id: workflow_id,
                status: spec.status.unwrap_or(WorkflowStatus::Draft),
                deleted: false,
                versions: vec![spec.clone()],
                current: spec,
                stream_version: seq,
                created_at_us: at_us,
                updated_at_us: at_us,
            })
        }
        (Some(mut record), event) => {
            match event {
                WorkflowEvent::WorkflowUpdated {
                    spec_json,
                    new_version,
                } => {
                    let spec = parse_spec(&spec_json)?;
                    if new_version {
                        record.versions.push(spec.clone());
                    }
                    record.current = spec;
                }
                WorkflowEvent::WorkflowStatusChanged { status } => record.status = status,
                WorkflowEvent::WorkflowDeleted => record.deleted = true,
                WorkflowEvent::WorkflowCreated { .. } => {
                    return Err(WorkflowError::Corrupt(format!(
                        "a second WorkflowCreated at seq {seq}"
                    )))
                }
            }
            record.stream_version = seq;
            record.updated_at_us = at_us;
            Some(record)
        }
        (None, _) => {
            return Err(WorkflowError::Corrupt(format!(
                "the stream does not start with WorkflowCreated (seq {seq})"
            )))
        }
    })
}
