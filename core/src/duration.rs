//! Durations as workflows write them: "500ms", "1s", "2h30m", "1d". Units: ms, s, m, h, d;
//! parts in descending order, each unit at most once.

use std::fmt;

/// The longest duration a workflow may name (a delay, a timeout, a retry interval).
pub const DURATION_MS_MAX: u64 = 366 * 24 * 60 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationMs(pub u64);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad duration {text:?}: {reason} (write e.g. \"500ms\", \"30s\", \"2h30m\", \"1d\")")]
pub struct DurationError {
    pub text: String,
    pub reason: String,
}

const UNITS: [(&str, u64); 5] = [
    ("d", 24 * 60 * 60 * 1000),
    ("h", 60 * 60 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl DurationMs {
    pub fn parse(text: &str) -> Result<DurationMs, DurationError> {
        let error = |reason: &str| DurationError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(error("it is empty"));
        }
        let mut total: u64 = 0;
        // Index into UNITS of the last unit used: units must come largest first.
        let mut last_unit: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(error("expected a number"));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| error("the number is too large"))?;
            rest = &rest[digits..];
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..letters];
            rest = &rest[letters..];
            let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
                return Err(error(if unit.is_empty() {
                    "a number needs a unit (ms, s, m, h or d)"
                } else {
                    "unknown unit; use ms, s, m, h or d"
                }));
            };
            if last_unit.is_some_and(|last| index <= last) {
                return Err(error("units must go from largest to smallest, each once"));
            }
            last_unit = Some(index);
            total = number
                .checked_mul(UNITS[index].1)
                .and_then(|ms| total.checked_add(ms))
                .ok_or_else(|| error("it is too long"))?;
        }
        if total > DURATION_MS_MAX {
            return Err(error("it is longer than 366 days"));
        }
        Ok(DurationMs(total))
    }
}

impl fmt::Display for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_workflows_write_them() {
        let ok = [
            ("500ms", 500),
            ("1s", 1000),
            ("2h30m", 9_000_000),
            ("1d", 86_400_000),
            ("1m30s250ms", 90_250),
            ("0s", 0),
        ];
        for (text, ms) in ok {
            assert_eq!(DurationMs::parse(text), Ok(DurationMs(ms)), "{text}");
        }
        let bad = [
            ("", "empty"),
            ("10", "needs a unit"),
            ("5x", "unknown unit"),
            ("30m2h", "largest to smallest"),
            ("1s1s", "largest to smallest"),
            ("s", "expected a number"),
            ("400d", "366 days"),
            ("99999999999999999999s", "too large"),
        ];
        for (text, reason) in bad {
            let error = DurationMs::parse(text).expect_err(text);
            assert!(error.to_string().contains(reason), "{text}: {error}");
        }
    }
}
