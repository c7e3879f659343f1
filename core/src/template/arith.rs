//! The arithmetic of `map: '...'`: `+ - * /`, parentheses, unary minus, numbers and fields of
//! the item (`quantity`, `dims.width`, `sizes.0`).
//!
//! As in template paths, a `-` between two name characters belongs to the name (`unit-price`
//! is one field); write `a - b` to subtract. Expressions compile to postfix operations and are
//! evaluated with an explicit stack, so neither evaluation nor dropping a long expression
//! recurses; only parsing recurses, and only as deep as `ARITH_DEPTH_MAX`.

use serde_json::Value;

use super::eval::{kind_name, lookup};
use super::syntax::{is_name_start, number_len, parse_number, scan_path};
use super::{ARITH_DEPTH_MAX, ARITH_OPS_MAX};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Number(f64),
    Field(Vec<String>),
    Negate,
    Add,
    Subtract,
    Multiply,
    Divide,
}

/// A compiled arithmetic expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Program {
    ops: Vec<Op>,
}

/// A syntax error, at a byte offset in the expression's text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArithError {
    pub offset: usize,
    pub message: String,
}

impl Program {
    pub(crate) fn parse(source: &str) -> Result<Program, ArithError> {
        let mut parser = Parser {
            src: source,
            pos: 0,
            depth: 0,
            ops: Vec::new(),
        };
        parser.sum()?;
        parser.skip_whitespace();
        if parser.pos < source.len() {
            return Err(parser.unexpected("an operator"));
        }
        Ok(Program { ops: parser.ops })
    }

    /// The field path when the whole expression is one field: `map` then returns the field's
    /// value as it is (any JSON, null when missing) rather than a number.
    pub(crate) fn as_field(&self) -> Option<&[String]> {
        match self.ops.as_slice() {
            [Op::Field(path)] => Some(path),
            _ => None,
        }
    }

    /// Operations one evaluation performs, for the render's budget.
    pub(crate) fn cost(&self) -> usize {
        self.ops.len()
    }

    /// Evaluates against one item; fields must be numbers.
    pub(crate) fn eval(&self, item: &Value) -> Result<f64, String> {
        let mut stack: Vec<f64> = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let value = match op {
                Op::Number(number) => *number,
                Op::Field(path) => field(item, path)?,
                Op::Negate => -pop(&mut stack)?,
                Op::Add | Op::Subtract | Op::Multiply | Op::Divide => {
                    let right = pop(&mut stack)?;
                    let left = pop(&mut stack)?;
                    binary(op, left, right)?
                }
            };
            stack.push(value);
        }
        let result = pop(&mut stack)?;
        if !result.is_finite() {
            return Err("result is not a finite number".to_owned());
        }
        Ok(result)
    }
}

fn field(item: &Value, path: &[String]) -> Result<f64, String> {
    let value = lookup(item, path);
    value.and_then(Value::as_f64).ok_or_else(|| {
        let found = value.map_or("missing", kind_name);
        format!("field `{}` is {found}, not a number", path.join("."))
    })
}

fn binary(op: &Op, left: f64, right: f64) -> Result<f64, String> {
    Ok(match op {
        Op::Add => left + right,
        Op::Subtract => left - right,
        Op::Multiply => left * right,
        Op::Divide if right == 0.0 => return Err("division by zero".to_owned()),
        _ => left / right,
    })
}

/// The parser emits well-formed postfix, so the stack never runs dry; the error keeps that an
/// error rather than a panic.
fn pop(stack: &mut Vec<f64>) -> Result<f64, String> {
    stack
        .pop()
        .ok_or_else(|| "malformed arithmetic expression".to_owned())
}

/// Recursive descent, emitting postfix operations as it goes.
struct Parser<'s> {
    src: &'s str,
    pos: usize,
    depth: usize,
    ops: Vec<Op>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// `product (("+" | "-") product)*`
    fn sum(&mut self) -> Result<(), ArithError> {
        self.product()?;
        loop {
            self.skip_whitespace();
            let op = match self.peek() {
                Some(b'+') => Op::Add,
                Some(b'-') => Op::Subtract,
                _ => return Ok(()),
            };
            self.pos += 1;
            self.product()?;
            self.emit(op)?;
        }
    }

    /// `unary (("*" | "/") unary)*`
    fn product(&mut self) -> Result<(), ArithError> {
        self.unary()?;
        loop {
            self.skip_whitespace();
            let op = match self.peek() {
                Some(b'*') => Op::Multiply,
                Some(b'/') => Op::Divide,
                _ => return Ok(()),
            };
            self.pos += 1;
            self.unary()?;
            self.emit(op)?;
        }
    }

    /// `"-" unary | "(" sum ")" | number | field`
    fn unary(&mut self) -> Result<(), ArithError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'-') => self.nested(Self::negation),
            Some(b'(') => self.nested(Self::parenthesized),
            Some(byte) if byte.is_ascii_digit() => self.number(),
            Some(byte) if is_name_start(byte) => self.field(),
            _ => Err(self.unexpected("a number, a field name or `(`")),
        }
    }

    fn negation(&mut self) -> Result<(), ArithError> {
        self.pos += 1;
        self.unary()?;
        self.emit(Op::Negate)
    }

    fn parenthesized(&mut self) -> Result<(), ArithError> {
        let open = self.pos;
        self.pos += 1;
        self.sum()?;
        self.skip_whitespace();
        if self.peek() != Some(b')') {
            let message = format!("expected `)` to close the `(` at offset {open}");
            return Err(self.error(message));
        }
        self.pos += 1;
        Ok(())
    }

    fn number(&mut self) -> Result<(), ArithError> {
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let len = number_len(rest.as_bytes());
        let text = rest.get(..len).unwrap_or_default();
        let number = parse_number(text)
            .ok_or_else(|| self.error(format!("number `{text}` is out of range")))?;
        self.pos += len;
        self.emit(Op::Number(number))
    }

    fn field(&mut self) -> Result<(), ArithError> {
        let (path, end) = scan_path(self.src, self.pos).map_err(|dot| ArithError {
            offset: dot,
            message: "expected a field name after `.`".to_owned(),
        })?;
        self.pos = end;
        self.emit(Op::Field(path))
    }

    /// Runs `parse` (of a `-` or `(` at the cursor) one level deeper, refusing to go past
    /// `ARITH_DEPTH_MAX`; the error points at the operator that is one too deep.
    fn nested(&mut self, parse: fn(&mut Self) -> Result<(), ArithError>) -> Result<(), ArithError> {
        if self.depth == ARITH_DEPTH_MAX {
            let message = format!("nested deeper than ARITH_DEPTH_MAX ({ARITH_DEPTH_MAX})");
            return Err(self.error(message));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn emit(&mut self, op: Op) -> Result<(), ArithError> {
        if self.ops.len() == ARITH_OPS_MAX {
            let message = format!("more than ARITH_OPS_MAX ({ARITH_OPS_MAX}) operations");
            return Err(self.error(message));
        }
        self.ops.push(op);
        Ok(())
    }

    fn unexpected(&self, expected: &str) -> ArithError {
        let found = self
            .src
            .get(self.pos..)
            .and_then(|rest| rest.chars().next());
        self.error(match found {
            Some(found) => format!("expected {expected}, found `{found}`"),
            None => format!("expected {expected}, found the end"),
        })
    }

    fn error(&self, message: String) -> ArithError {
        ArithError {
            offset: self.pos,
            message,
        }
    }
}
