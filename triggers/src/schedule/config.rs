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
//! | `startTime` | a local date and time in `timezone` or an RFC 3339 instant; nothing ticks before it (`super::start`) | none |
//! | `recurrence` | instead of `cron` / `interval`: `"hourly"`, `"daily"`, `"weekly"` (these need `startTime`) or `{"cron": "..."}` | |

use std::fmt::Write as _;

use chrono_tz::{Tz, TZ_VARIANTS};
use engine::definition::Problem;
use engine::duration::DurationMs;
use serde_json::{Map, Value};

use super::cron::Cron;
use super::start::{repeating_cron, Recurrence, StartTime};

/// The catch-up window when the config names none: one hour.
pub const CATCHUP_WINDOW_DEFAULT: DurationMs = DurationMs(60 * 60 * 1000);

const FIELDS: [&str; 8] = [
    "cron",
    "interval",
    "timezone",
    "overlap",
    "catchup",
    "jitter",
    "startTime",
    "recurrence",
];

/// The fields that say when a schedule ticks: exactly one is given.
const TIMING_FIELDS: [&str; 3] = ["cron", "interval", "recurrence"];

/// One hour, the period of the `hourly` recurrence.
const HOUR: DurationMs = DurationMs(60 * 60 * 1000);

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
    /// No tick before it; intervals and recurrences count from it (see `super::next_tick`).
    pub start: Option<StartTime>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Timing {
    Cron(Cron),
    /// Whole seconds, at least one.
    Interval(DurationMs),
    /// `recurrence: "hourly"`: every hour of elapsed time from the start time.
    Hourly,
    /// `recurrence: "daily"`: the start's local time every day, as the cron built from it.
    Daily(Cron),
    /// `recurrence: "weekly"`: the start's weekday and local time, as the cron built from it.
    Weekly(Cron),
}

impl Timing {
    /// An interval's period (`hourly` is one hour); None for cron-like timings.
    pub fn period(&self) -> Option<DurationMs> {
        match self {
            Timing::Interval(every) => Some(*every),
            Timing::Hourly => Some(HOUR),
            Timing::Cron(_) | Timing::Daily(_) | Timing::Weekly(_) => None,
        }
    }
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

        let given: Vec<&str> = TIMING_FIELDS
            .into_iter()
            .filter(|field| object.contains_key(*field))
            .collect();
        let given = match given.as_slice() {
            [] => {
                problem(
                    &[],
                    "a schedule needs \"cron\" (e.g. \"0 9 * * *\"), \"interval\" (e.g. \"15m\") \
                     or \"recurrence\" (\"hourly\", \"daily\", \"weekly\" with a \"startTime\")"
                        .to_owned(),
                );
                None
            }
            [one] => {
                let value = &object[*one];
                match *one {
                    "cron" => cron_field(value, &mut problem).map(Given::Cron),
                    "interval" => interval_field(value, &mut problem).map(Given::Interval),
                    _ => match Recurrence::parse(value) {
                        Ok(recurrence) => Some(Given::Recurrence(recurrence)),
                        Err((below, message)) => {
                            let path: Vec<&str> =
                                std::iter::once("recurrence").chain(below).collect();
                            problem(&path, message);
                            None
                        }
                    },
                }
            }
            [first, second] => {
                problem(
                    &[],
                    format!("give either {first:?} or {second:?}, not both"),
                );
                None
            }
            _ => {
                problem(
                    &[],
                    "give one of \"cron\", \"interval\" and \"recurrence\", not all three"
                        .to_owned(),
                );
                None
            }
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

        // With a bad time zone the start time is still checked, read in UTC.
        let start = match object.get("startTime") {
            None | Some(Value::Null) => Some(None),
            Some(value) => match StartTime::parse(value, timezone.unwrap_or(Tz::UTC)) {
                Ok(start) => Some(Some(start)),
                Err(message) => {
                    problem(&["startTime"], message);
                    None
                }
            },
        };

        let timing = match (given, start) {
            (Some(Given::Cron(cron) | Given::Recurrence(Recurrence::Cron(cron))), _) => {
                Some(Timing::Cron(cron))
            }
            (Some(Given::Interval(every)), _) => Some(Timing::Interval(every)),
            (Some(Given::Recurrence(recurrence)), Some(Some(start))) => Some(match recurrence {
                Recurrence::Daily => Timing::Daily(repeating_cron(&start, false)),
                Recurrence::Weekly => Timing::Weekly(repeating_cron(&start, true)),
                Recurrence::Hourly => Timing::Hourly,
                Recurrence::Cron(cron) => Timing::Cron(cron),
            }),
            (Some(Given::Recurrence(recurrence)), Some(None)) => {
                problem(
                    &["startTime"],
                    format!(
                        "Required: a {:?} recurrence counts from the start time",
                        recurrence.name()
                    ),
                );
                None
            }
            // The start time is bad, or the timing is: already a problem.
            _ => None,
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

        match (timing, timezone, overlap, catchup, jitter, start) {
            (
                Some(timing),
                Some(timezone),
                Some(overlap),
                Some(catchup),
                Some(jitter),
                Some(start),
            ) if problems.is_empty() => Ok(ScheduleConfig {
                timing,
                timezone,
                overlap,
                catchup,
                jitter,
                start,
            }),
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
            Timing::Hourly => object.insert("recurrence".into(), "hourly".into()),
            Timing::Daily(_) => object.insert("recurrence".into(), "daily".into()),
            Timing::Weekly(_) => object.insert("recurrence".into(), "weekly".into()),
        };
        if let Some(start) = self.start {
            object.insert("startTime".into(), start.to_json());
        }
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

/// `cron`, `interval` or `recurrence` as read, before the start time is known.
enum Given {
    Cron(Cron),
    Interval(DurationMs),
    Recurrence(Recurrence),
}

fn cron_field(value: &Value, problem: &mut impl FnMut(&[&str], String)) -> Option<Cron> {
    match value.as_str() {
        None => {
            problem(&["cron"], format!("must be a string, not {}", kind(value)));
            None
        }
        Some(text) => match Cron::parse(text) {
            Ok(cron) => Some(cron),
            Err(error) => {
                problem(&["cron"], error.0);
                None
            }
        },
    }
}

fn interval_field(value: &Value, problem: &mut impl FnMut(&[&str], String)) -> Option<DurationMs> {
    match duration(value) {
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
        Ok(every) => Some(every),
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

pub(super) fn kind(value: &Value) -> &'static str {
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
