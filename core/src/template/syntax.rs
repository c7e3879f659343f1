//! Parsing: a template string into literal text and `{{ expr }}` expressions.
//!
//! Grammar inside the braces (whitespace allowed between tokens, not inside a path):
//! `expr = operand ("|" name (":" operand ("," operand)*)?)*`, where an operand is a path
//! (`input.items.0.product`, `steps.calculate-total.output`), a number (`12`, `-3.5`), a
//! quoted string, `true`, `false` or `null`. The parser is a loop, not a recursion, so a long
//! template costs no stack. Filter names, arities and literal arguments are checked here so
//! that a workflow is rejected when it is defined, not when a run reaches the step.

use serde_json::Value;

use super::arith::Program;
use super::eval::number_value;
use super::filters::{self, FilterKind};
use super::{TemplateError, FILTERS_MAX, TEMPLATE_BYTES_MAX};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text { position: usize, text: String },
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr {
    /// Byte offset of the opening `{{`.
    pub position: usize,
    pub primary: Operand,
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Literal(Value),
    Path(Path),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    pub position: usize,
    pub segments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    pub kind: FilterKind,
    /// Byte offset of the filter's name.
    pub position: usize,
    pub args: Vec<Operand>,
    /// `map`'s arithmetic, compiled once here when its argument is a string literal.
    pub program: Option<Program>,
}

pub(crate) fn parse(source: &str) -> Result<Vec<Part>, TemplateError> {
    if source.len() > TEMPLATE_BYTES_MAX {
        let message = format!(
            "template is {} bytes, more than TEMPLATE_BYTES_MAX ({TEMPLATE_BYTES_MAX})",
            source.len()
        );
        return Err(TemplateError::new(TEMPLATE_BYTES_MAX, message));
    }
    let mut parts = Vec::new();
    let mut rest = 0;
    while let Some(found) = source[rest..].find("{{") {
        let open = rest + found;
        push_text(&mut parts, rest, &source[rest..open]);
        let mut cursor = Cursor {
            src: source,
            pos: open + 2,
            open,
        };
        parts.push(Part::Expr(cursor.expression()?));
        rest = cursor.pos;
    }
    push_text(&mut parts, rest, &source[rest..]);
    Ok(parts)
}

fn push_text(parts: &mut Vec<Part>, position: usize, text: &str) {
    if !text.is_empty() {
        let text = text.to_owned();
        parts.push(Part::Text { position, text });
    }
}

/// A byte that may appear in a name: letters, digits and `_` (ASCII only).
pub(crate) fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// A byte a path or field may start with.
pub(crate) fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

/// Length of the path segment at the start of `bytes`: name bytes, and `-` between two of them
/// (so step ids like `calculate-total` are one segment, while `a -b` is not).
fn segment_len(bytes: &[u8]) -> usize {
    let mut len = 0;
    while let Some(&byte) = bytes.get(len) {
        let joins = byte == b'-' && len > 0 && bytes.get(len + 1).is_some_and(|&b| is_name_byte(b));
        if !is_name_byte(byte) && !joins {
            break;
        }
        len += 1;
    }
    len
}

/// Scans a dotted path starting at `start` (which the caller saw begin with a name start).
/// Returns the segments and the end offset, or the offset of a `.` with no segment after it.
pub(crate) fn scan_path(src: &str, start: usize) -> Result<(Vec<String>, usize), usize> {
    let bytes = src.as_bytes();
    let mut segments = Vec::new();
    let mut pos = start;
    loop {
        let len = bytes.get(pos..).map_or(0, segment_len);
        if len == 0 {
            return Err(pos.saturating_sub(1));
        }
        segments.push(src[pos..pos + len].to_owned());
        pos += len;
        if bytes.get(pos) != Some(&b'.') {
            return Ok((segments, pos));
        }
        pos += 1;
    }
}

/// Length of the number at the start of `bytes`: `-?digits(.digits)?([eE][+-]?digits)?`, or 0.
pub(crate) fn number_len(bytes: &[u8]) -> usize {
    let digits = |from: usize| {
        let rest = bytes.get(from..).unwrap_or_default();
        from + rest.iter().take_while(|byte| byte.is_ascii_digit()).count()
    };
    let signed = usize::from(bytes.first() == Some(&b'-'));
    let mut end = digits(signed);
    if end == signed {
        return 0;
    }
    if bytes.get(end) == Some(&b'.') && digits(end + 1) > end + 1 {
        end = digits(end + 1);
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = end + 1 + usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        if digits(sign) > sign {
            end = digits(sign);
        }
    }
    end
}

/// Parses a number [`number_len`] found; `None` when it overflows f64.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|number| number.is_finite())
}

/// A byte range `(start, end)` in the template string.
pub(crate) type Span = (usize, usize);

/// Where the parser is inside one `{{ ... }}`.
struct Cursor<'s> {
    src: &'s str,
    pos: usize,
    /// Byte offset of the `{{` being parsed, for "unclosed" errors.
    open: usize,
}

impl Cursor<'_> {
    /// The source from the cursor on; the cursor only ever stops on ASCII, a char boundary.
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        let found = self.rest().starts_with(token);
        if found {
            self.pos += token.len();
        }
        found
    }

    fn expression(&mut self) -> Result<Expr, TemplateError> {
        self.skip_whitespace();
        let primary = self.operand()?;
        let mut filters = Vec::new();
        loop {
            self.skip_whitespace();
            if self.eat("}}") {
                let position = self.open;
                return Ok(Expr {
                    position,
                    primary,
                    filters,
                });
            }
            if !self.eat("|") {
                return Err(self.unexpected("`|` or `}}`"));
            }
            if filters.len() == FILTERS_MAX {
                let message = format!("more than FILTERS_MAX ({FILTERS_MAX}) filters");
                return Err(TemplateError::new(self.pos - 1, message));
            }
            filters.push(self.filter()?);
        }
    }

    fn operand(&mut self) -> Result<Operand, TemplateError> {
        match self.peek() {
            Some(quote @ (b'\'' | b'"')) => self.string(quote).map(Operand::Literal),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(byte) if is_name_start(byte) => self.path_or_keyword(),
            _ => Err(self.unexpected("a path or a literal")),
        }
    }

    fn path_or_keyword(&mut self) -> Result<Operand, TemplateError> {
        let position = self.pos;
        let (segments, end) = scan_path(self.src, position)
            .map_err(|dot| TemplateError::new(dot, "expected a path segment after `.`"))?;
        self.pos = end;
        let keyword = match segments.as_slice() {
            [word] if word == "true" => Some(Value::Bool(true)),
            [word] if word == "false" => Some(Value::Bool(false)),
            [word] if word == "null" => Some(Value::Null),
            _ => None,
        };
        Ok(keyword.map_or(Operand::Path(Path { position, segments }), Operand::Literal))
    }

    fn number(&mut self) -> Result<Operand, TemplateError> {
        let len = number_len(self.rest().as_bytes());
        if len == 0 {
            return Err(self.unexpected("a number"));
        }
        let text = self.rest().get(..len).unwrap_or_default();
        let value = parse_number(text).and_then(number_value).ok_or_else(|| {
            TemplateError::new(self.pos, format!("number `{text}` is out of range"))
        })?;
        self.pos += len;
        Ok(Operand::Literal(value))
    }

    /// A quoted string; `\'`, `\"`, `\\`, `\n` and `\t` are its only escapes.
    fn string(&mut self, quote: u8) -> Result<Value, TemplateError> {
        let start = self.pos;
        let unterminated = || TemplateError::new(start, "unterminated string");
        let mut text = String::new();
        let mut chars = self.src.get(start + 1..).unwrap_or_default().char_indices();
        while let Some((offset, character)) = chars.next() {
            match character {
                _ if character == char::from(quote) => {
                    self.pos = start + 1 + offset + 1;
                    return Ok(Value::String(text));
                }
                '\\' => text.push(match chars.next().ok_or_else(unterminated)?.1 {
                    escaped @ ('\'' | '"' | '\\') => escaped,
                    'n' => '\n',
                    't' => '\t',
                    other => {
                        let message =
                            format!("unknown escape `\\{other}` (use \\', \\\", \\\\, \\n or \\t)");
                        return Err(TemplateError::new(start + 1 + offset, message));
                    }
                }),
                _ => text.push(character),
            }
        }
        Err(unterminated())
    }

    fn filter(&mut self) -> Result<Filter, TemplateError> {
        self.skip_whitespace();
        let position = self.pos;
        let rest = self.rest().as_bytes();
        let len = match rest.first() {
            Some(&byte) if is_name_start(byte) => {
                rest.iter().take_while(|&&b| is_name_byte(b)).count()
            }
            _ => return Err(self.unexpected("a filter name")),
        };
        let name = self.rest().get(..len).unwrap_or_default();
        let kind = FilterKind::from_name(name)
            .ok_or_else(|| TemplateError::new(position, format!("unknown filter `{name}`")))?;
        self.pos += len;
        let (args, spans) = self.filter_args()?;
        filters::check_call(kind, position, &args, &spans)?;
        let program = self.map_program(kind, &args, &spans)?;
        Ok(Filter {
            kind,
            position,
            args,
            program,
        })
    }

    /// Parses `: arg, arg` if present; returns the arguments and their byte spans.
    fn filter_args(&mut self) -> Result<(Vec<Operand>, Vec<Span>), TemplateError> {
        let mut args = Vec::new();
        let mut spans = Vec::new();
        self.skip_whitespace();
        if !self.eat(":") {
            return Ok((args, spans));
        }
        loop {
            self.skip_whitespace();
            let start = self.pos;
            args.push(self.operand()?);
            spans.push((start, self.pos));
            self.skip_whitespace();
            if !self.eat(",") {
                return Ok((args, spans));
            }
        }
    }

    /// Compiles `map`'s literal argument now, so bad arithmetic is a parse error pointing
    /// inside the string.
    fn map_program(
        &self,
        kind: FilterKind,
        args: &[Operand],
        spans: &[Span],
    ) -> Result<Option<Program>, TemplateError> {
        if kind != FilterKind::Map {
            return Ok(None);
        }
        let (Some(Operand::Literal(Value::String(text))), Some(&(start, end))) =
            (args.first(), spans.first())
        else {
            return Ok(None);
        };
        Program::parse(text).map(Some).map_err(|error| {
            let raw = self.src.get(start + 1..end.saturating_sub(1)).unwrap_or("");
            let position = start + 1 + raw_offset(raw, error.offset);
            TemplateError::new(position, format!("in `map` expression: {}", error.message))
        })
    }

    /// An error for an unexpected token, or for a `{{` never closed when no `}}` follows.
    fn unexpected(&self, expected: &str) -> TemplateError {
        let rest = self.rest();
        match rest.chars().next() {
            Some(found) if rest.contains("}}") => {
                TemplateError::new(self.pos, format!("expected {expected}, found `{found}`"))
            }
            _ => TemplateError::new(self.open, "unclosed `{{`: expected `}}`"),
        }
    }
}

/// Maps an offset in a decoded string literal back to an offset in its source text, which
/// differs when escapes precede it.
fn raw_offset(raw: &str, decoded_offset: usize) -> usize {
    let mut decoded = 0;
    let mut chars = raw.char_indices();
    while let Some((offset, character)) = chars.next() {
        if decoded >= decoded_offset {
            return offset;
        }
        let produced = if character == '\\' {
            chars.next().map_or(0, |(_, escaped)| escaped.len_utf8())
        } else {
            character.len_utf8()
        };
        decoded += produced;
    }
    raw.len()
}
