//! Archives: a portable, versioned, checksummed file of journal events, for backups,
//! restores and bug reports (`duro journal export | import | verify --in`).
//!
//! An archive is a preamble (`DUROARCH`, format version), a header frame (JSON: format
//! version, creation time, source, scope, journal format version), one frame per event in
//! position order, and a trailer frame with the counts and a SHA-256 digest of every byte
//! before it. Each frame carries a CRC32C. [`ArchiveWriter`] and [`ArchiveReader`] stream in
//! constant memory; the reader never panics on any input and names the byte offset and the
//! record of every problem. The byte layout is specified in docs/journal-format.md,
//! section 14.

pub mod format;
mod reader;
mod writer;

use std::path::Path;

pub use self::format::{ArchiveHeader, ArchiveScope, FORMAT_VERSION, MAGIC};
pub use self::reader::ArchiveReader;
pub use self::writer::ArchiveWriter;
use crate::ids::Position;

/// What a finished archive holds: its header, counts, size and digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub header: ArchiveHeader,
    pub records: u64,
    /// Streams in the archive (records with seq 1: each stream is whole).
    pub streams: u64,
    /// Bytes of the whole file, trailer included.
    pub bytes: u64,
    /// SHA-256 of every byte before the trailer frame.
    pub digest: [u8; 32],
    /// SHA-256 of the record frames alone: two archives of the same events (same positions,
    /// streams, seqs, types, stamps and data) have the same, whatever their headers.
    pub records_digest: [u8; 32],
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
}

impl Summary {
    pub fn digest_hex(&self) -> String {
        format::hex(&self.digest)
    }

    pub fn records_digest_hex(&self) -> String {
        format::hex(&self.records_digest)
    }
}

/// Why an archive cannot be written or read. Every reading error names the byte offset
/// where the problem is and, when it lies in a record, the record's number (1 = the first
/// record of the file).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a Duro archive: bad magic at offset 0")]
    BadMagic,
    #[error("archive format version {version} at offset 8 is not supported (this Duro reads version {FORMAT_VERSION})")]
    UnsupportedVersion { version: u16 },
    #[error("bad header at offset {offset}: {reason}")]
    BadHeader { offset: u64, reason: String },
    #[error("truncated at offset {offset} (record {record}): the file ends before its trailer")]
    Truncated { offset: u64, record: u64 },
    #[error("bad frame at offset {offset} (record {record}): {reason}")]
    BadFrame {
        offset: u64,
        record: u64,
        reason: String,
    },
    #[error("CRC mismatch at offset {offset} (record {record})")]
    CrcMismatch { offset: u64, record: u64 },
    #[error("bad record at offset {offset} (record {record}): {reason}")]
    BadRecord {
        offset: u64,
        record: u64,
        reason: String,
    },
    #[error("count mismatch in the trailer at offset {offset}: it says {expected} {what}, the file holds {actual}")]
    CountMismatch {
        offset: u64,
        what: &'static str,
        expected: u64,
        actual: u64,
    },
    #[error(
        "digest mismatch: the trailer at offset {offset} does not match the SHA-256 of the {what}"
    )]
    DigestMismatch { offset: u64, what: &'static str },
    #[error("{count} trailing bytes at offset {offset}, after the trailer")]
    TrailingBytes { offset: u64, count: u64 },
    #[error("reading the archive at offset {offset}: {source}")]
    Read {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the archive: {0}")]
    Write(#[source] std::io::Error),
    #[error("cannot write {reason}")]
    Unwritable { reason: String },
}

impl ArchiveError {
    /// The byte offset of the problem, for errors found while reading.
    pub fn offset(&self) -> Option<u64> {
        match self {
            ArchiveError::BadMagic => Some(0),
            ArchiveError::UnsupportedVersion { .. } => Some(8),
            ArchiveError::BadHeader { offset, .. }
            | ArchiveError::Truncated { offset, .. }
            | ArchiveError::BadFrame { offset, .. }
            | ArchiveError::CrcMismatch { offset, .. }
            | ArchiveError::BadRecord { offset, .. }
            | ArchiveError::CountMismatch { offset, .. }
            | ArchiveError::DigestMismatch { offset, .. }
            | ArchiveError::TrailingBytes { offset, .. }
            | ArchiveError::Read { offset, .. } => Some(*offset),
            ArchiveError::Write(_) | ArchiveError::Unwritable { .. } => None,
        }
    }

    /// The number of the record where the problem is (1 = the first record), if it is in one.
    pub fn record(&self) -> Option<u64> {
        match self {
            ArchiveError::Truncated { record, .. }
            | ArchiveError::BadFrame { record, .. }
            | ArchiveError::CrcMismatch { record, .. }
            | ArchiveError::BadRecord { record, .. } => Some(*record),
            _ => None,
        }
    }
}

/// Reads a whole archive file and checks everything: frames, checksums, records, counts,
/// digest, nothing after the trailer. `progress(records, bytes)` is called after each
/// record with the counts so far.
pub fn verify_file(
    path: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<Summary, ArchiveError> {
    let file =
        std::fs::File::open(path).map_err(|source| ArchiveError::Read { offset: 0, source })?;
    let mut reader = ArchiveReader::new(file)?;
    while reader.next_record()?.is_some() {
        progress(reader.records(), reader.offset());
    }
    let summary = reader.finish()?;
    progress(summary.records, summary.bytes);
    Ok(summary)
}

#[cfg(test)]
mod tests;
