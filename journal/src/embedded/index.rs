//! The sled index: everything here is derived from the log and can be rebuilt from it.
//!
//! One sled tree holds every kind of entry under a one-byte prefix, so that a batch's entries
//! and the checkpoint saying which log position they reflect are written by one atomic
//! `apply_batch`:
//!
//! ```text
//! b'e' stream 0x00 first_seq(u64 BE) -> a run: for seqs first_seq, first_seq+1, ... in turn,
//!                                       position(u64 LE) segment(u64 LE) offset(u64 LE) len(u32 LE)
//! b'h' stream                        -> version(u64 LE)            the stream's last seq
//! b'b' position(u64 BE)              -> segment(u64 LE) offset(u64 LE)   where a batch starts
//! b'm' "checkpoint"                  -> next position, next location, last recorded_at,
//!                                       the last record's location (as in a run)
//! ```
//!
//! A stream's events are indexed in runs: all of its events written to sled in one apply
//! share one key. sled's cost is per key, so a stream that gains ten events between two
//! applies costs one insert, not ten. Runs never overlap: every apply carries the checkpoint
//! it reaches in the same atomic sled batch, and indexing resumes from that checkpoint, so no
//! event is indexed twice. (A reader still takes each seq once, as a guard.) Batch starts are kept sparsely, one every `BATCH_STRIDE` positions:
//! a global read scans forward from the nearest one.
//!
//! sled may lose its last writes in a crash (its flush is not an fsync); the checkpoint then
//! lags, and opening the store re-indexes the log from it.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;

use super::segment::Location;
use crate::error::StoreError;
use crate::event::StreamInfo;
use crate::ids::{Position, Seq, StreamName, Timestamp};

const EVENT_PREFIX: u8 = b'e';
const HEAD_PREFIX: u8 = b'h';
const BATCH_PREFIX: u8 = b'b';
const CHECKPOINT_KEY: &[u8] = b"mcheckpoint";
const LOCATION_BYTES: usize = 28;

/// Positions between two batch starts kept in sled: bounds how far a global read scans.
const BATCH_STRIDE: u64 = 256;

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

pub struct Index {
    db: sled::Db,
    /// The last batch start written to sled (0 for none), to keep them `BATCH_STRIDE` apart.
    last_batch_key: std::sync::atomic::AtomicU64,
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

impl Index {
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Index, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| StoreError::index(format!("opening {}", path.display()), e))?;
        let index = Index {
            db,
            last_batch_key: std::sync::atomic::AtomicU64::new(0),
        };
        if let Some((position, _)) = index.batch_at_or_before(Position(u64::MAX))? {
            index
                .last_batch_key
                .store(position.0, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(index)
    }

    fn damaged(what: &str) -> StoreError {
        StoreError::index("reading the index", format!("malformed {what} entry"))
    }

    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let Some(value) = self
            .db
            .get(CHECKPOINT_KEY)
            .map_err(|e| StoreError::index("reading the checkpoint", e))?
        else {
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
        let value = self
            .db
            .get(head_key(stream.as_str()))
            .map_err(|e| StoreError::index("reading a stream head", e))?;
        match value {
            None => Ok(0),
            Some(value) => u64_at(&value, 0).ok_or_else(|| Self::damaged("head")),
        }
    }

    /// Writes `entries` (in position order) and the checkpoint in one atomic sled batch.
    pub fn apply(&self, entries: &[IndexEntry], checkpoint: Checkpoint) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        // One run per stream: its events in this apply, which follow on seq by seq.
        let mut runs: HashMap<&StreamName, (Seq, Vec<u8>)> = HashMap::new();
        let mut batch = sled::Batch::default();
        let mut last_batch_key = self.last_batch_key.load(Ordering::Relaxed);
        for entry in entries {
            let run = runs
                .entry(&entry.stream)
                .or_insert_with(|| (entry.seq, Vec::new()));
            let next_in_run = run.0 .0 + (run.1.len() / LOCATION_BYTES) as u64;
            if entry.seq.0 != next_in_run {
                // Not contiguous (never expected): close the run and start another.
                batch.insert(event_key(&entry.stream, run.0), std::mem::take(&mut run.1));
                run.0 = entry.seq;
            }
            run.1.extend_from_slice(&encode_location(&entry.at));
            let stride_passed =
                last_batch_key == 0 || entry.at.position.0 >= last_batch_key + BATCH_STRIDE;
            if entry.starts_batch && stride_passed {
                let mut value = [0u8; 16];
                value[0..8].copy_from_slice(&entry.at.location.segment.to_le_bytes());
                value[8..16].copy_from_slice(&entry.at.location.offset.to_le_bytes());
                batch.insert(&batch_key(entry.at.position)[..], &value[..]);
                last_batch_key = entry.at.position.0;
            }
        }
        for (stream, (first_seq, locations)) in runs {
            let count = (locations.len() / LOCATION_BYTES) as u64;
            let version = first_seq.0 + count - 1;
            batch.insert(event_key(stream, first_seq), locations);
            batch.insert(head_key(stream.as_str()), &version.to_le_bytes()[..]);
        }
        let mut value = [0u8; 32 + LOCATION_BYTES];
        if let Some(last) = &checkpoint.last {
            value[32..].copy_from_slice(&encode_location(last));
        }
        value[0..8].copy_from_slice(&checkpoint.next_position.0.to_le_bytes());
        value[8..16].copy_from_slice(&checkpoint.next.segment.to_le_bytes());
        value[16..24].copy_from_slice(&checkpoint.next.offset.to_le_bytes());
        value[24..32].copy_from_slice(&(checkpoint.last_recorded_at.0 as u64).to_le_bytes());
        batch.insert(CHECKPOINT_KEY, &value[..]);
        self.db
            .apply_batch(batch)
            .map_err(|e| StoreError::index("writing index entries", e))?;
        self.last_batch_key.store(last_batch_key, Ordering::Relaxed);
        Ok(())
    }

    /// Locations of up to `limit` events of `stream` from seq `from`.
    pub fn stream_range(
        &self,
        stream: &StreamName,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, EventLocation)>, StoreError> {
        let read_error = |e| StoreError::index("reading a stream", e);
        // The run holding `from` starts at or before it; later runs follow in key order.
        let first_run = self
            .db
            .range(event_key(stream, Seq(0))..=event_key(stream, from))
            .next_back()
            .transpose()
            .map_err(read_error)?;
        let later_runs = self.db.range((
            Bound::Excluded(event_key(stream, from)),
            Bound::Included(event_key(stream, Seq(u64::MAX))),
        ));
        let mut found = Vec::new();
        let mut next = from;
        for item in first_run.into_iter().map(Ok).chain(later_runs) {
            let (key, value) = item.map_err(read_error)?;
            let first_seq = run_first_seq(&key).ok_or_else(|| Self::damaged("event"))?;
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
    }

    /// The start of the last batch that begins at or before `position`.
    pub fn batch_at_or_before(
        &self,
        position: Position,
    ) -> Result<Option<(Position, Location)>, StoreError> {
        let start = batch_key(Position(0));
        let end = batch_key(position);
        let Some(item) = self.db.range(start..=end).next_back() else {
            return Ok(None);
        };
        let (key, value) = item.map_err(|e| StoreError::index("finding a batch", e))?;
        let position_bytes: [u8; 8] = key[1..9].try_into().map_err(|_| Self::damaged("batch"))?;
        let segment = u64_at(&value, 0).ok_or_else(|| Self::damaged("batch"))?;
        let offset = u64_at(&value, 8).ok_or_else(|| Self::damaged("batch"))?;
        Ok(Some((
            Position(u64::from_be_bytes(position_bytes)),
            Location { segment, offset },
        )))
    }

    /// Streams whose name starts with `prefix`, after `after`, in name order.
    pub fn list_heads(
        &self,
        prefix: &str,
        after: Option<&StreamName>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, StoreError> {
        let prefix_key = head_key(prefix);
        let start = match after.map(|a| head_key(a.as_str())) {
            Some(after_key) if after_key >= prefix_key => Bound::Excluded(after_key),
            _ => Bound::Included(prefix_key.clone()),
        };
        let mut found = Vec::new();
        for item in self.db.range((start, Bound::Unbounded)) {
            if found.len() >= limit {
                break;
            }
            let (key, value) = item.map_err(|e| StoreError::index("listing streams", e))?;
            if !key.starts_with(&prefix_key) {
                break;
            }
            let name = std::str::from_utf8(&key[1..]).map_err(|_| Self::damaged("head"))?;
            let stream = StreamName::new(name).map_err(|_| Self::damaged("head"))?;
            let version = u64_at(&value, 0).ok_or_else(|| Self::damaged("head"))?;
            found.push(StreamInfo { stream, version });
        }
        Ok(found)
    }

    /// Asks sled to write its dirty pages out (not an fsync: see the module doc).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| StoreError::index("flushing the index", e))
    }
}
