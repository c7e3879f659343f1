//! `duro bench foreach`: one workflow of a single `foreach` over N items, each item one
//! transform, run R times one after another on the embedded journal with the real executor.
//! It shows whether a run's cost grows linearly with its items: 10,000 items should take
//! about the time of 10 runs of 1,000 (issue 16).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Integrations, RunSnapshots, Runs, StartRun, SystemClock};
use engine::run::RunStatus;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore};
use serde::Serialize;

use super::{percentile, round2};

#[derive(Args)]
pub struct ForeachBenchArgs {
    /// Items of the foreach.
    #[arg(long, default_value_t = 1000)]
    items: usize,
    /// The foreach's concurrency (items in flight at once).
    #[arg(long, default_value_t = 1)]
    concurrency: u32,
    /// Runs, one after another.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Directory for the journal (created if missing); by default a fresh directory under
    /// the system's temporary directory, removed afterwards.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

/// The figures, under the names scripts read (`--json`).
#[derive(Serialize)]
struct ForeachBenchResult {
    items: usize,
    concurrency: u32,
    runs: usize,
    /// All runs, start to end, one after another.
    total_ms: f64,
    p50_run_ms: f64,
    max_run_ms: f64,
    /// Total time over every item of every run.
    us_per_item: f64,
    /// Reading the last run (`Runs::get`) folding every event of its journal.
    load_full_ms: f64,
    /// Reading it again from its snapshot (`executor::snapshots`), with no event after it.
    load_snapshot_ms: f64,
}

/// A workflow of one foreach over `input.items`, each item one transform reading its item
/// and index.
pub fn workflow(concurrency: u32) -> serde_json::Value {
    serde_json::json!({
        "name": "Bench foreach",
        "steps": [{
            "id": "each",
            "type": "foreach",
            "config": {
                "items": "{{input.items}}",
                "concurrency": concurrency,
                "steps": [{
                    "id": "double",
                    "type": "transform",
                    "config": { "mapping": { "index": "{{index}}", "value": "{{item.n}}" } }
                }]
            }
        }]
    })
}

pub fn run(args: ForeachBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let (data_dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (super::temporary_dir("foreach"), true),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let measured = runtime.block_on(measure(&args, &data_dir));
    drop(runtime);
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    let (mut run_us, loads) = measured?;
    let total_us: u64 = run_us.iter().sum();
    run_us.sort_unstable();
    let result = ForeachBenchResult {
        items: args.items,
        concurrency: args.concurrency,
        runs: args.runs,
        total_ms: round2(total_us as f64 / 1000.0),
        p50_run_ms: round2(percentile(&run_us, 0.50) as f64 / 1000.0),
        max_run_ms: round2(run_us.last().copied().unwrap_or(0) as f64 / 1000.0),
        us_per_item: round2(total_us as f64 / (args.items.max(1) * args.runs) as f64),
        load_full_ms: round2(loads.0 as f64 / 1000.0),
        load_snapshot_ms: round2(loads.1 as f64 / 1000.0),
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "foreach bench: {} items, concurrency {}, {} run(s): {} ms in all, p50 {} ms a run, \
             max {} ms, {} µs an item; reading the last run {} ms folding every event, {} ms \
             from its snapshot",
            result.items,
            result.concurrency,
            result.runs,
            result.total_ms,
            result.p50_run_ms,
            result.max_run_ms,
            result.us_per_item,
            result.load_full_ms,
            result.load_snapshot_ms
        );
    }
    Ok(())
}

/// Each run's time from `start` to its end, and the times of reading the last run folding
/// every event and from its snapshot, in µs.
async fn measure(
    args: &ForeachBenchArgs,
    data_dir: &std::path::Path,
) -> anyhow::Result<(Vec<u64>, (u64, u64))> {
    let config = EmbeddedConfig::new(data_dir);
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
        .await?
        .context("opening the benchmark journal")?;
    let store: Arc<dyn EventStore> = Arc::new(store);
    let runs = Runs::new(store.clone(), Arc::new(SystemClock));
    let workflow_id = format!("wf_bench_foreach_{}", super::unique_suffix());
    let spec: WorkflowSpec = serde_json::from_value(workflow(args.concurrency))?;
    runs.workflows().create(&workflow_id, &spec).await?;
    runs.workflows()
        .set_status(&workflow_id, WorkflowStatus::Active)
        .await?;
    let items: Vec<serde_json::Value> = (0..args.items)
        .map(|n| serde_json::json!({ "n": n }))
        .collect();
    let input = serde_json::json!({ "items": items });
    let mut run_us = Vec::with_capacity(args.runs);
    let mut last_run = String::new();
    for _ in 0..args.runs {
        let begun = Instant::now();
        let run = runs
            .start(StartRun {
                workflow_id: workflow_id.clone(),
                input: Some(input.clone()),
                ..StartRun::default()
            })
            .await?;
        let ended = runs
            .wait_for_end(&run.run_id, Duration::from_secs(3600))
            .await?;
        run_us.push(begun.elapsed().as_micros() as u64);
        last_run = run.run_id.clone();
        anyhow::ensure!(
            ended.status == RunStatus::Completed,
            "run {} ended {:?}",
            run.run_id,
            ended.status
        );
        let outputs = ended
            .output
            .as_ref()
            .and_then(|output| output.as_array())
            .map_or(0, Vec::len);
        anyhow::ensure!(
            outputs == args.items,
            "run {} output {outputs} items, not {}",
            run.run_id,
            args.items
        );
    }
    // Reading the last run: every event folded, then (once a first read left a snapshot)
    // from the snapshot.
    let plain = Runs::new(store.clone(), Arc::new(SystemClock));
    let begun = Instant::now();
    plain.get(&last_run).await?;
    let load_full = begun.elapsed().as_micros() as u64;
    let snapshots = RunSnapshots::open(&RunSnapshots::dir_in(data_dir));
    let snapshotted = Runs::with_snapshots(
        store,
        Arc::new(SystemClock),
        Integrations::standard(),
        Arc::new(snapshots),
    );
    snapshotted.get(&last_run).await?;
    let begun = Instant::now();
    snapshotted.get(&last_run).await?;
    let load_snapshot = begun.elapsed().as_micros() as u64;
    Ok((run_us, (load_full, load_snapshot)))
}
