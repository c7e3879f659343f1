//! Runs asleep on a timer, with no driver: one queue of (due time, run) and one task that
//! starts each run's driver when its time comes. A run that sleeps for a week costs an entry
//! here (its id and a time), not a task holding its state.
//!
//! The queue knows nothing of the run but when to look at it again: the driver it starts
//! reads the run from the journal and decides, as after a restart. Whatever starts a driver
//! for a run (a resume, a cancel, the queue) takes it off the queue first, so the queue holds
//! only runs that sleep, each once.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::{lock, Inner, Runs};

/// Most runs asleep in the queue; past it a sleeping run keeps its driver (and so its task
/// and state) rather than growing the queue without bound.
pub(crate) const SLEEPERS_MAX: usize = 1_000_000;

/// A timer at least this far off puts the run to sleep in the queue; a nearer one (a short
/// retry backoff) is waited for by the driver, which would otherwise reload the run at once.
pub(crate) const SLEEP_AFTER_MS: i64 = 2_000;

#[derive(Default)]
pub(crate) struct Sleepers {
    due: Mutex<Queue>,
    /// Wakes the task when an entry arrives (it may be earlier than the one it sleeps for);
    /// shared so the task can wait on it without keeping the `Runs` alive.
    arrived: Arc<Notify>,
    /// Whether the task runs (started with the first sleeper, inside the runtime).
    started: std::sync::OnceLock<()>,
}

/// Each sleeping run once, by due time and by id.
#[derive(Default)]
struct Queue {
    /// (due time in ms since the epoch, run id), earliest first.
    by_due: BTreeSet<(i64, String)>,
    by_run: HashMap<String, i64>,
}

impl Queue {
    fn remove(&mut self, run_id: &str) {
        if let Some(due) = self.by_run.remove(run_id) {
            self.by_due.remove(&(due, run_id.to_owned()));
        }
    }
}

impl Sleepers {
    pub fn len(&self) -> usize {
        lock(&self.due).by_run.len()
    }

    /// Queues `run_id` to be driven again at `due_ms` (in place of an earlier entry); false
    /// (nothing queued) when full.
    pub(crate) fn put(&self, inner: &Arc<Inner>, run_id: &str, due_ms: i64) -> bool {
        {
            let mut queue = lock(&self.due);
            queue.remove(run_id);
            if queue.by_run.len() >= SLEEPERS_MAX {
                return false;
            }
            queue.by_due.insert((due_ms, run_id.to_owned()));
            queue.by_run.insert(run_id.to_owned(), due_ms);
        }
        let weak = Arc::downgrade(inner);
        self.started
            .get_or_init(|| drop(tokio::spawn(wake_when_due(weak))));
        self.arrived.notify_one();
        true
    }

    /// Takes `run_id` off the queue: a driver started for it (a resume, a cancel, a step's
    /// answer, or the queue itself), so it no longer sleeps here.
    pub(crate) fn forget(&self, run_id: &str) {
        lock(&self.due).remove(run_id);
    }

    /// The runs due by `now_ms`, taken off the queue, and when the next one is due.
    fn take_due(&self, now_ms: i64) -> (Vec<String>, Option<i64>) {
        let mut queue = lock(&self.due);
        let mut ready = Vec::new();
        while let Some(first) = queue.by_due.first() {
            if first.0 > now_ms {
                return (ready, Some(first.0));
            }
            if let Some((_, run_id)) = queue.by_due.pop_first() {
                queue.by_run.remove(&run_id);
                ready.push(run_id);
            }
        }
        (ready, None)
    }
}

/// The one task of the queue: sleeps until the earliest entry is due (or a new one arrives),
/// then starts the drivers of the runs due. Holds no strong reference while asleep, so it
/// ends once the `Runs` it serves are dropped.
async fn wake_when_due(inner: Weak<Inner>) {
    loop {
        let Some(inner_now) = inner.upgrade() else {
            return;
        };
        let runs = Runs { inner: inner_now };
        let now = runs.inner.clock.now_ms();
        let (ready, next) = runs.inner.sleepers.take_due(now);
        for run_id in ready {
            runs.ensure_driver(&run_id);
        }
        let arrived = runs.inner.sleepers.arrived.clone();
        drop(runs);
        match next {
            Some(next) => {
                let wait = Duration::from_millis(next.saturating_sub(now).max(0) as u64);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = arrived.notified() => {}
                }
            }
            None => arrived.notified().await,
        }
    }
}
