//! The index entries of batches that are durable in the log but not yet written to the index.
//!
//! The writer answers an append as soon as its batch is fdatasynced and its entries are here;
//! the indexer thread writes them to the index in large batches afterwards and only then removes
//! them from here. Readers therefore look here first and in the index second: an entry leaves
//! the overlay only after it is in the index, so a reader never misses one.
//!
//! Bounded: the writer stops taking appends while `INDEX_QUEUE_BATCHES_MAX` batches wait for
//! the indexer.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use super::index::{EventLocation, IndexEntry};
use super::segment::Location;
use crate::event::StreamInfo;
use crate::ids::{Position, Seq, StreamName};

#[derive(Default)]
pub struct Overlay {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    events: BTreeMap<(StreamName, Seq), EventLocation>,
    heads: HashMap<StreamName, u64>,
    batches: BTreeMap<Position, Location>,
}

impl Overlay {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, entries: &[IndexEntry]) {
        let mut inner = self.write();
        for entry in entries {
            inner
                .events
                .insert((entry.stream.clone(), entry.seq), entry.at);
            match inner.heads.get_mut(&entry.stream) {
                Some(head) => *head = (*head).max(entry.seq.0),
                None => {
                    inner.heads.insert(entry.stream.clone(), entry.seq.0);
                }
            }
            if entry.starts_batch {
                inner.batches.insert(entry.at.position, entry.at.location);
            }
        }
    }

    /// Forgets entries now in the index. A head stays if a newer, unindexed append moved it on.
    pub fn remove(&self, entries: &[IndexEntry]) {
        let mut inner = self.write();
        for entry in entries {
            inner.events.remove(&(entry.stream.clone(), entry.seq));
            if inner.heads.get(&entry.stream) == Some(&entry.seq.0) {
                inner.heads.remove(&entry.stream);
            }
            if entry.starts_batch {
                inner.batches.remove(&entry.at.position);
            }
        }
    }

    pub fn head(&self, stream: &StreamName) -> Option<u64> {
        self.read().heads.get(stream).copied()
    }

    pub fn stream_range(&self, stream: &StreamName, from: Seq) -> Vec<(Seq, EventLocation)> {
        let inner = self.read();
        let start = (stream.clone(), from);
        let end = (stream.clone(), Seq(u64::MAX));
        inner
            .events
            .range(start..=end)
            .map(|((_, seq), at)| (*seq, *at))
            .collect()
    }

    pub fn batch_at_or_before(&self, position: Position) -> Option<(Position, Location)> {
        self.read()
            .batches
            .range(..=position)
            .next_back()
            .map(|(p, l)| (*p, *l))
    }

    pub fn heads_with_prefix(&self, prefix: &str) -> Vec<StreamInfo> {
        self.read()
            .heads
            .iter()
            .filter(|(stream, _)| stream.as_str().starts_with(prefix))
            .map(|(stream, version)| StreamInfo {
                stream: stream.clone(),
                version: *version,
            })
            .collect()
    }
}
