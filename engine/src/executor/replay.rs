//! Replay debugging through the executor: reads a run's stream and the definitions it is
//! replayed under, then hands them to the pure `inspect` module.

use journal::Seq;

use super::{run_stream, Runs, RunsError, RUN_EVENTS_MAX};
use crate::definition::Step;
use crate::events::RunEvent;
use crate::inspect::{replay_run, JournalEvent, Replay};

/// What to check a run's history against, besides the definition it ran under.
#[derive(Clone, Debug)]
pub enum Against {
    /// Nothing: just the timeline.
    Nothing,
    /// A stored version of the run's workflow.
    Version(u64),
    /// A definition that is not stored (checked steps of a workflow spec).
    Steps(Vec<Step>),
}

impl Runs {
    /// The run's whole stream, decoded. Empty when the run does not exist.
    pub async fn journal(&self, run_id: &str) -> Result<Vec<JournalEvent>, RunsError> {
        let stream = run_stream(run_id)?;
        let mut events = Vec::new();
        loop {
            let page = self
                .inner()
                .store
                .read_stream(&stream, Seq(events.len() as u64 + 1), 1000)
                .await?;
            if page.is_empty() || events.len() >= RUN_EVENTS_MAX {
                return Ok(events);
            }
            for recorded in page {
                let event = RunEvent::decode(recorded.event_type, &recorded.data).map_err(|e| {
                    RunsError::RunCorrupt {
                        run_id: run_id.to_owned(),
                        corruption: super::Corruption {
                            seq: recorded.seq.0,
                            reason: e.to_string(),
                        },
                    }
                })?;
                events.push(JournalEvent {
                    seq: recorded.seq.0,
                    recorded_at_us: recorded.recorded_at.0,
                    event,
                });
            }
        }
    }

    /// Replays a run's journal under the version it ran, and checks it against `against`.
    pub async fn replay(&self, run_id: &str, against: Against) -> Result<Replay, RunsError> {
        let events = self.journal(run_id).await?;
        let Some(RunEvent::RunStarted {
            workflow_id,
            workflow_version,
            ..
        }) = events.first().map(|e| &e.event)
        else {
            return Err(RunsError::RunNotFound(run_id.to_owned()));
        };
        let original = self.steps_of(workflow_id, *workflow_version).await?;
        let candidate = match against {
            Against::Nothing => None,
            Against::Version(version) => {
                Some(self.steps_of(workflow_id, version).await?.as_ref().clone())
            }
            Against::Steps(steps) => Some(steps),
        };
        Ok(replay_run(&events, &original, candidate.as_deref()))
    }
}
