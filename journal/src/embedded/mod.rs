//! The embedded backend: an append-only segmented log (the truth) plus a redb index derived
//! from it. Nothing to install; one process owns a data directory at a time.
//!
//! ```text
//! DATA_DIR/LOCK                 held (flock) while a process has the store open
//! DATA_DIR/journal/NNNNNNNNNN.seg  segment files, preallocated and zero-filled
//! DATA_DIR/index/index.redb     redb: stream index, heads, batch starts, checkpoint
//! ```
//!
//! Opening the store cuts a torn tail off the log, refuses to open a damaged one, and brings
//! the index up to the end of the log. An index that is missing, unreadable, damaged, of
//! another format or ahead of the log is deleted and rebuilt from the log, with a warning
//! ([`EmbeddedStore::index_rebuild`] says why): it is derived data and never stops the store.

mod group_commit;
mod index;
mod indexer;
mod overlay;
mod scan;
mod segment;
mod verify;
mod writer;

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};

use self::group_commit::GroupCommit;
use self::index::{Checkpoint, EventLocation, Index, IndexEntry, Unusable, INDEX_FILE};
use self::overlay::Overlay;
use self::scan::{LogCursor, Raw, ScanStep, Scanner, TailState};
use self::segment::{
    create_segment, list_segments, open_for_write, read_up_to, remove_temp_segments, zero_range,
    Location, ReadHandles,
};
use self::writer::{AppendRequest, Payload, Writer};
use crate::clock::StampClock;
use crate::derived::{Rebuild, RebuildReason};
use crate::error::{LogPlace, StoreError};
use crate::event::{
    AppendResult, ExpectedVersion, ImportResult, NewEvent, RecordedEvent, StreamInfo,
};
use crate::ids::{Position, Seq, StreamName, Timestamp};
use crate::limits::{
    APPEND_BYTES_MAX, APPEND_QUEUE_MAX, BATCH_BYTES_MAX, INDEX_CACHE_BYTES_DEFAULT,
    INDEX_QUEUE_BATCHES_MAX, READ_BATCH_MAX, SEGMENT_BYTES_DEFAULT,
};
use crate::record::{decode_record, encoded_len_max, DecodeError};
use crate::store::{check_append, check_import, EventStore};

pub use self::verify::{verify, verify_with, verify_with_progress, Problem, VerifyReport};

/// Smallest segment size accepted; small segments are for tests of roll-over.
pub const SEGMENT_BYTES_MIN: u64 = 64 * 1024;

/// Entries indexed per index transaction while catching up on open.
const CATCH_UP_ENTRIES_PER_APPLY: usize = 1024;

#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    pub data_dir: PathBuf,
    /// Size of each segment file. Appends larger than a segment are refused.
    pub segment_bytes: u64,
    /// The index's page cache. Bounded because redb's default is 1 GiB.
    pub index_cache_bytes: u64,
}

impl EmbeddedConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> EmbeddedConfig {
        EmbeddedConfig {
            data_dir: data_dir.into(),
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            index_cache_bytes: INDEX_CACHE_BYTES_DEFAULT,
        }
    }

    pub fn journal_dir(&self) -> PathBuf {
        journal_dir(&self.data_dir)
    }

    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }
}

pub fn journal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("journal")
}

/// State shared by the writer, the indexer and readers.
pub struct Shared {
    index: Index,
    overlay: Overlay,
    committed: watch::Sender<Position>,
    poisoned: Mutex<Option<String>>,
    handles: ReadHandles,
    journal_dir: PathBuf,
}

impl Shared {
    fn poisoned(&self) -> Option<String> {
        self.poisoned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn poison(&self, reason: String) {
        *self.poisoned.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }

    /// The stream's last seq: the overlay holds the newest heads, the index the rest.
    fn head(&self, stream: &StreamName) -> Result<u64, StoreError> {
        match self.overlay.head(stream) {
            Some(version) => Ok(version),
            None => self.index.head(stream),
        }
    }

    fn stream_range(
        &self,
        stream: &StreamName,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, EventLocation)>, StoreError> {
        // Overlay first: an entry leaves it only once it is in the index (see `overlay`).
        let recent = self.overlay.stream_range(stream, from);
        let mut merged: std::collections::BTreeMap<Seq, EventLocation> = self
            .index
            .stream_range(stream, from, limit)?
            .into_iter()
            .collect();
        merged.extend(recent);
        Ok(merged.into_iter().take(limit).collect())
    }

    fn batch_at_or_before(
        &self,
        position: Position,
    ) -> Result<Option<(Position, Location)>, StoreError> {
        let recent = self.overlay.batch_at_or_before(position);
        let indexed = self.index.batch_at_or_before(position)?;
        Ok(recent.into_iter().chain(indexed).max_by_key(|(p, _)| *p))
    }

    fn list_streams(
        &self,
        prefix: &str,
        after: Option<&StreamName>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, StoreError> {
        let recent = self.overlay.heads_with_prefix(prefix);
        let mut merged: std::collections::BTreeMap<StreamName, u64> = self
            .index
            .list_heads(prefix, after, limit)?
            .into_iter()
            .map(|info| (info.stream, info.version))
            .collect();
        for info in recent {
            if after.is_none_or(|after| info.stream > *after) {
                let version = merged.entry(info.stream).or_insert(0);
                *version = (*version).max(info.version);
            }
        }
        Ok(merged
            .into_iter()
            .take(limit)
            .map(|(stream, version)| StreamInfo { stream, version })
            .collect())
    }

    fn read_event(&self, at: EventLocation) -> Result<RecordedEvent, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            place: LogPlace {
                position: Some(at.position),
                segment: at.location.segment,
                offset: at.location.offset,
            },
            reason,
        };
        let file = self
            .handles
            .get(at.location.segment)
            .map_err(|e| StoreError::io(format!("opening segment {}", at.location.segment), e))?;
        let bytes = read_up_to(&file, at.location.offset, at.len as usize)
            .map_err(|e| StoreError::io(format!("reading position {}", at.position.0), e))?;
        let (record, _) = decode_record(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if record.event.position != at.position {
            return Err(corrupt(format!(
                "the index expects position {} here, the record holds {}",
                at.position.0, record.event.position.0
            )));
        }
        Ok(record.event)
    }

    fn read_stream(
        &self,
        stream: &StreamName,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let locations = self.stream_range(stream, from, limit)?;
        let mut events = Vec::with_capacity(locations.len());
        for (seq, at) in locations {
            let event = self.read_event(at)?;
            if event.stream != *stream || event.seq != seq {
                return Err(StoreError::Corrupt {
                    place: LogPlace {
                        position: Some(at.position),
                        segment: at.location.segment,
                        offset: at.location.offset,
                    },
                    reason: format!(
                        "the index expects {stream} seq {}, the record holds {} seq {}",
                        seq.0, event.stream, event.seq.0
                    ),
                });
            }
            events.push(event);
        }
        Ok(events)
    }

    fn read_all(&self, from: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let committed = *self.committed.borrow();
        let from = from.max(Position::START);
        if from > committed || limit == 0 {
            return Ok(Vec::new());
        }
        let Some((mut expected, start)) = self.batch_at_or_before(from)? else {
            return Ok(Vec::new());
        };
        let io = |e| StoreError::io("reading the journal", e);
        let mut cursor = LogCursor::open(&self.journal_dir, start).map_err(io)?;
        let mut events = Vec::new();
        // Positions are dense, so the scan stops at the committed position and never touches
        // bytes of a batch that is still being written.
        while expected <= committed && events.len() < limit {
            match cursor.next().map_err(io)? {
                Raw::Record(scanned) => {
                    if scanned.record.event.position != expected {
                        return Err(StoreError::Corrupt {
                            place: place(Some(expected), scanned.location),
                            reason: format!(
                                "expected position {}, found {}",
                                expected.0, scanned.record.event.position.0
                            ),
                        });
                    }
                    if expected >= from {
                        events.push(scanned.record.event);
                    }
                    expected = expected.next();
                }
                Raw::Bad { location, error } => {
                    return Err(StoreError::Corrupt {
                        place: place(Some(expected), location),
                        reason: error.to_string(),
                    });
                }
                Raw::SegmentEnd { location } => {
                    if !cursor.next_segment().map_err(io)? {
                        return Err(StoreError::Corrupt {
                            place: place(Some(expected), location),
                            reason: format!(
                                "the log ends before the committed position {}",
                                committed.0
                            ),
                        });
                    }
                }
            }
        }
        Ok(events)
    }
}

fn place(position: Option<Position>, location: Location) -> LogPlace {
    LogPlace {
        position,
        segment: location.segment,
        offset: location.offset,
    }
}

/// The embedded event store. Dropping it stops the writer after the appends already queued.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    commit: Arc<GroupCommit>,
    /// Bounds the appends in flight (`APPEND_QUEUE_MAX`): callers beyond it wait.
    in_flight: Arc<tokio::sync::Semaphore>,
    committer: Option<JoinHandle<()>>,
    append_bytes_max: usize,
    /// Why the index was rebuilt from the log when the store opened, if it was.
    index_rebuild: Option<Rebuild>,
    _lock: File,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `config.data_dir`: recovers the log's tail, catches the
    /// index up, and starts the indexer and committer threads.
    pub fn open(config: EmbeddedConfig) -> Result<EmbeddedStore, StoreError> {
        if config.segment_bytes < SEGMENT_BYTES_MIN {
            return Err(StoreError::io(
                "checking the configuration",
                std::io::Error::other(format!(
                    "segment size {} is below the minimum {SEGMENT_BYTES_MIN}",
                    config.segment_bytes
                )),
            ));
        }
        let journal_dir = config.journal_dir();
        if !journal_dir.is_dir() {
            fs::create_dir_all(&journal_dir)
                .map_err(|e| StoreError::io(format!("creating {}", journal_dir.display()), e))?;
            // Make the new directory's entry durable before any record depends on it.
            segment::sync_dir(&config.data_dir)
                .map_err(|e| StoreError::io(format!("syncing {}", config.data_dir.display()), e))?;
        }
        let lock = lock_data_dir(&config.data_dir, LockMode::Exclusive)?;
        remove_temp_segments(&journal_dir)
            .map_err(|e| StoreError::io("removing unfinished segments", e))?;
        let mut segments =
            list_segments(&journal_dir).map_err(|e| StoreError::io("listing segments", e))?;
        if segments.is_empty() {
            create_segment(&journal_dir, 1, config.segment_bytes)
                .map_err(|e| StoreError::io("creating the first segment", e))?;
            segments.push(1);
        }
        let has_records = journal_has_records(&journal_dir, &segments)?;
        let (mut index, mut index_rebuild) = open_index(&config, has_records)?;
        let recovered = match recover(&journal_dir, &config.index_dir(), &index, segments[0], None)
        {
            // The index claims records the log lacks. Rebuild it, but never by cutting as a
            // torn tail a batch the index saw written: that batch was acknowledged.
            Err(StoreError::IndexAhead { reason, .. }) if index_rebuild.is_none() => {
                let acknowledged = index.checkpoint()?.and_then(|c| c.last).map(|l| l.position);
                drop(index);
                let rebuild = Rebuild {
                    store: "index",
                    reason: RebuildReason::Ahead,
                    detail: format!(
                        "{reason}; if the journal was not restored or replaced, acknowledged \
                         records are missing: run `duro journal verify`"
                    ),
                };
                index = fresh_index(&config, &rebuild)?;
                index_rebuild = Some(rebuild);
                recover(
                    &journal_dir,
                    &config.index_dir(),
                    &index,
                    segments[0],
                    acknowledged,
                )?
            }
            other => other?,
        };
        // What catching up indexed is made durable now, not a second later.
        index.flush()?;
        if let Some(rebuild) = &index_rebuild {
            tracing::warn!(
                reason = %rebuild.reason,
                events = recovered.next_position.0 - 1,
                "{rebuild}: the index now covers the whole journal"
            );
        }
        let segment = open_for_write(&journal_dir, recovered.next.segment)
            .map_err(|e| StoreError::io("opening the segment to append to", e))?;
        let segment_capacity = segment
            .metadata()
            .map_err(|e| StoreError::io("reading the size of the segment to append to", e))?
            .len();
        let shared = Arc::new(Shared {
            index,
            overlay: Overlay::default(),
            committed: watch::Sender::new(Position(recovered.next_position.0 - 1)),
            poisoned: Mutex::new(None),
            handles: ReadHandles::new(journal_dir.clone()),
            journal_dir: journal_dir.clone(),
        });
        let append_bytes_max = APPEND_BYTES_MAX.min(config.segment_bytes as usize);
        let (index_jobs, index_receiver) = std::sync::mpsc::sync_channel(INDEX_QUEUE_BATCHES_MAX);
        let indexer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("duro-journal-indexer".into())
                .spawn(move || indexer::run(shared, index_receiver))
                .map_err(|e| StoreError::io("starting the indexer thread", e))?
        };
        let batch_bytes_max = BATCH_BYTES_MAX.min(append_bytes_max);
        let writer = Writer {
            dir: journal_dir,
            segment_bytes: config.segment_bytes,
            segment_capacity,
            segment,
            next: recovered.next,
            next_position: recovered.next_position,
            clock: StampClock::starting_after(recovered.last_recorded_at),
            shared: shared.clone(),
            preparing: None,
            buf: Vec::new(),
            index_jobs: Some(index_jobs),
            indexer: Some(indexer),
        };
        let commit = Arc::new(GroupCommit::new(writer, batch_bytes_max));
        let committer = {
            let commit = commit.clone();
            std::thread::Builder::new()
                .name("duro-journal-committer".into())
                .spawn(move || commit.run_committer())
                .map_err(|e| StoreError::io("starting the committer thread", e))?
        };
        Ok(EmbeddedStore {
            shared,
            commit,
            in_flight: Arc::new(tokio::sync::Semaphore::new(APPEND_QUEUE_MAX)),
            committer: Some(committer),
            append_bytes_max,
            index_rebuild,
            _lock: lock,
        })
    }

    /// Why the index was deleted and rebuilt from the log when this store opened (`None`
    /// when it was sound, or new beside an empty journal).
    pub fn index_rebuild(&self) -> Option<&Rebuild> {
        self.index_rebuild.as_ref()
    }

    /// The position of the last committed event.
    pub fn committed(&self) -> Position {
        *self.shared.committed.borrow()
    }

    /// Queues one request for the writer (waiting while `APPEND_QUEUE_MAX` are in flight) and
    /// waits for its answer.
    async fn submit(
        &self,
        payload: Payload,
        encoded_bytes_max: usize,
    ) -> Result<AppendResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            payload,
            encoded_bytes_max,
            reply,
        };
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        self.commit.submit(request);
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Shared) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || work(&shared))
            .await
            .map_err(|_| StoreError::Closed)?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // The committer finishes what is queued, then stops the indexer and flushes the
        // index; joining it closes the index before the data directory's lock is released.
        self.commit.shut_down();
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }
}

#[async_trait]
impl EventStore for EmbeddedStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_append(stream, &events)?;
        let encoded_bytes_max: usize = events
            .iter()
            .map(|e| encoded_len_max(stream.as_str().len(), e.data.len()))
            .sum();
        if encoded_bytes_max > self.append_bytes_max {
            return Err(StoreError::InvalidAppend {
                stream: stream.clone(),
                reason: format!(
                    "the append encodes to up to {encoded_bytes_max} bytes; at most {} are allowed",
                    self.append_bytes_max
                ),
            });
        }
        if let Some(reason) = self.shared.poisoned() {
            return Err(StoreError::Poisoned { reason });
        }
        self.submit(
            Payload::Append {
                stream: stream.clone(),
                expected,
                events,
            },
            encoded_bytes_max,
        )
        .await
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
        let Some(first) = events.first() else {
            return Ok(ImportResult {
                first_position: self.committed().next(),
                count: 0,
            });
        };
        let encoded_bytes_max: usize = events
            .iter()
            .map(|e| encoded_len_max(e.stream.as_str().len(), e.data.len()))
            .sum();
        if encoded_bytes_max > self.append_bytes_max {
            return Err(StoreError::InvalidAppend {
                stream: first.stream.clone(),
                reason: format!(
                    "the import encodes to up to {encoded_bytes_max} bytes; at most {} are allowed",
                    self.append_bytes_max
                ),
            });
        }
        if let Some(reason) = self.shared.poisoned() {
            return Err(StoreError::Poisoned { reason });
        }
        let result = self
            .submit(Payload::Import { events }, encoded_bytes_max)
            .await?;
        Ok(ImportResult {
            first_position: result.first_position,
            count: result.count,
        })
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.clone();
        let limit = limit.min(READ_BATCH_MAX);
        self.blocking(move |shared| shared.read_stream(&stream, from, limit))
            .await
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = limit.min(READ_BATCH_MAX);
        self.blocking(move |shared| shared.read_all(from, limit))
            .await
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<u64, StoreError> {
        let stream = stream.clone();
        self.blocking(move |shared| shared.head(&stream)).await
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&StreamName>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, StoreError> {
        let prefix = prefix.to_owned();
        let after = after.cloned();
        let limit = limit.min(READ_BATCH_MAX);
        self.blocking(move |shared| shared.list_streams(&prefix, after.as_ref(), limit))
            .await
    }

    fn subscribe(&self) -> watch::Receiver<Position> {
        self.shared.committed.subscribe()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockMode {
    Exclusive,
    Shared,
}

/// Takes the data directory's lock so that two processes never write one journal. The lock
/// is released when the returned file is closed, including by the kernel after kill -9.
pub(crate) fn lock_data_dir(data_dir: &Path, mode: LockMode) -> Result<File, StoreError> {
    fs::create_dir_all(data_dir)
        .map_err(|e| StoreError::io(format!("creating {}", data_dir.display()), e))?;
    let path = data_dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
    let locked = match mode {
        LockMode::Exclusive => file.try_lock(),
        LockMode::Shared => file.try_lock_shared(),
    };
    match locked {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: data_dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => {
            Err(StoreError::io(format!("locking {}", path.display()), e))
        }
    }
}

/// Where appending resumes after recovery.
struct Recovered {
    next: Location,
    next_position: Position,
    last_recorded_at: Timestamp,
}

/// Reads the log from the index's checkpoint to its end: indexes every whole batch found,
/// cuts a torn tail, and refuses a damaged log. `acknowledged` is the last position a
/// discarded index had seen written: a torn batch at or before it is damage, not a tail.
fn recover(
    journal_dir: &Path,
    index_dir: &Path,
    index: &Index,
    first_segment: u64,
    acknowledged: Option<Position>,
) -> Result<Recovered, StoreError> {
    let checkpoint = index.checkpoint()?;
    if let Some(c) = &checkpoint {
        check_checkpoint(journal_dir, index_dir, c)?;
    }
    // What the index covers; moved on after every whole batch.
    let mut indexed = checkpoint.unwrap_or(Checkpoint {
        next_position: Position::START,
        next: Location {
            segment: first_segment,
            offset: 0,
        },
        last_recorded_at: Timestamp(0),
        last: None,
    });
    let mut scanner = Scanner::new(journal_dir, indexed.next, indexed.next_position)?;
    let mut ready: Vec<IndexEntry> = Vec::new();
    let mut open_batch: Vec<IndexEntry> = Vec::new();
    let mut last_recorded_at = indexed.last_recorded_at;
    let mut progress = Progress::new(indexed.next_position);
    let tail = loop {
        match scanner.next()? {
            ScanStep::Record(scanned) => {
                let event = &scanned.record.event;
                progress.record(event.position, scanned.location.segment);
                let ends_batch = scanned.record.ends_batch();
                open_batch.push(IndexEntry {
                    stream: event.stream.clone(),
                    seq: event.seq,
                    at: EventLocation {
                        position: event.position,
                        location: scanned.location,
                        len: scanned.len,
                    },
                    starts_batch: scanned.record.batch_first == event.position,
                });
                last_recorded_at = last_recorded_at.max(event.recorded_at);
                if ends_batch {
                    ready.append(&mut open_batch);
                    indexed = Checkpoint {
                        next_position: event.position.next(),
                        next: Location {
                            segment: scanned.location.segment,
                            offset: scanned.location.offset + u64::from(scanned.len),
                        },
                        last_recorded_at,
                        last: ready.last().map(|entry| entry.at),
                    };
                    if ready.len() >= CATCH_UP_ENTRIES_PER_APPLY {
                        index.apply(&ready, indexed)?;
                        ready.clear();
                    }
                }
            }
            ScanStep::End(tail) => break tail,
        }
    };
    match tail {
        TailState::Clean => {}
        TailState::Torn {
            truncate_at,
            first_dropped,
            reason,
            ..
        } if acknowledged.is_some_and(|last| first_dropped <= last) => {
            return Err(StoreError::Corrupt {
                place: place(Some(first_dropped), truncate_at),
                reason: format!(
                    "{reason}; the index had recorded this batch as written (through position \
                     {}), so it was acknowledged and is damaged, not torn",
                    acknowledged.map_or(0, |p| p.0)
                ),
            });
        }
        TailState::Torn {
            truncate_at,
            first_dropped,
            reason,
            nonzero,
        } => {
            tracing::warn!(
                position = first_dropped.0,
                segment = truncate_at.segment,
                offset = truncate_at.offset,
                %reason,
                "cutting a torn tail off the journal (a batch that was never acknowledged)"
            );
            cut_tail(journal_dir, truncate_at, &nonzero)?;
        }
        TailState::Corrupt { place, reason, .. } => {
            return Err(StoreError::Corrupt { place, reason });
        }
    }
    // Appending resumes right after the last whole batch. Everything past it is zero now
    // (a torn tail was just cut), even when the scan's stop lay in a later, empty segment.
    index.apply(&ready, indexed)?;
    progress.finish(indexed.next_position);
    Ok(Recovered {
        next: indexed.next,
        next_position: indexed.next_position,
        last_recorded_at: indexed.last_recorded_at,
    })
}

/// Logs how far indexing on open has come, every `PROGRESS_EVERY`, when it takes that long.
struct Progress {
    started: std::time::Instant,
    last_report: std::time::Instant,
    from: Position,
}

/// How often a long catch-up or rebuild of the index reports its progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Progress {
    fn new(from: Position) -> Progress {
        let now = std::time::Instant::now();
        Progress {
            started: now,
            last_report: now,
            from,
        }
    }

    fn record(&mut self, position: Position, segment: u64) {
        if !position.0.is_multiple_of(4096) || self.last_report.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_report = std::time::Instant::now();
        tracing::info!(
            position = position.0,
            segment,
            indexed = position.0 - self.from.0,
            seconds = self.started.elapsed().as_secs(),
            "indexing the journal"
        );
    }

    fn finish(&self, next: Position) {
        let elapsed = self.started.elapsed();
        if elapsed >= PROGRESS_EVERY {
            tracing::info!(
                indexed = next.0 - self.from.0,
                seconds = elapsed.as_secs_f64(),
                "indexing the journal: done"
            );
        }
    }
}

/// Whether the log holds any record: segments are zero-filled, and the first record starts at
/// the first byte of the first segment.
fn journal_has_records(journal_dir: &Path, segments: &[u64]) -> Result<bool, StoreError> {
    if segments.len() > 1 {
        return Ok(true);
    }
    let Some(first) = segments.first() else {
        return Ok(false);
    };
    let io = |e| StoreError::io("reading the first segment", e);
    let file = File::open(segment::segment_path(journal_dir, *first)).map_err(io)?;
    let bytes = read_up_to(&file, 0, 64).map_err(io)?;
    Ok(bytes.iter().any(|b| *b != 0))
}

/// Opens the index, or replaces it with a new, empty one (to be filled from the log) when it
/// is missing while the log has records, unreadable, or of another format.
fn open_index(
    config: &EmbeddedConfig,
    has_records: bool,
) -> Result<(Index, Option<Rebuild>), StoreError> {
    let dir = config.index_dir();
    let file = dir.join(INDEX_FILE);
    let foreign = foreign_entries(&dir)?;
    let problem = if !foreign.is_empty() {
        Some((
            RebuildReason::Format,
            format!(
                "{} holds files of an earlier index ({})",
                dir.display(),
                foreign.join(", ")
            ),
        ))
    } else if !file.exists() {
        has_records.then(|| {
            (
                RebuildReason::Missing,
                format!("{} does not exist", file.display()),
            )
        })
    } else {
        None
    };
    let (reason, detail) = match problem {
        Some(problem) => problem,
        None => {
            fs::create_dir_all(&dir)
                .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
            match Index::open(&dir, config.index_cache_bytes) {
                // An empty index beside a log with records (a file truncated to nothing, or
                // lost before its first durable commit) is filled from the log as it is.
                Ok(index) if has_records && index.checkpoint()?.is_none() => {
                    let rebuild = Rebuild {
                        store: "index",
                        reason: RebuildReason::Missing,
                        detail: format!("{} is empty", file.display()),
                    };
                    tracing::warn!(reason = %rebuild.reason, "{rebuild}: indexing the journal");
                    return Ok((index, Some(rebuild)));
                }
                Ok(index) => return Ok((index, None)),
                Err(Unusable::Unreadable(error)) => (
                    RebuildReason::Unreadable,
                    format!("{} cannot be read: {error}", file.display()),
                ),
                Err(Unusable::Format(error)) => (
                    RebuildReason::Format,
                    format!("{}: {error}", file.display()),
                ),
            }
        }
    };
    let rebuild = Rebuild {
        store: "index",
        reason,
        detail,
    };
    let index = fresh_index(config, &rebuild)?;
    Ok((index, Some(rebuild)))
}

/// Deletes the index directory and opens a new, empty index in its place.
fn fresh_index(config: &EmbeddedConfig, rebuild: &Rebuild) -> Result<Index, StoreError> {
    let dir = config.index_dir();
    tracing::warn!(
        reason = %rebuild.reason,
        "{}: deleting {} to rebuild it from the journal", rebuild, dir.display()
    );
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(format!("deleting {}", dir.display()), e)),
    }
    fs::create_dir_all(&dir)
        .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
    Index::open(&dir, config.index_cache_bytes).map_err(|unusable| {
        StoreError::index(
            format!("creating a new index in {}", dir.display()),
            format!("{unusable:?}"),
        )
    })
}

/// Names in the index directory that are not the index file (an earlier sled index).
fn foreign_entries(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(format!("listing {}", dir.display()), e)),
    };
    let mut foreign = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(format!("listing {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != INDEX_FILE {
            foreign.push(name);
        }
    }
    foreign.sort();
    Ok(foreign)
}

/// The checkpoint must point just past a record the log really has: the index of another
/// journal, or acknowledged records cut off the log, would otherwise hand out positions twice.
fn check_checkpoint(
    journal_dir: &Path,
    index_dir: &Path,
    checkpoint: &Checkpoint,
) -> Result<(), StoreError> {
    let Some(last) = checkpoint.last else {
        return Ok(());
    };
    let ahead = |reason: String| StoreError::IndexAhead {
        index_dir: index_dir.to_path_buf(),
        reason,
    };
    let missing = || {
        ahead(format!(
            "the journal has no record at position {} (segment {}, offset {}) where the index expects one",
            last.position.0, last.location.segment, last.location.offset
        ))
    };
    let file = std::fs::File::open(segment::segment_path(journal_dir, last.location.segment))
        .map_err(|_| missing())?;
    let bytes = read_up_to(&file, last.location.offset, last.len as usize)
        .map_err(|e| StoreError::io("reading the last indexed record", e))?;
    let (record, len) = match decode_record(&bytes) {
        Ok(decoded) => decoded,
        // Say what is there rather than that nothing is: a downgrade meets a newer record.
        Err(
            error @ (DecodeError::UnsupportedVersion { .. } | DecodeError::ReservedFlags { .. }),
        ) => {
            return Err(StoreError::Corrupt {
                place: place(Some(last.position), last.location),
                reason: format!(
                    "{error}: the last record the index covers was written by a newer Duro \
                     (open this journal with that version) or is damaged \
                     (`duro journal verify` tells which)"
                ),
            });
        }
        Err(_) => return Err(missing()),
    };
    let end = Location {
        segment: last.location.segment,
        offset: last.location.offset + len as u64,
    };
    if record.event.position != last.position
        || last.position.next() != checkpoint.next_position
        || end != checkpoint.next
    {
        return Err(missing());
    }
    Ok(())
}

/// Zeros every byte of a torn tail and makes that durable.
fn cut_tail(journal_dir: &Path, from: Location, nonzero: &[Location]) -> Result<(), StoreError> {
    let io = |e| StoreError::io("cutting the torn tail", e);
    for end in nonzero {
        let start = if end.segment == from.segment {
            from.offset
        } else if end.segment > from.segment {
            0
        } else {
            continue;
        };
        if end.offset <= start {
            continue;
        }
        let file = open_for_write(journal_dir, end.segment).map_err(io)?;
        zero_range(&file, start, end.offset).map_err(io)?;
        file.sync_data().map_err(io)?;
    }
    Ok(())
}
