//! Writes an archive in one pass, in constant memory: the digest and counts are kept as the
//! records go by.

use std::io::Write;

use sha2::{Digest, Sha256};

use super::format::{
    encode_frame, ArchiveHeader, RecordBodyRef, Trailer, FORMAT_VERSION, HEADER_BODY_BYTES_MAX,
    KIND_HEADER, KIND_RECORD, KIND_TRAILER, MAGIC, RECORD_BODY_BYTES_MAX,
};
use super::{ArchiveError, Summary};
use crate::event::RecordedEvent;
use crate::ids::Position;

pub struct ArchiveWriter<W: Write> {
    out: W,
    header: ArchiveHeader,
    sha: Sha256,
    records_sha: Sha256,
    /// Bytes written so far.
    bytes: u64,
    records: u64,
    streams: u64,
    first_position: Option<Position>,
    last_position: Option<Position>,
    buf: Vec<u8>,
    body: Vec<u8>,
}

impl<W: Write> ArchiveWriter<W> {
    /// Writes the preamble and the header frame.
    pub fn new(out: W, header: ArchiveHeader) -> Result<ArchiveWriter<W>, ArchiveError> {
        if header.format_version != FORMAT_VERSION {
            return Err(ArchiveError::Unwritable {
                reason: format!("format version {}", header.format_version),
            });
        }
        let json = serde_json::to_vec(&header).map_err(|e| ArchiveError::Unwritable {
            reason: format!("the header: {e}"),
        })?;
        if json.len() > HEADER_BODY_BYTES_MAX {
            return Err(ArchiveError::Unwritable {
                reason: format!(
                    "a header of {} bytes; at most {HEADER_BODY_BYTES_MAX}",
                    json.len()
                ),
            });
        }
        let mut writer = ArchiveWriter {
            out,
            header,
            sha: Sha256::new(),
            records_sha: Sha256::new(),
            bytes: 0,
            records: 0,
            streams: 0,
            first_position: None,
            last_position: None,
            buf: Vec::with_capacity(64 * 1024),
            body: Vec::new(),
        };
        writer.buf.extend_from_slice(&MAGIC);
        writer.buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        encode_frame(KIND_HEADER, &json, &mut writer.buf);
        writer.emit()?;
        Ok(writer)
    }

    /// Writes one event. Events must come in strictly increasing position order.
    pub fn write(&mut self, event: &RecordedEvent) -> Result<(), ArchiveError> {
        if self
            .last_position
            .is_some_and(|last| event.position <= last)
        {
            return Err(ArchiveError::Unwritable {
                reason: format!(
                    "position {} after position {}: events must come in position order",
                    event.position.0,
                    self.last_position.map_or(0, |p| p.0)
                ),
            });
        }
        self.body.clear();
        postcard::to_io(&RecordBodyRef::of(event), &mut self.body).map_err(|e| {
            ArchiveError::Unwritable {
                reason: format!("position {}: {e}", event.position.0),
            }
        })?;
        if self.body.len() > RECORD_BODY_BYTES_MAX {
            return Err(ArchiveError::Unwritable {
                reason: format!(
                    "position {}: a record of {} bytes",
                    event.position.0,
                    self.body.len()
                ),
            });
        }
        let start = self.buf.len();
        encode_frame(KIND_RECORD, &self.body, &mut self.buf);
        self.records_sha.update(&self.buf[start..]);
        self.records += 1;
        if event.seq.0 == 1 {
            self.streams += 1;
        }
        self.first_position.get_or_insert(event.position);
        self.last_position = Some(event.position);
        if self.buf.len() >= 64 * 1024 {
            self.emit()?;
        }
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes written so far (some may still be buffered here).
    pub fn bytes(&self) -> u64 {
        self.bytes + self.buf.len() as u64
    }

    /// The destination, for example to take the bytes out of a `Vec<u8>` as they come.
    /// Call [`ArchiveWriter::flush`] first so that everything written is there.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Hands every byte written so far to the destination.
    pub fn flush(&mut self) -> Result<(), ArchiveError> {
        self.emit()?;
        self.out.flush().map_err(ArchiveError::Write)
    }

    /// Writes the trailer and flushes. The destination is flushed, not synced.
    pub fn finish(self) -> Result<Summary, ArchiveError> {
        self.finish_into_inner().map(|(summary, _)| summary)
    }

    /// [`ArchiveWriter::finish`], giving the destination back.
    pub fn finish_into_inner(mut self) -> Result<(Summary, W), ArchiveError> {
        self.emit()?;
        let digest: [u8; 32] = self.sha.clone().finalize().into();
        let records_digest: [u8; 32] = self.records_sha.clone().finalize().into();
        let trailer = Trailer {
            records: self.records,
            streams: self.streams,
            bytes: self.bytes,
            digest,
            records_digest,
        };
        let mut frame = Vec::new();
        encode_frame(KIND_TRAILER, &trailer.encode(), &mut frame);
        self.out.write_all(&frame).map_err(ArchiveError::Write)?;
        self.out.flush().map_err(ArchiveError::Write)?;
        let summary = Summary {
            header: self.header,
            records: self.records,
            streams: self.streams,
            bytes: self.bytes + frame.len() as u64,
            digest,
            records_digest,
            first_position: self.first_position,
            last_position: self.last_position,
        };
        Ok((summary, self.out))
    }

    /// Writes the buffered bytes out, feeding the digest.
    fn emit(&mut self) -> Result<(), ArchiveError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.sha.update(&self.buf);
        self.out.write_all(&self.buf).map_err(ArchiveError::Write)?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}
