//! `duro replay --journal FILE`: replay debugging with no server, from an archive written by
//! `duro journal export` (typically `--run ID`, attached to a bug report). The archive is
//! checked as it is read (frames, counts, digest); its run and workflow streams are loaded
//! into an in-memory journal, and the run is replayed by the same engine code as
//! `GET /api/v1/runs/{id}/replay`, printed the same way as `duro runs replay`.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use engine::definition::WorkflowSpec;
use engine::executor::{Against, Runs, SystemClock};
use journal::archive::ArchiveReader;
use journal::{EventStore, MemoryStore, RecordedEvent};

use crate::client::{execute, runs::report_replay, Failure};

/// Events handed to the in-memory journal per import.
const IMPORT_BATCH: usize = 1000;

#[derive(Args)]
pub struct ReplayArgs {
    /// An archive written by `duro journal export` (`--run ID` makes a small one).
    #[arg(long, value_name = "FILE")]
    journal: PathBuf,
    /// The run to replay; may be left out when the archive holds exactly one run.
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,
    /// Also replay the history against this stored version of the run's workflow.
    #[arg(long, value_name = "N", conflicts_with = "definition")]
    version: Option<u64>,
    /// Also replay the history against this workflow definition (JSON, as for
    /// `duro workflows apply`).
    #[arg(long, value_name = "FILE")]
    definition: Option<PathBuf>,
    /// Print the replay as JSON (the shape of `GET /api/v1/runs/{id}/replay`'s `data`).
    #[arg(long)]
    json: bool,
}

/// Exit 0 when the run replays without divergence, 1 when it diverges or the archive or
/// run is unusable, 2 when a file cannot be read.
pub fn run(args: ReplayArgs) -> ExitCode {
    execute(replay(args))
}

async fn replay(args: ReplayArgs) -> Result<(), Failure> {
    let against = match (&args.definition, args.version) {
        (Some(path), _) => Against::Steps(definition_steps(path)?),
        (None, Some(version)) => Against::Version(version),
        (None, None) => Against::Nothing,
    };
    let described = api::reply::against_json(&against);
    let path = args.journal.clone();
    let only = args.run.clone();
    let (store, run_ids) = tokio::task::spawn_blocking(move || load(&path, only.as_deref()))
        .await
        .map_err(|e| Failure::Outcome(format!("reading the archive: {e}")))??;
    let run_id = match (&args.run, run_ids.as_slice()) {
        (Some(run), _) if run_ids.contains(run) => run.clone(),
        (Some(run), _) => {
            return Err(Failure::Outcome(format!(
                "run {run} is not in {}; it holds {}",
                args.journal.display(),
                listed(&run_ids)
            )))
        }
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(Failure::Usage(format!(
                "{} holds {}: name one with --run",
                args.journal.display(),
                listed(&run_ids)
            )))
        }
    };
    let runs = Runs::new(store, Arc::new(SystemClock));
    let replay = runs
        .replay(&run_id, against)
        .await
        .map_err(|e| Failure::Outcome(format!("replaying run {run_id}: {e}")))?;
    report_replay(&api::reply::replay_json(&replay, described), args.json)
}

/// The checked steps of a definition file.
fn definition_steps(path: &PathBuf) -> Result<Vec<engine::definition::Step>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    let spec: WorkflowSpec = serde_json::from_str(&text).map_err(|e| {
        Failure::Usage(format!(
            "{} is not a workflow definition: {e}",
            path.display()
        ))
    })?;
    spec.check().map_err(|problems| {
        let listed: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.path.join("."), p.message))
            .collect();
        Failure::Usage(format!(
            "{} is not a valid workflow:\n  {}",
            path.display(),
            listed.join("\n  ")
        ))
    })
}

fn listed(run_ids: &[String]) -> String {
    match run_ids.len() {
        0 => "no runs".to_owned(),
        1..=10 => format!("the runs {}", run_ids.join(", ")),
        n => format!("{n} runs ({}, ...)", run_ids[..10].join(", ")),
    }
}

/// Reads the archive (checking every frame, the counts and the digest) into an in-memory
/// journal holding its workflow streams and its run streams (only `only`'s when given, so a
/// whole-deployment archive costs the memory of one run); returns it with the archive's run
/// ids.
fn load(path: &PathBuf, only: Option<&str>) -> Result<(Arc<dyn EventStore>, Vec<String>), Failure> {
    let file = File::open(path)
        .map_err(|e| Failure::Usage(format!("cannot open {}: {e}", path.display())))?;
    let damaged = |e: journal::archive::ArchiveError| {
        Failure::Outcome(format!("{} is not a sound archive: {e}", path.display()))
    };
    let mut reader = ArchiveReader::new(BufReader::new(file)).map_err(damaged)?;
    let store = Arc::new(MemoryStore::new());
    let runtime = tokio::runtime::Handle::current();
    let mut run_ids = Vec::new();
    let mut batch: Vec<RecordedEvent> = Vec::with_capacity(IMPORT_BATCH);
    let import = |batch: Vec<RecordedEvent>| {
        runtime
            .block_on(store.import(batch))
            .map(|_| ())
            .map_err(|e| Failure::Outcome(format!("loading the archive: {e}")))
    };
    while let Some(record) = reader.next_record().map_err(damaged)? {
        let name = record.stream.as_str();
        if !(name.starts_with("run-") || name.starts_with("workflow-")) {
            continue;
        }
        if let Some(run_id) = name.strip_prefix("run-") {
            if record.seq.0 == 1 {
                run_ids.push(run_id.to_owned());
            }
            if only.is_some_and(|only| only != run_id) {
                continue;
            }
        }
        batch.push(record);
        if batch.len() >= IMPORT_BATCH {
            import(std::mem::take(&mut batch))?;
        }
    }
    reader.finish().map_err(damaged)?;
    if !batch.is_empty() {
        import(batch)?;
    }
    let store: Arc<dyn EventStore> = store;
    Ok((store, run_ids))
}
