//! Where snapshots of long runs are kept (`duro_core::snapshot`): one redb file,
//! `DATA_DIR/snapshots/snapshots.redb`, a run id to its latest snapshot's bytes.
//!
//! Derived state: every snapshot is the fold of events that stay in the journal, and is
//! checked against the stream before it is used. A file redb refuses, or that cannot be
//! written, is deleted and started afresh, or the snapshots are turned off, with a warning:
//! never fatal, never a lost run.

use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

/// Events folded past a run's snapshot (or its first event) before a load writes a new one:
/// runs shorter than this are never snapshotted.
pub const SNAPSHOT_AFTER_EVENTS: u64 = 1000;
/// redb's page cache for the file (its default is 1 GiB).
const CACHE_BYTES: usize = 4 * 1024 * 1024;
const FILE: &str = "snapshots.redb";
const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");

/// The snapshot file of a data directory.
pub struct RunSnapshots {
    db: Option<Database>,
}

impl RunSnapshots {
    /// Opens (or creates) the snapshots in `dir`. A damaged file is deleted and created empty;
    /// if even that fails, snapshots are off (runs load from their first event).
    pub fn open(dir: &Path) -> RunSnapshots {
        let path = dir.join(FILE);
        if let Err(error) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), %error, "run snapshots are off");
            return RunSnapshots { db: None };
        }
        let db = match open_file(&path) {
            Ok(db) => Some(db),
            Err(reason) => {
                tracing::warn!(file = %path.display(), %reason,
                    "run snapshots unreadable: deleted, starting afresh (they are derived)");
                metrics::counter!("duro_derived_rebuilds_total", "store" => "snapshots",
                    "reason" => "unreadable")
                .increment(1);
                let _ = std::fs::remove_file(&path);
                open_file(&path)
                    .map_err(|reason| {
                        tracing::warn!(file = %path.display(), %reason, "run snapshots are off");
                    })
                    .ok()
            }
        };
        RunSnapshots { db }
    }

    /// No snapshots: every run is folded from its first event.
    pub fn off() -> RunSnapshots {
        RunSnapshots { db: None }
    }

    /// The directory of a data directory's snapshots.
    pub fn dir_in(data_dir: &Path) -> PathBuf {
        data_dir.join("snapshots")
    }

    /// The latest snapshot of `run_id`, if any (an unreadable one is none).
    pub fn get(&self, run_id: &str) -> Option<Vec<u8>> {
        let db = self.db.as_ref()?;
        let read = db.begin_read().ok()?;
        let table = read.open_table(TABLE).ok()?;
        let value = table.get(run_id).ok()??;
        Some(value.value().to_vec())
    }

    /// Keeps `bytes` as `run_id`'s snapshot. A failure is logged and otherwise ignored: the
    /// run is folded from the journal next time.
    pub fn put(&self, run_id: &str, bytes: &[u8]) {
        let Some(db) = &self.db else { return };
        let written = (|| -> Result<(), redb::Error> {
            let mut write = db.begin_write()?;
            // Durable: redb keeps a `Durability::None` commit in memory only until a durable
            // one follows, and nothing else here commits durably. Snapshots are rare (one per
            // 1,000 events folded), so the fsync is cheap; a snapshot lost anyway is only
            // work to redo.
            write.set_durability(Durability::Immediate)?;
            {
                let mut table = write.open_table(TABLE)?;
                table.insert(run_id, bytes)?;
            }
            write.commit()?;
            Ok(())
        })();
        if let Err(error) = written {
            tracing::warn!(%run_id, %error, "a run snapshot was not written");
        }
    }
}

fn open_file(path: &Path) -> Result<Database, String> {
    // redb can panic on a file altered behind its back: a damaged derived file must never
    // stop the server, so a panic counts as unreadable.
    let opened = std::panic::catch_unwind(|| {
        redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create(path)
    });
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("redb panicked opening it".to_owned()),
    }
}
