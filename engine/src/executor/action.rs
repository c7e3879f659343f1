//! Carrying out an attempt of an `action` step: params checked against the action's schema,
//! the connection resolved, then the action's requests sent in order through the guarded
//! outbound client. After each request but the last the attempt returns its response, which
//! the driver journals (`StepRequestCompleted`) before it starts the attempt again for the
//! next request. So a crash, or a retry after a failed request, never sends a request on
//! record again; a request sent but not recorded is sent again with the same
//! `Idempotency-Key` (`{run}:{step}:{n}`), which the provider deduplicates.

use std::time::Duration;

use serde_json::Value;

use super::steps::{failure, response_failure, response_output};
use super::Runs;
use crate::connections::{self, Wanted};
use crate::definition::ActionStep;
use crate::events::StepError;
use crate::providers::{self, RequestScope};

/// Timeout of one request of an action when the step sets none.
pub const ACTION_REQUEST_TIMEOUT_MS_DEFAULT: u64 = 30_000;

/// An attempt of an action step, rendered against the run and ready to carry out.
pub struct ActionCall {
    pub run_id: String,
    /// The step's journal id (an item's sub-step has a composite id).
    pub step_id: String,
    pub step: ActionStep,
    /// The params, rendered (or why they did not render).
    pub params: Result<Value, StepError>,
    /// The step's own connection, rendered.
    pub connection: Result<Option<String>, StepError>,
    pub run_connection: Option<String>,
    pub workflow_id: String,
    pub workflow_version: u64,
    /// Bodies of the requests already on record (null for skipped ones).
    pub responses: Vec<Value>,
    pub timeout_ms: Option<u64>,
}

/// How far an attempt got.
pub enum Reached {
    /// The step's outcome.
    Done(Result<Value, StepError>),
    /// Request `request` (from 1) answered `output`; more requests follow.
    Request { request: u32, output: Value },
}

pub async fn perform(runs: Runs, call: ActionCall) -> Reached {
    match attempt(&runs, call).await {
        Ok(reached) => reached,
        Err(error) => Reached::Done(Err(error)),
    }
}

async fn attempt(runs: &Runs, call: ActionCall) -> Result<Reached, StepError> {
    let integrations = &runs.inner().integrations;
    let catalog = &integrations.catalog;
    let found = catalog
        .action(&call.step.action)
        .map_err(|message| failure("ACTION_UNKNOWN", message, false))?;
    let params = providers::prepare_params(&found, call.params?).map_err(|problems| {
        let message = problems
            .iter()
            .map(|p| {
                let path: Vec<&str> = p.path.iter().map(String::as_str).collect();
                format!("config.{}: {}", path.join("."), p.message)
            })
            .collect::<Vec<_>>()
            .join("; ");
        failure("VALIDATION_ERROR", message, false)
    })?;
    let workflow_connections = runs
        .workflow_connections(&call.workflow_id, call.workflow_version)
        .await?;
    let step_connection = call.connection?;
    let connection = connections::resolve(
        integrations.connections.as_ref(),
        Wanted {
            provider: &found.provider.id,
            step: step_connection.as_deref(),
            run: call.run_connection.as_deref(),
            workflow: workflow_connections.as_ref(),
            required: found.provider.connection_required,
        },
    )
    .await?;
    let base_url = connection
        .as_ref()
        .and_then(|c| c.base_url.clone())
        .unwrap_or_else(|| found.provider.base_url.clone());
    let mut responses = call.responses;
    let timeout =
        Duration::from_millis(call.timeout_ms.unwrap_or(ACTION_REQUEST_TIMEOUT_MS_DEFAULT));
    let last = found.action.requests.len();
    while responses.len() < last {
        let index = responses.len();
        let scope = RequestScope::new(&params, &responses);
        let built = providers::render_request(found.action, index, &scope, &base_url)
            .map_err(|message| failure("ACTION_ERROR", message, false))?;
        let Some(mut request) = built else {
            responses.push(Value::Null);
            continue;
        };
        let n = index + 1;
        request.headers.push((
            "Idempotency-Key".to_owned(),
            format!("{}:{}:{n}", call.run_id, call.step_id),
        ));
        if let Some(connection) = &connection {
            let presented = integrations
                .connections
                .present(&connection.id)
                .await
                .map_err(|e| failure("CONNECTION_LOOKUP", e, true))?;
            request.headers.extend(presented.headers);
        }
        let label = format!(
            "{} request {n} ({} {})",
            call.step.action,
            request.method,
            path_of(&request.url)
        );
        let response = integrations
            .outbound
            .send(outbound::OutboundRequest {
                method: request.method,
                url: request.url,
                headers: request.headers,
                body: request.body,
                timeout,
            })
            .await
            .map_err(|e| failure(e.code(), format!("{label}: {e}"), e.retryable()))?;
        let output = response_output(&response)?;
        let body = output["body"].clone();
        if let Some(error) = response_failure(&response, &body, &label) {
            return Err(error);
        }
        if let Some((code, message)) = providers::failure_of(&found.action.requests[index], &body) {
            return Err(failure(&code, format!("{label}: {message}"), false));
        }
        responses.push(body);
        if responses.len() < last {
            return Ok(Reached::Request {
                request: n as u32,
                output: responses.pop().unwrap_or_default(),
            });
        }
    }
    let scope = RequestScope::new(&params, &responses);
    providers::output_of(found.action, &scope)
        .map(|output| Reached::Done(Ok(output)))
        .map_err(|message| failure("ACTION_ERROR", message, false))
}

/// The path of a URL, for messages: never its query (which may hold a token).
fn path_of(url: &str) -> &str {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    match without_query.find("://") {
        Some(scheme_end) => {
            let rest = &without_query[scheme_end + 3..];
            rest.find('/').map_or("/", |slash| &rest[slash..])
        }
        None => without_query,
    }
}
