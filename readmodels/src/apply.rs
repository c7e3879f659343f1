//! Applying journal events to the database: the projection itself.
//!
//! [`apply_events`] runs inside one transaction that the caller opens and commits (one per
//! `read_all` page; a rebuild's single transaction spans them all). Reads inside it see its
//! own writes, so a run's later events in the same page see its row. The checkpoint (the
//! position of the last event applied) is written in the same transaction, so the database
//! always holds exactly the effects of the events up to its checkpoint: a crash loses whole
//! transactions and their events are applied again, never twice.

use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::events::RunEvent;
use engine::run::RunStatus;
use engine::workflows::WorkflowEvent;
use journal::{Position, RecordedEvent};
use rusqlite::{params, Connection};
use triggers::instances::{TriggerEvent, TriggerSpec};

use crate::db::{
    get_run, get_trigger, get_workflow, read_checkpoint, read_meta, write_meta, CHECKPOINT,
    SKIPPED_COUNT,
};
use crate::error::{Context, ReadModelError};
use crate::rows::{
    run_status_code, run_status_of, workflow_status_code, RunRow, TriggerRow, WorkflowRow,
};

/// Skipped events kept with their reason (the count goes on past it).
pub(crate) const SKIPPED_KEPT_MAX: u64 = 1000;

/// Journal type tags of run events (`engine::events`: 100 and up). The whole hundred is
/// taken, so a run event of a newer kind is reported as skipped rather than passed over.
const RUN_TAGS: std::ops::RangeInclusive<u16> = 100..=199;
/// Journal type tags of workflow events (`engine::workflows`: 200 and up).
const WORKFLOW_TAGS: std::ops::RangeInclusive<u16> = 200..=203;
/// Journal type tags of trigger events (`triggers::instances::TriggerEvent`: 500 to 506;
/// up to 509 so a trigger event of a newer kind is reported as skipped). The claims of slugs,
/// webhook URLs and samples (510 and up) live in other streams and are not projected.
const TRIGGER_TAGS: std::ops::RangeInclusive<u16> = 500..=509;

/// The open transaction events are applied in, and the skipped count so far.
struct Pending<'a> {
    conn: &'a Connection,
    skipped: u64,
}

impl Pending<'_> {
    fn run(&self, run_id: &str) -> Result<Option<RunRow>, ReadModelError> {
        get_run(self.conn, run_id)
    }

    fn insert_run(&self, row: &RunRow) -> Result<(), ReadModelError> {
        self.conn
            .prepare_cached(
                "INSERT INTO runs (run_id, workflow_id, workflow_version, status, started_at, \
                 completed_at, error, idempotency_key, wake_at, concurrent) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    row.run_id,
                    row.workflow_id,
                    row.workflow_version as i64,
                    row.status,
                    row.started_at,
                    row.completed_at,
                    row.error,
                    row.idempotency_key,
                    row.wake_at,
                    row.concurrent,
                ])
            })
            .context("writing a run")?;
        Ok(())
    }

    /// Writes what later events change (SQLite moves the run's status index entries).
    fn update_run(&self, row: &RunRow) -> Result<(), ReadModelError> {
        self.conn
            .prepare_cached(
                "UPDATE runs SET status = ?2, completed_at = ?3, error = ?4, wake_at = ?5, \
                 concurrent = ?6 WHERE run_id = ?1",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    row.run_id,
                    row.status,
                    row.completed_at,
                    row.error,
                    row.wake_at,
                    row.concurrent
                ])
            })
            .context("writing a run")?;
        Ok(())
    }

    fn workflow(&self, workflow_id: &str) -> Result<Option<WorkflowRow>, ReadModelError> {
        get_workflow(self.conn, workflow_id)
    }

    fn trigger(&self, trigger_id: &str) -> Result<Option<TriggerRow>, ReadModelError> {
        get_trigger(self.conn, trigger_id)
    }

    /// Inserts or replaces the whole row (SQLite moves its index entries).
    fn put_trigger(&self, row: &TriggerRow) -> Result<(), ReadModelError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO triggers (trigger_id, slug, kind, workflow_id, \
                 connection_id, trigger_name, enabled, deleted, created_position, created_at, \
                 updated_at, fired) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    row.trigger_id,
                    row.slug,
                    row.kind,
                    row.workflow_id,
                    row.connection_id,
                    row.trigger_name,
                    row.enabled,
                    row.deleted,
                    row.created_position as i64,
                    row.created_at,
                    row.updated_at,
                    row.fired as i64,
                ])
            })
            .context("writing a trigger")?;
        Ok(())
    }

    fn put_workflow(&self, row: &WorkflowRow) -> Result<(), ReadModelError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO workflows (id, name, name_lower, description, status, \
                 version, created_at, updated_at, deleted) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    row.id,
                    row.name,
                    row.name.to_lowercase(),
                    row.description,
                    row.status,
                    row.version as i64,
                    row.created_at,
                    row.updated_at,
                    row.deleted,
                ])
            })
            .context("writing a workflow")?;
        Ok(())
    }
}

/// Applies `events` (in position order) inside the caller's open transaction on `conn`,
/// skipping those at or before the stored checkpoint, and writes the new checkpoint with
/// them. Returns the new checkpoint.
pub(crate) fn apply_events(
    conn: &Connection,
    events: &[RecordedEvent],
) -> Result<Position, ReadModelError> {
    let mut checkpoint = read_checkpoint(conn)?;
    let mut pending = Pending {
        conn,
        skipped: read_meta(conn, SKIPPED_COUNT)?,
    };
    let skipped_before = pending.skipped;
    let mut applied = false;
    for event in events {
        if event.position <= checkpoint {
            // Already applied (a read that overlapped the checkpoint): never twice.
            continue;
        }
        if let Err(reason) = apply_event(&mut pending, event)? {
            skip(&mut pending, event, reason)?;
        }
        checkpoint = event.position;
        applied = true;
    }
    if applied {
        write_meta(conn, CHECKPOINT, checkpoint.0)?;
        if pending.skipped != skipped_before {
            write_meta(conn, SKIPPED_COUNT, pending.skipped)?;
        }
    }
    Ok(checkpoint)
}

/// Records an event the projection cannot use: warned, counted, and (the first
/// `SKIPPED_KEPT_MAX`) kept with the reason. The projection goes on: stopping would leave
/// every later run and workflow unlisted, while one skipped event affects only its own run
/// or workflow, and the journal still holds it for `journal verify` and a later rebuild.
fn skip(
    pending: &mut Pending<'_>,
    event: &RecordedEvent,
    reason: String,
) -> Result<(), ReadModelError> {
    tracing::warn!(
        position = event.position.0,
        stream = %event.stream,
        event_type = event.event_type.0,
        %reason,
        "read models skip an event"
    );
    if pending.skipped < SKIPPED_KEPT_MAX {
        pending
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO skipped (position, stream, event_type, reason) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    event.position.0 as i64,
                    event.stream.as_str(),
                    event.event_type.0,
                    reason,
                ])
            })
            .context("recording a skipped event")?;
    }
    pending.skipped += 1;
    Ok(())
}

/// `Ok(Err(reason))`: the event does not fit and is skipped.
type Applied = Result<Result<(), String>, ReadModelError>;

fn apply_event(pending: &mut Pending<'_>, event: &RecordedEvent) -> Applied {
    let tag = event.event_type.0;
    if RUN_TAGS.contains(&tag) {
        apply_run_event(pending, event)
    } else if WORKFLOW_TAGS.contains(&tag) {
        apply_workflow_event(pending, event)
    } else if TRIGGER_TAGS.contains(&tag) {
        apply_trigger_event(pending, event)
    } else {
        // Extension point: any other projection adds its tags above. Events of other kinds
        // (idempotency claims, tag 300, trigger claims, 510 and up, ...) are not projected;
        // the checkpoint moves past them.
        Ok(Ok(()))
    }
}

fn apply_run_event(pending: &mut Pending<'_>, event: &RecordedEvent) -> Applied {
    let run_event = match RunEvent::decode(event.event_type, &event.data) {
        Ok(run_event) => run_event,
        Err(error) => return mark_corrupt(pending, event, error.to_string()),
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
            wake_at: None,
            concurrent: false,
        };
        pending.insert_run(&row)?;
        return Ok(Ok(()));
    };
    let current = run_status_of(old.status).unwrap_or(RunStatus::Pending);
    // A link to a rerun changes nothing listed, and may come after the run ended.
    if matches!(run_event, RunEvent::RunRerun { .. }) {
        return Ok(Ok(()));
    }
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
        RunEvent::StepFailed { .. }
        | RunEvent::RunForked { .. }
        | RunEvent::StepReused { .. }
        | RunEvent::StepRequestCompleted { .. }
        | RunEvent::ChildRunStarted { .. }
        | RunEvent::RunCalledBy { .. }
        | RunEvent::RunRerun { .. } => return Ok(Ok(())),
        RunEvent::StepRetryScheduled { .. } | RunEvent::TimerScheduled { .. } => {
            RunStatus::Sleeping
        }
        RunEvent::RunPaused { .. } => RunStatus::Paused,
        RunEvent::RunCancelled { .. } => RunStatus::Cancelled,
        RunEvent::RunCompleted { .. } => RunStatus::Completed,
        RunEvent::RunFailed { .. } => RunStatus::Failed,
    };
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
    // When recovery must look at the run again: the timer it now sleeps on, the timeout of
    // its pause (none: only a resume moves it); nothing once it moves on.
    row.wake_at = match &run_event {
        RunEvent::TimerScheduled { fire_at_ms, .. }
        | RunEvent::StepRetryScheduled { fire_at_ms, .. } => Some(*fire_at_ms),
        RunEvent::RunPaused { timeout_at_ms, .. } => *timeout_at_ms,
        _ => None,
    };
    row.concurrent |= starts_concurrency(&run_event);
    if let RunEvent::RunFailed { error } = run_event {
        row.error = Some(error.message);
    }
    if row != old {
        pending.update_run(&row)?;
    }
    Ok(Ok(()))
}

/// Whether the event shows a step under which several may be under way at once: a foreach
/// (its items, `each[3].charge`) or an agent (its model and tool calls, `a.m1`, `a.t1.c`).
/// Such a run may sleep on one item's timer while another item's call is in flight, so its
/// status alone does not say it only waits. (Users' step ids hold neither `[` nor `.`.)
fn starts_concurrency(event: &RunEvent) -> bool {
    match event {
        RunEvent::ForeachStarted { .. } => true,
        RunEvent::StepStarted { step_id, .. }
        | RunEvent::StepRetryScheduled { step_id, .. }
        | RunEvent::TimerScheduled { step_id, .. }
        | RunEvent::RunPaused { step_id, .. }
        | RunEvent::TimerFired { step_id }
        | RunEvent::RunResumed { step_id, .. }
        | RunEvent::StepCompleted { step_id, .. } => step_id.contains(['[', '.']),
        _ => false,
    }
}

/// A run event that cannot be decoded: its run is listed as `corrupt` (as the engine shows it)
/// and the event is skipped. Later events of the run change nothing listed: no status leads
/// out of `corrupt`.
fn mark_corrupt(pending: &mut Pending<'_>, event: &RecordedEvent, reason: String) -> Applied {
    let Some(run_id) = event.stream.as_str().strip_prefix("run-") else {
        return Ok(Err(reason));
    };
    let message = engine::executor::Corruption {
        seq: event.seq.0,
        reason: reason.clone(),
    }
    .to_string();
    match pending.run(run_id)? {
        Some(mut row) => {
            row.status = run_status_code(RunStatus::Corrupt);
            row.error = Some(message);
            row.wake_at = None;
            pending.update_run(&row)?;
        }
        None => pending.insert_run(&RunRow {
            run_id: run_id.to_owned(),
            workflow_id: String::new(),
            workflow_version: 0,
            status: run_status_code(RunStatus::Corrupt),
            started_at: event.recorded_at.as_micros(),
            completed_at: None,
            error: Some(message),
            idempotency_key: None,
            wake_at: None,
            concurrent: false,
        })?,
    }
    Ok(Err(reason))
}

fn apply_workflow_event(pending: &mut Pending<'_>, event: &RecordedEvent) -> Applied {
    let workflow_event = match WorkflowEvent::decode(event.event_type, &event.data) {
        Ok(workflow_event) => workflow_event,
        Err(error) => return Ok(Err(error.to_string())),
    };
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
        pending.put_workflow(&row)?;
        return Ok(Ok(()));
    };
    // As `engine::workflows` folds a stream: every later event updates the record.
    let mut row = old;
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
    pending.put_workflow(&row)?;
    Ok(Ok(()))
}

/// Folds a trigger event as `triggers::instances::fold` does: the first `TriggerUpserted`
/// creates the row (its position is the listing order); later upserts replace the spec's
/// fields and the status (the slug stays), status changes and the deletion set theirs, and
/// each of these sets updatedAt; `TriggerFired` counts; the other decisions change nothing.
fn apply_trigger_event(pending: &mut Pending<'_>, event: &RecordedEvent) -> Applied {
    let trigger_event = match TriggerEvent::decode(event.event_type, &event.data) {
        Ok(trigger_event) => trigger_event,
        Err(error) => return Ok(Err(error.to_string())),
    };
    let Some(trigger_id) = event.stream.as_str().strip_prefix("trigger-") else {
        return Ok(Err("a trigger event outside a trigger stream".to_owned()));
    };
    let at = event.recorded_at.as_micros();
    let parse = |spec_json: &str| {
        serde_json::from_str::<TriggerSpec>(spec_json)
            .map_err(|e| format!("the trigger spec is not readable: {e}"))
    };
    let Some(mut row) = pending.trigger(trigger_id)? else {
        let TriggerEvent::TriggerUpserted {
            trigger_id: created_id,
            slug,
            spec_json,
            enabled,
            ..
        } = trigger_event
        else {
            return Ok(Err("a trigger event before TriggerUpserted".to_owned()));
        };
        if created_id != trigger_id {
            return Ok(Err(format!("TriggerUpserted of trigger {created_id}")));
        }
        let spec = match parse(&spec_json) {
            Ok(spec) => spec,
            Err(reason) => return Ok(Err(reason)),
        };
        let row = TriggerRow {
            trigger_id: trigger_id.to_owned(),
            slug,
            kind: spec.kind,
            workflow_id: spec.workflow_id,
            connection_id: spec.connection_id,
            trigger_name: spec.trigger_name,
            enabled,
            deleted: false,
            created_position: event.position.0,
            created_at: at,
            updated_at: at,
            fired: 0,
        };
        pending.put_trigger(&row)?;
        return Ok(Ok(()));
    };
    match trigger_event {
        TriggerEvent::TriggerUpserted {
            spec_json, enabled, ..
        } => {
            let spec = match parse(&spec_json) {
                Ok(spec) => spec,
                Err(reason) => return Ok(Err(reason)),
            };
            row.kind = spec.kind;
            row.workflow_id = spec.workflow_id;
            row.connection_id = spec.connection_id;
            row.trigger_name = spec.trigger_name;
            row.enabled = enabled;
            row.updated_at = at;
        }
        TriggerEvent::TriggerStatusChanged { enabled, .. } => {
            row.enabled = enabled;
            row.updated_at = at;
        }
        TriggerEvent::TriggerDeleted { .. } => {
            row.deleted = true;
            row.updated_at = at;
        }
        TriggerEvent::TriggerFired { .. } => row.fired += 1,
        TriggerEvent::TriggerSkipped { .. }
        | TriggerEvent::TriggerRejected { .. }
        | TriggerEvent::TriggerCursorAdvanced { .. } => return Ok(Ok(())),
    }
    pending.put_trigger(&row)?;
    Ok(Ok(()))
}
