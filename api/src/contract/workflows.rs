//! Workflows: definitions as clients write them, the workflow as the API shows it, its
//! versions and listing items.

use duro_core::ids::{ConnectionId, StepId, WorkflowId};
use engine::definition::{StepSpec, WorkflowSpec};
use engine::retry::RetrySpec;
use engine::workflows::WorkflowRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::envelope::{page_envelope, success_envelope};
use crate::reply::time;

/// Only `active` workflows run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowStatus {
    Draft,
    Active,
    Inactive,
}

impl From<engine::definition::WorkflowStatus> for WorkflowStatus {
    fn from(status: engine::definition::WorkflowStatus) -> WorkflowStatus {
        use engine::definition::WorkflowStatus as Engine;
        match status {
            Engine::Draft => WorkflowStatus::Draft,
            Engine::Active => WorkflowStatus::Active,
            Engine::Inactive => WorkflowStatus::Inactive,
        }
    }
}

impl From<WorkflowStatus> for engine::definition::WorkflowStatus {
    fn from(status: WorkflowStatus) -> engine::definition::WorkflowStatus {
        use engine::definition::WorkflowStatus as Engine;
        match status {
            WorkflowStatus::Draft => Engine::Draft,
            WorkflowStatus::Active => Engine::Active,
            WorkflowStatus::Inactive => Engine::Inactive,
        }
    }
}

/// A retry policy; every field optional, no other field accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retry {
    #[schema(minimum = 1, example = 3)]
    pub max_attempts: Option<u32>,
    /// A duration such as `"1s"` or `"500ms"`.
    #[schema(example = "1s")]
    pub initial_interval: Option<String>,
    #[schema(example = 2.0)]
    pub backoff_coefficient: Option<f64>,
    #[schema(example = "1m")]
    pub max_interval: Option<String>,
    /// Fraction of each wait, 0 to 1, by which it may be shortened at random.
    pub jitter: Option<f64>,
    /// Error codes that fail the step at once, whatever attempts remain.
    pub non_retryable: Option<Vec<String>>,
}

impl From<Retry> for RetrySpec {
    fn from(retry: Retry) -> RetrySpec {
        let Retry {
            max_attempts,
            initial_interval,
            backoff_coefficient,
            max_interval,
            jitter,
            non_retryable,
        } = retry;
        RetrySpec {
            max_attempts,
            initial_interval,
            backoff_coefficient,
            max_interval,
            jitter,
            non_retryable,
        }
    }
}

impl From<RetrySpec> for Retry {
    fn from(retry: RetrySpec) -> Retry {
        let RetrySpec {
            max_attempts,
            initial_interval,
            backoff_coefficient,
            max_interval,
            jitter,
            non_retryable,
        } = retry;
        Retry {
            max_attempts,
            initial_interval,
            backoff_coefficient,
            max_interval,
            jitter,
            non_retryable,
        }
    }
}

/// A step: `transform`, `http`, `action`, `email`, `workflow`, `agent`, `delay`, `wait`,
/// `condition` or `foreach`. Checked when the definition is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "calculate-total",
    "type": "transform",
    "name": "Calculate Order Total",
    "config": {"mapping": {"total": "{{input.items | map: 'quantity * price' | sum}}"}}
}))]
pub struct Step {
    /// Unique across the workflow, sub-steps included.
    pub id: StepId,
    #[serde(rename = "type")]
    #[schema(example = "transform")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The step type's settings; string values may be `{{...}}` templates. `null` when
    /// absent.
    #[serde(default)]
    #[schema(value_type = Object, nullable)]
    pub config: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// A duration such as `"30s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// An action step's provider action (`stripe.createInvoice`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The connection an http or action step uses (an id or a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
}

impl From<Step> for StepSpec {
    fn from(step: Step) -> StepSpec {
        let Step {
            id,
            kind,
            name,
            config,
            retry,
            timeout,
            action,
            connection,
        } = step;
        StepSpec {
            id: id.into(),
            kind,
            name,
            config,
            retry: retry.map(RetrySpec::from),
            timeout,
            action,
            connection,
        }
    }
}

impl From<StepSpec> for Step {
    fn from(step: StepSpec) -> Step {
        let StepSpec {
            id,
            kind,
            name,
            config,
            retry,
            timeout,
            action,
            connection,
        } = step;
        Step {
            id: id.into(),
            kind,
            name,
            config,
            retry: retry.map(Retry::from),
            timeout,
            action,
            connection,
        }
    }
}

/// A workflow definition: the body of `POST /api/v1/workflows` (seed 001's shape; the agent
/// fields of seed 002 are accepted and stored). Unknown fields are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDefinition {
    #[schema(example = "Process Customer Order")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The status to start in; `draft` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkflowStatus>,
    /// A JSON Schema that run inputs are validated against (defaults applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub input_schema: Option<Value>,
    /// `{"type": "api" | "schedule" | "webhook" | "manual" | "polling", ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, example = json!({"type": "api"}))]
    pub trigger: Option<Value>,
    /// At least one step, at most 2,000 (checked with the definition, not by the parser).
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Toolkit slug to connection id (an object), or `[{toolkitSlug, connectionId}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub connections: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub tools: Option<Value>,
    /// Seed 002's knowledge collections: kept and shown as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub knowledge_collections: Option<Value>,
}

impl From<WorkflowDefinition> for WorkflowSpec {
    fn from(definition: WorkflowDefinition) -> WorkflowSpec {
        let WorkflowDefinition {
            name,
            description,
            status,
            input_schema,
            trigger,
            steps,
            connections,
            system_prompt,
            model,
            tools,
            knowledge_collections,
        } = definition;
        WorkflowSpec {
            name,
            description,
            status: status.map(Into::into),
            input_schema,
            trigger,
            steps: steps.into_iter().map(StepSpec::from).collect(),
            connections,
            system_prompt,
            model,
            tools,
            knowledge_collections,
        }
    }
}

impl From<WorkflowSpec> for WorkflowDefinition {
    fn from(spec: WorkflowSpec) -> WorkflowDefinition {
        let WorkflowSpec {
            name,
            description,
            status,
            input_schema,
            trigger,
            steps,
            connections,
            system_prompt,
            model,
            tools,
            knowledge_collections,
        } = spec;
        WorkflowDefinition {
            name,
            description,
            status: status.map(Into::into),
            input_schema,
            trigger,
            steps: steps.into_iter().map(Step::from).collect(),
            connections,
            system_prompt,
            model,
            tools,
            knowledge_collections,
        }
    }
}

/// A partial update: top-level fields present replace the current ones, `null` removes an
/// optional one; `id` cannot change. A change of the definition makes a new version; `status`
/// changes the status. The body is checked against this type before it is applied.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowPatch {
    #[schema(nullable = false)]
    pub name: Option<String>,
    pub description: Option<String>,
    /// Checked by the handler, which names the allowed values.
    #[schema(value_type = Option<WorkflowStatus>)]
    pub status: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub trigger: Option<Value>,
    pub steps: Option<Vec<Step>>,
    #[schema(value_type = Option<Value>)]
    pub connections: Option<Value>,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    #[schema(value_type = Option<Value>)]
    pub tools: Option<Value>,
    #[schema(value_type = Option<Value>)]
    pub knowledge_collections: Option<Value>,
}

/// A workflow: its current definition with its id, status, version and times.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    #[schema(example = "wf_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f")]
    pub id: WorkflowId,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub status: WorkflowStatus,
    /// The current version, from 1.
    #[schema(minimum = 1)]
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub input_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub trigger: Option<Value>,
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub connections: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub tools: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub knowledge_collections: Option<Value>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime, example = "2024-01-15T10:00:00.000Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T10:00:00.000Z")]
    pub updated_at: String,
}

impl Workflow {
    /// The workflow as `GET /api/v1/workflows/{id}` shows it (the definition's own `status`,
    /// if any, gives way to the workflow's).
    pub fn of(record: &WorkflowRecord) -> Workflow {
        let WorkflowDefinition {
            name,
            description,
            status: _,
            input_schema,
            trigger,
            steps,
            connections,
            system_prompt,
            model,
            tools,
            knowledge_collections,
        } = WorkflowDefinition::from(record.current.clone());
        Workflow {
            id: record.id.clone().into(),
            name,
            description,
            status: record.status.into(),
            version: record.version(),
            input_schema,
            trigger,
            steps,
            connections,
            system_prompt,
            model,
            tools,
            knowledge_collections,
            created_at: time(record.created_at_us),
            updated_at: time(record.updated_at_us),
        }
    }
}

/// One version of a workflow: the definition as it was (its `status` is the one the
/// definition gave, if any, not the workflow's), its number, and whether it is current.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowVersion {
    #[serde(flatten)]
    pub definition: WorkflowDefinition,
    #[schema(minimum = 1)]
    pub version: u64,
    pub current: bool,
}

/// A workflow in a listing: no definition (get the workflow for its steps).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSummary {
    pub id: WorkflowId,
    pub name: String,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(value_type = WorkflowStatus)]
    pub status: String,
    /// The current version, from 1.
    #[schema(minimum = 1)]
    pub version: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<readmodels::WorkflowSummary> for WorkflowSummary {
    fn from(summary: readmodels::WorkflowSummary) -> WorkflowSummary {
        let readmodels::WorkflowSummary {
            id,
            name,
            description,
            status,
            version,
            created_at_us,
            updated_at_us,
        } = summary;
        WorkflowSummary {
            id: id.into(),
            name,
            description,
            status: crate::reply::to_json(status)
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            version,
            created_at: crate::reply::time(created_at_us),
            updated_at: crate::reply::time(updated_at_us),
        }
    }
}

/// `{"status"}`: only `active` workflows run.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"status": "active"}))]
pub struct WorkflowStatusBody {
    /// Checked by the handler, which names the allowed values.
    #[schema(value_type = WorkflowStatus)]
    pub status: Value,
}

/// Which connection a toolkit uses.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"toolkitSlug": "gmail", "connectionId": "conn_123"}))]
pub struct ConnectionBody {
    /// Not empty.
    pub toolkit_slug: String,
    /// Not empty.
    pub connection_id: ConnectionId,
}

/// A deleted workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDeleted {
    pub id: WorkflowId,
    #[schema(example = true)]
    pub deleted: bool,
}

success_envelope!(WorkflowResponse, Workflow);
success_envelope!(WorkflowDeletedResponse, WorkflowDeleted);
page_envelope!(
    /// A page of workflows.
    WorkflowListResponse,
    WorkflowSummary
);
page_envelope!(
    /// Every version of a workflow, oldest first, in one page.
    WorkflowVersionListResponse,
    WorkflowVersion
);
