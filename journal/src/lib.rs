//! Duro's journal: the append-only record of everything that happens.
//!
//! It owns events, their versioned binary encoding ([`record`]), the [`EventStore`] trait and
//! its backends: [`EmbeddedStore`] (a segmented log plus a redb index) and [`MemoryStore`]
//! (the in-memory twin for tests). It knows nothing of workflows, runs or HTTP.
//!
//! Invariants: an append returns only after its records are on stable storage; the events of
//! one append are all visible or none after any crash; a damaged record is reported with its
//! position and never skipped or truncated away.

pub mod archive;
pub mod clock;
pub mod conformance;
pub mod derived;
pub mod embedded;
pub mod error;
pub mod event;
pub mod ids;
pub mod lease;
pub mod limits;
pub mod memory;
pub mod record;
pub mod store;

pub use derived::{Rebuild, RebuildReason, Soundness};
pub use embedded::{EmbeddedConfig, EmbeddedStore};
pub use error::{LogPlace, StoreError};
pub use event::{
    AppendResult, EventType, ExpectedVersion, ImportResult, NewEvent, RecordedEvent, StreamInfo,
};
pub use ids::{Position, Seq, StreamName, StreamNameError, Timestamp};
pub use lease::{Claimed, Fence, FenceOp, Leases, SoleNode, FIRST_EPOCH};
pub use memory::MemoryStore;
pub use store::{stream_ids_with_prefix, EventStore};
