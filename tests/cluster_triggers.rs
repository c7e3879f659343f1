//! Triggers across three real `duro serve` nodes on one PostgreSQL database (issue 17):
//!
//! - an every-second interval schedule runs for over 20 s; the node holding the trigger's
//!   lease is SIGKILLed mid-way: at no sample do two nodes run the trigger, another node takes
//!   it over and its ticks go on within 10 s, and every tick from the first to the last has
//!   exactly one run (the ticks missed during the takeover are less than a minute late, so
//!   they run, docs/triggers.md);
//! - a polling trigger over a feed that grows by an item every 300 ms, its holder SIGKILLed
//!   mid-way: one node polls at a time, and every item has exactly one run;
//! - a webhook delivered twice at once, to two nodes, with one delivery id starts one run.
//!
//! Needs PostgreSQL at `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); each
//! test creates and drops a database of its own, and is skipped with a printed reason only
//! when no server answers. The two tests take turns (each runs three servers).

mod support;
// Only the PostgreSQL tests link sqlx: the helper is not part of `support`.
#[path = "support/pg.rs"]
mod pg;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use support::api::Api;
use support::{Serve, Server};

const KEY: &str = "cluster-triggers-test-key-0123456789";
/// Nodes on one database seal connection secrets with one key (a node with another refuses
/// to start).
const SECRET_KEY: &str = "7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c";
/// Polls sleep this long at most.
const POLL: Duration = Duration::from_millis(100);

/// How many nodes report running a trigger task (`duro_trigger_tasks` above 0), by id.
async fn running_nodes(nodes: &[Node]) -> Vec<String> {
    let mut running = Vec::new();
    for node in nodes.iter().filter(|n| n.server.is_some()) {
        if metric(&node.api, "duro_trigger_tasks{")
            .await
            .unwrap_or(0.0)
            > 0.0
        {
            running.push(node.id.clone());
        }
    }
    running
}

/// The tests take turns: three servers each are enough for two cores.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A node of the cluster: its server (killed when dropped), its id, its log.
struct Node {
    id: String,
    server: Option<Server>,
    api: Api,
    log: PathBuf,
}

/// Starts `count` nodes on `database_url`, one after another (each ready before the next).
fn start_nodes(database_url: &str, count: usize, logs: &Path) -> Vec<Node> {
    (1..=count)
        .map(|i| {
            let id = format!("node-{i}");
            let log = logs.join(format!("{id}.log"));
            let server = Serve::new()
                .bootstrap_key(KEY)
                .env_remove("DURO_CONFIG")
                .env("DURO_DATABASE_URL", database_url)
                .env("DURO_NODE_ID", &id)
                .env("DURO_SECRET_KEY", SECRET_KEY)
                .env("RUST_LOG", "info")
                .stderr_file(&log)
                .start();
            let api = Api::new(&server.url, KEY);
            Node {
                id,
                server: Some(server),
                api,
                log,
            }
        })
        .collect()
}

/// The nodes' logs, for a failure's message.
fn logs_of(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|node| {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("trigger") || l.contains("lease") || l.contains("WARN"))
                .collect();
            format!(
                "--- {} ---\n{}",
                node.id,
                lines[lines.len().saturating_sub(40)..].join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A gauge or counter of `/metrics` (the first series whose name and labels start with
/// `series`), or none when the node does not answer or has no such series.
async fn metric(api: &Api, series: &str) -> Option<f64> {
    let (status, _) = api
        .try_call(reqwest::Method::GET, "/readyz", None)
        .await
        .ok()?;
    if status != 200 {
        return None;
    }
    let text = api.text("/metrics").await;
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// The node holding the lease of `key` in the database, if any.
async fn holder(database: &mut PgConnection, key: &str) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>("SELECT holder FROM duro_leases WHERE key = $1")
        .bind(key)
        .fetch_optional(database)
        .await
        .expect("read the lease")
        .flatten()
}

/// The runs of `workflow` listed by `api` (its read models), as (id, idempotency key).
async fn runs_of(api: &Api, workflow: &str) -> Vec<(String, Option<String>)> {
    let mut runs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/runs?workflowId={workflow}&limit=100");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, body) = api.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        for run in body["data"].as_array().expect("runs") {
            runs.push((
                run["id"].as_str().expect("id").to_owned(),
                run["idempotencyKey"].as_str().map(str::to_owned),
            ));
        }
        match body["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return runs,
        }
    }
}

/// The tick (Unix seconds) a schedule run's idempotency key `{trigger}:{time}` names.
fn tick_of(trigger: &str, key: &str) -> i64 {
    let time = key
        .strip_prefix(&format!("{trigger}:"))
        .unwrap_or_else(|| panic!("not a tick of {trigger}: {key}"));
    chrono::DateTime::parse_from_rfc3339(time)
        .unwrap_or_else(|e| panic!("{key}: {e}"))
        .timestamp()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_every_second_schedule_runs_once_per_tick_on_three_nodes_through_a_sigkill() {
    let _turn = TURN.lock().await;
    pg::with_databases("duro_ctrig_sched", 1, |urls| schedule(urls[0].clone())).await;
}

async fn schedule(database_url: String) {
    let logs = tempfile::tempdir().expect("tempdir");
    let mut nodes = start_nodes(&database_url, 3, logs.path());
    let mut database = PgConnection::connect(&database_url)
        .await
        .expect("connect to the test database");
    let workflow = nodes[0]
        .api
        .active_workflow(json!({
            "name": "tick",
            "steps": [{"id": "at", "type": "transform",
                       "config": {"mapping": {"at": "{{input.scheduledAt}}"}}}]
        }))
        .await;
    // allow_all: a tick runs even while the run of an earlier one (the killed node's, until
    // its run is taken over) is still going, so every tick has a run to count.
    let (status, body) = nodes[1]
        .api
        .call(
            reqwest::Method::PUT,
            "/api/v1/triggers/every-second",
            Some(json!({
                "type": "schedule", "workflowId": workflow,
                "config": {"interval": "1s", "overlap": "allow_all"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let trigger = body["data"]["id"].as_str().expect("trigger id").to_owned();
    let lease = format!("trigger-{trigger}");
    let created = Instant::now();

    // Every 100 ms: how many nodes run the trigger (never more than one), and who holds its
    // lease. At 8 s the holder is SIGKILLed; the test goes on until 22 s, and at least 4 s
    // after another node took over.
    let mut killed: Option<(usize, Instant, f64)> = None;
    let mut took_over: Option<(String, Duration)> = None;
    let mut ticks_resumed: Option<Duration> = None;
    let mut holders_seen: Vec<String> = Vec::new();
    // Samples where the one node running the trigger is its lease's holder.
    let mut agreed = 0;
    loop {
        let mut running = Vec::new();
        for node in nodes.iter().filter(|n| n.server.is_some()) {
            if metric(&node.api, "duro_trigger_tasks{")
                .await
                .unwrap_or(0.0)
                > 0.0
            {
                running.push(node.id.clone());
            }
        }
        assert!(
            running.len() <= 1,
            "two nodes run the trigger at once: {running:?}\n{}",
            logs_of(&nodes)
        );
        let held_by = holder(&mut database, &lease).await;
        if let Some(held_by) = &held_by {
            if holders_seen.last() != Some(held_by) {
                holders_seen.push(held_by.clone());
            }
            if running == [held_by.clone()] {
                agreed += 1;
            }
        }
        match killed {
            None if created.elapsed() >= Duration::from_secs(8) => {
                let held_by = held_by.expect("a node holds the trigger's lease");
                let index = nodes
                    .iter()
                    .position(|n| n.id == held_by)
                    .expect("the holder is a node");
                // SIGKILL: the node renews nothing and releases nothing.
                let mut server = nodes[index].server.take().expect("running");
                server.child.kill().expect("kill -9");
                server.child.wait().expect("reap");
                killed = Some((index, Instant::now(), unix_now()));
            }
            None => {}
            Some((index, at, at_unix)) => {
                if took_over.is_none() {
                    if let Some(held_by) = held_by.filter(|h| *h != nodes[index].id) {
                        took_over = Some((held_by, at.elapsed()));
                    }
                }
                if ticks_resumed.is_none() {
                    let survivor = nodes.iter().find(|n| n.server.is_some()).expect("a node");
                    let runs = runs_of(&survivor.api, &workflow).await;
                    let after_kill = runs
                        .iter()
                        .filter_map(|(_, key)| key.as_deref())
                        .any(|key| tick_of(&trigger, key) as f64 >= at_unix.ceil());
                    if after_kill {
                        ticks_resumed = Some(at.elapsed());
                    }
                }
                assert!(
                    at.elapsed() < Duration::from_secs(15) || ticks_resumed.is_some(),
                    "no tick ran after the holder was killed: {took_over:?}\n{}",
                    logs_of(&nodes)
                );
                let done = took_over.is_some()
                    && ticks_resumed
                        .is_some_and(|resumed| at.elapsed() >= resumed + Duration::from_secs(4));
                if done && created.elapsed() >= Duration::from_secs(22) {
                    break;
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
    let (killed_index, _, killed_unix) = killed.expect("killed");
    let (new_holder, takeover) = took_over.expect("another node took the trigger over");
    let resumed = ticks_resumed.expect("ticks resumed");
    eprintln!(
        "holders: {holders_seen:?}; killed {} at {killed_unix:.1}; {new_holder} took over after {takeover:?}; ticks resumed after {resumed:?}; {agreed} samples agreed",
        nodes[killed_index].id
    );
    assert!(
        agreed >= 10,
        "the lease holder runs the trigger (in {agreed} samples)"
    );
    assert!(
        resumed <= Duration::from_secs(10),
        "ticks resumed {resumed:?} after the kill"
    );
    let new_node = nodes
        .iter()
        .find(|n| n.id == new_holder)
        .expect("the new holder is a node");
    let takeovers = metric(&new_node.api, "duro_lease_takeovers_total{")
        .await
        .unwrap_or(0.0);
    let counted = new_node.api.text("/metrics").await;
    assert!(
        counted
            .lines()
            .any(|l| l.starts_with("duro_lease_takeovers_total{")
                && l.contains("kind=\"trigger\"")
                && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) >= Some(1.0)),
        "the takeover is counted ({takeovers}): {counted}"
    );

    // Stop the schedule, let its last runs reach the read models, then count runs per tick.
    let (status, body) = new_node
        .api
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/triggers/{trigger}/status"),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut runs = runs_of(&new_node.api, &workflow).await;
    let settle = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let again = runs_of(&new_node.api, &workflow).await;
        let same = again.len() == runs.len();
        runs = again;
        if same && settle.elapsed() >= Duration::from_secs(2) {
            break;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(30),
            "runs keep coming"
        );
    }
    let mut per_tick: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (id, key) in &runs {
        let key = key
            .as_deref()
            .unwrap_or_else(|| panic!("run {id} has no key"));
        per_tick
            .entry(tick_of(&trigger, key))
            .or_default()
            .push(id.clone());
    }
    let doubled: Vec<_> = per_tick.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(doubled.is_empty(), "ticks with two runs: {doubled:?}");
    let ticks: Vec<i64> = per_tick.keys().copied().collect();
    let (first, last) = (ticks[0], ticks[ticks.len() - 1]);
    let missing: Vec<i64> = (first..=last)
        .filter(|t| !per_tick.contains_key(t))
        .collect();
    assert!(
        missing.is_empty(),
        "ticks without a run: {missing:?} (ticks {first}..={last})\n{}",
        logs_of(&nodes)
    );
    assert!(
        ticks.len() >= 20,
        "over 20 s of ticks: {} ({ticks:?})",
        ticks.len()
    );
    assert!(
        (first as f64) < killed_unix && (last as f64) > killed_unix + 3.0,
        "ticks before and after the kill: {first}..={last}, killed at {killed_unix}"
    );
    // Disabled: its node deletes the trigger's lease.
    let deadline = Instant::now() + Duration::from_secs(10);
    while holder(&mut database, &lease).await.is_some() {
        assert!(
            Instant::now() < deadline,
            "the disabled trigger's lease stays"
        );
        tokio::time::sleep(POLL).await;
    }
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivered_to_two_nodes_at_once_starts_one_run() {
    let _turn = TURN.lock().await;
    pg::with_databases("duro_ctrig_hook", 1, |urls| webhook(urls[0].clone())).await;
}

async fn webhook(database_url: String) {
    let logs = tempfile::tempdir().expect("tempdir");
    let nodes = start_nodes(&database_url, 3, logs.path());
    let workflow = nodes[0]
        .api
        .active_workflow(json!({
            "name": "hook",
            "steps": [{"id": "echo", "type": "transform",
                       "config": {"mapping": {"order": "{{input.body.order}}"}}}]
        }))
        .await;
    let (status, body) = nodes[0]
        .api
        .call(
            reqwest::Method::PUT,
            "/api/v1/triggers/orders",
            Some(json!({"type": "webhook", "workflowId": workflow})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let webhook_id = body["data"]["webhookId"]
        .as_str()
        .expect("webhookId")
        .to_owned();
    let client = reqwest::Client::new();
    let deliver = |node: &Node, delivery: &str| {
        client
            .post(format!("{}/api/v1/webhooks/{webhook_id}", nodes_url(node)))
            .header("X-Delivery-Id", delivery)
            .json(&json!({"order": 42}))
            .send()
    };
    // The same delivery to nodes 2 and 3 at once.
    let (second, third) = tokio::join!(
        deliver(&nodes[1], "delivery-1"),
        deliver(&nodes[2], "delivery-1")
    );
    let mut answers = Vec::new();
    for reply in [second, third] {
        let reply = reply.expect("delivered");
        let status = reply.status().as_u16();
        let body: Value = reply.json().await.expect("json");
        answers.push((status, body));
    }
    let run_ids: HashSet<&str> = answers
        .iter()
        .map(|(_, body)| body["data"]["runId"].as_str().expect("runId"))
        .collect();
    assert_eq!(run_ids.len(), 1, "one run: {answers:?}");
    let mut statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        vec![200, 202],
        "one start, one duplicate: {answers:?}"
    );
    let duplicates: Vec<&Value> = answers
        .iter()
        .map(|(_, body)| &body["data"]["duplicate"])
        .collect();
    assert!(
        duplicates.contains(&&json!(true)) && duplicates.contains(&&json!(false)),
        "{answers:?}"
    );
    let run_id = (*run_ids.iter().next().expect("a run")).to_owned();

    // Again later, to the first node: the same run. Another delivery id: another run.
    let again = deliver(&nodes[0], "delivery-1").await.expect("delivered");
    assert_eq!(again.status().as_u16(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["data"]["runId"], json!(run_id), "{again}");
    assert_eq!(again["data"]["duplicate"], json!(true), "{again}");
    let other = deliver(&nodes[0], "delivery-2").await.expect("delivered");
    assert_eq!(other.status().as_u16(), 202);
    let other: Value = other.json().await.expect("json");
    let other_id = other["data"]["runId"].as_str().expect("runId").to_owned();
    assert_ne!(other_id, run_id);

    // Every node lists exactly these two runs of the workflow once its read models caught up.
    for node in &nodes {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let runs = runs_of(&node.api, &workflow).await;
            let mut ids: Vec<String> = runs.into_iter().map(|(id, _)| id).collect();
            ids.sort_unstable();
            let mut expected = vec![run_id.clone(), other_id.clone()];
            expected.sort_unstable();
            if ids == expected {
                break;
            }
            assert!(ids.len() <= 2, "{}: {ids:?}", node.id);
            assert!(Instant::now() < deadline, "{}: {ids:?}", node.id);
            tokio::time::sleep(POLL).await;
        }
    }
    let ended = nodes[2].api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(ended["status"], "completed", "{ended}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_feed_runs_each_item_once_on_three_nodes_through_a_sigkill() {
    let _turn = TURN.lock().await;
    pg::with_databases("duro_ctrig_poll", 1, |urls| polling(urls[0].clone())).await;
}

async fn polling(database_url: String) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    // The feed: item-1 .. item-n, n growing by one every 300 ms until frozen.
    let started = Instant::now();
    let frozen = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let (feed_frozen, feed_served) = (frozen.clone(), served.clone());
    let feed = axum::Router::new().route(
        "/feed",
        axum::routing::get(move || {
            let grown = started.elapsed().as_millis() as usize / 300 + 1;
            let count = if feed_frozen.load(Ordering::SeqCst) {
                feed_served.load(Ordering::SeqCst)
            } else {
                feed_served.fetch_max(grown, Ordering::SeqCst).max(grown)
            };
            let items: Vec<Value> = (1..=count)
                .map(|n| json!({"id": format!("item-{n}")}))
                .collect();
            async move { axum::Json(json!({ "items": items })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let feed_address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, feed).await });

    let logs = tempfile::tempdir().expect("tempdir");
    let mut nodes = start_nodes(&database_url, 3, logs.path());
    let mut database = PgConnection::connect(&database_url)
        .await
        .expect("connect to the test database");
    let workflow = nodes[0]
        .api
        .active_workflow(json!({
            "name": "per item",
            "steps": [{"id": "echo", "type": "transform",
                       "config": {"mapping": {"id": "{{input.item.id}}"}}}]
        }))
        .await;
    let (status, body) = nodes[2]
        .api
        .call(
            reqwest::Method::PUT,
            "/api/v1/triggers/feed",
            Some(json!({
                "type": "polling", "workflowId": workflow,
                "config": {"url": format!("http://{feed_address}/feed"),
                           "interval": "200ms", "itemsPointer": "/items"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let trigger = body["data"]["id"].as_str().expect("trigger id").to_owned();
    let lease = format!("trigger-{trigger}");
    let created = Instant::now();

    // At 5 s the lease's holder is SIGKILLed; the feed stops growing 4 s after another node
    // took the trigger over.
    let mut killed: Option<(String, Instant)> = None;
    let mut took_over: Option<Duration> = None;
    loop {
        let running = running_nodes(&nodes).await;
        assert!(
            running.len() <= 1,
            "two nodes poll at once: {running:?}\n{}",
            logs_of(&nodes)
        );
        let held_by = holder(&mut database, &lease).await;
        match &killed {
            None if created.elapsed() >= Duration::from_secs(5) => {
                let held_by = held_by.expect("a node holds the trigger's lease");
                let node = nodes
                    .iter_mut()
                    .find(|n| n.id == held_by)
                    .expect("the holder is a node");
                let mut server = node.server.take().expect("running");
                server.child.kill().expect("kill -9");
                server.child.wait().expect("reap");
                killed = Some((held_by, Instant::now()));
            }
            None => {}
            Some((dead, at)) => {
                if took_over.is_none() && held_by.as_ref().is_some_and(|h| h != dead) {
                    took_over = Some(at.elapsed());
                }
                assert!(
                    at.elapsed() < Duration::from_secs(15) || took_over.is_some(),
                    "no node took the trigger over\n{}",
                    logs_of(&nodes)
                );
                if took_over.is_some_and(|t| at.elapsed() >= t + Duration::from_secs(4)) {
                    break;
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
    frozen.store(true, Ordering::SeqCst);
    // A request that read the clock before the freeze has answered by now.
    tokio::time::sleep(POLL).await;
    let items = served.load(Ordering::SeqCst);
    let takeover = took_over.expect("taken over");
    eprintln!("polling: {items} items served; taken over after {takeover:?}");
    assert!(
        takeover <= Duration::from_secs(10),
        "taken over after {takeover:?}"
    );

    // Every item served runs, once.
    let survivor = nodes.iter().find(|n| n.server.is_some()).expect("a node");
    let deadline = Instant::now() + Duration::from_secs(30);
    let keys = loop {
        let runs = runs_of(&survivor.api, &workflow).await;
        let keys: Vec<String> = runs
            .into_iter()
            .map(|(id, key)| key.unwrap_or_else(|| panic!("run {id} has no key")))
            .collect();
        if keys.len() >= items {
            break keys;
        }
        assert!(
            Instant::now() < deadline,
            "{} runs of {items} items\n{}",
            keys.len(),
            logs_of(&nodes)
        );
        tokio::time::sleep(POLL).await;
    };
    // Polls after the freeze find nothing new: the count stays.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(POLL).await;
    }
    let keys_after = runs_of(&survivor.api, &workflow).await.len();
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "an item ran twice: {keys:?}");
    assert_eq!(
        keys_after,
        keys.len(),
        "runs after the feed stopped growing"
    );
    let expected: HashSet<String> = (1..=items).map(|n| format!("{trigger}:item-{n}")).collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<HashSet<String>>(),
        expected
    );
}

fn nodes_url(node: &Node) -> &str {
    &node.server.as_ref().expect("running").url
}
