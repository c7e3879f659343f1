//! Duro's read models: runs and workflows projected from the journal's global log into a
//! sled database of their own, for listings with filters and cursor pagination.
//!
//! - `apply`: the projection (events to rows and index entries, with the checkpoint).
//! - `query`: listings (`RunQuery`, `WorkflowQuery`) as range scans of one index.
//! - `keys`: order-preserving key encoding and cursors.
//! - `rows`: stored rows and the summaries queries return.
//!
//! Architecture invariant: the read models are derived data. The journal is the truth; the
//! read models can be dropped and rebuilt from it at any time with identical contents.
//!
//! Architecture invariant: a data tree holds exactly the effects of the journal's events up
//! to its checkpoint: the checkpoint is written in the same atomic sled batch as the rows it
//! covers, so a crash never applies an event twice and never skips one.
//!
//! Storage: the default tree holds `active` = (format version, generation); the data of
//! generation `g` lives in the tree `readmodels-{g}`. A rebuild fills a fresh generation while
//! the old one still serves queries, then switches `active` (one write) and drops the old
//! tree; opening drops every tree that is not active (a rebuild cut short, an old format).

mod apply;
mod error;
mod keys;
mod query;
mod rows;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use journal::{EventStore, Position};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

pub use error::ReadModelError;
pub use query::{
    RunQuery, SortOrder, WorkflowQuery, WorkflowSortBy, LIMIT_DEFAULT, LIMIT_MAX, WORKFLOW_SCAN_MAX,
};
pub use rows::{
    format_time, parse_run_status, parse_workflow_status, Page, RunSummary, SkippedEvent, Stats,
    WorkflowSummary,
};

use apply::{
    apply_events, read_checkpoint, read_u64, RUN_ROW, SKIPPED, SKIPPED_COUNT_KEY, WORKFLOW_ROW,
};
use rows::{decode_row, WorkflowRow};

/// The layout of the data trees. Opening a database written with another version drops it
/// and rebuilds from the journal.
const FORMAT_VERSION: u32 = 1;
/// Where the default tree names the active generation.
const ACTIVE_KEY: &[u8] = b"active";
const DATA_TREE_PREFIX: &str = "readmodels-";

/// A key and its value, as stored.
#[doc(hidden)]
pub type RawEntry = (Vec<u8>, Vec<u8>);

/// How the read models read and write.
#[derive(Clone, Debug)]
pub struct Options {
    /// sled's page cache. sled's own default is 1 GiB; the whole server must stay small.
    pub cache_bytes: u64,
    /// Events read from the journal per `read_all` (fewer when events are large).
    pub read_batch: usize,
    /// Writes per sled batch (each batch carries its checkpoint). sled 0.34.7's resident
    /// memory grows with the size of the batches it applies, so they stay near 1,000.
    pub apply_entries_max: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_bytes: 16 * 1024 * 1024,
            read_batch: 512,
            apply_entries_max: 1000,
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

/// The read models: cheap to clone, shared by the API and the follower task.
#[derive(Clone)]
pub struct ReadModels {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    store: Arc<dyn EventStore>,
    options: Options,
    active: RwLock<Active>,
    /// Held by whoever applies events to the active tree (catch-up, follower, the end of a
    /// rebuild), so events are applied once and in order.
    apply: Mutex<()>,
    /// One rebuild at a time.
    rebuild: Mutex<()>,
    /// The checkpoint of the active tree, for `wait_for`.
    applied: watch::Sender<Position>,
}

#[derive(Clone)]
struct Active {
    generation: u64,
    tree: sled::Tree,
}

fn tree_name(generation: u64) -> String {
    format!("{DATA_TREE_PREFIX}{generation}")
}

impl ReadModels {
    /// Opens (or creates) the read models in `path` over `store`. Applies nothing yet: call
    /// [`ReadModels::catch_up`] or [`ReadModels::spawn_follower`].
    pub fn open(path: &Path, store: Arc<dyn EventStore>) -> Result<ReadModels, ReadModelError> {
        ReadModels::open_with(path, store, Options::default())
    }

    pub fn open_with(
        path: &Path,
        store: Arc<dyn EventStore>,
        options: Options,
    ) -> Result<ReadModels, ReadModelError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_bytes)
            .open()
            .map_err(|e| ReadModelError::storage(format!("opening {}", path.display()), e))?;
        ReadModels::from_db(db, store, options)
    }

    /// Read models in a temporary sled database, gone when the last clone is dropped (tests,
    /// `MemoryStore`).
    pub fn temporary(store: Arc<dyn EventStore>) -> Result<ReadModels, ReadModelError> {
        ReadModels::temporary_with(store, Options::default())
    }

    pub fn temporary_with(
        store: Arc<dyn EventStore>,
        options: Options,
    ) -> Result<ReadModels, ReadModelError> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(options.cache_bytes)
            .open()
            .map_err(|e| ReadModelError::storage("opening a temporary database", e))?;
        ReadModels::from_db(db, store, options)
    }

    fn from_db(
        db: sled::Db,
        store: Arc<dyn EventStore>,
        options: Options,
    ) -> Result<ReadModels, ReadModelError> {
        let active = match read_active(&db)? {
            Some((FORMAT_VERSION, generation)) => generation,
            other => {
                if let Some((format, _)) = other {
                    tracing::info!(
                        format,
                        current = FORMAT_VERSION,
                        "read models of another format: rebuilding from the journal"
                    );
                }
                let generation = highest_generation(&db).map_or(1, |g| g + 1);
                write_active(&db, generation)?;
                generation
            }
        };
        drop_inactive_trees(&db, active)?;
        let tree = db
            .open_tree(tree_name(active))
            .map_err(|e| ReadModelError::storage("opening the data tree", e))?;
        let checkpoint = read_checkpoint(&tree)?;
        Ok(ReadModels {
            inner: Arc::new(Inner {
                db,
                store,
                options,
                active: RwLock::new(Active {
                    generation: active,
                    tree,
                }),
                apply: Mutex::new(()),
                rebuild: Mutex::new(()),
                applied: watch::Sender::new(checkpoint),
            }),
        })
    }

    fn tree(&self) -> sled::Tree {
        self.inner.active().tree
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
            }
        })
    }

    /// Drops the read models and rebuilds them from the start of the journal. The old data
    /// keeps serving queries until the new data has caught up; the switch is one write, so a
    /// crash during a rebuild leaves the old data in place (and a reopen discards the
    /// half-built tree). Returns the counts of the rebuilt read models.
    pub async fn rebuild(&self) -> Result<Stats, ReadModelError> {
        let _one_rebuild = self.inner.rebuild.lock().await;
        let inner = &self.inner;
        let generation = inner.active().generation + 1;
        let db = inner.db.clone();
        let tree = blocking(move || {
            // A tree of this generation can only be left over from a rebuild cut short.
            db.drop_tree(tree_name(generation))
                .map_err(|e| ReadModelError::storage("dropping a half-built tree", e))?;
            db.open_tree(tree_name(generation))
                .map_err(|e| ReadModelError::storage("creating the data tree", e))
        })
        .await?;
        // Most of the journal, without holding up the follower and `wait_for`.
        inner.catch_up_tree(&tree, false).await?;
        let old = {
            let _applying = inner.apply.lock().await;
            // The rest, with appliers held off, then the switch.
            let checkpoint = inner.catch_up_tree(&tree, false).await?;
            let db = inner.db.clone();
            blocking(move || {
                db.flush()
                    .map_err(|e| ReadModelError::storage("flushing the rebuilt tree", e))?;
                write_active(&db, generation)
            })
            .await?;
            let old = std::mem::replace(
                &mut *inner
                    .active
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Active { generation, tree },
            );
            inner.applied.send_modify(|applied| {
                *applied = (*applied).max(checkpoint);
            });
            old
        };
        let db = inner.db.clone();
        blocking(move || {
            db.drop_tree(tree_name(old.generation))
                .map_err(|e| ReadModelError::storage("dropping the old tree", e))
        })
        .await?;
        self.stats()
    }

    /// Makes everything applied so far durable (sled also flushes on its own every 500 ms,
    /// and when dropped).
    pub fn flush(&self) -> Result<(), ReadModelError> {
        self.inner
            .db
            .flush()
            .map(|_| ())
            .map_err(|e| ReadModelError::storage("flushing", e))
    }

    /// Runs, newest first. See [`RunQuery`].
    pub fn list_runs(&self, query: &RunQuery) -> Result<Page<RunSummary>, ReadModelError> {
        query::list_runs(&self.tree(), query)
    }

    /// Workflows that are not deleted. See [`WorkflowQuery`].
    pub fn list_workflows(
        &self,
        query: &WorkflowQuery,
    ) -> Result<Page<WorkflowSummary>, ReadModelError> {
        query::list_workflows(&self.tree(), query)
    }

    pub fn run(&self, run_id: &str) -> Result<Option<RunSummary>, ReadModelError> {
        Ok(query::get_run(&self.tree(), run_id)?.map(RunSummary::from))
    }

    /// The workflow, unless it is deleted.
    pub fn workflow(&self, workflow_id: &str) -> Result<Option<WorkflowSummary>, ReadModelError> {
        Ok(query::get_workflow(&self.tree(), workflow_id)?
            .filter(|row| !row.deleted)
            .map(WorkflowSummary::from))
    }

    /// The first skipped events (up to 1,000 are kept), in journal order.
    pub fn skipped(&self) -> Result<Vec<SkippedEvent>, ReadModelError> {
        self.tree()
            .scan_prefix([SKIPPED])
            .map(|entry| {
                let (_, value) =
                    entry.map_err(|e| ReadModelError::storage("reading skipped events", e))?;
                decode_row("a skipped event", &value)
            })
            .collect()
    }

    /// Counts rows (a full scan of runs and workflows: for tools, not for every request).
    pub fn stats(&self) -> Result<Stats, ReadModelError> {
        let tree = self.tree();
        let scan_error = |e| ReadModelError::storage("counting rows", e);
        let mut runs = 0;
        for entry in tree.scan_prefix([RUN_ROW]) {
            entry.map_err(scan_error)?;
            runs += 1;
        }
        let (mut workflows, mut deleted_workflows) = (0, 0);
        for entry in tree.scan_prefix([WORKFLOW_ROW]) {
            let (_, value) = entry.map_err(scan_error)?;
            let row: WorkflowRow = decode_row("a workflow", &value)?;
            if row.deleted {
                deleted_workflows += 1;
            } else {
                workflows += 1;
            }
        }
        Ok(Stats {
            runs,
            workflows,
            deleted_workflows,
            skipped_events: read_u64(&tree, SKIPPED_COUNT_KEY)?,
            checkpoint: read_checkpoint(&tree)?.0,
        })
    }

    /// Every key and value of the active data tree, in key order: for tests that compare two
    /// projections byte for byte.
    #[doc(hidden)]
    pub fn dump(&self) -> Result<Vec<RawEntry>, ReadModelError> {
        self.tree()
            .iter()
            .map(|entry| {
                entry
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| ReadModelError::storage("dumping", e))
            })
            .collect()
    }
}

impl Inner {
    fn active(&self) -> Active {
        self.active
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    async fn catch_up(&self) -> Result<Position, ReadModelError> {
        let _applying = self.apply.lock().await;
        let tree = self.active().tree;
        self.catch_up_tree(&tree, true).await
    }

    /// Applies to `tree` the events committed when it starts; `publish`: `tree` is the active
    /// tree and each checkpoint reached is published to `wait_for`.
    async fn catch_up_tree(
        &self,
        tree: &sled::Tree,
        publish: bool,
    ) -> Result<Position, ReadModelError> {
        let target = *self.store.subscribe().borrow();
        let mut checkpoint = {
            let tree = tree.clone();
            blocking(move || read_checkpoint(&tree)).await?
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
            let tree = tree.clone();
            let entries_max = self.options.apply_entries_max.max(1);
            checkpoint = blocking(move || apply_events(&tree, &events, entries_max)).await?;
            if publish {
                self.applied.send_modify(|applied| {
                    *applied = (*applied).max(checkpoint);
                });
            }
        }
        Ok(checkpoint)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ReadModelError> + Send + 'static,
) -> Result<T, ReadModelError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ReadModelError::Closed)?
}

fn read_active(db: &sled::Db) -> Result<Option<(u32, u64)>, ReadModelError> {
    let Some(value) = db
        .get(ACTIVE_KEY)
        .map_err(|e| ReadModelError::storage("reading the active generation", e))?
    else {
        return Ok(None);
    };
    let (format, generation) = value.split_at_checked(4).ok_or_else(|| {
        ReadModelError::Corrupt("the active generation is not 12 bytes".to_owned())
    })?;
    match (<[u8; 4]>::try_from(format), <[u8; 8]>::try_from(generation)) {
        (Ok(format), Ok(generation)) => Ok(Some((
            u32::from_be_bytes(format),
            u64::from_be_bytes(generation),
        ))),
        _ => Err(ReadModelError::Corrupt(
            "the active generation is not 12 bytes".to_owned(),
        )),
    }
}

fn write_active(db: &sled::Db, generation: u64) -> Result<(), ReadModelError> {
    let mut value = FORMAT_VERSION.to_be_bytes().to_vec();
    value.extend_from_slice(&generation.to_be_bytes());
    db.insert(ACTIVE_KEY, value)
        .map_err(|e| ReadModelError::storage("switching the active generation", e))?;
    db.flush()
        .map_err(|e| ReadModelError::storage("switching the active generation", e))?;
    Ok(())
}

fn data_generations(db: &sled::Db) -> Vec<u64> {
    db.tree_names()
        .iter()
        .filter_map(|name| {
            std::str::from_utf8(name)
                .ok()?
                .strip_prefix(DATA_TREE_PREFIX)?
                .parse()
                .ok()
        })
        .collect()
}

fn highest_generation(db: &sled::Db) -> Option<u64> {
    data_generations(db).into_iter().max()
}

fn drop_inactive_trees(db: &sled::Db, active: u64) -> Result<(), ReadModelError> {
    for generation in data_generations(db) {
        if generation != active {
            db.drop_tree(tree_name(generation))
                .map_err(|e| ReadModelError::storage("dropping an inactive tree", e))?;
        }
    }
    Ok(())
}
