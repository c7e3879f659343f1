//! What callers append and what they read back. The journal knows nothing of workflows:
//! an event is a type tag chosen by the caller plus opaque bytes (the engine encodes its own
//! events with postcard, and user JSON travels inside them as JSON bytes).

use serde::{Deserialize, Serialize};

use crate::ids::{Position, Seq, StreamName, Timestamp};

/// The caller's tag for the kind of an event (for the engine: RunStarted, StepCompleted, ...).
/// Stored in every record header so tools can count and filter events without decoding them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventType(pub u16);

/// The engine's wire tables (`duro_core::wire`) name tags as plain numbers; the journal's
/// type converts both ways so neither side spells the other's type.
impl From<u16> for EventType {
    fn from(tag: u16) -> EventType {
        EventType(tag)
    }
}

impl From<EventType> for u16 {
    fn from(tag: EventType) -> u16 {
        tag.0
    }
}

/// An event to append: it gets its position, seq and timestamp from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub event_type: EventType,
    pub data: Vec<u8>,
}

impl NewEvent {
    pub fn new(event_type: impl Into<EventType>, data: impl Into<Vec<u8>>) -> NewEvent {
        NewEvent {
            event_type: event_type.into(),
            data: data.into(),
        }
    }
}

/// An event as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: Position,
    pub stream: StreamName,
    pub seq: Seq,
    pub event_type: EventType,
    pub recorded_at: Timestamp,
    pub data: Vec<u8>,
}

/// What the caller believes about a stream before appending to it (optimistic concurrency).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must have no events yet.
    NoStream,
    /// The stream's last seq must be exactly this (`Exact(0)` is the same as `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose last seq is `actual` (0 when empty) satisfies this expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(expected) => actual == expected,
        }
    }
}

/// Where one append landed: the positions and seqs of its events, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    pub first_position: Position,
    pub first_seq: Seq,
    /// Number of events appended.
    pub count: u64,
}

impl AppendResult {
    pub fn positions(&self) -> impl Iterator<Item = Position> {
        let first = self.first_position.0;
        (first..first + self.count).map(Position)
    }

    pub fn last_position(&self) -> Position {
        Position(self.first_position.0 + self.count - 1)
    }

    /// The stream's version after this append.
    pub fn last_seq(&self) -> Seq {
        Seq(self.first_seq.0 + self.count - 1)
    }
}

/// Where one import landed: its events took the positions `first_position ..` in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportResult {
    pub first_position: Position,
    /// Number of events imported.
    pub count: u64,
}

impl ImportResult {
    /// The position of the last event imported (`first_position - 1` when none was).
    pub fn last_position(&self) -> Position {
        Position((self.first_position.0 + self.count).saturating_sub(1))
    }
}

/// A stream and its current version, as listed by prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub stream: StreamName,
    /// The seq of the stream's last event.
    pub version: u64,
}
