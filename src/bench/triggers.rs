//! `duro bench triggers`: what N schedule triggers cost while none of them is due. Fills an
//! embedded journal (in a fresh temporary directory) with N schedule triggers whose cron
//! fires once a year, on a day far from now, starts the trigger runner as `duro serve` does,
//! waits until it has a task per trigger and its CPU use has settled, then measures the
//! process's CPU time (user + system, from /proc/self/stat) and resident memory over
//! `--seconds`. The answer is the CPU time per minute between ticks: what the process spends
//! only because the triggers exist.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Runs, SystemClock};
use journal::{EmbeddedConfig, EmbeddedStore, EventStore};
use serde::Serialize;
use triggers::instances::{TriggerSpec, Triggers};
use triggers::runner::Runner;

use super::round2;

/// Longest wait for the runner to have a task per trigger.
const START_TIMEOUT: Duration = Duration::from_secs(600);
/// Pause after the tasks started, for their first plans to finish before measuring.
const SETTLE: Duration = Duration::from_secs(5);

#[derive(Args)]
pub struct TriggersBenchArgs {
    /// Schedule triggers to create.
    #[arg(long, default_value_t = 10_000)]
    schedules: usize,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Concurrent upserts while filling.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

/// The figures, under the names scripts read (`--json`).
#[derive(Serialize)]
struct TriggersBenchResult {
    schedules: usize,
    fill_seconds: f64,
    /// Seconds from starting the runner to a task per trigger.
    start_seconds: f64,
    measured_seconds: f64,
    /// CPU time (user + system) of the whole process per minute of the measurement.
    cpu_ms_per_minute: f64,
    /// VmRSS at the end of the measurement.
    rss_mib: f64,
}

pub fn run(args: TriggersBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.schedules >= 1, "--schedules must be at least 1");
    anyhow::ensure!(args.seconds >= 1, "--seconds must be at least 1");
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let dir = std::env::temp_dir().join(format!("duro-bench-triggers-{}", std::process::id()));
    anyhow::ensure!(!dir.exists(), "{} exists already", dir.display());
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(measure(&args, &dir));
    drop(runtime);
    let _ = std::fs::remove_dir_all(&dir);
    let result = result?;
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "triggers bench: {} schedule triggers (filled in {} s, tasks up after {} s): \
             {} ms of CPU per minute between ticks over {} s; RSS {} MiB",
            result.schedules,
            result.fill_seconds,
            result.start_seconds,
            result.cpu_ms_per_minute,
            result.measured_seconds,
            result.rss_mib
        );
    }
    Ok(())
}

async fn measure(
    args: &TriggersBenchArgs,
    dir: &std::path::Path,
) -> anyhow::Result<TriggersBenchResult> {
    let config = EmbeddedConfig::new(dir);
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
        .await?
        .context("opening the benchmark journal")?;
    let store: Arc<dyn EventStore> = Arc::new(store);
    let runs = Runs::new(store.clone(), Arc::new(SystemClock));
    let spec: WorkflowSpec = serde_json::from_value(serde_json::json!({
        "name": "Triggers bench",
        "steps": [{"id": "t", "type": "transform", "config": {"mapping": {"at": "{{input.scheduledAt}}"}}}]
    }))?;
    runs.workflows().create("wf_triggers_bench", &spec).await?;
    runs.workflows()
        .set_status("wf_triggers_bench", WorkflowStatus::Active)
        .await?;
    let triggers = Triggers::new(store.clone());

    let filling = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut fillers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (triggers, next, total) = (triggers.clone(), next.clone(), args.schedules);
        fillers.spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return Ok::<(), anyhow::Error>(());
                }
                let spec: TriggerSpec = serde_json::from_value(serde_json::json!({
                    "type": "schedule", "workflowId": "wf_triggers_bench",
                    // Once a year, spread over the minutes of a day far from now.
                    "config": {"cron": format!("{} {} 29 2 *", n % 60, (n / 60) % 24)}
                }))?;
                triggers
                    .upsert(&format!("bench-{n}"), spec, None, true, None)
                    .await
                    .with_context(|| format!("creating trigger {n}"))?;
            }
        });
    }
    while let Some(filled) = fillers.join_next().await {
        filled??;
    }
    let fill_seconds = filling.elapsed().as_secs_f64();
    if !args.json {
        eprintln!(
            "filled {} schedule triggers in {fill_seconds:.2} s; starting the runner ...",
            args.schedules
        );
    }

    let runner = Runner::new(triggers, runs, Arc::new(SystemClock));
    let starting = Instant::now();
    let supervisor = runner.spawn();
    while runner.task_count() < args.schedules {
        anyhow::ensure!(
            starting.elapsed() < START_TIMEOUT,
            "the runner started {} of {} tasks in {} s",
            runner.task_count(),
            args.schedules,
            START_TIMEOUT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start_seconds = starting.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;

    let cpu_before = process_cpu_ms()?;
    let measuring = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let measured_seconds = measuring.elapsed().as_secs_f64();
    let cpu_ms = process_cpu_ms()? - cpu_before;
    let rss_mib = rss_kib()? as f64 / 1024.0;
    supervisor.abort();
    runner.stop();
    Ok(TriggersBenchResult {
        schedules: args.schedules,
        fill_seconds: round2(fill_seconds),
        start_seconds: round2(start_seconds),
        measured_seconds: round2(measured_seconds),
        cpu_ms_per_minute: round2(cpu_ms * 60.0 / measured_seconds),
        rss_mib: round2(rss_mib),
    })
}

/// User + system CPU time of this process so far, in milliseconds (/proc/self/stat fields 14
/// and 15, in clock ticks of 1/100 s on Linux).
fn process_cpu_ms() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc/self/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state): utime is field 14, stime 15.
    let ticks = |index: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(index - 3)
            .context("unexpected /proc/self/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(14)? + ticks(15)?) * 10.0)
}

fn rss_kib() -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .context("no VmRSS in /proc/self/status")
}
