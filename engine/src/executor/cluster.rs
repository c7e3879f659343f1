//! A node among several on one journal (PostgreSQL): the task that keeps this node's run
//! leases and takes on the runs that need a node (decision 0013).
//!
//! - Renews every lease the node holds, several times per lease lifetime.
//! - Claims runs whose lease expired (their node died: taken over) and waiting runs whose
//!   timer is due (free leases with `wake_at` past, after a grace that lets the node that
//!   released them wake them first from its own timer queue), and drives them.
//! - Wakes a local driver when another node pokes its run (a resume recorded there).
//!
//! Joining also gives a lease to every unfinished run that has none (a journal imported into
//! PostgreSQL has runs and no leases), from the local index of unfinished runs, and reclaims
//! the leases an earlier process of the same node id held.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::leases::{lease_key, took_over};
use super::{lock, Runs, RunsError, UnfinishedRuns};

/// How often the due and expired leases are looked for.
const CLAIM_EVERY: Duration = Duration::from_millis(500);
/// Leases claimed per look.
const CLAIM_BATCH: usize = 256;
/// How long past its timer a released run waits for its own node before another claims it.
const WAKE_GRACE_MS: u64 = 1_000;
/// Keys given to the database at once while seeding leases.
const SEED_PAGE: usize = 1000;

impl Runs {
    /// Joins the nodes sharing this journal: reclaims this node id's leases, then, in the
    /// background, seeds leases for the unfinished runs `index` knows that have none, renews
    /// this node's leases and claims the runs that need a node. Returns the background task.
    pub async fn join_cluster(
        &self,
        index: impl UnfinishedRuns + 'static,
    ) -> Result<JoinHandle<()>, RunsError> {
        let leases = self.inner.leases.leases().clone();
        let own = leases.reclaim_own("run-").await?;
        tracing::info!(node = %leases.node(), reclaimed = own.len(), "joined the nodes of this journal");
        for claimed in own {
            if let Some(run_id) = claimed.key.strip_prefix("run-") {
                self.inner.leases.adopt(run_id, claimed.epoch);
                self.ensure_driver(run_id);
            }
        }
        let runs = self.clone();
        Ok(tokio::spawn(async move {
            // Beside the keeper, not before it: seeding a large index takes longer than a
            // lease lives, and this node's leases must be renewed meanwhile.
            let seeding = {
                let runs = runs.clone();
                tokio::spawn(async move { runs.seed_leases(&index).await })
            };
            runs.keep_leases().await;
            seeding.abort();
        }))
    }

    /// Creates free, due leases for unfinished runs that have none.
    async fn seed_leases(&self, index: &dyn UnfinishedRuns) {
        let leases = self.inner.leases.leases();
        let mut after: Option<String> = None;
        let mut seeded = 0;
        loop {
            let page = match index.unfinished_after(after.as_deref(), SEED_PAGE) {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the index of unfinished runs to seed leases");
                    return;
                }
            };
            let Some(last) = page.last() else { break };
            after = Some(last.run_id.clone());
            let keys: Vec<String> = page.iter().map(|run| lease_key(&run.run_id)).collect();
            match leases.seed(&keys).await {
                Ok(created) => seeded += created,
                Err(error) => {
                    tracing::warn!(%error, "cannot seed the leases of unfinished runs");
                    return;
                }
            }
        }
        if seeded > 0 {
            tracing::info!(seeded, "gave leases to unfinished runs that had none");
        }
    }

    /// Renews, claims and answers pokes until the process stops.
    async fn keep_leases(&self) {
        let leases = self.inner.leases.leases().clone();
        let renew_every = Duration::from_millis((leases.ttl_ms() / 5).clamp(100, 60_000));
        let mut renew = tokio::time::interval(renew_every);
        let mut claim = tokio::time::interval(CLAIM_EVERY);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        claim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pokes = leases.pokes();
        loop {
            tokio::select! {
                _ = renew.tick() => match leases.renew().await {
                    Ok(held) => metrics::gauge!("duro_leases_held").set(held as f64),
                    Err(error) => tracing::warn!(%error, "cannot renew this node's leases"),
                },
                _ = claim.tick() => self.claim_due().await,
                poked = pokes.recv() => match poked {
                    Ok(key) => {
                        if let Some(run_id) = key.strip_prefix("run-") {
                            self.wake_driver(run_id);
                        }
                    }
                    // Missed pokes: their runs' drivers find the change at their next turn.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => pokes = leases.pokes(),
                },
            }
        }
    }

    /// Claims the runs that need a node now and drives them.
    async fn claim_due(&self) {
        let leases = self.inner.leases.leases();
        loop {
            let claimed = match leases.claim_due("run-", WAKE_GRACE_MS, CLAIM_BATCH).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim due runs");
                    return;
                }
            };
            let full = claimed.len() >= CLAIM_BATCH;
            for lease in claimed {
                let Some(run_id) = lease.key.strip_prefix("run-") else {
                    continue;
                };
                if let Some(from) = &lease.taken_from {
                    took_over(run_id, from);
                }
                self.inner.leases.adopt(run_id, lease.epoch);
                self.ensure_driver(run_id);
            }
            if !full {
                return;
            }
        }
    }

    /// Leaves the other nodes (the process stops): frees every run lease it holds, due at
    /// once, so they take its runs over within a second; returns how many.
    pub async fn leave_cluster(&self) -> usize {
        let released = self.inner.leases.release_all().await;
        tracing::info!(released, "left the nodes of this journal: run leases freed");
        released
    }

    /// Wakes this process's driver of the run, if it has one.
    fn wake_driver(&self, run_id: &str) {
        if let Some(driver) = lock(&self.inner.drivers).get(run_id) {
            driver.wake.notify_one();
        }
    }

    /// This node's id, as leases, logs and metrics name it.
    pub fn node_id(&self) -> &str {
        self.inner.leases.leases().node()
    }

    /// How many run leases this process holds.
    pub fn leases_held(&self) -> usize {
        self.inner.leases.held_count()
    }
}
