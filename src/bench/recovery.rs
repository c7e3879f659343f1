//! `duro bench recovery`: how long `duro serve` takes to become ready when N runs were left
//! unfinished. Fills a fresh data directory in-process (half the runs paused on a `wait`
//! step, half sleeping in a one-hour `delay`, read models caught up, store closed), then
//! spawns the real server on it as a child process and times, from the spawn: the log line
//! `runs recovered` (the server recovers before it listens, from the read models' index of
//! unfinished runs), the first `GET /readyz` that
//! answers 200, and the moment the child's CPU goes quiet (the recovered drivers' first
//! turns are done). Reads the child's peak and settled resident memory, then stops it with
//! SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Runs, StartRun, SystemClock};
use engine::run::RunStatus;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore};
use serde::Serialize;

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
}

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
    let fill_seconds = fill(&args)?;
    if !args.json {
        eprintln!("filled in {fill_seconds:.2} s; starting duro serve ...");
    }
    let measured = measure_server(&args.data_dir)?;
    let result = RecoveryBenchResult {
        runs: args.runs,
        fill_seconds: round2(fill_seconds),
        recovered_seconds: round3(measured.recovered_seconds),
        recovered_runs: measured.recovered_runs,
        ready_seconds: round3(measured.ready_seconds),
        settled_seconds: measured.settled_seconds.map(round2),
        peak_rss_mib: round2(measured.peak_rss_kib as f64 / 1024.0),
        settled_rss_mib: round2(measured.settled_rss_kib as f64 / 1024.0),
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
    }
    Ok(())
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

/// The two workflows: runs of the first pause on a wait step, of the second sleep for an hour.
fn workflows() -> [(&'static str, serde_json::Value); 2] {
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
    ]
}

/// Fills the data directory and closes it; returns the seconds taken.
fn fill(args: &RecoveryBenchArgs) -> anyhow::Result<f64> {
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let filled = runtime.block_on(fill_in(args));
    // Dropping the runtime drops the drivers still sleeping, and with them the last handles
    // on the store, whose drop flushes it and releases the data directory's lock.
    drop(runtime);
    let store = filled?;
    anyhow::ensure!(
        store.upgrade().is_none(),
        "the benchmark journal is still open after the fill"
    );
    Ok(started.elapsed().as_secs_f64())
}

async fn fill_in(args: &RecoveryBenchArgs) -> anyhow::Result<Weak<dyn EventStore>> {
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
    let workflow_ids = Arc::new(workflow_ids);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.min(args.runs) {
        let (runs, workflow_ids, next, total) =
            (runs.clone(), workflow_ids.clone(), next.clone(), args.runs);
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(());
                }
                let started = runs
                    .start(StartRun {
                        workflow_id: workflow_ids[n % workflow_ids.len()].clone(),
                        input: Some(serde_json::json!({ "n": n })),
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
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
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
    Ok(Arc::downgrade(&store))
}

/// What was measured of the server.
struct Measured {
    recovered_seconds: f64,
    recovered_runs: Option<u64>,
    ready_seconds: f64,
    settled_seconds: Option<f64>,
    peak_rss_kib: u64,
    settled_rss_kib: u64,
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

fn measure_server(data_dir: &Path) -> anyhow::Result<Measured> {
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
        .env_remove("DURO_BOOTSTRAP_KEY")
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

    let ready_seconds = loop {
        if let Some(status) = guard.0.as_mut().map(Child::try_wait).transpose()?.flatten() {
            anyhow::bail!(
                "duro serve exited ({status}) before it was ready:\n{}",
                log_tail()
            );
        }
        if ready(address) {
            break spawned.elapsed().as_secs_f64();
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
    })
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// True when `GET /readyz` answers 200.
fn ready(address: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(
            format!("GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    attempt().unwrap_or(false)
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

fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
