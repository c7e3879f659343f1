//! Evaluation: paths against the context, filter chains, and the rendering of values as text.
//!
//! Values flow as `Cow`: a path borrows from the context and only filters allocate, so
//! `{{input}}` on a large input copies it once, into the result.

use std::borrow::Cow;
use std::io;

use serde_json::{Number, Value};

use super::filters;
use super::syntax::{Expr, Operand, Part};
use super::{TemplateError, EVAL_OPERATIONS_MAX, EVAL_TEXT_BYTES_MAX, RENDERED_BYTES_MAX};

/// What a missing path evaluates to; a static so a miss can be borrowed like a hit.
pub(crate) static NULL: Value = Value::Null;

/// Integers up to 2^53 are exact in f64; beyond, an "integral" f64 may not be the integer meant.
const EXACT_INTEGER_MAX: f64 = 9_007_199_254_740_992.0;

pub(crate) fn render(parts: &[Part], context: &Value) -> Result<Value, TemplateError> {
    render_as(parts, context, false)
}

/// Renders to text for an HTML document: every inserted value is HTML-escaped unless its
/// expression ends with the `raw` filter. The template's own text is HTML already.
pub(crate) fn render_html(parts: &[Part], context: &Value) -> Result<String, TemplateError> {
    match render_as(parts, context, true)? {
        Value::String(text) => Ok(text),
        _ => Ok(String::new()),
    }
}

fn render_as(parts: &[Part], context: &Value, html: bool) -> Result<Value, TemplateError> {
    let mut budget = Budget::default();
    if let ([Part::Expr(expr)], false) = (parts, html) {
        return eval_expr(expr, context, &mut budget).map(Cow::into_owned);
    }
    let mut text = Text::default();
    for part in parts {
        let (position, pushed) = match part {
            Part::Text {
                position,
                text: literal,
            } => (*position, text.push_str(literal)),
            Part::Expr(expr) => {
                let value = eval_expr(expr, context, &mut budget)?;
                let raw = expr
                    .filters
                    .last()
                    .is_some_and(|filter| filter.kind == filters::FilterKind::Raw);
                if html && !raw {
                    let mut inserted = Text::default();
                    let escaped = inserted
                        .push_value(&value)
                        .map(|()| filters::escape_html(&inserted.into_string()));
                    (
                        expr.position,
                        escaped.and_then(|escaped| text.push_str(&escaped)),
                    )
                } else {
                    (expr.position, text.push_value(&value))
                }
            }
        };
        pushed.map_err(|message| TemplateError::new(position, message))?;
    }
    Ok(Value::String(text.into_string()))
}

fn eval_expr<'a>(
    expr: &'a Expr,
    context: &'a Value,
    budget: &mut Budget,
) -> Result<Cow<'a, Value>, TemplateError> {
    budget
        .charge(1)
        .map_err(|message| TemplateError::new(expr.position, message))?;
    let mut value = operand(&expr.primary, context);
    for filter in &expr.filters {
        let args = filter
            .args
            .iter()
            .map(|arg| operand(arg, context))
            .collect();
        value = filters::apply(filter, value, args, budget)?;
    }
    Ok(value)
}

fn operand<'a>(operand: &'a Operand, context: &'a Value) -> Cow<'a, Value> {
    match operand {
        Operand::Literal(value) => Cow::Borrowed(value),
        Operand::Path(path) => Cow::Borrowed(lookup(context, &path.segments).unwrap_or(&NULL)),
    }
}

/// Follows `segments` into `value`: keys of objects, indices of arrays. `None` when missing.
pub(crate) fn lookup<'v>(value: &'v Value, segments: &[String]) -> Option<&'v Value> {
    segments
        .iter()
        .try_fold(value, |value, segment| match value {
            Value::Object(fields) => fields.get(segment),
            Value::Array(items) => array_index(segment).and_then(|index| items.get(index)),
            _ => None,
        })
}

/// A canonical decimal index (`0`, `12`; not `01` or `+1`).
fn array_index(segment: &str) -> Option<usize> {
    let canonical = segment.bytes().all(|byte| byte.is_ascii_digit())
        && (segment == "0" || !segment.starts_with('0'));
    canonical.then(|| segment.parse().ok()).flatten()
}

/// The JSON number for a computed f64: an integer when it is exactly one, so `2 * 1999` is
/// `3998` and not `3998.0`; `None` for NaN and infinities, which JSON cannot hold.
pub(crate) fn number_value(number: f64) -> Option<Value> {
    if !number.is_finite() {
        return None;
    }
    if number.fract() == 0.0 && number.abs() <= EXACT_INTEGER_MAX {
        // Exact: integral and within ±2^53, so the cast neither truncates nor saturates.
        return Some(Value::from(number as i64));
    }
    Number::from_f64(number).map(Value::Number)
}

pub(crate) fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Integers as integers, other numbers in Rust's shortest round-trip form.
fn number_text(number: &Number) -> String {
    if let Some(integer) = number.as_i64() {
        return integer.to_string();
    }
    if let Some(integer) = number.as_u64() {
        return integer.to_string();
    }
    match number.as_f64() {
        // Matches `-0.0` too: `-0` is not a number anyone wants to read in an email.
        Some(0.0) => "0".to_owned(),
        Some(float) => float.to_string(),
        None => number.to_string(),
    }
}

/// Compact JSON of `value`, failing rather than allocating past `limit` bytes.
pub(crate) fn json_text(value: &Value, limit: usize) -> Result<String, String> {
    let mut writer = BoundedWriter {
        bytes: Vec::new(),
        limit,
    };
    serde_json::to_writer(&mut writer, value).map_err(|_| too_long())?;
    String::from_utf8(writer.bytes).map_err(|_| "JSON output is not UTF-8".to_owned())
}

pub(crate) fn too_long() -> String {
    format!("rendered text exceeds RENDERED_BYTES_MAX ({RENDERED_BYTES_MAX} bytes)")
}

struct BoundedWriter {
    bytes: Vec<u8>,
    limit: usize,
}

impl io::Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            return Err(io::Error::other("limit reached"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Text being built, capped at `RENDERED_BYTES_MAX`.
#[derive(Default)]
pub(crate) struct Text {
    text: String,
}

impl Text {
    pub(crate) fn push_str(&mut self, piece: &str) -> Result<(), String> {
        if self.text.len() + piece.len() > RENDERED_BYTES_MAX {
            return Err(too_long());
        }
        self.text.push_str(piece);
        Ok(())
    }

    /// Appends `value` as text: strings as they are, null as nothing, containers as JSON.
    pub(crate) fn push_value(&mut self, value: &Value) -> Result<(), String> {
        match value {
            Value::Null => Ok(()),
            Value::Bool(flag) => self.push_str(if *flag { "true" } else { "false" }),
            Value::Number(number) => self.push_str(&number_text(number)),
            Value::String(string) => self.push_str(string),
            Value::Array(_) | Value::Object(_) => {
                let remaining = RENDERED_BYTES_MAX.saturating_sub(self.text.len());
                self.push_str(&json_text(value, remaining)?)
            }
        }
    }

    pub(crate) fn into_string(self) -> String {
        self.text
    }
}

/// Work spent in one render: operations against `EVAL_OPERATIONS_MAX`, and bytes of text
/// filters read or build against `EVAL_TEXT_BYTES_MAX` (each such string is capped on its own,
/// but a template could otherwise repeat one a thousand times).
#[derive(Default)]
pub(crate) struct Budget {
    operations: u64,
    text_bytes: usize,
}

impl Budget {
    pub(crate) fn charge(&mut self, operations: usize) -> Result<(), String> {
        let operations = u64::try_from(operations).unwrap_or(u64::MAX);
        self.operations = self.operations.saturating_add(operations);
        if self.operations > EVAL_OPERATIONS_MAX {
            return Err(format!(
                "evaluation exceeds EVAL_OPERATIONS_MAX ({EVAL_OPERATIONS_MAX} operations)"
            ));
        }
        Ok(())
    }

    pub(crate) fn charge_text(&mut self, bytes: usize) -> Result<(), String> {
        self.text_bytes = self.text_bytes.saturating_add(bytes);
        if self.text_bytes > EVAL_TEXT_BYTES_MAX {
            return Err(format!(
                "evaluation exceeds EVAL_TEXT_BYTES_MAX ({EVAL_TEXT_BYTES_MAX} bytes of text)"
            ));
        }
        Ok(())
    }
}
