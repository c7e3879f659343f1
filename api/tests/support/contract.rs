//! The contract check of every answer: each response the API tests get from a canonical
//! route is validated against the OpenAPI document's schema for its (method, path template,
//! status). A status the document does not list for the route, a content type it does not
//! list, or a body its schema refuses fails the test with the route, the status, the body
//! and the schema's complaint.
//!
//! The document is `api::openapi::document()`, built once per test process; each schema is
//! compiled once, with the document's `components` beside it so that its `$ref`s resolve.
//! Routes the document does not describe (the compatibility routes, unknown paths, a method
//! a route does not have) are not checked here: `api/tests/openapi.rs` checks that every
//! route of the router is in the document.
//!
//! Set `DURO_CONTRACT_LOG=FILE` to append one line per validated answer to FILE.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex};

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

/// The document and the validators compiled so far.
struct Contract {
    document: Value,
    /// Path templates of the document, split into segments.
    templates: Vec<(String, Vec<String>)>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| {
    let document = serde_json::to_value(api::openapi::document()).expect("the document as JSON");
    let templates = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(|template| (template.clone(), segments(template)))
        .collect();
    Contract {
        document,
        templates,
        validators: Mutex::new(HashMap::new()),
    }
});

fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

/// The document's template for `path`: literal segments equal, `{param}` any non-empty one.
/// When several match, the one with the most literal segments.
fn template_of(path: &str) -> Option<&'static str> {
    let path = segments(path);
    CONTRACT
        .templates
        .iter()
        .filter(|(_, template)| {
            template.len() == path.len()
                && template.iter().zip(&path).all(|(t, p)| {
                    (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p
                })
        })
        .max_by_key(|(_, template)| template.iter().filter(|t| !t.starts_with('{')).count())
        .map(|(template, _)| template.as_str())
}

/// Validates one answer of the router under test (see the module doc).
pub fn check(method: &Method, uri: &str, status: StatusCode, headers: &HeaderMap, bytes: &[u8]) {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let Some(template) = template_of(path) else {
        return;
    };
    let method_name = method.as_str().to_ascii_lowercase();
    let operation = &CONTRACT.document["paths"][template][&method_name];
    if operation.is_null() {
        return;
    }
    let route = format!("{method} {template} ({uri})");
    let body_text = String::from_utf8_lossy(bytes);
    let code = status.as_u16().to_string();
    let response = resolve(&operation["responses"][&code]);
    if response.is_null() {
        panic!(
            "contract: {route} answered {status}, which the document does not list for it \
             (it lists {}); body: {body_text}",
            listed(&operation["responses"])
        );
    }
    let content = &response["content"];
    if bytes.is_empty() && content.is_null() {
        return log(&route, status);
    }
    let media_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let Some(documented) = content.as_object() else {
        panic!("contract: {route} {status} has a body ({media_type}) the document does not describe: {body_text}");
    };
    let Some((media, entry)) = documented.iter().find(|(documented_type, _)| {
        let documented_type = documented_type.split(';').next().unwrap_or_default().trim();
        documented_type == media_type || documented_type == "*/*"
    }) else {
        panic!(
            "contract: {route} {status} answered {media_type:?}; the document lists {:?}; body: {body_text}",
            documented.keys().collect::<Vec<_>>()
        );
    };
    if !media.starts_with("application/json") {
        return log(&route, status);
    }
    let body: Value = serde_json::from_slice(bytes).unwrap_or_else(|error| {
        panic!("contract: {route} {status} body is not JSON ({error}): {body_text}")
    });
    let validator = validator(&entry["schema"]);
    let problems: Vec<String> = validator
        .iter_errors(&body)
        .map(|error| format!("at {}: {error}", error.instance_path()))
        .collect();
    if !problems.is_empty() {
        panic!(
            "contract: {route} answered {status} with a body its schema refuses:\n  {}\nbody: {body}\nschema: {}",
            problems.join("\n  "),
            entry["schema"]
        );
    }
    log(&route, status);
}

/// Validates the status and the content type of an answer whose body is read elsewhere (a
/// stream): the body is not checked.
pub fn check_head(method: &Method, uri: &str, status: StatusCode, headers: &HeaderMap) {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let Some(template) = template_of(path) else {
        return;
    };
    let operation = &CONTRACT.document["paths"][template][method.as_str().to_ascii_lowercase()];
    if operation.is_null() {
        return;
    }
    let response = resolve(&operation["responses"][status.as_u16().to_string()]);
    assert!(
        !response.is_null(),
        "contract: {method} {template} ({uri}) answered {status}, which the document does not list for it (it lists {})",
        listed(&operation["responses"])
    );
    let media_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
    if let Some(media_type) = media_type {
        let documented = response["content"].as_object().cloned().unwrap_or_default();
        assert!(
            documented.keys().any(|d| d.split(';').next().unwrap_or_default().trim() == media_type),
            "contract: {method} {template} ({uri}) {status} answered {media_type:?}; the document lists {:?}",
            documented.keys().collect::<Vec<_>>()
        );
    }
    log(&format!("{method} {template} ({uri})"), status);
}

/// A response object, following a `$ref` to `components/responses`.
fn resolve(response: &Value) -> Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/responses/");
            CONTRACT.document["components"]["responses"][name].clone()
        }
        None => response.clone(),
    }
}

fn listed(responses: &Value) -> String {
    responses
        .as_object()
        .map(|r| r.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// The compiled validator of `schema` (cached: answers share schemas, the error envelope
/// above all), its `$ref`s resolved against the document's components.
fn validator(schema: &Value) -> Arc<jsonschema::Validator> {
    let key = schema.to_string();
    let mut validators = CONTRACT.validators.lock().expect("validators");
    if let Some(validator) = validators.get(&key) {
        return validator.clone();
    }
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": CONTRACT.document["components"],
    });
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|error| panic!("contract: the schema of {key} does not compile: {error}"));
    let validator = Arc::new(validator);
    validators.insert(key, validator.clone());
    validator
}

/// Builds the document and the error envelope's validator now, so that the first checked
/// answer of a test costs no more than the others (the rate-limit test counts time).
pub fn warm_up() {
    validator(&json!({"$ref": "#/components/schemas/ErrorEnvelope"}));
}

/// `DURO_CONTRACT_LOG`'s file, opened once.
static LOG: LazyLock<Option<Mutex<std::fs::File>>> = LazyLock::new(|| {
    let path = std::env::var("DURO_CONTRACT_LOG").ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()?;
    Some(Mutex::new(file))
});

fn log(route: &str, status: StatusCode) {
    if let Some(file) = LOG.as_ref() {
        if let Ok(mut file) = file.lock() {
            let _ = writeln!(file, "{route} {}", status.as_u16());
        }
    }
}
