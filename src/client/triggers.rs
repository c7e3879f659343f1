//! `duro triggers list | show | upsert | enable | disable | fire`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::output::{self, Style};
use super::runs::{report_started, run_body};
use super::{
    execute, filters, read_json_file, wait_query, ApiClient, ClientArgs, Failure, PageArgs,
};

#[derive(Subcommand)]
pub enum TriggersCommand {
    /// List triggers in creation order (disabled ones too).
    List(ListArgs),
    /// Show one trigger.
    Show(IdArgs),
    /// Create or update a trigger from a JSON file holding `slug` and the PUT body
    /// (`type`, `workflowId`, `config`, ...). Prints the trigger's id and status.
    Upsert(UpsertArgs),
    /// Enable a trigger.
    Enable(IdArgs),
    /// Disable a trigger: it fires nothing until enabled.
    Disable(IdArgs),
    /// Run the trigger's workflow now (recorded as a manual firing).
    Fire(FireArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Only triggers of this workflow.
    #[arg(long, value_name = "WORKFLOW")]
    workflow: Option<String>,
    /// Only triggers of this type: schedule, webhook, polling, manual.
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    #[command(flatten)]
    page: PageArgs,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct IdArgs {
    /// The trigger's id.
    id: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct UpsertArgs {
    /// The trigger (JSON: `slug` plus the PUT /api/v1/triggers/{slug} body); `-` reads stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct FireArgs {
    /// The trigger's id.
    id: String,
    /// The run's input: JSON, `@FILE` or `@-` (stdin).
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// Wait up to SECONDS (default 60) for the run to end and print it; exit 1 when it
    /// failed or was cancelled.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "60")]
    wait: Option<u64>,
    /// The same key within 24 h answers with the first run instead of starting another.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

pub fn run(command: TriggersCommand) -> ExitCode {
    execute(async move {
        match command {
            TriggersCommand::List(args) => list(args).await,
            TriggersCommand::Show(args) => show(args).await,
            TriggersCommand::Upsert(args) => upsert(args).await,
            TriggersCommand::Enable(args) => set_status(args, "enabled").await,
            TriggersCommand::Disable(args) => set_status(args, "disabled").await,
            TriggersCommand::Fire(args) => fire(args).await,
        }
    })
}

/// `created|updated|enabled|... ID (slug)  type T  workflow W  status S`
fn print_summary(verb: &str, trigger: &Value) {
    let mut line = format!(
        "{verb} {} ({})  type {}  workflow {}  status {}",
        output::text(&trigger["id"]),
        output::text(&trigger["slug"]),
        output::text(&trigger["type"]),
        output::text(&trigger["workflowId"]),
        Style::stdout().status(&output::text(&trigger["status"])),
    );
    if let Some(url) = trigger["webhookUrl"].as_str() {
        line.push_str(&format!("  webhook {url}"));
    }
    println!("{line}");
}

async fn list(args: ListArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let query = filters([("workflowId", args.workflow), ("type", args.kind)]);
    let (items, next) = client
        .list(&["api", "v1", "triggers"], query, &args.page)
        .await?;
    output::print_listing(
        items,
        next,
        args.client.json,
        &["ID", "SLUG", "TYPE", "WORKFLOW", "STATUS", "FIRED"],
        "no triggers",
        |item| {
            output::cells(
                item,
                &["id", "slug", "type", "workflowId", "status", "fired"],
            )
        },
    );
    Ok(())
}

async fn show(args: IdArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let trigger = client
        .get(&["api", "v1", "triggers", &args.id], &[])
        .await?
        .into_data();
    if args.client.json {
        output::print_json(&trigger);
        return Ok(());
    }
    let field = |name: &str| trigger.get(name).filter(|v| !v.is_null()).map(output::text);
    output::print_fields(&[
        ("trigger", field("id")),
        ("slug", field("slug")),
        ("type", field("type")),
        ("workflow", field("workflowId")),
        ("status", field("status")),
        ("fired", field("fired")),
        ("connection", field("connectionId")),
        ("webhook", field("webhookUrl")),
        ("config", trigger.get("config").map(output::inline_json)),
        ("created", field("createdAt")),
        ("updated", field("updatedAt")),
    ]);
    Ok(())
}

async fn upsert(args: UpsertArgs) -> Result<(), Failure> {
    let file = read_json_file(&args.file, "the trigger")?;
    let Value::Object(mut body) = file else {
        return Err(Failure::Usage(
            "the trigger must be a JSON object".to_owned(),
        ));
    };
    let slug = match body.remove("slug") {
        Some(Value::String(slug)) if !slug.trim().is_empty() => slug,
        _ => {
            return Err(Failure::Usage(
                "the trigger file must have a \"slug\" (a string)".to_owned(),
            ))
        }
    };
    // Fields of a trigger's detail that are not part of the PUT body: a file saved from
    // `triggers show --json` (plus nothing) applies as it is.
    for field in [
        "id",
        "webhookId",
        "webhookUrl",
        "cursorData",
        "fired",
        "createdBy",
        "updatedBy",
        "createdAt",
        "updatedAt",
    ] {
        body.remove(field);
    }
    let client = ApiClient::new(&args.client)?;
    let reply = client
        .send(
            Method::PUT,
            &["api", "v1", "triggers", &slug],
            &[],
            Some(&Value::Object(body)),
            None,
        )
        .await?;
    let verb = if reply.status == 201 {
        "created"
    } else {
        "updated"
    };
    let trigger = reply.into_data();
    if args.client.json {
        output::print_json(&trigger);
    } else {
        print_summary(verb, &trigger);
    }
    Ok(())
}

async fn set_status(args: IdArgs, status: &str) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let trigger = client
        .send(
            Method::PATCH,
            &["api", "v1", "triggers", &args.id, "status"],
            &[],
            Some(&json!({ "status": status })),
            None,
        )
        .await?
        .into_data();
    if args.client.json {
        output::print_json(&trigger);
    } else {
        print_summary(status, &trigger);
    }
    Ok(())
}

async fn fire(args: FireArgs) -> Result<(), Failure> {
    let body = run_body(args.input.as_deref(), args.idempotency_key, None)?;
    let client = ApiClient::new(&args.client)?;
    let reply = client
        .send(
            Method::POST,
            &["api", "v1", "triggers", &args.id, "fire"],
            &wait_query(args.wait),
            Some(&body),
            args.wait,
        )
        .await?;
    report_started(reply.into_data(), args.wait, args.client.json)
}
