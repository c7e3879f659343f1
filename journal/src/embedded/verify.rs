//! Offline verification of a whole journal: every record's checksum, the global order of
//! positions, batch framing, and each stream's sequence continuity. Reads only; takes a shared
//! lock so it never runs beside a writer.

use std::collections::HashMap;
use std::path::Path;

use super::scan::{ScanStep, Scanner, TailState};
use super::segment::{list_segments, Location};
use super::{journal_dir, lock_data_dir, LockMode};
use crate::error::{LogPlace, StoreError};
use crate::ids::{Position, StreamName};

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
    mut progress: impl FnMut(u64, u64),
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
    let mut scanner = Scanner::new(&dir, start, Position::START)?;
    let mut heads: HashMap<StreamName, u64> = HashMap::new();
    loop {
        match scanner.next()? {
            ScanStep::Record(scanned) => {
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
    Ok(report)
}
