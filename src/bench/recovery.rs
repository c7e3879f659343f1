//! `duro bench recovery`: how long `duro serve` takes to become ready when N runs were left
//! unfinished. Fills a fresh data directory in-process (half the runs paused on a `wait`
//! step, half sleeping in a one-hour `delay`, read models caught up, store closed), then
//! spawns the real server on it as a child process and times, from the spawn: the log line
//! `runs recovered` (the server recovers before it listens, from the read models' index of
//! unfinished runs), the first `GET /readyz` that
//! answers 200, and the moment the child's CPU goes quiet (the recovered drivers' first
//! turns are done). Reads the child's peak and settled resident memory. Then it probes the
//! quiet server: resumes paused runs chosen at random through `POST /api/v1/runs/{id}/resume`,
//! one after another, and lets extra runs' timers (filled last, due some seconds after the
//! fill) fall due. It stops the server with SIGTERM and reads from the journal when each was
//! handled: a resume when the driver recorded the run's next event after `RunResumed`, a
//! timer when `TimerFired` was recorded (its lateness: that time minus the timer's due time).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::events::RunEvent;
use engine::executor::{Runs, StartRun, SystemClock};
use engine::run::RunStatus;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore, Seq, StreamName};
use serde::Serialize;

use super::nodes::{free_port, ready, status_kib};
use super::round2;

/// Longest wait for the server to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest wait for a filled run to reach paused or sleeping.
const SETTLE_RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// The child is "settled" once its CPU time has not grown for this many 100 ms samples.
const QUIET_SAMPLES: u32 = 3;
/// Longest wait for the child to go quiet after it is ready.
const QUIET_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Args)]
pub struct RecoveryBenchArgs {
    /// Unfinished runs to leave behind (half paused, half sleeping).
    #[arg(long, default_value_t = 10_000)]
    runs: usize,
    /// Directory for the benchmark's data (must be empty or missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Concurrent starters while filling.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// Paused runs (chosen at random) resumed through the API once the server is quiet, one
    /// after another.
    #[arg(long, default_value_t = 1000)]
    resumes: usize,
    /// Extra runs, filled last, whose delay falls due after the server is ready.
    #[arg(long, default_value_t = 1000)]
    timers: usize,
    /// Seconds from the end of the main fill to the first of those timers.
    #[arg(long, default_value_t = 20)]
    timer_lead_secs: u64,
    /// Seconds over which those timers fall due, evenly spread.
    #[arg(long, default_value_t = 10)]
    timer_spread_secs: u64,
}

/// The secret of the API key the probes use (`DURO_BOOTSTRAP_KEY` of the child).
const PROBE_KEY: &str = "bench-recovery-probe-key-0123456789abcdef";
/// How long after the last timer's due time the server is left running before it is stopped.
const TIMER_GRACE: Duration = Duration::from_secs(3);

/// The figures, under the names scripts read (`--json`). Times of the server are seconds
/// from its spawn.
#[derive(Serialize)]
struct RecoveryBenchResult {
    runs: usize,
    fill_seconds: f64,
    /// The log line `runs recovered` was read (every unfinished run is driven, queued in
    /// the sleepers' queue, or left parked).
    recovered_seconds: f64,
    /// How many the server said it recovered.
    recovered_runs: Option<u64>,
    /// `GET /readyz` answered 200.
    ready_seconds: f64,
    /// The child's CPU time stopped growing (the recovered drivers' first turns are done).
    settled_seconds: Option<f64>,
    /// VmHWM of the child once settled.
    peak_rss_mib: f64,
    /// VmRSS of the child once settled.
    settled_rss_mib: f64,
    /// Paused runs resumed through the API after the server went quiet.
    resumes: usize,
    /// From sending `POST /api/v1/runs/{id}/resume` to the run's next event after
    /// `RunResumed` being recorded (its `recordedAt` in the journal), in ms.
    resume_handled_ms: Option<Percentiles>,
    /// Resumed runs with no event after `RunResumed` when the server stopped.
    resumes_unhandled: usize,
    /// Extra runs whose delay fell due after the fill.
    timers: usize,
    /// `TimerFired`'s `recordedAt` minus the timer's due time (`fire_at_ms`), in ms.
    timer_late_ms: Option<Percentiles>,
    /// Timers with no `TimerFired` when the server stopped.
    timers_unfired: usize,
    /// Timers that fell due before `/readyz` answered 200 (their lateness includes the wait
    /// for the start).
    timers_due_before_ready: usize,
}

#[derive(Serialize)]
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut values: Vec<f64>) -> Option<Percentiles> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            round3(values[rank - 1])
        };
        Some(Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        })
    }

    fn text(this: &Option<Percentiles>) -> String {
        this.as_ref().map_or_else(
            || "-".to_owned(),
            |p| format!("p50 {} / p99 {} / max {} ms", p.p50, p.p99, p.max),
        )
    }
}

pub fn run(args: RecoveryBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    ensure_empty(&args.data_dir)?;
    if !args.json {
        eprintln!(
            "filling {} with {} unfinished runs ...",
            args.data_dir.display(),
            args.runs
        );
    }
    let (fill_seconds, filled) = fill(&args)?;
    if !args.json {
        eprintln!("filled in {fill_seconds:.2} s; starting duro serve ...");
    }
    let measured = measure_server(&args.data_dir, &filled)?;
    let outcomes = read_outcomes(&args.data_dir, &measured.resumed, &filled.timed)?;
    let timers_due_before_ready = filled
        .timed
        .iter()
        .filter(|(_, due_ms)| *due_ms < measured.ready_unix_ms)
        .count();
    let result = RecoveryBenchResult {
        runs: args.runs,
        fill_seconds: round2(fill_seconds),
        recovered_seconds: round3(measured.recovered_seconds),
        recovered_runs: measured.recovered_runs,
        ready_seconds: round3(measured.ready_seconds),
        settled_seconds: measured.settled_seconds.map(round2),
        peak_rss_mib: round2(measured.peak_rss_kib as f64 / 1024.0),
        settled_rss_mib: round2(measured.settled_rss_kib as f64 / 1024.0),
        resumes: measured.resumed.len(),
        resumes_unhandled: measured.resumed.len() - outcomes.resume_handled_ms.len(),
        resume_handled_ms: Percentiles::of(outcomes.resume_handled_ms),
        timers: filled.timed.len(),
        timers_unfired: filled.timed.len() - outcomes.timer_late_ms.len(),
        timer_late_ms: Percentiles::of(outcomes.timer_late_ms),
        timers_due_before_ready,
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "recovery bench: {} unfinished runs (filled in {} s): runs recovered after {} s \
             ({} recovered), /readyz 200 after {} s, CPU quiet after {} s; peak RSS {} MiB, \
             settled RSS {} MiB",
            result.runs,
            result.fill_seconds,
            result.recovered_seconds,
            result
                .recovered_runs
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            result.ready_seconds,
            result
                .settled_seconds
                .map_or_else(|| "?".to_owned(), |s| s.to_string()),
            result.peak_rss_mib,
            result.settled_rss_mib
        );
        println!(
            "  {} resumes handled: {} ({} unhandled); {} timers late: {} ({} unfired, {} due \
             before ready)",
            result.resumes,
            Percentiles::text(&result.resume_handled_ms),
            result.resumes_unhandled,
            result.timers,
            Percentiles::text(&result.timer_late_ms),
            result.timers_unfired,
            result.timers_due_before_ready
        );
    }
    Ok(())
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn ensure_empty(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: the benchmark needs a fresh data directory",
            dir.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("reading {}", dir.display())),
    }
    Ok(())
}

/// The workflows: runs of the first pause on a wait step, of the second sleep for an hour,
/// of the third (the timer probes, filled last) sleep until `input.due`.
fn workflows() -> [(&'static str, serde_json::Value); 3] {
    let after = serde_json::json!({
        "id": "after", "type": "transform", "config": { "mapping": { "n": "{{input.n}}" } }
    });
    [
        (
            "hold",
            serde_json::json!({
                "name": "Recovery bench: wait",
                "steps": [ { "id": "hold", "type": "wait" }, after ]
            }),
        ),
        (
            "nap",
            serde_json::json!({
                "name": "Recovery bench: delay",
                "steps": [
                    { "id": "nap", "type": "delay", "config": { "duration": "1h" } },
                    after
                ]
            }),
        ),
        (
            "soon",
            serde_json::json!({
                "name": "Recovery bench: delay until",
                "steps": [
                    { "id": "soon", "type": "delay", "config": { "until": "{{input.due}}" } },
                    after
                ]
            }),
        ),
    ]
}

/// What the fill left for the probes.
struct Filled {
    /// Paused runs to resume, in a random order.
    resumable: Vec<String>,
    /// The timer probes: (run id, due time in ms since the epoch).
    timed: Vec<(String, i64)>,
}

/// Fills the data directory and closes it; returns the seconds taken and the probes' runs.
fn fill(args: &RecoveryBenchArgs) -> anyhow::Result<(f64, Filled)> {
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let filled = runtime.block_on(fill_in(args));
    // Dropping the runtime drops the drivers still sleeping, and with them the last handles
    // on the store, whose drop flushes it and releases the data directory's lock.
    drop(runtime);
    let (store, filled) = filled?;
    anyhow::ensure!(
        store.upgrade().is_none(),
        "the benchmark journal is still open after the fill"
    );
    Ok((started.elapsed().as_secs_f64(), filled))
}

/// Makes the `n`th run's workflow id and input.
type MakeRun = Arc<dyn Fn(usize) -> (String, serde_json::Value) + Send + Sync>;

/// Starts `total` runs with `concurrency` starters, each waited for until it is paused or
/// sleeping; returns the ids of the runs `keep` chose, with their `n`.
async fn start_many(
    runs: &Runs,
    concurrency: usize,
    total: usize,
    make: MakeRun,
    keep: Arc<HashSet<usize>>,
) -> anyhow::Result<Vec<(usize, String)>> {
    let next = Arc::new(AtomicUsize::new(0));
    let kept = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(total) {
        let (runs, make, keep, kept, next) = (
            runs.clone(),
            make.clone(),
            keep.clone(),
            kept.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(());
                }
                let (workflow_id, input) = make(n);
                let started = runs
                    .start(StartRun {
                        workflow_id,
                        input: Some(input),
                        ..StartRun::default()
                    })
                    .await?;
                let deadline = Instant::now() + SETTLE_RUN_TIMEOUT;
                loop {
                    let status = runs.get(&started.run_id).await?.status;
                    if matches!(status, RunStatus::Paused | RunStatus::Sleeping) {
                        break;
                    }
                    anyhow::ensure!(
                        !status.is_terminal() && Instant::now() < deadline,
                        "run {} is {status:?}, not paused or sleeping",
                        started.run_id
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if keep.contains(&n) {
                    kept.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((n, started.run_id));
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let kept = std::mem::take(&mut *kept.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(kept)
}

async fn fill_in(args: &RecoveryBenchArgs) -> anyhow::Result<(Weak<dyn EventStore>, Filled)> {
    let config = EmbeddedConfig::new(&args.data_dir);
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
        .await?
        .context("opening the benchmark journal")?;
    let store: Arc<dyn EventStore> = Arc::new(store);
    let runs = Runs::new(store.clone(), Arc::new(SystemClock));
    let mut workflow_ids = Vec::new();
    for (name, definition) in workflows() {
        let workflow_id = format!("wf_recovery_{name}");
        let spec: WorkflowSpec = serde_json::from_value(definition)?;
        runs.workflows().create(&workflow_id, &spec).await?;
        runs.workflows()
            .set_status(&workflow_id, WorkflowStatus::Active)
            .await?;
        workflow_ids.push(workflow_id);
    }
    // The main fill alternates between the first two workflows: the paused runs are the
    // even `n`; `--resumes` of them are chosen at random.
    let paused = args.runs.div_ceil(2);
    let chosen: HashSet<usize> =
        rand::seq::index::sample(&mut rand::rng(), paused, args.resumes.min(paused))
            .into_iter()
            .map(|i| 2 * i)
            .collect();
    let main: MakeRun = {
        let ids = [workflow_ids[0].clone(), workflow_ids[1].clone()];
        Arc::new(move |n| (ids[n % 2].clone(), serde_json::json!({ "n": n })))
    };
    let mut resumable =
        start_many(&runs, args.concurrency, args.runs, main, Arc::new(chosen)).await?;
    // Shuffled by a random key rather than left in the order the starters finished.
    let order: Vec<usize> =
        rand::seq::index::sample(&mut rand::rng(), resumable.len(), resumable.len()).into_vec();
    let resumable: Vec<String> = order
        .into_iter()
        .map(|i| std::mem::take(&mut resumable[i].1))
        .collect();

    // The timer probes: due from `timer_lead_secs` after now, spread over
    // `timer_spread_secs`, so that they fall due once the server is up.
    let first_due = unix_ms() + (args.timer_lead_secs * 1000) as i64;
    let spread_ms = (args.timer_spread_secs * 1000) as i64;
    let timers = args.timers;
    let due_of = move |n: usize| first_due + spread_ms * n as i64 / timers.max(1) as i64;
    let soon: MakeRun = {
        let id = workflow_ids[2].clone();
        Arc::new(move |n| {
            let due = chrono::DateTime::from_timestamp_millis(due_of(n))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default();
            (id.clone(), serde_json::json!({ "n": n, "due": due }))
        })
    };
    let every: HashSet<usize> = (0..timers).collect();
    let timed = start_many(&runs, args.concurrency, timers, soon, Arc::new(every))
        .await?
        .into_iter()
        .map(|(n, run_id)| (run_id, due_of(n)))
        .collect();

    // Leave the read models caught up, as a server that stopped cleanly does.
    let dir = readmodels::dir_in(&args.data_dir);
    let models = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || readmodels::ReadModels::open(&dir, store))
            .await?
            .context("opening the read models")?
    };
    models.catch_up().await.context("projecting the runs")?;
    models.flush().context("flushing the read models")?;
    Ok((Arc::downgrade(&store), Filled { resumable, timed }))
}

/// What was measured of the server.
struct Measured {
    recovered_seconds: f64,
    recovered_runs: Option<u64>,
    ready_seconds: f64,
    settled_seconds: Option<f64>,
    peak_rss_kib: u64,
    settled_rss_kib: u64,
    /// When `/readyz` first answered 200, in ms since the epoch.
    ready_unix_ms: i64,
    /// The runs resumed, each with when its resume was sent (µs since the epoch).
    resumed: Vec<(String, i64)>,
}

/// Kills the child if the measurement fails part-way.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn measure_server(data_dir: &Path, filled: &Filled) -> anyhow::Result<Measured> {
    let address = free_port()?;
    let exe = std::env::current_exe().context("finding the duro binary")?;
    let spawned = Instant::now();
    let mut child = Command::new(exe)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(address.to_string())
        .env("RUST_LOG", "info")
        .env("DURO_BOOTSTRAP_KEY", PROBE_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning duro serve")?;
    let stderr = child.stderr.take().context("the child has no stderr")?;
    let mut guard = ChildGuard(Some(child));
    let pid = guard.0.as_ref().map_or(0, Child::id);

    // Read the child's log on a thread: note when recovery is done, keep the tail for errors.
    let (recovered_tx, recovered_rx) = mpsc::channel::<(Instant, Option<u64>)>();
    let tail = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let tail = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("runs recovered") {
                    let count = line
                        .split_whitespace()
                        .find_map(|word| word.strip_prefix("recovered="))
                        .and_then(|n| n.parse().ok());
                    let _ = recovered_tx.send((Instant::now(), count));
                }
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() >= 20 {
                    tail.remove(0);
                }
                tail.push(line);
            }
        })
    };
    let log_tail = || tail.lock().unwrap_or_else(|p| p.into_inner()).join("\n");

    let (ready_seconds, ready_unix_ms) = loop {
        if let Some(status) = guard.0.as_mut().map(Child::try_wait).transpose()?.flatten() {
            anyhow::bail!(
                "duro serve exited ({status}) before it was ready:\n{}",
                log_tail()
            );
        }
        if ready(address) {
            break (spawned.elapsed().as_secs_f64(), unix_ms());
        }
        anyhow::ensure!(
            spawned.elapsed() < READY_TIMEOUT,
            "duro serve was not ready within {} s:\n{}",
            READY_TIMEOUT.as_secs(),
            log_tail()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    // The server logs `runs recovered` before it listens, so the line is read by now or soon.
    let (recovered_at, recovered_runs) = recovered_rx
        .recv_timeout(Duration::from_secs(10))
        .with_context(|| format!("no `runs recovered` in the server's log:\n{}", log_tail()))?;
    let recovered_seconds = recovered_at.duration_since(spawned).as_secs_f64();

    let settled_seconds = wait_quiet(pid)?.map(|at| at.duration_since(spawned).as_secs_f64());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading the child's /proc status")?;
    let peak_rss_kib = status_kib(&status, "VmHWM:").context("no VmHWM")?;
    let settled_rss_kib = status_kib(&status, "VmRSS:").context("no VmRSS")?;

    // The probes: resumes now, one after another; then the timers fall due by themselves.
    let resumed = resume_all(address, &filled.resumable)
        .with_context(|| format!("resuming runs; the server's log:\n{}", log_tail()))?;
    if let Some(last_due) = filled.timed.iter().map(|(_, due)| *due).max() {
        let wait_ms = (last_due - unix_ms()).max(0) as u64;
        std::thread::sleep(Duration::from_millis(wait_ms) + TIMER_GRACE);
    }
    if let Some(status) = guard.0.as_mut().map(Child::try_wait).transpose()?.flatten() {
        anyhow::bail!(
            "duro serve exited ({status}) during the probes:\n{}",
            log_tail()
        );
    }

    // Stop it as an operator would, and wait for a clean exit.
    if let Some(mut child) = guard.0.take() {
        // SAFETY: kill only sends a signal to the child spawned above, not yet reaped.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::ensure!(
                    status.success(),
                    "duro serve exited {status} after SIGTERM:\n{}",
                    log_tail()
                );
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("duro serve did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = reader.join();
    Ok(Measured {
        recovered_seconds,
        recovered_runs,
        ready_seconds,
        settled_seconds,
        peak_rss_kib,
        settled_rss_kib,
        ready_unix_ms,
        resumed,
    })
}

/// Resumes each run through the API, one after another; returns each with when its request
/// was sent (µs since the epoch).
fn resume_all(address: SocketAddr, run_ids: &[String]) -> anyhow::Result<Vec<(String, i64)>> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the probes' runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().build()?;
        let mut resumed = Vec::with_capacity(run_ids.len());
        for run_id in run_ids {
            let url = format!("http://{address}/api/v1/runs/{run_id}/resume");
            let sent = unix_us();
            let response = client
                .post(&url)
                .header("x-api-key", PROBE_KEY)
                .json(&serde_json::json!({ "payload": { "approved": true } }))
                .send()
                .await?;
            let status = response.status();
            anyhow::ensure!(
                status.is_success(),
                "resuming {run_id} answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
            resumed.push((run_id.clone(), sent));
        }
        Ok(resumed)
    })
}

/// A run's events, decoded, each with its `recordedAt` (µs since the epoch).
async fn run_events(store: &EmbeddedStore, run_id: &str) -> anyhow::Result<Vec<(RunEvent, i64)>> {
    let stream = StreamName::new(format!("run-{run_id}"))
        .map_err(|e| anyhow::anyhow!("run id {run_id}: {e:?}"))?;
    let recorded = store.read_stream(&stream, Seq(1), 1_000).await?;
    recorded
        .into_iter()
        .map(|r| {
            let event = RunEvent::decode(r.event_type, &r.data)
                .map_err(|e| anyhow::anyhow!("run {run_id}: {e}"))?;
            Ok((event, r.recorded_at.as_micros()))
        })
        .collect()
}

/// When the probes were handled, read from the journal once the server has stopped.
struct Outcomes {
    resume_handled_ms: Vec<f64>,
    timer_late_ms: Vec<f64>,
}

fn read_outcomes(
    data_dir: &Path,
    resumed: &[(String, i64)],
    timed: &[(String, i64)],
) -> anyhow::Result<Outcomes> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let config = EmbeddedConfig::new(data_dir);
        let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
            .await?
            .context("opening the benchmark journal again")?;
        let mut resume_handled_ms = Vec::new();
        for (run_id, sent_us) in resumed {
            let events = run_events(&store, run_id).await?;
            let after = events
                .iter()
                .position(|(event, _)| matches!(event, RunEvent::RunResumed { .. }))
                .and_then(|at| events.get(at + 1));
            if let Some((_, recorded_us)) = after {
                resume_handled_ms.push((recorded_us - sent_us) as f64 / 1000.0);
            }
        }
        let mut timer_late_ms = Vec::new();
        for (run_id, due_ms) in timed {
            let events = run_events(&store, run_id).await?;
            // The due time the run recorded (the one asked for, to the millisecond).
            let due_ms = events
                .iter()
                .find_map(|(event, _)| match event {
                    RunEvent::TimerScheduled { fire_at_ms, .. } => Some(*fire_at_ms),
                    _ => None,
                })
                .unwrap_or(*due_ms);
            let fired = events
                .iter()
                .find(|(event, _)| matches!(event, RunEvent::TimerFired { .. }));
            if let Some((_, recorded_us)) = fired {
                timer_late_ms.push(*recorded_us as f64 / 1000.0 - due_ms as f64);
            }
        }
        Ok(Outcomes {
            resume_handled_ms,
            timer_late_ms,
        })
    })
}

/// The child's user+system CPU time, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// When the child's CPU time stopped growing (the first of `QUIET_SAMPLES` quiet samples
/// 100 ms apart); None if it never went quiet within `QUIET_TIMEOUT`.
fn wait_quiet(pid: u32) -> anyhow::Result<Option<Instant>> {
    let began = Instant::now();
    let mut last = cpu_ticks(pid)?;
    let mut quiet_since: Option<Instant> = None;
    let mut quiet = 0;
    while began.elapsed() < QUIET_TIMEOUT {
        let sampled = Instant::now();
        std::thread::sleep(Duration::from_millis(100));
        let now = cpu_ticks(pid)?;
        if now == last {
            quiet_since.get_or_insert(sampled);
            quiet += 1;
            if quiet >= QUIET_SAMPLES {
                return Ok(quiet_since);
            }
        } else {
            quiet_since = None;
            quiet = 0;
        }
        last = now;
    }
    Ok(None)
}
