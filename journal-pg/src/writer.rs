//! Group commit: one task per store takes the appends queued while the previous batch was
//! committing and sends them to PostgreSQL as ONE `duro_append_batch` call, in autocommit.
//! Every append holds the database's append lock (decision 0009) until its commit is
//! flushed, so appends cannot overlap; batching lets one lock hold and one WAL flush serve
//! many of them. A lone append is a batch of one: one round trip and one commit.

use std::sync::Arc;

use journal::limits::BATCH_BYTES_MAX;
use journal::{Fence, FenceOp, Position, StoreError, StreamName};
use sqlx::postgres::PgPool;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{now_micros, publish, to_u64};

/// Most appends in one batch: bounds the statement's arrays and the time one call holds the
/// lock.
pub(crate) const BATCH_APPENDS_MAX: usize = 1024;

/// One row of `duro_append_batch`: the append's index, whether it was written, the stream's
/// version before it, its first position, whether its fence refused it.
type BatchRow = (i32, bool, i64, Option<i64>, bool);

pub(crate) struct AppendRequest {
    pub stream: StreamName,
    /// `None`: any version.
    pub expected: Option<i64>,
    pub types: Vec<i32>,
    pub datas: Vec<Vec<u8>>,
    /// The lease the append requires (or creates, or ends); `None`: none.
    pub fence: Option<Fence>,
    pub reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// What the database did with one append of a batch.
pub(crate) struct Outcome {
    /// The stream's version before the append (the actual version when it conflicted).
    pub version: u64,
    /// Where its first event landed; `None` when the expected version did not match or the
    /// fence refused it.
    pub first_position: Option<Position>,
    /// The append's fence refused it: its writer no longer holds the lease.
    pub fenced: bool,
}

pub(crate) async fn run(
    pool: PgPool,
    channel: String,
    committed: Arc<watch::Sender<Position>>,
    mut requests: mpsc::Receiver<AppendRequest>,
) {
    while let Some(first) = requests.recv().await {
        let mut bytes: usize = first.datas.iter().map(Vec::len).sum();
        let mut batch = vec![first];
        while batch.len() < BATCH_APPENDS_MAX && bytes < BATCH_BYTES_MAX {
            match requests.try_recv() {
                Ok(request) => {
                    bytes += request.datas.iter().map(Vec::len).sum::<usize>();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        // A caller that gave up before its append was sent is not written for.
        batch.retain(|request| !request.reply.is_closed());
        if !batch.is_empty() {
            commit(&pool, &channel, &committed, batch).await;
        }
    }
}

async fn commit(
    pool: &PgPool,
    channel: &str,
    committed: &watch::Sender<Position>,
    mut batch: Vec<AppendRequest>,
) {
    let streams: Vec<String> = batch.iter().map(|r| r.stream.as_str().to_owned()).collect();
    let expected: Vec<Option<i64>> = batch.iter().map(|r| r.expected).collect();
    let counts: Vec<i32> = batch
        .iter()
        .map(|r| i32::try_from(r.types.len()).unwrap_or(i32::MAX))
        .collect();
    let types: Vec<i32> = batch.iter().flat_map(|r| r.types.iter().copied()).collect();
    let fence_holders: Vec<Option<String>> = batch
        .iter()
        .map(|r| r.fence.as_ref().map(|f| f.holder.to_string()))
        .collect();
    let fence_epochs: Vec<i64> = batch
        .iter()
        .map(|r| {
            r.fence
                .as_ref()
                .map_or(0, |f| crate::to_i64_saturating(f.epoch))
        })
        .collect();
    let fence_ops: Vec<i16> = batch
        .iter()
        .map(|r| match r.fence.as_ref().map(|f| f.op) {
            None | Some(FenceOp::Hold) => 0,
            Some(FenceOp::Create) => 1,
            Some(FenceOp::End) => 2,
        })
        .collect();
    let fence_ttls: Vec<i64> = batch
        .iter()
        .map(|r| {
            r.fence
                .as_ref()
                .map_or(0, |f| crate::to_i64_saturating(f.ttl_ms))
        })
        .collect();
    let mut datas: Vec<Vec<u8>> = Vec::with_capacity(types.len());
    for request in &mut batch {
        datas.append(&mut request.datas);
    }
    let answer: Result<Vec<BatchRow>, sqlx::Error> = sqlx::query_as(
        "SELECT out_index, out_ok, out_version, out_first_position, out_fenced \
         FROM duro_append_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(streams)
    .bind(expected)
    .bind(counts)
    .bind(types)
    .bind(datas)
    .bind(now_micros())
    .bind(channel)
    .bind(fence_holders)
    .bind(fence_epochs)
    .bind(fence_ops)
    .bind(fence_ttls)
    .fetch_all(pool)
    .await;
    let rows = match answer {
        Ok(rows) if rows.len() == batch.len() => rows,
        Ok(rows) => {
            let reason = format!(
                "duro_append_batch answered {} rows for {} appends",
                rows.len(),
                batch.len()
            );
            fail_all(batch, |_| std::io::Error::other(reason.clone()));
            return;
        }
        Err(sqlx::Error::PoolClosed) => {
            for request in batch {
                let _ = request.reply.send(Err(StoreError::Closed));
            }
            return;
        }
        Err(error) => {
            // Every append of the batch shares its fate: none of them was written, or (when
            // the connection broke during COMMIT) all of them may have been.
            let kind = match &error {
                sqlx::Error::Io(io) => io.kind(),
                _ => std::io::ErrorKind::Other,
            };
            let reason = error.to_string();
            fail_all(batch, |_| std::io::Error::new(kind, reason.clone()));
            return;
        }
    };
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut last = None;
    for (_, ok, version, first_position, fenced) in rows_in_order(rows) {
        outcomes.push(outcome_of(ok, version, first_position, fenced));
    }
    for (request, outcome) in batch.iter().zip(&outcomes) {
        if let Ok(Outcome {
            first_position: Some(first),
            ..
        }) = outcome
        {
            last = Some(Position(first.0 + request.types.len() as u64 - 1));
        }
    }
    // Published before anyone is answered: once an append returns, subscribers have it.
    if let Some(last) = last {
        publish(committed, last);
    }
    for (request, outcome) in batch.into_iter().zip(outcomes) {
        let _ = request.reply.send(outcome);
    }
}

fn outcome_of(
    ok: bool,
    version: i64,
    first_position: Option<i64>,
    fenced: bool,
) -> Result<Outcome, StoreError> {
    let version = to_u64(version, "a stream version")?;
    let first_position = match (ok, first_position) {
        (true, Some(p)) => Some(Position(to_u64(p, "a position")?)),
        _ => None,
    };
    Ok(Outcome {
        version,
        first_position,
        fenced,
    })
}

/// The rows of the batch in append order (a function's rows come back in the order it
/// returned them, but sorting by index does not rely on it).
fn rows_in_order(mut rows: Vec<BatchRow>) -> Vec<BatchRow> {
    rows.sort_by_key(|row| row.0);
    rows
}

fn fail_all(batch: Vec<AppendRequest>, error: impl Fn(&StreamName) -> std::io::Error) {
    for request in batch {
        let failure = StoreError::io(
            format!("appending to {} in PostgreSQL", request.stream),
            error(&request.stream),
        );
        let _ = request.reply.send(Err(failure));
    }
}
