//! Leases: which node drives a run (or a trigger) when several nodes share one journal
//! (issue 17, decision 0013).
//!
//! A lease is a row `(key, holder, epoch, expiry, wake_at)` beside the journal, keyed by the
//! run's stream name (`run-…`) or the trigger's (`trigger-…`). Every claim raises the epoch,
//! so a node that lost a lease (it stalled past the expiry and another node claimed it) is
//! fenced twice: its appends carry `(holder, epoch)` and are refused once the epoch moved on,
//! and they expect the stream version it last read, which the new holder's appends moved.
//!
//! A lease is free (no holder) while its run waits: `wake_at` says when a node should claim
//! it (a timer), or nothing (it waits for a resume, which claims it). A held lease whose
//! expiry passed belongs to a dead node: another node claims it ([`Leases::claim_due`]).
//! Expiry is read on the database's clock, so nodes' clocks need not agree.
//!
//! With one node ([`SoleNode`]) there is nothing to fence: claims always succeed and cost
//! nothing, and appends ignore fences.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::error::StoreError;

/// What an append does with its lease, besides requiring it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceOp {
    /// The append is written only while `(holder, epoch)` holds the lease.
    Hold,
    /// The append creates the stream and its lease, held by `holder` at `epoch` (a new run:
    /// one round trip, and a node that dies right after leaves a lease others take over).
    /// Refused if the lease exists.
    Create,
    /// As `Hold`, and the lease is deleted with the append (the run ended).
    End,
}

/// The lease an append requires ([`crate::EventStore::append_fenced`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub holder: Arc<str>,
    pub epoch: u64,
    pub op: FenceOp,
    /// How long a lease created by the append lasts before it must be renewed.
    pub ttl_ms: u64,
}

/// A lease a node holds after a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub key: String,
    pub epoch: u64,
    /// The node that held it until its expiry passed, when this claim took it over.
    pub taken_from: Option<String>,
}

/// The epoch [`Fence`]s carry for a run created with [`FenceOp::Create`].
pub const FIRST_EPOCH: u64 = 1;

/// The leases of one node ([`SoleNode`] alone; PostgreSQL's for several nodes).
#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// This node's id, as leases name their holder (and logs and metrics name the node).
    fn node(&self) -> &Arc<str>;

    /// True when other nodes may drive the same journal's runs: appends must be fenced and
    /// waits released. False for a sole node, whose leases are free of charge.
    fn shared(&self) -> bool;

    /// How long a lease lasts unless renewed, in ms.
    fn ttl_ms(&self) -> u64;

    /// Takes `key` for this node, with a new epoch, if it is free, expired, missing (then
    /// created) or already this node's. `None` when another node holds it.
    async fn claim(&self, key: &str) -> Result<Option<Claimed>, StoreError>;

    /// Claims each of `keys` as [`Leases::claim`] would, in one round trip; returns those
    /// claimed.
    async fn claim_many(&self, keys: &[String]) -> Result<Vec<Claimed>, StoreError>;

    /// Claims up to `limit` leases under `prefix` that need a node: held by a node whose
    /// expiry passed (it died), or free with `wake_at` at least `grace_ms` in the past (their
    /// releaser's own timer had the first go).
    async fn claim_due(
        &self,
        prefix: &str,
        grace_ms: u64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Claims, with new epochs, every lease under `prefix` that names this node as holder: at
    /// start, those an earlier process of the same node id held.
    async fn reclaim_own(&self, prefix: &str) -> Result<Vec<Claimed>, StoreError>;

    /// Frees a lease this node holds at `epoch` (no-op if it no longer does): its run waits,
    /// for a timer due at `wake_at_ms` or, with `None`, for a resume.
    async fn release(
        &self,
        key: &str,
        epoch: u64,
        wake_at_ms: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Deletes a lease this node holds at `epoch` (its run ended); no-op if it no longer does.
    async fn finish(&self, key: &str, epoch: u64) -> Result<(), StoreError>;

    /// Extends every lease this node holds; returns how many.
    async fn renew(&self) -> Result<u64, StoreError>;

    /// The leases under `prefix` this node holds now (not expired), with their epochs
    /// (`taken_from` is none): what a node checks to learn that another took one over. The
    /// default knows none, so a caller claims every key it wants each time (claiming a lease
    /// this node holds succeeds, with a new epoch): right, at the price of the epochs.
    async fn held(&self, prefix: &str) -> Result<Vec<Claimed>, StoreError> {
        let _ = prefix;
        Ok(Vec::new())
    }

    /// Creates free leases, due at once, for keys that have none (runs a journal import
    /// brought, or any a lost write left without one); returns how many were created.
    async fn seed(&self, keys: &[String]) -> Result<u64, StoreError>;

    /// Tells every node that something happened to `key` (a resume appended by a node that
    /// could not claim the run): its holder wakes its driver.
    async fn poke(&self, key: &str) -> Result<(), StoreError>;

    /// The keys poked by any node, as they arrive (lagging receivers lose the oldest).
    fn pokes(&self) -> broadcast::Receiver<String>;
}

/// The leases of a node alone on its journal (the embedded store): every claim succeeds at
/// once, nothing is stored, nothing is fenced.
pub struct SoleNode {
    node: Arc<str>,
    pokes: broadcast::Sender<String>,
}

impl SoleNode {
    pub fn new(node: impl Into<Arc<str>>) -> SoleNode {
        SoleNode {
            node: node.into(),
            pokes: broadcast::channel(1).0,
        }
    }
}

impl Default for SoleNode {
    fn default() -> SoleNode {
        SoleNode::new("local")
    }
}

#[async_trait]
impl Leases for SoleNode {
    fn node(&self) -> &Arc<str> {
        &self.node
    }

    fn shared(&self) -> bool {
        false
    }

    fn ttl_ms(&self) -> u64 {
        u64::MAX
    }

    async fn claim(&self, key: &str) -> Result<Option<Claimed>, StoreError> {
        Ok(Some(Claimed {
            key: key.to_owned(),
            epoch: FIRST_EPOCH,
            taken_from: None,
        }))
    }

    async fn claim_many(&self, keys: &[String]) -> Result<Vec<Claimed>, StoreError> {
        Ok(keys
            .iter()
            .map(|key| Claimed {
                key: key.clone(),
                epoch: FIRST_EPOCH,
                taken_from: None,
            })
            .collect())
    }

    async fn claim_due(&self, _: &str, _: u64, _: usize) -> Result<Vec<Claimed>, StoreError> {
        Ok(Vec::new())
    }

    async fn reclaim_own(&self, _: &str) -> Result<Vec<Claimed>, StoreError> {
        Ok(Vec::new())
    }

    async fn release(&self, _: &str, _: u64, _: Option<i64>) -> Result<(), StoreError> {
        Ok(())
    }

    async fn finish(&self, _: &str, _: u64) -> Result<(), StoreError> {
        Ok(())
    }

    async fn renew(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn seed(&self, _: &[String]) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn poke(&self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn pokes(&self) -> broadcast::Receiver<String> {
        self.pokes.subscribe()
    }
}
