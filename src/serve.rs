//! `duro serve`: open the journal, serve the API, stop cleanly on SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Context;
use engine::Engine;
use journal::{EmbeddedConfig, EmbeddedStore};

use crate::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    let store: Arc<dyn journal::EventStore> = Arc::new(store);
    // Continue every run that was under way when the process last stopped.
    let runs = engine::executor::Runs::new(store.clone(), Arc::new(engine::executor::SystemClock));
    let recovered = runs.recover().await.context("recovering unfinished runs")?;
    tracing::info!(recovered, "runs recovered");
    let state = api::AppState {
        engine: Engine::new(store),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving");
    api::serve(listener, state, shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
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
