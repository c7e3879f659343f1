//! The PostgreSQL store passes the same suite as the memory and embedded stores, plus what
//! only a shared database can show: other processes' appends reach subscribers.

mod support;

use std::sync::Arc;
use std::time::Duration;

use journal::{
    conformance, EventStore, EventType, ExpectedVersion, NewEvent, Position, StreamName,
};
use journal_pg::{PgOptions, PgStore};
use support::with_database;

fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

fn event(data: &str) -> NewEvent {
    NewEvent::new(EventType(3), data.as_bytes().to_vec())
}

fn in_schema(schema: &str, pool_size: u32) -> PgOptions {
    PgOptions {
        pool_size,
        schema: Some(schema.to_owned()),
        ..PgOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    with_database(|url| async move {
        let store = PgStore::connect(&url, PgOptions::default())
            .await
            .expect("connect");
        conformance::check_all(Arc::new(store)).await;
    })
    .await;
}

/// Two schemas of one database are two independent journals, even side by side; a pool of
/// one connection is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms_in_schemas() {
    with_database(|url| async move {
        let a = PgStore::connect(&url, in_schema("journal_a", 1))
            .await
            .expect("connect a");
        let b = PgStore::connect(&url, in_schema("journal_b", 4))
            .await
            .expect("connect b");
        tokio::join!(
            conformance::check_all(Arc::new(a)),
            conformance::check_all(Arc::new(b))
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_store_conforms_on_a_single_thread() {
    with_database(|url| async move {
        let store = PgStore::connect(&url, in_schema("single", 2))
            .await
            .expect("connect");
        conformance::check_all(Arc::new(store)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_continues_the_log() {
    with_database(|url| async move {
        let s = stream("reopen-1");
        let first = {
            let store = PgStore::connect(&url, PgOptions::default())
                .await
                .expect("connect");
            store
                .append(&s, ExpectedVersion::NoStream, vec![event("a"), event("b")])
                .await
                .expect("append")
        };
        // The migrations are applied once; connecting again finds them done.
        let store = PgStore::connect(&url, PgOptions::default())
            .await
            .expect("reconnect");
        assert_eq!(*store.subscribe().borrow(), first.last_position());
        let second = store
            .append(&s, ExpectedVersion::Exact(2), vec![event("c")])
            .await
            .expect("append after reopening");
        assert_eq!(second.first_position, first.last_position().next());
        assert_eq!(second.first_seq.0, 3);
        let all = store.read_all(Position::START, 10).await.expect("read");
        assert_eq!(all.len(), 3);
        assert!(all.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
    })
    .await;
}

/// `_` and `%` are ordinary characters of a prefix, never wildcards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_match_literally() {
    with_database(|url| async move {
        let store = PgStore::connect(&url, PgOptions::default())
            .await
            .expect("connect");
        for name in ["a_b-1", "axb-1", "a_b", "a_c", "z", "A-upper", "a-dash"] {
            store
                .append(&stream(name), ExpectedVersion::Any, vec![event(name)])
                .await
                .expect("append");
        }
        let names = |listed: Vec<journal::StreamInfo>| -> Vec<String> {
            listed
                .into_iter()
                .map(|s| s.stream.as_str().to_owned())
                .collect()
        };
        let listed = store.list_streams("a_b", None, 100).await.expect("list");
        assert_eq!(names(listed), vec!["a_b", "a_b-1"]);
        let listed = store.list_streams("a_", None, 100).await.expect("list");
        assert_eq!(names(listed), vec!["a_b", "a_b-1", "a_c"]);
        assert!(store
            .list_streams("a%", None, 100)
            .await
            .expect("list")
            .is_empty());
        assert!(store
            .list_streams("%", None, 100)
            .await
            .expect("list")
            .is_empty());
        assert!(store
            .list_streams("a\\", None, 100)
            .await
            .expect("list")
            .is_empty());
        let listed = store.list_streams("", None, 100).await.expect("list all");
        // Byte order: upper case before '_' before lower case.
        assert_eq!(
            names(listed),
            vec!["A-upper", "a-dash", "a_b", "a_b-1", "a_c", "axb-1", "z"]
        );
        let after = stream("a_b");
        let listed = store
            .list_streams("", Some(&after), 2)
            .await
            .expect("list after");
        assert_eq!(names(listed), vec!["a_b-1", "a_c"]);
        assert!(store
            .list_streams("z", None, 0)
            .await
            .expect("list")
            .is_empty());
    })
    .await;
}

async fn wait_for(receiver: &mut tokio::sync::watch::Receiver<Position>, at_least: Position) {
    tokio::time::timeout(
        Duration::from_secs(10),
        receiver.wait_for(|position| *position >= at_least),
    )
    .await
    .expect("the subscriber learns of the append in time")
    .expect("store alive");
}

/// Another process's append reaches this process's subscribers (LISTEN/NOTIFY), also after
/// the listening connection was killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_learn_of_other_processes_appends() {
    with_database(|url| async move {
        let writer = PgStore::connect(&url, PgOptions::default())
            .await
            .expect("connect writer");
        let follower = PgStore::connect(&url, PgOptions::default())
            .await
            .expect("connect follower");
        let mut receiver = follower.subscribe();
        let s = stream("notify-1");
        let appended = writer
            .append(&s, ExpectedVersion::NoStream, vec![event("x")])
            .await
            .expect("append");
        wait_for(&mut receiver, appended.last_position()).await;

        // Kill every LISTEN connection of this database; the follower reconnects (and reads
        // the head) and still learns of the next append.
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_all(writer.pool())
        .await
        .expect("terminate listeners");
        assert!(!killed.is_empty(), "the listeners were found");
        let appended = writer
            .append(&s, ExpectedVersion::Exact(1), vec![event("y")])
            .await
            .expect("append");
        wait_for(&mut receiver, appended.last_position()).await;
        let appended = writer
            .append(&s, ExpectedVersion::Exact(2), vec![event("z")])
            .await
            .expect("append");
        wait_for(&mut receiver, appended.last_position()).await;
    })
    .await;
}

/// Connections killed by the server (a restart, `pg_terminate_backend`) are replaced: the
/// next append succeeds and lands after the earlier ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_go_on_after_connections_are_killed() {
    with_database(|url| async move {
        let store = PgStore::connect(&url, PgOptions::default())
            .await
            .expect("connect");
        let s = stream("killed-1");
        let first = store
            .append(&s, ExpectedVersion::NoStream, vec![event("a")])
            .await
            .expect("append");
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(store.pool())
            .await
            .expect("database name");
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(store.pool())
        .await
        .expect("terminate the other connections");
        assert!(!killed.is_empty());
        // The connection that ran the kill is killed too, from another session.
        let admin_url = support::server_url();
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("admin connection");
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(database)
            .execute(&mut admin)
            .await
            .expect("terminate the rest");
        let second = store
            .append(&s, ExpectedVersion::Exact(1), vec![event("b")])
            .await
            .expect("append after the kill");
        assert_eq!(second.first_position, first.last_position().next());
        let events = store
            .read_stream(&s, journal::Seq(1), 10)
            .await
            .expect("read");
        assert_eq!(events.len(), 2);
    })
    .await;
}

/// `sslmode=require` in the URL: the journal's connections are encrypted (the server on this
/// machine and CI's has TLS on; a server without it refuses, naming TLS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_use_tls_when_the_url_asks() {
    with_database(|url| async move {
        let separator = if url.contains('?') { '&' } else { '?' };
        let tls_url = format!("{url}{separator}sslmode=require");
        let store = match PgStore::connect(&tls_url, PgOptions::default()).await {
            Ok(store) => store,
            Err(error) => {
                let text = format!("{error:?}");
                assert!(
                    text.to_lowercase().contains("tls") || text.contains("SSL"),
                    "{text}"
                );
                eprintln!("skipping: this PostgreSQL does not offer TLS: {error}");
                return;
            }
        };
        let encrypted: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(store.pool())
                .await
                .expect("ask the server");
        assert!(encrypted, "the connection is not encrypted");
        store
            .append(
                &stream("tls-1"),
                ExpectedVersion::NoStream,
                vec![event("over TLS")],
            )
            .await
            .expect("append over TLS");
    })
    .await;
}
