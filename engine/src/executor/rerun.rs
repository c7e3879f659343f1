//! Reruns: a new run of a workflow version that starts at a chosen step of an ended run,
//! reusing the journaled outputs of the steps before it instead of carrying them out again.
//!
//! The rerun's stream starts with one append: `RunStarted`, `RunForked` (the link to its
//! parent) and a `StepReused` per reused step, so it is never seen half-made. Then the parent
//! gets a `RunRerun` naming it. A crash between the two leaves a rerun whose parent does not
//! list it; the rerun itself is complete and runs.

use serde_json::Value;

use super::{ensure_active, run_stream, status_name, step_view, Loaded, Runs, RunsError, Started};
use crate::decide::took_then;
use crate::definition::{Step, StepKind};
use crate::events::RunEvent;
use crate::run::{RunState, StepState};
use journal::{ExpectedVersion, NewEvent, StoreError};

/// A request to rerun an ended run from one of its steps.
#[derive(Clone, Debug, Default)]
pub struct Rerun {
    /// A top-level step of the chosen version: it and every step after it are carried out.
    pub from_step: String,
    /// The rerun's input; the parent's input when not given.
    pub input: Option<Value>,
    /// The workflow version to run; the current one when not given.
    pub version: Option<u64>,
}

impl Runs {
    /// Starts a rerun of `parent_id` and returns once its first append is durable.
    pub async fn rerun(&self, parent_id: &str, request: Rerun) -> Result<Started, RunsError> {
        let parent = self.load(parent_id).await?;
        if parent.version == 0 {
            return Err(RunsError::RunNotFound(parent_id.to_owned()));
        }
        let status = parent.state.status();
        if !status.is_terminal() {
            return Err(RunsError::NotEnded {
                run_id: parent_id.to_owned(),
                status: status_name(status).to_owned(),
            });
        }
        let workflow = self.workflow(&parent.state.workflow_id).await?;
        ensure_active(&workflow)?;
        let version = request.version.unwrap_or_else(|| workflow.version());
        let steps = self.steps_of(&workflow.id, version).await?;
        let schema = version
            .checked_sub(1)
            .and_then(|i| workflow.versions.get(i as usize))
            .and_then(|spec| spec.input_schema.as_ref());
        let input = request
            .input
            .clone()
            .unwrap_or_else(|| parent.input.clone());
        let input = crate::input::prepare(schema, input).map_err(RunsError::InvalidInput)?;
        let reused = reused_steps(&steps, &parent.state, &request.from_step)?;

        let run_id = super::new_run_id();
        let mut events = vec![
            RunEvent::RunStarted {
                run_id: run_id.clone(),
                workflow_id: workflow.id.clone(),
                workflow_version: version,
                input_json: input.to_string(),
                idempotency_key: None,
                connection_id: parent.state.connection_id.clone(),
            },
            RunEvent::RunForked {
                parent_run_id: parent_id.to_owned(),
                from_step: request.from_step.clone(),
            },
        ];
        events.extend(reused);
        let stream = run_stream(&run_id)?;
        let batch = events
            .iter()
            .map(|e| NewEvent::new(e.tag(), e.encode()))
            .collect();
        self.append_new_run(&run_id, &stream, batch).await?;
        metrics::counter!("duro_runs_started_total", "workflow" => workflow.id.clone())
            .increment(1);
        let link = RunEvent::RunRerun {
            child_run_id: run_id.clone(),
            from_step: request.from_step.clone(),
        };
        // The parent has ended, so only other links race for its stream: any version will do.
        match self
            .inner
            .store
            .append(
                &run_stream(parent_id)?,
                ExpectedVersion::Any,
                vec![NewEvent::new(link.tag(), link.encode())],
            )
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        let mut loaded = Loaded::empty();
        for event in &events {
            loaded.apply(event);
        }
        loaded.input = input;
        self.start_driver(&run_id, Some(loaded));
        Ok(Started {
            run_id,
            workflow_id: workflow.id.clone(),
            workflow_version: version,
            existing: false,
        })
    }
}

/// The `StepReused` events that bring a rerun to `from_step`: every top-level step before it
/// must have completed in the parent, and a condition's steps on the branch it took too.
fn reused_steps(
    steps: &[Step],
    parent: &RunState,
    from_step: &str,
) -> Result<Vec<RunEvent>, RunsError> {
    let Some(index) = steps.iter().position(|s| s.id == from_step) else {
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        return Err(RunsError::InvalidRerun(format!(
            "fromStep {from_step:?} is not a top-level step of this version; its steps are {}",
            ids.join(", ")
        )));
    };
    let mut events = Vec::new();
    for step in &steps[..index] {
        reuse(step, parent, &mut events)?;
    }
    Ok(events)
}

fn reuse(step: &Step, parent: &RunState, into: &mut Vec<RunEvent>) -> Result<(), RunsError> {
    let Some(StepState::Completed {
        output_json,
        attempts,
    }) = parent.step(&step.id)
    else {
        let how = match parent.step(&step.id) {
            None => "never ran".to_owned(),
            Some(other) => format!("did not complete ({})", step_view(&step.id, other).status),
        };
        return Err(RunsError::InvalidRerun(format!(
            "step {} comes before fromStep but {how} in run {}: rerun from it or from an earlier step",
            step.id, parent.run_id
        )));
    };
    into.push(RunEvent::StepReused {
        step_id: step.id.clone(),
        attempts: *attempts,
        output_json: output_json.clone(),
    });
    if let StepKind::Condition {
        then_steps,
        else_steps,
        ..
    } = &step.kind
    {
        let branch = if took_then(output_json) {
            then_steps
        } else {
            else_steps
        };
        for inner in branch {
            reuse(inner, parent, into)?;
        }
    }
    Ok(())
}
