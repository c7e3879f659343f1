//! `duro journal verify | export | import`: check a journal or an archive, write a data
//! directory's journal (or a running server's) to an archive, restore an archive into an
//! empty data directory. The archive format is `journal::archive` (docs/journal-format.md,
//! section 14).

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use engine::export::ExportPages;
use journal::archive::{
    verify_file, ArchiveHeader, ArchiveReader, ArchiveScope, ArchiveWriter, Summary,
};
use journal::embedded::journal_dir;
use journal::limits::{APPEND_BYTES_MAX, APPEND_EVENTS_MAX};
use journal::record::encoded_len_max;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore, RecordedEvent, StoreError};

/// Events per `import` call.
pub const IMPORT_BATCH_EVENTS: usize = 4000;
/// Worst-case encoded bytes per `import` call (well within `APPEND_BYTES_MAX`).
pub const IMPORT_BATCH_BYTES: usize = 8 * 1024 * 1024;
const _: () = assert!(IMPORT_BATCH_EVENTS <= APPEND_EVENTS_MAX);
const _: () = assert!(IMPORT_BATCH_BYTES <= APPEND_BYTES_MAX);

#[derive(Subcommand)]
pub enum JournalCommand {
    /// Read every record: checksums, positions, batches and each stream's sequence (with
    /// --data-dir), or every frame, count and the digest of an archive (with --in).
    /// Exits 0 when sound, 1 when problems were found, 2 when it could not be read.
    Verify(VerifyArgs),
    /// Write the journal to a portable, checksummed archive: from a data directory (the
    /// server stopped) or from a running server (--url).
    Export(ExportArgs),
    /// Restore an archive into an empty data directory and rebuild its read models.
    Import(ImportArgs),
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The journal in PostgreSQL instead of a data directory (as `duro serve
    /// --database-url`): with it, the data directory holds no journal.
    #[arg(long, env = "DURO_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The data directory whose journal to verify (the server must not be running).
    #[arg(long, env = "DURO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// An archive file to verify instead (`duro journal export`).
    #[arg(long = "in", value_name = "FILE")]
    input: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The journal in PostgreSQL (as `duro serve --database-url`): it wins over
    /// --data-dir (which then holds no journal) and --url; servers may keep running.
    #[arg(long, env = "DURO_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The data directory to export (the server must not be running; use --url for a
    /// running server).
    #[arg(long, env = "DURO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A running server to download the export from (admin key needed); used when no data
    /// directory is given (--data-dir or DURO_DATA_DIR wins).
    #[arg(long, env = "DURO_URL")]
    url: Option<String>,
    /// The API key for --url (scope `admin`).
    #[arg(long, env = "DURO_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The archive to write (written to FILE.tmp, synced, then renamed).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Export only this run's stream and its workflow's stream (for a bug report).
    #[arg(long, value_name = "RUN_ID", conflicts_with = "workflow")]
    run: Option<String>,
    /// Export only this workflow's stream and its runs' streams.
    #[arg(long, value_name = "WORKFLOW_ID")]
    workflow: Option<String>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The data directory to restore into: empty, or without a journal with events. With
    /// --database-url, optional: where to rebuild the read models (it must hold no journal).
    #[arg(long, env = "DURO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Restore into the journal in PostgreSQL (empty, no server running on it) instead.
    #[arg(long, env = "DURO_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The archive to restore.
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(command: JournalCommand) -> ExitCode {
    let result = match command {
        JournalCommand::Verify(args) => return verify(args),
        JournalCommand::Export(args) => export(args),
        JournalCommand::Import(args) => import(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn verify(args: VerifyArgs) -> ExitCode {
    match (args.input, args.database_url, args.data_dir) {
        (Some(file), _, _) => verify_archive(&file),
        (None, Some(url), _) => crate::pg_journal::verify(&url),
        (None, None, Some(data_dir)) => crate::verify::run(&data_dir),
        (None, None, None) => {
            eprintln!(
                "error: give --data-dir DIR (a journal), --database-url URL (a journal in \
                 PostgreSQL) or --in FILE (an archive)"
            );
            ExitCode::from(2)
        }
    }
}

/// `verify --in FILE`: 0 sound, 1 damaged (the offset and record named), 2 unreadable.
fn verify_archive(file: &Path) -> ExitCode {
    let size = match fs::metadata(file) {
        Ok(metadata) => metadata.len(),
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", file.display());
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let bar = crate::progress::bytes("verifying", Some(size));
    let verified = verify_file(file, |records, bytes| {
        if records % 1024 == 0 {
            bar.set_position(bytes);
            bar.set_message(format!("{records} records"));
        }
    });
    bar.finish_and_clear();
    match verified {
        Ok(summary) => {
            print_archive(&summary);
            println!("{}", rates("verified", &summary, started));
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(journal::archive::ArchiveError::Read { offset: 0, source }) => {
            eprintln!("error: cannot read {}: {source}", file.display());
            ExitCode::from(2)
        }
        Err(error) => {
            println!("problem: {error}");
            println!("{} is damaged", file.display());
            ExitCode::from(1)
        }
    }
}

fn print_archive(summary: &Summary) {
    println!(
        "archive format {}, scope {}, from {}, created at {} µs",
        summary.header.format_version,
        summary.header.scope,
        summary.header.source,
        summary.header.created_at
    );
    println!(
        "{} records, {} streams, {} bytes, positions {}..{}, sha256 {}, records sha256 {}",
        summary.records,
        summary.streams,
        summary.bytes,
        summary.first_position.map_or(0, |p| p.0),
        summary.last_position.map_or(0, |p| p.0),
        summary.digest_hex(),
        summary.records_digest_hex()
    );
}

/// "verb N events in T s: X events/s, Y MB/s".
fn rates(verb: &str, summary: &Summary, started: Instant) -> String {
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    format!(
        "{verb} {} events ({} bytes) in {:.2} s: {:.0} events/s, {:.1} MB/s",
        summary.records,
        summary.bytes,
        seconds,
        summary.records as f64 / seconds,
        summary.bytes as f64 / seconds / 1e6
    )
}

fn summary_json(summary: &Summary, file: &Path, started: Instant) -> serde_json::Value {
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    serde_json::json!({
        "file": file.display().to_string(),
        "scope": summary.header.scope,
        "source": summary.header.source,
        "createdAt": summary.header.created_at,
        "records": summary.records,
        "streams": summary.streams,
        "bytes": summary.bytes,
        "digest": summary.digest_hex(),
        "recordsDigest": summary.records_digest_hex(),
        "firstPosition": summary.first_position.map(|p| p.0),
        "lastPosition": summary.last_position.map(|p| p.0),
        "seconds": seconds,
        "eventsPerSecond": summary.records as f64 / seconds,
        "mbPerSecond": summary.bytes as f64 / seconds / 1e6,
    })
}

fn scope_of(run: Option<String>, workflow: Option<String>) -> ArchiveScope {
    match (run, workflow) {
        (Some(run), _) => ArchiveScope::Run(run),
        (None, Some(workflow)) => ArchiveScope::Workflow(workflow),
        (None, None) => ArchiveScope::All,
    }
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let scope = scope_of(args.run, args.workflow);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // A data directory wins over a URL, as for `duro keys`: a DURO_URL left in the
    // environment must not turn an offline backup into a download from some server.
    let summary = match (&args.url, &args.data_dir) {
        // PostgreSQL is shared: the export reads up to the position committed when it
        // starts, while servers go on.
        _ if args.database_url.is_some() => runtime.block_on(async {
            let url = args.database_url.as_deref().unwrap_or_default();
            let store = crate::pg_journal::open(url, crate::pg_journal::COMMAND_POOL_SIZE).await?;
            export_store(Arc::new(store), &scope, "PostgreSQL".to_owned(), &args.out).await
        })?,
        (Some(url), None) => {
            runtime.block_on(download(url, args.api_key.as_deref(), &scope, &args.out))?
        }
        (_, Some(data_dir)) => runtime.block_on(async {
            let store = open_store(data_dir, "export").await?;
            export_store(
                Arc::new(store),
                &scope,
                format!("data directory {}", data_dir.display()),
                &args.out,
            )
            .await
        })?,
        (None, None) => {
            bail!(
                "give --data-dir DIR (the server stopped), --database-url URL (a journal in \
                 PostgreSQL) or --url URL (a running server)"
            )
        }
    };
    if args.json {
        println!("{}", summary_json(&summary, &args.out, started));
    } else {
        println!(
            "exported {} to {}",
            summary.header.scope,
            args.out.display()
        );
        print_archive(&summary);
        println!("{}", rates("exported", &summary, started));
    }
    Ok(())
}

/// Opens the journal of `data_dir`, saying clearly when a server holds it.
async fn open_store(data_dir: &Path, what: &str) -> anyhow::Result<EmbeddedStore> {
    let config = EmbeddedConfig::new(data_dir);
    match tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
        .await
        .context("opening the journal")?
    {
        Ok(store) => Ok(store),
        Err(StoreError::Locked { .. }) if what == "export" => bail!(
            "the data directory {} is locked: a duro server is running on it. Stop it first, or \
             export from the running server with --url URL --api-key KEY",
            data_dir.display()
        ),
        Err(StoreError::Locked { .. }) => bail!(
            "the data directory {} is locked: a duro server is running on it; stop it first",
            data_dir.display()
        ),
        Err(error) => {
            Err(error).with_context(|| format!("opening the journal in {}", data_dir.display()))
        }
    }
}

/// `FILE.tmp` beside `file`.
fn temp_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Syncs `tmp`'s data, renames it to `file` and syncs the directory.
fn commit_file(tmp: &Path, file: &Path) -> anyhow::Result<()> {
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", tmp.display()))?;
    fs::rename(tmp, file)
        .with_context(|| format!("renaming {} to {}", tmp.display(), file.display()))?;
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

/// Writes the selection of `store` to `out` (through `out.tmp`), page by page.
pub async fn export_store(
    store: Arc<dyn EventStore>,
    scope: &ArchiveScope,
    source: String,
    out: &Path,
) -> anyhow::Result<Summary> {
    let mut pages = ExportPages::open(store, scope).await?;
    let total = matches!(scope, ArchiveScope::All).then_some(pages.upto().0);
    let tmp = temp_path(out);
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let written = async {
        let mut writer = ArchiveWriter::new(
            BufWriter::with_capacity(1 << 20, file),
            ArchiveHeader::new(source, scope.clone()),
        )?;
        let bar = crate::progress::events("exporting", total);
        while let Some(page) = pages.next_page().await? {
            for event in &page {
                writer.write(event)?;
            }
            bar.set_position(writer.records());
        }
        bar.finish_and_clear();
        let (summary, file) = writer.finish_into_inner()?;
        file.into_inner()
            .map_err(|e| e.into_error())
            .context("flushing the archive")?;
        anyhow::Ok(summary)
    }
    .await;
    let summary = match written {
        Ok(summary) => summary,
        Err(error) => {
            let _ = fs::remove_file(&tmp);
            return Err(error).with_context(|| format!("writing {}", tmp.display()));
        }
    };
    commit_file(&tmp, out)?;
    Ok(summary)
}

/// Downloads `GET /api/v1/journal/export` to `out` (through `out.tmp`), then verifies it.
async fn download(
    url: &str,
    api_key: Option<&str>,
    scope: &ArchiveScope,
    out: &Path,
) -> anyhow::Result<Summary> {
    let endpoint = format!("{}/api/v1/journal/export", url.trim_end_matches('/'));
    let query = match scope {
        ArchiveScope::All => String::new(),
        ArchiveScope::Run(id) => format!("?runId={}", encode_query(id)),
        ArchiveScope::Workflow(id) => format!("?workflowId={}", encode_query(id)),
    };
    let client = reqwest::Client::new();
    let mut request = client.get(format!("{endpoint}{query}"));
    if let Some(key) = api_key {
        request = request.header("x-api-key", key);
    }
    let mut response = request
        .send()
        .await
        .with_context(|| format!("requesting {endpoint}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        // The API's error envelope, shown as the other client commands show it.
        let envelope: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        let error = envelope.as_ref().map(|e| &e["error"]);
        match error.and_then(|e| Some((e["code"].as_str()?, e["message"].as_str()?))) {
            Some((code, message)) => bail!("{code}: {message} ({endpoint} answered {status})"),
            None => bail!("{endpoint} answered {status}: {body}"),
        }
    }
    let tmp = temp_path(out);
    let downloaded = async {
        let mut file = BufWriter::new(
            File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        let bar = crate::progress::bytes("downloading", None);
        let mut bytes = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .with_context(|| format!("reading the answer of {endpoint} (cut short?)"))?
        {
            file.write_all(&chunk)
                .with_context(|| format!("writing {}", tmp.display()))?;
            bytes += chunk.len() as u64;
            bar.set_position(bytes);
        }
        bar.finish_and_clear();
        file.flush()
            .with_context(|| format!("writing {}", tmp.display()))?;
        let verified = tokio::task::block_in_place(|| verify_file(&tmp, |_, _| {}));
        verified.with_context(|| format!("the download from {endpoint} is not a sound archive"))
    }
    .await;
    match downloaded {
        Ok(summary) => {
            commit_file(&tmp, out)?;
            Ok(summary)
        }
        Err(error) => {
            let _ = fs::remove_file(&tmp);
            Err(error)
        }
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn import(args: ImportArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(import_in(args))
}

async fn import_in(args: ImportArgs) -> anyhow::Result<()> {
    if let Some(url) = args.database_url.clone() {
        return import_into_postgres(&url, args).await;
    }
    let Some(data_dir) = &args.data_dir else {
        bail!("give --data-dir DIR (an empty data directory) or --database-url URL (an empty PostgreSQL journal)");
    };
    let started = Instant::now();
    // A data directory that already has a journal is opened (and locked) first, so that a
    // refusal comes before the file is read.
    let mut store = None;
    if journal_dir(data_dir).is_dir() {
        let existing = open_store(data_dir, "import").await?;
        let events = existing.committed().0;
        if events > 0 {
            bail!(
                "{} already holds a journal with {events} events; import only into an empty \
                 data directory",
                data_dir.display()
            );
        }
        store = Some(existing);
    }

    let summary = verify_before_import(&args.input).await?;
    let verify_seconds = started.elapsed().as_secs_f64();

    let store = match store {
        Some(store) => store,
        None => open_store(data_dir, "import").await?,
    };
    let store: Arc<dyn EventStore> = Arc::new(store);
    let import_started = Instant::now();
    let imported = import_archive(&store, &args.input, summary.records).await?;
    let import_seconds = import_started.elapsed().as_secs_f64();
    let last = store.subscribe().borrow().0;

    let models =
        crate::projections_cmd::rebuild_models(data_dir, store.clone(), Instant::now()).await?;
    drop(store);
    let imported = Imported {
        summary,
        count: imported,
        last,
        verify_seconds,
        import_seconds,
        into: data_dir.display().to_string(),
        models: Some(models),
    };
    imported.print(&args, started, Some(data_dir));
    Ok(())
}

/// `import --database-url`: the archive verified whole, then imported into the empty
/// PostgreSQL journal while no server runs on it; the read models rebuilt in --data-dir if
/// given (a server rebuilds its own on a new data directory anyway).
async fn import_into_postgres(url: &str, args: ImportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Some(data_dir) = &args.data_dir {
        if journal_dir(data_dir).exists() {
            bail!(
                "{} holds an embedded journal; the read models of a PostgreSQL journal need a \
                 data directory of their own",
                data_dir.display()
            );
        }
    }
    // Refusals first: a server running, or a journal that is not empty.
    let store = crate::pg_journal::open(url, crate::pg_journal::COMMAND_POOL_SIZE).await?;
    let lock = crate::pg_journal::lock_out_servers(&store).await?;
    crate::pg_journal::ensure_empty(&store)?;
    let summary = verify_before_import(&args.input).await?;
    let verify_seconds = started.elapsed().as_secs_f64();
    let store: Arc<dyn EventStore> = Arc::new(store);
    let import_started = Instant::now();
    let count = import_archive(&store, &args.input, summary.records).await?;
    let import_seconds = import_started.elapsed().as_secs_f64();
    let last = store.subscribe().borrow().0;
    let models = match &args.data_dir {
        Some(data_dir) => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            Some(
                crate::projections_cmd::rebuild_models(data_dir, store.clone(), Instant::now())
                    .await?,
            )
        }
        None => None,
    };
    drop(lock);
    let imported = Imported {
        summary,
        count,
        last,
        verify_seconds,
        import_seconds,
        into: "the PostgreSQL journal".to_owned(),
        models,
    };
    imported.print(&args, started, args.data_dir.as_deref());
    Ok(())
}

/// What an import did, for its report.
struct Imported {
    summary: Summary,
    count: u64,
    last: u64,
    verify_seconds: f64,
    import_seconds: f64,
    /// Where to, in words.
    into: String,
    /// The read models' rebuild report, when they were rebuilt.
    models: Option<String>,
}

impl Imported {
    fn print(&self, args: &ImportArgs, started: Instant, data_dir: Option<&Path>) {
        let reminder = format!(
            "note: connection secrets are sealed with the data key, which is not in the \
             journal: copy the old {} into {} (or set the same DURO_SECRET_KEY) before `duro \
             serve`",
            Path::new("DATA_DIR").join("secret.key").display(),
            data_dir.map_or("the new data directory".to_owned(), |d| d
                .display()
                .to_string())
        );
        let (summary, imported, last) = (&self.summary, self.count, self.last);
        let (verify_seconds, import_seconds) = (self.verify_seconds, self.import_seconds);
        if args.json {
            let mut json = summary_json(summary, &args.input, started);
            if let Some(data_dir) = data_dir {
                json["dataDir"] = serde_json::json!(data_dir.display().to_string());
            }
            if args.database_url.is_some() {
                json["into"] = serde_json::json!("postgresql");
            }
            json["imported"] = serde_json::json!(imported);
            json["lastPosition"] = serde_json::json!(last);
            json["verifySeconds"] = serde_json::json!(verify_seconds);
            json["importSeconds"] = serde_json::json!(import_seconds);
            println!("{json}");
            eprintln!("{reminder}");
        } else {
            println!(
                "imported {imported} events ({} streams) from {} into {}, positions 1..{last}",
                summary.streams,
                args.input.display(),
                self.into
            );
            println!(
                "verified in {verify_seconds:.2} s, imported in {import_seconds:.2} s: {:.0} events/s, {:.1} MB/s",
                imported as f64 / import_seconds.max(1e-9),
                summary.bytes as f64 / import_seconds.max(1e-9) / 1e6
            );
            if let Some(models) = &self.models {
                print!("{models}");
            }
            println!("{reminder}");
        }
    }
}

/// Verifies the whole archive before anything is written.
async fn verify_before_import(input: &Path) -> anyhow::Result<Summary> {
    let size = fs::metadata(input)
        .with_context(|| format!("reading {}", input.display()))?
        .len();
    let bar = crate::progress::bytes("verifying", Some(size));
    let verified = tokio::task::spawn_blocking({
        let (bar, input) = (bar.clone(), input.to_owned());
        move || {
            verify_file(&input, |records, bytes| {
                if records % 1024 == 0 {
                    bar.set_position(bytes);
                }
            })
        }
    })
    .await
    .context("verifying the archive")?;
    bar.finish_and_clear();
    verified.with_context(|| format!("{} is damaged; nothing was imported", input.display()))
}

/// Imports the archive `input` (already verified) into `store` in batches within the
/// store's limits, with a progress bar of `total` events. Returns the events imported.
pub async fn import_archive(
    store: &Arc<dyn EventStore>,
    input: &Path,
    total: u64,
) -> anyhow::Result<u64> {
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    // A blocking thread reads the file into batches while this task imports them.
    let (batches, mut incoming) =
        tokio::sync::mpsc::channel::<anyhow::Result<Vec<RecordedEvent>>>(2);
    let name = input.display().to_string();
    let reading = tokio::task::spawn_blocking(move || read_batches(file, &name, &batches));
    let bar = crate::progress::events("importing", Some(total));
    let mut imported = 0u64;
    while let Some(batch) = incoming.recv().await {
        let events = batch?;
        let count = events.len() as u64;
        store
            .import(events)
            .await
            .with_context(|| format!("importing the events after the first {imported}"))?;
        imported += count;
        bar.set_position(imported);
    }
    reading.await.context("reading the archive")?;
    bar.finish_and_clear();
    Ok(imported)
}

/// Reads the archive's records into batches within the import limits and sends them; a
/// read error is sent as the last item.
fn read_batches(
    file: File,
    name: &str,
    batches: &tokio::sync::mpsc::Sender<anyhow::Result<Vec<RecordedEvent>>>,
) {
    let mut reader = match ArchiveReader::new(BufReader::new(file)) {
        Ok(reader) => reader,
        Err(error) => {
            let _ = batches.blocking_send(Err(
                anyhow::Error::new(error).context(format!("reading {name}"))
            ));
            return;
        }
    };
    let mut batch: Vec<RecordedEvent> = Vec::with_capacity(IMPORT_BATCH_EVENTS);
    let mut batch_bytes = 0;
    loop {
        let event = match reader.next_record() {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(error) => {
                let _ = batches.blocking_send(Err(anyhow::Error::new(error)
                    .context(format!("reading {name} (changed since it was verified?)"))));
                return;
            }
        };
        let bytes = encoded_len_max(event.stream.as_str().len(), event.data.len());
        if batch.len() == IMPORT_BATCH_EVENTS || batch_bytes + bytes > IMPORT_BATCH_BYTES {
            if batches
                .blocking_send(Ok(std::mem::take(&mut batch)))
                .is_err()
            {
                return;
            }
            batch_bytes = 0;
        }
        batch_bytes += bytes;
        batch.push(event);
    }
    if !batch.is_empty() {
        let _ = batches.blocking_send(Ok(batch));
    }
}
