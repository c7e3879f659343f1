//! Recovery from an index of unfinished runs: at start-up, a run is loaded only when it has
//! something to do now. A run asleep on a timer goes into the sleepers' queue by its due time
//! without being read; a run waiting only for a resume is left parked (a resume or a cancel
//! loads it). The index is derived state kept elsewhere (the read models implement
//! [`UnfinishedRuns`]; the engine does not depend on them): recovery uses it only when it
//! reflects every event committed, and reads every run, as [`Runs::recover`] does, otherwise.
//!
//! An entry that is wrong loses nothing as long as its run is looked at no later than it
//! should be: whatever the queue wakes is read from the journal and decided from its real
//! state (a run woken early sleeps again). Runs the index may not describe (it skipped one of
//! their events) are read whatever it says of them.

use std::collections::HashSet;

use journal::Position;

use super::{quarantined, recovered, Loaded, Runs, RunsError, RECOVERY_LOADS_MAX};

/// Runs being read at once.
type Loads = tokio::task::JoinSet<Result<bool, RunsError>>;

/// Entries asked of the index at once.
const INDEX_PAGE: usize = 1000;

/// When recovery must look at an unfinished run again, as the index tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// It has something to do now (pending, running, or the index cannot tell): read it and
    /// start its driver.
    Now,
    /// It sleeps on a timer, or waits for a resume with a timeout, due at this time (ms since
    /// the epoch): the sleepers' queue starts its driver then.
    At(i64),
    /// It waits for a resume and nothing else: it stays parked until a resume or a cancel.
    OnResume,
}

/// One unfinished run of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnfinishedRun {
    pub run_id: String,
    pub wake: Wake,
}

/// Why an index could not answer.
pub type IndexError = Box<dyn std::error::Error + Send + Sync>;

/// An index of unfinished runs derived from the journal (the read models'), for start-up.
pub trait UnfinishedRuns: Send + Sync {
    /// The position of the last journal event the index reflects.
    fn checkpoint(&self) -> Result<Position, IndexError>;

    /// Runs the index may describe wrongly (one of their events did not fit and was skipped),
    /// which recovery reads whatever the index says; `None` when there may be more than the
    /// index can name.
    fn doubtful_runs(&self) -> Result<Option<Vec<String>>, IndexError>;

    /// Up to `limit` unfinished runs with ids after `after`, in id order.
    fn unfinished_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UnfinishedRun>, IndexError>;
}

/// What a recovery did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Runs read and given a driver.
    pub driven: usize,
    /// Runs put into the sleepers' queue unread.
    pub asleep: usize,
    /// Runs left parked unread (they wait for a resume).
    pub parked: usize,
    /// Whether the index was used (false: every run was read).
    pub from_index: bool,
}

impl Recovered {
    /// Every unfinished run recovery found.
    pub fn total(&self) -> usize {
        self.driven + self.asleep + self.parked
    }
}

impl Runs {
    /// Continues every unfinished run after a restart, reading only those with something to
    /// do now, as `index` tells it (see the module). Reads every run instead (as
    /// [`Runs::recover`]) when the index is behind the journal or cannot answer.
    pub async fn recover_with(&self, index: &dyn UnfinishedRuns) -> Result<Recovered, RunsError> {
        match self.recover_from_index(index).await? {
            Ok(recovered) => Ok(recovered),
            Err(reason) => {
                tracing::warn!(%reason, "the index of unfinished runs cannot be used: reading every run");
                let driven = self.recover().await?;
                Ok(Recovered {
                    driven,
                    ..Recovered::default()
                })
            }
        }
    }

    /// `Ok(Err(reason))`: the index cannot be used (what was already done stays done: a
    /// driver started twice is woken, a queued run is taken off the queue by its driver).
    async fn recover_from_index(
        &self,
        index: &dyn UnfinishedRuns,
    ) -> Result<Result<Recovered, String>, RunsError> {
        let committed = *self.inner.store.subscribe().borrow();
        let checkpoint = match index.checkpoint() {
            Ok(checkpoint) => checkpoint,
            Err(error) => return Ok(Err(error.to_string())),
        };
        if checkpoint < committed {
            return Ok(Err(format!(
                "it reflects the journal up to position {}, which ends at {}",
                checkpoint.0, committed.0
            )));
        }
        let doubtful: HashSet<String> = match index.doubtful_runs() {
            Ok(Some(runs)) => runs.into_iter().collect(),
            Ok(None) => return Ok(Err("it skipped more events than it names".to_owned())),
            Err(error) => return Ok(Err(error.to_string())),
        };
        let mut done = Recovered {
            from_index: true,
            ..Recovered::default()
        };
        let mut loads: Loads = tokio::task::JoinSet::new();
        let read = |run_id: String, loads: &mut Loads| {
            let runs = self.clone();
            loads.spawn(async move { runs.read_and_drive(run_id).await });
        };
        for run_id in &doubtful {
            if loads.len() >= RECOVERY_LOADS_MAX {
                done.driven += recovered(loads.join_next().await)?;
            }
            read(run_id.clone(), &mut loads);
        }
        let mut after: Option<String> = None;
        loop {
            let page = match index.unfinished_after(after.as_deref(), INDEX_PAGE) {
                Ok(page) => page,
                Err(error) => return Ok(Err(error.to_string())),
            };
            let Some(last) = page.last() else { break };
            after = Some(last.run_id.clone());
            for entry in page {
                if doubtful.contains(&entry.run_id) {
                    continue;
                }
                match entry.wake {
                    Wake::OnResume => done.parked += 1,
                    Wake::At(due) if self.inner.sleepers.put(&self.inner, &entry.run_id, due) => {
                        done.asleep += 1
                    }
                    // Now, or the queue is full: the run is read and keeps a driver.
                    Wake::At(_) | Wake::Now => {
                        if loads.len() >= RECOVERY_LOADS_MAX {
                            done.driven += recovered(loads.join_next().await)?;
                        }
                        read(entry.run_id, &mut loads);
                    }
                }
            }
        }
        while !loads.is_empty() {
            done.driven += recovered(loads.join_next().await)?;
        }
        Ok(Ok(done))
    }

    /// Reads a run and starts its driver with the state read, unless it has ended or is
    /// corrupt (quarantined). True if a driver started.
    pub(super) async fn read_and_drive(&self, run_id: String) -> Result<bool, RunsError> {
        let loaded: Loaded = match self.load(&run_id).await {
            Ok(loaded) => loaded,
            // One unreadable run is quarantined; every other run goes on.
            Err(RunsError::RunCorrupt { run_id, corruption }) => {
                quarantined(&run_id, &corruption);
                return Ok(false);
            }
            Err(error) => return Err(error),
        };
        if loaded.version == 0 || loaded.state.status().is_terminal() {
            return Ok(false);
        }
        // The driver starts from the state just read instead of reading it again.
        self.start_driver(&run_id, Some(loaded));
        Ok(true)
    }
}
