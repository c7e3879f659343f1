//! The redb index: everything here is derived from the log and can be rebuilt from it.
//!
//! One redb table holds every kind of entry under a one-byte prefix, so that a batch's entries
//! and the checkpoint saying which log position they reflect are written by one atomic
//! transaction:
//!
//! ```text
//! b'e' stream 0x00 first_seq(u64 BE) -> a run: for seqs first_seq, first_seq+1, ... in turn,
//!                                       position(u64 LE) segment(u64 LE) offset(u64 LE) len(u32 LE)
//! b'h' stream                        -> version(u64 LE)            the stream's last seq
//! b'b' position(u64 BE)              -> segment(u64 LE) offset(u64 LE)   where a batch starts
//! b'm' "checkpoint"                  -> next position, next location, last recorded_at,
//!                                       the last record's location (as in a run)
//! b'm' "format"                      -> INDEX_FORMAT (u32 LE)
//! ```
//!
//! A stream's events are indexed in runs: all of its events written in one apply share one
//! key, so a stream that gains ten events between two applies costs one insert, not ten. Runs
//! never overlap: every apply carries the checkpoint it reaches in the same transaction, and
//! indexing resumes from that checkpoint, so no event is indexed twice. (A reader still takes
//! each seq once, as a guard.) Batch starts are kept sparsely, one every `BATCH_STRIDE`
//! positions: a global read scans forward from the nearest one.
//!
//! Durability: applies commit with `Durability::None` (in memory, visible to readers) and one
//! apply every `DURABLE_EVERY` commits with `Durability::Immediate` (fsync), which makes it and
//! every earlier one durable. redb keeps two checksummed commit slots, so after a power loss
//! the file opens at its last durable commit: a consistent older state whose checkpoint lags,
//! and opening the store re-indexes the log from it. The file is opened with redb's integrity
//! check (every page's checksum), so a file damaged outside redb fails to open instead of
//! being trusted; the store then deletes it and rebuilds it (`embedded::open_index`).
//! Decision 0007 says why redb replaced sled.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::segment::Location;
use crate::error::StoreError;
use crate::event::StreamInfo;
use crate::ids::{Position, Seq, StreamName, Timestamp};

const EVENT_PREFIX: u8 = b'e';
const HEAD_PREFIX: u8 = b'h';
const BATCH_PREFIX: u8 = b'b';
const CHECKPOINT_KEY: &[u8] = b"mcheckpoint";
const FORMAT_KEY: &[u8] = b"mformat";
const LOCATION_BYTES: usize = 28;

/// The layout above. Another value (or none, in a database that has entries) is rebuilt.
pub const INDEX_FORMAT: u32 = 1;

/// The index's file inside `DATA_DIR/index`.
pub const INDEX_FILE: &str = "index.redb";

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("index");

/// Positions between two batch starts kept in the index: bounds how far a global read scans.
const BATCH_STRIDE: u64 = 256;

/// How often an apply is committed durably (fsync); the others are in memory until then. A
/// power loss costs at most this much re-indexing at the next open, never correctness.
const DURABLE_EVERY: Duration = Duration::from_secs(1);

/// Where an event's record lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventLocation {
    pub position: Position,
    pub location: Location,
    pub len: u32,
}

/// One event to index.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    pub stream: StreamName,
    pub seq: Seq,
    pub at: EventLocation,
    /// Whether this record starts its write batch (then it is also a `b` entry).
    pub starts_batch: bool,
}

/// The log position the index reflects: every record before `next_position` is indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub next_position: Position,
    pub next: Location,
    pub last_recorded_at: Timestamp,
    /// The last indexed record, which opening the store checks is really in the log.
    pub last: Option<EventLocation>,
}

/// Why an index file cannot be used as it is; the store rebuilds it from the log.
#[derive(Debug)]
pub enum Unusable {
    /// redb refused the file, or reading it failed (a damaged or truncated file).
    Unreadable(String),
    /// The file is of another format (or a directory of an older index, such as sled's).
    Format(String),
}

pub struct Index {
    db: Database,
    /// The last batch start written (0 for none), to keep them `BATCH_STRIDE` apart.
    last_batch_key: AtomicU64,
    /// When the last durable commit was made.
    last_durable: Mutex<Instant>,
}

fn event_key(stream: &StreamName, seq: Seq) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.as_str().len() + 10);
    key.push(EVENT_PREFIX);
    key.extend_from_slice(stream.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.0.to_be_bytes());
    key
}

fn head_key(stream: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.len() + 1);
    key.push(HEAD_PREFIX);
    key.extend_from_slice(stream.as_bytes());
    key
}

fn batch_key(position: Position) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = BATCH_PREFIX;
    key[1..].copy_from_slice(&position.0.to_be_bytes());
    key
}

fn run_first_seq(key: &[u8]) -> Option<Seq> {
    let bytes: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(Seq(u64::from_be_bytes(bytes)))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at + 8)?;
    let mut array = [0u8; 8];
    array.copy_from_slice(slice);
    Some(u64::from_le_bytes(array))
}

fn encode_location(at: &EventLocation) -> [u8; LOCATION_BYTES] {
    let mut value = [0u8; LOCATION_BYTES];
    value[0..8].copy_from_slice(&at.position.0.to_le_bytes());
    value[8..16].copy_from_slice(&at.location.segment.to_le_bytes());
    value[16..24].copy_from_slice(&at.location.offset.to_le_bytes());
    value[24..28].copy_from_slice(&at.len.to_le_bytes());
    value
}

fn decode_location(value: &[u8]) -> Option<EventLocation> {
    let len_bytes: [u8; 4] = value.get(24..28)?.try_into().ok()?;
    Some(EventLocation {
        position: Position(u64_at(value, 0)?),
        location: Location {
            segment: u64_at(value, 8)?,
            offset: u64_at(value, 16)?,
        },
        len: u32::from_le_bytes(len_bytes),
    })
}

fn redb_error(context: &str) -> impl Fn(redb::Error) -> StoreError + '_ {
    move |e| StoreError::index(context, e)
}

impl Index {
    /// Opens the index file in `dir` (creating an empty one when there is none) and checks the
    /// checksum of every page. A file redb refuses, or of another format, is `Unusable`: the
    /// caller deletes it and rebuilds.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Index, Unusable> {
        let path = dir.join(INDEX_FILE);
        // redb can panic on a file altered behind its back (its docs say so of a plain open);
        // a damaged derived file must never stop the server, so a panic counts as unreadable.
        let opened = std::panic::catch_unwind(|| {
            redb::Builder::new()
                .set_cache_size(usize::try_from(cache_bytes).unwrap_or(usize::MAX))
                .set_check_integrity_on_open(true)
                .create(&path)
        });
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(error)) => return Err(Unusable::Unreadable(error.to_string())),
            Err(_) => return Err(Unusable::Unreadable("redb panicked opening it".into())),
        };
        let index = Index {
            db,
            last_batch_key: AtomicU64::new(0),
            last_durable: Mutex::new(Instant::now()),
        };
        let checked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| index.check_format()));
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(unusable)) => return Err(unusable),
            Err(_) => return Err(Unusable::Unreadable("redb panicked reading it".into())),
        }
        let last_batch = index
            .batch_at_or_before(Position(u64::MAX))
            .map_err(|e| Unusable::Unreadable(e.to_string()))?;
        if let Some((position, _)) = last_batch {
            index.last_batch_key.store(position.0, Ordering::Relaxed);
        }
        Ok(index)
    }

    /// A new file gets the format key; an existing one must carry this format.
    fn check_format(&self) -> Result<(), Unusable> {
        let unreadable = |e: redb::Error| Unusable::Unreadable(e.to_string());
        let format = self
            .get(FORMAT_KEY)
            .map_err(|e| Unusable::Unreadable(e.to_string()))?;
        match format {
            Some(value) if value == INDEX_FORMAT.to_le_bytes() => Ok(()),
            Some(value) => Err(Unusable::Format(format!(
                "index format {value:?}, this version writes {INDEX_FORMAT}"
            ))),
            None => {
                let write = self.db.begin_write().map_err(|e| unreadable(e.into()))?;
                {
                    let mut table = write.open_table(TABLE).map_err(|e| unreadable(e.into()))?;
                    if table.first().map_err(|e| unreadable(e.into()))?.is_some() {
                        return Err(Unusable::Format("entries without a format key".into()));
                    }
                    table
                        .insert(FORMAT_KEY, &INDEX_FORMAT.to_le_bytes()[..])
                        .map_err(|e| unreadable(e.into()))?;
                }
                write.commit().map_err(|e| unreadable(e.into()))
            }
        }
    }

    fn damaged(what: &str) -> StoreError {
        StoreError::index("reading the index", format!("malformed {what} entry"))
    }

    /// One value, copied out of its read transaction.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let read = self
            .db
            .begin_read()
            .map_err(|e| StoreError::index("reading", e))?;
        let table = match read.open_table(TABLE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(StoreError::index("reading", e)),
        };
        let value = table
            .get(key)
            .map_err(|e| StoreError::index("reading", e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Runs `read` over the table in one read transaction (an empty result before the first
    /// apply created the table).
    fn read<T: Default>(
        &self,
        context: &str,
        read: impl FnOnce(&redb::ReadOnlyTable<&'static [u8], &'static [u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let transaction = self
            .db
            .begin_read()
            .map_err(|e| StoreError::index(context, e))?;
        let table = match transaction.open_table(TABLE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(T::default()),
            Err(e) => return Err(StoreError::index(context, e)),
        };
        read(&table)
    }

    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let Some(value) = self.get(CHECKPOINT_KEY)? else {
            return Ok(None);
        };
        let field = |i: usize| u64_at(&value, i * 8).ok_or_else(|| Self::damaged("checkpoint"));
        Ok(Some(Checkpoint {
            next_position: Position(field(0)?),
            next: Location {
                segment: field(1)?,
                offset: field(2)?,
            },
            last_recorded_at: Timestamp(field(3)? as i64),
            last: decode_location(value.get(32..).ok_or_else(|| Self::damaged("checkpoint"))?)
                .ok_or_else(|| Self::damaged("checkpoint"))
                .map(|at| (at.position.0 > 0).then_some(at))?,
        }))
    }

    /// The stream's last seq, 0 if it has no events.
    pub fn head(&self, stream: &StreamName) -> Result<u64, StoreError> {
        match self.get(&head_key(stream.as_str()))? {
            None => Ok(0),
            Some(value) => u64_at(&value, 0).ok_or_else(|| Self::damaged("head")),
        }
    }

    /// Writes `entries` (in position order) and the checkpoint in one atomic transaction,
    /// durable (fsync) when `DURABLE_EVERY` has passed since the last durable one.
    pub fn apply(&self, entries: &[IndexEntry], checkpoint: Checkpoint) -> Result<(), StoreError> {
        let durable = {
            let last = self.last_durable.lock().unwrap_or_else(|p| p.into_inner());
            last.elapsed() >= DURABLE_EVERY
        };
        self.apply_with(entries, checkpoint, durable)
    }

    fn apply_with(
        &self,
        entries: &[IndexEntry],
        checkpoint: Checkpoint,
        durable: bool,
    ) -> Result<(), StoreError> {
        let error = redb_error("writing index entries");
        // One run per stream: its events in this apply, which follow on seq by seq.
        let mut runs: HashMap<&StreamName, (Seq, Vec<u8>)> = HashMap::new();
        let mut inserts: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut last_batch_key = self.last_batch_key.load(Ordering::Relaxed);
        for entry in entries {
            let run = runs
                .entry(&entry.stream)
                .or_insert_with(|| (entry.seq, Vec::new()));
            let next_in_run = run.0 .0 + (run.1.len() / LOCATION_BYTES) as u64;
            if entry.seq.0 != next_in_run {
                // Not contiguous (never expected): close the run and start another.
                inserts.push((event_key(&entry.stream, run.0), std::mem::take(&mut run.1)));
                run.0 = entry.seq;
            }
            run.1.extend_from_slice(&encode_location(&entry.at));
            let stride_passed =
                last_batch_key == 0 || entry.at.position.0 >= last_batch_key + BATCH_STRIDE;
            if entry.starts_batch && stride_passed {
                let mut value = vec![0u8; 16];
                value[0..8].copy_from_slice(&entry.at.location.segment.to_le_bytes());
                value[8..16].copy_from_slice(&entry.at.location.offset.to_le_bytes());
                inserts.push((batch_key(entry.at.position).to_vec(), value));
                last_batch_key = entry.at.position.0;
            }
        }
        for (stream, (first_seq, locations)) in runs {
            let count = (locations.len() / LOCATION_BYTES) as u64;
            let version = first_seq.0 + count - 1;
            inserts.push((event_key(stream, first_seq), locations));
            inserts.push((head_key(stream.as_str()), version.to_le_bytes().to_vec()));
        }
        let mut value = vec![0u8; 32 + LOCATION_BYTES];
        if let Some(last) = &checkpoint.last {
            value[32..].copy_from_slice(&encode_location(last));
        }
        value[0..8].copy_from_slice(&checkpoint.next_position.0.to_le_bytes());
        value[8..16].copy_from_slice(&checkpoint.next.segment.to_le_bytes());
        value[16..24].copy_from_slice(&checkpoint.next.offset.to_le_bytes());
        value[24..32].copy_from_slice(&(checkpoint.last_recorded_at.0 as u64).to_le_bytes());
        inserts.push((CHECKPOINT_KEY.to_vec(), value));

        let mut write = self.db.begin_write().map_err(|e| error(e.into()))?;
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        write
            .set_durability(durability)
            .map_err(|e| error(e.into()))?;
        {
            let mut table = write.open_table(TABLE).map_err(|e| error(e.into()))?;
            for (key, value) in &inserts {
                table
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(|e| error(e.into()))?;
            }
        }
        write.commit().map_err(|e| error(e.into()))?;
        self.last_batch_key.store(last_batch_key, Ordering::Relaxed);
        if durable {
            *self.last_durable.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
        Ok(())
    }

    /// Locations of up to `limit` events of `stream` from seq `from`.
    pub fn stream_range(
        &self,
        stream: &StreamName,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, EventLocation)>, StoreError> {
        let read_error = redb_error("reading a stream");
        self.read("reading a stream", |table| {
            let low = event_key(stream, Seq(0));
            let at_from = event_key(stream, from);
            let high = event_key(stream, Seq(u64::MAX));
            // The run holding `from` starts at or before it; later runs follow in key order.
            let first_run = table
                .range::<&[u8]>(low.as_slice()..=at_from.as_slice())
                .map_err(|e| read_error(e.into()))?
                .next_back()
                .transpose()
                .map_err(|e| read_error(e.into()))?;
            let later_runs = table
                .range::<&[u8]>((
                    Bound::Excluded(at_from.as_slice()),
                    Bound::Included(high.as_slice()),
                ))
                .map_err(|e| read_error(e.into()))?;
            let mut found = Vec::new();
            let mut next = from;
            for item in first_run.into_iter().map(Ok).chain(later_runs) {
                let (key, value) = item.map_err(|e| read_error(e.into()))?;
                let (key, value) = (key.value(), value.value());
                let first_seq = run_first_seq(key).ok_or_else(|| Self::damaged("event"))?;
                if value.len() % LOCATION_BYTES != 0 {
                    return Err(Self::damaged("event"));
                }
                for (i, chunk) in value.chunks_exact(LOCATION_BYTES).enumerate() {
                    let seq = Seq(first_seq.0 + i as u64);
                    // Skip seqs before `from` and any a previous (overlapping) run already gave.
                    if seq < next {
                        continue;
                    }
                    if found.len() >= limit {
                        return Ok(found);
                    }
                    let at = decode_location(chunk).ok_or_else(|| Self::damaged("event"))?;
                    found.push((seq, at));
                    next = seq.next();
                }
            }
            Ok(found)
        })
    }

    /// The start of the last batch that begins at or before `position`.
    pub fn batch_at_or_before(
        &self,
        position: Position,
    ) -> Result<Option<(Position, Location)>, StoreError> {
        let read_error = redb_error("finding a batch");
        self.read("finding a batch", |table| {
            let start = batch_key(Position(0));
            let end = batch_key(position);
            let Some(item) = table
                .range::<&[u8]>(&start[..]..=&end[..])
                .map_err(|e| read_error(e.into()))?
                .next_back()
            else {
                return Ok(None);
            };
            let (key, value) = item.map_err(|e| read_error(e.into()))?;
            let (key, value) = (key.value(), value.value());
            let position_bytes: [u8; 8] = key
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| Self::damaged("batch"))?;
            let segment = u64_at(value, 0).ok_or_else(|| Self::damaged("batch"))?;
            let offset = u64_at(value, 8).ok_or_else(|| Self::damaged("batch"))?;
            Ok(Some((
                Position(u64::from_be_bytes(position_bytes)),
                Location { segment, offset },
            )))
        })
    }

    /// Streams whose name starts with `prefix`, after `after`, in name order.
    pub fn list_heads(
        &self,
        prefix: &str,
        after: Option<&StreamName>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, StoreError> {
        let read_error = redb_error("listing streams");
        self.read("listing streams", |table| {
            let prefix_key = head_key(prefix);
            let after_key = after.map(|a| head_key(a.as_str()));
            let start = match &after_key {
                Some(after_key) if *after_key >= prefix_key => {
                    Bound::Excluded(after_key.as_slice())
                }
                _ => Bound::Included(prefix_key.as_slice()),
            };
            let mut found = Vec::new();
            let range = table
                .range::<&[u8]>((start, Bound::Unbounded))
                .map_err(|e| read_error(e.into()))?;
            for item in range {
                if found.len() >= limit {
                    break;
                }
                let (key, value) = item.map_err(|e| read_error(e.into()))?;
                let (key, value) = (key.value(), value.value());
                if !key.starts_with(&prefix_key) {
                    break;
                }
                let name = std::str::from_utf8(&key[1..]).map_err(|_| Self::damaged("head"))?;
                let stream = StreamName::new(name).map_err(|_| Self::damaged("head"))?;
                let version = u64_at(value, 0).ok_or_else(|| Self::damaged("head"))?;
                found.push(StreamInfo { stream, version });
            }
            Ok(found)
        })
    }

    /// Makes every apply so far durable (one empty `Immediate` commit): at shutdown, and
    /// after the catch-up of an open.
    pub fn flush(&self) -> Result<(), StoreError> {
        let error = redb_error("flushing the index");
        let write = self.db.begin_write().map_err(|e| error(e.into()))?;
        write.commit().map_err(|e| error(e.into()))?;
        *self.last_durable.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        Ok(())
    }
}
