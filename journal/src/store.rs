//! The `EventStore` trait: the one interface the engine and the API use to reach the
//! journal, whatever backs it (the embedded log, PostgreSQL, or the in-memory twin).
//!
//! Its shape maps onto a relational backend without changing callers: `append` is an insert
//! guarded by a unique (stream, seq) constraint and a global sequence; reads are range scans.

use async_trait::async_trait;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::event::{
    AppendResult, ExpectedVersion, ImportResult, NewEvent, RecordedEvent, StreamInfo,
};
use crate::ids::{Position, Seq, StreamName};
use crate::lease::Fence;

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` if its version satisfies `expected`, atomically: after
    /// any crash either all of them are in the journal or none is. Returns only once they are
    /// durable. Fails with [`StoreError::Conflict`] when the stream's version does not match.
    /// If the returned future is dropped before it completes, the append may still happen:
    /// callers that must know retry with [`ExpectedVersion::Exact`] and read the stream.
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError>;

    /// As [`EventStore::append`], written only while `fence` holds its lease (see
    /// [`crate::lease`]); else [`StoreError::Fenced`] and nothing is written. A store that only
    /// one process ever writes (the embedded and memory stores) has no other holder to fence
    /// out, and appends as [`EventStore::append`] does. Required, not defaulted: a wrapper
    /// that forgot to pass the fence on would silently unfence every append.
    async fn append_fenced(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        fence: &Fence,
    ) -> Result<AppendResult, StoreError>;

    /// Appends events read from another journal (a restore from an archive), as ONE atomic,
    /// durable batch, keeping each event's stream, seq, type, data and `recorded_at`. Each
    /// event's seq must be exactly its stream's version (counting the events before it in
    /// `events`) plus one, else nothing is written and the answer is
    /// [`StoreError::Conflict`] naming the stream, with `expected` = `Exact(seq - 1)`. Stamps
    /// are kept, except that one earlier than the store's last stamp is raised to it (stamps
    /// never go backwards in the log); later appends are stamped after them. The events get
    /// new positions, in order, after the store's last one: their `position` is ignored.
    /// Bounded like an append ([`check_import`]).
    async fn import(&self, events: Vec<RecordedEvent>) -> Result<ImportResult, StoreError>;

    /// Up to `limit` events of `stream` with seq >= `from`, in seq order.
    async fn read_stream(
        &self,
        stream: &StreamName,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events of the global log with position >= `from`, in position order.
    /// Only durable, committed events are returned.
    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The seq of the stream's last event, 0 if it has none.
    async fn stream_version(&self, stream: &StreamName) -> Result<u64, StoreError>;

    /// Streams whose name starts with `prefix`, in name order, after `after` if given.
    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&StreamName>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, StoreError>;

    /// The position of the last committed event, updated after every append: a subscriber
    /// learns of new events without polling.
    fn subscribe(&self) -> watch::Receiver<Position>;
}

/// The ids after `prefix` of every stream whose name starts with it, in name order, read a
/// page of `page` names at a time. For small families of streams (keys, connections): the
/// whole list is held in memory.
pub async fn stream_ids_with_prefix(
    store: &dyn EventStore,
    prefix: &str,
    page: usize,
) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::new();
    let mut after: Option<StreamName> = None;
    loop {
        let names = store
            .list_streams(prefix, after.as_ref(), page.max(1))
            .await?;
        let Some(last) = names.last() else {
            return Ok(ids);
        };
        after = Some(last.stream.clone());
        ids.extend(
            names
                .iter()
                .filter_map(|info| info.stream.as_str().strip_prefix(prefix))
                .map(str::to_owned),
        );
    }
}

/// Checks an append's shape before any backend touches storage, so every backend rejects the
/// same inputs with the same error.
pub fn check_append(stream: &StreamName, events: &[NewEvent]) -> Result<(), StoreError> {
    use crate::limits::{APPEND_EVENTS_MAX, EVENT_DATA_BYTES_MAX};
    let invalid = |reason: String| StoreError::InvalidAppend {
        stream: stream.clone(),
        reason,
    };
    if events.is_empty() {
        return Err(invalid("an append needs at least one event".into()));
    }
    if events.len() > APPEND_EVENTS_MAX {
        return Err(invalid(format!(
            "{} events in one append; at most {APPEND_EVENTS_MAX} are allowed",
            events.len()
        )));
    }
    if let Some((index, event)) = events
        .iter()
        .enumerate()
        .find(|(_, e)| e.data.len() > EVENT_DATA_BYTES_MAX)
    {
        return Err(invalid(format!(
            "event {index} has {} bytes of data; at most {EVENT_DATA_BYTES_MAX} are allowed",
            event.data.len()
        )));
    }
    Ok(())
}

/// Checks an import's shape before any backend touches storage: at most
/// `APPEND_EVENTS_MAX` events, each with data within `EVENT_DATA_BYTES_MAX` and a seq >= 1.
pub fn check_import(events: &[RecordedEvent]) -> Result<(), StoreError> {
    use crate::limits::{APPEND_EVENTS_MAX, EVENT_DATA_BYTES_MAX};
    let invalid = |event: &RecordedEvent, reason: String| StoreError::InvalidAppend {
        stream: event.stream.clone(),
        reason,
    };
    if let Some(first) = events.first() {
        if events.len() > APPEND_EVENTS_MAX {
            return Err(invalid(
                first,
                format!(
                    "{} events in one import; at most {APPEND_EVENTS_MAX} are allowed",
                    events.len()
                ),
            ));
        }
    }
    for (index, event) in events.iter().enumerate() {
        if event.data.len() > EVENT_DATA_BYTES_MAX {
            return Err(invalid(
                event,
                format!(
                    "imported event {index} has {} bytes of data; at most {EVENT_DATA_BYTES_MAX} are allowed",
                    event.data.len()
                ),
            ));
        }
        if event.seq.0 == 0 {
            return Err(invalid(event, format!("imported event {index} has seq 0")));
        }
    }
    Ok(())
}
