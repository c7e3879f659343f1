//! Offline verification of a whole journal: every record's checksum, the global order of
//! positions, batch framing, and each stream's sequence continuity; and whether the index
//! derived from it is sound (every page's checksum, and every indexed record and stream head
//! where the log has it). Takes a shared lock so it never runs beside a writer. It writes to
//! the journal never; opening the index may let redb roll it back to its last durable
//! commit after a crash, as the server's next start would.

use std::collections::HashMap;
use std::path::Path;

use super::index::{Checkpoint, Index, Unusable, INDEX_FILE};
use super::scan::{ScanStep, ScannedRecord, Scanner, TailState};
use super::segment::{list_segments, Location};
use super::{foreign_entries, journal_dir, lock_data_dir, LockMode};
use crate::derived::Soundness;
use crate::error::{LogPlace, StoreError};
use crate::ids::{Position, StreamName};
use crate::limits::INDEX_CACHE_BYTES_DEFAULT;

/// One thing wrong with the journal, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub place: LogPlace,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: usize,
    pub streams: usize,
    pub events: u64,
    /// Bytes of whole records.
    pub bytes: u64,
    pub last_position: Option<Position>,
    /// A batch left unfinished by a crash; opening the store cuts it off. Not a problem: it
    /// was never acknowledged.
    pub torn_tail: Option<String>,
    pub problems: Vec<Problem>,
    /// Whether the index agrees with the journal. Not a problem of the journal: the server
    /// rebuilds an unsound index when it starts.
    pub index: Soundness,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

pub fn verify(data_dir: &Path) -> Result<VerifyReport, StoreError> {
    verify_with_progress(data_dir, |_, _| {})
}

/// [`verify`], calling `progress(events, bytes)` after each record with the counts so far.
pub fn verify_with_progress(
    data_dir: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    verify_with(data_dir, progress, |_| None)
}

/// [`verify_with_progress`], also asking `check_payload` about every sound record: the
/// journal knows framing, not what its events mean, so the caller says which payloads it
/// cannot decode (a problem, at that record's place).
pub fn verify_with(
    data_dir: &Path,
    mut progress: impl FnMut(u64, u64),
    mut check_payload: impl FnMut(&crate::event::RecordedEvent) -> Option<String>,
) -> Result<VerifyReport, StoreError> {
    let dir = journal_dir(data_dir);
    if !dir.is_dir() {
        return Err(StoreError::io(
            format!("opening {}", dir.display()),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no journal directory here"),
        ));
    }
    let _lock = lock_data_dir(data_dir, LockMode::Shared)?;
    let segments = list_segments(&dir).map_err(|e| StoreError::io("listing segments", e))?;
    let mut report = VerifyReport {
        segments: segments.len(),
        ..VerifyReport::default()
    };
    let Some(first) = segments.first() else {
        return Ok(report);
    };
    let start = Location {
        segment: *first,
        offset: 0,
    };
    let mut index = IndexCheck::open(data_dir);
    let mut scanner = Scanner::new(&dir, start, Position::START)?;
    let mut heads: HashMap<StreamName, u64> = HashMap::new();
    loop {
        match scanner.next()? {
            ScanStep::Record(scanned) => {
                index.record(&scanned);
                let event = &scanned.record.event;
                let last = heads.entry(event.stream.clone()).or_insert(0);
                if event.seq.0 != *last + 1 {
                    report.problems.push(Problem {
                        place: LogPlace {
                            position: Some(event.position),
                            segment: scanned.location.segment,
                            offset: scanned.location.offset,
                        },
                        message: format!(
                            "stream {}: seq {} follows seq {}",
                            event.stream, event.seq.0, last
                        ),
                    });
                }
                *last = event.seq.0;
                if let Some(message) = check_payload(event) {
                    report.problems.push(Problem {
                        place: LogPlace {
                            position: Some(event.position),
                            segment: scanned.location.segment,
                            offset: scanned.location.offset,
                        },
                        message,
                    });
                }
                report.events += 1;
                report.bytes += u64::from(scanned.len);
                report.last_position = Some(event.position);
                progress(report.events, report.bytes);
            }
            ScanStep::End(TailState::Clean) => break,
            ScanStep::End(TailState::Torn {
                truncate_at,
                first_dropped,
                reason,
                ..
            }) => {
                report.torn_tail = Some(format!(
                    "unfinished batch from position {} (segment {}, offset {}): {reason}",
                    first_dropped.0, truncate_at.segment, truncate_at.offset
                ));
                break;
            }
            ScanStep::End(TailState::Corrupt {
                place,
                reason,
                resume_at,
            }) => {
                report.problems.push(Problem {
                    place,
                    message: reason,
                });
                match resume_at {
                    Some(found) => scanner.resume_at(&found)?,
                    None => break,
                }
            }
        }
    }
    report.streams = heads.len();
    report.index = index.finish(report.last_position, &heads);
    Ok(report)
}

/// Compares the index with the log as the log is read.
enum IndexCheck {
    /// Still consistent so far.
    Checking {
        index: Box<Index>,
        checkpoint: Option<Checkpoint>,
        /// The last indexed seq of each stream, from the log: what the index's heads must say.
        indexed_heads: HashMap<StreamName, u64>,
    },
    Done(Soundness),
}

impl IndexCheck {
    fn open(data_dir: &Path) -> IndexCheck {
        let dir = data_dir.join("index");
        match foreign_entries(&dir) {
            Ok(foreign) if !foreign.is_empty() => {
                return IndexCheck::Done(Soundness::Unsound {
                    reason: format!("files of an earlier index format ({})", foreign.join(", ")),
                })
            }
            Ok(_) => {}
            Err(error) => {
                return IndexCheck::Done(Soundness::Unsound {
                    reason: error.to_string(),
                })
            }
        }
        if !dir.join(INDEX_FILE).exists() {
            return IndexCheck::Done(Soundness::Missing);
        }
        let unsound = |reason: String| IndexCheck::Done(Soundness::Unsound { reason });
        let index = match Index::open(&dir, INDEX_CACHE_BYTES_DEFAULT) {
            Ok(index) => index,
            Err(Unusable::Unreadable(error)) => return unsound(format!("unreadable: {error}")),
            Err(Unusable::Format(error)) => return unsound(error),
        };
        match index.checkpoint() {
            Ok(checkpoint) => IndexCheck::Checking {
                index: Box::new(index),
                checkpoint,
                indexed_heads: HashMap::new(),
            },
            Err(error) => unsound(error.to_string()),
        }
    }

    /// Checks that the index finds this record where the log has it, if it covers it.
    fn record(&mut self, scanned: &ScannedRecord) {
        let IndexCheck::Checking {
            index,
            checkpoint,
            indexed_heads,
        } = self
        else {
            return;
        };
        let event = &scanned.record.event;
        let covered = checkpoint.is_some_and(|c| event.position < c.next_position);
        if !covered {
            return;
        }
        let found = index.stream_range(&event.stream, event.seq, 1);
        let problem = match found.as_deref() {
            Ok([(seq, at)])
                if *seq == event.seq
                    && at.position == event.position
                    && at.location == scanned.location
                    && at.len == scanned.len =>
            {
                None
            }
            Ok(other) => Some(format!(
                "it has {:?} for {} seq {}, the log has position {} at segment {}, offset {}",
                other.first(),
                event.stream,
                event.seq.0,
                event.position.0,
                scanned.location.segment,
                scanned.location.offset
            )),
            Err(error) => Some(error.to_string()),
        };
        match problem {
            Some(reason) => *self = IndexCheck::Done(Soundness::Unsound { reason }),
            None => {
                indexed_heads.insert(event.stream.clone(), event.seq.0);
            }
        }
    }

    /// The verdict, once the whole log was read: the checkpoint must lie within the log and
    /// every stream's head must be the last indexed seq.
    fn finish(self, last: Option<Position>, heads: &HashMap<StreamName, u64>) -> Soundness {
        let (index, checkpoint, indexed_heads) = match self {
            IndexCheck::Done(soundness) => return soundness,
            IndexCheck::Checking {
                index,
                checkpoint,
                indexed_heads,
            } => (index, checkpoint, indexed_heads),
        };
        let through = checkpoint.map_or(0, |c| c.next_position.0 - 1);
        if through > last.map_or(0, |p| p.0) {
            return Soundness::Unsound {
                reason: format!(
                    "it covers positions through {through}, the journal ends at {}",
                    last.map_or(0, |p| p.0)
                ),
            };
        }
        for stream in heads.keys() {
            let expected = indexed_heads.get(stream).copied().unwrap_or(0);
            match index.head(stream) {
                Ok(head) if head == expected => {}
                Ok(head) => {
                    return Soundness::Unsound {
                        reason: format!(
                            "it gives stream {stream} version {head}, the log {expected}"
                        ),
                    }
                }
                Err(error) => {
                    return Soundness::Unsound {
                        reason: error.to_string(),
                    }
                }
            }
        }
        // A stream the log lacks entirely would hand out seqs of another journal.
        match index.list_heads("", None, heads.len() + 1) {
            Ok(listed) => {
                if let Some(extra) = listed.iter().find(|info| !heads.contains_key(&info.stream)) {
                    return Soundness::Unsound {
                        reason: format!("it has stream {}, which the log does not", extra.stream),
                    };
                }
            }
            Err(error) => {
                return Soundness::Unsound {
                    reason: error.to_string(),
                }
            }
        }
        Soundness::Sound { through }
    }
}
