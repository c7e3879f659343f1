//! Trigger instances in the journal. Each trigger is a `trigger-{id}` stream of
//! `TriggerEvent`s: its definition (upserts), status changes, deletion, and every decision it
//! makes (fired, skipped, rejected). A slug names one trigger through a claim stream
//! `trgslug-{slug}`, so upserting the same slug twice, even concurrently, gives one trigger:
//! optimistic concurrency arbitrates, as for idempotency keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use engine::definition::Problem;
use engine::wire::EventDecodeError;
use journal::{EventStore, EventType, ExpectedVersion, NewEvent, Seq, StoreError, StreamName};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog;

mod wire;

/// Most events read back from one trigger's stream.
const TRIGGER_EVENTS_MAX: usize = 100_000;
/// Longest slug, in bytes.
pub const SLUG_BYTES_MAX: usize = 100;
/// Most triggers one listing scans.
pub const LIST_SCAN_MAX: usize = 10_000;
pub(crate) const STREAM_PREFIX: &str = "trigger-";
const SLUG_PREFIX: &str = "trgslug-";
const SLUG_CLAIMED: EventType = EventType(510);
/// `trghook-{webhookId}`: names the trigger a webhook URL belongs to.
const WEBHOOK_PREFIX: &str = "trghook-";
const WEBHOOK_CLAIMED: EventType = EventType(511);
/// `trgsample-{triggerId}`: payloads received, for tests of a workflow (last [`SAMPLES_KEPT`]).
const SAMPLE_PREFIX: &str = "trgsample-";
const SAMPLE_RECORDED: EventType = EventType(512);
/// Payloads kept as test samples per trigger.
pub const SAMPLES_KEPT: u64 = 20;

/// One payload a trigger received (webhook body and headers, or a polled item). Its bytes
/// are `wire`'s.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub received_at_ms: i64,
    pub payload_json: String,
}

/// What a user sets on a trigger (seeds 000 and 004).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpec {
    /// `schedule`, `webhook`, `polling`, `manual`, or Phinite's `scheduler` and `api`; as
    /// written (a folded `TriggerRecord` holds the type it runs as, see `named_kind`).
    #[serde(rename = "type")]
    pub kind: String,
    pub workflow_id: String,
    #[serde(default)]
    pub config: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_data: Option<Value>,
    /// StackAI's provider (`stripe`) and trigger class (`on_customer_created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_name: Option<String>,
}

/// The facts of a trigger's stream: the domain type, whose bytes are `wire`'s (JSON travels
/// as text). Tags are part of the journal format: never renumber.
#[derive(Clone, Debug, PartialEq)]
pub enum TriggerEvent {
    TriggerUpserted {
        trigger_id: String,
        slug: String,
        spec_json: String,
        enabled: bool,
        /// The unguessable id of a webhook trigger's URL, fixed at creation.
        webhook_id: Option<String>,
        by: Option<String>,
    },
    TriggerStatusChanged {
        enabled: bool,
        by: Option<String>,
    },
    TriggerDeleted {
        by: Option<String>,
    },
    /// A run was started (`reason`: manual, schedule, webhook, polling).
    TriggerFired {
        run_id: String,
        reason: String,
        scheduled_at_ms: Option<i64>,
        idempotency_key: Option<String>,
    },
    TriggerSkipped {
        reason: String,
        scheduled_at_ms: Option<i64>,
    },
    TriggerRejected {
        reason: String,
    },
    TriggerCursorAdvanced {
        cursor_json: String,
    },
}

impl TriggerEvent {
    /// The journal type tag this event is written with (its latest version's).
    pub fn tag(&self) -> EventType {
        EventType(match self {
            TriggerEvent::TriggerUpserted { .. } => 500,
            TriggerEvent::TriggerStatusChanged { .. } => 501,
            TriggerEvent::TriggerDeleted { .. } => 502,
            TriggerEvent::TriggerFired { .. } => 503,
            TriggerEvent::TriggerSkipped { .. } => 504,
            TriggerEvent::TriggerRejected { .. } => 505,
            TriggerEvent::TriggerCursorAdvanced { .. } => 506,
        })
    }

    /// The payload this event is written with (its latest wire version).
    pub fn encode(&self) -> Vec<u8> {
        wire::encode_event(self)
    }

    /// Decodes an event of a `trigger-{id}` stream by its tag.
    pub fn decode(tag: EventType, data: &[u8]) -> Result<TriggerEvent, EventDecodeError> {
        wire::TRIGGER_EVENTS.decode(tag, data)
    }
}

/// The trigger a slug (`trgslug-`) or a webhook URL (`trghook-`) names; bytes: `wire`'s.
#[derive(Debug, PartialEq)]
struct SlugClaim {
    trigger_id: String,
}

/// A trigger as its stream tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerRecord {
    pub id: String,
    pub slug: String,
    /// What the trigger does; `spec.kind` is the type it runs as (`catalog::runs_as`: a
    /// Phinite `scheduler` is a `schedule`), so the runner needs no aliases.
    pub spec: TriggerSpec,
    /// The type as the client named it (`scheduler`), shown back to it.
    pub named_kind: String,
    pub enabled: bool,
    pub deleted: bool,
    pub webhook_id: Option<String>,
    pub cursor_data: Option<Value>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    /// Runs started by this trigger.
    pub fired: u64,
    pub stream_version: u64,
}

impl TriggerRecord {
    /// The spec as the client wrote it (its type by the client's name).
    pub fn written_spec(&self) -> TriggerSpec {
        TriggerSpec {
            kind: self.named_kind.clone(),
            ..self.spec.clone()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("trigger {0} not found")]
    NotFound(String),
    #[error("the trigger is invalid")]
    Invalid(Vec<Problem>),
    #[error("trigger {0} was changed by someone else at the same time; try again")]
    Conflict(String),
    #[error("stored trigger event is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Filters of a trigger listing.
#[derive(Clone, Debug, Default)]
pub struct TriggerFilter {
    pub workflow_id: Option<String>,
    pub kind: Option<String>,
    /// Connection ids (seed 000's connectedAccountIds); empty = any.
    pub connection_ids: Vec<String>,
    /// Slugs or trigger names (seed 000's triggerNames); empty = any.
    pub names: Vec<String>,
    /// Trigger ids; empty = any.
    pub ids: Vec<String>,
    pub show_disabled: bool,
}

impl TriggerFilter {
    fn accepts(&self, trigger: &TriggerRecord) -> bool {
        let any_or = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
        };
        (self.show_disabled || trigger.enabled)
            && self
                .workflow_id
                .as_ref()
                .is_none_or(|w| *w == trigger.spec.workflow_id)
            && self.kind.as_ref().is_none_or(|k| *k == trigger.named_kind)
            && any_or(&self.connection_ids, trigger.spec.connection_id.as_deref())
            && any_or(&self.ids, Some(&trigger.id))
            && (self.names.is_empty()
                || self.names.iter().any(|n| {
                    *n == trigger.slug || Some(n.as_str()) == trigger.spec.trigger_name.as_deref()
                }))
    }
}

/// Reads and writes trigger streams.
#[derive(Clone)]
pub struct Triggers {
    store: Arc<dyn EventStore>,
    /// Triggers as last folded, by id. A trigger's stream grows with every decision it
    /// makes, so a read folds only the events after the cached version. Bounded.
    folded: Arc<Mutex<HashMap<String, TriggerRecord>>>,
}

/// Folded triggers kept in memory before the cache is emptied.
const FOLDED_MAX: usize = 1024;
/// Events read per page when folding a trigger's stream.
const READ_PAGE: usize = 1024;
/// Times an edit is retried when the trigger's stream moved under it (ticks recorded).
const UPDATE_ATTEMPTS_MAX: u32 = 8;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn stream_of(trigger_id: &str) -> Result<StreamName, TriggerError> {
    StreamName::new(format!("{STREAM_PREFIX}{trigger_id}"))
        .map_err(|_| TriggerError::NotFound(trigger_id.to_owned()))
}

fn invalid(path: &[&str], message: impl Into<String>) -> TriggerError {
    TriggerError::Invalid(vec![Problem {
        path: path.iter().map(|p| (*p).to_owned()).collect(),
        message: message.into(),
    }])
}

fn slug_stream(slug: &str) -> Result<StreamName, TriggerError> {
    let valid = !slug.is_empty()
        && slug.len() <= SLUG_BYTES_MAX
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(invalid(
            &["slug"],
            format!(
                "a slug is 1 to {SLUG_BYTES_MAX} characters of letters, digits, '-', '_' and '.'"
            ),
        ));
    }
    StreamName::new(format!("{SLUG_PREFIX}{slug}")).map_err(|e| invalid(&["slug"], e.to_string()))
}

/// A webhook trigger's signature settings, checked; None when deliveries are not signed.
pub fn signature_config(
    spec: &TriggerSpec,
) -> Result<Option<crate::signature::Verifier>, TriggerError> {
    let Some(value) = spec.config.get("signature").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let config: crate::signature::SignatureConfig = serde_json::from_value(value.clone())
        .map_err(|e| invalid(&["config", "signature"], e.to_string()))?;
    config
        .check()
        .map(Some)
        .map_err(|e| invalid(&["config", "signature"], e.to_string()))
}

fn webhook_stream(webhook_id: &str) -> Result<StreamName, TriggerError> {
    let valid = webhook_id.len() == 64 && webhook_id.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(TriggerError::NotFound(webhook_id.to_owned()));
    }
    StreamName::new(format!("{WEBHOOK_PREFIX}{webhook_id}"))
        .map_err(|_| TriggerError::NotFound(webhook_id.to_owned()))
}

fn sample_stream(trigger_id: &str) -> Result<StreamName, TriggerError> {
    StreamName::new(format!("{SAMPLE_PREFIX}{trigger_id}"))
        .map_err(|_| TriggerError::NotFound(trigger_id.to_owned()))
}

/// Checks a spec as every write does: a workflow id, the config against its type's schema
/// (defaults applied), then what the schema cannot say (signatures, schedules).
fn check_spec(spec: &mut TriggerSpec) -> Result<(), TriggerError> {
    if spec.workflow_id.trim().is_empty() {
        return Err(invalid(&["workflowId"], "Required"));
    }
    spec.config =
        catalog::check_config(&spec.kind, spec.config.clone()).map_err(TriggerError::Invalid)?;
    if spec.kind == "webhook" {
        signature_config(spec)?;
    }
    if catalog::runs_as(&spec.kind) == "schedule" {
        crate::schedule::ScheduleConfig::parse(&spec.config).map_err(|problems| {
            TriggerError::Invalid(
                problems
                    .into_iter()
                    .map(|mut p| {
                        if p.path.first().map(String::as_str) != Some("config") {
                            p.path.insert(0, "config".into());
                        }
                        p
                    })
                    .collect(),
            )
        })?;
    }
    Ok(())
}

fn new_trigger_id() -> String {
    format!("trg_{}", uuid::Uuid::now_v7().simple())
}

/// 32 random bytes, hex: the secret part of a webhook's URL.
fn new_webhook_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Triggers {
    pub fn new(store: Arc<dyn EventStore>) -> Triggers {
        Triggers {
            store,
            folded: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Creates the trigger named `slug`, or updates it (same slug: same trigger). `enabled`
    /// None keeps the current status (a new trigger gets `default_enabled`). The config is
    /// checked against its type's schema, defaults applied.
    pub async fn upsert(
        &self,
        slug: &str,
        mut spec: TriggerSpec,
        enabled: Option<bool>,
        default_enabled: bool,
        by: Option<String>,
    ) -> Result<(TriggerRecord, bool), TriggerError> {
        let slug_stream = slug_stream(slug)?;
        check_spec(&mut spec)?;
        loop {
            let claims = self
                .store
                .read_stream(&slug_stream, Seq(1), usize::MAX)
                .await?;
            let claimed = match claims.last() {
                Some(last) => Some(
                    wire::SLUG_CLAIMS
                        .decode(last.event_type, &last.data)
                        .map_err(|e| TriggerError::Corrupt(format!("{slug_stream}: {e}")))?
                        .trigger_id,
                ),
                None => None,
            };
            let existing = match &claimed {
                Some(id) => self.read(id).await?,
                None => None,
            };
            match (claimed, existing) {
                // The slug's trigger exists: update it.
                (Some(id), Some(record)) if !record.deleted => {
                    // A trigger that becomes a webhook gets its URL now; one that stops being
                    // a webhook keeps it on record, and the receiver refuses it by type.
                    let webhook_id = match &record.webhook_id {
                        Some(existing) => Some(existing.clone()),
                        None if spec.kind == "webhook" => Some(self.claim_webhook_id(&id).await?),
                        None => None,
                    };
                    let event = TriggerEvent::TriggerUpserted {
                        trigger_id: id.clone(),
                        slug: slug.to_owned(),
                        spec_json: to_json(&spec),
                        enabled: enabled.unwrap_or(record.enabled),
                        webhook_id,
                        by,
                    };
                    self.append(&id, ExpectedVersion::Exact(record.stream_version), &event)
                        .await?;
                    return Ok((self.get(&id).await?, false));
                }
                // Claimed, but the claimer died before writing the trigger: finish its work.
                (Some(id), None) => {
                    let record = self
                        .create(
                            &id,
                            slug,
                            &spec,
                            enabled.unwrap_or(default_enabled),
                            by.clone(),
                        )
                        .await;
                    match record {
                        Err(TriggerError::Conflict(_)) => continue,
                        other => return other.map(|r| (r, true)),
                    }
                }
                // Never claimed, or its trigger was deleted: claim it for a new trigger.
                (_, existing) => {
                    let id = new_trigger_id();
                    let expected = if claims.is_empty() {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(claims.len() as u64)
                    };
                    let claim = SlugClaim {
                        trigger_id: id.clone(),
                    };
                    drop(existing);
                    match self
                        .store
                        .append(
                            &slug_stream,
                            expected,
                            vec![NewEvent::new(SLUG_CLAIMED, wire::encode_claim(&claim))],
                        )
                        .await
                    {
                        Ok(_) => {}
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(other) => return Err(other.into()),
                    }
                    let record = self
                        .create(
                            &id,
                            slug,
                            &spec,
                            enabled.unwrap_or(default_enabled),
                            by.clone(),
                        )
                        .await?;
                    return Ok((record, true));
                }
            }
        }
    }

    async fn create(
        &self,
        id: &str,
        slug: &str,
        spec: &TriggerSpec,
        enabled: bool,
        by: Option<String>,
    ) -> Result<TriggerRecord, TriggerError> {
        let webhook_id = if spec.kind == "webhook" {
            Some(self.claim_webhook_id(id).await?)
        } else {
            None
        };
        let event = TriggerEvent::TriggerUpserted {
            trigger_id: id.to_owned(),
            slug: slug.to_owned(),
            spec_json: to_json(spec),
            enabled,
            webhook_id,
            by,
        };
        self.append(id, ExpectedVersion::NoStream, &event).await?;
        self.get(id).await
    }

    /// A new webhook URL id, claimed for `trigger_id` before the trigger names it, so a
    /// crash in between leaves a URL that answers 404, never a trigger without its URL.
    async fn claim_webhook_id(&self, trigger_id: &str) -> Result<String, TriggerError> {
        let webhook_id = new_webhook_id();
        let claim = SlugClaim {
            trigger_id: trigger_id.to_owned(),
        };
        self.store
            .append(
                &webhook_stream(&webhook_id)?,
                ExpectedVersion::NoStream,
                vec![NewEvent::new(WEBHOOK_CLAIMED, wire::encode_claim(&claim))],
            )
            .await?;
        Ok(webhook_id)
    }

    /// Edits trigger `id` in place (its slug and webhook URL stay): `edit` makes the new spec
    /// from the trigger as it stands, which is checked exactly as an upsert's; `enabled` None
    /// keeps the status. A concurrent change (a tick recorded, another edit) makes it read
    /// the trigger again and call `edit` again, so a partial edit never undoes another one.
    /// Nothing is written when nothing changes.
    pub async fn update(
        &self,
        id: &str,
        enabled: Option<bool>,
        by: Option<String>,
        mut edit: impl FnMut(&TriggerRecord) -> TriggerSpec,
    ) -> Result<TriggerRecord, TriggerError> {
        let mut attempts = 0;
        loop {
            let record = self.get(id).await?;
            let mut spec = edit(&record);
            check_spec(&mut spec)?;
            let enabled = enabled.unwrap_or(record.enabled);
            if spec == record.written_spec() && enabled == record.enabled {
                return Ok(record);
            }
            let webhook_id = match &record.webhook_id {
                Some(existing) => Some(existing.clone()),
                None if spec.kind == "webhook" => Some(self.claim_webhook_id(id).await?),
                None => None,
            };
            let event = TriggerEvent::TriggerUpserted {
                trigger_id: id.to_owned(),
                slug: record.slug.clone(),
                spec_json: to_json(&spec),
                enabled,
                webhook_id,
                by: by.clone(),
            };
            match self
                .append(id, ExpectedVersion::Exact(record.stream_version), &event)
                .await
            {
                Err(TriggerError::Conflict(_)) if attempts < UPDATE_ATTEMPTS_MAX => attempts += 1,
                Err(other) => return Err(other),
                Ok(()) => return self.get(id).await,
            }
        }
    }

    /// Enables or disables the trigger. A trigger that fires meanwhile (its decisions moved
    /// the stream) is read again and the change tried again, as for an edit.
    pub async fn set_enabled(
        &self,
        id: &str,
        enabled: bool,
        by: Option<String>,
    ) -> Result<TriggerRecord, TriggerError> {
        let mut attempts = 0;
        loop {
            let record = self.get(id).await?;
            if record.enabled == enabled {
                return Ok(record);
            }
            let event = TriggerEvent::TriggerStatusChanged {
                enabled,
                by: by.clone(),
            };
            match self
                .append(id, ExpectedVersion::Exact(record.stream_version), &event)
                .await
            {
                Err(TriggerError::Conflict(_)) if attempts < UPDATE_ATTEMPTS_MAX => attempts += 1,
                Err(other) => return Err(other),
                Ok(()) => return self.get(id).await,
            }
        }
    }

    /// Deletes the trigger for good: it fires nothing more; its runs are untouched. Retried
    /// like [`Triggers::set_enabled`] when the trigger fires meanwhile.
    pub async fn delete(&self, id: &str, by: Option<String>) -> Result<(), TriggerError> {
        let mut attempts = 0;
        loop {
            let record = self.get(id).await?;
            let event = TriggerEvent::TriggerDeleted { by: by.clone() };
            match self
                .append(id, ExpectedVersion::Exact(record.stream_version), &event)
                .await
            {
                Err(TriggerError::Conflict(_)) if attempts < UPDATE_ATTEMPTS_MAX => attempts += 1,
                other => return other,
            }
        }
    }

    /// Records a decision of the trigger (fired, skipped, rejected, cursor advanced).
    pub async fn record(&self, id: &str, event: &TriggerEvent) -> Result<(), TriggerError> {
        self.append(id, ExpectedVersion::Any, event).await
    }

    /// The trigger, unless it never existed or was deleted.
    pub async fn get(&self, id: &str) -> Result<TriggerRecord, TriggerError> {
        match self.read(id).await? {
            Some(record) if !record.deleted => Ok(record),
            _ => Err(TriggerError::NotFound(id.to_owned())),
        }
    }

    /// The trigger's decisions, oldest first, with their journal times (µs).
    pub async fn history(&self, id: &str) -> Result<Vec<(i64, TriggerEvent)>, TriggerError> {
        let stream = stream_of(id)?;
        let events = self
            .store
            .read_stream(&stream, Seq(1), TRIGGER_EVENTS_MAX)
            .await?;
        events
            .iter()
            .map(|recorded| {
                TriggerEvent::decode(recorded.event_type, &recorded.data)
                    .map(|event| (recorded.recorded_at.as_micros(), event))
                    .map_err(|e| {
                        TriggerError::Corrupt(format!("{stream} seq {}: {e}", recorded.seq.0))
                    })
            })
            .collect()
    }

    /// Triggers that pass `filter`, in creation order, after the trigger id `after`; at most
    /// `limit`. Scans at most [`LIST_SCAN_MAX`] triggers per call; the second value is the
    /// cursor to continue from when there may be more.
    pub async fn list(
        &self,
        filter: &TriggerFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<TriggerRecord>, Option<String>), TriggerError> {
        let mut after_stream = after.map(stream_of).transpose()?;
        let mut found = Vec::new();
        let mut scanned = 0;
        loop {
            let page = self
                .store
                .list_streams(STREAM_PREFIX, after_stream.as_ref(), 256)
                .await?;
            let Some(last) = page.last() else {
                return Ok((found, None));
            };
            after_stream = Some(last.stream.clone());
            for info in &page {
                scanned += 1;
                let id = info.stream.as_str().trim_start_matches(STREAM_PREFIX);
                if let Some(record) = self.read_at(id, info.version).await? {
                    if !record.deleted && filter.accepts(&record) {
                        found.push(record);
                        if found.len() == limit {
                            return Ok((found, Some(id.to_owned())));
                        }
                    }
                }
                if scanned >= LIST_SCAN_MAX {
                    return Ok((found, Some(id.to_owned())));
                }
            }
        }
    }

    /// Every trigger passing `filter`, read [`LIST_SCAN_MAX`] at a time and held in memory:
    /// for the runner's reconcile and a provider's shared webhook URL, which need them all.
    pub async fn list_all(
        &self,
        filter: &TriggerFilter,
    ) -> Result<Vec<TriggerRecord>, TriggerError> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = self.list(filter, after.as_deref(), LIST_SCAN_MAX).await?;
            found.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// The trigger whose webhook URL carries `webhook_id` (deleted ones included: the caller
    /// decides what a delivery to them gets).
    pub async fn by_webhook(
        &self,
        webhook_id: &str,
    ) -> Result<Option<TriggerRecord>, TriggerError> {
        let Ok(stream) = webhook_stream(webhook_id) else {
            return Ok(None);
        };
        let claims = self.store.read_stream(&stream, Seq(1), 1).await?;
        let Some(claim) = claims.first() else {
            return Ok(None);
        };
        let claim = wire::WEBHOOK_CLAIMS
            .decode(claim.event_type, &claim.data)
            .map_err(|e| TriggerError::Corrupt(format!("{stream}: {e}")))?;
        self.read(&claim.trigger_id).await
    }

    /// Keeps `payload` as a sample of what the trigger receives.
    pub async fn add_sample(
        &self,
        id: &str,
        payload: &Value,
        at_ms: i64,
    ) -> Result<(), TriggerError> {
        let sample = Sample {
            received_at_ms: at_ms,
            payload_json: payload.to_string(),
        };
        self.store
            .append(
                &sample_stream(id)?,
                ExpectedVersion::Any,
                vec![NewEvent::new(SAMPLE_RECORDED, wire::encode_sample(&sample))],
            )
            .await?;
        Ok(())
    }

    /// The last [`SAMPLES_KEPT`] samples, newest first.
    pub async fn samples(&self, id: &str) -> Result<Vec<(Sample, Value)>, TriggerError> {
        let stream = sample_stream(id)?;
        let version = self.store.stream_version(&stream).await?;
        let from = version.saturating_sub(SAMPLES_KEPT - 1).max(1);
        let events = self
            .store
            .read_stream(&stream, Seq(from), SAMPLES_KEPT as usize)
            .await?;
        let mut samples = events
            .iter()
            .map(|recorded| {
                let sample = wire::SAMPLES
                    .decode(recorded.event_type, &recorded.data)
                    .map_err(|e| TriggerError::Corrupt(format!("{stream}: {e}")))?;
                let payload = serde_json::from_str(&sample.payload_json).unwrap_or(Value::Null);
                Ok((sample, payload))
            })
            .collect::<Result<Vec<_>, TriggerError>>()?;
        samples.reverse();
        Ok(samples)
    }

    /// As [`Triggers::read`] for a stream whose version is known (a listing's): the cached
    /// fold without a read when it is that version, so listing triggers that did not change
    /// reads no stream (the runner of several nodes lists them every second).
    async fn read_at(&self, id: &str, version: u64) -> Result<Option<TriggerRecord>, TriggerError> {
        let cached = lock(&self.folded)
            .get(id)
            .filter(|record| record.stream_version == version)
            .cloned();
        match cached {
            Some(record) => Ok(Some(record)),
            None => self.read(id).await,
        }
    }

    /// The trigger as its stream tells it, folding only what was appended since the cached
    /// fold (streams are append-only, so the cached state is a prefix of the answer).
    async fn read(&self, id: &str) -> Result<Option<TriggerRecord>, TriggerError> {
        let stream = stream_of(id)?;
        let mut record = lock(&self.folded).get(id).cloned();
        loop {
            let from = record.as_ref().map_or(1, |r| r.stream_version + 1);
            let events = self
                .store
                .read_stream(&stream, Seq(from), READ_PAGE)
                .await?;
            for recorded in &events {
                let event =
                    TriggerEvent::decode(recorded.event_type, &recorded.data).map_err(|e| {
                        TriggerError::Corrupt(format!("{stream} seq {}: {e}", recorded.seq.0))
                    })?;
                record = fold(
                    record,
                    event,
                    recorded.seq.0,
                    recorded.recorded_at.as_micros(),
                )?;
            }
            if events.len() < READ_PAGE {
                break;
            }
        }
        if let Some(record) = &record {
            let mut folded = lock(&self.folded);
            if folded.len() >= FOLDED_MAX && !folded.contains_key(id) {
                folded.clear();
            }
            folded.insert(id.to_owned(), record.clone());
        }
        Ok(record)
    }

    async fn append(
        &self,
        id: &str,
        expected: ExpectedVersion,
        event: &TriggerEvent,
    ) -> Result<(), TriggerError> {
        let stream = stream_of(id)?;
        match self
            .store
            .append(
                &stream,
                expected,
                vec![NewEvent::new(event.tag(), event.encode())],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(TriggerError::Conflict(id.to_owned())),
            Err(other) => Err(other.into()),
        }
    }
}

fn to_json(spec: &TriggerSpec) -> String {
    serde_json::to_string(spec).unwrap_or_else(|e| unreachable!("serializing a TriggerSpec: {e}"))
}

fn fold(
    record: Option<TriggerRecord>,
    event: TriggerEvent,
    seq: u64,
    at_us: i64,
) -> Result<Option<TriggerRecord>, TriggerError> {
    // The spec runs as its type's engine kind; the name the client used is kept beside it.
    let parse = |json: &str| {
        let mut spec = serde_json::from_str::<TriggerSpec>(json)
            .map_err(|e| TriggerError::Corrupt(e.to_string()))?;
        let named_kind = spec.kind.clone();
        spec.kind = catalog::runs_as(&named_kind).to_owned();
        Ok::<_, TriggerError>((spec, named_kind))
    };
    let mut record = match (record, event) {
        (
            None,
            TriggerEvent::TriggerUpserted {
                trigger_id,
                slug,
                spec_json,
                enabled,
                webhook_id,
                by,
            },
        ) => {
            let (spec, named_kind) = parse(&spec_json)?;
            TriggerRecord {
                id: trigger_id,
                slug,
                spec,
                named_kind,
                enabled,
                deleted: false,
                webhook_id,
                cursor_data: None,
                created_by: by.clone(),
                updated_by: by,
                created_at_us: at_us,
                updated_at_us: at_us,
                fired: 0,
                stream_version: seq,
            }
        }
        (None, _) => {
            return Err(TriggerError::Corrupt(format!(
                "the stream does not start with TriggerUpserted (seq {seq})"
            )))
        }
        (Some(mut record), event) => {
            match event {
                TriggerEvent::TriggerUpserted {
                    spec_json,
                    enabled,
                    webhook_id,
                    by,
                    ..
                } => {
                    if webhook_id.is_some() {
                        record.webhook_id = webhook_id;
                    }
                    (record.spec, record.named_kind) = parse(&spec_json)?;
                    record.enabled = enabled;
                    record.updated_by = by;
                    record.updated_at_us = at_us;
                }
                TriggerEvent::TriggerStatusChanged { enabled, by } => {
                    record.enabled = enabled;
                    record.updated_by = by;
                    record.updated_at_us = at_us;
                }
                TriggerEvent::TriggerDeleted { by } => {
                    record.deleted = true;
                    record.updated_by = by;
                    record.updated_at_us = at_us;
                }
                TriggerEvent::TriggerFired { .. } => record.fired += 1,
                TriggerEvent::TriggerCursorAdvanced { cursor_json } => {
                    record.cursor_data = serde_json::from_str(&cursor_json).ok();
                }
                TriggerEvent::TriggerSkipped { .. } | TriggerEvent::TriggerRejected { .. } => {}
            }
            record
        }
    };
    record.stream_version = seq;
    Ok(Some(record))
}
