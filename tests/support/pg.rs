//! A PostgreSQL database of a test's own: created on the server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped afterwards even when the test panics.
//! A test is skipped, with a printed reason, only when no server answers. Included by the
//! PostgreSQL tests alone (`#[path = "support/pg.rs"] mod pg;`), so the others do not link sqlx.

use std::future::Future;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The server's URL, from `DATABASE_URL`.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` with its database replaced by `database` (the query string kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    format!("{}/{database}{query}", &base[..path_start])
}

/// Runs `scenario` with the URLs of `count` new, empty databases named `{prefix}_{random}_{i}`,
/// then drops them; a panic in the scenario is passed on after the drop.
pub async fn with_databases<F, Fut>(prefix: &str, count: usize, scenario: F)
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = server_url();
    let mut admin = match PgConnection::connect(&url).await {
        Ok(connection) => connection,
        Err(error @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)) => {
            eprintln!("skipping: no PostgreSQL at {url}: {error}");
            return;
        }
        Err(error) => panic!("connecting to PostgreSQL at {url}: {error}"),
    };
    let tag = rand::random::<u64>();
    let names: Vec<String> = (0..count)
        .map(|i| format!("{prefix}_{tag:016x}_{i}"))
        .collect();
    for name in &names {
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create a test database");
    }
    let urls = names.iter().map(|name| with_database(&url, name)).collect();
    let outcome = tokio::spawn(scenario(urls)).await;
    for name in &names {
        admin
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await
            .expect("drop a test database");
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
