//! `duro providers list | show`: the provider catalog of a running server (what action
//! steps can call, and each action's params).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::output;
use super::{execute, ApiClient, ClientArgs, Failure, PageArgs};

#[derive(Subcommand)]
pub enum ProvidersCommand {
    /// List the providers and their actions.
    List(ListArgs),
    /// Show one provider: its actions with their params (JSON Schema).
    Show(ShowArgs),
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The provider's id (stripe, slack, github, http, or one of DURO_PROVIDERS_DIR).
    id: String,
    #[command(flatten)]
    client: ClientArgs,
}

pub fn run(command: ProvidersCommand) -> ExitCode {
    execute(async move {
        match command {
            ProvidersCommand::List(args) => list(args).await,
            ProvidersCommand::Show(args) => show(args).await,
        }
    })
}

fn action_ids(provider: &Value) -> String {
    provider["actions"]
        .as_array()
        .map(|actions| {
            actions
                .iter()
                .map(|a| output::text(&a["id"]))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

async fn list(args: ListArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let (items, next) = client
        .list(&["api", "v1", "providers"], Vec::new(), &PageArgs::every())
        .await?;
    output::print_listing(
        items,
        next,
        args.client.json,
        &["ID", "NAME", "BASE URL", "ACTIONS"],
        "no providers",
        |item| {
            vec![
                output::text(&item["id"]),
                output::text(&item["name"]),
                output::text(&item["baseUrl"]),
                action_ids(item),
            ]
        },
    );
    Ok(())
}

async fn show(args: ShowArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.client)?;
    let provider = client
        .get(&["api", "v1", "providers", &args.id], &[])
        .await?
        .into_data();
    if args.client.json {
        output::print_json(&provider);
        return Ok(());
    }
    let field = |name: &str| {
        provider
            .get(name)
            .filter(|v| !v.is_null())
            .map(output::text)
    };
    output::print_fields(&[
        ("provider", field("id")),
        ("name", field("name")),
        ("base URL", field("baseUrl")),
        ("connections", field("connectionKinds")),
    ]);
    for action in provider["actions"].as_array().into_iter().flatten() {
        println!();
        println!(
            "{}  {}",
            output::text(&action["id"]),
            output::text(&action["description"])
        );
        let params = &action["params"];
        let required: Vec<String> = params["required"]
            .as_array()
            .into_iter()
            .flatten()
            .map(output::text)
            .collect();
        for (name, schema) in params["properties"].as_object().into_iter().flatten() {
            let kind = output::text(&schema["type"]);
            let mark = if required.contains(name) {
                " (required)"
            } else {
                ""
            };
            println!("  {name}: {kind}{mark}");
        }
    }
    Ok(())
}
