//! Idempotency keys: `(workflow, key)` names the first run started with it for 24 hours.
//!
//! Each key is a stream, `idem-{workflow}-{sha256(key)}`, of claims. Starting a run appends a
//! claim expecting the stream to be as last read, so of concurrent starts exactly one claim
//! lands and every other start reads the winner's run id: optimistic concurrency does the
//! arbitration, on any backend.

use std::sync::Arc;

use journal::{EventStore, EventType, ExpectedVersion, NewEvent, Seq, StoreError, StreamName};
use sha2::{Digest, Sha256};

mod wire;

/// How long a key keeps naming its run.
pub const KEY_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest idempotency key accepted, in bytes.
pub const KEY_BYTES_MAX: usize = 255;
const CLAIM_TAG: EventType = EventType(300);

/// A claim of a key for a run; its bytes are `wire`'s.
#[derive(Debug, PartialEq)]
struct Claim {
    run_id: String,
    claimed_at_ms: i64,
}

/// The outcome of claiming a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Claimed {
    /// This start owns the key: start `run_id`.
    New,
    /// An earlier start owns it: its run.
    Existing { run_id: String },
}

pub fn key_stream(workflow_id: &str, key: &str) -> Result<StreamName, StoreError> {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    StreamName::new(format!("idem-{workflow_id}-{hex}")).map_err(|e| StoreError::InvalidAppend {
        stream: StreamName::new("idem").unwrap_or_else(|_| unreachable!("a valid name")),
        reason: e.to_string(),
    })
}

/// The run a claim younger than the TTL names, with the stream's version as read.
async fn current(
    store: &Arc<dyn EventStore>,
    stream: &StreamName,
    now_ms: i64,
) -> Result<(Option<String>, u64), StoreError> {
    let version = store.stream_version(stream).await?;
    if version == 0 {
        return Ok((None, 0));
    }
    let last = store.read_stream(stream, Seq(version), 1).await?;
    let Some(event) = last.first() else {
        return Ok((None, version));
    };
    let claim = wire::IDEMPOTENCY_CLAIMS
        .decode(event.event_type, &event.data)
        .map_err(|e| StoreError::Index {
            context: format!("reading idempotency claim {stream}"),
            message: e.to_string(),
        })?;
    let live = now_ms - claim.claimed_at_ms < KEY_TTL_MS;
    Ok((live.then_some(claim.run_id), version))
}

/// The run `key`'s live claim names, if any, without claiming anything.
pub async fn lookup(
    store: &Arc<dyn EventStore>,
    stream: &StreamName,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    Ok(current(store, stream, now_ms).await?.0)
}

/// Claims `key` for `run_id`, unless a claim younger than the TTL exists.
pub async fn claim(
    store: &Arc<dyn EventStore>,
    stream: &StreamName,
    run_id: &str,
    now_ms: i64,
) -> Result<Claimed, StoreError> {
    loop {
        let (existing, version) = current(store, stream, now_ms).await?;
        if let Some(run_id) = existing {
            return Ok(Claimed::Existing { run_id });
        }
        let claim = Claim {
            run_id: run_id.to_owned(),
            claimed_at_ms: now_ms,
        };
        let data = wire::encode_claim(&claim);
        match store
            .append(
                stream,
                ExpectedVersion::Exact(version),
                vec![NewEvent::new(CLAIM_TAG, data)],
            )
            .await
        {
            Ok(_) => return Ok(Claimed::New),
            // Another start claimed it first: read its claim.
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other),
        }
    }
}
