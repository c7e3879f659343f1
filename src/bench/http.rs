//! `duro bench http`: the REST API end to end over loopback TCP. An in-process server on the
//! embedded journal (or the journal in PostgreSQL, `--database-url`), or with `--nodes N`
//! N `duro serve` processes on one PostgreSQL journal (the clients spread over them
//! round-robin), and C clients sending `POST /api/v1/workflows/{id}/run` (5 transform steps
//! by default) without or with `?wait=30`, or `GET /api/v1/runs/{id}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use api::{ApiConfig, AppState};
use clap::{Args, ValueEnum};
use credentials::keys::Scope;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore};
use serde::Serialize;
use serde_json::{json, Value};

use super::{percentile, round2};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// POST .../run: answered once RunStarted is durable.
    Run,
    /// POST .../run?wait=30: answered once the run has completed.
    RunWait,
    /// GET /api/v1/runs/{id} of a completed run.
    Get,
}

#[derive(Args)]
pub struct HttpBenchArgs {
    /// Directory for the benchmark's journal (created if missing); with --database-url, for
    /// its read models only.
    #[arg(long)]
    data_dir: PathBuf,
    /// Keep the journal in PostgreSQL (as `duro serve --database-url`): use a scratch
    /// database, the benchmark's workflows and runs stay in it.
    #[arg(long)]
    database_url: Option<String>,
    /// Connections of the PostgreSQL pool (`duro serve --database-pool-size`), per node.
    #[arg(long, default_value_t = 16)]
    database_pool_size: u32,
    /// Start this many `duro serve` processes on the --database-url journal (node ids
    /// bench-1..N, data directories DATA_DIR/node-N) and spread the clients over them,
    /// instead of serving in this process.
    #[arg(long)]
    nodes: Option<usize>,
    #[arg(long, value_enum, default_value_t = Mode::RunWait)]
    mode: Mode,
    /// Transform steps per run.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Concurrent clients, each sending its next request when the last is answered.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

/// The figures, under the names scripts read (`--json`).
#[derive(Serialize)]
struct HttpBenchResult {
    mode: Mode,
    /// `embedded` or `postgresql`.
    journal: &'static str,
    steps: usize,
    concurrency: usize,
    requests: u64,
    seconds: f64,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// `duro serve` processes measured (`--nodes`); absent for the in-process server.
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<usize>,
    /// Each node's peak resident memory, in MiB (`--nodes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_peak_rss_mib: Vec<f64>,
}

pub fn run(args: HttpBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.steps >= 1, "--steps must be at least 1");
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    if let Some(nodes) = args.nodes {
        anyhow::ensure!(nodes >= 1, "--nodes must be at least 1");
        anyhow::ensure!(
            args.database_url.is_some(),
            "--nodes needs --database-url: nodes share a PostgreSQL journal"
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (elapsed, mut latencies_us, node_peak_rss_mib) = runtime.block_on(measure(&args))?;
    latencies_us.sort_unstable();
    let requests = latencies_us.len() as u64;
    let result = HttpBenchResult {
        mode: args.mode,
        journal: if args.database_url.is_some() {
            "postgresql"
        } else {
            "embedded"
        },
        steps: args.steps,
        concurrency: args.concurrency,
        requests,
        seconds: round2(elapsed),
        requests_per_sec: round2(requests as f64 / elapsed),
        p50_ms: round2(percentile(&latencies_us, 0.50) as f64 / 1000.0),
        p99_ms: round2(percentile(&latencies_us, 0.99) as f64 / 1000.0),
        nodes: args.nodes,
        node_peak_rss_mib,
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "http bench {:?} ({}{}): {} steps, {} clients, {} s: {} requests, {:.0}/s, p50 {} ms, p99 {} ms{}",
            result.mode,
            result.journal,
            result
                .nodes
                .map(|n| format!(", {n} nodes"))
                .unwrap_or_default(),
            result.steps,
            result.concurrency,
            result.seconds,
            result.requests,
            result.requests_per_sec,
            result.p50_ms,
            result.p99_ms,
            if result.node_peak_rss_mib.is_empty() {
                String::new()
            } else {
                format!(", peak RSS per node {:?} MiB", result.node_peak_rss_mib)
            }
        );
    }
    Ok(())
}

/// Servers under measurement: their base URLs and an admin key; they stop when dropped.
struct Servers {
    bases: Vec<String>,
    key: String,
    /// The in-process server's stop signal and task.
    in_process: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )>,
    nodes: Vec<super::nodes::Node>,
}

/// The in-process server, on the embedded journal or PostgreSQL.
async fn in_process(args: &HttpBenchArgs) -> anyhow::Result<Servers> {
    let store: Arc<dyn EventStore> = match &args.database_url {
        Some(url) => {
            std::fs::create_dir_all(&args.data_dir)?;
            Arc::new(crate::pg_journal::open(url, args.database_pool_size).await?)
        }
        None => {
            let config = EmbeddedConfig::new(&args.data_dir);
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
                .await?
                .context("opening the benchmark journal")?;
            Arc::new(store)
        }
    };
    let read_models =
        readmodels::ReadModels::open(&readmodels::dir_in(&args.data_dir), store.clone())?;
    let _follower = read_models.spawn_follower();
    let state = AppState::new(
        store,
        Arc::new(engine::executor::SystemClock),
        ApiConfig {
            // The benchmark measures the server, not the per-key limit.
            execute_per_minute: u32::MAX,
            ..ApiConfig::default()
        },
        read_models,
        credentials::connections::SecretKey::generate(),
    );
    let (_, key) = state.keys.create("bench", &[Scope::Admin]).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Ok(Servers {
        bases: vec![base],
        key,
        in_process: Some((stop, server)),
        nodes: Vec::new(),
    })
}

/// `count` `duro serve` processes on the PostgreSQL journal at `url`.
async fn processes(args: &HttpBenchArgs, url: &str, count: usize) -> anyhow::Result<Servers> {
    let key = format!("bench-{:032x}", rand::random::<u128>());
    let secret = format!("{:064x}", rand::random::<u128>());
    let pool = args.database_pool_size.to_string();
    let mut nodes = Vec::with_capacity(count);
    for i in 1..=count {
        let dir = args.data_dir.join(format!("node-{i}"));
        let node_id = format!("bench-{i}");
        let node = super::nodes::Node::start(
            &dir,
            &["--database-pool-size", &pool],
            &[
                ("DURO_DATABASE_URL", url),
                ("DURO_NODE_ID", &node_id),
                ("DURO_BOOTSTRAP_KEY", &key),
                ("DURO_SECRET_KEY", &secret),
                // The benchmark measures the servers, not the per-key limit.
                ("DURO_EXECUTE_RATE_LIMIT", "4000000000"),
            ],
            Duration::from_secs(120),
        )?;
        nodes.push(node);
    }
    Ok(Servers {
        bases: nodes.iter().map(super::nodes::Node::base_url).collect(),
        key,
        in_process: None,
        nodes,
    })
}

async fn measure(args: &HttpBenchArgs) -> anyhow::Result<(f64, Vec<u64>, Vec<f64>)> {
    let servers = match (args.nodes, &args.database_url) {
        (Some(count), Some(url)) => processes(args, url, count).await?,
        _ => in_process(args).await?,
    };
    let key = servers.key.clone();
    let base = servers.bases[0].clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let definition = super::runs::workflow(args.steps);
    let created: Value = client
        .post(format!("{base}/api/v1/workflows"))
        .header("x-api-key", &key)
        .json(&definition)
        .send()
        .await?
        .json()
        .await?;
    let workflow_id = created["data"]["id"]
        .as_str()
        .context("the created workflow has no id")?
        .to_owned();
    client
        .patch(format!("{base}/api/v1/workflows/{workflow_id}/status"))
        .header("x-api-key", &key)
        .json(&json!({"status": "active"}))
        .send()
        .await?
        .error_for_status()?;
    let run_path = format!("/api/v1/workflows/{workflow_id}/run");
    let path = match args.mode {
        Mode::Run => run_path.clone(),
        Mode::RunWait => format!("{run_path}?wait=30"),
        Mode::Get => {
            let done: Value = client
                .post(format!("{base}{run_path}?wait=30"))
                .header("x-api-key", &key)
                .json(&json!({"input": {"n": 1}}))
                .send()
                .await?
                .json()
                .await?;
            let run_id = done["data"]["id"].as_str().context("no run id")?;
            format!("/api/v1/runs/{run_id}")
        }
    };

    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::new();
    for client_index in 0..args.concurrency {
        let client = client.clone();
        let key = key.clone();
        let target = format!(
            "{}{path}",
            servers.bases[client_index % servers.bases.len()]
        );
        let mode = args.mode;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let begun = Instant::now();
                let request = match mode {
                    Mode::Get => client.get(&target),
                    Mode::Run | Mode::RunWait => {
                        client.post(&target).json(&json!({"input": {"n": n}}))
                    }
                };
                let response = request.header("x-api-key", &key).send().await?;
                let status = response.status();
                let body: Value = response.json().await?;
                anyhow::ensure!(status.is_success(), "{status}: {body}");
                if mode == Mode::RunWait {
                    anyhow::ensure!(body["data"]["status"] == "completed", "{body}");
                }
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
    let elapsed = started.elapsed().as_secs_f64();
    let mut peaks = Vec::new();
    for node in &servers.nodes {
        peaks.push(round2(node.peak_rss_kib()? as f64 / 1024.0));
    }
    if let Some((stop, server)) = servers.in_process {
        let _ = stop.send(());
        server.await??;
    }
    Ok((elapsed, latencies, peaks))
}
