//! Cron expressions: parsing, and iteration over the local wall-clock times they match.
//!
//! Syntax (see `docs/triggers.md`, "Schedules"):
//!
//! - 5 fields `minute hour day-of-month month day-of-week`, or 6 with `second` first;
//! - in each field `*`, a number, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from `a` to
//!   the field's end), and comma lists of these; `?` means `*` in the two day fields;
//! - months `1-12` or `JAN`-`DEC`, weekdays `0-7` (0 and 7 are Sunday) or `SUN`-`SAT`, names
//!   in any case; a weekday range may end with Sunday (`FRI-SUN`);
//! - `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly`;
//! - day-of-month and day-of-week as in Vixie cron: when both are restricted (neither field
//!   starts with `*` or `?`) a day matches if either matches, otherwise both must match.
//!
//! Matching works on naive local times; the caller turns them into instants with the
//! daylight-saving rules of `super::tick`.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// How many years past its start a search for the next match may look. The longest real gap
/// between matches of a satisfiable expression is a 29 February on a given weekday, or one
/// in a century year skipped by the leap rules (at most 28 years apart).
const SEARCH_YEARS_MAX: i32 = 30;

/// A parsed cron expression.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    /// The expression as written (trimmed).
    source: String,
    /// Bit n set: second n matches (0-59).
    seconds: u64,
    /// Bit n set: minute n matches (0-59).
    minutes: u64,
    /// Bit n set: hour n matches (0-23).
    hours: u32,
    /// Bit n set: day of month n matches (1-31).
    days: u32,
    /// Bit n set: month n matches (1-12).
    months: u16,
    /// Bit n set: weekday n matches (0 = Sunday .. 6 = Saturday).
    weekdays: u8,
    /// The day-of-month field starts with `*` or `?` (Vixie cron's rule for combining the
    /// two day fields).
    days_star: bool,
    /// The day-of-week field starts with `*` or `?`.
    weekdays_star: bool,
}

/// Why a cron expression was refused; the message names the field and the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(pub String);

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names for the values from `names_from` on (months from 1, weekdays from 0).
    names: &'static [&'static str],
    names_from: u32,
    /// `?` is allowed (the two day fields).
    question: bool,
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
    names_from: 0,
    question: false,
};
const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    names_from: 0,
    question: false,
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    names_from: 0,
    question: false,
};
const DAY: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    names_from: 0,
    question: true,
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    names_from: 1,
    question: false,
};
const WEEKDAY: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    names_from: 0,
    question: true,
};

const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// Days in each month of a leap year (the most a month can have).
const MONTH_DAYS_MAX: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl Cron {
    /// Parses a 5- or 6-field expression or a macro.
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let source = text.trim();
        if source.is_empty() {
            return Err(CronError(
                "cron is empty: write 5 fields (minute hour day-of-month month day-of-week), \
                 6 with seconds first, or a macro such as @daily"
                    .to_owned(),
            ));
        }
        let expanded = if source.starts_with('@') {
            MACROS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(source))
                .map(|(_, fields)| *fields)
                .ok_or_else(|| {
                    CronError(format!(
                        "unknown cron macro {source:?}; use @yearly, @annually, @monthly, \
                         @weekly, @daily, @midnight or @hourly"
                    ))
                })?
        } else {
            source
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (second, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(CronError(format!(
                    "cron must have 5 or 6 fields (minute hour day-of-month month day-of-week, \
                     optionally with seconds first), got {n}"
                )))
            }
        };
        let seconds = parse_field(&SECOND, second)?;
        let minutes = parse_field(&MINUTE, rest[0])?;
        let hours = parse_field(&HOUR, rest[1])?;
        let days = parse_field(&DAY, rest[2])?;
        let months = parse_field(&MONTH, rest[3])?;
        let mut weekdays = parse_field(&WEEKDAY, rest[4])?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        let cron = Cron {
            source: source.to_owned(),
            seconds,
            minutes,
            hours: bits_u32(hours),
            days: bits_u32(days),
            months: bits_u16(months),
            weekdays: bits_u8(weekdays),
            days_star: is_star(rest[2]),
            weekdays_star: is_star(rest[4]),
        };
        cron.check_satisfiable()?;
        Ok(cron)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Refuses expressions whose day-of-month never occurs in their months (`0 0 31 4 *`,
    /// `0 0 30 2 *`): they would never fire. With a restricted day-of-week the day fields are
    /// alternatives, so any weekday match makes the expression satisfiable.
    fn check_satisfiable(&self) -> Result<(), CronError> {
        if !self.weekdays_star && !self.days_star {
            return Ok(());
        }
        let possible = (1..=12u32).any(|month| {
            self.months & (1 << month) != 0
                && (1..=MONTH_DAYS_MAX[month as usize - 1]).any(|day| self.days & (1 << day) != 0)
        });
        if possible {
            Ok(())
        } else {
            Err(CronError(format!(
                "cron {:?} never fires: no month it names has any of the days it names",
                self.source
            )))
        }
    }

    /// Whether a local wall-clock time matches (fractions of a second are ignored).
    pub fn matches(&self, local: NaiveDateTime) -> bool {
        self.date_matches(local.date()) && self.time_matches(local.time())
    }

    fn time_matches(&self, time: NaiveTime) -> bool {
        self.seconds & (1 << time.second()) != 0
            && self.minutes & (1 << time.minute()) != 0
            && self.hours & (1 << time.hour()) != 0
    }

    fn date_matches(&self, date: NaiveDate) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let day = self.days & (1 << date.day()) != 0;
        let weekday = self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.days_star || self.weekdays_star {
            day && weekday
        } else {
            day || weekday
        }
    }

    /// The first matching local time at or after `from` (whole seconds; `from`'s fraction of
    /// a second is dropped), or `None` if there is none within `SEARCH_YEARS_MAX` years.
    pub fn next_match(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let last_year = from.year().checked_add(SEARCH_YEARS_MAX)?;
        let mut date = from.date();
        let mut earliest = from.time().with_nanosecond(0)?;
        loop {
            if date.year() > last_year {
                return None;
            }
            if self.months & (1 << date.month()) == 0 {
                date = first_of_next_month(date)?;
                earliest = NaiveTime::MIN;
                continue;
            }
            if self.date_matches(date) {
                if let Some(time) = self.first_time_from(earliest) {
                    return Some(date.and_time(time));
                }
            }
            date = date.succ_opt()?;
            earliest = NaiveTime::MIN;
        }
    }

    /// The first matching time of day at or after `from`, if any is left in the day.
    fn first_time_from(&self, from: NaiveTime) -> Option<NaiveTime> {
        let mut hour = next_bit(u64::from(self.hours), from.hour())?;
        loop {
            let same_hour = hour == from.hour();
            let minute_from = if same_hour { from.minute() } else { 0 };
            let mut minute = next_bit(self.minutes, minute_from);
            while let Some(m) = minute {
                let second_from = if same_hour && m == from.minute() {
                    from.second()
                } else {
                    0
                };
                if let Some(s) = next_bit(self.seconds, second_from) {
                    return NaiveTime::from_hms_opt(hour, m, s);
                }
                minute = next_bit(self.minutes, m + 1);
            }
            hour = next_bit(u64::from(self.hours), hour + 1)?;
        }
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.source)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The lowest set bit at position `from` or above.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year().checked_add(1)?, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

fn is_star(field: &str) -> bool {
    field.starts_with('*') || field.starts_with('?')
}

// The masks below come from fields whose maximum fits the narrower type.
fn bits_u32(mask: u64) -> u32 {
    (mask & u64::from(u32::MAX)) as u32
}

fn bits_u16(mask: u64) -> u16 {
    (mask & u64::from(u16::MAX)) as u16
}

fn bits_u8(mask: u64) -> u8 {
    (mask & u64::from(u8::MAX)) as u8
}

/// One field as a bit mask over `field.min..=field.max`.
fn parse_field(field: &Field, text: &str) -> Result<u64, CronError> {
    let error = |problem: String| CronError(format!("{} field {text:?}: {problem}", field.name));
    let mut mask = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(error("empty list item (check the commas)".to_owned()));
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| error(format!("step {step:?} is not a number")))?;
                if step == 0 {
                    return Err(error("step must be at least 1".to_owned()));
                }
                (base, Some(step))
            }
            None => (item, None),
        };
        let (low, high) = if base == "*" || (base == "?" && field.question) {
            (field.min, field.max)
        } else if base == "?" {
            return Err(error(
                "`?` is allowed only in day-of-month and day-of-week".to_owned(),
            ));
        } else if let Some((low, high)) = base.split_once('-') {
            let low = value(field, low).map_err(&error)?;
            let mut high = value(field, high).map_err(&error)?;
            // A weekday range may end on Sunday: FRI-SUN is 5-7.
            if field.name == WEEKDAY.name && high == 0 && low > 0 {
                high = 7;
            }
            if low > high {
                return Err(error(format!(
                    "range {base} goes backwards (write the smaller value first)"
                )));
            }
            (low, high)
        } else {
            let low = value(field, base).map_err(&error)?;
            (low, if step.is_some() { field.max } else { low })
        };
        let step = step.unwrap_or(1);
        let mut n = low;
        while n <= high {
            mask |= 1 << n;
            n += step;
        }
    }
    Ok(mask)
}

/// One value of a field: a number in range or one of its names.
fn value(field: &Field, text: &str) -> Result<u32, String> {
    if let Some(index) = field
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        return Ok(field.names_from + index as u32);
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if field.names.is_empty() {
            format!("{text:?} is not a number")
        } else {
            format!(
                "{text:?} is neither a number nor a name ({})",
                field.names.join(", ")
            )
        });
    }
    match text.parse::<u32>() {
        Ok(n) if (field.min..=field.max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text} is out of range {}-{}",
            field.min, field.max
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("test time")
    }

    fn next(cron: &str, from: &str) -> Option<NaiveDateTime> {
        Cron::parse(cron).expect(cron).next_match(at(from))
    }

    #[test]
    fn iterates_matching_local_times() {
        let cases = [
            ("0 * * * *", "2026-01-01 10:00:00", "2026-01-01 10:00:00"),
            ("0 * * * *", "2026-01-01 10:00:01", "2026-01-01 11:00:00"),
            (
                "*/15 9-17 * * MON-FRI",
                "2026-01-02 17:50:00",
                "2026-01-05 09:00:00",
            ),
            ("30 2 * * *", "2026-03-08 00:00:00", "2026-03-08 02:30:00"),
            ("0 0 29 2 *", "2026-03-01 00:00:00", "2028-02-29 00:00:00"),
            ("0 0 29 2 *", "2097-03-01 00:00:00", "2104-02-29 00:00:00"),
            (
                "*/20 0 0 1 JAN *",
                "2026-06-01 00:00:00",
                "2027-01-01 00:00:00",
            ),
            (
                "15,45 */10 * * * *",
                "2026-01-01 00:00:46",
                "2026-01-01 00:10:15",
            ),
            ("0 0 1 * SUN", "2026-02-02 00:00:00", "2026-02-08 00:00:00"),
            (
                "0 0 */10 * SUN",
                "2026-02-02 00:00:00",
                "2026-03-01 00:00:00",
            ),
            (
                "0 12 * * FRI-SUN",
                "2026-01-05 00:00:00",
                "2026-01-09 12:00:00",
            ),
            ("0 12 * * 7", "2026-01-05 00:00:00", "2026-01-11 12:00:00"),
            ("@weekly", "2026-01-05 00:00:00", "2026-01-11 00:00:00"),
            ("@monthly", "2026-01-05 00:00:00", "2026-02-01 00:00:00"),
            ("@YEARLY", "2026-01-05 00:00:00", "2027-01-01 00:00:00"),
        ];
        for (cron, from, expected) in cases {
            assert_eq!(next(cron, from), Some(at(expected)), "{cron} from {from}");
        }
    }

    #[test]
    fn refuses_bad_fields_naming_them() {
        let cases = [
            ("", "cron is empty"),
            ("* * * *", "must have 5 or 6 fields (minute hour day-of-month month day-of-week, optionally with seconds first), got 4"),
            ("* * * * * * *", "got 7"),
            ("61 * * * *", "minute field \"61\": 61 is out of range 0-59"),
            ("* 24 * * *", "hour field \"24\": 24 is out of range 0-23"),
            ("* * 0 * *", "day-of-month field \"0\": 0 is out of range 1-31"),
            ("* * * 13 *", "month field \"13\": 13 is out of range 1-12"),
            ("* * * FOO *", "neither a number nor a name (JAN"),
            ("* * * * MOX", "day-of-week field \"MOX\""),
            ("* * * * 8", "8 is out of range 0-7"),
            ("*/0 * * * *", "step must be at least 1"),
            ("*/x * * * *", "step \"x\" is not a number"),
            ("5-3 * * * *", "range 5-3 goes backwards"),
            ("1,,2 * * * *", "empty list item"),
            ("? * * * *", "only in day-of-month and day-of-week"),
            ("a * * * *", "\"a\" is not a number"),
            ("0 0 31 4 *", "never fires"),
            ("0 0 30,31 2 *", "never fires"),
            ("@fortnightly", "unknown cron macro \"@fortnightly\""),
            ("60 * * * * *", "second field \"60\""),
        ];
        for (cron, message) in cases {
            let error = Cron::parse(cron).expect_err(cron);
            assert!(error.0.contains(message), "{cron}: {error}");
        }
    }

    #[test]
    fn day_fields_combine_as_in_vixie_cron() {
        // Both restricted: either matches (the 13th, or any Friday).
        let either = Cron::parse("0 0 13 * FRI").expect("cron");
        assert!(either.matches(at("2026-01-13 00:00:00"))); // a Tuesday
        assert!(either.matches(at("2026-01-16 00:00:00"))); // a Friday
        assert!(!either.matches(at("2026-01-14 00:00:00")));
        // Day-of-month starts with `*`: both must match.
        let both = Cron::parse("0 0 */2 * FRI").expect("cron");
        assert!(both.matches(at("2026-01-09 00:00:00"))); // odd day, Friday
        assert!(!both.matches(at("2026-01-16 00:00:00"))); // even day
        assert!(!both.matches(at("2026-01-11 00:00:00"))); // not a Friday
        assert!(
            Cron::parse("0 0 30 2 MON").is_ok(),
            "alternatives: any Monday"
        );
    }
}
