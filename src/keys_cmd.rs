//! `duro keys create | list | revoke`: manage API keys in a data directory's journal while
//! the server is not running (the journal has one opener at a time; a running server makes
//! opening fail with a message saying the directory is locked), or, given `--url` (or
//! `DURO_URL`) and no `--data-dir`, through a running server's admin API
//! (`crate::client::keys`). Both print the same shapes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use credentials::keys::{KeyInfo, Keys, Scope};
use journal::{EmbeddedConfig, EmbeddedStore};

use crate::client::{self, ClientArgs};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret, once: only its hash is stored.
    Create(CreateArgs),
    /// List every key, revoked ones included (never their secrets).
    List(ListArgs),
    /// Revoke a key: it authenticates no one from then on.
    Revoke(RevokeArgs),
}

/// Where the keys are: a data directory (offline), or else a running server (`--url`).
#[derive(Args)]
pub struct DataDir {
    /// Directory holding the journal and its index (the server must be stopped). Without it,
    /// `--url` (or DURO_URL) manages the keys of a running server instead.
    #[arg(long, env = "DURO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

impl DataDir {
    /// The data directory, or `None` to use the server: that needs `--url` or `DURO_URL`.
    fn offline(&self) -> Result<Option<&Path>, client::Failure> {
        match (&self.data_dir, &self.client.url) {
            (Some(dir), _) => Ok(Some(dir)),
            (None, Some(_)) => Ok(None),
            (None, None) => Err(client::Failure::Usage(
                "give --data-dir DIR (offline, the server stopped) or --url URL (a running server)"
                    .to_owned(),
            )),
        }
    }
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
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    dir: DataDir,
}

#[derive(Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    dir: DataDir,
    /// The key's id (`key_...`, as `keys list` shows it).
    #[arg(long)]
    id: String,
}

/// Exit codes: 0 done; 1 failed (offline: any error; server: its error answer); 2 a bad
/// command line; 3 the server could not be reached.
pub fn run(command: KeysCommand) -> ExitCode {
    client::execute(async move {
        let offline = |result: anyhow::Result<()>| {
            result.map_err(|error| client::Failure::Outcome(format!("{error:#}")))
        };
        match command {
            KeysCommand::Create(args) => match args.dir.offline()? {
                Some(dir) => offline(create(dir, &args).await),
                None => client::keys::create(&args.dir.client, &args.name, &args.scopes).await,
            },
            KeysCommand::List(args) => match args.dir.offline()? {
                Some(dir) => offline(list(dir, args.dir.client.json).await),
                None => client::keys::list(&args.dir.client).await,
            },
            KeysCommand::Revoke(args) => match args.dir.offline()? {
                Some(dir) => offline(revoke(dir, &args.id, args.dir.client.json).await),
                None => client::keys::revoke(&args.dir.client, &args.id).await,
            },
        }
    })
}

async fn create(dir: &Path, args: &CreateArgs) -> anyhow::Result<()> {
    let keys = open(dir, true).await?;
    let (info, secret) = keys
        .create(&args.name, &args.scopes)
        .await
        .context("creating the key")?;
    print_created(&info, &secret, args.dir.client.json);
    Ok(())
}

/// What `keys create` prints, offline and through the server alike.
pub fn print_created(info: &KeyInfo, secret: &str, json: bool) {
    if json {
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
            scopes_text(info)
        );
        println!("{secret}");
        eprintln!("store this key now: it is not shown again");
    }
}

async fn list(dir: &Path, json: bool) -> anyhow::Result<()> {
    let keys = open(dir, false).await?;
    let all = keys.list().await.context("listing keys")?;
    print_list(&all, json)
}

/// What `keys list` prints, offline and through the server alike.
pub fn print_list(all: &[KeyInfo], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(all)?);
        return Ok(());
    }
    if all.is_empty() {
        println!("no keys");
    }
    for key in all {
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

async fn revoke(dir: &Path, id: &str, json: bool) -> anyhow::Result<()> {
    let keys = open(dir, false).await?;
    let info = keys
        .revoke(id)
        .await
        .with_context(|| format!("revoking {id}"))?;
    print_revoked(&info, json)
}

/// What `keys revoke` prints, offline and through the server alike.
pub fn print_revoked(info: &KeyInfo, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(info)?);
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
