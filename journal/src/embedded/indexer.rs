//! The indexer thread: writes the entries of durable batches to sled, many batches per sled
//! write, then drops them from the overlay. It keeps sled's cost (and its disk traffic) off
//! the append path; sled is derived data, so its lag is harmless (see `overlay`).

use std::sync::mpsc::Receiver;
use std::sync::Arc;

use super::index::{Checkpoint, IndexEntry};
use super::Shared;

/// Most entries written to sled in one `apply_batch`.
const APPLY_ENTRIES_MAX: usize = 16 * 1024;

/// The entries of one durable batch and the checkpoint just past it.
pub struct IndexJob {
    pub entries: Vec<IndexEntry>,
    pub checkpoint: Checkpoint,
}

pub fn run(shared: Arc<Shared>, jobs: Receiver<IndexJob>) {
    while let Ok(first) = jobs.recv() {
        let mut entries = first.entries;
        let mut checkpoint = first.checkpoint;
        while entries.len() < APPLY_ENTRIES_MAX {
            let Ok(job) = jobs.try_recv() else { break };
            entries.extend(job.entries);
            checkpoint = job.checkpoint;
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
