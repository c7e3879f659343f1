//! The provider catalog: which providers (Stripe, Slack, GitHub, any HTTP endpoint) action steps
//! can call, their actions, each action's params (a JSON Schema) and how params become HTTP
//! requests. It is data: one JSON file per provider, the built-in ones compiled in from the
//! repository's `providers/` directory, plus the files of `DURO_PROVIDERS_DIR`, so users add
//! or override providers without a rebuild (read by `engine::providers::load`) (docs/integrations.md has the file format).
//!
//! Loading checks every file whole (ids, schemas, templates) and names the file and field at
//! fault, so a bad provider file stops `duro serve` at start, not a run at 3 a.m. Building a
//! request (`build`) is pure: no clock, no I/O.

mod build;
mod form;
pub mod trigger;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::definition::Problem;
use crate::template;

pub use build::{
    failure_of, output_of, prepare_params, render_request, BuiltRequest, RequestScope,
};

/// The providers shipped with Duro, as (file name, contents).
const BUILTIN: [(&str, &str); 5] = [
    (
        "stripe.json",
        include_str!("../../../providers/stripe.json"),
    ),
    ("slack.json", include_str!("../../../providers/slack.json")),
    (
        "github.json",
        include_str!("../../../providers/github.json"),
    ),
    ("http.json", include_str!("../../../providers/http.json")),
    (
        "typeform.json",
        include_str!("../../../providers/typeform.json"),
    ),
];

/// Largest provider file read from `DURO_PROVIDERS_DIR`, in bytes.
pub const PROVIDER_FILE_BYTES_MAX: u64 = 1024 * 1024;
/// Most requests one action may make.
pub const ACTION_REQUESTS_MAX: usize = 16;

/// A provider, as its file describes it (and as `GET /api/v1/providers/{id}` shows it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Provider {
    /// `[a-z0-9_-]`: the part before the dot of an action id (`stripe` in
    /// `stripe.createInvoice`), and the `provider` of its connections.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Where request paths are resolved, unless the connection sets its own `baseUrl`.
    pub base_url: String,
    /// The connection kinds whose credentials it accepts (`bearer`, `basic`, ...).
    pub connection_kinds: Vec<String>,
    /// Whether its actions fail with CONNECTION_REQUIRED when no connection is found.
    #[serde(default)]
    pub connection_required: bool,
    pub actions: Vec<Action>,
    /// The events of the provider a trigger can start a workflow on (StackAI's provider
    /// triggers, seed 004): `stripe`'s `on_customer_created`, `github`'s `on_push`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<trigger::ProviderTrigger>,
}

/// One action of a provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Action {
    pub id: String,
    #[serde(default)]
    pub description: String,
    /// The provider's documented endpoints this action calls (for people, not the engine).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// A JSON Schema of the action's params (the step's `config`).
    pub params: Value,
    /// The requests, made in order; each is journaled before the next is sent.
    pub requests: Vec<RequestSpec>,
    /// A template over `{params, responses}` giving the step's output; the last response's
    /// body when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// How params become one HTTP request. Every string is a template over
/// `{"params": ..., "responses": [body, ...]}` (`responses.0` is the first request's body).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestSpec {
    /// Sent only when this renders to a truthy value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub method: String,
    /// Appended to the base URL. Exactly one of `path` and `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// An absolute URL (the `http` provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `json` (the default), `form` (application/x-www-form-urlencoded with nested keys,
    /// `metadata[source]=x`), or a template yielding one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Query parameters (an object; null values are left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    /// The body: null values (params not given) are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A field of a 2xx answer that must be `true` (Slack's `ok`), else the step fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_field: Option<String>,
    /// The field naming the error when `ok_field` is not true (Slack's `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_field: Option<String>,
}

/// A bad provider file: which one, and every problem in it.
#[derive(Debug, thiserror::Error)]
#[error("provider file {file}: {}", problems.join("; "))]
pub struct CatalogError {
    pub file: String,
    pub problems: Vec<String>,
}

/// A provider with its actions' compiled param schemas.
struct Loaded {
    provider: Provider,
    /// Where it came from: `builtin:stripe.json` or a path.
    source: String,
    validators: BTreeMap<String, Arc<jsonschema::Validator>>,
}

/// Every provider an action step can name.
pub struct Catalog {
    providers: BTreeMap<String, Loaded>,
}

/// An action found in the catalog.
pub struct Found<'a> {
    pub provider: &'a Provider,
    pub action: &'a Action,
    pub validator: &'a jsonschema::Validator,
}

impl Catalog {
    /// The built-in providers only.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog {
            providers: BTreeMap::new(),
        };
        for (file, text) in BUILTIN {
            catalog.add(format!("builtin:{file}"), text)?;
        }
        Ok(catalog)
    }

    /// The built-in providers, shared (what a `Runs` or `Workflows` without configuration
    /// uses). The built-in files are checked by this crate's tests.
    pub fn shared_builtin() -> Arc<Catalog> {
        static BUILTIN_CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
        BUILTIN_CATALOG
            .get_or_init(|| {
                Arc::new(Catalog::builtin().expect("the built-in provider files are valid"))
            })
            .clone()
    }

    /// Adds the provider file `text`, read from `source` (a file name, shown in errors),
    /// checked whole. A provider with the id of an earlier one replaces it: the earlier one's
    /// source is returned, for the loader to say so.
    pub fn add(&mut self, source: String, text: &str) -> Result<Option<String>, CatalogError> {
        let fail = |problems: Vec<String>| CatalogError {
            file: source.clone(),
            problems,
        };
        let provider: Provider =
            serde_json::from_str(text).map_err(|e| fail(vec![e.to_string()]))?;
        let validators = check_provider(&provider).map_err(fail)?;
        let replaced = self
            .providers
            .get(&provider.id)
            .map(|earlier| earlier.source.clone());
        self.providers.insert(
            provider.id.clone(),
            Loaded {
                provider,
                source,
                validators,
            },
        );
        Ok(replaced)
    }

    /// Every provider, by id.
    pub fn providers(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values().map(|loaded| &loaded.provider)
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id).map(|loaded| &loaded.provider)
    }

    /// The action `provider.action`, or a message saying what exists instead.
    pub fn action(&self, full_id: &str) -> Result<Found<'_>, String> {
        let Some((provider_id, action_id)) = full_id.split_once('.') else {
            return Err(format!(
                "{full_id:?} is not an action id: use provider.action, such as \
                 stripe.createInvoice"
            ));
        };
        let Some(loaded) = self.providers.get(provider_id) else {
            let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown provider {provider_id:?} in action {full_id:?}; known providers: {}",
                known.join(", ")
            ));
        };
        let action = loaded
            .provider
            .actions
            .iter()
            .find(|action| action.id == action_id);
        match (action, loaded.validators.get(action_id)) {
            (Some(action), Some(validator)) => Ok(Found {
                provider: &loaded.provider,
                action,
                validator,
            }),
            _ => {
                let known: Vec<&str> = loaded
                    .provider
                    .actions
                    .iter()
                    .map(|a| a.id.as_str())
                    .collect();
                Err(format!(
                    "unknown action {full_id:?}; {provider_id}'s actions: {}",
                    known.join(", ")
                ))
            }
        }
    }
}

fn well_formed_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Every problem of a provider, or its actions' compiled schemas.
fn check_provider(
    provider: &Provider,
) -> Result<BTreeMap<String, Arc<jsonschema::Validator>>, Vec<String>> {
    let mut problems = Vec::new();
    if !well_formed_id(&provider.id) {
        problems.push(format!(
            "id {:?} must be 1 to 100 letters, digits, '_' or '-'",
            provider.id
        ));
    }
    let url = &provider.base_url;
    let absolute = url.starts_with("https://") || url.starts_with("http://");
    if !(url.is_empty() || absolute) {
        problems.push(format!(
            "baseUrl {url:?} must start with https:// or http://"
        ));
    }
    if provider.actions.is_empty() {
        problems.push("actions: a provider needs at least one action".into());
    }
    let mut validators = BTreeMap::new();
    for (index, action) in provider.actions.iter().enumerate() {
        let at = format!("actions[{index}]");
        if !well_formed_id(&action.id) {
            problems.push(format!(
                "{at}.id {:?} must be 1 to 100 letters, digits, '_' or '-'",
                action.id
            ));
        }
        if validators.contains_key(&action.id) {
            problems.push(format!("{at}.id: duplicate action id {:?}", action.id));
        }
        match jsonschema::validator_for(&action.params) {
            Ok(validator) => {
                validators.insert(action.id.clone(), Arc::new(validator));
            }
            Err(e) => problems.push(format!("{at}.params: not a valid JSON Schema: {e}")),
        }
        if action.requests.is_empty() || action.requests.len() > ACTION_REQUESTS_MAX {
            problems.push(format!(
                "{at}.requests: an action makes 1 to {ACTION_REQUESTS_MAX} requests"
            ));
        }
        for (n, request) in action.requests.iter().enumerate() {
            let at = format!("{at}.requests[{n}]");
            if request.path.is_some() == request.url.is_some() {
                problems.push(format!("{at}: give exactly one of path and url"));
            }
            if request.path.is_some() && provider.base_url.is_empty() {
                problems.push(format!(
                    "{at}.path: the provider has no baseUrl to resolve it against"
                ));
            }
            let as_value = serde_json::to_value(request).unwrap_or(Value::Null);
            let (errors, _) = template::check_value(&as_value);
            for error in errors {
                problems.push(format!("{at}.{}: {}", error.path.join("."), error.error));
            }
        }
        if let Some(output) = &action.output {
            for error in template::check_value(output).0 {
                problems.push(format!(
                    "{at}.output.{}: {}",
                    error.path.join("."),
                    error.error
                ));
            }
        }
    }
    problems.extend(trigger::check_triggers(&provider.triggers));
    if problems.is_empty() {
        Ok(validators)
    } else {
        Err(problems)
    }
}

/// The problems of a step's static params against its action's schema: those that hold
/// whatever the templates render to. A value that is (or holds) a template is checked at run
/// time instead, after rendering.
pub fn static_param_problems(found: &Found<'_>, params: &Value) -> Vec<Problem> {
    let mut prepared = params.clone();
    build::apply_defaults(&found.action.params, &mut prepared);
    found
        .validator
        .iter_errors(&prepared)
        .filter_map(|error| {
            let path = pointer_segments(error.instance_path().as_str());
            // A missing required param is missing whatever the other values render to.
            let required = matches!(
                error.kind(),
                jsonschema::error::ValidationErrorKind::Required { .. }
            );
            if !required && templated_at(params, &path) {
                return None;
            }
            let (path, message) = build::describe(error, path);
            Some(Problem { path, message })
        })
        .collect()
}

/// Whether the value at `path` in `params`, or a value on the way there, is a template string:
/// then what it will be is known only at run time.
fn templated_at(params: &Value, path: &[String]) -> bool {
    let mut at = params;
    for segment in path {
        let next = match at {
            Value::String(text) => return text.contains("{{"),
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(next) => at = next,
            None => return false,
        }
    }
    matches!(at, Value::String(text) if text.contains("{{"))
}

/// `/a/0/b` → `["a", "0", "b"]` (JSON Pointer unescaping included).
pub(crate) fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

#[cfg(test)]
mod tests;
