//! `duro keys create | list | revoke`: manage API keys in a data directory's journal while
//! the server is not running (the journal has one opener at a time; a running server makes
//! opening fail with a message saying the directory is locked). The admin API does the same
//! while it runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use api::keys::{KeyInfo, Keys, Scope};
use clap::{Args, Subcommand};
use journal::{EmbeddedConfig, EmbeddedStore};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret, once: only its hash is stored.
    Create(CreateArgs),
    /// List every key, revoked ones included (never their secrets).
    List(ListArgs),
    /// Revoke a key: it authenticates no one from then on.
    Revoke(RevokeArgs),
}

#[derive(Args)]
pub struct DataDir {
    /// Directory holding the journal and its index.
    #[arg(long, env = "DURO_DATA_DIR")]
    data_dir: PathBuf,
}

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    dir: DataDir,
    /// What the key is for (1 to 100 bytes).
    #[arg(long)]
    name: String,
    /// Comma-separated scopes: workflows:read, workflows:write, workflows:execute,
    /// runs:read, runs:write, triggers:read, triggers:write, connections:write, admin.
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    scopes: Vec<Scope>,
    /// Print one JSON object `{"id", "name", "scopes", "key"}` instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    dir: DataDir,
    /// Print a JSON array of keys instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    dir: DataDir,
    /// The key's id (`key_...`, as `keys list` shows it).
    #[arg(long)]
    id: String,
    /// Print the revoked key as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match command {
            KeysCommand::Create(args) => create(args).await,
            KeysCommand::List(args) => list(args).await,
            KeysCommand::Revoke(args) => revoke(args).await,
        }
    })
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let keys = open(&args.dir.data_dir, true).await?;
    let (info, secret) = keys
        .create(&args.name, &args.scopes)
        .await
        .context("creating the key")?;
    if args.json {
        let object = serde_json::json!({
            "id": info.id,
            "name": info.name,
            "scopes": info.scopes,
            "key": secret,
        });
        println!("{object}");
    } else {
        println!(
            "created {} {:?} with scopes {}",
            info.id,
            info.name,
            scopes_text(&info)
        );
        println!("{secret}");
        eprintln!("store this key now: it is not shown again");
    }
    Ok(())
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let keys = open(&args.dir.data_dir, false).await?;
    let all = keys.list().await.context("listing keys")?;
    if args.json {
        println!("{}", serde_json::to_string(&all)?);
        return Ok(());
    }
    if all.is_empty() {
        println!("no keys");
    }
    for key in &all {
        let state = match &key.revoked_at {
            Some(at) => format!("revoked {at}"),
            None => "active".to_owned(),
        };
        println!(
            "{}  {:?}  {}  created {}  {state}",
            key.id,
            key.name,
            scopes_text(key),
            key.created_at
        );
    }
    Ok(())
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let keys = open(&args.dir.data_dir, false).await?;
    let info = keys
        .revoke(&args.id)
        .await
        .with_context(|| format!("revoking {}", args.id))?;
    if args.json {
        println!("{}", serde_json::to_string(&info)?);
    } else {
        println!(
            "revoked {} {:?} at {}",
            info.id,
            info.name,
            info.revoked_at.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

/// Opens the journal of `data_dir`. Only `create` may start a new journal; listing or
/// revoking in a directory without one is a mistake worth saying so.
async fn open(data_dir: &Path, may_create: bool) -> anyhow::Result<Keys> {
    let config = EmbeddedConfig::new(data_dir);
    if !may_create && !config.journal_dir().is_dir() {
        anyhow::bail!("no journal in {}", data_dir.display());
    }
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
        .await
        .context("opening the journal")?
        .with_context(|| format!("opening the journal in {}", data_dir.display()))?;
    Ok(Keys::new(Arc::new(store)))
}

fn scopes_text(key: &KeyInfo) -> String {
    key.scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
