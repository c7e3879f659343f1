//! `duro bench runs`: starts and awaits runs of a K-step transform workflow in-process, with
//! C concurrent starters, on the embedded journal (every event durable before the reply that
//! depends on it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Runs, StartRun, SystemClock};
use engine::run::RunStatus;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore};
use serde::Serialize;

use super::{percentile, round2};

#[derive(Args)]
pub struct RunsBenchArgs {
    /// Directory for the benchmark's journal (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Transform steps per run.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Concurrent starters, each starting a run and awaiting its end, again and again.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long the starters run.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

/// The figures, under the names scripts read (`--json`).
#[derive(Serialize)]
struct RunsBenchResult {
    steps: usize,
    concurrency: usize,
    runs: u64,
    seconds: f64,
    runs_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The p50 run divided by its steps: with `--concurrency 1`, what one step costs
    /// (fixed costs, two fdatasyncs, included).
    p50_us_per_step: f64,
}

pub fn workflow(steps: usize) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = (0..steps)
        .map(|i| {
            let value = if i == 0 {
                "{{input.n}}".to_string()
            } else {
                format!("{{{{steps.s{}.output.n}}}}", i - 1)
            };
            serde_json::json!({ "id": format!("s{i}"), "type": "transform", "config": { "mapping": { "n": value } } })
        })
        .collect();
    serde_json::json!({ "name": "Bench", "steps": steps })
}

pub fn run(args: RunsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.steps >= 1, "--steps must be at least 1");
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (runs, elapsed, mut latencies_us) = runtime.block_on(measure(&args))?;
    latencies_us.sort_unstable();
    let result = RunsBenchResult {
        steps: args.steps,
        concurrency: args.concurrency,
        runs,
        seconds: round2(elapsed),
        runs_per_sec: round2(runs as f64 / elapsed),
        p50_ms: round2(percentile(&latencies_us, 0.50) as f64 / 1000.0),
        p99_ms: round2(percentile(&latencies_us, 0.99) as f64 / 1000.0),
        p50_us_per_step: round2(percentile(&latencies_us, 0.50) as f64 / args.steps as f64),
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "runs bench: {} steps, {} starters, {} s: {} runs, {:.0} runs/s, p50 {} ms, p99 {} ms \
             ({} µs a step at p50)",
            result.steps,
            result.concurrency,
            result.seconds,
            result.runs,
            result.runs_per_sec,
            result.p50_ms,
            result.p99_ms,
            result.p50_us_per_step
        );
    }
    Ok(())
}

async fn measure(args: &RunsBenchArgs) -> anyhow::Result<(u64, f64, Vec<u64>)> {
    let config = EmbeddedConfig::new(&args.data_dir);
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
        .await?
        .context("opening the benchmark journal")?;
    let store: Arc<dyn EventStore> = Arc::new(store);
    let runs = Runs::new(store, Arc::new(SystemClock));
    let workflow_id = format!("wf_bench_{}_{}", args.steps, uuid_suffix());
    let spec: WorkflowSpec = serde_json::from_value(workflow(args.steps))?;
    runs.workflows().create(&workflow_id, &spec).await?;
    runs.workflows()
        .set_status(&workflow_id, WorkflowStatus::Active)
        .await?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let runs = runs.clone();
        let workflow_id = workflow_id.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let begun = Instant::now();
                let run = runs
                    .start(StartRun {
                        workflow_id: workflow_id.clone(),
                        input: Some(serde_json::json!({ "n": n })),
                        ..StartRun::default()
                    })
                    .await?;
                let ended = runs
                    .wait_for_end(&run.run_id, Duration::from_secs(60))
                    .await?;
                anyhow::ensure!(
                    ended.status == RunStatus::Completed,
                    "run {} ended {:?}",
                    run.run_id,
                    ended.status
                );
                latencies.push(begun.elapsed().as_micros() as u64);
                n += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok((
        latencies.len() as u64,
        started.elapsed().as_secs_f64(),
        latencies,
    ))
}

/// A suffix that keeps workflows of repeated runs in one directory apart.
fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}
