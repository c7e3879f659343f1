//! Filters: `| name` and `| name: arg, ...` after an expression.
//!
//! Each filter has a signature (how many arguments, of which kind). Literal arguments are
//! checked against it when the template is parsed; arguments read from paths when it renders.
//! Filters are strict about their input type (unlike Liquid, `sum` of a missing list is an
//! error, not 0) because a silently wrong total in a workflow is worse than a failed step;
//! `default` is the one filter that exists to accept anything.

use std::borrow::Cow;

use serde_json::Value;

use super::arith::Program;
use super::eval::{json_text, kind_name, lookup, number_value, too_long, Budget, Text, NULL};
use super::syntax::{Filter, Operand, Span};
use super::{TemplateError, ITEMS_MAX, RENDERED_BYTES_MAX, ROUND_DIGITS_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterKind {
    Map,
    Sum,
    Times,
    Plus,
    Minus,
    DividedBy,
    Round,
    Default,
    Size,
    First,
    Last,
    Join,
    Upcase,
    Downcase,
    Json,
    UrlEncode,
    Escape,
    /// Leaves a value unescaped where the template is HTML (an email's `body.html`).
    Raw,
}

/// What a filter argument must be.
#[derive(Debug, Clone, Copy)]
enum ArgKind {
    Number,
    Text,
    /// `round`'s digit count: a whole number from 0 to `ROUND_DIGITS_MAX`.
    Digits,
    Any,
}

impl FilterKind {
    const ALL: [FilterKind; 18] = [
        FilterKind::Map,
        FilterKind::Sum,
        FilterKind::Times,
        FilterKind::Plus,
        FilterKind::Minus,
        FilterKind::DividedBy,
        FilterKind::Round,
        FilterKind::Default,
        FilterKind::Size,
        FilterKind::First,
        FilterKind::Last,
        FilterKind::Join,
        FilterKind::Upcase,
        FilterKind::Downcase,
        FilterKind::Json,
        FilterKind::UrlEncode,
        FilterKind::Escape,
        FilterKind::Raw,
    ];

    pub(crate) fn from_name(name: &str) -> Option<FilterKind> {
        FilterKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            FilterKind::Map => "map",
            FilterKind::Sum => "sum",
            FilterKind::Times => "times",
            FilterKind::Plus => "plus",
            FilterKind::Minus => "minus",
            FilterKind::DividedBy => "divided_by",
            FilterKind::Round => "round",
            FilterKind::Default => "default",
            FilterKind::Size => "size",
            FilterKind::First => "first",
            FilterKind::Last => "last",
            FilterKind::Join => "join",
            FilterKind::Upcase => "upcase",
            FilterKind::Downcase => "downcase",
            FilterKind::Json => "json",
            FilterKind::UrlEncode => "url_encode",
            FilterKind::Escape => "escape",
            FilterKind::Raw => "raw",
        }
    }

    /// How many arguments are required, and the kinds of all parameters (optional ones last).
    fn signature(self) -> (usize, &'static [ArgKind]) {
        match self {
            FilterKind::Map => (1, &[ArgKind::Text]),
            FilterKind::Times | FilterKind::Plus | FilterKind::Minus | FilterKind::DividedBy => {
                (1, &[ArgKind::Number])
            }
            FilterKind::Round => (0, &[ArgKind::Digits]),
            FilterKind::Default => (1, &[ArgKind::Any]),
            FilterKind::Join => (0, &[ArgKind::Text]),
            FilterKind::Sum
            | FilterKind::Size
            | FilterKind::First
            | FilterKind::Last
            | FilterKind::Upcase
            | FilterKind::Downcase
            | FilterKind::Json
            | FilterKind::UrlEncode
            | FilterKind::Escape
            | FilterKind::Raw => (0, &[]),
        }
    }
}

/// Parse-time check of a call: arity, and the kinds of its literal arguments. `spans` are the
/// arguments' byte ranges, so an error points at the argument at fault.
pub(crate) fn check_call(
    kind: FilterKind,
    position: usize,
    args: &[Operand],
    spans: &[Span],
) -> Result<(), TemplateError> {
    let (required, params) = kind.signature();
    if args.len() < required || args.len() > params.len() {
        let takes = arity(required, params.len());
        let message = format!("filter `{}` takes {takes}, got {}", kind.name(), args.len());
        return Err(TemplateError::new(position, message));
    }
    let literals = args.iter().zip(params).zip(spans).enumerate();
    for (index, ((arg, param), &(start, _))) in literals {
        if let Operand::Literal(value) = arg {
            check_arg(*param, value).map_err(|message| {
                let message = format!(
                    "filter `{}`: argument {}: {message}",
                    kind.name(),
                    index + 1
                );
                TemplateError::new(start, message)
            })?;
        }
    }
    Ok(())
}

fn arity(required: usize, max: usize) -> String {
    match (required, max) {
        (0, 0) => "no arguments".to_owned(),
        (1, 1) => "1 argument".to_owned(),
        (required, max) if required == max => format!("{required} arguments"),
        (required, max) => format!("{required} to {max} arguments"),
    }
}

fn check_arg(kind: ArgKind, value: &Value) -> Result<(), String> {
    let expected = match kind {
        ArgKind::Any => return Ok(()),
        ArgKind::Number if value.is_number() => return Ok(()),
        ArgKind::Text if value.is_string() => return Ok(()),
        ArgKind::Digits if value.as_f64().is_some_and(is_digit_count) => return Ok(()),
        ArgKind::Number => "a number",
        ArgKind::Text => "a string",
        ArgKind::Digits => {
            let message = format!("expected a whole number from 0 to {ROUND_DIGITS_MAX}");
            return Err(format!("{message}, got {value}"));
        }
    };
    Err(format!("expected {expected}, got {}", kind_name(value)))
}

fn is_digit_count(digits: f64) -> bool {
    digits.fract() == 0.0 && (0.0..=f64::from(ROUND_DIGITS_MAX)).contains(&digits)
}

/// Applies `filter` to `input`; errors name the filter and point at it.
pub(crate) fn apply<'a>(
    filter: &'a Filter,
    input: Cow<'a, Value>,
    args: Vec<Cow<'a, Value>>,
    budget: &mut Budget,
) -> Result<Cow<'a, Value>, TemplateError> {
    run(filter, input, args, budget).map_err(|message| {
        let message = format!("filter `{}`: {message}", filter.kind.name());
        TemplateError::new(filter.position, message)
    })
}

fn run<'a>(
    filter: &'a Filter,
    input: Cow<'a, Value>,
    args: Vec<Cow<'a, Value>>,
    budget: &mut Budget,
) -> Result<Cow<'a, Value>, String> {
    budget.charge(1)?;
    let (_, params) = filter.kind.signature();
    for (index, (arg, param)) in args.iter().zip(params).enumerate() {
        check_arg(*param, arg).map_err(|message| format!("argument {}: {message}", index + 1))?;
    }
    let arg = args.first().map(AsRef::as_ref);
    let output = match filter.kind {
        FilterKind::Map => map(filter, &input, arg, budget)?,
        FilterKind::Sum => sum(&input, budget)?,
        FilterKind::Times => arithmetic(&input, arg, |left, right| Ok(left * right))?,
        FilterKind::Plus => arithmetic(&input, arg, |left, right| Ok(left + right))?,
        FilterKind::Minus => arithmetic(&input, arg, |left, right| Ok(left - right))?,
        FilterKind::DividedBy => arithmetic(&input, arg, divide)?,
        FilterKind::Round => round(&input, arg)?,
        FilterKind::Default => return Ok(default(input, args)),
        FilterKind::Size => size(&input, budget)?,
        FilterKind::First => return element(input, End::First),
        FilterKind::Last => return element(input, End::Last),
        FilterKind::Join => join(&input, arg, budget)?,
        FilterKind::Upcase => change_case(&input, str::to_uppercase, budget)?,
        FilterKind::Downcase => change_case(&input, str::to_lowercase, budget)?,
        FilterKind::Json => json(&input, budget)?,
        FilterKind::UrlEncode => change_text(&input, url_encode, budget)?,
        FilterKind::Escape => change_text(&input, escape_html, budget)?,
        FilterKind::Raw => return Ok(input),
    };
    Ok(Cow::Owned(output))
}

/// `map: 'field'` collects a field; `map: 'quantity * price'` computes per item.
fn map(
    filter: &Filter,
    input: &Value,
    expression: Option<&Value>,
    budget: &mut Budget,
) -> Result<Value, String> {
    let items = items(input, budget)?;
    let compiled;
    let program = match &filter.program {
        Some(program) => program,
        None => {
            // The argument came from a path, so it is compiled only now.
            let text = expression.and_then(Value::as_str).unwrap_or_default();
            compiled = Program::parse(text).map_err(|error| {
                let at = error.offset;
                format!("expression {text:?}: {} (at offset {at})", error.message)
            })?;
            &compiled
        }
    };
    budget.charge(items.len().saturating_mul(program.cost()))?;
    if let Some(field) = program.as_field() {
        let values = items
            .iter()
            .map(|item| lookup(item, field).cloned().unwrap_or_default());
        return Ok(Value::Array(values.collect()));
    }
    let numbers = items.iter().enumerate().map(|(index, item)| {
        let number = program
            .eval(item)
            .map_err(|message| format!("item {index}: {message}"))?;
        finite(number).map_err(|message| format!("item {index}: {message}"))
    });
    numbers.collect::<Result<Vec<_>, _>>().map(Value::Array)
}

fn sum(input: &Value, budget: &mut Budget) -> Result<Value, String> {
    let mut total = 0.0;
    for (index, item) in items(input, budget)?.iter().enumerate() {
        let number = item
            .as_f64()
            .ok_or_else(|| format!("item {index} is {}, not a number", kind_name(item)))?;
        total += number;
    }
    finite(total)
}

fn arithmetic(
    input: &Value,
    operand: Option<&Value>,
    operation: fn(f64, f64) -> Result<f64, String>,
) -> Result<Value, String> {
    let left = number_input(input)?;
    let right = operand
        .and_then(Value::as_f64)
        .ok_or_else(|| "missing argument".to_owned())?;
    finite(operation(left, right)?)
}

fn divide(dividend: f64, divisor: f64) -> Result<f64, String> {
    if divisor == 0.0 {
        return Err("division by zero".to_owned());
    }
    Ok(dividend / divisor)
}

/// Rounds half away from zero, to `digits` decimals (0 when absent).
fn round(input: &Value, digits: Option<&Value>) -> Result<Value, String> {
    let number = number_input(input)?;
    let digits = digits.and_then(Value::as_f64).unwrap_or(0.0);
    // `digits` was checked to be a whole number in 0..=ROUND_DIGITS_MAX, so the cast is exact.
    let factor = 10f64.powi(digits as i32);
    let scaled = number * factor;
    // A number too large to scale has no fractional digits left to round.
    let rounded = if scaled.is_finite() {
        scaled.round() / factor
    } else {
        number
    };
    finite(rounded)
}

/// The argument when the input is null, false or the empty string; otherwise the input.
fn default<'a>(input: Cow<'a, Value>, args: Vec<Cow<'a, Value>>) -> Cow<'a, Value> {
    let empty =
        matches!(input.as_ref(), Value::Null | Value::Bool(false)) || input.as_str() == Some("");
    match args.into_iter().next() {
        Some(fallback) if empty => fallback,
        _ => input,
    }
}

fn size(input: &Value, budget: &mut Budget) -> Result<Value, String> {
    let size = match input {
        Value::Array(items) => items.len(),
        Value::Object(fields) => fields.len(),
        Value::String(text) => {
            budget.charge_text(text.len())?;
            text.chars().count()
        }
        other => {
            let found = kind_name(other);
            return Err(format!(
                "expects an array, an object or a string, got {found}"
            ));
        }
    };
    Ok(Value::from(size))
}

enum End {
    First,
    Last,
}

/// The first or last item of an array (null when empty), borrowed when the array is.
fn element(input: Cow<'_, Value>, end: End) -> Result<Cow<'_, Value>, String> {
    match input {
        Cow::Borrowed(value) => {
            let items = array(value)?;
            let item = match end {
                End::First => items.first(),
                End::Last => items.last(),
            };
            Ok(Cow::Borrowed(item.unwrap_or(&NULL)))
        }
        Cow::Owned(Value::Array(mut items)) => {
            let item = match end {
                End::First => items.drain(..).next(),
                End::Last => items.pop(),
            };
            Ok(Cow::Owned(item.unwrap_or_default()))
        }
        Cow::Owned(other) => array(&other).map(|_| Cow::Owned(Value::Null)),
    }
}

/// Items rendered as text, separated by the argument (a space when absent).
fn join(input: &Value, separator: Option<&Value>, budget: &mut Budget) -> Result<Value, String> {
    let separator = separator.and_then(Value::as_str).unwrap_or(" ");
    let mut text = Text::default();
    for (index, item) in items(input, budget)?.iter().enumerate() {
        if index > 0 {
            text.push_str(separator)?;
        }
        text.push_value(item)?;
    }
    let text = text.into_string();
    budget.charge_text(text.len())?;
    Ok(Value::String(text))
}

fn json(input: &Value, budget: &mut Budget) -> Result<Value, String> {
    let text = json_text(input, RENDERED_BYTES_MAX)?;
    budget.charge_text(text.len())?;
    Ok(Value::String(text))
}

/// A string, number or boolean as text changed by `change` (`url_encode`, `escape`).
fn change_text(
    input: &Value,
    change: fn(&str) -> String,
    budget: &mut Budget,
) -> Result<Value, String> {
    let text = match input {
        Value::String(text) => text.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => return Err(format!("expects a string, got {}", kind_name(other))),
    };
    change_case(&Value::String(text), change, budget)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value is one path
/// segment or query value whatever it holds (`/`, `?`, `..` included).
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Escapes the five characters that matter in HTML text and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn change_case(
    input: &Value,
    change: fn(&str) -> String,
    budget: &mut Budget,
) -> Result<Value, String> {
    let text = input
        .as_str()
        .ok_or_else(|| format!("expects a string, got {}", kind_name(input)))?;
    budget.charge_text(text.len())?;
    let changed = change(text);
    if changed.len() > RENDERED_BYTES_MAX {
        return Err(too_long());
    }
    Ok(Value::String(changed))
}

fn array(input: &Value) -> Result<&Vec<Value>, String> {
    input
        .as_array()
        .ok_or_else(|| format!("expects an array, got {}", kind_name(input)))
}

/// The items of an array input, within `ITEMS_MAX`, charged to the budget.
fn items<'v>(input: &'v Value, budget: &mut Budget) -> Result<&'v [Value], String> {
    let items = array(input)?;
    if items.len() > ITEMS_MAX {
        let count = items.len();
        return Err(format!("{count} items, more than ITEMS_MAX ({ITEMS_MAX})"));
    }
    budget.charge(items.len())?;
    Ok(items)
}

fn number_input(input: &Value) -> Result<f64, String> {
    input
        .as_f64()
        .ok_or_else(|| format!("expects a number, got {}", kind_name(input)))
}

fn finite(number: f64) -> Result<Value, String> {
    number_value(number).ok_or_else(|| "result is not a finite number".to_owned())
}
