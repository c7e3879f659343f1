//! Workflow templates: the `{{ expr | filter: arg }}` strings inside step configs.
//!
//! This module owns the template language end to end: parsing a string into literal text and
//! expressions ([`Template::parse`]), evaluating it against a run's context
//! ([`Template::render`]), rendering or checking every string of a step config
//! ([`render_value`], [`check_value`]), and the static facts the engine validates a workflow
//! with (the step ids a template reads, [`Template::step_references`]).
//!
//! The context is `{"input": ..., "steps": {"<step-id>": {"output": ...}}, "run": {"id": ...}}`.
//! A string that is exactly one `{{ expr }}` renders to the expression's JSON value (a number
//! stays a number); any other string renders to text. Missing paths are null, as in Liquid;
//! whether a referenced step exists is the caller's static check, not the renderer's.
//!
//! What it must never do: I/O, read a clock or randomness (rendering is replayed and must give
//! the same result every time), panic on any input, or let a template cost unbounded time,
//! stack or memory. Every such cost is capped by a named `*_MAX` constant below, and exceeding
//! one is a [`TemplateError`].

mod arith;
mod compiled;
mod eval;
mod filters;
mod syntax;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use compiled::{TemplateText, TemplateValue};
pub(crate) use filters::url_encode;
use syntax::{Operand, Part, Path};

/// Largest template string accepted, in bytes (a whole config string, templated or not).
pub const TEMPLATE_BYTES_MAX: usize = 64 * 1024;
/// Most filters in one `{{ }}` expression.
pub const FILTERS_MAX: usize = 32;
/// Deepest nesting of parentheses and unary minus in a `map` arithmetic expression.
pub const ARITH_DEPTH_MAX: usize = 32;
/// Most operations (numbers, fields, operators) in one `map` arithmetic expression; bounds the
/// per-item cost of `map`.
pub const ARITH_OPS_MAX: usize = 256;
/// Largest string a render builds (interpolated text, `join`, `json`, case changes), in bytes.
pub const RENDERED_BYTES_MAX: usize = 1024 * 1024;
/// Most items an array may have as the input of `map`, `sum` or `join`.
pub const ITEMS_MAX: usize = 100_000;
/// Most evaluation operations (expressions, filters, items visited) in one render, so that a
/// template cannot multiply its size by its data into an effective hang.
pub const EVAL_OPERATIONS_MAX: u64 = 10_000_000;
/// Most bytes of text the filters of one render may read or build (`json`, `join`, `size` of a
/// string, case changes), so that repeating a costly filter cannot stand in for a loop.
pub const EVAL_TEXT_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Most decimal digits `round` keeps: beyond this an f64 has no more precision to round.
pub const ROUND_DIGITS_MAX: u32 = 15;
/// Deepest nesting of arrays and objects that [`render_value`] and [`check_value`] walk.
pub const VALUE_DEPTH_MAX: usize = 128;

/// A parsed template string.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a template did not parse or render, and where in the template string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at byte {position})")]
pub struct TemplateError {
    /// Byte offset in the template string.
    pub position: usize,
    pub message: String,
}

impl TemplateError {
    pub fn new(position: usize, message: impl Into<String>) -> TemplateError {
        TemplateError {
            position,
            message: message.into(),
        }
    }
}

/// A [`TemplateError`] in one string of a JSON value, with the keys and indices leading to it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {error}", .path.join("."))]
pub struct FieldError {
    pub path: Vec<String>,
    pub error: TemplateError,
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        syntax::parse(source).map(|parts| Template { parts })
    }

    /// Evaluates the template against `context`. Deterministic: same template and context,
    /// same result.
    pub fn render(&self, context: &Value) -> Result<Value, TemplateError> {
        eval::render(&self.parts, context)
    }

    /// Renders as HTML text: inserted values are escaped (`<` → `&lt;`, ...) unless the
    /// expression ends with `| raw`. For an email's `body.html`.
    pub fn render_html(&self, context: &Value) -> Result<String, TemplateError> {
        eval::render_html(&self.parts, context)
    }

    /// Step ids this template reads through `steps.<id>...`, with the byte offset of each
    /// reference (where its `steps` path starts), in source order, repeats included.
    pub fn step_references(&self) -> Vec<(String, usize)> {
        self.paths()
            .filter_map(|path| match path.segments.as_slice() {
                [root, id, ..] if root == "steps" => Some((id.clone(), path.position)),
                _ => None,
            })
            .collect()
    }

    /// True when the string has no `{{ }}` at all, so rendering returns it unchanged.
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|part| matches!(part, Part::Text { .. }))
    }

    /// Every context path the template reads: primaries and filter arguments.
    fn paths(&self) -> impl Iterator<Item = &Path> {
        self.parts
            .iter()
            .filter_map(|part| match part {
                Part::Expr(expr) => Some(expr),
                Part::Text { .. } => None,
            })
            .flat_map(|expr| {
                let arguments = expr.filters.iter().flat_map(|filter| filter.args.iter());
                std::iter::once(&expr.primary).chain(arguments)
            })
            .filter_map(|operand| match operand {
                Operand::Path(path) => Some(path),
                Operand::Literal(_) => None,
            })
    }
}

/// Renders every string inside a JSON value (objects and arrays recursively; keys are not
/// templates). On error, says which field: the path of keys and indices to the string.
pub fn render_value(value: &Value, context: &Value) -> Result<Value, FieldError> {
    render_at(value, context, &mut Vec::new())
}

fn render_at(value: &Value, context: &Value, path: &mut Vec<String>) -> Result<Value, FieldError> {
    check_depth(path)?;
    match value {
        Value::String(source) => Template::parse(source)
            .and_then(|template| template.render(context))
            .map_err(|error| field_error(path, error)),
        Value::Array(items) => {
            let mut rendered = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                path.push(index.to_string());
                rendered.push(render_at(item, context, path)?);
                path.pop();
            }
            Ok(Value::Array(rendered))
        }
        Value::Object(fields) => {
            let mut rendered = serde_json::Map::new();
            for (key, field) in fields {
                path.push(key.clone());
                rendered.insert(key.clone(), render_at(field, context, path)?);
                path.pop();
            }
            Ok(Value::Object(rendered))
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(value.clone()),
    }
}

/// A string's field path, the step id it references, and the reference's byte offset.
pub type FieldStepReference = (Vec<String>, String, usize);

/// Parses every string inside a JSON value, collecting all errors (not only the first) and all
/// step references, each with the path of the string it is in.
pub fn check_value(value: &Value) -> (Vec<FieldError>, Vec<FieldStepReference>) {
    let mut checker = Checker::default();
    checker.visit(value, &mut Vec::new());
    (checker.errors, checker.references)
}

#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
    references: Vec<FieldStepReference>,
}

impl Checker {
    fn visit(&mut self, value: &Value, path: &mut Vec<String>) {
        if let Err(error) = check_depth(path) {
            self.errors.push(error);
            return;
        }
        match value {
            Value::String(source) => self.check_string(source, path),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    path.push(index.to_string());
                    self.visit(item, path);
                    path.pop();
                }
            }
            Value::Object(fields) => {
                for (key, field) in fields {
                    path.push(key.clone());
                    self.visit(field, path);
                    path.pop();
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn check_string(&mut self, source: &str, path: &[String]) {
        match Template::parse(source) {
            Ok(template) => {
                let references = template.step_references().into_iter();
                self.references
                    .extend(references.map(|(id, position)| (path.to_vec(), id, position)));
            }
            Err(error) => self.errors.push(field_error(path, error)),
        }
    }
}

/// Recursion over a JSON value is bounded so a hostile config cannot overflow the stack.
fn check_depth(path: &[String]) -> Result<(), FieldError> {
    if path.len() > VALUE_DEPTH_MAX {
        let message = format!("value is nested deeper than VALUE_DEPTH_MAX ({VALUE_DEPTH_MAX})");
        return Err(field_error(path, TemplateError::new(0, message)));
    }
    Ok(())
}

fn field_error(path: &[String], error: TemplateError) -> FieldError {
    FieldError {
        path: path.to_vec(),
        error,
    }
}
