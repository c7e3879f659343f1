//! The SQLite database: its file, schema and settings, the connections, and the rows.
//!
//! One writer connection (behind a mutex, used only by whoever holds the apply lock) and a
//! few read-only connections. WAL mode lets readers go on while a batch is written; each
//! reader sees the last committed transaction when its statement starts. Memory stays
//! bounded whatever the size of the data: each connection's page cache is capped and
//! memory-mapped I/O is off, so the file is read through the OS page cache, which the
//! kernel can reclaim and which is not resident memory of the process.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use journal::{Position, RebuildReason, Soundness};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use crate::error::{Context, ReadModelError};
use crate::rows::{RunRow, TriggerRow, WorkflowRow};
use crate::Options;

/// The database file inside the read models' directory.
pub(crate) const FILE_NAME: &str = "readmodels.sqlite3";
/// SQLite's companions of the file in WAL mode.
const COMPANIONS: [&str; 2] = ["-wal", "-shm"];

/// The schema's version, kept in `PRAGMA user_version`. A database of another version is
/// deleted and rebuilt from the journal.
pub(crate) const FORMAT_VERSION: i64 = 3;

/// How long a statement waits for a lock before failing (readers in WAL mode wait only in
/// rare cases: a checkpoint resetting the WAL, recovery after a crash).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection (the listings build one per filter shape).
const STATEMENT_CACHE: usize = 64;
/// The WAL is truncated to this size after a checkpoint (a rebuild writes a whole
/// database's worth into it).
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

const SCHEMA: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('checkpoint', 0), ('skipped', 0);

CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    workflow_version INTEGER NOT NULL,
    status INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    completed_at INTEGER,
    error TEXT,
    idempotency_key TEXT,
    wake_at INTEGER,
    concurrent INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX runs_by_time ON runs (started_at, run_id);
CREATE INDEX runs_unfinished ON runs (run_id, status, wake_at, concurrent)
    WHERE status IN (1, 2, 3, 4, 8);
CREATE INDEX runs_by_workflow ON runs (workflow_id, started_at, run_id);
CREATE INDEX runs_by_status ON runs (status, started_at, run_id);
CREATE INDEX runs_by_workflow_status ON runs (workflow_id, status, started_at, run_id);

CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    description TEXT,
    status INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX workflows_by_created ON workflows (created_at, id) WHERE deleted = 0;
CREATE INDEX workflows_by_updated ON workflows (updated_at, id) WHERE deleted = 0;
CREATE INDEX workflows_by_name ON workflows (name_lower, id) WHERE deleted = 0;

CREATE TABLE triggers (
    trigger_id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    kind TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    connection_id TEXT,
    trigger_name TEXT,
    enabled INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    created_position INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    fired INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX triggers_by_created ON triggers (created_position) WHERE deleted = 0;
CREATE INDEX triggers_by_workflow ON triggers (workflow_id, created_position) WHERE deleted = 0;
CREATE INDEX triggers_by_kind ON triggers (kind, created_position) WHERE deleted = 0;

CREATE TABLE skipped (
    position INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    event_type INTEGER NOT NULL,
    reason TEXT NOT NULL
);
";

/// Empties every table (a rebuild, inside its transaction).
pub(crate) const CLEAR: &str = "
DELETE FROM runs;
DELETE FROM workflows;
DELETE FROM triggers;
DELETE FROM skipped;
UPDATE meta SET value = 0;
";

/// The writer and the readers of one database file.
pub(crate) struct Db {
    pub readers: Readers,
    pub writer: Connection,
}

/// What opening the database found.
#[derive(Debug)]
pub(crate) enum Opened {
    /// A database of this format that passed SQLite's integrity check.
    Existing,
    /// There was none (or an empty file): the schema was just created.
    Created,
    /// The file could not be used and was replaced by an empty database.
    Replaced {
        reason: RebuildReason,
        detail: String,
    },
}

impl Db {
    /// Opens (or creates) the database in `file`. A file that is not a database, fails
    /// SQLite's integrity check, or is of another format is deleted and created anew: the
    /// read models are derived data.
    pub fn open(file: &Path, options: &Options) -> Result<(Db, Opened), ReadModelError> {
        let (writer, opened) = match open_checked(file, options) {
            Ok(opened) => opened,
            Err(error) => {
                remove_files(file)?;
                let (writer, _) = open_writer(file, options)?;
                let replaced = Opened::Replaced {
                    reason: RebuildReason::Unreadable,
                    detail: format!("{} cannot be used: {error}", file.display()),
                };
                (writer, replaced)
            }
        };
        let readers = (0..options.readers.max(1))
            .map(|_| open_reader(file, options))
            .collect::<Result<Vec<_>, _>>()?;
        let db = Db {
            readers: Readers {
                connections: readers.into_iter().map(Mutex::new).collect(),
                next: AtomicUsize::new(0),
            },
            writer,
        };
        Ok((db, opened))
    }
}

/// Whether the database in `file` is sound, without changing it (for `duro journal verify`):
/// of this format, passing SQLite's integrity check, and not ahead of the journal's end.
pub(crate) fn check(file: &Path, journal_end: Position) -> Soundness {
    if !file.exists() {
        return Soundness::Missing;
    }
    let unsound = |reason: String| Soundness::Unsound { reason };
    let checked = (|| -> Result<Soundness, ReadModelError> {
        // Read-write so that SQLite may recover the WAL, as the server's next start would;
        // `query_only` keeps every statement from writing.
        let conn = connect(file, OpenFlags::SQLITE_OPEN_READ_WRITE, 2 * 1024 * 1024)?;
        conn.pragma_update(None, "query_only", true)
            .context("configuring the check")?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .context("reading the format version")?;
        if version != FORMAT_VERSION {
            return Ok(unsound(format!(
                "format {version}, this version writes {FORMAT_VERSION}"
            )));
        }
        let verdict: String = conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
            .context("checking the database's integrity")?;
        if verdict != "ok" {
            return Ok(unsound(format!("integrity check failed: {verdict}")));
        }
        let checkpoint = read_checkpoint(&conn)?;
        if checkpoint > journal_end {
            return Ok(unsound(format!(
                "they reach position {}, the journal ends at {}",
                checkpoint.0, journal_end.0
            )));
        }
        Ok(Soundness::Sound {
            through: checkpoint.0,
        })
    })();
    checked.unwrap_or_else(|error| unsound(error.to_string()))
}

/// Opens the writer and checks an existing database with `PRAGMA quick_check` (every page
/// and index entry, without comparing indexes with their tables): a damaged file is an
/// error, for the caller to replace.
fn open_checked(file: &Path, options: &Options) -> Result<(Connection, Opened), ReadModelError> {
    let (writer, opened) = open_writer(file, options)?;
    if !matches!(opened, Opened::Existing) {
        return Ok((writer, opened));
    }
    let verdict: String = writer
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .context("checking the database's integrity")?;
    if verdict != "ok" {
        return Err(ReadModelError::Corrupt(format!(
            "integrity check failed: {verdict}"
        )));
    }
    Ok((writer, Opened::Existing))
}

/// Opens the writer, creating the schema in a new database; deletes and recreates a
/// database of another format.
fn open_writer(file: &Path, options: &Options) -> Result<(Connection, Opened), ReadModelError> {
    let mut conn = connect(file, OpenFlags::SQLITE_OPEN_READ_WRITE, options.cache_bytes)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context("reading the format version")?;
    if version == FORMAT_VERSION {
        return Ok((conn, Opened::Existing));
    }
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .context("reading the schema")?;
    let mut opened = Opened::Created;
    if version != 0 || objects != 0 {
        opened = Opened::Replaced {
            reason: RebuildReason::Format,
            detail: format!(
                "{} has format {version}, this version writes {FORMAT_VERSION}",
                file.display()
            ),
        };
        drop(conn);
        remove_files(file)?;
        conn = connect(file, OpenFlags::SQLITE_OPEN_READ_WRITE, options.cache_bytes)?;
    }
    let tx = conn.transaction().context("creating the schema")?;
    tx.execute_batch(SCHEMA).context("creating the schema")?;
    tx.pragma_update(None, "user_version", FORMAT_VERSION)
        .context("writing the format version")?;
    tx.commit().context("creating the schema")?;
    Ok((conn, opened))
}

fn open_reader(file: &Path, options: &Options) -> Result<Connection, ReadModelError> {
    let conn = connect(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY,
        options.read_cache_bytes,
    )?;
    conn.pragma_update(None, "query_only", true)
        .context("configuring a reader")?;
    Ok(conn)
}

/// A connection in WAL mode with a bounded page cache and no memory mapping.
fn connect(file: &Path, mode: OpenFlags, cache_bytes: u64) -> Result<Connection, ReadModelError> {
    let writable = mode.contains(OpenFlags::SQLITE_OPEN_READ_WRITE);
    let flags = mode
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | if writable {
            OpenFlags::SQLITE_OPEN_CREATE
        } else {
            OpenFlags::empty()
        };
    let what = format!("opening {}", file.display());
    let conn = Connection::open_with_flags(file, flags).context(&what)?;
    conn.busy_timeout(BUSY_TIMEOUT).context(&what)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Negative: KiB rather than pages.
    let cache_kib = i64::try_from(cache_bytes / 1024)
        .unwrap_or(i64::MAX)
        .max(64);
    conn.pragma_update(None, "cache_size", -cache_kib)
        .context(&what)?;
    conn.pragma_update(None, "mmap_size", 0).context(&what)?;
    if writable {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .context(&what)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "the read models' database is not in WAL mode");
        }
        // With WAL, NORMAL syncs at checkpoints only: a crash (of the machine, not the
        // process) may lose the last transactions, each with its checkpoint, and catch-up
        // applies their events again.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .context(&what)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .context(&what)?;
    }
    Ok(conn)
}

/// Deletes the database file and its WAL companions.
pub(crate) fn remove_files(file: &Path) -> Result<(), ReadModelError> {
    let mut paths = vec![file.to_path_buf()];
    for suffix in COMPANIONS {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        paths.push(name.into());
    }
    for path in paths {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(ReadModelError::io(
                    format!("removing {}", path.display()),
                    error,
                ))
            }
        }
    }
    Ok(())
}

/// Whether `name` is the database file or one of its companions.
pub(crate) fn is_ours(name: &str) -> bool {
    name.strip_prefix(FILE_NAME)
        .is_some_and(|rest| rest.is_empty() || COMPANIONS.contains(&rest))
}

/// The read-only connections, each behind its own mutex; a query takes a free one (or
/// waits for one when every reader is busy).
pub(crate) struct Readers {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    pub fn get(&self) -> MutexGuard<'_, Connection> {
        let count = self.connections.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        for i in 0..count {
            match self.connections[(start + i) % count].try_lock() {
                Ok(conn) => return conn,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        lock(&self.connections[start])
    }
}

/// Locks `mutex`, whatever a panicking holder left (a connection stays usable: SQLite rolls
/// back what a failed statement did).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn read_meta(conn: &Connection, key: &str) -> Result<u64, ReadModelError> {
    let value: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut statement| statement.query_row([key], |row| row.get(0)).optional())
        .context("reading the checkpoint")?;
    Ok(value.map_or(0, |v| v as u64))
}

pub(crate) fn write_meta(conn: &Connection, key: &str, value: u64) -> Result<(), ReadModelError> {
    conn.prepare_cached("UPDATE meta SET value = ?2 WHERE key = ?1")
        .and_then(|mut statement| statement.execute(rusqlite::params![key, value as i64]))
        .context("writing the checkpoint")?;
    Ok(())
}

pub(crate) const CHECKPOINT: &str = "checkpoint";
pub(crate) const SKIPPED_COUNT: &str = "skipped";

pub(crate) fn read_checkpoint(conn: &Connection) -> Result<Position, ReadModelError> {
    read_meta(conn, CHECKPOINT).map(Position)
}

macro_rules! run_columns {
    () => {
        "run_id, workflow_id, workflow_version, status, started_at, completed_at, error, \
         idempotency_key, wake_at, concurrent"
    };
}
macro_rules! workflow_columns {
    () => {
        "id, name, description, status, version, created_at, updated_at, deleted"
    };
}

macro_rules! trigger_columns {
    () => {
        "trigger_id, slug, kind, workflow_id, connection_id, trigger_name, enabled, deleted, \
         created_position, created_at, updated_at, fired"
    };
}

/// The columns [`trigger_row`] reads, in its order.
pub(crate) const TRIGGER_COLUMNS: &str = trigger_columns!();

/// A trigger from a row of [`TRIGGER_COLUMNS`].
pub(crate) fn trigger_row(row: &Row<'_>) -> rusqlite::Result<TriggerRow> {
    Ok(TriggerRow {
        trigger_id: row.get(0)?,
        slug: row.get(1)?,
        kind: row.get(2)?,
        workflow_id: row.get(3)?,
        connection_id: row.get(4)?,
        trigger_name: row.get(5)?,
        enabled: row.get(6)?,
        deleted: row.get(7)?,
        created_position: row.get::<_, i64>(8)? as u64,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
        fired: row.get::<_, i64>(11)? as u64,
    })
}

pub(crate) fn get_trigger(
    conn: &Connection,
    trigger_id: &str,
) -> Result<Option<TriggerRow>, ReadModelError> {
    conn.prepare_cached(concat!(
        "SELECT ",
        trigger_columns!(),
        " FROM triggers WHERE trigger_id = ?1"
    ))
    .and_then(|mut statement| statement.query_row([trigger_id], trigger_row).optional())
    .context("reading a trigger")
}

/// The columns [`run_row`] reads, in its order.
pub(crate) const RUN_COLUMNS: &str = run_columns!();
/// The columns [`workflow_row`] reads, in its order.
pub(crate) const WORKFLOW_COLUMNS: &str = workflow_columns!();

/// A run from a row of [`RUN_COLUMNS`].
pub(crate) fn run_row(row: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        run_id: row.get(0)?,
        workflow_id: row.get(1)?,
        workflow_version: row.get::<_, i64>(2)? as u64,
        status: row.get(3)?,
        started_at: row.get(4)?,
        completed_at: row.get(5)?,
        error: row.get(6)?,
        idempotency_key: row.get(7)?,
        wake_at: row.get(8)?,
        concurrent: row.get(9)?,
    })
}

/// A workflow from a row of [`WORKFLOW_COLUMNS`].
pub(crate) fn workflow_row(row: &Row<'_>) -> rusqlite::Result<WorkflowRow> {
    Ok(WorkflowRow {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        status: row.get(3)?,
        version: row.get::<_, i64>(4)? as u64,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        deleted: row.get(7)?,
    })
}

pub(crate) fn get_run(conn: &Connection, run_id: &str) -> Result<Option<RunRow>, ReadModelError> {
    conn.prepare_cached(concat!(
        "SELECT ",
        run_columns!(),
        " FROM runs WHERE run_id = ?1"
    ))
    .and_then(|mut statement| statement.query_row([run_id], run_row).optional())
    .context("reading a run")
}

pub(crate) fn get_workflow(
    conn: &Connection,
    workflow_id: &str,
) -> Result<Option<WorkflowRow>, ReadModelError> {
    conn.prepare_cached(concat!(
        "SELECT ",
        workflow_columns!(),
        " FROM workflows WHERE id = ?1"
    ))
    .and_then(|mut statement| statement.query_row([workflow_id], workflow_row).optional())
    .context("reading a workflow")
}
