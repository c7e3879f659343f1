//! The archive's bytes: constants, the header, record and trailer bodies, frames and their
//! checksum. Specified byte by byte in docs/journal-format.md, section 14.

use serde::{Deserialize, Serialize};

use crate::event::{EventType, RecordedEvent};
use crate::ids::{Position, Seq, StreamName, Timestamp};
use crate::limits::RECORD_BYTES_MAX;

/// The first 8 bytes of every archive.
pub const MAGIC: [u8; 8] = *b"DUROARCH";
/// The archive format version this code writes and reads (bytes 8..10, `u16` LE).
pub const FORMAT_VERSION: u16 = 1;
/// Magic and version.
pub const PREAMBLE_BYTES: u64 = 10;

/// Frame kinds (a frame's first byte).
pub const KIND_HEADER: u8 = b'H';
pub const KIND_RECORD: u8 = b'R';
pub const KIND_TRAILER: u8 = b'T';

/// A frame is a kind byte, a `u32` LE body length, the body and a `u32` LE CRC32C.
pub const FRAME_PREFIX_BYTES: usize = 5;
pub const FRAME_OVERHEAD_BYTES: usize = FRAME_PREFIX_BYTES + 4;

/// Largest header body accepted (JSON).
pub const HEADER_BODY_BYTES_MAX: usize = 64 * 1024;
/// Largest record body accepted: a journal record's bound is ample (the archive's body
/// holds the same fields, minus the batch framing, plus a `u16`).
pub const RECORD_BODY_BYTES_MAX: usize = RECORD_BYTES_MAX;
/// The trailer body: records, streams and bytes (`u64` LE each), then the SHA-256 digest of
/// every byte before the trailer, then the SHA-256 of the record frames alone.
pub const TRAILER_BODY_BYTES: usize = 8 * 3 + 32 + 32;

/// What an archive holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum ArchiveScope {
    /// The whole global log.
    All,
    /// One run's stream and its workflow's stream (the run id).
    Run(String),
    /// A workflow's stream and the streams of its runs (the workflow id).
    Workflow(String),
}

impl std::fmt::Display for ArchiveScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveScope::All => f.write_str("all"),
            ArchiveScope::Run(id) => write!(f, "run {id}"),
            ArchiveScope::Workflow(id) => write!(f, "workflow {id}"),
        }
    }
}

/// The archive's header frame, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveHeader {
    /// Equal to the preamble's version.
    pub format_version: u16,
    /// When the export began, µs since the Unix epoch.
    pub created_at: i64,
    /// Where the events came from (a data directory, a server URL), for people.
    pub source: String,
    pub scope: ArchiveScope,
    /// The journal record format version the events were read from.
    pub journal_format_version: u8,
}

impl ArchiveHeader {
    /// A header for an archive created now.
    pub fn new(source: impl Into<String>, scope: ArchiveScope) -> ArchiveHeader {
        let created_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        ArchiveHeader {
            format_version: FORMAT_VERSION,
            created_at,
            source: source.into(),
            scope,
            journal_format_version: crate::record::FORMAT_VERSION,
        }
    }
}

/// A record frame's body (postcard, fields in this order).
#[derive(Serialize)]
pub(crate) struct RecordBodyRef<'a> {
    pub position: u64,
    pub stream: &'a str,
    pub seq: u64,
    pub event_type: u16,
    pub recorded_at: i64,
    #[serde(with = "serde_bytes")]
    pub data: &'a [u8],
}

#[derive(Deserialize)]
pub(crate) struct RecordBody {
    pub position: u64,
    pub stream: String,
    pub seq: u64,
    pub event_type: u16,
    pub recorded_at: i64,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl<'a> RecordBodyRef<'a> {
    pub fn of(event: &'a RecordedEvent) -> RecordBodyRef<'a> {
        RecordBodyRef {
            position: event.position.0,
            stream: event.stream.as_str(),
            seq: event.seq.0,
            event_type: event.event_type.0,
            recorded_at: event.recorded_at.0,
            data: &event.data,
        }
    }
}

/// Decodes a record body: postcard with every byte consumed, a valid stream name, position
/// and seq at least 1.
pub(crate) fn decode_record_body(body: &[u8]) -> Result<RecordedEvent, String> {
    let (decoded, rest) =
        postcard::take_from_bytes::<RecordBody>(body).map_err(|e| format!("undecodable: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the record's fields", rest.len()));
    }
    let stream = StreamName::new(decoded.stream).map_err(|e| e.to_string())?;
    if decoded.position == 0 {
        return Err("position 0".into());
    }
    if decoded.seq == 0 {
        return Err("seq 0".into());
    }
    Ok(RecordedEvent {
        position: Position(decoded.position),
        stream,
        seq: Seq(decoded.seq),
        event_type: EventType(decoded.event_type),
        recorded_at: Timestamp(decoded.recorded_at),
        data: decoded.data,
    })
}

/// The trailer's counts and digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub records: u64,
    /// Records with seq 1: every stream in an archive is whole, from its first event.
    pub streams: u64,
    /// Bytes before the trailer frame (what the digest covers).
    pub bytes: u64,
    pub digest: [u8; 32],
    /// SHA-256 of the record frames alone: equal for two archives of the same events,
    /// whatever their headers.
    pub records_digest: [u8; 32],
}

impl Trailer {
    pub fn encode(&self) -> [u8; TRAILER_BODY_BYTES] {
        let mut out = [0u8; TRAILER_BODY_BYTES];
        out[0..8].copy_from_slice(&self.records.to_le_bytes());
        out[8..16].copy_from_slice(&self.streams.to_le_bytes());
        out[16..24].copy_from_slice(&self.bytes.to_le_bytes());
        out[24..56].copy_from_slice(&self.digest);
        out[56..88].copy_from_slice(&self.records_digest);
        out
    }

    pub fn decode(body: &[u8]) -> Option<Trailer> {
        if body.len() != TRAILER_BODY_BYTES {
            return None;
        }
        let u64_at = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&body[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&body[24..56]);
        let mut records_digest = [0u8; 32];
        records_digest.copy_from_slice(&body[56..88]);
        Some(Trailer {
            records: u64_at(0),
            streams: u64_at(8),
            bytes: u64_at(16),
            digest,
            records_digest,
        })
    }
}

/// The checksum of a frame: CRC32C over its kind byte, its length field and its body.
pub fn frame_crc(prefix: &[u8; FRAME_PREFIX_BYTES], body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(prefix), body)
}

/// Appends one whole frame to `out`.
pub fn encode_frame(kind: u8, body: &[u8], out: &mut Vec<u8>) {
    let mut prefix = [0u8; FRAME_PREFIX_BYTES];
    prefix[0] = kind;
    prefix[1..5].copy_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(body);
    out.extend_from_slice(&frame_crc(&prefix, body).to_le_bytes());
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
