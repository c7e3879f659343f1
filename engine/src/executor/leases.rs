//! This process's side of run leases (`journal::lease`): which runs it holds, at which
//! epoch, and the fences its drivers' appends carry. With a sole node every claim succeeds
//! and no append is fenced; with several nodes on one PostgreSQL journal a driver runs only
//! while its node holds the run's lease (decision 0013).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use journal::{Fence, FenceOp, Leases, StoreError, FIRST_EPOCH};

use super::lock;

pub(crate) struct RunLeases {
    leases: Arc<dyn Leases>,
    /// Runs whose lease this process holds, with its epoch.
    held: Mutex<HashMap<String, u64>>,
}

/// A run's lease key: its stream's name.
pub fn lease_key(run_id: &str) -> String {
    format!("run-{run_id}")
}

impl RunLeases {
    pub(crate) fn new(leases: Arc<dyn Leases>) -> RunLeases {
        RunLeases {
            leases,
            held: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn leases(&self) -> &Arc<dyn Leases> {
        &self.leases
    }

    pub(crate) fn shared(&self) -> bool {
        self.leases.shared()
    }

    /// How many runs this process holds the lease of.
    pub(crate) fn held_count(&self) -> usize {
        lock(&self.held).len()
    }

    /// The fence of an append that creates a run (its lease with it); none with a sole node.
    pub(crate) fn creating(&self) -> Option<Fence> {
        self.shared().then(|| Fence {
            holder: self.leases.node().clone(),
            epoch: FIRST_EPOCH,
            op: FenceOp::Create,
            ttl_ms: self.leases.ttl_ms(),
        })
    }

    /// Notes the lease a successful creating append took.
    pub(crate) fn created(&self, run_id: &str) {
        if self.shared() {
            lock(&self.held).insert(run_id.to_owned(), FIRST_EPOCH);
        }
    }

    /// The fence of a driver's append to `run_id` (`End` when the append ends the run); none
    /// with a sole node, or when this process does not hold the lease (then the expected
    /// version alone guards the append, as for a resume).
    pub(crate) fn fence(&self, run_id: &str, ends: bool) -> Option<Fence> {
        if !self.shared() {
            return None;
        }
        let epoch = *lock(&self.held).get(run_id)?;
        Some(Fence {
            holder: self.leases.node().clone(),
            epoch,
            op: if ends { FenceOp::End } else { FenceOp::Hold },
            ttl_ms: self.leases.ttl_ms(),
        })
    }

    /// Notes that an `End` append deleted the lease.
    pub(crate) fn ended(&self, run_id: &str) {
        lock(&self.held).remove(run_id);
    }

    /// Notes a lease this process claimed (at `epoch`).
    pub(crate) fn adopt(&self, run_id: &str, epoch: u64) {
        if self.shared() {
            lock(&self.held).insert(run_id.to_owned(), epoch);
        }
    }

    /// True when this process holds (or now claimed) the run's lease; false when another
    /// node holds it or the run has none (it ended, or never started).
    pub(crate) async fn acquire(&self, run_id: &str) -> Result<bool, StoreError> {
        if !self.shared() || lock(&self.held).contains_key(run_id) {
            return Ok(true);
        }
        match self.leases.claim(&lease_key(run_id)).await? {
            Some(claimed) => {
                if let Some(from) = &claimed.taken_from {
                    took_over(run_id, from);
                }
                self.adopt(run_id, claimed.epoch);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Frees the run's lease as it waits (for a timer due at `wake_at_ms`, or a resume).
    pub(crate) async fn release(&self, run_id: &str, wake_at_ms: Option<i64>) {
        let Some(epoch) = lock(&self.held).remove(run_id) else {
            return;
        };
        if let Err(error) = self
            .leases
            .release(&lease_key(run_id), epoch, wake_at_ms)
            .await
        {
            // It expires instead, and another node (or this one) claims it then.
            tracing::warn!(%run_id, %error, "cannot release a run's lease; it will expire");
        }
    }

    /// Deletes the lease of a run that ended, if this process still holds it.
    pub(crate) async fn finish(&self, run_id: &str) {
        let Some(epoch) = lock(&self.held).remove(run_id) else {
            return;
        };
        if let Err(error) = self.leases.finish(&lease_key(run_id), epoch).await {
            tracing::warn!(%run_id, %error, "cannot delete an ended run's lease; it will expire");
        }
    }

    /// Frees every lease this process holds, due at once (the process is stopping): other
    /// nodes claim the runs within a second instead of waiting for the leases to expire. A
    /// driver still running here is fenced out from then on.
    pub(crate) async fn release_all(&self) -> usize {
        let held: Vec<(String, u64)> = lock(&self.held).drain().collect();
        for (run_id, epoch) in &held {
            if let Err(error) = self
                .leases
                .release(&lease_key(run_id), *epoch, Some(0))
                .await
            {
                tracing::warn!(%run_id, %error, "cannot release a run's lease; it will expire");
            }
        }
        held.len()
    }

    /// Forgets a lease another node took.
    pub(crate) fn lost(&self, run_id: &str) {
        lock(&self.held).remove(run_id);
        tracing::info!(%run_id, "another node holds this run's lease now: its driver here stops");
        metrics::counter!("duro_leases_lost_total").increment(1);
    }

    /// Asks the node that holds the run's lease to look at it again.
    pub(crate) async fn poke(&self, run_id: &str) {
        if let Err(error) = self.leases.poke(&lease_key(run_id)).await {
            tracing::warn!(%run_id, %error, "cannot tell the run's node to look at it");
        }
    }
}

/// Logs and counts a takeover of a run from a node whose lease expired.
pub(crate) fn took_over(run_id: &str, from: &str) {
    tracing::info!(%run_id, from_node = %from, "took over a run from a node whose lease expired");
    metrics::counter!("duro_lease_takeovers_total", "kind" => "run").increment(1);
}
