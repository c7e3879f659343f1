//! `duro workflows apply | list | show`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::output::{self, Table};
use super::{execute, filters, read_json_file, ApiClient, ClientArgs, Failure, PageArgs};

#[derive(Subcommand)]
pub enum WorkflowsCommand {
    /// Create or update a workflow from a JSON definition: a file without `id`, or with an
    /// id the server does not know, creates one; a known id updates it (PATCH). Prints id,
    /// version and status.
    Apply(ApplyArgs),
    /// List workflows, most recently updated first.
    List(ListArgs),
    /// Show one workflow's current definition.
    Show(ShowArgs),
}

#[derive(Args)]
pub struct ApplyArgs {
    /// The definition (JSON, as for POST /api/v1/workflows); `-` reads stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: String,
    /// Set the workflow's status to active after applying it.
    #[arg(long)]
    activate: bool,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only workflows with this status: draft, active, inactive.
    #[arg(long)]
    status: Option<String>,
    /// Only workflows whose name contains this (case-insensitive).
    #[arg(long, short = 'q')]
    query: Option<String>,
    #[command(flatten)]
    page: PageArgs,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The workflow's id (`wf_...`).
    id: String,
    #[command(flatten)]
    client: ClientArgs,
}

pub fn run(command: WorkflowsCommand) -> ExitCode {
    execute(async move {
        match command {
            WorkflowsCommand::Apply(args) => apply(args).await,
            WorkflowsCommand::List(args) => list(args).await,
            WorkflowsCommand::Show(args) => show(args).await,
        }
    })
}

/// Fields of a workflow's detail that are not part of its definition: a file saved from
/// `workflows show --json` applies as it is.
const DETAIL_ONLY_FIELDS: [&str; 4] = ["id", "version", "createdAt", "updatedAt"];

async fn apply(args: ApplyArgs) -> Result<(), Failure> {
    let definition = read_json_file(&args.file, "the workflow definition")?;
    let Value::Object(mut body) = definition else {
        return Err(Failure::Usage(
            "the workflow definition must be a JSON object".to_owned(),
        ));
    };
    let id = body.get("id").and_then(Value::as_str).map(str::to_owned);
    for field in DETAIL_ONLY_FIELDS {
        body.remove(field);
    }
    let body = Value::Object(body);
    let client = ApiClient::new(&args.client)?;
    let known = match &id {
        Some(id) => match client.get(&["api", "v1", "workflows", id], &[]).await {
            Ok(_) => true,
            Err(failure) if failure.is_status(404) => false,
            Err(failure) => return Err(failure),
        },
        None => false,
    };
    let (verb, mut detail) = match (&id, known) {
        (Some(id), true) => {
            let reply = client
                .send(
                    Method::PATCH,
                    &["api", "v1", "workflows", id],
                    &[],
                    Some(&body),
                    None,
                )
                .await?;
            ("updated", reply.into_data())
        }
        _ => {
            let reply = client
                .send(
                    Method::POST,
                    &["api", "v1", "workflows"],
                    &[],
                    Some(&body),
                    None,
                )
                .await?;
            ("created", reply.into_data())
        }
    };
    let new_id = output::text(&detail["id"]);
    if args.activate && detail["status"] != "active" {
        let reply = client
            .send(
                Method::PATCH,
                &["api", "v1", "workflows", &new_id, "status"],
                &[],
                Some(&json!({"status": "active"})),
                None,
            )
            .await?;
        detail = reply.into_data();
    }
    if let Some(id) = id.filter(|_| !known) {
        eprintln!("note: the file's id {id} is unknown to the server, which gave the new workflow the id {new_id}");
    }
    if args.client.json {
        output::print_json(&detail);
        return Ok(());
    }
    let style = output::Style::stdout();
    println!(
        "{verb} {new_id}  version {}  status {}",
        output::text(&detail["version"]),
        style.status(&output::text(&detail["status"]))
    );
    Ok(())
}

async fn list(args: ListArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let query = filters([("status", args.status), ("q", args.query)]);
    let (items, next) = client
        .list(&["api", "v1", "workflows"], query, &args.page)
        .await?;
    output::print_listing(
        items,
        next,
        args.client.json,
        &["ID", "NAME", "STATUS", "VERSION", "UPDATED"],
        "no workflows",
        |item| output::cells(item, &["id", "name", "status", "version", "updatedAt"]),
    );
    Ok(())
}

async fn show(args: ShowArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let detail = client
        .get(&["api", "v1", "workflows", &args.id], &[])
        .await?
        .into_data();
    if args.client.json {
        output::print_json(&detail);
        return Ok(());
    }
    let field = |name: &str| detail.get(name).filter(|v| !v.is_null()).map(output::text);
    output::print_fields(&[
        ("workflow", field("id")),
        ("name", field("name")),
        ("description", field("description")),
        ("status", field("status")),
        ("version", field("version")),
        ("created", field("createdAt")),
        ("updated", field("updatedAt")),
        (
            "inputSchema",
            detail
                .get("inputSchema")
                .filter(|v| !v.is_null())
                .map(output::inline_json),
        ),
    ]);
    let mut table = Table::new(&["STEP", "TYPE", "NAME"]);
    for step in detail["steps"].as_array().into_iter().flatten() {
        table.row(vec![
            output::text(&step["id"]),
            output::text(&step["type"]),
            step.get("name").map(output::text).unwrap_or_default(),
        ]);
    }
    if !table.is_empty() {
        println!();
        table.print();
    }
    Ok(())
}
