//! `duro projections rebuild`: drop the read models of a data directory and rebuild them
//! from its journal (the server must not be running: the journal's lock refuses a second
//! opener, and it is held for the whole rebuild), or from the journal in PostgreSQL
//! (`--database-url`; the data directory's own server must be stopped).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore};
use readmodels::ReadModels;

pub fn rebuild(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match database_url {
        Some(url) => runtime.block_on(rebuild_from_postgres(data_dir, url)),
        None => runtime.block_on(rebuild_in(data_dir)),
    }
}

async fn rebuild_from_postgres(data_dir: &Path, url: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    anyhow::ensure!(
        !journal::embedded::journal_dir(data_dir).exists(),
        "{} holds an embedded journal: its read models are that journal's, not PostgreSQL's",
        data_dir.display()
    );
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let store: Arc<dyn EventStore> =
        Arc::new(crate::pg_journal::open(url, crate::pg_journal::COMMAND_POOL_SIZE).await?);
    print!("{}", rebuild_models(data_dir, store, started).await?);
    Ok(())
}

async fn rebuild_in(data_dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = EmbeddedConfig::new(data_dir);
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
        .await
        .context("opening the journal")?
        .with_context(|| format!("opening the journal in {}", data_dir.display()))?;
    let store: Arc<dyn EventStore> = Arc::new(store);
    print!("{}", rebuild_models(data_dir, store, started).await?);
    Ok(())
}

/// Deletes the read models of `data_dir` and builds them afresh from `store` (its journal,
/// opened by the caller, who holds its lock), with a progress bar; prints the counts, the
/// checkpoint and the time since `started`. Used by `projections rebuild` and
/// `journal import`. Returns the report's lines (the counts, the checkpoint, the time, any
/// skipped events).
pub async fn rebuild_models(
    data_dir: &Path,
    store: Arc<dyn EventStore>,
    started: Instant,
) -> anyhow::Result<String> {
    let dir = readmodels::dir_in(data_dir);
    // Offline, with the journal's lock held, the old read models are simply deleted and
    // built afresh: `ReadModels::rebuild` keeps serving the old data while it builds, in one
    // transaction whose WAL grows to the size of the database, which a tool does not need.
    // Each page of events commits with its checkpoint, so a crash part-way leaves a
    // consistent prefix the next open continues from.
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing the old read models in {}", dir.display()))?;
    }
    let models = {
        let (path, store) = (dir.clone(), store.clone());
        tokio::task::spawn_blocking(move || ReadModels::open(&path, store))
            .await
            .context("opening the read models")?
            .with_context(|| format!("opening the read models in {}", dir.display()))?
    };
    let total = store.subscribe().borrow().0;
    let bar = crate::progress::events("projecting", Some(total));
    let watcher = {
        let (models, bar) = (models.clone(), bar.clone());
        tokio::spawn(async move {
            loop {
                bar.set_position(models.checkpoint().0);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
    };
    let caught_up = models.catch_up().await;
    watcher.abort();
    bar.finish_and_clear();
    caught_up.context("rebuilding the read models")?;
    models.flush().context("flushing the read models")?;
    let stats = models.stats().context("counting the read models")?;
    let mut report = format!(
        "rebuilt the read models in {}: {} runs, {} workflows ({} deleted), {} skipped events, \
         checkpoint position {}, in {:.2} s\n",
        dir.display(),
        stats.runs,
        stats.workflows,
        stats.deleted_workflows,
        stats.skipped_events,
        stats.checkpoint,
        started.elapsed().as_secs_f64()
    );
    if stats.skipped_events > 0 {
        for skipped in models.skipped().context("reading skipped events")? {
            report.push_str(&format!(
                "skipped position {} ({}, type {}): {}\n",
                skipped.position, skipped.stream, skipped.event_type, skipped.reason
            ));
        }
    }
    Ok(report)
}
