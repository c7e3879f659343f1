//! Newtypes for the journal's coordinates, so a position can never be passed where a
//! sequence number is expected, and logs print them with a recognisable prefix.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::STREAM_NAME_BYTES_MAX;

/// A record's place in the global log. Strictly increasing across the whole store, starting
/// at 1. The embedded store hands out dense positions; other backends may leave gaps, so
/// callers must only rely on order, never on `next == previous + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position(pub u64);

impl Position {
    /// The position of the first record: reading from `Position::START` reads everything.
    pub const START: Position = Position(1);
    /// "Nothing yet": the committed position of an empty store.
    pub const NONE: Position = Position(0);

    pub fn next(self) -> Position {
        Position(self.0 + 1)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pos_{}", self.0)
    }
}

/// A record's number within its stream: the first event of a stream has `Seq(1)`, and a
/// stream's version is the seq of its last event (0 for a stream with no events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seq(pub u64);

impl Seq {
    pub const FIRST: Seq = Seq(1);

    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq_{}", self.0)
    }
}

/// Microseconds since the Unix epoch, stamped once by the store when a record is appended.
/// Replay reads time from here and never from the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn as_micros(self) -> i64 {
        self.0
    }
}

/// The name of a stream, such as `run-0191...` or `workflow-wf_abc`.
///
/// Names are 1 to [`STREAM_NAME_BYTES_MAX`] bytes of ASCII letters, digits and `-_.:@`.
/// The restriction keeps names printable in logs and file names, and guarantees they never
/// contain the 0x00 byte the index uses as a separator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamName(String);

/// Why a string is not a valid stream name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamNameError {
    #[error("stream name is empty")]
    Empty,
    #[error("stream name is {len} bytes; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("stream name {name:?} contains {character:?}; only ASCII letters, digits and -_.:@ are allowed")]
    BadCharacter { name: String, character: char },
}

impl StreamName {
    pub fn new(name: impl Into<String>) -> Result<StreamName, StreamNameError> {
        let name = name.into();
        Self::check(&name)?;
        Ok(StreamName(name))
    }

    /// Checks `name` against the rules a stream name must follow. Also used on prefixes,
    /// where the empty string is allowed by the caller.
    pub fn check(name: &str) -> Result<(), StreamNameError> {
        if name.is_empty() {
            return Err(StreamNameError::Empty);
        }
        if name.len() > STREAM_NAME_BYTES_MAX {
            return Err(StreamNameError::TooLong {
                len: name.len(),
                max: STREAM_NAME_BYTES_MAX,
            });
        }
        if let Some(character) = name.chars().find(|c| !is_stream_name_char(*c)) {
            return Err(StreamNameError::BadCharacter {
                name: name.to_owned(),
                character,
            });
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_stream_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@')
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for StreamName {
    type Error = StreamNameError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        StreamName::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_follow_the_documented_alphabet() {
        assert!(StreamName::new("run-0191a2b3").is_ok());
        assert!(StreamName::new("trigger-nightly:2026-01-01T00:00@utc").is_ok());
        assert_eq!(StreamName::new(""), Err(StreamNameError::Empty));
        assert!(matches!(
            StreamName::new("run/1"),
            Err(StreamNameError::BadCharacter { character: '/', .. })
        ));
        assert!(matches!(
            StreamName::new("a\0b"),
            Err(StreamNameError::BadCharacter {
                character: '\0',
                ..
            })
        ));
        let long = "x".repeat(STREAM_NAME_BYTES_MAX + 1);
        assert!(matches!(
            StreamName::new(long),
            Err(StreamNameError::TooLong { .. })
        ));
    }
}
