//! The journal's errors. Each says what went wrong and where, so an operator can act on it.

use std::fmt;
use std::path::PathBuf;

use crate::event::ExpectedVersion;
use crate::ids::{Position, StreamName};

/// Where in the embedded log a problem was found. `position` is the position the record at
/// that place has or should have (the previous record's plus one), when it can be known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPlace {
    pub position: Option<Position>,
    pub segment: u64,
    pub offset: u64,
}

impl fmt::Display for LogPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(position) => write!(
                f,
                "position {} (segment {}, offset {})",
                position.0, self.segment, self.offset
            ),
            None => write!(f, "segment {}, offset {}", self.segment, self.offset),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended to the stream first (optimistic concurrency).
    #[error("stream {stream} is at version {actual}, but the append expected {expected:?}")]
    Conflict {
        stream: StreamName,
        expected: ExpectedVersion,
        actual: u64,
    },

    /// The append required a lease its writer no longer holds (another node claimed the
    /// run). Nothing was written; the writer must stop driving the stream.
    #[error("{holder} no longer holds the lease of {stream} at epoch {epoch}")]
    Fenced {
        stream: StreamName,
        holder: String,
        epoch: u64,
    },

    /// The append itself is malformed (no events, too many, too large). Nothing was written.
    #[error("invalid append to {stream}: {reason}")]
    InvalidAppend { stream: StreamName, reason: String },

    /// A record that should be whole is damaged. Never skipped and never truncated away.
    #[error("journal corrupted at {place}: {reason}")]
    Corrupt { place: LogPlace, reason: String },

    /// The data directory is in use by another process.
    #[error("data directory {path} is locked by another process (is a duro server running?)")]
    Locked { path: PathBuf },

    /// The derived index refers to records the log does not have: either records that were
    /// acknowledged are damaged, or the index belongs to another journal (a restore that
    /// replaced the journal but kept the index). Only in the second case is deleting the index
    /// (which rebuilds it from the journal) the fix.
    #[error("the index has records the journal lacks: {reason}. If the journal was replaced or restored, delete {index_dir} to rebuild the index; otherwise acknowledged records are damaged: run `duro journal verify`")]
    IndexAhead { index_dir: PathBuf, reason: String },

    /// A write or fdatasync failed. After a failed fdatasync the kernel may have dropped the
    /// dirty pages, so the store refuses all further appends until it is reopened (which
    /// re-reads what actually reached the disk).
    #[error("journal is unavailable for writing after an earlier I/O failure: {reason}")]
    Poisoned { reason: String },

    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("index error while {context}: {message}")]
    Index { context: String, message: String },

    /// The store was closed while the operation was waiting.
    #[error("event store is shut down")]
    Closed,
}

impl StoreError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }

    pub fn index(context: impl Into<String>, error: impl fmt::Display) -> StoreError {
        StoreError::Index {
            context: context.into(),
            message: error.to_string(),
        }
    }
}
