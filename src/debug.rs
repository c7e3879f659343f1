//! Child processes of the crash tests.
//!
//! `duro debug append-loop`: the journal's crash test. It appends batches whose
//! contents say what they should be, and prints a line for every append acknowledged, so a
//! test can kill it at any moment and check the journal against what was acknowledged.
//!
//! Output, one line each, flushed as they happen:
//! `ready <committed position>` once the store is open, then
//! `ack <stream> <first seq> <count> <first position> <append id>` per acknowledged append.
//! Event `i` of an append carries the data `<append id>:<i>:<count>:<padding>`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, NewEvent, StreamName,
};

#[derive(Args)]
pub struct AppendLoopArgs {
    #[arg(long)]
    data_dir: PathBuf,
    /// Concurrent writers; writer w appends to streams crash-w-0 .. crash-w-2.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Segment size, small to exercise roll-over under crashes.
    #[arg(long, default_value_t = 1024 * 1024)]
    segment_bytes: u64,
}

pub fn append_loop(args: AppendLoopArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: AppendLoopArgs) -> anyhow::Result<()> {
    let mut config = EmbeddedConfig::new(&args.data_dir);
    config.segment_bytes = args.segment_bytes;
    let store = Arc::new(EmbeddedStore::open(config).context("opening the journal")?);
    say(&format!("ready {}", store.committed().0));
    let pid = std::process::id();
    let mut tasks = Vec::new();
    for writer in 0..args.writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for counter in 0u64.. {
                let stream = StreamName::new(format!("crash-{writer}-{}", counter % 3))?;
                // Only this writer appends to its streams, so the version it reads is exact.
                let version = store.stream_version(&stream).await?;
                let count = 1 + (counter % 4) as usize;
                let append_id = format!("{pid}.{writer}.{counter}");
                let events = (0..count)
                    .map(|i| {
                        let padding = "p".repeat((counter as usize * 37 + i * 11) % 300);
                        let data = format!("{append_id}:{i}:{count}:{padding}");
                        NewEvent::new(EventType(1), data.into_bytes())
                    })
                    .collect();
                let result = store
                    .append(&stream, ExpectedVersion::Exact(version), events)
                    .await?;
                say(&format!(
                    "ack {stream} {} {count} {} {append_id}",
                    result.first_seq.0, result.first_position.0
                ));
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[derive(Args)]
pub struct RunLoadArgs {
    #[arg(long)]
    data_dir: PathBuf,
    /// Base URL of the test's counter server (it serves /count and /flaky).
    #[arg(long)]
    counter_url: String,
    /// Runs to start, with idempotency keys crash-0 .. crash-(N-1), so restarts start none twice.
    #[arg(long, default_value_t = 200)]
    runs: usize,
}

/// The crash test's workflow: five steps, two HTTP calls to the counter server, a 1 s
/// delay, and a call the server fails twice per run before it succeeds.
fn crash_workflow(counter_url: &str) -> serde_json::Value {
    serde_json::json!({
        "name": "Crash test",
        "steps": [
            { "id": "prepare", "type": "transform", "config": { "mapping": { "n": "{{input.n}}" } } },
            { "id": "call-a", "type": "http", "config": { "method": "POST", "url": format!("{counter_url}/count"), "body": { "n": "{{steps.prepare.output.n}}" } } },
            { "id": "nap", "type": "delay", "config": { "duration": "1s" } },
            { "id": "flaky", "type": "http", "config": { "method": "POST", "url": format!("{counter_url}/flaky") },
              "retry": { "maxAttempts": 5, "initialInterval": "100ms" } },
            { "id": "finish", "type": "transform", "config": { "mapping": { "n": "{{input.n}}", "status": "{{steps.flaky.output.status}}" } } }
        ]
    })
}

/// Prints `started <i> <run id>` per run and `all done` once every run has ended.
pub fn run_load(args: RunLoadArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(drive_load(args))
}

async fn drive_load(args: RunLoadArgs) -> anyhow::Result<()> {
    use engine::definition::{WorkflowSpec, WorkflowStatus};
    use engine::executor::{Runs, StartRun, SystemClock};
    use engine::workflows::WorkflowError;

    let mut config = EmbeddedConfig::new(&args.data_dir);
    config.segment_bytes = 1024 * 1024;
    let store: Arc<dyn EventStore> =
        Arc::new(EmbeddedStore::open(config).context("opening the journal")?);
    let runs = Runs::new(store, Arc::new(SystemClock));
    runs.recover().await?;
    let spec: WorkflowSpec = serde_json::from_value(crash_workflow(&args.counter_url))?;
    match runs.workflows().create("wf_crash", &spec).await {
        Ok(_) | Err(WorkflowError::Conflict(_)) => {}
        Err(other) => return Err(other.into()),
    }
    runs.workflows()
        .set_status("wf_crash", WorkflowStatus::Active)
        .await?;
    let mut run_ids = Vec::with_capacity(args.runs);
    for n in 0..args.runs {
        let started = runs
            .start(StartRun {
                workflow_id: "wf_crash".into(),
                input: Some(serde_json::json!({ "n": n })),
                idempotency_key: Some(format!("crash-{n}")),
                connection_id: None,
            })
            .await?;
        say(&format!("started {n} {}", started.run_id));
        run_ids.push(started.run_id);
    }
    // Each run in turn until it ends: `wait_for_end` wakes as its driver finishes.
    for run_id in &run_ids {
        while !runs
            .wait_for_end(run_id, std::time::Duration::from_secs(3600))
            .await?
            .status
            .is_terminal()
        {}
    }
    say("all done");
    Ok(())
}
