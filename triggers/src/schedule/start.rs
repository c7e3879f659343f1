//! A schedule's start time and Phinite's recurrences (seed 003: "define a start time and
//! recurrence (hourly, daily, weekly, or custom cron)").
//!
//! ```json
//! {"startTime": "2026-12-07T09:17:00", "recurrence": "hourly", "timezone": "Europe/London"}
//! {"startTime": "2026-12-07T09:00:00", "recurrence": {"cron": "0 9 * * MON-FRI"}}
//! ```
//!
//! - `startTime`: a local date and time in the schedule's `timezone` (`"2026-12-07T09:17:00"`,
//!   or without seconds), or an RFC 3339 instant with an offset (`"2026-12-07T09:17:00Z"`);
//!   whole seconds. No tick comes before it. A local time is read by the daylight-saving rules
//!   of `super::tick` (a repeated time is its first occurrence, a skipped one the end of the
//!   gap).
//! - `recurrence`: `"hourly"`, `"daily"`, `"weekly"` (any case), or `{"cron": "..."}`.
//!   The first three tick AT the start time and then count from it: hourly every 3600 s of
//!   elapsed time; daily at the start's local wall time each day; weekly on the start's
//!   weekday at that time (the last two keep the cron's daylight-saving rules, because they
//!   are built as a cron expression from the start's local time). `{"cron": "..."}` is the
//!   `cron` field under another name: its own times, from the start time on.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::cron::Cron;
use super::tick::instant_of_local;

/// Local forms `startTime` takes (RFC 3339 with an offset is tried first).
const LOCAL_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
];

/// When a schedule starts: nothing ticks before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartTime {
    /// The wall-clock time in the schedule's time zone (what daily and weekly repeat).
    pub local: NaiveDateTime,
    /// The instant it names, on a whole second.
    pub instant: DateTime<Utc>,
}

impl StartTime {
    /// Reads `startTime` in `tz`; the message says what is wrong.
    pub fn parse(value: &Value, tz: Tz) -> Result<StartTime, String> {
        let Some(text) = value.as_str().map(str::trim) else {
            return Err(format!(
                "must be a date and time string such as \"2026-12-07T09:00:00\", not {}",
                super::config::kind(value)
            ));
        };
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            if at.nanosecond() != 0 {
                return Err(format!("must be a whole second, not {text:?}"));
            }
            let instant = at.with_timezone(&Utc);
            return Ok(StartTime {
                local: instant.with_timezone(&tz).naive_local(),
                instant,
            });
        }
        let local = LOCAL_FORMATS
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a date and time: write \"2026-12-07T09:00:00\" (local time \
                     in the timezone) or an RFC 3339 instant such as \"2026-12-07T09:00:00Z\""
                )
            })?;
        let (instant, _) = instant_of_local(tz, local)
            .ok_or_else(|| format!("{text:?} is out of the supported range"))?;
        Ok(StartTime { local, instant })
    }

    /// As written back: the local time in the schedule's time zone, to the second.
    pub fn to_json(self) -> Value {
        Value::String(self.local.format("%Y-%m-%dT%H:%M:%S").to_string())
    }
}

/// What `recurrence` says, before it meets the start time.
#[derive(Clone, Debug, PartialEq)]
pub enum Recurrence {
    Hourly,
    Daily,
    Weekly,
    Cron(Cron),
}

impl Recurrence {
    /// Reads `recurrence`. Errors carry the path below `recurrence` (`["cron"]` for a bad
    /// custom cron) and the message.
    pub fn parse(value: &Value) -> Result<Recurrence, (Vec<&'static str>, String)> {
        const EXPECTED: &str =
            "must be \"hourly\", \"daily\", \"weekly\" or {\"cron\": \"<expression>\"}";
        match value {
            Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
                "hourly" => Ok(Recurrence::Hourly),
                "daily" => Ok(Recurrence::Daily),
                "weekly" => Ok(Recurrence::Weekly),
                _ => Err((vec![], format!("{EXPECTED}, not {text:?}"))),
            },
            Value::Object(fields) => custom_cron(fields),
            other => Err((
                vec![],
                format!("{EXPECTED}, not {}", super::config::kind(other)),
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Recurrence::Hourly => "hourly",
            Recurrence::Daily => "daily",
            Recurrence::Weekly => "weekly",
            Recurrence::Cron(_) => "cron",
        }
    }
}

fn custom_cron(fields: &Map<String, Value>) -> Result<Recurrence, (Vec<&'static str>, String)> {
    if let Some(key) = fields.keys().find(|key| *key != "cron") {
        return Err((
            vec![],
            format!("unknown field {key:?}; a custom recurrence is {{\"cron\": \"<expression>\"}}"),
        ));
    }
    match fields.get("cron") {
        None => Err((vec!["cron"], "Required".to_owned())),
        Some(Value::String(text)) => Cron::parse(text)
            .map(Recurrence::Cron)
            .map_err(|error| (vec!["cron"], error.0)),
        Some(other) => Err((
            vec!["cron"],
            format!("must be a string, not {}", super::config::kind(other)),
        )),
    }
}

/// The cron expression that repeats the start's local time every day (`weekly`: on its
/// weekday): `S M H * * *`, `S M H * * D`. Built once when the config is checked, so daily
/// and weekly ticks follow exactly the cron's daylight-saving rules.
pub fn repeating_cron(start: &StartTime, weekly: bool) -> Cron {
    let local = start.local;
    let weekday = if weekly {
        local.weekday().num_days_from_sunday().to_string()
    } else {
        "*".to_owned()
    };
    let text = format!(
        "{} {} {} * * {weekday}",
        local.second(),
        local.minute(),
        local.hour()
    );
    // Every field is a single in-range value, so the expression always parses.
    Cron::parse(&text).unwrap_or_else(|e| unreachable!("{text}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_are_local_or_instants() {
        let london = chrono_tz::Europe::London;
        let local = StartTime::parse(&Value::from("2026-07-01T09:17"), london).expect("local");
        assert_eq!(local.instant.to_rfc3339(), "2026-07-01T08:17:00+00:00");
        assert_eq!(local.to_json(), "2026-07-01T09:17:00");
        let instant =
            StartTime::parse(&Value::from("2026-07-01T08:17:00Z"), london).expect("instant");
        assert_eq!(instant, local);
        assert!(StartTime::parse(&Value::from("2026-07-01T08:17:00.5Z"), london).is_err());
        assert!(StartTime::parse(&Value::from("tomorrow"), london).is_err());
        assert!(StartTime::parse(&Value::from(9), london).is_err());
    }

    #[test]
    fn daily_and_weekly_repeat_the_local_time() {
        let start = StartTime::parse(&Value::from("2026-12-07T09:05:30"), Tz::UTC).expect("ok");
        assert_eq!(repeating_cron(&start, false).as_str(), "30 5 9 * * *");
        // 7 December 2026 is a Monday.
        assert_eq!(repeating_cron(&start, true).as_str(), "30 5 9 * * 1");
    }
}
