//! Retry policies: how many attempts a step gets and how long to wait between them. The
//! wait is a pure function of the policy, the attempt and a seed taken from the run, so
//! replaying a run always computes the same waits.

use serde::{Deserialize, Serialize};

use crate::duration::{DurationError, DurationMs};

/// Most attempts a policy may allow.
pub const ATTEMPTS_MAX: u32 = 100;

/// A retry policy as workflows write it; every field optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetrySpec {
    pub max_attempts: Option<u32>,
    pub initial_interval: Option<String>,
    pub backoff_coefficient: Option<f64>,
    pub max_interval: Option<String>,
    /// Fraction of each wait, 0 to 1, by which it may be shortened at random.
    pub jitter: Option<f64>,
    /// Error codes that fail the step at once, whatever attempts remain.
    pub non_retryable: Option<Vec<String>>,
}

/// A checked retry policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_interval_ms: u64,
    pub backoff_coefficient: f64,
    pub max_interval_ms: u64,
    pub jitter: f64,
    pub non_retryable: Vec<String>,
}

impl Default for RetryPolicy {
    /// Three attempts, waiting 1 s then 2 s: enough to ride out a blip, short enough that a
    /// real failure surfaces quickly.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_interval_ms: 1000,
            backoff_coefficient: 2.0,
            max_interval_ms: 60_000,
            jitter: 0.0,
            non_retryable: Vec::new(),
        }
    }
}

/// What is wrong with a retry policy, per field.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryProblem {
    pub field: &'static str,
    pub message: String,
}

impl RetrySpec {
    pub fn check(&self) -> Result<RetryPolicy, Vec<RetryProblem>> {
        let defaults = RetryPolicy::default();
        let mut problems = Vec::new();
        let mut duration = |field: &'static str, text: &Option<String>, default: u64| match text {
            None => default,
            Some(text) => match DurationMs::parse(text) {
                Ok(d) => d.0,
                Err(DurationError { reason, .. }) => {
                    problems.push(RetryProblem {
                        field,
                        message: format!("bad duration {text:?}: {reason}"),
                    });
                    default
                }
            },
        };
        let initial_interval_ms = duration(
            "initialInterval",
            &self.initial_interval,
            defaults.initial_interval_ms,
        );
        let max_interval_ms = duration("maxInterval", &self.max_interval, defaults.max_interval_ms);
        let max_attempts = self.max_attempts.unwrap_or(defaults.max_attempts);
        if !(1..=ATTEMPTS_MAX).contains(&max_attempts) {
            problems.push(RetryProblem {
                field: "maxAttempts",
                message: format!("must be from 1 to {ATTEMPTS_MAX}, not {max_attempts}"),
            });
        }
        let backoff_coefficient = self
            .backoff_coefficient
            .unwrap_or(defaults.backoff_coefficient);
        if !(1.0..=100.0).contains(&backoff_coefficient) {
            problems.push(RetryProblem {
                field: "backoffCoefficient",
                message: format!("must be from 1 to 100, not {backoff_coefficient}"),
            });
        }
        let jitter = self.jitter.unwrap_or(defaults.jitter);
        if !(0.0..=1.0).contains(&jitter) {
            problems.push(RetryProblem {
                field: "jitter",
                message: format!("must be from 0 to 1, not {jitter}"),
            });
        }
        if max_interval_ms < initial_interval_ms {
            problems.push(RetryProblem {
                field: "maxInterval",
                message: "must not be shorter than initialInterval".into(),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(RetryPolicy {
            max_attempts,
            initial_interval_ms,
            backoff_coefficient,
            max_interval_ms,
            jitter,
            non_retryable: self.non_retryable.clone().unwrap_or_default(),
        })
    }
}

impl RetryPolicy {
    /// Whether a step that failed `attempt` (1-based) with `code` gets another attempt.
    pub fn retries(&self, attempt: u32, retryable: bool, code: Option<&str>) -> bool {
        let listed = code.is_some_and(|c| self.non_retryable.iter().any(|n| n == c));
        retryable && !listed && attempt < self.max_attempts
    }

    /// How long to wait after failed attempt `attempt` (1-based). `seed` comes from the run
    /// (its id and the step), so the same history always waits the same.
    pub fn wait_ms(&self, attempt: u32, seed: u64) -> u64 {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let raw = self.initial_interval_ms as f64 * self.backoff_coefficient.powi(exponent);
        let capped = raw.min(self.max_interval_ms as f64);
        // Shorten by up to `jitter` of the wait, by an amount fixed by the seed.
        let unit = (splitmix64(seed ^ u64::from(attempt)) >> 11) as f64 / (1u64 << 53) as f64;
        (capped * (1.0 - self.jitter * unit)).round() as u64
    }
}

/// A fixed, well-mixed hash of a seed (SplitMix64): the "randomness" of jitter.
pub fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_jitter_only_shortens() {
        let policy = RetrySpec {
            max_attempts: Some(10),
            initial_interval: Some("1s".into()),
            backoff_coefficient: Some(2.0),
            max_interval: Some("5s".into()),
            ..RetrySpec::default()
        }
        .check()
        .expect("valid");
        let waits: Vec<u64> = (1..=5).map(|a| policy.wait_ms(a, 42)).collect();
        assert_eq!(waits, vec![1000, 2000, 4000, 5000, 5000]);
        let jittery = RetryPolicy {
            jitter: 0.5,
            ..policy.clone()
        };
        for attempt in 1..=5 {
            let wait = jittery.wait_ms(attempt, 7);
            assert!(wait <= policy.wait_ms(attempt, 7) && wait >= policy.wait_ms(attempt, 7) / 2);
            assert_eq!(wait, jittery.wait_ms(attempt, 7), "same seed, same wait");
        }
    }

    #[test]
    fn bad_policies_name_every_bad_field() {
        let problems = RetrySpec {
            max_attempts: Some(0),
            initial_interval: Some("soon".into()),
            backoff_coefficient: Some(0.5),
            jitter: Some(2.0),
            ..RetrySpec::default()
        }
        .check()
        .expect_err("invalid");
        let fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            vec![
                "initialInterval",
                "maxAttempts",
                "backoffCoefficient",
                "jitter"
            ]
        );
    }

    #[test]
    fn non_retryable_codes_and_exhaustion_stop_retries() {
        let policy = RetryPolicy {
            non_retryable: vec!["CARD_DECLINED".into()],
            ..RetryPolicy::default()
        };
        assert!(policy.retries(1, true, Some("TIMEOUT")));
        assert!(!policy.retries(1, true, Some("CARD_DECLINED")));
        assert!(!policy.retries(1, false, None));
        assert!(!policy.retries(3, true, None));
    }
}
