//! The record format: how one event is laid out in a segment file. docs/journal-format.md
//! is the specification; this module is its only implementation, and decoding arbitrary bytes
//! returns an error, never panics and never allocates more than [`RECORD_BYTES_MAX`].
//!
//! ```text
//! offset size field
//!  0     4    magic b"DURO"
//!  4     1    format version (1)
//!  5     1    flags (0 in version 1)
//!  6     2    event type tag, u16 little-endian
//!  8     4    body length in bytes, u32 little-endian
//! 12     4    CRC32C (Castagnoli), little-endian, over bytes 0..12 and then the body
//! 16     n    body: postcard encoding of RecordBody
//! ```

use serde::{Deserialize, Serialize};

use crate::event::{EventType, RecordedEvent};
use crate::ids::{Position, Seq, StreamName, Timestamp};
use crate::limits::RECORD_BYTES_MAX;

pub const MAGIC: [u8; 4] = *b"DURO";
pub const FORMAT_VERSION: u8 = 1;
pub const HEADER_BYTES: usize = 16;

/// One event together with the framing the log needs to recover atomically: which write
/// batch (group commit) it was part of. A batch is all-or-nothing after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub event: RecordedEvent,
    /// Position of the first record of this record's write batch.
    pub batch_first: Position,
    /// Number of records in that batch.
    pub batch_count: u32,
}

impl Record {
    /// Whether this record is the last of its write batch.
    pub fn ends_batch(&self) -> bool {
        self.event.position.0 + 1 == self.batch_first.0 + u64::from(self.batch_count)
    }
}

/// The body as postcard encodes it (format version 1). Field order is part of the format.
#[derive(Serialize, Deserialize)]
struct RecordBody<'a> {
    position: u64,
    batch_first: u64,
    batch_count: u32,
    seq: u64,
    recorded_at: i64,
    stream: &'a str,
    #[serde(with = "serde_bytes")]
    data: &'a [u8],
}

/// Why bytes are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record is truncated: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("bad magic {found:02x?}, expected {MAGIC:02x?}")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported format version {version}; this build reads version {FORMAT_VERSION}")]
    UnsupportedVersion { version: u8 },
    #[error("reserved flags {flags:#04x} are set")]
    ReservedFlags { flags: u8 },
    #[error("body length {length} exceeds the maximum {max}")]
    LengthTooLarge { length: u32, max: usize },
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("body does not decode: {reason}")]
    Body { reason: String },
}

impl Record {
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            position: self.event.position,
            batch_first: self.batch_first,
            batch_count: self.batch_count,
            stream: &self.event.stream,
            seq: self.event.seq,
            event_type: self.event.event_type,
            recorded_at: self.event.recorded_at,
            data: &self.event.data,
        }
    }
}

/// A record to encode, borrowing its stream name and data so the writer encodes without
/// copying payloads.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    pub position: Position,
    pub batch_first: Position,
    pub batch_count: u32,
    pub stream: &'a StreamName,
    pub seq: Seq,
    pub event_type: EventType,
    pub recorded_at: Timestamp,
    pub data: &'a [u8],
}

/// The most bytes a record for `stream_bytes` and `data_bytes` can take once encoded:
/// the header plus every postcard varint at its widest.
pub fn encoded_len_max(stream_bytes: usize, data_bytes: usize) -> usize {
    const VARINT_U64_BYTES_MAX: usize = 10;
    const VARINT_U32_BYTES_MAX: usize = 5;
    HEADER_BYTES
        + 4 * VARINT_U64_BYTES_MAX // position, batch_first, seq, recorded_at
        + VARINT_U32_BYTES_MAX // batch_count
        + VARINT_U32_BYTES_MAX + stream_bytes
        + VARINT_U64_BYTES_MAX + data_bytes
}

/// Appends the encoding of `record` to `out` and returns the number of bytes written.
pub fn encode_record(record: RecordRef<'_>, out: &mut Vec<u8>) -> usize {
    let body = RecordBody {
        position: record.position.0,
        batch_first: record.batch_first.0,
        batch_count: record.batch_count,
        seq: record.seq.0,
        recorded_at: record.recorded_at.0,
        stream: record.stream.as_str(),
        data: record.data,
    };
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_BYTES]);
    // Writing into a Vec cannot fail, and every body field is a plain value postcard encodes.
    if let Err(error) = postcard::to_io(&body, &mut *out) {
        unreachable!("postcard cannot fail on a RecordBody: {error}");
    }
    let body_len = out.len() - start - HEADER_BYTES;
    let header = &mut out[start..start + HEADER_BYTES];
    header[0..4].copy_from_slice(&MAGIC);
    header[4] = FORMAT_VERSION;
    header[5] = 0;
    header[6..8].copy_from_slice(&record.event_type.0.to_le_bytes());
    header[8..12].copy_from_slice(&(body_len as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&out[start..start + 12]),
        &out[start + HEADER_BYTES..],
    );
    out[start + 12..start + 16].copy_from_slice(&crc.to_le_bytes());
    HEADER_BYTES + body_len
}

/// The fields of a header that can be read before the body is available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub event_type: EventType,
    pub body_len: usize,
    pub crc: u32,
}

impl Header {
    pub fn record_len(&self) -> usize {
        HEADER_BYTES + self.body_len
    }
}

/// Whether `bytes` (at least a header's worth, or the rest of a segment) are all zero: the
/// state of a preallocated segment past its last record.
pub fn is_zeroed(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

/// Checks a header's fixed fields. Needs [`HEADER_BYTES`] bytes.
pub fn decode_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    if bytes.len() < HEADER_BYTES {
        return Err(DecodeError::Truncated {
            needed: HEADER_BYTES,
            available: bytes.len(),
        });
    }
    let mut found = [0u8; 4];
    found.copy_from_slice(&bytes[0..4]);
    if found != MAGIC {
        return Err(DecodeError::BadMagic { found });
    }
    if bytes[4] != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion { version: bytes[4] });
    }
    if bytes[5] != 0 {
        return Err(DecodeError::ReservedFlags { flags: bytes[5] });
    }
    let event_type = EventType(u16::from_le_bytes([bytes[6], bytes[7]]));
    let length = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if length as usize > RECORD_BYTES_MAX - HEADER_BYTES {
        return Err(DecodeError::LengthTooLarge {
            length,
            max: RECORD_BYTES_MAX - HEADER_BYTES,
        });
    }
    let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    Ok(Header {
        event_type,
        body_len: length as usize,
        crc,
    })
}

/// The total length a header announces, if its magic is right and the length is sane,
/// whatever its version and flags.
pub fn frame_len(header: &[u8]) -> Option<usize> {
    if header.len() < HEADER_BYTES || header[0..4] != MAGIC {
        return None;
    }
    let length = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
    (length <= RECORD_BYTES_MAX - HEADER_BYTES).then_some(HEADER_BYTES + length)
}

/// Whether `bytes` (a whole frame, as long as `frame_len` says) carry a matching checksum.
pub fn checksum_matches(bytes: &[u8]) -> bool {
    let Some(len) = frame_len(bytes) else {
        return false;
    };
    if bytes.len() < len {
        return false;
    }
    let stored = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    crc32c::crc32c_append(crc32c::crc32c(&bytes[0..12]), &bytes[HEADER_BYTES..len]) == stored
}

/// Decodes the record at the start of `bytes`. Returns it and its encoded length.
pub fn decode_record(bytes: &[u8]) -> Result<(Record, usize), DecodeError> {
    let header = decode_header(bytes)?;
    let len = header.record_len();
    if bytes.len() < len {
        return Err(DecodeError::Truncated {
            needed: len,
            available: bytes.len(),
        });
    }
    let body = &bytes[HEADER_BYTES..len];
    let computed = crc32c::crc32c_append(crc32c::crc32c(&bytes[0..12]), body);
    if computed != header.crc {
        return Err(DecodeError::ChecksumMismatch {
            stored: header.crc,
            computed,
        });
    }
    let record = decode_body(header.event_type, body)?;
    Ok((record, len))
}

fn decode_body(event_type: EventType, body: &[u8]) -> Result<Record, DecodeError> {
    let bad = |reason: String| DecodeError::Body { reason };
    let (decoded, rest): (RecordBody<'_>, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| bad(e.to_string()))?;
    if !rest.is_empty() {
        return Err(bad(format!("{} trailing bytes after the body", rest.len())));
    }
    let stream = StreamName::new(decoded.stream).map_err(|e| bad(e.to_string()))?;
    if decoded.position == 0 || decoded.seq == 0 {
        return Err(bad("position and seq start at 1".into()));
    }
    let batch_end = decoded
        .batch_first
        .checked_add(u64::from(decoded.batch_count));
    let in_batch = decoded.batch_first >= 1
        && decoded.batch_first <= decoded.position
        && batch_end.is_some_and(|end| decoded.position < end);
    if !in_batch {
        return Err(bad(format!(
            "position {} is outside its batch ({} records from {})",
            decoded.position, decoded.batch_count, decoded.batch_first
        )));
    }
    Ok(Record {
        event: RecordedEvent {
            position: Position(decoded.position),
            stream,
            seq: Seq(decoded.seq),
            event_type,
            recorded_at: Timestamp(decoded.recorded_at),
            data: decoded.data.to_vec(),
        },
        batch_first: Position(decoded.batch_first),
        batch_count: decoded.batch_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stream_name() -> impl Strategy<Value = StreamName> {
        "[a-z]{1,8}-[A-Za-z0-9_.:@-]{0,40}".prop_map(|s| StreamName::new(s).expect("valid"))
    }

    prop_compose! {
        fn arbitrary_record()(
            stream in stream_name(),
            seq in 1u64..u64::MAX,
            batch_first in 1u64..1 << 60,
            batch_count in 1u32..1000,
            index in 0u32..1000,
            event_type in any::<u16>(),
            recorded_at in any::<i64>(),
            data in proptest::collection::vec(any::<u8>(), 0..2048),
        ) -> Record {
            let index = index % batch_count;
            Record {
                event: RecordedEvent {
                    position: Position(batch_first + u64::from(index)),
                    stream,
                    seq: Seq(seq),
                    event_type: EventType(event_type),
                    recorded_at: Timestamp(recorded_at),
                    data,
                },
                batch_first: Position(batch_first),
                batch_count,
            }
        }
    }

    proptest! {
        #[test]
        fn any_record_round_trips(record in arbitrary_record(), prefix in 0usize..64) {
            let mut out = vec![0xAB; prefix];
            let len = encode_record(record.as_ref(), &mut out);
            prop_assert_eq!(out.len(), prefix + len);
            let (decoded, decoded_len) = decode_record(&out[prefix..]).expect("decodes");
            prop_assert_eq!(decoded_len, len);
            prop_assert_eq!(decoded, record);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_record(&bytes);
        }

        #[test]
        fn a_valid_header_with_arbitrary_body_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            event_type in any::<u16>(),
        ) {
            // Give the body a correct checksum so decoding reaches postcard.
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&MAGIC);
            bytes.push(FORMAT_VERSION);
            bytes.push(0);
            bytes.extend_from_slice(&event_type.to_le_bytes());
            bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
            let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[0..12]), &body);
            bytes.extend_from_slice(&crc.to_le_bytes());
            bytes.extend_from_slice(&body);
            let _ = decode_record(&bytes);
        }

        #[test]
        fn any_single_flipped_byte_is_detected(record in arbitrary_record(), which in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut out = Vec::new();
            let len = encode_record(record.as_ref(), &mut out);
            let at = which.index(len);
            out[at] ^= 1 << bit;
            prop_assert!(decode_record(&out).is_err());
        }
    }

    #[test]
    fn unknown_versions_and_truncation_are_typed_errors() {
        let record = Record {
            event: RecordedEvent {
                position: Position(7),
                stream: StreamName::new("run-1").expect("valid"),
                seq: Seq(3),
                event_type: EventType(2),
                recorded_at: Timestamp(1),
                data: b"hello".to_vec(),
            },
            batch_first: Position(7),
            batch_count: 1,
        };
        let mut out = Vec::new();
        let len = encode_record(record.as_ref(), &mut out);
        assert!(matches!(
            decode_record(&out[..len - 1]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut future = out.clone();
        future[4] = 9;
        assert_eq!(
            decode_record(&future),
            Err(DecodeError::UnsupportedVersion { version: 9 })
        );
        assert!(matches!(
            decode_record(&[0u8; 16]),
            Err(DecodeError::BadMagic { .. })
        ));
    }
}
