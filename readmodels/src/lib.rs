//! Duro's read models: runs, workflows and triggers projected from the journal's global log into a
//! SQLite database of their own, for listings with filters and cursor pagination.
//!
//! - `db`: the database file, its schema and settings, the connections, rows from SQL.
//! - `apply`: the projection (events to rows, with the checkpoint, in one transaction).
//! - `query`: listings (`RunQuery`, `WorkflowQuery`, `TriggerQuery`), keyset pagination over
//!   one index.
//! - `keys`: order-preserving sort keys and cursors.
//! - `rows`: rows and the summaries queries return.
//! - `dump`: every row and index entry, for tests that compare projections.
//!
//! Architecture invariant: the read models are derived data. The journal is the truth; the
//! read models can be dropped and rebuilt from it at any time with identical contents.
//!
//! Architecture invariant: the database holds exactly the effects of the journal's events up
//! to its checkpoint: the checkpoint is written in the same transaction as the rows it
//! covers, so a crash never applies an event twice and never skips one.
//!
//! Storage: one file, `readmodels.sqlite3`, in WAL mode with `synchronous=NORMAL`, a
//! bounded page cache per connection and no memory mapping: memory stays bounded whatever
//! the size of the data. One writer connection applies events; a few read-only
//! connections serve queries, which WAL lets run during writes.

mod apply;
mod db;
mod dump;
mod error;
mod keys;
mod query;
mod rows;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as SyncMutex, Weak};
use std::time::Duration;

use journal::{EventStore, Position, Rebuild, RebuildReason, Soundness};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

pub use error::ReadModelError;
pub use query::{
    RunQuery, SortOrder, TriggerQuery, WorkflowQuery, WorkflowSortBy, LIMIT_DEFAULT, LIMIT_MAX,
    WORKFLOW_SCAN_MAX,
};
pub use rows::{
    parse_run_status, parse_workflow_status, Page, RunSummary, SkippedEvent, Stats, TriggerSummary,
    WorkflowSummary,
};

use apply::apply_events;
use db::{lock, read_checkpoint, read_meta, Db, Readers, SKIPPED_COUNT};
use error::Context;

/// A key and its value, as [`ReadModels::dump`] shows them.
#[doc(hidden)]
pub type RawEntry = (Vec<u8>, Vec<u8>);

/// How the read models read and write.
#[derive(Clone, Debug)]
pub struct Options {
    /// The writer's SQLite page cache (each connection has its own; the whole server must
    /// stay small, and the OS page cache holds the file besides).
    pub cache_bytes: u64,
    /// Each reader's page cache: a page of a listing touches few pages.
    pub read_cache_bytes: u64,
    /// Read-only connections serving queries (at least 1).
    pub readers: usize,
    /// Events read from the journal per `read_all` (fewer when events are large); each
    /// read is applied in one transaction.
    pub read_batch: usize,
    /// How long the follower lets commits gather after one wakes it, so that a busy journal
    /// is applied in fewer, larger transactions (each commit writes every page it touched
    /// to the WAL). `wait_for` does not wait for it: it catches up itself.
    pub follower_gather: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_bytes: 8 * 1024 * 1024,
            read_cache_bytes: 2 * 1024 * 1024,
            readers: 2,
            read_batch: 512,
            follower_gather: Duration::from_millis(10),
        }
    }
}

/// Bytes of journal events to hold per read: the batch shrinks below `read_batch` when
/// events are large (run outputs can be megabytes).
const READ_BYTES_TARGET: usize = 8 * 1024 * 1024;

/// Delay before a follower tries again after an error.
const FOLLOWER_RETRY: Duration = Duration::from_secs(1);

/// The read models' directory inside a data directory (beside `journal/` and `index/`).
pub fn dir_in(data_dir: &Path) -> PathBuf {
    data_dir.join("readmodels")
}

/// Whether the read models in the directory `path` (see [`dir_in`]) are sound beside a journal
/// ending at `journal_end`, without changing them: `duro journal verify`'s verdict. The
/// server rebuilds unsound ones when it starts.
pub fn check(path: &Path, journal_end: Position) -> Soundness {
    if let Ok(entries) = std::fs::read_dir(path) {
        let mut foreign: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !db::is_ours(name))
            .collect();
        if !foreign.is_empty() {
            foreign.sort();
            return Soundness::Unsound {
                reason: format!(
                    "files of an earlier storage format ({})",
                    foreign.join(", ")
                ),
            };
        }
    }
    db::check(&path.join(db::FILE_NAME), journal_end)
}

/// The read models: cheap to clone, shared by the API and the follower task.
#[derive(Clone)]
pub struct ReadModels {
    inner: Arc<Inner>,
}

struct Inner {
    /// Read-only connections for queries (dropped before the writer, which then
    /// checkpoints the WAL into the file as the last connection).
    readers: Readers,
    /// Used only by whoever holds `apply`, on a blocking thread.
    writer: SyncMutex<Connection>,
    store: Arc<dyn EventStore>,
    options: Options,
    /// Held by whoever applies events (catch-up, follower, rebuild), so events are applied
    /// once and in order.
    apply: Mutex<()>,
    /// The checkpoint of the database, for `wait_for`.
    applied: watch::Sender<Position>,
    /// Why the database was started afresh when it was opened, if it was.
    rebuild: Option<Rebuild>,
    /// The directory of a temporary database, deleted after the connections close.
    _temporary: Option<tempfile::TempDir>,
}

impl ReadModels {
    /// Opens (or creates) the read models in the directory `path` (see [`dir_in`]) over
    /// `store`. Applies nothing yet: call [`ReadModels::catch_up`] or
    /// [`ReadModels::spawn_follower`]. Anything in `path` other than the database (the sled
    /// database of earlier versions) is deleted first, and a database of another format is
    /// started afresh: both are rebuilt from the journal by catching up.
    pub fn open(path: &Path, store: Arc<dyn EventStore>) -> Result<ReadModels, ReadModelError> {
        ReadModels::open_with(path, store, Options::default())
    }

    pub fn open_with(
        path: &Path,
        store: Arc<dyn EventStore>,
        options: Options,
    ) -> Result<ReadModels, ReadModelError> {
        let foreign = clear_foreign_files(path)?;
        std::fs::create_dir_all(path)
            .map_err(|e| ReadModelError::io(format!("creating {}", path.display()), e))?;
        let file = path.join(db::FILE_NAME);
        let (mut db, opened) = Db::open(&file, &options)?;
        let committed = *store.subscribe().borrow();
        let mut rebuild = match opened {
            db::Opened::Replaced { reason, detail } => Some((reason, detail)),
            db::Opened::Created if foreign => Some((
                RebuildReason::Format,
                format!("{} held an earlier storage format", path.display()),
            )),
            db::Opened::Created if committed > Position::NONE => Some((
                RebuildReason::Missing,
                format!("{} was missing or empty", file.display()),
            )),
            db::Opened::Created | db::Opened::Existing => None,
        };
        // Rows of events the journal does not hold (another journal's read models, or a
        // journal restored from an older copy) must never be served.
        let checkpoint = read_checkpoint(&db.writer)?;
        if checkpoint > committed {
            drop(db);
            db::remove_files(&file)?;
            db = Db::open(&file, &options)?.0;
            rebuild = Some((
                RebuildReason::Ahead,
                format!(
                    "they reach position {}, the journal ends at {}",
                    checkpoint.0, committed.0
                ),
            ));
        }
        let rebuild = rebuild.map(|(reason, detail)| Rebuild {
            store: "readmodels",
            reason,
            detail,
        });
        if let Some(rebuild) = &rebuild {
            tracing::warn!(reason = %rebuild.reason, "{rebuild}: rebuilding them from the journal");
        }
        ReadModels::from_db(db, store, options, None, rebuild)
    }

    /// Read models in a temporary database, deleted when the last clone is dropped (tests,
    /// `MemoryStore`).
    pub fn temporary(store: Arc<dyn EventStore>) -> Result<ReadModels, ReadModelError> {
        ReadModels::temporary_with(store, Options::default())
    }

    pub fn temporary_with(
        store: Arc<dyn EventStore>,
        options: Options,
    ) -> Result<ReadModels, ReadModelError> {
        let dir = tempfile::Builder::new()
            .prefix("duro-readmodels-")
            .tempdir()
            .map_err(|e| ReadModelError::io("creating a temporary directory", e))?;
        let (db, _) = Db::open(&dir.path().join(db::FILE_NAME), &options)?;
        ReadModels::from_db(db, store, options, Some(dir), None)
    }

    fn from_db(
        db: Db,
        store: Arc<dyn EventStore>,
        options: Options,
        temporary: Option<tempfile::TempDir>,
        rebuild: Option<Rebuild>,
    ) -> Result<ReadModels, ReadModelError> {
        let checkpoint = read_checkpoint(&db.writer)?;
        Ok(ReadModels {
            inner: Arc::new(Inner {
                readers: db.readers,
                writer: SyncMutex::new(db.writer),
                store,
                options,
                apply: Mutex::new(()),
                applied: watch::Sender::new(checkpoint),
                rebuild,
                _temporary: temporary,
            }),
        })
    }

    /// Why the read models were deleted and are being rebuilt from the journal, when opening
    /// found them missing beside a journal with events, unreadable, damaged, of another
    /// format or ahead of the journal.
    pub fn rebuilt_at_open(&self) -> Option<&Rebuild> {
        self.inner.rebuild.as_ref()
    }

    /// The position of the last journal event applied (`Position::NONE` before any).
    pub fn checkpoint(&self) -> Position {
        *self.inner.applied.borrow()
    }

    /// Applies every event committed so far. Returns the checkpoint reached.
    pub async fn catch_up(&self) -> Result<Position, ReadModelError> {
        self.inner.catch_up().await
    }

    /// Returns once the read models have applied everything through `position` (for
    /// read-your-writes after an append), catching up itself rather than waiting for the
    /// follower. Waits for new commits while `position` is not committed yet: wrap it in a
    /// timeout when `position` may never come.
    pub async fn wait_for(&self, position: Position) -> Result<(), ReadModelError> {
        let mut committed = self.inner.store.subscribe();
        loop {
            if self.checkpoint() >= position {
                return Ok(());
            }
            committed.borrow_and_update();
            self.catch_up().await?;
            if self.checkpoint() >= position {
                return Ok(());
            }
            committed
                .changed()
                .await
                .map_err(|_| ReadModelError::Closed)?;
        }
    }

    /// A task that applies new events as they commit (it catches up first). It holds the read
    /// models weakly and ends when the last `ReadModels` is dropped or the store closes; abort
    /// the handle to stop it sooner. Errors are logged and retried after a second.
    pub fn spawn_follower(&self) -> JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut committed = self.inner.store.subscribe();
        let gather = self.inner.options.follower_gather;
        tokio::spawn(async move {
            loop {
                committed.borrow_and_update();
                {
                    let Some(inner) = weak.upgrade() else { return };
                    if let Err(error) = inner.catch_up().await {
                        tracing::warn!(%error, "read models cannot catch up; retrying");
                        drop(inner);
                        tokio::time::sleep(FOLLOWER_RETRY).await;
                        continue;
                    }
                }
                if committed.changed().await.is_err() {
                    return;
                }
                if !gather.is_zero() {
                    tokio::time::sleep(gather).await;
                }
            }
        })
    }

    /// Empties the read models and rebuilds them from the start of the journal, in one
    /// transaction: queries keep reading the old data (WAL readers see the last committed
    /// transaction) until the rebuilt data commits, all at once; a crash or an error leaves
    /// the old data in place. Appliers (the follower, `wait_for`) wait until it is done, and
    /// the WAL grows to about the size of the database meanwhile: `duro projections rebuild`
    /// (offline) deletes the file and catches up instead. Returns the counts of the rebuilt
    /// read models.
    pub async fn rebuild(&self) -> Result<Stats, ReadModelError> {
        let inner = &self.inner;
        {
            let _applying = inner.apply.lock().await;
            inner
                .write(|conn| {
                    end_abandoned_transaction(conn)?;
                    conn.execute_batch("BEGIN IMMEDIATE")
                        .context("starting a rebuild")?;
                    conn.execute_batch(db::CLEAR)
                        .context("emptying the read models")
                })
                .await?;
            let rebuilt = match inner.catch_up_locked(true).await {
                Ok(checkpoint) => inner
                    .write(|conn| conn.execute_batch("COMMIT").context("committing a rebuild"))
                    .await
                    .map(|()| checkpoint),
                Err(error) => Err(error),
            };
            let checkpoint = match rebuilt {
                Ok(checkpoint) => checkpoint,
                Err(error) => {
                    // The old data stays; if this fails too, the next applier rolls back.
                    let _ = inner.write(end_abandoned_transaction).await;
                    return Err(error);
                }
            };
            inner.applied.send_modify(|applied| {
                *applied = (*applied).max(checkpoint);
            });
        }
        self.stats()
    }

    /// Makes everything applied so far durable: checkpoints the WAL into the database file
    /// (synced) and truncates the WAL. Commits are otherwise synced at SQLite's automatic
    /// checkpoints (every ~4 MB of WAL); a machine crash before then loses the last
    /// transactions, which catch-up applies again.
    pub fn flush(&self) -> Result<(), ReadModelError> {
        let conn = lock(&self.inner.writer);
        if !conn.is_autocommit() {
            // A rebuild is under way; its commit is checkpointed later.
            return Ok(());
        }
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .context("flushing")
    }

    /// Runs, newest first. See [`RunQuery`].
    pub fn list_runs(&self, query: &RunQuery) -> Result<Page<RunSummary>, ReadModelError> {
        query::list_runs(&self.inner.readers.get(), query)
    }

    /// Workflows that are not deleted. See [`WorkflowQuery`].
    pub fn list_workflows(
        &self,
        query: &WorkflowQuery,
    ) -> Result<Page<WorkflowSummary>, ReadModelError> {
        query::list_workflows(&self.inner.readers.get(), query)
    }

    /// Triggers that are not deleted, in creation order. See [`TriggerQuery`].
    pub fn list_triggers(
        &self,
        query: &TriggerQuery,
    ) -> Result<Page<TriggerSummary>, ReadModelError> {
        query::list_triggers(&self.inner.readers.get(), query)
    }

    /// The trigger, unless it is deleted.
    pub fn trigger(&self, trigger_id: &str) -> Result<Option<TriggerSummary>, ReadModelError> {
        Ok(db::get_trigger(&self.inner.readers.get(), trigger_id)?
            .filter(|row| !row.deleted)
            .map(TriggerSummary::from))
    }

    pub fn run(&self, run_id: &str) -> Result<Option<RunSummary>, ReadModelError> {
        db::get_run(&self.inner.readers.get(), run_id)?
            .map(RunSummary::try_from)
            .transpose()
    }

    /// The workflow, unless it is deleted.
    pub fn workflow(&self, workflow_id: &str) -> Result<Option<WorkflowSummary>, ReadModelError> {
        db::get_workflow(&self.inner.readers.get(), workflow_id)?
            .filter(|row| !row.deleted)
            .map(WorkflowSummary::try_from)
            .transpose()
    }

    /// The first skipped events (up to 1,000 are kept), in journal order.
    pub fn skipped(&self) -> Result<Vec<SkippedEvent>, ReadModelError> {
        let conn = self.inner.readers.get();
        let mut statement = conn
            .prepare_cached(
                "SELECT position, stream, event_type, reason FROM skipped ORDER BY position",
            )
            .context("reading skipped events")?;
        let rows = statement
            .query_map([], |row| {
                Ok(SkippedEvent {
                    position: row.get::<_, i64>(0)? as u64,
                    stream: row.get(1)?,
                    event_type: row.get(2)?,
                    reason: row.get(3)?,
                })
            })
            .context("reading skipped events")?;
        rows.collect::<Result<_, _>>()
            .context("reading skipped events")
    }

    /// Counts rows (counts whole tables: for tools, not for every request).
    pub fn stats(&self) -> Result<Stats, ReadModelError> {
        let conn = self.inner.readers.get();
        // One read transaction, so the counts and the checkpoint agree.
        conn.execute_batch("BEGIN").context("counting rows")?;
        let stats = stats(&conn);
        let end = conn.execute_batch("COMMIT").context("counting rows");
        let stats = stats?;
        end?;
        Ok(stats)
    }

    /// Every row and index entry, as sorted key-value pairs: for tests that compare two
    /// projections entry for entry (see `dump.rs` for the keys).
    #[doc(hidden)]
    pub fn dump(&self) -> Result<Vec<RawEntry>, ReadModelError> {
        let conn = self.inner.readers.get();
        conn.execute_batch("BEGIN").context("dumping")?;
        let entries = dump::dump(&conn);
        let end = conn.execute_batch("COMMIT").context("dumping");
        let entries = entries?;
        end?;
        Ok(entries)
    }
}

/// The index of unfinished runs that `duro serve` recovers from (`runs_unfinished`: run id,
/// status, wake time; see `engine::executor::unfinished`). Catch up first: recovery falls
/// back to reading every run when the checkpoint is behind the journal.
impl engine::executor::UnfinishedRuns for ReadModels {
    fn checkpoint(&self) -> Result<Position, engine::executor::IndexError> {
        Ok(ReadModels::checkpoint(self))
    }

    fn doubtful_runs(&self) -> Result<Option<Vec<String>>, engine::executor::IndexError> {
        let conn = self.inner.readers.get();
        conn.execute_batch("BEGIN")
            .context("reading skipped events")?;
        let doubtful = doubtful_runs(&conn);
        let end = conn
            .execute_batch("COMMIT")
            .context("reading skipped events");
        let doubtful = doubtful?;
        end?;
        Ok(doubtful)
    }

    fn unfinished_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<engine::executor::UnfinishedRun>, engine::executor::IndexError> {
        use engine::executor::{UnfinishedRun, Wake};
        let rows = query::unfinished_runs(&self.inner.readers.get(), after, limit)?;
        let mut page = Vec::with_capacity(rows.len());
        for row in rows {
            let status = rows::run_status_of(row.status).ok_or_else(|| {
                ReadModelError::Corrupt(format!("run status code {}", row.status))
            })?;
            let wake = match (status, row.wake_at) {
                // Several steps may be under way: only reading the run tells.
                _ if row.concurrent => Wake::Now,
                (engine::run::RunStatus::Sleeping, Some(due)) => Wake::At(due),
                (engine::run::RunStatus::Paused, Some(due)) => Wake::At(due),
                (engine::run::RunStatus::Paused, None) => Wake::OnResume,
                // Pending, running, corrupt (reading it quarantines it), or a sleeping run
                // without a time (the projection never writes one): read it now.
                _ => Wake::Now,
            };
            page.push(UnfinishedRun {
                run_id: row.run_id,
                wake,
            });
        }
        Ok(page)
    }
}

/// The runs with a skipped event, or `None` when more events were skipped than are kept.
fn doubtful_runs(conn: &Connection) -> Result<Option<Vec<String>>, ReadModelError> {
    let skipped = read_meta(conn, SKIPPED_COUNT)?;
    let kept: i64 = conn
        .query_row("SELECT count(*) FROM skipped", [], |row| row.get(0))
        .context("reading skipped events")?;
    if skipped > kept as u64 {
        return Ok(None);
    }
    let mut statement = conn
        .prepare_cached(
            "SELECT DISTINCT substr(stream, 5) FROM skipped WHERE substr(stream, 1, 4) = 'run-'",
        )
        .context("reading skipped events")?;
    let runs = statement
        .query_map([], |row| row.get::<_, String>(0))
        .context("reading skipped events")?
        .collect::<Result<Vec<_>, _>>()
        .context("reading skipped events")?;
    Ok(Some(runs))
}

fn stats(conn: &Connection) -> Result<Stats, ReadModelError> {
    let runs: i64 = conn
        .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
        .context("counting runs")?;
    let (workflows, deleted_workflows): (i64, i64) = conn
        .query_row(
            "SELECT coalesce(sum(deleted = 0), 0), coalesce(sum(deleted != 0), 0) FROM workflows",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .context("counting workflows")?;
    let triggers: i64 = conn
        .query_row(
            "SELECT count(*) FROM triggers WHERE deleted = 0",
            [],
            |row| row.get(0),
        )
        .context("counting triggers")?;
    Ok(Stats {
        runs: runs as u64,
        workflows: workflows as u64,
        deleted_workflows: deleted_workflows as u64,
        triggers: triggers as u64,
        skipped_events: read_meta(conn, SKIPPED_COUNT)?,
        checkpoint: read_checkpoint(conn)?.0,
    })
}

impl Inner {
    async fn catch_up(self: &Arc<Self>) -> Result<Position, ReadModelError> {
        if self.caught_up() {
            return Ok(*self.applied.borrow());
        }
        let _applying = self.apply.lock().await;
        self.catch_up_locked(false).await
    }

    /// Whether the checkpoint has reached the last committed position.
    fn caught_up(&self) -> bool {
        *self.applied.borrow() >= *self.store.subscribe().borrow()
    }

    /// Applies the events committed when it starts; the caller holds `apply`. Each
    /// `read_all` page is applied in one transaction and its checkpoint published to
    /// `wait_for`, or, `rebuilding`, inside the rebuild's open transaction (from position 1,
    /// publishing nothing).
    async fn catch_up_locked(
        self: &Arc<Self>,
        rebuilding: bool,
    ) -> Result<Position, ReadModelError> {
        let target = *self.store.subscribe().borrow();
        let mut checkpoint = if rebuilding {
            Position::NONE
        } else {
            *self.applied.borrow()
        };
        let mut limit = self.options.read_batch.max(1);
        while checkpoint < target {
            let events = self.store.read_all(checkpoint.next(), limit).await?;
            if events.is_empty() {
                break;
            }
            let bytes: usize = events.iter().map(|e| e.data.len() + 64).sum();
            limit = (READ_BYTES_TARGET / (bytes / events.len()).max(1))
                .clamp(1, self.options.read_batch.max(1));
            checkpoint = self
                .write(move |conn| {
                    if rebuilding {
                        return apply_events(conn, &events);
                    }
                    end_abandoned_transaction(conn)?;
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .context("starting a transaction")?;
                    let checkpoint = apply_events(&tx, &events)?;
                    tx.commit().context("committing a transaction")?;
                    Ok(checkpoint)
                })
                .await?;
            if !rebuilding {
                self.applied.send_modify(|applied| {
                    *applied = (*applied).max(checkpoint);
                });
            }
        }
        Ok(checkpoint)
    }

    /// Runs `work` with the writer on a blocking thread.
    async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Connection) -> Result<T, ReadModelError> + Send + 'static,
    ) -> Result<T, ReadModelError> {
        let inner = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&mut lock(&inner.writer)))
            .await
            .map_err(|_| ReadModelError::Closed)?
    }
}

/// Rolls back a transaction left open on the writer: a rebuild whose future was dropped
/// part-way (the old data stays).
fn end_abandoned_transaction(conn: &mut Connection) -> Result<(), ReadModelError> {
    if !conn.is_autocommit() {
        tracing::warn!("read models: rolling back an unfinished rebuild");
        conn.execute_batch("ROLLBACK")
            .context("rolling back an unfinished rebuild")?;
    }
    Ok(())
}

/// Deletes everything in `dir` that is not the database (an earlier version's sled
/// database): the read models are derived data and catching up rebuilds them. When
/// anything foreign is found, the database goes too, so no mix of old and new survives.
fn clear_foreign_files(dir: &Path) -> Result<bool, ReadModelError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => {
            return Err(ReadModelError::io(
                format!("reading {}", dir.display()),
                error,
            ))
        }
    };
    let mut foreign = false;
    for entry in entries {
        let entry =
            entry.map_err(|e| ReadModelError::io(format!("reading {}", dir.display()), e))?;
        if !entry.file_name().to_str().is_some_and(db::is_ours) {
            foreign = true;
            break;
        }
    }
    if foreign {
        tracing::info!(
            dir = %dir.display(),
            "read models of an earlier storage format: deleting them to rebuild from the journal"
        );
        std::fs::remove_dir_all(dir)
            .map_err(|e| ReadModelError::io(format!("removing {}", dir.display()), e))?;
    }
    Ok(foreign)
}
