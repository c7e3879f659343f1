//! Duro's journal in PostgreSQL: [`PgStore`] implements the same [`EventStore`] contract as
//! the embedded store and passes the same conformance suite (`journal::conformance`).
//!
//! Tables (migrations/0001_journal.sql): `journal_head` (one row: the last position and the
//! last stamp; the append lock), `journal_events` (the global log, unique on (stream, seq)),
//! `journal_streams` (each stream's version). Appends go through a group-commit task
//! (`writer`): the appends queued while one batch commits make the next batch, ONE call of the
//! SQL function `duro_append_batch`, which locks the head row `FOR UPDATE`, checks each
//! append's expected version, inserts the events after the head's position, moves the head and
//! notifies. Positions are therefore handed out in commit order: a reader that has seen
//! position P never later finds an event below P (decision 0009). An append returns once
//! PostgreSQL has committed it, which with `synchronous_commit` on (the default, and what the
//! store's sessions use) means its WAL is flushed to disk.
//!
//! Subscribers learn of local appends at once, and of other processes' appends through
//! LISTEN/NOTIFY (`pg_notify` in the append), with a poll of the head every second while the
//! listening connection is down.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use journal::limits::{APPEND_QUEUE_MAX, READ_BATCH_MAX};
use journal::store::{check_append, check_import};
use journal::{
    AppendResult, EventStore, EventType, ExpectedVersion, Fence, ImportResult, NewEvent, Position,
    RecordedEvent, Seq, StoreError, StreamInfo, StreamName, Timestamp,
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

mod leases;
mod writer;

pub use leases::PgLeases;

/// Lease pokes kept for a receiver that lags; past this it loses the oldest (its drivers then
/// find the change at their next turn).
const POKES_QUEUED_MAX: usize = 1024;

/// How often the head is read while the LISTEN connection is down, so subscribers still learn
/// of other processes' appends (late by up to this much).
const HEAD_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The longest schema name accepted: the notification channel is `duro_journal_{schema}` and
/// PostgreSQL truncates identifiers beyond 63 bytes.
const SCHEMA_BYTES_MAX: usize = 48;

/// How a [`PgStore`] connects.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Most connections the pool opens. The LISTEN connection comes on top of these.
    pub pool_size: u32,
    /// The schema that holds the journal's tables, created if missing; `None` uses the
    /// connection's default search path (normally `public`). Lowercase ASCII letters, digits
    /// and `_`, starting with a letter or `_`, at most 48 bytes.
    pub schema: Option<String>,
    /// How long an operation waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            schema: None,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// A session advisory lock ([`PgStore::try_exclusive`], [`PgStore::try_shared`]), released
/// when dropped.
pub struct ExclusiveLock {
    _connection: sqlx::PgConnection,
}

/// The journal in PostgreSQL. Several processes (nodes) may open the same database: appends
/// are serialized by the database, and each process's subscribers hear of all of them.
pub struct PgStore {
    pool: PgPool,
    /// The notification channel of this schema's appends.
    channel: String,
    /// The channel of lease pokes (`PgLeases::poke`), heard on the same LISTEN connection.
    poke_channel: String,
    /// The pokes heard, for `PgLeases::pokes`.
    pokes: broadcast::Sender<String>,
    committed: Arc<watch::Sender<Position>>,
    listener: JoinHandle<()>,
    /// The queue of the group-commit task (`writer`). Dropping the store closes it, and the
    /// task ends once it has answered what was queued.
    appends: mpsc::Sender<writer::AppendRequest>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // The LISTEN task loops forever and holds clones of the pools; without this it would
        // keep its connections (and itself) alive after the store is gone. The writer task
        // ends by itself once `appends` is dropped and its queue is answered.
        self.listener.abort();
    }
}

/// Maps a database error into the journal's errors. PostgreSQL is reached over the network,
/// so its failures are I/O failures of the store, with sqlx's error as the source.
pub(crate) fn db_error(context: impl Into<String>, error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::PoolClosed => StoreError::Closed,
        sqlx::Error::Io(source) => StoreError::io(context, source),
        other => StoreError::io(context, std::io::Error::other(other)),
    }
}

/// A value read from the database that the schema's checks should have excluded.
fn bad_row(context: String) -> StoreError {
    StoreError::io(
        "reading the journal from PostgreSQL",
        std::io::Error::new(std::io::ErrorKind::InvalidData, context),
    )
}

pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| bad_row(format!("{what} is negative ({value})")))
}

/// Positions and seqs travel as bigint; one beyond i64 can never be in the table.
pub(crate) fn to_i64_saturating(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn check_schema(schema: &str) -> Result<(), StoreError> {
    let starts_well = schema
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let all_allowed = schema
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if starts_well && all_allowed && schema.len() <= SCHEMA_BYTES_MAX {
        Ok(())
    } else {
        Err(StoreError::io(
            "opening the PostgreSQL journal",
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "schema {schema:?} must be 1-{SCHEMA_BYTES_MAX} lowercase ASCII letters, digits or _, not starting with a digit"
                ),
            ),
        ))
    }
}

type EventRow = (i64, String, i64, i32, i64, Vec<u8>);

const EVENT_COLUMNS: &str = "position, stream, seq, event_type, recorded_at, data";

fn event_from_row(row: EventRow) -> Result<RecordedEvent, StoreError> {
    let (position, stream, seq, event_type, recorded_at, data) = row;
    let position = to_u64(position, "a position")?;
    let stream = StreamName::new(stream).map_err(|e| {
        bad_row(format!(
            "the stream name of the event at position {position}: {e}"
        ))
    })?;
    let event_type = u16::try_from(event_type).map_err(|_| {
        bad_row(format!(
            "the event type at position {position} is {event_type}"
        ))
    })?;
    Ok(RecordedEvent {
        position: Position(position),
        stream,
        seq: Seq(to_u64(seq, "a seq")?),
        event_type: EventType(event_type),
        recorded_at: Timestamp(recorded_at),
        data,
    })
}

/// The bounds `[low, high)` of the names that start with `prefix`, in byte order; `None` when
/// no stream name can start with it. Listing by range, not `LIKE`, leaves no wildcard to
/// escape (`_` and `%` are ordinary characters here) and uses the primary key's index even
/// in a generic plan of the prepared statement.
pub(crate) fn prefix_range(prefix: &str) -> Option<(String, String)> {
    // Stream names are ASCII letters, digits and -_.:@; a prefix with any other character
    // matches none, and for one without, the upper bound (last byte + 1) is ASCII too.
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
    {
        return None;
    }
    match prefix.as_bytes().split_last() {
        // Every name is below "{": its first byte is at most 'z'.
        None => Some((String::new(), "{".to_owned())),
        Some((last, init)) => {
            let mut high = init.to_vec();
            high.push(last + 1);
            Some((prefix.to_owned(), String::from_utf8(high).ok()?))
        }
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`), creates the schema
    /// if asked, applies the migrations, and starts listening for other processes' appends.
    pub async fn connect(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        if let Some(schema) = &options.schema {
            check_schema(schema)?;
        }
        let connect_options = PgConnectOptions::from_str(url)
            .map_err(|e| db_error("parsing the PostgreSQL URL", e))?
            .application_name("duro");
        if let Some(schema) = &options.schema {
            // Before the pool: its connections put the schema on their search path, and the
            // migrations run in it.
            let mut conn = sqlx::PgConnection::connect_with(&connect_options)
                .await
                .map_err(|e| db_error("connecting to PostgreSQL", e))?;
            conn.execute(AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .await
            .map_err(|e| db_error(format!("creating schema {schema}"), e))?;
            conn.close()
                .await
                .map_err(|e| db_error("closing the setup connection", e))?;
        }
        let search_path = options.schema.as_ref().map(|s| format!("\"{s}\""));
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    // An append is acknowledged at COMMIT, so it must be durable then: a
                    // server configured with synchronous_commit = off is overridden for
                    // the journal's sessions (stronger settings are kept).
                    sqlx::query(
                        "SELECT set_config('synchronous_commit', 'on', false) \
                         WHERE current_setting('synchronous_commit') = 'off'",
                    )
                    .execute(&mut *conn)
                    .await?;
                    if let Some(search_path) = search_path {
                        sqlx::query("SELECT set_config('search_path', $1, false)")
                            .bind(search_path)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect_options.clone())
            .await
            .map_err(|e| db_error("connecting to PostgreSQL", e))?;
        // A pool of its own for the LISTEN connection, which holds its connection for good:
        // taken from the main pool, it would leave a pool of one with nothing for appends.
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect_options);
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| {
                StoreError::io(
                    "applying the journal's migrations to PostgreSQL",
                    std::io::Error::other(e),
                )
            })?;
        let channel = match &options.schema {
            None => "duro_journal".to_owned(),
            Some(schema) => format!("duro_journal_{schema}"),
        };
        let head = read_head(&pool).await?;
        let committed = Arc::new(watch::Sender::new(head));
        let poke_channel = channel.replacen("duro_journal", "duro_poke", 1);
        let (pokes, _) = broadcast::channel(POKES_QUEUED_MAX);
        let listener = tokio::spawn(follow_other_appends(
            pool.clone(),
            listen_pool,
            [channel.clone(), poke_channel.clone()],
            committed.clone(),
            pokes.clone(),
        ));
        let (appends, queue) = mpsc::channel(APPEND_QUEUE_MAX);
        tokio::spawn(writer::run(
            pool.clone(),
            channel.clone(),
            committed.clone(),
            queue,
        ));
        Ok(PgStore {
            pool,
            channel,
            poke_channel,
            pokes,
            committed,
            listener,
            appends,
        })
    }

    /// The store's pool, for tables that live beside the journal (leases, later).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Takes PostgreSQL's session advisory lock `key` on a connection of its own, held until
    /// the returned guard is dropped or the process dies (the server then ends the session
    /// and frees the lock: a SIGKILLed holder never leaves it stuck). `Ok(None)` when another
    /// session holds it. `duro journal import` takes it, so that nothing else writes while it
    /// imports.
    pub async fn try_exclusive(&self, key: i64) -> Result<Option<ExclusiveLock>, StoreError> {
        self.try_advisory_lock(key, "SELECT pg_try_advisory_lock($1)")
            .await
    }

    /// As [`PgStore::try_exclusive`], shared: any number of sessions hold it together, and
    /// none while one holds it exclusively. Every `duro serve` holds it shared, so an import
    /// (exclusive) never runs beside a server.
    pub async fn try_shared(&self, key: i64) -> Result<Option<ExclusiveLock>, StoreError> {
        self.try_advisory_lock(key, "SELECT pg_try_advisory_lock_shared($1)")
            .await
    }

    async fn try_advisory_lock(
        &self,
        key: i64,
        statement: &'static str,
    ) -> Result<Option<ExclusiveLock>, StoreError> {
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_error("taking a connection for the advisory lock", e))?
            .detach();
        let locked: bool = sqlx::query_scalar(statement)
            .bind(key)
            .fetch_one(&mut connection)
            .await
            .map_err(|e| db_error("taking the advisory lock", e))?;
        Ok(locked.then_some(ExclusiveLock {
            _connection: connection,
        }))
    }

    /// The value of the shared setting `name`: `value` if none was set yet (it is now), else
    /// the one set first. Nodes that must agree (on the fingerprint of the key sealing
    /// connection secrets, say) compare theirs with the answer.
    pub async fn settle(&self, name: &str, value: &str) -> Result<String, StoreError> {
        // Two nodes setting it at once: the loser's statement can see neither its own insert
        // (refused) nor the winner's row (not in its snapshot); asked again, it sees it.
        for _ in 0..3 {
            let settled: Option<String> = sqlx::query_scalar(
                "WITH new AS (INSERT INTO duro_settings (name, value) VALUES ($1, $2) \
                              ON CONFLICT (name) DO NOTHING RETURNING value) \
                 SELECT value FROM new UNION ALL \
                 SELECT value FROM duro_settings WHERE name = $1 LIMIT 1",
            )
            .bind(name)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(format!("reading the shared setting {name}"), e))?;
            if let Some(settled) = settled {
                return Ok(settled);
            }
        }
        Err(bad_row(format!("the shared setting {name} cannot be read")))
    }

    fn publish(&self, position: Position) {
        publish(&self.committed, position);
    }
}

/// Raises the committed position to `position`; never lowers it (a notification of an earlier
/// append can arrive after a later local one was published).
fn publish(committed: &watch::Sender<Position>, position: Position) {
    committed.send_if_modified(|current| {
        if position > *current {
            *current = position;
            true
        } else {
            false
        }
    });
}

async fn read_head(pool: &PgPool) -> Result<Position, StoreError> {
    let last: i64 = sqlx::query_scalar("SELECT last_position FROM journal_head WHERE id")
        .fetch_one(pool)
        .await
        .map_err(|e| db_error("reading the journal's head", e))?;
    Ok(Position(to_u64(last, "the head's position")?))
}

/// Publishes the positions other processes append, as their notifications arrive, and passes
/// lease pokes on to `pokes` (one LISTEN connection for both: `channels` = [appends, pokes]).
/// While the LISTEN connection is down, reads the head every second instead; after it
/// reconnects, reads the head once to catch up on the notifications sent in between (pokes
/// sent meanwhile are lost: their drivers find the change at their next turn).
async fn follow_other_appends(
    pool: PgPool,
    listen_pool: PgPool,
    channels: [String; 2],
    committed: Arc<watch::Sender<Position>>,
    pokes: broadcast::Sender<String>,
) {
    let mut listener: Option<PgListener> = None;
    loop {
        let Some(active) = listener.as_mut() else {
            match listen(&listen_pool, &channels).await {
                Ok(fresh) => {
                    listener = Some(fresh);
                    poll_head(&pool, &committed).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "journal: cannot LISTEN for appends; polling the head");
                    poll_head(&pool, &committed).await;
                    tokio::time::sleep(HEAD_POLL_INTERVAL).await;
                }
            }
            continue;
        };
        match active.try_recv().await {
            Ok(Some(notification)) if notification.channel() == channels[1] => {
                let _ = pokes.send(notification.payload().to_owned());
            }
            Ok(Some(notification)) => match notification.payload().parse::<u64>() {
                Ok(position) => publish(&committed, Position(position)),
                Err(_) => tracing::warn!(
                    payload = notification.payload(),
                    "journal: ignoring a malformed append notification"
                ),
            },
            Ok(None) => {
                // Connection lost: notifications sent until the next LISTEN are gone, so
                // start over (LISTEN, then read the head).
                tracing::warn!("journal: the LISTEN connection dropped; reconnecting");
                listener = None;
            }
            Err(error) => {
                tracing::warn!(%error, "journal: LISTEN failed; reconnecting");
                listener = None;
                tokio::time::sleep(HEAD_POLL_INTERVAL).await;
            }
        }
    }
}

async fn listen(pool: &PgPool, channels: &[String; 2]) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Reconnection is ours (above), so that every reconnection is followed by a head read.
    listener.eager_reconnect(false);
    listener
        .listen_all(channels.iter().map(String::as_str))
        .await?;
    Ok(listener)
}

async fn poll_head(pool: &PgPool, committed: &watch::Sender<Position>) {
    match read_head(pool).await {
        Ok(head) => publish(committed, head),
        Err(error) => tracing::warn!(%error, "journal: cannot read the head"),
    }
}

impl PgStore {
    async fn append_with(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        fence: Option<Fence>,
    ) -> Result<AppendResult, StoreError> {
        check_append(stream, &events)?;
        let expected_version: Option<i64> = match expected {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            // No stream reaches a version beyond i64: such an expectation always conflicts.
            ExpectedVersion::Exact(version) => Some(i64::try_from(version).unwrap_or(-1)),
        };
        let count = events.len() as u64;
        let (types, datas): (Vec<i32>, Vec<Vec<u8>>) = events
            .into_iter()
            .map(|e| (i32::from(e.event_type.0), e.data))
            .unzip();
        let (reply, answer) = oneshot::channel();
        // Bounded: callers beyond APPEND_QUEUE_MAX wait here (backpressure).
        self.appends
            .send(writer::AppendRequest {
                stream: stream.clone(),
                expected: expected_version,
                types,
                datas,
                fence: fence.clone(),
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        let outcome = answer.await.map_err(|_| StoreError::Closed)??;
        if outcome.fenced {
            // Only an append with a fence can be refused by one.
            let (holder, epoch) =
                fence.map_or((String::new(), 0), |f| (f.holder.to_string(), f.epoch));
            return Err(StoreError::Fenced {
                stream: stream.clone(),
                holder,
                epoch,
            });
        }
        let Some(first_position) = outcome.first_position else {
            return Err(StoreError::Conflict {
                stream: stream.clone(),
                expected,
                actual: outcome.version,
            });
        };
        Ok(AppendResult {
            first_position,
            first_seq: Seq(outcome.version + 1),
            count,
        })
    }
}

#[async_trait]
impl EventStore for PgStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.append_with(stream, expected, events, None).await
    }

    async fn append_fenced(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        fence: &Fence,
    ) -> Result<AppendResult, StoreError> {
        self.append_with(stream, expected, events, Some(fence.clone()))
            .await
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<ImportResult, StoreError> {
        check_import(&events)?;
        let context = "importing events into PostgreSQL";
        let mut tx = self.pool.begin().await.map_err(|e| db_error(context, e))?;
        // The same append lock as `duro_append_batch`: the import's positions follow every
        // committed append, and no append interleaves with it.
        let (last_position, last_stamp): (i64, i64) = sqlx::query_as(
            "SELECT last_position, last_stamp FROM journal_head WHERE id FOR UPDATE",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error(context, e))?;
        let last_position = to_u64(last_position, "the head's position")?;
        let first_position = Position(last_position + 1);
        if events.is_empty() {
            return Ok(ImportResult {
                first_position,
                count: 0,
            });
        }
        let names: Vec<&str> = events
            .iter()
            .map(|e| e.stream.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let versions: HashMap<String, i64> =
            sqlx::query_as("SELECT stream, version FROM journal_streams WHERE stream = ANY($1)")
                .bind(&names)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| db_error(context, e))?
                .into_iter()
                .collect();
        // Check every seq before writing anything: an import is all or nothing.
        let mut heads: BTreeMap<&StreamName, u64> = BTreeMap::new();
        for event in &events {
            let actual = match heads.get(&event.stream) {
                Some(version) => *version,
                None => to_u64(
                    versions.get(event.stream.as_str()).copied().unwrap_or(0),
                    "a stream version",
                )?,
            };
            if event.seq.0 != actual + 1 {
                return Err(StoreError::Conflict {
                    stream: event.stream.clone(),
                    expected: ExpectedVersion::Exact(event.seq.0 - 1),
                    actual,
                });
            }
            heads.insert(&event.stream, event.seq.0);
        }
        let count = events.len() as u64;
        let mut stamp = last_stamp;
        let mut positions = Vec::with_capacity(events.len());
        let mut streams = Vec::with_capacity(events.len());
        let mut seqs = Vec::with_capacity(events.len());
        let mut types = Vec::with_capacity(events.len());
        let mut stamps = Vec::with_capacity(events.len());
        let mut datas = Vec::with_capacity(events.len());
        let stream_heads: (Vec<String>, Vec<i64>) = heads
            .iter()
            .map(|(name, seq)| (name.as_str().to_owned(), to_i64_saturating(*seq)))
            .unzip();
        for (i, event) in events.into_iter().enumerate() {
            // Kept, unless earlier than the last stamp: stamps never go backwards.
            stamp = stamp.max(event.recorded_at.0);
            positions.push(to_i64_saturating(last_position + 1 + i as u64));
            streams.push(event.stream.as_str().to_owned());
            seqs.push(to_i64_saturating(event.seq.0));
            types.push(i32::from(event.event_type.0));
            stamps.push(stamp);
            datas.push(event.data);
        }
        sqlx::query(
            "INSERT INTO journal_events (position, stream, seq, event_type, recorded_at, data) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::integer[], \
                                  $5::bigint[], $6::bytea[])",
        )
        .bind(positions)
        .bind(streams)
        .bind(seqs)
        .bind(types)
        .bind(stamps)
        .bind(datas)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(context, e))?;
        sqlx::query(
            "INSERT INTO journal_streams (stream, version) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[]) \
             ON CONFLICT (stream) DO UPDATE SET version = excluded.version",
        )
        .bind(stream_heads.0)
        .bind(stream_heads.1)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(context, e))?;
        let last = last_position + count;
        sqlx::query("UPDATE journal_head SET last_position = $1, last_stamp = $2 WHERE id")
            .bind(to_i64_saturating(last))
            .bind(stamp)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(context, e))?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(last.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(context, e))?;
        tx.commit().await.map_err(|e| db_error(context, e))?;
        self.publish(Position(last));
        Ok(ImportResult {
            first_position,
            count,
        })
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = limit.min(READ_BATCH_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<EventRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM journal_events \
             WHERE stream = $1 AND seq >= $2 ORDER BY seq LIMIT $3"
        )))
        .bind(stream.as_str())
        .bind(to_i64_saturating(from.0))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(format!("reading stream {stream} from PostgreSQL"), e))?;
        rows.into_iter().map(event_from_row).collect()
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = limit.min(READ_BATCH_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        // One statement, one snapshot: it holds only committed events, and (decision 0009)
        // every event below the highest position it holds.
        let rows: Vec<EventRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM journal_events \
             WHERE position >= $1 ORDER BY position LIMIT $2"
        )))
        .bind(to_i64_saturating(from.0))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("reading the global log from PostgreSQL", e))?;
        rows.into_iter().map(event_from_row).collect()
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<u64, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM journal_streams WHERE stream = $1")
                .bind(stream.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| {
                    db_error(
                        format!("reading the version of {stream} from PostgreSQL"),
                        e,
                    )
                })?;
        to_u64(version.unwrap_or(0), "a stream version")
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&StreamName>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, StoreError> {
        let limit = limit.min(READ_BATCH_MAX);
        let Some((low, high)) = prefix_range(prefix) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        // "" is below every name (names are never empty), so it stands for "no `after`".
        let after = after.map_or("", |a| a.as_str());
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT stream, version FROM journal_streams \
             WHERE stream >= $1 AND stream < $2 AND stream > $3 ORDER BY stream LIMIT $4",
        )
        .bind(low)
        .bind(high)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("listing streams in PostgreSQL", e))?;
        rows.into_iter()
            .map(|(name, version)| {
                Ok(StreamInfo {
                    stream: StreamName::new(name)
                        .map_err(|e| bad_row(format!("a stream name: {e}")))?,
                    version: to_u64(version, "a stream version")?,
                })
            })
            .collect()
    }

    fn subscribe(&self) -> watch::Receiver<Position> {
        self.committed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges_cover_exactly_the_names_with_the_prefix() {
        assert_eq!(
            prefix_range("run-"),
            Some(("run-".to_owned(), "run.".to_owned()))
        );
        assert_eq!(
            prefix_range("a_b"),
            Some(("a_b".to_owned(), "a_c".to_owned()))
        );
        assert_eq!(prefix_range(""), Some((String::new(), "{".to_owned())));
        assert_eq!(prefix_range("a%"), None, "no name holds %");
        assert_eq!(prefix_range("a\0"), None);
        assert_eq!(prefix_range("é"), None);
        // 'z' is the largest byte a name may hold; its successor '{' bounds it.
        assert_eq!(prefix_range("z"), Some(("z".to_owned(), "{".to_owned())));
    }

    #[test]
    fn schemas_are_plain_identifiers() {
        assert!(check_schema("duro").is_ok());
        assert!(check_schema("_t1").is_ok());
        assert!(check_schema("").is_err());
        assert!(check_schema("1abc").is_err());
        assert!(check_schema("a\"b").is_err());
        assert!(check_schema("Upper").is_err());
        assert!(check_schema(&"a".repeat(SCHEMA_BYTES_MAX + 1)).is_err());
    }
}
