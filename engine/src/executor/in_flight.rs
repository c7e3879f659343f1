//! The HTTP and action attempts of one run that are being carried out, each on its own task, so a
//! foreach's items can call out side by side. At most one attempt per step id is in flight;
//! their number is bounded by `decide`, which never has more than a foreach's concurrency
//! items under way. Dropping the set aborts them all (the run ended, or the driver stopped).

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{Id, JoinSet};

use super::action::Reached;
use crate::events::StepError;

/// An attempt that finished, or reached a request to record: what to record.
pub(super) struct Finished {
    pub step_id: String,
    pub attempt: u32,
    pub result: Reached,
}

#[derive(Default)]
pub(super) struct InFlight {
    tasks: JoinSet<Reached>,
    attempts: HashMap<Id, (String, u32)>,
}

impl InFlight {
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    pub fn contains(&self, step_id: &str) -> bool {
        self.attempts.values().any(|(id, _)| id == step_id)
    }

    /// Carries out `attempt` of `step_id` on a task of its own. Only after its `StepStarted`
    /// is durable.
    pub fn spawn(
        &mut self,
        step_id: String,
        attempt: u32,
        work: impl Future<Output = Reached> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(work);
        self.attempts.insert(handle.id(), (step_id, attempt));
    }

    /// The next attempt to finish; pending forever while none is in flight.
    pub async fn next(&mut self) -> Finished {
        loop {
            let Some(joined) = self.tasks.join_next_with_id().await else {
                return std::future::pending().await;
            };
            let (id, result) = match joined {
                Ok((id, result)) => (id, result),
                // A panic in the request code is a failed attempt, retried by the policy, so
                // a bug cannot make the driver call out forever.
                Err(error) => (
                    error.id(),
                    Reached::Done(Err(StepError {
                        code: Some("INTERNAL".into()),
                        message: format!("the attempt's task failed: {error}"),
                        retryable: true,
                    })),
                ),
            };
            if let Some((step_id, attempt)) = self.attempts.remove(&id) {
                return Finished {
                    step_id,
                    attempt,
                    result,
                };
            }
        }
    }
}
