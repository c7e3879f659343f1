//! The indexer thread: writes the entries of durable batches to the index, many batches per
//! transaction, then drops them from the overlay. It keeps the index's cost (and its disk
//! traffic) off the append path; the index is derived data, so its lag is harmless (see
//! `overlay`).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::index::{Checkpoint, IndexEntry};
use super::Shared;

/// Most entries written to the index in one transaction. (Measured on sled 0.34.7, the index
/// before redb: its memory grew with the size of the batches applied; redb's is bounded by
/// its cache, and 1,024 entries keep one transaction's dirty pages small.)
const APPLY_ENTRIES_MAX: usize = 1024;

/// How long the indexer gathers batches before writing to the index. Fewer, larger writes
/// cost far less CPU and disk traffic per entry, and both compete with the append path.
const GATHER_MS: u64 = 10;

/// The entries of one durable batch and the checkpoint just past it.
pub struct IndexJob {
    pub entries: Vec<IndexEntry>,
    pub checkpoint: Checkpoint,
}

pub fn run(shared: Arc<Shared>, jobs: Receiver<IndexJob>) {
    while let Ok(first) = jobs.recv() {
        let mut entries = first.entries;
        let mut checkpoint = first.checkpoint;
        let deadline = Instant::now() + Duration::from_millis(GATHER_MS);
        while entries.len() < APPLY_ENTRIES_MAX {
            let wait = deadline.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(wait) {
                Ok(job) => {
                    entries.extend(job.entries);
                    checkpoint = job.checkpoint;
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        match shared.index.apply(&entries, checkpoint) {
            Ok(()) => shared.overlay.remove(&entries),
            Err(error) => {
                // The entries stay in the overlay, so reads still find them; the log has them,
                // so the next open indexes them. Appends stop so the overlay stops growing.
                let reason = format!("writing the index failed: {error}");
                tracing::error!(%reason, "refusing further appends");
                shared.poison(reason);
            }
        }
    }
}
