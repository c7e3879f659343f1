//! The trigger runner: one task per enabled `schedule` or `polling` trigger, kept in step
//! with the triggers in the journal by a supervisor. Everything a task needs to resume lives
//! in the trigger's stream, so a restart (or a crash) continues where the journal says:
//!
//! - schedule: the last tick handled is the latest `scheduled_at_ms` of the trigger's
//!   TriggerFired/TriggerSkipped events; a tick's run is started with the idempotency key
//!   `{trigger}:{scheduled time}` BEFORE its TriggerFired is recorded, so a crash in between
//!   re-plans the tick and finds the same run: exactly one run per tick.
//! - polling: every new item's run is started with the key `{trigger}:{item id}` before the
//!   cursor (TriggerCursorAdvanced) moves past it, so a crash re-polls but never re-runs an
//!   item, and an item whose run cannot start is never skipped. The cursor is by id or, with
//!   `timestampField`, by time (`poll_cursor`); `polling_frequency` (ms) sets the interval.
//!
//! With several nodes on one journal (leases shared, `journal::Leases::shared`), a trigger's
//! task runs only on the node that holds the trigger's lease (key: its stream's name,
//! `trigger-{id}`). Every [`LEASE_CHECK_EVERY`] the supervisor lists the triggers, reads
//! which trigger leases this node still holds, claims those of enabled triggers it does not
//! (free, new, or expired: their node died), starts the tasks of the leases it holds and
//! stops the others, and deletes the leases of triggers disabled or deleted. The node's run
//! keeper renews every lease it holds, trigger leases included. A node alone on its journal
//! (`SoleNode`) runs every trigger, as before.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use engine::executor::{Clock, Runs, StartRun};
use journal::{Leases, SoleNode};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::instances::{TriggerEvent, TriggerFilter, TriggerRecord, Triggers, STREAM_PREFIX};
use crate::poll_cursor::Cursor;
pub use crate::poll_cursor::CURSOR_IDS_MAX;
use crate::schedule::{self, OverlapDecision, ScheduleConfig};

/// How often the supervisor re-reads every trigger when nothing told it of a change. Every
/// change made through this process's API tells it at once (`Runner::changed`), so this scan
/// is only a safety net; with thousands of triggers a frequent one was most of the idle CPU.
const FULL_SCAN_EVERY: Duration = Duration::from_secs(600);
/// How soon a reconcile that failed (the journal unreadable) is tried again.
const RECONCILE_RETRY: Duration = Duration::from_secs(5);
/// With several nodes: how often the supervisor lists the triggers (changes made through
/// other nodes' APIs), checks which trigger leases this node still holds, and claims those
/// no live node holds. A dead node's triggers move within its lease's lifetime plus this.
pub const LEASE_CHECK_EVERY: Duration = Duration::from_secs(1);
/// How often the wall clock is compared with the monotonic one. Schedule tasks sleep on the
/// monotonic clock until their next tick; if the wall clock jumps (NTP, a suspended VM) they
/// are woken to plan again, so one check serves every schedule.
const CLOCK_CHECK_EVERY: Duration = Duration::from_secs(60);
/// A wall clock that moved this much more or less than the monotonic one has jumped.
const CLOCK_JUMP_MS: i64 = 2_000;
/// How long a schedule with no next tick sleeps before it looks again.
const NO_TICK_SLEEP: Duration = Duration::from_secs(3600);
/// Longest a failing task waits before trying again.
const BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// Items taken from one poll.
pub const POLL_ITEMS_MAX: usize = 1000;
/// Largest poll response read, in bytes.
const POLL_BODY_MAX: usize = 8 * 1024 * 1024;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A trigger's lease key: its stream's name, as a run's is (`run-{id}`).
pub fn lease_key(trigger_id: &str) -> String {
    format!("{STREAM_PREFIX}{trigger_id}")
}

/// The trigger leases this node holds (several nodes only).
#[derive(Default)]
struct HeldLeases {
    /// Trigger id to the epoch of its lease.
    epochs: HashMap<String, u64>,
    /// When the database last confirmed them.
    confirmed_at: Option<Instant>,
}

/// A running task and the trigger definition it was started for.
struct Task {
    updated_at_us: i64,
    handle: JoinHandle<()>,
}

/// Where a polling trigger gets the Authorization (or other) header of its connection. The
/// API layer implements it over its encrypted connections; the runner never sees a secret
/// except in the header it sends.
#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync {
    async fn header(
        &self,
        connection_id: &str,
    ) -> Result<(reqwest::header::HeaderName, reqwest::header::HeaderValue), String>;
}

pub struct Runner {
    /// Where polling triggers' connections get their credentials; None: a polling trigger
    /// that names a connection fails its poll, saying so.
    credentials: Option<Arc<dyn CredentialSource>>,
    triggers: Triggers,
    runs: Runs,
    clock: Arc<dyn Clock>,
    tasks: Mutex<HashMap<String, Task>>,
    changed: Notify,
    /// Wakes every sleeping schedule task to plan again: the wall clock jumped.
    replan: Notify,
    /// This node's leases; with a sole node every trigger runs here.
    leases: Arc<dyn Leases>,
    held: Mutex<HeldLeases>,
}

impl Runner {
    /// A runner whose polling triggers name no connection.
    pub fn new(triggers: Triggers, runs: Runs, clock: Arc<dyn Clock>) -> Arc<Runner> {
        Runner::for_node(triggers, runs, clock, None, Arc::new(SoleNode::default()))
    }

    /// A runner whose polling triggers' connections present `credentials`' headers.
    pub fn with_credentials(
        triggers: Triggers,
        runs: Runs,
        clock: Arc<dyn Clock>,
        credentials: Arc<dyn CredentialSource>,
    ) -> Arc<Runner> {
        Runner::for_node(
            triggers,
            runs,
            clock,
            Some(credentials),
            Arc::new(SoleNode::default()),
        )
    }

    /// A runner of one node among those `leases` name: with shared leases (several nodes on
    /// one journal) it runs only the triggers whose lease this node holds; with a
    /// [`SoleNode`], every trigger.
    pub fn for_node(
        triggers: Triggers,
        runs: Runs,
        clock: Arc<dyn Clock>,
        credentials: Option<Arc<dyn CredentialSource>>,
        leases: Arc<dyn Leases>,
    ) -> Arc<Runner> {
        Arc::new(Runner {
            credentials,
            triggers,
            runs,
            clock,
            tasks: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            replan: Notify::new(),
            leases,
            held: Mutex::new(HeldLeases::default()),
        })
    }

    /// How many trigger tasks (schedules and polling) are running.
    pub fn task_count(&self) -> usize {
        lock(&self.tasks).len()
    }

    /// The ids of the triggers whose lease this node holds (empty with a sole node, which
    /// needs none).
    pub fn leased(&self) -> Vec<String> {
        let mut ids: Vec<String> = lock(&self.held).epochs.keys().cloned().collect();
        ids.sort_unstable();
        ids
    }

    /// Tells the supervisor a trigger changed (created, edited, enabled, disabled, deleted).
    pub fn changed(&self) {
        self.changed.notify_one();
    }

    /// Starts the supervisor: it reconciles tasks with the journal now, on every `changed`,
    /// and every [`FULL_SCAN_EVERY`] as a safety net (with several nodes, every
    /// [`LEASE_CHECK_EVERY`], with the leases); and it checks the wall clock every
    /// [`CLOCK_CHECK_EVERY`]. Between ticks that is all the runner does: each schedule task
    /// sleeps until its own next tick (a due-time wait, not a scan).
    pub fn spawn(self: &Arc<Runner>) -> JoinHandle<()> {
        let runner = self.clone();
        let shared = runner.leases.shared();
        tokio::spawn(async move {
            let mut next_scan = tokio::time::Instant::now();
            let mut next_lease_check = tokio::time::Instant::now() + LEASE_CHECK_EVERY;
            // A full reconcile restarts tasks that ended (a panic, an invalid schedule); a
            // lease check only follows the leases and the triggers' changes.
            let mut reconcile = Some(true);
            let mut clock_mark = (tokio::time::Instant::now(), runner.clock.now_ms());
            loop {
                if let Some(full) = reconcile {
                    let now = tokio::time::Instant::now();
                    if full {
                        next_scan = now + FULL_SCAN_EVERY;
                    }
                    next_lease_check = now + LEASE_CHECK_EVERY;
                    if let Err(error) = runner.reconcile(full).await {
                        tracing::warn!(%error, "trigger runner cannot read the triggers; retrying");
                        // Try again soon rather than at the next full scan.
                        next_scan = now
                            + if shared {
                                LEASE_CHECK_EVERY
                            } else {
                                RECONCILE_RETRY
                            };
                    }
                }
                let next_check = clock_mark.0 + CLOCK_CHECK_EVERY;
                tokio::select! {
                    _ = runner.changed.notified() => reconcile = Some(true),
                    _ = tokio::time::sleep_until(next_scan) => reconcile = Some(true),
                    _ = tokio::time::sleep_until(next_lease_check), if shared => reconcile = Some(false),
                    _ = tokio::time::sleep_until(next_check) => {
                        reconcile = None;
                        let now = (tokio::time::Instant::now(), runner.clock.now_ms());
                        let monotonic_ms = now.0.duration_since(clock_mark.0).as_millis() as i64;
                        let wall_ms = now.1 - clock_mark.1;
                        if (wall_ms - monotonic_ms).abs() > CLOCK_JUMP_MS {
                            tracing::info!(jump_ms = wall_ms - monotonic_ms, "the clock jumped; schedules plan again");
                            runner.replan.notify_waiters();
                        }
                        clock_mark = now;
                    }
                }
            }
        })
    }

    /// Stops every task (shutdown). The trigger leases this node holds are left to expire
    /// (their tasks are gone: another node takes them over then); [`Runner::shutdown`] frees
    /// them instead.
    pub fn stop(&self) {
        for (_, task) in lock(&self.tasks).drain() {
            task.handle.abort();
        }
        lock(&self.held).epochs.clear();
    }

    /// Stops every task and frees the trigger leases this node holds, so that other nodes
    /// claim them at their next check instead of after the leases expire (a graceful
    /// shutdown; abort the supervisor first, or it claims them again).
    pub async fn shutdown(&self) {
        let held: Vec<(String, u64)> = lock(&self.held).epochs.drain().collect();
        self.stop();
        for (id, epoch) in held {
            if let Err(error) = self.leases.release(&lease_key(&id), epoch, None).await {
                tracing::warn!(trigger = %id, %error, "cannot free a trigger's lease; it will expire");
            }
        }
    }

    /// Starts and stops tasks to match the enabled schedule and polling triggers (with
    /// several nodes, those whose lease this node holds). `restart_ended`: tasks that ended
    /// are started again.
    async fn reconcile(
        self: &Arc<Runner>,
        restart_ended: bool,
    ) -> Result<(), crate::instances::TriggerError> {
        let listed = self.triggers.list_all(&TriggerFilter::default()).await;
        let mut wanted: HashMap<String, TriggerRecord> = match listed {
            Ok(listed) => listed
                .into_iter()
                .filter(|t| t.enabled && matches!(t.spec.kind.as_str(), "schedule" | "polling"))
                .map(|t| (t.id.clone(), t))
                .collect(),
            Err(error) => {
                self.unconfirmed();
                return Err(error);
            }
        };
        if self.leases.shared() {
            let mine = self.lease_triggers(&wanted).await;
            wanted.retain(|id, _| mine.contains(id));
        }
        let mut tasks = lock(&self.tasks);
        tasks.retain(|id, task| {
            let keep = wanted
                .get(id)
                .is_some_and(|t| t.updated_at_us == task.updated_at_us)
                && !(restart_ended && task.handle.is_finished());
            if !keep {
                task.handle.abort();
            }
            keep
        });
        for (id, trigger) in wanted {
            if tasks.contains_key(&id) {
                continue;
            }
            let runner = self.clone();
            let updated_at_us = trigger.updated_at_us;
            let handle = match trigger.spec.kind.as_str() {
                "schedule" => tokio::spawn(async move { runner.schedule_loop(trigger).await }),
                _ => tokio::spawn(async move { runner.polling_loop(trigger).await }),
            };
            tasks.insert(
                id,
                Task {
                    updated_at_us,
                    handle,
                },
            );
        }
        metrics::gauge!("duro_trigger_tasks")
            .set(tasks.values().filter(|t| !t.handle.is_finished()).count() as f64);
        Ok(())
    }

    /// Several nodes: brings this node's trigger leases in line with the `wanted` triggers
    /// (enabled schedules and polling) and returns the ids of those it holds now. Reads the
    /// leases it still holds (another node takes one only once it expired: this node was
    /// cut off or stalled), claims those of wanted triggers it does not hold (creating a
    /// free lease for a trigger that has none; a live lease of another node is not taken),
    /// and deletes those of triggers no longer wanted (disabled, deleted, another type).
    async fn lease_triggers(&self, wanted: &HashMap<String, TriggerRecord>) -> HashSet<String> {
        let held = match self.leases.held(STREAM_PREFIX).await {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%error, "cannot read this node's trigger leases");
                self.unconfirmed();
                return lock(&self.held).epochs.keys().cloned().collect();
            }
        };
        let mut epochs: HashMap<String, u64> = held
            .into_iter()
            .filter_map(|lease| {
                let id = lease.key.strip_prefix(STREAM_PREFIX)?.to_owned();
                Some((id, lease.epoch))
            })
            .collect();
        let missing: Vec<String> = wanted
            .keys()
            .filter(|id| !epochs.contains_key(*id))
            .map(|id| lease_key(id))
            .collect();
        if !missing.is_empty() {
            // Claims take existing leases only: a new trigger's is created free first (a
            // no-op for those that have one).
            if let Err(error) = self.leases.seed(&missing).await {
                tracing::warn!(%error, "cannot create the leases of new triggers");
            }
            match self.leases.claim_many(&missing).await {
                Ok(claimed) => {
                    for lease in claimed {
                        let Some(id) = lease.key.strip_prefix(STREAM_PREFIX) else {
                            continue;
                        };
                        if let Some(from) = &lease.taken_from {
                            took_over(id, from);
                        }
                        epochs.insert(id.to_owned(), lease.epoch);
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot claim trigger leases"),
            }
        }
        let unwanted: Vec<(String, u64)> = epochs
            .iter()
            .filter(|(id, _)| !wanted.contains_key(*id))
            .map(|(id, epoch)| (id.clone(), *epoch))
            .collect();
        for (id, epoch) in unwanted {
            epochs.remove(&id);
            if let Err(error) = self.leases.finish(&lease_key(&id), epoch).await {
                tracing::warn!(trigger = %id, %error, "cannot delete the lease of a trigger no longer running; it will expire");
            }
        }
        let mut state = lock(&self.held);
        for id in state.epochs.keys() {
            if wanted.contains_key(id) && !epochs.contains_key(id) {
                tracing::info!(trigger = %id, "another node holds this trigger's lease now: its task here stops");
            }
        }
        state.epochs = epochs;
        state.confirmed_at = Some(Instant::now());
        state.epochs.keys().cloned().collect()
    }

    /// Several nodes: the trigger leases could not be confirmed. Once they have not been for
    /// a lease's lifetime, another node may hold them: every task here stops until they are.
    fn unconfirmed(&self) {
        if !self.leases.shared() {
            return;
        }
        let ttl = Duration::from_millis(self.leases.ttl_ms());
        let state = lock(&self.held);
        let stale = state.confirmed_at.is_none_or(|at| at.elapsed() >= ttl);
        if stale && !state.epochs.is_empty() {
            tracing::warn!(
                triggers = state.epochs.len(),
                "trigger leases unconfirmed for a lease's lifetime: their tasks here stop"
            );
            drop(state);
            self.stop();
        }
    }

    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.clock.now_ms())
            .single()
            .unwrap_or_default()
    }

    async fn record(&self, trigger_id: &str, event: TriggerEvent) {
        if let Err(error) = self.triggers.record(trigger_id, &event).await {
            tracing::warn!(trigger = trigger_id, %error, "cannot record a trigger decision");
        }
    }

    // ----- schedules -----

    async fn schedule_loop(self: Arc<Runner>, trigger: TriggerRecord) {
        let config = match ScheduleConfig::parse(&trigger.spec.config) {
            Ok(config) => config,
            Err(problems) => {
                let reason = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.path.join("."), p.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                self.record(
                    &trigger.id,
                    TriggerEvent::TriggerRejected {
                        reason: format!("invalid schedule: {reason}"),
                    },
                )
                .await;
                return;
            }
        };
        let mut failures = 0u32;
        let mut state = loop {
            match self.schedule_state(&trigger.id).await {
                Ok(state) => break state,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(trigger = %trigger.id, %error, "cannot read the schedule's history");
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        };
        failures = 0;
        loop {
            match self.schedule_turn(&trigger, &config, &mut state).await {
                Ok(wake_at) => {
                    failures = 0;
                    let wait = wake_at
                        .map(|at| (at - self.now()).to_std().unwrap_or(Duration::ZERO))
                        .unwrap_or(NO_TICK_SLEEP);
                    // Until the next tick, or until the supervisor sees the clock jump.
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.replan.notified() => {}
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let backoff = backoff(failures);
                    tracing::warn!(trigger = %trigger.id, %error, ?backoff, "schedule turn failed");
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }

    /// The schedule's past as the trigger's stream tells it: the latest scheduled instant
    /// handled (TriggerFired or TriggerSkipped) and the runs of the newest ticks.
    async fn schedule_state(&self, trigger_id: &str) -> Result<ScheduleState, String> {
        let history = self
            .triggers
            .history(trigger_id)
            .await
            .map_err(|e| e.to_string())?;
        let mut state = ScheduleState::default();
        for (_, event) in history {
            match event {
                TriggerEvent::TriggerFired {
                    scheduled_at_ms: Some(at),
                    run_id,
                    ..
                } => {
                    if let Some(tick) = Utc.timestamp_millis_opt(at).single() {
                        state.handled(tick);
                    }
                    state.fired(run_id);
                }
                TriggerEvent::TriggerSkipped {
                    scheduled_at_ms: Some(at),
                    ..
                } => {
                    if let Some(tick) = Utc.timestamp_millis_opt(at).single() {
                        state.handled(tick);
                    }
                }
                _ => {}
            }
        }
        Ok(state)
    }

    /// Plans and carries out the ticks due now; returns when to plan again.
    async fn schedule_turn(
        &self,
        trigger: &TriggerRecord,
        config: &ScheduleConfig,
        state: &mut ScheduleState,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let anchor = Utc
            .timestamp_micros(trigger.created_at_us)
            .single()
            .unwrap_or_default();
        let plan = schedule::plan(config, state.last_tick_done, self.now(), anchor);
        for skipped in &plan.skip {
            let reason = match skipped.through {
                Some(through) => format!(
                    "{} (every tick from {} through {})",
                    skipped.reason,
                    skipped.scheduled.to_rfc3339(),
                    through.to_rfc3339()
                ),
                None => skipped.reason.to_string(),
            };
            let at = skipped.through.unwrap_or(skipped.scheduled);
            self.record(
                &trigger.id,
                TriggerEvent::TriggerSkipped {
                    reason,
                    scheduled_at_ms: Some(at.timestamp_millis()),
                },
            )
            .await;
            state.handled(at);
        }
        for tick in &plan.run {
            self.run_tick(trigger, config, *tick, state).await?;
        }
        Ok(plan.next)
    }

    /// Runs of the newest ticks that are still going.
    async fn running_runs(&self, state: &ScheduleState) -> usize {
        let mut running = 0;
        for run_id in &state.recent_runs {
            if matches!(self.runs.get(run_id).await, Ok(run) if !run.status.is_terminal()) {
                running += 1;
            }
        }
        running
    }

    async fn run_tick(
        &self,
        trigger: &TriggerRecord,
        config: &ScheduleConfig,
        tick: DateTime<Utc>,
        state: &mut ScheduleState,
    ) -> Result<(), String> {
        let key = schedule::idempotency_key(&trigger.id, tick);
        let start_at = schedule::start_at(config, &trigger.id, tick);
        if let Ok(wait) = (start_at - self.now()).to_std() {
            tokio::time::sleep(wait).await;
        }
        // A tick's run may already exist (a crash after the start, before the record): the
        // idempotency key finds it, and the overlap check must not count it against itself.
        let mut running = self.running_runs(state).await;
        let mut waited = false;
        loop {
            match schedule::overlap_decision(config.overlap, running, 0) {
                OverlapDecision::Start => break,
                OverlapDecision::Skip => {
                    self.record(
                        &trigger.id,
                        TriggerEvent::TriggerSkipped {
                            reason: "overlap: the previous run is still going".to_owned(),
                            scheduled_at_ms: Some(tick.timestamp_millis()),
                        },
                    )
                    .await;
                    state.handled(tick);
                    return Ok(());
                }
                // buffer_one: this tick waits for the runs going to end, then starts; it is
                // the one tick waiting, so ticks that fall due meanwhile are skipped.
                OverlapDecision::Buffer => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    running = self.running_runs(state).await;
                    waited = true;
                }
            }
        }
        let started = self
            .runs
            .start(StartRun {
                workflow_id: trigger.spec.workflow_id.clone(),
                input: Some(json!({
                    "triggerId": trigger.id,
                    "scheduledAt": tick.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })),
                idempotency_key: Some(key.clone()),
                connection_id: trigger.spec.connection_id.clone(),
            })
            .await;
        match started {
            Ok(started) => {
                // The crash tests abort here: the run started, its TriggerFired not recorded.
                fail::fail_point!("trigger.after_tick_start", |_| std::process::abort());
                self.record(
                    &trigger.id,
                    TriggerEvent::TriggerFired {
                        run_id: started.run_id.clone(),
                        reason: "schedule".to_owned(),
                        scheduled_at_ms: Some(tick.timestamp_millis()),
                        idempotency_key: Some(key),
                    },
                )
                .await;
                state.fired(started.run_id);
                state.handled(tick);
                // After the waiting tick is on record, so a crash here cannot lose it.
                if waited {
                    self.skip_ticks_due_while_waiting(trigger, config, tick, state)
                        .await;
                }
                Ok(())
            }
            // The workflow cannot run (inactive, deleted, input invalid): the tick is
            // recorded as skipped with the reason; the schedule goes on.
            Err(
                error @ (engine::executor::RunsError::NotActive(_)
                | engine::executor::RunsError::Workflow(_)
                | engine::executor::RunsError::InvalidInput(_)),
            ) => {
                self.record(
                    &trigger.id,
                    TriggerEvent::TriggerSkipped {
                        reason: format!("the workflow cannot run: {error}"),
                        scheduled_at_ms: Some(tick.timestamp_millis()),
                    },
                )
                .await;
                state.handled(tick);
                Ok(())
            }
            Err(other) => Err(other.to_string()),
        }
    }

    /// Under `buffer_one`, the ticks after `waiting` that fell due while it waited: each is
    /// recorded as skipped (at most one tick waits). Bounded like a plan.
    async fn skip_ticks_due_while_waiting(
        &self,
        trigger: &TriggerRecord,
        config: &ScheduleConfig,
        waiting: DateTime<Utc>,
        state: &mut ScheduleState,
    ) {
        let anchor = Utc
            .timestamp_micros(trigger.created_at_us)
            .single()
            .unwrap_or_default();
        let now = self.now();
        let mut after = waiting;
        for _ in 0..schedule::PLAN_TICKS_MAX {
            let Some(next) = schedule::next_tick(config, after, anchor).filter(|t| *t <= now)
            else {
                break;
            };
            self.record(
                &trigger.id,
                TriggerEvent::TriggerSkipped {
                    reason: "overlap: a tick was already waiting (buffer_one)".to_owned(),
                    scheduled_at_ms: Some(next.timestamp_millis()),
                },
            )
            .await;
            state.handled(next);
            after = next;
        }
    }

    // ----- polling -----

    async fn polling_loop(self: Arc<Runner>, trigger: TriggerRecord) {
        let config = PollConfig::of(&trigger.spec.config);
        // Read with the trigger when the task started, then kept by the task (it is the one
        // that advances it), so a poll does not re-read the trigger's growing stream.
        let mut cursor = Cursor::of(trigger.cursor_data.as_ref());
        let mut failures = 0u32;
        loop {
            match self.poll_once(&trigger, &config, &mut cursor).await {
                Ok(_) => {
                    failures = 0;
                    tokio::time::sleep(config.interval).await;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    self.record(
                        &trigger.id,
                        TriggerEvent::TriggerRejected {
                            reason: format!("poll failed (attempt {failures}): {error}"),
                        },
                    )
                    .await;
                    tokio::time::sleep(backoff(failures).max(config.interval)).await;
                }
            }
        }
    }

    /// Polls the trigger once now, whatever its interval, from the cursor in the journal
    /// (StackAI's deprecated `polling/key/{api_key}` route: an outside scheduler decides when).
    /// Returns how many runs it started.
    pub async fn poll_now(&self, trigger_id: &str) -> Result<usize, PollError> {
        let trigger = self.triggers.get(trigger_id).await.map_err(|e| match e {
            crate::instances::TriggerError::NotFound(_) => {
                PollError::NotFound(trigger_id.to_owned())
            }
            other => PollError::Failed(other.to_string()),
        })?;
        if trigger.spec.kind != "polling" {
            return Err(PollError::NotPolling(trigger.spec.kind.clone()));
        }
        if !trigger.enabled {
            return Err(PollError::Disabled);
        }
        let config = PollConfig::of(&trigger.spec.config);
        let mut cursor = Cursor::of(trigger.cursor_data.as_ref());
        let outcome = self.poll_once(&trigger, &config, &mut cursor).await;
        if let Err(error) = &outcome {
            self.record(
                &trigger.id,
                TriggerEvent::TriggerRejected {
                    reason: format!("poll failed: {error}"),
                },
            )
            .await;
        }
        outcome.map_err(PollError::Failed)
    }

    /// Fetches the feed once and starts a run per item due (poll_cursor says which), each
    /// before the cursor moves past it. Returns how many runs it started.
    async fn poll_once(
        &self,
        trigger: &TriggerRecord,
        config: &PollConfig,
        cursor: &mut Cursor,
    ) -> Result<usize, String> {
        let trigger_id = trigger.id.as_str();
        let body = self.fetch(trigger, config).await?;
        let items = body
            .pointer(&config.items_pointer)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("no array at {:?} in the response", config.items_pointer))?;
        let items = &items[..items.len().min(POLL_ITEMS_MAX)];
        let selection = cursor.select(items, &config.id_field, config.timestamp_field.as_deref());
        if selection.unreadable > 0 {
            tracing::warn!(
                trigger = trigger_id,
                items = selection.unreadable,
                "polled items without an id (or a readable timestamp) are left out"
            );
        }
        let mut next = cursor.clone();
        let mut started_any = 0;
        let mut result = Ok(());
        for due in &selection.due {
            let key = format!("{trigger_id}:{}", due.id);
            let started = self
                .runs
                .start(StartRun {
                    workflow_id: trigger.spec.workflow_id.clone(),
                    input: Some(json!({ "item": due.item, "triggerId": trigger_id })),
                    idempotency_key: Some(key.clone()),
                    connection_id: trigger.spec.connection_id.clone(),
                })
                .await;
            match started {
                Ok(started) => {
                    if !started.existing {
                        self.record(
                            trigger_id,
                            TriggerEvent::TriggerFired {
                                run_id: started.run_id,
                                reason: "polling".to_owned(),
                                scheduled_at_ms: None,
                                idempotency_key: Some(key),
                            },
                        )
                        .await;
                    }
                    next.advance(due);
                    started_any += 1;
                }
                // The cursor stops before an item that did not start: the next poll tries it
                // again, so no item is skipped.
                Err(error) => {
                    result = Err(format!("item {}: {error}", due.id));
                    break;
                }
            }
        }
        if started_any > 0 {
            // The crash tests abort here: the poll's runs started, the cursor not moved.
            fail::fail_point!("trigger.before_cursor", |_| std::process::abort());
            let cursor_json = next.to_json(config.timestamp_field.is_some());
            self.triggers
                .record(
                    trigger_id,
                    &TriggerEvent::TriggerCursorAdvanced {
                        cursor_json: cursor_json.to_string(),
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            *cursor = next;
            if let Some(first) = selection.due.first() {
                let _ = self
                    .triggers
                    .add_sample(trigger_id, first.item, self.clock.now_ms())
                    .await;
            }
        }
        result.map(|()| started_any)
    }

    /// The feed's body as JSON, fetched through the runs' guarded client with the trigger's
    /// connection header: a poll URL is as untrusted as a step's.
    async fn fetch(&self, trigger: &TriggerRecord, config: &PollConfig) -> Result<Value, String> {
        let mut headers = Vec::new();
        if let Some(connection_id) = &trigger.spec.connection_id {
            let source = self
                .credentials
                .as_ref()
                .ok_or_else(|| format!("connection {connection_id}: no credentials available"))?;
            let (name, value) = source
                .header(connection_id)
                .await
                .map_err(|e| format!("connection {connection_id}: {e}"))?;
            let value = value
                .to_str()
                .map_err(|_| format!("connection {connection_id}: its header is not text"))?;
            headers.push((name.as_str().to_owned(), value.to_owned()));
        }
        let response = self
            .runs
            .outbound()
            .send(outbound::OutboundRequest {
                method: "GET".to_owned(),
                url: config.url.clone(),
                headers,
                body: None,
                timeout: Duration::from_secs(30),
            })
            .await
            .map_err(|e| format!("GET {}: {e}", config.url))?;
        let status = response.status;
        if !(200..300).contains(&status) {
            return Err(format!("GET {} answered {status}", config.url));
        }
        let bytes = response.body;
        if bytes.len() > POLL_BODY_MAX {
            return Err(format!("the response is over {POLL_BODY_MAX} bytes"));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))
    }
}

/// Why [`Runner::poll_now`] did not poll, or failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("trigger {0} not found")]
    NotFound(String),
    #[error("the trigger is a {0} trigger, not a polling one")]
    NotPolling(String),
    #[error("the trigger is disabled")]
    Disabled,
    #[error("the poll failed: {0}")]
    Failed(String),
}

/// What a schedule task knows of its trigger's past: read from the stream once when the
/// task starts, then kept current by the task itself (it records its own ticks), so a turn
/// does not re-read a history that grows with every tick.
#[derive(Default)]
struct ScheduleState {
    /// The latest scheduled instant handled (fired or skipped).
    last_tick_done: Option<DateTime<Utc>>,
    /// Runs of the newest ticks, the only ones an overlap policy has to look at.
    recent_runs: VecDeque<String>,
}

/// Runs of recent ticks checked for overlap.
const RECENT_RUNS_KEPT: usize = 16;

impl ScheduleState {
    fn handled(&mut self, tick: DateTime<Utc>) {
        self.last_tick_done = self.last_tick_done.max(Some(tick));
    }

    fn fired(&mut self, run_id: String) {
        self.recent_runs.push_back(run_id);
        while self.recent_runs.len() > RECENT_RUNS_KEPT {
            self.recent_runs.pop_front();
        }
    }
}

/// Logs and counts a takeover of a trigger from a node whose lease expired.
fn took_over(trigger_id: &str, from: &str) {
    tracing::info!(trigger = %trigger_id, from_node = %from, "took over a trigger from a node whose lease expired");
    metrics::counter!("duro_lease_takeovers_total", "kind" => "trigger").increment(1);
}

fn backoff(failures: u32) -> Duration {
    (Duration::from_secs(1) * 2u32.saturating_pow(failures.min(12))).min(BACKOFF_MAX)
}

/// A polling trigger's settings (defaults from the catalog's schema).
#[derive(Clone, Debug)]
struct PollConfig {
    url: String,
    interval: Duration,
    items_pointer: String,
    id_field: String,
    /// Read the feed by time (StackAI's `last_processed_event_timestamp`), not by id.
    timestamp_field: Option<String>,
}

/// The shortest poll interval honoured.
const POLL_INTERVAL_MIN: Duration = Duration::from_millis(100);

impl PollConfig {
    fn of(config: &Value) -> PollConfig {
        let text = |name: &str| config.get(name).and_then(Value::as_str).map(str::to_owned);
        // StackAI's `polling_frequency` (milliseconds, a number or its digits) wins over
        // Duro's `interval` (which always has its default).
        let frequency_ms = match config.get("polling_frequency") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        let interval = frequency_ms
            .map(Duration::from_millis)
            .or_else(|| {
                text("interval")
                    .and_then(|t| engine::duration::DurationMs::parse(&t).ok())
                    .map(|d| Duration::from_millis(d.0))
            })
            .unwrap_or(Duration::from_secs(300))
            .max(POLL_INTERVAL_MIN);
        PollConfig {
            url: text("url").unwrap_or_default(),
            interval,
            items_pointer: text("itemsPointer").unwrap_or_default(),
            id_field: text("idField").unwrap_or_else(|| "id".to_owned()),
            timestamp_field: text("timestampField").filter(|f| !f.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_frequency_in_ms_replaces_the_interval() {
        let of = |config: Value| PollConfig::of(&config).interval;
        assert_eq!(of(json!({"interval": "5m"})), Duration::from_secs(300));
        assert_eq!(
            of(json!({"interval": "5m", "polling_frequency": "10000"})),
            Duration::from_secs(10)
        );
        assert_eq!(
            of(json!({"polling_frequency": 250})),
            Duration::from_millis(250)
        );
        assert_eq!(of(json!({"polling_frequency": 1})), POLL_INTERVAL_MIN);
        let config = PollConfig::of(&json!({"timestampField": "created_at"}));
        assert_eq!(config.timestamp_field.as_deref(), Some("created_at"));
    }
}
