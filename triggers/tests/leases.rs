//! The runner of one node among several (shared leases): a schedule runs on the node holding
//! its lease and on no other; when that node stops renewing (it stalled or was cut off),
//! another takes the lease over once it expired and the first stops its task; ticks go on
//! once each; a disabled trigger's lease is deleted by its holder. The leases are an
//! in-memory stand-in for `duro_leases` (PgLeases is tested against PostgreSQL in journal-pg
//! and by tests/cluster_triggers.rs); time is tokio's, paused.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Clock, Runs, TokioClock};
use journal::{Claimed, EventStore, Leases, MemoryStore, StoreError};
use serde_json::json;
use tokio::sync::broadcast;
use tokio::time::Instant;
use triggers::instances::{TriggerEvent, TriggerSpec, Triggers};
use triggers::runner::{lease_key, Runner};

#[derive(Default)]
struct Row {
    holder: Option<String>,
    epoch: u64,
    expires: Option<Instant>,
}

/// The shared table and what happened to it.
#[derive(Default)]
struct Table {
    rows: HashMap<String, Row>,
    takeovers: Vec<(String, String, String)>,
}

/// One node's leases over the shared table, with PgLeases' rules.
struct FakeLeases {
    node: Arc<str>,
    table: Arc<Mutex<Table>>,
    ttl: Duration,
    /// Cleared: the node stops renewing (as a stalled or cut-off node).
    renewing: AtomicBool,
    pokes: broadcast::Sender<String>,
}

impl FakeLeases {
    fn new(node: &str, table: &Arc<Mutex<Table>>, ttl: Duration) -> Arc<FakeLeases> {
        Arc::new(FakeLeases {
            node: node.into(),
            table: table.clone(),
            ttl,
            renewing: AtomicBool::new(true),
            pokes: broadcast::channel(1).0,
        })
    }

    /// The node's keeper: renews its leases five times per lifetime while `renewing`.
    fn keep(self: &Arc<FakeLeases>) -> tokio::task::JoinHandle<()> {
        let leases = self.clone();
        tokio::spawn(async move {
            loop {
                if leases.renewing.load(Ordering::SeqCst) {
                    leases.renew().await.expect("renew");
                }
                tokio::time::sleep(leases.ttl / 5).await;
            }
        })
    }

    fn live(row: &Row) -> bool {
        row.holder.is_some() && row.expires.is_some_and(|at| at > Instant::now())
    }
}

#[async_trait]
impl Leases for FakeLeases {
    fn node(&self) -> &Arc<str> {
        &self.node
    }

    fn shared(&self) -> bool {
        true
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    async fn claim(&self, key: &str) -> Result<Option<Claimed>, StoreError> {
        Ok(self.claim_many(&[key.to_owned()]).await?.pop())
    }

    async fn claim_many(&self, keys: &[String]) -> Result<Vec<Claimed>, StoreError> {
        let mut table = self.table.lock().expect("the lease table");
        let mut claimed = Vec::new();
        for key in keys {
            let Some(row) = table.rows.get_mut(key) else {
                continue;
            };
            let mine = row.holder.as_deref() == Some(&*self.node);
            if FakeLeases::live(row) && !mine {
                continue;
            }
            let previous = row.holder.replace(self.node.to_string());
            row.epoch += 1;
            row.expires = Some(Instant::now() + self.ttl);
            let taken_from = previous.filter(|p| *p != *self.node);
            claimed.push(Claimed {
                key: key.clone(),
                epoch: row.epoch,
                taken_from: taken_from.clone(),
            });
            if let Some(from) = taken_from {
                table
                    .takeovers
                    .push((key.clone(), from, self.node.to_string()));
            }
        }
        Ok(claimed)
    }

    async fn claim_due(&self, _: &str, _: u64, _: usize) -> Result<Vec<Claimed>, StoreError> {
        Ok(Vec::new())
    }

    async fn reclaim_own(&self, _: &str) -> Result<Vec<Claimed>, StoreError> {
        Ok(Vec::new())
    }

    async fn release(&self, key: &str, epoch: u64, _: Option<i64>) -> Result<(), StoreError> {
        let mut table = self.table.lock().expect("the lease table");
        if let Some(row) = table.rows.get_mut(key) {
            if row.holder.as_deref() == Some(&*self.node) && row.epoch == epoch {
                row.holder = None;
                row.expires = None;
            }
        }
        Ok(())
    }

    async fn finish(&self, key: &str, epoch: u64) -> Result<(), StoreError> {
        let mut table = self.table.lock().expect("the lease table");
        let held = table
            .rows
            .get(key)
            .is_some_and(|row| row.holder.as_deref() == Some(&*self.node) && row.epoch == epoch);
        if held {
            table.rows.remove(key);
        }
        Ok(())
    }

    async fn renew(&self) -> Result<u64, StoreError> {
        let mut table = self.table.lock().expect("the lease table");
        let mut renewed = 0;
        for row in table.rows.values_mut() {
            if row.holder.as_deref() == Some(&*self.node) {
                row.expires = Some(Instant::now() + self.ttl);
                renewed += 1;
            }
        }
        Ok(renewed)
    }

    async fn held(&self, prefix: &str) -> Result<Vec<Claimed>, StoreError> {
        let table = self.table.lock().expect("the lease table");
        Ok(table
            .rows
            .iter()
            .filter(|(key, row)| {
                key.starts_with(prefix)
                    && row.holder.as_deref() == Some(&*self.node)
                    && FakeLeases::live(row)
            })
            .map(|(key, row)| Claimed {
                key: key.clone(),
                epoch: row.epoch,
                taken_from: None,
            })
            .collect())
    }

    async fn seed(&self, keys: &[String]) -> Result<u64, StoreError> {
        let mut table = self.table.lock().expect("the lease table");
        let mut created = 0;
        for key in keys {
            table.rows.entry(key.clone()).or_insert_with(|| {
                created += 1;
                Row {
                    holder: None,
                    epoch: 1,
                    expires: None,
                }
            });
        }
        Ok(created)
    }

    async fn poke(&self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn pokes(&self) -> broadcast::Receiver<String> {
        self.pokes.subscribe()
    }
}

async fn setup(clock: Arc<dyn Clock>) -> (Runs, Triggers) {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = Runs::new(store.clone(), clock);
    let spec: WorkflowSpec = serde_json::from_value(json!({
        "name": "tick",
        "steps": [{"id": "t", "type": "transform", "config": {"mapping": {"at": "{{input.scheduledAt}}"}}}]
    }))
    .expect("spec");
    runs.workflows()
        .create("wf_tick", &spec)
        .await
        .expect("create");
    runs.workflows()
        .set_status("wf_tick", WorkflowStatus::Active)
        .await
        .expect("activate");
    (runs, Triggers::new(store))
}

/// The scheduled instants (ms) of the trigger's TriggerFired events.
async fn fired(triggers: &Triggers, id: &str) -> Vec<i64> {
    triggers
        .history(id)
        .await
        .expect("history")
        .into_iter()
        .filter_map(|(_, event)| match event {
            TriggerEvent::TriggerFired {
                scheduled_at_ms, ..
            } => scheduled_at_ms,
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_schedule_runs_on_the_node_holding_its_lease_and_moves_when_that_node_stalls() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_now());
    let (runs, triggers) = setup(clock.clone()).await;
    let (trigger, _) = triggers
        .upsert(
            "every-second",
            TriggerSpec {
                kind: "schedule".into(),
                workflow_id: "wf_tick".into(),
                config: json!({"interval": "1s", "overlap": "allow_all"}),
                connection_id: None,
                webhook_data: None,
                provider_id: None,
                trigger_name: None,
            },
            None,
            true,
            None,
        )
        .await
        .expect("upsert");
    let table = Arc::new(Mutex::new(Table::default()));
    let ttl = Duration::from_secs(2);
    let (a, b) = (
        FakeLeases::new("a", &table, ttl),
        FakeLeases::new("b", &table, ttl),
    );
    let keepers = [a.keep(), b.keep()];
    let node_a = Runner::for_node(
        triggers.clone(),
        runs.clone(),
        clock.clone(),
        None,
        a.clone(),
    );
    let supervisor_a = node_a.spawn();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let node_b = Runner::for_node(
        triggers.clone(),
        runs.clone(),
        clock.clone(),
        None,
        b.clone(),
    );
    let supervisor_b = node_b.spawn();

    // a claimed the new trigger's lease first; b, checking every second, never gets it.
    for _ in 0..35 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!((node_a.task_count(), node_b.task_count()), (1, 0));
    }
    assert_eq!(node_a.leased(), vec![trigger.id.clone()]);
    assert!(node_b.leased().is_empty());
    let before = fired(&triggers, &trigger.id).await;
    assert!(before.len() >= 3, "{before:?}");

    // a dies (as with kill -9: no renewal, no release): once its lease expired, b takes it
    // over, within the lease's lifetime and a check (1 s).
    a.renewing.store(false, Ordering::SeqCst);
    supervisor_a.abort();
    node_a.stop();
    let mut moved = None;
    for step in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if node_b.task_count() == 1 && moved.is_none() {
            moved = Some(step);
        }
    }
    let moved = moved.expect("b took the trigger over");
    assert!(
        moved <= 32,
        "moved after {moved} steps of 100 ms (ttl 2 s, checks every 1 s)"
    );
    assert_eq!(node_b.leased(), vec![trigger.id.clone()]);
    assert!(node_a.leased().is_empty());
    assert_eq!(
        table.lock().expect("the lease table").takeovers,
        vec![(lease_key(&trigger.id), "a".to_owned(), "b".to_owned())]
    );

    // One run per tick, and no tick lost in the move (late ticks catch up).
    let ticks = fired(&triggers, &trigger.id).await;
    let distinct: BTreeSet<i64> = ticks.iter().copied().collect();
    assert_eq!(distinct.len(), ticks.len(), "a tick fired twice: {ticks:?}");
    let sorted: Vec<i64> = distinct.into_iter().collect();
    assert!(sorted.len() >= before.len() + 4, "{before:?} {sorted:?}");
    for pair in sorted.windows(2) {
        assert_eq!(pair[1] - pair[0], 1000, "a tick was lost: {sorted:?}");
    }

    // a comes back: b holds the lease, a runs nothing.
    a.renewing.store(true, Ordering::SeqCst);
    let supervisor_a = node_a.spawn();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!((node_a.task_count(), node_b.task_count()), (0, 1));
    }
    // Then b loses the lease (as if it had stalled past its expiry and a had claimed it): at
    // its next check b stops its task, and a, finding the lease its own, starts one.
    {
        let mut table = table.lock().expect("the lease table");
        let row = table
            .rows
            .get_mut(&lease_key(&trigger.id))
            .expect("the lease");
        row.holder = Some("a".to_owned());
        row.epoch += 1;
        row.expires = Some(Instant::now() + ttl);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!((node_a.task_count(), node_b.task_count()), (1, 0));
    assert_eq!(node_a.leased(), vec![trigger.id.clone()]);
    assert!(node_b.leased().is_empty());

    // Disabled (through b's API, say): a, its holder, stops it and deletes its lease.
    triggers
        .set_enabled(&trigger.id, false, None)
        .await
        .expect("disable");
    node_b.changed();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!((node_a.task_count(), node_b.task_count()), (0, 0));
    assert!(node_a.leased().is_empty());
    assert!(
        !table
            .lock()
            .expect("the lease table")
            .rows
            .contains_key(&lease_key(&trigger.id)),
        "the disabled trigger's lease is deleted"
    );

    // Enabled again: one node claims it afresh.
    triggers
        .set_enabled(&trigger.id, true, None)
        .await
        .expect("enable");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(node_a.task_count() + node_b.task_count(), 1);

    // Its holder shuts down gracefully: it frees the lease and the other node claims it at
    // its next check, well before the lease would have expired; no takeover is counted.
    let (holder, other, supervisor) = if node_a.task_count() == 1 {
        supervisor_a.abort();
        (&node_a, &node_b, supervisor_b)
    } else {
        supervisor_b.abort();
        (&node_b, &node_a, supervisor_a)
    };
    holder.shutdown().await;
    assert!(holder.leased().is_empty());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!((holder.task_count(), other.task_count()), (0, 1));
    assert_eq!(table.lock().expect("the lease table").takeovers.len(), 1);

    supervisor.abort();
    for handle in keepers {
        handle.abort();
    }
    node_a.stop();
    node_b.stop();
}

#[tokio::test(start_paused = true)]
async fn a_node_alone_runs_every_trigger_without_leases() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_now());
    let (runs, triggers) = setup(clock.clone()).await;
    for slug in ["one", "two"] {
        triggers
            .upsert(
                slug,
                TriggerSpec {
                    kind: "schedule".into(),
                    workflow_id: "wf_tick".into(),
                    config: json!({"interval": "1h"}),
                    connection_id: None,
                    webhook_data: None,
                    provider_id: None,
                    trigger_name: None,
                },
                None,
                true,
                None,
            )
            .await
            .expect("upsert");
    }
    let runner = Runner::new(triggers, runs, clock);
    let supervisor = runner.spawn();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(runner.task_count(), 2);
    assert!(
        runner.leased().is_empty(),
        "a sole node holds no trigger lease"
    );
    supervisor.abort();
    runner.stop();
}
