//! Every bound the journal enforces, in one place. Units go last in names.

/// Longest stream name, in bytes.
pub const STREAM_NAME_BYTES_MAX: usize = 200;

/// Largest event payload (`data`) the journal accepts, in bytes. User JSON larger than this
/// belongs in an object store, not in a run's history.
pub const EVENT_DATA_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Most events one append may carry.
pub const APPEND_EVENTS_MAX: usize = 10_000;

/// Largest encoded record: header plus body (stream name, seq, data and framing fields).
/// A length field above this is treated as damage, never as an allocation request.
pub const RECORD_BYTES_MAX: usize = EVENT_DATA_BYTES_MAX + 1024;

/// Largest total size of one append's encoded records. An append is written in one batch,
/// and a batch never spans two segments, so a store whose segments are smaller than this
/// accepts appends only up to its segment size.
pub const APPEND_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The writer stops adding appends to a group-commit batch once it holds this many bytes;
/// bounds the writer's buffer and the latency of the batch's single write.
pub const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Appends in flight (queued or being committed). Callers beyond this wait (backpressure)
/// instead of growing the queue without bound.
pub const APPEND_QUEUE_MAX: usize = 4096;

/// Durable batches whose index entries may wait for the index. Beyond this the writer waits for
/// the indexer, which bounds the memory the in-memory overlay of those entries takes.
pub const INDEX_QUEUE_BATCHES_MAX: usize = 256;

/// Most records returned by one read call, whatever limit the caller asks for.
pub const READ_BATCH_MAX: usize = 10_000;

/// Open segment files kept for reading. Older handles are closed and reopened on demand.
pub const READ_HANDLES_MAX: usize = 32;

/// Default size of a segment file (preallocated and zero-filled before use).
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// Default size of the index's (redb's) page cache. redb's own default is 1 GiB, far above
/// Duro's memory budget; the index is small and mostly read through recent keys.
pub const INDEX_CACHE_BYTES_DEFAULT: u64 = 32 * 1024 * 1024;
