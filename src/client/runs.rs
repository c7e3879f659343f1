//! `duro run` and `duro runs list | show | events | cancel | resume | replay | rerun`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::output::{self, Style, Table};
use super::{
    execute, filters, json_arg, read_json_file, wait_query, ApiClient, ClientArgs, Failure,
    PageArgs,
};

/// Seconds `--wait` waits when given without a value.
const WAIT_DEFAULT: &str = "60";
/// Reruns per second of a bulk rerun unless `--rate` says otherwise.
const RERUN_RATE_DEFAULT: f64 = 10.0;
/// Attempts at one rerun the server answered with 429 RATE_LIMITED.
const RATE_LIMITED_ATTEMPTS: usize = 10;

#[derive(Args)]
pub struct RunArgs {
    /// The workflow's id (`wf_...`); it must be active.
    workflow: String,
    /// The run's input: JSON, `@FILE` or `@-` (stdin).
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// Wait up to SECONDS (default 60) for the run to end and print it; exit 1 when it
    /// failed or was cancelled.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = WAIT_DEFAULT)]
    wait: Option<u64>,
    /// The same key within 24 h answers with the first run instead of starting another.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// The connection the run's steps use.
    #[arg(long, value_name = "ID")]
    connection_id: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List(ListArgs),
    /// Show one run: status, input, output, error, steps, parent and reruns.
    Show(RunIdArgs),
    /// Show a run's journal: every event with its sequence number.
    Events(RunIdArgs),
    /// Cancel a run that has not ended.
    Cancel(CancelArgs),
    /// Resume a paused run; the payload becomes the waiting step's output.
    Resume(ResumeArgs),
    /// Replay a run's recorded history, alone or against another version or definition of
    /// its workflow. Exits 1 when the history diverges from the one replayed against.
    Replay(ReplayArgs),
    /// Start a new run from a step of an ended run (or, with --workflow, of every matching
    /// run). With --wait, exits 1 when the new run failed or was cancelled.
    Rerun(RerunArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Only runs with this status: pending, running, sleeping, paused, completed, failed,
    /// cancelled.
    #[arg(long)]
    status: Option<String>,
    /// Only runs of this workflow.
    #[arg(long, value_name = "WORKFLOW")]
    workflow: Option<String>,
    /// Only runs started at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Only runs started before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    #[command(flatten)]
    page: PageArgs,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct RunIdArgs {
    /// The run's id.
    run: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct CancelArgs {
    /// The run's id.
    run: String,
    /// Why (recorded in the run's journal).
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ResumeArgs {
    /// The run's id.
    run: String,
    /// The payload: JSON, `@FILE` or `@-` (stdin).
    #[arg(long, value_name = "JSON")]
    payload: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// The run's id.
    run: String,
    /// Replay against this version of the run's workflow.
    #[arg(long, conflicts_with = "definition")]
    version: Option<u64>,
    /// Replay against this workflow definition (JSON file, as for POST /api/v1/workflows;
    /// `-` reads stdin).
    #[arg(long, value_name = "FILE")]
    definition: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct RerunArgs {
    /// The ended run to rerun (or --workflow for every matching run).
    #[arg(required_unless_present = "workflow", conflicts_with = "workflow")]
    run: Option<String>,
    /// The step to start again from: the steps before it keep their recorded outputs.
    #[arg(long, value_name = "STEP")]
    from_step: String,
    /// The new run's input instead of the parent's: JSON, `@FILE` or `@-`.
    #[arg(long, value_name = "JSON", conflicts_with = "workflow")]
    input: Option<String>,
    /// The workflow version the rerun runs; the workflow's current version when not given.
    #[arg(long)]
    version: Option<u64>,
    /// Wait up to SECONDS (default 60) for the new run to end and print it.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = WAIT_DEFAULT, conflicts_with = "workflow")]
    wait: Option<u64>,
    /// Bulk: rerun every run of this workflow that matches --status, --from and --to.
    #[arg(long, value_name = "WORKFLOW")]
    workflow: Option<String>,
    /// Bulk: the status of the runs to rerun [default: failed].
    #[arg(long, requires = "workflow")]
    status: Option<String>,
    /// Bulk: only runs started at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", requires = "workflow")]
    from: Option<String>,
    /// Bulk: only runs started before this time (RFC 3339).
    #[arg(long, value_name = "TIME", requires = "workflow")]
    to: Option<String>,
    /// Bulk: at most this many reruns per second [default: 10].
    #[arg(long, value_name = "PER_SECOND", requires = "workflow")]
    rate: Option<f64>,
    #[command(flatten)]
    client: ClientArgs,
}

pub fn run_workflow(args: RunArgs) -> ExitCode {
    execute(start(args))
}

pub fn run(command: RunsCommand) -> ExitCode {
    execute(async move {
        match command {
            RunsCommand::List(args) => list(args).await,
            RunsCommand::Show(args) => show(args).await,
            RunsCommand::Events(args) => events(args).await,
            RunsCommand::Cancel(args) => cancel(args).await,
            RunsCommand::Resume(args) => resume(args).await,
            RunsCommand::Replay(args) => replay(args).await,
            RunsCommand::Rerun(args) => rerun(args).await,
        }
    })
}

/// The body of a run request (`POST .../run`, `POST .../fire`).
pub fn run_body(
    input: Option<&str>,
    idempotency_key: Option<String>,
    connection_id: Option<String>,
) -> Result<Value, Failure> {
    let mut body = Map::new();
    if let Some(input) = input {
        body.insert("input".into(), json_arg(input, "--input")?);
    }
    if let Some(key) = idempotency_key {
        body.insert("idempotencyKey".into(), json!(key));
    }
    if let Some(id) = connection_id {
        body.insert("connectionId".into(), json!(id));
    }
    Ok(Value::Object(body))
}

async fn start(args: RunArgs) -> Result<(), Failure> {
    let body = run_body(
        args.input.as_deref(),
        args.idempotency_key,
        args.connection_id,
    )?;
    let client = ApiClient::new(&args.client)?;
    let reply = client
        .send(
            Method::POST,
            &["api", "v1", "workflows", &args.workflow, "run"],
            &wait_query(args.wait),
            Some(&body),
            args.wait,
        )
        .await?;
    report_started(reply.into_data(), args.wait, args.client.json)
}

/// Prints the answer to a run request: the short form `{runId, status, ...}`, or the run's
/// detail when it was waited for. A waited run that failed or was cancelled is exit 1.
pub fn report_started(data: Value, wait: Option<u64>, json: bool) -> Result<(), Failure> {
    let is_detail = data.get("steps").is_some();
    if json {
        output::print_json(&data);
    } else if is_detail {
        print_run(&data);
    } else {
        let style = Style::stdout();
        let mut line = format!(
            "run {}  workflow {}@{}  status {}",
            output::text(&data["runId"]),
            output::text(&data["workflowId"]),
            output::text(&data["workflowVersion"]),
            style.status(&output::text(&data["status"])),
        );
        if let Some(parent) = data.get("parent").filter(|p| p.is_object()) {
            line.push_str(&format!(
                "  rerun of {} from step {}",
                output::text(&parent["runId"]),
                output::text(&parent["fromStep"])
            ));
        }
        println!("{line}");
    }
    let Some(seconds) = wait else { return Ok(()) };
    let run_id = output::text(data.get("runId").unwrap_or(&data["id"]));
    let status = output::text(&data["status"]);
    match status.as_str() {
        "failed" | "cancelled" | "corrupt" => {
            let error = data
                .get("error")
                .filter(|e| !e.is_null())
                .map(|e| format!(": {}", output::error_text(e)))
                .unwrap_or_default();
            Err(Failure::Outcome(format!("run {run_id} {status}{error}")))
        }
        "completed" => Ok(()),
        _ => {
            eprintln!("note: run {run_id} has not ended after {seconds} s (status {status})");
            Ok(())
        }
    }
}

/// A run's detail for people.
fn print_run(run: &Value) {
    let field = |name: &str| run.get(name).filter(|v| !v.is_null()).map(output::text);
    let parent = run.get("parent").filter(|p| p.is_object()).map(|p| {
        format!(
            "{} (from step {})",
            output::text(&p["runId"]),
            output::text(&p["fromStep"])
        )
    });
    let reruns = run["reruns"]
        .as_array()
        .filter(|r| !r.is_empty())
        .map(|reruns| {
            reruns
                .iter()
                .map(|r| {
                    format!(
                        "{} (from step {})",
                        output::text(&r["runId"]),
                        output::text(&r["fromStep"])
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        });
    let error = run.get("error").filter(|e| !e.is_null()).map(|e| {
        let at = e
            .get("stepId")
            .filter(|s| !s.is_null())
            .map(|s| format!(" (step {})", output::text(s)))
            .unwrap_or_default();
        format!("{}{at}", output::error_text(e))
    });
    output::print_fields(&[
        ("run", field("runId").or_else(|| field("id"))),
        (
            "workflow",
            Some(format!(
                "{}@{}",
                output::text(&run["workflowId"]),
                output::text(&run["workflowVersion"])
            )),
        ),
        ("status", field("status")),
        ("started", field("startedAt")),
        ("completed", field("completedAt")),
        ("parent", parent),
        ("reruns", reruns),
        ("error", error),
        (
            "input",
            run.get("input")
                .filter(|v| !v.is_null())
                .map(output::inline_json),
        ),
        (
            "output",
            run.get("output")
                .filter(|v| !v.is_null())
                .map(output::inline_json),
        ),
    ]);
    let mut table = Table::new(&[
        "STEP",
        "STATUS",
        "ATTEMPTS",
        "STARTED",
        "COMPLETED",
        "ERROR",
    ]);
    for step in run["steps"].as_array().into_iter().flatten() {
        table.row(vec![
            output::text(&step["id"]),
            output::text(&step["status"]),
            output::text(&step["attempts"]),
            output::text(&step["startedAt"]),
            output::text(&step["completedAt"]),
            step.get("error")
                .filter(|e| !e.is_null())
                .map(output::error_text)
                .unwrap_or_default(),
        ]);
    }
    if !table.is_empty() {
        println!();
        table.print();
    }
}

async fn list(args: ListArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let query = filters([
        ("workflowId", args.workflow),
        ("status", args.status),
        ("from", args.from),
        ("to", args.to),
    ]);
    let (items, next) = client
        .list(&["api", "v1", "runs"], query, &args.page)
        .await?;
    output::print_listing(
        items,
        next,
        args.client.json,
        &[
            "RUN",
            "WORKFLOW",
            "VERSION",
            "STATUS",
            "STARTED",
            "COMPLETED",
            "ERROR",
        ],
        "no runs",
        |item| {
            let mut row = output::cells(
                item,
                &[
                    "runId",
                    "workflowId",
                    "workflowVersion",
                    "status",
                    "startedAt",
                    "completedAt",
                ],
            );
            row.push(
                item.get("error")
                    .filter(|e| !e.is_null())
                    .map(output::error_text)
                    .unwrap_or_default(),
            );
            row
        },
    );
    Ok(())
}

async fn show(args: RunIdArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let run = client
        .get(&["api", "v1", "runs", &args.run], &[])
        .await?
        .into_data();
    if args.client.json {
        output::print_json(&run);
    } else {
        print_run(&run);
    }
    Ok(())
}

async fn events(args: RunIdArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let events = client
        .get(&["api", "v1", "runs", &args.run, "events"], &[])
        .await?
        .into_data();
    if args.client.json {
        output::print_json(&events);
        return Ok(());
    }
    let mut table = Table::new(&["SEQ", "TIME", "EVENT", "STEP"]);
    for event in events.as_array().into_iter().flatten() {
        table.row(vec![
            output::text(&event["seq"]),
            output::text(&event["timestamp"]),
            output::text(&event["type"]),
            event["data"]
                .get("stepId")
                .map(output::text)
                .unwrap_or_default(),
        ]);
    }
    table.print();
    Ok(())
}

async fn cancel(args: CancelArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let body = match args.reason {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    };
    post_action(
        &client,
        &args.run,
        "cancel",
        &body,
        "cancelled",
        args.client.json,
    )
    .await
}

async fn resume(args: ResumeArgs) -> Result<(), Failure> {
    let payload = json_arg(&args.payload, "--payload")?;
    let client = ApiClient::new(&args.client)?;
    let body = json!({ "payload": payload });
    post_action(
        &client,
        &args.run,
        "resume",
        &body,
        "resumed",
        args.client.json,
    )
    .await
}

/// `POST /api/v1/runs/{run}/{action}` with `body`; prints the run (`--json`) or
/// `{done} RUN  status S`.
async fn post_action(
    client: &ApiClient,
    run: &str,
    action: &str,
    body: &Value,
    done: &str,
    json: bool,
) -> Result<(), Failure> {
    let run = client
        .send(
            Method::POST,
            &["api", "v1", "runs", run, action],
            &[],
            Some(body),
            None,
        )
        .await?
        .into_data();
    if json {
        output::print_json(&run);
    } else {
        println!(
            "{done} {}  status {}",
            output::text(&run["runId"]),
            Style::stdout().status(&output::text(&run["status"]))
        );
    }
    Ok(())
}

async fn replay(args: ReplayArgs) -> Result<(), Failure> {
    let definition = args
        .definition
        .as_deref()
        .map(|path| read_json_file(path, "the workflow definition"))
        .transpose()?;
    let client = ApiClient::new(&args.client)?;
    let segments = ["api", "v1", "runs", args.run.as_str(), "replay"];
    let reply = match definition {
        Some(definition) => {
            let mut body = json!({ "definition": definition });
            if let Some(version) = args.version {
                body["version"] = json!(version);
            }
            client
                .send(Method::POST, &segments, &[], Some(&body), None)
                .await?
        }
        None => {
            let query: Vec<(&str, String)> = args
                .version
                .map(|v| vec![("version", v.to_string())])
                .unwrap_or_default();
            client.get(&segments, &query).await?
        }
    };
    report_replay(&reply.into_data(), args.client.json)
}

/// Prints a replay (the JSON of `GET /api/v1/runs/{id}/replay`, also made offline by
/// `duro replay --journal`): a failure (exit 1) when it diverges.
pub fn report_replay(replay: &Value, json: bool) -> Result<(), Failure> {
    let divergence = replay.get("divergence").filter(|d| d.is_object());
    if json {
        output::print_json(replay);
        return match divergence {
            Some(d) => Err(Failure::Outcome(divergence_text(d))),
            None => Ok(()),
        };
    }
    print_replay(replay);
    match divergence {
        Some(_) => Err(Failure::Outcome(String::new())),
        None => Ok(()),
    }
}

/// `DIVERGES at seq N (type step): message; expected: ...`
fn divergence_text(d: &Value) -> String {
    let step = d
        .get("stepId")
        .filter(|s| !s.is_null())
        .map(|s| format!(" {}", output::text(s)))
        .unwrap_or_default();
    let expected = d["expected"]
        .as_array()
        .map(|e| e.iter().map(output::text).collect::<Vec<_>>().join(", "))
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "nothing".to_owned());
    format!(
        "DIVERGES at seq {} ({}{step}): {}; expected: {expected}",
        output::text(&d["seq"]),
        output::text(&d["type"]),
        output::text(&d["message"]),
    )
}

fn print_replay(replay: &Value) {
    let style = Style::stdout();
    let mut header = format!(
        "run {}  workflow {}@{}  status {}",
        output::text(&replay["runId"]),
        output::text(&replay["workflowId"]),
        output::text(&replay["workflowVersion"]),
        style.status(&output::text(&replay["status"])),
    );
    if let Some(parent) = replay.get("parent").filter(|p| p.is_object()) {
        header.push_str(&format!(
            "  rerun of {} from step {}",
            output::text(&parent["runId"]),
            output::text(&parent["fromStep"])
        ));
    }
    println!("{}", style.bold(&header));
    println!();
    let mut timeline = Table::new(&["SEQ", "TIME", "EVENT", "STEP", "STATUS"]);
    for entry in replay["timeline"].as_array().into_iter().flatten() {
        timeline.row(vec![
            output::text(&entry["seq"]),
            output::text(&entry["timestamp"]),
            output::text(&entry["type"]),
            output::text(&entry["stepId"]),
            output::text(&entry["status"]),
        ]);
    }
    timeline.print();
    println!();
    let mut steps = Table::new(&["STEP", "STATUS", "ATTEMPTS", "ERROR"]);
    for step in replay["steps"].as_array().into_iter().flatten() {
        steps.row(vec![
            output::text(&step["id"]),
            output::text(&step["status"]),
            output::text(&step["attempts"]),
            step.get("error")
                .filter(|e| !e.is_null())
                .map(output::error_text)
                .unwrap_or_default(),
        ]);
    }
    if steps.is_empty() {
        println!("no steps");
    } else {
        steps.print();
    }
    println!();
    let stopped = &replay["stopped"];
    let reason = stopped
        .get("reason")
        .filter(|r| !r.is_null())
        .map(output::text)
        .unwrap_or_else(|| output::text(&stopped["status"]));
    println!("stopped: {reason}");
    let Some(against) = replay.get("against").filter(|a| a.is_object()) else {
        return;
    };
    let against_text = match (against["source"].as_str(), &against["workflowVersion"]) {
        (Some("definition"), Value::Null) => "the given definition".to_owned(),
        (Some("definition"), version) => {
            format!(
                "the given definition (as version {})",
                output::text(version)
            )
        }
        (_, version) => format!("version {}", output::text(version)),
    };
    match replay.get("divergence").filter(|d| d.is_object()) {
        None => println!(
            "{}",
            style.green(&format!(
                "no divergence: the history replays identically against {against_text}"
            ))
        ),
        Some(d) => println!("{}", style.red(&divergence_text(d))),
    }
}

async fn rerun(args: RerunArgs) -> Result<(), Failure> {
    match (&args.run, &args.workflow) {
        (Some(run), _) => rerun_one(run.clone(), &args).await,
        (None, Some(workflow)) => rerun_bulk(workflow.clone(), &args).await,
        (None, None) => Err(Failure::Usage("give a RUN or --workflow".to_owned())),
    }
}

fn rerun_body(from_step: &str, input: Option<Value>, version: Option<u64>) -> Value {
    let mut body = json!({ "fromStep": from_step });
    if let Some(input) = input {
        body["input"] = input;
    }
    if let Some(version) = version {
        body["version"] = json!(version);
    }
    body
}

async fn rerun_one(run: String, args: &RerunArgs) -> Result<(), Failure> {
    // clap's `requires` does not hold these to --workflow beside the RUN it conflicts with.
    let bulk_only = [
        ("--status", args.status.is_some()),
        ("--from", args.from.is_some()),
        ("--to", args.to.is_some()),
        ("--rate", args.rate.is_some()),
    ];
    if let Some((flag, _)) = bulk_only.iter().find(|(_, given)| *given) {
        return Err(Failure::Usage(format!(
            "{flag} is for a bulk rerun (--workflow W), not for one RUN"
        )));
    }
    let input = args
        .input
        .as_deref()
        .map(|i| json_arg(i, "--input"))
        .transpose()?;
    let client = ApiClient::new(&args.client)?;
    let body = rerun_body(&args.from_step, input, args.version);
    let reply = client
        .send(
            Method::POST,
            &["api", "v1", "runs", &run, "rerun"],
            &wait_query(args.wait),
            Some(&body),
            args.wait,
        )
        .await?;
    report_started(reply.into_data(), args.wait, args.client.json)
}

async fn rerun_bulk(workflow: String, args: &RerunArgs) -> Result<(), Failure> {
    let rate = args.rate.unwrap_or(RERUN_RATE_DEFAULT);
    if !rate.is_finite() || rate <= 0.0 {
        return Err(Failure::Usage(format!(
            "--rate must be a number of reruns per second above 0, not {rate}"
        )));
    }
    let client = ApiClient::new(&args.client)?;
    let status = args.status.clone().unwrap_or_else(|| "failed".to_owned());
    let query = filters([
        ("workflowId", Some(workflow.clone())),
        ("status", Some(status.clone())),
        ("from", args.from.clone()),
        ("to", args.to.clone()),
    ]);
    let (parents, _) = client
        .list(&["api", "v1", "runs"], query, &PageArgs::every())
        .await?;
    let parents: Vec<String> = parents
        .iter()
        .filter_map(|p| p["runId"].as_str().map(str::to_owned))
        .collect();
    let bar = indicatif::ProgressBar::new(parents.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("rerunning {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let body = rerun_body(&args.from_step, None, args.version);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut made = Vec::new();
    let mut failed: Vec<(String, Failure)> = Vec::new();
    for parent in &parents {
        let mut attempt = 0;
        let outcome = loop {
            ticks.tick().await;
            attempt += 1;
            let result = client
                .send(
                    Method::POST,
                    &["api", "v1", "runs", parent, "rerun"],
                    &[],
                    Some(&body),
                    None,
                )
                .await;
            match result {
                Err(failure) if failure.is_status(429) && attempt < RATE_LIMITED_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                other => break other,
            }
        };
        match outcome {
            Ok(reply) => {
                let run_id = output::text(&reply.data()["runId"]);
                made.push(json!({ "parentRunId": parent, "runId": run_id }));
            }
            // A key that may not rerun will not be let on the next run either: stop.
            Err(failure) if failure.is_status(401) || failure.is_status(403) => {
                bar.abandon();
                eprintln!("stopped after {} reruns", made.len());
                return Err(failure);
            }
            Err(failure @ Failure::Unreachable(_)) => {
                bar.abandon();
                eprintln!(
                    "stopped after {} reruns: the server cannot be reached",
                    made.len()
                );
                return Err(failure);
            }
            Err(failure) => failed.push((parent.clone(), failure)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if args.client.json {
        output::print_json(&Value::Array(made.clone()));
    } else {
        let mut table = Table::new(&["PARENT", "RERUN"]);
        for m in &made {
            table.row(vec![
                output::text(&m["parentRunId"]),
                output::text(&m["runId"]),
            ]);
        }
        if !table.is_empty() {
            table.print();
        }
        println!(
            "{} runs of {workflow} with status {status}: reruns made: {}, failures: {}",
            parents.len(),
            made.len(),
            failed.len()
        );
    }
    for (parent, failure) in &failed {
        match failure {
            Failure::Api { code, message, .. } => {
                eprintln!("rerun of {parent} failed: {code}: {message}")
            }
            other => eprintln!("rerun of {parent} failed: {other:?}"),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Outcome(format!(
            "{} of {} reruns failed",
            failed.len(),
            parents.len()
        )))
    }
}
