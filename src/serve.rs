//! `duro serve`: open the journal, serve the API, stop cleanly on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use api::ApiConfig;
use clap::Args;
use journal::{EmbeddedConfig, EmbeddedStore};

use crate::config;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3000].
    #[arg(long, env = "DURO_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory holding the journal and its index [default: ./duro-data].
    #[arg(long, env = "DURO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Run/execute requests each API key may make per minute [default: 500].
    #[arg(long, env = "DURO_EXECUTE_RATE_LIMIT")]
    execute_rate_limit: Option<u32>,
    /// Largest request body accepted, in bytes [default: 1048576].
    #[arg(long, env = "DURO_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Settings file (TOML); without it ./duro.toml is read if it exists.
    #[arg(long, env = "DURO_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of extra provider files (*.json) for action steps.
    #[arg(long, env = "DURO_PROVIDERS_DIR")]
    providers_dir: Option<PathBuf>,
    /// Deny outbound calls to loopback and private addresses too [default: false].
    #[arg(long, env = "DURO_OUTBOUND_DENY_PRIVATE")]
    outbound_deny_private: Option<bool>,
    /// CIDRs or host names outbound calls may always reach (comma-separated).
    #[arg(long, env = "DURO_OUTBOUND_ALLOW", value_delimiter = ',')]
    outbound_allow: Option<Vec<String>>,
    /// Largest outbound response body read, in bytes [default: 10485760].
    #[arg(long, env = "DURO_MAX_RESPONSE_BYTES")]
    max_response_bytes: Option<usize>,
    /// Default SMTP server of email steps (smtp://, smtp+starttls://, smtps://).
    #[arg(long, env = "DURO_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// Keep the journal in PostgreSQL (postgres://user@host:port/db) instead of the data
    /// directory; the read models and the secret key file stay in the data directory.
    #[arg(long, env = "DURO_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Most connections to PostgreSQL [default: 16].
    #[arg(long, env = "DURO_DATABASE_POOL_SIZE")]
    database_pool_size: Option<u32>,
    /// This node's id among the nodes sharing a PostgreSQL journal (1-64 ASCII letters,
    /// digits, '.', '_', '-'); it names the holder of the runs this node drives, and appears in
    /// logs and metrics [default: the host name and a random suffix]. Keep it stable across
    /// restarts so a restarted node takes its runs back at once instead of after their
    /// leases expire.
    #[arg(long, env = "DURO_NODE_ID")]
    node_id: Option<String>,
}

/// Where the journal lives.
enum JournalSettings {
    /// The embedded store in the data directory (the default).
    Embedded,
    /// PostgreSQL at `url`, with at most `pool_size` connections.
    Postgres { url: String, pool_size: u32 },
}

/// The advisory lock key on a PostgreSQL journal ("duro" in ASCII): every `duro serve` holds
/// it shared, so that an import (which takes it exclusive) never runs beside a server.
pub(crate) const SERVE_LOCK_KEY: i64 = 0x6475_726f;

/// How long a node's lease of a run lasts unless renewed (several times per lifetime): a
/// dead node's runs are taken over this long after its last renewal, plus at most half a
/// second.
const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The settings in force after flags, environment, file and defaults.
struct Settings {
    listen: SocketAddr,
    data_dir: PathBuf,
    api: ApiConfig,
    providers_dir: Option<PathBuf>,
    outbound: outbound::OutboundPolicy,
    smtp: Option<mail::SmtpSettings>,
    journal: JournalSettings,
    node_id: String,
}

/// The node id given, checked, or the host name with a random suffix.
fn node_id(given: Option<String>) -> anyhow::Result<String> {
    let Some(id) = given else {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| {
                h.trim()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                    .take(48)
                    .collect::<String>()
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".to_owned());
        let suffix = rand::random::<u32>() & 0xff_ffff;
        return Ok(format!("{host}-{suffix:06x}"));
    };
    let fits = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    anyhow::ensure!(
        fits,
        "node_id (--node-id, DURO_NODE_ID) must be 1-64 ASCII letters, digits, '.', '_' or '-', not {id:?}"
    );
    Ok(id)
}

fn settings(args: ServeArgs) -> anyhow::Result<Settings> {
    let file = config::load(args.config.as_deref())?;
    let defaults = ApiConfig::default();
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 3000)));
    let api = ApiConfig {
        execute_per_minute: args
            .execute_rate_limit
            .or(file.execute_rate_limit)
            .unwrap_or(defaults.execute_per_minute),
        max_body_bytes: args
            .max_body_bytes
            .or(file.max_body_bytes)
            .unwrap_or(defaults.max_body_bytes),
        max_wait_secs: file.max_wait_seconds.unwrap_or(defaults.max_wait_secs),
    };
    if api.execute_per_minute == 0 {
        anyhow::bail!("execute_rate_limit must be at least 1 request per minute");
    }
    let default_policy = outbound::OutboundPolicy::default();
    let outbound = outbound::OutboundPolicy {
        deny_private: args
            .outbound_deny_private
            .or(file.outbound.deny_private)
            .unwrap_or(default_policy.deny_private),
        max_response_bytes: args
            .max_response_bytes
            .or(file.outbound.max_response_bytes)
            .unwrap_or(default_policy.max_response_bytes),
        ..default_policy
    }
    .with_allow(
        &args
            .outbound_allow
            .or(file.outbound.allow)
            .unwrap_or_default(),
    )
    .context("outbound allow list (--outbound-allow, DURO_OUTBOUND_ALLOW, outbound.allow)")?;
    // The URL may hold a password: its errors never repeat it.
    let smtp = args
        .smtp_url
        .or(file.smtp_url)
        .map(|url| mail::SmtpSettings::from_url(&url))
        .transpose()
        .context("smtp_url (--smtp-url, DURO_SMTP_URL)")?;
    let journal = match args.database_url.or(file.database_url) {
        None => JournalSettings::Embedded,
        Some(url) => {
            let pool_size = args
                .database_pool_size
                .or(file.database_pool_size)
                .unwrap_or(journal_pg::PgOptions::default().pool_size);
            anyhow::ensure!(
                pool_size >= 1,
                "database_pool_size (--database-pool-size, DURO_DATABASE_POOL_SIZE) must be at least 1"
            );
            JournalSettings::Postgres { url, pool_size }
        }
    };
    Ok(Settings {
        node_id: node_id(args.node_id.or(file.node_id))?,
        journal,
        smtp,
        providers_dir: args.providers_dir.or(file.providers_dir),
        outbound,
        listen,
        data_dir: args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./duro-data")),
        api,
    })
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = settings(args)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(args: Settings) -> anyhow::Result<()> {
    crate::node_id::set(&args.node_id);
    api::metrics::install_for_node(&args.node_id);
    tracing::info!(node = %args.node_id, "starting");
    let opened = open_journal(&args).await?;
    let store = opened.store;
    let store_rebuild = opened.rebuild;
    // After the journal: its lock keeps two servers from creating the key file at once.
    let secret_key = secret_key(&args.data_dir)?;
    if let Some(postgres) = &opened.postgres {
        // Every node seals and opens the same connection secrets: they must share the key.
        let mine = secret_key.fingerprint_hex();
        let shared = postgres
            .settle("secret_key_fingerprint", &mine)
            .await
            .context("comparing the secret key with the other nodes'")?;
        anyhow::ensure!(
            shared == mine,
            "this node's secret key (fingerprint {mine}) is not the one the nodes on this \
             PostgreSQL database use (fingerprint {shared}): give every node the same \
             DURO_SECRET_KEY (or copy the key file of the first node into this node's data \
             directory), else connection secrets sealed by one node cannot be opened by another"
        );
    }
    let read_models =
        readmodels::ReadModels::open(&readmodels::dir_in(&args.data_dir), store.clone())
            .context("opening the read models")?;
    let rebuilds: Vec<&journal::Rebuild> = store_rebuild
        .iter()
        .chain(read_models.rebuilt_at_open())
        .collect();
    api::metrics::record_rebuilds(&rebuilds);
    let follower = read_models.spawn_follower();
    let projections = read_models.clone();
    let catalog = engine::providers::load(args.providers_dir.as_deref())
        .context("loading the provider files (DURO_PROVIDERS_DIR)")?;
    tracing::info!(
        providers = catalog.providers().count(),
        "provider catalog loaded"
    );
    let outside = api::Outside {
        catalog: Arc::new(catalog),
        outbound: outbound::Outbound::new(args.outbound).context("building the outbound client")?,
        smtp: args.smtp,
        // Derived, per data directory (each node its own with PostgreSQL): checked against
        // the journal before use, deleted and started afresh when damaged.
        snapshots: Arc::new(engine::executor::RunSnapshots::open(
            &engine::executor::RunSnapshots::dir_in(&args.data_dir),
        )),
        leases: opened.leases.clone(),
    };
    let state = api::AppState::with_integrations(
        store,
        Arc::new(engine::executor::SystemClock),
        args.api,
        read_models,
        secret_key,
        outside,
    );
    if let Ok(secret) = std::env::var("DURO_BOOTSTRAP_KEY") {
        let key = state
            .keys
            .ensure_bootstrap(&secret)
            .await
            .context("creating the key of DURO_BOOTSTRAP_KEY")?;
        tracing::info!(key = %key.id, "bootstrap key ready");
    }
    let cluster = if opened.leases.shared() {
        // Several nodes: runs are continued by whichever node claims them (this one takes
        // back its own at once, and any whose node died or whose timer is due).
        projections
            .catch_up()
            .await
            .context("catching the read models up with the journal")?;
        Some(
            state
                .runs
                .join_cluster(projections.clone())
                .await
                .context("joining the nodes of the PostgreSQL journal")?,
        )
    } else {
        recover(&state, &projections).await?;
        None
    };
    let runner = state.trigger_runner.clone();
    let supervisor = runner.spawn();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving");
    let runs = state.runs.clone();
    api::serve(listener, state, shutdown_signal())
        .await
        .context("serving HTTP")?;
    follower.abort();
    supervisor.abort();
    if let Some(cluster) = cluster {
        cluster.abort();
        runs.leave_cluster().await;
    }
    runner.shutdown().await;
    if let Err(error) = projections.flush() {
        tracing::warn!(%error, "flushing the read models (they catch up on the next start)");
    }
    drop(opened.exclusive);
    tracing::info!("stopped");
    Ok(())
}

/// Continues the runs under way when the process last stopped (one node alone on its
/// journal).
async fn recover(
    state: &api::AppState,
    projections: &readmodels::ReadModels,
) -> anyhow::Result<()> {
    // Continue every run that was under way when the process last stopped, from the read
    // models' index of unfinished runs once they reflect every committed event (recovery
    // checks it). Read models being rebuilt from the start (or unable to catch up) would
    // make the start wait for the whole projection: every run is read instead, as before
    // the index, while the follower rebuilds them.
    let read_every_run = match projections.rebuilt_at_open() {
        Some(rebuild) => Some(rebuild.to_string()),
        None => projections.catch_up().await.err().map(|e| e.to_string()),
    };
    let recovered = match read_every_run {
        None => state.runs.recover_with(projections).await,
        Some(reason) => {
            tracing::warn!(%reason, "the read models are not caught up: recovering by reading every run");
            state
                .runs
                .recover()
                .await
                .map(|driven| engine::executor::Recovered {
                    driven,
                    ..Default::default()
                })
        }
    }
    .context("recovering unfinished runs")?;
    tracing::info!(
        recovered = recovered.total(),
        driven = recovered.driven,
        asleep = recovered.asleep,
        parked = recovered.parked,
        from_index = recovered.from_index,
        "runs recovered"
    );
    Ok(())
}

/// The journal `duro serve` opened, and what came with it.
struct OpenedJournal {
    store: Arc<dyn journal::EventStore>,
    /// The embedded index's rebuild at open, if there was one (for the metrics).
    rebuild: Option<journal::Rebuild>,
    /// PostgreSQL: the shared advisory lock that keeps an import off the database.
    exclusive: Option<journal_pg::ExclusiveLock>,
    /// This node's run leases.
    leases: Arc<dyn journal::Leases>,
    /// The PostgreSQL journal, for the settings the nodes share.
    postgres: Option<Arc<journal_pg::PgStore>>,
}

async fn open_journal(args: &Settings) -> anyhow::Result<OpenedJournal> {
    match &args.journal {
        JournalSettings::Embedded => {
            let config = EmbeddedConfig::new(&args.data_dir);
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
                .await
                .context("opening the journal")?
                .with_context(|| format!("opening the journal in {}", args.data_dir.display()))?;
            tracing::info!(
                data_dir = %args.data_dir.display(),
                position = store.committed().0,
                "journal open"
            );
            Ok(OpenedJournal {
                rebuild: store.index_rebuild().cloned(),
                store: Arc::new(store),
                exclusive: None,
                leases: Arc::new(journal::SoleNode::new(args.node_id.as_str())),
                postgres: None,
            })
        }
        JournalSettings::Postgres { url, pool_size } => {
            // The read models in the data directory follow one journal: those built from an
            // embedded journal would silently mix with another's events.
            let embedded = args.data_dir.join("journal");
            anyhow::ensure!(
                !embedded.exists(),
                "{} holds an embedded journal; a PostgreSQL journal needs a data directory of \
                 its own (for its read models). To move the deployment to PostgreSQL, export \
                 the journal and import it there (docs/postgres.md)",
                args.data_dir.display()
            );
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("creating {}", args.data_dir.display()))?;
            let store = crate::pg_journal::open(url, *pool_size).await?;
            let exclusive = store
                .try_shared(SERVE_LOCK_KEY)
                .await
                .context("locking the PostgreSQL journal")?
                .context("a journal import is under way on this PostgreSQL database")?;
            let leases: Arc<dyn journal::Leases> = Arc::new(journal_pg::PgLeases::new(
                &store,
                args.node_id.as_str(),
                LEASE_TTL,
            ));
            let postgres = Arc::new(store);
            let store: Arc<dyn journal::EventStore> = postgres.clone();
            tracing::info!(
                data_dir = %args.data_dir.display(),
                position = store.subscribe().borrow().0,
                pool_size,
                "journal open in PostgreSQL"
            );
            Ok(OpenedJournal {
                store,
                rebuild: None,
                exclusive: Some(exclusive),
                leases,
                postgres: Some(postgres),
            })
        }
    }
}

/// The data key sealing connection secrets: `DURO_SECRET_KEY` (unless empty), else the key
/// file in the data directory, created on first start.
fn secret_key(data_dir: &std::path::Path) -> anyhow::Result<credentials::connections::SecretKey> {
    use credentials::connections::{crypto, KeySource, SecretKey};
    let env = std::env::var(crypto::ENV_VAR)
        .ok()
        .filter(|text| !text.trim().is_empty());
    let (key, source) = SecretKey::resolve(env.as_deref(), data_dir)
        .context("loading the secret key of connection secrets")?;
    if let KeySource::CreatedFile(path) = &source {
        tracing::warn!(
            path = %path.display(),
            "created the secret key file: back it up with the journal, without it connection secrets cannot be decrypted"
        );
    }
    tracing::info!(%source, fingerprint = %key.fingerprint_hex(), "secret key ready");
    Ok(key)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
