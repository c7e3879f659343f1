//! A schedule trigger's config, as JSON says it and as checked.
//!
//! ```json
//! {"cron": "30 9 * * MON-FRI", "timezone": "Europe/London", "overlap": "skip",
//!  "catchup": {"window": "1h", "policy": "all"}, "jitter": "30s"}
//! {"interval": "15m"}
//! ```
//!
//! | field | values | default |
//! |---|---|---|
//! | `cron` | a cron expression (`super::cron`); exactly one of `cron` and `interval` | |
//! | `interval` | a duration ("15m", "1h30m"), whole seconds, at least 1s | |
//! | `timezone` | an IANA name ("Europe/London"); intervals ignore it | `"UTC"` |
//! | `overlap` | `"skip"`, `"buffer_one"`, `"allow_all"` | `"skip"` |
//! | `catchup` | `{"window": duration, "policy": "all" \| "latest"}` (each part optional), or just the policy as a string, or `true` (the defaults) or `false` (no catch-up) | window `"1h"`, policy `"all"` |
//! | `jitter` | a duration; `"0s"` or `null` for none | none |

use std::fmt::Write as _;

use chrono_tz::{Tz, TZ_VARIANTS};
use engine::definition::Problem;
use engine::duration::DurationMs;
use serde_json::{Map, Value};

use super::cron::Cron;

/// The catch-up window when the config names none: one hour.
pub const CATCHUP_WINDOW_DEFAULT: DurationMs = DurationMs(60 * 60 * 1000);

const FIELDS: [&str; 6] = [
    "cron", "interval", "timezone", "overlap", "catchup", "jitter",
];

/// A checked schedule config.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct ScheduleConfig {
    pub timing: Timing,
    /// Where cron expressions are read (intervals ignore it).
    pub timezone: Tz,
    pub overlap: Overlap,
    /// `None`: no catch-up; only ticks that are on time run (see `super::plan`).
    pub catchup: Option<Catchup>,
    /// Each run starts up to this much after its tick (see `super::jitter_offset`).
    pub jitter: Option<DurationMs>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Timing {
    Cron(Cron),
    /// Whole seconds, at least one.
    Interval(DurationMs),
}

/// What to do with a tick while earlier runs of the trigger are still going.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overlap {
    /// Skip the tick if a run is going (the default).
    #[default]
    Skip,
    /// Keep at most one tick waiting; skip beyond that.
    BufferOne,
    /// Always start.
    AllowAll,
}

impl Overlap {
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::BufferOne => "buffer_one",
            Overlap::AllowAll => "allow_all",
        }
    }
}

/// Which missed ticks inside the catch-up window run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CatchupPolicy {
    /// Every one, in order (the default).
    #[default]
    All,
    /// Only the latest; the others are skipped as superseded.
    Latest,
}

impl CatchupPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            CatchupPolicy::All => "all",
            CatchupPolicy::Latest => "latest",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Catchup {
    /// Missed ticks no older than this (measured from now) run; older ones are skipped.
    pub window: DurationMs,
    pub policy: CatchupPolicy,
}

impl Default for Catchup {
    fn default() -> Self {
        Catchup {
            window: CATCHUP_WINDOW_DEFAULT,
            policy: CatchupPolicy::All,
        }
    }
}

impl ScheduleConfig {
    /// Checks a trigger's `config` JSON. Every problem found is returned, each with its path
    /// from the trigger: `["config", "cron"]`, `["config", "catchup", "window"]`.
    pub fn parse(config: &Value) -> Result<ScheduleConfig, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |path: &[&str], message: String| {
            problems.push(Problem {
                path: std::iter::once("config")
                    .chain(path.iter().copied())
                    .map(str::to_owned)
                    .collect(),
                message,
            });
        };
        let Some(object) = config.as_object() else {
            problem(
                &[],
                format!(
                    "a schedule's config must be an object such as {{\"cron\": \"0 9 * * *\"}} \
                     or {{\"interval\": \"15m\"}}, not {}",
                    kind(config)
                ),
            );
            return Err(problems);
        };
        for key in object.keys() {
            if !FIELDS.contains(&key.as_str()) {
                problem(
                    &[key.as_str()],
                    format!(
                        "unknown field {key:?}; expected one of {}",
                        FIELDS.join(", ")
                    ),
                );
            }
        }

        let timing = match (object.get("cron"), object.get("interval")) {
            (Some(_), Some(_)) => {
                problem(
                    &[],
                    "give either \"cron\" or \"interval\", not both".to_owned(),
                );
                None
            }
            (None, None) => {
                problem(
                    &[],
                    "a schedule needs \"cron\" (e.g. \"0 9 * * *\") or \"interval\" (e.g. \"15m\")"
                        .to_owned(),
                );
                None
            }
            (Some(cron), None) => match cron.as_str() {
                None => {
                    problem(&["cron"], format!("must be a string, not {}", kind(cron)));
                    None
                }
                Some(text) => match Cron::parse(text) {
                    Ok(cron) => Some(Timing::Cron(cron)),
                    Err(error) => {
                        problem(&["cron"], error.0);
                        None
                    }
                },
            },
            (None, Some(interval)) => match duration(interval) {
                Err(message) => {
                    problem(&["interval"], message);
                    None
                }
                Ok(every) if every.0 < 1000 || every.0 % 1000 != 0 => {
                    problem(
                        &["interval"],
                        format!(
                            "must be a whole number of seconds, at least 1s, not {}",
                            format_duration(every)
                        ),
                    );
                    None
                }
                Ok(every) => Some(Timing::Interval(every)),
            },
        };

        let timezone = match object.get("timezone") {
            None | Some(Value::Null) => Some(Tz::UTC),
            Some(Value::String(name)) => match name.parse::<Tz>() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    let hint = TZ_VARIANTS
                        .iter()
                        .find(|tz| tz.name().eq_ignore_ascii_case(name))
                        .map(|tz| format!("did you mean {:?}?", tz.name()))
                        .unwrap_or_else(|| {
                            "use an IANA name such as \"Europe/London\", \"America/New_York\" \
                             or \"UTC\""
                                .to_owned()
                        });
                    problem(&["timezone"], format!("unknown time zone {name:?}; {hint}"));
                    None
                }
            },
            Some(other) => {
                problem(
                    &["timezone"],
                    format!("must be a string, not {}", kind(other)),
                );
                None
            }
        };

        let overlap = match object.get("overlap") {
            None | Some(Value::Null) => Some(Overlap::Skip),
            Some(value) => match value.as_str() {
                Some("skip") => Some(Overlap::Skip),
                Some("buffer_one") => Some(Overlap::BufferOne),
                Some("allow_all") => Some(Overlap::AllowAll),
                _ => {
                    problem(
                        &["overlap"],
                        format!("must be \"skip\", \"buffer_one\" or \"allow_all\", not {value}"),
                    );
                    None
                }
            },
        };

        let catchup = match object.get("catchup") {
            None | Some(Value::Null) | Some(Value::Bool(true)) => Some(Some(Catchup::default())),
            Some(Value::Bool(false)) => Some(None),
            Some(Value::String(text)) => match policy(text) {
                Some(policy) => Some(Some(Catchup {
                    policy,
                    ..Catchup::default()
                })),
                None => {
                    problem(
                        &["catchup"],
                        format!("policy must be \"all\" or \"latest\", not {text:?}"),
                    );
                    None
                }
            },
            Some(Value::Object(parts)) => catchup_object(parts, &mut problem).map(Some),
            Some(other) => {
                problem(
                    &["catchup"],
                    format!(
                        "must be {{\"window\": \"1h\", \"policy\": \"all\" | \"latest\"}}, \
                         a policy, true or false, not {}",
                        kind(other)
                    ),
                );
                None
            }
        };

        let jitter = match object.get("jitter") {
            None | Some(Value::Null) => Some(None),
            Some(value) => match duration(value) {
                Ok(DurationMs(0)) => Some(None),
                Ok(jitter) => Some(Some(jitter)),
                Err(message) => {
                    problem(&["jitter"], message);
                    None
                }
            },
        };

        match (timing, timezone, overlap, catchup, jitter) {
            (Some(timing), Some(timezone), Some(overlap), Some(catchup), Some(jitter))
                if problems.is_empty() =>
            {
                Ok(ScheduleConfig {
                    timing,
                    timezone,
                    overlap,
                    catchup,
                    jitter,
                })
            }
            _ => Err(problems),
        }
    }

    /// The config as canonical JSON (every field spelled out; durations as "1h30m").
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        match &self.timing {
            Timing::Cron(cron) => object.insert("cron".into(), cron.as_str().into()),
            Timing::Interval(every) => {
                object.insert("interval".into(), format_duration(*every).into())
            }
        };
        object.insert("timezone".into(), self.timezone.name().into());
        object.insert("overlap".into(), self.overlap.as_str().into());
        let catchup = match self.catchup {
            None => Value::Bool(false),
            Some(catchup) => serde_json::json!({
                "window": format_duration(catchup.window),
                "policy": catchup.policy.as_str(),
            }),
        };
        object.insert("catchup".into(), catchup);
        if let Some(jitter) = self.jitter {
            object.insert("jitter".into(), format_duration(jitter).into());
        }
        Value::Object(object)
    }
}

impl TryFrom<Value> for ScheduleConfig {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        ScheduleConfig::parse(&value).map_err(|problems| {
            problems
                .iter()
                .map(|p| format!("{}: {}", p.path.join("."), p.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl From<ScheduleConfig> for Value {
    fn from(config: ScheduleConfig) -> Value {
        config.to_json()
    }
}

fn catchup_object(
    parts: &Map<String, Value>,
    problem: &mut impl FnMut(&[&str], String),
) -> Option<Catchup> {
    let mut catchup = Some(Catchup::default());
    for key in parts.keys() {
        if key != "window" && key != "policy" {
            problem(
                &["catchup", key.as_str()],
                format!("unknown field {key:?}; expected window, policy"),
            );
            catchup = None;
        }
    }
    match parts.get("window") {
        None | Some(Value::Null) => {}
        Some(value) => match duration(value) {
            Ok(window) => {
                if let Some(c) = catchup.as_mut() {
                    c.window = window;
                }
            }
            Err(message) => {
                problem(&["catchup", "window"], message);
                catchup = None;
            }
        },
    }
    match parts.get("policy") {
        None | Some(Value::Null) => {}
        Some(value) => match value.as_str().and_then(policy) {
            Some(policy) => {
                if let Some(c) = catchup.as_mut() {
                    c.policy = policy;
                }
            }
            None => {
                problem(
                    &["catchup", "policy"],
                    format!("must be \"all\" or \"latest\", not {value}"),
                );
                catchup = None;
            }
        },
    }
    catchup
}

fn policy(text: &str) -> Option<CatchupPolicy> {
    match text {
        "all" => Some(CatchupPolicy::All),
        "latest" => Some(CatchupPolicy::Latest),
        _ => None,
    }
}

fn duration(value: &Value) -> Result<DurationMs, String> {
    match value.as_str() {
        Some(text) => DurationMs::parse(text).map_err(|error| error.to_string()),
        None => Err(format!(
            "must be a duration string such as \"30s\" or \"1h\", not {}",
            kind(value)
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A duration as the parser reads it back: "1h30m", "500ms", "0s".
pub fn format_duration(duration: DurationMs) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    if duration.0 == 0 {
        return "0s".to_owned();
    }
    let mut rest = duration.0;
    let mut text = String::new();
    for (unit, ms) in UNITS {
        if rest >= ms {
            let _ = write!(text, "{}{unit}", rest / ms);
            rest %= ms;
        }
    }
    text
}
