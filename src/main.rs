//! `duro`: the one binary. Parses the command line and wires the crates together; the work
//! itself lives in the `journal`, `engine` and `api` crates and in the modules below.

mod bench;
mod client;
mod config;
mod debug;
mod journal_cmd;
mod keys_cmd;
mod node_id;
mod pg_journal;
mod progress;
mod projections_cmd;
mod replay_cmd;
mod serve;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "duro",
    version,
    about = "Duro: durable execution for workflow automation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: the REST API on the embedded journal.
    Serve(serve::ServeArgs),
    /// Verify, export (back up) and import (restore) the journal.
    Journal {
        #[command(subcommand)]
        command: journal_cmd::JournalCommand,
    },
    /// Create, list and revoke API keys: in a data directory (--data-dir; the server must
    /// not be running) or, with --url and no --data-dir, through a running server.
    #[command(after_help = client::EXIT_CODES)]
    Keys {
        #[command(subcommand)]
        command: keys_cmd::KeysCommand,
    },
    /// Create, update, list and show workflows on a running server.
    #[command(after_help = client::EXIT_CODES)]
    Workflows {
        #[command(subcommand)]
        command: client::workflows::WorkflowsCommand,
    },
    /// Start a run of a workflow on a running server (--wait: and print how it ended).
    #[command(after_help = client::EXIT_CODES)]
    Run(client::runs::RunArgs),
    /// List, show, cancel, resume, replay and rerun runs on a running server.
    #[command(after_help = client::EXIT_CODES)]
    Runs {
        #[command(subcommand)]
        command: client::runs::RunsCommand,
    },
    /// Replay a run from an exported journal file, with no server: its timeline, where it
    /// stopped, and (--version, --definition) where another definition would diverge.
    /// Exits 0 without divergence, 1 with one (or a damaged archive), 2 on bad arguments.
    Replay(replay_cmd::ReplayArgs),
    /// List, upsert, enable, disable and fire triggers on a running server.
    #[command(after_help = client::EXIT_CODES)]
    Triggers {
        #[command(subcommand)]
        command: client::triggers::TriggersCommand,
    },
    /// List the providers action steps can call, with their actions' params.
    #[command(after_help = client::EXIT_CODES)]
    Providers {
        #[command(subcommand)]
        command: client::providers::ProvidersCommand,
    },
    /// Manage the read models (listings of runs and workflows) of a data directory.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Measure performance (figures for docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Tools for tests of the binary itself.
    #[command(hide = true)]
    Debug {
        #[command(subcommand)]
        command: DebugCommand,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Drop the read models and rebuild them from the journal (the server must not be
    /// running). Prints the counts and the time taken.
    Rebuild {
        #[arg(long, env = "DURO_DATA_DIR")]
        data_dir: PathBuf,
        /// The journal is in PostgreSQL (as `duro serve --database-url`): rebuild this data
        /// directory's read models from it. Stop the server using this data directory first.
        #[arg(long, env = "DURO_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Export, verify and import rates of a journal of N 256-byte events.
    Archive(bench::archive::ArchiveBenchArgs),
    /// Durable appends of 256-byte events by concurrent writers, beside the raw
    /// write+fdatasync latency of a preallocated file in the same directory.
    Journal(bench::journal::JournalBenchArgs),
    /// Run a foreach of N transform items at concurrency C, R runs one after another.
    Foreach(bench::foreach::ForeachBenchArgs),
    /// Start and await runs of a K-step transform workflow with C concurrent starters.
    Runs(bench::runs::RunsBenchArgs),
    /// The REST API over loopback: run requests (with or without ?wait) or run reads.
    Http(bench::http::HttpBenchArgs),
    /// Time from `duro serve` start to ready with N unfinished runs to recover.
    Recovery(bench::recovery::RecoveryBenchArgs),
    /// Opening the embedded store with a sound index, and with a deleted one (rebuilt from
    /// the log), on a journal of N events.
    Rebuild(bench::rebuild::RebuildBenchArgs),
    /// CPU time per minute that N schedule triggers cost between their ticks.
    Triggers(bench::triggers::TriggersBenchArgs),
}

#[derive(Subcommand)]
enum DebugCommand {
    /// Append checkable batches in a loop and print each acknowledged append (crash tests).
    AppendLoop(debug::AppendLoopArgs),
    /// Start a fixed set of checkable runs and drive them until all have ended (crash tests).
    RunLoad(debug::RunLoadArgs),
}

fn main() -> ExitCode {
    // Test builds (feature `failpoints`) arm the failpoints named in FAILPOINTS, for as long
    // as the process runs.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    limit_malloc_arenas();
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Journal { command } => return journal_cmd::run(command),
        Command::Keys { command } => return keys_cmd::run(command),
        Command::Workflows { command } => return client::workflows::run(command),
        Command::Run(args) => return client::runs::run_workflow(args),
        Command::Runs { command } => return client::runs::run(command),
        Command::Replay(args) => return replay_cmd::run(args),
        Command::Triggers { command } => return client::triggers::run(command),
        Command::Providers { command } => return client::providers::run(command),
        Command::Projections {
            command:
                ProjectionsCommand::Rebuild {
                    data_dir,
                    database_url,
                },
        } => projections_cmd::rebuild(&data_dir, database_url.as_deref()),
        Command::Bench {
            command: BenchCommand::Archive(args),
        } => bench::archive::run(args),
        Command::Bench {
            command: BenchCommand::Journal(args),
        } => bench::journal::run(args),
        Command::Bench {
            command: BenchCommand::Foreach(args),
        } => bench::foreach::run(args),
        Command::Bench {
            command: BenchCommand::Runs(args),
        } => bench::runs::run(args),
        Command::Bench {
            command: BenchCommand::Http(args),
        } => bench::http::run(args),
        Command::Bench {
            command: BenchCommand::Recovery(args),
        } => bench::recovery::run(args),
        Command::Bench {
            command: BenchCommand::Rebuild(args),
        } => bench::rebuild::run(args),
        Command::Bench {
            command: BenchCommand::Triggers(args),
        } => bench::triggers::run(args),
        Command::Debug {
            command: DebugCommand::AppendLoop(args),
        } => debug::append_loop(args),
        Command::Debug {
            command: DebugCommand::RunLoad(args),
        } => debug::run_load(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per core); under
/// sustained load their fragmentation grew the server's resident memory without bound
/// (measured in docs/benchmarks.md: 225 MiB after 20 s of HTTP load, 153 MiB with two
/// arenas). Two arenas keep it bounded at no measurable cost in throughput.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tuning; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: logs piped to a file or a collector stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_ansi(ansi)
        .event_format(node_id::WithNode(
            tracing_subscriber::fmt::format().with_ansi(ansi),
        ))
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
