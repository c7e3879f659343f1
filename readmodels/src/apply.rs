//! Applying journal events to a data tree: the projection itself.
//!
//! Events are applied in order into a [`Pending`] set of writes; reads look there before the
//! tree, so a run's later events in the same batch see its earlier ones. The set is written
//! with the checkpoint (the position of the last event it covers) in one atomic
//! `apply_batch`, so the tree always holds exactly the effects of the events up to its
//! checkpoint: a crash loses whole batches and they are applied again, never twice.

use std::collections::BTreeMap;

use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::events::RunEvent;
use engine::run::RunStatus;
use engine::workflows::WorkflowEvent;
use journal::{Position, RecordedEvent};

use crate::error::ReadModelError;
use crate::keys::{push_i64, push_str};
use crate::rows::{
    decode_row, encode_row, run_status_code, run_status_of, workflow_status_code, RunRow,
    SkippedEvent, WorkflowRow,
};

pub(crate) const CHECKPOINT_KEY: &[u8] = b"mcheckpoint";
pub(crate) const SKIPPED_COUNT_KEY: &[u8] = b"mskipped";

pub(crate) const RUN_ROW: u8 = b'r';
pub(crate) const RUNS_BY_TIME: u8 = b't';
pub(crate) const RUNS_BY_WORKFLOW: u8 = b'w';
pub(crate) const RUNS_BY_STATUS: u8 = b's';
pub(crate) const RUNS_BY_WORKFLOW_STATUS: u8 = b'x';
pub(crate) const WORKFLOW_ROW: u8 = b'f';
pub(crate) const WORKFLOWS_BY_CREATED: u8 = b'c';
pub(crate) const WORKFLOWS_BY_UPDATED: u8 = b'u';
pub(crate) const WORKFLOWS_BY_NAME: u8 = b'n';
pub(crate) const SKIPPED: u8 = b'k';

/// Skipped events kept with their reason (the count goes on past it).
pub(crate) const SKIPPED_KEPT_MAX: u64 = 1000;

/// Journal type tags of run events (`engine::events`: 100 and up). The whole hundred is
/// taken, so a run event of a newer kind is reported as skipped rather than passed over.
const RUN_TAGS: std::ops::RangeInclusive<u16> = 100..=199;
/// Journal type tags of workflow events (`engine::workflows`: 200 and up).
const WORKFLOW_TAGS: std::ops::RangeInclusive<u16> = 200..=203;

pub(crate) fn row_key(prefix: u8, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(prefix);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The sort key of a run in every run index: (startedAt, runId).
pub(crate) fn run_sort_key(started_at: i64, run_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(12 + run_id.len());
    push_i64(&mut key, started_at);
    push_str(&mut key, run_id);
    key
}

/// The prefix of the index holding runs of `workflow_id` and `status` (either optional).
pub(crate) fn run_index_prefix(workflow_id: Option<&str>, status: Option<u8>) -> Vec<u8> {
    let mut prefix = Vec::new();
    match (workflow_id, status) {
        (None, None) => prefix.push(RUNS_BY_TIME),
        (Some(workflow), None) => {
            prefix.push(RUNS_BY_WORKFLOW);
            push_str(&mut prefix, workflow);
        }
        (None, Some(status)) => prefix.extend_from_slice(&[RUNS_BY_STATUS, status]),
        (Some(workflow), Some(status)) => {
            prefix.push(RUNS_BY_WORKFLOW_STATUS);
            push_str(&mut prefix, workflow);
            prefix.push(status);
        }
    }
    prefix
}

fn run_index_keys(row: &RunRow) -> [Vec<u8>; 4] {
    let sort = run_sort_key(row.started_at, &row.run_id);
    let wf = Some(row.workflow_id.as_str());
    [
        run_index_prefix(None, None),
        run_index_prefix(wf, None),
        run_index_prefix(None, Some(row.status)),
        run_index_prefix(wf, Some(row.status)),
    ]
    .map(|mut prefix| {
        prefix.extend_from_slice(&sort);
        prefix
    })
}

/// The sort value of a workflow in the index `prefix` (without the id).
pub(crate) fn workflow_sort_value(prefix: u8, row: &WorkflowRow) -> Vec<u8> {
    let mut key = Vec::new();
    match prefix {
        WORKFLOWS_BY_CREATED => push_i64(&mut key, row.created_at),
        WORKFLOWS_BY_UPDATED => push_i64(&mut key, row.updated_at),
        _ => push_str(&mut key, &row.name.to_lowercase()),
    }
    key
}

fn workflow_index_keys(row: &WorkflowRow) -> Vec<Vec<u8>> {
    if row.deleted {
        return Vec::new();
    }
    [
        WORKFLOWS_BY_CREATED,
        WORKFLOWS_BY_UPDATED,
        WORKFLOWS_BY_NAME,
    ]
    .into_iter()
    .map(|prefix| {
        let mut key = vec![prefix];
        key.extend_from_slice(&workflow_sort_value(prefix, row));
        push_str(&mut key, &row.id);
        key
    })
    .collect()
}

pub(crate) fn read_checkpoint(tree: &sled::Tree) -> Result<Position, ReadModelError> {
    read_u64(tree, CHECKPOINT_KEY).map(Position)
}

pub(crate) fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64, ReadModelError> {
    let value = tree
        .get(key)
        .map_err(|e| ReadModelError::storage("reading the checkpoint", e))?;
    Ok(match value {
        None => 0,
        Some(bytes) => u64::from_be_bytes(
            bytes
                .as_ref()
                .try_into()
                .map_err(|_| ReadModelError::Corrupt(format!("{key:?} is not 8 bytes")))?,
        ),
    })
}

/// Writes not yet in the tree, newest value per key (`None`: remove).
struct Pending<'a> {
    tree: &'a sled::Tree,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    skipped: u64,
}

impl Pending<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReadModelError> {
        if let Some(value) = self.writes.get(key) {
            return Ok(value.clone());
        }
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| ReadModelError::storage("reading a row", e))
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Replaces the index entries of `old` with those of `new` (removals first, so an entry
    /// both had survives).
    fn reindex(&mut self, old: Vec<Vec<u8>>, new: Vec<Vec<u8>>) {
        for key in old {
            self.remove(key);
        }
        for key in new {
            self.put(key, Vec::new());
        }
    }

    fn run(&self, run_id: &str) -> Result<Option<RunRow>, ReadModelError> {
        self.get(&row_key(RUN_ROW, run_id))?
            .map(|bytes| decode_row(&format!("run {run_id}"), &bytes))
            .transpose()
    }

    fn put_run(&mut self, old: Option<&RunRow>, row: &RunRow) {
        self.reindex(
            old.map(|r| run_index_keys(r).to_vec()).unwrap_or_default(),
            run_index_keys(row).to_vec(),
        );
        self.put(row_key(RUN_ROW, &row.run_id), encode_row(row));
    }

    fn workflow(&self, workflow_id: &str) -> Result<Option<WorkflowRow>, ReadModelError> {
        self.get(&row_key(WORKFLOW_ROW, workflow_id))?
            .map(|bytes| decode_row(&format!("workflow {workflow_id}"), &bytes))
            .transpose()
    }

    fn put_workflow(&mut self, old: Option<&WorkflowRow>, row: &WorkflowRow) {
        self.reindex(
            old.map(workflow_index_keys).unwrap_or_default(),
            workflow_index_keys(row),
        );
        self.put(row_key(WORKFLOW_ROW, &row.id), encode_row(row));
    }

    /// Writes everything with `checkpoint` in one atomic sled batch.
    fn commit(&mut self, checkpoint: Position) -> Result<(), ReadModelError> {
        let mut batch = sled::Batch::default();
        for (key, value) in std::mem::take(&mut self.writes) {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch.insert(CHECKPOINT_KEY, &checkpoint.0.to_be_bytes());
        batch.insert(SKIPPED_COUNT_KEY, &self.skipped.to_be_bytes());
        self.tree
            .apply_batch(batch)
            .map_err(|e| ReadModelError::storage("writing a batch", e))
    }
}

/// Applies `events` (in position order, all after the tree's checkpoint) to `tree`, in sled
/// batches of at most about `entries_max` writes. Returns the new checkpoint.
pub(crate) fn apply_events(
    tree: &sled::Tree,
    events: &[RecordedEvent],
    entries_max: usize,
) -> Result<Position, ReadModelError> {
    let mut checkpoint = read_checkpoint(tree)?;
    let mut pending = Pending {
        tree,
        writes: BTreeMap::new(),
        skipped: read_u64(tree, SKIPPED_COUNT_KEY)?,
    };
    let mut dirty = false;
    for event in events {
        if event.position <= checkpoint {
            // Already applied (a read that overlapped the checkpoint): never twice.
            continue;
        }
        if let Err(reason) = apply_event(&mut pending, event)? {
            skip(&mut pending, event, reason);
        }
        checkpoint = event.position;
        dirty = true;
        if pending.writes.len() >= entries_max {
            pending.commit(checkpoint)?;
            dirty = false;
        }
    }
    if dirty {
        pending.commit(checkpoint)?;
    }
    Ok(checkpoint)
}

/// Records an event the projection cannot use: warned, counted, and (the first
/// `SKIPPED_KEPT_MAX`) kept with the reason. The projection goes on: stopping would leave
/// every later run and workflow unlisted, while one skipped event affects only its own run
/// or workflow, and the journal still holds it for `journal verify` and a later rebuild.
fn skip(pending: &mut Pending<'_>, event: &RecordedEvent, reason: String) {
    tracing::warn!(
        position = event.position.0,
        stream = %event.stream,
        event_type = event.event_type.0,
        %reason,
        "read models skip an event"
    );
    if pending.skipped < SKIPPED_KEPT_MAX {
        let mut key = vec![SKIPPED];
        key.extend_from_slice(&event.position.0.to_be_bytes());
        let record = SkippedEvent {
            position: event.position.0,
            stream: event.stream.to_string(),
            event_type: event.event_type.0,
            reason,
        };
        pending.put(key, encode_row(&record));
    }
    pending.skipped += 1;
}

/// `Ok(Err(reason))`: the event does not fit and is skipped.
type Applied = Result<Result<(), String>, ReadModelError>;

fn apply_event(pending: &mut Pending<'_>, event: &RecordedEvent) -> Applied {
    let tag = event.event_type.0;
    if RUN_TAGS.contains(&tag) {
        apply_run_event(pending, event)
    } else if WORKFLOW_TAGS.contains(&tag) {
        apply_workflow_event(pending, event)
    } else {
        // Extension point: triggers (and any other projection) add their tags above. Events
        // of other kinds (idempotency claims, tag 300, ...) are not projected; the
        // checkpoint moves past them.
        Ok(Ok(()))
    }
}

fn apply_run_event(pending: &mut Pending<'_>, event: &RecordedEvent) -> Applied {
    let run_event = match RunEvent::decode(event.event_type, &event.data) {
        Ok(run_event) => run_event,
        Err(error) => return Ok(Err(error.to_string())),
    };
    let Some(run_id) = event.stream.as_str().strip_prefix("run-") else {
        return Ok(Err(format!("a {} outside a run stream", run_event.name())));
    };
    let at = event.recorded_at.as_micros();
    let old = pending.run(run_id)?;
    let Some(old) = old else {
        let RunEvent::RunStarted {
            run_id: started_id,
            workflow_id,
            workflow_version,
            idempotency_key,
            ..
        } = run_event
        else {
            return Ok(Err(format!("{} before RunStarted", run_event.name())));
        };
        if started_id != run_id {
            return Ok(Err(format!("RunStarted of run {started_id}")));
        }
        let row = RunRow {
            run_id: run_id.to_owned(),
            workflow_id,
            workflow_version,
            status: run_status_code(RunStatus::Pending),
            started_at: at,
            completed_at: None,
            error: None,
            idempotency_key,
        };
        pending.put_run(None, &row);
        return Ok(Ok(()));
    };
    let current = run_status_of(old.status).unwrap_or(RunStatus::Pending);
    if current.is_terminal() {
        return Ok(Err(format!("{} after the run ended", run_event.name())));
    }
    // The status each event leads to, as `engine::run::evolve` sets it.
    let next = match &run_event {
        RunEvent::RunStarted { .. } => return Ok(Err("a second RunStarted".to_owned())),
        RunEvent::StepStarted { .. }
        | RunEvent::StepCompleted { .. }
        | RunEvent::TimerFired { .. }
        | RunEvent::RunResumed { .. }
        | RunEvent::ForeachStarted { .. } => RunStatus::Running,
        RunEvent::StepFailed { .. } => return Ok(Ok(())),
        RunEvent::StepRetryScheduled { .. } | RunEvent::TimerScheduled { .. } => {
            RunStatus::Sleeping
        }
        RunEvent::RunPaused { .. } => RunStatus::Paused,
        RunEvent::RunCancelled { .. } => RunStatus::Cancelled,
        RunEvent::RunCompleted { .. } => RunStatus::Completed,
        RunEvent::RunFailed { .. } => RunStatus::Failed,
    };
    if next == current {
        return Ok(Ok(()));
    }
    if !current.can_transition_to(next) {
        return Ok(Err(format!(
            "illegal status change {current:?} -> {next:?}"
        )));
    }
    let mut row = old.clone();
    row.status = run_status_code(next);
    if next.is_terminal() {
        row.completed_at = Some(at);
    }
    if let RunEvent::RunFailed { error } = run_event {
        row.error = Some(error.message);
    }
    pending.put_run(Some(&old), &row);
    Ok(Ok(()))
}

fn apply_workflow_event(pending: &mut Pending<'_>, event: &RecordedEvent) -> Applied {
    let workflow_event: WorkflowEvent = match postcard::from_bytes(&event.data) {
        Ok(workflow_event) => workflow_event,
        Err(error) => return Ok(Err(format!("cannot decode workflow event: {error}"))),
    };
    if workflow_event.tag() != event.event_type {
        return Ok(Err(format!(
            "type {} holds a {:?}",
            event.event_type.0,
            workflow_event.tag()
        )));
    }
    let Some(workflow_id) = event.stream.as_str().strip_prefix("workflow-") else {
        return Ok(Err("a workflow event outside a workflow stream".to_owned()));
    };
    let at = event.recorded_at.as_micros();
    let old = pending.workflow(workflow_id)?;
    let parse = |spec_json: &str| {
        serde_json::from_str::<WorkflowSpec>(spec_json)
            .map_err(|e| format!("the workflow spec is not readable: {e}"))
    };
    let Some(old) = old else {
        let WorkflowEvent::WorkflowCreated {
            workflow_id: created_id,
            spec_json,
        } = workflow_event
        else {
            return Ok(Err("a workflow event before WorkflowCreated".to_owned()));
        };
        if created_id != workflow_id {
            return Ok(Err(format!("WorkflowCreated of workflow {created_id}")));
        }
        let spec = match parse(&spec_json) {
            Ok(spec) => spec,
            Err(reason) => return Ok(Err(reason)),
        };
        let row = WorkflowRow {
            id: workflow_id.to_owned(),
            name: spec.name,
            description: spec.description,
            status: workflow_status_code(spec.status.unwrap_or(WorkflowStatus::Draft)),
            version: 1,
            created_at: at,
            updated_at: at,
            deleted: false,
        };
        pending.put_workflow(None, &row);
        return Ok(Ok(()));
    };
    // As `engine::workflows` folds a stream: every later event updates the record.
    let mut row = old.clone();
    match workflow_event {
        WorkflowEvent::WorkflowCreated { .. } => {
            return Ok(Err("a second WorkflowCreated".to_owned()))
        }
        WorkflowEvent::WorkflowUpdated {
            spec_json,
            new_version,
        } => {
            let spec = match parse(&spec_json) {
                Ok(spec) => spec,
                Err(reason) => return Ok(Err(reason)),
            };
            row.name = spec.name;
            row.description = spec.description;
            if new_version {
                row.version += 1;
            }
        }
        WorkflowEvent::WorkflowStatusChanged { status } => {
            row.status = workflow_status_code(status);
        }
        WorkflowEvent::WorkflowDeleted => row.deleted = true,
    }
    row.updated_at = at;
    pending.put_workflow(Some(&old), &row);
    Ok(Ok(()))
}
