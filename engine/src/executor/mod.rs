//! The executor: starts runs, drives each one to its end by carrying out what `decide` says
//! and recording the outcomes, and on start continues every unfinished run.
//!
//! A run is driven by one task at a time per process. Every event it appends expects the
//! stream version it last read, so a resume or a cancel arriving meanwhile (or another
//! process) can never interleave with it: the loser of the race re-reads and decides again.
//! A side effect happens only after the `StepStarted` that announces it is durable.

pub mod action;
pub mod agent_calls;
pub mod children;
mod clock;
mod cluster;
pub mod deltas;
mod driver;
pub mod email;
mod hot_runs;
mod idempotency;
mod in_flight;
mod leases;
mod replay;
mod rerun;
mod sleepers;
mod snapshots;
pub(crate) mod steps;
mod unfinished;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use journal::{EventStore, ExpectedVersion, NewEvent, Seq, StoreError, StreamName};
use serde_json::Value;
use tokio::sync::{watch, Notify};

use crate::definition::WorkflowStatus;
use crate::definition::{Problem, Step};
use crate::events::RunEvent;
use crate::run::{RunStatus, StepState};
use crate::workflows::{WorkflowError, WorkflowRecord, Workflows};

pub use clock::{Clock, SystemClock, TokioClock};
// The pure parts of driving a run (the fold of in-memory commands, template scopes, the
// reader's view) are the core's; the executor's modules reach them under these names.
pub use duro_core::view::{
    outputs_of, parse_json, status_name, step_view, view, view_of, Corruption, Loaded, RunView,
    StepTimes, StepView,
};
use duro_core::{fold, scope};
pub use hot_runs::{HOT_RUNS_BYTES_MAX, HOT_RUNS_MAX};
pub use idempotency::{KEY_BYTES_MAX, KEY_TTL_MS};
pub use leases::lease_key;
pub use replay::Against;
pub use rerun::Rerun;
pub use snapshots::{RunSnapshots, SNAPSHOT_AFTER_EVENTS};
pub use unfinished::{IndexError, Recovered, UnfinishedRun, UnfinishedRuns, Wake};

/// Most events one run may have; reading stops there.
pub const RUN_EVENTS_MAX: usize = 100_000;
/// Runs listed per page while recovering.
const RECOVERY_PAGE: usize = 1000;
/// Runs read at once while recovering.
const RECOVERY_LOADS_MAX: usize = 16;

/// A request to start a run.
#[derive(Clone, Debug, Default)]
pub struct StartRun {
    pub workflow_id: String,
    pub input: Option<Value>,
    pub idempotency_key: Option<String>,
    pub connection_id: Option<String>,
}

/// A run that was started, or found through its idempotency key.
#[derive(Clone, Debug, PartialEq)]
pub struct Started {
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_version: u64,
    /// True when the idempotency key named an earlier run.
    pub existing: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// The workflow is not active (its status, as the API names it).
    #[error("the workflow is {0}; only an active workflow runs")]
    NotActive(String),
    #[error("run {0} not found")]
    RunNotFound(String),
    #[error("run {run_id} is {status}, not paused")]
    NotPaused { run_id: String, status: String },
    #[error("run {run_id} has already ended ({status})")]
    Ended { run_id: String, status: String },
    #[error("run {run_id} is {status}: only a run that has ended can be rerun (cancel it first)")]
    NotEnded { run_id: String, status: String },
    #[error("{0}")]
    InvalidRerun(String),
    #[error("the input does not match the workflow's inputSchema")]
    InvalidInput(Vec<Problem>),
    /// A connection the workflow or the request names does not exist or is disabled.
    #[error("a connection the run needs is missing or disabled")]
    ConnectionsUnavailable(Vec<Problem>),
    #[error("invalid idempotency key: {0}")]
    BadKey(String),
    #[error("stored run event is unreadable: {0}")]
    Corrupt(String),
    /// An event of the run's stream cannot be decoded: the run is quarantined.
    #[error("run {run_id} is corrupt: {}", .corruption)]
    RunCorrupt {
        run_id: String,
        corruption: Corruption,
    },
    /// Another node claimed the run's lease: this process must stop driving it.
    #[error("run {0} is driven by another node now")]
    LeaseLost(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) struct Inner {
    store: Arc<dyn EventStore>,
    workflows: Workflows,
    clock: Arc<dyn Clock>,
    integrations: Integrations,
    /// Runs with a driver task in this process, and how to wake it.
    drivers: Mutex<HashMap<String, DriverHandle>>,
    /// Checked steps of workflow versions (immutable, so never stale); bounded.
    /// With each version's `Plan`, laid out once for every run of the version.
    steps_cache: Mutex<HashMap<VersionKey, PlannedSteps>>,
    /// Workflow records with the stream version they reflect; bounded.
    workflow_cache: Mutex<HashMap<String, Arc<WorkflowRecord>>>,
    /// Text deltas of streamed model answers, for run streams (not journaled).
    deltas: deltas::ModelDeltas,
    /// Runs asleep on a timer with no driver, by due time.
    sleepers: sleepers::Sleepers,
    /// Snapshots of long runs, loaded from instead of their first event.
    snapshots: Arc<RunSnapshots>,
    /// The runs whose lease this process holds (several nodes on one journal).
    leases: leases::RunLeases,
    /// The folded state of runs whose driver stopped to wait, for their next driver.
    hot: hot_runs::HotRuns,
}

/// A version's checked steps and their plan.
pub(crate) type PlannedSteps = (Arc<Vec<Step>>, Arc<crate::decide::Plan>);

/// A workflow version: (workflow id, version).
type VersionKey = (String, u64);

/// How to reach a run's driver task: wake it, or learn when the run has ended.
struct DriverHandle {
    wake: Arc<Notify>,
    ended: watch::Sender<bool>,
}

/// Entries kept in each of the executor's caches before they are emptied.
const CACHE_ENTRIES_MAX: usize = 1024;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The executor's handle: cheap to clone.
#[derive(Clone)]
pub struct Runs {
    inner: Arc<Inner>,
}

pub fn run_stream(run_id: &str) -> Result<StreamName, RunsError> {
    StreamName::new(format!("run-{run_id}")).map_err(|_| RunsError::RunNotFound(run_id.to_owned()))
}

pub(crate) fn new_run_id() -> String {
    format!("run_{}", uuid::Uuid::now_v7().simple())
}

/// What steps reach outside the journal with: the provider catalog, the guarded outbound
/// client, and the connections.
#[derive(Clone)]
pub struct Integrations {
    pub catalog: Arc<crate::providers::Catalog>,
    pub outbound: outbound::Outbound,
    pub connections: Arc<dyn crate::connections::ConnectionSource>,
    /// The SMTP server of email steps without an smtp connection (`smtp_url`).
    pub smtp: Option<mail::SmtpSettings>,
}

impl Integrations {
    /// The built-in providers, the default outbound policy, no connections.
    pub fn standard() -> Integrations {
        Integrations {
            catalog: crate::providers::Catalog::shared_builtin(),
            outbound: outbound::Outbound::new(outbound::OutboundPolicy::default())
                .expect("the default outbound client builds"),
            connections: Arc::new(crate::connections::NoConnections),
            smtp: None,
        }
    }
}

impl Runs {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Runs {
        Runs::with_integrations(store, clock, Integrations::standard())
    }

    pub fn with_integrations(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        integrations: Integrations,
    ) -> Runs {
        Runs::with_snapshots(store, clock, integrations, Arc::new(RunSnapshots::off()))
    }

    /// As `with_integrations`, loading long runs from `snapshots` (a data directory's).
    pub fn with_snapshots(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        integrations: Integrations,
        snapshots: Arc<RunSnapshots>,
    ) -> Runs {
        Runs::with_leases(
            store,
            clock,
            integrations,
            snapshots,
            Arc::new(journal::SoleNode::default()),
        )
    }

    /// As `with_snapshots`, driving only the runs whose lease this node holds in `leases`
    /// (several nodes on one journal; `SoleNode` alone).
    pub fn with_leases(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        integrations: Integrations,
        snapshots: Arc<RunSnapshots>,
        leases: Arc<dyn journal::Leases>,
    ) -> Runs {
        Runs {
            inner: Arc::new(Inner {
                workflows: Workflows::with_catalog(store.clone(), integrations.catalog.clone()),
                store,
                clock,
                integrations,
                drivers: Mutex::new(HashMap::new()),
                steps_cache: Mutex::new(HashMap::new()),
                workflow_cache: Mutex::new(HashMap::new()),
                deltas: deltas::ModelDeltas::default(),
                sleepers: sleepers::Sleepers::default(),
                snapshots,
                leases: leases::RunLeases::new(leases),
                hot: hot_runs::HotRuns::default(),
            }),
        }
    }

    /// The text deltas of streamed model answers, as they arrive.
    pub fn model_deltas(&self) -> &deltas::ModelDeltas {
        &self.inner.deltas
    }

    pub fn workflows(&self) -> &Workflows {
        &self.inner.workflows
    }

    /// Refuses a start when a connection the workflow's current version names (its
    /// `connections`, a step's literal `connection`) does not exist or is disabled: such a
    /// run could only fail at that step. (A run's own `connectionId` is used only when it
    /// exists and fits the step's provider; triggers pass their provider account's id.)
    async fn check_connections(&self, workflow: &WorkflowRecord) -> Result<(), RunsError> {
        let mut named: Vec<(Vec<String>, String)> = Vec::new();
        if let Some(spec) = workflow.versions.last() {
            if let Some(Value::Object(map)) = &spec.connections {
                for (provider, id) in map {
                    if let Some(id) = id.as_str() {
                        named.push((vec!["connections".into(), provider.clone()], id.to_owned()));
                    }
                }
            }
            for (index, step) in spec.steps.iter().enumerate() {
                if let Some(id) = step.connection.as_deref().filter(|id| !id.contains("{{")) {
                    let path = vec!["steps".into(), index.to_string(), "connection".into()];
                    named.push((path, id.to_owned()));
                }
            }
        }
        let source = &self.inner.integrations.connections;
        let mut problems = Vec::new();
        for (path, id) in named {
            let found = source.get(&id).await.map_err(|e| {
                RunsError::Store(StoreError::io(
                    format!("looking up connection {id}"),
                    std::io::Error::other(e),
                ))
            })?;
            let message = match found {
                None => format!("connection {id} does not exist"),
                Some(connection) if !connection.active => format!("connection {id} is disabled"),
                Some(_) => continue,
            };
            problems.push(Problem { path, message });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RunsError::ConnectionsUnavailable(problems))
        }
    }

    /// The `connections` map (`{"stripe": "conn_..."}`) of a workflow version, for resolving
    /// a step's connection.
    pub(crate) async fn workflow_connections(
        &self,
        workflow_id: &str,
        version: u64,
    ) -> Result<Option<Value>, crate::events::StepError> {
        let workflow = self
            .workflow(workflow_id)
            .await
            .map_err(|e| steps::failure("INTERNAL", e.to_string(), true))?;
        Ok(version
            .checked_sub(1)
            .and_then(|i| workflow.versions.get(i as usize))
            .and_then(|spec| spec.connections.clone()))
    }

    /// The run an idempotency key of `request` already started (its `RunStarted` on
    /// record), if any.
    async fn started_with_key(
        &self,
        workflow_id: &str,
        request: &StartRun,
    ) -> Result<Option<Started>, RunsError> {
        let Some(key) = &request.idempotency_key else {
            return Ok(None);
        };
        if key.is_empty() || key.len() > KEY_BYTES_MAX {
            return Err(RunsError::BadKey(format!(
                "must be 1 to {KEY_BYTES_MAX} bytes"
            )));
        }
        let stream = idempotency::key_stream(workflow_id, key)?;
        let now = self.inner.clock.now_ms();
        let Some(run_id) = idempotency::lookup(&self.inner.store, &stream, now).await? else {
            return Ok(None);
        };
        let loaded = self.load(&run_id).await?;
        if loaded.version == 0 {
            // Claimed by a start that died before RunStarted: the normal path finishes it.
            return Ok(None);
        }
        self.ensure_driver(&run_id);
        Ok(Some(Started {
            run_id,
            workflow_id: loaded.state.workflow_id,
            workflow_version: loaded.state.workflow_version,
            existing: true,
        }))
    }

    /// The providers action steps may call.
    pub fn catalog(&self) -> &Arc<crate::providers::Catalog> {
        &self.inner.integrations.catalog
    }

    /// The guarded client steps call out with (polling triggers use it too).
    pub fn outbound(&self) -> &outbound::Outbound {
        &self.inner.integrations.outbound
    }

    /// Starts a run of the workflow's current version and returns once `RunStarted` is
    /// durable. With an idempotency key seen in the last 24 hours, returns that run instead.
    pub async fn start(&self, request: StartRun) -> Result<Started, RunsError> {
        let workflow = self.workflow(&request.workflow_id).await?;
        // A key seen in the last 24 h answers with its run before anything else is checked:
        // the workflow may have been deactivated, or its inputSchema changed, since.
        if let Some(started) = self.started_with_key(&workflow.id, &request).await? {
            return Ok(started);
        }
        ensure_active(&workflow)?;
        let schema = workflow
            .versions
            .last()
            .and_then(|spec| spec.input_schema.as_ref());
        let input = request
            .input
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let input = crate::input::prepare(schema, input).map_err(RunsError::InvalidInput)?;
        self.check_connections(&workflow).await?;
        let mut run_id = new_run_id();
        let mut existing = false;
        if let Some(key) = &request.idempotency_key {
            if key.is_empty() || key.len() > KEY_BYTES_MAX {
                return Err(RunsError::BadKey(format!(
                    "must be 1 to {KEY_BYTES_MAX} bytes"
                )));
            }
            let stream = idempotency::key_stream(&workflow.id, key)?;
            let now = self.inner.clock.now_ms();
            if let idempotency::Claimed::Existing { run_id: earlier } =
                idempotency::claim(&self.inner.store, &stream, &run_id, now).await?
            {
                run_id = earlier;
                existing = true;
            }
        }
        let stream = run_stream(&run_id)?;
        let started = RunEvent::RunStarted {
            run_id: run_id.clone(),
            workflow_id: workflow.id.clone(),
            workflow_version: workflow.version(),
            input_json: input.to_string(),
            idempotency_key: request.idempotency_key.clone(),
            connection_id: request.connection_id.clone(),
        };
        // An earlier start that claimed the key may have died before writing RunStarted;
        // then this start writes it. If the run exists, NoStream fails harmlessly.
        let appended = self
            .append_new_run(
                &run_id,
                &stream,
                vec![NewEvent::new(started.tag(), started.encode())],
            )
            .await;
        match appended {
            // This start wrote RunStarted: its driver starts from that one event.
            Ok(_) => {
                metrics::counter!("duro_runs_started_total", "workflow" => workflow.id.clone())
                    .increment(1);
                let mut loaded = Loaded::empty();
                loaded.apply(&started);
                loaded.input = input;
                self.start_driver(&run_id, Some(loaded));
                Ok(Started {
                    run_id,
                    workflow_id: workflow.id.clone(),
                    workflow_version: workflow.version(),
                    existing,
                })
            }
            Err(StoreError::Conflict { .. }) => {
                let loaded = self.load(&run_id).await?;
                self.ensure_driver(&run_id);
                Ok(Started {
                    run_id,
                    workflow_id: loaded.state.workflow_id,
                    workflow_version: loaded.state.workflow_version,
                    existing,
                })
            }
            Err(other) => Err(other.into()),
        }
    }

    pub async fn get(&self, run_id: &str) -> Result<RunView, RunsError> {
        let loaded = self.load_as_is(run_id).await?;
        if loaded.version == 0 && loaded.corrupt.is_none() {
            return Err(RunsError::RunNotFound(run_id.to_owned()));
        }
        let mut view = view(loaded);
        if view.run_id.is_empty() {
            // Its RunStarted is the event that cannot be decoded.
            view.run_id = run_id.to_owned();
        }
        Ok(view)
    }

    /// Resumes a paused run; `payload` becomes the waiting step's output.
    pub async fn resume(&self, run_id: &str, payload: Value) -> Result<RunView, RunsError> {
        // The state the run's last driver left, when cached, spares reading the whole run
        // twice (here, then by the driver the resume starts).
        let mut known = self.inner.hot.take(run_id);
        loop {
            let cached = match known.take() {
                Some(cached) => self.hot_seed(run_id, cached).await,
                None => None,
            };
            let mut loaded = match cached {
                Some(mut cached) => {
                    self.refresh(run_id, &mut cached).await?;
                    cached
                }
                None => self.load(run_id).await?,
            };
            if loaded.version == 0 {
                return Err(RunsError::RunNotFound(run_id.to_owned()));
            }
            let status = loaded.state.status();
            let paused = loaded
                .state
                .steps
                .iter()
                .find(|(_, s)| matches!(s, StepState::Paused { .. }))
                .map(|(id, _)| id.clone());
            let Some(step_id) = paused.filter(|_| status == RunStatus::Paused) else {
                return Err(RunsError::NotPaused {
                    run_id: run_id.to_owned(),
                    status: status_name(status).to_owned(),
                });
            };
            // A paused agent takes the payload its question or approval needs; anything else
            // is refused before it is recorded (a malformed approval would read as a denial).
            if let Some(waiting) = crate::agent::waiting_for(&step_id, &loaded.state) {
                check_agent_resume(&waiting, &payload)?;
            }
            let event = RunEvent::RunResumed {
                step_id,
                payload_json: payload.to_string(),
            };
            if self.record_input(run_id, loaded.version, &event).await? {
                loaded.apply(&event);
                self.start_driver(run_id, Some(loaded));
                return self.get(run_id).await;
            }
            known = Some(loaded);
        }
    }

    /// Cancels a run that has not ended.
    pub async fn cancel(&self, run_id: &str, reason: &str) -> Result<RunView, RunsError> {
        loop {
            let loaded = self.load(run_id).await?;
            if loaded.version == 0 {
                return Err(RunsError::RunNotFound(run_id.to_owned()));
            }
            let status = loaded.state.status();
            if status.is_terminal() {
                return Err(RunsError::Ended {
                    run_id: run_id.to_owned(),
                    status: status_name(status).to_owned(),
                });
            }
            let event = RunEvent::RunCancelled {
                reason: reason.to_owned(),
            };
            if self.record_input(run_id, loaded.version, &event).await? {
                self.ensure_driver(run_id);
                self.cancel_children(&loaded.state.children, reason).await;
                return self.get(run_id).await;
            }
        }
    }

    /// Continues every run that has not ended (after a restart), reading every run's stream.
    /// Returns how many. [`Runs::recover_with`] reads only the runs an index says have
    /// something to do now.
    pub async fn recover(&self) -> Result<usize, RunsError> {
        let mut after: Option<StreamName> = None;
        let mut resumed = 0;
        loop {
            let page = self
                .inner
                .store
                .list_streams("run-", after.as_ref(), RECOVERY_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.stream.clone());
            // Several runs are read at once: each read waits on a blocking thread, and one
            // at a time that wait, not the work, bounded how fast a restart got going.
            let mut loads = tokio::task::JoinSet::new();
            for info in &page {
                if loads.len() >= RECOVERY_LOADS_MAX {
                    resumed += recovered(loads.join_next().await)?;
                }
                let runs = self.clone();
                let run_id = info.stream.as_str().trim_start_matches("run-").to_owned();
                loads.spawn(async move { runs.read_and_drive(run_id).await });
            }
            while !loads.is_empty() {
                resumed += recovered(loads.join_next().await)?;
            }
        }
        Ok(resumed)
    }

    /// The run once it has ended, or as it stands when `timeout` runs out.
    pub async fn wait_for_end(
        &self,
        run_id: &str,
        timeout: Duration,
    ) -> Result<RunView, RunsError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // The driver says when the run ends; without one here, watch the whole journal.
        let mut ended = lock(&self.inner.drivers)
            .get(run_id)
            .map(|d| d.ended.subscribe());
        let mut committed = self.inner.store.subscribe();
        loop {
            let view = self.get(run_id).await?;
            // A corrupt run never moves on: waiting longer would only delay saying so.
            if view.status.is_terminal() || view.status == RunStatus::Corrupt {
                return Ok(view);
            }
            let changed = async {
                match ended.as_mut() {
                    Some(ended) => ended.changed().await.is_ok(),
                    None => committed.changed().await.is_ok(),
                }
            };
            tokio::select! {
                alive = changed => if !alive { ended = None },
                _ = tokio::time::sleep_until(deadline) => return self.get(run_id).await,
            }
        }
    }

    /// Starts a driver for the run unless one runs; wakes it otherwise.
    fn ensure_driver(&self, run_id: &str) {
        self.start_driver(run_id, None);
    }

    /// As `ensure_driver`, handing a new driver the run as already folded.
    fn start_driver(&self, run_id: &str, loaded: Option<Loaded>) {
        let mut drivers = lock(&self.inner.drivers);
        if let Some(driver) = drivers.get(run_id) {
            driver.wake.notify_one();
            return;
        }
        // A driver looks at the run now: it no longer sleeps in the queue. It starts from the
        // state it is handed, else from the one its last driver left (behind the journal
        // by whatever woke it), else from the journal.
        self.inner.sleepers.forget(run_id);
        let seed = match loaded {
            Some(loaded) => {
                self.inner.hot.forget(run_id);
                driver::Seed::Current(loaded)
            }
            None => match self.inner.hot.take(run_id) {
                Some(cached) => driver::Seed::Behind(cached),
                None => driver::Seed::Journal,
            },
        };
        let wake = Arc::new(Notify::new());
        drivers.insert(
            run_id.to_owned(),
            DriverHandle {
                wake: wake.clone(),
                ended: watch::Sender::new(false),
            },
        );
        tokio::spawn(driver::drive(self.clone(), run_id.to_owned(), wake, seed));
    }

    /// Called by a driver that stopped because its run, at stream `version`, only waits for
    /// a resume, or for a timer due at `wake_at_ms` (then the run joins the sleepers' queue,
    /// which starts a driver when it is due): forgets the driver without telling waiters the
    /// run ended (`wait_for_end` then watches the journal). A resume or a cancel appended meanwhile may have woken only
    /// the leaving driver, so the stream's version is read again after the driver is gone
    /// from the map: if the run moved on, a driver starts for it.
    /// The state the driver had folded (`loaded`, at `version`) is kept for the next one.
    pub(crate) async fn park_driver(
        &self,
        run_id: &str,
        version: u64,
        wake_at_ms: Option<i64>,
        loaded: Option<Loaded>,
    ) {
        // Cached while the driver is still in the map, so that whoever starts the next one
        // (only once this one is gone) finds it.
        if let Some(loaded) = loaded.filter(|loaded| loaded.version == version) {
            self.inner.hot.put(run_id, loaded);
        }
        let handle = lock(&self.inner.drivers).remove(run_id);
        let moved_on = match run_stream(run_id) {
            Ok(stream) => self
                .inner
                .store
                .stream_version(&stream)
                .await
                .map_or(true, |current| current != version),
            Err(_) => false,
        };
        // Queued only once the driver is gone from the map: a wake-up before that could
        // reach the leaving driver and be lost.
        let queued = moved_on
            || wake_at_ms.is_none_or(|due| self.inner.sleepers.put(&self.inner, run_id, due));
        if moved_on || !queued {
            self.ensure_driver(run_id);
        }
        drop(handle);
    }

    /// How many runs sleep on a timer with no driver (woken by the queue when it is due).
    pub fn runs_asleep(&self) -> usize {
        self.inner.sleepers.len()
    }

    /// How many runs have a driver task in this process (a run waiting only for a resume
    /// has none).
    pub fn drivers_running(&self) -> usize {
        lock(&self.inner.drivers).len()
    }

    /// Forgets a driver that stops without the run having ended here (another node drives
    /// it): waiters' watch closes, and they follow the journal instead.
    pub(crate) fn drop_driver(&self, run_id: &str) {
        lock(&self.inner.drivers).remove(run_id);
    }

    /// How many waiting runs' folded states are cached for their next driver.
    pub fn hot_runs_cached(&self) -> usize {
        self.inner.hot.len()
    }

    /// Bounds the cache of waiting runs' folded states (`HOT_RUNS_MAX`, `HOT_RUNS_BYTES_MAX`
    /// by default); 0 entries turns it off.
    pub fn limit_hot_runs(&self, entries_max: usize, bytes_max: usize) {
        self.inner.hot.limit(entries_max, bytes_max);
    }

    /// A cached state about to seed a driver, if the journal holds at least the events it
    /// reflects (a stream only grows, so anything else means the journal was replaced under
    /// the process): then it is refreshed with the events after it like any stale state.
    pub(crate) async fn hot_seed(&self, run_id: &str, cached: Loaded) -> Option<Loaded> {
        let stream = run_stream(run_id).ok()?;
        let current = self.inner.store.stream_version(&stream).await.ok()?;
        if current < cached.version {
            tracing::warn!(%run_id, cached = cached.version, current,
                "a cached run state is ahead of its journal: read again");
            return None;
        }
        Some(cached)
    }

    /// Called by a driver as it stops: tells waiters, then forgets the driver.
    pub(crate) fn forget_driver(&self, run_id: &str) {
        self.inner.hot.forget(run_id);
        if let Some(driver) = lock(&self.inner.drivers).remove(run_id) {
            driver.ended.send_replace(true);
        }
    }

    /// The workflow's record, read again only when its stream has changed.
    async fn workflow(&self, workflow_id: &str) -> Result<Arc<WorkflowRecord>, RunsError> {
        let stream = crate::workflows::stream_of(workflow_id)?;
        let version = self.inner.store.stream_version(&stream).await?;
        if let Some(record) = lock(&self.inner.workflow_cache).get(workflow_id) {
            if record.stream_version == version {
                return Ok(record.clone());
            }
        }
        let record = Arc::new(self.inner.workflows.get(workflow_id).await?);
        let mut cache = lock(&self.inner.workflow_cache);
        if cache.len() >= CACHE_ENTRIES_MAX {
            cache.clear();
        }
        cache.insert(workflow_id.to_owned(), record.clone());
        Ok(record)
    }

    /// The checked steps of a workflow version (versions never change once written).
    pub(crate) async fn steps_of(
        &self,
        workflow_id: &str,
        version: u64,
    ) -> Result<Arc<Vec<Step>>, RunsError> {
        Ok(self.planned_steps_of(workflow_id, version).await?.0)
    }

    /// The checked steps of a workflow version and their `Plan`, both cached: a run of a few
    /// steps would otherwise spend a noticeable share of its time laying the plan out.
    pub(crate) async fn planned_steps_of(
        &self,
        workflow_id: &str,
        version: u64,
    ) -> Result<PlannedSteps, RunsError> {
        let key = (workflow_id.to_owned(), version);
        if let Some(planned) = lock(&self.inner.steps_cache).get(&key) {
            return Ok(planned.clone());
        }
        let steps = Arc::new(self.inner.workflows.steps_of(workflow_id, version).await?);
        let plan = Arc::new(crate::decide::Plan::new(&steps));
        let mut cache = lock(&self.inner.steps_cache);
        if cache.len() >= CACHE_ENTRIES_MAX {
            cache.clear();
        }
        cache.insert(key, (steps.clone(), plan.clone()));
        Ok((steps, plan))
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Reads and folds a run's stream. A run with an event that cannot be decoded is
    /// `RunCorrupt`: nothing acts on a run it cannot read whole.
    pub(crate) async fn load(&self, run_id: &str) -> Result<Loaded, RunsError> {
        let mut loaded = self.load_as_is(run_id).await?;
        match loaded.corrupt.take() {
            None => Ok(loaded),
            Some(corruption) => Err(RunsError::RunCorrupt {
                run_id: run_id.to_owned(),
                corruption,
            }),
        }
    }

    /// Reads and folds a run's stream as far as it decodes, for readers: a corrupt run is
    /// shown (status `corrupt`, the events before the bad one), not refused. A long run starts
    /// from its snapshot when the stream still holds the event it was taken at, and leaves a
    /// new one when `SNAPSHOT_AFTER_EVENTS` more were folded.
    pub(crate) async fn load_as_is(&self, run_id: &str) -> Result<Loaded, RunsError> {
        let (mut loaded, base) = self.snapshot_start(run_id).await?;
        let last = self.read_into(run_id, &mut loaded).await?;
        if let Some(mark) = last.filter(|mark| mark.seq >= base + SNAPSHOT_AFTER_EVENTS) {
            if let Some(bytes) = duro_core::snapshot::encode(&loaded, mark) {
                self.inner.snapshots.put(run_id, &bytes);
            }
        }
        Ok(loaded)
    }

    /// The run's snapshot and its seq, when it is sound and the stream holds, at its seq, the
    /// very event it was taken at; else nothing folded (seq 0).
    async fn snapshot_start(&self, run_id: &str) -> Result<(Loaded, u64), RunsError> {
        let fresh = || (Loaded::empty(), 0);
        let Some((loaded, mark)) = self
            .inner
            .snapshots
            .get(run_id)
            .and_then(|bytes| duro_core::snapshot::decode(&bytes))
        else {
            return Ok(fresh());
        };
        let stream = run_stream(run_id)?;
        let at = self
            .inner
            .store
            .read_stream(&stream, Seq(mark.seq), 1)
            .await?;
        let same = at.first().is_some_and(|event| {
            event.seq.0 == mark.seq
                && event.position.0 == mark.position
                && event.recorded_at.0 == mark.recorded_at_us
        });
        if !same {
            tracing::warn!(%run_id, seq = mark.seq, "a run snapshot does not match its journal: ignored");
            return Ok(fresh());
        }
        Ok((loaded, mark.seq))
    }

    /// Folds the events appended since `loaded` was read; `RunCorrupt` if one of them (or
    /// one before) cannot be decoded.
    pub(crate) async fn refresh(&self, run_id: &str, loaded: &mut Loaded) -> Result<(), RunsError> {
        self.read_into(run_id, loaded).await?;
        match &loaded.corrupt {
            None => Ok(()),
            Some(corruption) => Err(RunsError::RunCorrupt {
                run_id: run_id.to_owned(),
                corruption: corruption.clone(),
            }),
        }
    }

    /// Folds the events after `loaded.version`, stopping at the first that cannot be
    /// decoded (noted in `loaded.corrupt`; nothing after it is folded).
    async fn read_into(
        &self,
        run_id: &str,
        loaded: &mut Loaded,
    ) -> Result<Option<duro_core::snapshot::Mark>, RunsError> {
        let stream = run_stream(run_id)?;
        let had_input = loaded.version > 0;
        let mut last = None;
        'pages: while loaded.corrupt.is_none() {
            let page = self
                .inner
                .store
                .read_stream(&stream, Seq(loaded.version + 1), RUN_EVENTS_MAX)
                .await?;
            if page.is_empty() || loaded.version as usize >= RUN_EVENTS_MAX {
                break;
            }
            for recorded in page {
                match RunEvent::decode(recorded.event_type, &recorded.data) {
                    Ok(event) => {
                        loaded.fold_recorded(recorded.seq.0, recorded.recorded_at.0, &event);
                        last = Some(duro_core::snapshot::Mark {
                            seq: recorded.seq.0,
                            position: recorded.position.0,
                            recorded_at_us: recorded.recorded_at.0,
                        });
                    }
                    Err(error) => {
                        loaded.corrupt = Some(Corruption {
                            seq: recorded.seq.0,
                            reason: error.to_string(),
                        });
                        break 'pages;
                    }
                }
            }
        }
        if !had_input {
            loaded.input = parse_json(&loaded.state.input_json);
        }
        Ok(last)
    }

    /// A driver's append: `events` as one atomic append expecting `version`; false if
    /// another writer got there first. With several nodes it carries this node's lease of the
    /// run (deleting it with an event that ends the run); `LeaseLost` when another node has
    /// claimed it since.
    pub(crate) async fn append_all(
        &self,
        run_id: &str,
        version: u64,
        events: &[RunEvent],
    ) -> Result<bool, RunsError> {
        let ends = events.iter().any(|event| {
            matches!(
                event,
                RunEvent::RunCompleted { .. }
                    | RunEvent::RunFailed { .. }
                    | RunEvent::RunCancelled { .. }
            )
        });
        let fence = self.inner.leases.fence(run_id, ends);
        match self
            .append_events(run_id, version, events, fence.as_ref())
            .await
        {
            Ok(true) if ends && fence.is_some() => {
                self.inner.leases.ended(run_id);
                Ok(true)
            }
            Err(RunsError::Store(StoreError::Fenced { .. })) => {
                self.inner.leases.lost(run_id);
                Err(RunsError::LeaseLost(run_id.to_owned()))
            }
            other => other,
        }
    }

    /// Appends one event as a driver expecting `version`; false if another writer got there
    /// first.
    pub(crate) async fn append(
        &self,
        run_id: &str,
        version: u64,
        event: &RunEvent,
    ) -> Result<bool, RunsError> {
        self.append_all(run_id, version, std::slice::from_ref(event))
            .await
    }

    /// Records what a caller asked of a run (a resume, a cancel), expecting `version`; false
    /// if another writer got there first. Not fenced: any node takes requests for any run,
    /// and the expected version keeps it from interleaving with the run's driver, wherever
    /// that runs.
    async fn record_input(
        &self,
        run_id: &str,
        version: u64,
        event: &RunEvent,
    ) -> Result<bool, RunsError> {
        self.append_events(run_id, version, std::slice::from_ref(event), None)
            .await
    }

    async fn append_events(
        &self,
        run_id: &str,
        version: u64,
        events: &[RunEvent],
        fence: Option<&journal::Fence>,
    ) -> Result<bool, RunsError> {
        let stream = run_stream(run_id)?;
        let batch = events
            .iter()
            .map(|e| NewEvent::new(e.tag(), e.encode()))
            .collect();
        let expected = ExpectedVersion::Exact(version);
        let appended = match fence {
            None => self.inner.store.append(&stream, expected, batch).await,
            Some(fence) => {
                self.inner
                    .store
                    .append_fenced(&stream, expected, batch, fence)
                    .await
            }
        };
        match appended {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// Appends the first events of a new run (`NoStream`); with several nodes, creates its
    /// lease, held by this node, in the same append.
    pub(crate) async fn append_new_run(
        &self,
        run_id: &str,
        stream: &StreamName,
        events: Vec<NewEvent>,
    ) -> Result<journal::AppendResult, StoreError> {
        let store = &self.inner.store;
        let appended = match self.inner.leases.creating() {
            None => {
                store
                    .append(stream, ExpectedVersion::NoStream, events)
                    .await
            }
            Some(fence) => {
                store
                    .append_fenced(stream, ExpectedVersion::NoStream, events, &fence)
                    .await
            }
        }?;
        self.inner.leases.created(run_id);
        Ok(appended)
    }
}

/// Says once, loudly, that a run is quarantined: it stays as written, shown as `corrupt`,
/// until its journal is restored; `duro journal verify` names the event.
pub(crate) fn quarantined(run_id: &str, corruption: &Corruption) {
    tracing::error!(%run_id, seq = corruption.seq, reason = %corruption.reason,
        "run quarantined: an event of its journal cannot be decoded");
    metrics::counter!("duro_runs_quarantined_total").increment(1);
}

/// 1 if a recovery task started a driver; a panic in it is passed on.
fn recovered(
    joined: Option<Result<Result<bool, RunsError>, tokio::task::JoinError>>,
) -> Result<usize, RunsError> {
    match joined {
        None => Ok(0),
        Some(Ok(started)) => started.map(usize::from),
        Some(Err(error)) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Some(Err(error)) => Err(RunsError::Corrupt(format!("recovering a run: {error}"))),
    }
}

/// Only an active workflow runs.
fn ensure_active(workflow: &WorkflowRecord) -> Result<(), RunsError> {
    if workflow.status == WorkflowStatus::Active {
        return Ok(());
    }
    let status = serde_json::to_value(workflow.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Err(RunsError::NotActive(status))
}

/// The payload of a resume of a paused agent: `{"message": string}` for a question,
/// `{"approved": bool, "arguments"?: object}` for an approval.
fn check_agent_resume(waiting: &Value, payload: &Value) -> Result<(), RunsError> {
    let problem = |field: &str, message: &str| {
        Err(RunsError::InvalidInput(vec![Problem {
            path: vec!["payload".into(), field.into()],
            message: message.into(),
        }]))
    };
    match waiting["type"].as_str() {
        Some("input") if !payload["message"].is_string() => problem(
            "message",
            "the agent asked a question: answer with {\"message\": \"...\"}",
        ),
        Some("approval") if !payload["approved"].is_boolean() => problem(
            "approved",
            "the agent waits for an approval: answer with {\"approved\": true | false}",
        ),
        Some("approval")
            if !(payload["arguments"].is_null() || payload["arguments"].is_object()) =>
        {
            problem("arguments", "must be an object (the tool's arguments)")
        }
        _ => Ok(()),
    }
}
