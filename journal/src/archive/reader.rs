//! Reads an archive in one pass, in constant memory, checking every frame's CRC32C, every
//! record, the order of positions, and at the end the trailer's counts and digest and that
//! nothing follows it. Never panics and never allocates more than one frame's bound,
//! whatever the input.

use std::io::{BufReader, Read};

use sha2::{Digest, Sha256};

use super::format::{
    decode_record_body, frame_crc, ArchiveHeader, Trailer, FORMAT_VERSION, FRAME_PREFIX_BYTES,
    HEADER_BODY_BYTES_MAX, KIND_HEADER, KIND_RECORD, KIND_TRAILER, MAGIC, PREAMBLE_BYTES,
    RECORD_BODY_BYTES_MAX, TRAILER_BODY_BYTES,
};
use super::{ArchiveError, Summary};
use crate::event::RecordedEvent;
use crate::ids::Position;

pub struct ArchiveReader<R: Read> {
    input: BufReader<R>,
    header: ArchiveHeader,
    sha: Sha256,
    records_sha: Sha256,
    /// Bytes consumed so far.
    offset: u64,
    records: u64,
    streams: u64,
    first_position: Option<Position>,
    last_position: Option<Position>,
    body: Vec<u8>,
    state: State,
}

enum State {
    Reading,
    Done(Box<Summary>),
    Failed,
}

/// One frame read whole, its CRC checked: its kind and where it starts.
struct Frame {
    kind: u8,
    offset: u64,
}

impl<R: Read> ArchiveReader<R> {
    /// Reads and checks the preamble and the header.
    pub fn new(input: R) -> Result<ArchiveReader<R>, ArchiveError> {
        let mut reader = ArchiveReader {
            input: BufReader::with_capacity(256 * 1024, input),
            header: ArchiveHeader::new("", super::ArchiveScope::All),
            sha: Sha256::new(),
            records_sha: Sha256::new(),
            offset: 0,
            records: 0,
            streams: 0,
            first_position: None,
            last_position: None,
            body: Vec::new(),
            state: State::Reading,
        };
        let mut preamble = [0u8; PREAMBLE_BYTES as usize];
        let got = reader.fill(&mut preamble)?;
        if got < MAGIC.len() || preamble[..MAGIC.len()] != MAGIC {
            return Err(ArchiveError::BadMagic);
        }
        if got < preamble.len() {
            return Err(ArchiveError::Truncated {
                offset: got as u64,
                record: 1,
            });
        }
        let version = u16::from_le_bytes([preamble[8], preamble[9]]);
        if version != FORMAT_VERSION {
            return Err(ArchiveError::UnsupportedVersion { version });
        }
        reader.sha.update(preamble);
        reader.offset = PREAMBLE_BYTES;
        let frame = reader.frame()?;
        if frame.kind != KIND_HEADER {
            return Err(ArchiveError::BadHeader {
                offset: frame.offset,
                reason: format!(
                    "the first frame is of kind 0x{:02x}, not the header",
                    frame.kind
                ),
            });
        }
        let header: ArchiveHeader =
            serde_json::from_slice(&reader.body).map_err(|e| ArchiveError::BadHeader {
                offset: frame.offset,
                reason: e.to_string(),
            })?;
        if header.format_version != FORMAT_VERSION {
            return Err(ArchiveError::BadHeader {
                offset: frame.offset,
                reason: format!(
                    "format version {} in the header, {FORMAT_VERSION} in the preamble",
                    header.format_version
                ),
            });
        }
        reader.header = header;
        Ok(reader)
    }

    pub fn header(&self) -> &ArchiveHeader {
        &self.header
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record, or `None` once the trailer has been read and checked and nothing
    /// follows it. After an error, every call fails.
    pub fn next_record(&mut self) -> Result<Option<RecordedEvent>, ArchiveError> {
        match self.state {
            State::Reading => {}
            State::Done(_) => return Ok(None),
            State::Failed => {
                return Err(ArchiveError::Read {
                    offset: self.offset,
                    source: std::io::Error::other("the archive failed to read earlier"),
                })
            }
        }
        match self.step() {
            Ok(found) => Ok(found),
            Err(error) => {
                self.state = State::Failed;
                Err(error)
            }
        }
    }

    /// Reads whatever records are left and returns the checked summary.
    pub fn finish(mut self) -> Result<Summary, ArchiveError> {
        while self.next_record()?.is_some() {}
        match self.state {
            State::Done(summary) => Ok(*summary),
            _ => Err(ArchiveError::Read {
                offset: self.offset,
                source: std::io::Error::other("the archive was not read to its end"),
            }),
        }
    }

    fn step(&mut self) -> Result<Option<RecordedEvent>, ArchiveError> {
        let record = self.records + 1;
        let frame = self.frame()?;
        match frame.kind {
            KIND_RECORD => {
                let event =
                    decode_record_body(&self.body).map_err(|reason| ArchiveError::BadRecord {
                        offset: frame.offset,
                        record,
                        reason,
                    })?;
                if let Some(last) = self.last_position.filter(|last| event.position <= *last) {
                    return Err(ArchiveError::BadRecord {
                        offset: frame.offset,
                        record,
                        reason: format!("position {} after position {}", event.position.0, last.0),
                    });
                }
                self.records = record;
                if event.seq.0 == 1 {
                    self.streams += 1;
                }
                self.first_position.get_or_insert(event.position);
                self.last_position = Some(event.position);
                Ok(Some(event))
            }
            KIND_TRAILER => {
                self.end(frame.offset)?;
                Ok(None)
            }
            KIND_HEADER => Err(ArchiveError::BadFrame {
                offset: frame.offset,
                record,
                reason: "a second header".into(),
            }),
            kind => Err(ArchiveError::BadFrame {
                offset: frame.offset,
                record,
                reason: format!("unknown frame kind 0x{kind:02x}"),
            }),
        }
    }

    /// Checks the trailer (already read, its CRC checked) and that nothing follows it.
    fn end(&mut self, at: u64) -> Result<(), ArchiveError> {
        let Some(trailer) = Trailer::decode(&self.body) else {
            return Err(ArchiveError::BadFrame {
                offset: at,
                record: self.records + 1,
                reason: format!("a trailer of {} bytes", self.body.len()),
            });
        };
        let counts = [
            ("records", trailer.records, self.records),
            ("streams", trailer.streams, self.streams),
            ("bytes before the trailer", trailer.bytes, at),
        ];
        for (what, expected, actual) in counts {
            if expected != actual {
                return Err(ArchiveError::CountMismatch {
                    offset: at,
                    what,
                    expected,
                    actual,
                });
            }
        }
        let digest: [u8; 32] = self.sha.clone().finalize().into();
        if digest != trailer.digest {
            return Err(ArchiveError::DigestMismatch {
                offset: at,
                what: "bytes before it",
            });
        }
        let records_digest: [u8; 32] = self.records_sha.clone().finalize().into();
        if records_digest != trailer.records_digest {
            return Err(ArchiveError::DigestMismatch {
                offset: at,
                what: "record frames",
            });
        }
        let end = self.offset;
        let trailing = std::io::copy(&mut self.input, &mut std::io::sink()).map_err(|source| {
            ArchiveError::Read {
                offset: end,
                source,
            }
        })?;
        if trailing > 0 {
            return Err(ArchiveError::TrailingBytes {
                offset: end,
                count: trailing,
            });
        }
        self.state = State::Done(Box::new(Summary {
            header: self.header.clone(),
            records: self.records,
            streams: self.streams,
            bytes: end,
            digest,
            records_digest,
            first_position: self.first_position,
            last_position: self.last_position,
        }));
        Ok(())
    }

    /// Reads one whole frame into `self.body` and checks its CRC. Every frame but the
    /// trailer goes into the digest.
    fn frame(&mut self) -> Result<Frame, ArchiveError> {
        let offset = self.offset;
        let record = self.records + 1;
        let truncated = ArchiveError::Truncated { offset, record };
        let mut prefix = [0u8; FRAME_PREFIX_BYTES];
        if self.fill(&mut prefix)? < prefix.len() {
            return Err(truncated);
        }
        let kind = prefix[0];
        let len = u32::from_le_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        let max = match kind {
            KIND_HEADER => HEADER_BODY_BYTES_MAX,
            KIND_RECORD => RECORD_BODY_BYTES_MAX,
            KIND_TRAILER => TRAILER_BODY_BYTES,
            _ => {
                return Err(ArchiveError::BadFrame {
                    offset,
                    record,
                    reason: format!("unknown frame kind 0x{kind:02x}"),
                })
            }
        };
        if len > max {
            return Err(ArchiveError::BadFrame {
                offset,
                record,
                reason: format!("a body of {len} bytes; at most {max} for this kind"),
            });
        }
        self.body.clear();
        let got = (&mut self.input)
            .take(len as u64)
            .read_to_end(&mut self.body)
            .map_err(|source| ArchiveError::Read {
                offset: offset + FRAME_PREFIX_BYTES as u64,
                source,
            })?;
        if got < len {
            return Err(truncated);
        }
        let mut crc = [0u8; 4];
        if self.fill(&mut crc)? < crc.len() {
            return Err(truncated);
        }
        if u32::from_le_bytes(crc) != frame_crc(&prefix, &self.body) {
            return Err(ArchiveError::CrcMismatch { offset, record });
        }
        if kind != KIND_TRAILER {
            self.sha.update(prefix);
            self.sha.update(&self.body);
            self.sha.update(crc);
        }
        if kind == KIND_RECORD {
            self.records_sha.update(prefix);
            self.records_sha.update(&self.body);
            self.records_sha.update(crc);
        }
        self.offset = offset + (FRAME_PREFIX_BYTES + len + 4) as u64;
        Ok(Frame { kind, offset })
    }

    /// Reads until `buf` is full or the input ends; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, ArchiveError> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ArchiveError::Read {
                        offset: self.offset + got as u64,
                        source,
                    })
                }
            }
        }
        Ok(got)
    }
}

impl<R: Read> Iterator for ArchiveReader<R> {
    type Item = Result<RecordedEvent, ArchiveError>;

    /// Records, then `None` at the checked end; an error is yielded once, then `None`.
    fn next(&mut self) -> Option<Self::Item> {
        if matches!(self.state, State::Failed) {
            return None;
        }
        self.next_record().transpose()
    }
}
