//! Turning an action's params into its HTTP requests, and its responses into the step's
//! output. Pure: the same params and recorded responses always give the same requests, which
//! is what lets a crashed action resume at the request it had not recorded yet.

use serde_json::{json, Map, Value};

use super::{form, pointer_segments, Action, Found, RequestSpec};
use crate::definition::Problem;
use crate::template;

/// How deep defaults are filled into nested params.
const DEFAULTS_DEPTH_MAX: usize = 32;

/// One request, ready to send (the connection's credentials and the Idempotency-Key are added
/// by the executor, never here: this value may be shown).
#[derive(Clone, Debug, PartialEq)]
pub struct BuiltRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// What an action's templates see: `{"params": ..., "responses": [body, ...]}`.
pub struct RequestScope(Value);

impl RequestScope {
    /// `responses[i]` is request `i`'s body; null for a request skipped by its `when`.
    pub fn new(params: &Value, responses: &[Value]) -> RequestScope {
        RequestScope(json!({ "params": params, "responses": responses }))
    }
}

/// The params with the schema's defaults filled in, or every way they violate it (paths from
/// the params' root).
pub fn prepare_params(found: &Found<'_>, mut params: Value) -> Result<Value, Vec<Problem>> {
    apply_defaults(&found.action.params, &mut params);
    let problems: Vec<Problem> = found
        .validator
        .iter_errors(&params)
        .map(|error| {
            let path = pointer_segments(error.instance_path().as_str());
            let (path, message) = describe(error, path);
            Problem { path, message }
        })
        .collect();
    if problems.is_empty() {
        Ok(params)
    } else {
        Err(problems)
    }
}

/// A validation error's path and message, a missing property named in the path.
pub(super) fn describe(
    error: jsonschema::ValidationError<'_>,
    mut path: Vec<String>,
) -> (Vec<String>, String) {
    match error.kind() {
        jsonschema::error::ValidationErrorKind::Required { property } => {
            path.push(
                property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_owned),
            );
            (path, "Required".to_string())
        }
        _ => (path, error.to_string()),
    }
}

/// Fills `default`s of absent object properties, recursing into present objects.
pub(super) fn apply_defaults(schema: &Value, value: &mut Value) {
    apply_defaults_at(schema, value, 0);
}

fn apply_defaults_at(schema: &Value, value: &mut Value, depth: usize) {
    if depth >= DEFAULTS_DEPTH_MAX {
        return;
    }
    let (Some(properties), Value::Object(object)) =
        (schema.get("properties").and_then(Value::as_object), value)
    else {
        return;
    };
    for (name, property) in properties {
        match object.get_mut(name) {
            Some(present) => apply_defaults_at(property, present, depth + 1),
            None => {
                if let Some(default) = property.get("default") {
                    object.insert(name.clone(), default.clone());
                }
            }
        }
    }
}

/// Request `index` of `action` in `scope`, resolved against `base_url`; None when its `when`
/// is false. Errors are the provider file's fault or the params' (a URL that does not
/// render), and say which field.
pub fn render_request(
    action: &Action,
    index: usize,
    scope: &RequestScope,
    base_url: &str,
) -> Result<Option<BuiltRequest>, String> {
    let Some(spec) = action.requests.get(index) else {
        return Err(format!("the action has no request {index}"));
    };
    let context = &scope.0;
    let render = |field: &str, value: &Value| {
        template::render_value(value, context)
            .map_err(|e| format!("requests[{index}].{field}: {e}"))
    };
    if let Some(when) = &spec.when {
        if !truthy(&render("when", &Value::String(when.clone()))?) {
            return Ok(None);
        }
    }
    let method = text(render("method", &Value::String(spec.method.clone()))?).to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "requests[{index}].method: {method:?} is not an HTTP method"
        ));
    }
    let mut url = match (&spec.path, &spec.url) {
        (Some(path), _) => {
            let path = text(render("path", &Value::String(path.clone()))?);
            if !path.starts_with('/') {
                return Err(format!(
                    "requests[{index}].path: {path:?} must start with /"
                ));
            }
            format!("{}{path}", base_url.trim_end_matches('/'))
        }
        (None, Some(url)) => text(render("url", &Value::String(url.clone()))?),
        (None, None) => return Err(format!("requests[{index}]: no path or url")),
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!(
            "requests[{index}]: the URL {url:?} is not absolute (http:// or https://)"
        ));
    }
    if let Some(query) = &spec.query {
        let query = render("query", query)?;
        let encoded = form::encode(&prune_nulls(query));
        if !encoded.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&encoded);
        }
    }
    let mut headers = Vec::new();
    if let Some(spec_headers) = &spec.headers {
        if let Value::Object(map) = render("headers", spec_headers)? {
            for (name, value) in map {
                match value {
                    Value::Null => {}
                    Value::String(value) => headers.push((name, value)),
                    other => headers.push((name, other.to_string())),
                }
            }
        }
    }
    let encoding = match &spec.encoding {
        Some(encoding) => text(render("encoding", &Value::String(encoding.clone()))?),
        None => "json".to_owned(),
    };
    let body = match &spec.body {
        None => None,
        Some(body) => body_bytes(
            prune_nulls(render("body", body)?),
            &encoding,
            &mut headers,
            index,
        )?,
    };
    Ok(Some(BuiltRequest {
        method,
        url,
        headers,
        body,
    }))
}

fn body_bytes(
    body: Value,
    encoding: &str,
    headers: &mut Vec<(String, String)>,
    index: usize,
) -> Result<Option<Vec<u8>>, String> {
    let has_content_type = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    let mut content_type = |value: &str| {
        if !has_content_type {
            headers.push(("Content-Type".to_owned(), value.to_owned()));
        }
    };
    Ok(match (encoding, body) {
        (_, Value::Null) => None,
        // Text is sent as it is: the params chose its format (and its Content-Type header).
        (_, Value::String(text)) => Some(text.into_bytes()),
        ("form", body) => {
            content_type("application/x-www-form-urlencoded");
            Some(form::encode(&body).into_bytes())
        }
        ("json", body) => {
            content_type("application/json");
            Some(body.to_string().into_bytes())
        }
        (other, _) => {
            return Err(format!(
                "requests[{index}].encoding: {other:?} is not json or form"
            ))
        }
    })
}

/// Why a 2xx answer still failed (`ok_field` not true): (code, message); None when it did not.
pub fn failure_of(spec: &RequestSpec, body: &Value) -> Option<(String, String)> {
    let field = spec.ok_field.as_deref()?;
    if body.get(field) == Some(&Value::Bool(true)) {
        return None;
    }
    let error = spec
        .error_field
        .as_deref()
        .and_then(|field| body.get(field))
        .map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| format!("the answer's {field:?} is not true"));
    Some(("ACTION_FAILED".to_owned(), error))
}

/// The step's output: the action's `output` template, else the last response's body.
pub fn output_of(action: &Action, scope: &RequestScope) -> Result<Value, String> {
    match &action.output {
        Some(output) => {
            template::render_value(output, &scope.0).map_err(|e| format!("output: {e}"))
        }
        None => Ok(scope.0["responses"]
            .as_array()
            .and_then(|responses| responses.iter().rev().find(|r| !r.is_null()))
            .cloned()
            .unwrap_or(Value::Null)),
    }
}

/// Object members that are null (params not given) are left out, at every depth.
fn prune_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, prune_nulls(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(prune_nulls).collect()),
        other => other,
    }
}

fn text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// False for null, false, 0, "" and empty arrays and objects (as a condition step's `if`).
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && s != "false",
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
