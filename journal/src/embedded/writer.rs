//! The writer: the one owner of the log's end. `commit` takes a group of appends, checks each
//! one's expected version, encodes them into one buffer, writes it with one `pwrite`, makes
//! it durable with one `fdatasync`, publishes the batch to readers and answers every caller.
//! Who calls `commit`, and when, is `group_commit`'s business.
//!
//! Being the only writer (it sits behind a mutex) is what makes optimistic concurrency
//! simple: versions are checked and seqs assigned in queue order, one group at a time.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::index::{Checkpoint, EventLocation, IndexEntry};
use super::indexer::IndexJob;
use super::segment::{create_segment, open_for_write, segment_path, Location};
use super::Shared;
use crate::clock::StampClock;
use crate::error::StoreError;
use crate::event::{AppendResult, ExpectedVersion, NewEvent, RecordedEvent};
use crate::ids::{Position, Seq, StreamName};
use crate::record::{encode_record, RecordRef};

pub struct AppendRequest {
    pub payload: Payload,
    /// The most bytes this append can take once encoded (see `record::encoded_len_max`).
    pub encoded_bytes_max: usize,
    pub reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

/// What an append request writes.
pub enum Payload {
    /// Events appended to one stream, stamped now.
    Append {
        stream: StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    },
    /// Events of another journal (`EventStore::import`), with their own streams, seqs and
    /// stamps. The reply's `first_seq` is the first event's seq.
    Import { events: Vec<RecordedEvent> },
}

pub struct Writer {
    pub dir: PathBuf,
    /// Size of new segments.
    pub segment_bytes: u64,
    /// Size of the segment being written, which an older configuration may have made
    /// smaller or larger than `segment_bytes`: writing past its preallocated end would make
    /// every fdatasync carry metadata.
    pub segment_capacity: u64,
    pub segment: File,
    pub next: Location,
    pub next_position: Position,
    pub clock: StampClock,
    pub shared: Arc<Shared>,
    /// Creation of the segment after the current one, running in the background so that a
    /// roll-over rarely waits for 64 MiB of zeros to be written.
    pub preparing: Option<JoinHandle<std::io::Result<()>>>,
    pub buf: Vec<u8>,
    /// Entries of durable batches, on their way to the index (bounded: backpressure).
    pub index_jobs: Option<std::sync::mpsc::SyncSender<IndexJob>>,
    pub indexer: Option<JoinHandle<()>>,
}

/// An append that passed its version check, with the coordinates it was given.
struct Admitted {
    request: AppendRequest,
    result: AppendResult,
}

impl Writer {
    /// Called once before the first batch.
    pub fn start(&mut self) {
        self.prepare_next_segment();
    }

    /// Called once after the last batch: lets the indexer write out what it holds, then
    /// makes the index durable.
    pub fn shutdown(&mut self) {
        self.index_jobs.take();
        if let Some(indexer) = self.indexer.take() {
            let _ = indexer.join();
        }
        if let Err(error) = self.shared.index.flush() {
            tracing::warn!(%error, "index flush at shutdown failed; it will catch up on open");
        }
        if let Some(preparing) = self.preparing.take() {
            let _ = preparing.join();
        }
    }

    /// Commits one group of appends: version checks, one write, one fdatasync, answers.
    pub fn commit(&mut self, batch: Vec<AppendRequest>) {
        if let Some(reason) = self.shared.poisoned() {
            for request in batch {
                let _ = request.reply.send(Err(StoreError::Poisoned {
                    reason: reason.clone(),
                }));
            }
            return;
        }
        let admitted = self.admit(batch);
        if admitted.is_empty() {
            return;
        }
        match self.write_batch(&admitted) {
            Ok(job) => {
                for Admitted { request, result } in admitted {
                    let _ = request.reply.send(Ok(result));
                }
                // After the replies: waiting here for a lagging indexer delays the next
                // batch, not this one.
                if let Some(index_jobs) = &self.index_jobs {
                    if index_jobs.send(job).is_err() {
                        self.shared.poison("the indexer thread stopped".into());
                    }
                }
            }
            Err(error) => {
                // The outcome of this batch is unknown (it may or may not be on disk), and
                // after a failed fdatasync the page cache can no longer be trusted: refuse
                // further appends until the store is reopened and re-reads the log.
                let reason = error.to_string();
                tracing::error!(%reason, "journal write failed; refusing further appends");
                self.shared.poison(reason.clone());
                for Admitted { request, .. } in admitted {
                    let _ = request.reply.send(Err(StoreError::Poisoned {
                        reason: reason.clone(),
                    }));
                }
            }
        }
    }

    /// Checks expected versions (and imported seqs) in queue order; answers the losers with
    /// `Conflict`.
    fn admit(&mut self, batch: Vec<AppendRequest>) -> Vec<Admitted> {
        let mut heads: HashMap<StreamName, u64> = HashMap::new();
        let mut next_position = self.next_position;
        let mut admitted = Vec::with_capacity(batch.len());
        for request in batch {
            let checked = match &request.payload {
                Payload::Append {
                    stream,
                    expected,
                    events,
                } => self.admit_append(&mut heads, stream, *expected, events.len() as u64),
                Payload::Import { events } => self.admit_import(&mut heads, events),
            };
            let (first_seq, count) = match checked {
                Ok(admitted) => admitted,
                Err(error) => {
                    let _ = request.reply.send(Err(error));
                    continue;
                }
            };
            let result = AppendResult {
                first_position: next_position,
                first_seq,
                count,
            };
            next_position = Position(next_position.0 + count);
            admitted.push(Admitted { request, result });
        }
        admitted
    }

    /// The version of `stream` as this group sees it so far.
    fn head(
        &self,
        heads: &HashMap<StreamName, u64>,
        stream: &StreamName,
    ) -> Result<u64, StoreError> {
        match heads.get(stream) {
            Some(version) => Ok(*version),
            None => self.shared.head(stream),
        }
    }

    fn admit_append(
        &self,
        heads: &mut HashMap<StreamName, u64>,
        stream: &StreamName,
        expected: ExpectedVersion,
        count: u64,
    ) -> Result<(Seq, u64), StoreError> {
        let actual = self.head(heads, stream)?;
        if !expected.admits(actual) {
            return Err(StoreError::Conflict {
                stream: stream.clone(),
                expected,
                actual,
            });
        }
        heads.insert(stream.clone(), actual + count);
        Ok((Seq(actual + 1), count))
    }

    /// Every imported event's seq must follow its stream's version; all or nothing.
    fn admit_import(
        &self,
        heads: &mut HashMap<StreamName, u64>,
        events: &[RecordedEvent],
    ) -> Result<(Seq, u64), StoreError> {
        let mut moved: HashMap<&StreamName, u64> = HashMap::new();
        for event in events {
            let actual = match moved.get(&event.stream) {
                Some(version) => *version,
                None => self.head(heads, &event.stream)?,
            };
            if event.seq.0 != actual + 1 {
                return Err(StoreError::Conflict {
                    stream: event.stream.clone(),
                    expected: ExpectedVersion::Exact(event.seq.0.saturating_sub(1)),
                    actual,
                });
            }
            moved.insert(&event.stream, event.seq.0);
        }
        for (stream, version) in moved {
            heads.insert(stream.clone(), version);
        }
        let first_seq = events.first().map_or(Seq(0), |e| e.seq);
        Ok((first_seq, events.len() as u64))
    }

    /// Encodes, writes and syncs one batch, and makes it visible to readers through the
    /// overlay. Returns the index work still to do.
    fn write_batch(&mut self, admitted: &[Admitted]) -> Result<IndexJob, StoreError> {
        let batch_first = self.next_position;
        let batch_count: u64 = admitted.iter().map(|a| a.result.count).sum();
        self.buf.clear();
        // Each record's stream, seq, position and (offset within the buffer, length), in order.
        let mut placed: Vec<(StreamName, Seq, Position, u64, u32)> =
            Vec::with_capacity(batch_count as usize);
        for Admitted { request, result } in admitted {
            match &request.payload {
                Payload::Append { stream, events, .. } => {
                    let recorded_at = self.clock.stamp();
                    for (i, event) in events.iter().enumerate() {
                        let position = Position(result.first_position.0 + i as u64);
                        let seq = Seq(result.first_seq.0 + i as u64);
                        let start = self.buf.len();
                        let len = encode_record(
                            RecordRef {
                                position,
                                batch_first,
                                batch_count: batch_count as u32,
                                stream,
                                seq,
                                event_type: event.event_type,
                                recorded_at,
                                data: &event.data,
                            },
                            &mut self.buf,
                        );
                        placed.push((stream.clone(), seq, position, start as u64, len as u32));
                    }
                }
                Payload::Import { events } => {
                    for (i, event) in events.iter().enumerate() {
                        let position = Position(result.first_position.0 + i as u64);
                        let recorded_at = self.clock.observe(event.recorded_at);
                        let start = self.buf.len();
                        let len = encode_record(
                            RecordRef {
                                position,
                                batch_first,
                                batch_count: batch_count as u32,
                                stream: &event.stream,
                                seq: event.seq,
                                event_type: event.event_type,
                                recorded_at,
                                data: &event.data,
                            },
                            &mut self.buf,
                        );
                        placed.push((
                            event.stream.clone(),
                            event.seq,
                            position,
                            start as u64,
                            len as u32,
                        ));
                    }
                }
            }
        }
        let recorded_at = self.clock.last();
        if self.next.offset + self.buf.len() as u64 > self.segment_capacity {
            self.roll()?;
        }
        let base = self.next;
        self.segment
            .write_all_at(&self.buf, base.offset)
            .map_err(|e| StoreError::io(format!("writing segment {}", base.segment), e))?;
        self.segment
            .sync_data()
            .map_err(|e| StoreError::io(format!("syncing segment {}", base.segment), e))?;

        let entries: Vec<IndexEntry> = placed
            .into_iter()
            .map(|(stream, seq, position, start, len)| IndexEntry {
                stream,
                seq,
                at: EventLocation {
                    position,
                    location: Location {
                        segment: base.segment,
                        offset: base.offset + start,
                    },
                    len,
                },
                starts_batch: position == batch_first,
            })
            .collect();
        let next = Location {
            segment: base.segment,
            offset: base.offset + self.buf.len() as u64,
        };
        let next_position = Position(batch_first.0 + batch_count);
        let checkpoint = Checkpoint {
            next_position,
            next,
            last_recorded_at: recorded_at,
            last: entries.last().map(|entry| entry.at),
        };
        self.shared.overlay.insert(&entries);
        self.next = next;
        self.next_position = next_position;
        self.shared
            .committed
            .send_replace(Position(next_position.0 - 1));
        Ok(IndexJob {
            entries,
            checkpoint,
        })
    }

    /// Moves on to the next segment; the current one keeps zeros past its last record.
    fn roll(&mut self) -> Result<(), StoreError> {
        let number = self.next.segment + 1;
        if let Some(preparing) = self.preparing.take() {
            match preparing.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, number, "preparing the next segment failed; retrying")
                }
                Err(_) => tracing::warn!(number, "segment preparation panicked; retrying"),
            }
        }
        let segment = if segment_path(&self.dir, number).exists() {
            open_for_write(&self.dir, number)
        } else {
            create_segment(&self.dir, number, self.segment_bytes)
        }
        .map_err(|e| StoreError::io(format!("opening segment {number}"), e))?;
        self.segment_capacity = segment
            .metadata()
            .map_err(|e| StoreError::io(format!("reading the size of segment {number}"), e))?
            .len();
        self.segment = segment;
        self.next = Location {
            segment: number,
            offset: 0,
        };
        self.prepare_next_segment();
        Ok(())
    }

    fn prepare_next_segment(&mut self) {
        let number = self.next.segment + 1;
        if segment_path(&self.dir, number).exists() {
            return;
        }
        let dir = self.dir.clone();
        let size = self.segment_bytes;
        self.preparing = Some(std::thread::spawn(move || {
            create_segment(&dir, number, size).map(|_| ())
        }));
    }
}
