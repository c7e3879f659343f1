//! Sub-workflows: a `workflow` step starts a child run and completes with its output.
//!
//! The child's id is derived from the parent run, the step and the attempt
//! (`child_run_id`), and the parent records it (`ChildRunStarted`) with the attempt's
//! `StepStarted`, before the child exists. Starting is idempotent (the child's stream must
//! not exist yet; if it does, an earlier start got there and its child is the one awaited),
//! so a crash anywhere starts one child per attempt, never two. A failed child fails the
//! attempt as retryable, so the step's retry policy decides; the next attempt has a new
//! child. Cancelling a parent cancels its unfinished children.

use std::time::Duration;

use journal::{NewEvent, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::steps::failure;
use super::{run_stream, Loaded, Runs, RunsError};
use crate::definition::WorkflowStep;
use crate::events::{RunEvent, StepError};
use crate::run::RunStatus;

/// How long one wait for a child lasts before it looks again (the wait itself is unbounded:
/// a child may sleep for days).
const CHILD_WAIT_SLICE: Duration = Duration::from_secs(3600);

/// The id of the child run of `attempt` of step `step_id` of run `parent_run_id`.
pub fn child_run_id(parent_run_id: &str, step_id: &str, attempt: u32) -> String {
    let digest = Sha256::digest(format!("{parent_run_id}\0{step_id}\0{attempt}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("run_{hex}")
}

/// An attempt of a workflow step, rendered against the parent run.
pub struct ChildCall {
    pub parent_run_id: String,
    pub step_id: String,
    pub child_run_id: String,
    pub step: WorkflowStep,
    pub input: Result<Value, StepError>,
    pub connection_id: Option<String>,
}

pub async fn perform(runs: Runs, call: ChildCall) -> Result<Value, StepError> {
    let input = call.input.clone()?;
    runs.start_child(&call, input).await?;
    loop {
        let view = runs
            .wait_for_end(&call.child_run_id, CHILD_WAIT_SLICE)
            .await
            .map_err(|e| failure("INTERNAL", e.to_string(), true))?;
        match view.status {
            RunStatus::Completed => return Ok(view.output.unwrap_or(Value::Null)),
            RunStatus::Failed => {
                let reason = view
                    .error
                    .map(|e| e.message)
                    .unwrap_or_else(|| "no error recorded".into());
                return Err(failure(
                    "CHILD_FAILED",
                    format!("child run {} failed: {reason}", call.child_run_id),
                    true,
                ));
            }
            RunStatus::Cancelled => {
                return Err(failure(
                    "CHILD_CANCELLED",
                    format!("child run {} was cancelled", call.child_run_id),
                    false,
                ))
            }
            _ => continue,
        }
    }
}

impl Runs {
    /// Starts the child run of `call` unless it exists. A child that cannot start (no such
    /// workflow or version, not active, input against its schema) fails the attempt.
    async fn start_child(&self, call: &ChildCall, input: Value) -> Result<(), StepError> {
        let stream = run_stream(&call.child_run_id)
            .map_err(|e| failure("INTERNAL", e.to_string(), false))?;
        let exists = self
            .inner
            .store
            .stream_version(&stream)
            .await
            .map_err(|e| failure("INTERNAL", e.to_string(), true))?
            > 0;
        if exists {
            // Started before a crash or a lost race: await that child.
            self.ensure_driver(&call.child_run_id);
            return Ok(());
        }
        let refuse = |message: String| failure("CHILD_NOT_STARTED", message, false);
        let workflow = match self.workflow(&call.step.workflow_id).await {
            Ok(workflow) => workflow,
            Err(RunsError::Workflow(error)) => {
                return Err(refuse(format!(
                    "workflow {}: {error}",
                    call.step.workflow_id
                )))
            }
            Err(error) => return Err(failure("INTERNAL", error.to_string(), true)),
        };
        super::ensure_active(&workflow)
            .map_err(|e| refuse(format!("workflow {}: {e}", workflow.id)))?;
        let version = call.step.version.unwrap_or(workflow.version());
        let Some(spec) = version
            .checked_sub(1)
            .and_then(|i| workflow.versions.get(i as usize))
        else {
            return Err(refuse(format!(
                "workflow {} has no version {version}",
                workflow.id
            )));
        };
        let input =
            crate::input::prepare(spec.input_schema.as_ref(), input).map_err(|problems| {
                let message = problems
                    .iter()
                    .map(|p| format!("input.{}: {}", p.path.join("."), p.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                failure("VALIDATION_ERROR", message, false)
            })?;
        let started = RunEvent::RunStarted {
            run_id: call.child_run_id.clone(),
            workflow_id: workflow.id.clone(),
            workflow_version: version,
            input_json: input.to_string(),
            idempotency_key: None,
            connection_id: call.connection_id.clone(),
        };
        let called_by = RunEvent::RunCalledBy {
            parent_run_id: call.parent_run_id.clone(),
            step_id: call.step_id.clone(),
        };
        let events = vec![
            NewEvent::new(started.tag(), started.encode()),
            NewEvent::new(called_by.tag(), called_by.encode()),
        ];
        match self
            .append_new_run(&call.child_run_id, &stream, events)
            .await
        {
            Ok(_) => {
                metrics::counter!("duro_runs_started_total", "workflow" => workflow.id.clone())
                    .increment(1);
                let mut loaded = Loaded::empty();
                loaded.apply(&started);
                loaded.apply(&called_by);
                loaded.input = input;
                self.start_driver(&call.child_run_id, Some(loaded));
                Ok(())
            }
            // Another start of the same attempt got there first: same child.
            Err(StoreError::Conflict { .. }) => {
                self.ensure_driver(&call.child_run_id);
                Ok(())
            }
            Err(error) => Err(failure("INTERNAL", error.to_string(), true)),
        }
    }

    /// Cancels the unfinished children of a run that was just cancelled (and theirs).
    pub(super) async fn cancel_children(&self, children: &[crate::run::ChildLink], reason: &str) {
        for child in children {
            let reason = format!("parent run cancelled: {reason}");
            match Box::pin(self.cancel(&child.run_id, &reason)).await {
                Ok(_) | Err(RunsError::Ended { .. }) | Err(RunsError::RunNotFound(_)) => {}
                Err(error) => {
                    tracing::warn!(child = %child.run_id, %error, "cancelling a child run failed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::child_run_id;

    #[test]
    fn child_ids_are_stable_and_differ_by_step_and_attempt() {
        let a = child_run_id("run_p", "call", 1);
        assert_eq!(a, child_run_id("run_p", "call", 1));
        assert_eq!(a.len(), "run_".len() + 32);
        assert_ne!(a, child_run_id("run_p", "call", 2));
        assert_ne!(a, child_run_id("run_p", "other", 1));
        assert_ne!(a, child_run_id("run_q", "call", 1));
    }
}
