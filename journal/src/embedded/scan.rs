//! Reading the log front to back: a raw cursor over records and segment ends, and the
//! scanner that checks continuity and decides how the log ends.
//!
//! Recovery policy (docs/journal-format.md, "Recovery"): the log is a sequence of write
//! batches, each all-or-nothing. When a scan meets something that is not the next record
//! (zeros inside an unfinished batch, a bad checksum, a wrong position), it searches the rest
//! of the log for valid records:
//! - none, or only records of the same unfinished batch: the batch was torn by a crash before
//!   its fdatasync returned, so it was never acknowledged. The tail is cut at the batch's
//!   first record (`TailState::Torn`).
//! - a record of a later batch: a later batch is only written after this one was durable,
//!   so this is damage to acknowledged data. It is reported (`TailState::Corrupt`) and never
//!   truncated away.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memchr::memmem;

use super::segment::{list_segments, read_up_to, segment_path, Location};
use crate::error::{LogPlace, StoreError};
use crate::ids::Position;
use crate::record::{
    checksum_matches, decode_header, decode_record, frame_len, is_zeroed, DecodeError, Record,
    HEADER_BYTES, MAGIC,
};

const READ_CHUNK_BYTES: usize = 1024 * 1024;

/// A record as found in the log, with where it lies.
#[derive(Clone, Debug)]
pub struct ScannedRecord {
    pub record: Record,
    pub location: Location,
    pub len: u32,
}

/// What the raw cursor finds at its current place.
pub enum Raw {
    Record(ScannedRecord),
    /// Bytes that are neither a record nor zeros.
    Bad {
        location: Location,
        error: DecodeError,
    },
    /// Zeros or the end of the file: this segment holds no more records.
    SegmentEnd {
        location: Location,
    },
}

/// A buffered sequential reader over one segment.
struct SegmentReader {
    number: u64,
    file: File,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_offset: u64,
}

impl SegmentReader {
    fn open(dir: &Path, number: u64) -> io::Result<SegmentReader> {
        Ok(SegmentReader {
            number,
            file: File::open(segment_path(dir, number))?,
            buf: Vec::new(),
            buf_offset: 0,
        })
    }

    /// Up to `len` bytes at `offset`; fewer only at the end of the file.
    fn bytes_at(&mut self, offset: u64, len: usize) -> io::Result<&[u8]> {
        let buffered = offset >= self.buf_offset
            && offset + len as u64 <= self.buf_offset + self.buf.len() as u64;
        if !buffered {
            self.buf = read_up_to(&self.file, offset, len.max(READ_CHUNK_BYTES))?;
            self.buf_offset = offset;
        }
        let start = (offset - self.buf_offset) as usize;
        let end = (start + len).min(self.buf.len());
        Ok(&self.buf[start..end])
    }
}

/// Reads records one after another from a location, without judging them.
pub struct LogCursor {
    dir: PathBuf,
    reader: SegmentReader,
    offset: u64,
}

impl LogCursor {
    pub fn open(dir: &Path, at: Location) -> io::Result<LogCursor> {
        Ok(LogCursor {
            dir: dir.to_path_buf(),
            reader: SegmentReader::open(dir, at.segment)?,
            offset: at.offset,
        })
    }

    pub fn location(&self) -> Location {
        Location {
            segment: self.reader.number,
            offset: self.offset,
        }
    }

    /// Reads what is at the current location; moves past it only if it is a record.
    pub fn next(&mut self) -> io::Result<Raw> {
        let location = self.location();
        let header = self.reader.bytes_at(self.offset, HEADER_BYTES)?;
        if is_zeroed(header) {
            return Ok(Raw::SegmentEnd { location });
        }
        let record_len = match decode_header(header) {
            Ok(header) => header.record_len(),
            Err(error) => return Ok(Raw::Bad { location, error }),
        };
        let bytes = self.reader.bytes_at(self.offset, record_len)?;
        match decode_record(bytes) {
            Ok((record, len)) => {
                self.offset += len as u64;
                Ok(Raw::Record(ScannedRecord {
                    record,
                    location,
                    len: len as u32,
                }))
            }
            Err(error) => Ok(Raw::Bad { location, error }),
        }
    }

    /// Whether the bytes at `location` have a sound frame (magic, a sane length, a matching
    /// checksum) whatever their format version and flags say.
    pub fn frame_is_intact(&mut self, location: Location) -> io::Result<bool> {
        self.move_to(location)?;
        let header = self.reader.bytes_at(location.offset, HEADER_BYTES)?;
        let Some(len) = frame_len(header) else {
            return Ok(false);
        };
        let bytes = self.reader.bytes_at(location.offset, len)?;
        Ok(checksum_matches(bytes))
    }

    /// Moves to the start of the next segment; false if there is none.
    pub fn next_segment(&mut self) -> io::Result<bool> {
        let next = self.reader.number + 1;
        if !segment_path(&self.dir, next).exists() {
            return Ok(false);
        }
        self.move_to(Location {
            segment: next,
            offset: 0,
        })?;
        Ok(true)
    }

    pub fn move_to(&mut self, at: Location) -> io::Result<()> {
        if at.segment != self.reader.number {
            self.reader = SegmentReader::open(&self.dir, at.segment)?;
        }
        self.offset = at.offset;
        Ok(())
    }
}

/// How the log ends.
#[derive(Clone, Debug)]
pub enum TailState {
    /// Every batch is whole and nothing follows the last one.
    Clean,
    /// The last batch is incomplete: cut the log at `truncate_at` (zero every nonzero byte
    /// from there, `nonzero` lists how far each segment has any) and continue with
    /// `first_dropped` as the next position.
    Torn {
        truncate_at: Location,
        first_dropped: Position,
        reason: String,
        nonzero: Vec<Location>,
    },
    /// Damage followed by later batches. `resume_at` is the first valid record after it, from
    /// which a verifier can go on looking for further problems.
    Corrupt {
        place: LogPlace,
        reason: String,
        resume_at: Option<ScannedRecord>,
    },
}

/// A batch whose first records have been read but not its last.
#[derive(Clone, Copy, Debug)]
struct OpenBatch {
    first: Position,
    first_location: Location,
    count: u32,
}

/// Reads the log from a location, checking that positions and batches follow on, and says
/// how the log ends.
pub struct Scanner {
    dir: PathBuf,
    cursor: LogCursor,
    expected_next: Position,
    open_batch: Option<OpenBatch>,
}

pub enum ScanStep {
    Record(ScannedRecord),
    End(TailState),
}

impl Scanner {
    /// `from` must be where a batch starts and `expected_next` the position of its record.
    pub fn new(dir: &Path, from: Location, expected_next: Position) -> Result<Scanner, StoreError> {
        let cursor = LogCursor::open(dir, from)
            .map_err(|e| StoreError::io(format!("opening segment {}", from.segment), e))?;
        Ok(Scanner {
            dir: dir.to_path_buf(),
            cursor,
            expected_next,
            open_batch: None,
        })
    }

    /// Continues after damage from a valid record found beyond it (see `TailState::Corrupt`).
    pub fn resume_at(&mut self, found: &ScannedRecord) -> Result<(), StoreError> {
        self.cursor
            .move_to(found.location)
            .map_err(|e| StoreError::io("moving the scan", e))?;
        self.expected_next = found.record.event.position;
        self.open_batch =
            (found.record.batch_first != found.record.event.position).then_some(OpenBatch {
                first: found.record.batch_first,
                first_location: found.location,
                count: found.record.batch_count,
            });
        Ok(())
    }

    pub fn next(&mut self) -> Result<ScanStep, StoreError> {
        loop {
            let raw = self
                .cursor
                .next()
                .map_err(|e| StoreError::io("reading the journal", e))?;
            match raw {
                Raw::Record(scanned) => {
                    if let Some(reason) = self.continuity_problem(&scanned.record) {
                        return self
                            .classify(scanned.location, Some(reason))
                            .map(ScanStep::End);
                    }
                    self.accept(&scanned);
                    return Ok(ScanStep::Record(scanned));
                }
                Raw::Bad { location, error } => {
                    if let Some(refusal) = self.newer_format(location, &error)? {
                        return Ok(ScanStep::End(refusal));
                    }
                    return self
                        .classify(location, Some(error.to_string()))
                        .map(ScanStep::End);
                }
                Raw::SegmentEnd { location } => {
                    if let Some(step) = self.segment_end(location)? {
                        return Ok(step);
                    }
                }
            }
        }
    }

    /// A whole record of a format this build cannot read (its checksum holds) is not a torn
    /// write: cutting it would destroy data a newer Duro wrote. It stops the scan as damage
    /// does, so the store refuses to open.
    fn newer_format(
        &mut self,
        location: Location,
        error: &DecodeError,
    ) -> Result<Option<TailState>, StoreError> {
        if !matches!(
            error,
            DecodeError::UnsupportedVersion { .. } | DecodeError::ReservedFlags { .. }
        ) {
            return Ok(None);
        }
        let intact = self
            .cursor
            .frame_is_intact(location)
            .map_err(|e| StoreError::io("reading the journal", e))?;
        Ok(intact.then(|| TailState::Corrupt {
            place: self.place(location),
            reason: format!(
                "{error}: the record is intact, so it was written by a newer Duro; open this \
                 journal with that version"
            ),
            resume_at: None,
        }))
    }

    /// At zeros: either move on to the next segment (returns None) or end the scan.
    fn segment_end(&mut self, location: Location) -> Result<Option<ScanStep>, StoreError> {
        if self.open_batch.is_some() {
            let reason = "the log ends inside a batch".to_string();
            return self
                .classify(location, Some(reason))
                .map(|t| Some(ScanStep::End(t)));
        }
        let has_next = segment_path(&self.dir, location.segment + 1).exists();
        if !has_next {
            return self
                .classify(location, None)
                .map(|t| Some(ScanStep::End(t)));
        }
        // The writer never leaves a gap inside a segment, so bytes after these zeros are
        // either the rest of a batch torn by a crash (its first sectors never reached the
        // disk) or damage. The full classification tells which.
        let rest = search_after(
            &self.dir,
            location,
            Some(location.segment),
            self.expected_next,
        )?;
        if rest.first_valid.is_some() || !rest.nonzero.is_empty() {
            let reason = "zeros inside a segment with data after them".to_string();
            return self
                .classify(location, Some(reason))
                .map(|t| Some(ScanStep::End(t)));
        }
        self.cursor
            .next_segment()
            .map_err(|e| StoreError::io("opening the next segment", e))?;
        Ok(None)
    }

    fn continuity_problem(&self, record: &Record) -> Option<String> {
        let position = record.event.position;
        if position != self.expected_next {
            return Some(format!(
                "expected position {}, found {}",
                self.expected_next.0, position.0
            ));
        }
        let batch_ok = match self.open_batch {
            Some(open) => record.batch_first == open.first && record.batch_count == open.count,
            None => record.batch_first == position,
        };
        if !batch_ok {
            return Some(format!(
                "record {} claims batch {} of {} records, which does not follow on",
                position.0, record.batch_first.0, record.batch_count
            ));
        }
        None
    }

    fn accept(&mut self, scanned: &ScannedRecord) {
        let record = &scanned.record;
        if self.open_batch.is_none() {
            self.open_batch = Some(OpenBatch {
                first: record.batch_first,
                first_location: scanned.location,
                count: record.batch_count,
            });
        }
        if record.ends_batch() {
            self.open_batch = None;
        }
        self.expected_next = self.expected_next.next();
    }

    fn place(&self, location: Location) -> LogPlace {
        LogPlace {
            position: Some(self.expected_next),
            segment: location.segment,
            offset: location.offset,
        }
    }

    /// Decides what a stop at `stop` means; `problem` is None for plain zeros.
    fn classify(&self, stop: Location, problem: Option<String>) -> Result<TailState, StoreError> {
        let (open_first, open_location) = match self.open_batch {
            Some(open) => (open.first, open.first_location),
            None => (self.expected_next, stop),
        };
        let after = search_after(&self.dir, stop, None, open_first)?;
        if let Some(foreign) = after.first_foreign {
            let reason = format!(
                "{}; a later batch (position {}) follows at segment {}, offset {}",
                problem.unwrap_or_else(|| "zeros where a record should be".into()),
                foreign.record.event.position.0,
                foreign.location.segment,
                foreign.location.offset
            );
            return Ok(TailState::Corrupt {
                place: self.place(stop),
                reason,
                resume_at: Some(foreign),
            });
        }
        let whole = problem.is_none() && self.open_batch.is_none();
        if whole && after.first_valid.is_none() && after.nonzero.is_empty() {
            return Ok(TailState::Clean);
        }
        // The torn batch's own whole records, before the stop, must be cut too.
        let mut nonzero = after.nonzero;
        match nonzero.iter_mut().find(|n| n.segment == stop.segment) {
            Some(end) => end.offset = end.offset.max(stop.offset),
            None => nonzero.insert(0, stop),
        }
        Ok(TailState::Torn {
            truncate_at: open_location,
            first_dropped: open_first,
            reason: problem.unwrap_or_else(|| "unfinished batch after the last record".into()),
            nonzero,
        })
    }
}

/// What lies after a stop in the log.
struct AfterStop {
    /// The first valid record found.
    first_valid: Option<ScannedRecord>,
    /// The first valid record that belongs to a batch other than `open_first`.
    first_foreign: Option<ScannedRecord>,
    /// For each segment with nonzero bytes after the stop: the end of its last nonzero byte.
    nonzero: Vec<Location>,
}

/// Searches from `stop` to the end of the log (or of segment `only`) for valid records, by
/// their magic, and for any nonzero bytes.
fn search_after(
    dir: &Path,
    stop: Location,
    only: Option<u64>,
    open_first: Position,
) -> Result<AfterStop, StoreError> {
    let io_error = |e| StoreError::io("searching the journal's tail", e);
    let mut after = AfterStop {
        first_valid: None,
        first_foreign: None,
        nonzero: Vec::new(),
    };
    let segments: Vec<u64> = list_segments(dir)
        .map_err(io_error)?
        .into_iter()
        .filter(|n| *n >= stop.segment && only.is_none_or(|only| *n == only))
        .collect();
    let finder = memmem::Finder::new(&MAGIC);
    for number in segments {
        let file = File::open(segment_path(dir, number)).map_err(io_error)?;
        let mut at = if number == stop.segment {
            stop.offset
        } else {
            0
        };
        let mut last_nonzero_end = None;
        loop {
            // Overlap chunks by the magic's length so no magic is split between two reads.
            let chunk = read_up_to(&file, at, READ_CHUNK_BYTES + MAGIC.len()).map_err(io_error)?;
            let own = chunk.len().min(READ_CHUNK_BYTES);
            if let Some(i) = chunk[..own].iter().rposition(|b| *b != 0) {
                last_nonzero_end = Some(at + i as u64 + 1);
            }
            for i in finder.find_iter(&chunk).filter(|i| *i < own) {
                let location = Location {
                    segment: number,
                    offset: at + i as u64,
                };
                let Some(found) = try_record_at(&file, location).map_err(io_error)? else {
                    continue;
                };
                let foreign = found.record.batch_first != open_first;
                if after.first_valid.is_none() {
                    after.first_valid = Some(found.clone());
                }
                if foreign {
                    after.first_foreign = Some(found);
                    return Ok(after);
                }
            }
            if chunk.len() <= READ_CHUNK_BYTES {
                break;
            }
            at += READ_CHUNK_BYTES as u64;
        }
        if let Some(end) = last_nonzero_end {
            after.nonzero.push(Location {
                segment: number,
                offset: end,
            });
        }
    }
    Ok(after)
}

fn try_record_at(file: &File, location: Location) -> io::Result<Option<ScannedRecord>> {
    let header = read_up_to(file, location.offset, HEADER_BYTES)?;
    let Ok(parsed) = decode_header(&header) else {
        return Ok(None);
    };
    let bytes = read_up_to(file, location.offset, parsed.record_len())?;
    Ok(decode_record(&bytes)
        .ok()
        .map(|(record, len)| ScannedRecord {
            record,
            location,
            len: len as u32,
        }))
}
