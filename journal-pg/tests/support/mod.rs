//! Each test gets its own database on the server at `DATABASE_URL`, dropped afterwards (also
//! when the test fails), so tests run in parallel and leave nothing behind.

use std::future::Future;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database replaced by `database`, keeping any `?parameters`.
fn with_database_name(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!(
        "{}/{database}{query}",
        &base[..authority_start.max(authority_end)]
    )
}

/// Runs `body` with the URL of a fresh database, then drops the database. When no server
/// answers at `DATABASE_URL`, says so and returns without running `body`; any other failure
/// fails the test.
pub async fn with_database<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = server_url();
    let mut admin = match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        // Only an unreachable server is a reason to skip (refused, no route, unknown host):
        // a server that answers and refuses (a wrong user, a bad URL) fails the test.
        Err(error @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)) => {
            eprintln!("skipping: no PostgreSQL at {url}: {error}");
            return;
        }
        Err(error) => panic!("connecting to PostgreSQL at {url}: {error}"),
    };
    let name = format!("duro_test_{:016x}", rand::random::<u64>());
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create the test database");
    let outcome = tokio::spawn(body(with_database_name(&url, &name))).await;
    // FORCE ends the connections the test's stores still hold.
    admin
        .execute(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
        .await
        .expect("drop the test database");
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test body did not finish: {error}"),
        }
    }
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database_name("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database_name("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database_name("postgres://h", "x"), "postgres://h/x");
}
