//! `duro keys create | list | revoke --url URL`: the admin API (`/api/v1/keys`, scope
//! `admin`) of a running server, printing what the offline commands print
//! (`crate::keys_cmd`).

use credentials::keys::{KeyInfo, Scope};
use reqwest::Method;
use serde_json::{json, Value};

use super::{ApiClient, ClientArgs, Failure, PageArgs};
use crate::keys_cmd;

fn key_of(data: Value) -> Result<KeyInfo, Failure> {
    serde_json::from_value(data)
        .map_err(|e| Failure::Outcome(format!("the server's answer is not a key: {e}")))
}

fn printed(result: anyhow::Result<()>) -> Result<(), Failure> {
    result.map_err(|e| Failure::Outcome(format!("{e:#}")))
}

pub async fn create(args: &ClientArgs, name: &str, scopes: &[Scope]) -> Result<(), Failure> {
    let client = ApiClient::new(args)?;
    let data = client
        .send(
            Method::POST,
            &["api", "v1", "keys"],
            &[],
            Some(&json!({ "name": name, "scopes": scopes })),
            None,
        )
        .await?
        .into_data();
    let secret = data["key"].as_str().unwrap_or_default().to_owned();
    let info = key_of(data)?;
    keys_cmd::print_created(&info, &secret, args.json);
    Ok(())
}

pub async fn list(args: &ClientArgs) -> Result<(), Failure> {
    let client = ApiClient::new(args)?;
    let (items, _) = client
        .list(&["api", "v1", "keys"], Vec::new(), &PageArgs::every())
        .await?;
    let all = items
        .into_iter()
        .map(key_of)
        .collect::<Result<Vec<_>, _>>()?;
    printed(keys_cmd::print_list(&all, args.json))
}

pub async fn revoke(args: &ClientArgs, id: &str) -> Result<(), Failure> {
    let client = ApiClient::new(args)?;
    let data = client
        .send(Method::DELETE, &["api", "v1", "keys", id], &[], None, None)
        .await?
        .into_data();
    printed(keys_cmd::print_revoked(&key_of(data)?, args.json))
}
