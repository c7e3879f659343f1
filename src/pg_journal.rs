//! The journal in PostgreSQL (`--database-url`, `DURO_DATABASE_URL`): opening it (for `duro
//! serve`, the journal commands and `duro bench http` alike), verifying it, and the checks an
//! import into it needs. Export, import and
//! `projections rebuild` share the embedded paths through `EventStore`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use journal::{EventStore, Position, RecordedEvent};
use journal_pg::{ExclusiveLock, PgOptions, PgStore};

/// Connections a command needs: reads page by page, one import batch at a time.
pub const COMMAND_POOL_SIZE: u32 = 4;
/// Events read per page while verifying.
const VERIFY_PAGE: usize = 2048;

/// Opens the journal in PostgreSQL with a pool of `pool_size` connections (`duro serve`,
/// the journal commands, `duro bench http`). The URL may hold a password: errors name the
/// setting, never the URL.
pub async fn open(url: &str, pool_size: u32) -> anyhow::Result<PgStore> {
    let options = PgOptions {
        pool_size,
        ..PgOptions::default()
    };
    PgStore::connect(url, options)
        .await
        .context("opening the journal in PostgreSQL (--database-url, DURO_DATABASE_URL)")
}

/// Holds the lock `duro serve` holds while it runs, so nothing writes while an import does;
/// an error when a server runs on the database.
pub async fn lock_out_servers(store: &PgStore) -> anyhow::Result<ExclusiveLock> {
    store
        .try_exclusive(crate::serve::SERVE_LOCK_KEY)
        .await
        .context("locking the PostgreSQL journal")?
        .context("a duro serve uses this PostgreSQL database; stop every server first")
}

/// An empty journal, or an error saying how many events it holds.
pub fn ensure_empty(store: &PgStore) -> anyhow::Result<()> {
    let events = store.subscribe().borrow().0;
    if events > 0 {
        bail!(
            "the PostgreSQL journal already holds {events} events; import only into an empty \
             database (or schema)"
        );
    }
    Ok(())
}

/// What `verify` found.
#[derive(Debug, Default)]
struct Report {
    events: u64,
    bytes: u64,
    streams: u64,
    last_position: u64,
    problems: Vec<String>,
}

/// Problems are listed up to this many; past it only counted.
const PROBLEMS_SHOWN_MAX: usize = 1000;

impl Report {
    fn problem(&mut self, text: String) {
        if self.problems.len() < PROBLEMS_SHOWN_MAX {
            self.problems.push(text);
        }
    }
}

/// `duro journal verify --database-url`: reads the whole global log up to the position
/// committed when it starts (servers may keep running). Positions must run 1, 2, 3, ...
/// without a hole (decision 0009), each stream's seqs 1, 2, 3, ..., and every run event must
/// decode (one that does not quarantines its run). Exits 0 sound, 1 problems, 2 unreadable.
pub fn verify(url: &str) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let report = runtime.block_on(async {
        let store = open(url, COMMAND_POOL_SIZE).await?;
        let store: Arc<dyn EventStore> = Arc::new(store);
        read_and_check(&store).await
    });
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: cannot verify the PostgreSQL journal: {error:#}");
            return ExitCode::from(2);
        }
    };
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    println!(
        "PostgreSQL journal: {} streams, {} events, {} bytes of event data, last position {}",
        report.streams, report.events, report.bytes, report.last_position
    );
    if report.problems.is_empty() {
        println!("ok");
        ExitCode::SUCCESS
    } else {
        println!("{} problems found", report.problems.len());
        ExitCode::from(1)
    }
}

async fn read_and_check(store: &Arc<dyn EventStore>) -> anyhow::Result<Report> {
    let upto = store.subscribe().borrow().0;
    let bar = crate::progress::events("verifying", Some(upto));
    let mut report = Report::default();
    // Each stream's last seq. One entry per stream: a journal of a million runs needs about
    // 100 MB here, read once by an operator's tool.
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut next = 1u64;
    while next <= upto {
        let page = store
            .read_all(Position(next), VERIFY_PAGE)
            .await
            .context("reading the global log")?;
        if page.is_empty() {
            report.problem(format!(
                "the log ends at position {} but {upto} was committed",
                next - 1
            ));
            break;
        }
        for event in page.iter().take_while(|e| e.position.0 <= upto) {
            check_event(event, &mut next, &mut versions, &mut report);
        }
        bar.set_position(next - 1);
    }
    bar.finish_and_clear();
    report.streams = versions.len() as u64;
    Ok(report)
}

fn check_event(
    event: &RecordedEvent,
    next: &mut u64,
    versions: &mut HashMap<String, u64>,
    report: &mut Report,
) {
    let position = event.position.0;
    if position != *next {
        report.problem(format!(
            "position {position} follows {}: positions {}..{} are missing",
            *next - 1,
            *next,
            position.saturating_sub(1)
        ));
    }
    *next = position + 1;
    report.events += 1;
    report.bytes += event.data.len() as u64;
    report.last_position = position;
    let stream = event.stream.as_str();
    let version = versions.entry(stream.to_owned()).or_insert(0);
    if event.seq.0 != *version + 1 {
        report.problem(format!(
            "position {position}: stream {stream} has seq {} after seq {}",
            event.seq.0, *version
        ));
    }
    *version = event.seq.0;
    if let Some(quarantined) = crate::verify::undecodable_run_event(event) {
        report.problem(format!("position {position}: {quarantined}"));
    }
}
