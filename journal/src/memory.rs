//! The in-memory twin of the embedded store: same trait, same conformance suite, nothing on
//! disk. For tests of the engine and the API that do not exercise durability.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::clock::StampClock;
use crate::error::StoreError;
use crate::event::{
    AppendResult, ExpectedVersion, ImportResult, NewEvent, RecordedEvent, StreamInfo,
};
use crate::ids::{Position, Seq, StreamName};
use crate::limits::READ_BATCH_MAX;
use crate::store::{check_append, check_import, EventStore};

pub struct MemoryStore {
    inner: Mutex<Inner>,
    committed: watch::Sender<Position>,
}

#[derive(Default)]
struct Inner {
    log: Vec<RecordedEvent>,
    /// Indexes into `log` of each stream's events, in seq order.
    streams: BTreeMap<StreamName, Vec<usize>>,
    clock: StampClock,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            committed: watch::Sender::new(Position::NONE),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated (appends push the
        // log entries and the stream index together), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_append(stream, &events)?;
        let mut inner = self.lock();
        let inner = &mut *inner;
        let actual = inner.streams.get(stream).map_or(0, |s| s.len() as u64);
        if !expected.admits(actual) {
            return Err(StoreError::Conflict {
                stream: stream.clone(),
                expected,
                actual,
            });
        }
        let recorded_at = inner.clock.stamp();
        let first_position = Position(inner.log.len() as u64 + 1);
        let first_seq = Seq(actual + 1);
        let count = events.len() as u64;
        let indexes = inner.streams.entry(stream.clone()).or_default();
        for (i, event) in events.into_iter().enumerate() {
            indexes.push(inner.log.len());
            inner.log.push(RecordedEvent {
                position: Position(first_position.0 + i as u64),
                stream: stream.clone(),
                seq: Seq(first_seq.0 + i as u64),
                event_type: event.event_type,
                recorded_at,
                data: event.data,
            });
        }
        self.committed
            .send_replace(Position(inner.log.len() as u64));
        Ok(AppendResult {
            first_position,
            first_seq,
            count,
        })
    }

    /// One process writes this store (its lock says so): no other lease holder to fence out.
    async fn append_fenced(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        _fence: &crate::lease::Fence,
    ) -> Result<AppendResult, StoreError> {
        self.append(stream, expected, events).await
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<ImportResult, StoreError> {
        check_import(&events)?;
        let mut inner = self.lock();
        let inner = &mut *inner;
        let first_position = Position(inner.log.len() as u64 + 1);
        // Check every seq before changing anything: an import is all or nothing.
        let mut heads: BTreeMap<&StreamName, u64> = BTreeMap::new();
        for event in &events {
            let actual = match heads.get(&event.stream) {
                Some(version) => *version,
                None => inner
                    .streams
                    .get(&event.stream)
                    .map_or(0, |s| s.len() as u64),
            };
            if event.seq.0 != actual + 1 {
                return Err(StoreError::Conflict {
                    stream: event.stream.clone(),
                    expected: ExpectedVersion::Exact(event.seq.0 - 1),
                    actual,
                });
            }
            heads.insert(&event.stream, event.seq.0);
        }
        let count = events.len() as u64;
        for event in events {
            let recorded_at = inner.clock.observe(event.recorded_at);
            let index = inner.log.len();
            inner
                .streams
                .entry(event.stream.clone())
                .or_default()
                .push(index);
            inner.log.push(RecordedEvent {
                position: Position(index as u64 + 1),
                recorded_at,
                ..event
            });
        }
        if count > 0 {
            self.committed
                .send_replace(Position(inner.log.len() as u64));
        }
        Ok(ImportResult {
            first_position,
            count,
        })
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock();
        let Some(indexes) = inner.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let skip = from.0.saturating_sub(1) as usize;
        Ok(indexes
            .iter()
            .skip(skip)
            .take(limit.min(READ_BATCH_MAX))
            .map(|i| inner.log[*i].clone())
            .collect())
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock();
        let skip = from.0.saturating_sub(1) as usize;
        Ok(inner
            .log
            .iter()
            .skip(skip)
            .take(limit.min(READ_BATCH_MAX))
            .cloned()
            .collect())
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .streams
            .get(stream)
            .map_or(0, |s| s.len() as u64))
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&StreamName>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .streams
            .iter()
            .filter(|(name, _)| name.as_str().starts_with(prefix))
            .filter(|(name, _)| after.is_none_or(|after| *name > after))
            .take(limit.min(READ_BATCH_MAX))
            .map(|(name, indexes)| StreamInfo {
                stream: name.clone(),
                version: indexes.len() as u64,
            })
            .collect())
    }

    fn subscribe(&self) -> watch::Receiver<Position> {
        self.committed.subscribe()
    }
}
